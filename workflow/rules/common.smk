# Shared helpers: params validation, result paths, tracking start-up.
from pathlib import Path

from tsgd.config import validate_params

config.update(
    validate_params(
        config, Path(workflow.basedir) / "workflow" / "schemas" / "params.schema.yaml"
    )
)

DATASET = config["dataset"]["name"]
CLIP = config["clip"]
BENCH = config["benchmark"]
TRACKING = config["tracking"]


wildcard_constraints:
    dataset=DATASET,
    ipc=r"\d+",
    seed=r"\d+",
    labels="hard|soft",


onstart:
    if TRACKING["enabled"] and not workflow.dryrun:
        from tsgd.tracking import start_pipeline_run

        # the parent run grouping this invocation's jobs (they inherit its id)
        start_pipeline_run(
            TRACKING["uri"],
            TRACKING["experiment"],
            f"pipeline {DATASET}",
            {"dataset": DATASET},
        )


onsuccess:
    if TRACKING["enabled"] and not workflow.dryrun:
        from tsgd.tracking import end_pipeline_run

        end_pipeline_run(TRACKING["uri"], ok=True)


onerror:
    if TRACKING["enabled"] and not workflow.dryrun:
        from tsgd.tracking import end_pipeline_run

        end_pipeline_run(TRACKING["uri"], ok=False)


def raw_manifest(wildcards):
    """The dataset's manifest: generated for the synthetic source, the user's otherwise."""
    ds = config["dataset"]
    if ds["source"] == "synthetic":
        return f"results/data/{wildcards.dataset}/clips.csv"
    if ds["root"] is None:
        raise ValueError(
            f"params.yaml: dataset.root is required when dataset.source is {ds['source']}"
        )
    root = Path(ds["root"]).expanduser()
    if not root.is_dir():
        if Path(f"results/preprocess/{wildcards.dataset}/stats.json").is_file():
            return []  # a pulled cache (dvc pull): the raw videos are not needed here
        raise ValueError(f"params.yaml: dataset.root {root} is not a folder")
    if (
        ds["source"] == "folder"
        and ds["manifest"]
        and (root / ds["manifest"]).is_file()
    ):
        return str(root / ds["manifest"])
    return []


def raw_root(wildcards):
    ds = config["dataset"]
    if ds["source"] == "synthetic":
        return f"results/data/{wildcards.dataset}"
    return str(Path(ds["root"]).expanduser())


CACHE_FILES = {
    "train": "results/preprocess/{dataset}/train.npy",
    "test": "results/preprocess/{dataset}/test.npy",
    "train_manifest": "results/preprocess/{dataset}/train.csv",
    "test_manifest": "results/preprocess/{dataset}/test.csv",
    "classes": "results/preprocess/{dataset}/classes.json",
    "stats": "results/preprocess/{dataset}/stats.json",
}
if config["dataset"]["val_groups"]:  # a validation split, made by group
    CACHE_FILES["val"] = "results/preprocess/{dataset}/val.npy"
    CACHE_FILES["val_manifest"] = "results/preprocess/{dataset}/val.csv"
TEACHER = "results/teacher/{dataset}/teacher.safetensors"
# the soft-label ensemble's further teachers (evaluate.soft_teachers > 1), seed teacher.seed + j
TEACHER_MEMBER = "results/teacher/{dataset}/member{member}/teacher.safetensors"
SALIENCY = "results/saliency/{dataset}/saliency.safetensors"
SET_FILES = {
    "videos": "results/distill/{dataset}/{method}/ipc{ipc}/seed{seed}/synthetic.safetensors",
    "meta": "results/distill/{dataset}/{method}/ipc{ipc}/seed{seed}/meta.json",
    "metrics": "results/distill/{dataset}/{method}/ipc{ipc}/seed{seed}/metrics.json",
}
EVAL_METRICS = "results/evaluate/{dataset}/{method}/ipc{ipc}/{student}/{labels}/seed{seed}/metrics.json"
FULL_METRICS = (
    "results/evaluate/{dataset}/full/{student}/{labels}/seed{seed}/metrics.json"
)


def soft_label_teachers(dataset):
    """The teacher and the further members of the soft-label ensemble."""
    members = range(1, config["evaluate"]["soft_teachers"])
    return [TEACHER.format(dataset=dataset)] + [
        TEACHER_MEMBER.format(dataset=dataset, member=j) for j in members
    ]


def soft_label_teacher(wildcards):
    """Students need the teacher (or the soft-label ensemble) only for soft labels."""
    if wildcards.labels == "soft":
        return soft_label_teachers(wildcards.dataset)
    return []


def full_metrics(wildcards):
    """The full-training-set runs, when ``benchmark.full.enabled``."""
    if not BENCH["full"]["enabled"]:
        return []
    return expand(
        FULL_METRICS,
        dataset=wildcards.dataset,
        student=BENCH["students"],
        labels=BENCH["labels"],
        seed=BENCH["seeds"],
    )
