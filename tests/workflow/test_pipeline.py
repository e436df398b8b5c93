"""The whole DAG on a tiny config in a temp dir: results, caching, params reruns, MLflow."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

pytestmark = pytest.mark.workflow

TINY = {
    "synthetic": {
        "classes": 3,
        "groups": 3,
        "test_groups": 1,
        "videos_per_group": 2,
        "frames": 8,
        "size": 32,
    },
    "preprocess": {"frames": 8, "gap": 1, "resize": [20, 20]},
    "clip": {"frames": 4, "crop": 16},
    "benchmark": {"seeds": [0, 1], "full": {"enabled": True, "epochs": 2, "batch_size": 4}},
    "teacher": {
        "widths": [4, 8, 8],
        "epochs": 2,
        "batch_size": 4,
        "test_passes": 1,
        "checkpoint_every": 1,
    },
    "distill": {"iterations": 3, "checkpoint_every": 1},
    "evaluate": {"widths": [4, 8, 8], "epochs": 3, "test_passes": 1, "checkpoint_every": 1},
    "tracking": {"uri": "sqlite:///mlruns.db"},
}


def snakemake(workdir: Path, *args: str, cores: int = 2) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(cores), *args]
    return subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=900)


def planned_rules(out: str) -> dict[str, int]:
    """Parse the 'Job stats' table of a dry run."""
    rules: dict[str, int] = {}
    lines = out.splitlines()
    if "Job stats:" not in lines:
        return rules
    for line in lines[lines.index("Job stats:") + 3 :]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit() or parts[0] == "total":
            break
        rules[parts[0]] = int(parts[1])
    return rules


def merged(params_path: Path, overrides: dict) -> dict:
    base = yaml.safe_load(params_path.read_text())
    for section, values in overrides.items():
        base.setdefault(section, {}).update(values)
    return base


def dry_run_with(tiny_run: Path, overrides: dict, name: str):
    """``snakemake -n`` on the tiny run's params with ``overrides`` merged in."""
    (tiny_run / name).write_text(yaml.safe_dump(merged(tiny_run / "params.yaml", overrides)))
    return snakemake(tiny_run, "-n", "--configfile", name)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, repo_root):
    work = tmp_path_factory.mktemp("pipeline")
    for item in ("Snakefile", "workflow", "profiles"):
        src = repo_root / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, work / item)
    (work / "params.yaml").write_text(yaml.safe_dump(merged(repo_root / "params.yaml", TINY)))
    run = snakemake(work, cores=4)  # 4 concurrent jobs write to one sqlite MLflow store
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    return work


def test_all_phases_produce_their_outputs(tiny_run):
    rows = list(csv.DictReader((tiny_run / "results/evaluate/synthetic/summary.csv").open()))
    assert {(r["method"], r["labels"]) for r in rows} == {
        ("tsgd", "hard"),
        ("tsgd", "soft"),
        ("random", "hard"),
        ("random", "soft"),
        ("full", "hard"),
        ("full", "soft"),
    }
    assert all(int(r["runs"]) == 2 for r in rows)
    # the full training set: no budget, listed last, no delta against a random subset
    assert [(r["ipc"], r["delta_vs_random"]) for r in rows[-2:]] == [("", "nan"), ("", "nan")]
    full = json.loads(
        (tiny_run / "results/evaluate/synthetic/full/convnet3d/soft/seed1/metrics.json").read_text()
    )
    assert full["method"] == "full" and full["ipc"] is None and full["seed"] == 1
    assert 0.0 <= full["test_top1"] <= 1.0
    assert (
        "| full | all | convnet3d |"
        in (tiny_run / "results/evaluate/synthetic/summary.md").read_text()
    )
    teacher = json.loads((tiny_run / "results/teacher/synthetic/metrics.json").read_text())
    assert 0.0 <= teacher["test_top1"] <= 1.0
    meta = json.loads(
        (tiny_run / "results/distill/synthetic/tsgd/ipc1/seed0/meta.json").read_text()
    )
    assert meta["classes"] == ["MoveRight", "MoveLeft", "MoveDown"]
    assert meta["frames"] == 4 and meta["crop"] == 16 and meta["ipc"] == 1
    assert len(meta["sha256"]) == 64
    for job in ("teacher/synthetic", "distill/synthetic/tsgd/ipc1/seed1"):
        assert (tiny_run / "logs" / f"{job}.log").is_file()
    assert (tiny_run / "results/benchmarks/teacher/synthetic.tsv").is_file()
    assert "mean ± std" in (tiny_run / "results/evaluate/synthetic/summary.md").read_text()
    # every job wrote resumable checkpoints and removed them once it succeeded
    assert not list((tiny_run / "results").rglob(".*.ckpt"))


