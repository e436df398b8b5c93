"""Baseline video sets beside TSGD (METHOD.md, "Baselines"): herding and k-center coresets on
teacher features, and DM (distribution matching, Zhao & Bilen, WACV 2023) on video.

Every set is saved exactly like :func:`tsgd.distill.sets.make_random_set`'s:
``videos: float32 [classes * IPC, T, C, crop, crop]`` (normalised with the cache's mean/std)
and ``labels: int64 [classes * IPC]`` (class-major), safetensors + meta.json.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from tsgd.data.transforms import seeded_generator, to_float_clips
from tsgd.distill.sets import _embedder, _per_class, _set_meta, _windows, random_picks
from tsgd.engine import pick_device
from tsgd.io.checkpoint import load_training_state, save_training_state
from tsgd.io.clipcache import ClipSplit, load_split, load_stats
from tsgd.io.sets import save_tensors
from tsgd.models.checkpoint import load_model
from tsgd.models.registry import build_model

log = logging.getLogger(__name__)

__all__ = [
    "CORESET_METHODS",
    "DM_MODELS",
    "herding_select",
    "kcenter_select",
    "make_coreset_set",
    "make_dm_set",
    "matching_loss",
]

CORESET_METHODS = ("herding", "kcenter")
#: the randomly initialised ConvNet3D DM embeds with, by norm
DM_MODELS = {"none": "convnet3d", "batch": "convnet3d_bn", "instance": "convnet3d_in"}


# ------------------------------------------------------------------------------- selection


def _check_features(features: torch.Tensor, k: int) -> torch.Tensor:
    if features.dim() != 2 or features.shape[0] < 1:
        raise ValueError(f"features must be [N, D] with N >= 1, got {tuple(features.shape)}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return features.detach().to("cpu", torch.float64)


def herding_select(features: torch.Tensor, k: int) -> torch.Tensor:
    """Herding (Welling 2009, as in iCaRL): greedily add the sample that brings the mean of
    the chosen set closest to the mean of all ``features: [N, D]``; no repeats.

    Returns ``int64 [min(k, N)]`` row indices in the order chosen (ties: lowest index).
    """
    f = _check_features(features, k)
    n = f.shape[0]
    target = f.mean(0)
    total = torch.zeros_like(target)
    taken = torch.zeros(n, dtype=torch.bool)
    order = []
    for t in range(1, min(k, n) + 1):
        # ||target - (total + f_i) / t||^2 up to the factor t^2
        dist = (target * t - total - f).square().sum(1)
        dist[taken] = float("inf")
        i = int(torch.argmin(dist))  # first minimum on ties
        order.append(i)
        taken[i] = True
        total += f[i]
    return torch.tensor(order, dtype=torch.int64)


def kcenter_select(features: torch.Tensor, k: int, first: int) -> torch.Tensor:
    """Greedy k-center (farthest-point traversal) of ``features: [N, D]``: start from row
    ``first``, then repeatedly add the point farthest from its nearest chosen point.

    Returns ``int64 [min(k, N)]`` row indices in the order chosen (ties: lowest index).
    """
    f = _check_features(features, k)
    n = f.shape[0]
    if not 0 <= first < n:
        raise ValueError(f"first must index one of the {n} points, got {first}")
    order = [int(first)]
    nearest = (f - f[first]).square().sum(1)
    taken = torch.zeros(n, dtype=torch.bool)
    taken[first] = True
    for _ in range(min(k, n) - 1):
        gap = nearest.masked_fill(taken, -1.0)
        i = int(torch.argmax(gap))  # first maximum on ties
        order.append(i)
        taken[i] = True
        nearest = torch.minimum(nearest, (f - f[i]).square().sum(1))
    return torch.tensor(order, dtype=torch.int64)


# ------------------------------------------------------------------------------- checks


def _check_clip(data: ClipSplit, ipc: int, frames: int, crop: int) -> None:
    if ipc < 1:
        raise ValueError(f"ipc must be >= 1, got {ipc}")
    _, length, height, width, _ = data.clips.shape
    if not 1 <= frames <= length:
        raise ValueError(f"frames={frames} must be between 1 and the cached clip length {length}")
    if not 1 <= crop <= min(height, width):
        raise ValueError(
            f"crop={crop} must be between 1 and the cached frame size {height}x{width}"
        )


# ------------------------------------------------------------------------------- coresets


@torch.no_grad()
def teacher_features(
    model: nn.Module,
    data: ClipSplit,
    starts: np.ndarray,
    *,
    frames: int,
    crop: int,
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device,
    batch_size: int = 64,
    progress: bool = False,
) -> torch.Tensor:
    """L2-normalised ``model.embed`` features ``[N, D]`` (on ``device``) of every video's
    ``frames``-frame window at ``starts``, centre-cropped, in batches (model in eval mode)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    embed = _embedder(model)
    model.eval()
    n = len(data)
    out = []
    batches = range(0, n, batch_size)
    for b in tqdm(
        batches, desc="embed", unit="batch", file=sys.stderr, disable=not progress, mininterval=1.0
    ):
        idx = np.arange(b, min(b + batch_size, n))
        x = _windows(data, idx, starts[idx], frames, crop, list(mean), list(std), device)
        out.append(F.normalize(embed(x).flatten(1).float(), dim=1))
    return torch.cat(out)


