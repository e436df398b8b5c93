"""Rule preprocess: decode, sample, resize; write the uint8 clip cache and manifests."""

from pathlib import Path

from tsgd.data.preprocess import preprocess_dataset
from tsgd.io.atomic import write_json
from tsgd.jobs import run_rule

p = dict(snakemake.params.items())
params = {k: v for k, v in p.items() if k != "root"}
out_dir = Path(snakemake.output.stats).parent


def body(_tracker):
    summary = preprocess_dataset(
        p["root"],
        out_dir,
        source=p["source"],
        manifest=p["manifest"],
        official_split=p["official_split"],
        annotations=p["annotations"],
        frames=p["frames"],
        gap=p["gap"],
        resize=tuple(p["resize"]),
        min_frames=p["min_frames"],
        decoder=p["decoder"],
        splits=("train", "val", "test") if p["val_groups"] else ("train", "test"),
        test_groups=p["test_groups"] or None,
        val_groups=p["val_groups"] or None,
        workers=snakemake.threads,
        on_error=p["on_error"],
        max_bad_fraction=p["max_bad_fraction"],
    )
    # what the cache was made from (a small DVC-tracked record of the raw data)
    write_json(
        snakemake.output.source,
        {
            "source": p["source"],
            "root": str(Path(p["root"]).resolve()),
            "manifest": p["manifest"],
            "input_sha256": summary["input_sha256"],
            "videos": sum(c["total"] for c in summary["counts"].values()),
        },
    )
    return summary


run_rule(
    snakemake,
    "preprocess",
    body,
    params=params,
)
