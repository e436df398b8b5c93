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


#: environment variables through which a workflow run passes its context to its jobs
PARENT_ENV = "TSGD_MLFLOW_PARENT_RUN"
COMMIT_ENV = "TSGD_GIT_COMMIT"


def git_commit(folder: str | Path = ".") -> str:
    """The checked-out commit of ``folder`` (with ``-dirty`` if it has uncommitted changes
    to tracked files), or ``unknown`` outside a git checkout."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=folder, capture_output=True, text=True, check=True, timeout=20
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def init_store(uri: str, experiment: str) -> None:
    """Create the tracking store and experiment once, before jobs fan out (avoids a race of
    concurrent first-time schema migrations on sqlite)."""
    _quiet_env()
    import mlflow

    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(experiment) is None:
        mlflow.create_experiment(experiment)


def start_pipeline_run(
    uri: str, experiment: str, name: str, tags: Mapping[str, Any] | None = None
) -> str:
    """Open the parent run that groups one workflow invocation's jobs; returns its id.

    Sets :data:`PARENT_ENV` and :data:`COMMIT_ENV` in this process's environment, which the
    job processes inherit (locally and through Slurm), so that each job's run is nested
    under this one and tagged with the commit. Close it with :func:`end_pipeline_run`.
    """
    init_store(uri, experiment)
    from mlflow.tracking import MlflowClient

    commit = git_commit()
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    all_tags = {"tsgd.kind": "pipeline", "mlflow.source.git.commit": commit, **(tags or {})}
    run = _retry(
        lambda: client.create_run(
            exp.experiment_id,
            run_name=name,
            tags={k: str(v) for k, v in all_tags.items()},
        )
    )
    os.environ[PARENT_ENV] = run.info.run_id
    os.environ[COMMIT_ENV] = commit
    return run.info.run_id


def end_pipeline_run(uri: str, ok: bool) -> None:
    """Close the parent run opened by :func:`start_pipeline_run` (FINISHED or FAILED)."""
    run_id = os.environ.get(PARENT_ENV)
    if not run_id:
        return
    from mlflow.tracking import MlflowClient

    _retry(lambda: MlflowClient(uri).set_terminated(run_id, "FINISHED" if ok else "FAILED"))


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

    The run is nested under the workflow's pipeline run when there is one
    (:func:`start_pipeline_run`) and tagged with the git commit. It ends FAILED if the body
    raises, FINISHED otherwise.
    """
    if not enabled:
        yield Tracker(None)
        return
    _quiet_env()
    import mlflow

    mlflow.set_tracking_uri(uri)
    _retry(lambda: mlflow.set_experiment(experiment))
    parent = os.environ.get(PARENT_ENV) or None
    _retry(lambda: mlflow.start_run(run_name=run_name, parent_run_id=parent))
    tracker = Tracker(mlflow)
    commit = os.environ.get(COMMIT_ENV) or git_commit()
    tags = {"mlflow.source.git.commit": commit, **(tags or {})}
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
