"""Decode a video dataset once into the uint8 clip cache (see :mod:`tsgd.io.clipcache`).

Each video contributes ``frames`` frames chosen by :func:`tsgd.data.sampling.cache_indices`,
decoded by the chosen backend and resized to ``height x width`` by the shared resampler of
:mod:`tsgd.data.decode` (no crop: cropping happens at training time). Videos are decoded in
``workers`` processes, each writing its clip straight into the record's slot of the split's
array, so the output does not depend on ``workers`` or on the order in which videos finish,
and memory does not grow with the number of videos.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tsgd.data.adapters import (
    VideoRecord,
    assign_splits,
    empty_class_folders,
    load_dataset,
)
from tsgd.data.decode import BACKENDS, DecodeError, backend_chain, open_video
from tsgd.data.sampling import cache_indices
from tsgd.io.atomic import read_json, write_json
from tsgd.io.clipcache import PartialSplit, write_manifest, write_slot

__all__ = ["STATS_STRIDE", "channel_sums", "decode_clip", "input_digest", "preprocess_dataset"]

log = logging.getLogger(__name__)

_ON_ERROR = ("skip", "fail")
_WORK_DIR = ".partial"
#: failures no other backend can do better on
_FINAL_REASONS = ("file not found", "empty file (0 bytes)")


def decode_clip(
    path: str | Path,
    *,
    frames: int,
    gap: int,
    height: int,
    width: int,
    min_frames: int = 1,
    backends: Sequence[str] = ("decord",),
) -> tuple[np.ndarray, int, int, int, str]:
    """Decode the cached frames of one video, trying each backend in turn.

    Args:
        path: the video file.
        frames: frames to keep (L); gap: requested stride in source frames.
        height, width: output size in pixels (resized after decoding, no crop).
        min_frames: a video with fewer source frames is refused (shorter than one clip).
        backends: decoders to try in order (:func:`tsgd.data.decode.backend_chain`); a file
            one cannot read is retried with the next.

    Returns:
        ``(clip, n_frames, gap_eff, padded, backend)``: ``clip`` uint8
        ``[L, height, width, 3]`` RGB, the source frame count, the stride used, the number
        of padded frames and the backend that decoded it.

    Raises:
        DecodeError: missing, empty, too short, or unreadable by every backend (the reason
            then lists each backend's).
    """
    failures: list[str] = []
    for backend in backends:
        try:
            video = open_video(path, width=width, height=height, backend=backend)
            if video.n_frames < min_frames:
                raise DecodeError(
                    path,
                    f"only {video.n_frames} frames, shorter than one clip ({min_frames} frames)",
                )
            indices, gap_eff, padded = cache_indices(video.n_frames, frames, gap)
            clip = video.read(indices)
        except DecodeError as exc:
            if exc.reason in _FINAL_REASONS or exc.reason.startswith("only "):
                raise  # no other backend will do better
            failures.append(exc.reason if len(backends) == 1 else f"{backend}: {exc.reason}")
            continue
        if clip.shape[1:3] != (height, width):
            raise DecodeError(path, f"decoded size {clip.shape[1:3]} instead of {(height, width)}")
        return clip, video.n_frames, gap_eff, padded, backend
    raise DecodeError(path, "; ".join(failures))


#: channel statistics are taken on every STATS_STRIDE-th pixel row and column of every frame
STATS_STRIDE = 4


def channel_sums(clip: np.ndarray) -> tuple[list[int], list[int], int]:
    """Exact integer per-channel sums of a clip's statistics grid.

    Args:
        clip: uint8 ``[L, H, W, 3]``.

    Returns:
        ``(sum, sum_of_squares, n_pixels)`` over the pixels ``clip[:, ::S, ::S]`` with
        ``S = STATS_STRIDE`` (a regular grid, 1/16 of the pixels: the mean and std used to
        standardise inputs, at a fraction of the cost of summing every pixel).
    """
    flat = np.ascontiguousarray(clip[:, ::STATS_STRIDE, ::STATS_STRIDE]).reshape(-1, 3)
    wide = flat.astype(np.uint32)
    total = flat.sum(axis=0, dtype=np.uint64)
    total_sq = (wide * wide).sum(axis=0, dtype=np.uint64)
    return [int(v) for v in total], [int(v) for v in total_sq], int(flat.shape[0])


@dataclass(frozen=True)
class _Task:
    pos: int  # record position in its split = slot in the part file
    path: str  # file to open
    part: str  # the split's part file
    offset: int  # byte offset of the slot
    frames: int
    gap: int
    height: int
    width: int
    min_frames: int
    backends: tuple[str, ...]


def _run_task(task: _Task) -> dict[str, Any]:
    """Worker entry point: decode one video into its slot; never raises for a bad video."""
    try:
        clip, n, g, pad, backend = decode_clip(
            task.path,
            frames=task.frames,
            gap=task.gap,
            height=task.height,
            width=task.width,
            min_frames=task.min_frames,
            backends=task.backends,
        )
    except DecodeError as exc:
        return {"pos": task.pos, "status": "skipped", "reason": exc.reason}
    write_slot(task.part, task.offset, clip)
    total, total_sq, count = channel_sums(clip)
    return {
        "pos": task.pos,
        "status": "ok",
        "n_frames": n,
        "gap": g,
        "padded": pad,
        "backend": backend,
        "sum": total,
        "sumsq": total_sq,
        "count": count,
    }


class _SplitState:
    """What preprocessing keeps of a split's journal entries, in O(1) bytes per video:
    status, source frame count, stride and padding per record, the skip reasons, and the
    exact integer channel sums of the ok clips (Python ints: independent of order)."""

    PENDING, OK, SKIPPED = 0, 1, 2

    def __init__(self, n_records: int) -> None:
        self.status = np.zeros(n_records, dtype=np.int8)
        self.info = np.zeros((n_records, 4), dtype=np.int64)  # n_frames, gap, padded, backend
        self.reasons: dict[int, str] = {}
        self.total = [0, 0, 0]
        self.total_sq = [0, 0, 0]
        self.count = 0

    def fold(self, entry: dict[str, Any]) -> None:
        pos = int(entry["pos"])
        if entry["status"] != "ok":
            self.status[pos] = self.SKIPPED
            self.reasons[pos] = str(entry["reason"])
            return
        self.status[pos] = self.OK
        backend = BACKENDS.index(entry["backend"])
        self.info[pos] = (entry["n_frames"], entry["gap"], entry["padded"], backend)
        self.total = [a + int(b) for a, b in zip(self.total, entry["sum"], strict=True)]
        self.total_sq = [a + int(b) for a, b in zip(self.total_sq, entry["sumsq"], strict=True)]
        self.count += int(entry["count"])

    def ok_positions(self) -> list[int]:
        return np.flatnonzero(self.status == self.OK).tolist()

    def mean_std(self) -> tuple[list[float], list[float]]:
        """Per-channel mean and (population) std in [0, 1] units."""
        if self.count == 0:
            raise ValueError("no train pixels to compute statistics from")
        mean = np.asarray(self.total, dtype=np.float64) / self.count
        var = np.asarray(self.total_sq, dtype=np.float64) / self.count - mean * mean
        std = np.sqrt(np.maximum(var, 0.0))
        return (mean / 255.0).tolist(), (std / 255.0).tolist()


def _crashed(task: _Task, exc: BaseException) -> dict[str, Any]:
    reason = f"decoder process crashed ({type(exc).__name__})"
    return {"pos": task.pos, "status": "skipped", "reason": reason}


class _Decoder:
    """Runs :func:`_run_task` over tasks in ``workers`` processes, results in completion order.

    At most ``4 * workers`` tasks are in flight, so memory does not grow with the number of
    videos. A worker that dies (a decoder segfault, the OOM killer) does not hang or abort
    the run: the tasks that were in flight are retried one at a time in a fresh process, and
    the one that kills its process again is reported as skipped.
    """

    def __init__(self, workers: int, backends: Sequence[str]) -> None:
        self.workers = workers
        self.backends = tuple(backends)
        self._executor: Any = None

    def _new(self, workers: int) -> Any:
        from concurrent.futures import ProcessPoolExecutor

        if "decord" in self.backends:
            # Loading decord's native libraries costs ~0.7 GB per process; loaded once here,
            # before the workers fork, those pages are shared by all workers (copy-on-write).
            import decord  # noqa: F401

        return ProcessPoolExecutor(workers, mp_context=mp.get_context(_start_method()))

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def _isolate(self, suspects: list[_Task]) -> Iterator[dict[str, Any]]:
        from concurrent.futures.process import BrokenProcessPool

        for task in suspects:
            solo = self._new(1)
            try:
                yield solo.submit(_run_task, task).result()
            except BrokenProcessPool as exc:
                log.warning("decoder process crashed on %s", task.path)
                yield _crashed(task, exc)
            finally:
                solo.shutdown(wait=True, cancel_futures=True)

    def run(self, tasks: Iterator[_Task]) -> Iterator[dict[str, Any]]:
        if self.workers == 1:
            yield from map(_run_task, tasks)
            return
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        window = 4 * self.workers
        pending: dict[Any, _Task] = {}
        queue = iter(tasks)
        self._executor = self._new(self.workers)
        while True:
            for task in queue:
                pending[self._executor.submit(_run_task, task)] = task
                if len(pending) >= window:
                    break
            if not pending:
                return
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            broken = False
            for future in finished:
                try:
                    result = future.result()
                except BrokenProcessPool:
                    broken = True
                    continue
                del pending[future]
                yield result
            if broken:
                suspects = list(pending.values())
                pending.clear()
                self.close()
                log.warning(
                    "a decoder process died; retrying its %d in-flight videos one by one",
                    len(suspects),
                )
                yield from self._isolate(suspects)
                self._executor = self._new(self.workers)


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


def _format_list(items: Sequence[str], limit: int = 20) -> str:
    shown = "\n  ".join(items[:limit])
    more = f"\n  ... and {len(items) - limit} more" if len(items) > limit else ""
    return f"  {shown}{more}"


def _fingerprint(settings: dict[str, Any], by_split: dict[str, list[VideoRecord]]) -> str:
    """Hash of everything that determines the cache's bytes (not thresholds or workers)."""
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for split, records in by_split.items():
        h.update(f"\0{split}\0".encode())
        for r in records:
            h.update(f"{r.path}\t{r.label}\t{r.group}\n".encode())
    return h.hexdigest()


def input_digest(root: Path, by_split: dict[str, list[VideoRecord]]) -> str:
    """sha256 of what the cache is made from: every record (split, path, label, group) and
    its file's size in bytes (-1 if missing). Names the input data in tracking and DVC."""
    h = hashlib.sha256()
    for split, records in by_split.items():
        for r in records:
            path = root / r.path
            size = path.stat().st_size if path.is_file() else -1
            h.update(f"{split}\t{r.path}\t{r.label}\t{r.group}\t{size}\n".encode())
    return h.hexdigest()


def _open_work(out: Path, fingerprint: str) -> Path:
    """The resumable work folder ``out/.partial``; emptied if it belongs to other settings."""
    work = out / _WORK_DIR
    stamp = work / "fingerprint.json"
    if work.exists():
        try:
            same = read_json(stamp).get("fingerprint") == fingerprint
        except (FileNotFoundError, ValueError, AttributeError):
            same = False
        if not same:
            log.info("discarding unfinished work in %s (other settings or videos)", work)
            shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    if not stamp.is_file():
        write_json(stamp, {"fingerprint": fingerprint})
    return work


def _decode_split(
    part: PartialSplit,
    records: list[VideoRecord],
    *,
    root: Path,
    decoder: _Decoder,
    task_args: dict[str, Any],
    on_error: str,
    progress: bool,
) -> int:
    """Decode the records of one split not yet in ``part``'s journal; returns how many."""
    from tqdm import tqdm  # lazy

    todo = np.flatnonzero(~part.finished).tolist()
    if part.n_done:
        log.info(
            "split %s: resuming, %d of %d videos already done",
            part.split,
            part.n_done,
            len(records),
        )
    tasks = (
        _Task(i, str(root / records[i].path), str(part.path), part.offset(i), **task_args)
        for i in todo
    )
    bar = tqdm(
        total=len(records),
        initial=part.n_done,
        desc=f"preprocess {part.split}",
        unit="clip",
        file=sys.stderr,
        disable=not progress,
        dynamic_ncols=True,
        mininterval=1.0,
    )
    try:
        with part.journal_path.open("a", encoding="utf-8") as journal:
            for entry in decoder.run(tasks):
                if entry["status"] != "ok":
                    full = root / records[entry["pos"]].path
                    if on_error == "fail":
                        if entry["reason"] == "file not found":
                            raise FileNotFoundError(f"video not found: {full}")
                        raise DecodeError(full, entry["reason"])
                    log.warning("skipping %s: %s", full, entry["reason"])
                part.record(entry, journal)
                bar.update(1)
    finally:
        bar.close()
    return len(todo)


def _check_split(
    split: str,
    state: _SplitState,
    records: list[VideoRecord],
    *,
    root: Path,
    classes: list[str],
    max_bad_fraction: float,
) -> list[dict[str, str]]:
    """Apply the bad-file rules to a decoded split; returns its skipped files."""
    skipped = [
        {"split": split, "path": records[i].path, "reason": state.reasons[i]}
        for i in sorted(state.reasons)
    ]
    n_ok = len(records) - len(skipped)
    listing = [f"{root / s['path']}: {s['reason']}" for s in skipped]
    if n_ok == 0:
        raise RuntimeError(
            f"split {split!r}: none of its {len(records)} videos could be decoded:\n"
            + _format_list(listing)
        )
    if len(skipped) > max_bad_fraction * len(records):
        raise RuntimeError(
            f"split {split!r}: {len(skipped)} of {len(records)} videos could not be "
            f"decoded (more than max_bad_fraction={max_bad_fraction}):\n" + _format_list(listing)
        )
    if split == "train":  # every class must keep a video
        kept = {records[i].label for i in state.ok_positions()}
        lost = [c for c in classes if c not in kept]
        if lost:
            raise ValueError(f"class(es) whose train videos all failed to decode: {lost}")
    if skipped:
        log.warning(
            "split %s: %d of %d videos skipped:\n%s",
            split,
            len(skipped),
            len(records),
            _format_list(listing, limit=len(listing)),
        )
    return skipped


def _manifest_rows(
    state: _SplitState, records: list[VideoRecord], classes: list[str]
) -> Iterator[dict[str, Any]]:
    class_index = {c: i for i, c in enumerate(classes)}
    index = 0
    for i, record in enumerate(records):
        row: dict[str, Any] = {
            "path": record.path,
            "label": record.label,
            "label_index": class_index[record.label],
            "group": record.group,
        }
        if state.status[i] == _SplitState.OK:
            n_frames, gap, padded, backend = (int(v) for v in state.info[i])
            row.update(index=index, n_frames=n_frames, gap=gap, padded=padded)
            row["backend"] = BACKENDS[backend]
            row.update(status="ok", reason="")
            index += 1
        else:
            row.update(index=-1, n_frames=-1, gap=-1, padded=-1, status="skipped")
            row["reason"] = state.reasons[i]
        yield row


def preprocess_dataset(
    root: str | Path,
    out_dir: str | Path,
    *,
    source: str = "folder",
    manifest: str | None = "clips.csv",
    official_split: int = 1,
    annotations: str | None = None,
    frames: int,
    gap: int,
    resize: tuple[int, int],
    min_frames: int = 1,
    decoder: str = "auto",
    splits: Sequence[str] = ("train", "test"),
    test_groups: Sequence[str] | None = None,
    val_groups: Sequence[str] | None = None,
    workers: int = 1,
    on_error: str = "skip",
    max_bad_fraction: float = 0.1,
    progress: bool = True,
) -> dict[str, Any]:
    """Decode a dataset into the clip cache ``out_dir`` (layout: :mod:`tsgd.io.clipcache`).

    The work is resumable: decoded clips go straight into ``out_dir/.partial`` with a
    journal, so a run that is killed (even with SIGKILL) and started again with the same
    settings decodes only the videos that were not finished. The finished cache appears
    only at the end, ``stats.json`` last; ``.partial`` is then removed.

    Args:
        root: dataset root, in the layout of ``source``.
        out_dir: cache folder to write (created if needed).
        source: dataset layout, one of :data:`tsgd.data.adapters.DATASET_SOURCES`
            (see :func:`tsgd.data.adapters.load_dataset`).
        manifest: ``folder`` source: manifest file name in ``root``, or None to scan class
            folders.
        official_split: ucf101 / miniucf / hmdb51: the official split number (1-3).
        annotations: where the split / label files are, when not in the official place.
        frames: frames kept per video (L); gap: requested stride in source frames.
        resize: ``(height, width)`` in pixels of the cached frames.
        min_frames: videos with fewer source frames are bad ("shorter than one clip");
            videos with at least ``min_frames`` but fewer than ``frames`` are padded.
        decoder: ``decord | pyav | opencv | auto`` (:func:`tsgd.data.decode.backend_chain`;
            ``auto``: every installed backend in that order, each file retried with the
            next one before it counts as bad). The backend used is in the manifest.
        splits: splits to write; must include ``train``; every record's split must be one
            of them (a record in another split is an error, never silently dropped).
        test_groups, val_groups: split by these groups: ``test_groups`` replaces the
            dataset's own split, ``val_groups`` moves those train groups to ``val``.
        workers: decoding processes (1 = in this process).
        on_error: ``"skip"`` records bad videos as skipped in the manifest and the log
            (error if more than ``max_bad_fraction`` of a split); ``"fail"`` raises at the
            first one, naming its path.
        progress: show a tqdm bar (rate, ETA) on stderr.

    Returns:
        summary dict: ``counts`` ({split: {total, ok, skipped}}), ``skipped`` (list of
        {split, path, reason}), ``empty_class_folders`` (class folders without a video),
        ``input_sha256`` (:func:`input_digest`),
        ``decoded`` (videos decoded by this call; fewer than the total when resuming),
        ``seconds``, ``clips_per_s`` (decoded / seconds), ``classes``, ``out_dir``.
    """
    t0 = time.perf_counter()
    height, width = _validate(frames, gap, resize, splits, workers, on_error, max_bad_fraction)
    if isinstance(min_frames, bool) or not isinstance(min_frames, int) or min_frames < 1:
        raise ValueError(f"min_frames must be an integer >= 1, got {min_frames!r}")
    root = Path(root)
    out = Path(out_dir)
    classes, records = load_dataset(
        source, root, split=official_split, manifest=manifest, annotations=annotations
    )
    records = assign_splits(records, test_groups=test_groups, val_groups=val_groups)
    empty_folders = empty_class_folders(root, _candidate_classes(root, source, classes))
    empty_classes = [c for c in classes if c in empty_folders]
    if empty_classes:
        raise ValueError(
            f"class folder(s) with no video: {empty_classes}; every video of these classes "
            f"is missing under {root} (restore them, or drop the classes from the dataset)"
        )

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

    task_args = {
        "frames": frames,
        "gap": gap,
        "height": height,
        "width": width,
        "min_frames": min_frames,
        "backends": backend_chain(decoder),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "stats.json").unlink(missing_ok=True)  # marks the cache incomplete until the end
    work = _open_work(out, _fingerprint(task_args, by_split))

    clip_shape = (frames, height, width, 3)
    states = {s: _SplitState(len(by_split[s])) for s in splits}
    parts = {
        s: PartialSplit(work, s, len(by_split[s]), clip_shape, fold=states[s].fold) for s in splits
    }
    decoded = 0
    pool = _Decoder(workers, task_args["backends"])
    try:
        for s in splits:
            decoded += _decode_split(
                parts[s],
                by_split[s],
                root=root,
                decoder=pool,
                task_args=task_args,
                on_error=on_error,
                progress=progress,
            )
    finally:
        pool.close()

    counts: dict[str, dict[str, int]] = {}
    all_skipped: list[dict[str, str]] = []
    for s in splits:
        skipped = _check_split(
            s,
            states[s],
            by_split[s],
            root=root,
            classes=classes,
            max_bad_fraction=max_bad_fraction,
        )
        total = len(by_split[s])
        counts[s] = {"total": total, "ok": total - len(skipped), "skipped": len(skipped)}
        all_skipped.extend(skipped)
    mean, std = states["train"].mean_std()
    digest = input_digest(root, by_split)

    for s in splits:
        parts[s].finalize(out / f"{s}.npy", states[s].ok_positions())
        write_manifest(out / f"{s}.csv", _manifest_rows(states[s], by_split[s], classes))
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
            "min_frames": min_frames,
            "decoder": decoder,
            "backends": list(task_args["backends"]),
            "stats_stride": STATS_STRIDE,
            "dataset_root": str(root.resolve()),
            "source": source,
            "input_sha256": digest,
            "counts": counts,
            "empty_class_folders": empty_folders,
        },
    )
    shutil.rmtree(work)
    seconds = time.perf_counter() - t0
    return {
        "counts": counts,
        "skipped": all_skipped,
        "empty_class_folders": empty_folders,
        "input_sha256": digest,
        "decoded": decoded,
        "seconds": seconds,
        "clips_per_s": decoded / seconds if seconds > 0 else float("inf"),
        "classes": classes,
        "out_dir": str(out),
    }


def _candidate_classes(root: Path, source: str, classes: list[str]) -> list[str]:
    """Names whose folder may be an (empty) class folder: the classes, and for ``folder``
    datasets every visible sub-folder of ``root`` or ``root/videos`` without sub-folders."""
    names = list(classes)
    if source == "folder":
        for base in (root, root / "videos"):
            if base.is_dir():
                for d in sorted(base.iterdir()):
                    if d.is_dir() and not d.name.startswith(".") and d.name not in names:
                        if not any(c.is_dir() for c in d.iterdir()):
                            names.append(d.name)
    return names


def _start_method() -> str:
    """``fork`` where available: unlike spawn/forkserver it does not re-run the caller's
    ``__main__`` (a Snakemake script without a main guard), and workers import nothing new."""
    return "fork" if "fork" in mp.get_all_start_methods() else "spawn"
