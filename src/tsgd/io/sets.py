"""Tensor files: safetensors + meta.json for weights and synthetic video sets.

Nothing here unpickles: safetensors stores raw tensors; meta.json is plain JSON.
A file is used only after its sha256 matches the one its meta.json records.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from tsgd import __version__
from tsgd.io.atomic import read_json, sha256_file, write_json, write_with

META_NAME = "meta.json"


def meta_path(tensor_path: str | Path) -> Path:
    """meta.json lives next to its tensor file (one tensor file per folder)."""
    return Path(tensor_path).with_name(META_NAME)


def save_tensors(
    path: str | Path, tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]
) -> dict[str, Any]:
    """Save ``tensors`` to ``path`` (safetensors) and ``meta`` (+ sha256, code version) next to it.

    The tensor file is written first, the meta.json last, both atomically: a folder with a
    meta.json always holds a complete tensor file. Refuses to write a second tensor file
    into a folder whose meta.json describes another one (it would orphan that file).
    """
    mp = meta_path(path)
    if mp.is_file():
        other = read_json(mp).get("file")
        if other not in (None, Path(path).name) and (mp.parent / other).is_file():
            raise ValueError(
                f"{mp.parent} already holds {other}; one tensor file per folder "
                f"(save {Path(path).name} in a folder of its own)"
            )
    cpu = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    write_with(path, lambda tmp: save_file(cpu, str(tmp)))
    full = dict(meta)
    full["sha256"] = sha256_file(path)
    full["file"] = Path(path).name
    full["code_version"] = __version__
    write_json(meta_path(path), full)
    return full


def load_tensors(
    path: str | Path, expect: Mapping[str, Any] | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load a safetensors file after checking its sha256 and ``expect`` against meta.json.

    Raises ``ValueError`` saying what differs (checksum, class list, frames, size, ...).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"missing tensor file: {p}")
    meta = read_json(meta_path(p))
    if meta.get("file") not in (None, p.name):
        raise ValueError(f"{meta_path(p)} describes {meta['file']}, not {p.name}")
    digest = sha256_file(p)
    if meta.get("sha256") != digest:
        raise ValueError(
            f"{p}: sha256 {digest[:12]}... does not match meta.json ({str(meta.get('sha256'))[:12]}...);"
            " the file is corrupt or was replaced"
        )
    diffs = [
        f"{k}: file has {meta.get(k)!r}, expected {v!r}"
        for k, v in (expect or {}).items()
        if meta.get(k) != v
    ]
    if diffs:
        raise ValueError(f"{p} was made for different data:\n  " + "\n  ".join(diffs))
    return load_file(str(p)), meta
