"""Use a published teacher instead of training one: fetch, verify, check it fits the data.

A teacher checkpoint is two files side by side: ``<name>.safetensors`` (weights) and
``meta.json`` (architecture, class list, clip size, normalisation, and the weights'
sha256). ``teacher.pretrained`` in params names the weights by URL (``http(s)://``,
``file://``) or local path, and ``teacher.pretrained_sha256`` their expected sha256; the
``meta.json`` is fetched from the same folder. Nothing is kept unless the weights' hash is
the expected one, the meta names that same hash, and the teacher was made for this
dataset's classes and clip size. Nothing is unpickled: weights are safetensors.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tsgd.io.atomic import atomic_path, read_json, write_json
from tsgd.io.sets import META_NAME

__all__ = ["fetch_file", "fetch_teacher", "score_teacher", "use_pretrained_teacher"]

_CHUNK = 1 << 20


def _is_url(source: str) -> bool:
    return urllib.parse.urlparse(source).scheme in ("http", "https", "file")


def _sibling(source: str, name: str) -> str:
    """``name`` in the same folder as ``source`` (URL or path)."""
    if _is_url(source):
        return urllib.parse.urljoin(source, name)
    return str(Path(source).expanduser().parent / name)


def fetch_file(
    source: str, dest: str | os.PathLike[str], *, sha256: str | None = None, timeout: float = 60
) -> str:
    """Copy ``source`` (URL or path) to ``dest`` atomically; return its sha256 (hex).

    With ``sha256`` given, a file with another hash is refused (ValueError) and nothing is
    left at ``dest``. Progress (bytes, rate) goes to stderr for downloads.
    """
    from tqdm import tqdm  # lazy

    digest = hashlib.sha256()
    with atomic_path(dest) as tmp:
        if _is_url(source):
            try:
                response = urllib.request.urlopen(source, timeout=timeout)  # noqa: S310
            except OSError as err:
                raise FileNotFoundError(f"cannot fetch {source}: {err}") from err
            size = response.headers.get("Content-Length")
            bar = tqdm(
                total=int(size) if size else None,
                unit="B",
                unit_scale=True,
                desc=f"fetch {Path(urllib.parse.urlparse(source).path).name}",
                file=sys.stderr,
                mininterval=1.0,
            )
            with response, tmp.open("wb") as out, bar:
                while block := response.read(_CHUNK):
                    digest.update(block)
                    out.write(block)
                    bar.update(len(block))
        else:
            path = Path(source).expanduser()
            if not path.is_file():
                raise FileNotFoundError(f"teacher checkpoint not found: {path}")
            with path.open("rb") as src, tmp.open("wb") as out:
                while block := src.read(_CHUNK):
                    digest.update(block)
                    out.write(block)
        got = digest.hexdigest()
        if sha256 is not None and got != sha256.lower():
            raise ValueError(
                f"checksum mismatch for {source}: expected sha256 {sha256.lower()}, got {got}; "
                f"nothing was written to {dest}"
            )
    return got


def fetch_teacher(
    source: str,
    sha256: str,
    out_path: str | os.PathLike[str],
    *,
    expect: Mapping[str, Any],
) -> dict[str, Any]:
    """Fetch a teacher's weights and meta.json into ``out_path`` (and its folder).

    Args:
        source: URL or path of the ``.safetensors`` weights.
        sha256: their expected sha256 (64 hex digits).
        out_path: where the weights go; ``meta.json`` is written beside them.
        expect: meta values the teacher must have (``classes``, ``frames``, ``crop``): a
            teacher made for other data is refused, naming what differs.

    Returns:
        The teacher's meta (with ``source`` added).
    """
    if not isinstance(sha256, str) or len(sha256) != 64:
        raise ValueError(f"teacher.pretrained_sha256 must be 64 hex digits, got {sha256!r}")
    out = Path(out_path)
    meta_dest = out.parent / META_NAME
    staging = out.parent / f".fetch-{out.name}"
    staging.mkdir(parents=True, exist_ok=True)
    try:
        fetch_file(source, staging / out.name, sha256=sha256)
        fetch_file(_sibling(source, META_NAME), staging / META_NAME)
        meta = read_json(staging / META_NAME)
        if not isinstance(meta, dict) or meta.get("sha256") != sha256.lower():
            raise ValueError(
                f"{_sibling(source, META_NAME)} does not describe these weights "
                f"(its sha256 is {meta.get('sha256') if isinstance(meta, dict) else None!r})"
            )
        if meta.get("role") != "teacher":
            raise ValueError(f"{source} is not a teacher checkpoint (role {meta.get('role')!r})")
        diffs = [
            f"{k}: teacher has {meta.get(k)!r}, this dataset needs {v!r}"
            for k, v in expect.items()
            if meta.get(k) != v
        ]
        if diffs:
            raise ValueError(f"{source} was made for different data:\n  " + "\n  ".join(diffs))
        os.replace(staging / out.name, out)
        meta["file"] = out.name
        meta["source"] = source
        write_json(meta_dest, meta)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return meta


def score_teacher(
    weights: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str],
    *,
    frames: int,
    crop: int,
    test_passes: int = 3,
    seed: int = 0,
    device: str = "auto",
) -> dict[str, Any]:
    """Top-1 of a saved teacher on the cache's test split and, when the cache has one, its
    val split (``test_top1``, ``val_top1``, per pass, ``per_class`` on test). Each split is
    scored with its own generator seeded ``seed + 1``, so the val score equals the one
    :func:`tsgd.teacher.train.train_teacher` reports for the same weights."""
    import numpy as np  # lazy
    import torch

    from tsgd.data.transforms import seeded_generator
    from tsgd.engine import evaluate_clips, pick_device
    from tsgd.io.clipcache import has_split, load_classes, load_split, load_stats
    from tsgd.models.checkpoint import load_model

    classes = load_classes(cache_dir)
    dev = pick_device(device)
    model, _ = load_model(weights, {"classes": classes}, dev)
    stats = load_stats(cache_dir)
    out: dict[str, Any] = {}
    for split in ("test", "val"):
        data = load_split(cache_dir, split) if has_split(cache_dir, split) else None
        if data is None or not len(data.labels):
            continue
        scores = evaluate_clips(
            model,
            torch.from_numpy(np.array(data.clips)).to(dev),  # uint8, resident
            torch.from_numpy(data.labels),
            frames=frames,
            crop=crop,
            mean=stats["mean"],
            std=stats["std"],
            passes=test_passes,
            generator=seeded_generator(seed + 1),
            num_classes=len(classes),
        )
        out[f"{split}_top1"] = scores["top1"]
        out[f"{split}_top1_per_pass"] = scores["top1_per_pass"]
        if split == "test":
            out["per_class"] = dict(zip(classes, scores["per_class"], strict=True))
    out["device"] = str(dev)
    return out


def use_pretrained_teacher(
    cache_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    source: str,
    sha256: str,
    frames: int,
    crop: int,
    test_passes: int = 3,
    seed: int = 0,
    device: str = "auto",
) -> dict[str, Any]:
    """The teacher rule when ``teacher.pretrained`` is set: fetch and verify the teacher
    (:func:`fetch_teacher`), then score it on this cache's test split (and its val split,
    when there is one) for the record (:func:`score_teacher`)."""
    from tsgd.io.clipcache import load_classes

    classes = load_classes(cache_dir)
    meta = fetch_teacher(
        source, sha256, out_path, expect={"classes": classes, "frames": frames, "crop": crop}
    )
    scores = score_teacher(
        out_path,
        cache_dir,
        frames=frames,
        crop=crop,
        test_passes=test_passes,
        seed=seed,
        device=device,
    )
    return {"pretrained": source, "sha256": meta["sha256"], "model": meta.get("model"), **scores}
