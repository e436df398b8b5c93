"""The saliency phase: TSGF over every cached training video, on the GPU when there is one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from tsgd.engine import pick_device
from tsgd.io.clipcache import load_split
from tsgd.io.sets import save_tensors
from tsgd.saliency.tsgf import best_window, frame_saliency, saliency_map


def compute_cache_saliency(
    cache_dir: str | Path,
    out_path: str | Path,
    *,
    clip_frames: int,
    k: int,
    window: str,
    sigma: float,
    eps: float,
    motion_compensation: str,
    max_shift: int,
    split: str = "train",
    batch_size: int = 32,
    device: str = "auto",
) -> dict[str, Any]:
    """Per-frame saliency and the most salient ``clip_frames`` window of each cached video.

    Writes ``out_path`` (safetensors) with ``frame_saliency: float32 [N, L]`` (each video's
    s_t, in [0, 1]) and ``best_start: int64 [N]`` (start of the most salient window), plus
    meta.json. Pixels are taken in [0, 1] units.
    """
    data = load_split(cache_dir, split)
    n, length = data.clips.shape[:2]
    if clip_frames > length:
        raise ValueError(f"clip of {clip_frames} frames longer than the {length} cached frames")
    dev = pick_device(device)
    sal = torch.empty(n, length)
    for b in range(0, n, batch_size):
        raw = torch.from_numpy(np.array(data.clips[b : b + batch_size])).to(dev)
        x = raw.permute(0, 1, 4, 2, 3).float().div_(255.0)
        s_hat = saliency_map(
            x,
            k=k,
            window=window,
            sigma=sigma,
            eps=eps,
            motion_compensation=motion_compensation,
            max_shift=max_shift,
        )
        sal[b : b + batch_size] = frame_saliency(s_hat).cpu()
    starts = best_window(sal, clip_frames)
    meta = {
        "role": "saliency",
        "split": split,
        "videos": n,
        "cached_frames": length,
        "clip_frames": clip_frames,
        "k": k,
        "window": window,
        "sigma": sigma,
        "eps": eps,
        "motion_compensation": motion_compensation,
        "max_shift": max_shift,
        "classes": data.classes,
        "device": str(dev),
    }
    save_tensors(out_path, {"frame_saliency": sal.contiguous(), "best_start": starts}, meta)
    window_sal = sal.unfold(1, clip_frames, 1).mean(2)
    return {
        "videos": n,
        "mean_frame_saliency": float(sal.mean()),
        "best_window_saliency": float(window_sal.max(1).values.mean()),
        "random_window_saliency": float(window_sal.mean()),
        "device": str(dev),
    }
