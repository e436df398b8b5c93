"""Aggregate per-job metrics into summary.csv and a markdown table (mean +- std over seeds)."""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tsgd.io.atomic import read_json, write_text_atomic

COLUMNS = [
    "method",
    "ipc",
    "student",
    "labels",
    "runs",
    "collapsed",
    "mean",
    "std",
    "delta_vs_random",
    "seeds",
]


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value; NaN for none)."""
    if not values:
        return float("nan"), float("nan")
    m = sum(values) / len(values)
    if len(values) < 2:
        return m, 0.0
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def summarize(metric_files: Iterable[str | Path]) -> list[dict[str, Any]]:
    """One row per (method, IPC, student, labels): test top-1 in percent, mean and sample
    std (ddof=1) over the runs that did not collapse; collapsed runs are counted, not averaged.
    Runs on the full training set (``ipc`` null) come last, with IPC ``None``."""
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for f in metric_files:
        m = read_json(f)
        ipc = None if m.get("ipc") is None else int(m["ipc"])  # None: the full training set
        groups[(m["method"], ipc, m["student"], m["labels"])].append(m)
    rows = []
    order = sorted(groups, key=lambda k: (k[1] is None, k[0], k[1] or 0, k[2], k[3]))
    for method, ipc, student, labels in order:
        runs = groups[(method, ipc, student, labels)]
        ok = [100 * r["test_top1"] for r in runs if not r["collapsed"]]
        mean, std = mean_std(ok)
        rows.append(
            {
                "method": method,
                "ipc": ipc,
                "student": student,
                "labels": labels,
                "runs": len(runs),
                "collapsed": sum(bool(r["collapsed"]) for r in runs),
                "mean": mean,
                "std": std,
                "seeds": " ".join(str(r["seed"]) for r in sorted(runs, key=lambda r: r["seed"])),
            }
        )
    base = {
        (r["ipc"], r["student"], r["labels"]): r["mean"] for r in rows if r["method"] == "random"
    }
    for r in rows:
        b = base.get((r["ipc"], r["student"], r["labels"]))
        r["delta_vs_random"] = r["mean"] - b if b is not None else float("nan")
    return rows


def _fmt(v: float) -> str:
    return "" if v != v else f"{v:.1f}"


def write_summary(rows: list[dict[str, Any]], csv_path: str | Path, md_path: str | Path) -> None:
    """Write the rows as CSV and as a markdown table (accuracy as mean +- std, %)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS)
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{r[k]:.4f}" if isinstance(r[k], float) else r[k]) for k in COLUMNS})
    write_text_atomic(csv_path, buf.getvalue())
    lines = [
        "| method | IPC | student | labels | top-1 % (mean ± std) | Δ vs random | runs | collapsed | seeds |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        acc = f"{_fmt(r['mean'])} ± {_fmt(r['std'])}" if r["mean"] == r["mean"] else "all collapsed"
        delta = _fmt(r["delta_vs_random"]) if r["method"] != "random" else "—"
        lines.append(
            f"| {r['method']} | {'all' if r['ipc'] is None else r['ipc']} | {r['student']} | {r['labels']} | {acc} | {delta} "
            f"| {r['runs']} | {r['collapsed']} | {r['seeds']} |"
        )
    note = (
        "\nStd is the sample standard deviation (ddof=1) over the runs that did not collapse;"
        " collapsed runs (non-finite loss, or stuck at chance) are counted, never averaged.\n"
    )
    write_text_atomic(md_path, "\n".join(lines) + "\n" + note)
