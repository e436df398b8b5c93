"""Model registry: ``build_model(name, num_classes, **kwargs)``.

Every model takes ``x: float32 [N, T, C, H, W]`` and returns logits ``[N, K]``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from tsgd.models.convnet3d import ConvNet3D


class TorchvisionVideo(nn.Module):
    """Adapter for torchvision video nets (which take ``[N, C, T, H, W]``), random init."""

    def __init__(self, arch: str, num_classes: int) -> None:
        super().__init__()
        from torchvision.models import video

        self.net = getattr(video, arch)(weights=None, num_classes=num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.transpose(1, 2))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled features the ``fc`` head sees: ``x: [N, T, C, H, W]`` -> ``[N, 512]``
        (so ``forward(x) == net.fc(embed(x))``)."""
        net = self.net
        h = net.stem(x.transpose(1, 2))
        h = net.layer4(net.layer3(net.layer2(net.layer1(h))))
        return net.avgpool(h).flatten(1)


def _convnet(norm: str) -> Callable[..., nn.Module]:
    def make(num_classes: int, **kw: object) -> nn.Module:
        if "norm" in kw:
            raise ValueError("the norm is fixed by the model name; do not pass norm=")
        return ConvNet3D(num_classes, norm=norm, **kw)  # type: ignore[arg-type]

    return make


def _tv(arch: str) -> Callable[..., nn.Module]:
    def make(num_classes: int, **kw: object) -> nn.Module:
        if kw:
            raise ValueError(f"{arch} takes no extra arguments, got {sorted(kw)}")
        return TorchvisionVideo(arch, num_classes)

    return make


MODELS: dict[str, Callable[..., nn.Module]] = {
    "convnet3d": _convnet("none"),
    "convnet3d_bn": _convnet("batch"),
    "convnet3d_in": _convnet("instance"),
    "r3d_18": _tv("r3d_18"),
    "mc3_18": _tv("mc3_18"),
    "r2plus1d_18": _tv("r2plus1d_18"),
}


def arch_kwargs(name: str, widths: object, dropout: object) -> dict[str, object]:
    """The constructor arguments params.yaml gives for ``name``: ConvNet3D variants take
    ``widths`` and ``dropout``; torchvision nets take none (so none are passed)."""
    if name.startswith("convnet3d"):
        return {"widths": tuple(widths), "dropout": float(dropout)}  # type: ignore[arg-type]
    return {}


def build_model(name: str, num_classes: int, **kwargs: object) -> nn.Module:
    """Build a randomly initialised model by registry name (see ``MODELS``).

    ConvNet3D variants accept ``widths`` and ``dropout``; unknown arguments raise.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; available: {sorted(MODELS)}")
    return MODELS[name](num_classes, **kwargs)
