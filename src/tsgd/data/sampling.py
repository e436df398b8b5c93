"""Frame-index sampling: which source frames the clip cache stores, and random windows.

The cache stores ``frames`` frames per video at a fixed temporal stride (``gap``), taken from
the centre of the video. Short videos follow the benchmark rule (METHOD.md): a video with
fewer than ``frames * gap`` frames uses ``gap = n_frames // frames`` (at least 1), and a video
with fewer than ``frames`` frames is padded by repeating its last frame.
"""

from __future__ import annotations

import numpy as np

__all__ = ["cache_indices", "window_starts"]


def cache_indices(n_frames: int, frames: int, gap: int) -> tuple[np.ndarray, int, int]:
    """Source-frame indices that the clip cache stores for one video.

    Args:
        n_frames: number of decodable frames in the source video (>= 1).
        frames: number of frames to store (>= 1).
        gap: requested temporal stride in source frames (>= 1).

    Returns:
        ``(indices, gap_eff, padded)``: ``indices`` is int64 ``[frames]`` of source-frame
        indices in ``0..n_frames-1`` (non-decreasing); ``gap_eff`` is the stride actually
        used; ``padded`` is how many trailing entries repeat the last frame (0 unless
        ``n_frames < frames``).

    Rules: if ``n_frames >= frames * gap`` the stride is ``gap``; otherwise it is
    ``max(1, n_frames // frames)``. The window of span ``(frames - 1) * gap_eff + 1`` is
    centred: ``start = (n_frames - span) // 2``. If ``n_frames < frames`` the indices are
    ``0..n_frames-1`` followed by ``n_frames - 1`` repeated.
    """
    for name, value in (("n_frames", n_frames), ("frames", frames), ("gap", gap)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ValueError(f"{name} must be an integer, got {value!r}")
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    n_frames, frames, gap = int(n_frames), int(frames), int(gap)

    if n_frames < frames:
        padded = frames - n_frames
        indices = np.concatenate(
            [np.arange(n_frames, dtype=np.int64), np.full(padded, n_frames - 1, dtype=np.int64)]
        )
        return indices, 1, padded

    gap_eff = gap if n_frames >= frames * gap else max(1, n_frames // frames)
    span = (frames - 1) * gap_eff + 1
    start = (n_frames - span) // 2
    indices = start + gap_eff * np.arange(frames, dtype=np.int64)
    return indices, gap_eff, 0


def window_starts(length: int, clip: int, rng: np.random.Generator, n: int) -> np.ndarray:
    """Uniform random start positions of ``clip``-long windows inside a ``length``-long clip.

    Args:
        length: number of frames available (>= clip).
        clip: window length in frames (>= 1).
        rng: the generator to draw from (the caller owns the seeding).
        n: number of starts to draw (>= 0).

    Returns:
        int64 ``[n]``, each in ``[0, length - clip]`` inclusive.
    """
    if clip < 1:
        raise ValueError(f"clip must be >= 1, got {clip}")
    if length < clip:
        raise ValueError(f"clip ({clip}) is longer than the available length ({length})")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return rng.integers(0, length - clip + 1, size=n, dtype=np.int64)
