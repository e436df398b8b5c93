# Raw videos -> uint8 clip cache (+ the built-in synthetic dataset).


rule generate_synthetic:
    output:
        manifest="results/data/{dataset}/clips.csv",
    log:
        "logs/generate_synthetic/{dataset}.log",
    benchmark:
        "results/benchmarks/generate_synthetic/{dataset}.tsv"
    conda:
        "../envs/tsgd.yaml"
    params:
        **config["synthetic"],
    script:
        "../scripts/generate_synthetic.py"


rule preprocess:
    input:
        manifest=raw_manifest,
    output:
        **CACHE_FILES,
        metrics="results/preprocess/{dataset}/metrics.json",
        source="results/data/{dataset}/source.json",
    log:
        "logs/preprocess/{dataset}.log",
    benchmark:
        "results/benchmarks/preprocess/{dataset}.tsv"
    conda:
        "../envs/tsgd.yaml"
    threads: 64  # Snakemake runs it with min(64, --cores); the Slurm profile sets 16
    params:
        **config["preprocess"],
        root=raw_root,
        source=lambda w: (
            "folder"
            if config["dataset"]["source"] == "synthetic"
            else config["dataset"]["source"]
        ),
        manifest=lambda w: (
            "clips.csv"
            if config["dataset"]["source"] == "synthetic"
            else config["dataset"]["manifest"]
        ),
        official_split=config["dataset"]["split"],
        annotations=config["dataset"]["annotations"],
        test_groups=config["dataset"]["test_groups"],
        val_groups=config["dataset"]["val_groups"],
    script:
        "../scripts/preprocess.py"


rule preprocess_all:
    input:
        expand(CACHE_FILES["stats"], dataset=DATASET),
