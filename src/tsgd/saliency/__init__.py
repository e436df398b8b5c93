"""Temporal saliency (TSGF): a leaf of pure tensor functions."""

from tsgd.saliency.tsgf import (
    MOTION_COMPENSATION,
    best_window,
    frame_differences,
    frame_saliency,
    saliency_map,
    saliency_weight,
    smoothing_window,
    temporal_smooth,
)

__all__ = [
    "MOTION_COMPENSATION",
    "best_window",
    "frame_differences",
    "frame_saliency",
    "saliency_map",
    "saliency_weight",
    "smoothing_window",
    "temporal_smooth",
]
