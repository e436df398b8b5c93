"""Tensor transforms for video batches: normalisation, crops and clip-consistent augmentation.

All augmentations apply the *same* spatial transform to every frame of a video, so motion is
preserved; they are differentiable (``grid_sample``) so distillation can back-propagate
through them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F


def to_float_clips(
    clips: torch.Tensor, mean: Sequence[float], std: Sequence[float]
) -> torch.Tensor:
    """uint8 ``[N, T, H, W, 3]`` -> float32 ``[N, T, 3, H, W]``, normalised per channel.

    ``mean``/``std`` are in [0, 1] pixel units (as in the cache's stats.json).
    """
    x = clips.permute(0, 1, 4, 2, 3).float().div_(255.0)
    m = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(1, 1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(1, 1, -1, 1, 1)
    return (x - m) / s


def to_uint8_clips(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Inverse of :func:`to_float_clips`: float ``[N, T, 3, H, W]`` -> uint8 ``[N, T, H, W, 3]``."""
    m = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(1, 1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(1, 1, -1, 1, 1)
    pix = (x * s + m).clamp(0, 1).mul(255).round().to(torch.uint8)
    return pix.permute(0, 1, 3, 4, 2).contiguous()


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """Centre crop the last two dims of ``x: [..., H, W]`` to ``size x size``."""
    h, w = x.shape[-2:]
    if size > h or size > w:
        raise ValueError(f"crop {size} larger than frames {h}x{w}")
    top, left = (h - size) // 2, (w - size) // 2
    return x[..., top : top + size, left : left + size]


def gather_windows(clips: torch.Tensor, starts: torch.Tensor, length: int) -> torch.Tensor:
    """Temporal windows: ``clips: [N, L, ...]``, ``starts: int [N]`` -> ``[N, length, ...]``."""
    offs = torch.arange(length, device=clips.device)
    idx = starts.to(clips.device).view(-1, 1) + offs  # [N, length]
    if idx.numel() and (int(idx.max()) >= clips.shape[1] or int(idx.min()) < 0):
        raise ValueError(f"window of {length} frames does not fit {clips.shape[1]} frames")
    rows = torch.arange(clips.shape[0], device=clips.device).view(-1, 1)
    return clips[rows, idx]


def random_resized_crop_flip(
    x: torch.Tensor,
    out_size: int,
    *,
    scale: tuple[float, float] = (0.5, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    flip_p: float = 0.5,
    generator: torch.Generator | None = None,
    centers: torch.Tensor | None = None,
) -> torch.Tensor:
    """Random resized crop + horizontal flip, identical for all frames of each video.

    Args:
        x: float ``[N, T, C, H, W]``.
        out_size: output side in pixels.
        scale: range of the crop's area as a fraction of the frame.
        ratio: range of the crop's aspect ratio (w / h).
        flip_p: probability of a horizontal flip per video.
        generator: RNG on ``x.device`` (or CPU) for reproducible draws.
        centers: optional ``[N, 2]`` crop centres (y, x) in [-1, 1] (TSGFA); the crop is then
            clamped to stay inside the frame. Default: uniform over valid positions.

    Returns:
        float ``[N, T, C, out_size, out_size]``; differentiable w.r.t. ``x``.
    """
    n, t, c, h, w = x.shape
    dev = x.device

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(
            *shape, generator=generator, device=generator.device if generator else dev
        ).to(dev)

    area = scale[0] + (scale[1] - scale[0]) * rand(n)
    log_r = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * rand(n)
    aspect = torch.exp(log_r)
    # crop size as a fraction of the frame side (affine_grid units: 1 = full side)
    sw = torch.sqrt(area * aspect).clamp(max=1.0)
    sh = torch.sqrt(area / aspect).clamp(max=1.0)
    if centers is None:
        cy = (1 - sh) * (2 * rand(n) - 1)
        cx = (1 - sw) * (2 * rand(n) - 1)
    else:
        cy = centers[:, 0].to(dev).clamp(-(1 - sh), 1 - sh)
        cx = centers[:, 1].to(dev).clamp(-(1 - sw), 1 - sw)
    flip = torch.where(rand(n) < flip_p, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3, device=dev, dtype=x.dtype)
    theta[:, 0, 0] = sw * flip
    theta[:, 0, 2] = cx
    theta[:, 1, 1] = sh
    theta[:, 1, 2] = cy
    grid = F.affine_grid(theta, [n, c, out_size, out_size], align_corners=False)
    frames = x.reshape(n, t * c, h, w)
    out = F.grid_sample(frames, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.reshape(n, t, c, out_size, out_size)


def saliency_centers(
    spatial: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Draw one crop centre per video with probability proportional to spatial saliency.

    ``spatial: [N, H, W]`` non-negative -> centres ``[N, 2]`` as (y, x) in [-1, 1]
    (affine_grid convention). A video with zero saliency gets a uniform draw.
    """
    n, h, w = spatial.shape
    p = spatial.flatten(1).double().clamp_min(0) + 1e-12
    gen_dev = generator.device if generator is not None else spatial.device
    idx = torch.multinomial(p.to(gen_dev), 1, generator=generator).view(-1).to(spatial.device)
    ys = (idx // w).to(torch.float32)
    xs = (idx % w).to(torch.float32)
    return torch.stack([(2 * ys + 1) / h - 1, (2 * xs + 1) / w - 1], dim=1)


MIXES = ("none", "cutmix", "mixup")


def check_mix(kind: str) -> None:
    """Refuse a ``kind`` of :func:`mix_clips` that is not one of :data:`MIXES`."""
    if kind not in MIXES:
        raise ValueError(f"unknown mix {kind!r}; expected one of {', '.join(MIXES)}")


def mix_clips(
    x: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    kind: str,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix each video of a batch with another of the same batch (a random pairing).

    ``cutmix`` pastes the partner's box into every frame at the same place (the box covers
    a fraction 1 - lam of the frame, lam ~ U(0, 1), i.e. Beta(1, 1) as in CutMix);
    ``mixup`` blends the two clips, lam x + (1 - lam) partner; ``none`` returns the batch
    as it is. One lam and one box per batch.

    Args:
        x: float ``[B, T, C, H, W]``.
        labels: int64 ``[B]`` class labels.
        generator: CPU RNG for reproducible draws.

    Returns:
        the mixed batch and the targets: ``labels`` unchanged for ``none``, otherwise float
        ``[B, num_classes]`` probabilities lam one-hot(y) + (1 - lam) one-hot(partner's y),
        lam being the share of pixels (cutmix) or the blend weight (mixup) of the clip's own.
    """
    check_mix(kind)
    if kind == "none":
        return x, labels
    b, h, w = x.shape[0], x.shape[-2], x.shape[-1]
    perm = torch.randperm(b, generator=generator).to(x.device)
    lam = float(torch.rand((), generator=generator))
    if kind == "mixup":
        mixed = lam * x + (1.0 - lam) * x[perm]
    else:
        side = math.sqrt(1.0 - lam)
        bh, bw = round(h * side), round(w * side)
        cy = int(torch.randint(0, h, (), generator=generator))
        cx = int(torch.randint(0, w, (), generator=generator))
        y0, y1 = max(cy - bh // 2, 0), min(cy - bh // 2 + bh, h)
        x0, x1 = max(cx - bw // 2, 0), min(cx - bw // 2 + bw, w)
        mixed = x.clone()
        mixed[..., y0:y1, x0:x1] = x[..., y0:y1, x0:x1][perm]  # only the box is gathered
        lam = 1.0 - (y1 - y0) * (x1 - x0) / (h * w)  # the share the clip kept
    one_hot = F.one_hot(labels, num_classes).to(x.dtype)
    return mixed, lam * one_hot + (1.0 - lam) * one_hot[perm]


def seeded_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch.Generator on ``device`` seeded with ``seed`` (never from the clock)."""
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


def numpy_rng(seed: int) -> np.random.Generator:
    """A numpy Generator seeded with ``seed``."""
    return np.random.default_rng(int(seed))