def make_coreset_set(
    cache_dir: str | Path,
    out_path: str | Path,
    *,
    method: str,
    teacher_path: str | Path,
    ipc: int,
    frames: int,
    crop: int,
    seed: int,
    dataset: str = "",
    device: str = "auto",
    batch_size: int = 64,
    progress: bool = True,
) -> dict[str, Any]:
    """Herding or k-center coreset of real videos on the teacher's features.

    Every training video's centre ``frames``-frame window (centre-cropped) is embedded with
    the teacher's ``embed``; features are L2-normalised; per class, ``ipc`` videos are picked
    (k-center starts from the video nearest to the class mean) and their centre windows
    saved. ``seed`` only breaks exact ties (it shuffles the candidates). A class with fewer
    than ``ipc`` videos repeats its greedy order. Returns metrics.
    """
    if method not in CORESET_METHODS:
        raise ValueError(f"unknown coreset method {method!r}; expected one of {CORESET_METHODS}")
    data, stats = load_split(cache_dir, "train"), load_stats(cache_dir)
    _check_clip(data, ipc, frames, crop)
    mean, std = stats["mean"], stats["std"]
    dev = pick_device(device)
    t0 = time.perf_counter()
    teacher, tmeta = load_model(teacher_path, {"classes": data.classes}, dev)
    starts = np.full(len(data), (data.clips.shape[1] - frames) // 2, dtype=np.int64)
    feats = teacher_features(
        teacher,
        data,
        starts,
        frames=frames,
        crop=crop,
        mean=mean,
        std=std,
        device=dev,
        batch_size=batch_size,
        progress=progress,
    ).cpu()
    rng = np.random.default_rng(seed)
    picks = []
    for pool in _per_class(data.labels, data.classes):
        perm = rng.permutation(pool.size)  # candidate order: only decides exact ties
        f = feats[torch.from_numpy(pool[perm])]
        if method == "herding":
            sel = herding_select(f, ipc)
        else:
            first = int(torch.argmin((f - f.mean(0)).square().sum(1)))
            sel = kcenter_select(f, ipc, first)
        picks.append(np.resize(pool[perm[sel.numpy()]], ipc))
    idx = np.concatenate(picks)
    videos = _windows(data, idx, starts[idx], frames, crop, mean, std, torch.device("cpu"))
    labels = torch.from_numpy(data.labels[idx].astype(np.int64))
    meta = _set_meta(
        data, stats, method=method, ipc=ipc, frames=frames, crop=crop, seed=seed, dataset=dataset
    )
    meta.update(
        {
            "teacher_sha256": tmeta["sha256"],
            "features": "teacher embed of the centre window, L2-normalised",
            "source_videos": [data.paths[i] for i in idx],
            "source_starts": starts[idx].tolist(),
        }
    )
    save_tensors(out_path, {"videos": videos, "labels": labels}, meta)
    return {
        "videos": int(idx.size),
        "device": str(dev),
        "feature_dim": int(feats.shape[1]),
        "seconds": time.perf_counter() - t0,
    }


# ------------------------------------------------------------------------------------- DM


def matching_loss(real: torch.Tensor, syn: torch.Tensor, num_classes: int) -> torch.Tensor:
    """DM's loss: ``sum_c ||mean(real_c) - mean(syn_c)||^2`` for class-major embeddings
    ``real: [C * R, D]`` and ``syn: [C * S, D]`` (R, S rows per class, classes in order)."""
    mr = real.reshape(num_classes, -1, real.shape[-1]).mean(1)
    ms = syn.reshape(num_classes, -1, syn.shape[-1]).mean(1)
    return (mr - ms).square().sum()


def _net_seed(seed: int, iteration: int) -> int:
    return int(np.random.SeedSequence([seed, iteration]).generate_state(1, np.uint64)[0])


@torch.no_grad()
def reinit_(model: nn.Module, generator: torch.Generator) -> None:
    """Draw fresh weights in place, as PyTorch's default initialisation does, from
    ``generator`` (on the model's device): conv / linear weight and bias ~ U(+-1/sqrt(fan_in)),
    norm scales 1 and shifts 0."""
    for m in model.modules():
        if isinstance(m, nn.modules.conv._ConvNd | nn.Linear):
            bound = 1.0 / float(np.sqrt(m.weight[0].numel()))
            m.weight.uniform_(-bound, bound, generator=generator)
            if m.bias is not None:
                m.bias.uniform_(-bound, bound, generator=generator)
        elif isinstance(m, nn.modules.batchnorm._NormBase | nn.GroupNorm | nn.LayerNorm):
            if getattr(m, "weight", None) is not None:
                m.weight.fill_(1.0)
            if getattr(m, "bias", None) is not None:
                m.bias.zero_()
        elif any(True for _ in m.parameters(recurse=False)):
            raise ValueError(f"cannot re-initialise a {type(m).__name__}")


def _resident_clips(data: ClipSplit, crop: int, device: torch.device) -> torch.Tensor:
    """All training clips, centre-cropped, as uint8 ``[N, L, crop, crop, 3]`` on ``device``
    (copied in chunks, so host memory stays bounded)."""
    n, length, height, width, _ = data.clips.shape
    top, left = (height - crop) // 2, (width - crop) // 2
    out = torch.empty((n, length, crop, crop, 3), dtype=torch.uint8, device=device)
    chunk = max(1, (256 << 20) // max(1, length * crop * crop * 3))
    for b in range(0, n, chunk):
        part = data.clips[b : b + chunk, :, top : top + crop, left : left + crop]
        out[b : b + chunk].copy_(torch.from_numpy(np.array(part)))  # a writable copy
    return out


@contextlib.contextmanager
def _cudnn_benchmark(on: bool) -> Iterator[None]:
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = on or before
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


def make_dm_set(
    cache_dir: str | Path,
    out_path: str | Path,
    *,
    ipc: int,
    frames: int,
    crop: int,
    seed: int,
    dataset: str = "",
    iterations: int = 5000,
    lr: float = 30.0,
    momentum: float = 0.5,
    real_per_class: int = 64,
    widths: Sequence[int] = (64, 128, 128),
    norm: str = "instance",
    device: str = "auto",
    log_every: int = 100,
    progress: bool = True,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 0,
) -> dict[str, Any]:
    """Distribution Matching on video.

    The synthetic videos start as the random real windows :func:`make_random_set` picks with
    ``seed``. Each iteration draws a fresh randomly initialised ConvNet3D (``norm``; weights
    seeded from ``(seed, iteration)``), embeds ``real_per_class`` random real windows per
    class (without replacement while the class has enough videos; random start, centre
    crop; no gradient) and all synthetic videos, and takes an SGD (momentum) step on the
    synthetic videos against ``sum_c ||mean_real_c - mean_syn_c||^2``.

    All training clips stay on the device as uint8; each iteration is two forward passes
    (real, synthetic), each over all classes, and no host synchronisation (the loss is
    read every ``log_every`` iterations). Returns metrics: losses, seconds, iterations/s and
    peak GPU memory (None off CUDA).

    ``checkpoint``: resumable state (:mod:`tsgd.io.checkpoint`), resumed from when it exists
    and written every ``checkpoint_every`` iterations (0: never); the caller deletes it.
    """
    if norm not in DM_MODELS:
        raise ValueError(f"unknown norm {norm!r}; expected one of {sorted(DM_MODELS)}")
    if iterations < 0:
        raise ValueError(f"iterations must be >= 0, got {iterations}")
    if real_per_class < 1:
        raise ValueError(f"real_per_class must be >= 1, got {real_per_class}")
    if log_every < 1:
        raise ValueError(f"log_every must be >= 1, got {log_every}")
    data, stats = load_split(cache_dir, "train"), load_stats(cache_dir)
    _check_clip(data, ipc, frames, crop)
    mean, std = stats["mean"], stats["std"]
    dev = pick_device(device)
    cuda = dev.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(dev)
    t_start = time.perf_counter()

    # initialisation: exactly the random real subset of this seed
    length = data.clips.shape[1]
    pools = _per_class(data.labels, data.classes)
    init_idx, init_starts = random_picks(data, ipc=ipc, frames=frames, seed=seed)
    x0 = _windows(data, init_idx, init_starts, frames, crop, mean, std, dev)
    syn = x0.clone().requires_grad_(True)
    labels = torch.from_numpy(data.labels[init_idx].astype(np.int64))
    opt = torch.optim.SGD([syn], lr=lr, momentum=momentum)

    # real data resident on the device, with class-major sampling tables
    n_classes = len(data.classes)
    clips = _resident_clips(data, crop, dev)
    class_of = torch.from_numpy(data.labels).to(dev, torch.float64)
    counts = torch.tensor([p.size for p in pools], device=dev)
    offsets = torch.cumsum(counts, 0) - counts
    slot = torch.arange(real_per_class, device=dev)
    rows = (offsets[:, None] + slot[None, :] % counts[:, None]).reshape(-1)  # [C * R]
    frame_offs = torch.arange(frames, device=dev)
    batch_gen = seeded_generator(seed, dev)
    net_gen = torch.Generator(device=dev)

    model = build_model(DM_MODELS[norm], n_classes, widths=tuple(widths), dropout=0.0).to(dev)
    model.train()  # BatchNorm (if any) normalises with batch statistics, as in DM
    model.requires_grad_(False)
    embed = _embedder(model)

    def real_batch() -> torch.Tensor:
        # random order within each class: sort by class + uniform key
        keys = class_of + torch.rand(
            class_of.shape, generator=batch_gen, device=dev, dtype=torch.float64
        )
        perm = torch.argsort(keys, stable=True)
        vid = perm[rows]
        starts = torch.randint(
            0, length - frames + 1, (vid.numel(),), generator=batch_gen, device=dev
        )
        win = clips[vid[:, None], starts[:, None] + frame_offs]  # [C*R, frames, crop, crop, 3]
        return to_float_clips(win, mean, std)

    losses = torch.zeros(iterations, device=dev)
    history: list[tuple[int, float]] = []
    start = 0
    if checkpoint is not None and Path(checkpoint).is_file():
        state, saved = load_training_state(
            checkpoint, optimizer=opt, scheduler=None, generators=[batch_gen]
        )
        with torch.no_grad():
            syn.copy_(saved["syn"].to(syn))
            losses.copy_(saved["losses"].to(losses))
        history = [(int(i), float(v)) for i, v in state["history"]]
        start = int(state["iteration"]) + 1
        log.info("dm: resuming from %s after iteration %d", checkpoint, start)
    t_loop = time.perf_counter()
    with _cudnn_benchmark(cuda):
        bar = tqdm(
            range(start, iterations),
            desc="dm",
            unit="it",
            file=sys.stderr,
            disable=not progress,
            mininterval=1.0,
            initial=start,
            total=iterations,
        )
        for it in bar:
            net_gen.manual_seed(_net_seed(seed, it))
            reinit_(model, net_gen)
            with torch.no_grad():
                real = embed(real_batch())
            loss = matching_loss(real, embed(syn), n_classes)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses[it] = loss.detach()
            if (it + 1) % log_every == 0 or it + 1 == iterations:
                value = float(losses[it])  # the only host sync: every log_every iterations
                history.append((it, value))
                bar.set_postfix(loss=f"{value:.4g}")
            if checkpoint is not None and checkpoint_every and (it + 1) % checkpoint_every == 0:
                save_training_state(
                    checkpoint,
                    optimizer=opt,
                    scheduler=None,
                    generators=[batch_gen],
                    progress={"iteration": it, "history": history},
                    tensors={"syn": syn, "losses": losses},
                )
        bar.close()
    if cuda:
        torch.cuda.synchronize(dev)
    loop_s = time.perf_counter() - t_loop
    trace = losses.cpu().tolist()
    window = max(1, iterations // 10)

    meta = _set_meta(
        data, stats, method="dm", ipc=ipc, frames=frames, crop=crop, seed=seed, dataset=dataset
    )
    meta.update(
        {
            "init": "real",
            "dm": {
                "iterations": iterations,
                "lr": lr,
                "momentum": momentum,
                "real_per_class": real_per_class,
                "model": DM_MODELS[norm],
                "widths": list(widths),
                "norm": norm,
            },
            "source_videos": [data.paths[i] for i in init_idx],
            "source_starts": init_starts.tolist(),
        }
    )
    save_tensors(out_path, {"videos": syn.detach().cpu(), "labels": labels}, meta)
    peak = torch.cuda.max_memory_allocated(dev) if cuda else None
    return {
        "videos": int(init_idx.size),
        "device": str(dev),
        "iterations": iterations,
        "first_loss": trace[0] if trace else None,
        "final_loss": trace[-1] if trace else None,
        "loss_mean_first": float(np.mean(trace[:window])) if trace else None,
        "loss_mean_last": float(np.mean(trace[-window:])) if trace else None,
        "loss_history": history,
        "seconds": loop_s,
        "seconds_total": time.perf_counter() - t_start,
        "iterations_per_s": iterations / loop_s if loop_s > 0 else None,
        "clip_change": float((syn.detach() - x0).abs().mean()),
        "peak_gpu_memory_bytes": peak,
        "peak_gpu_memory_gib": peak / 2**30 if peak is not None else None,
    }
