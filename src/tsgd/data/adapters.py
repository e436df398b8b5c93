"""Dataset adapters: list the videos of a dataset and their train/val/test splits.

:func:`load_dataset` dispatches on the dataset source (see :data:`DATASET_SOURCES`):

- ``folder``: a manifest CSV (default ``clips.csv``) with at least ``path,label`` and
  optionally ``group`` and ``split`` (paths relative to the dataset root), or, without a
  manifest, ``root/<class>/*.{mp4,avi,webm,mkv,mov}`` with the group parsed from UCF-style
  names (``v_Class_g08_c01.avi`` -> ``g08``). The class order comes from ``root/classes.txt``
  (one name per line) when present, else from the sorted labels;
- ``ucf101`` / ``miniucf`` / ``hmdb51`` / ``kinetics`` / ``ssv2``: the official layouts and
  annotation files of these datasets (see :func:`load_dataset`).

Every adapter returns the entries of the official lists as they are: a listed video that is
missing on disk is still a record (the preprocess step reports it as skipped).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

__all__ = [
    "DATASET_SOURCES",
    "DEFAULT_MANIFEST",
    "MINIUCF_CLASSES",
    "VIDEO_EXTENSIONS",
    "VideoRecord",
    "assign_splits",
    "empty_class_folders",
    "folder_dataset",
    "load_dataset",
    "parse_group",
    "read_classes_txt",
]

log = logging.getLogger(__name__)

DEFAULT_MANIFEST = "clips.csv"
VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".avi", ".webm", ".mkv", ".mov")
DATASET_SOURCES: tuple[str, ...] = ("folder", "ucf101", "miniucf", "hmdb51", "kinetics", "ssv2")
MINIUCF_CLASSES: tuple[str, ...] = (
    "ApplyEyeMakeup",
    "BalanceBeam",
    "BandMarching",
    "BaseballPitch",
    "Basketball",
    "BasketballDunk",
    "Biking",
    "Billiards",
    "BlowingCandles",
    "Bowling",
    "BreastStroke",
    "CleanAndJerk",
    "CliffDiving",
    "CricketShot",
    "Diving",
    "FloorGymnastics",
    "FrisbeeCatch",
    "GolfSwing",
    "HammerThrow",
    "HighJump",
    "HorseRace",
    "HorseRiding",
    "HulaHoop",
    "IceDancing",
    "JumpingJack",
    "Knitting",
    "MilitaryParade",
    "Mixing",
    "ParallelBars",
    "PlayingPiano",
    "PlayingViolin",
    "PoleVault",
    "PommelHorse",
    "Punch",
    "Rafting",
    "Rowing",
    "SkateBoarding",
    "Skiing",
    "Skijet",
    "SkyDiving",
    "SoccerPenalty",
    "StillRings",
    "SumoWrestling",
    "Surfing",
    "Swing",
    "TennisSwing",
    "TrampolineJumping",
    "UnevenBars",
    "VolleyballSpiking",
    "WritingOnBoard",
)
"""The 50 UCF101 classes of MiniUCF, sorted (label index = position)."""

_GROUP_RE = re.compile(r"_(g\d+)_", re.IGNORECASE)


@dataclass(frozen=True)
class VideoRecord:
    """One source video. ``path`` is relative to the dataset root (POSIX separators)."""

    path: str
    label: str
    group: str | None = None
    split: str | None = None


def parse_group(name: str) -> str | None:
    """Group of a UCF-style file name (``v_Archery_g08_c01.avi`` -> ``"g08"``), else None."""
    m = _GROUP_RE.search(Path(name).name)
    return m.group(1).lower() if m else None


def read_classes_txt(path: str | Path) -> list[str]:
    """Class names, one per non-blank line, in file order; duplicates raise ValueError."""
    path = Path(path)
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    names = [n for n in names if n]
    if not names:
        raise ValueError(f"{path} lists no classes")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"{path} lists classes more than once: {dup}")
    return names


def _none_if_blank(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _read_manifest(root: Path, manifest_path: Path) -> list[VideoRecord]:
    with manifest_path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields = [f.strip() for f in (reader.fieldnames or [])]
        missing = [c for c in ("path", "label") if c not in fields]
        if missing:
            raise ValueError(f"manifest {manifest_path} lacks column(s) {missing}; has {fields}")
        records = []
        for line_no, raw in enumerate(reader, start=2):
            row = {(k or "").strip(): v for k, v in raw.items()}
            path = _none_if_blank(row.get("path"))
            label = _none_if_blank(row.get("label"))
            if path is None or label is None:
                raise ValueError(f"manifest {manifest_path} line {line_no}: empty path or label")
            records.append(
                VideoRecord(
                    path=Path(path).as_posix(),
                    label=label,
                    group=_none_if_blank(row.get("group")),
                    split=_none_if_blank(row.get("split")),
                )
            )
    if not records:
        raise ValueError(f"manifest {manifest_path} lists no videos")
    return records


def _scan(root: Path) -> list[VideoRecord]:
    records = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if class_dir.name.startswith("."):
            continue
        videos = sorted(
            p
            for p in class_dir.iterdir()
            if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS and not p.name.startswith(".")
        )
        if not videos:
            continue  # not a class folder, or an empty class (reported by preprocess)
        for v in videos:
            records.append(
                VideoRecord(
                    path=v.relative_to(root).as_posix(),
                    label=class_dir.name,
                    group=parse_group(v.name),
                )
            )
    if not records:
        raise ValueError(
            f"no videos found under {root}/<class>/*{{{','.join(VIDEO_EXTENSIONS)}}} "
            f"and no manifest"
        )
    return records


def folder_dataset(
    root: str | Path, manifest: str | None = DEFAULT_MANIFEST
) -> tuple[list[str], list[VideoRecord]]:
    """List the classes and videos of a dataset folder.

    Args:
        root: dataset root folder.
        manifest: manifest file name (relative to ``root``, or an absolute path). If None, or
            if it is the default ``clips.csv`` and absent, the folder is scanned. A manifest
            named explicitly (not the default) that does not exist raises FileNotFoundError.

    Returns:
        ``(classes, records)``: class names in index order, and the records in manifest /
        sorted scan order. Records may name files that do not exist (preprocess skips them).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset root not found (or not a folder): {root}")

    manifest_path: Path | None = None
    if manifest is not None:
        candidate = Path(manifest) if Path(manifest).is_absolute() else root / manifest
        if candidate.is_file():
            manifest_path = candidate
        elif manifest != DEFAULT_MANIFEST:
            raise FileNotFoundError(f"manifest not found: {candidate}")

    classes_txt = root / "classes.txt"
    classes = read_classes_txt(classes_txt) if classes_txt.is_file() else None

    if manifest_path is not None:
        records = _read_manifest(root, manifest_path)
        source = str(manifest_path)
    else:
        records = _scan(root)
        source = f"folders of {root}"

    if classes is None:
        classes = sorted({r.label for r in records})
    else:
        known = set(classes)
        for r in records:
            if r.label not in known:
                raise ValueError(
                    f"label {r.label!r} of {r.path} (from {source}) is not in {classes_txt}"
                )
    return classes, records


