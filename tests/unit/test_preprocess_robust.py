"""Preprocessing under bad input, crashes and kills: skip and report, never corrupt."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tsgd.data import preprocess as pre
from tsgd.data.preprocess import preprocess_dataset
from tsgd.data.synthetic import generate_synthetic_dataset, render_video, write_mp4, write_video
from tsgd.io.clipcache import load_split, read_manifest

SETTINGS = {"frames": 4, "gap": 2, "resize": (16, 20), "progress": False}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("robust")
    generate_synthetic_dataset(
        root, classes=2, groups=3, test_groups=1, videos_per_group=2, frames=8, size=32
    )
    return root


def _copy(dataset, dest):
    import shutil

    shutil.copytree(dataset, dest)
    return dest


def _append(root, rows):
    with open(root / "clips.csv", "a") as fh:
        for path, label in rows:
            fh.write(f"{path},{label},g01,train,8,25.0\n")


def _write_avi(path, video, codec_tag=None):
    """MPEG-4 part 2 AVI (as UCF101's XviD files); ``codec_tag`` overwrites its FourCC."""
    write_video(path, video, 25, codec="mpeg4")
    if codec_tag is not None:
        data = path.read_bytes()
        assert data.count(b"FMP4") == 2  # stream header handler + bitmap compression
        path.write_bytes(data.replace(b"FMP4", codec_tag))


def test_every_kind_of_bad_input_is_skipped_and_listed(dataset, tmp_path, caplog):
    root = _copy(dataset, tmp_path / "bad")
    rng = np.random.default_rng(0)
    right = root / "videos/MoveRight"
    good = (right / sorted(p.name for p in right.iterdir())[0]).read_bytes()
    (right / "truncated.mp4").write_bytes(good[: len(good) // 2])
    (right / "zero.mp4").write_bytes(b"")
    (right / "notes.avi").write_text("a text file with a video extension\n")
    write_mp4(right / "short.mp4", render_video("right", rng, frames=4, size=32), 25)
    _write_avi(right / "codec.avi", render_video("right", rng, frames=8, size=32), b"QQQQ")
    _write_avi(right / "xvid_like.avi", render_video("right", rng, frames=8, size=32))
    bad = ["truncated.mp4", "zero.mp4", "notes.avi", "short.mp4", "codec.avi", "gone.mp4"]
    _append(root, [(f"videos/MoveRight/{n}", "MoveRight") for n in [*bad, "xvid_like.avi"]])

    summary = preprocess_dataset(
        root, tmp_path / "c", min_frames=5, max_bad_fraction=0.5, workers=2, **SETTINGS
    )
    reasons = {s["path"].rsplit("/", 1)[1]: s["reason"] for s in summary["skipped"]}
    assert sorted(reasons) == sorted(bad)
    assert "truncated" in reasons["truncated.mp4"]
    assert "empty file" in reasons["zero.mp4"]
    assert "not a video" in reasons["notes.avi"]
    assert "only 4 frames, shorter than one clip (5 frames)" == reasons["short.mp4"]
    assert "codec" in reasons["codec.avi"]
    assert reasons["gone.mp4"] == "file not found"
    assert summary["counts"]["train"] == {"total": 15, "ok": 9, "skipped": 6}

    rows = {r["path"].rsplit("/", 1)[1]: r for r in read_manifest(tmp_path / "c", "train")}
    for name, reason in reasons.items():
        assert (rows[name]["status"], rows[name]["reason"]) == ("skipped", reason)
        assert name in caplog.text
    assert rows["xvid_like.avi"]["status"] == "ok"  # MPEG-4 part 2 AVI decodes
    assert "6 of 15 videos skipped" in caplog.text


def test_worker_that_dies_is_isolated_and_reported(dataset, tmp_path, monkeypatch):
    """A decoder that kills its process (a segfault in native code) must neither hang the
    pool nor lose the other videos in flight."""
    real = pre.decode_clip

    def crashing(path, **kw):
        if str(path).endswith("_c01.mp4") and "MoveLeft" in str(path) and "g01" in str(path):
            os._exit(139)
        return real(path, **kw)

    monkeypatch.setattr(pre, "decode_clip", crashing)  # inherited by the forked workers
    summary = preprocess_dataset(
        dataset, tmp_path / "c", workers=2, max_bad_fraction=0.2, **SETTINGS
    )
    assert [s["reason"] for s in summary["skipped"]] == [
        "decoder process crashed (BrokenProcessPool)"
    ]
    assert summary["counts"]["train"] == {"total": 8, "ok": 7, "skipped": 1}
    assert summary["counts"]["test"]["ok"] == 4  # the pool came back for the next split


# ------------------------------------------------------------------------ kill and resume

KILL_SCRIPT = """
import json, sys
from tsgd.data.preprocess import preprocess_dataset
a = json.loads(sys.argv[1])
preprocess_dataset(a["root"], a["out"], manifest=a["manifest"], frames=8, gap=2,
                   resize=(32, 32), workers=1, progress=False)
"""


def _journal_lines(out):
    work = out / ".partial"
    return sum(p.read_bytes().count(b"\n") for p in work.glob("*.jsonl")) if work.is_dir() else 0


@pytest.fixture(scope="module")
def big_manifest(dataset, tmp_path_factory):
    """The 12 videos listed 40 times over: enough work to kill a run half-way."""
    rows = list(csv.DictReader(open(dataset / "clips.csv", newline="")))
    path = tmp_path_factory.mktemp("big") / "big.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for _ in range(40):
            writer.writerows(rows)
    return path, len(rows) * 40


def test_sigkilled_run_resumes_without_redoing_work_or_corruption(dataset, big_manifest, tmp_path):
    manifest, total = big_manifest
    out = tmp_path / "killed"
    args = json.dumps({"root": str(dataset), "out": str(out), "manifest": str(manifest)})
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, args], env=env)
    deadline = time.monotonic() + 120
    while _journal_lines(out) < total // 4 and proc.poll() is None:
        assert time.monotonic() < deadline, "preprocess made no progress"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "finished before it could be killed"

    done = _journal_lines(out)
    assert 0 < done < total
    assert not (out / "stats.json").exists() and not (out / "train.npy").exists()
    with open(out / ".partial/train.jsonl", "a") as fh:  # as if killed mid-line
        fh.write('{"pos": 3, "sta')

    resumed = preprocess_dataset(
        dataset, out, manifest=str(manifest), frames=8, gap=2, resize=(32, 32), progress=False
    )
    assert resumed["decoded"] == total - done
    assert not (out / ".partial").exists()

    clean = tmp_path / "clean"
    fresh = preprocess_dataset(
        dataset, clean, manifest=str(manifest), frames=8, gap=2, resize=(32, 32), progress=False
    )
    assert fresh["decoded"] == total
    for name in ("train.npy", "test.npy", "train.csv", "test.csv", "classes.json", "stats.json"):
        assert (out / name).read_bytes() == (clean / name).read_bytes(), name
    assert load_split(out, "train").clips.shape[0] == total * 8 // 12


def test_unfinished_work_with_other_settings_is_discarded(dataset, tmp_path, monkeypatch):
    out = tmp_path / "c"
    real = pre.decode_clip

    def fail_late(path, **kw):
        if "g03" in str(path):  # the test split: the train split is done by then
            raise KeyboardInterrupt
        return real(path, **kw)

    monkeypatch.setattr(pre, "decode_clip", fail_late)
    with pytest.raises(KeyboardInterrupt):
        preprocess_dataset(dataset, out, **SETTINGS)
    assert _journal_lines(out) == 8
    monkeypatch.setattr(pre, "decode_clip", real)

    same = preprocess_dataset(dataset, out, **SETTINGS)
    assert same["decoded"] == 4  # only the test split

    with pytest.raises(KeyboardInterrupt):
        monkeypatch.setattr(pre, "decode_clip", fail_late)
        preprocess_dataset(dataset, out, **SETTINGS)
    monkeypatch.setattr(pre, "decode_clip", real)
    other = preprocess_dataset(dataset, out, **{**SETTINGS, "resize": (12, 16)})
    assert other["decoded"] == 12  # the 8 train clips were for another size: redone
    assert load_split(out, "train").clips.shape == (8, 4, 12, 16, 3)


# --------------------------------------------------------- official layouts, end to end


def _ucf_tree(root, classes=("Archery", "Basketball"), empty=()):
    """A tiny UCF101 in its official layout: MPEG-4 AVIs, classInd and split-1 lists."""
    rng = np.random.default_rng(3)
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    all_classes = [*classes, *empty]
    (lists / "classInd.txt").write_text(
        "".join(f"{i} {c}\r\n" for i, c in enumerate(all_classes, 1))
    )
    train, test = [], []
    for i, c in enumerate(all_classes, 1):
        (root / "UCF-101" / c).mkdir(parents=True)
        for g in (1, 2, 8, 9):
            name = f"{c}/v_{c}_g{g:02d}_c01.avi"
            (test if g < 8 else train).append((name, i))
            if c not in empty:
                motion = "right" if i == 1 else "up"
                _write_avi(root / "UCF-101" / name, render_video(motion, rng, frames=8, size=32))
    test.append(("Archery/v_Archery_g03_c01.avi", 1))  # listed, never downloaded
    (lists / "trainlist01.txt").write_text("".join(f"{n} {i}\r\n" for n, i in train))
    (lists / "testlist01.txt").write_text("".join(f"{n}\r\n" for n, _ in test))
    return root


def _cli_params(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(
        "preprocess: {frames: 4, gap: 2, resize: [16, 20], max_bad_fraction: 0.25}\n"
        "clip: {frames: 4, crop: 16}\n"
    )
    return ["--params", str(params)]


def test_ucf101_layout_through_the_cli(tmp_path, capsys, repo_root, monkeypatch):
    from tsgd.cli import main

    monkeypatch.chdir(repo_root)
    root = _ucf_tree(tmp_path / "ucf")
    out = tmp_path / "cache"
    args = [*_cli_params(tmp_path), "preprocess", str(root), str(out), "--source", "ucf101"]
    code = main([*args, "--val-groups", "g09", "--workers", "2"])
    assert code == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    assert summary["counts"] == {
        "train": {"total": 2, "ok": 2, "skipped": 0},
        "val": {"total": 2, "ok": 2, "skipped": 0},
        "test": {"total": 5, "ok": 4, "skipped": 1},
    }
    assert summary["skipped"] == [
        {
            "split": "test",
            "path": "UCF-101/Archery/v_Archery_g03_c01.avi",
            "reason": "file not found",
        }
    ]
    val = load_split(out, "val")
    assert val.groups == ["g09", "g09"] and val.classes == ["Archery", "Basketball"]
    assert json.loads((out / "stats.json").read_text())["source"] == "ucf101"


def test_empty_class_folders_are_reported(dataset, tmp_path, repo_root, monkeypatch, capsys):
    from tsgd.cli import main

    monkeypatch.chdir(repo_root)
    root = _ucf_tree(tmp_path / "ucf", empty=("Bowling",))
    code = main(
        [*_cli_params(tmp_path), "preprocess", str(root), str(tmp_path / "c"), "--source", "ucf101"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "class folder(s) with no video: ['Bowling']" in err
    assert "preprocess train" not in err  # refused before decoding anything

    # a folder dataset: an empty folder is not a class, and is listed, not silently dropped
    folder = _copy(dataset, tmp_path / "folder")
    (folder / "clips.csv").unlink()
    (folder / "videos" / "MoveDown").mkdir()
    summary = preprocess_dataset(
        folder / "videos", tmp_path / "c2", manifest=None, test_groups=["g03"], **SETTINGS
    )
    assert summary["classes"] == ["MoveLeft", "MoveRight"]
    assert summary["empty_class_folders"] == ["MoveDown"]
    stats = json.loads((tmp_path / "c2" / "stats.json").read_text())
    assert stats["empty_class_folders"] == ["MoveDown"]
