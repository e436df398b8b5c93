"""Herding / k-center coresets and DM on a tiny hand-written clip cache (CPU, seconds)."""

import json
from itertools import pairwise

import numpy as np
import pytest
import torch

from tsgd.distill.baselines import (
    herding_select,
    kcenter_select,
    make_coreset_set,
    make_dm_set,
    reinit_,
    teacher_features,
)
from tsgd.distill.sets import make_random_set
from tsgd.io.clipcache import load_split, load_stats, write_manifest
from tsgd.io.sets import load_tensors
from tsgd.models import ConvNet3D, build_model
from tsgd.models.checkpoint import load_model, save_model

CLASSES = ["Red", "Green", "Blue"]
PER_CLASS, LENGTH, SIZE = 4, 8, 36  # cached clips: 8 frames of 36 x 36
FRAMES, CROP, WIDTHS = 8, 32, (8, 8, 8)


def _write_cache(root, per_class=PER_CLASS):
    """A clip cache in the layout load_split reads: class c is noise tinted towards
    channel c with a square drifting right."""
    rng = np.random.default_rng(0)
    clips, rows = [], []
    for c, name in enumerate(CLASSES):
        for v in range(per_class):
            clip = rng.integers(0, 90, size=(LENGTH, SIZE, SIZE, 3)).astype(np.uint8)
            clip[..., c] += 120
            for t in range(LENGTH):
                x = 4 + 2 * t + v
                clip[t, 10:18, x : x + 8] = 255
            rows.append(
                {
                    "index": len(clips),
                    "path": f"videos/{name}/v{v}.mp4",
                    "label": name,
                    "label_index": c,
                    "group": f"g{v:02d}",
                    "n_frames": LENGTH,
                    "gap": 1,
                    "padded": 0,
                    "status": "ok",
                    "backend": "test",
                }
            )
            clips.append(clip)
    root.mkdir(parents=True, exist_ok=True)
    np.save(root / "train.npy", np.stack(clips))
    write_manifest(root / "train.csv", rows)
    (root / "classes.json").write_text(json.dumps(CLASSES))
    stats = {
        "mean": [0.45, 0.45, 0.45],
        "std": [0.25, 0.25, 0.25],
        "frames": LENGTH,
        "height": SIZE,
        "width": SIZE,
        "gap": 1,
        "dataset_root": "test",
    }
    (root / "stats.json").write_text(json.dumps(stats))
    return root


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return _write_cache(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    torch.manual_seed(0)
    net = ConvNet3D(len(CLASSES), widths=WIDTHS, norm="batch", dropout=0.0)
    with torch.no_grad():  # non-trivial running statistics
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    path = tmp_path_factory.mktemp("teacher") / "model.safetensors"
    meta = {
        "model": "convnet3d_bn",
        "num_classes": len(CLASSES),
        "widths": list(WIDTHS),
        "dropout": 0.0,
        "classes": CLASSES,
    }
    save_model(path, net, meta)
    return path


# ------------------------------------------------------------------------------ embed


def test_convnet_embed_is_what_the_head_sees():
    torch.manual_seed(0)
    net = ConvNet3D(5, widths=WIDTHS, norm="batch").eval()
    x = torch.randn(3, 4, 3, 32, 32)  # 4 frames pool down to one time step
    feats = net.embed(x)
    assert feats.shape == (3, WIDTHS[-1])
    assert torch.equal(feats, net.embed(x))
    head = net.classifier(feats[:, :, None, None, None]).flatten(1)
    assert torch.allclose(net(x), head, atol=1e-5)
    assert net.embed(torch.randn(2, 8, 3, 32, 32)).shape == (2, WIDTHS[-1])


@pytest.mark.parametrize("name", ["r3d_18", "r2plus1d_18"])
def test_torchvision_embed_is_what_the_head_sees(name):
    torch.manual_seed(0)
    net = build_model(name, 4).eval()
    x = torch.randn(2, 4, 3, 32, 32)
    with torch.no_grad():
        feats = net.embed(x)
        assert feats.shape == (2, 512)
        assert torch.allclose(net(x), net.net.fc(feats), atol=1e-5)
        assert torch.equal(feats, net.embed(x))


# ------------------------------------------------------------------------------ selection


def test_herding_on_known_points():
    f = torch.tensor([[0.0], [1.0], [2.0], [3.0], [10.0]])  # mean 3.2
    order = herding_select(f, 5)
    assert order.dtype == torch.int64
    assert order[0] == 3  # nearest the mean
    # t=2 wants a sum of 6.4 (3 + 3.4): 2 gives 5, 10 gives 13 -> 2
    assert order[:2].tolist() == [3, 2]
    assert sorted(order.tolist()) == [0, 1, 2, 3, 4]  # k = N: all, no repeats
    assert herding_select(f, 9).tolist() == order.tolist()
    assert herding_select(f, 2).tolist() == order[:2].tolist()


def test_herding_mean_approaches_the_full_mean():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(200, 16, generator=g) * torch.linspace(0.2, 3, 16) + 1.0
    mu = f.mean(0)
    order = herding_select(f, 200)
    errs = [float((f[order[:k]].mean(0) - mu).norm()) for k in (1, 5, 20, 80)]
    assert errs == sorted(errs, reverse=True)
    assert float((f[order].mean(0) - mu).norm()) < 1e-5
    # far better than a random subset of the same size
    rand = [
        float((f[torch.randperm(200, generator=g)[:20]].mean(0) - mu).norm()) for _ in range(20)
    ]
    assert errs[2] < 0.3 * float(np.mean(rand))


def test_kcenter_on_a_line():
    f = torch.tensor([[0.0], [1.0], [2.0], [3.0], [10.0]])
    # from 1: 10 is farthest; then 3 (2 away); then 0 and 2 tie at 1 -> lower index first
    assert kcenter_select(f, 5, first=1).tolist() == [1, 4, 3, 0, 2]
    assert kcenter_select(f, 2, first=1).tolist() == [1, 4]
    # from 0: 10, then 3 (3 away), then 1 and 2 tie at 1
    assert kcenter_select(f, 7, first=0).tolist() == [0, 4, 3, 1, 2]


def test_kcenter_on_a_grid_takes_the_corners_then_the_centre():
    pts = torch.tensor([[x, y] for x in range(3) for y in range(3)], dtype=torch.float32)
    # 3 x 3 grid, row-major: corners 0, 2, 6, 8; centre 4
    assert kcenter_select(pts, 5, first=0).tolist() == [0, 8, 2, 6, 4]
    assert kcenter_select(pts, 5, first=4).tolist() == [4, 0, 2, 6, 8]


def test_selection_errors():
    f = torch.zeros(3, 2)
    with pytest.raises(ValueError, match="k must be >= 1"):
        herding_select(f, 0)
    with pytest.raises(ValueError, match=r"\[N, D\]"):
        herding_select(torch.zeros(3), 1)
    with pytest.raises(ValueError, match="first"):
        kcenter_select(f, 2, first=3)
    # duplicates: no repeats all the same
    assert sorted(kcenter_select(f, 3, first=0).tolist()) == [0, 1, 2]
    assert sorted(herding_select(f, 3).tolist()) == [0, 1, 2]


# ------------------------------------------------------------------------------ coresets


@pytest.mark.parametrize("method", ["herding", "kcenter"])
def test_coreset_set_saves_the_greedy_picks(cache, teacher, tmp_path, method):
    out = tmp_path / method / "set.safetensors"
    res = make_coreset_set(
        cache,
        out,
        method=method,
        teacher_path=teacher,
        ipc=2,
        frames=4,
        crop=CROP,
        seed=0,
        device="cpu",
        batch_size=5,
        progress=False,
    )
    assert res["videos"] == 6 and res["feature_dim"] == WIDTHS[-1]
    tensors, meta = load_tensors(out)
    assert tensors["videos"].shape == (6, 4, 3, CROP, CROP)
    assert tensors["videos"].dtype == torch.float32
    assert tensors["labels"].tolist() == [0, 0, 1, 1, 2, 2]
    assert meta["method"] == method and meta["role"] == "video_set"
    assert meta["ipc"] == 2 and meta["frames"] == 4 and meta["crop"] == CROP
    assert meta["classes"] == CLASSES and meta["source_starts"] == [2] * 6

    # the picks are the greedy order of the teacher's normalised centre-window features
    data, stats = load_split(cache, "train"), load_stats(cache)
    model, _ = load_model(teacher)
    feats = teacher_features(
        model,
        data,
        np.full(len(data), 2),
        frames=4,
        crop=CROP,
        mean=stats["mean"],
        std=stats["std"],
        device=torch.device("cpu"),
    )
    assert torch.allclose(feats.norm(dim=1), torch.ones(len(data)))
    expect = []
    for c in range(len(CLASSES)):
        pool = np.flatnonzero(data.labels == c)
        f = feats[torch.from_numpy(pool)]
        if method == "herding":
            sel = herding_select(f, 2)
        else:
            sel = kcenter_select(f, 2, int(torch.argmin((f - f.mean(0)).square().sum(1))))
        expect += [data.paths[i] for i in pool[sel.numpy()]]
    assert meta["source_videos"] == expect

    # the saved clips are exactly those videos' centre windows, as make_random_set stores them
    clips = torch.from_numpy(np.array(data.clips))
    i = data.paths.index(expect[0])
    raw = clips[i, 2:6, 2:34, 2:34].permute(0, 3, 1, 2).float() / 255
    assert torch.allclose(tensors["videos"][0], (raw - 0.45) / 0.25, atol=1e-5)


def test_coreset_repeats_when_a_class_is_small(cache, teacher, tmp_path):
    res = make_coreset_set(
        cache,
        tmp_path / "s.safetensors",
        method="herding",
        teacher_path=teacher,
        ipc=PER_CLASS + 2,
        frames=FRAMES,
        crop=CROP,
        seed=1,
        device="cpu",
        progress=False,
    )
    _, meta = load_tensors(tmp_path / "s.safetensors")
    first = meta["source_videos"][: PER_CLASS + 2]
    assert res["videos"] == 3 * (PER_CLASS + 2)
    assert len(set(first)) == PER_CLASS and first[PER_CLASS:] == first[:2]


def test_coreset_errors(cache, teacher, tmp_path):
    kw = {
        "method": "herding",
        "teacher_path": teacher,
        "ipc": 1,
        "frames": FRAMES,
        "crop": CROP,
        "seed": 0,
        "device": "cpu",
        "progress": False,
    }
    out = tmp_path / "x.safetensors"
    with pytest.raises(ValueError, match="unknown coreset method"):
        make_coreset_set(cache, out, **(kw | {"method": "random"}))
    with pytest.raises(ValueError, match="ipc must be >= 1"):
        make_coreset_set(cache, out, **(kw | {"ipc": 0}))
    with pytest.raises(ValueError, match="crop=40"):
        make_coreset_set(cache, out, **(kw | {"crop": 40}))
    with pytest.raises(ValueError, match="frames=9"):
        make_coreset_set(cache, out, **(kw | {"frames": 9}))
    with pytest.raises(ValueError, match="batch_size"):
        make_coreset_set(cache, out, **(kw | {"batch_size": 0}))
    assert not out.exists()


# ------------------------------------------------------------------------------ DM

DM_KW = {
    "ipc": 1,
    "frames": 4,
    "crop": CROP,
    "seed": 3,
    "iterations": 20,
    "lr": 1.0,
    "real_per_class": 3,
    "widths": WIDTHS,
    "device": "cpu",
    "log_every": 5,
    "progress": False,
}


def test_dm_drives_the_matching_loss_down(cache, tmp_path, monkeypatch):
    # one fixed network and the whole of every class each iteration (frames = clip length,
    # so no random start): a deterministic objective the SGD steps must drive down
    monkeypatch.setattr("tsgd.distill.baselines._net_seed", lambda seed, it: 7)
    kw = DM_KW | {"frames": LENGTH, "real_per_class": PER_CLASS, "lr": 0.3, "log_every": 1}
    res = make_dm_set(cache, tmp_path / "s.safetensors", **kw)
    trace = [v for _, v in res["loss_history"]]
    assert len(trace) == 20 and trace[0] == res["first_loss"]
    assert trace[-1] < 0.05 * trace[0]
    assert all(b < a for a, b in pairwise(trace))  # monotone on this objective
    assert res["loss_mean_last"] < 0.2 * res["loss_mean_first"]
    assert res["clip_change"] > 0


def test_dm_set_starts_from_the_random_subset_and_is_deterministic(cache, tmp_path):
    res = make_dm_set(cache, tmp_path / "a" / "set.safetensors", **DM_KW)
    assert res["iterations"] == 20 and res["peak_gpu_memory_bytes"] is None
    assert res["device"] == "cpu" and res["seconds"] > 0 and res["iterations_per_s"] > 0
    assert [it for it, _ in res["loss_history"]] == [4, 9, 14, 19]
    assert res["final_loss"] == res["loss_history"][-1][1]
    assert all(np.isfinite(v) for _, v in res["loss_history"])

    a, meta = load_tensors(tmp_path / "a" / "set.safetensors")
    assert a["videos"].shape == (3, 4, 3, CROP, CROP) and a["videos"].dtype == torch.float32
    assert a["labels"].tolist() == [0, 1, 2]
    assert meta["method"] == "dm" and meta["dm"]["model"] == "convnet3d_in"
    assert meta["role"] == "video_set" and meta["classes"] == CLASSES

    # initialised from the random real subset of the same seed, then moved
    make_random_set(cache, tmp_path / "r" / "set.safetensors", ipc=1, frames=4, crop=CROP, seed=3)
    r, rmeta = load_tensors(tmp_path / "r" / "set.safetensors")
    assert meta["source_videos"] == rmeta["source_videos"]
    assert meta["source_starts"] == rmeta["source_starts"]
    assert res["clip_change"] > 0.01
    assert float((a["videos"] - r["videos"]).abs().mean()) == pytest.approx(res["clip_change"])

    make_dm_set(cache, tmp_path / "b" / "set.safetensors", **DM_KW)
    b, _ = load_tensors(tmp_path / "b" / "set.safetensors")
    assert torch.equal(a["videos"], b["videos"])
    make_dm_set(cache, tmp_path / "c" / "set.safetensors", **(DM_KW | {"seed": 4}))
    c, _ = load_tensors(tmp_path / "c" / "set.safetensors")
    assert not torch.equal(a["videos"], c["videos"])


def test_dm_with_batchnorm_and_no_iterations(cache, tmp_path):
    res = make_dm_set(
        cache, tmp_path / "s.safetensors", **(DM_KW | {"norm": "batch", "iterations": 3})
    )
    assert np.isfinite(res["final_loss"])
    res = make_dm_set(cache, tmp_path / "z" / "s.safetensors", **(DM_KW | {"iterations": 0}))
    assert res["final_loss"] is None and res["clip_change"] == 0.0


def test_dm_errors(cache, tmp_path):
    out = tmp_path / "x.safetensors"
    for change, match in [
        ({"ipc": 0}, "ipc must be >= 1"),
        ({"crop": 40}, "crop=40"),
        ({"frames": 9}, "frames=9"),
        ({"norm": "group"}, "unknown norm"),
        ({"real_per_class": 0}, "real_per_class"),
        ({"iterations": -1}, "iterations"),
    ]:
        with pytest.raises(ValueError, match=match):
            make_dm_set(cache, out, **(DM_KW | change))
    assert not out.exists()


def test_reinit_draws_the_default_distribution():
    net = build_model("convnet3d_in", 3, widths=WIDTHS)
    reinit_(net, torch.Generator().manual_seed(0))
    w = net.features[0].weight
    bound = 1 / np.sqrt(w[0].numel())
    w = w.detach()
    assert float(w.abs().max()) <= bound and float(w.abs().max()) > 0.9 * bound
    first = w.clone()
    reinit_(net, torch.Generator().manual_seed(0))
    assert torch.equal(first, net.features[0].weight)
    reinit_(net, torch.Generator().manual_seed(1))
    assert not torch.equal(first, net.features[0].weight)


def test_interrupted_dm_resumes_bit_identical(cache, tmp_path, monkeypatch):
    from tsgd.distill import baselines

    ref = make_dm_set(cache, tmp_path / "ref" / "set.safetensors", **DM_KW)
    real_save = baselines.save_training_state

    def save_then_die(*args, **kw):
        real_save(*args, **kw)
        if kw["progress"]["iteration"] == 11:
            raise KeyboardInterrupt  # as if killed right after the second checkpoint

    ckpt = tmp_path / "dm.ckpt"
    monkeypatch.setattr(baselines, "save_training_state", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        make_dm_set(
            cache, tmp_path / "x" / "set.safetensors", checkpoint=ckpt, checkpoint_every=6, **DM_KW
        )
    monkeypatch.setattr(baselines, "save_training_state", real_save)
    got = make_dm_set(
        cache, tmp_path / "y" / "set.safetensors", checkpoint=ckpt, checkpoint_every=6, **DM_KW
    )
    a, _ = load_tensors(tmp_path / "ref" / "set.safetensors")
    b, _ = load_tensors(tmp_path / "y" / "set.safetensors")
    assert torch.equal(a["videos"], b["videos"])
    assert got["loss_history"] == ref["loss_history"]
    assert got["final_loss"] == ref["final_loss"]