def assign_splits(
    records: Sequence[VideoRecord],
    *,
    test_groups: Sequence[str] | None = None,
    val_groups: Sequence[str] | None = None,
) -> list[VideoRecord]:
    """Return the records with ``split`` set, splitting by group.

    - ``test_groups`` given: a record goes to ``test`` when its group is listed and to
      ``train`` otherwise (a split already in the records is replaced);
    - otherwise each record must already carry a split (a manifest's ``split`` column, or an
      official split list);
    - then ``val_groups`` moves the train records of those groups to ``val``; naming a group
      that is not in the train split is an error.

    Records must have a group when groups are given, and every listed group must occur. One
    group of one class never spans two splits.
    """
    records = list(records)
    if isinstance(test_groups, str) or isinstance(val_groups, str):
        raise ValueError("test_groups / val_groups must be sequences of group names")
    test = {str(g) for g in (test_groups or ())}
    val = {str(g) for g in (val_groups or ())}
    both = sorted(test & val)
    if both:
        raise ValueError(f"groups listed as both test and val: {both}")
    if test or val:
        for r in records:
            if r.group is None:
                raise ValueError(f"{r.path} has no group; cannot split by group")
        present = {r.group for r in records}
        absent = sorted((test | val) - present)
        if absent:
            raise ValueError(f"split groups not found in the dataset: {absent}")
    if test:
        out = [replace(r, split="test" if r.group in test else "train") for r in records]
    else:
        for r in records:
            if r.split is None:
                raise ValueError(
                    f"{r.path} has no split; give test_groups (and optionally val_groups) "
                    "to split by group"
                )
        out = records
    if val:
        not_train = sorted({r.group for r in out if r.group in val and r.split != "train"})
        if not_train:
            raise ValueError(f"val_groups must be train groups; not in train: {not_train}")
        out = [replace(r, split="val") if r.group in val else r for r in out]

    seen: dict[tuple[str, str], str] = {}
    for r in out:
        if r.group is None:
            continue
        key = (r.label, r.group)
        prev = seen.setdefault(key, r.split)  # type: ignore[arg-type]
        if prev != r.split:
            raise ValueError(
                f"group {r.group!r} of class {r.label!r} is in two splits "
                f"({prev!r} and {r.split!r}); splits must be by group"
            )
    return out


