"""GPU slots: each concurrent job gets its own device, extra jobs queue, crashes free it.

No GPU is needed: the device list is simulated, the locking is the real one.
"""

import json
import multiprocessing as mp
import os
import signal
import time

import pytest

from tsgd.devices import gpu_slot
from tsgd.jobs import run_job


def _hold(lock_dir, out, hold_s, devices):
    with gpu_slot(devices, lock_dir=lock_dir, poll_s=0.01) as device:
        start = time.monotonic()
        time.sleep(hold_s)
        end = time.monotonic()
    with open(out, "a") as fh:
        fh.write(json.dumps({"pid": os.getpid(), "device": device, "start": start, "end": end}))
        fh.write("\n")


def _run_jobs(tmp_path, n_jobs, devices, hold_s=0.4):
    ctx = mp.get_context("fork")
    out = tmp_path / "slots.jsonl"
    procs = [
        ctx.Process(target=_hold, args=(tmp_path / "locks", out, hold_s, devices))
        for _ in range(n_jobs)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_concurrent_jobs_never_share_a_device(tmp_path):
    runs = _run_jobs(tmp_path, n_jobs=5, devices=[0, 1, 2])
    assert len(runs) == 5
    assert {r["device"] for r in runs} <= {0, 1, 2}
    for a in runs:
        for b in runs:
            if a is not b and a["device"] == b["device"]:  # one after the other
                assert a["end"] <= b["start"] or b["end"] <= a["start"]
    # the first three started together, each on its own device; two had to queue
    first = sorted(runs, key=lambda r: r["start"])[:3]
    assert sorted(r["device"] for r in first) == [0, 1, 2]


def test_fewer_gpus_than_jobs_queue_and_no_gpu_runs_on_cpu(tmp_path):
    runs = _run_jobs(tmp_path, n_jobs=3, devices=[0], hold_s=0.2)
    spans = sorted((r["start"], r["end"]) for r in runs)
    assert all(e1 <= s2 for (_, e1), (s2, _) in zip(spans, spans[1:], strict=False))
    with gpu_slot([], lock_dir=tmp_path / "locks") as device:
        assert device is None


def test_a_killed_holder_frees_its_device(tmp_path):
    ctx = mp.get_context("fork")
    holder = ctx.Process(target=_hold, args=(tmp_path / "locks", tmp_path / "x", 60, [0]))
    holder.start()
    time.sleep(0.5)
    with pytest.raises(TimeoutError, match="no free GPU"):
        with gpu_slot([0], lock_dir=tmp_path / "locks", poll_s=0.01, timeout_s=0.2):
            pass
    os.kill(holder.pid, signal.SIGKILL)
    holder.join()
    with gpu_slot([0], lock_dir=tmp_path / "locks", timeout_s=5) as device:
        assert device == 0


def test_gpu_jobs_hold_a_device_or_run_on_cpu(tmp_path):
    metrics = run_job(
        "evaluate",
        lambda _tracker: {"ok": 1},
        params={"device": "auto"},
        wildcards={},
        tracking={"enabled": False},
        log_path=tmp_path / "job.log",
        gpu=True,
    )
    import torch

    assert metrics["ok"] == 1
    if torch.cuda.is_available():
        assert metrics["gpu"]["index"] >= 0 and metrics["peak_gpu_memory_gib"] >= 0
    else:
        assert metrics["gpu"] is None


def test_job_progress_goes_to_the_log_and_the_terminal(tmp_path, capfd, monkeypatch):
    from tqdm import tqdm

    def body(_tracker):
        import sys

        for _ in tqdm(range(50), desc="work", file=sys.stderr, mininterval=0):
            pass
        return {}

    monkeypatch.setenv("TSGD_PROGRESS_TO_TERMINAL", "1")
    run_job("x", body, params={}, wildcards={}, tracking={}, log_path=tmp_path / "a.log")
    terminal = capfd.readouterr().err
    log = (tmp_path / "a.log").read_text()
    for text in (terminal, log):
        assert "work: 100%" in text and "it/s" in text and "50/50" in text
    monkeypatch.setenv("TSGD_PROGRESS_TO_TERMINAL", "0")
    run_job("y", body, params={}, wildcards={}, tracking={}, log_path=tmp_path / "b.log")
    assert "work" not in capfd.readouterr().err.replace("y: ", "")
    assert "work: 100%" in (tmp_path / "b.log").read_text()


def test_checkpoint_names_follow_params_and_inputs(tmp_path):
    """A killed run's checkpoint is resumed only by the same job on the same inputs."""
    import os as _os

    from tsgd.jobs import checkpoint_path

    data = tmp_path / "in.bin"
    data.write_bytes(b"abc")
    out = tmp_path / "o" / "set.safetensors"
    a = checkpoint_path(out, {"lr": 0.1}, [data])
    assert a.parent == out.parent and a.name.startswith(".set.safetensors.")
    assert a.name.endswith(".ckpt")
    assert checkpoint_path(out, {"lr": 0.1}, [data]) == a
    assert checkpoint_path(out, {"lr": 0.2}, [data]) != a
    _os.utime(data, ns=(1, 1))  # an upstream job rewrote the input
    assert checkpoint_path(out, {"lr": 0.1}, [data]) != a

    # success removes this job's checkpoint and stale ones of earlier configs
    out.parent.mkdir()
    stale, current = checkpoint_path(out, {"lr": 0.3}), checkpoint_path(out, {"lr": 0.4})
    stale.write_bytes(b"x")
    current.write_bytes(b"x")
    other = out.parent / ".metrics.json.0123456789ab.ckpt"
    other.write_bytes(b"x")
    run_job(
        "x",
        lambda _t: {},
        params={},
        wildcards={},
        tracking={},
        checkpoint=current,
        log_path=tmp_path / "j.log",
    )
    assert sorted(p.name for p in out.parent.iterdir()) == [other.name]
