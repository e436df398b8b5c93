"""ConvNet3D, the benchmark network of video dataset distillation (METHOD.md).

Three blocks of Conv3d (kernel (3, 7, 7), padding (1, 3, 3), stride (1, 2, 2)) + norm + ReLU,
max-pool (1, 2, 2) after block 1 and 2x2x2 after blocks 2-3, then spatial average pool,
dropout, a 1x1x1 conv classifier and the max over time of the logits.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

NORMS = ("none", "batch", "instance")


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "none":
        return nn.Identity()
    if kind == "batch":
        return nn.BatchNorm3d(channels)
    if kind == "instance":
        return nn.InstanceNorm3d(channels, affine=True)
    raise ValueError(f"unknown norm {kind!r}; expected one of {NORMS}")


class ConvNet3D(nn.Module):
    """Video classifier taking ``x: float32 [N, T, C, H, W]`` (normalised) to logits [N, K].

    Args:
        num_classes: number of output classes K.
        in_channels: input channels C.
        widths: output channels of the three conv blocks (benchmark: 64, 128, 128).
        norm: ``"none"``, ``"batch"`` (the teacher, ConvNet3D-BN) or ``"instance"``.
        dropout: dropout probability before the classifier.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        widths: Sequence[int] = (64, 128, 128),
        norm: str = "none",
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if len(widths) != 3:
            raise ValueError(f"ConvNet3D has 3 blocks; got widths={list(widths)}")
        if norm not in NORMS:
            raise ValueError(f"unknown norm {norm!r}; expected one of {NORMS}")
        self.norm = norm
        layers: list[nn.Module] = []
        pools = [(1, 2, 2), (2, 2, 2), (2, 2, 2)]
        c_in = in_channels
        for width, pool in zip(widths, pools, strict=True):
            layers += [
                nn.Conv3d(c_in, width, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3)),
                _norm(norm, width),
                nn.ReLU(inplace=True),
                # ceil_mode keeps small inputs (e.g. 32 px, 8 frames) from shrinking to zero
                nn.MaxPool3d(pool, ceil_mode=True),
            ]
            c_in = width
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Conv3d(c_in, num_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x: [N, T, C, H, W]`` -> logits ``[N, K]`` (max over time of per-step logits)."""
        if x.dim() != 5:
            raise ValueError(f"expected [N, T, C, H, W], got shape {tuple(x.shape)}")
        h = self.features(x.transpose(1, 2))  # [N, C', T', H', W']
        h = h.mean(dim=(3, 4), keepdim=True)  # spatial average pool
        logits = self.classifier(self.dropout(h))  # [N, K, T', 1, 1]
        return logits.flatten(2).amax(dim=2)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Features before the classifier: ``x: [N, T, C, H, W]`` -> ``[N, C']`` (pooled)."""
        return self.features(x.transpose(1, 2)).mean(dim=(2, 3, 4))
