"""Pictures of sets and runs: video grids as animated GIFs, saliency heatmaps, curves.

Everything here writes files atomically and returns their paths; matplotlib runs with the
Agg backend (no screen needed).
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tsgd.evaluate.aggregate import mean_std
from tsgd.io.atomic import write_with

__all__ = [
    "plot_history",
    "plot_runs",
    "saliency_heatmaps",
    "set_preview_gif",
    "video_grid",
    "write_gif",
]


def video_grid(videos: np.ndarray, cols: int | None = None, pad: int = 2) -> np.ndarray:
    """Tile uint8 videos ``[N, T, H, W, 3]`` into one video ``[T, H', W', 3]`` (row-major,
    ``pad`` px of black between tiles)."""
    n, t, h, w, c = videos.shape
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    out = np.zeros((t, rows * (h + pad) - pad, cols * (w + pad) - pad, c), dtype=np.uint8)
    for i in range(n):
        r, q = divmod(i, cols)
        out[:, r * (h + pad) : r * (h + pad) + h, q * (w + pad) : q * (w + pad) + w] = videos[i]
    return out


def write_gif(frames: np.ndarray, path: str | os.PathLike[str], fps: float = 6.0) -> Path:
    """Write uint8 ``[T, H, W, 3]`` frames as a looping animated GIF."""
    from PIL import Image  # lazy (matplotlib's dependency)

    images = [Image.fromarray(np.ascontiguousarray(f)) for f in frames]
    duration = max(20, int(round(1000 / fps)))

    def save(tmp: Path) -> None:
        images[0].save(
            tmp, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0
        )

    write_with(path, save)
    return Path(path)


def saliency_heatmaps(videos: Any, saliency: Mapping[str, Any] | None = None) -> np.ndarray:
    """TSGF saliency of normalised float videos ``[N, T, C, H, W]`` as uint8 heatmaps
    ``[N, T, H, W, 3]`` (matplotlib's ``inferno``: black = static, yellow = most salient)."""
    import torch
    from matplotlib import colormaps

    from tsgd.saliency.tsgf import saliency_map

    x = torch.as_tensor(videos, dtype=torch.float32)
    with torch.no_grad():
        s = saliency_map(x, **dict(saliency or {})).numpy()  # [N, T, H, W] in [0, 1]
    rgb = colormaps["inferno"](s)[..., :3]
    return np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)


