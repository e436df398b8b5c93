"""Decode a video dataset once into the uint8 clip cache (see :mod:`tsgd.io.clipcache`).

Each video contributes ``frames`` frames chosen by :func:`tsgd.data.sampling.cache_indices`,
resized by decord at decode time straight to ``height x width`` (no crop: cropping happens
at training time). Videos are decoded in ``workers`` processes (ordered ``imap``), so the
output does not depend on ``workers``.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tsgd.data.adapters import VideoRecord, assign_splits, folder_dataset
from tsgd.data.decode import DecodeError, open_video
from tsgd.data.sampling import cache_indices
from tsgd.io.atomic import write_json
from tsgd.io.clipcache import clip_array_writer, write_manifest

__all__ = ["decode_clip", "preprocess_dataset"]

log = logging.getLogger(__name__)

_ON_ERROR = ("skip", "fail")


def decode_clip(
    path: str | Path, *, frames: int, gap: int, height: int, width: int
) -> tuple[np.ndarray, int, int, int]:
    """Decode the cached frames of one video.

    Args:
        path: the video file.
        frames: frames to keep (L); gap: requested stride in source frames.
        height, width: output size in pixels (decord resizes while decoding, no crop).

    Returns:
        ``(clip, n_frames, gap_eff, padded)``: ``clip`` uint8 ``[L, height, width, 3]`` RGB,
        the source frame count, the stride used and the number of padded frames.

    Raises:
        DecodeError: missing, empty or unreadable file.
    """
    video = open_video(path, width=width, height=height)
    indices, gap_eff, padded = cache_indices(video.n_frames, frames, gap)
    clip = video.read(indices)
    if clip.shape[1:3] != (height, width):
        raise DecodeError(path, f"decoded size {clip.shape[1:3]} instead of {(height, width)}")
    return clip, video.n_frames, gap_eff, padded


@dataclass(frozen=True)
class _Task:
    path: str  # absolute or root-relative path to open
    frames: int
    gap: int
    height: int
    width: int


@dataclass
class _Result:
    clip: np.ndarray | None
    n_frames: int
    gap: int
    padded: int
    reason: str | None
    missing: bool = False


def _run_task(task: _Task) -> _Result:
    """Worker entry point: never raises for a bad video, reports it instead."""
    try:
        clip, n, g, pad = decode_clip(
            task.path, frames=task.frames, gap=task.gap, height=task.height, width=task.width
        )
    except DecodeError as exc:
        return _Result(None, -1, -1, -1, exc.reason, missing=exc.reason == "file not found")
    return _Result(clip, n, g, pad, None)


class _ChannelStats:
    """Exact streaming per-channel sums of uint8 clips (integer arithmetic, order-free)."""

    def __init__(self) -> None:
        self.count = 0
        self.total = np.zeros(3, dtype=np.uint64)
        self.total_sq = np.zeros(3, dtype=np.uint64)

    def add(self, clip: np.ndarray) -> None:
        flat = clip.reshape(-1, 3)
        self.count += flat.shape[0]
        self.total += flat.sum(axis=0, dtype=np.uint64)
        wide = flat.astype(np.uint32)
        self.total_sq += (wide * wide).sum(axis=0, dtype=np.uint64)

    def mean_std(self) -> tuple[list[float], list[float]]:
        """Per-channel mean and std in [0, 1] units (population std)."""
        if self.count == 0:
            raise ValueError("no train pixels to compute statistics from")
        mean = self.total.astype(np.float64) / self.count
        var = self.total_sq.astype(np.float64) / self.count - mean * mean
        std = np.sqrt(np.maximum(var, 0.0))
        return (mean / 255.0).tolist(), (std / 255.0).tolist()


def _validate(
    frames: int,
    gap: int,
    resize: tuple[int, int],
    splits: Sequence[str],
    workers: int,
    on_error: str,
    max_bad_fraction: float,
) -> tuple[int, int]:
    for name, value in (("frames", frames), ("gap", gap), ("workers", workers)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    try:
        height, width = (int(v) for v in resize)
    except (TypeError, ValueError):
        raise ValueError(f"resize must be (height, width), got {resize!r}") from None
    if height < 1 or width < 1:
        raise ValueError(f"resize must be positive (height, width), got {resize!r}")
    if on_error not in _ON_ERROR:
        raise ValueError(f"on_error must be one of {_ON_ERROR}, got {on_error!r}")
    if not 0.0 <= max_bad_fraction <= 1.0:
        raise ValueError(f"max_bad_fraction must be in [0, 1], got {max_bad_fraction}")
    if isinstance(splits, str) or not splits:
        raise ValueError(f"splits must be a non-empty sequence of names, got {splits!r}")
    if len(set(splits)) != len(splits):
        raise ValueError(f"splits lists a name twice: {list(splits)}")
    if "train" not in splits:
        raise ValueError(f"splits must include 'train' (statistics come from it), got {splits}")
    for s in splits:
        if not s or "/" in s or "\\" in s or s.startswith("."):
            raise ValueError(f"bad split name {s!r}")
    return height, width


def _pool_map(tasks: list[_Task], workers: int, pool: Any) -> Iterator[_Result]:
    if pool is None:
        return map(_run_task, tasks)
    chunksize = max(1, min(16, len(tasks) // (workers * 8)))
    return pool.imap(_run_task, tasks, chunksize=chunksize)


def _format_list(items: Sequence[str], limit: int = 20) -> str:
    shown = "\n  ".join(items[:limit])
    more = f"\n  ... and {len(items) - limit} more" if len(items) > limit else ""
    return f"  {shown}{more}"


def _process_split(
    split: str,
    records: list[VideoRecord],
    *,
    root: Path,
    out: Path,
    classes: list[str],
    frames: int,
    gap: int,
    height: int,
    width: int,
    workers: int,
    pool: Any,
    on_error: str,
    max_bad_fraction: float,
    progress: bool,
    stats: _ChannelStats | None,
) -> tuple[int, list[dict[str, str]]]:
    """Decode one split into ``out/{split}.npy`` + ``.csv``; returns (ok count, skipped)."""
    from tqdm import tqdm  # lazy

    class_index = {c: i for i, c in enumerate(classes)}
    tasks = [_Task(str(root / r.path), frames, gap, height, width) for r in records]
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    clip_shape = (frames, height, width, 3)
    with clip_array_writer(out / f"{split}.npy", len(records), clip_shape) as writer:
        bar = tqdm(
            total=len(tasks),
            desc=f"preprocess {split}",
            unit="clip",
            file=sys.stderr,
            disable=not progress,
            dynamic_ncols=True,
        )
        try:
            for record, result in zip(records, _pool_map(tasks, workers, pool), strict=True):
                bar.update(1)
                row: dict[str, Any] = {
                    "path": record.path,
                    "label": record.label,
                    "label_index": class_index[record.label],
                    "group": record.group,
                }
                if result.clip is None:
                    full = root / record.path
                    if on_error == "fail":
                        if result.missing:
                            raise FileNotFoundError(f"video not found: {full}")
                        raise DecodeError(full, result.reason or "unknown error")
                    log.warning("skipping %s: %s", full, result.reason)
                    skipped.append({"split": split, "path": record.path, "reason": result.reason})
                    row.update(index=-1, n_frames=-1, gap=-1, padded=-1, status="skipped")
                    row["reason"] = result.reason
                else:
                    index = writer.append(result.clip)
                    if stats is not None:
                        stats.add(result.clip)
                    row.update(index=index, n_frames=result.n_frames, gap=result.gap)
                    row.update(padded=result.padded, status="ok", reason="")
                rows.append(row)
        finally:
            bar.close()

        n_ok = writer.count
        if n_ok == 0:
            raise RuntimeError(
                f"split {split!r}: none of its {len(records)} videos could be decoded:\n"
                + _format_list([f"{s['path']}: {s['reason']}" for s in skipped])
            )
        if len(skipped) > max_bad_fraction * len(records):
            raise RuntimeError(
                f"split {split!r}: {len(skipped)} of {len(records)} videos could not be decoded "
                f"(more than max_bad_fraction={max_bad_fraction}):\n"
                + _format_list([f"{root / s['path']}: {s['reason']}" for s in skipped])
            )
        if stats is not None:  # the train split: every class must keep a video
            kept = {r["label"] for r in rows if r["status"] == "ok"}
            lost = [c for c in classes if c not in kept]
            if lost:
                raise ValueError(f"class(es) whose train videos all failed to decode: {lost}")
    write_manifest(out / f"{split}.csv", rows)
    return n_ok, skipped


def preprocess_dataset(
    root: str | Path,
    out_dir: str | Path,
    *,
    manifest: str | None = "clips.csv",
    frames: int,
    gap: int,
    resize: tuple[int, int],
    splits: Sequence[str] = ("train", "test"),
    test_groups: Sequence[str] | None = None,
    val_groups: Sequence[str] | None = None,
    workers: int = 1,
    on_error: str = "skip",
    max_bad_fraction: float = 0.1,
    progress: bool = True,
) -> dict[str, Any]:
    """Decode a dataset into the clip cache ``out_dir`` (layout: :mod:`tsgd.io.clipcache`).

    Args:
        root: dataset root (see :func:`tsgd.data.adapters.folder_dataset`).
        out_dir: cache folder to write (created if needed).
        manifest: manifest file name in ``root``, or None to scan class folders.
        frames: frames kept per video (L); gap: requested stride in source frames.
        resize: ``(height, width)`` in pixels of the cached frames.
        splits: splits to write; must include ``train``; every record's split must be one
            of them (a record in another split is an error, never silently dropped).
        test_groups, val_groups: split by these groups (else the manifest's ``split``).
        workers: decoding processes (1 = in this process).
        on_error: ``"skip"`` records bad videos as skipped in the manifest (error if more
            than ``max_bad_fraction`` of a split); ``"fail"`` raises at the first one.
        progress: show a tqdm bar on stderr.

    Returns:
        summary dict: ``counts`` ({split: {total, ok, skipped}}), ``skipped`` (list of
        {split, path, reason}), ``seconds``, ``clips_per_s``, ``classes``, ``out_dir``.
    """
    t0 = time.perf_counter()
    height, width = _validate(frames, gap, resize, splits, workers, on_error, max_bad_fraction)
    root = Path(root)
    out = Path(out_dir)
    classes, records = folder_dataset(root, manifest)
    records = assign_splits(records, test_groups=test_groups, val_groups=val_groups)

    by_split: dict[str, list[VideoRecord]] = {s: [] for s in splits}
    for r in records:
        if r.split not in by_split:
            raise ValueError(
                f"{r.path} is in split {r.split!r}, which is not among splits={list(splits)}"
            )
        by_split[r.split].append(r)
    for s, recs in by_split.items():
        if not recs:
            raise ValueError(f"split {s!r} has no videos")
    train_labels = {r.label for r in by_split["train"]}
    empty = [c for c in classes if c not in train_labels]
    if empty:
        raise ValueError(f"class(es) with no train video: {empty}")

    out.mkdir(parents=True, exist_ok=True)
    (out / "stats.json").unlink(missing_ok=True)  # marks the cache incomplete until the end

    counts: dict[str, dict[str, int]] = {}
    all_skipped: list[dict[str, str]] = []
    stats = _ChannelStats()
    pool = mp.get_context(_start_method()).Pool(workers) if workers > 1 else None
    try:
        for s in splits:
            n_ok, skipped = _process_split(
                s,
                by_split[s],
                root=root,
                out=out,
                classes=classes,
                frames=frames,
                gap=gap,
                height=height,
                width=width,
                workers=workers,
                pool=pool,
                on_error=on_error,
                max_bad_fraction=max_bad_fraction,
                progress=progress,
                stats=stats if s == "train" else None,
            )
            counts[s] = {"total": len(by_split[s]), "ok": n_ok, "skipped": len(skipped)}
            all_skipped.extend(skipped)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()

    mean, std = stats.mean_std()
    write_json(out / "classes.json", classes)
    write_json(
        out / "stats.json",
        {
            "mean": mean,
            "std": std,
            "frames": frames,
            "height": height,
            "width": width,
            "gap": gap,
            "dataset_root": str(root.resolve()),
            "counts": counts,
        },
    )
    seconds = time.perf_counter() - t0
    n_total = sum(c["total"] for c in counts.values())
    return {
        "counts": counts,
        "skipped": all_skipped,
        "seconds": seconds,
        "clips_per_s": n_total / seconds if seconds > 0 else float("inf"),
        "classes": classes,
        "out_dir": str(out),
    }


def _start_method() -> str:
    """``fork`` where available: unlike spawn/forkserver it does not re-run the caller's
    ``__main__`` (a Snakemake script without a main guard), and workers import nothing new."""
    return "fork" if "fork" in mp.get_all_start_methods() else "spawn"