def test_second_run_has_nothing_to_do(tiny_run):
    dry = snakemake(tiny_run, "-n")
    assert dry.returncode == 0, dry.stderr
    assert "Nothing to be done" in dry.stdout + dry.stderr


def test_changing_a_distill_param_reruns_only_distill_and_evaluate(tiny_run):
    dry = dry_run_with(tiny_run, {"distill": {"lr": 0.02}}, "changed.yaml")
    assert dry.returncode == 0, dry.stderr
    assert planned_rules(dry.stdout) == {
        "all": 1,
        "distill_tsgd": 2,
        "evaluate": 4,
        "summary": 1,
        "report": 1,
    }


def test_the_soft_label_batch_reruns_only_the_soft_label_students(tiny_run):
    soft = json.loads(
        (
            tiny_run / "results/evaluate/synthetic/tsgd/ipc1/convnet3d/soft/seed0/metrics.json"
        ).read_text()
    )
    hard = json.loads(
        (
            tiny_run / "results/evaluate/synthetic/tsgd/ipc1/convnet3d/hard/seed0/metrics.json"
        ).read_text()
    )
    # a set that fits in one batch trains full-batch under either label
    assert soft["batch_size"] == hard["batch_size"] == soft["decoded_clips"]
    dry = dry_run_with(tiny_run, {"evaluate": {"soft_batch_size": 32}}, "soft_batch.yaml")
    assert dry.returncode == 0, dry.stderr
    # tsgd and random, 2 seeds, soft labels only; the full set keeps its own batch
    assert planned_rules(dry.stdout) == {"all": 1, "evaluate": 4, "summary": 1, "report": 1}


def test_a_soft_label_ensemble_adds_a_teacher_and_reruns_only_soft_label_students(tiny_run):
    dry = dry_run_with(tiny_run, {"evaluate": {"soft_teachers": 2}}, "ensemble.yaml")
    assert dry.returncode == 0, dry.stderr
    # one more teacher (seed + 1); tsgd and random, 2 seeds, and the full set, soft labels only
    assert planned_rules(dry.stdout) == {
        "all": 1,
        "teacher_member": 1,
        "evaluate": 4,
        "evaluate_full": 2,
        "summary": 1,
        "report": 1,
    }
    assert "results/teacher/synthetic/member1/teacher.safetensors" in dry.stdout


def test_invalid_params_fail_at_load_naming_the_key(tiny_run):
    dry = dry_run_with(tiny_run, {"teacher": {"epochs": "many"}}, "bad.yaml")
    assert dry.returncode != 0
    assert "teacher.epochs: 'many' is not of type 'integer'" in dry.stdout + dry.stderr


