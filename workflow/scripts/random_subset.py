"""Rule random_subset: the random real baseline at the same IPC and clip length."""

from pathlib import Path

from tsgd.distill.sets import make_random_set
from tsgd.jobs import run_rule

params = dict(snakemake.params.items())
w = snakemake.wildcards

run_rule(
    snakemake,
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
    preview_set=snakemake.output.videos,
)
