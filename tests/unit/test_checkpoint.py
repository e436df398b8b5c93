"""Crash-safe long steps: training, distillation and student training resume from their
checkpoint and end bit-identical (CPU) to an uninterrupted run; determinism of sets."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from tsgd.data.preprocess import preprocess_dataset
from tsgd.data.synthetic import generate_synthetic_dataset
from tsgd.data.transforms import seeded_generator
from tsgd.distill import synthesis as synth_mod
from tsgd.distill.sets import make_tsgd_set
from tsgd.distill.synthesis import SynthesisConfig, synthesize
from tsgd.engine import OptimConfig, train_classifier
from tsgd.io.checkpoint import load_training_state, save_training_state
from tsgd.models import ConvNet3D
from tsgd.saliency.run import compute_cache_saliency
from tsgd.teacher.train import train_teacher


class Interrupted(Exception):
    pass


def _train(epochs_to_stop=None, checkpoint=None, every=0):
    torch.manual_seed(0)
    net = ConvNet3D(3, widths=(4, 8, 8), norm="batch", dropout=0.5)
    data = torch.randn(10, 4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    labels = torch.arange(10) % 3
    gen = seeded_generator(7)

    def batch(idx):  # randomness from the generator, like the real batch functions
        return data[idx] + 0.1 * torch.randn(len(idx), 4, 3, 16, 16, generator=gen)

    def stop(epoch, _stats):
        if epochs_to_stop is not None and epoch == epochs_to_stop:
            raise Interrupted

    cfg = OptimConfig(epochs=7, batch_size=4, lr=0.01, optimizer="adamw", schedule="cosine")
    result = train_classifier(
        net,
        labels,
        batch,
        cfg,
        generator=gen,
        on_epoch=stop,
        progress=False,
        checkpoint=checkpoint,
        checkpoint_every=every,
    )
    return net, result


def test_interrupted_training_resumes_bit_identical(tmp_path):
    ref_net, ref = _train()
    ckpt = tmp_path / "train.ckpt"
    with pytest.raises(Interrupted):
        _train(epochs_to_stop=4, checkpoint=ckpt, every=2)  # last save: after epoch 3
    assert ckpt.is_file()
    net, result = _train(checkpoint=ckpt, every=2)
    assert result.history == ref.history
    for (name, a), b in zip(ref_net.state_dict().items(), net.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_checkpoint_refuses_another_run(tmp_path):
    _train(checkpoint=tmp_path / "c.ckpt", every=1)
    other = ConvNet3D(5, widths=(4, 8, 8), norm="batch")
    opt = torch.optim.SGD(other.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    with pytest.raises(ValueError, match="does not fit"):
        load_training_state(
            tmp_path / "c.ckpt",
            optimizer=opt,
            scheduler=sched,
            generators=[torch.Generator()],
            model=other,
        )
    (tmp_path / "junk.ckpt").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    with pytest.raises(Exception):  # noqa: B017 - not a checkpoint: safetensors or our check
        load_training_state(
            tmp_path / "junk.ckpt", optimizer=opt, scheduler=sched, generators=[], model=other
        )


def _synth(tmp_path, checkpoint=None, every=0):
    torch.manual_seed(0)
    teacher = ConvNet3D(3, widths=(4, 8, 8), norm="batch", dropout=0.0).eval()
    x0 = torch.randn(3, 4, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    cfg = SynthesisConfig(iterations=6, lr=0.05, saliency={"k": 1})
    bounds = (torch.full((3,), -3.0), torch.full((3,), 3.0))
    return synthesize(
        teacher,
        x0,
        torch.arange(3),
        cfg,
        bounds=bounds,
        generator=seeded_generator(3),
        progress=False,
        checkpoint=checkpoint,
        checkpoint_every=every,
    )


def test_interrupted_distillation_resumes_bit_identical(tmp_path, monkeypatch):
    ref_x, ref_hist = _synth(tmp_path)
    real_save = synth_mod.save_training_state
    saves = []

    def save_then_die(*args, **kw):
        real_save(*args, **kw)
        saves.append(kw["progress"]["iteration"])
        if len(saves) == 2:
            raise Interrupted

    ckpt = tmp_path / "distill.ckpt"
    monkeypatch.setattr(synth_mod, "save_training_state", save_then_die)
    with pytest.raises(Interrupted):
        _synth(tmp_path, checkpoint=ckpt, every=2)
    monkeypatch.setattr(synth_mod, "save_training_state", real_save)
    assert saves == [1, 3]
    x, hist = _synth(tmp_path, checkpoint=ckpt, every=2)
    assert torch.equal(x, ref_x)
    assert hist == ref_hist


# -------------------------------------------------------------- SIGKILL, whole phase jobs


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt_ds")
    generate_synthetic_dataset(
        root, classes=3, groups=3, test_groups=1, videos_per_group=2, frames=8, size=32
    )
    out = root / "cache"
    preprocess_dataset(root, out, frames=8, gap=1, resize=(20, 20), progress=False)
    return out


KILL_SCRIPT = """
import json, sys
from tsgd.teacher.train import train_teacher
a = json.loads(sys.argv[1])
train_teacher(a["cache"], a["out"], checkpoint=a["ckpt"], checkpoint_every=1, **a["kw"])
"""


def test_sigkilled_teacher_resumes_and_matches_an_uninterrupted_run(cache, tmp_path, tiny_teacher):
    epochs = 60
    kw = {**tiny_teacher, "epochs": epochs}
    ckpt = tmp_path / ".teacher.safetensors.ckpt"
    args = json.dumps(
        {"cache": str(cache), "out": str(tmp_path / "t.safetensors"), "ckpt": str(ckpt), "kw": kw}
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, args], env=env)
    deadline = time.monotonic() + 120
    while proc.poll() is None and not ckpt.is_file():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.3)  # a few more epochs
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "finished before it could be killed"
    assert not (tmp_path / "t.safetensors").exists()
    state = json.loads(_header(ckpt))["progress"]
    assert 0 <= state["epoch"] < epochs - 1

    torch.set_num_threads(1)
    resumed = train_teacher(
        cache, tmp_path / "resumed" / "t.safetensors", checkpoint=ckpt, checkpoint_every=1, **kw
    )
    fresh = train_teacher(cache, tmp_path / "fresh" / "t.safetensors", **kw)
    a = load_file(tmp_path / "resumed" / "t.safetensors")
    b = load_file(tmp_path / "fresh" / "t.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["history"] == fresh["history"]
    assert resumed["test_top1"] == fresh["test_top1"]


def _header(path):
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        return fh.metadata()["tsgd_training_state"]


def test_same_params_and_seed_give_bit_identical_sets(cache, tmp_path, tiny_teacher):
    teacher = tmp_path / "teacher" / "teacher.safetensors"  # each file has its meta.json
    train_teacher(cache, teacher, **{**tiny_teacher, "epochs": 2})
    sal = tmp_path / "saliency" / "saliency.safetensors"
    sal_kw = {"k": 1, "window": "uniform", "sigma": 1.0, "eps": 1e-6}
    sal_kw |= {"motion_compensation": "none", "max_shift": 2}
    compute_cache_saliency(cache, sal, clip_frames=4, device="cpu", **sal_kw)
    cfg = SynthesisConfig(iterations=4, lr=0.01, saliency=sal_kw)
    common = dict(ipc=2, seed=5, frames=4, crop=16, init="real", init_pick="random")
    for name in ("a", "b"):
        make_tsgd_set(
            cache,
            teacher,
            sal,
            tmp_path / name / "set.safetensors",
            synthesis=cfg,
            device="cpu",
            **common,
        )
    a, b = (load_file(tmp_path / n / "set.safetensors") for n in ("a", "b"))
    assert torch.equal(a["videos"], b["videos"]) and torch.equal(a["labels"], b["labels"])
    assert np.isfinite(a["videos"].numpy()).all()


def test_save_is_atomic(tmp_path):
    """The checkpoint appears whole or not at all: writes go through a temp file + rename."""
    net = ConvNet3D(3, widths=(4, 8, 8))
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    save_training_state(
        tmp_path / "x.ckpt",
        optimizer=opt,
        scheduler=sched,
        generators=[],
        progress={"epoch": 0},
        model=net,
    )
    assert [p.name for p in tmp_path.iterdir()] == ["x.ckpt"]


def _teacher_and_saliency(cache, tmp_path, tiny_teacher):
    """A 1-epoch teacher and the cache's saliency (clips of 4 frames), for making sets."""
    teacher = tmp_path / "teacher" / "teacher.safetensors"
    train_teacher(cache, teacher, **{**tiny_teacher, "epochs": 1})
    sal = tmp_path / "saliency" / "saliency.safetensors"
    sal_kw = {"k": 1, "window": "uniform", "sigma": 1.0, "eps": 1e-6}
    sal_kw |= {"motion_compensation": "none", "max_shift": 2}
    compute_cache_saliency(cache, sal, clip_frames=4, device="cpu", **sal_kw)
    return teacher, sal, sal_kw


