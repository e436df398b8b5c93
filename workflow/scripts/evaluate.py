"""Rule evaluate: train one student on one set and score it on the real test split."""

from pathlib import Path

from tsgd.evaluate.students import evaluate_set
from tsgd.jobs import checkpoint_path, run_job

params = dict(snakemake.params.items())
checkpoint = checkpoint_path(snakemake.output.metrics)
w = snakemake.wildcards
teacher = snakemake.input.get("teacher") or None


def body(tracker):
    return evaluate_set(
        snakemake.input.videos,
        Path(snakemake.input.stats).parent,
        student=w.student,
        labels=w.labels,
        seed=int(w.seed),
        teacher_path=teacher,
        tracker=tracker,
        checkpoint=checkpoint,
        **params,
    )


run_job(
    "evaluate",
    body,
    params=params,
    wildcards=dict(w.items()),
    tracking=snakemake.config["tracking"],
    log_path=snakemake.log[0],
    metrics_path=snakemake.output.metrics,
    checkpoint=checkpoint,
    gpu=True,
)
