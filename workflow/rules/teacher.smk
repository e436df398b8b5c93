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


rule teacher_member:
    # one further teacher of the soft-label ensemble: trained like the teacher, seed + member
    input:
        **CACHE_FILES,
    output:
        weights=TEACHER_MEMBER,
        meta="results/teacher/{dataset}/member{member}/meta.json",
        metrics="results/teacher/{dataset}/member{member}/metrics.json",
    log:
        "logs/teacher/{dataset}-member{member}.log",
    benchmark:
        "results/benchmarks/teacher/{dataset}-member{member}.tsv"
    wildcard_constraints:
        member=r"[1-9]\d*",
    conda:
        "../envs/tsgd.yaml"
    resources:
        gpu=1,
    params:
        **{k: v for k, v in config["teacher"].items() if k != "seed"},
        seed=lambda w: config["teacher"]["seed"] + int(w.member),
        frames=CLIP["frames"],
        crop=CLIP["crop"],
        device=config["device"],
    script:
        "../scripts/teacher.py"


rule teacher_all:
    input:
        expand(TEACHER, dataset=DATASET),
        soft_label_teachers(DATASET)[1:],