@pytest.mark.parametrize("pick", ["spread", "cluster"])
def test_spread_and_cluster_picks_take_distinct_videos_per_class(
    cache, tmp_path, tiny_teacher, pick
):
    """``spread`` takes one video per group before a second from any group; ``cluster``
    one video per k-means cluster: with 2 picks per class, never the same video twice."""
    import json

    from tsgd.io.clipcache import load_split

    teacher, sal, sal_kw = _teacher_and_saliency(cache, tmp_path, tiny_teacher)
    out = tmp_path / pick / "set.safetensors"
    make_tsgd_set(
        cache, teacher, sal, out, ipc=1, seed=3, frames=4, crop=16, init="real",
        init_pick=pick, temporal_pieces=2, device="cpu",
        synthesis=SynthesisConfig(iterations=0, saliency=sal_kw),
    )  # fmt: skip
    meta = json.loads((out.parent / "meta.json").read_text())
    data = load_split(cache, "train")
    group = dict(zip(data.paths, data.groups, strict=True))
    label = dict(zip(data.paths, data.labels.tolist(), strict=True))
    src = meta["source_videos"]
    assert len(src) == 3 * 2  # 3 classes x IPC 1 x 2 stitched pieces
    for c in range(3):
        pair = src[2 * c : 2 * c + 2]
        assert [label[p] for p in pair] == [c, c]
        assert pair[0] != pair[1]
        if pick == "spread":
            assert group[pair[0]] != group[pair[1]]


