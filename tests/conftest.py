"""Shared test set-up: hermetic caches and config dirs, torch imported once per session."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_TMP = Path(tempfile.mkdtemp(prefix="tsgd-tests-"))
for var, sub in {
    "XDG_CACHE_HOME": "cache",
    "XDG_CONFIG_HOME": "config",
    "DVC_SITE_CACHE_DIR": "dvc-site",
    "TORCH_HOME": "torch",
    "MPLCONFIGDIR": "mpl",
}.items():
    os.environ.setdefault(var, str(_TMP / sub))
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

REPO = Path(__file__).resolve().parents[1]
SHARED_UCF9 = REPO.parent / "shared" / "data" / "ucf9-dev"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def schema_path() -> Path:
    return REPO / "workflow" / "schemas" / "params.schema.yaml"


@pytest.fixture(scope="session")
def ucf9_dev() -> Path:
    """The real UCF-9 development videos, when ../shared exists (skips otherwise)."""
    if not (SHARED_UCF9 / "clips.csv").is_file():
        pytest.skip("../shared/data/ucf9-dev not present")
    return SHARED_UCF9


@pytest.fixture(scope="session")
def tiny_teacher() -> dict:
    """Arguments of ``train_teacher`` for a tiny BN teacher on 4-frame 16 px clips (CPU);
    tests override ``epochs`` and whatever else they need (copy it: ``{**tiny_teacher}``)."""
    return {
        "model": "convnet3d_bn",
        "widths": [4, 8, 8],
        "dropout": 0.3,
        "frames": 4,
        "crop": 16,
        "epochs": 1,
        "batch_size": 4,
        "lr": 0.01,
        "optimizer": "adamw",
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "schedule": "cosine",
        "aug_scale_min": 0.6,
        "flip": False,
        "test_passes": 1,
        "seed": 0,
        "device": "cpu",
    }