# --------------------------------------------------------------------------------------------
# Official layouts of public datasets
# --------------------------------------------------------------------------------------------

_UCF_VIDEO_DIRS = ("UCF-101", "")
_UCF_SPLITS_DIR = "ucfTrainTestlist"
_HMDB_VIDEO_DIRS = ("", "videos")
_HMDB_SPLITS_DIR = "testTrainMulti_7030_splits"
_HMDB_SPLIT_FILE_RE = re.compile(r"^(?P<label>.+)_test_split(?P<split>[1-3])\.txt$")
_HMDB_SPLIT_IDS = {"1": "train", "2": "test"}  # id 0: not used in this split
_HMDB_FIELDS_AFTER_TITLE = 7  # class is replaced by these when it is not found in the name
_KINETICS_COLUMNS = ("label", "youtube_id", "time_start", "time_end", "split")
_KINETICS_SPLITS = {"train": "train", "val": "test", "validate": "test"}
_KINETICS_VIDEO_DIRS = {"train": "train", "val": "val", "validate": "val"}
_SSV2_VIDEO_DIRS = ("20bn-something-something-v2", "", "videos")
_SSV2_FILES = {
    "class list": ("labels.json", "something-something-v2-labels.json"),
    "train list": ("something-something-v2-train.json", "train.json"),
    "validation list": ("something-something-v2-validation.json", "validation.json"),
}
# Folders (relative to the dataset root) under which the adapters look for class folders.
_CLASS_FOLDER_PARENTS = ("", "UCF-101", "videos", "train", "val")


