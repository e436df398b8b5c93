"""Temporal saliency-guided filter (TSGF): pure tensor functions.

Our definition (METHOD.md, stage 2), for a batch of videos ``x: [N, T, C, H, W]``:

- ``D_t = mean_c |x_{t+1} - x_t|`` for t = 0..T-2, extended to T frames by repeating the last
  difference (optionally after camera-motion compensation);
- ``S_t = sum_{j=-k..k} alpha_j D_{t+j}`` with edge padding and a normalised window alpha;
- ``S_hat = S / (max S + eps)`` per video, in [0, 1];
- ``W = beta + (1 - beta) * S_hat``, a floor beta > 0 so that no pixel is frozen;
- frame saliency ``s_t = spatial mean of S_hat_t``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MOTION_COMPENSATION = ("none", "median", "shift")
WINDOWS = ("uniform", "gaussian")


def _check_video(x: torch.Tensor) -> None:
    if x.dim() != 5:
        raise ValueError(f"expected videos [N, T, C, H, W], got shape {tuple(x.shape)}")
    if x.shape[1] < 2:
        raise ValueError(f"saliency needs at least 2 frames, got T={x.shape[1]}")


def _best_shift_diff(prev: torch.Tensor, nxt: torch.Tensor, max_shift: int) -> torch.Tensor:
    """|nxt - prev aligned by the best global integer shift|, mean over channels.

    ``prev, nxt: [M, C, H, W]`` -> ``[M, H, W]``; the border of width ``max_shift`` is 0.
    """
    s = max_shift
    _, _, h, w = prev.shape
    if h <= 2 * s or w <= 2 * s:
        raise ValueError(f"max_shift={s} too large for frames of {h}x{w}")
    target = nxt[:, :, s : h - s, s : w - s]
    candidates = []
    for dy in range(-s, s + 1):
        for dx in range(-s, s + 1):
            cand = prev[:, :, s + dy : h - s + dy, s + dx : w - s + dx]
            candidates.append((target - cand).abs().mean(dim=1))  # [M, h', w']
    diffs = torch.stack(candidates, dim=1)  # [M, S, h', w']
    best = diffs.mean(dim=(2, 3)).argmin(dim=1)  # [M]
    chosen = diffs[torch.arange(diffs.shape[0], device=diffs.device), best]
    return F.pad(chosen, (s, s, s, s))


def frame_differences(
    x: torch.Tensor, motion_compensation: str = "none", max_shift: int = 2
) -> torch.Tensor:
    """Inter-frame absolute differences.

    Args:
        x: float [N, T, C, H, W], any units (pixels or normalised).
        motion_compensation: ``none``; ``median`` subtracts each difference map's spatial
            median (clamped at 0), removing a global level such as camera motion blur;
            ``shift`` aligns consecutive frames by the best global integer shift first.
        max_shift: search radius in pixels for ``shift``.

    Returns:
        D: float [N, T, H, W], same units as ``x``; D[:, t] is the change from t to t+1 and
        the last frame repeats the last difference.
    """
    _check_video(x)
    if motion_compensation not in MOTION_COMPENSATION:
        raise ValueError(
            f"unknown motion_compensation {motion_compensation!r}; "
            f"expected one of {MOTION_COMPENSATION}"
        )
    n, t, c, h, w = x.shape
    if motion_compensation == "shift":
        prev = x[:, :-1].reshape(n * (t - 1), c, h, w)
        nxt = x[:, 1:].reshape(n * (t - 1), c, h, w)
        d = _best_shift_diff(prev, nxt, max_shift).reshape(n, t - 1, h, w)
    else:
        d = (x[:, 1:] - x[:, :-1]).abs().mean(dim=2)  # [N, T-1, H, W]
        if motion_compensation == "median":
            med = d.flatten(2).median(dim=2).values[:, :, None, None]
            d = (d - med).clamp_min(0)
    return torch.cat([d, d[:, -1:]], dim=1)


def smoothing_window(k: int, window: str = "uniform", sigma: float = 1.0) -> torch.Tensor:
    """Normalised temporal weights alpha_j for j = -k..k: float32 [2k + 1], sums to 1."""
    if k < 0:
        raise ValueError(f"window half-width k must be >= 0, got {k}")
    if window not in WINDOWS:
        raise ValueError(f"unknown window {window!r}; expected one of {WINDOWS}")
    j = torch.arange(-k, k + 1, dtype=torch.float32)
    if window == "uniform":
        a = torch.ones_like(j)
    else:
        if sigma <= 0:
            raise ValueError(f"gaussian sigma must be > 0, got {sigma}")
        a = torch.exp(-(j**2) / (2 * sigma**2))
    return a / a.sum()


def temporal_smooth(d: torch.Tensor, k: int, window: str = "uniform", sigma: float = 1.0):
    """S_t = sum_j alpha_j D_{t+j} with edge padding: ``d: [N, T, H, W]`` -> same shape."""
    if k == 0:
        return d
    alpha = smoothing_window(k, window, sigma).to(d)
    n, t, h, w = d.shape
    seq = d.permute(0, 2, 3, 1).reshape(n * h * w, 1, t)
    seq = F.pad(seq, (k, k), mode="replicate")
    out = F.conv1d(seq, alpha.view(1, 1, -1))
    return out.reshape(n, h, w, t).permute(0, 3, 1, 2).contiguous()


def saliency_map(
    x: torch.Tensor,
    k: int = 1,
    window: str = "uniform",
    sigma: float = 1.0,
    eps: float = 1e-6,
    motion_compensation: str = "none",
    max_shift: int = 2,
) -> torch.Tensor:
    """Normalised temporal saliency S_hat: ``x: [N, T, C, H, W]`` -> float [N, T, H, W] in [0, 1].

    ``S_hat = S / (max_{t,h,w} S + eps)`` per video; a static video gives all zeros.
    """
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    s = temporal_smooth(frame_differences(x, motion_compensation, max_shift), k, window, sigma)
    peak = s.flatten(1).amax(dim=1)[:, None, None, None]
    if eps == 0:
        return torch.where(peak > 0, s / peak.clamp_min(torch.finfo(s.dtype).tiny), 0.0)
    return s / (peak + eps)


def saliency_weight(s_hat: torch.Tensor, beta: float) -> torch.Tensor:
    """W = beta + (1 - beta) * S_hat, in [beta, 1]; beta is the floor (0 < beta <= 1)."""
    if not 0 < beta <= 1:
        raise ValueError(f"floor beta must be in (0, 1], got {beta}")
    return beta + (1 - beta) * s_hat


def frame_saliency(s_hat: torch.Tensor) -> torch.Tensor:
    """Per-frame saliency s_t: spatial mean of ``S_hat: [N, T, H, W]`` -> [N, T]."""
    return s_hat.mean(dim=(2, 3))


def best_window(s: torch.Tensor, length: int) -> torch.Tensor:
    """Start of the most salient window: ``s: [N, L]`` -> int64 [N] maximising the mean of
    ``s[:, start:start+length]`` (first maximum on ties)."""
    if not 1 <= length <= s.shape[1]:
        raise ValueError(f"window length {length} must be in 1..{s.shape[1]}")
    means = s.unfold(1, length, 1).mean(dim=2)  # [N, L-length+1]
    return means.argmax(dim=1)
