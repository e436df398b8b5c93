import json

import pytest
import torch

from tsgd.evaluate.aggregate import summarize, write_summary
from tsgd.io.atomic import atomic_path, write_json
from tsgd.io.sets import load_tensors, save_tensors


def _metrics(tmp_path, method, seed, top1, collapsed=False, ipc=1):
    p = tmp_path / method / f"{seed}.json"
    write_json(
        p,
        {
            "method": method,
            "ipc": ipc,
            "student": "convnet3d",
            "labels": "hard",
            "seed": seed,
            "test_top1": top1,
            "collapsed": collapsed,
        },
    )
    return p


def test_summary_mean_std_and_collapsed_runs(tmp_path):
    files = [_metrics(tmp_path, "tsgd", s, v) for s, v in enumerate([0.5, 0.6, 0.7])]
    files += [
        _metrics(tmp_path, "random", 0, 0.3),
        _metrics(tmp_path, "random", 1, 0.4),
        _metrics(tmp_path, "random", 2, 0.1667, collapsed=True),
    ]
    rows = {r["method"]: r for r in summarize(files)}
    assert rows["tsgd"]["mean"] == pytest.approx(60.0)
    assert rows["tsgd"]["std"] == pytest.approx(10.0)  # sample std
    assert rows["random"]["runs"] == 3 and rows["random"]["collapsed"] == 1
    assert rows["random"]["mean"] == pytest.approx(35.0)  # the collapsed run is not averaged
    assert rows["tsgd"]["delta_vs_random"] == pytest.approx(25.0)
    write_summary(list(rows.values()), tmp_path / "s.csv", tmp_path / "s.md")
    md = (tmp_path / "s.md").read_text()
    assert "60.0 ± 10.0" in md and "| 1 |" in md
    assert "tsgd,1,convnet3d,hard,3,0,60.0000" in (tmp_path / "s.csv").read_text()


def test_full_training_set_rows_come_last_without_a_budget(tmp_path):
    files = [_metrics(tmp_path, "full", s, v, ipc=None) for s, v in enumerate([0.8, 0.9])]
    files += [_metrics(tmp_path, "random", 0, 0.3), _metrics(tmp_path, "tsgd", 0, 0.5)]
    rows = summarize(files)
    assert [(r["method"], r["ipc"]) for r in rows] == [("random", 1), ("tsgd", 1), ("full", None)]
    assert (
        rows[-1]["mean"] == pytest.approx(85.0)
        and rows[-1]["delta_vs_random"] != rows[-1]["delta_vs_random"]
    )
    write_summary(rows, tmp_path / "s.csv", tmp_path / "s.md")
    assert "| full | all | convnet3d | hard | 85.0 ± 7.1 |" in (tmp_path / "s.md").read_text()
    assert "full,,convnet3d,hard,2,0,85.0000" in (tmp_path / "s.csv").read_text()


def test_sets_are_verified_before_use(tmp_path):
    path = tmp_path / "set" / "synthetic.safetensors"
    meta = save_tensors(
        path, {"videos": torch.zeros(2, 4, 3, 8, 8)}, {"classes": ["a", "b"], "frames": 4}
    )
    tensors, loaded = load_tensors(path, {"classes": ["a", "b"], "frames": 4})
    assert loaded["sha256"] == meta["sha256"] and tensors["videos"].shape == (2, 4, 3, 8, 8)
    with pytest.raises(ValueError, match="frames: file has 4, expected 8"):
        load_tensors(path, {"frames": 8})
    with pytest.raises(ValueError, match="classes"):
        load_tensors(path, {"classes": ["a", "c"]})
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256"):
        load_tensors(path)


def test_one_tensor_file_per_folder(tmp_path):
    first = tmp_path / "teacher.safetensors"
    save_tensors(first, {"w": torch.zeros(2)}, {"role": "weights"})
    with pytest.raises(ValueError, match="one tensor file per folder"):
        save_tensors(tmp_path / "saliency.safetensors", {"s": torch.ones(2)}, {})
    load_tensors(first)  # still intact
    save_tensors(first, {"w": torch.ones(2)}, {"role": "weights"})  # replacing itself is fine
    (tmp_path / "other.safetensors").write_bytes(first.read_bytes())
    with pytest.raises(ValueError, match="describes teacher.safetensors"):
        load_tensors(tmp_path / "other.safetensors")


def test_atomic_write_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []
    write_json(target, {"a": float("nan")})
    assert json.loads(target.read_text()) == {"a": None}
