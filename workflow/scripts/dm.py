"""Rule distribution_matching: the DM baseline set (one IPC, one seed)."""

from pathlib import Path

from tsgd.distill.baselines import make_dm_set
from tsgd.jobs import checkpoint_path, run_rule

params = dict(snakemake.params.items())
w = snakemake.wildcards
checkpoint = checkpoint_path(snakemake.output.videos, params, snakemake.input)


def body(tracker):
    metrics = make_dm_set(
        Path(snakemake.input.stats).parent,
        snakemake.output.videos,
        ipc=int(w.ipc),
        seed=int(w.seed),
        dataset=w.dataset,
        checkpoint=checkpoint,
        **{k: tuple(v) if k == "widths" else v for k, v in params.items()},
    )
    for step, loss in metrics.pop("loss_history", []):
        tracker.log_metrics({"dm_loss": loss}, step=step)
    return metrics


run_rule(
    snakemake,
    "distill",
    body,
    params=params,
    checkpoint=checkpoint,
    gpu=True,
    preview_set=snakemake.output.videos,
)
