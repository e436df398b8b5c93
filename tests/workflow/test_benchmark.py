"""The one-command benchmark (tsgd.benchmark) on a tiny generated dataset: every method
kind, hard and soft evaluations, the full-set upper bound, the page, and resuming."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import yaml

from tsgd.benchmark import (
    BenchError,
    Benchmark,
    Cell,
    Figure,
    Run,
    Steps,
    _eval_kwargs,
    cells,
    data_fingerprint,
    deep_merge,
    digest,
    figures,
    load_bench_config,
    paired,
    write_page,
)
from tsgd.benchmark import main as bench_main
from tsgd.config import ParamsError, validate_params
from tsgd.data.synthetic import generate_synthetic_dataset
from tsgd.teacher.choose import Candidate, _best, load_candidates, load_student_rule
from tsgd.teacher.choose import main as choose_main

pytestmark = pytest.mark.workflow

TINY_BENCH = {
    "params": {
        "dataset": {"name": "tiny", "source": "folder", "val_groups": ["g01"]},
        "preprocess": {"frames": 8, "gap": 1, "resize": [20, 20]},
        "clip": {"frames": 4, "crop": 16},
        "teacher": {"widths": [4, 8, 8], "epochs": 2, "batch_size": 4, "test_passes": 1},
        "dm": {"iterations": 2, "real_per_class": 2, "widths": [4, 8, 8]},
        "evaluate": {"widths": [4, 8, 8], "epochs": 2, "test_passes": 1},
    },
    "bench": {
        "title": "tiny",
        "notes": ["The teacher was chosen on\n  **g01**."],
        "ipc": [1],
        "seeds": [0, 1],
        "students": ["convnet3d"],
        "evals": {"hard": {"labels": "hard"}, "soft": {"labels": "soft", "tsgfa": True}},
        "methods": {
            "random": {"kind": "random"},
            "herding": {"kind": "herding"},
            "dm": {"kind": "dm"},
            "tsgd": {"kind": "tsgd", "distill": {"iterations": 2, "mosaic_grid": 2}},
            "tsgd_off": {
                "kind": "tsgd",
                "distill": {"iterations": 2, "tsgf": False, "window_pick": "random"},
            },
            "full": {"kind": "full"},
        },
        "baselines": ["random", "herding", "dm"],
        "tsgf_off": "tsgd_off",
        "full": {"epochs": 1, "batch_size": 4},
    },
}


def _load(path, repo_root, data_root):
    return load_bench_config(
        path,
        repo_root / "params.yaml",
        repo_root / "workflow/schemas/params.schema.yaml",
        data_root,
    )


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("tinyvideos")
    generate_synthetic_dataset(
        root, classes=3, groups=4, test_groups=1, videos_per_group=2, frames=8, size=32
    )
    return root


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory, tiny_data, repo_root):
    tmp = tmp_path_factory.mktemp("bench")
    cfg_path = tmp / "tiny.yaml"
    cfg_path.write_text(yaml.safe_dump(TINY_BENCH))
    cfg = _load(cfg_path, repo_root, str(tiny_data))
    bench = Benchmark(cfg, tmp / "work", "cpu")
    bench.run()
    page = write_page(bench, tmp / "results.md", command="python benchmarks/results.py", wall=1.0)
    return cfg, bench, page, tmp


def test_every_method_and_evaluation_ran(bench_run):
    cfg, bench, page, _ = bench_run
    seen = {(r.method, r.eval) for r in bench.runs}
    assert seen == {(m, e) for m in cfg.methods for e in ("hard", "soft")}
    assert len(bench.runs) == len(cfg.methods) * 2 * 2  # x evals x seeds
    assert all(0 <= r.top1 <= 100 for r in bench.runs)
    assert {r.ipc for r in bench.runs if r.method == "full"} == {None}
    kinds = {r.kind.split(":")[0] for r in bench.steps.records}
    assert kinds == {"preprocess", "teacher", "saliency", "distill", "evaluate"}
    assert not list(bench.work.rglob("*.ckpt*"))  # finished steps keep no resumable state


def test_page_has_the_tables_figures_and_costs(bench_run):
    _, bench, page, tmp = bench_run
    assert (tmp / "results.md").read_text() == page
    assert "## hard: hard labels" in page and "## soft: soft labels, TSGFA" in page
    assert "| full (every training clip) |" in page
    assert "## Figures of merit" in page and "TSGF on vs off" in page
    assert "## Where the time goes" in page and "| distill |" in page
    assert "python benchmarks/results.py" in page
    assert "split by group" in page and "['g01']" in page
    assert "\n- The teacher was chosen on **g01**.\n" in page  # bench.notes, one line each
    teacher = bench.teachers[0].metrics
    assert 0.0 <= teacher["val_top1"] <= 1.0  # the score a teacher is chosen by
    assert f"; on the val groups {100 * teacher['val_top1']:.1f} %." in page
    assert "![every run, mean ± std](results.png)" in page  # the picture sits next to the page
    assert (tmp / "results.png").read_bytes().startswith(b"\x89PNG")
    # one row per method in each table, with mean ± std over the two seeds
    hard = page.split("## hard")[1].split("## soft")[0]
    for name in ("random", "herding", "dm", "tsgd", "tsgd_off"):
        assert f"| {name} | " in hard
    # soft-label students of sets past one batch train at evaluate.soft_batch_size
    assert ", batch 256," in hard and "for sets over" not in hard
    assert ", batch 256 (64 for sets over 256 clips)," in page.split("## soft")[1]


def test_an_evaluation_naming_its_batch_keeps_it():
    params = {"evaluate": {"batch_size": 256, "soft_batch_size": 64, "lr": 0.001}}
    assert _eval_kwargs(params, {"labels": "soft"})["soft_batch_size"] == 64
    assert _eval_kwargs(params, {"labels": "hard"})["soft_batch_size"] is None
    pinned = _eval_kwargs(params, {"labels": "soft", "batch_size": 256})
    assert (pinned["batch_size"], pinned["soft_batch_size"]) == (256, None)
    both = _eval_kwargs(params, {"labels": "soft", "batch_size": 128, "soft_batch_size": 32})
    assert (both["batch_size"], both["soft_batch_size"]) == (128, 32)


def test_a_second_run_reuses_every_step(bench_run, repo_root):
    cfg, bench, _, tmp = bench_run
    again = Benchmark(cfg, tmp / "work", "cpu")
    again.run()
    assert all(r.reused for r in again.steps.records)
    assert sorted((r.method, r.eval, r.seed, r.top1) for r in again.runs) == sorted(
        (r.method, r.eval, r.seed, r.top1) for r in bench.runs
    )


def test_teacher_only_runs_the_shared_steps_and_only_checks_its_names(bench_run, repo_root):
    _, bench, _, tmp = bench_run
    args = [str(tmp / "tiny.yaml"), "--data", str(bench.cfg.params["dataset"]["root"])]
    args += ["--params", str(repo_root / "params.yaml")]
    args += ["--schema", str(repo_root / "workflow/schemas/params.schema.yaml")]
    args += ["--work", str(tmp / "work"), "--device", "cpu"]
    assert bench_main([*args, "--out", str(tmp / "teacher.md"), "--teacher-only"]) == 0
    page = (tmp / "teacher.md").read_text()
    assert "on the val groups" in page and "| random |" not in page
    with pytest.raises(ValueError, match=r"--only \['randm'\]: no such method"):
        bench_main([*args, "--out", str(tmp / "typo.md"), "--only", "randm"])
    assert not (tmp / "typo.md").exists()


def test_a_wrong_data_root_fails_in_one_line_and_leaves_no_step_folder(
    bench_run, repo_root, capsys
):
    _, _, _, tmp = bench_run
    work = tmp / "work-typo"
    args = [str(tmp / "tiny.yaml"), "--data", str(tmp / "no-such-videos")]
    args += ["--params", str(repo_root / "params.yaml")]
    args += ["--schema", str(repo_root / "workflow/schemas/params.schema.yaml")]
    args += ["--work", str(work), "--device", "cpu", "--out", str(tmp / "typo.md")]
    assert bench_main(args) == 2
    err = capsys.readouterr().err
    assert "no-such-videos is not a folder" in err and "Traceback" not in err
    assert not list(work.glob("cache-*")) and not (tmp / "typo.md").exists()


def test_teachers_are_chosen_on_val_and_old_steps_rescored(bench_run, repo_root):
    _, bench, _, tmp = bench_run
    work = tmp / "work_teachers"
    shutil.copytree(tmp / "work", work)
    # a teacher step from before teachers were scored on val: rescored from its weights
    (step,) = work.glob("teacher-*/step.json")
    old = json.loads(step.read_text())
    val = old["metrics"].pop("val_top1")
    step.write_text(json.dumps(old))
    cands = tmp / "teachers.yaml"
    cands.write_text(
        yaml.safe_dump({"config": "tiny.yaml", "candidates": {"base": {}, "more": {"epochs": 3}}})
    )
    args = [str(cands), "--out", str(tmp / "teachers.md"), "--work", str(work), "--device", "cpu"]
    args += ["--data", str(bench.cfg.params["dataset"]["root"])]
    args += ["--params", str(repo_root / "params.yaml")]
    args += ["--schema", str(repo_root / "workflow/schemas/params.schema.yaml")]
    assert choose_main(args) == 0
    page = (tmp / "teachers.md").read_text()
    rows = [line for line in page.splitlines() if line.startswith("| ") and "top-1" not in line]
    names = [r.split("|")[1].strip() for r in rows]
    assert len(rows) == 2 and "base" in names[0] and "(reused)" in rows[0]
    assert "epochs: 3" in rows[1] and "(reused)" not in rows[1]
    assert sum("(chosen)" in r for r in rows) == 1
    assert f"| {100 * val:.1f} | {100 * old['metrics']['test_top1']:.1f} |" in rows[0]
    assert len(list(work.glob("teacher-*"))) == 2  # the new candidate is a teacher step there
    for bad, match in [
        ({"config": "tiny.yaml"}, "exactly the keys"),
        ({"config": "tiny.yaml", "candidates": {}}, "non-empty"),
        ({"config": "tiny.yaml", "candidates": {"x": {"pretrained": "a"}}}, "trained here"),
    ]:
        cands.write_text(yaml.safe_dump(bad))
        with pytest.raises(ValueError, match=match):
            load_candidates(cands)


def test_a_student_rule_chooses_the_teacher_by_its_students_val_score(bench_run, repo_root):
    _, bench, _, tmp = bench_run
    work = tmp / "work_teachers_students"
    shutil.copytree(tmp / "work", work)
    cands = tmp / "teachers-students.yaml"
    rule = {"method": "tsgd", "ipc": 1, "evals": ["hard", "soft"], "seeds": [0, 1]}
    raw = {"config": "tiny.yaml", "candidates": {"base": {}, "more": {"epochs": 3}}}
    cands.write_text(yaml.safe_dump({**raw, "students": rule}))
    args = [str(cands), "--out", str(tmp / "teachers-students.md"), "--work", str(work)]
    args += ["--device", "cpu", "--data", str(bench.cfg.params["dataset"]["root"])]
    args += ["--params", str(repo_root / "params.yaml")]
    args += ["--schema", str(repo_root / "workflow/schemas/params.schema.yaml")]
    assert choose_main(args) == 0
    page = (tmp / "teachers-students.md").read_text()
    assert "Student rule" in page and "students' val top-1 %, soft |" in page
    rows = [line for line in page.splitlines() if line.startswith("| ") and "top-1" not in line]
    assert len(rows) == 2 and sum("(chosen)" in r for r in rows) == 1
    # the students were scored on the val split, with the candidate teacher's own set
    val_steps = [
        json.loads(p.read_text())["metrics"]
        for p in work.glob("evals/tsgd-ipc1-*/step.json")
        if json.loads(p.read_text())["metrics"].get("eval_split") == "val"
    ]
    assert len(val_steps) == 8  # 2 candidates x hard, soft x seeds 0, 1
    scores = [r.split("|")[7:9] for r in rows]  # hard, soft per candidate: mean ± std
    assert all(" ± " in x for sc in scores for x in sc)
    collapsed = sum(bool(m["collapsed"]) for m in val_steps)
    assert sum(x.strip().startswith("nan") for sc in scores for x in sc) <= collapsed
    assert (f"{collapsed} student run(s) collapsed" in page) == (collapsed > 0)
    for bad, match in [
        ({**rule, "ipc": 0}, "positive integer"),
        ({"method": "tsgd", "ipc": 1}, "needs method, ipc and evals"),
        ({**rule, "evals": []}, "non-empty list"),
    ]:
        cands.write_text(yaml.safe_dump({**raw, "students": bad}))
        with pytest.raises(ValueError, match=match):
            load_student_rule(cands)
    for bad, match in [
        ({**rule, "method": "nope"}, "no such method"),
        ({**rule, "evals": ["x"]}, "x"),
    ]:
        cands.write_text(yaml.safe_dump({**raw, "students": bad}))
        with pytest.raises(ValueError, match=match):
            choose_main(args)


def test_the_students_val_score_outranks_the_teachers_own():
    nan = float("nan")
    a = Candidate("a", {}, val_top1=0.60, seconds=10, student_val={"hard": 40.0, "soft": 45.0})
    b = Candidate("b", {}, val_top1=0.70, seconds=10, student_val={"hard": 42.0, "soft": 38.0})
    c = Candidate("c", {}, val_top1=0.90, seconds=1, student_val={"hard": nan, "soft": nan})
    assert _best([b, a, c]).name == "a"  # 42.5 against 40.0; c's students all collapsed
    assert _best([Candidate("b", {}, val_top1=0.7), Candidate("a", {}, val_top1=0.6)]).name == "b"
    tie = Candidate("t", {}, val_top1=0.65, seconds=10, student_val={"hard": 42.5})
    assert _best([a, tie]).name == "t"  # equal students: the better teacher
    only_collapsed = [c, Candidate("d", {}, val_top1=0.5, student_val={"hard": nan})]
    assert _best(only_collapsed).name == "c"  # no student score at all: the teacher's own


def test_a_changed_method_setting_recomputes_only_that_method(bench_run, tiny_data, repo_root):
    _, _, _, tmp = bench_run
    changed = json.loads(json.dumps(TINY_BENCH))
    changed["bench"]["methods"]["tsgd"]["distill"]["mosaic_grid"] = 1
    path = tmp / "changed.yaml"
    path.write_text(yaml.safe_dump(changed))
    cfg = _load(path, repo_root, str(tiny_data))
    b = Benchmark(cfg, tmp / "work", "cpu")
    b.run(only=["tsgd", "random"])
    fresh = {r.kind for r in b.steps.records if not r.reused}
    assert fresh == {"distill:tsgd", "evaluate:convnet3d"}
    assert {r.method for r in b.runs} == {"tsgd", "random"}


@pytest.mark.parametrize(
    ("patch", "match"),
    [
        ({"bench": {"methods": {"x": {"kind": "magic"}}}}, "kind"),
        ({"bench": {"methods": {"x": {"kind": "tsgd", "evaluate": {}}}}}, "override"),
        ({"bench": {"methods": {"x": {"kind": "tsgd", "distill": {"lr": -1}}}}}, "distill.lr"),
        ({"bench": {"evals": {"h": {"labels": "fuzzy"}}}}, "labels"),
        ({"bench": {"evals": {"h": {"labels": "soft", "mix": "blend"}}}}, "evaluate.mix"),
        ({"bench": {"evals": {"h": {"labels": "soft", "hard_weight": 2}}}}, "hard_weight"),
        ({"bench": {"students": ["resnet9000"]}}, "unknown student"),
        ({"bench": {"baselines": ["nope"]}}, "nope"),
        ({"bench": {"colour": "red"}}, "unknown keys"),
        ({"bench": {"extra": [{"evals": ["nope"]}]}}, "evaluation 'nope'"),
        ({"bench": {"extra": [{"methods": ["nope"]}]}}, "method 'nope'"),
        ({"bench": {"notes": [""]}}, "bench.notes"),
        ({"bench": {"notes": {"a": 1}}}, "bench.notes"),
    ],
)
def test_bad_configs_fail_before_any_work(tmp_path, repo_root, patch, match):
    raw = json.loads(json.dumps(TINY_BENCH))
    for k, v in patch["bench"].items():
        if k == "methods":
            raw["bench"]["methods"].update(v)
        else:
            raw["bench"][k] = v
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises((BenchError, ValueError), match=match):
        _load(path, repo_root, str(tmp_path))


def test_cells_count_collapsed_runs_and_figures_need_margin_and_std():
    runs = [Run("tsgd", 1, "s", "hard", i, v, False, "", 1.0) for i, v in enumerate([40, 44, 42])]
    runs += [Run("random", 1, "s", "hard", 0, 30.0, False, "", 1.0)]
    runs += [Run("random", 1, "s", "hard", 1, 11.1, True, "stuck at chance", 1.0)]
    runs += [Run("random", 1, "s", "hard", 2, 34.0, False, "", 1.0)]
    table = cells(runs)
    t, r = table[("tsgd", 1, "s", "hard")], table[("random", 1, "s", "hard")]
    assert (t.mean, t.std, t.runs, t.collapsed) == (42.0, 2.0, 3, 0)
    assert (r.mean, r.runs, r.collapsed) == (32.0, 3, 1)  # the collapsed run is not averaged
    assert "1 of 3 collapsed" in r.text()
    assert Figure("x", t, "random", r, 5.0).passed  # +10 > 5 and > max std (2.83)
    noisy = Cell(42.0, 12.0, 3, 0, [0, 1, 2])
    assert not Figure("x", noisy, "random", r, 5.0).passed  # +10 but std 12
    assert not Figure("x", t, "random", Cell(38.0, 1.0, 3, 0, [0]), 5.0).passed  # +4 < 5


def test_salient_room_keys_a_set_only_where_it_changes_the_window_rule():
    from tsgd.benchmark import _room_keyed

    d = {"window_pick": "by_ipc", "drop_static": 0.75, "salient_from_ipc": 5, "salient_room": 4}
    assert _room_keyed(dict(d), d, 1, 4.0) == d  # roomy cache, IPC 1: salient instead of moving
    unchanged = {k: v for k, v in d.items() if k != "salient_room"}
    assert _room_keyed(dict(d), d, 1, 2.0) == unchanged  # short cache: the rule it had before
    assert _room_keyed(dict(d), d, 5, 4.0) == unchanged  # salient by budget anyway
    s = {**d, "window_pick": "salient"}
    assert "salient_room" not in _room_keyed(dict(s), s, 1, 4.0)


def test_extends_merges_onto_another_config(tmp_path, repo_root, tiny_data):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(TINY_BENCH))
    child = {
        "extends": "base.yaml",
        "params": {"evaluate": {"epochs": 7}},
        "bench": {
            "eval_split": "val",
            "methods": {"random": {"kind": "random"}},
            "baselines": ["random"],
            "tsgd": "random",
            "tsgf_off": "",
        },
    }
    (tmp_path / "child.yaml").write_text(yaml.safe_dump(child))
    cfg = _load(tmp_path / "child.yaml", repo_root, str(tiny_data))
    assert cfg.params["evaluate"]["epochs"] == 7
    assert cfg.params["evaluate"]["widths"] == [4, 8, 8]  # kept from the base
    assert cfg.eval_split == "val" and list(cfg.methods) == ["random"]
    assert list(cfg.evals) == ["hard", "soft"]
    # an inherited evaluation that no matrix runs is dropped (no empty page section)
    child["bench"]["main_evals"] = ["soft"]
    (tmp_path / "child.yaml").write_text(yaml.safe_dump(child))
    assert list(_load(tmp_path / "child.yaml", repo_root, str(tiny_data)).evals) == ["soft"]
    child["bench"]["extra"] = [{"evals": ["hard"], "methods": ["random"]}]
    (tmp_path / "child.yaml").write_text(yaml.safe_dump(child))
    assert list(_load(tmp_path / "child.yaml", repo_root, str(tiny_data)).evals) == ["hard", "soft"]
    (tmp_path / "loop.yaml").write_text(yaml.safe_dump({"extends": "loop.yaml"}))
    with pytest.raises(BenchError, match="extends itself"):
        _load(tmp_path / "loop.yaml", repo_root, None)


def test_group_seeds_trains_a_cells_seeds_together(tmp_path, repo_root, tiny_data, bench_run):
    _, _, _, tmp = bench_run
    raw = json.loads(json.dumps(TINY_BENCH))
    raw["bench"]["group_seeds"] = True
    raw["bench"]["evals"] = {"soft": {"labels": "soft", "tsgfa": True}}
    path = tmp_path / "grouped.yaml"
    path.write_text(yaml.safe_dump(raw))
    cfg = _load(path, repo_root, str(tiny_data))
    b = Benchmark(cfg, tmp / "work", "cpu")  # shares the sets with the first run
    b.run(only=["random", "full"])
    evals = [r for r in b.steps.records if r.kind.startswith("evaluate")]
    assert len(evals) == 2 and all(not r.reused for r in evals)
    assert all(r.metrics["training"] == "grouped" for r in evals)
    assert all(m["training"] == "grouped" for r in evals for m in r.metrics["runs"])
    assert sorted((r.method, r.seed) for r in b.runs) == [
        ("full", 0),
        ("full", 1),
        ("random", 0),
        ("random", 1),
    ]
    assert all(r.reused for r in b.steps.records if r.kind.startswith("distill"))


def test_group_seeds_leaves_large_batches_one_by_one(
    tmp_path, repo_root, tiny_data, bench_run, monkeypatch
):
    """Grouping pays only for small batches (GROUP_MAX_BATCH): above it the seeds of a cell
    still make one step, trained one after another, and the records say so."""
    import shutil

    import tsgd.engine as engine
    import tsgd.evaluate.students as students

    _, _, _, tmp = bench_run
    raw = json.loads(json.dumps(TINY_BENCH))
    raw["bench"]["group_seeds"] = True
    raw["bench"]["evals"] = {"hard": {"labels": "hard"}}
    path = tmp_path / "grouped.yaml"
    path.write_text(yaml.safe_dump(raw))
    cfg = _load(path, repo_root, str(tiny_data))
    work = tmp_path / "work"  # the first run's data, teacher and sets; no students
    shutil.copytree(
        tmp / "work", work, ignore=lambda d, names: ["evals"] if d == str(tmp / "work") else []
    )
    b = Benchmark(cfg, work, "cpu")
    b.run(only=["random"])
    evals = [r for r in b.steps.records if r.kind.startswith("evaluate")]
    assert evals and all(not r.reused and r.metrics["training"] == "grouped" for r in evals)
    shutil.rmtree(work / "evals")
    monkeypatch.setattr(students, "GROUP_MAX_BATCH", 0)
    b = Benchmark(cfg, work, "cpu")
    b.run(only=["random"])
    evals = [r for r in b.steps.records if r.kind.startswith("evaluate")]
    assert evals and all(not r.reused for r in evals)
    assert all(r.metrics["training"] == "one by one" for r in evals)
    assert all(len(r.metrics["runs"]) == 2 for r in evals)
    # precision fp32 spelt out is the default: the same steps
    raw["bench"]["evals"] = {"hard": {"labels": "hard", "precision": "fp32"}}
    path.write_text(yaml.safe_dump(raw))
    b = Benchmark(_load(path, repo_root, str(tiny_data)), work, "cpu")
    b.run(only=["random"])
    evals = [r for r in b.steps.records if r.kind.startswith("evaluate")]
    assert evals and all(r.reused for r in evals)
    # bf16 (let onto this CPU): new steps, never grouped, and the records say bf16
    monkeypatch.setattr(students, "GROUP_MAX_BATCH", 32)
    monkeypatch.setattr(engine, "BF16_DEVICES", frozenset({"cpu"}))
    raw["bench"]["evals"] = {"hard": {"labels": "hard", "precision": "bf16"}}
    path.write_text(yaml.safe_dump(raw))
    b = Benchmark(_load(path, repo_root, str(tiny_data)), work, "cpu")
    b.run(only=["random"])
    evals = [r for r in b.steps.records if r.kind.startswith("evaluate")]
    assert evals and all(not r.reused and r.metrics["training"] == "one by one" for r in evals)
    assert all(m["precision"] == "bf16" for r in evals for m in r.metrics["runs"])


def test_a_resumed_step_counts_the_time_before_its_checkpoint(tmp_path):
    import time

    steps = Steps(tmp_path, "cpu")
    folder = tmp_path / "step-a"

    def killed(out: Path) -> dict:
        time.sleep(0.3)
        (out / "train.ckpt").write_bytes(b"state")  # progress saved...
        time.sleep(0.2)  # ...and lost: redone after the resume, not counted twice
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        steps.run("evaluate:x", folder, killed)
    rec = Steps(tmp_path, "cpu").run("evaluate:x", folder, lambda out: time.sleep(0.1) or {})
    assert 0.29 < rec.earlier_s < 0.45
    assert rec.seconds >= rec.earlier_s + 0.1
    assert not list(folder.glob("*.ckpt*")) and not (folder / "step.attempt.json").exists()
    assert json.loads((folder / "step.json").read_text())["earlier_s"] == rec.earlier_s
    # a failed attempt that saved no checkpoint starts over: nothing carried
    other = tmp_path / "step-b"
    with pytest.raises(KeyboardInterrupt):
        steps.run("evaluate:x", other, lambda out: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert Steps(tmp_path, "cpu").run("evaluate:x", other, lambda out: {}).earlier_s == 0.0


def test_folds_score_every_fold_with_its_own_teacher(tmp_path, repo_root, tiny_data):
    raw = json.loads(json.dumps(TINY_BENCH))
    raw["bench"]["methods"] = {
        "random": {"kind": "random"},
        "tsgd": {"kind": "tsgd", "distill": {"iterations": 0}},
    }
    raw["bench"].update(
        baselines=["random"],
        tsgf_off="",
        evals={"hard": {"labels": "hard"}},
        folds=[["g02"], ["g04"]],
    )
    path = tmp_path / "folds.yaml"
    path.write_text(yaml.safe_dump(raw))
    cfg = _load(path, repo_root, str(tiny_data))
    b = Benchmark(cfg, tmp_path / "work", "cpu")
    b.run()
    # one preprocess and one teacher per fold, each holding out that fold's group
    pre = [r for r in b.steps.records if r.kind == "preprocess"]
    assert len(pre) == 2 and len(b.teachers) == 2
    assert len({r.name for r in pre}) == 2
    assert sorted((r.method, r.fold, r.seed) for r in b.runs) == [
        (m, f, s) for m in ("random", "tsgd") for f in (0, 1) for s in (0, 1)
    ]
    table = cells(b.runs)
    assert table[("tsgd", 1, "convnet3d", "hard")].runs == 4  # folds x seeds
    page = write_page(b, tmp_path / "folds.md", command="x", wall=1.0)
    assert "2 folds" in page and "fold 1: g02; fold 2: g04" in page
    assert "## Per fold" in page and "IPC 1 fold 2" in page
    assert "4 runs per cell: 2 folds x 2 seeds" in page
    assert "Clips: fold 1: " in page and "; fold 2: " in page
    assert "| paired Δ (wins) |" in page
    # 2-epoch students sit at chance (collapsed, so unpaired): pair them as if they learned
    ok = [dataclasses.replace(r, collapsed=False) for r in b.runs]
    fig = next(f for f in figures(cfg, cells(ok), ok) if "vs best" in f.what)
    assert len(fig.pairs) == 4 and fig.paired_text().endswith("/4)")  # 2 folds x 2 seeds


def test_teacher_per_seed_trains_each_seed_its_own_teacher(tmp_path, repo_root, tiny_data):
    raw = json.loads(json.dumps(TINY_BENCH))
    raw["params"]["teacher"]["seed"] = 3
    raw["bench"]["methods"] = {
        "random": {"kind": "random"},
        "tsgd": {"kind": "tsgd", "distill": {"iterations": 0}},
    }
    raw["bench"].update(
        baselines=["random"],
        tsgf_off="",
        evals={"hard": {"labels": "hard"}, "soft": {"labels": "soft"}},
        teacher_per_seed=True,
    )
    path = tmp_path / "per-seed.yaml"
    path.write_text(yaml.safe_dump(raw))
    cfg = _load(path, repo_root, str(tiny_data))
    assert [cfg.teacher_params(s)["seed"] for s in (None, 0, 1)] == [3, 3, 4]
    b = Benchmark(cfg, tmp_path / "work", "cpu")
    b.run()
    # one preprocess and saliency (they do not depend on the teacher), one teacher per seed
    kinds = [r.kind.split(":")[0] for r in b.steps.records]
    assert kinds.count("preprocess") == 1 and kinds.count("saliency") == 1
    assert sorted(b.teachers) == [0, 1] and b.teachers[0].name != b.teachers[1].name
    assert sorted((r.method, r.eval, r.fold, r.seed) for r in b.runs) == [
        (m, e, 0, s) for m in ("random", "tsgd") for e in ("hard", "soft") for s in (0, 1)
    ]
    assert b.seeds == [0, 1]  # restored after the run
    page = write_page(b, tmp_path / "per-seed.md", command="x", wall=1.0)
    assert "each seed trains its own teacher, teacher seed = 3 + seed" in page
    assert "(teacher seed 3)" in page and "(teacher seed 4)" in page
    assert "with the same seed and the same teacher" in page
    # seed 0's teacher is the shared teacher of the same params, so a shared-teacher run
    # reuses seed 0's steps; seed 1's TSGD set and soft-label students followed its own
    # teacher, while its random set and that set's hard-label students never read one
    shared = Benchmark(dataclasses.replace(cfg, teacher_per_seed=False), tmp_path / "work", "cpu")
    shared.run()
    assert shared.teachers[0].name == b.teachers[0].name and shared.teachers[0].reused
    sets = {
        (r.kind.split(":")[1], r.name.split("-")[2]): r.reused  # <method>-ipc1-s<seed>-<key>
        for r in shared.steps.records
        if r.kind.startswith("distill")
    }
    assert sets == {
        ("random", "s0"): True,
        ("random", "s1"): True,
        ("tsgd", "s0"): True,
        ("tsgd", "s1"): False,
    }
    evals = {
        r.name.rsplit("-", 1)[0]: r.reused for r in shared.steps.records if "evaluate" in r.kind
    }
    assert [k for k, reused in sorted(evals.items()) if not reused] == [
        "random-ipc1-convnet3d-soft-s1",
        "tsgd-ipc1-convnet3d-hard-s1",
        "tsgd-ipc1-convnet3d-soft-s1",
    ]


def test_soft_label_ensembles_train_further_teachers_once(tmp_path, repo_root, tiny_data):
    """evaluate.soft_teachers: a soft-label evaluation averaging 2 teachers trains the next
    teacher seed beside each run's teacher (with teacher_per_seed, seed 0's is seed 1's own
    teacher, reused), keys its students apart, and leaves hard labels alone."""
    raw = json.loads(json.dumps(TINY_BENCH))
    raw["params"]["teacher"]["seed"] = 3
    raw["bench"]["methods"] = {"random": {"kind": "random"}}
    raw["bench"].update(
        baselines=["random"],
        tsgf_off="",
        tsgd="random",
        evals={
            "hard": {"labels": "hard"},
            "soft": {"labels": "soft"},
            "ens": {"labels": "soft", "soft_teachers": 2},
        },
        teacher_per_seed=True,
    )
    path = tmp_path / "ensemble.yaml"
    path.write_text(yaml.safe_dump(raw))
    cfg = _load(path, repo_root, str(tiny_data))
    b = Benchmark(cfg, tmp_path / "work", "cpu")
    b.run()
    teachers = [r for r in b.steps.records if r.kind == "teacher"]
    assert len({r.name for r in teachers}) == 3  # teacher seeds 3 and 4, and 5 for seed 1
    assert sorted(seed for seed, _, _ in b.members.values()) == [4, 5]
    # seed 0's member (teacher seed 4) is seed 1's own teacher: one step, trained once
    assert b.members[b.teachers[1].name][2] is b.teachers[1]
    assert len(teachers) == 3
    runs = {(r.eval, r.seed): r for r in b.runs}
    assert len(runs) == 6
    evals = {r.name: r for r in b.steps.records if r.kind.startswith("evaluate")}
    assert len(evals) == 6 and not any(r.reused for r in evals.values())
    page = write_page(b, tmp_path / "ensemble.md", command="x", wall=1.0)
    assert "soft labels from the mean of 2 teachers' tempered probabilities" in page
    assert "Further teachers of the soft-label ensembles" in page
    assert "teacher seed 4" in page and "teacher seed 5" in page
    # a hard-label or single-teacher evaluation keyed before ensembles existed stays valid
    single = dataclasses.replace(
        cfg,
        evals={"hard": cfg.evals["hard"], "soft": cfg.evals["soft"]},
        main_evals=["hard", "soft"],
    )
    again = Benchmark(single, tmp_path / "work", "cpu")
    again.run()
    assert all(r.reused for r in again.steps.records)


def test_an_evaluation_cannot_average_teachers_beside_a_fetched_one(tmp_path, repo_root):
    raw = json.loads(json.dumps(TINY_BENCH))
    raw["params"]["teacher"].update(pretrained="teacher.safetensors", pretrained_sha256="0" * 64)
    raw["bench"]["evals"]["ens"] = {"labels": "soft", "soft_teachers": 2}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ParamsError, match="bench.evals.ens: evaluate.soft_teachers: 2 trains"):
        _load(path, repo_root, str(tmp_path))


@pytest.mark.parametrize(
    ("teacher", "bench", "match"),
    [
        ({"pretrained": "teacher.safetensors", "pretrained_sha256": "0" * 64}, {}, "pretrained"),
        ({}, {"group_seeds": True}, "group_seeds to false"),
    ],
)
def test_teacher_per_seed_refuses_what_shares_one_teacher(
    tmp_path, repo_root, teacher, bench, match
):
    raw = json.loads(json.dumps(TINY_BENCH))
    raw["params"]["teacher"].update(teacher)
    raw["bench"].update({"teacher_per_seed": True, **bench})
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(BenchError, match=match):
        _load(path, repo_root, str(tmp_path))


def test_paired_differences_match_fold_and_seed_and_skip_collapsed():
    runs = [
        Run("a", 1, "s", "hard", 0, 50.0, False, "", 1.0, fold=0),
        Run("a", 1, "s", "hard", 0, 40.0, False, "", 1.0, fold=1),
        Run("a", 1, "s", "hard", 1, 45.0, False, "", 1.0, fold=1),
        Run("b", 1, "s", "hard", 0, 30.0, False, "", 1.0, fold=0),
        Run("b", 1, "s", "hard", 0, 42.0, False, "", 1.0, fold=1),
        Run("b", 1, "s", "hard", 1, 11.0, True, "stuck", 1.0, fold=1),
        Run("b", 1, "s", "soft", 0, 99.0, False, "", 1.0, fold=0),
    ]
    assert paired(runs, "a", "b", 1, "s", "hard") == [20.0, -2.0]
    f = Figure("x", Cell(0, 0, 1, 0, [0]), "b", Cell(0, 0, 1, 0, [0]), 5.0, [20.0, -2.0])
    assert f.paired_text() == "+9.0 ± 15.6 (1/2)"


@pytest.mark.parametrize(
    ("folds", "extra", "match"),
    [
        ([["g02"], ["g02", "g04"]], {}, "g02"),
        ([["g01"]], {}, "val group"),
        ([["g02"], []], {}, "empty"),
        ([["g02"]], {"eval_split": "val"}, "eval_split"),
        ([["g02"]], {"teacher_per_seed": True}, "choose one"),
    ],
)
def test_bad_folds_fail_before_any_work(tmp_path, repo_root, folds, extra, match):
    raw = json.loads(json.dumps(TINY_BENCH))
    raw["bench"].update(folds=folds, **extra)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(BenchError, match=match):
        _load(path, repo_root, str(tmp_path))


def test_compare_adds_figures_against_chosen_bars(tmp_path, repo_root):
    raw = json.loads(json.dumps(TINY_BENCH))
    raw["bench"]["methods"]["rand2"] = {"kind": "tsgd", "distill": {"init_pick": "random"}}
    raw["bench"]["compare"] = [
        {"tsgd": "tsgd", "baselines": ["random", "rand2"], "soft_baselines": ["rand2"]}
    ]
    path = tmp_path / "cmp.yaml"
    path.write_text(yaml.safe_dump(raw))
    cfg = _load(path, repo_root, str(tmp_path))
    runs = [
        Run(m, 1, "convnet3d", ev, s, v + s, False, "", 1.0)
        for m, v in (("tsgd", 50.0), ("random", 30.0), ("rand2", 40.0), ("herding", 20.0))
        for ev in ("hard", "soft")
        for s in (0, 1)
    ]
    figs = {f.what: f for f in figures(cfg, cells(runs), runs)}
    # the main comparison: soft labels against the random-kind baselines only
    assert figs["IPC 1, soft: tsgd vs best of random"].bar_name == "random"
    # the added one: its own bars, hard and soft
    hard = figs["IPC 1, hard: tsgd vs best of random, rand2"]
    assert hard.bar_name == "rand2" and hard.pairs == [10.0, 10.0] and hard.passed
    assert figs["IPC 1, soft: tsgd vs best of rand2"].bar_name == "rand2"
    raw["bench"]["soft_baselines"] = ["random", "rand2"]  # the main comparison's, top level
    cfg = _load(path.write_text(yaml.safe_dump(raw)) and path, repo_root, str(tmp_path))
    figs = {f.what: f for f in figures(cfg, cells(runs), runs)}
    assert figs["IPC 1, soft: tsgd vs best of random, rand2"].bar_name == "rand2"
    raw["bench"]["compare"] = [{"tsgd": "nope"}]
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(BenchError, match="nope"):
        _load(path, repo_root, str(tmp_path))


def test_main_methods_leave_a_method_to_its_own_smaller_matrix(tmp_path, repo_root, tiny_data):
    raw = json.loads(json.dumps(TINY_BENCH))
    raw["bench"]["methods"] = {"random": {"kind": "random"}, "tsgd": {"kind": "tsgd"}}
    raw["bench"].update(
        baselines=["random"],
        tsgf_off="",
        seeds=[0],
        main_methods=["random"],
        extra=[{"methods": ["tsgd"], "evals": ["hard"]}],
    )
    path = tmp_path / "main.yaml"
    path.write_text(yaml.safe_dump(raw))
    b = Benchmark(_load(path, repo_root, str(tiny_data)), tmp_path / "work", "cpu")
    b.run()
    assert sorted((r.method, r.eval) for r in b.runs) == [
        ("random", "hard"),
        ("random", "soft"),
        ("tsgd", "hard"),
    ]
    page = write_page(b, tmp_path / "one-seed.md", command="x", wall=1.0)
    assert "(1 run per cell;" in page
    raw["bench"]["main_methods"] = ["nope"]
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(BenchError, match="nope"):
        _load(path, repo_root, str(tiny_data))


SHIPPED = sorted((Path(__file__).resolve().parents[2] / "benchmarks").glob("*.yaml"))


SHIPPED_TEACHERS = sorted(
    (Path(__file__).resolve().parents[2] / "benchmarks/teachers").glob("*.yaml")
)


@pytest.mark.parametrize("path", SHIPPED_TEACHERS, ids=[p.name for p in SHIPPED_TEACHERS])
def test_every_shipped_teacher_candidates_file_loads(path, repo_root):
    config, cands = load_candidates(path)
    cfg = _load(config, repo_root, "/data/ucf9-dev")
    assert cfg.params["dataset"]["val_groups"]  # the groups the teacher is chosen on
    rule = load_student_rule(path)
    if rule:  # its method and evaluations are the configuration's
        assert rule["method"] in cfg.methods and set(rule["evals"]) <= set(cfg.evals)
    for over in cands.values():
        validate_params(
            deep_merge(cfg.params, {"teacher": over}),
            repo_root / "workflow/schemas/params.schema.yaml",
        )


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_benchmark_config_loads(path, repo_root):
    """A typo in a benchmark YAML would otherwise surface only after hours of steps."""
    cfg = _load(path, repo_root, "/data/ucf9-dev")
    names = set(cfg.methods)
    for comp in cfg.comparisons():
        assert {comp["tsgd"], *comp["baselines"], *comp["soft_baselines"]} <= names
        assert comp["tsgf_off"] in names | {""}
    for extra in cfg.extra:
        assert set(extra.get("methods", [])) <= names
    for m in cfg.methods.values():
        cfg.method_params(m)  # every override merges and validates


def _changed_config(tmp, tiny_data, repo_root, **bench):
    raw = json.loads(json.dumps(TINY_BENCH))
    raw["bench"].update(bench)
    path = tmp / "variant.yaml"
    path.write_text(yaml.safe_dump(raw))
    return _load(path, repo_root, str(tiny_data))


def test_time_limit_stops_before_new_steps_and_the_page_says_so(bench_run, tiny_data, repo_root):
    _, _, _, tmp = bench_run
    raw_tsgd = {"kind": "tsgd", "distill": {"iterations": 3, "mosaic_grid": 2}}  # a new step
    methods = {**TINY_BENCH["bench"]["methods"], "tsgd": raw_tsgd}
    cfg = _changed_config(tmp, tiny_data, repo_root, methods=methods)
    b = Benchmark(cfg, tmp / "work", "cpu", time_limit=0.0)
    b.run()
    assert b.stopped and "distill:tsgd" in b.stopped
    assert b.not_run == ["distill tsgd IPC 1"]
    # the new step never started; every finished step, before and after it, is collected
    assert {r.method for r in b.runs} == set(cfg.methods) - {"tsgd"}
    assert all(r.reused for r in b.steps.records)
    page = write_page(b, tmp / "stopped.md", command="x", wall=1.0)
    assert "**Incomplete**" in page and "Not run: distill tsgd IPC 1." in page
    assert "| random | " in page and "| tsgd | " not in page
    # a limit reached before the shared steps: the page says that no cell ran
    first = Benchmark(cfg, tmp / "fresh-work", "cpu", time_limit=0.0)
    first.run()
    assert "preprocess" in first.stopped and not first.runs
    page = write_page(first, tmp / "stopped-first.md", command="x", wall=1.0)
    assert "Not run: every cell (the time limit came before a step they share)." in page


def test_keep_going_lists_a_failed_step_and_runs_the_rest(bench_run, tiny_data, repo_root):
    cfg, _, _, tmp = bench_run

    class Broken(Benchmark):
        def make_set(self, cache, teacher, method, ipc, seed):
            if method.name == "dm":
                raise RuntimeError("boom")
            return super().make_set(cache, teacher, method, ipc, seed)

    with pytest.raises(RuntimeError, match="boom"):
        Broken(cfg, tmp / "work", "cpu").run()
    b = Broken(cfg, tmp / "work", "cpu", keep_going=True)
    b.run()
    assert b.failures == [("distill dm IPC 1", "RuntimeError: boom")]
    assert {r.method for r in b.runs} == set(cfg.methods) - {"dm"}
    page = write_page(b, tmp / "failed.md", command="x", wall=1.0)
    assert "## Failed steps" in page and "- distill dm IPC 1: `RuntimeError: boom`" in page


def test_cells_run_budget_by_budget_then_the_full_set(bench_run, tiny_data, repo_root):
    _, _, _, tmp = bench_run
    cfg = _changed_config(tmp, tiny_data, repo_root, ipc=[1, 2])
    order = []

    class Recording(Benchmark):  # reuses preprocessing, teacher and saliency; runs no student
        def make_set(self, cache, teacher, method, ipc, seed):
            return Path(f"{method.name}-{ipc}-{seed}") / "set.safetensors"

        def evaluate(self, cache, teacher, method, sets, ipc, student, ev, seeds):
            order.append((method.name, ipc, ev))
            return []

    Recording(cfg, tmp / "work", "cpu").run()
    names = [n for n in cfg.methods if n != "full"]
    assert order == [
        *[(n, 1, ev) for n in names for ev in ("hard", "soft")],
        *[(n, 2, ev) for n in names for ev in ("hard", "soft")],
        ("full", None, "hard"),
        ("full", None, "soft"),
    ]


def test_the_page_names_the_commit_a_copier_gives(monkeypatch):
    from tsgd.benchmark import _git_commit, machine_info

    monkeypatch.delenv("TSGD_COMMIT", raising=False)
    assert machine_info()["commit"] == (_git_commit() or "unknown")
    monkeypatch.setenv("TSGD_COMMIT", "abc1234 (copied)")
    assert machine_info()["commit"] == "abc1234 (copied)"


def test_the_clip_cache_follows_the_data_not_its_path(bench_run, tmp_path, monkeypatch):
    cfg, bench, _, tmp = bench_run
    root = Path(cfg.params["dataset"]["root"])
    first = bench.preprocess()
    copy = tmp_path / "elsewhere"
    shutil.copytree(root, copy)
    monkeypatch.chdir(tmp_path)
    for named in (copy, Path("elsewhere"), Path("./elsewhere/")):  # moved; relative paths
        moved = json.loads(json.dumps(cfg.params))
        moved["dataset"]["root"] = str(named)
        again = Benchmark(dataclasses.replace(cfg, params=moved), tmp / "work", "cpu")
        assert again.preprocess() == first and again.steps.records[-1].reused
    # an edited manifest (of the same size: a clip moved to another group) and a removed
    # video each change the key
    manifest = copy / "clips.csv"
    text = manifest.read_text()
    edited = text.replace(",g01,", ",g02,", 1)
    assert edited != text and len(edited) == len(text)
    manifest.write_text(edited)
    assert data_fingerprint(copy) != data_fingerprint(root)
    shutil.copy(root / "clips.csv", manifest)
    assert data_fingerprint(copy) == data_fingerprint(root)
    next(copy.rglob("*.mp4")).unlink()
    assert data_fingerprint(copy) != data_fingerprint(root)
    # a cache made before the fingerprint (keyed by the root's path) is still the one used
    named = {k: v for k, v in cfg.params["dataset"].items() if k != "name"}
    named["root"] = str(tmp_path / "old-place")  # gone since: the old folder still serves
    pre = cfg.params["preprocess"]
    old = tmp_path / "work-old" / f"cache-{digest({'dataset': named, 'pre': pre})}"
    shutil.copytree(first, old)
    params = json.loads(json.dumps(cfg.params))
    params["dataset"]["root"] = named["root"]
    again = Benchmark(dataclasses.replace(cfg, params=params), tmp_path / "work-old", "cpu")
    assert again.preprocess() == old and again.steps.records[-1].reused
