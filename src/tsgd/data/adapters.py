"""Dataset adapters: list the videos of a dataset folder and assign train/val/test splits.

Two layouts are understood:

- a manifest CSV (default ``clips.csv``) with at least ``path,label`` and optionally
  ``group`` and ``split``; paths are relative to the dataset root;
- no manifest: ``root/<class>/*.{mp4,avi,webm,mkv,mov}``; the group is parsed from
  UCF-style names (``v_Class_g08_c01.avi`` -> ``g08``).

The class order comes from ``root/classes.txt`` (one name per line) when present, else from
the sorted labels. Splits are always made by group, never by clip.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = [
    "DEFAULT_MANIFEST",
    "VIDEO_EXTENSIONS",
    "VideoRecord",
    "assign_splits",
    "folder_dataset",
    "parse_group",
    "read_classes_txt",
]

DEFAULT_MANIFEST = "clips.csv"
VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".avi", ".webm", ".mkv", ".mov")
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

    If ``test_groups`` or ``val_groups`` is given, a record goes to ``test`` / ``val`` when its
    group is listed and to ``train`` otherwise (any split already in the records is replaced);
    every record must then have a group, and every listed group must occur. Otherwise each
    record must already carry a split. In both cases one group of one class never spans
    two splits.
    """
    records = list(records)
    if test_groups is not None or val_groups is not None:
        if isinstance(test_groups, str) or isinstance(val_groups, str):
            raise ValueError("test_groups / val_groups must be sequences of group names")
        test = {str(g) for g in (test_groups or ())}
        val = {str(g) for g in (val_groups or ())}
        both = sorted(test & val)
        if both:
            raise ValueError(f"groups listed as both test and val: {both}")
        for r in records:
            if r.group is None:
                raise ValueError(f"{r.path} has no group; cannot split by group")
        present = {r.group for r in records}
        absent = sorted((test | val) - present)
        if absent:
            raise ValueError(f"split groups not found in the dataset: {absent}")
        out = []
        for r in records:
            split = "test" if r.group in test else "val" if r.group in val else "train"
            out.append(replace(r, split=split))
    else:
        for r in records:
            if r.split is None:
                raise ValueError(
                    f"{r.path} has no split; give test_groups (and optionally val_groups) "
                    "to split by group"
                )
        out = records

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