def test_decode_pieces_takes_whole_windows_and_students_train_on_every_piece(
    cache, tmp_path, tiny_teacher
):
    """With ``decode_pieces`` a temporal piece is a whole window subsampled in time, and the
    evaluation trains on each piece as a clip (twice the clips of the stored set here)."""
    import json

    from tsgd.evaluate.students import _set_source
    from tsgd.io.clipcache import load_split

    teacher, sal, sal_kw = _teacher_and_saliency(cache, tmp_path, tiny_teacher)
    sets = {}
    for decode in (False, True):
        out = tmp_path / f"decode{decode}" / "set.safetensors"
        make_tsgd_set(
            cache, teacher, sal, out, ipc=1, seed=3, frames=4, crop=16, init="real",
            init_pick="diverse", temporal_pieces=2, decode_pieces=decode, device="cpu",
            synthesis=SynthesisConfig(iterations=0, saliency=sal_kw),
        )  # fmt: skip
        sets[decode] = (out, json.loads((out.parent / "meta.json").read_text()))
    steps = {
        d: {int(s) for r in m["source_frames"] for s in np.diff(r)} for d, (_, m) in sets.items()
    }
    assert steps == {False: {1}, True: {2}}  # contiguous runs; whole windows, stride 2
    classes = load_split(cache, "train").classes
    plain = _set_source(sets[False][0], classes, 4, 16)
    decoded = _set_source(sets[True][0], classes, 4, 16)
    assert plain[0]("cpu").shape[0] == 3 and plain[1].tolist() == [0, 1, 2]
    assert decoded[0]("cpu").shape == (6, 4, 3, 16, 16)
    assert decoded[1].tolist() == [0, 0, 1, 1, 2, 2] and decoded[2]["decoded_clips"] == 6
    v = decoded[0]("cpu")
    assert torch.equal(v[:, 0], v[:, 1]) and torch.equal(v[:, 2], v[:, 3])  # frames repeated


