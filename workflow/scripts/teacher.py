"""Rule teacher: train the BatchNorm teacher, or fetch and verify a published one."""

from pathlib import Path

from tsgd.jobs import checkpoint_path, run_rule
from tsgd.teacher.fetch import use_pretrained_teacher
from tsgd.teacher.train import train_teacher

params = dict(snakemake.params.items())
cache_dir = Path(snakemake.input.stats).parent
pretrained, sha256 = params.pop("pretrained"), params.pop("pretrained_sha256")
checkpoint = checkpoint_path(
    snakemake.output.weights, {**params, "pretrained": pretrained}, snakemake.input
)


def body(tracker):
    if pretrained:
        return use_pretrained_teacher(
            cache_dir,
            snakemake.output.weights,
            source=pretrained,
            sha256=sha256,
            frames=params["frames"],
            crop=params["crop"],
            test_passes=params["test_passes"],
            seed=params["seed"],
            device=params["device"],
        )
    return train_teacher(
        cache_dir,
        snakemake.output.weights,
        dataset=snakemake.wildcards.dataset,
        tracker=tracker,
        checkpoint=checkpoint,
        **params,
    )


run_rule(
    snakemake,
    "teacher",
    body,
    params={**params, "pretrained": pretrained, "pretrained_sha256": sha256},
    checkpoint=checkpoint,
    gpu=True,
)
