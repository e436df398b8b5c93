"""Rule generate_synthetic: the built-in motion dataset as real mp4 files."""

from pathlib import Path

from tsgd.data.synthetic import generate_synthetic_dataset
from tsgd.jobs import run_rule

params = dict(snakemake.params.items())
out_dir = Path(snakemake.output.manifest).parent


def body(_tracker):
    generate_synthetic_dataset(out_dir, **params)
    return {"videos": sum(1 for _ in (out_dir / "videos").rglob("*.mp4"))}


run_rule(
    snakemake,
    "generate_synthetic",
    body,
    params=params,
)