def set_preview_gif(
    set_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    fps: float = 6.0,
    max_videos: int = 64,
    saliency: Mapping[str, Any] | None = None,
    min_side: int = 96,
) -> Path:
    """One GIF of a set: each video beside its saliency heatmap, all videos in a grid;
    videos smaller than ``min_side`` pixels are enlarged by an integer factor."""
    from tsgd.io.export import to_uint8_videos
    from tsgd.io.sets import load_tensors

    tensors, meta = load_tensors(set_path)
    videos = tensors["videos"][:max_videos]
    rgb = to_uint8_videos(videos.numpy(), meta["mean"], meta["std"])
    heat = saliency_heatmaps(videos, saliency)
    pairs = np.concatenate([rgb, heat], axis=3)  # video | heatmap, side by side
    scale = max(1, min_side // pairs.shape[2])  # small clips: enlarge, pixels kept sharp
    pairs = pairs.repeat(scale, axis=2).repeat(scale, axis=3)
    return write_gif(video_grid(pairs), out_path, fps)


def fit_title(title: str, width_in: float) -> str:
    """``title`` wrapped at word boundaries to lines a figure ``width_in`` inches wide holds
    at 9 pt (about 15 characters an inch), so a long page title is not cut at the edges."""
    return textwrap.fill(title, width=max(20, int(width_in * 15)), break_long_words=False)


def _save_png(fig: Any, out_path: str | os.PathLike[str], title: str = "") -> Path:
    """Title, lay out and write a matplotlib figure as a PNG atomically, then close it."""
    import matplotlib.pyplot as plt

    try:
        if title:
            fig.suptitle(fit_title(title, fig.get_figwidth()), fontsize=9)
        fig.tight_layout()
        write_with(out_path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    finally:
        plt.close(fig)
    return Path(out_path)


def plot_history(
    history: Sequence[Mapping[str, float]] | Mapping[str, Sequence[float]],
    out_path: str | os.PathLike[str],
    title: str = "",
) -> Path:
    """Training curves as a PNG: per-epoch dicts (``loss``, ``acc``, ...) or a dict of
    per-iteration lists; one panel per quantity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if isinstance(history, Mapping):
        series = {k: list(v) for k, v in history.items() if len(v)}
    else:
        keys = [k for k in history[0] if all(k in h for h in history)] if history else []
        series = {k: [float(h[k]) for h in history] for k in keys}
    series = {k: v for k, v in series.items() if k != "lr" or len(series) == 1}
    if not series:
        raise ValueError("nothing to plot: empty history")
    fig, axes = plt.subplots(1, len(series), figsize=(3.2 * len(series), 2.6), squeeze=False)
    for ax, (name, values) in zip(axes[0], series.items(), strict=True):
        ax.plot(range(len(values)), values, lw=1.5)
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    return _save_png(fig, out_path, title)


def plot_runs(
    panels: Mapping[str, Sequence[tuple[str, Sequence[tuple[float, bool]]]]],
    out_path: str | os.PathLike[str],
    title: str = "",
    reference: str | None = None,
) -> Path:
    """Every run of every method as a dot, with each method's mean ± std, one panel per
    setting (e.g. ``"IPC 1, hard"``): ``panels[name] = [(method, [(top1 %, collapsed), ...])]``.
    Collapsed runs are drawn as red crosses and left out of the mean, as in the tables. The
    runs of ``reference`` (the bar, e.g. random real clips) shade each panel with their
    mean ± std, so a method's distance to it reads at a glance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = {k: [(m, list(v)) for m, v in rows if len(v)] for k, rows in panels.items()}
    panels = {k: rows for k, rows in panels.items() if rows}
    if not panels:
        raise ValueError("nothing to plot: no runs")
    n_rows = max(len(rows) for rows in panels.values())
    fig, axes = plt.subplots(
        1, len(panels), figsize=(4.2 * len(panels), 0.9 + 0.42 * n_rows), squeeze=False
    )
    for ax, (name, rows) in zip(axes[0], panels.items(), strict=True):
        labels = []
        for y, (method, pts) in enumerate(rows):
            ok = np.array([v for v, bad in pts if not bad and v == v], dtype=float)
            bad = [v for v, b in pts if b]
            jitter = np.linspace(-0.18, 0.18, len(pts)) if len(pts) > 1 else np.zeros(1)
            ys = y + jitter[: len(ok)] if len(ok) else []
            ax.scatter(ok, ys, s=14, color="tab:blue", alpha=0.6, zorder=3)
            if bad:
                vals = np.nan_to_num(np.array(bad, dtype=float), nan=0.0)
                ax.scatter(vals, y + jitter[len(ok) :], s=22, marker="x", color="tab:red", zorder=3)
            if len(ok):
                mu, sd = mean_std(ok.tolist())  # the tables' statistic (ddof=1)
                ax.errorbar(mu, y, xerr=sd, fmt="D", color="black", ms=4, capsize=3, zorder=4)
                if method == reference:
                    ax.axvspan(mu - sd, mu + sd, color="0.85", zorder=1)
                    ax.axvline(mu, color="0.5", lw=0.8, ls="--", zorder=2)
            labels.append(method + (f" ({len(bad)} collapsed)" if bad else ""))
        ax.set_yticks(range(len(rows)), labels, fontsize=8)
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_xlabel("test top-1 %")
        ax.set_title(name, fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    return _save_png(fig, out_path, title)