def load_dataset(
    source: str,
    root: str | Path,
    *,
    split: int = 1,
    manifest: str | None = DEFAULT_MANIFEST,
    annotations: str | Path | None = None,
) -> tuple[list[str], list[VideoRecord]]:
    """List the classes and videos of a dataset stored in its official layout.

    Layouts (``root`` is the dataset root; the first existing video folder is used, else the
    official one):

    - ``folder``: see :func:`folder_dataset` (``manifest`` is only used here).
    - ``ucf101``: videos ``root/UCF-101/<Class>/v_<Class>_gXX_cYY.avi`` (or ``root/<Class>/``);
      ``ucfTrainTestlist/{classInd,trainlist0N,testlist0N}.txt``. Splits ``train``/``test``;
      group ``gXX``.
    - ``miniucf``: ``ucf101`` restricted to :data:`MINIUCF_CLASSES` (labels 0..49 in that
      order).
    - ``hmdb51``: videos ``root/<class>/<video>.avi`` (or ``root/videos/<class>/``);
      ``testTrainMulti_7030_splits/<class>_test_splitN.txt`` with ids 1 = train, 2 = test and
      0 = unused (dropped). Classes: those with a split-N file, sorted. Group: the source-video
      title (the name before ``_<class>_``).
    - ``kinetics``: ``annotations/{train,val}.csv`` (columns ``label, youtube_id, time_start,
      time_end, split``; others ignored), or one CSV given as ``annotations``; videos
      ``root/{train,val}/<label>/<youtube_id>_<start:06d>_<end:06d>.mp4`` (label folders may
      also sit directly under ``root``, or use ``_`` for spaces). CSV split ``train`` ->
      ``train``, ``val``/``validate`` -> ``test``; ``test`` rows are dropped (the official
      test set is not used; its labels are often withheld). Classes: sorted train labels.
      Group: the YouTube id.
    - ``ssv2``: videos ``root/20bn-something-something-v2/<id>.webm`` (or ``root/`` or
      ``root/videos/``); ``labels/`` (or ``root``) holding ``labels.json`` and
      ``something-something-v2-{train,validation}.json`` (the short names ``train.json`` /
      ``validation.json`` / ``something-something-v2-labels.json`` are accepted too).
      Class: the template without brackets, indexed by ``labels.json``. Splits
      ``train``/``test`` (validation); no group.

    Args:
        source: one of :data:`DATASET_SOURCES`.
        root: dataset root folder.
        split: official split number 1..3 (``ucf101``, ``miniucf``, ``hmdb51``; ignored by
            the others).
        manifest: manifest of the ``folder`` source (ignored by the others).
        annotations: folder holding the split / label files when they are not in their
            default place (absolute, or relative to ``root``); for ``kinetics`` it may also be
            a single ``.csv`` file.

    Returns:
        ``(classes, records)``: class names in label-index order, and one record per listed
        video (path relative to ``root``, POSIX; label; group; split), in list order.
        Listed videos missing on disk are kept.

    Raises:
        ValueError: unknown source, bad ``split``, malformed or inconsistent annotations
            (the message names the file and line or entry).
        FileNotFoundError: missing ``root`` or annotation file (the message names the path).
    """
    if source not in DATASET_SOURCES:
        raise ValueError(f"unknown dataset source {source!r}; expected one of {DATASET_SOURCES}")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset root not found (or not a folder): {root}")
    if source == "folder":
        return folder_dataset(root, manifest)

    ann: Path | None = None
    if annotations is not None:
        ann = Path(annotations) if Path(annotations).is_absolute() else root / annotations
    if source in ("ucf101", "miniucf", "hmdb51") and split not in (1, 2, 3):
        raise ValueError(f"{source} split must be 1, 2 or 3, got {split!r}")
    if source == "ucf101":
        return _ucf101(root, split, ann)
    if source == "miniucf":
        return _miniucf(root, split, ann)
    if source == "hmdb51":
        return _hmdb51(root, split, ann)
    if source == "kinetics":
        return _kinetics(root, ann)
    return _ssv2(root, ann)


