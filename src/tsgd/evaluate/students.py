"""Stage 3: train students from scratch on a video set, test them on the real test split."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tsgd.data.transforms import random_resized_crop_flip, saliency_centers, seeded_generator
from tsgd.engine import (
    OptimConfig,
    evaluate_clips,
    hard_loss,
    pick_device,
    soft_loss,
    train_classifier,
)
from tsgd.io.clipcache import load_split, load_stats
from tsgd.io.sets import load_tensors
from tsgd.models.checkpoint import load_model
from tsgd.models.registry import arch_kwargs, build_model
from tsgd.saliency.tsgf import saliency_map
from tsgd.tracking import Tracker


def collapse_reason(diverged: bool, train_acc: float, test_top1: float, classes: int) -> str:
    """Why a student run counts as collapsed ('' if it did not): a non-finite loss, or
    training and test accuracy both stuck near chance (1/classes)."""
    if diverged:
        return "diverged (non-finite loss)"
    near_chance = 1.5 / classes
    if train_acc <= near_chance and test_top1 <= near_chance:
        return f"stuck at chance (train {train_acc:.2f}, test {test_top1:.2f})"
    return ""


def evaluate_set(
    set_path: str | Path,
    cache_dir: str | Path,
    *,
    student: str,
    seed: int,
    frames: int,
    crop: int,
    widths: list[int],
    dropout: float,
    epochs: int,
    batch_size: int,
    lr: float,
    optimizer: str,
    momentum: float,
    weight_decay: float,
    schedule: str,
    labels: str = "hard",
    temperature: float = 4.0,
    augment: bool = True,
    aug_scale_min: float = 0.5,
    flip: bool = True,
    tsgfa: bool = False,
    saliency: dict[str, Any] | None = None,
    test_passes: int = 3,
    teacher_path: str | Path | None = None,
    device: str = "auto",
    tracker: Tracker | None = None,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 0,
) -> dict[str, Any]:
    """Train ``student`` on the set at ``set_path`` and score it on the cache's test split.

    ``checkpoint`` / ``checkpoint_every`` (epochs): resumable training state, see
    :func:`tsgd.engine.train_classifier`.

    Returns metrics: ``test_top1`` (fraction), per-pass and per-class accuracy, final train
    loss/accuracy, ``collapsed`` (bool) with ``collapse_reason``, and the training history.
    """
    dev = pick_device(device)
    torch.manual_seed(seed)
    stats = load_stats(cache_dir)
    test = load_split(cache_dir, "test")
    tensors, meta = load_tensors(
        set_path, {"classes": test.classes, "frames": frames, "crop": crop}
    )
    videos = tensors["videos"].to(dev)
    set_labels = tensors["labels"].to(dev)
    k = len(test.classes)
    net = build_model(student, k, **arch_kwargs(student, widths, dropout)).to(dev)
    gen = seeded_generator(seed)
    spatial = None
    if tsgfa:
        with torch.no_grad():
            spatial = saliency_map(videos, **(saliency or {})).mean(dim=1)  # [N, H, W]

    def batch(idx: torch.Tensor) -> torch.Tensor:
        x = videos[idx.to(dev)]
        if not augment:
            return x
        centers = saliency_centers(spatial[idx.to(dev)], gen) if spatial is not None else None
        return random_resized_crop_flip(
            x,
            crop,
            scale=(aug_scale_min, 1.0),
            generator=gen,
            flip_p=0.5 if flip else 0.0,
            centers=centers,
        )

    if labels == "hard":
        loss_fn = hard_loss
    elif labels == "soft":
        if teacher_path is None:
            raise ValueError("labels: soft needs the teacher checkpoint")
        teacher, _ = load_model(teacher_path, {"classes": test.classes}, dev)
        loss_fn = soft_loss(teacher, temperature)
    else:
        raise ValueError(f"unknown labels {labels!r}; expected hard or soft")

    def on_epoch(epoch: int, s: dict[str, float]) -> None:
        if tracker is not None and (epoch % 10 == 0 or epoch == epochs - 1):
            tracker.log_metrics({"train_loss": s["loss"], "train_acc": s["acc"]}, step=epoch)

    cfg = OptimConfig(epochs, batch_size, lr, optimizer, momentum, weight_decay, schedule)
    result = train_classifier(
        net,
        set_labels,
        batch,
        cfg,
        generator=gen,
        loss_fn=loss_fn,
        desc=f"student {student}",
        on_epoch=on_epoch,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
    )
    if result.diverged:
        scores: dict[str, Any] = {
            "top1": 0.0,
            "top1_per_pass": [],
            "per_class": [0.0] * k,
            "confusion": [],
        }
    else:
        test_clips = torch.from_numpy(np.array(test.clips)).to(dev)  # uint8, resident
        scores = evaluate_clips(
            net,
            test_clips,
            torch.from_numpy(test.labels.astype("int64")),
            frames=frames,
            crop=crop,
            mean=stats["mean"],
            std=stats["std"],
            passes=test_passes,
            generator=seeded_generator(10_000 + seed),
            num_classes=k,
        )
    train_acc = result.history[-1]["acc"] if result.history else 0.0
    reason = collapse_reason(result.diverged, train_acc, scores["top1"], k)
    return {
        "method": meta.get("method"),
        "ipc": meta.get("ipc"),
        "student": student,
        "seed": seed,
        "labels": labels,
        "augment": augment,
        "tsgfa": tsgfa,
        "test_top1": scores["top1"],
        "test_top1_per_pass": scores["top1_per_pass"],
        "per_class": dict(zip(test.classes, scores["per_class"], strict=True)),
        "confusion": scores["confusion"],
        "final_train_loss": result.final_loss,
        "final_train_acc": train_acc,
        "chance": 1.0 / k,
        "ln_classes": math.log(k),
        "collapsed": bool(reason),
        "collapse_reason": reason,
        "set_sha256": meta["sha256"],
        "device": str(dev),
        "history": result.history,
    }
