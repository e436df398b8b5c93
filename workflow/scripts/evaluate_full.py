"""Rule evaluate_full: the upper bound, one student trained on the whole training split."""

from pathlib import Path

from tsgd.evaluate.students import evaluate_full
from tsgd.jobs import checkpoint_path, run_rule

params = dict(snakemake.params.items())  # epochs, batch size: benchmark.full
w = snakemake.wildcards
teacher = snakemake.input.get("teacher") or None
checkpoint = checkpoint_path(snakemake.output.metrics, params, snakemake.input)


def body(tracker):
    (metrics,) = evaluate_full(
        Path(snakemake.input.stats).parent,
        student=w.student,
        labels=w.labels,
        seeds=[int(w.seed)],
        teacher_path=teacher,
        tracker=tracker,
        checkpoint=checkpoint,
        **params,
    )
    return metrics


run_rule(
    snakemake,
    "evaluate_full",
    body,
    params=params,
    checkpoint=checkpoint,
    gpu=True,
)
