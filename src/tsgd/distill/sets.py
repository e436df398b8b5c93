"""Phase functions that write a video set: TSGD synthesis and the random real baseline.

Every set is ``videos: float32 [classes * IPC, T, C, crop, crop]`` (normalised with the
cache's mean/std) and ``labels: int64 [classes * IPC]``, saved as safetensors + meta.json.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from tsgd.data.transforms import center_crop, seeded_generator, to_float_clips
from tsgd.distill.synthesis import SynthesisConfig, synthesize
from tsgd.engine import pick_device
from tsgd.io.clipcache import ClipSplit, load_split, load_stats
from tsgd.io.sets import load_tensors, save_tensors
from tsgd.models.checkpoint import load_model
from tsgd.saliency.tsgf import saliency_map


def _windows(
    data: ClipSplit,
    idx: np.ndarray,
    starts: np.ndarray,
    frames: int,
    crop: int,
    mean: list[float],
    std: list[float],
    device: torch.device,
) -> torch.Tensor:
    """Centre-cropped, normalised windows of the cached videos ``idx`` starting at ``starts``."""
    offsets = np.asarray(starts).reshape(-1, 1) + np.arange(frames)
    return _frames(data, idx, offsets, crop, mean, std, device)


def _raw_frames(data: ClipSplit, idx: np.ndarray, frame_idx: np.ndarray) -> torch.Tensor:
    """uint8 ``[n, S, H, W, C]``: cached frames ``frame_idx[i]`` of video ``idx[i]``."""
    idx = np.asarray(idx)
    raw = torch.from_numpy(np.ascontiguousarray(data.clips[np.sort(idx)]))
    order = np.argsort(np.argsort(idx))  # undo the sort used for fast memmap reads
    raw = raw[torch.from_numpy(order)]
    rows = torch.arange(idx.size).view(-1, 1)
    return raw[rows, torch.as_tensor(np.asarray(frame_idx), dtype=torch.long)]


def _frames(
    data: ClipSplit,
    idx: np.ndarray,
    frame_idx: np.ndarray,
    crop: int,
    mean: list[float],
    std: list[float],
    device: torch.device,
    boxes: np.ndarray | None = None,
) -> torch.Tensor:
    """Normalised frames ``frame_idx[i]`` (int ``[n, S]``) of cached video ``idx[i]``:
    float ``[n, S, C, crop, crop]`` on ``device``. Centre crops, or with ``boxes`` (int
    ``[n, 3]``: top, left, side; see :func:`crop_boxes`) each video's own square, the same
    in every frame, resized to ``crop`` when its side differs."""
    x = to_float_clips(_raw_frames(data, idx, frame_idx).to(device), mean, std)
    if boxes is None:
        return center_crop(x, crop).contiguous()
    n, s, c = x.shape[:3]
    out = torch.empty(n, s, c, crop, crop, device=device)
    for i, (top, left, side) in enumerate(np.asarray(boxes).tolist()):
        piece = x[i, :, :, top : top + side, left : left + side]
        if side != crop:
            piece = F.interpolate(
                piece,
                size=(crop, crop),
                mode="bilinear",
                align_corners=False,
                antialias=side > crop,
            )
        out[i] = piece
    return out


def crop_boxes(
    data: ClipSplit,
    idx: np.ndarray,
    frame_idx: np.ndarray,
    crop: int,
    *,
    pick: str = "center",
    scale: float = 1.0,
    saliency: dict[str, Any] | None = None,
    batch: int = 64,
) -> np.ndarray:
    """Where each piece is cropped: int64 ``[n, 3]`` (top, left, side) in the cached frames.

    The square's side is ``round(crop * scale)`` (``scale`` < 1 zooms in: the square is
    resized up to ``crop``). ``pick``: ``center``, or ``salient``: the square holding the
    most of TSGF's spatial saliency S_hat over the piece's frames ``frame_idx[i]`` (the
    ``saliency`` constants: k, window, motion compensation...), so a piece shows where
    things move; a faint pull to the centre breaks ties, and a video with no motion keeps
    the centre.
    """
    if pick not in ("center", "salient"):
        raise ValueError(f"unknown crop pick {pick!r}; expected center or salient")
    h, w = data.clips.shape[2:4]
    side = int(round(crop * scale))
    if not 1 <= side <= min(h, w):
        raise ValueError(
            f"crop_scale {scale} gives a {side}-pixel square, not inside frames of {h}x{w}"
        )
    idx = np.asarray(idx)
    out = np.empty((idx.size, 3), dtype=np.int64)
    out[:] = ((h - side) // 2, (w - side) // 2, side)
    if pick == "center" or idx.size == 0:
        return out
    if np.asarray(frame_idx).shape[1] < 2:
        raise ValueError("salient crops need pieces of at least 2 frames")
    ty = torch.arange(h - side + 1, dtype=torch.float32) - (h - side) / 2
    tx = torch.arange(w - side + 1, dtype=torch.float32) - (w - side) / 2
    # centre pull: at most 1e-3 of the best score at the farthest corner
    pull = (ty.view(-1, 1) ** 2 + tx.view(1, -1) ** 2) / max(
        float(ty.max() ** 2 + tx.max() ** 2), 1.0
    )
    for b in range(0, idx.size, batch):
        raw = _raw_frames(data, idx[b : b + batch], np.asarray(frame_idx)[b : b + batch])
        x = to_float_clips(raw, [0.0] * 3, [1.0] * 3)  # [0, 1] pixels, as the saliency step
        s_map = saliency_map(x, **(saliency or {})).mean(dim=1, keepdim=False)  # [b, H, W]
        mass = F.avg_pool2d(s_map[:, None], side, stride=1)[:, 0]  # [b, H-side+1, W-side+1]
        peak = mass.flatten(1).amax(dim=1)
        score = mass / peak.clamp_min(1e-12)[:, None, None] - 1e-3 * pull
        best = score.flatten(1).argmax(dim=1)
        moving = peak > 1e-8
        top = torch.where(moving, best // mass.shape[2], (h - side) // 2)
        left = torch.where(moving, best % mass.shape[2], (w - side) // 2)
        out[b : b + batch, 0] = top.numpy()
        out[b : b + batch, 1] = left.numpy()
    return out


def salient_frames(
    saliency: torch.Tensor,
    length: int,
    *,
    drop_static: float = 0.0,
    pick: str = "salient",
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Which ``length`` cached frames of each video to keep: int64 ``[N, length]``, ascending.

    ``saliency: [N, L]`` frame saliency s_t. ``pick``: ``salient`` takes the most salient
    run of frames (TSGF), ``random`` a uniformly random one (TSGF off; needs ``rng``).
    ``drop_static`` > 0 first removes near-static frames, those with s_t below
    ``drop_static`` x the video's mean s_t, so the run is taken over the frames that move
    (a video left with fewer than ``length`` such frames keeps its ``length`` most salient
    frames, in time order).
    """
    s = saliency.double().numpy()
    n, total = s.shape
    if not 1 <= length <= total:
        raise ValueError(f"window length {length} must be in 1..{total}")
    if pick not in ("salient", "random"):
        raise ValueError(f"unknown window pick {pick!r}; expected salient or random")
    if pick == "random" and rng is None:
        raise ValueError("pick='random' needs rng")
    if drop_static < 0:
        raise ValueError(f"drop_static must be >= 0, got {drop_static}")
    out = np.empty((n, length), dtype=np.int64)
    for i in range(n):
        keep = np.arange(total)
        if drop_static > 0:
            moving = np.flatnonzero(s[i] >= drop_static * s[i].mean())
            if moving.size >= length:
                keep = moving
            else:
                keep = np.sort(np.argsort(-s[i], kind="stable")[:length])
        runs = keep.size - length + 1
        if pick == "random":
            start = int(rng.integers(0, runs))  # type: ignore[union-attr]
        else:
            means = np.convolve(s[i][keep], np.ones(length) / length, mode="valid")
            start = int(np.argmax(means))
        out[i] = keep[start : start + length]
    return out


