"""Choose a teacher by its accuracy on the val groups, never on the groups a page reports.

A candidates file names a benchmark configuration (its dataset, split, cache and teacher)
and teacher variants, each a set of overrides of ``params.teacher``::

    config: ucf9-cpu-long5.yaml          # relative to this file
    candidates:
      t30: {}                            # the configuration's own teacher
      t60: {epochs: 60}
      wide60: {epochs: 60, widths: [64, 128, 128]}

Every candidate is trained (or reused) as the benchmark's own teacher step, in the same
work folder, so the page that then uses the chosen one reuses it as is. A teacher step
from before teachers were scored on the val groups is rescored from its saved weights.
The page lists each candidate's val, test and train top-1 and its training time, and picks
the best val top-1 (ties: the cheaper one, then the first listed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Candidate", "choose_teacher", "load_candidates", "main", "write_teacher_page"]


@dataclass
class Candidate:
    name: str
    overrides: dict[str, Any]
    val_top1: float = float("nan")
    test_top1: float = float("nan")
    train_top1: float = float("nan")
    seconds: float = 0.0
    reused: bool = False
    folder: str = ""


def load_candidates(path: str | Path) -> tuple[Path, dict[str, dict[str, Any]]]:
    """The benchmark configuration's path and the candidates (name -> teacher overrides)."""
    path = Path(path)
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict) or set(raw) != {"config", "candidates"}:
        raise ValueError(f"{path}: needs exactly the keys 'config' and 'candidates'")
    cands = raw["candidates"]
    if not isinstance(cands, dict) or not cands:
        raise ValueError(f"{path}: 'candidates' must be a non-empty mapping of name -> overrides")
    out = {}
    for name, over in cands.items():
        over = over or {}
        if not isinstance(over, dict):
            raise ValueError(f"{path}: candidates.{name} must be a mapping of teacher settings")
        if {"pretrained", "pretrained_sha256"} & set(over):
            raise ValueError(f"{path}: candidates.{name}: choose among teachers trained here")
        out[str(name)] = dict(over)
    return path.parent / str(raw["config"]), out


def choose_teacher(
    config: str | Path,
    candidates: dict[str, dict[str, Any]],
    *,
    params_path: str | Path,
    schema_path: str | Path,
    data_root: str | None,
    work: str | Path,
    device: str = "auto",
) -> tuple[list[Candidate], Any]:
    """Train (or reuse) every candidate teacher on the configuration's cache and score it on
    the val groups. Returns the candidates, in the order given, and the loaded config."""
    from tsgd.benchmark import Benchmark, deep_merge, load_bench_config
    from tsgd.config import validate_params
    from tsgd.io.clipcache import has_split
    from tsgd.teacher.fetch import score_teacher

    cfg = load_bench_config(config, params_path, schema_path, data_root)
    if not cfg.params["dataset"].get("val_groups"):
        raise ValueError(f"{config}: dataset.val_groups is empty; a teacher is chosen on them")
    base = dict(cfg.params)
    out = []
    for name, over in candidates.items():
        cfg.params = validate_params(
            deep_merge(base, {"teacher": over}), schema_path, source=f"candidate {name}"
        )
        bench = Benchmark(cfg, Path(work), device)
        cache = bench.preprocess()
        weights = bench.teacher(cache)
        rec = bench.teachers[0]
        m = dict(rec.metrics)
        if "val_top1" not in m and has_split(cache, "val"):
            t = cfg.params["teacher"]
            m.update(
                score_teacher(
                    weights,
                    cache,
                    frames=bench.frames,
                    crop=bench.crop,
                    test_passes=t["test_passes"],
                    seed=t["seed"],
                    device=device,
                )
            )
            m["test_top1"] = rec.metrics.get("test_top1", m["test_top1"])  # as trained
        out.append(
            Candidate(
                name,
                over,
                float(m.get("val_top1", float("nan"))),
                float(m.get("test_top1", float("nan"))),
                float(m.get("train_top1", float("nan"))),
                rec.seconds,
                rec.reused,
                rec.name,
            )
        )
    cfg.params = base
    return out, cfg


def _best(cands: list[Candidate]) -> Candidate:
    scored = [c for c in cands if c.val_top1 == c.val_top1]
    if not scored:
        raise ValueError("no candidate has a val score")
    return max(scored, key=lambda c: (round(c.val_top1, 6), -c.seconds))


def write_teacher_page(
    cands: list[Candidate], cfg: Any, out: str | Path, *, command: str, wall: float
) -> str:
    """The Markdown page: one row per candidate, the chosen one (best val top-1) in bold."""
    from tsgd.benchmark import machine_info

    best = _best(cands)
    mach = machine_info()
    ds = cfg.params["dataset"]
    t = cfg.params["teacher"]
    lines = [
        "# Choosing the teacher on the val groups",
        "",
        f"Generated by `{command}` on {time.strftime('%Y-%m-%d')}; ran {wall / 60:.1f} min.",
        "",
        f"- Machine: {mach['cpu']}; GPU: {mach['gpu']}; torch {mach['torch']}.",
        f"- Data: `{ds.get('root')}`; val groups {ds.get('val_groups')} (the choice), test "
        f"groups {ds.get('test_groups')} (shown for the record, not used to choose).",
        f"- Base teacher: {t['model']}, widths {t['widths']}, {t['epochs']} epochs, lr "
        f"{t['lr']}, batch {t['batch_size']}, flip {t['flip']}, seed {t['seed']}.",
        "",
        "| candidate | overrides | val top-1 % | test top-1 % | train top-1 % | train s |",
        "|---|---|---|---|---|---|",
    ]
    for c in cands:
        name = f"**{c.name}** (chosen)" if c is best else c.name
        over = ", ".join(f"{k}: {v}" for k, v in c.overrides.items()) or "(base)"
        lines.append(
            f"| {name} | {over} | {100 * c.val_top1:.1f} | {100 * c.test_top1:.1f} | "
            f"{100 * c.train_top1:.1f} | {c.seconds:.0f}{' (reused)' if c.reused else ''} |"
        )
    lines += [
        "",
        f"Chosen: `{best.name}`, the best top-1 on the val groups (ties: the cheaper). Its "
        f"step folder: `{best.folder}`.",
        "",
    ]
    text = "\n".join(lines)
    Path(out).write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    import argparse
    import logging
    import sys

    ap = argparse.ArgumentParser(description="choose a teacher on the val groups")
    ap.add_argument("candidates", help="candidates YAML (config + candidates)")
    ap.add_argument("--out", required=True, help="the Markdown page to write")
    ap.add_argument("--data", help="dataset root (overrides dataset.root)")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--schema", default="workflow/schemas/params.schema.yaml")
    ap.add_argument(
        "--work", help="the benchmark's work folder (default results/benchmark/<config>)"
    )
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    config, cands = load_candidates(args.candidates)
    work = Path(args.work) if args.work else Path("results/benchmark") / config.stem
    t0 = time.perf_counter()
    out, cfg = choose_teacher(
        config,
        cands,
        params_path=args.params,
        schema_path=args.schema,
        data_root=args.data,
        work=work,
        device=args.device,
    )
    command = "python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])
    write_teacher_page(out, cfg, args.out, command=command, wall=time.perf_counter() - t0)
    best = _best(out)
    print(f"wrote {args.out}: chose {best.name} (val top-1 {100 * best.val_top1:.1f} %)")
    return 0
