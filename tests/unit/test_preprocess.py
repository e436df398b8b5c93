import csv
import json
import shutil

import numpy as np
import pytest

from tsgd.data.decode import DecodeError, open_video, read_frames
from tsgd.data.preprocess import STATS_STRIDE, preprocess_dataset
from tsgd.data.sampling import cache_indices
from tsgd.data.synthetic import generate_synthetic_dataset, render_video, write_mp4
from tsgd.io.clipcache import load_classes, load_split, load_stats, read_manifest

FRAMES, GAP, RESIZE = 4, 2, (16, 20)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds")
    generate_synthetic_dataset(
        root, classes=2, groups=3, test_groups=1, videos_per_group=2, frames=8, size=32
    )
    return root


def _bad_copy(dataset, tmp_path):
    """A copy of the dataset with a zero-byte .mp4 and a text file renamed .mp4 in train."""
    root = tmp_path / "bad"
    shutil.copytree(dataset, root)
    (root / "videos/MoveRight/empty.mp4").write_bytes(b"")
    (root / "videos/MoveLeft/text.mp4").write_text("this is not a video\n")
    with open(root / "clips.csv", "a") as fh:
        fh.write("videos/MoveRight/empty.mp4,MoveRight,g01,train,8,25.0\n")
        fh.write("videos/MoveLeft/text.mp4,MoveLeft,g02,train,8,25.0\n")
    return root


def _run(root, out, **kw):
    args = {"frames": FRAMES, "gap": GAP, "resize": RESIZE, "progress": False} | kw
    return preprocess_dataset(root, out, **args)


def test_end_to_end(dataset, tmp_path):
    out = tmp_path / "cache"
    summary = _run(dataset, out)
    assert summary["counts"] == {
        "train": {"total": 8, "ok": 8, "skipped": 0},
        "test": {"total": 4, "ok": 4, "skipped": 0},
    }
    assert summary["skipped"] == [] and summary["clips_per_s"] > 0

    arr = np.load(out / "train.npy", mmap_mode="r", allow_pickle=False)
    assert arr.dtype == np.uint8 and arr.shape == (8, FRAMES, *RESIZE, 3)
    assert load_classes(out) == ["MoveRight", "MoveLeft"]
    assert json.loads((out / "classes.json").read_text()) == ["MoveRight", "MoveLeft"]

    rows = read_manifest(out, "train")
    assert list(rows[0]) == [
        "index",
        "path",
        "label",
        "label_index",
        "group",
        "n_frames",
        "gap",
        "padded",
        "status",
        "reason",
        "backend",
    ]
    assert [int(r["index"]) for r in rows] == list(range(8))
    assert {r["status"] for r in rows} == {"ok"}
    assert {(r["n_frames"], r["gap"], r["padded"]) for r in rows} == {("8", "2", "0")}
    assert {r["group"] for r in rows} == {"g01", "g02"}

    # the cached frames are the centred, strided frames decoded at the target size
    idx, _, _ = cache_indices(8, FRAMES, GAP)
    assert idx.tolist() == [0, 2, 4, 6]
    ref = read_frames(dataset / rows[3]["path"], idx, width=RESIZE[1], height=RESIZE[0])
    assert np.array_equal(arr[3], ref)

    stats = load_stats(out)
    # exact statistics of the regular pixel grid, close to those of every pixel
    x = np.asarray(arr, dtype=np.float64) / 255.0
    grid = x[:, :, ::STATS_STRIDE, ::STATS_STRIDE]
    assert np.allclose(stats["mean"], grid.mean(axis=(0, 1, 2, 3)), atol=1e-9)
    assert np.allclose(stats["std"], grid.std(axis=(0, 1, 2, 3)), atol=1e-9)
    assert np.allclose(stats["mean"], x.mean(axis=(0, 1, 2, 3)), atol=0.02)
    assert np.allclose(stats["std"], x.std(axis=(0, 1, 2, 3)), atol=0.02)
    assert (stats["frames"], stats["height"], stats["width"], stats["gap"]) == (4, 16, 20, 2)
    assert stats["dataset_root"] == str(dataset.resolve())

    split = load_split(out, "test")
    assert isinstance(split.clips, np.memmap) and not split.clips.flags.writeable
    assert split.clips.shape == (4, FRAMES, *RESIZE, 3) and len(split) == 4
    assert split.labels.dtype == np.int64
    with open(dataset / "clips.csv", newline="") as fh:
        src = {r["path"]: r for r in csv.DictReader(fh)}
    for path, label, group in zip(split.paths, split.labels, split.groups, strict=True):
        assert split.classes[label] == src[path]["label"]
        assert group == src[path]["group"] == "g03"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left


