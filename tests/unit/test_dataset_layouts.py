"""Dataset adapters on tiny fake trees in the official layouts (no decoding, no torch)."""

import json
import logging
from pathlib import Path

import pytest

from tsgd.data.adapters import (
    DATASET_SOURCES,
    MINIUCF_CLASSES,
    VideoRecord,
    assign_splits,
    empty_class_folders,
    load_dataset,
)


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00fake video")


def _write(path: Path, text: str, newline: str = "\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))


def _rows(records: list[VideoRecord]) -> list[tuple[str, str, str | None, str | None]]:
    return [(r.path, r.label, r.group, r.split) for r in records]


# Dispatcher ---------------------------------------------------------------------------------


def test_unknown_source_names_the_allowed_ones(tmp_path):
    with pytest.raises(ValueError, match="ucf101") as info:
        load_dataset("ucf", tmp_path)
    for source in DATASET_SOURCES:
        assert source in str(info.value)


def test_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        load_dataset("kinetics", tmp_path / "nope")


@pytest.mark.parametrize("source", ["ucf101", "miniucf", "hmdb51"])
@pytest.mark.parametrize("split", [0, 4, "1"])
def test_official_split_number_is_checked(tmp_path, source, split):
    with pytest.raises(ValueError, match="split must be 1, 2 or 3"):
        load_dataset(source, tmp_path, split=split)


def test_folder_source_is_folder_dataset(tmp_path):
    _touch(tmp_path / "Run" / "v_Run_g01_c01.avi")
    _write(tmp_path / "list.csv", "path,label,split\nRun/a.mp4,Run,train\n")
    assert load_dataset("folder", tmp_path, split=7, manifest=None) == (
        ["Run"],
        [VideoRecord("Run/v_Run_g01_c01.avi", "Run", "g01", None)],
    )
    classes, records = load_dataset("folder", tmp_path, manifest="list.csv")
    assert classes == ["Run"]
    assert records == [VideoRecord("Run/a.mp4", "Run", None, "train")]


# UCF101 -------------------------------------------------------------------------------------


def _ucf_tree(
    root: Path,
    classes: list[str],
    train: list[str],
    test: list[str],
    *,
    split: int = 1,
    videos: str = "UCF-101",
    newline: str = "\n",
) -> None:
    """Official UCF101 layout; ``train`` lines carry their 1-based label index."""
    lists = root / "ucfTrainTestlist"
    index = "".join(f"{i} {c}\n" for i, c in enumerate(classes, 1))
    _write(lists / "classInd.txt", index + "\n\n", newline)
    _write(lists / f"trainlist0{split}.txt", "".join(f"{x}\n" for x in train) + "\n", newline)
    _write(lists / f"testlist0{split}.txt", "".join(f"{x}\n" for x in test), newline)
    for line in train + test:
        _touch(root / videos / line.split()[0])


def test_ucf101_official_layout_crlf(tmp_path):
    _ucf_tree(
        tmp_path,
        ["Zumba", "ApplyEyeMakeup"],  # class order = classInd index, not alphabetical
        ["ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 2", "Zumba/v_Zumba_g09_c02.avi 1"],
        ["ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi", "Zumba/v_Zumba_g02_c03.avi"],
        newline="\r\n",
    )
    (tmp_path / "UCF-101" / "Zumba" / "v_Zumba_g02_c03.avi").unlink()  # listed, not on disk
    classes, records = load_dataset("ucf101", tmp_path)
    assert classes == ["Zumba", "ApplyEyeMakeup"]
    assert _rows(records) == [
        ("UCF-101/ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", "ApplyEyeMakeup", "g08", "train"),
        ("UCF-101/Zumba/v_Zumba_g09_c02.avi", "Zumba", "g09", "train"),
        ("UCF-101/ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi", "ApplyEyeMakeup", "g01", "test"),
        ("UCF-101/Zumba/v_Zumba_g02_c03.avi", "Zumba", "g02", "test"),  # kept
    ]
    assert assign_splits(records) == records  # the official splits are by group


def test_ucf101_videos_under_root_split_2_and_annotations_folder(tmp_path):
    _ucf_tree(
        tmp_path,
        ["Archery"],
        ["Archery/v_Archery_g10_c01.avi 1"],
        ["Archery/v_Archery_g03_c01.avi"],
        split=2,
        videos="",
    )
    (tmp_path / "ucfTrainTestlist").rename(tmp_path / "splits")
    classes, records = load_dataset("ucf101", tmp_path, split=2, annotations="splits")
    assert classes == ["Archery"]
    assert [r.path for r in records] == [
        "Archery/v_Archery_g10_c01.avi",
        "Archery/v_Archery_g03_c01.avi",
    ]
    absolute = load_dataset("ucf101", tmp_path, split=2, annotations=tmp_path / "splits")
    assert absolute == (classes, records)


def test_ucf101_missing_annotation_files(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("ucf101", tmp_path)
    assert str(tmp_path / "ucfTrainTestlist" / "classInd.txt") in str(info.value)
    assert "UCF101 class index" in str(info.value)

    _ucf_tree(tmp_path, ["A"], ["A/v_A_g01_c01.avi 1"], ["A/v_A_g02_c01.avi"])
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("ucf101", tmp_path, split=3)
    message = str(info.value)
    assert str(tmp_path / "ucfTrainTestlist" / "trainlist03.txt") in message
    assert "UCF101 split list not found" in message
    assert "expected ucfTrainTestlist/trainlist03.txt" in message


@pytest.mark.parametrize(
    ("file", "text", "line", "match"),
    [
        ("classInd.txt", "1 A\nB\n", 2, "<index> <Class>"),
        ("classInd.txt", "1 A\n1 B\n", 2, "twice"),
        ("trainlist01.txt", "A/v_A_g01_c01.avi 1\nA/v_A_g02_c01.avi\n", 2, "label index"),
        ("trainlist01.txt", "A/v_A_g01_c01.avi x\n", 1, "label index"),
        ("trainlist01.txt", "A/v_A_g01_c01.avi 3\n", 1, "not in 1..2"),
        ("trainlist01.txt", "v_A_g01_c01.avi 1\n", 1, "<Class>/<video>"),
        ("trainlist01.txt", "\n\nA/v_A_g01_c01.avi 2\n", 3, "is 'B' but the video is in 'A'"),
        ("trainlist01.txt", "C/v_C_g01_c01.avi 1\n", 1, "'C' is not in classInd"),
        ("testlist01.txt", "A/v_A_g01_c01.avi 1\n", 1, "<Class>/<video>.avi'"),
        ("testlist01.txt", "A/v_A_g08_c01.avi\n", 1, "already listed at .*trainlist01.txt line 1"),
    ],
)
def test_ucf101_malformed_lines_name_file_and_line(tmp_path, file, text, line, match):
    _ucf_tree(tmp_path, ["A", "B"], ["A/v_A_g08_c01.avi 1"], ["B/v_B_g01_c01.avi"])
    _write(tmp_path / "ucfTrainTestlist" / file, text)
    with pytest.raises(ValueError, match=match) as info:
        load_dataset("ucf101", tmp_path)
    assert f"{file} line {line}" in str(info.value)


def test_ucf101_class_indices_must_be_contiguous(tmp_path):
    _ucf_tree(tmp_path, ["A"], ["A/v_A_g01_c01.avi 1"], [])
    _write(tmp_path / "ucfTrainTestlist" / "classInd.txt", "1 A\n3 B\n")
    with pytest.raises(ValueError, match=r"indices must be 1\.\.2"):
        load_dataset("ucf101", tmp_path)


# MiniUCF ------------------------------------------------------------------------------------


def test_miniucf_classes_constant():
    assert len(MINIUCF_CLASSES) == 50
    assert list(MINIUCF_CLASSES) == sorted(set(MINIUCF_CLASSES))


def test_miniucf_keeps_the_50_classes_in_sorted_order(tmp_path):
    extra = ["Archery", "YoYo", "Drumming"]
    ucf_classes = list(reversed(MINIUCF_CLASSES)) + extra  # classInd order differs from sorted
    index = {c: i for i, c in enumerate(ucf_classes, 1)}
    train = [f"{c}/v_{c}_g08_c01.avi {index[c]}" for c in ["YoYo", "Biking", "Archery", "Swing"]]
    test = [f"{c}/v_{c}_g01_c01.avi" for c in ["Drumming", "WritingOnBoard", "ApplyEyeMakeup"]]
    _ucf_tree(tmp_path, ucf_classes, train, test)

    classes, records = load_dataset("miniucf", tmp_path)
    assert classes == list(MINIUCF_CLASSES)
    assert _rows(records) == [
        ("UCF-101/Biking/v_Biking_g08_c01.avi", "Biking", "g08", "train"),
        ("UCF-101/Swing/v_Swing_g08_c01.avi", "Swing", "g08", "train"),
        ("UCF-101/WritingOnBoard/v_WritingOnBoard_g01_c01.avi", "WritingOnBoard", "g01", "test"),
        ("UCF-101/ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi", "ApplyEyeMakeup", "g01", "test"),
    ]
    labels = [classes.index(r.label) for r in records]
    assert labels == [6, 44, 49, 0]


def test_miniucf_missing_classes_are_listed(tmp_path):
    present = [c for c in MINIUCF_CLASSES if c not in ("Biking", "Rowing")]
    _ucf_tree(
        tmp_path, present, ["Swing/v_Swing_g08_c01.avi " + str(present.index("Swing") + 1)], []
    )
    with pytest.raises(ValueError, match=r"\['Biking', 'Rowing'\]"):
        load_dataset("miniucf", tmp_path)


# HMDB51 -------------------------------------------------------------------------------------

_BRUSH = "April_09_brush_hair_u_nm_np1_ba_goo_0.avi"


def _hmdb_tree(root: Path, lists: dict[str, str], videos: str = "", newline: str = "\n") -> None:
    """``lists``: split-file name (without ``.txt``) -> text; touches every listed video."""
    for stem, text in lists.items():
        _write(root / "testTrainMulti_7030_splits" / f"{stem}.txt", text, newline)
        label = stem.rsplit("_test_split", 1)[0]
        for line in text.splitlines():
            if line.strip():
                _touch(root / videos / label / line.split()[0])


def test_hmdb51_official_layout(tmp_path):
    _hmdb_tree(
        tmp_path,
        {
            "brush_hair_test_split1": f"{_BRUSH} 1 \n"
            "Blonde_being_brushed_brush_hair_f_nm_np2_ri_med_0.avi 2 \n"
            "Brushing_Hair_with_Beth_brush_hair_h_nm_np1_le_goo_0.avi 0 \n\n",
            "brush_hair_test_split2": f"{_BRUSH} 2 \n",
            "cartwheel_test_split1": "Cartwheel_tutorial_cartwheel_f_cm_np1_ri_med_1.avi 2\n",
            "Zoo_test_split2": "zoo_clip.avi 1\n",  # a class of split 2 only
        },
        newline="\r\n",
    )
    (tmp_path / "cartwheel" / "Cartwheel_tutorial_cartwheel_f_cm_np1_ri_med_1.avi").unlink()
    classes, records = load_dataset("hmdb51", tmp_path)
    assert classes == ["brush_hair", "cartwheel"]
    assert _rows(records) == [
        (f"brush_hair/{_BRUSH}", "brush_hair", "April_09", "train"),
        (
            "brush_hair/Blonde_being_brushed_brush_hair_f_nm_np2_ri_med_0.avi",
            "brush_hair",
            "Blonde_being_brushed",
            "test",
        ),
        (  # missing on disk, still listed
            "cartwheel/Cartwheel_tutorial_cartwheel_f_cm_np1_ri_med_1.avi",
            "cartwheel",
            "Cartwheel_tutorial",
            "test",
        ),
    ]  # the id-0 video is dropped
    classes, records = load_dataset("hmdb51", tmp_path, split=2)
    assert classes == ["Zoo", "brush_hair"]
    assert [(r.label, r.split) for r in records] == [("Zoo", "train"), ("brush_hair", "test")]


def test_hmdb51_videos_folder_annotations_and_group_fallbacks(tmp_path):
    names = [
        "Sword_Fight_SWORD_u_cm_np2_fr_bad_3.avi",  # class found case-insensitively
        "My_title_swing_u_cm_np2_fr_bad_3.avi",  # class absent: drop the last 7 fields
        "short_name.avi",  # too few fields: whole stem
        "sword_u_cm_np2_fr_bad_3.avi",  # no title before the class: whole stem
    ]
    _hmdb_tree(tmp_path, {"sword_test_split3": "".join(f"{n} 1\n" for n in names)}, "videos")
    (tmp_path / "testTrainMulti_7030_splits").rename(tmp_path / "my splits")
    _, records = load_dataset("hmdb51", tmp_path, split=3, annotations="my splits")
    assert [r.group for r in records] == [
        "Sword_Fight",
        "My_title",
        "short_name",
        "sword_u_cm_np2_fr_bad_3",
    ]
    assert records[0].path == "videos/sword/Sword_Fight_SWORD_u_cm_np2_fr_bad_3.avi"


def test_hmdb51_missing_split_files(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("hmdb51", tmp_path)
    assert str(tmp_path / "testTrainMulti_7030_splits") in str(info.value)
    assert "<class>_test_split1.txt" in str(info.value)
    _hmdb_tree(tmp_path, {"run_test_split1": f"{_BRUSH} 1\n"})
    with pytest.raises(FileNotFoundError, match="_test_split2.txt"):
        load_dataset("hmdb51", tmp_path, split=2)


@pytest.mark.parametrize("line", [f"{_BRUSH} 3", f"{_BRUSH}", f"{_BRUSH} train"])
def test_hmdb51_malformed_line(tmp_path, line):
    _hmdb_tree(tmp_path, {"brush_hair_test_split1": f"ok.avi 1\n\n{line}\n"})
    with pytest.raises(ValueError, match=r"brush_hair_test_split1.txt line 3: expected"):
        load_dataset("hmdb51", tmp_path)


# Kinetics -----------------------------------------------------------------------------------

_KINETICS_HEADER = "label,youtube_id,time_start,time_end,split,is_cc\n"


def test_kinetics_official_layout(tmp_path):
    ann = tmp_path / "annotations"
    _write(
        ann / "train.csv",
        _KINETICS_HEADER + "playing guitar,-abc123XYZ_,14,24,train,0\n"
        "abseiling,0347ZoDXyP0,188.0,198.0,train,1\n"
        '"passing American football (in game)",xyz,5,15,train,0\n'
        '"say ""hi"", then wave",q1,0,10,train,0\n',
        "\r\n",
    )
    _write(ann / "val.csv", _KINETICS_HEADER + "abseiling,val0001,3,13,val,0\n")
    _write(ann / "test.csv", "youtube_id,time_start,time_end,split\nt1,0,10,test\n")
    _touch(tmp_path / "train" / "playing guitar" / "-abc123XYZ__000014_000024.mp4")
    _touch(tmp_path / "val" / "abseiling" / "val0001_000003_000013.mp4")

    classes, records = load_dataset("kinetics", tmp_path, split=3)  # split is ignored
    assert classes == [
        "abseiling",
        "passing American football (in game)",
        "playing guitar",
        'say "hi", then wave',
    ]
    assert _rows(records) == [
        (
            "train/playing guitar/-abc123XYZ__000014_000024.mp4",
            "playing guitar",
            "-abc123XYZ_",
            "train",
        ),
        ("train/abseiling/0347ZoDXyP0_000188_000198.mp4", "abseiling", "0347ZoDXyP0", "train"),
        (
            "train/passing American football (in game)/xyz_000005_000015.mp4",
            "passing American football (in game)",
            "xyz",
            "train",
        ),
        ('train/say "hi", then wave/q1_000000_000010.mp4', 'say "hi", then wave', "q1", "train"),
        ("val/abseiling/val0001_000003_000013.mp4", "abseiling", "val0001", "test"),
    ]


def test_kinetics_single_csv_label_folders_under_root(tmp_path):
    _write(
        tmp_path / "kinetics700.csv",
        "youtube_id,label,split,time_start,time_end\n"
        "a1,playing guitar,train,1,11\n"
        "a2,abseiling,validate,0,10\n"
        "a3,abseiling,test,0,10\n"
        "a4,,test,0,10\n",
    )
    _touch(tmp_path / "playing_guitar" / "a1_000001_000011.mp4")  # spaces as underscores
    _touch(tmp_path / "abseiling" / "a2_000000_000010.mp4")
    with pytest.raises(ValueError, match=r"kinetics700.csv line 3: label 'abseiling' has no train"):
        load_dataset("kinetics", tmp_path, annotations=str(tmp_path / "kinetics700.csv"))

    _write(
        tmp_path / "k.csv",
        "label,youtube_id,time_start,time_end,split\n"
        "playing guitar,a1,1,11,train\nabseiling,a0,0,10,train\nabseiling,a2,0,10,validate\n"
        "abseiling,a3,0,10,test\n,a4,0,10,test\n",
    )
    classes, records = load_dataset("kinetics", tmp_path, annotations="k.csv")
    assert classes == ["abseiling", "playing guitar"]
    assert _rows(records) == [  # test rows (labelled or not) are left out
        ("playing_guitar/a1_000001_000011.mp4", "playing guitar", "a1", "train"),
        ("abseiling/a0_000000_000010.mp4", "abseiling", "a0", "train"),
        ("abseiling/a2_000000_000010.mp4", "abseiling", "a2", "test"),
    ]


def test_kinetics_missing_annotations(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("kinetics", tmp_path)
    assert str(tmp_path / "annotations" / "train.csv") in str(info.value)
    assert "label,youtube_id,time_start,time_end,split" in str(info.value)
    _write(tmp_path / "annotations" / "train.csv", _KINETICS_HEADER)
    with pytest.raises(FileNotFoundError, match="val.csv"):
        load_dataset("kinetics", tmp_path)
    with pytest.raises(FileNotFoundError, match="other.csv"):
        load_dataset("kinetics", tmp_path, annotations="other.csv")


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ("a,b,1.5,11,train,0", "line 3: time_start must be whole seconds"),
        ("a,b,1,ten,train,0", "line 3: time_end must be whole seconds"),
        ("a,b,-1,9,train,0", "line 3: time_start"),
        ("a,,1,11,train,0", "line 3: empty label or youtube_id"),
        ("a,b,1,11,holdout,0", "line 3: split 'holdout'"),
        ("a,x0,0,10,train,0", "line 3: .*x0_000000_000010.mp4 is already listed at .* line 2"),
    ],
)
def test_kinetics_malformed_rows(tmp_path, row, match):
    _write(tmp_path / "annotations" / "train.csv", _KINETICS_HEADER + f"a,x0,0,10,train,0\n{row}\n")
    _write(tmp_path / "annotations" / "val.csv", _KINETICS_HEADER)
    with pytest.raises(ValueError, match=match):
        load_dataset("kinetics", tmp_path)


def test_kinetics_missing_column(tmp_path):
    _write(tmp_path / "k.csv", "label,youtube_id,time_start,split\na,b,1,train\n")
    with pytest.raises(ValueError, match=r"k.csv: missing column\(s\) \['time_end'\]"):
        load_dataset("kinetics", tmp_path, annotations="k.csv")


# Something-Something v2 ---------------------------------------------------------------------

_SSV2_LABELS = {
    "Approaching something with your camera": "0",
    "Holding something next to something": "2",
    "Pushing something from left to right": "1",
}


def _ssv2_item(video_id: str, template: str) -> dict[str, object]:
    return {"id": video_id, "label": "some label", "template": template, "placeholders": ["x"]}


def test_ssv2_official_layout(tmp_path):
    labels = tmp_path / "labels"
    _write(labels / "labels.json", json.dumps(_SSV2_LABELS, indent=1))
    train = [
        _ssv2_item("78687", "Holding [something] next to [something]"),
        _ssv2_item("42326", "Approaching [something] with your camera"),
    ]
    _write(labels / "something-something-v2-train.json", json.dumps(train))
    valid = [_ssv2_item("74225", "Pushing [something] from left to right")]
    _write(labels / "something-something-v2-validation.json", json.dumps(valid))
    _write(labels / "something-something-v2-test.json", json.dumps([{"id": "1"}]))
    _touch(tmp_path / "20bn-something-something-v2" / "78687.webm")

    classes, records = load_dataset("ssv2", tmp_path)
    assert classes == [
        "Approaching something with your camera",
        "Pushing something from left to right",
        "Holding something next to something",
    ]
    assert _rows(records) == [
        (
            "20bn-something-something-v2/78687.webm",
            "Holding something next to something",
            None,
            "train",
        ),
        (
            "20bn-something-something-v2/42326.webm",
            "Approaching something with your camera",
            None,
            "train",
        ),
        (
            "20bn-something-something-v2/74225.webm",
            "Pushing something from left to right",
            None,
            "test",
        ),
    ]  # 42326 and 74225 are missing on disk, still listed


def test_ssv2_files_at_root_and_short_names(tmp_path):
    _write(tmp_path / "labels.json", json.dumps(_SSV2_LABELS))
    _write(
        tmp_path / "train.json",
        json.dumps([_ssv2_item(5, "Holding [something] next to [something]")]),
    )
    _write(tmp_path / "validation.json", "[]")
    _touch(tmp_path / "5.webm")
    classes, records = load_dataset("ssv2", tmp_path)
    assert len(classes) == 3
    assert records == [VideoRecord("5.webm", "Holding something next to something", None, "train")]

    (tmp_path / "5.webm").rename(tmp_path / "5.mp4")
    _touch(tmp_path / "videos" / "5.webm")
    assert load_dataset("ssv2", tmp_path)[1][0].path == "videos/5.webm"


def test_ssv2_unknown_template_and_missing_or_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("ssv2", tmp_path)
    assert str(tmp_path / "labels" / "labels.json") in str(info.value)
    assert "SSv2 class list not found" in str(info.value)

    ann = tmp_path / "ann"
    _write(ann / "labels.json", json.dumps(_SSV2_LABELS))
    with pytest.raises(FileNotFoundError, match="something-something-v2-train.json"):
        load_dataset("ssv2", tmp_path, annotations="ann")

    _write(ann / "train.json", json.dumps([_ssv2_item("9", "Holding [something]")]))
    _write(ann / "validation.json", "[]")
    with pytest.raises(
        ValueError, match=r"train.json entry 0 \(id 9\): template 'Holding \[something\]'"
    ):
        load_dataset("ssv2", tmp_path, annotations="ann")

    _write(ann / "train.json", json.dumps([{"label": "no id", "template": "x"}]))
    with pytest.raises(ValueError, match="train.json entry 0: expected an object with 'id'"):
        load_dataset("ssv2", tmp_path, annotations="ann")

    _write(ann / "train.json", '[\n  {"id": "1",\n  "template": }\n]')
    with pytest.raises(ValueError, match="train.json line 3: invalid JSON"):
        load_dataset("ssv2", tmp_path, annotations="ann")

    _write(ann / "labels.json", json.dumps({"A": "0", "B": "two"}))
    with pytest.raises(ValueError, match="'two' of 'B' is not an integer"):
        load_dataset("ssv2", tmp_path, annotations="ann")
    _write(ann / "labels.json", json.dumps({"A": "0", "B": "2"}))
    with pytest.raises(ValueError, match=r"indices must be 0\.\.1"):
        load_dataset("ssv2", tmp_path, annotations="ann")


# Empty class folders ------------------------------------------------------------------------


def test_empty_class_folders_folder_layout(tmp_path, caplog):
    _touch(tmp_path / "Run" / "clip.mp4")
    _touch(tmp_path / "Jump" / "notes.txt")
    _touch(tmp_path / "Jump" / ".hidden.mp4")
    (tmp_path / "Sit").mkdir()
    (tmp_path / "Fly" / "sub.mp4").mkdir(parents=True)  # a folder named like a video
    classes, _ = load_dataset("folder", tmp_path, manifest=None)
    assert classes == ["Run"]  # empty folders are not classes...
    subdirs = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    with caplog.at_level(logging.WARNING, logger="tsgd.data.adapters"):
        assert empty_class_folders(tmp_path, subdirs) == ["Fly", "Jump", "Sit"]  # ...but found
    assert "Jump" in caplog.text
    assert empty_class_folders(tmp_path, ["Run", "Absent"]) == []


def test_empty_class_folders_official_layouts(tmp_path):
    _ucf_tree(tmp_path, ["A", "B"], ["A/v_A_g01_c01.avi 1"], ["B/v_B_g01_c01.avi"])
    (tmp_path / "UCF-101" / "B" / "v_B_g01_c01.avi").unlink()
    classes, records = load_dataset("ucf101", tmp_path)
    assert len(records) == 2  # B's listed video is still a record
    assert empty_class_folders(tmp_path, classes) == ["B"]

    (tmp_path / "train" / "playing_guitar").mkdir(parents=True)
    _touch(tmp_path / "val" / "abseiling" / "x_000000_000010.mp4")
    (tmp_path / "train" / "abseiling").mkdir()
    assert empty_class_folders(tmp_path, ["playing guitar", "abseiling"]) == ["playing guitar"]
