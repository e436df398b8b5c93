"""One function per pipeline job: logging, tracking and metrics around one phase function.

The Snakemake rule scripts and the ``tsgd`` CLI call these, so a job behaves the same
whether Snakemake or a person starts it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from tsgd.io.atomic import read_json, write_json
from tsgd.tracking import Tracker, job_run

log = logging.getLogger("tsgd")


#: set to 1 to copy job logs (progress bars included) to the terminal even when stderr is
#: not a TTY; 0 never copies
TERMINAL_ENV = "TSGD_PROGRESS_TO_TERMINAL"


class _Tee(io.TextIOBase):
    """A text stream writing to a log file and, for progress on the terminal, to stderr."""

    def __init__(self, log: IO[str], terminal: IO[str]) -> None:
        self._log, self._terminal = log, terminal

    def write(self, text: str) -> int:
        self._log.write(text)
        self._terminal.write(text)
        return len(text)

    def flush(self) -> None:
        self._log.flush()
        self._terminal.flush()

    def isatty(self) -> bool:
        return self._terminal.isatty()


def _to_terminal(stream: IO[str]) -> bool:
    flag = os.environ.get(TERMINAL_ENV)
    if flag is not None:
        return flag == "1"
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def log_to(path: str | Path | None) -> Iterator[None]:
    """Send stdout, stderr (progress bars included) and the ``tsgd`` logger to ``path``,
    and also to the terminal when stderr is one (or ``TSGD_PROGRESS_TO_TERMINAL=1``)."""
    if path is None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        yield
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    terminal = sys.stderr
    with open(path, "a", buffering=1) as fh:
        stream: IO[str] = _Tee(fh, terminal) if _to_terminal(terminal) else fh
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
                yield
        finally:
            root.removeHandler(handler)


def scalar_metrics(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The numeric leaves of a metrics dict (nested keys joined with '.'), for the tracker."""
    out: dict[str, float] = {}
    for k, v in metrics.items():
        if isinstance(v, bool):
            out[prefix + k] = float(v)
        elif isinstance(v, int | float):
            out[prefix + k] = float(v)
        elif isinstance(v, Mapping) and k != "history":
            out.update(scalar_metrics(v, f"{prefix}{k}."))
    return out


@contextlib.contextmanager
def _device_for(use_gpu: bool) -> Iterator[Callable[[], dict[str, Any]]]:
    """Hold a GPU slot (if wanted and present) and select it; yields a function that
    reports the device used and its peak memory."""
    if not use_gpu:
        yield lambda: {}
        return
    from tsgd.devices import gpu_slot

    with gpu_slot() as index:
        if index is None:
            yield lambda: {"gpu": None}
            return
        import torch  # lazy: only GPU jobs get here

        torch.cuda.set_device(index)
        torch.cuda.reset_peak_memory_stats(index)

        def report() -> dict[str, Any]:
            peak = torch.cuda.max_memory_allocated(index)
            return {
                "gpu": {"index": index, "name": torch.cuda.get_device_name(index)},
                "peak_gpu_memory_gib": peak / 2**30,
            }

        yield report


def _log_extras(
    tracker: Tracker,
    name: str,
    metrics: Mapping[str, Any],
    wildcards: Mapping[str, Any],
    preview_set: str | Path | None,
) -> None:
    """Data hash tag, curve plot and set preview for a tracked run (never fails the job)."""
    import tempfile

    record = Path("results/data") / str(wildcards.get("dataset", "")) / "source.json"
    try:
        if "dataset" in wildcards and record.is_file():
            tracker.set_tags({"data_sha256": read_json(record)["input_sha256"]})
        with tempfile.TemporaryDirectory(prefix="tsgd-artifacts-") as tmp:
            from tsgd.report.media import plot_history, set_preview_gif

            history = metrics.get("history")
            if history:
                tracker.log_artifact(plot_history(history, Path(tmp) / "curves.png", name))
            if preview_set is not None:
                tracker.log_artifact(set_preview_gif(preview_set, Path(tmp) / "set.gif"))
    except Exception as err:  # artifacts are a convenience: report, do not fail the job
        log.warning("could not log extra artifacts for %s: %s", name, err)


