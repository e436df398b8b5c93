"""Rule random_subset: the random real baseline at the same IPC and clip length."""

from pathlib import Path

from tsgd.distill.sets import make_random_set
from tsgd.jobs import run_job

params = dict(snakemake.params.items())
w = snakemake.wildcards

run_job(
    "distill",
    lambda _tracker: make_random_set(
        Path(snakemake.input.stats).parent,
        snakemake.output.videos,
        ipc=int(w.ipc),
        seed=int(w.seed),
        dataset=w.dataset,
        **params,
    ),
    params=params,
    wildcards=dict(w.items()),
    tracking=snakemake.config["tracking"],
    log_path=snakemake.log[0],
    metrics_path=snakemake.output.metrics,
    preview_set=snakemake.output.videos,
)