def test_workers_give_identical_output(dataset, tmp_path):
    _run(dataset, tmp_path / "w1", workers=1)
    _run(dataset, tmp_path / "w2", workers=2)
    for name in ("train.npy", "test.npy", "train.csv", "test.csv", "classes.json", "stats.json"):
        assert (tmp_path / "w1" / name).read_bytes() == (tmp_path / "w2" / name).read_bytes(), name


def test_short_videos_are_padded(dataset, tmp_path):
    _run(dataset, tmp_path / "c", frames=10, gap=3, resize=(8, 12))
    rows = read_manifest(tmp_path / "c", "train")
    assert {(r["gap"], r["padded"]) for r in rows} == {("1", "2")}
    clips = load_split(tmp_path / "c", "train").clips
    assert np.array_equal(clips[:, 7], clips[:, 9])  # last frame repeated


def test_bad_files_skipped_with_reasons(dataset, tmp_path, caplog):
    root = _bad_copy(dataset, tmp_path)
    out = tmp_path / "cache"
    summary = _run(root, out, on_error="skip", max_bad_fraction=0.25, workers=2)
    assert summary["counts"]["train"] == {"total": 10, "ok": 8, "skipped": 2}
    skipped = {s["path"]: s["reason"] for s in summary["skipped"]}
    assert set(skipped) == {"videos/MoveRight/empty.mp4", "videos/MoveLeft/text.mp4"}
    assert "empty" in skipped["videos/MoveRight/empty.mp4"]
    assert skipped["videos/MoveLeft/text.mp4"]
    assert "empty.mp4" in caplog.text and "text.mp4" in caplog.text

    rows = {r["path"]: r for r in read_manifest(out, "train")}
    assert len(rows) == 10
    for path, reason in skipped.items():
        assert rows[path]["status"] == "skipped" and rows[path]["index"] == "-1"
        assert rows[path]["reason"] == reason
    split = load_split(out, "train")
    assert split.clips.shape[0] == 8 and "videos/MoveLeft/text.mp4" not in split.paths
    # the good clips are the same as without the bad files
    clean = tmp_path / "clean"
    _run(dataset, clean)
    assert (out / "train.npy").read_bytes() == (clean / "train.npy").read_bytes()


def test_too_many_bad_files_raise_listing_them(dataset, tmp_path):
    root = _bad_copy(dataset, tmp_path)
    with pytest.raises(RuntimeError, match="max_bad_fraction") as info:
        _run(root, tmp_path / "cache")  # 2 of 10 > 0.1
    assert "empty.mp4" in str(info.value) and "text.mp4" in str(info.value)
    assert not (tmp_path / "cache" / "train.npy").exists()
    assert not (tmp_path / "cache" / "stats.json").exists()


@pytest.mark.parametrize("workers", [1, 2])
def test_on_error_fail_names_the_file(dataset, tmp_path, workers):
    root = _bad_copy(dataset, tmp_path)
    with pytest.raises(DecodeError, match=r"videos/Move(Right/empty|Left/text)\.mp4"):
        _run(root, tmp_path / "cache", on_error="fail", workers=workers)
    assert not (tmp_path / "cache" / "train.npy").exists()
    assert not (tmp_path / "cache" / "stats.json").exists()
    # only the resumable work folder is left behind, for a rerun once the file is fixed
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [".partial"]


