"""A published teacher is fetched (path or HTTP), verified, and refused when it does not fit."""

import functools
import http.server
import json
import shutil
import threading

import pytest

from tsgd.config import ParamsError, validate_params
from tsgd.data.preprocess import preprocess_dataset
from tsgd.data.synthetic import generate_synthetic_dataset
from tsgd.io.atomic import sha256_file
from tsgd.models.checkpoint import load_model
from tsgd.teacher.fetch import fetch_teacher, use_pretrained_teacher
from tsgd.teacher.train import train_teacher


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_teacher):
    """A cache with a val split, a teacher trained on it in a 'published' folder, and the
    metrics its training reported."""
    root = tmp_path_factory.mktemp("fetch_ds")
    generate_synthetic_dataset(
        root, classes=2, groups=3, test_groups=1, videos_per_group=2, frames=8, size=32
    )
    cache = root / "cache"
    preprocess_dataset(
        root,
        cache,
        frames=8,
        gap=1,
        resize=(20, 20),
        progress=False,
        splits=("train", "val", "test"),
        val_groups=["g01"],
    )
    pub = root / "published"
    metrics = train_teacher(cache, pub / "teacher.safetensors", **tiny_teacher)
    return cache, pub / "teacher.safetensors", sha256_file(pub / "teacher.safetensors"), metrics


@pytest.fixture(scope="module")
def published(trained):
    """The cache, the published teacher's weights and their sha256."""
    return trained[:3]


@pytest.fixture
def http_url(published):
    _, weights, _ = published
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(weights.parent))
    handler.log_message = lambda *a, **k: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/teacher.safetensors"
    server.shutdown()
    server.server_close()


EXPECT = {"classes": ["MoveRight", "MoveLeft"], "frames": 4, "crop": 16}


def test_fetch_from_a_path_and_use_it(trained, tmp_path):
    cache, weights, digest, at_training = trained
    out = tmp_path / "teacher" / "teacher.safetensors"
    metrics = use_pretrained_teacher(
        cache,
        out,
        source=str(weights),
        sha256=digest,
        frames=4,
        crop=16,
        test_passes=1,  # as in training (tiny_teacher)
        device="cpu",
    )
    assert metrics["sha256"] == digest and 0.0 <= metrics["test_top1"] <= 1.0
    # scored on the val groups too (the score a teacher is chosen by), exactly as in training
    assert 0.0 <= metrics["val_top1"] <= 1.0 and len(metrics["val_top1_per_pass"]) == 1
    assert metrics["val_top1"] == at_training["val_top1"]
    assert set(at_training) >= {"train_top1", "test_top1", "val_top1", "val_top1_per_pass"}
    model, meta = load_model(out, {"classes": EXPECT["classes"]})
    assert meta["source"] == str(weights) and meta["sha256"] == digest
    assert sorted(p.name for p in out.parent.iterdir()) == ["meta.json", "teacher.safetensors"]


def test_fetch_over_http(published, http_url, tmp_path):
    _, _, digest = published
    out = tmp_path / "t" / "teacher.safetensors"
    meta = fetch_teacher(http_url, digest.upper(), out, expect=EXPECT)
    assert meta["source"] == http_url
    assert sha256_file(out) == digest
    load_model(out, EXPECT)


def test_wrong_checksum_fails_and_leaves_nothing(published, http_url, tmp_path):
    _, weights, digest = published
    wrong = ("0" if digest[0] != "0" else "1") + digest[1:]
    for source in (str(weights), http_url):
        out = tmp_path / "t" / "teacher.safetensors"
        with pytest.raises(ValueError, match="checksum mismatch") as err:
            fetch_teacher(source, wrong, out, expect=EXPECT)
        assert f"expected sha256 {wrong}, got {digest}" in str(err.value)
        assert not (tmp_path / "t").exists() or not list((tmp_path / "t").iterdir())


def test_a_teacher_for_other_data_is_refused(published, tmp_path):
    _, weights, digest = published
    out = tmp_path / "t" / "teacher.safetensors"
    with pytest.raises(ValueError, match="made for different data") as err:
        fetch_teacher(str(weights), digest, out, expect={**EXPECT, "crop": 32, "frames": 8})
    assert "crop: teacher has 16, this dataset needs 32" in str(err.value)
    assert "frames: teacher has 4, this dataset needs 8" in str(err.value)
    assert not out.exists()
    with pytest.raises(FileNotFoundError, match="not found"):
        fetch_teacher(str(tmp_path / "nope.safetensors"), digest, out, expect=EXPECT)


def test_meta_that_does_not_describe_the_weights_is_refused(published, tmp_path):
    _, weights, digest = published
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "teacher.safetensors").write_bytes(weights.read_bytes())
    meta = json.loads((weights.parent / "meta.json").read_text())
    (fake / "meta.json").write_text(json.dumps({**meta, "sha256": "f" * 64}))
    with pytest.raises(ValueError, match="does not describe these weights"):
        fetch_teacher(
            str(fake / "teacher.safetensors"),
            digest,
            tmp_path / "o" / "t.safetensors",
            expect=EXPECT,
        )


