"""The benchmark: every method x IPC x student x evaluation x seed on one dataset, in one
process, every step timed (wall time, peak GPU memory), written up as one Markdown page.

It calls the same phase functions as the Snakemake rules, but keeps one process (and one
warm GPU) for the whole matrix, so a short study is not dominated by process start-up and
cuDNN autotuning. Every step writes its output and a ``step.json`` (its metrics, wall
time, peak GPU memory) into its own folder under the work directory, named by a hash of
everything it depends on: a run that is killed resumes where it stopped, and a changed
setting recomputes only what it touches.

The configuration (YAML) has two sections:

``params``
    overrides deep-merged onto ``params.yaml`` (dataset, clip, teacher, saliency, distill,
    dm, evaluate), then validated by the workflow's schema.
``bench``
    ``methods`` (name -> ``kind`` + per-section overrides), ``ipc``, ``seeds``,
    ``students``, ``evals`` (name -> evaluation overrides such as ``labels`` and ``tsgfa``),
    ``eval_split``, ``full`` (evaluation overrides for the full-training-set runs),
    ``cross_arch`` and ``extra`` (smaller matrices: ``students``, ``ipc``, ``evals``,
    ``methods``; e.g. more students, or an ablation's evaluation on a few methods),
    ``main_evals`` / ``main_methods`` (the evaluations and methods of the main matrix;
    default all), ``baselines``, ``tsgd`` and
    ``tsgf_off`` (which methods the figures compare), ``group_seeds`` (train a cell's seeds
    together as one batched model: pays on a GPU, where one small student leaves it idle),
    ``folds`` (cross-validation by group: a list of group lists; each fold holds its groups
    out as the test split, trains the teacher and draws every set from the other groups,
    and scores every student on them; a cell then holds folds x seeds runs),
    ``teacher_per_seed`` (each seed trains its own teacher, seeded ``teacher.seed + seed``, and
    draws its sets and soft labels from it: a cell's spread then includes the teacher's, which
    a set chosen by a fixed teacher otherwise hides), ``compare``
    (more figure rows: a list of ``{tsgd, baselines, soft_baselines, tsgf_off}``, e.g. a
    variant against its own random bar), ``notes`` (Markdown lines written under the page's
    header: how the settings were chosen, on which groups).
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tsgd.config import validate_params
from tsgd.evaluate.aggregate import mean_std
from tsgd.io.atomic import read_json, write_json, write_text_atomic

log = logging.getLogger(__name__)

#: What each method kind makes, and which params sections its set depends on.
KINDS: dict[str, tuple[str, ...]] = {
    "random": (),
    "herding": (),
    "kcenter": (),
    "dm": ("dm",),
    "tsgd": ("distill", "saliency"),
    "full": (),
}
#: The method kinds whose sets do not read the teacher (DM matches randomly drawn networks).
TEACHER_FREE = {"random", "dm"}
EVAL_KEYS = {
    "widths",
    "dropout",
    "epochs",
    "batch_size",
    "soft_batch_size",
    "lr",
    "optimizer",
    "momentum",
    "weight_decay",
    "schedule",
    "temperature",
    "hard_weight",
    "soft_teachers",
    "augment",
    "aug_scale_min",
    "flip",
    "tsgfa",
    "mix",
    "test_passes",
    "labels",
    "precision",
}


MIX_NAMES = {"cutmix": "CutMix", "mixup": "mixup"}

#: Settings added after steps were first cached, with their default: left out of a step's
#: key while they hold it, so the steps cached before they existed stay valid.
LATER_DEFAULTS: dict[str, dict[str, Any]] = {
    "distill": {
        "decode_pieces": False,
        "crop_pick": "center",
        "crop_scale": 1.0,
        "salient_from_ipc": 5,
    },
    "evaluate": {
        "precision": "fp32",
        "hard_weight": 0.0,
        "mix": "none",
        "soft_batch_size": None,
        "soft_teachers": 1,
    },
}


def _keyed(section: str, values: Mapping[str, Any]) -> dict[str, Any]:
    later = LATER_DEFAULTS.get(section, {})
    return {k: v for k, v in values.items() if k not in later or v != later[k]}


def _room_keyed(
    keyed: dict[str, Any], distill: Mapping[str, Any], ipc: int, room: float
) -> dict[str, Any]:
    """``keyed`` without ``salient_room`` where it does not change the set's window rule (it
    came after steps were cached: those it leaves alone stay valid)."""
    from tsgd.distill.sets import resolve_window_pick

    args = (distill["window_pick"], distill["drop_static"], ipc, distill["salient_from_ipc"], room)
    if resolve_window_pick(*args, distill["salient_room"]) == resolve_window_pick(*args, 0):
        return {k: v for k, v in keyed.items() if k != "salient_room"}
    return keyed


def data_fingerprint(root: str | Path) -> str:
    """What the clip cache depends on in a dataset folder, not where it lies: every file's
    path under ``root``, with each video's size and every other file's content (manifests,
    class lists, split files; by size past 16 MiB), hidden files left out. A copy, a move,
    or the same folder named by a relative or an absolute path gives the same key; an
    added, removed or renamed file, a video of another size or an edited manifest gives
    another."""
    from tsgd.data.adapters import VIDEO_EXTENSIONS

    root = Path(root)
    entries = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            size = path.stat().st_size
            if path.suffix.lower() in VIDEO_EXTENSIONS or size > 16 << 20:
                entries.append((rel, size))
            else:
                entries.append((rel, hashlib.sha256(path.read_bytes()).hexdigest()))
    return digest(sorted(entries), 16)


class BenchError(ValueError):
    """The benchmark configuration is invalid; the message says which key."""


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` merged in (nested mappings merged, everything else replaced)."""
    out = copy.deepcopy(dict(base))
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def digest(obj: Any, n: int = 10) -> str:
    """A short, stable hash of a JSON-able object (the key of a step's folder)."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:n]


@dataclass
class Method:
    """One row family of the tables: a set maker (``kind``) and its settings."""

    name: str
    kind: str
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class BenchConfig:
    """A validated benchmark configuration (see the module docstring)."""

    params: dict[str, Any]
    methods: dict[str, Method]
    ipc: list[int]
    seeds: list[int]
    students: list[str]
    evals: dict[str, dict[str, Any]]
    eval_split: str = "test"
    full: dict[str, Any] = field(default_factory=dict)
    cross_arch: dict[str, Any] = field(default_factory=dict)
    extra: list[dict[str, Any]] = field(default_factory=list)
    main_evals: list[str] = field(default_factory=list)
    main_methods: list[str] = field(default_factory=list)
    baselines: list[str] = field(default_factory=list)
    soft_baselines: list[str] | None = None
    tsgd: str = "tsgd"
    tsgf_off: str = ""
    title: str = "TSGD benchmark"
    group_seeds: bool = False
    folds: list[list[str]] = field(default_factory=list)
    teacher_per_seed: bool = False
    compare: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def matrices(self) -> list[tuple[list[str], list[int], list[str], list[str]]]:
        """The cells to run, as (students, IPCs, evaluations, methods): the main matrix,
        then ``cross_arch`` and each ``extra`` entry (each defaulting to the main one's
        students, IPCs and evaluations, and to every method)."""
        out = [(self.students, self.ipc, self.main_evals, self.main_methods)]
        for m in [self.cross_arch, *self.extra]:
            if m:
                out.append(
                    (
                        m.get("students", self.students),
                        m.get("ipc", self.ipc),
                        m.get("evals", self.main_evals),
                        m.get("methods", list(self.methods)),
                    )
                )
        return out

    def comparisons(self) -> list[dict[str, Any]]:
        """What the figures compare: the top-level ``tsgd`` / ``baselines`` /
        ``soft_baselines`` / ``tsgf_off``, then each ``bench.compare`` entry (the same keys;
        ``soft_baselines``, the bars under soft labels, default to the random-kind
        baselines)."""
        main = {"tsgd": self.tsgd, "baselines": self.baselines, "tsgf_off": self.tsgf_off}
        if self.soft_baselines is not None:
            main["soft_baselines"] = self.soft_baselines
        out = []
        for c in [main, *self.compare]:
            base = list(c.get("baselines", []))
            soft = c.get("soft_baselines")
            if soft is None:
                soft = [n for n in base if self.methods[n].kind == "random"]
            out.append(
                {
                    "tsgd": c["tsgd"],
                    "baselines": base,
                    "soft_baselines": list(soft),
                    "tsgf_off": c.get("tsgf_off", ""),
                }
            )
        return out

    def fold_params(self, fold: int | None) -> dict[str, Any]:
        """The params of one fold: its groups are the test split (``None``: no folds)."""
        if fold is None:
            return self.params
        return deep_merge(self.params, {"dataset": {"test_groups": list(self.folds[fold])}})

    def teacher_params(self, seed: int | None) -> dict[str, Any]:
        """The teacher's params for one run seed: with ``teacher_per_seed`` its seed is
        ``teacher.seed + seed`` (seed 0 keeps the shared teacher's folder), else as given."""
        t = dict(self.params["teacher"])
        if self.teacher_per_seed and seed is not None:
            t["seed"] = int(t["seed"]) + seed
        return t

    def method_params(self, method: Method) -> dict[str, Any]:
        """The params this method's set is made with (its overrides merged in)."""
        return deep_merge(self.params, method.overrides)


def _notes(raw: Any, path: str | Path) -> list[str]:
    """``bench.notes``: one string or a list of strings (Markdown), nothing else."""
    if raw is None:
        return []
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(n, str) and n.strip() for n in items):
        raise BenchError(f"{path}: bench.notes must be a string or a list of non-empty strings")
    return [" ".join(n.split()) for n in items]


