# Stage 3: students trained from scratch on each set, scored on the real test split.


rule evaluate:
    input:
        **CACHE_FILES,
        videos=SET_FILES["videos"],
        teacher=soft_label_teacher,
    output:
        metrics=EVAL_METRICS,
    log:
        "logs/evaluate/{dataset}/{method}/ipc{ipc}/{student}/{labels}/seed{seed}.log",
    benchmark:
        "results/benchmarks/evaluate/{dataset}/{method}/ipc{ipc}/{student}/{labels}/seed{seed}.tsv"
    conda:
        "../envs/tsgd.yaml"
    resources:
        gpu=1,
    params:
        **{
            k: v
            for k, v in config["evaluate"].items()
            if k not in ("soft_batch_size", "soft_teachers")
        },
        # hard-label jobs do not see the soft-label settings (a change reruns soft ones only)
        soft_batch_size=lambda w: (
            config["evaluate"]["soft_batch_size"] if w.labels == "soft" else None
        ),
        soft_teachers=lambda w: (
            config["evaluate"]["soft_teachers"] if w.labels == "soft" else 1
        ),
        frames=CLIP["frames"],
        crop=CLIP["crop"],
        device=config["device"],
        saliency=config["saliency"],
    script:
        "../scripts/evaluate.py"


rule evaluate_full:
    input:
        **CACHE_FILES,
        teacher=soft_label_teacher,
    output:
        metrics=FULL_METRICS,
    log:
        "logs/evaluate/{dataset}/full/{student}/{labels}/seed{seed}.log",
    benchmark:
        "results/benchmarks/evaluate/{dataset}/full/{student}/{labels}/seed{seed}.tsv"
    conda:
        "../envs/tsgd.yaml"
    resources:
        gpu=1,
    params:
        **{
            k: v
            for k, v in config["evaluate"].items()
            if k not in ("epochs", "batch_size", "soft_batch_size", "soft_teachers")
        },
        soft_teachers=lambda w: (
            config["evaluate"]["soft_teachers"] if w.labels == "soft" else 1
        ),
        frames=CLIP["frames"],
        crop=CLIP["crop"],
        device=config["device"],
        saliency=config["saliency"],
        epochs=BENCH["full"]["epochs"],
        batch_size=BENCH["full"]["batch_size"],
    script:
        "../scripts/evaluate_full.py"


rule summary:
    input:
        expand(
            EVAL_METRICS,
            method=BENCH["methods"],
            ipc=BENCH["ipc"],
            student=BENCH["students"],
            labels=BENCH["labels"],
            seed=BENCH["seeds"],
            allow_missing=True,
        ),
        full_metrics,
    output:
        csv="results/evaluate/{dataset}/summary.csv",
        md="results/evaluate/{dataset}/summary.md",
    log:
        "logs/summary/{dataset}.log",
    benchmark:
        "results/benchmarks/summary/{dataset}.tsv"
    conda:
        "../envs/tsgd.yaml"
    script:
        "../scripts/summary.py"


rule report:
    input:
        summary="results/evaluate/{dataset}/summary.csv",
        metrics=expand(
            EVAL_METRICS,
            method=BENCH["methods"],
            ipc=BENCH["ipc"],
            student=BENCH["students"],
            labels=BENCH["labels"],
            seed=BENCH["seeds"],
            allow_missing=True,
        ),
        sets=expand(
            SET_FILES["videos"],
            method=BENCH["methods"],
            ipc=BENCH["ipc"],
            seed=BENCH["seeds"],
            allow_missing=True,
        ),
    output:
        html="results/evaluate/{dataset}/report/index.html",
    log:
        "logs/report/{dataset}.log",
    benchmark:
        "results/benchmarks/report/{dataset}.tsv"
    conda:
        "../envs/tsgd.yaml"
    params:
        saliency=config["saliency"],
    script:
        "../scripts/report.py"


rule evaluate_all:
    input:
        expand("results/evaluate/{dataset}/summary.md", dataset=DATASET),
        expand("results/evaluate/{dataset}/report/index.html", dataset=DATASET),