def empty_class_folders(root: str | Path, classes: Sequence[str]) -> list[str]:
    """Classes whose folder exists in the dataset but holds no video file.

    A class folder is looked for under ``root`` and under the video folders of the official
    layouts (``UCF-101``, ``videos``, ``train``, ``val``), by its name and, for labels with
    spaces, by the name with ``_`` for spaces. A class is reported when at least one such
    folder exists and none of them holds a video (a file with a :data:`VIDEO_EXTENSIONS`
    suffix, not hidden). Classes without any folder are not reported. Logs a warning when
    the list is not empty.

    Args:
        root: dataset root folder.
        classes: class names to check, e.g. the classes of :func:`load_dataset`, or the
            sub-folder names of a ``folder`` dataset (whose empty folders are not classes).

    Returns:
        The empty classes, in the order of ``classes``.
    """
    root = Path(root)
    empty = []
    for label in classes:
        folders = [
            root / parent / name
            for parent in _CLASS_FOLDER_PARENTS
            for name in _folder_names(label)
            if (root / parent / name).is_dir()
        ]
        if folders and not any(_holds_video(f) for f in folders):
            empty.append(label)
    if empty:
        log.warning("class folder(s) under %s with no video: %s", root, empty)
    return empty


def _holds_video(folder: Path) -> bool:
    return any(
        p.suffix.lower() in VIDEO_EXTENSIONS and not p.name.startswith(".") and p.is_file()
        for p in folder.iterdir()
    )


def _folder_names(label: str) -> tuple[str, ...]:
    """Folder names a class may have on disk: as is, and with ``_`` for spaces."""
    alt = label.replace(" ", "_")
    return (label,) if alt == label else (label, alt)


def _pick_video_dir(root: Path, candidates: Sequence[str], holds: Callable[[Path], bool]) -> str:
    """Video folder of a layout, relative to ``root``.

    The first of ``candidates`` that exists and ``holds`` videos, else the first one (the
    official layout), so that missing videos are reported at their official path.
    """
    for rel in candidates:
        folder = root / rel
        if folder.is_dir() and holds(folder):
            return rel
    return candidates[0]


def _holds_class_folder(classes: Sequence[str]) -> Callable[[Path], bool]:
    def holds(folder: Path) -> bool:
        return any((folder / n).is_dir() for c in classes for n in _folder_names(c))

    return holds


def _join(*parts: str) -> str:
    return "/".join(p for p in parts if p)


def _require_file(path: Path, what: str, expected: str) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path} (expected {expected})")
    return path


def _lines(path: Path) -> list[tuple[int, str]]:
    """``(1-based line number, stripped text)`` of the non-blank lines (any line ending)."""
    text = path.read_text(encoding="utf-8-sig")
    return [(i, line.strip()) for i, line in enumerate(text.splitlines(), 1) if line.strip()]


def _unique(entries: Sequence[tuple[VideoRecord, str]]) -> list[VideoRecord]:
    """The records of ``(record, where)`` entries; a path listed twice raises ValueError."""
    first: dict[str, str] = {}
    for record, where in entries:
        prev = first.setdefault(record.path, where)
        if prev != where:
            raise ValueError(f"{where}: {record.path} is already listed at {prev}")
    return [record for record, _ in entries]


# UCF101 -------------------------------------------------------------------------------------


def _read_class_ind(path: Path) -> list[str]:
    """Class names of a UCF101 ``classInd.txt`` (``"<1-based index> <Class>"`` lines)."""
    by_index: dict[int, str] = {}
    for line_no, line in _lines(path):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdecimal():
            raise ValueError(f"{path} line {line_no}: expected '<index> <Class>', got {line!r}")
        index, name = int(parts[0]), parts[1]
        if index in by_index or name in by_index.values():
            raise ValueError(f"{path} line {line_no}: index or class listed twice: {line!r}")
        by_index[index] = name
    if sorted(by_index) != list(range(1, len(by_index) + 1)):
        raise ValueError(
            f"{path}: class indices must be 1..{len(by_index)}, got {sorted(by_index)}"
        )
    return [by_index[i] for i in range(1, len(by_index) + 1)]


