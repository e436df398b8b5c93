import csv

import numpy as np
import pytest

from tsgd.data.decode import read_frames, video_info
from tsgd.data.synthetic import (
    CLASS_NAMES,
    MOTIONS,
    generate_synthetic_dataset,
    make_group_style,
    render_video,
    write_mp4,
)

SIZE = 32
FRAMES = 16


def _render(motion, seed, **kw):
    style = make_group_style(np.random.default_rng((seed, 0)), SIZE)
    kw = {"frames": FRAMES, "size": SIZE, "noise_std": 0.0, "distractor": False} | kw
    video = render_video(motion, np.random.default_rng((seed, 1)), style=style, **kw)
    return video, style


def _centroids(video, background):
    """Object centre per frame (x, y) in pixels, from the difference with the background."""
    mask = np.abs(video.astype(np.float32) - background).max(axis=-1) > 25  # [T, H, W]
    assert mask.sum(axis=(1, 2)).min() > 0, "object not visible in some frame"
    ys, xs = np.indices(mask.shape[1:])
    n = mask.sum(axis=(1, 2))
    return np.stack([(mask * xs).sum((1, 2)) / n, (mask * ys).sum((1, 2)) / n], axis=1) + 0.5


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    generate_synthetic_dataset(
        out, classes=3, groups=3, test_groups=1, videos_per_group=2, frames=8, size=SIZE, fps=10
    )
    return out


