# Temporal saliency (TSGF) of every cached training video, on the GPU when there is one.


rule saliency:
    input:
        **CACHE_FILES,
    output:
        saliency=SALIENCY,
        meta="results/saliency/{dataset}/meta.json",
        metrics="results/saliency/{dataset}/metrics.json",
    log:
        "logs/saliency/{dataset}.log",
    benchmark:
        "results/benchmarks/saliency/{dataset}.tsv"
    conda:
        "../envs/tsgd.yaml"
    resources:
        gpu=1,
    params:
        **config["saliency"],
        clip_frames=CLIP["frames"],
        device=config["device"],
    script:
        "../scripts/saliency.py"


rule saliency_all:
    input:
        expand(SALIENCY, dataset=DATASET),