def test_params_need_the_checksum(repo_root, schema_path):
    import yaml

    p = yaml.safe_load((repo_root / "params.yaml").read_text())
    p["teacher"]["pretrained"] = "https://example.org/teacher.safetensors"
    with pytest.raises(ParamsError, match="needs teacher.pretrained_sha256"):
        validate_params(p, schema_path)
    p["teacher"]["pretrained_sha256"] = "xyz"
    with pytest.raises(ParamsError, match="pretrained_sha256"):
        validate_params(p, schema_path)
    p["teacher"]["pretrained_sha256"] = "a" * 64
    assert validate_params(p, schema_path)["teacher"]["pretrained"].startswith("https://")


def _student_kw(**over):
    """A tiny student's training settings for evaluate_set."""
    return dict(
        student="convnet3d",
        seed=0,
        widths=[4, 8, 8],
        dropout=0.0,
        epochs=1,
        lr=0.01,
        optimizer="adamw",
        momentum=0.9,
        weight_decay=0.0,
        schedule="constant",
        device="cpu",
        **over,
    )


def test_sets_made_for_other_clips_are_refused_before_use(published, tmp_path):
    """Safe loading in the phases: a set for another resolution or frame count is refused,
    naming what differs, before any training."""
    from tsgd.distill.sets import make_random_set
    from tsgd.evaluate.students import evaluate_set

    cache, _, _ = published
    made = tmp_path / "set" / "synthetic.safetensors"
    make_random_set(cache, made, ipc=1, frames=4, crop=16, seed=0)
    kw = _student_kw(batch_size=4)
    with pytest.raises(ValueError, match="crop: file has 16, expected 12"):
        evaluate_set(made, cache, frames=4, crop=12, **kw)
    with pytest.raises(ValueError, match="frames: file has 4, expected 6"):
        evaluate_set(made, cache, frames=6, crop=16, **kw)


def test_soft_label_students_of_sets_past_one_batch_train_at_the_soft_batch(published, tmp_path):
    """evaluate.soft_batch_size: a soft-label student whose set does not fit in one batch
    trains at the soft batch; a set that fits trains full-batch, and hard labels never
    see it."""
    from tsgd.distill.sets import make_random_set
    from tsgd.evaluate.students import evaluate_set, student_batch_size

    cache, weights, _ = published
    made = tmp_path / "set" / "synthetic.safetensors"
    make_random_set(cache, made, ipc=3, frames=4, crop=16, seed=0)  # 2 classes: 6 clips
    kw = _student_kw(frames=4, crop=16, test_passes=1, teacher_path=weights, soft_batch_size=2)
    soft = evaluate_set(made, cache, labels="soft", batch_size=4, **kw)
    hard = evaluate_set(made, cache, labels="hard", batch_size=4, **kw)
    fits = evaluate_set(made, cache, labels="soft", batch_size=8, **kw)
    assert (soft["batch_size"], hard["batch_size"], fits["batch_size"]) == (2, 4, 6)
    assert student_batch_size(256, 64, "soft", 360) == 64
    assert student_batch_size(256, 64, "soft", 72) == 256  # fits: full batch
    assert student_batch_size(256, None, "soft", 360) == 256
    with pytest.raises(ValueError, match="batch sizes"):
        student_batch_size(256, 0, "soft", 360)


def test_soft_labels_from_several_teachers_are_checked_and_recorded(published, tmp_path):
    """evaluate.soft_teachers: the students' soft labels average that many teachers; a
    count that does not match the checkpoints given, or a repeated checkpoint, is refused
    before any training."""
    from tsgd.distill.sets import make_random_set
    from tsgd.evaluate.students import evaluate_set

    cache, weights, _ = published
    made = tmp_path / "set" / "synthetic.safetensors"
    make_random_set(cache, made, ipc=1, frames=4, crop=16, seed=0)
    other = tmp_path / "member" / "teacher.safetensors"
    other.parent.mkdir()
    shutil.copytree(weights.parent, other.parent, dirs_exist_ok=True)  # weights + meta
    kw = _student_kw(frames=4, crop=16, test_passes=1, batch_size=4)
    two = evaluate_set(
        made, cache, labels="soft", teacher_path=[weights, other], soft_teachers=2, **kw
    )
    one = evaluate_set(made, cache, labels="soft", teacher_path=weights, **kw)
    hard = evaluate_set(made, cache, labels="hard", soft_teachers=2, **kw)
    assert (two["soft_teachers"], one["soft_teachers"], hard["soft_teachers"]) == (2, 1, 0)
    # two copies of one teacher average to that teacher: the same student, up to rounding
    assert two["final_train_loss"] == pytest.approx(one["final_train_loss"], rel=1e-5)
    with pytest.raises(ValueError, match="asks for 3 teacher checkpoint"):
        evaluate_set(
            made, cache, labels="soft", teacher_path=[weights, other], soft_teachers=3, **kw
        )
    with pytest.raises(ValueError, match="repeat a checkpoint"):
        evaluate_set(
            made, cache, labels="soft", teacher_path=[weights, weights], soft_teachers=2, **kw
        )
