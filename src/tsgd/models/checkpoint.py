"""Save / load model weights as safetensors + meta.json (architecture in the meta)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tsgd.io.sets import load_tensors, save_tensors
from tsgd.models.registry import arch_kwargs, build_model


def save_model(path: str | Path, model: nn.Module, meta: Mapping[str, Any]) -> dict[str, Any]:
    """Save ``model``'s state dict; ``meta`` must name the architecture (``model``,
    ``num_classes``, and ``widths``/``dropout`` for ConvNet3D variants)."""
    missing = [k for k in ("model", "num_classes") if k not in meta]
    if missing:
        raise ValueError(f"checkpoint meta lacks {missing}")
    return save_tensors(path, model.state_dict(), {"kind": "model", **meta})


def load_model(
    path: str | Path,
    expect: Mapping[str, Any] | None = None,
    device: torch.device | str = "cpu",
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model a checkpoint describes and load its weights (eval mode, verified)."""
    tensors, meta = load_tensors(path, expect)
    kwargs = arch_kwargs(meta["model"], meta.get("widths"), meta.get("dropout"))
    model = build_model(meta["model"], int(meta["num_classes"]), **kwargs)
    model.load_state_dict(tensors, strict=True)
    return model.to(device).eval(), meta
