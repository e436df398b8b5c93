"""Rule teacher: train the BatchNorm teacher on the training split."""

from pathlib import Path

from tsgd.jobs import run_job
from tsgd.teacher.train import train_teacher

params = dict(snakemake.params.items())

run_job(
    "teacher",
    lambda tracker: train_teacher(
        Path(snakemake.input.stats).parent,
        snakemake.output.weights,
        dataset=snakemake.wildcards.dataset,
        tracker=tracker,
        **params,
    ),
    params=params,
    wildcards=dict(snakemake.wildcards.items()),
    tracking=snakemake.config["tracking"],
    log_path=snakemake.log[0],
    metrics_path=snakemake.output.metrics,
)
