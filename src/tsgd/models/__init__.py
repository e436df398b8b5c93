"""Video classifiers: ConvNet3D (+BN/IN) and torchvision video nets."""

from tsgd.models.convnet3d import ConvNet3D
from tsgd.models.registry import MODELS, build_model

__all__ = ["MODELS", "ConvNet3D", "build_model"]