def load_bench_config(
    path: str | Path, params_path: str | Path, schema_path: str | Path, data_root: str | None
) -> BenchConfig:
    """Read a benchmark YAML, merge its ``params`` onto ``params_path`` and validate both.

    ``extends: other.yaml`` (relative to the file) starts from another configuration and
    deep-merges this one onto it; ``bench.methods`` given here replace the other's whole.
    """
    raw = _read_config(Path(path))
    unknown = set(raw) - {"params", "bench"}
    if unknown:
        raise BenchError(f"{path}: unknown top-level keys {sorted(unknown)}")
    base = yaml.safe_load(Path(params_path).read_text()) or {}
    merged = deep_merge(base, raw.get("params") or {})
    if data_root is not None:
        merged.setdefault("dataset", {})["root"] = str(data_root)
    params = validate_params(merged, schema_path, source=f"{params_path} + {path}")
    b = dict(raw.get("bench") or {})
    methods = {}
    for name, spec in (b.pop("methods", None) or {}).items():
        spec = dict(spec or {})
        kind = spec.pop("kind", name)
        if kind not in KINDS:
            raise BenchError(f"bench.methods.{name}.kind: {kind!r} is not one of {sorted(KINDS)}")
        bad = set(spec) - {"distill", "saliency", "dm"}
        if bad:
            raise BenchError(
                f"bench.methods.{name}: can only override distill/saliency/dm, got {sorted(bad)}"
            )
        # validate the method's merged params too, so a typo fails before any work
        validate_params(deep_merge(merged, spec), schema_path, source=f"bench.methods.{name}")
        methods[name] = Method(name, kind, spec)
    if not methods:
        raise BenchError(f"{path}: bench.methods is empty")
    evals = {k: dict(v or {}) for k, v in (b.pop("evals", None) or {"hard": {}}).items()}
    for name, ev in evals.items():
        bad = set(ev) - EVAL_KEYS
        if bad:
            raise BenchError(f"bench.evals.{name}: unknown keys {sorted(bad)}")
        if ev.get("labels", "hard") not in ("hard", "soft"):
            raise BenchError(f"bench.evals.{name}.labels must be hard or soft")
        # the evaluate overrides are params like any other: the schema checks their values
        over = {"evaluate": {k: v for k, v in ev.items() if k != "labels"}}
        validate_params(deep_merge(merged, over), schema_path, source=f"bench.evals.{name}")
    full = dict(b.pop("full", None) or {})
    if set(full) - EVAL_KEYS:
        raise BenchError(f"bench.full: unknown keys {sorted(set(full) - EVAL_KEYS)}")
    cfg = BenchConfig(
        params=params,
        methods=methods,
        ipc=[int(i) for i in b.pop("ipc", [1])],
        seeds=[int(s) for s in b.pop("seeds", [0, 1, 2])],
        students=list(b.pop("students", ["convnet3d"])),
        evals=evals,
        eval_split=str(b.pop("eval_split", "test")),
        full=full,
        cross_arch=dict(b.pop("cross_arch", None) or {}),
        extra=[dict(m) for m in (b.pop("extra", None) or [])],
        main_evals=list(b.pop("main_evals", None) or evals),
        main_methods=list(b.pop("main_methods", None) or methods),
        baselines=list(b.pop("baselines", [])),
        soft_baselines=b.pop("soft_baselines", None),
        tsgd=str(b.pop("tsgd", "tsgd")),
        tsgf_off=str(b.pop("tsgf_off", "")),
        title=str(b.pop("title", "TSGD benchmark")),
        group_seeds=bool(b.pop("group_seeds", False)),
        folds=[[str(g) for g in f] for f in (b.pop("folds", None) or [])],
        teacher_per_seed=bool(b.pop("teacher_per_seed", False)),
        compare=[dict(c) for c in (b.pop("compare", None) or [])],
        notes=_notes(b.pop("notes", None), path),
    )
    if b:
        raise BenchError(f"bench: unknown keys {sorted(b)}")
    for i, c in enumerate(cfg.compare):
        bad = set(c) - {"tsgd", "baselines", "soft_baselines", "tsgf_off"}
        if bad or "tsgd" not in c:
            raise BenchError(f"bench.compare[{i}] needs tsgd; unknown keys {sorted(bad)}")
    names = [cfg.tsgd, *cfg.baselines, *(cfg.soft_baselines or [])]
    names += [cfg.tsgf_off] if cfg.tsgf_off else []
    for c in cfg.compare:
        names += [c["tsgd"], *c.get("baselines", []), *c.get("soft_baselines", [])]
        names += [c["tsgf_off"]] if c.get("tsgf_off") else []
    for name in names:
        if name not in methods:
            raise BenchError(f"bench names method {name!r}, which bench.methods does not define")
    if cfg.eval_split not in ("test", "val"):
        raise BenchError("bench.eval_split must be test or val")
    _check_folds(cfg)
    if cfg.teacher_per_seed and cfg.folds:
        raise BenchError(
            "bench.teacher_per_seed and bench.folds: choose one (each fold already trains "
            "its own teacher)"
        )
    if cfg.teacher_per_seed and cfg.group_seeds:
        raise BenchError(
            "bench.group_seeds trains a cell's seeds together, and bench.teacher_per_seed "
            "runs each seed apart with its own teacher: set group_seeds to false"
        )
    if cfg.teacher_per_seed and params["teacher"].get("pretrained"):
        raise BenchError(
            "bench.teacher_per_seed trains a teacher per seed: it cannot be used with "
            "teacher.pretrained (one fetched teacher)"
        )
    from tsgd.models.registry import MODELS

    main = {"evals": cfg.main_evals, "methods": cfg.main_methods}
    for i, m in enumerate([cfg.cross_arch, *cfg.extra, main]):
        for ev in m.get("evals", []):
            if ev not in evals:
                raise BenchError(f"matrix {i} names evaluation {ev!r}, not in bench.evals")
        for name in m.get("methods", []):
            if name not in methods:
                raise BenchError(f"matrix {i} names method {name!r}, not in bench.methods")
    # an evaluation that no matrix runs (one inherited through ``extends``) is dropped,
    # so the page has no empty section for it
    used = {ev for _, _, evals, _ in cfg.matrices() for ev in evals}
    cfg.evals = {k: v for k, v in cfg.evals.items() if k in used}
    for s in [
        *cfg.students,
        *cfg.cross_arch.get("students", []),
        *(x for m in cfg.extra for x in m.get("students", [])),
    ]:
        if s not in MODELS:
            raise BenchError(f"unknown student {s!r}; available: {sorted(MODELS)}")
    return cfg


