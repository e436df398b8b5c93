"""The on-disk clip cache written by :func:`tsgd.data.preprocess.preprocess_dataset`.

Layout of a cache folder ``D``:

- ``D/{split}.npy``: uint8 ``[N, L, H, W, 3]`` RGB clips (standard .npy, memory-mappable);
- ``D/{split}.csv``: one row per source video, skipped ones included, columns
  :data:`MANIFEST_COLUMNS` (``index`` = row in the .npy, or -1 if skipped);
- ``D/classes.json``: class names in index order;
- ``D/stats.json``: per-channel ``mean`` / ``std`` over the train clips in [0, 1] units, plus
  ``frames``, ``height``, ``width``, ``gap``, ``dataset_root``.

Every file is written under a temporary name in ``D`` and renamed into place
(:mod:`tsgd.io.atomic`), so a reader never sees a half-written file. ``stats.json`` is
written last: a cache folder without it is incomplete.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tsgd.io.atomic import atomic_path, write_text_atomic

__all__ = [
    "MANIFEST_COLUMNS",
    "ClipArrayWriter",
    "ClipSplit",
    "clip_array_writer",
    "load_classes",
    "load_split",
    "load_stats",
    "read_manifest",
    "write_manifest",
]

MANIFEST_COLUMNS: tuple[str, ...] = (
    "index",
    "path",
    "label",
    "label_index",
    "group",
    "n_frames",
    "gap",
    "padded",
    "status",
    "reason",
)


@dataclass
class ClipSplit:
    """One split of the cache.

    ``clips``: uint8 ``[N, L, H, W, 3]`` (read-only memmap); ``labels``: int64 ``[N]`` class
    indices into ``classes``; ``groups`` / ``paths``: per clip, from the manifest.
    """

    clips: np.ndarray
    labels: np.ndarray
    classes: list[str]
    groups: list[str | None]
    paths: list[str]

    def __len__(self) -> int:
        return int(self.labels.shape[0])


# ---------------------------------------------------------------------------------- writing


class ClipArrayWriter:
    """Appends clips to a uint8 ``[capacity, L, H, W, 3]`` .npy memmap at ``path``.

    :meth:`close` flushes it and, if fewer than ``capacity`` clips were appended, rewrites it
    with exactly the appended rows (streamed in chunks, bounded memory).
    """

    def __init__(self, path: Path, capacity: int, clip_shape: tuple[int, int, int, int]) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.path = Path(path)
        self.clip_shape = tuple(clip_shape)
        self.count = 0
        self._array: np.ndarray | None = np.lib.format.open_memmap(
            self.path, mode="w+", dtype=np.uint8, shape=(capacity, *self.clip_shape)
        )

    def append(self, clip: np.ndarray) -> int:
        """Store one uint8 ``[L, H, W, 3]`` clip; returns its row index."""
        if self._array is None:
            raise RuntimeError(f"{self.path} is closed")
        if clip.dtype != np.uint8 or clip.shape != self.clip_shape:
            raise ValueError(f"clip must be uint8 {self.clip_shape}, got {clip.dtype} {clip.shape}")
        if self.count >= self._array.shape[0]:
            raise ValueError(f"{self.path} is full ({self.count} clips)")
        self._array[self.count] = clip
        self.count += 1
        return self.count - 1

    def close(self) -> None:
        if self._array is None:
            return
        capacity = self._array.shape[0]
        self._array.flush()
        self._array = None
        if self.count < capacity:
            src = np.load(self.path, mmap_mode="r", allow_pickle=False)
            compact = self.path.with_name(self.path.name + ".compact")
            try:
                dst = np.lib.format.open_memmap(
                    compact, mode="w+", dtype=np.uint8, shape=(self.count, *self.clip_shape)
                )
                for i in range(0, self.count, 64):
                    j = min(i + 64, self.count)
                    dst[i:j] = src[i:j]
                dst.flush()
                del dst, src
                os.replace(compact, self.path)
            finally:
                compact.unlink(missing_ok=True)


@contextmanager
def clip_array_writer(
    path: str | os.PathLike[str], capacity: int, clip_shape: tuple[int, int, int, int]
) -> Iterator[ClipArrayWriter]:
    """Write ``path`` (a split's .npy) atomically through a :class:`ClipArrayWriter`.

    ``clip_shape`` is ``(L, H, W, 3)``. The file appears under its name only if the block
    ends without an exception; otherwise nothing is left behind.
    """
    with atomic_path(path) as tmp:
        writer = ClipArrayWriter(tmp, capacity, clip_shape)
        try:
            yield writer
        finally:
            writer.close()


def write_manifest(path: str | os.PathLike[str], rows: Sequence[Mapping[str, Any]]) -> None:
    """Write a split manifest (columns :data:`MANIFEST_COLUMNS`; None -> empty) atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        extra = set(row) - set(MANIFEST_COLUMNS)
        if extra:
            raise ValueError(f"unknown manifest column(s) {sorted(extra)} for {path}")
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in MANIFEST_COLUMNS})
    write_text_atomic(path, buf.getvalue())


