"""Stage 2: uni-level synthesis against a frozen teacher, with TSGF-weighted updates (TSGFO).

L(x_S) = ce_weight * CE(phi_T(A(x_S)), y_S)
         + bn_weight * sum_l m_l * (||mu_l(A(x_S)) - RM_l||_2 + ||var_l(A(x_S)) - RV_l||_2)

with A a random resized crop + flip identical across a video's frames, m_1 =
``first_bn_multiplier`` and m_l = 1 otherwise. TSGF weights W = beta + (1 - beta) * S_hat
scale the optimiser's step (``tsgf_apply="update"``) or the raw gradient (``"grad"``).
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from tsgd.data.transforms import random_resized_crop_flip
from tsgd.io.checkpoint import load_training_state, save_training_state
from tsgd.saliency.tsgf import saliency_map, saliency_weight

log = logging.getLogger(__name__)


class _BNStats:
    """Forward hook storing ||batch mean - running mean|| + ||batch var - running var||."""

    def __init__(self, module: nn.modules.batchnorm._BatchNorm) -> None:
        self.module = module
        self.loss: torch.Tensor | None = None
        self.handle = module.register_forward_hook(self._hook)

    def _hook(self, mod: nn.Module, inputs: tuple[torch.Tensor, ...], _out: torch.Tensor) -> None:
        x = inputs[0]
        dims = [0, *range(2, x.dim())]
        mean = x.mean(dims)
        var = x.var(dims, unbiased=False)
        self.loss = torch.linalg.vector_norm(mean - mod.running_mean) + torch.linalg.vector_norm(
            var - mod.running_var
        )


@contextmanager
def bn_statistics(model: nn.Module) -> Iterator[list[_BNStats]]:
    """Hooks on every BatchNorm layer of ``model`` (in forward order of registration)."""
    hooks = [_BNStats(m) for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not hooks:
        raise ValueError("the teacher has no BatchNorm layer; BN-statistics matching needs one")
    try:
        yield hooks
    finally:
        for h in hooks:
            h.handle.remove()


def bn_loss(hooks: list[_BNStats], first_multiplier: float = 1.0) -> torch.Tensor:
    """Sum of the hooks' per-layer losses after a forward pass; the first layer x multiplier."""
    losses = [h.loss for h in hooks]
    if any(v is None for v in losses):
        raise RuntimeError("bn_loss called before a forward pass through the teacher")
    total = first_multiplier * losses[0]  # type: ignore[operator]
    for v in losses[1:]:
        total = total + v  # type: ignore[operator]
    return total