def test_every_job_logged_an_mlflow_run(tiny_run):
    db = sqlite3.connect(tiny_run / "mlruns.db")
    runs = db.execute("select run_uuid, name, status, artifact_uri from runs").fetchall()
    # one pipeline run + generate + preprocess + teacher + saliency + 4 sets + 8 evaluations
    # + 4 full-training-set runs: with --cores 4 on sqlite, none is lost to "database is locked"
    assert len(runs) == 21
    assert {r[2] for r in runs} == {"FINISHED"}
    tags = {}
    for run_id, key, value in db.execute("select run_uuid, key, value from tags"):
        tags.setdefault(run_id, {})[key] = value
    parents = [r for r in runs if tags[r[0]].get("tsgd.kind") == "pipeline"]
    assert len(parents) == 1 and parents[0][1] == "pipeline synthetic"
    jobs = [r for r in runs if r is not parents[0]]
    assert all(tags[r[0]]["mlflow.parentRunId"] == parents[0][0] for r in jobs)
    assert all(tags[r[0]]["mlflow.source.git.commit"] for r in runs)
    source = json.loads((tiny_run / "results/data/synthetic/source.json").read_text())
    hashed = [r for r in jobs if tags[r[0]].get("data_sha256") == source["input_sha256"]]
    assert len(hashed) == 19  # every job after preprocessing wrote the data record
    counts = dict(db.execute("select key, count(*) from tags group by key").fetchall())
    assert counts["phase"] == 20 and counts["wildcard.seed"] == 16
    assert counts["wildcard.labels"] == 12
    params = {k for (k,) in db.execute("select distinct key from params")}
    assert {"lr", "iterations", "beta", "epochs"} <= params
    metrics = {k for (k,) in db.execute("select distinct key from metrics")}
    assert {"test_top1", "train_loss", "wall_s"} <= metrics
    steps = db.execute("select count(distinct step) from metrics where key='train_loss'")
    assert steps.fetchone()[0] >= 2  # step history: training curves
    artifacts = {}
    for _, name, _, uri in jobs:
        artifacts[name] = sorted(p.name for p in Path(uri).iterdir()) if Path(uri).is_dir() else []
    assert artifacts["teacher/dataset=synthetic"] == ["curves.png", "metrics.json"]
    tsgd_set = "distill/dataset=synthetic/method=tsgd/ipc=1/seed=0"
    assert artifacts[tsgd_set] == ["curves.png", "metrics.json", "set.gif"]
    assert all("metrics.json" in a for n, a in artifacts.items() if "generate" not in n)


