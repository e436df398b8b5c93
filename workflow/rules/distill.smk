# Stage 2: distilled sets (TSGD, and TSGD with TSGF off = SRe2L) and the same-budget
# baselines: random real subset, herding / k-center coresets, distribution matching.


rule distill_tsgd:
    input:
        **CACHE_FILES,
        teacher=TEACHER,
        saliency=SALIENCY,
    output:
        **SET_FILES,
    log:
        "logs/distill/{dataset}/{method}/ipc{ipc}/seed{seed}.log",
    benchmark:
        "results/benchmarks/distill/{dataset}/{method}/ipc{ipc}/seed{seed}.tsv"
    wildcard_constraints:
        method="tsgd|sre2l",
    conda:
        "../envs/tsgd.yaml"
    resources:
        gpu=1,
    params:
        **config["distill"],
        frames=CLIP["frames"],
        crop=CLIP["crop"],
        device=config["device"],
        saliency=config["saliency"],
    script:
        "../scripts/distill_tsgd.py"


rule random_subset:
    input:
        **CACHE_FILES,
    output:
        **SET_FILES,
    log:
        "logs/distill/{dataset}/{method}/ipc{ipc}/seed{seed}.log",
    benchmark:
        "results/benchmarks/distill/{dataset}/{method}/ipc{ipc}/seed{seed}.tsv"
    wildcard_constraints:
        method="random",
    conda:
        "../envs/tsgd.yaml"
    params:
        frames=CLIP["frames"],
        crop=CLIP["crop"],
    script:
        "../scripts/random_subset.py"


rule coreset:
    input:
        **CACHE_FILES,
        teacher=TEACHER,
    output:
        **SET_FILES,
    log:
        "logs/distill/{dataset}/{method}/ipc{ipc}/seed{seed}.log",
    benchmark:
        "results/benchmarks/distill/{dataset}/{method}/ipc{ipc}/seed{seed}.tsv"
    wildcard_constraints:
        method="herding|kcenter",
    conda:
        "../envs/tsgd.yaml"
    resources:
        gpu=1,
    params:
        frames=CLIP["frames"],
        crop=CLIP["crop"],
        device=config["device"],
    script:
        "../scripts/coreset.py"


rule distribution_matching:
    input:
        **CACHE_FILES,
    output:
        **SET_FILES,
    log:
        "logs/distill/{dataset}/{method}/ipc{ipc}/seed{seed}.log",
    benchmark:
        "results/benchmarks/distill/{dataset}/{method}/ipc{ipc}/seed{seed}.tsv"
    wildcard_constraints:
        method="dm",
    conda:
        "../envs/tsgd.yaml"
    resources:
        gpu=1,
    params:
        **config["dm"],
        frames=CLIP["frames"],
        crop=CLIP["crop"],
        device=config["device"],
    script:
        "../scripts/dm.py"


rule distill_all:
    input:
        expand(
            SET_FILES["videos"],
            dataset=DATASET,
            method=BENCH["methods"],
            ipc=BENCH["ipc"],
            seed=BENCH["seeds"],
        ),
