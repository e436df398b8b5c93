"""Static checks of the workflow: snakemake --lint is clean; dry run of the default DAG."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.workflow


def run(repo_root, *args):
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_lint_is_clean(repo_root):
    res = run(repo_root, "--lint")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Lints for" not in res.stdout + res.stderr


def test_default_dag_dry_run(repo_root, tmp_path):
    res = run(
        repo_root,
        "-n",
        "--cores",
        "2",
        "--directory",
        str(tmp_path),
        "--configfile",
        str(repo_root / "params.yaml"),
    )
    assert res.returncode == 0, res.stderr
    assert "distill_tsgd" in res.stdout and "random_subset" in res.stdout


def test_rules_are_snakefmt_formatted(repo_root):
    """The same check CI's `make lint` runs, so the suite fails where CI would."""
    snakefmt = Path(sys.executable).parent / "snakefmt"
    if not snakefmt.exists():
        pytest.skip("snakefmt is not installed next to this Python")
    res = subprocess.run(
        [str(snakefmt), "--check", "Snakefile", "workflow/rules"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout + res.stderr
