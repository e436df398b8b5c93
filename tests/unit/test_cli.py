import json

import torch

from tsgd.cli import main
from tsgd.io.sets import save_tensors


def test_validate_prints_resolved_params(repo_root, capsys, monkeypatch):
    monkeypatch.chdir(repo_root)
    assert main(["validate"]) == 0
    assert json.loads(capsys.readouterr().out)["clip"]["frames"] >= 1


def test_bad_params_exit_2_naming_the_key(repo_root, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(repo_root)
    bad = tmp_path / "p.yaml"
    bad.write_text("distill:\n  lr: fast\n")
    assert main(["--params", str(bad), "validate"]) == 2
    assert "distill.lr" in capsys.readouterr().err


def test_inspect_verifies_a_set(tmp_path, capsys):
    path = tmp_path / "synthetic.safetensors"
    save_tensors(path, {"videos": torch.zeros(2, 3)}, {"role": "video_set", "ipc": 1})
    assert main(["inspect", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tensors"]["videos"] == [2, 3] and out["ipc"] == 1
    path.write_bytes(path.read_bytes()[:-1] + b"x")
    assert main(["inspect", str(path)]) == 2
    assert "sha256" in capsys.readouterr().err
