"""Stage 1: train the teacher (a BatchNorm video classifier) on the full training split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from tsgd.data.transforms import (
    gather_windows,
    random_resized_crop_flip,
    seeded_generator,
    to_float_clips,
)
from tsgd.engine import OptimConfig, evaluate_clips, pick_device, train_classifier
from tsgd.io.clipcache import has_split, load_split, load_stats
from tsgd.models.checkpoint import save_model
from tsgd.models.registry import arch_kwargs, build_model
from tsgd.tracking import Tracker


def real_batch_fn(
    clips: torch.Tensor,
    *,
    frames: int,
    crop: int,
    mean: list[float],
    std: list[float],
    scale_min: float,
    flip: bool,
    generator: torch.Generator,
    device: torch.device,
):
    """Training batches from cached real clips: a random temporal window per video, then a
    random resized crop + flip identical across its frames. ``clips: uint8 [N, L, H, W, 3]``."""
    length = int(clips.shape[1])

    def batch(idx: torch.Tensor) -> torch.Tensor:
        starts = torch.randint(0, length - frames + 1, (len(idx),), generator=generator)
        raw = gather_windows(clips[idx.to(clips.device)], starts.to(clips.device), frames)
        x = to_float_clips(raw.to(device), mean, std)
        return random_resized_crop_flip(
            x, crop, scale=(scale_min, 1.0), flip_p=0.5 if flip else 0.0, generator=generator
        )

    return batch


def load_clips(cache_dir: str | Path, split: str, device: torch.device):
    """A cached split as tensors on ``device``: uint8 clips [N, L, H, W, 3], int64 labels [N]."""
    data = load_split(cache_dir, split)
    clips = torch.from_numpy(np.array(data.clips)).to(device)
    labels = torch.from_numpy(np.asarray(data.labels, dtype=np.int64)).to(device)
    return data, clips, labels


def train_teacher(
    cache_dir: str | Path,
    out_path: str | Path,
    *,
    model: str,
    widths: list[int],
    dropout: float,
    frames: int,
    crop: int,
    epochs: int,
    batch_size: int,
    lr: float,
    optimizer: str,
    momentum: float,
    weight_decay: float,
    schedule: str,
    aug_scale_min: float,
    flip: bool,
    test_passes: int,
    seed: int,
    device: str = "auto",
    dataset: str = "",
    tracker: Tracker | None = None,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 0,
) -> dict[str, Any]:
    """Train ``model`` on the cache's train split; save weights + meta; return metrics.

    ``checkpoint`` / ``checkpoint_every`` (epochs): resumable training state, see
    :func:`tsgd.engine.train_classifier`.

    Metrics: ``train_top1``, ``test_top1`` (fractions), ``per_class`` test accuracy, ``history``;
    with a validation split in the cache (``dataset.val_groups``) also ``val_top1``: the
    score to choose a teacher by (epochs, widths) without looking at the test groups.
    """
    dev = pick_device(device)
    torch.manual_seed(seed)
    stats = load_stats(cache_dir)
    mean, std = stats["mean"], stats["std"]
    train, clips, labels = load_clips(cache_dir, "train", dev)
    _, test_clips, test_labels = load_clips(cache_dir, "test", dev)
    classes = train.classes
    net = build_model(model, len(classes), **arch_kwargs(model, widths, dropout)).to(dev)
    if not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in net.modules()):
        raise ValueError(f"teacher {model!r} has no BatchNorm layer; stage 2 matches BN stats")
    gen = seeded_generator(seed)
    batch = real_batch_fn(
        clips,
        frames=frames,
        crop=crop,
        mean=mean,
        std=std,
        scale_min=aug_scale_min,
        flip=flip,
        generator=gen,
        device=dev,
    )
    cfg = OptimConfig(epochs, batch_size, lr, optimizer, momentum, weight_decay, schedule)

    def on_epoch(epoch: int, s: dict[str, float]) -> None:
        if tracker is not None:
            tracker.log_metrics({"train_loss": s["loss"], "train_acc": s["acc"]}, step=epoch)

    result = train_classifier(
        net,
        labels,
        batch,
        cfg,
        generator=gen,
        desc="teacher",
        on_epoch=on_epoch,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
    )
    if result.diverged:
        raise RuntimeError("teacher training diverged (non-finite loss); lower teacher.lr")
    eval_gen = seeded_generator(seed + 1)
    common = dict(
        frames=frames, crop=crop, mean=mean, std=std, generator=eval_gen, num_classes=len(classes)
    )
    train_eval = evaluate_clips(net, clips, labels, passes=1, **common)
    test_eval = evaluate_clips(net, test_clips, test_labels, passes=test_passes, **common)
    val = {}
    val_clips, val_labels = (
        load_clips(cache_dir, "val", dev)[1:] if has_split(cache_dir, "val") else (None, [])
    )
    if len(val_labels):
        # its own generator: the score a published teacher gets on this split when rescored
        val_common = {**common, "generator": seeded_generator(seed + 1)}
        val_eval = evaluate_clips(net, val_clips, val_labels, passes=test_passes, **val_common)
        val = {"val_top1": val_eval["top1"], "val_top1_per_pass": val_eval["top1_per_pass"]}
    meta = {
        "role": "teacher",
        "model": model,
        "num_classes": len(classes),
        "classes": classes,
        "widths": list(widths),
        "dropout": dropout,
        "frames": frames,
        "crop": crop,
        "mean": mean,
        "std": std,
        "dataset": dataset,
        "seed": seed,
        "test_top1": test_eval["top1"],
        **({"val_top1": val["val_top1"]} if val else {}),
    }
    save_model(out_path, net, meta)
    return {
        "train_top1": train_eval["top1"],
        "test_top1": test_eval["top1"],
        "test_top1_per_pass": test_eval["top1_per_pass"],
        **val,
        "per_class": dict(zip(classes, test_eval["per_class"], strict=True)),
        "final_train_loss": result.final_loss,
        "epochs": epochs,
        "device": str(dev),
        "history": result.history,
    }
