"""Real UCF101 video from ../shared/data/ucf9-dev (skipped cleanly when it is absent)."""

from __future__ import annotations

import shutil

import numpy as np

from tsgd.data.adapters import assign_splits, folder_dataset
from tsgd.data.preprocess import preprocess_dataset
from tsgd.io.clipcache import load_split
from tsgd.saliency import best_window, frame_saliency, saliency_map


def test_ucf9_manifest_splits_by_group(ucf9_dev):
    classes, records = folder_dataset(ucf9_dev)
    assert len(classes) == 9 and len(records) == 873
    split = assign_splits(records, test_groups=["g08", "g09", "g10", "g11"])
    test_groups = {r.group for r in split if r.split == "test"}
    train_groups = {r.group for r in split if r.split == "train"}
    assert test_groups == {"g08", "g09", "g10", "g11"} and not test_groups & train_groups


def test_original_xvid_avis_preprocess_and_have_motion(ucf9_dev, tmp_path):
    """The original XviD AVIs (one per class) go through the same preprocessing and TSGF."""
    root = tmp_path / "originals"
    rows = ["path,label,group,split"]
    for avi in sorted((ucf9_dev / "originals").glob("*/*.avi")):
        (root / avi.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(avi, root / avi.parent.name / avi.name)
        group = avi.stem.split("_")[-2]
        rows.append(f"{avi.parent.name}/{avi.name},{avi.parent.name},{group},train")
    (root / "clips.csv").write_text("\n".join(rows) + "\n")
    summary = preprocess_dataset(
        root,
        tmp_path / "cache",
        frames=16,
        gap=4,
        resize=(60, 80),
        splits=("train",),
        progress=False,
    )
    assert summary["counts"]["train"]["ok"] == 9
    data = load_split(tmp_path / "cache", "train")
    assert data.clips.shape == (9, 16, 60, 80, 3) and data.clips.dtype == np.uint8
    import torch

    x = torch.from_numpy(np.array(data.clips)).permute(0, 1, 4, 2, 3).float() / 255
    s = frame_saliency(saliency_map(x, k=1))
    assert float(s.mean()) > 0.01  # real video moves
    assert best_window(s, 8).shape == (9,)
