"""The tiny pipeline through a real Slurm cluster (profiles/slurm) equals a local run.

Needs a running Slurm controller and node on this machine: CI starts one on loopback with
``.ci/slurm-up`` (Debian's slurm-wlm and munge); elsewhere the test is skipped.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest
import yaml
from test_pipeline import TINY, merged  # same directory (pytest puts it on sys.path)

pytestmark = pytest.mark.workflow

GPU_RULES = ("teacher", "saliency", "distill_tsgd", "evaluate", "evaluate_full")


def _cluster_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and any(
        s.strip() in ("idle", "mixed", "allocated") for s in out.stdout.splitlines()
    )


def _workdir(path, repo_root):
    path.mkdir()
    for item in ("Snakefile", "workflow", "profiles", "environment.yml"):
        src = repo_root / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, path / item)
    params = merged(repo_root / "params.yaml", {**TINY, "tracking": {"enabled": False}})
    (path / "params.yaml").write_text(yaml.safe_dump(params))
    return path


def _snakemake(workdir, *args):
    cmd = [sys.executable, "-m", "snakemake", *args]
    return subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=1200)


def _job(job_id: str) -> dict[str, str]:
    out = subprocess.run(
        ["scontrol", "show", "job", job_id], capture_output=True, text=True, check=True
    ).stdout
    return dict(re.findall(r"(\w+)=(\S*)", out))


@pytest.mark.skipif(not _cluster_up(), reason="no Slurm cluster on this machine")
def test_tiny_pipeline_through_slurm_equals_a_local_run(tmp_path, repo_root):
    on_slurm = _workdir(tmp_path / "slurm", repo_root)
    run = _snakemake(
        on_slurm,
        "--profile",
        "profiles/slurm",
        "--slurm-no-account",
        "--slurm-status-command",
        "squeue",  # this test cluster has no accounting database for sacct
        "--slurm-init-seconds-before-status-checks",
        "1",
        "--seconds-between-status-checks",
        "2",
        # a 2-core CI node: smaller requests than the profile's defaults
        "--default-resources",
        "mem_mb=1000",
        "cpus_per_task=1",
        "runtime=30",
        "--set-threads",
        "preprocess=2",
        "--set-resources",
        "preprocess:mem_mb=1000",
    )
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-5000:]
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", log)
    assert len(submitted) == 22  # every job but `all`, which has nothing to run
    rules_seen = set()
    for job_id in submitted:
        job = _job(job_id)
        assert job["JobState"] == "COMPLETED", job
        rule = re.match(r"rule_(\w+?)_wildcards", job["Comment"]).group(1)
        rules_seen.add(rule)
        gpu = job.get("TresPerJob", "")
        assert ("gres:gpu:1" in gpu) == (rule in GPU_RULES), (rule, gpu)
    assert set(GPU_RULES) <= rules_seen

    local = _workdir(tmp_path / "local", repo_root)
    run = _snakemake(local, "--cores", "2")
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    a = (on_slurm / "results/evaluate/synthetic/summary.csv").read_text()
    assert a == (local / "results/evaluate/synthetic/summary.csv").read_text()
    files = sorted(
        p.relative_to(local)
        for p in (local / "results").rglob("*")
        if p.suffix in (".safetensors", ".npy")
    )
    assert len(files) == 8  # caches, teacher, saliency, 4 sets
    for rel in files:
        assert (on_slurm / rel).read_bytes() == (local / rel).read_bytes(), rel
