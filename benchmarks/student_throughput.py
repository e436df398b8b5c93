"""Where a student's training step spends its time: one (or several seeds') ConvNet3D step at
a benchmark cell's shape, in the ways a fast PyTorch program could run it.

Usage (from the project root)::

    python benchmarks/student_throughput.py                      # the GPU page's decoded IPC-5 cell
    python benchmarks/student_throughput.py --batch 72 --seeds 3 --soft
    python benchmarks/student_throughput.py --device cpu --steps 2 --warmup 1 --batch 4

Modes (each a full step: forward, loss, backward, AdamW update, for every seed):

- ``sequential``: one model per seed, one after another (train_classifier's path);
- ``grouped``: the seeds' weights stacked and run as one ``torch.vmap`` model
  (train_classifiers_grouped's path, ``bench.group_seeds``);
- ``sequential-bf16`` / ``grouped-bf16``: the same under bf16 autocast;
- ``sequential-cl3d``: channels-last-3d weights (the convolutions' outputs follow them).

``--soft`` adds the soft-label teacher's forward pass (ConvNet3D-BN, no grad) to every
step, as the soft evaluations do. Prints a Markdown table (ms per step, clips per second
over all seeds, peak GPU memory) and the device's name; nothing is timed inside the tests.
"""

from __future__ import annotations

import argparse
import copy
import time

import torch
import torch.nn.functional as F

from tsgd.models import build_model

MODES = ["sequential", "grouped", "sequential-bf16", "grouped-bf16", "sequential-cl3d"]


def _models(args: argparse.Namespace, dev: torch.device) -> list[torch.nn.Module]:
    out = []
    for s in range(args.seeds):
        torch.manual_seed(s)
        out.append(build_model("convnet3d", args.classes, widths=args.widths).to(dev).train())
    return out


def _step_fn(mode: str, args: argparse.Namespace, dev: torch.device):
    """A closure running one training step of every seed on ``x``, ``y``."""
    from torch.func import functional_call, stack_module_state

    models = _models(args, dev)
    bf16 = mode.endswith("bf16")
    teacher = None
    if args.soft:
        teacher = build_model("convnet3d_bn", args.classes, widths=args.widths).to(dev).eval()

    def targets(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if teacher is None:
            return y
        with torch.no_grad(), torch.autocast(dev.type, torch.bfloat16, enabled=bf16):
            return F.log_softmax(teacher(x).float() / 4.0, dim=1)

    def loss_of(logits: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if teacher is None:
            return F.cross_entropy(logits.float(), t)
        s = F.log_softmax(logits.float() / 4.0, dim=1)
        return F.kl_div(s, t, reduction="batchmean", log_target=True)

    if mode.startswith("grouped"):
        params, buffers = stack_module_state(models)
        skeleton = copy.deepcopy(models[0]).to("meta")

        def call(p, b, x):
            return functional_call(skeleton, (p, b), (x,))

        forward = torch.vmap(call, randomness="different")
        opt = torch.optim.AdamW(list(params.values()), lr=1e-3, weight_decay=5e-4)

        def step(x: torch.Tensor, y: torch.Tensor) -> None:
            t = targets(x, y)
            xs = x.unsqueeze(0).expand(args.seeds, *x.shape)
            with torch.autocast(dev.type, torch.bfloat16, enabled=bf16):
                logits = forward(params, buffers, xs)
            loss = sum(loss_of(logits[i], t) for i in range(args.seeds))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        return step
    if mode.endswith("cl3d"):
        models = [m.to(memory_format=torch.channels_last_3d) for m in models]
    opts = [torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=5e-4) for m in models]

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        t = targets(x, y)
        for m, opt in zip(models, opts, strict=True):
            with torch.autocast(dev.type, torch.bfloat16, enabled=bf16):
                logits = m(x)
            loss = loss_of(logits, t)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    return step


def measure(mode: str, args: argparse.Namespace, dev: torch.device) -> dict[str, float]:
    """Mean seconds per step over ``args.steps`` steps after ``args.warmup``, and peak MiB."""
    cuda = dev.type == "cuda"
    g = torch.Generator(device="cpu").manual_seed(0)
    x = torch.randn(args.batch, args.frames, 3, args.crop, args.crop, generator=g).to(dev)
    y = torch.randint(0, args.classes, (args.batch,), generator=g).to(dev)
    step = _step_fn(mode, args, dev)
    for _ in range(args.warmup):
        step(x, y)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step(x, y)
    if cuda:
        torch.cuda.synchronize()
    sec = (time.perf_counter() - t0) / args.steps
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else 0.0
    return {"ms": 1000 * sec, "clips_s": args.batch * args.seeds / sec, "peak_mib": peak}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=256, help="clips per step and seed")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--crop", type=int, default=56)
    ap.add_argument("--classes", type=int, default=9)
    ap.add_argument("--widths", type=int, nargs=3, default=[32, 64, 64])
    ap.add_argument("--soft", action="store_true", help="add the teacher's forward pass")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--modes", nargs="*", default=MODES, choices=MODES)
    args = ap.parse_args(argv)
    dev = torch.device(args.device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    print(
        f"{name}; torch {torch.__version__}; batch {args.batch} x {args.seeds} seeds of "
        f"{args.frames} x {args.crop}² clips, ConvNet3D {args.widths}"
        + (", soft labels (teacher forward)" if args.soft else "")
        + f"; {args.steps} timed steps after {args.warmup}"
    )
    print("\n| mode | ms / step | clips / s | peak GPU MiB |\n|---|---|---|---|")
    for mode in args.modes:
        if mode.endswith("bf16") and dev.type == "cpu":
            continue  # bf16 autocast on a CPU says nothing about a GPU
        r = measure(mode, args, dev)
        print(f"| {mode} | {r['ms']:.1f} | {r['clips_s']:.0f} | {r['peak_mib']:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