def _check_folds(cfg: BenchConfig) -> None:
    if not cfg.folds:
        return
    if cfg.eval_split != "test":
        raise BenchError("bench.folds score each fold's test groups: eval_split must be test")
    val = set(cfg.params["dataset"].get("val_groups") or [])
    seen: dict[str, int] = {}
    for i, fold in enumerate(cfg.folds):
        if not fold:
            raise BenchError(f"bench.folds[{i}] is empty")
        for g in fold:
            if g in seen:
                raise BenchError(f"group {g!r} is in bench.folds[{seen[g]}] and bench.folds[{i}]")
            if g in val:
                raise BenchError(f"group {g!r} of bench.folds[{i}] is also a val group")
            seen[g] = i


def _read_config(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    if path.resolve() in seen:
        raise BenchError(f"{path}: extends itself (through {[str(p) for p in seen]})")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise BenchError(f"{path}: top level must be a mapping")
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    base = _read_config(path.parent / parent, (*seen, path.resolve()))
    methods = (raw.get("bench") or {}).get("methods")
    merged = deep_merge(base, raw)
    if methods is not None:
        merged["bench"]["methods"] = methods
    return merged


# ----------------------------------------------------------------------------- steps


@dataclass
class StepRecord:
    """One finished step: what it was, how long it took, its peak GPU memory."""

    name: str
    kind: str
    seconds: float
    peak_gpu_mib: float
    device: str
    metrics: dict[str, Any]
    reused: bool = False
    earlier_s: float = 0.0  # of ``seconds``: an interrupted attempt's, up to its checkpoint


class BenchStopped(Exception):
    """The run's time limit passed: no new step is started (finished steps are kept)."""


class Steps:
    """Runs steps once: a step whose folder has a ``step.json`` is reused, not rerun.

    ``deadline`` (a ``time.perf_counter()`` value): a step that would have to run after it
    raises :class:`BenchStopped` instead of starting; reused steps are always returned.

    A step killed mid-way resumes from its checkpoint when rerun; its recorded time then
    includes the earlier attempt's time up to its newest checkpoint (each attempt notes its
    start in ``step.attempt.json``), so a resumed step is timed as if it had run once."""

    def __init__(self, work: Path, device: str, deadline: float | None = None) -> None:
        self.work = work
        self.device = device
        self.deadline = deadline
        self.records: list[StepRecord] = []

    def run(self, kind: str, folder: Path, fn: Callable[[Path], dict[str, Any]]) -> StepRecord:
        import torch

        for rec in self.records:  # already run (or reused) in this process: not a new step
            if rec.name == folder.name and rec.kind == kind:
                return rec
        done = folder / "step.json"
        if done.is_file():
            rec = StepRecord(**{**read_json(done), "reused": True})
            self.records.append(rec)
            return rec
        if self.deadline is not None and time.perf_counter() > self.deadline:
            raise BenchStopped(f"time limit reached before {kind} {folder.name}")
        folder.mkdir(parents=True, exist_ok=True)
        attempt = folder / "step.attempt.json"
        earlier = _earlier_seconds(folder, attempt)
        write_json(attempt, {"start": time.time(), "earlier_s": earlier})
        cuda = torch.cuda.is_available() and self.device != "cpu"
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        metrics = fn(folder)
        if cuda:
            torch.cuda.synchronize()
        seconds = earlier + time.perf_counter() - t0
        peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else 0.0
        metrics = {k: v for k, v in metrics.items() if k not in ("history", "loss_history")}
        rec = StepRecord(
            folder.name,
            kind,
            seconds,
            peak,
            "cuda" if cuda else "cpu",
            _jsonable(metrics),
            earlier_s=earlier,
        )
        write_json(done, {k: v for k, v in rec.__dict__.items() if k != "reused"})
        for ck in folder.glob("*.ckpt*"):  # resumable state is not needed once done
            ck.unlink()
        attempt.unlink(missing_ok=True)
        resumed = f" ({earlier:.1f} s of it before a resume)" if earlier else ""
        log.info("%s %s: %.1f s%s, peak GPU %.0f MiB", kind, folder.name, seconds, resumed, peak)
        self.records.append(rec)
        return rec


def _earlier_seconds(folder: Path, attempt: Path) -> float:
    """The time an interrupted earlier attempt at this step spent up to its newest
    checkpoint (0 when there is no attempt or no checkpoint to resume from)."""
    ckpts = list(folder.glob("*.ckpt*"))
    if not attempt.is_file() or not ckpts:
        return 0.0
    try:
        a = read_json(attempt)
        start, before = float(a["start"]), float(a["earlier_s"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0  # an unreadable note: time this attempt alone
    saved = max(p.stat().st_mtime for p in ckpts)
    return before + max(0.0, saved - start)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


# ----------------------------------------------------------------------------- the run


@dataclass
class Run:
    """One student run's outcome, as the tables use it."""

    method: str
    ipc: int | None
    student: str
    eval: str
    seed: int
    top1: float
    collapsed: bool
    reason: str
    seconds: float
    fold: int = 0


def _eval_kwargs(params: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    ev = params["evaluate"]
    kw = {k: ev[k] for k in EVAL_KEYS - {"labels"} if k in ev}
    kw["labels"] = "hard"
    kw.update(over)
    if kw["labels"] != "soft" or ("batch_size" in over and "soft_batch_size" not in over):
        kw["soft_batch_size"] = None  # hard labels, or an evaluation naming its batch
    if kw["labels"] != "soft":
        kw["soft_teachers"] = 1  # hard labels use no teacher
    return kw


class Benchmark:
    """Builds and runs the whole matrix of one :class:`BenchConfig`."""

    def __init__(
        self,
        cfg: BenchConfig,
        work: str | Path,
        device: str = "auto",
        *,
        time_limit: float | None = None,
        keep_going: bool = False,
    ) -> None:
        """``time_limit``: seconds from now after which no new step starts (the run stops,
        and the page shows what finished); ``keep_going``: a failing set or student step is
        logged and listed on the page, and the rest of the matrix still runs (preprocessing,
        teacher and saliency failures always stop the run: everything needs them)."""
        from tsgd.engine import pick_device

        self.cfg = cfg
        self.work = Path(work)
        self.device = str(pick_device(device))
        deadline = None if time_limit is None else time.perf_counter() + time_limit
        self.steps = Steps(self.work, self.device, deadline)
        self.keep_going = keep_going
        self.failures: list[tuple[str, str]] = []  # (what, error) of steps that failed
        self.stopped: str | None = None  # why the run stopped early (time limit)
        self.not_run: list[str] = []  # what the time limit left out
        self.runs: list[Run] = []
        self.fold: int | None = None  # the fold being run (None: no folds)
        self.seeds: list[int] = list(cfg.seeds)  # the seeds being run
        # fold (or, with teacher_per_seed, seed) -> its teacher's step
        self.teachers: dict[int, StepRecord] = {}
        # the soft-label ensembles' further teachers: folder -> (teacher seed, fold, step)
        self.members: dict[str, tuple[int, int | None, StepRecord]] = {}
        p = cfg.params
        self.frames, self.crop = p["clip"]["frames"], p["clip"]["crop"]

    # -- shared inputs ----------------------------------------------------------------
    def preprocess(self) -> Path:
        from tsgd.data.preprocess import preprocess_dataset

        p = self.cfg.fold_params(self.fold)
        ds, pre = p["dataset"], p["preprocess"]
        if not ds.get("root"):
            raise BenchError("dataset.root is not set (pass --data)")
        # steps cached before the data's fingerprint keyed them (by the root's path) stay valid
        legacy = digest({"dataset": {k: v for k, v in ds.items() if k != "name"}, "pre": pre})
        folder = self.work / f"cache-{legacy}"
        if not (folder / "step.json").is_file():
            if not Path(ds["root"]).is_dir():
                # before the step's folder exists: a mistyped --data leaves nothing behind
                raise BenchError(f"dataset root {ds['root']} is not a folder (pass --data ROOT)")
            same = {k: v for k, v in ds.items() if k not in ("name", "root")}
            key = digest({"dataset": same, "data": data_fingerprint(ds["root"]), "pre": pre})
            folder = self.work / f"cache-{key}"
        val_groups = ds.get("val_groups") or None

        def body(out: Path) -> dict[str, Any]:
            summary = preprocess_dataset(
                ds["root"],
                out,
                source=ds["source"],
                manifest=ds.get("manifest"),
                official_split=ds.get("split", 1),
                annotations=ds.get("annotations"),
                frames=pre["frames"],
                gap=pre["gap"],
                resize=tuple(pre["resize"]),
                min_frames=pre["min_frames"],
                decoder=pre["decoder"],
                splits=("train", "val", "test") if val_groups else ("train", "test"),
                test_groups=ds.get("test_groups") or None,
                val_groups=val_groups,
                workers=max(1, os.cpu_count() or 1),
                on_error=pre["on_error"],
                max_bad_fraction=pre["max_bad_fraction"],
            )
            return {"counts": summary["counts"], "classes": len(summary["classes"])}

        self.steps.run("preprocess", folder, body)
        return folder

    def teacher(self, cache: Path, member: int = 0) -> Path:
        """The teacher of the current fold (or seed), trained once and reused; ``member`` j >
        0: the j-th further teacher of its soft-label ensemble, trained alike with its seed
        plus j (the folder of the teacher that seed gives, where one exists)."""
        from tsgd.teacher.fetch import use_pretrained_teacher
        from tsgd.teacher.train import train_teacher

        per_seed = self.cfg.teacher_per_seed
        t = self.cfg.teacher_params(self.seeds[0] if per_seed else None)
        t["seed"] = int(t["seed"]) + member
        folder = self._teacher_folder(cache, t)
        pretrained, sha = t.pop("pretrained"), t.pop("pretrained_sha256")
        t.pop("checkpoint_every", None)

        def body(out: Path) -> dict[str, Any]:
            weights = out / "teacher.safetensors"
            if pretrained:
                return use_pretrained_teacher(
                    cache,
                    weights,
                    source=pretrained,
                    sha256=sha,
                    frames=self.frames,
                    crop=self.crop,
                    test_passes=t["test_passes"],
                    seed=t["seed"],
                    device=self.device,
                )
            return train_teacher(
                cache,
                weights,
                frames=self.frames,
                crop=self.crop,
                device=self.device,
                dataset=self.cfg.params["dataset"]["name"],
                checkpoint=out / "train.ckpt",
                checkpoint_every=5,
                **t,
            )

        rec = self.steps.run("teacher", folder, body)
        if member:
            self.members[folder.name] = (t["seed"], self.fold, rec)
        else:
            self.teachers[self.seeds[0] if per_seed else (self.fold or 0)] = rec
        return folder / "teacher.safetensors"

    def _teacher_folder(self, cache: Path, t: Mapping[str, Any]) -> Path:
        key = digest({"cache": cache.name, "teacher": t, "clip": self.cfg.params["clip"]})
        return self.work / f"teacher-{key}"

    def key_teacher(self, cache: Path, teacher: Path, reads_teacher: bool) -> str:
        """The teacher a step's key names: ``teacher`` where the step reads it, else the
        shared teacher of this cache (seed 0's with ``teacher_per_seed``), so a random set,
        a DM set or a hard-label student is one step whichever teacher the run trained."""
        if reads_teacher or not self.cfg.teacher_per_seed:
            return teacher.parent.name
        return self._teacher_folder(cache, self.cfg.teacher_params(None)).name

    def soft_label_teachers(self, cache: Path, teacher: Path, count: int) -> list[Path]:
        """The ``count`` teachers whose mean tempered probabilities are the soft labels:
        ``teacher`` and the next ``count - 1`` of :meth:`teacher`'s ensemble members."""
        return [teacher] + [self.teacher(cache, j) for j in range(1, count)]

    def saliency(self, cache: Path, sal: Mapping[str, Any]) -> Path:
        from tsgd.saliency.run import compute_cache_saliency

        folder = self.work / f"saliency-{digest({'cache': cache.name, 'sal': sal})}"
        self.steps.run(
            "saliency",
            folder,
            lambda out: compute_cache_saliency(
                cache,
                out / "saliency.safetensors",
                clip_frames=self.frames,
                device=self.device,
                **sal,
            ),
        )
        return folder / "saliency.safetensors"

    # -- sets -------------------------------------------------------------------------
    def make_set(self, cache: Path, teacher: Path, method: Method, ipc: int, seed: int) -> Path:
        from tsgd.distill.baselines import make_coreset_set, make_dm_set
        from tsgd.distill.sets import make_random_set, make_tsgd_set
        from tsgd.distill.synthesis import SynthesisConfig

        mp = self.cfg.method_params(method)
        deps = {s: _keyed(s, mp[s]) for s in KINDS[method.kind]}
        if "distill" in deps:
            room = mp["preprocess"]["frames"] / self.frames
            deps["distill"] = _room_keyed(deps["distill"], mp["distill"], ipc, room)
        key = digest(
            {
                "cache": cache.name,
                "teacher": self.key_teacher(cache, teacher, method.kind not in TEACHER_FREE),
                "kind": method.kind,
                "deps": deps,
                "ipc": ipc,
                "seed": seed,
                "clip": mp["clip"],
            }
        )
        folder = self.work / "sets" / f"{method.name}-ipc{ipc}-s{seed}-{key}"
        common = {
            "ipc": ipc,
            "frames": self.frames,
            "crop": self.crop,
            "seed": seed,
            "dataset": mp["dataset"]["name"],
        }

        # TSGD's saliency is its own (shared, timed) step, not part of each set's time
        sal_path = self.saliency(cache, mp["saliency"]) if method.kind == "tsgd" else None

        def body(out: Path) -> dict[str, Any]:
            path = out / "set.safetensors"
            if method.kind == "random":
                return make_random_set(cache, path, **common)
            if method.kind in ("herding", "kcenter"):
                return make_coreset_set(
                    cache,
                    path,
                    method=method.kind,
                    teacher_path=teacher,
                    device=self.device,
                    **common,
                )
            if method.kind == "dm":
                dm = {
                    k: (tuple(v) if k == "widths" else v)
                    for k, v in mp["dm"].items()
                    if k != "checkpoint_every"
                }
                return make_dm_set(
                    cache,
                    path,
                    device=self.device,
                    checkpoint=out / "dm.ckpt",
                    checkpoint_every=mp["dm"]["checkpoint_every"],
                    **common,
                    **dm,
                )
            d = mp["distill"]
            synth_keys = set(SynthesisConfig.__dataclass_fields__) - {"saliency"}
            synthesis = SynthesisConfig(saliency=mp["saliency"], **{k: d[k] for k in synth_keys})
            return make_tsgd_set(
                cache,
                teacher,
                sal_path,
                path,
                init=d["init"],
                init_pick=d["init_pick"],
                synthesis=synthesis,
                mosaic_grid=d["mosaic_grid"],
                temporal_pieces=d["temporal_pieces"],
                window_pick=d["window_pick"],
                drop_static=d["drop_static"],
                salient_from_ipc=d["salient_from_ipc"],
                salient_room=d["salient_room"],
                crop_pick=d["crop_pick"],
                crop_scale=d["crop_scale"],
                decode_pieces=d["decode_pieces"],
                device=self.device,
                method=method.name,
                checkpoint=out / "synth.ckpt",
                checkpoint_every=d["checkpoint_every"],
                **common,
            )

        rec = self.steps.run(f"distill:{method.name}", folder, body)
        rec.metrics.setdefault("ipc", ipc)
        return folder / "set.safetensors"

    def make_sets(self, cache: Path, teacher: Path, method: Method, ipc: int) -> list[Path]:
        """One set per seed of the benchmark."""
        return [self.make_set(cache, teacher, method, ipc, s) for s in self.seeds]

    # -- students ---------------------------------------------------------------------
    def evaluate(
        self,
        cache: Path,
        teacher: Path,
        method: Method,
        set_paths: list[Path] | None,
        ipc: int | None,
        student: str,
        ev_name: str,
        seeds: list[int],
    ) -> list[Run]:
        """Train and score one student per seed (one step per seed, or with
        ``bench.group_seeds`` one step training all seeds together as one batched model)."""
        from tsgd.evaluate.students import evaluate_full, evaluate_sets

        over = dict(self.cfg.evals[ev_name])
        if set_paths is None:
            over = {**over, **self.cfg.full}
        kw = _eval_kwargs(self.cfg.params, over)
        grouped = self.cfg.group_seeds and len(seeds) > 1
        soft_from: Path | list[Path] = teacher
        if kw["labels"] == "soft" and kw["soft_teachers"] > 1:
            soft_from = self.soft_label_teachers(cache, teacher, kw["soft_teachers"])
        key = digest(
            {
                "set": [p.parent.name for p in set_paths]
                if grouped and set_paths
                else set_paths[0].parent.name
                if set_paths
                else f"full-{cache.name}",
                "teacher": self.key_teacher(cache, teacher, kw["labels"] == "soft"),
                **(
                    {"soft_teachers": [p.parent.name for p in soft_from]}
                    if isinstance(soft_from, list)
                    else {}
                ),
                "student": student,
                "eval": _keyed("evaluate", kw),
                "seed": seeds if grouped else seeds[0],
                "split": self.cfg.eval_split,
                "saliency": self.cfg.params["saliency"],
            }
        )
        if not grouped and len(seeds) > 1:
            return [
                run
                for i, seed in enumerate(seeds)
                for run in self.evaluate(
                    cache,
                    teacher,
                    method,
                    [set_paths[i]] if set_paths else None,
                    ipc,
                    student,
                    ev_name,
                    [seed],
                )
            ]
        tag = f"{method.name}-ipc{ipc}" if ipc else method.name
        seed_tag = "-".join(map(str, seeds))
        folder = self.work / "evals" / f"{tag}-{student}-{ev_name}-s{seed_tag}-{key}"
        common = dict(
            student=student,
            seeds=seeds,
            frames=self.frames,
            crop=self.crop,
            teacher_path=soft_from if kw["labels"] == "soft" else None,
            saliency=self.cfg.params["saliency"],
            eval_split=self.cfg.eval_split,
            device=self.device,
            grouped=grouped,
            **kw,
        )

        def body(out: Path) -> dict[str, Any]:
            if set_paths is None:
                runs = evaluate_full(
                    cache, checkpoint=out / "train.ckpt", checkpoint_every=25, **common
                )
            else:
                runs = evaluate_sets(
                    set_paths, cache, checkpoint=out / "train.ckpt", checkpoint_every=50, **common
                )
            for r in runs:
                r.pop("history", None)
            return runs[0] if len(runs) == 1 else {"runs": runs, "training": runs[0]["training"]}

        rec = self.steps.run(f"evaluate:{student}", folder, body)
        metrics = rec.metrics.get("runs", [rec.metrics])
        out = []
        for seed, m in zip(seeds, metrics, strict=True):
            run = Run(
                method.name,
                ipc,
                student,
                ev_name,
                seed,
                100 * float(m["test_top1"]),
                bool(m["collapsed"]),
                str(m.get("collapse_reason", "")),
                rec.seconds / len(seeds),
                self.fold or 0,
            )
            self.runs.append(run)
            out.append(run)
        return out

    def run(self, only: Iterable[str] | None = None) -> None:
        """Every step of the matrix (``only``: method names to restrict to; an empty list runs
        the shared steps alone: preprocess, teacher, saliency). Cells run IPC
        by IPC (every method at the smallest budget first), so a run stopped by its time
        limit has whole comparisons rather than a few methods at every budget. Past the
        time limit no step starts, but every step that finished earlier (in this run or an
        earlier one) is still collected."""
        cfg = self.cfg
        unknown = sorted(set(only or ()) - set(cfg.methods))
        if unknown:
            raise ValueError(
                f"--only {unknown}: no such method; this config has {sorted(cfg.methods)}"
            )
        try:
            for fold in range(len(cfg.folds)) if cfg.folds else [None]:
                self.fold = fold
                if fold is not None:
                    log.info(
                        "fold %d of %d: test groups %s", fold + 1, len(cfg.folds), cfg.folds[fold]
                    )
                # teacher_per_seed: the whole split once per seed, each with its own teacher
                groups = [[s] for s in cfg.seeds] if cfg.teacher_per_seed else [cfg.seeds]
                for seeds in groups:
                    self.seeds = seeds
                    self._run_split(only)
        except BenchStopped as e:
            self.stopped = str(e)
            if not self.not_run:  # the limit came at a step every cell shares
                self.not_run.append("every cell (the time limit came before a step they share)")
            log.warning("stopped: %s (the page shows the steps that finished)", e)
        self.fold = None
        self.seeds = list(cfg.seeds)

    def _attempt(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)``; with ``keep_going`` a failure is logged, listed and answered with
        None."""
        try:
            return fn(*args)
        except BenchStopped as e:  # past the time limit: still collect the finished steps
            self.stopped = self.stopped or str(e)
            self.not_run.append(what)
            return None
        except Exception as e:
            if not self.keep_going:
                raise
            log.exception("%s failed; going on (--keep-going)", what)
            fold = f" fold {self.fold + 1}" if self.fold is not None else ""
            self.failures.append((what + fold, f"{type(e).__name__}: {e}"))
            return None

    def _run_split(self, only: Iterable[str] | None) -> None:
        cfg = self.cfg
        keep = set(cfg.methods) if only is None else set(only)
        cache = self.preprocess()
        teacher = self.teacher(cache)
        self.saliency(cache, cfg.params["saliency"])

        def students_of(
            students: list[str],
            evals: list[str],
            method: Method,
            sets: list[Path] | None,
            ipc: int | None,
        ) -> None:
            for student in students:
                for ev in evals:
                    what = f"evaluate {method.name} IPC {ipc} {student} {ev}"
                    args = (cache, teacher, method, sets, ipc, student, ev, self.seeds)
                    self._attempt(what, self.evaluate, *args)

        for students, ipcs, evals, names in cfg.matrices():
            methods = [cfg.methods[n] for n in names if n in keep]
            for ipc in ipcs:
                for method in methods:
                    if method.kind == "full":
                        continue
                    sets = self._attempt(
                        f"distill {method.name} IPC {ipc}",
                        self.make_sets,
                        cache,
                        teacher,
                        method,
                        ipc,
                    )
                    if sets is not None:
                        students_of(students, evals, method, sets, ipc)
            for method in methods:
                if method.kind == "full":
                    students_of(students, evals, method, None, None)


# ----------------------------------------------------------------------------- the page


@dataclass
class Cell:
    """Mean +- std of the non-collapsed runs of one (method, IPC, student, eval)."""

    mean: float
    std: float
    runs: int
    collapsed: int
    seeds: list[int]

    def text(self) -> str:
        if self.runs == self.collapsed:
            return f"all {self.runs} collapsed"
        s = f"{self.mean:.1f} ± {self.std:.1f}"
        return s + (f" ({self.collapsed} of {self.runs} collapsed)" if self.collapsed else "")


def cells(runs: Iterable[Run]) -> dict[tuple[str, int | None, str, str], Cell]:
    """Group runs into table cells; collapsed runs are counted, never averaged."""
    groups: dict[tuple[str, int | None, str, str], list[Run]] = {}
    for r in runs:
        groups.setdefault((r.method, r.ipc, r.student, r.eval), []).append(r)
    out = {}
    for key, rs in groups.items():
        ok = [r.top1 for r in rs if not r.collapsed]
        m, s = mean_std(ok)
        out[key] = Cell(m, s, len(rs), sum(r.collapsed for r in rs), sorted(r.seed for r in rs))
    return out


@dataclass
class Figure:
    """One figure of merit: TSGD against a bar, with the verdict."""

    what: str
    tsgd: Cell
    bar_name: str
    bar: Cell
    need: float
    pairs: list[float] = field(default_factory=list)  # TSGD - bar per matched (fold, seed)

    def paired_text(self) -> str:
        """Mean +- std of the matched differences and how many TSGD won."""
        if not self.pairs:
            return ""
        m, s = mean_std(self.pairs)
        wins = sum(d > 0 for d in self.pairs)
        return f"{m:+.1f} ± {s:.1f} ({wins}/{len(self.pairs)})"

    @property
    def delta(self) -> float:
        return self.tsgd.mean - self.bar.mean

    @property
    def passed(self) -> bool:
        d = self.delta
        return d == d and d >= self.need and d > max(self.tsgd.std, self.bar.std)


def paired(runs: Iterable[Run], a: str, b: str, ipc: int, student: str, ev: str) -> list[float]:
    """``a``'s top-1 minus ``b``'s for each (fold, seed) both ran without collapsing: the
    two were trained with the same seed on the same split, so the difference cancels what
    they share."""
    by: dict[str, dict[tuple[int, int], float]] = {a: {}, b: {}}
    for r in runs:
        if r.method in by and (r.ipc, r.student, r.eval) == (ipc, student, ev) and not r.collapsed:
            by[r.method][(r.fold, r.seed)] = r.top1
    return [by[a][k] - by[b][k] for k in sorted(by[a].keys() & by[b].keys())]


def figures(
    cfg: BenchConfig,
    table: dict[tuple[str, int | None, str, str], Cell],
    runs: Iterable[Run] = (),
) -> list[Figure]:
    """The issue's figures for the first student, for each comparison of
    :meth:`BenchConfig.comparisons`: TSGD vs the best of its baselines under each
    evaluation (hard labels: every baseline; soft: the soft baselines, random real subsets),
    and TSGD vs TSGD with TSGF off. A cell whose runs all collapsed fails its figure. With
    ``runs``, each figure also carries the paired differences (see :func:`paired`)."""
    runs = list(runs)
    out = []
    student = cfg.students[0]
    for comp in cfg.comparisons():
        tsgd, tsgf_off = comp["tsgd"], comp["tsgf_off"]
        for ev in cfg.evals:
            labels = cfg.evals[ev].get("labels", "hard")
            names = comp["soft_baselines"] if labels == "soft" else comp["baselines"]
            for ipc in cfg.ipc:
                t = table.get((tsgd, ipc, student, ev))
                if t is None:
                    continue
                bars = [
                    (n, table[(n, ipc, student, ev)])
                    for n in names
                    if (n, ipc, student, ev) in table
                ]
                if bars:
                    n, c = max(
                        bars, key=lambda nc: -math.inf if nc[1].mean != nc[1].mean else nc[1].mean
                    )
                    what = f"IPC {ipc}, {ev}: {tsgd} vs best of {', '.join(names)}"
                    pairs = paired(runs, tsgd, n, ipc, student, ev)
                    out.append(Figure(what, t, n, c, 5.0, pairs))
                off = table.get((tsgf_off, ipc, student, ev)) if tsgf_off else None
                if off is not None:
                    pairs = paired(runs, tsgd, tsgf_off, ipc, student, ev)
                    what = f"IPC {ipc}, {ev}: {tsgd}, TSGF on vs off"
                    out.append(Figure(what, t, tsgf_off, off, 0.0, pairs))
    return out


def machine_info() -> dict[str, str]:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "gpu": gpu,
        "torch": torch.__version__,
        "python": platform.python_version(),
        # a copy of the tree run elsewhere (benchmarks/device-run.sh) may carry a git
        # history that is not the one it was copied from: the copier names the commit
        "commit": os.environ.get("TSGD_COMMIT") or _git_commit() or "unknown",
    }


def _git_commit() -> str:
    """The checkout's short commit, "with uncommitted changes" when tracked files differ."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        return ""
    return commit + " with uncommitted changes" if commit and dirty else commit


def _teacher_line(
    t: Mapping[str, Any], teachers: Mapping[int, StepRecord], label: Callable[[int], str] | None
) -> str:
    """The page's teacher line: its top-1 on the test groups and, where the cache has a
    validation split, on the val groups (the score a teacher is chosen by); with several
    teachers (folds, or one per seed) each is named by ``label``."""

    def accs(key: str) -> str:
        return ", ".join(
            f"{100 * float(r.metrics[key]):.1f} %" + (f" ({label(k)})" if label else "")
            for k, r in sorted(teachers.items())
            if key in r.metrics
        )

    line = (
        f"- Teacher {t['model']} (widths {t['widths']}, {t['epochs']} epochs): "
        f"top-1 on the test groups {accs('test_top1')}"
    )
    val = accs("val_top1")
    return line + (f"; on the val groups {val}." if val else ".")


def write_page(bench: Benchmark, out: str | Path, *, command: str, wall: float) -> str:
    """Write the Markdown page: tables per evaluation, figures, costs, collapsed runs."""
    cfg = bench.cfg
    table = cells(bench.runs)
    mach = machine_info()
    p = cfg.params
    ds = p["dataset"]
    lines = [f"# {cfg.title}", ""]
    lines += [
        f"Generated by `{command}` on {time.strftime('%Y-%m-%d')}, commit {mach['commit']}.",
        "",
        f"- Machine: {mach['cpu']}; GPU: **{mach['gpu']}**; device used: {bench.device}; "
        f"Python {mach['python']}, torch {mach['torch']}.",
        f"- Data: `{ds.get('root')}` ({ds['source']}); test split scored: `{cfg.eval_split}`; "
        + (
            f"cross-validated by group over {len(cfg.folds)} folds, test groups "
            + "; ".join(f"fold {i + 1}: {', '.join(f)}" for i, f in enumerate(cfg.folds))
            + " (each fold trains its teacher and draws its sets from the other groups)"
            if cfg.folds
            else f"held-out groups: test {ds.get('test_groups') or 'dataset split'}"
        )
        + f", val {ds.get('val_groups') or 'none'} (split by group, never by clip).",
    ]
    pre_recs = [r for r in bench.steps.records if r.kind == "preprocess"]
    if pre_recs:
        counts = [
            ", ".join(f"{s} {c.get('ok')}" for s, c in r.metrics.get("counts", {}).items())
            for r in pre_recs
        ]
        if cfg.folds:
            counts = [f"fold {i + 1}: {c}" for i, c in enumerate(counts)]
        lines.append(
            "- Clips: "
            + "; ".join(counts)
            + f"; {p['clip']['frames']} frames x {p['clip']['crop']}² crops from "
            f"{p['preprocess']['frames']} cached frames (gap {p['preprocess']['gap']}, "
            f"resized to {p['preprocess']['resize']})."
        )
    if bench.teachers:
        label: Callable[[int], str] | None = None
        if cfg.folds:
            label = lambda k: f"fold {k + 1}"  # noqa: E731
        elif cfg.teacher_per_seed:  # the seed arithmetic is teacher_params', not repeated here
            label = lambda k: f"teacher seed {cfg.teacher_params(k)['seed']}"  # noqa: E731
        lines.append(_teacher_line(p["teacher"], bench.teachers, label))
    if bench.members:
        lines.append(
            "- Further teachers of the soft-label ensembles (trained alike, seed as named): "
            + ", ".join(
                f"teacher seed {seed}"
                + (f" of fold {fold + 1}" if fold is not None else "")
                + (
                    f" {100 * float(r.metrics['test_top1']):.1f} % on the test groups"
                    if "test_top1" in r.metrics
                    else ""
                )
                + (
                    f" ({100 * float(r.metrics['val_top1']):.1f} % on val)"
                    if "val_top1" in r.metrics
                    else ""
                )
                for seed, fold, r in sorted(
                    bench.members.values(), key=lambda m: (m[0], -1 if m[1] is None else m[1])
                )
            )
            + "."
        )
    per_cell = len(cfg.seeds) * max(1, len(cfg.folds))
    lines.append(
        f"- Seeds {cfg.seeds} ({per_cell} run{'s' if per_cell != 1 else ''} per cell"
        + (f": {len(cfg.folds)} folds x {len(cfg.seeds)} seeds" if cfg.folds else "")
        + "; set seed = student seed"
        + (
            f"; each seed trains its own teacher, teacher seed = {p['teacher']['seed']} + seed, "
            "and draws its sets and soft labels from it"
            if cfg.teacher_per_seed
            else ""
        )
        + "); "
        f"this command ran {wall / 60:.1f} min; its steps took "
        f"{sum(r.seconds for r in bench.steps.records) / 60:.1f} min in all when they ran "
        "(steps reused from an earlier run of the same command count with their first time)."
    )
    if bench.stopped:
        lines.append(
            f"- **Incomplete**: the time limit left {len(bench.not_run)} step group(s) unrun "
            f"(first: {bench.stopped}); the tables hold the cells whose steps finished, and "
            "rerunning the command resumes. Not run: "
            + "; ".join(bench.not_run[:12])
            + (f"; and {len(bench.not_run) - 12} more" if len(bench.not_run) > 12 else "")
            + "."
        )
    if bench.failures:
        lines.append(
            f"- **{len(bench.failures)} step(s) failed** and were skipped (--keep-going); "
            "see Failed steps."
        )
    lines += [f"- {n}" for n in cfg.notes]
    lines.append("")
    plot = _plot_page(bench, Path(out))
    if plot is not None:
        lines += [f"![every run, mean ± std]({plot.name})", ""]
    ev_desc = {name: _eval_kwargs(p, ev) for name, ev in cfg.evals.items()}
    for ev, kw in ev_desc.items():
        lines += [f"## {ev}: {kw['labels']} labels" + (", TSGFA" if kw.get("tsgfa") else ""), ""]
        lines.append(
            f"Student training: {kw['optimizer']} lr {kw['lr']}, {kw['epochs']} epochs, batch "
            f"{kw['batch_size']}"
            + (
                f" ({kw['soft_batch_size']} for sets over {kw['batch_size']} clips)"
                if kw.get("soft_batch_size")
                else ""
            )
            + f", {kw['schedule']} schedule, augmentation "
            f"{'on' if kw['augment'] else 'off'} (scale ≥ {kw['aug_scale_min']}, flip "
            f"{kw['flip']}, TSGFA {kw['tsgfa']})"
            + (f", temperature {kw['temperature']}" if kw["labels"] == "soft" else "")
            + (
                f", soft labels from the mean of {kw['soft_teachers']} teachers' tempered "
                f"probabilities (each run's teacher and the next {kw['soft_teachers'] - 1} "
                "teacher seeds)"
                if kw["labels"] == "soft" and kw.get("soft_teachers", 1) > 1
                else ""
            )
            + (
                f", loss {1 - kw['hard_weight']:g} KL + {kw['hard_weight']:g} CE"
                if kw["labels"] == "soft" and kw.get("hard_weight", 0.0)
                else ""
            )
            + (", bf16 autocast" if kw.get("precision", "fp32") != "fp32" else "")
            + (
                f", {MIX_NAMES[kw['mix']]} on every batch"
                if kw.get("mix", "none") != "none"
                else ""
            )
            + "."
        )
        lines.append("")
        students = list(dict.fromkeys(r.student for r in bench.runs if r.eval == ev))
        ipcs = sorted({r.ipc for r in bench.runs if r.eval == ev and r.ipc is not None})
        for student in students:
            lines += [f"**{student}** (top-1 %, mean ± std)", ""]
            lines.append("| method | " + " | ".join(f"IPC {i}" for i in ipcs) + " |")
            lines.append("|---|" + "---|" * len(ipcs))
            for name, m in cfg.methods.items():
                if m.kind == "full":
                    c = table.get((name, None, student, ev))
                    if c:
                        lines.append(
                            f"| {name} (every training clip) | "
                            + " | ".join([c.text()] * len(ipcs))
                            + " |"
                        )
                    continue
                row = [table.get((name, i, student, ev)) for i in ipcs]
                if any(row):
                    lines.append(
                        f"| {name} | " + " | ".join(c.text() if c else "" for c in row) + " |"
                    )
            lines.append("")
    figs = figures(cfg, table, bench.runs)
    if figs:
        lines += [
            "## Figures of merit",
            "",
            f"Student {cfg.students[0]}. Passed = TSGD's mean at least the needed margin "
            "above the bar, and the difference larger than the larger of the two std. "
            "Paired Δ: TSGD minus the bar for each run trained with the same seed"
            + (" on the same fold" if cfg.folds else "")
            + (" and the same teacher" if cfg.teacher_per_seed else "")
            + ", mean ± std, and how many of them TSGD won.",
            "",
            "| comparison | TSGD | bar | Δ | needed | passed | paired Δ (wins) |",
            "|---|---|---|---|---|---|---|",
        ]
        for f in figs:
            lines.append(
                f"| {f.what} | {f.tsgd.text()} | {f.bar_name} {f.bar.text()} | "
                f"{f.delta:+.1f} | ≥ {f.need:g} | {'yes' if f.passed else '**no**'} | "
                f"{f.paired_text()} |"
            )
        lines.append("")
    if cfg.folds:
        lines += _fold_lines(bench)
    lines += _cost_lines(bench)
    collapsed = [r for r in bench.runs if r.collapsed]
    lines += ["## Collapsed runs", ""]
    if collapsed:
        lines += [
            f"- {r.method} IPC {r.ipc} {r.student} {r.eval} seed {r.seed}"
            + (f" fold {r.fold + 1}" if cfg.folds else "")
            + f": {r.reason}"
            for r in collapsed
        ]
    else:
        lines.append(
            f"None of the {len(bench.runs)} student runs collapsed (non-finite loss, "
            "or train and test accuracy both near chance)."
        )
    if bench.failures:
        lines += ["", "## Failed steps", ""]
        lines += [f"- {what}: `{err}`" for what, err in bench.failures]
    lines += ["", "## Methods", ""]
    for name, m in cfg.methods.items():
        lines.append(
            f"- `{name}`: kind `{m.kind}`"
            + (f", overrides `{json.dumps(m.overrides)}`" if m.overrides else "")
        )
    lines += ["", "## Reproduce", "", "```", command, "```", ""]
    text = "\n".join(lines)
    write_text_atomic(out, text)
    return text


def _plot_page(bench: Benchmark, out: Path) -> Path | None:
    """The first student's runs as a picture next to the page (``<page>.png``): one panel
    per evaluation x IPC, every run a dot, the random real subset shaded as the bar."""
    from tsgd.report.media import plot_runs

    cfg = bench.cfg
    student = cfg.students[0]
    panels: dict[str, list[tuple[str, list[tuple[float, bool]]]]] = {}
    for ev in cfg.evals:
        ipcs = sorted({r.ipc for r in bench.runs if r.eval == ev and r.ipc is not None})
        for ipc in ipcs:
            rows = []
            for name, m in cfg.methods.items():
                want = None if m.kind == "full" else ipc
                pts = [
                    (r.top1, r.collapsed)
                    for r in bench.runs
                    if (r.method, r.ipc, r.student, r.eval) == (name, want, student, ev)
                ]
                rows.append((name + (" (all clips)" if m.kind == "full" else ""), pts))
            panels[f"IPC {ipc}, {ev}"] = rows
    if not any(pts for rows in panels.values() for _, pts in rows):
        return None
    ref = next((n for n, m in cfg.methods.items() if m.kind == "random"), None)
    return plot_runs(
        panels, out.with_suffix(".png"), title=f"{cfg.title}: {student}", reference=ref
    )


def _fold_lines(bench: Benchmark) -> list[str]:
    """Each method's mean per fold (first student): does a difference hold on every fold?"""
    cfg = bench.cfg
    student = cfg.students[0]
    lines = ["## Per fold", "", f"Student {student}, mean over seeds {cfg.seeds} per fold.", ""]
    for ev in cfg.main_evals:
        ipcs = sorted({r.ipc for r in bench.runs if r.eval == ev and r.ipc is not None})
        heads = [(i, f) for i in ipcs for f in range(len(cfg.folds))]
        lines += [
            f"**{ev}**",
            "",
            "| method | " + " | ".join(f"IPC {i} fold {f + 1}" for i, f in heads) + " |",
            "|---|" + "---|" * len(heads),
        ]
        for name in cfg.methods:
            row = []
            for i, f in heads:
                ok = [
                    r.top1
                    for r in bench.runs
                    if (r.method, r.ipc, r.student, r.eval, r.fold) == (name, i, student, ev, f)
                    and not r.collapsed
                ]
                row.append(f"{mean_std(ok)[0]:.1f}" if ok else "")
            if any(row):
                lines.append(f"| {name} | " + " | ".join(row) + " |")
        lines.append("")
    return lines


def _cost_lines(bench: Benchmark) -> list[str]:
    recs = bench.steps.records
    by_kind: dict[str, list[StepRecord]] = {}
    for r in recs:
        by_kind.setdefault(r.kind.split(":")[0], []).append(r)
    lines = [
        "## Where the time goes",
        "",
        "| step | runs | total s | mean s | max peak GPU MiB |",
        "|---|---|---|---|---|",
    ]
    for kind, rs in by_kind.items():
        tot = sum(r.seconds for r in rs)
        lines.append(
            f"| {kind} | {len(rs)} | {tot:.0f} | {tot / len(rs):.1f} | "
            f"{max(r.peak_gpu_mib for r in rs):.0f} |"
        )
    lines += [
        "",
        "Distillation per method and IPC (mean over seeds):",
        "",
        "| method | IPC | mean s | peak GPU MiB |",
        "|---|---|---|---|",
    ]
    dist: dict[tuple[str, int], list[StepRecord]] = {}
    for r in recs:
        if r.kind.startswith("distill:"):
            dist.setdefault((r.kind.split(":", 1)[1], int(r.metrics.get("ipc", 0))), []).append(r)
    for (name, ipc), rs in sorted(dist.items()):
        lines.append(
            f"| {name} | {ipc} | {sum(r.seconds for r in rs) / len(rs):.1f} | "
            f"{max(r.peak_gpu_mib for r in rs):.0f} |"
        )
    tsgd_name = bench.cfg.tsgd
    for ipc in sorted({i for (_, i) in dist}):
        t, d = dist.get((tsgd_name, ipc)), dist.get(("dm", ipc))
        if t and d:
            ts = sum(r.seconds for r in t) / len(t)
            ds = sum(r.seconds for r in d) / len(d)
            lines += [
                "",
                f"IPC {ipc}: {tsgd_name} takes {ts:.1f} s per set, DM {ds:.1f} s: "
                f"**{ts / ds:.3f}** of DM's wall time (peak GPU "
                f"{max(r.peak_gpu_mib for r in t):.0f} vs {max(r.peak_gpu_mib for r in d):.0f} MiB).",
            ]
    reused = sum(r.reused for r in recs)
    if reused:
        lines += [
            "",
            f"{reused} of {len(recs)} steps were reused from an earlier run of the "
            "same command (their times are from that run).",
        ]
    lines += [
        "",
        "<details><summary>Every step</summary>",
        "",
        "| step | folder | s | peak GPU MiB | device |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.kind} | {r.name} | {r.seconds:.1f}"
        f"{f' ({r.earlier_s:.1f} before a resume)' if r.earlier_s else ''}"
        f" | {r.peak_gpu_mib:.0f} | {r.device} |"
        for r in recs
    ]
    lines += ["", "</details>"]
    return [*lines, ""]


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("config", help="benchmark YAML (benchmarks/*.yaml)")
    ap.add_argument("--data", help="dataset root (overrides dataset.root)")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--schema", default="workflow/schemas/params.schema.yaml")
    ap.add_argument(
        "--work",
        help="folder of the step outputs (resumable; default results/benchmark/<config name>;"
        " configs sharing one reuse each other's steps)",
    )
    ap.add_argument("--out", required=True, help="the Markdown page to write")
    ap.add_argument("--device", default="auto")
    only = ap.add_mutually_exclusive_group()
    only.add_argument("--only", nargs="+", metavar="METHOD", help="methods to run (default: all)")
    only.add_argument(
        "--teacher-only",
        action="store_true",
        help="run the shared steps alone (preprocess, teacher, saliency): to choose a teacher"
        " by its val-group accuracy on the page before any student runs",
    )
    ap.add_argument(
        "--time-limit",
        type=float,
        metavar="S",
        help="start no new step after S seconds; the page shows what finished (rerun resumes)",
    )
    ap.add_argument(
        "--keep-going",
        action="store_true",
        help="a failing set or student step is listed on the page; the rest still runs",
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    command = "python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])
    t0 = time.perf_counter()
    try:
        cfg = load_bench_config(args.config, args.params, args.schema, args.data)
        work = Path(args.work) if args.work else Path("results/benchmark") / Path(args.config).stem
        bench = Benchmark(
            cfg, work, args.device, time_limit=args.time_limit, keep_going=args.keep_going
        )
        bench.run([] if args.teacher_only else args.only)
    except BenchError as e:  # bad input: one line, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    write_page(bench, args.out, command=command, wall=time.perf_counter() - t0)
    print(f"wrote {args.out}" + (f" (incomplete: {bench.stopped})" if bench.stopped else ""))
    if bench.failures:
        print(f"{len(bench.failures)} step(s) failed: see the page's Failed steps", file=sys.stderr)
        return 1
    return 0
