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
