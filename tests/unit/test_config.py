import pytest
import yaml

from tsgd.config import ParamsError, load_params, validate_params


def base(repo_root):
    return yaml.safe_load((repo_root / "params.yaml").read_text())


def test_shipped_params_are_valid(repo_root, schema_path):
    p = load_params(repo_root / "params.yaml", schema_path)
    assert p["clip"]["frames"] >= 1


def test_defaults_are_filled(schema_path):
    p = validate_params({"distill": {"lr": 0.5}}, schema_path)
    assert p["distill"]["lr"] == 0.5
    assert p["distill"]["iterations"] == 0  # the chosen variant keeps the real windows
    d = p["distill"]  # the variant chosen on the selection groups: 2 x 2 x 2 pieces, decoded
    assert (d["init_pick"], d["temporal_pieces"], d["mosaic_grid"]) == ("diverse", 2, 2)
    assert d["decode_pieces"] is True
    # below IPC 5 a window among the frames that move, from IPC 5 on the most salient one
    assert (d["window_pick"], d["drop_static"], d["salient_from_ipc"]) == ("by_ipc", 0.75, 5)
    assert d["salient_room"] == 4  # ... and at every IPC when the cache holds 4 clips' worth
    assert p["saliency"]["k"] == 1
    assert p["benchmark"]["methods"] == ["tsgd", "random"]


@pytest.mark.parametrize(
    "section,key,value,message",
    [
        ("distill", "lr", "fast", "distill.lr: 'fast' is not of type 'number'"),
        ("distill", "lr", -1, "distill.lr: -1 is less than or equal to the minimum of 0"),
        ("teacher", "epochs", 0, "teacher.epochs: 0 is less than the minimum of 1"),
        ("teacher", "epoch", 3, "teacher.epoch: unknown key"),
        ("saliency", "motion_compensation", "flow", "saliency.motion_compensation: 'flow'"),
        ("saliency", "beta", 0.5, "saliency.beta: unknown key"),
        ("preprocess", "resize", [36], "preprocess.resize"),
        ("benchmark", "methods", ["tsgd", "magic"], "benchmark.methods[1]"),
        ("evaluate", "soft_batch_size", 0, "evaluate.soft_batch_size: 0 is less than"),
        ("evaluate", "soft_teachers", 0, "evaluate.soft_teachers: 0 is less than"),
    ],
)
def test_schema_errors_name_the_key(repo_root, schema_path, section, key, value, message):
    p = base(repo_root)
    p[section][key] = value
    with pytest.raises(ParamsError) as err:
        validate_params(p, schema_path)
    assert message in str(err.value)


def test_unknown_section_and_all_errors_reported(repo_root, schema_path):
    p = base(repo_root)
    p["distil"] = {}
    p["clip"]["crop"] = "big"
    with pytest.raises(ParamsError) as err:
        validate_params(p, schema_path)
    text = str(err.value)
    assert "distil: unknown key" in text and "clip.crop" in text


def test_missing_file(tmp_path, schema_path):
    with pytest.raises(FileNotFoundError):
        load_params(tmp_path / "nope.yaml", schema_path)


@pytest.mark.parametrize(
    "source,frames,gap,resize,clip_frames,crop",
    [
        ("synthetic", 16, 1, [36, 36], 8, 32),
        ("ucf101", 16, 4, [120, 160], 16, 112),
        ("miniucf", 16, 4, [120, 160], 16, 112),
        ("hmdb51", 16, 4, [120, 160], 16, 112),
        ("folder", 16, 4, [120, 160], 16, 112),
        ("kinetics", 8, 4, [64, 64], 8, 64),
        ("ssv2", 8, 4, [64, 64], 8, 64),
    ],
)
def test_dataset_presets_fill_nulls(
    repo_root, schema_path, source, frames, gap, resize, clip_frames, crop
):
    p = base(repo_root)
    p["dataset"]["source"] = source
    got = validate_params(p, schema_path)
    pre = got["preprocess"]
    assert (pre["frames"], pre["gap"], pre["resize"]) == (frames, gap, resize)
    assert (got["clip"]["frames"], got["clip"]["crop"]) == (clip_frames, crop)
    assert pre["min_frames"] == clip_frames  # shorter than one clip is bad input


def test_explicit_settings_override_presets_and_must_fit(repo_root, schema_path):
    p = base(repo_root)
    p["dataset"]["source"] = "kinetics"
    p["preprocess"]["resize"] = [80, 96]
    p["clip"]["crop"] = 72
    p["preprocess"]["min_frames"] = 3
    got = validate_params(p, schema_path)
    assert got["preprocess"]["resize"] == [80, 96] and got["clip"]["crop"] == 72
    assert got["preprocess"]["frames"] == 8 and got["preprocess"]["min_frames"] == 3
    p["clip"]["crop"] = 112
    p["clip"]["frames"] = 16
    with pytest.raises(ParamsError) as err:
        validate_params(p, schema_path)
    assert "clip.crop (112) is larger than preprocess.resize [80, 96]" in str(err.value)
    assert "clip.frames (16) exceeds preprocess.frames (8)" in str(err.value)


def test_soft_labels_have_their_own_batch(schema_path):
    ev = validate_params({}, schema_path)["evaluate"]
    assert (ev["batch_size"], ev["soft_batch_size"]) == (256, 64)  # chosen on the val groups
    assert (
        validate_params({"evaluate": {"soft_batch_size": None}}, schema_path)["evaluate"][
            "soft_batch_size"
        ]
        is None
    )


def test_a_soft_label_ensemble_cannot_come_from_a_fetched_teacher(schema_path):
    assert validate_params({}, schema_path)["evaluate"]["soft_teachers"] == 1
    both = {
        "evaluate": {"soft_teachers": 3},
        "teacher": {"pretrained": "teacher.safetensors", "pretrained_sha256": "0" * 64},
    }
    with pytest.raises(ParamsError, match="soft_teachers: 3 trains more teachers"):
        validate_params(both, schema_path)
    both["evaluate"]["soft_teachers"] = 1
    assert validate_params(both, schema_path)["teacher"]["pretrained"] == "teacher.safetensors"
