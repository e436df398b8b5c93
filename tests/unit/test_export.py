"""`tsgd export`: a set becomes playable mp4 files that decode back to its pixels."""

import csv

import numpy as np
import torch

from tsgd.cli import main
from tsgd.data.decode import open_video
from tsgd.io.export import to_uint8_videos
from tsgd.io.sets import save_tensors

MEAN, STD = [0.4, 0.5, 0.6], [0.2, 0.25, 0.3]


def _set(path, crop=16, frames=6):
    """Smooth moving gradients (H.264 keeps them well), normalised like a real set."""
    t = torch.arange(frames).view(1, frames, 1, 1, 1).float()
    y = torch.linspace(0, 1, crop).view(1, 1, 1, crop, 1)
    x = torch.linspace(0, 1, crop).view(1, 1, 1, 1, crop)
    base = (0.5 + 0.4 * torch.sin(6 * x + 3 * y + 0.5 * t)).expand(2, frames, 3, crop, crop)
    videos = (base - torch.tensor(MEAN).view(1, 1, 3, 1, 1)) / torch.tensor(STD).view(1, 1, 3, 1, 1)
    meta = {
        "classes": ["Run", "Jump / Land"],
        "mean": MEAN,
        "std": STD,
        "frames": frames,
        "crop": crop,
        "source_videos": ["a.mp4", "b.mp4"],
        "source_starts": [3, 0],
    }
    save_tensors(path, {"videos": videos.contiguous(), "labels": torch.tensor([0, 1])}, meta)
    return videos


def test_export_writes_playable_videos_with_an_index(tmp_path, capsys):
    videos = _set(tmp_path / "set" / "synthetic.safetensors")
    out = tmp_path / "mp4"
    assert main(["export", str(tmp_path / "set" / "synthetic.safetensors"), str(out)]) == 0
    assert "wrote 2 videos" in capsys.readouterr().out
    rows = list(csv.DictReader((out / "index.csv").open()))
    assert [r["file"] for r in rows] == ["0000_Run.mp4", "0001_Jump_Land.mp4"]
    assert [r["class"] for r in rows] == ["Run", "Jump / Land"]
    assert [r["source_start"] for r in rows] == ["3", "0"]
    expected = to_uint8_videos(videos.numpy(), MEAN, STD)
    for i, row in enumerate(rows):
        video = open_video(out / row["file"], backend="pyav")
        assert video.n_frames == 6
        got = video.read(range(6)).astype(np.int16)
        assert np.abs(got - expected[i]).mean() < 6  # H.264 at crf 18


def test_odd_sizes_are_padded_and_a_bad_set_refused(tmp_path, capsys):
    _set(tmp_path / "odd" / "synthetic.safetensors", crop=15)
    assert (
        main(["export", str(tmp_path / "odd" / "synthetic.safetensors"), str(tmp_path / "o")]) == 0
    )
    assert open_video(tmp_path / "o" / "0000_Run.mp4", backend="pyav").read([0]).shape == (
        1,
        16,
        16,
        3,
    )
    (tmp_path / "odd" / "synthetic.safetensors").write_bytes(b"junk")
    assert (
        main(["export", str(tmp_path / "odd" / "synthetic.safetensors"), str(tmp_path / "p")]) == 2
    )
    assert "sha256" in capsys.readouterr().err