def checkpoint_path(
    output: str | Path, params: Mapping[str, Any], inputs: Iterable[str | Path] = ()
) -> Path:
    """Where the job writing ``output`` keeps its resumable state: a hidden file beside it
    (not a declared output, so Snakemake's ``--rerun-incomplete`` does not delete it).

    The name carries a hash of the job's ``params`` and of its ``inputs``' sizes and
    modification times, so a checkpoint left by a killed run is resumed only by the same
    job on the same inputs; after a params change or an upstream rerun the job starts over.
    """
    h = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode())
    for item in inputs:
        path = Path(item)
        stat = path.stat() if path.exists() else None
        h.update(
            f"{path}:{stat.st_size if stat else -1}:{stat.st_mtime_ns if stat else -1}\n".encode()
        )
    out = Path(output)
    return out.parent / f".{out.name}.{h.hexdigest()[:12]}.ckpt"


def run_job(
    phase: str,
    body: Callable[[Tracker], dict[str, Any]],
    *,
    params: Mapping[str, Any],
    wildcards: Mapping[str, Any],
    tracking: Mapping[str, Any],
    log_path: str | Path | None = None,
    metrics_path: str | Path | None = None,
    checkpoint: str | Path | None = None,
    gpu: bool = False,
    preview_set: str | Path | None = None,
) -> dict[str, Any]:
    """Run ``body`` as one tracked job and write its metrics JSON (atomically, last).

    ``tracking`` is params.yaml's ``tracking`` section; ``wildcards`` become run tags.
    ``checkpoint``: the job's resumable-state file (see :func:`checkpoint_path`), removed
    once the job has succeeded; a killed job leaves it for the rerun to resume from.
    ``gpu``: the job uses a GPU when there is one: it holds its own device for its whole
    run (:func:`tsgd.devices.gpu_slot`; ``params["device"] == "cpu"`` opts out) and its
    metrics record the device and its peak memory.

    Tracked runs also get: the input data's hash as tag ``data_sha256`` (from
    ``results/data/<dataset>/source.json``, written by preprocessing), a PNG of the
    training curves when the metrics hold a ``history``, and, with ``preview_set``, an
    animated GIF of that set's videos beside their saliency.
    """
    with log_to(log_path):
        name = "/".join([phase, *(f"{k}={v}" for k, v in wildcards.items())])
        log.info("job %s starts", name)
        tags = {"phase": phase, **{f"wildcard.{k}": v for k, v in wildcards.items()}}
        with (
            job_run(
                bool(tracking.get("enabled", False)),
                str(tracking.get("uri", "")),
                str(tracking.get("experiment", "tsgd")),
                name,
                params,
                tags,
            ) as tracker,
            _device_for(gpu and params.get("device", "auto") != "cpu") as device,
        ):
            t0 = time.perf_counter()
            metrics = body(tracker)
            metrics["wall_s"] = time.perf_counter() - t0
            metrics.update(device())
            tracker.log_metrics(scalar_metrics(metrics))
            if metrics_path is not None:
                write_json(metrics_path, metrics)
                tracker.log_artifact(metrics_path)
            if tracker.active:
                _log_extras(tracker, name, metrics, wildcards, preview_set)
        if checkpoint is not None:  # this job's, and any stale one of an earlier config
            Path(checkpoint).unlink(missing_ok=True)
            stem = Path(checkpoint).name.split(".ckpt")[0].rsplit(".", 1)[0]
            for stale in Path(checkpoint).parent.glob(f"{stem}.*.ckpt"):
                stale.unlink(missing_ok=True)
        log.info("job %s done in %.1f s", name, metrics["wall_s"])
        print(f"{name}: {metrics['wall_s']:.1f} s", file=sys.stderr)
    return metrics


def run_rule(
    smk: Any,
    phase: str,
    body: Callable[[Tracker], dict[str, Any]],
    *,
    params: Mapping[str, Any],
    **kwargs: Any,
) -> dict[str, Any]:
    """:func:`run_job` for a Snakemake script rule: the wildcards, the tracking settings,
    the log and the metrics file (output ``metrics``, if the rule has one) come from the
    ``snakemake`` object ``smk``; ``kwargs`` go to :func:`run_job`."""
    return run_job(
        phase,
        body,
        params=params,
        wildcards=dict(smk.wildcards.items()),
        tracking=smk.config["tracking"],
        log_path=smk.log[0],
        metrics_path=smk.output.get("metrics"),
        **kwargs,
    )