def test_missing_file_skipped_or_fails(dataset, tmp_path):
    root = tmp_path / "m"
    shutil.copytree(dataset, root)
    with open(root / "clips.csv", "a") as fh:
        fh.write("videos/MoveRight/gone.mp4,MoveRight,g01,train,8,25.0\n")
    summary = _run(root, tmp_path / "c", max_bad_fraction=0.2)
    assert summary["skipped"] == [
        {"split": "train", "path": "videos/MoveRight/gone.mp4", "reason": "file not found"}
    ]
    with pytest.raises(FileNotFoundError, match=r"gone\.mp4"):
        _run(root, tmp_path / "c2", on_error="fail")


def test_group_splits_and_empty_class(dataset, tmp_path):
    root = tmp_path / "nosplit"
    shutil.copytree(dataset, root)
    rows = (root / "clips.csv").read_text().splitlines()
    # drop the split column: splits must then come from test_groups
    (root / "clips.csv").write_text(
        "\n".join(",".join(r.split(",")[:3]) for r in rows) + "\n", encoding="utf-8"
    )
    with pytest.raises(ValueError, match="test_groups"):
        _run(root, tmp_path / "c")
    s = _run(
        root,
        tmp_path / "c",
        test_groups=["g01"],
        val_groups=["g02"],
        splits=("train", "val", "test"),
    )
    assert {k: v["ok"] for k, v in s["counts"].items()} == {"train": 4, "val": 4, "test": 4}
    with pytest.raises(ValueError, match="val"):  # val records but no val split requested
        _run(root, tmp_path / "c", test_groups=["g01"], val_groups=["g02"])

    (root / "classes.txt").write_text("MoveRight\nMoveLeft\nMoveDown\n")
    with pytest.raises(ValueError, match="MoveDown"):
        _run(root, tmp_path / "c", test_groups=["g01"])


def test_argument_errors(dataset, tmp_path):
    with pytest.raises(ValueError, match="on_error"):
        _run(dataset, tmp_path / "c", on_error="ignore")
    with pytest.raises(ValueError, match="resize"):
        _run(dataset, tmp_path / "c", resize=(0, 4))
    with pytest.raises(ValueError, match="train"):
        _run(dataset, tmp_path / "c", splits=("test",))
    with pytest.raises(FileNotFoundError):
        _run(tmp_path / "absent", tmp_path / "c")


def test_load_split_detects_mismatch(dataset, tmp_path):
    out = tmp_path / "cache"
    _run(dataset, out)
    arr = np.load(out / "test.npy", allow_pickle=False)
    np.save(out / "test.npy", arr[:3])
    with pytest.raises(ValueError, match="3 clips but test.csv lists 4"):
        load_split(out, "test")
    with pytest.raises(FileNotFoundError, match="val.csv"):
        load_split(out, "val")


@pytest.mark.parametrize("width", [16, 24, 32, 33, 48])
def test_decode_widths_that_trip_decord(tmp_path, width):
    """decord garbles widths where the padded RGB row is a multiple of the width (e.g. 32
    on AVX-512): decode must still give the right frames."""
    video = render_video("right", np.random.default_rng(1), frames=4, size=64, noise_std=0)
    write_mp4(tmp_path / "v.mp4", video, 25)
    ref = read_frames(tmp_path / "v.mp4", range(4), width=64, height=64).astype(np.float32)
    vf = open_video(tmp_path / "v.mp4", width=width, height=20)
    got = vf.read([0, 1, 2, 3])
    assert got.shape == (4, 20, width, 3)
    assert np.array_equal(vf.read([2]), got[2:3])
    # compare with a plain downscale of the full-size decode
    ys = ((np.arange(20) + 0.5) * 64 / 20).astype(int)
    xs = ((np.arange(width) + 0.5) * 64 / width).astype(int)
    assert np.abs(got.astype(np.float32) - ref[:, ys][:, :, xs]).mean() < 12
