"""Rule saliency: TSGF over the cached training videos."""

from pathlib import Path

from tsgd.jobs import run_job
from tsgd.saliency.run import compute_cache_saliency

params = dict(snakemake.params.items())

run_job(
    "saliency",
    lambda _tracker: compute_cache_saliency(
        Path(snakemake.input.stats).parent, snakemake.output.saliency, **params
    ),
    params=params,
    wildcards=dict(snakemake.wildcards.items()),
    tracking=snakemake.config["tracking"],
    log_path=snakemake.log[0],
    metrics_path=snakemake.output.metrics,
    gpu=True,
)
