"""Rule teacher: train the BatchNorm teacher on the training split."""

from pathlib import Path

from tsgd.jobs import checkpoint_path, run_job
from tsgd.teacher.train import train_teacher

params = dict(snakemake.params.items())
checkpoint = checkpoint_path(snakemake.output.weights)

run_job(
    "teacher",
    lambda tracker: train_teacher(
        Path(snakemake.input.stats).parent,
        snakemake.output.weights,
        dataset=snakemake.wildcards.dataset,
        tracker=tracker,
        checkpoint=checkpoint,
        **params,
    ),
    params=params,
    wildcards=dict(snakemake.wildcards.items()),
    tracking=snakemake.config["tracking"],
    log_path=snakemake.log[0],
    metrics_path=snakemake.output.metrics,
    checkpoint=checkpoint,
    gpu=True,
)
