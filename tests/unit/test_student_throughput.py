"""benchmarks/student_throughput.py runs every mode a CPU can and prints one row each."""

from __future__ import annotations

import importlib.util
import re


def test_student_throughput_prints_a_row_per_mode(repo_root, capsys):
    spec = importlib.util.spec_from_file_location(
        "student_throughput", repo_root / "benchmarks" / "student_throughput.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    argv = "--device cpu --steps 1 --warmup 1 --batch 2 --seeds 2 --frames 4 --crop 16"
    assert mod.main([*argv.split(), "--widths", "4", "8", "8", "--soft"]) == 0
    out = capsys.readouterr().out
    assert "soft labels" in out
    rows = dict(re.findall(r"^\| ([a-z0-9-]+) \| ([0-9.]+) \|", out, re.M))
    assert set(rows) == {"sequential", "grouped", "sequential-cl3d"}  # no bf16 on a CPU
    assert all(float(v) > 0 for v in rows.values())
