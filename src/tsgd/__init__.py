"""TSGD: Temporal Saliency-Guided Distillation of video datasets."""

__version__ = "0.1.0"
