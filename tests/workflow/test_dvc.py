"""DVC round trip in a temporary git repository with a local directory remote.

`dvc repro` builds the tiny pipeline stage by stage through Snakemake; Snakemake then has
nothing to do; `dvc push` publishes; a fresh clone runs `dvc pull`, `make pulled`'s
touch, and `snakemake`, which evaluates the pulled sets without re-running preprocessing,
the teacher, saliency or distillation, and reproduces the same summary.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import yaml
from test_pipeline import TINY, merged, planned_rules

pytestmark = pytest.mark.workflow

PULLED_PHASES = ["preprocess_all", "teacher_all", "saliency_all", "distill_all"]


def run(cmd, cwd, timeout=900):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{cmd} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout + out.stderr


def git(*args, cwd):
    return run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd)


def dvc(*args, cwd):
    return run([sys.executable, "-m", "dvc", *args], cwd)


def snakemake(*args, cwd):
    return run([sys.executable, "-m", "snakemake", *args], cwd)


@pytest.fixture(scope="module")
def published(tmp_path_factory, repo_root):
    repo = tmp_path_factory.mktemp("dvc") / "repo"
    repo.mkdir()
    for item in ("Snakefile", "workflow", "profiles", "src", "environment.yml", "dvc.yaml"):
        src = repo_root / item
        (shutil.copytree if src.is_dir() else shutil.copy)(
            src,
            repo / item,
            **({"ignore": shutil.ignore_patterns("__pycache__")} if src.is_dir() else {}),
        )
    (repo / ".gitignore").write_text("/.snakemake/\n/logs/\n/mlruns.db\n")
    params = merged(repo_root / "params.yaml", {**TINY, "tracking": {"enabled": False}})
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    git("init", "-q", cwd=repo)
    dvc("init", "-q", cwd=repo)
    remote = repo.parent / "remote"
    dvc("remote", "add", "-d", "store", str(remote), cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "project", cwd=repo)

    out = dvc("repro", cwd=repo)
    assert "Running stage 'evaluate'" in out
    return repo, remote


def test_after_dvc_repro_snakemake_and_dvc_have_nothing_to_do(published):
    repo, _ = published
    assert "Nothing to be done" in snakemake("--cores", "1", "-n", cwd=repo)
    again = dvc("repro", cwd=repo)
    assert "Running stage" not in again
    assert "Data and pipelines are up to date" in dvc("status", cwd=repo)


def test_push_then_pull_in_a_fresh_clone_evaluates_without_recomputing(published, tmp_path):
    repo, remote = published
    dvc("push", cwd=repo)
    assert any(remote.rglob("*"))
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "results", cwd=repo)

    clone = tmp_path / "clone"
    git("clone", "-q", str(repo), str(clone), cwd=tmp_path)
    cached = (
        "results/teacher/synthetic/teacher.safetensors",
        "results/distill/synthetic/tsgd/ipc1/seed0/synthetic.safetensors",
        "results/preprocess/synthetic/test.npy",
        "results/saliency/synthetic/saliency.safetensors",
    )
    assert not any((clone / path).exists() for path in cached)  # in DVC's cache, not git
    dvc("pull", cwd=clone)
    for path in cached:
        assert (clone / path).is_file(), path

    # what `make pulled` does: checkout timestamps are arbitrary; mark the pulled phases done
    snakemake("--cores", "1", "--touch", *PULLED_PHASES, cwd=clone)
    plan = planned_rules(snakemake("--cores", "1", "-n", cwd=clone))
    assert plan == {"evaluate": 8, "evaluate_full": 4, "summary": 1, "report": 1, "all": 1}
    snakemake("--cores", "2", cwd=clone)
    for name in ("summary.csv",):
        a = (repo / "results/evaluate/synthetic" / name).read_text()
        assert (clone / "results/evaluate/synthetic" / name).read_text() == a
    teacher = "results/teacher/synthetic/teacher.safetensors"
    assert (clone / teacher).read_bytes() == (repo / teacher).read_bytes()
    # after that snakemake run, `dvc repro` recomputes nothing: the evaluation metrics
    # differ (they hold wall times), so DVC reruns that stage's command, and Snakemake
    # finds every output up to date
    out = dvc("repro", cwd=clone)
    assert "Nothing to be done" in out and "rule evaluate:" not in out, out[-6000:]
    assert "Data and pipelines are up to date" in dvc("status", cwd=clone)
