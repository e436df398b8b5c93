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
written last: a cache folder without it is incomplete. While a cache is being built, its
work lives in ``D/.partial/`` (:class:`PartialSplit`), which lets a killed build resume.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tsgd.io.atomic import write_with

__all__ = [
    "MANIFEST_COLUMNS",
    "ClipSplit",
    "PartialSplit",
    "has_split",
    "load_classes",
    "load_split",
    "load_stats",
    "read_manifest",
    "write_manifest",
    "write_slot",
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
    "backend",
)
#: columns a manifest may lack (written by older versions)
OPTIONAL_COLUMNS: tuple[str, ...] = ("backend",)


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


class PartialSplit:
    """One split of a cache under construction: a slot per record, and a journal.

    Files in ``work_dir`` (normally ``<cache>/.partial``):

    - ``{split}.npy``: a standard uint8 .npy of shape ``[n_records, L, H, W, 3]``, created
      sparse; record ``i`` lives in slot ``i`` whatever order records finish in, so workers
      write their clip straight into the file (:func:`write_slot`) and nothing large passes
      through the parent process or stays in memory;
    - ``{split}.jsonl``: one JSON object per finished record (``pos`` plus what the caller
      stores), appended only after that record's slot was written, flushed per line.

    Entries are not kept in memory (that would grow with the number of videos): each one,
    read back from the journal or newly recorded, is passed to ``fold`` for the caller to
    keep what it needs compactly; :attr:`finished` marks the records done.

    A process killed at any moment (SIGKILL included) leaves a journal whose complete lines
    all describe fully written slots; reopening resumes from them (a torn last line is cut
    off). :meth:`finalize` produces the compact ``[n_ok, L, H, W, 3]`` .npy of the ok records.
    """

    def __init__(
        self,
        work_dir: str | os.PathLike[str],
        split: str,
        n_records: int,
        clip_shape: tuple[int, int, int, int],
        fold: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        if n_records < 1:
            raise ValueError(f"n_records must be >= 1, got {n_records}")
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.split = split
        self.n_records = int(n_records)
        self.clip_shape = tuple(int(v) for v in clip_shape)
        self.slot_bytes = int(np.prod(self.clip_shape))
        self.path = self.work_dir / f"{split}.npy"
        self.journal_path = self.work_dir / f"{split}.jsonl"
        self._fold = fold or (lambda entry: None)
        self.finished = np.zeros(self.n_records, dtype=bool)
        self.header_bytes = self._open_array()
        self._read_journal()

    @property
    def n_done(self) -> int:
        """Number of records already finished (ok or not)."""
        return int(self.finished.sum())

    def _open_array(self) -> int:
        shape = (self.n_records, *self.clip_shape)
        size = None
        if self.path.is_file():
            with self.path.open("rb") as fh:
                try:
                    if np.lib.format.read_magic(fh) != (1, 0):
                        raise ValueError("not written by PartialSplit")
                    got_shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
                    header = fh.tell()
                    size = header + self.n_records * self.slot_bytes
                except ValueError:
                    got_shape, dtype, header = None, None, 0
            if got_shape == shape and dtype == np.uint8 and self.path.stat().st_size == size:
                return header
            self.path.unlink()  # not ours, or torn while being created: start over
            self.journal_path.unlink(missing_ok=True)
        tmp = self.path.with_name(self.path.name + ".new")
        with tmp.open("wb") as fh:
            np.lib.format.write_array_header_1_0(
                fh, {"descr": "|u1", "fortran_order": False, "shape": shape}
            )
            header = fh.tell()
            fh.truncate(header + self.n_records * self.slot_bytes)  # sparse
        os.replace(tmp, self.path)
        return header

    def _read_journal(self) -> None:
        if not self.journal_path.is_file():
            self.journal_path.touch()
            return
        with self.journal_path.open("rb+") as fh:
            keep = 0
            for line in fh:
                if not line.endswith(b"\n"):
                    break  # a line without its newline was torn by a kill
                entry = json.loads(line)
                pos = entry.get("pos")
                if not isinstance(pos, int) or not 0 <= pos < self.n_records:
                    raise ValueError(f"{self.journal_path}: bad record position in {line[:80]!r}")
                if not self.finished[pos]:
                    self.finished[pos] = True
                    self._fold(entry)
                keep += len(line)
            fh.truncate(keep)

    def offset(self, pos: int) -> int:
        """Byte offset of record ``pos``'s slot in :attr:`path`."""
        return self.header_bytes + pos * self.slot_bytes

    def record(self, entry: dict[str, Any], fh: Any) -> None:
        """Append ``entry`` (must hold ``pos``; its slot already written) to the journal
        opened as ``fh`` (text, append mode), flushed so that a kill cannot lose it."""
        fh.write(json.dumps(entry, sort_keys=True) + "\n")
        fh.flush()
        self.finished[int(entry["pos"])] = True
        self._fold(entry)

    def finalize(self, dest: str | os.PathLike[str], ok: Sequence[int]) -> None:
        """Write the ok records' clips, in the order given, as ``dest`` (atomically).

        When every record is ok the part file is hard-linked into place (no copy; the part
        stays valid for a rerun until the caller removes the work folder); otherwise the ok
        slots are copied in chunks (bounded memory).
        """
        dest = Path(dest)
        if list(ok) == list(range(self.n_records)):
            tmp = dest.with_name(f".{dest.name}.link")
            tmp.unlink(missing_ok=True)
            try:
                os.link(self.path, tmp)
            except OSError:  # no hard links on this filesystem
                shutil.copyfile(self.path, tmp)
            os.replace(tmp, dest)
            return
        if not ok:
            raise ValueError(f"split {self.split!r} has no ok record to write")

        def copy(tmp: Path) -> None:
            with tmp.open("wb") as out, self.path.open("rb") as src:
                shape = (len(ok), *self.clip_shape)
                np.lib.format.write_array_header_1_0(
                    out, {"descr": "|u1", "fortran_order": False, "shape": shape}
                )
                for pos in ok:
                    src.seek(self.offset(pos))
                    out.write(src.read(self.slot_bytes))

        write_with(dest, copy)


def write_slot(path: str | os.PathLike[str], offset: int, clip: np.ndarray) -> None:
    """Write a uint8 clip's bytes at ``offset`` of ``path`` (a :class:`PartialSplit` file).

    Safe to call from several processes at once for different slots.
    """
    data = np.ascontiguousarray(clip, dtype=np.uint8)
    fd = os.open(path, os.O_WRONLY)
    try:
        view = memoryview(data).cast("B")
        while view:
            n = os.pwrite(fd, view, offset)
            view, offset = view[n:], offset + n
    finally:
        os.close(fd)


def write_manifest(path: str | os.PathLike[str], rows: Iterable[Mapping[str, Any]]) -> None:
    """Write a split manifest (columns :data:`MANIFEST_COLUMNS`; None -> empty) atomically.

    ``rows`` is consumed once, streaming (it may be a generator).
    """

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
            writer.writeheader()
            for row in rows:
                extra = set(row) - set(MANIFEST_COLUMNS)
                if extra:
                    raise ValueError(f"unknown manifest column(s) {sorted(extra)} for {path}")
                writer.writerow(
                    {k: ("" if row.get(k) is None else row.get(k)) for k in MANIFEST_COLUMNS}
                )

    write_with(path, write)


# ---------------------------------------------------------------------------------- reading


def _require(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"clip cache file not found: {path}")
    return path


def has_split(cache_dir: str | os.PathLike[str], split: str) -> bool:
    """Whether the cache holds ``split`` (its manifest and clip array), e.g. ``val`` only
    when the dataset was preprocessed with validation groups."""
    cache_dir = Path(cache_dir)
    return (cache_dir / f"{split}.csv").is_file() and (cache_dir / f"{split}.npy").is_file()


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
        fields = reader.fieldnames or []
        missing = [c for c in MANIFEST_COLUMNS if c not in fields and c not in OPTIONAL_COLUMNS]
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
