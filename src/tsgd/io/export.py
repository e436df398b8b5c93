"""Write a distilled (or any) video set as playable mp4 files, one per video.

The set's videos are stored normalised (``float32 [N, T, C, H, W]``, per-channel mean/std
from its meta.json); export undoes the normalisation, clips to [0, 255] and encodes each
video as H.264 (yuv420p) at ``fps``, named ``<index>_<class>.mp4``, with an ``index.csv``
listing file, class, label index and, for sets cut from real videos, the source video and
start frame.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from tsgd.io.atomic import write_text_atomic
from tsgd.io.sets import load_tensors

__all__ = ["export_set", "to_uint8_videos"]


def to_uint8_videos(videos: Any, mean: list[float], std: list[float]) -> np.ndarray:
    """Normalised float ``[N, T, C, H, W]`` -> uint8 ``[N, T, H, W, C]`` (RGB)."""
    x = np.asarray(videos, dtype=np.float32)
    if x.ndim != 5 or x.shape[2] != len(mean):
        raise ValueError(f"videos must be [N, T, {len(mean)}, H, W], got {x.shape}")
    m = np.asarray(mean, dtype=np.float32).reshape(1, 1, -1, 1, 1)
    s = np.asarray(std, dtype=np.float32).reshape(1, 1, -1, 1, 1)
    pixels = np.clip(np.rint((x * s + m) * 255.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(pixels.transpose(0, 1, 3, 4, 2))


def _even(frames: np.ndarray) -> np.ndarray:
    """Pad H and W to even sizes by repeating the last row / column (yuv420p needs it)."""
    _, h, w, _ = frames.shape
    return np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def export_set(
    set_path: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, fps: float = 8.0
) -> list[Path]:
    """Export every video of the set at ``set_path`` (verified against its meta.json).

    Returns:
        The mp4 files written, in set order.
    """
    from tsgd.data.synthetic import write_video  # lazy: PyAV

    tensors, meta = load_tensors(set_path)
    if "videos" not in tensors or "labels" not in tensors:
        raise ValueError(f"{set_path} is not a video set (needs videos and labels tensors)")
    videos = to_uint8_videos(tensors["videos"].numpy(), meta["mean"], meta["std"])
    labels = tensors["labels"].tolist()
    classes = meta["classes"]
    sources = meta.get("source_videos") or [""] * len(labels)
    starts = meta.get("source_starts") or [""] * len(labels)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    rows = io.StringIO()
    table = csv.writer(rows, lineterminator="\n")
    table.writerow(["file", "class", "label", "source_video", "source_start"])
    for i, (video, label) in enumerate(zip(videos, labels, strict=True)):
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", classes[label])
        path = out / f"{i:04d}_{name}.mp4"
        write_video(path, _even(video), fps)
        written.append(path)
        table.writerow([path.name, classes[label], label, sources[i], starts[i]])
    write_text_atomic(out / "index.csv", rows.getvalue())
    return written