def _ucf_record(
    line: str, where: str, classes: list[str], video_dir: str, split: str, with_label: bool
) -> VideoRecord:
    parts = line.split()
    expected = "'<Class>/<video>.avi <label index>'" if with_label else "'<Class>/<video>.avi'"
    if len(parts) != (2 if with_label else 1):
        raise ValueError(f"{where}: expected {expected}, got {line!r}")
    label, sep, name = parts[0].partition("/")
    if not sep or not label or not name or "/" in name:
        raise ValueError(f"{where}: expected {expected}, got {line!r}")
    if label not in classes:
        raise ValueError(f"{where}: class {label!r} is not in classInd.txt")
    if with_label:
        if not parts[1].isdecimal() or not 1 <= int(parts[1]) <= len(classes):
            raise ValueError(f"{where}: label index {parts[1]!r} is not in 1..{len(classes)}")
        indexed = classes[int(parts[1]) - 1]
        if indexed != label:
            raise ValueError(
                f"{where}: label index {parts[1]} is {indexed!r} but the video is in {label!r}"
            )
    return VideoRecord(_join(video_dir, label, name), label, parse_group(name), split)


def _ucf101(root: Path, split: int, ann: Path | None) -> tuple[list[str], list[VideoRecord]]:
    ann_dir = ann if ann is not None else root / _UCF_SPLITS_DIR
    class_ind = _require_file(
        ann_dir / "classInd.txt", "UCF101 class index", f"{_UCF_SPLITS_DIR}/classInd.txt"
    )
    classes = _read_class_ind(class_ind)
    video_dir = _pick_video_dir(root, _UCF_VIDEO_DIRS, _holds_class_folder(classes))
    entries = []
    for kind in ("train", "test"):
        name = f"{kind}list{split:02d}.txt"
        path = _require_file(ann_dir / name, "UCF101 split list", f"{_UCF_SPLITS_DIR}/{name}")
        for line_no, line in _lines(path):
            where = f"{path} line {line_no}"
            record = _ucf_record(line, where, classes, video_dir, kind, kind == "train")
            entries.append((record, where))
    return classes, _unique(entries)


def _miniucf(root: Path, split: int, ann: Path | None) -> tuple[list[str], list[VideoRecord]]:
    classes, records = _ucf101(root, split, ann)
    missing = [c for c in MINIUCF_CLASSES if c not in classes]
    if missing:
        raise ValueError(f"MiniUCF class(es) missing from UCF101 classInd.txt: {missing}")
    keep = set(MINIUCF_CLASSES)
    return list(MINIUCF_CLASSES), [r for r in records if r.label in keep]


# HMDB51 -------------------------------------------------------------------------------------


def _hmdb_title(name: str, label: str) -> str:
    """Source-video title of an HMDB51 file name (the part before ``_<class>_``).

    ``April_09_brush_hair_u_nm_np1_ba_goo_0.avi`` -> ``April_09``. When the class does not
    occur in the name, the last 7 ``_`` fields (class replaced by the annotation fields) are
    removed; when there are not more than 7, the whole stem is the title.
    """
    stem = Path(name).stem
    hits = list(re.finditer(re.escape(f"_{label}_"), stem, re.IGNORECASE))
    if hits and hits[-1].start() > 0:
        return stem[: hits[-1].start()]
    fields = stem.split("_")
    if len(fields) > _HMDB_FIELDS_AFTER_TITLE:
        return "_".join(fields[:-_HMDB_FIELDS_AFTER_TITLE])
    return stem


