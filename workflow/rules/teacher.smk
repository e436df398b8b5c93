# Stage 1: the teacher (ConvNet3D-BN by default), trained on the full training split.


rule teacher:
    input:
        **CACHE_FILES,
    output:
        weights=TEACHER,
        meta="results/teacher/{dataset}/meta.json",
        metrics="results/teacher/{dataset}/metrics.json",
    log:
        "logs/teacher/{dataset}.log",
    benchmark:
        "results/benchmarks/teacher/{dataset}.tsv"
    conda:
        "../envs/tsgd.yaml"
    resources:
        gpu=1,
    params:
        **config["teacher"],
        frames=CLIP["frames"],
        crop=CLIP["crop"],
        device=config["device"],
    script:
        "../scripts/teacher.py"


rule teacher_all:
    input:
        expand(TEACHER, dataset=DATASET),