# ---------------------------------------------------------------------------------- reading


def _require(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"clip cache file not found: {path}")
    return path


def load_classes(cache_dir: str | os.PathLike[str]) -> list[str]:
    """Class names in index order, from ``cache_dir/classes.json``."""
    path = _require(Path(cache_dir) / "classes.json")
    classes = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise ValueError(f"{path} must hold a non-empty JSON list of class names")
    if len(set(classes)) != len(classes):
        raise ValueError(f"{path} lists a class more than once")
    return classes


def load_stats(cache_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The cache's ``stats.json``: ``mean``/``std`` (3 floats each, [0, 1] units), frames,
    height, width, gap, dataset_root."""
    path = _require(Path(cache_dir) / "stats.json")
    stats = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(stats, dict):
        raise ValueError(f"{path} must hold a JSON object")
    for key in ("mean", "std"):
        value = stats.get(key)
        if not (isinstance(value, list) and len(value) == 3):
            raise ValueError(f"{path}: {key!r} must be a list of 3 numbers, got {value!r}")
    for key in ("frames", "height", "width", "gap"):
        if key not in stats:
            raise ValueError(f"{path} lacks {key!r}")
    return stats


def read_manifest(cache_dir: str | os.PathLike[str], split: str) -> list[dict[str, str]]:
    """Rows of ``cache_dir/{split}.csv`` as dicts of strings (skipped videos included)."""
    path = _require(Path(cache_dir) / f"{split}.csv")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in MANIFEST_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path} lacks column(s) {missing}")
        return list(reader)


def load_split(cache_dir: str | os.PathLike[str], split: str) -> ClipSplit:
    """Open one split of the cache; the clips are memory-mapped read-only.

    Checks that the .npy is uint8 ``[N, L, H, W, 3]``, that its N equals the number of
    ``ok`` manifest rows, that their indices are ``0..N-1`` in order, and that labels agree
    with ``classes.json``.
    """
    cache_dir = Path(cache_dir)
    classes = load_classes(cache_dir)
    class_index = {c: i for i, c in enumerate(classes)}
    rows = read_manifest(cache_dir, split)
    npy_path = _require(cache_dir / f"{split}.npy")
    clips = np.load(npy_path, mmap_mode="r", allow_pickle=False)
    if clips.dtype != np.uint8 or clips.ndim != 5 or clips.shape[-1] != 3:
        raise ValueError(
            f"{npy_path} must be uint8 [N, L, H, W, 3], got {clips.dtype} {clips.shape}"
        )

    ok = [r for r in rows if r["status"] == "ok"]
    bad_status = sorted({r["status"] for r in rows} - {"ok", "skipped"})
    if bad_status:
        raise ValueError(f"{cache_dir / f'{split}.csv'} has unknown status value(s) {bad_status}")
    if len(ok) != clips.shape[0]:
        raise ValueError(
            f"{npy_path} holds {clips.shape[0]} clips but {split}.csv lists {len(ok)} ok rows; "
            "the cache is incomplete or mixed, rebuild it"
        )
    labels = np.empty(len(ok), dtype=np.int64)
    for i, r in enumerate(ok):
        if int(r["index"]) != i:
            raise ValueError(f"{split}.csv: ok row {i} ({r['path']}) has index {r['index']}")
        label = r["label"]
        if label not in class_index:
            raise ValueError(f"{split}.csv: label {label!r} of {r['path']} not in classes.json")
        if int(r["label_index"]) != class_index[label]:
            raise ValueError(
                f"{split}.csv: label_index {r['label_index']} of {r['path']} disagrees with "
                f"classes.json ({label!r} is {class_index[label]})"
            )
        labels[i] = class_index[label]
    return ClipSplit(
        clips=clips,
        labels=labels,
        classes=classes,
        groups=[r["group"] or None for r in ok],
        paths=[r["path"] for r in ok],
    )