def _hmdb51(root: Path, split: int, ann: Path | None) -> tuple[list[str], list[VideoRecord]]:
    ann_dir = ann if ann is not None else root / _HMDB_SPLITS_DIR
    expected = f"{_HMDB_SPLITS_DIR}/<class>_test_split{split}.txt"
    if not ann_dir.is_dir():
        raise FileNotFoundError(f"HMDB51 split folder not found: {ann_dir} (expected {expected})")
    files: dict[str, Path] = {}
    for path in ann_dir.iterdir():
        m = _HMDB_SPLIT_FILE_RE.match(path.name)
        if m and int(m["split"]) == split and path.is_file():
            files[m["label"]] = path
    if not files:
        raise FileNotFoundError(
            f"HMDB51 split-{split} lists not found: {ann_dir}/<class>_test_split{split}.txt "
            f"(expected {expected})"
        )
    classes = sorted(files)
    video_dir = _pick_video_dir(root, _HMDB_VIDEO_DIRS, _holds_class_folder(classes))
    entries = []
    unused = 0
    for label in classes:
        path = files[label]
        for line_no, line in _lines(path):
            where = f"{path} line {line_no}"
            parts = line.rsplit(maxsplit=1)
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise ValueError(f"{where}: expected '<video>.avi <0|1|2>', got {line!r}")
            name, split_id = parts
            if split_id == "0":
                unused += 1
                continue
            record = VideoRecord(
                _join(video_dir, label, name),
                label,
                _hmdb_title(name, label),
                _HMDB_SPLIT_IDS[split_id],
            )
            entries.append((record, where))
    if unused:
        log.info("HMDB51 split %d: %d listed videos unused (id 0) left out", split, unused)
    return classes, _unique(entries)


# Kinetics -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _KineticsRow:
    label: str
    youtube_id: str
    start: int  # seconds
    end: int  # seconds
    split: str  # the CSV's split: train / val / validate
    where: str


