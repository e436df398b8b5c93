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

A teacher's own accuracy is a weak guide to what its distilled set teaches (on UCF-9 the
most accurate teacher wrote the worst soft labels), so a file may also name a student
rule; then every candidate is scored by the students its set trains, on the val groups,
and the best mean student val top-1 over the rule's evaluations chooses::

    students:
      method: salient      # a method of the configuration (its set follows the teacher)
      ipc: 1
      evals: [hard, soft]  # evaluations of the configuration
      seeds: [0]           # default: the configuration's
      student: convnet3d   # default: the configuration's first
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "Candidate",
    "choose_teacher",
    "load_candidates",
    "load_student_rule",
    "main",
    "write_teacher_page",
]


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
    student_val: dict[str, float] = field(default_factory=dict)  # eval -> mean top-1 %
    student_std: dict[str, float] = field(default_factory=dict)  # eval -> its std over seeds
    student_collapsed: int = 0

    def student_score(self) -> float:
        """The mean of the rule's evaluations' student val top-1 (%), NaN without one."""
        v = list(self.student_val.values())
        return sum(v) / len(v) if v else float("nan")


def load_candidates(path: str | Path) -> tuple[Path, dict[str, dict[str, Any]]]:
    """The benchmark configuration's path and the candidates (name -> teacher overrides)."""
    path = Path(path)
    raw = _read(path)
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


def _read(path: Path) -> dict[str, Any]:
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict) or not {"config", "candidates"} <= set(raw) <= _KEYS:
        raise ValueError(
            f"{path}: needs exactly the keys 'config' and 'candidates' (and may have 'students')"
        )
    return raw


_KEYS = {"config", "candidates", "students"}
_RULE = {"method", "ipc", "evals", "seeds", "student"}


def load_student_rule(path: str | Path) -> dict[str, Any] | None:
    """The file's optional student rule (checked against its configuration by
    :func:`choose_teacher`), or None."""
    path = Path(path)
    rule = _read(path).get("students")
    if rule is None:
        return None
    if not isinstance(rule, dict) or not {"method", "ipc", "evals"} <= set(rule) <= _RULE:
        raise ValueError(
            f"{path}: students needs method, ipc and evals (and may have seeds, student)"
        )
    ipc, evals, seeds = rule["ipc"], rule["evals"], rule.get("seeds")
    if not isinstance(ipc, int) or isinstance(ipc, bool) or ipc < 1:
        raise ValueError(f"{path}: students.ipc must be a positive integer, not {ipc!r}")
    if not isinstance(evals, list) or not evals:
        raise ValueError(f"{path}: students.evals must be a non-empty list of evaluations")
    if seeds is not None and (not isinstance(seeds, list) or not seeds):
        raise ValueError(f"{path}: students.seeds must be a non-empty list of seeds")
    return dict(rule)


def _student_scores(
    cfg: Any, rule: dict[str, Any], work: Path, device: str, cand: Candidate
) -> None:
    """Train the rule's students on the candidate teacher's set, score them on the val
    groups, and note each evaluation's mean top-1 (collapsed runs counted, not averaged)."""
    from tsgd.benchmark import Benchmark
    from tsgd.evaluate.aggregate import mean_std

    scfg = replace(
        cfg,
        eval_split="val",
        ipc=[rule["ipc"]],
        seeds=list(rule.get("seeds") or cfg.seeds),
        students=[rule.get("student") or cfg.students[0]],
        main_evals=list(rule["evals"]),
        main_methods=[rule["method"]],
        cross_arch={},
        extra=[],
    )
    bench = Benchmark(scfg, work, device)
    bench.run([rule["method"]])
    for ev in rule["evals"]:
        runs = [r for r in bench.runs if r.method == rule["method"] and r.eval == ev]
        ok = [r.top1 for r in runs if not r.collapsed]
        cand.student_collapsed += len(runs) - len(ok)
        cand.student_val[ev], cand.student_std[ev] = mean_std(ok) if ok else (math.nan, math.nan)