def tsgf_weights(
    x: torch.Tensor, beta: float, saliency_kw: dict[str, Any], segments: int = 1
) -> torch.Tensor:
    """W for videos ``x: [N, T, C, H, W]`` -> ``[N, T, 1, H, W]`` in [beta, 1] (no gradient).

    ``segments`` > 1: each video is that many runs of ``T / segments`` frames stitched in time
    (:func:`tsgd.distill.sets.stitch`); each run gets its own saliency."""
    n, t = x.shape[:2]
    if t % segments:
        raise ValueError(f"{t} frames do not split into {segments} segments")
    with torch.no_grad():
        runs = x.detach().reshape(n * segments, t // segments, *x.shape[2:])
        w = saliency_weight(saliency_map(runs, **saliency_kw), beta)
        return w.reshape(n, t, *w.shape[2:]).unsqueeze(2)


def weighted_step(
    x: torch.Tensor, optimizer: torch.optim.Optimizer, weight: torch.Tensor | None, apply: str
) -> None:
    """One optimiser step on the leaf tensor ``x`` with TSGF weighting.

    ``apply="update"``: x <- x_old + W * (step the optimiser would take), so W scales the
    actual change even under Adam's per-element normalisation. ``apply="grad"``: the gradient
    is multiplied by W before the step (meaningful for SGD; Adam largely normalises it away).
    ``weight=None``: a plain step.
    """
    if weight is None:
        optimizer.step()
        return
    if apply == "grad":
        if x.grad is not None:
            x.grad.mul_(weight)
        optimizer.step()
    elif apply == "update":
        before = x.detach().clone()
        optimizer.step()
        with torch.no_grad():
            x.copy_(before + weight * (x - before))
    else:
        raise ValueError(f"unknown tsgf_apply {apply!r}; expected update or grad")


@dataclass
class SynthesisConfig:
    """Hyperparameters of stage 2 (see params.yaml ``distill``)."""

    iterations: int = 200
    lr: float = 0.01
    optimizer: str = "adam"
    ce_weight: float = 1.0
    bn_weight: float = 0.01
    first_bn_multiplier: float = 10.0
    tsgf: bool = True
    tsgf_apply: str = "update"
    beta: float = 0.2
    aug_scale_min: float = 0.5
    flip: bool = True
    saliency: dict[str, Any] = field(default_factory=dict)


def synthesize(
    teacher: nn.Module,
    x_init: torch.Tensor,
    labels: torch.Tensor,
    cfg: SynthesisConfig,
    *,
    bounds: tuple[torch.Tensor, torch.Tensor],
    generator: torch.Generator,
    progress: bool = True,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 0,
    view: Callable[[torch.Tensor], torch.Tensor] | None = None,
    segments: int = 1,
) -> tuple[torch.Tensor, dict[str, list[float]]]:
    """Optimise synthetic videos against the frozen ``teacher``; all videos as one batch.

    Args:
        teacher: classifier with BatchNorm, taking float ``[N, T, C, H, W]``.
        x_init: float ``[N, T, C, H, W]`` normalised (real salient windows or noise).
        labels: int64 ``[N]``.
        bounds: per-channel (low, high) of valid normalised pixels, each ``[C]``; videos are
            clamped into this box after every step so they stay storable images.
        generator: RNG for the augmentation (on ``x_init``'s device or CPU).
        checkpoint: file for resumable state (:mod:`tsgd.io.checkpoint`): resumed from when
            it exists, written every ``checkpoint_every`` iterations (0: never). The caller
            deletes it once the set is written.
        view: what the teacher scores instead of the stored videos themselves, as a
            differentiable function of them (e.g. the decoded pieces of packed videos:
            ``[N, ...] -> [N * P, ...]``, each stored video's P pieces in order, sharing its
            label). The optimised tensor stays the stored one.
        segments: TSGF's weights are computed on each of this many equal runs of frames
            separately (videos stitched in time), so no seam between pieces reads as motion.

    Returns:
        The optimised videos (same shape, detached) and a history with per-iteration
        ``loss``, ``ce``, ``bn`` and ``change`` (mean |x - x_init|, normalised units).
    """
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    x = x_init.detach().clone().requires_grad_(True)
    if cfg.optimizer == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam([x], lr=cfg.lr, betas=(0.5, 0.9))
    elif cfg.optimizer == "sgd":
        opt = torch.optim.SGD([x], lr=cfg.lr, momentum=0.9)
    else:
        raise ValueError(f"unknown optimizer {cfg.optimizer!r}; expected adam or sgd")
    total = max(1, cfg.iterations)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: 0.5 * (1 + math.cos(math.pi * i / total))
    )
    seen_labels = labels
    if view is not None:
        with torch.no_grad():
            per = view(x[:1]).shape[0]
        seen_labels = labels.repeat_interleave(per)
    lo = bounds[0].to(x).view(1, 1, -1, 1, 1)
    hi = bounds[1].to(x).view(1, 1, -1, 1, 1)
    crop = x.shape[-1]
    records: list[torch.Tensor] = []
    start = 0
    if checkpoint is not None and Path(checkpoint).is_file():
        state, saved = load_training_state(
            checkpoint, optimizer=opt, scheduler=sched, generators=[generator]
        )
        with torch.no_grad():
            x.copy_(saved["x"].to(x))
        records = [torch.tensor(r, dtype=x.dtype, device=x.device) for r in state["records"]]
        start = int(state["iteration"]) + 1
        log.info("distill: resuming from %s after iteration %d", checkpoint, start)
    with bn_statistics(teacher) as hooks:
        bar = tqdm(
            range(start, cfg.iterations),
            desc="distill",
            unit="it",
            file=sys.stderr,
            disable=not progress,
            mininterval=2.0,
            initial=start,
            total=cfg.iterations,
        )
        for it in bar:
            aug = random_resized_crop_flip(
                x if view is None else view(x),
                crop,
                scale=(cfg.aug_scale_min, 1.0),
                flip_p=0.5 if cfg.flip else 0.0,
                generator=generator,
            )
            logits = teacher(aug)
            ce = F.cross_entropy(logits, seen_labels)
            bn = bn_loss(hooks, cfg.first_bn_multiplier)
            loss = cfg.ce_weight * ce + cfg.bn_weight * bn
            opt.zero_grad(set_to_none=True)
            loss.backward()
            weight = tsgf_weights(x, cfg.beta, cfg.saliency, segments) if cfg.tsgf else None
            weighted_step(x, opt, weight, cfg.tsgf_apply)
            sched.step()
            with torch.no_grad():
                x.copy_(torch.maximum(torch.minimum(x, hi), lo))
                change = (x - x_init).abs().mean()
            records.append(torch.stack([loss.detach(), ce.detach(), bn.detach(), change]))
            if checkpoint is not None and checkpoint_every and (it + 1) % checkpoint_every == 0:
                save_training_state(
                    checkpoint,
                    optimizer=opt,
                    scheduler=sched,
                    generators=[generator],
                    progress={"iteration": it, "records": torch.stack(records).tolist()},
                    tensors={"x": x},
                )
    hist = torch.stack(records).cpu().tolist() if records else []
    history = {k: [r[i] for r in hist] for i, k in enumerate(("loss", "ce", "bn", "change"))}
    return x.detach(), history