def _kinetics_time(value: str, where: str, column: str) -> int:
    """Whole seconds of a Kinetics time (``"14"`` or ``"14.0"``)."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0 or not seconds.is_integer():
        raise ValueError(f"{where}: {column} must be whole seconds >= 0, got {value!r}")
    return int(seconds)


def _read_kinetics_csv(path: Path) -> list[_KineticsRow]:
    """The train / val rows of a Kinetics CSV; ``test`` rows are left out (logged)."""
    rows = []
    dropped = 0
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        fields = [(f or "").strip() for f in (reader.fieldnames or [])]
        missing = [c for c in _KINETICS_COLUMNS if c not in fields]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}; header is {fields}")
        for raw in reader:
            where = f"{path} line {reader.line_num}"
            row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k is not None}
            if row["split"] == "test":
                dropped += 1
                continue
            if row["split"] not in _KINETICS_SPLITS:
                raise ValueError(
                    f"{where}: split {row['split']!r} is not one of {[*_KINETICS_SPLITS, 'test']}"
                )
            if not row["label"] or not row["youtube_id"]:
                raise ValueError(f"{where}: empty label or youtube_id")
            rows.append(
                _KineticsRow(
                    label=row["label"],
                    youtube_id=row["youtube_id"],
                    start=_kinetics_time(row["time_start"], where, "time_start"),
                    end=_kinetics_time(row["time_end"], where, "time_end"),
                    split=row["split"],
                    where=where,
                )
            )
    if dropped:
        log.info("%s: %d test rows left out (the val set is used as test split)", path, dropped)
    return rows


def _kinetics(root: Path, ann: Path | None) -> tuple[list[str], list[VideoRecord]]:
    header = ",".join(_KINETICS_COLUMNS)
    if ann is not None and ann.suffix.lower() == ".csv":
        csv_files = [_require_file(ann, "Kinetics annotation CSV", f"a CSV with header {header}")]
    else:
        ann_dir = ann if ann is not None else root / "annotations"
        csv_files = [
            _require_file(
                ann_dir / f"{name}.csv",
                f"Kinetics {name} annotations",
                f"annotations/{name}.csv with header {header}",
            )
            for name in ("train", "val")
        ]
    rows = [row for path in csv_files for row in _read_kinetics_csv(path)]
    classes = sorted({r.label for r in rows if r.split == "train"})
    if not classes:
        raise ValueError(f"no train rows in {[str(p) for p in csv_files]}")
    known = set(classes)
    video_dirs: dict[str, str] = {}  # CSV split -> folder relative to root
    label_dirs: dict[tuple[str, str], str] = {}  # (video dir, label) -> label folder name
    entries = []
    for r in rows:
        if r.label not in known:
            raise ValueError(f"{r.where}: label {r.label!r} has no train video")
        if r.split not in video_dirs:
            candidates = (_KINETICS_VIDEO_DIRS[r.split], "")
            video_dirs[r.split] = _pick_video_dir(root, candidates, _holds_class_folder(classes))
        video_dir = video_dirs[r.split]
        key = (video_dir, r.label)
        if key not in label_dirs:
            names = _folder_names(r.label)
            label_dirs[key] = next((n for n in names if (root / video_dir / n).is_dir()), r.label)
        name = f"{r.youtube_id}_{r.start:06d}_{r.end:06d}.mp4"
        record = VideoRecord(
            _join(video_dir, label_dirs[key], name),
            r.label,
            r.youtube_id,
            _KINETICS_SPLITS[r.split],
        )
        entries.append((record, r.where))
    return classes, _unique(entries)


# Something-Something v2 ---------------------------------------------------------------------


def _find_ssv2_file(folders: Sequence[Path], what: str) -> Path:
    names = _SSV2_FILES[what]
    tried = [folder / name for folder in folders for name in names]
    for path in tried:
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"SSv2 {what} not found: {tried[0]} (expected labels/{names[0]}; also tried "
        f"{', '.join(str(p) for p in tried[1:])})"
    )


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} line {e.lineno}: invalid JSON ({e.msg})") from e


def _ssv2_class(template: str) -> str:
    """Class name of an SSv2 template: the template without its brackets.

    ``"Holding [something] next to [something]"`` -> ``"Holding something next to something"``.
    """
    return template.replace("[", "").replace("]", "")


def _read_ssv2_labels(path: Path) -> list[str]:
    """Classes of ``labels.json`` (``{template: "index"}``) in index order."""
    data = _load_json(path)
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{path}: expected a non-empty object {{template: index}}")
    by_index: dict[int, str] = {}
    for template, index in data.items():
        if not str(index).isdecimal():
            raise ValueError(f"{path}: index {index!r} of {template!r} is not an integer")
        name = _ssv2_class(template)
        if int(index) in by_index or name in by_index.values():
            raise ValueError(f"{path}: index or template listed twice: {template!r}: {index!r}")
        by_index[int(index)] = name
    if sorted(by_index) != list(range(len(by_index))):
        raise ValueError(f"{path}: class indices must be 0..{len(by_index) - 1}")
    return [by_index[i] for i in range(len(by_index))]


def _ssv2(root: Path, ann: Path | None) -> tuple[list[str], list[VideoRecord]]:
    folders = [ann] if ann is not None else [root / "labels", root]
    labels_path = _find_ssv2_file(folders, "class list")
    classes = _read_ssv2_labels(labels_path)
    known = set(classes)
    video_dir = _pick_video_dir(
        root, _SSV2_VIDEO_DIRS, lambda d: any(p.suffix.lower() == ".webm" for p in d.iterdir())
    )
    entries = []
    for what, split in (("train list", "train"), ("validation list", "test")):
        path = _find_ssv2_file(folders, what)
        data = _load_json(path)
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a list of {{id, label, template, placeholders}}")
        for i, item in enumerate(data):
            where = f"{path} entry {i}"
            if (
                not isinstance(item, dict)
                or not str(item.get("id", "")).strip()
                or not isinstance(item.get("template"), str)
            ):
                raise ValueError(f"{where}: expected an object with 'id' and 'template'")
            video_id = str(item["id"]).strip()
            label = _ssv2_class(item["template"])
            if label not in known:
                raise ValueError(
                    f"{where} (id {video_id}): template {item['template']!r} is not in "
                    f"{labels_path}"
                )
            record = VideoRecord(_join(video_dir, f"{video_id}.webm"), label, None, split)
            entries.append((record, where))
    return classes, _unique(entries)
