from pathlib import Path

import pytest

from tsgd.data.adapters import VideoRecord, assign_splits, folder_dataset, parse_group


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_manifest_with_classes_txt_order(tmp_path):
    _write(tmp_path / "classes.txt", "Zeta\nAlpha\n\n")
    _write(
        tmp_path / "clips.csv",
        "path,label,group,split,n_frames\n"
        "videos/Zeta/a.mp4,Zeta,g01,train,10\n"
        "videos/Alpha/b.mp4,Alpha,,test,10\n"
        "videos/Alpha/missing.mp4,Alpha,g02,,10\n",
    )
    classes, records = folder_dataset(tmp_path)
    assert classes == ["Zeta", "Alpha"]  # file order, not sorted
    assert records == [
        VideoRecord("videos/Zeta/a.mp4", "Zeta", "g01", "train"),
        VideoRecord("videos/Alpha/b.mp4", "Alpha", None, "test"),
        VideoRecord("videos/Alpha/missing.mp4", "Alpha", "g02", None),  # missing file is fine
    ]


def test_manifest_without_classes_txt_sorts_labels(tmp_path):
    _write(tmp_path / "list.csv", "label,path\nb,x/1.avi\na,x/2.avi\nb,x/3.avi\n")
    classes, records = folder_dataset(tmp_path, manifest="list.csv")
    assert classes == ["a", "b"]
    assert [r.group for r in records] == [None, None, None]


def test_unknown_label_names_it(tmp_path):
    _write(tmp_path / "classes.txt", "A\nB\n")
    _write(tmp_path / "clips.csv", "path,label\nv/1.mp4,A\nv/2.mp4,Mystery\n")
    with pytest.raises(ValueError, match="Mystery"):
        folder_dataset(tmp_path)


def test_manifest_missing_columns(tmp_path):
    _write(tmp_path / "clips.csv", "file,label\nv/1.mp4,A\n")
    with pytest.raises(ValueError, match="path"):
        folder_dataset(tmp_path)


def test_missing_root_and_explicit_manifest(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        folder_dataset(tmp_path / "nope")
    _touch(tmp_path / "A" / "x.mp4")
    with pytest.raises(FileNotFoundError, match="other.csv"):
        folder_dataset(tmp_path, manifest="other.csv")


def test_scan_without_manifest_parses_ucf_groups(tmp_path):
    for name in ("v_Run_g02_c01.avi", "v_Run_g01_c02.AVI", "v_Run_g01_c01.avi", "notes.txt"):
        _touch(tmp_path / "Run" / name)
    _touch(tmp_path / "Jump" / "clip.mp4")
    _touch(tmp_path / "Jump" / "v_Jump_g10_c03.webm")
    (tmp_path / "originals").mkdir()  # a folder without videos is not a class
    _write(tmp_path / "README.md", "hi")

    for manifest in (None, "clips.csv"):  # default manifest absent -> scan
        classes, records = folder_dataset(tmp_path, manifest=manifest)
        assert classes == ["Jump", "Run"]
        assert [(r.path, r.label, r.group, r.split) for r in records] == [
            ("Jump/clip.mp4", "Jump", None, None),
            ("Jump/v_Jump_g10_c03.webm", "Jump", "g10", None),
            ("Run/v_Run_g01_c01.avi", "Run", "g01", None),
            ("Run/v_Run_g01_c02.AVI", "Run", "g01", None),
            ("Run/v_Run_g02_c01.avi", "Run", "g02", None),
        ]


def test_scan_with_classes_txt(tmp_path):
    _touch(tmp_path / "B" / "x_g01_c01.mp4")
    _touch(tmp_path / "A" / "y_g01_c01.mp4")
    _write(tmp_path / "classes.txt", "B\nA\n")
    classes, _ = folder_dataset(tmp_path, manifest=None)
    assert classes == ["B", "A"]
    _touch(tmp_path / "C" / "z.mp4")
    with pytest.raises(ValueError, match="'C'"):
        folder_dataset(tmp_path, manifest=None)


def test_scan_empty_root(tmp_path):
    with pytest.raises(ValueError, match="no videos"):
        folder_dataset(tmp_path, manifest=None)


def test_parse_group():
    assert parse_group("v_ApplyEyeMakeup_g08_c01.avi") == "g08"
    assert parse_group("MoveRight_g01_c02.mp4") == "g01"
    assert parse_group("clip_01.mp4") is None


def _records():
    out = []
    for label in ("A", "B"):
        for g in ("g01", "g02", "g03", "g04"):
            for c in (1, 2):
                out.append(VideoRecord(f"{label}/{label}_{g}_c{c}.mp4", label, g))
    return out


def test_assign_splits_by_group_never_splits_a_group():
    out = assign_splits(_records(), test_groups=["g04"], val_groups=("g03",))
    splits_of_group: dict[str, set[str]] = {}
    for r in out:
        splits_of_group.setdefault(r.group, set()).add(r.split)
    assert splits_of_group == {"g01": {"train"}, "g02": {"train"}, "g03": {"val"}, "g04": {"test"}}
    assert len(out) == 16


def test_assign_splits_keeps_existing_splits():
    recs = [VideoRecord("a", "A", "g1", "train"), VideoRecord("b", "A", "g2", "test")]
    assert assign_splits(recs) == recs


def test_assign_splits_errors():
    with pytest.raises(ValueError, match="test_groups"):
        assign_splits([VideoRecord("a.mp4", "A", "g01")])
    with pytest.raises(ValueError, match="no group"):
        assign_splits([VideoRecord("a.mp4", "A", None)], test_groups=["g01"])
    with pytest.raises(ValueError, match="g99"):
        assign_splits(_records(), test_groups=["g99"])
    with pytest.raises(ValueError, match="both"):
        assign_splits(_records(), test_groups=["g01"], val_groups=["g01"])
    mixed = [VideoRecord("a", "A", "g1", "train"), VideoRecord("b", "A", "g1", "test")]
    with pytest.raises(ValueError, match="two splits"):
        assign_splits(mixed)
