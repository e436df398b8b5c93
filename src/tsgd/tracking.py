"""MLflow tracking: the only module that imports mlflow. A no-op when disabled.

MLflow indexes jobs; it is never the source of truth (the files under results/ are).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{key}."))
        else:
            out[key] = str(v)[:6000]
    return out


def _quiet_env() -> None:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")


class Tracker:
    """Logs to one MLflow run, or does nothing when ``run`` is None."""

    def __init__(self, mlflow: Any = None) -> None:
        self._mlflow = mlflow

    @property
    def active(self) -> bool:
        return self._mlflow is not None

    def log_params(self, params: Mapping[str, Any]) -> None:
        if self._mlflow:
            self._mlflow.log_params(_flatten(params))

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        if self._mlflow:
            clean = {
                k: float(v)
                for k, v in metrics.items()
                if isinstance(v, int | float) and v == v and not isinstance(v, bool)
            }
            self._mlflow.log_metrics(clean, step=step)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        if self._mlflow:
            self._mlflow.set_tags({k: str(v) for k, v in tags.items()})

    def log_artifact(self, path: str | Path) -> None:
        if self._mlflow and Path(path).exists():
            self._mlflow.log_artifact(str(path))


def _retry(fn: Any, attempts: int = 8) -> Any:
    """sqlite stores can report 'database is locked' under concurrent jobs: retry with backoff."""
    for i in range(attempts):
        try:
            return fn()
        except Exception as err:  # mlflow wraps sqlite errors in several exception types
            if "locked" not in str(err).lower() or i == attempts - 1:
                raise
            time.sleep(0.2 * 2**i)
    return None


def init_store(uri: str, experiment: str) -> None:
    """Create the tracking store and experiment once, before jobs fan out (avoids a race of
    concurrent first-time schema migrations on sqlite)."""
    _quiet_env()
    import mlflow

    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(experiment) is None:
        mlflow.create_experiment(experiment)


@contextmanager
def job_run(
    enabled: bool,
    uri: str,
    experiment: str,
    run_name: str,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
) -> Iterator[Tracker]:
    """One MLflow run per pipeline job; yields a :class:`Tracker` (no-op when disabled).

    The run ends FAILED if the body raises, FINISHED otherwise.
    """
    if not enabled:
        yield Tracker(None)
        return
    _quiet_env()
    import mlflow

    mlflow.set_tracking_uri(uri)
    _retry(lambda: mlflow.set_experiment(experiment))
    _retry(lambda: mlflow.start_run(run_name=run_name))
    tracker = Tracker(mlflow)
    status = "FAILED"
    try:
        if params:
            _retry(lambda: tracker.log_params(params))
        if tags:
            _retry(lambda: tracker.set_tags(tags))
        yield tracker
        status = "FINISHED"
    finally:
        _retry(lambda: mlflow.end_run(status=status))