def test_by_ipc_takes_salient_windows_where_the_cache_has_room(cache, tmp_path, tiny_teacher):
    """``window_pick: by_ipc`` below ``salient_from_ipc``: the most salient run when a cached
    video holds at least ``salient_room`` clips' worth of frames (here 8 cached frames, 4-frame
    clips: 2), otherwise a random run among the frames that move: the same set, pixel for
    pixel, as the rule it resolves to."""
    teacher, sal, sal_kw = _teacher_and_saliency(cache, tmp_path, tiny_teacher)

    def runs(name, **kw):
        out = tmp_path / name / "set.safetensors"
        make_tsgd_set(
            cache, teacher, sal, out, ipc=2, seed=2, frames=4, crop=16, init="real",
            init_pick="diverse", device="cpu",
            synthesis=SynthesisConfig(iterations=0, saliency=sal_kw), **kw,
        )  # fmt: skip
        meta = json.loads((out.parent / "meta.json").read_text())
        return meta["source_videos"], meta["source_frames"], load_file(out)["videos"]

    def same(a, b):
        return a[:2] == b[:2] and torch.equal(a[2], b[2])

    salient = runs("salient", window_pick="salient", drop_static=0.0)  # nothing dropped
    moving = runs("moving", window_pick="random", drop_static=0.75)
    assert salient[1] != moving[1]
    assert same(runs("roomy", window_pick="by_ipc", drop_static=0.75, salient_room=2), salient)
    assert same(runs("short", window_pick="by_ipc", drop_static=0.75, salient_room=3), moving)


def test_salient_crops_and_fresh_windows_for_a_video_used_twice(cache, tmp_path, tiny_teacher):
    """``crop_pick: salient`` records each piece's square (zoomed: a smaller square, resized
    to the crop); a class with fewer videos than pieces gives a repeated video a fresh random
    window instead of a copy of its first one."""
    import json

    teacher, sal, sal_kw = _teacher_and_saliency(cache, tmp_path, tiny_teacher)
    out = tmp_path / "zoom" / "set.safetensors"
    make_tsgd_set(
        cache, teacher, sal, out, ipc=3, seed=1, frames=4, crop=16, init="real",
        init_pick="diverse", temporal_pieces=2, decode_pieces=True, device="cpu",
        window_pick="salient", crop_pick="salient", crop_scale=0.75,
        synthesis=SynthesisConfig(iterations=0, saliency=sal_kw),
    )  # fmt: skip
    meta = json.loads((out.parent / "meta.json").read_text())
    src, frames, boxes = meta["source_videos"], meta["source_frames"], meta["source_boxes"]
    assert len(src) == len(frames) == len(boxes) == 3 * 3 * 2  # 4 videos/class, 6 pieces
    assert {b[2] for b in boxes} == {12}  # round(16 x 0.75) of the 20 px frames
    assert all(0 <= t <= 8 and 0 <= left <= 8 for t, left, _ in boxes)
    first = {}
    repeated = []
    for video, run in zip(src, frames, strict=True):
        if video in first:
            repeated.append(run != first[video])
        else:
            first[video] = run
    assert len(repeated) == 6 and any(repeated)  # not copies of the salient run
    assert load_file(out)["videos"].shape == (9, 4, 3, 16, 16)
    plain = tmp_path / "plain" / "set.safetensors"
    make_tsgd_set(
        cache, teacher, sal, plain, ipc=1, seed=1, frames=4, crop=16, init="real",
        init_pick="diverse", device="cpu", synthesis=SynthesisConfig(iterations=0, saliency=sal_kw),
    )  # fmt: skip
    assert json.loads((plain.parent / "meta.json").read_text())["source_boxes"] == []