def test_files_manifest_and_classes(dataset):
    names = (dataset / "classes.txt").read_text().splitlines()
    assert names == ["MoveRight", "MoveLeft", "MoveDown"]  # MOTIONS order, not sorted
    with open(dataset / "clips.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == ["path", "label", "group", "split", "n_frames", "fps"]
        rows = list(reader)
    assert len(rows) == 3 * 3 * 2
    assert {r["label"] for r in rows} == set(names)
    assert {(r["group"], r["split"]) for r in rows} == {
        ("g01", "train"),
        ("g02", "train"),
        ("g03", "test"),
    }
    for r in rows:
        assert r["path"].startswith(f"videos/{r['label']}/{r['label']}_{r['group']}_c")
        n, fps = video_info(dataset / r["path"])
        assert (n, fps) == (int(r["n_frames"]), float(r["fps"])) == (8, 10.0)
    frames = read_frames(dataset / rows[0]["path"], [0, 3, 7])
    assert frames.shape == (3, SIZE, SIZE, 3) and frames.dtype == np.uint8
    assert not list(dataset.rglob("*.tmp"))


def test_encoded_video_matches_rendered_pixels(tmp_path):
    video = render_video("up", np.random.default_rng(0), frames=6, size=SIZE)
    write_mp4(tmp_path / "v.mp4", video, 25)
    decoded = read_frames(tmp_path / "v.mp4", range(6))
    assert decoded.shape == video.shape
    assert np.abs(decoded.astype(int) - video).mean() < 8  # lossy (crf 18, yuv420p) but close


def test_deterministic_for_a_seed(tmp_path):
    a, _ = _render("clockwise", 7, noise_std=2.0, distractor=True)
    b, _ = _render("clockwise", 7, noise_std=2.0, distractor=True)
    c, _ = _render("clockwise", 8, noise_std=2.0, distractor=True)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    kw = {"classes": 2, "groups": 2, "test_groups": 1, "videos_per_group": 1, "frames": 4}
    generate_synthetic_dataset(tmp_path / "x", size=16, **kw)
    generate_synthetic_dataset(tmp_path / "y", size=16, **kw)
    assert (tmp_path / "x/clips.csv").read_text() == (tmp_path / "y/clips.csv").read_text()
    # the encoder is deterministic too (x264 asm=0), so the files are byte-identical
    videos = sorted(p.relative_to(tmp_path / "x") for p in (tmp_path / "x").rglob("*.mp4"))
    assert len(videos) == 4
    for rel in videos:
        assert (tmp_path / "x" / rel).read_bytes() == (tmp_path / "y" / rel).read_bytes()


def test_pause_segment_is_still():
    for motion in MOTIONS:
        clean, style = _render(motion, 3, pause_fraction=0.3, frames=20)
        diff = np.abs(np.diff(clean.astype(np.int16), axis=0)).max(axis=(1, 2, 3))  # [T-1]
        still = np.flatnonzero(diff == 0)
        # one contiguous still run of about 0.3 * 20 frames (jitter +-20%): 4..7 frames
        assert 3 <= len(still) <= 6, (motion, diff)
        assert np.all(np.diff(still) == 1), (motion, still)
        # with sensor noise, a still pair still differs far less than a moving pair
        noisy, _ = _render(motion, 3, pause_fraction=0.3, frames=20, noise_std=2.0)
        big = (np.abs(np.diff(noisy.astype(np.int16), axis=0)) > 40).mean(axis=(1, 2, 3))
        moving = np.setdiff1d(np.arange(len(big)), still)
        assert big[still].max() * 10 < big[moving].min(), (motion, big)


@pytest.mark.parametrize(
    ("motion", "sign_x", "sign_y"),
    [
        ("right", 1, 0),
        ("left", -1, 0),
        ("down", 0, 1),
        ("up", 0, -1),
        ("down_right", 1, 1),
        ("up_left", -1, -1),
    ],
)
def test_linear_motion_direction(motion, sign_x, sign_y):
    for seed in range(5):
        video, style = _render(motion, seed)
        c = _centroids(video, style.background)
        dx, dy = c[-1] - c[0]
        steps = np.diff(c, axis=0)
        for sign, d, s in ((sign_x, dx, steps[:, 0]), (sign_y, dy, steps[:, 1])):
            if sign == 0:
                assert abs(d) < 1.0
            else:
                assert sign * d > 5.0  # travelled several pixels the right way
                assert np.all(sign * s > -0.5)  # never backwards (no bouncing)
        # the object stays inside the frame the whole time
        assert c.min() > style.radius - 1 and c.max() < SIZE - style.radius + 1


@pytest.mark.parametrize(("motion", "sign"), [("clockwise", 1), ("counterclockwise", -1)])
def test_rotation_sense_on_screen(motion, sign):
    for seed in range(5):
        video, style = _render(motion, seed)
        c = _centroids(video, style.background)
        rel = c - c.mean(axis=0)
        # z of (r_t x r_{t+1}) with y pointing down: > 0 means clockwise as seen on screen
        cross = rel[:-1, 0] * rel[1:, 1] - rel[:-1, 1] * rel[1:, 0]
        assert sign * cross.sum() > 0
        assert np.mean(sign * cross >= -1e-6) > 0.9


def _position_bayes_accuracy(train_pts, test_pts, bins=4):
    """Held-out accuracy of the best classifier that sees one frame's object position."""
    edges = np.linspace(0, SIZE, bins + 1)
    hists = [np.histogram2d(p[:, 0], p[:, 1], [edges, edges])[0] + 1e-3 for p in train_pts]
    correct = total = 0
    for label, pts in enumerate(test_pts):
        ix = np.clip(np.digitize(pts[:, 0], edges) - 1, 0, bins - 1)
        iy = np.clip(np.digitize(pts[:, 1], edges) - 1, 0, bins - 1)
        scores = np.stack([h[ix, iy] / h.sum() for h in hists])
        correct += int((scores.argmax(axis=0) == label).sum())
        total += len(pts)
    return correct / total


def test_single_frame_does_not_tell_mirror_classes_apart():
    """Appearance is shared by all classes of a group, and the object's position in a frame
    taken at a random time has the same distribution for a motion and its mirror image."""
    pts = {}
    for m in MOTIONS:
        per_video = []
        for i in range(40):
            video, style = _render(m, 100 + i)
            per_video.append(_centroids(video, style.background))
        pts[m] = (np.concatenate(per_video[:20]), np.concatenate(per_video[20:]))
    pairs = [("right", "left"), ("down", "up"), ("clockwise", "counterclockwise")]
    pairs.append(("down_right", "up_left"))
    for a, b in pairs:
        acc = _position_bayes_accuracy([pts[a][0], pts[b][0]], [pts[a][1], pts[b][1]])
        assert acc < 0.65, (a, b, acc)  # chance is 0.5
    acc_all = _position_bayes_accuracy([pts[m][0] for m in MOTIONS], [pts[m][1] for m in MOTIONS])
    assert acc_all < 0.35  # chance is 0.125; a motion classifier on clips reaches ~1.0


def test_class_names_fixed():
    assert list(CLASS_NAMES) == list(MOTIONS)
    assert CLASS_NAMES["clockwise"] == "RotateClockwise"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"classes": 0},
        {"classes": 9},
        {"size": 15},
        {"size": 8},
        {"frames": 3},
        {"test_groups": 6},
        {"pause_fraction": 0.95},
        {"noise_std": -1.0},
        {"object_speed": 0.0},
    ],
)
def test_generate_validates_arguments(tmp_path, kwargs):
    with pytest.raises(ValueError):
        generate_synthetic_dataset(tmp_path, **kwargs)
    assert not (tmp_path / "clips.csv").exists()


def test_render_validates_motion():
    with pytest.raises(ValueError, match="sideways"):
        render_video("sideways", np.random.default_rng(0))