def test_mlflow_server_serves_the_runs(tiny_run):
    """`mlflow server` on a free loopback port; the runs are found through its REST API."""
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        "sqlite:///mlruns.db",
        "--workers",
        "1",
    ]
    server = subprocess.Popen(
        cmd,
        cwd=tiny_run,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}/api/2.0/mlflow"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(
                    f"{base}/experiments/get-by-name?experiment_name=tsgd", timeout=5
                ) as r:
                    experiment = json.loads(r.read())["experiment"]
                break
            except OSError:
                assert server.poll() is None, "mlflow server exited"
                assert time.monotonic() < deadline, "mlflow server did not come up"
                time.sleep(0.5)
        body = json.dumps({"experiment_ids": [experiment["experiment_id"]], "max_results": 100})
        request = urllib.request.Request(
            f"{base}/runs/search", data=body.encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as r:
            runs = json.loads(r.read())["runs"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    names = {run["info"]["run_name"] for run in runs}
    assert len(runs) == 21 and "pipeline synthetic" in names
    assert "teacher/dataset=synthetic" in names
    teacher = next(r for r in runs if r["info"]["run_name"] == "teacher/dataset=synthetic")
    assert any(m["key"] == "test_top1" for m in teacher["data"]["metrics"])


def test_every_baseline_makes_a_set_through_the_workflow(tiny_run):
    """Runs last (it adds MLflow runs): sre2l, herding, k-center and DM sets via their rules."""
    methods = ["sre2l", "herding", "kcenter", "dm"]
    config = merged(
        tiny_run / "params.yaml",
        {
            "benchmark": {"methods": methods, "seeds": [0]},
            "dm": {"iterations": 3, "real_per_class": 2, "widths": [4, 8, 8], "lr": 1.0},
        },
    )
    (tiny_run / "baselines.yaml").write_text(yaml.safe_dump(config))
    run = snakemake(tiny_run, "distill_all", "--configfile", "baselines.yaml")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    for method in methods:
        folder = tiny_run / "results/distill/synthetic" / method / "ipc1/seed0"
        meta = json.loads((folder / "meta.json").read_text())
        assert meta["method"] == method and meta["frames"] == 4 and meta["crop"] == 16
        assert json.loads((folder / "metrics.json").read_text())
    meta = tiny_run / "results/distill/synthetic/{}/ipc1/seed0/meta.json"
    assert json.loads(Path(str(meta).format("sre2l")).read_text())["synthesis"]["tsgf"] is False
    assert json.loads(Path(str(meta).format("tsgd")).read_text())["synthesis"]["tsgf"] is True


def test_killed_job_resumes_from_its_checkpoint(tmp_path, repo_root):
    """SIGKILL the whole Snakemake process group during teacher training; the rerun
    (``rerun-incomplete`` is in the profile) resumes from the checkpoint, not epoch 0."""
    for item in ("Snakefile", "workflow", "profiles"):
        src = repo_root / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / item)
    long_teacher = dict(
        TINY, teacher={**TINY["teacher"], "epochs": 400}, tracking={"enabled": False}
    )
    (tmp_path / "params.yaml").write_text(
        yaml.safe_dump(merged(repo_root / "params.yaml", long_teacher))
    )
    folder = tmp_path / "results/teacher/synthetic"

    def checkpoints():
        return list(folder.glob(".teacher.safetensors.*.ckpt"))

    cmd = [sys.executable, "-m", "snakemake", "--cores", "1", "teacher_all"]
    proc = subprocess.Popen(
        cmd,
        cwd=tmp_path,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while proc.poll() is None and not checkpoints():
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(checkpoints()) == 1 and not (folder / "metrics.json").exists()

    assert snakemake(tmp_path, "--unlock").returncode == 0  # the killed run's stale lock
    rerun = snakemake(tmp_path, "teacher_all")
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    log = (tmp_path / "logs/teacher/synthetic.log").read_text()
    assert "teacher: resuming from" in log
    assert not checkpoints()
    assert json.loads((tmp_path / "results/teacher/synthetic/metrics.json").read_text())


def test_report_renders_in_a_headless_browser(tiny_run, tmp_path):
    """The HTML report opens in headless Chromium with every image loaded."""
    page = tiny_run / "results/evaluate/synthetic/report/index.html"
    text = page.read_text()
    assert "<table>" in text and "media/accuracy_vs_ipc.png" in text
    from tsgd.report.html import write_report

    summary = tmp_path / "summary.csv"  # percentages, as the summary rule writes them
    summary.write_text(
        "method,ipc,student,labels,runs,collapsed,mean,std,delta_vs_random,seeds\n"
        "random,1,convnet3d,hard,5,0,28.7963,8.5328,0.0000,0 1 2 3 4\n"
        "tsgd,1,convnet3d,hard,5,0,31.8519,4.6227,3.0556,0 1 2 3 4\n"
    )
    other = write_report(summary, [], [], tmp_path / "r" / "index.html").read_text()
    assert "<td>28.8 ± 8.5</td><td>—</td>" in other
    assert "<td>31.9 ± 4.6</td><td>+3.1</td>" in other
    gifs = sorted(p.name for p in page.parent.glob("media/*.gif"))
    assert gifs == [f"{m}_ipc1_seed{s}.gif" for m in ("random", "tsgd") for s in (0, 1)]
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Debian's chromium is not installed (CI installs it)")
    flags = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    shot = tmp_path / "report.png"
    subprocess.run(
        [*flags, "--window-size=1200,1600", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (1600, 1200) and pixels.std() > 10  # not a blank page
    dom = subprocess.run(
        [*flags, "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert 'data-media="6/6"' in dom  # 2 plots + 4 set GIFs, all decoded by the browser
