"""Shared training / evaluation loops for video classifiers (used by teacher and evaluate).

A leaf module: it knows models and tensors, not phases or trackers; the only files it
touches are resumable training checkpoints (:mod:`tsgd.io.checkpoint`).
"""

from __future__ import annotations

import copy
import logging
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from tsgd.data.transforms import center_crop, gather_windows, to_float_clips
from tsgd.io.checkpoint import load_training_state, save_training_state

log = logging.getLogger(__name__)

BatchFn = Callable[[torch.Tensor], torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
#: (batch, labels) -> (mixed batch, targets): see :func:`tsgd.data.transforms.mix_clips`
MixFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def pick_device(requested: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cpu``/``cuda``/``cuda:N`` as given."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(requested)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {requested!r} requested but CUDA is not available")
    return dev


@dataclass
class OptimConfig:
    """Optimiser and schedule of a training run."""

    epochs: int
    batch_size: int
    lr: float
    optimizer: str = "sgd"  # sgd | adamw
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "step"  # step (x0.1 at half) | cosine | constant
    precision: str = "fp32"  # fp32 | bf16 (forward passes and losses under bf16 autocast)


PRECISIONS = ("fp32", "bf16")

#: Device types bf16 training may run on. On a CPU, PyTorch's (2.14.1) bf16 Conv3d turned
#: a ConvNet3D's weights non-finite at random within 30 epochs of a toy task (same seed and
#: data, one thread or two; about 1 run in 4), so bf16 is refused there.
BF16_DEVICES = frozenset({"cuda"})


def check_precision(precision: str, device: torch.device) -> None:
    """Refuse an unknown training ``precision``, and bf16 on a device outside BF16_DEVICES."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected fp32 or bf16")
    if precision == "bf16" and device.type not in BF16_DEVICES:
        raise ValueError(
            f"precision bf16 needs a CUDA GPU, not {device.type}: PyTorch's bf16 Conv3d on a "
            "CPU turned weights non-finite at random in our tests; use precision fp32"
        )


def autocast(precision: str, device: torch.device) -> torch.autocast:
    """The autocast context of a training ``precision``: bf16 runs the forward passes (the
    teacher's soft labels included) in bfloat16 where PyTorch deems it safe, with float32
    weights, optimiser state and reductions; fp32 changes nothing."""
    check_precision(precision, device)
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


@dataclass
class TrainResult:
    """What a training run produced: per-epoch history and whether it diverged."""

    history: list[dict[str, float]] = field(default_factory=list)
    diverged: bool = False

    @property
    def final_loss(self) -> float:
        return self.history[-1]["loss"] if self.history else float("nan")


def _dominant(targets: torch.Tensor) -> torch.Tensor:
    """The class a batch's targets give most weight: the label itself, or the larger share
    of a mixed clip's probabilities."""
    return targets.argmax(-1) if targets.is_floating_point() else targets


def make_optimizer(
    params: list[torch.Tensor], cfg: OptimConfig, steps_total: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """Build the optimiser and a per-step LR schedule from ``cfg``."""
    if cfg.optimizer == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    elif cfg.optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        raise ValueError(f"unknown optimizer {cfg.optimizer!r}; expected sgd or adamw")
    steps_total = max(1, steps_total)
    if cfg.schedule == "step":
        half = max(1, steps_total // 2)
        sched: torch.optim.lr_scheduler.LRScheduler = torch.optim.lr_scheduler.StepLR(
            opt, step_size=half, gamma=0.1
        )
    elif cfg.schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps_total)
    elif cfg.schedule == "constant":
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    else:
        raise ValueError(f"unknown schedule {cfg.schedule!r}; expected step, cosine or constant")
    return opt, sched


def hard_loss(logits: torch.Tensor, labels: torch.Tensor, _x: torch.Tensor) -> torch.Tensor:
    """Cross-entropy with class labels (int ``[B]``, or ``[B, K]`` probabilities of a
    mixed batch)."""
    return F.cross_entropy(logits, labels)


def soft_loss(
    teacher: nn.Module | Sequence[nn.Module], temperature: float, hard_weight: float = 0.0
) -> LossFn:
    """KL(teacher || student) at temperature tau on the same augmented batch (x tau^2).

    ``teacher``: one network, or several (an ensemble): the target is then the mean of their
    tempered probabilities, softmax(z_i / tau) averaged over i.
    ``hard_weight`` w in [0, 1] mixes in the ground truth as in Hinton et al.'s knowledge
    distillation: ``(1 - w) * KL * tau^2 + w * CE(labels)``, so the teacher's errors are not
    all the student learns from (0: the teacher's logits alone).
    """
    if not 0.0 <= hard_weight <= 1.0:
        raise ValueError(f"hard_weight must be in [0, 1], got {hard_weight}")
    teachers = [teacher] if isinstance(teacher, nn.Module) else list(teacher)
    if not teachers:
        raise ValueError("soft labels need at least one teacher")
    t = temperature

    def target(x: torch.Tensor) -> torch.Tensor:
        """log of the teachers' mean tempered probabilities."""
        with torch.no_grad():
            if len(teachers) == 1:
                return F.log_softmax(teachers[0](x) / t, dim=1)
            logp = torch.stack([F.log_softmax(m(x).float() / t, dim=1) for m in teachers])
            return torch.logsumexp(logp, dim=0) - math.log(len(teachers))

    def loss(logits: torch.Tensor, labels: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        kl = F.kl_div(
            F.log_softmax(logits / t, dim=1), target(x), reduction="batchmean", log_target=True
        ) * (t * t)
        if hard_weight == 0.0:
            return kl
        return (1.0 - hard_weight) * kl + hard_weight * F.cross_entropy(logits, labels)

    return loss


def train_classifier(
    model: nn.Module,
    labels: torch.Tensor,
    batch_fn: BatchFn,
    cfg: OptimConfig,
    *,
    generator: torch.Generator,
    loss_fn: LossFn = hard_loss,
    mix: MixFn | None = None,
    desc: str = "train",
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    progress: bool = True,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 0,
) -> TrainResult:
    """Train ``model`` in place for ``cfg.epochs`` epochs over ``len(labels)`` examples.

    Args:
        model: classifier taking float ``[B, T, C, H, W]``.
        labels: int64 ``[N]`` on the model's device.
        batch_fn: maps an index tensor ``[B]`` to the (augmented) input batch; its
            randomness must come from ``generator`` (or PyTorch's global generator).
        generator: the source of randomness for shuffling and augmentation.
        loss_fn: ``(logits, targets, x) -> scalar``.
        mix: optional ``(x, labels) -> (x, targets)`` applied to each batch after
            ``batch_fn`` (CutMix, mixup); the loss gets its targets, and a prediction
            counts as correct when it names a mixed clip's larger share.
        on_epoch: called with (epoch, {"loss", "acc", "lr"}) after each epoch.
        checkpoint: file for resumable state (:mod:`tsgd.io.checkpoint`). If it exists,
            training resumes from it (and ends as it would have without the interruption);
            it is written every ``checkpoint_every`` epochs (0: never) and after the last.
            The caller deletes it once the job's outputs are written.

    A non-finite loss stops training at the end of its epoch and marks the result
    ``diverged``. The loop never waits for the device within an epoch (losses and
    accuracy are summed on the device and read once per epoch).
    """
    n = int(labels.shape[0])
    if n == 0:
        raise ValueError("cannot train on an empty set")
    if checkpoint_every < 0:
        raise ValueError(f"checkpoint_every must be >= 0, got {checkpoint_every}")
    per_epoch = math.ceil(n / cfg.batch_size)
    check_precision(cfg.precision, labels.device)  # fail before any work
    opt, sched = make_optimizer(
        [p for p in model.parameters() if p.requires_grad], cfg, cfg.epochs * per_epoch
    )
    result = TrainResult()
    start = 0
    if checkpoint is not None and Path(checkpoint).is_file():
        state, _ = load_training_state(
            checkpoint, optimizer=opt, scheduler=sched, generators=[generator], model=model
        )
        start = int(state["epoch"]) + 1
        result.history = list(state["history"])
        result.diverged = bool(state.get("diverged", False))
        log.info("%s: resuming from %s after epoch %d", desc, checkpoint, start)

    def save(epoch: int) -> None:
        progress_state = {"epoch": epoch, "history": result.history, "diverged": result.diverged}
        save_training_state(
            checkpoint,  # type: ignore[arg-type]
            optimizer=opt,
            scheduler=sched,
            generators=[generator],
            progress=progress_state,
            model=model,
        )

    model.train()
    bar = tqdm(
        range(start, cfg.epochs if not result.diverged else start),
        desc=desc,
        unit="ep",
        file=sys.stderr,
        disable=not progress,
        mininterval=2.0,
        dynamic_ncols=False,
        initial=start,
        total=cfg.epochs,
    )
    for epoch in bar:
        perm = torch.randperm(n, generator=generator)
        # running sums stay on the device: one host synchronisation per epoch, not per step
        dev = labels.device
        tot_loss = torch.zeros((), dtype=torch.float64, device=dev)
        tot_correct = torch.zeros((), dtype=torch.int64, device=dev)
        finite = torch.ones((), dtype=torch.bool, device=dev)
        for b in range(per_epoch):
            idx = perm[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            y = labels[idx.to(dev)]
            x = batch_fn(idx)
            targets = y
            if mix is not None:
                x, targets = mix(x, y)
            with autocast(cfg.precision, dev):
                logits = model(x)
                loss = loss_fn(logits, targets, x)
            finite &= torch.isfinite(loss.detach())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot_loss += loss.detach().double() * len(idx)
            tot_correct += (logits.argmax(1) == _dominant(targets)).sum()
        correct = int(tot_correct)  # the epoch's one synchronisation
        if not bool(finite):  # a non-finite loss this epoch: stop, the weights are spoilt
            result.diverged = True
            result.history.append({"loss": float("nan"), "acc": correct / n, "lr": 0.0})
            break
        stats = {"loss": float(tot_loss) / n, "acc": correct / n, "lr": sched.get_last_lr()[0]}
        result.history.append(stats)
        bar.set_postfix(loss=f"{stats['loss']:.3f}", acc=f"{stats['acc']:.2f}")
        if on_epoch is not None:
            on_epoch(epoch, stats)
        last = epoch == cfg.epochs - 1
        if (
            checkpoint is not None
            and checkpoint_every
            and ((epoch + 1) % checkpoint_every == 0 or last)
        ):
            save(epoch)
    bar.close()
    return result


@torch.no_grad()
def evaluate_clips(
    model: nn.Module,
    clips: torch.Tensor,
    labels: torch.Tensor,
    *,
    frames: int,
    crop: int,
    mean: list[float],
    std: list[float],
    passes: int,
    generator: torch.Generator,
    num_classes: int,
    batch_size: int = 64,
) -> dict[str, object]:
    """Top-1 accuracy on real clips, averaged over ``passes`` random temporal starts.

    Args:
        clips: uint8 ``[N, L, H, W, 3]`` (any device); ``frames <= L``.
        labels: int64 ``[N]``.

    Returns:
        ``{"top1": float in [0, 1], "top1_per_pass": [...], "per_class": [K floats],
        "confusion": K x K counts summed over passes}``.
    """
    model.eval()
    dev = next(model.parameters()).device
    n, length = int(clips.shape[0]), int(clips.shape[1])
    if frames > length:
        raise ValueError(f"clip of {frames} frames longer than the cached {length}")
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    per_pass = []
    for _ in range(passes):
        starts = torch.randint(0, length - frames + 1, (n,), generator=generator)
        correct = 0
        for b in range(0, n, batch_size):
            sl = slice(b, b + batch_size)
            raw = gather_windows(clips[sl], starts[sl].to(clips.device), frames)
            x = center_crop(to_float_clips(raw.to(dev), mean, std), crop)
            pred = model(x).argmax(1).cpu()
            y = labels[sl].cpu()
            correct += int((pred == y).sum())
            confusion.index_put_((y, pred), torch.ones_like(y), accumulate=True)
        per_pass.append(correct / n)
    rows = confusion.sum(1).clamp_min(1)
    return {
        "top1": sum(per_pass) / len(per_pass),
        "top1_per_pass": per_pass,
        "per_class": (confusion.diag().float() / rows).tolist(),
        "confusion": confusion.tolist(),
    }


def has_batchnorm(model: nn.Module) -> bool:
    """Whether ``model`` holds BatchNorm layers (their running statistics are updated in
    place, which :func:`train_classifiers_grouped` cannot batch)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def train_classifiers_grouped(
    models: list[nn.Module],
    labels: torch.Tensor,
    batch_fns: list[BatchFn],
    cfg: OptimConfig,
    *,
    generators: list[torch.Generator],
    loss_fn: LossFn = hard_loss,
    mixes: list[MixFn] | None = None,
    desc: str = "train",
    progress: bool = True,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 0,
) -> list[TrainResult]:
    """Train several models of one architecture at once (e.g. one per seed): their weights
    are stacked and run as one batched (``torch.func.vmap``) forward and backward per step.

    Each model ``s`` sees exactly what :func:`train_classifier` would give it with
    ``batch_fns[s]``, ``generators[s]`` and ``mixes[s]`` (if given): its own shuffling,
    batches, augmentation, mixing and dropout draws, and its own optimiser state (SGD, AdamW
    and the schedules are element-wise, so one optimiser over the stacked weights updates
    each slice as a separate optimiser would). On a GPU this fills the device that one small model on a
    few clips leaves idle. Weights are copied back into ``models`` at the end.

    A model whose loss turns non-finite is marked ``diverged`` (its weights are spoilt, as
    with :func:`train_classifier`); the others go on unaffected. Models with BatchNorm are refused (in-place
    running-statistics updates cannot be batched): train those one by one.
    """
    from torch.func import functional_call, stack_module_state

    s_count = len(models)
    if s_count == 0 or len(batch_fns) != s_count or len(generators) != s_count:
        raise ValueError("need one batch_fn and one generator per model")
    if mixes is not None and len(mixes) != s_count:
        raise ValueError("need one mix per model")
    if any(has_batchnorm(m) for m in models):
        raise ValueError("models with BatchNorm cannot be trained grouped; train them one by one")
    if cfg.precision != "fp32":
        # autocast did not reach into the vmapped forward (float32 logits in a CPU check),
        # and grouped bf16 was 7x slower than one by one on an H200 (student_throughput.py)
        raise ValueError("grouped training runs in fp32; train bf16 models one by one")
    n = int(labels.shape[0])
    if n == 0:
        raise ValueError("cannot train on an empty set")
    for m in models:
        m.train()
    params, buffers = stack_module_state(models)  # leaves [S, ...] that require grad
    skeleton = copy.deepcopy(models[0]).to("meta")

    def call(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], x: torch.Tensor):
        return functional_call(skeleton, (p, b), (x,))

    forward = torch.vmap(call, randomness="different")
    per_epoch = math.ceil(n / cfg.batch_size)
    plist = list(params.values())
    opt, sched = make_optimizer(plist, cfg, cfg.epochs * per_epoch)
    results = [TrainResult() for _ in models]
    alive = torch.ones(s_count, dtype=torch.bool, device=labels.device)
    start = 0
    if checkpoint is not None and Path(checkpoint).is_file():
        state, tensors = load_training_state(
            checkpoint, optimizer=opt, scheduler=sched, generators=generators
        )
        with torch.no_grad():
            for k, v in params.items():
                v.copy_(tensors[f"param/{k}"])
            for k, v in buffers.items():
                v.copy_(tensors[f"buffer/{k}"])
        start = int(state["epoch"]) + 1
        for r, h, d in zip(results, state["history"], state["diverged"], strict=True):
            r.history, r.diverged = list(h), bool(d)
        alive = torch.tensor([not r.diverged for r in results], device=labels.device)
        log.info("%s: resuming from %s after epoch %d", desc, checkpoint, start)

    def save(epoch: int) -> None:
        tensors = {f"param/{k}": v for k, v in params.items()}
        tensors.update({f"buffer/{k}": v for k, v in buffers.items()})
        save_training_state(
            checkpoint,  # type: ignore[arg-type]
            optimizer=opt,
            scheduler=sched,
            generators=generators,
            progress={
                "epoch": epoch,
                "history": [r.history for r in results],
                "diverged": [r.diverged for r in results],
            },
            tensors=tensors,
        )

    bar = tqdm(
        range(start, cfg.epochs),
        desc=f"{desc} x{s_count}",
        unit="ep",
        file=sys.stderr,
        disable=not progress,
        mininterval=2.0,
        initial=start,
        total=cfg.epochs,
    )
    dev = labels.device
    for epoch in bar:
        if not bool(alive.any()):
            break
        perms = [torch.randperm(n, generator=g) for g in generators]
        tot_loss = torch.zeros(s_count, dtype=torch.float64, device=dev)
        tot_correct = torch.zeros(s_count, dtype=torch.int64, device=dev)
        finite = torch.ones(s_count, dtype=torch.bool, device=dev)
        for b in range(per_epoch):
            idx = [p[b * cfg.batch_size : (b + 1) * cfg.batch_size] for p in perms]
            xs = [fn(i) for fn, i in zip(batch_fns, idx, strict=True)]
            ys = torch.stack([labels[i.to(dev)] for i in idx])
            targets = list(ys)
            if mixes is not None:
                for s, m in enumerate(mixes):
                    xs[s], targets[s] = m(xs[s], ys[s])
            xs = torch.stack(xs)
            logits = forward(params, buffers, xs)  # [S, B, K]
            losses = torch.stack([loss_fn(logits[s], targets[s], xs[s]) for s in range(s_count)])
            ok = torch.isfinite(losses.detach())
            finite &= ok
            # a diverged model's loss is left out (its own slice is spoilt; slices are
            # independent, so the others are not touched by it)
            total = torch.where(alive & ok, losses, torch.zeros_like(losses)).sum()
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            sched.step()
            tot_loss += torch.where(alive, losses.detach().double(), 0.0) * idx[0].numel()
            tot_correct += (logits.argmax(2) == torch.stack([_dominant(t) for t in targets])).sum(1)
        finite_host = finite.tolist()  # the epoch's one synchronisation
        correct = tot_correct.tolist()
        loss_host = tot_loss.tolist()
        for s, r in enumerate(results):
            if r.diverged:
                continue
            if not finite_host[s]:
                r.diverged = True
                r.history.append({"loss": float("nan"), "acc": correct[s] / n, "lr": 0.0})
                alive[s] = False
                continue
            r.history.append(
                {"loss": loss_host[s] / n, "acc": correct[s] / n, "lr": sched.get_last_lr()[0]}
            )
        last = epoch == cfg.epochs - 1
        if (
            checkpoint is not None
            and checkpoint_every
            and ((epoch + 1) % checkpoint_every == 0 or last)
        ):
            save(epoch)
    bar.close()
    with torch.no_grad():
        for s, m in enumerate(models):
            m.load_state_dict(
                {**{k: v[s] for k, v in params.items()}, **{k: v[s] for k, v in buffers.items()}}
            )
    return results
