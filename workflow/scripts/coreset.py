"""Rule coreset: herding or k-center selection of real windows on teacher features."""

from pathlib import Path

from tsgd.distill.baselines import make_coreset_set
from tsgd.jobs import run_rule

params = dict(snakemake.params.items())
w = snakemake.wildcards

run_rule(
    snakemake,
    "distill",
    lambda _tracker: make_coreset_set(
        Path(snakemake.input.stats).parent,
        snakemake.output.videos,
        method=w.method,
        teacher_path=snakemake.input.teacher,
        ipc=int(w.ipc),
        seed=int(w.seed),
        dataset=w.dataset,
        **params,
    ),
    params=params,
    gpu=True,
    preview_set=snakemake.output.videos,
)