def choose_teacher(
    config: str | Path,
    candidates: dict[str, dict[str, Any]],
    *,
    params_path: str | Path,
    schema_path: str | Path,
    data_root: str | None,
    work: str | Path,
    device: str = "auto",
    students: dict[str, Any] | None = None,
) -> tuple[list[Candidate], Any]:
    """Train (or reuse) every candidate teacher on the configuration's cache and score it on
    the val groups (and, with a student rule, score the students its set trains there).
    Returns the candidates, in the order given, and the loaded config."""
    from tsgd.benchmark import Benchmark, deep_merge, load_bench_config
    from tsgd.config import validate_params
    from tsgd.io.clipcache import has_split
    from tsgd.teacher.fetch import score_teacher

    cfg = load_bench_config(config, params_path, schema_path, data_root)
    if not cfg.params["dataset"].get("val_groups"):
        raise ValueError(f"{config}: dataset.val_groups is empty; a teacher is chosen on them")
    if students is not None:
        if cfg.folds:
            raise ValueError(f"{config}: a student rule scores one split; this config has folds")
        if students["method"] not in cfg.methods:
            raise ValueError(
                f"students.method {students['method']!r}: no such method; this config has "
                f"{sorted(cfg.methods)}"
            )
        bad = sorted(set(students["evals"]) - set(cfg.evals))
        if bad:
            raise ValueError(f"students.evals {bad}: this config has {sorted(cfg.evals)}")
        if students.get("student") and students["student"] not in cfg.students:
            raise ValueError(f"students.student {students['student']!r}: not in {cfg.students}")
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
        cand = Candidate(
            name,
            over,
            float(m.get("val_top1", float("nan"))),
            float(m.get("test_top1", float("nan"))),
            float(m.get("train_top1", float("nan"))),
            rec.seconds,
            rec.reused,
            rec.name,
        )
        if students is not None:
            _student_scores(cfg, students, Path(work), device, cand)
        out.append(cand)
    cfg.params = base
    return out, cfg


def _best(cands: list[Candidate]) -> Candidate:
    """The best student val score where a student rule ran (a candidate with an evaluation
    whose students all collapsed has none and ranks below every scored one), else the best
    teacher val score; ties go to the better teacher val score, then the cheaper teacher."""

    def known(x: float, missing: float) -> float:
        return missing if math.isnan(x) else round(x, 6)

    if any(not math.isnan(c.student_score()) for c in cands):
        return max(
            cands,
            key=lambda c: (
                known(c.student_score(), -math.inf),
                known(c.val_top1, -math.inf),
                -c.seconds,
            ),
        )
    scored = [c for c in cands if not math.isnan(c.val_top1)]
    if not scored:
        raise ValueError("no candidate has a val score")
    return max(scored, key=lambda c: (round(c.val_top1, 6), -c.seconds))


def _mean_pm(cand: Candidate, ev: str, runs: int) -> str:
    """A candidate's students' val top-1 for one evaluation: mean, ± std over several seeds."""
    mean = cand.student_val.get(ev, math.nan)
    return f"{mean:.1f}" + (
        f" ± {cand.student_std[ev]:.1f}" if runs > 1 and ev in cand.student_std else ""
    )


def write_teacher_page(
    cands: list[Candidate],
    cfg: Any,
    out: str | Path,
    *,
    command: str,
    wall: float,
    students: dict[str, Any] | None = None,
) -> str:
    """The Markdown page: one row per candidate (with the student rule's scores when one
    ran), the chosen one (:func:`_best`) in bold."""
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
    ]
    evs = list(students["evals"]) if students else []
    seeds: list[int] = []
    if students:
        seeds = students.get("seeds") or cfg.seeds
        lines.append(
            f"- Student rule: each candidate's `{students['method']}` set at IPC "
            f"{students['ipc']} trains {students.get('student') or cfg.students[0]} students "
            f"(seeds {seeds}; evaluations {evs}) scored on the val groups; the candidate whose "
            "students score best on average is chosen, whatever its own accuracy."
        )
    head = "| candidate | overrides | val top-1 % | test top-1 % | train top-1 % | train s |"
    head += "".join(f" students' val top-1 %, {ev} |" for ev in evs)
    lines += ["", head, "|---" * (6 + len(evs)) + "|"]
    for c in cands:
        name = f"**{c.name}** (chosen)" if c is best else c.name
        over = ", ".join(f"{k}: {v}" for k, v in c.overrides.items()) or "(base)"
        row = (
            f"| {name} | {over} | {100 * c.val_top1:.1f} | {100 * c.test_top1:.1f} | "
            f"{100 * c.train_top1:.1f} | {c.seconds:.0f}{' (reused)' if c.reused else ''} |"
        )
        row += "".join(f" {_mean_pm(c, ev, len(seeds))} |" for ev in evs)
        lines.append(row)
    collapsed = sum(c.student_collapsed for c in cands)
    if collapsed:
        lines += ["", f"{collapsed} student run(s) collapsed: counted, not averaged."]
    rule = (
        "the best mean of its students' val top-1 (ties: the teacher's val top-1, then the cheaper)"
        if students
        else "the best top-1 on the val groups (ties: the cheaper)"
    )
    lines += ["", f"Chosen: `{best.name}`, {rule}. Its step folder: `{best.folder}`.", ""]
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
    rule = load_student_rule(args.candidates)
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
        students=rule,
    )
    command = "python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])
    wall = time.perf_counter() - t0
    write_teacher_page(out, cfg, args.out, command=command, wall=wall, students=rule)
    best = _best(out)
    how = f"students' val top-1 {best.student_score():.1f} %, " if rule else ""
    print(f"wrote {args.out}: chose {best.name} ({how}val top-1 {100 * best.val_top1:.1f} %)")
    return 0
