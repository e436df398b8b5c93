"""Rule distill_tsgd: TSGD synthesis of one set (method tsgd, or sre2l = TSGF off)."""

from pathlib import Path

from tsgd.distill.sets import make_tsgd_set
from tsgd.distill.synthesis import SynthesisConfig
from tsgd.jobs import checkpoint_path, run_rule

params = dict(snakemake.params.items())
w = snakemake.wildcards
synth_keys = set(SynthesisConfig.__dataclass_fields__) - {"saliency"}
synthesis = SynthesisConfig(saliency=params["saliency"], **{k: params[k] for k in synth_keys})
if w.method == "sre2l":  # the same method with TSGF switched off everywhere (SRe2L on video):
    synthesis.tsgf = False  # no TSGF-weighted updates,
    params.update(
        tsgf=False, window_pick="random", drop_static=0.0, crop_pick="center"
    )  # no saliency
checkpoint = checkpoint_path(snakemake.output.videos, params, snakemake.input)


def body(tracker):
    metrics = make_tsgd_set(
        Path(snakemake.input.stats).parent,
        snakemake.input.teacher,
        snakemake.input.saliency,
        snakemake.output.videos,
        ipc=int(w.ipc),
        seed=int(w.seed),
        frames=params["frames"],
        crop=params["crop"],
        init=params["init"],
        init_pick=params["init_pick"],
        mosaic_grid=params["mosaic_grid"],
        temporal_pieces=params["temporal_pieces"],
        window_pick=params["window_pick"],
        drop_static=params["drop_static"],
        salient_from_ipc=params["salient_from_ipc"],
        salient_room=params["salient_room"],
        crop_pick=params["crop_pick"],
        crop_scale=params["crop_scale"],
        decode_pieces=params["decode_pieces"],
        synthesis=synthesis,
        device=params["device"],
        dataset=w.dataset,
        method=w.method,
        checkpoint=checkpoint,
        checkpoint_every=params["checkpoint_every"],
    )
    hist = metrics.get("history", {})
    n = len(hist.get("loss", []))
    for i in range(0, n, max(1, n // 50)):
        tracker.log_metrics({f"distill_{k}": v[i] for k, v in hist.items()}, step=i)
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