def _per_class(labels: np.ndarray, classes: list[str]) -> list[np.ndarray]:
    out = []
    for c, name in enumerate(classes):
        idx = np.flatnonzero(labels == c)
        if idx.size == 0:
            raise ValueError(f"class {name!r} has no training video")
        out.append(idx)
    return out


def _pick(rng: np.random.Generator, pool: np.ndarray, n: int) -> np.ndarray:
    return rng.choice(pool, size=n, replace=pool.size < n)


def _set_meta(
    data: ClipSplit,
    stats: dict[str, Any],
    *,
    method: str,
    ipc: int,
    frames: int,
    crop: int,
    seed: int,
    dataset: str,
) -> dict[str, Any]:
    return {
        "role": "video_set",
        "method": method,
        "dataset": dataset,
        "classes": data.classes,
        "ipc": ipc,
        "frames": frames,
        "crop": crop,
        "channels": 3,
        "mean": stats["mean"],
        "std": stats["std"],
        "label_mode": "hard",
        "seed": seed,
        "layout": "videos: float32 [N, T, C, H, W] normalised; labels: int64 [N]",
    }


def random_picks(
    data: ClipSplit, *, ipc: int, frames: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The random real subset of ``seed``: per class (class-major), ``ipc`` random training
    videos (with replacement only when a class has fewer), each with a uniformly random
    start of a ``frames``-frame window. Returns int64 ``(video indices, starts)``."""
    rng = np.random.default_rng(seed)
    length = data.clips.shape[1]
    idx = np.concatenate([_pick(rng, pool, ipc) for pool in _per_class(data.labels, data.classes)])
    starts = rng.integers(0, length - frames + 1, size=idx.size)
    return idx, starts


def make_random_set(
    cache_dir: str | Path,
    out_path: str | Path,
    *,
    ipc: int,
    frames: int,
    crop: int,
    seed: int,
    dataset: str = "",
) -> dict[str, Any]:
    """Random real subset: per class, ``ipc`` random training videos, each a uniformly random
    ``frames``-frame window, centre-cropped. The baseline every distilled set must beat."""
    data, stats = load_split(cache_dir, "train"), load_stats(cache_dir)
    idx, starts = random_picks(data, ipc=ipc, frames=frames, seed=seed)
    videos = _windows(
        data, idx, starts, frames, crop, stats["mean"], stats["std"], torch.device("cpu")
    )
    labels = torch.from_numpy(data.labels[idx].astype(np.int64))
    meta = _set_meta(
        data, stats, method="random", ipc=ipc, frames=frames, crop=crop, seed=seed, dataset=dataset
    )
    meta["source_videos"] = [data.paths[i] for i in idx]
    meta["source_starts"] = starts.tolist()
    save_tensors(out_path, {"videos": videos, "labels": labels}, meta)
    return {"videos": int(idx.size)}


def spread_over_groups(order: np.ndarray, groups: list[str | None]) -> np.ndarray:
    """Reorder ``order`` (best first) so the first picks come from distinct groups: round
    after round, each group's best remaining video, rounds in the order of ``order``.

    Clips of one group are cut from one source video (same people, same place), so a set
    of the best clips overall can be near-duplicates; this keeps the ranking within a
    group and spreads the picks across groups. Videos without a group count as their own.
    """
    queues: dict[object, list[int]] = {}
    for pos, g in enumerate(groups):
        queues.setdefault(g if g is not None else ("none", pos), []).append(pos)
    out: list[int] = []
    while queues:
        for g in list(queues):
            out.append(queues[g].pop(0))
            if not queues[g]:
                del queues[g]
    return np.asarray(order)[out]


def mosaic(x: torch.Tensor, grid: int) -> torch.Tensor:
    """Pack ``grid * grid`` videos into one of the same size (a spatial mosaic).

    ``x: [N * grid^2, T, C, H, W]`` (consecutive groups of grid^2 videos form one mosaic) ->
    ``[N, T, C, H, W]``; each piece is area-downsampled by ``grid``, so the stored tensor
    (the budget) stays the size of one clip while it carries ``grid^2`` clips' motion.
    """
    if grid == 1:
        return x
    m, t, c, h, w = x.shape
    if m % (grid * grid):
        raise ValueError(f"{m} videos do not fill mosaics of {grid}x{grid}")
    if h % grid or w % grid:
        raise ValueError(f"frames of {h}x{w} do not split into a {grid}x{grid} mosaic")
    small = F.interpolate(x.reshape(m * t, c, h, w), size=(h // grid, w // grid), mode="area")
    small = small.reshape(m // (grid * grid), grid, grid, t, c, h // grid, w // grid)
    # [N, gy, gx, T, C, h, w] -> [N, T, C, gy, h, gx, w] -> [N, T, C, H, W]
    return small.permute(0, 3, 4, 1, 5, 2, 6).reshape(m // (grid * grid), t, c, h, w)


def stitch(x: torch.Tensor, pieces: int) -> torch.Tensor:
    """Concatenate consecutive groups of ``pieces`` short clips in time.

    ``x: [N * pieces, S, C, H, W]`` -> ``[N, pieces * S, C, H, W]``: one stored clip carries
    the salient segments of several videos, with no near-static frames in between.
    """
    m = x.shape[0]
    if m % pieces:
        raise ValueError(f"{m} clips do not split into groups of {pieces}")
    return x.reshape(m // pieces, pieces * x.shape[1], *x.shape[2:])


def unpack(x: torch.Tensor, pieces: int, grid: int) -> torch.Tensor:
    """Decode a set stored with ``decode_pieces``: the clips packed by
    ``mosaic(stitch(w, pieces), grid)``, each back at full size.

    ``x: [N, T, C, H, W]`` -> ``[N * grid^2 * pieces, T, C, H, W]`` in packing order: each
    mosaic tile is upsampled (bilinear) back to ``H x W``, and each temporal segment of
    ``T / pieces`` frames (a window subsampled by ``pieces``) has every frame repeated
    ``pieces`` times, so it spans the whole clip length again. Students then train on every
    piece as a clip of its own, as IDC (Kim et al., 2022) does with image mosaics.
    """
    n, t, c, h, w = x.shape
    if t % pieces or h % grid or w % grid:
        raise ValueError(
            f"clips of {t}x{h}x{w} do not hold {pieces} pieces in a {grid}x{grid} grid"
        )
    if grid > 1:
        hs, ws = h // grid, w // grid
        tiles = x.reshape(n, t, c, grid, hs, grid, ws).permute(0, 3, 5, 1, 2, 4, 6)
        tiles = tiles.reshape(n * grid * grid * t, c, hs, ws)
        x = F.interpolate(tiles, size=(h, w), mode="bilinear", align_corners=False)
        x = x.reshape(n * grid * grid, t, c, h, w)
    if pieces > 1:
        x = x.reshape(-1, t // pieces, c, h, w).repeat_interleave(pieces, dim=1)
    return x


def pixel_bounds(mean: list[float], std: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised values of pixel 0 and pixel 1 per channel: ``([C], [C])``."""
    m, s = torch.tensor(mean), torch.tensor(std)
    return (0 - m) / s, (1 - m) / s


@torch.no_grad()
def _true_class_prob(
    teacher: torch.nn.Module, x: torch.Tensor, labels: torch.Tensor, batch: int = 64
) -> torch.Tensor:
    probs = [teacher(x[i : i + batch]).softmax(1) for i in range(0, x.shape[0], batch)]
    return torch.cat(probs).gather(1, labels.view(-1, 1)).view(-1)


def _embedder(model: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    embed = getattr(model, "embed", None)
    if not callable(embed):
        raise ValueError(f"{type(model).__name__} has no embed(x) method to take features from")
    return embed


@torch.no_grad()
def _embed(model: torch.nn.Module, x: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """L2-normalised ``model.embed`` features ``[N, D]`` (CPU, float64) of clips ``x``."""
    embed = _embedder(model)
    out = [embed(x[i : i + batch]).flatten(1) for i in range(0, x.shape[0], batch)]
    return F.normalize(torch.cat(out).double(), dim=1).cpu()


def kmeans(x: torch.Tensor, k: int, rng: np.random.Generator, iterations: int = 50) -> np.ndarray:
    """Cluster the rows of ``x: [N, D]`` into ``k`` groups (k-means++ seeding from ``rng``,
    then Lloyd's iterations until the assignment stops changing). Returns int64 ``[N]`` in
    ``0..k-1``; every cluster keeps at least one row (an emptied centre takes the row
    farthest from its own centre)."""
    n = x.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k={k} must be in 1..{n}")
    x = x.double()
    centres = [int(rng.integers(n))]
    for _ in range(1, k):
        d = torch.cdist(x, x[centres]).min(1).values.pow(2).numpy()
        total = d.sum()
        nxt = int(rng.choice(n, p=d / total)) if total > 0 else int(rng.integers(n))
        centres.append(nxt)
    c = x[centres].clone()
    assign = torch.full((n,), -1, dtype=torch.long)
    for _ in range(iterations):
        dist = torch.cdist(x, c)
        new = dist.argmin(1)
        fit = dist.gather(1, new.view(-1, 1)).view(-1)
        for j in range(k):  # refill an empty cluster with the worst-fitted row of a shared one
            if not bool((new == j).any()):
                sizes = torch.bincount(new, minlength=k)
                far = int(torch.where(sizes[new] > 1, fit, -1.0).argmax())
                new[far] = j
                fit[far] = -1.0  # a row that founded a cluster stays there
        if torch.equal(new, assign):
            break
        assign = new
        for j in range(k):
            c[j] = x[assign == j].mean(0)
    return assign.numpy().astype(np.int64)


def best_per_cluster(assign: np.ndarray, score: torch.Tensor) -> np.ndarray:
    """Per cluster, the position of its highest-``score`` member; clusters ordered largest
    first (ties: lower cluster id). Returns int64 positions into ``assign``."""
    s = score.double().numpy()
    ids, sizes = np.unique(assign, return_counts=True)
    out = []
    for j in ids[np.lexsort((ids, -sizes))]:
        members = np.flatnonzero(assign == j)
        out.append(members[np.argmax(s[members])])
    return np.asarray(out, dtype=np.int64)


def resolve_window_pick(
    window_pick: str,
    drop_static: float,
    ipc: int,
    salient_from_ipc: int,
    room: float = 0.0,
    salient_room: float = 0.0,
) -> tuple[str, float]:
    """The window rule a set of ``ipc`` uses: ``(pick, drop_static)`` for :func:`salient_frames`.

    ``salient`` and ``random`` are taken as they are. ``by_ipc``: the most salient run of all
    frames (``salient``, nothing dropped) from ``salient_from_ipc`` videos per class on, and
    at every budget when the cached videos hold at least ``salient_room`` clips' worth of
    frames (``room``: cached frames / clip frames; ``salient_room`` 0: never); otherwise a
    random run among the frames that move (``random`` with ``drop_static``). Each is the rule
    that measured best there on validation: with 16 cached frames for 8-frame clips (room 2)
    the moving-frames rule led at IPC 1, with 32 (room 4) the salient run did.
    """
    if window_pick in ("salient", "random"):
        return window_pick, drop_static
    if window_pick != "by_ipc":
        raise ValueError(f"unknown window pick {window_pick!r}; expected salient, random or by_ipc")
    if salient_from_ipc < 1:
        raise ValueError(f"salient_from_ipc must be >= 1, got {salient_from_ipc}")
    if salient_room < 0:
        raise ValueError(f"salient_room must be >= 0, got {salient_room}")
    roomy = salient_room > 0 and room >= salient_room
    return ("salient", 0.0) if ipc >= salient_from_ipc or roomy else ("random", drop_static)


def _repeats(idx: np.ndarray) -> np.ndarray:
    """bool ``[n]``: True where ``idx[i]`` already occurred earlier in ``idx``."""
    seen: set[int] = set()
    out = np.zeros(len(idx), dtype=bool)
    for i, v in enumerate(np.asarray(idx).tolist()):
        out[i] = v in seen
        seen.add(v)
    return out


def make_tsgd_set(
    cache_dir: str | Path,
    teacher_path: str | Path,
    saliency_path: str | Path,
    out_path: str | Path,
    *,
    ipc: int,
    frames: int,
    crop: int,
    seed: int,
    init: str,
    init_pick: str,
    synthesis: SynthesisConfig,
    mosaic_grid: int = 1,
    temporal_pieces: int = 1,
    window_pick: str = "salient",
    drop_static: float = 0.0,
    salient_from_ipc: int = 5,
    salient_room: float = 0.0,
    crop_pick: str = "center",
    crop_scale: float = 1.0,
    decode_pieces: bool = False,
    device: str = "auto",
    dataset: str = "",
    method: str = "tsgd",
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 0,
) -> dict[str, Any]:
    """TSGD: initialise from the most salient windows of real videos (or noise), optionally
    packed: ``temporal_pieces`` salient segments of frames / pieces frames stitched in time,
    and/or ``mosaic_grid`` x ``mosaic_grid`` half-size pieces in space; then run
    :func:`synthesize` against the frozen teacher (``iterations`` > 0). Returns metrics
    (losses, clip change, the teacher's mean probability of the true class before and after).
    A decoded set is refined through :func:`unpack`: the teacher scores each piece as the
    students will see it, and TSGF's weights come from each temporal piece on its own.

    ``decode_pieces``: students train on each packed piece as a clip of its own
    (:func:`unpack`); a temporal piece is then a whole ``frames``-long window subsampled by
    ``temporal_pieces`` rather than a run of ``frames / temporal_pieces`` frames.

    Which frames each piece takes: ``window_pick`` ``salient`` (the most salient run, after
    dropping near-static frames when ``drop_static`` > 0: see :func:`salient_frames`),
    ``random`` (TSGF off; with ``drop_static``, among the frames that move) or ``by_ipc``
    (one or the other by budget and by how many clips' worth of frames a cached video holds,
    ``salient_room``: :func:`resolve_window_pick`). Which videos: ``init_pick``
    ``random``, ``spread`` (random, but one per group before any group gives a second:
    :func:`spread_over_groups`),
    ``confident`` (per class, the videos whose chosen frames the teacher scores highest for
    their class), ``diverse`` (the same ranking, spread over groups) or ``cluster`` (per
    class, k-means on the teacher's features of the chosen frames into as many clusters as
    pieces, and the teacher's best-scored video of each cluster, largest cluster first).
    A video used for more pieces than once (a class with fewer videos than pieces) gives
    each later piece a fresh random run of its frames (``window_pick`` random, after
    ``drop_static``) rather than a copy. Where in the frames: ``crop_pick`` ``center`` or
    ``salient`` and ``crop_scale`` (:func:`crop_boxes`, with the synthesis's saliency
    constants); the teacher ranks the pieces as cropped.
    """
    dev = pick_device(device)
    torch.manual_seed(seed)
    data, stats = load_split(cache_dir, "train"), load_stats(cache_dir)
    mean, std = stats["mean"], stats["std"]
    teacher, tmeta = load_model(teacher_path, {"classes": data.classes}, dev)
    sal, smeta = load_tensors(saliency_path, {"classes": data.classes, "clip_frames": frames})
    rng = np.random.default_rng(seed)
    pools = _per_class(data.labels, data.classes)
    if frames % temporal_pieces:
        raise ValueError(f"{frames} frames do not split into {temporal_pieces} pieces")
    seg = frames // temporal_pieces
    room = sal["frame_saliency"].shape[1] / frames  # clips' worth of frames in a cached video
    pick, drop = resolve_window_pick(
        window_pick, drop_static, ipc, salient_from_ipc, room, salient_room
    )
    # a piece's run of cached frames: a whole window subsampled in time when decoded
    run, stride = (frames, temporal_pieces) if decode_pieces else (seg, 1)
    chosen = salient_frames(
        sal["frame_saliency"],
        run,
        drop_static=drop,
        pick=pick,
        rng=np.random.default_rng([seed, 1]),
    )[:, ::stride]
    per_video = mosaic_grid * mosaic_grid * temporal_pieces
    pieces = ipc * per_video

    def boxes_of(videos: np.ndarray, frame_idx: np.ndarray) -> np.ndarray | None:
        if crop_pick == "center" and crop_scale == 1.0:
            return None
        return crop_boxes(
            data,
            videos,
            frame_idx,
            crop,
            pick=crop_pick,
            scale=crop_scale,
            saliency=synthesis.saliency,
        )

    if init_pick == "random":
        idx = np.concatenate([_pick(rng, pool, pieces) for pool in pools])
    elif init_pick == "spread":
        idx = np.concatenate(
            [
                np.resize(spread_over_groups(order, [data.groups[i] for i in order]), pieces)
                for order in (rng.permutation(pool) for pool in pools)
            ]
        )
    elif init_pick in ("confident", "diverse", "cluster"):
        picks = []
        for c, pool in enumerate(pools):
            at = chosen[pool]
            x = _frames(data, pool, at, crop, mean, std, dev, boxes_of(pool, at))
            p = _true_class_prob(teacher, x, torch.full((pool.size,), c, device=dev)).cpu()
            if init_pick == "cluster":
                feats = _embed(teacher, x)
                assign = kmeans(feats, min(pieces, pool.size), rng)
                order = pool[best_per_cluster(assign, p)]
            else:
                order = pool[torch.argsort(p, descending=True, stable=True).numpy()]
                if init_pick == "diverse":
                    order = spread_over_groups(order, [data.groups[i] for i in order])
            picks.append(np.resize(order, pieces))
        idx = np.concatenate(picks)
    else:
        raise ValueError(
            f"unknown init_pick {init_pick!r}; expected random, spread, confident, diverse or cluster"
        )
    labels = torch.from_numpy(data.labels[idx[::per_video]].astype(np.int64)).to(dev)
    taken, boxes = None, None
    if init == "real":
        taken = chosen[idx].copy()
        again = _repeats(idx)
        if again.any():  # a video used again: a fresh random run, not a copy
            taken[again] = salient_frames(
                sal["frame_saliency"][torch.from_numpy(idx[again])],
                run,
                drop_static=drop,
                pick="random",
                rng=np.random.default_rng([seed, 2]),
            )[:, ::stride]
        boxes = boxes_of(idx, taken)
        w = _frames(data, idx, taken, crop, mean, std, dev, boxes)
        x0 = mosaic(stitch(w, temporal_pieces), mosaic_grid)
    elif init == "noise":
        g = seeded_generator(seed)
        x0 = torch.randn(labels.numel(), frames, 3, crop, crop, generator=g).to(dev)
    else:
        raise ValueError(f"unknown init {init!r}; expected real or noise")
    gen = seeded_generator(seed, "cpu")

    def seen(v: torch.Tensor) -> torch.Tensor:
        """What students train on: a decoded set's pieces, each a clip (refined and scored so)."""
        return unpack(v, temporal_pieces, mosaic_grid) if decode_pieces else v

    videos, history = synthesize(
        teacher,
        x0,
        labels,
        synthesis,
        bounds=pixel_bounds(mean, std),
        generator=gen,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        view=seen if decode_pieces else None,
        segments=temporal_pieces if decode_pieces else 1,
    )
    seen_labels = labels.repeat_interleave(per_video if decode_pieces else 1)
    init_prob = float(_true_class_prob(teacher, seen(x0), seen_labels).mean())
    final_prob = float(_true_class_prob(teacher, seen(videos), seen_labels).mean())
    meta = _set_meta(
        data, stats, method=method, ipc=ipc, frames=frames, crop=crop, seed=seed, dataset=dataset
    )
    meta.update(
        {
            "teacher_sha256": tmeta["sha256"],
            "saliency_sha256": smeta["sha256"],
            "init": init,
            "init_pick": init_pick,
            "temporal_pieces": temporal_pieces,
            "mosaic_grid": mosaic_grid,
            "decode_pieces": decode_pieces,
            "window_pick": window_pick,
            "drop_static": drop_static,
            "windows": {"pick": pick, "drop_static": drop},
            "synthesis": asdict(synthesis),
            "source_videos": [data.paths[i] for i in idx] if init == "real" else [],
            "crop_pick": crop_pick,
            "crop_scale": crop_scale,
            "source_boxes": boxes.tolist() if boxes is not None else [],
            "source_frames": taken.tolist() if taken is not None else [],
        }
    )
    save_tensors(out_path, {"videos": videos.cpu(), "labels": labels.cpu()}, meta)
    last = {k: v[-1] for k, v in history.items() if v}
    return {
        "videos": int(labels.numel()),
        "device": str(dev),
        "teacher_prob_init": init_prob,
        "teacher_prob_final": final_prob,
        **{f"final_{k}": v for k, v in last.items()},
        "history": history,
    }
