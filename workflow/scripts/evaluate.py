"""Rule evaluate: train one student on one set and score it on the real test split."""

from pathlib import Path

from tsgd.evaluate.students import evaluate_set
from tsgd.jobs import checkpoint_path, run_rule

params = dict(snakemake.params.items())
w = snakemake.wildcards
teacher = snakemake.input.get("teacher") or None
checkpoint = checkpoint_path(snakemake.output.metrics, params, snakemake.input)


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


run_rule(
    snakemake,
    "evaluate",
    body,
    params=params,
    checkpoint=checkpoint,
    gpu=True,
)
