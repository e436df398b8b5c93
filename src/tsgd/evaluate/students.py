"""Stage 3: train students from scratch on a video set, test them on the real test split."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tsgd.data.transforms import (
    center_crop,
    check_mix,
    gather_windows,
    mix_clips,
    random_resized_crop_flip,
    saliency_centers,
    seeded_generator,
    to_float_clips,
)
from tsgd.distill.sets import unpack
from tsgd.engine import (
    OptimConfig,
    evaluate_clips,
    hard_loss,
    has_batchnorm,
    pick_device,
    soft_loss,
    train_classifier,
    train_classifiers_grouped,
)
from tsgd.io.clipcache import load_split, load_stats
from tsgd.io.sets import load_tensors
from tsgd.models.checkpoint import load_model
from tsgd.models.registry import arch_kwargs, build_model
from tsgd.saliency.tsgf import saliency_map
from tsgd.tracking import Tracker

#: Seeds train as one vmapped model only up to this many clips per step. On an H200
#: (benchmarks/student_throughput-h200.md) one step of 3 ConvNet3D seeds at 256 clips took
#: 92.7 ms grouped against 37.6 ms one by one; in ucf9-gpu-cross.md a 300-epoch cell of 3
#: seeds took 2.9 s grouped (ConvNet3D) against 4.7 s one by one (ConvNet3D-BN) at 9 clips,
#: but 9.8 s against 6.4 s at 72. Past a few dozen clips one seed's step fills the card and
#: vmap's batched kernels only cost more.
GROUP_MAX_BATCH = 32


def student_batch_size(
    batch_size: int, soft_batch_size: int | None, labels: str, clips: int
) -> int:
    """The training batch for a set of ``clips`` clips (a step takes at most that many).
    A set that fits in one batch of ``batch_size`` trains full-batch under either label; a
    larger one trains at ``soft_batch_size`` under soft labels when that is set (on UCF-9's
    val groups batch 64 lifted soft-label students of 360-clip sets and cost those of
    72-clip sets when it split them: README "The soft-label student's batch"), else at
    ``batch_size``."""
    if batch_size < 1 or (soft_batch_size is not None and soft_batch_size < 1):
        raise ValueError(f"batch sizes must be >= 1, got {batch_size}, {soft_batch_size}")
    if labels == "soft" and soft_batch_size is not None and clips > batch_size:
        return soft_batch_size
    return batch_size


def collapse_reason(diverged: bool, train_acc: float, test_top1: float, classes: int) -> str:
    """Why a student run counts as collapsed ('' if it did not): a non-finite loss, or
    training and test accuracy both stuck near chance (1/classes)."""
    if diverged:
        return "diverged (non-finite loss)"
    near_chance = 1.5 / classes
    if train_acc <= near_chance and test_top1 <= near_chance:
        return f"stuck at chance (train {train_acc:.2f}, test {test_top1:.2f})"
    return ""


Source = Callable[[torch.device], Any]


def _set_source(set_path: str | Path, classes: list[str], frames: int, crop: int):
    tensors, meta = load_tensors(set_path, {"classes": classes, "frames": frames, "crop": crop})
    videos, labels = tensors["videos"], tensors["labels"]
    info = {"method": meta.get("method"), "ipc": meta.get("ipc"), "set_sha256": meta["sha256"]}
    if meta.get("decode_pieces"):  # packed pieces train as clips of their own
        pieces, grid = int(meta["temporal_pieces"]), int(meta["mosaic_grid"])
        videos = unpack(videos, pieces, grid)
        labels = labels.repeat_interleave(pieces * grid * grid)
        info["decoded_clips"] = int(labels.numel())
    return (lambda dev: videos.to(dev)), labels, info


def evaluate_set(
    set_path: str | Path,
    cache_dir: str | Path,
    *,
    student: str,
    seed: int,
    frames: int,
    crop: int,
    **kw: Any,
) -> dict[str, Any]:
    """Train ``student`` on the set at ``set_path`` and score it on the cache's test split
    (``eval_split``: another split of the cache, e.g. ``val`` for choosing settings).

    Keyword arguments: the student's training settings (see :func:`train_students`).
    Returns metrics: ``test_top1`` (fraction), per-pass and per-class accuracy, final train
    loss/accuracy, ``collapsed`` (bool) with ``collapse_reason``, and the training history.
    """
    return evaluate_sets(
        [set_path], cache_dir, student=student, seeds=[seed], frames=frames, crop=crop, **kw
    )[0]


def evaluate_sets(
    set_paths: list[str | Path],
    cache_dir: str | Path,
    *,
    student: str,
    seeds: list[int],
    frames: int,
    crop: int,
    **kw: Any,
) -> list[dict[str, Any]]:
    """:func:`evaluate_set` for several (set, seed) pairs at once: with ``grouped=True``
    their students train together (:func:`tsgd.engine.train_classifiers_grouped`)."""
    if len(set_paths) != len(seeds):
        raise ValueError("one seed per set")
    classes = load_split(cache_dir, kw.get("eval_split", "test")).classes
    made = [_set_source(p, classes, frames, crop) for p in set_paths]
    return train_students(
        [m[0] for m in made],
        [m[1] for m in made],
        cache_dir,
        student=student,
        seeds=seeds,
        frames=frames,
        crop=crop,
        set_infos=[m[2] for m in made],
        **kw,
    )


def evaluate_full(
    cache_dir: str | Path,
    *,
    student: str,
    seeds: list[int],
    frames: int,
    crop: int,
    **kw: Any,
) -> list[dict[str, Any]]:
    """The upper bound: train ``student`` on the whole training split (every step a random
    ``frames``-frame window of each cached video), once per seed, scored like
    :func:`evaluate_set`."""
    stats = load_stats(cache_dir)
    train = load_split(cache_dir, "train")
    clips = torch.from_numpy(np.array(train.clips))  # uint8 [N, L, H, W, 3]
    length = clips.shape[1]
    if frames > length:
        raise ValueError(f"clip of {frames} frames longer than the {length} cached frames")
    mean, std = stats["mean"], stats["std"]
    resident: dict[str, torch.Tensor] = {}

    def source(dev: torch.device) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor]:
        if str(dev) not in resident:
            resident[str(dev)] = clips.to(dev)
        on_dev = resident[str(dev)]

        def windows(idx: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
            starts = torch.randint(0, length - frames + 1, (idx.numel(),), generator=gen)
            raw = gather_windows(on_dev[idx.to(dev)], starts.to(dev), frames)
            return to_float_clips(raw, mean, std)

        return windows

    labels = torch.from_numpy(train.labels.astype(np.int64))
    info = {"method": "full", "ipc": None, "set_sha256": ""}
    return train_students(
        [source] * len(seeds),
        [labels] * len(seeds),
        cache_dir,
        student=student,
        seeds=seeds,
        frames=frames,
        crop=crop,
        set_infos=[info] * len(seeds),
        windows=True,
        **kw,
    )


def soft_teacher_paths(
    teacher_path: str | Path | Sequence[str | Path] | None, soft_teachers: int
) -> list[Path]:
    """The soft-label teachers' checkpoints, checked against ``soft_teachers`` (how many the
    params ask for): one path, or a list of that many distinct files."""
    if teacher_path is None:
        raise ValueError("labels: soft needs the teacher checkpoint")
    paths = (
        [Path(teacher_path)]
        if isinstance(teacher_path, str | Path)
        else [Path(p) for p in teacher_path]
    )
    if soft_teachers < 1:
        raise ValueError(f"soft_teachers must be at least 1, got {soft_teachers}")
    if len(paths) != soft_teachers:
        raise ValueError(
            f"soft_teachers: {soft_teachers} asks for {soft_teachers} teacher checkpoint(s), "
            f"got {len(paths)}: {[str(p) for p in paths]}"
        )
    if len({p.resolve() for p in paths}) != len(paths):
        raise ValueError(f"the soft-label teachers repeat a checkpoint: {[str(p) for p in paths]}")
    return paths


def train_students(
    sources: list[Source],
    set_labels: list[torch.Tensor],
    cache_dir: str | Path,
    *,
    student: str,
    seeds: list[int],
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
    set_infos: list[dict[str, Any]],
    soft_batch_size: int | None = None,
    windows: bool = False,
    labels: str = "hard",
    temperature: float = 4.0,
    hard_weight: float = 0.0,
    augment: bool = True,
    aug_scale_min: float = 0.5,
    flip: bool = True,
    tsgfa: bool = False,
    mix: str = "none",
    saliency: dict[str, Any] | None = None,
    test_passes: int = 3,
    teacher_path: str | Path | Sequence[str | Path] | None = None,
    soft_teachers: int = 1,
    eval_split: str = "test",
    grouped: bool = False,
    group_max_batch: int | None = None,
    precision: str = "fp32",
    device: str = "auto",
    tracker: Tracker | None = None,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 0,
) -> list[dict[str, Any]]:
    """Train a fresh ``student`` per seed on its set and score each on ``eval_split``.

    ``sources[i](device)`` gives run i's training videos: a float tensor ``[N, T, C, H, W]``
    (normalised), or with ``windows=True`` a function ``(indices, generator) -> [B, T, C,
    H, W]`` drawing fresh windows. ``labels``: ``hard`` (cross-entropy) or ``soft`` (KL to
    the teacher's logits on the same augmented batch, temperature ``temperature``; with
    ``hard_weight`` w > 0 the loss is ``(1 - w) KL + w CE``: see :func:`tsgd.engine.soft_loss`).
    ``teacher_path``: the soft-label teacher's checkpoint, or ``soft_teachers`` of them (an
    ensemble: the target is their mean tempered probability).
    ``soft_batch_size``: the batch of soft-label students whose set does not fit in one
    ``batch_size`` batch (:func:`student_batch_size`).
    ``tsgfa``: crop centres drawn with probability proportional to spatial saliency.
    ``mix``: ``none``, ``cutmix`` or ``mixup`` on every augmented batch (each run's own
    generator; :func:`tsgd.data.transforms.mix_clips`): hard labels train on the mixed
    targets, soft labels on the teacher's logits for the mixed clips.
    ``grouped``: train the runs together as one batched model when they can be (same
    labels, no BatchNorm in the student, fp32) and when it pays: a training batch of at most
    ``group_max_batch`` clips (default :data:`GROUP_MAX_BATCH`); otherwise one after another.
    ``precision``: ``fp32``, or ``bf16`` (students and the soft-label teacher run under
    bfloat16 autocast; weights and optimiser state stay float32; scoring is float32).
    ``checkpoint`` / ``checkpoint_every`` (epochs): resumable training state, see
    :func:`tsgd.engine.train_classifier`.
    """
    dev = pick_device(device)
    stats = load_stats(cache_dir)
    test = load_split(cache_dir, eval_split)
    k = len(test.classes)
    check_mix(mix)  # before any model is built
    nets, gens, batches = [], [], []
    for seed, source in zip(seeds, sources, strict=True):
        torch.manual_seed(seed)
        nets.append(build_model(student, k, **arch_kwargs(student, widths, dropout)).to(dev))
        gens.append(seeded_generator(seed))
        batches.append(
            _batch_fn(
                source(dev),
                gens[-1],
                windows=windows,
                augment=augment,
                crop=crop,
                scale=aug_scale_min,
                flip=flip,
                tsgfa=tsgfa,
                saliency=saliency,
                dev=dev,
            )
        )
    if labels == "hard":
        loss_fn = hard_loss
        soft_teachers = 0
    elif labels == "soft":
        paths = soft_teacher_paths(teacher_path, soft_teachers)
        teachers = [load_model(p, {"classes": test.classes}, dev)[0] for p in paths]
        loss_fn = soft_loss(teachers, temperature, hard_weight)
    else:
        raise ValueError(f"unknown labels {labels!r}; expected hard or soft")

    def on_epoch(epoch: int, s: dict[str, float]) -> None:
        if tracker is not None and (epoch % 10 == 0 or epoch == epochs - 1):
            tracker.log_metrics({"train_loss": s["loss"], "train_acc": s["acc"]}, step=epoch)

    ys = [y.to(dev) for y in set_labels]
    batch_size = student_batch_size(batch_size, soft_batch_size, labels, len(ys[0]))
    step_batch = min(batch_size, len(ys[0]))
    cfg = OptimConfig(
        epochs, batch_size, lr, optimizer, momentum, weight_decay, schedule, precision
    )
    mixes = (
        None
        if mix == "none"
        else [functools.partial(mix_clips, num_classes=k, kind=mix, generator=g) for g in gens]
    )
    same_labels = all(torch.equal(ys[0], y) for y in ys)
    group_max_batch = GROUP_MAX_BATCH if group_max_batch is None else group_max_batch
    if (
        grouped
        and len(nets) > 1
        and same_labels
        and not has_batchnorm(nets[0])
        and step_batch <= group_max_batch
        and precision == "fp32"
    ):
        results = train_classifiers_grouped(
            nets,
            ys[0],
            batches,
            cfg,
            generators=gens,
            loss_fn=loss_fn,
            mixes=mixes,
            desc=f"student {student}",
            checkpoint=checkpoint,
            checkpoint_every=checkpoint_every,
        )
        mode = "grouped"
    else:
        results = []
        for i, net in enumerate(nets):
            ck = checkpoint if checkpoint is None or len(nets) == 1 else f"{checkpoint}.{i}"
            results.append(
                train_classifier(
                    net,
                    ys[i],
                    batches[i],
                    cfg,
                    generator=gens[i],
                    loss_fn=loss_fn,
                    mix=None if mixes is None else mixes[i],
                    desc=f"student {student}",
                    on_epoch=on_epoch,
                    checkpoint=ck,
                    checkpoint_every=checkpoint_every,
                )
            )
        mode = "one by one"
    test_clips = torch.from_numpy(np.array(test.clips)).to(dev)  # uint8, resident
    test_labels = torch.from_numpy(test.labels.astype("int64"))
    out = []
    for seed, net, result, info in zip(seeds, nets, results, set_infos, strict=True):
        if result.diverged:
            scores: dict[str, Any] = {
                "top1": 0.0,
                "top1_per_pass": [],
                "per_class": [0.0] * k,
                "confusion": [],
            }
        else:
            scores = evaluate_clips(
                net,
                test_clips,
                test_labels,
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
        out.append(
            {
                **{key: v for key, v in info.items() if key != "set_sha256"},
                "student": student,
                "seed": seed,
                "labels": labels,
                "augment": augment,
                "tsgfa": tsgfa,
                "mix": mix,
                "soft_teachers": soft_teachers,
                "batch_size": step_batch,
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
                "set_sha256": info.get("set_sha256", ""),
                "eval_split": eval_split,
                "training": mode,
                "precision": precision,
                "device": str(dev),
                "history": result.history,
            }
        )
    return out


def _batch_fn(
    data: Any,
    gen: torch.Generator,
    *,
    windows: bool,
    augment: bool,
    crop: int,
    scale: float,
    flip: bool,
    tsgfa: bool,
    saliency: dict[str, Any] | None,
    dev: torch.device,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The training batch of one run: its videos (or fresh windows) at ``idx``, cropped,
    with the random resized crop + flip (TSGFA: centres drawn by saliency) from ``gen``."""
    spatial = None
    if tsgfa and not windows:
        with torch.no_grad():
            spatial = saliency_map(data, **(saliency or {})).mean(dim=1)  # [N, H, W]

    def batch(idx: torch.Tensor) -> torch.Tensor:
        x = data(idx, gen) if windows else data[idx.to(dev)]
        if not augment:
            return center_crop(x, crop)
        centers = None
        if tsgfa:
            with torch.no_grad():
                sal = (
                    spatial[idx.to(dev)]
                    if spatial is not None
                    else saliency_map(x, **(saliency or {})).mean(dim=1)
                )
            centers = saliency_centers(sal, gen)
        return random_resized_crop_flip(
            x,
            crop,
            scale=(scale, 1.0),
            generator=gen,
            flip_p=0.5 if flip else 0.0,
            centers=centers,
        )

    return batch
