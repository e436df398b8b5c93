"""Resumable training state: one safetensors file, written atomically, no pickle.

A checkpoint holds what a training loop needs to continue exactly where it stopped: model
weights and/or optimised tensors, the optimiser's state (tensors in the safetensors body,
the rest as JSON in its header), the LR scheduler's state (JSON), the states of the random
generators the loop draws from (including PyTorch's global CPU and CUDA generators, which
dropout uses), and the loop's own progress (epoch or iteration, history). Restoring all of
it makes a resumed run end bit-identical (on CPU) to one that was never interrupted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tsgd.io.atomic import atomic_path

__all__ = ["load_training_state", "save_training_state"]

_KEY = "tsgd_training_state"
_FORMAT = 1


def _optimizer_split(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    state: dict[str, dict[str, Any]] = {}
    for pid, entries in sd["state"].items():
        out: dict[str, Any] = {}
        for name, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"opt/{pid}/{name}"] = value
                out[name] = {"__tensor__": f"opt/{pid}/{name}"}
            else:
                out[name] = value
        state[str(pid)] = out
    return tensors, {"state": state, "param_groups": sd["param_groups"]}


def _optimizer_join(tensors: Mapping[str, torch.Tensor], meta: dict) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for pid, entries in meta["state"].items():
        state[int(pid)] = {
            name: tensors[v["__tensor__"]] if isinstance(v, dict) and "__tensor__" in v else v
            for name, v in entries.items()
        }
    return {"state": state, "param_groups": meta["param_groups"]}


def save_training_state(
    path: str | os.PathLike[str],
    *,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    generators: Sequence[torch.Generator],
    progress: Mapping[str, Any],
    model: nn.Module | None = None,
    tensors: Mapping[str, torch.Tensor] | None = None,
) -> None:
    """Write a checkpoint to ``path`` atomically (a kill never leaves a torn file).

    Args:
        optimizer, scheduler: their states are saved (``scheduler`` may be None).
        generators: the loop's random generators (their states are saved, in order).
        progress: JSON-serialisable loop progress (epoch / iteration, history, ...).
        model: a module whose ``state_dict`` is saved.
        tensors: extra named tensors (e.g. the synthetic videos being optimised).
    """
    from safetensors.torch import save_file

    body: dict[str, torch.Tensor] = {}
    if model is not None:
        body.update({f"model/{k}": v for k, v in model.state_dict().items()})
    body.update({f"tensor/{k}": v for k, v in (tensors or {}).items()})
    opt_tensors, opt_meta = _optimizer_split(optimizer)
    body.update(opt_tensors)
    for i, g in enumerate(generators):
        body[f"rng/generator{i}"] = g.get_state()
    body["rng/torch_cpu"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        body["rng/torch_cuda"] = torch.cuda.get_rng_state()
    header = {
        "format": _FORMAT,
        "optimizer": opt_meta,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "generators": len(generators),
        "progress": dict(progress),
    }
    body = {k: v.detach().contiguous().cpu() for k, v in body.items()}
    with atomic_path(path) as tmp:
        save_file(body, str(tmp), metadata={_KEY: json.dumps(header)})


def load_training_state(
    path: str | os.PathLike[str],
    *,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    generators: Sequence[torch.Generator],
    model: nn.Module | None = None,
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Restore a checkpoint written by :func:`save_training_state` into the given objects.

    Returns:
        ``(progress, tensors)``: the saved progress dict and the extra tensors (on CPU).

    Raises:
        ValueError: the file is not a checkpoint of this format, or it does not fit the
            objects given (a different model, optimiser or number of generators).
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    with safe_open(str(path), framework="pt") as fh:
        raw = (fh.metadata() or {}).get(_KEY)
    if raw is None:
        raise ValueError(f"{path} is not a TSGD training checkpoint")
    header = json.loads(raw)
    if header.get("format") != _FORMAT:
        raise ValueError(f"{path}: checkpoint format {header.get('format')}, expected {_FORMAT}")
    if header["generators"] != len(generators):
        raise ValueError(
            f"{path} holds {header['generators']} generator states, expected {len(generators)}"
        )
    body = load_file(str(path))
    try:
        if model is not None:
            prefix = "model/"
            sd = {k[len(prefix) :]: v for k, v in body.items() if k.startswith(prefix)}
            model.load_state_dict(sd)
        optimizer.load_state_dict(_optimizer_join(body, header["optimizer"]))
        if scheduler is not None:
            scheduler.load_state_dict(header["scheduler"])
    except (RuntimeError, KeyError, ValueError) as err:
        raise ValueError(f"{path} does not fit this training run: {err}") from err
    for i, g in enumerate(generators):
        g.set_state(body[f"rng/generator{i}"])
    torch.set_rng_state(body["rng/torch_cpu"])
    if "rng/torch_cuda" in body and torch.cuda.is_available():
        torch.cuda.set_rng_state(body["rng/torch_cuda"])
    extra = {k[len("tensor/") :]: v for k, v in body.items() if k.startswith("tensor/")}
    return header["progress"], extra
