"""Rule saliency: TSGF over the cached training videos."""

from pathlib import Path

from tsgd.jobs import run_rule
from tsgd.saliency.run import compute_cache_saliency

params = dict(snakemake.params.items())

run_rule(
    snakemake,
    "saliency",
    lambda _tracker: compute_cache_saliency(
        Path(snakemake.input.stats).parent, snakemake.output.saliency, **params
    ),
    params=params,
    gpu=True,
)
