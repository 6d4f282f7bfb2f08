"""MPII loader: the shared json sample, a small official-layout .mat written here, broken files."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from keras_integral.data import mpii

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "samples"
MPII_DIR = SAMPLES / "mpii"
JSON_FILE = MPII_DIR / "test_mpii_subset.json"


def _raw():
    with open(JSON_FILE) as f:
        return json.load(f)


def _write_json(tmp_path, items, name="broken.json"):
    path = tmp_path / name
    path.write_text(json.dumps(items))
    return path


def test_json_matches_the_file():
    raw = _raw()
    records = mpii.load_records(JSON_FILE, MPII_DIR)
    assert len(records) == len(raw) == 3
    for record, item in zip(records, raw):
        joints = np.array(item["joints"], np.float64)
        annotated = np.array(item["joints_vis"]) == 1
        assert record.skeleton == "mpii"
        assert record.image_path == os.path.join(MPII_DIR, item["image"])
        np.testing.assert_allclose(record.keypoints[annotated], joints[annotated] - 1, rtol=1e-6)
        np.testing.assert_array_equal(record.keypoints[~annotated], 0)
        np.testing.assert_array_equal(record.weights, np.stack([annotated] * 2, axis=1))
        # Square of side 200 s around the 0-based centre moved down by 15 s.
        s = item["scale"]
        cx, cy = item["center"][0] - 1, item["center"][1] - 1 + 15 * s
        np.testing.assert_allclose(record.box, [cx - 100 * s, cy - 100 * s, 200 * s, 200 * s], rtol=1e-6)
        assert record.head_size == pytest.approx(np.hypot(*(joints[8] - joints[9])))
        assert record.meta["head_size_source"] == "neck_to_head_top"
    assert [r.image_id for r in records] == [0, 1, 2]


def test_json_hand_checked_values():
    first, _, third = mpii.load_records(JSON_FILE, MPII_DIR)
    # centre (966, 340) -> (965, 339) then +15 * 4.718488 = 70.77732; side 943.6976.
    np.testing.assert_allclose(first.box, [493.1512, -62.07148, 943.6976, 943.6976], rtol=1e-6)
    assert tuple(first.keypoints[0]) == (803.0, 710.0)
    # 004645041.jpg: ankles (0 and 5) not annotated.
    np.testing.assert_array_equal(third.weights[:, 0], [0, 1, 1, 1, 1, 0] + [1] * 10)


def test_json_head_box_and_split_by_names(tmp_path):
    items = _raw()
    items[0]["headboxes"] = [[0, 0], [30, 40]]
    items[1]["head_box"] = [10, 10, 13, 14]
    path = _write_json(tmp_path, items, "valid.json")
    records = mpii.load_records(path, MPII_DIR)
    assert records[0].head_size == pytest.approx(0.6 * 50)
    assert records[1].head_size == pytest.approx(0.6 * 5)
    assert records[0].meta["head_size_source"] == "head_box"
    # The file is a split already: split alone keeps everything; names filter.
    assert len(mpii.load_records(path, MPII_DIR, split="valid")) == 3
    valid = mpii.load_records(path, MPII_DIR, split="valid", valid_image_names=["052475643.jpg"])
    train = mpii.load_records(path, MPII_DIR, split="train", valid_image_names=["052475643.jpg"])
    assert [os.path.basename(r.image_path) for r in valid] == ["052475643.jpg"]
    assert [os.path.basename(r.image_path) for r in train] == ["005808361.jpg", "004645041.jpg"]
    assert [r.image_id for r in valid] + [r.image_id for r in train] == [1, 0, 2]  # ids of the whole file


# --- official .mat, written in the release's structure -------------------------------------

_RECT_FIELDS = ("x1", "y1", "x2", "y2", "annopoints", "scale", "objpos")


def _struct_array(rows, fields):
    """A 1 x n MATLAB struct array; absent fields are empty ([]), as in the release."""
    array = np.empty((1, len(rows)), dtype=[(f, "O") for f in fields])
    for i, row in enumerate(rows):
        for field in fields:
            array[0, i][field] = row.get(field, np.zeros((0, 0)))
    return array


def _points(joints, visible):
    rows = [
        {"id": j, "x": x, "y": y, "is_visible": v}
        for j, ((x, y), v) in enumerate(zip(joints, visible))
        if x > 0
    ]
    return {"point": _struct_array(rows, ("id", "x", "y", "is_visible"))}


# 1-based MATLAB pixels; joint 4 not annotated in PERSON_A.
PERSON_A = [(100.0 + 3 * j, 200.0 + 5 * j) for j in range(16)]
PERSON_A[4] = (-1.0, -1.0)
PERSON_B = [(400.0 - 2 * j, 50.0 + 7 * j) for j in range(16)]
# is_visible as the release stores it: ints, strings, or empty.
VISIBLE_A = [1, 0, "1", "0", 1, np.zeros((0, 0))] + [1] * 10


def _write_mat(path):
    rect_a = {"x1": 10.0, "y1": 20.0, "x2": 40.0, "y2": 60.0, "annopoints": _points(PERSON_A, VISIBLE_A),
              "scale": 2.5, "objpos": {"x": 120.0, "y": 240.0}}
    # A person with a position but no joints (not annotated): skipped.
    rect_unannotated = {"scale": 1.0, "objpos": {"x": 5.0, "y": 5.0}}
    rect_b = {"x1": 0.0, "y1": 0.0, "x2": 6.0, "y2": 8.0, "annopoints": _points(PERSON_B, [1] * 16),
              "scale": 1.2, "objpos": {"x": 380.0, "y": 150.0}}
    rect_test = {"scale": 3.0, "objpos": {"x": 50.0, "y": 50.0}}
    annolist = _struct_array(
        [
            {"image": {"name": "img_a.jpg"}, "annorect": _struct_array([rect_a, rect_unannotated], _RECT_FIELDS)},
            {"image": {"name": "img_b.jpg"}, "annorect": _struct_array([rect_b], _RECT_FIELDS)},
            {"image": {"name": "img_test.jpg"}, "annorect": _struct_array([rect_test], _RECT_FIELDS)},
        ],
        ("image", "annorect"),
    )
    act = np.empty((3, 1), dtype=[("cat_name", "O"), ("act_name", "O"), ("act_id", "O")])
    act[0, 0] = ("sports", "running", 5)
    act[1, 0] = (np.zeros((0, 0)), np.zeros((0, 0)), -1)
    act[2, 0] = ("music playing", "guitar", 7)
    single_person = np.empty((3, 1), dtype="O")
    single_person[0, 0] = np.array([[1]])  # 1-based annorect index
    single_person[1, 0] = np.zeros((0, 0))
    single_person[2, 0] = np.array([[1]])
    release = {"annolist": annolist, "img_train": np.array([[1, 1, 0]]), "single_person": single_person,
               "act": act, "version": "12"}
    scipy.io.savemat(path, {"RELEASE": release})
    return path


def _write_gt_mat(tmp_path, boxes, name="gt_valid.mat"):
    """HRNet's gt_valid.mat layout: headboxes_src (2 corners, x/y, person), 1-based pixels."""
    path = tmp_path / name
    scipy.io.savemat(path, {"headboxes_src": np.transpose(np.asarray(boxes, np.float64), (1, 2, 0)),
                            "jnt_missing": np.zeros((16, len(boxes)))})  # fmt: skip
    return path


def test_json_head_boxes_file_gives_head_sizes_in_record_order(tmp_path):
    # Person i's head box [[x1, y1], [x2, y2]]; sizes 0.6 * diagonal (the MPII evaluation's SC_BIAS).
    boxes = [[[100, 50], [130, 90]], [[1, 1], [4, 5]], [[10, 20], [22, 25]]]
    path = _write_gt_mat(tmp_path, boxes)
    records = mpii.load_records(JSON_FILE, MPII_DIR, head_boxes_file=path)
    expected = [0.6 * np.hypot(x2 - x1, y2 - y1) for (x1, y1), (x2, y2) in boxes]
    assert [r.head_size for r in records] == pytest.approx(expected)
    assert {r.meta["head_size_source"] for r in records} == {"head_boxes_file"}
    # A split keeps each record's own box (indexed by the record's place in the file).
    valid = mpii.load_records(
        JSON_FILE, MPII_DIR, split="valid", valid_image_names=["052475643.jpg"], head_boxes_file=path
    )
    assert [r.head_size for r in valid] == pytest.approx([expected[1]])


def test_json_head_boxes_file_errors_name_the_file(tmp_path):
    two = _write_gt_mat(tmp_path, [[[0, 0], [1, 1]]] * 2, "two.mat")
    with pytest.raises(ValueError, match=r"two\.mat.*2 head boxes.*3 records"):
        mpii.load_records(JSON_FILE, MPII_DIR, head_boxes_file=two)
    other = tmp_path / "other.mat"
    scipy.io.savemat(other, {"pos_gt_src": np.zeros((16, 2, 3))})
    with pytest.raises(ValueError, match=r"other\.mat.*no 'headboxes_src'.*pos_gt_src"):
        mpii.load_records(JSON_FILE, MPII_DIR, head_boxes_file=other)
    flat = tmp_path / "flat.mat"
    scipy.io.savemat(flat, {"headboxes_src": np.zeros((4, 3))})
    with pytest.raises(ValueError, match=r"flat\.mat.*\(2, 2, N\)"):
        mpii.load_records(JSON_FILE, MPII_DIR, head_boxes_file=flat)
    garbage = tmp_path / "garbage.mat"
    garbage.write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(ValueError, match=r"garbage\.mat"):
        mpii.load_records(JSON_FILE, MPII_DIR, head_boxes_file=garbage)
    with pytest.raises(FileNotFoundError, match=r"missing\.mat"):
        mpii.load_records(JSON_FILE, MPII_DIR, head_boxes_file=tmp_path / "missing.mat")
    with pytest.raises(ValueError, match=r"two\.mat.*head_boxes_file is for the json"):
        mpii.load_records(two, MPII_DIR, head_boxes_file=two)


def test_mat_matches_what_was_written(tmp_path):
    path = _write_mat(tmp_path / "mpii_human_pose_v1_u12_1.mat")
    a, b = mpii.load_records(path, tmp_path)
    assert a.image_path == os.path.join(tmp_path, "img_a.jpg")
    assert b.image_path == os.path.join(tmp_path, "img_b.jpg")
    assert (a.image_id, b.image_id) == (0, 1)
    annotated_a = np.array([x > 0 for x, _ in PERSON_A])
    np.testing.assert_allclose(a.keypoints[annotated_a], np.array(PERSON_A)[annotated_a] - 1)
    np.testing.assert_array_equal(a.keypoints[4], 0)
    np.testing.assert_array_equal(a.weights, np.stack([annotated_a] * 2, axis=1))
    np.testing.assert_allclose(b.keypoints, np.array(PERSON_B) - 1)
    # Head size 0.6 * diagonal: (30, 40) -> 30; (6, 8) -> 6.
    assert (a.head_size, b.head_size) == (pytest.approx(30.0), pytest.approx(6.0))
    # Centre (119, 239) moved down by 15 * 2.5; side 500.
    np.testing.assert_allclose(a.box, [119 - 250, 239 + 37.5 - 250, 500, 500])
    assert a.meta["single_person"] and not b.meta["single_person"]
    np.testing.assert_array_equal(a.meta["joints_visible"], [1, 0, 1, 0, -1, -1] + [1] * 10)
    assert (a.meta["category"], a.meta["activity"], a.meta["activity_id"]) == ("sports", "running", 5)
    assert "activity" not in b.meta
    assert a.meta["head_size_source"] == "head_box" and a.meta["rect_index"] == 0


def test_mat_splits(tmp_path):
    path = _write_mat(tmp_path / "release.mat")
    names_file = tmp_path / "valid_images.txt"
    names_file.write_text("img_b.jpg\n")
    valid = mpii.load_records(path, tmp_path, split="valid", valid_image_names=names_file)
    train = mpii.load_records(path, tmp_path, split="train", valid_image_names=["img_b.jpg"])
    assert [os.path.basename(r.image_path) for r in valid] == ["img_b.jpg"]
    assert [os.path.basename(r.image_path) for r in train] == ["img_a.jpg"]
    assert len(mpii.load_records(path, tmp_path, split="train")) == 2  # img_train == 1, no test image
    with pytest.raises(ValueError, match=r"release\.mat.*split='valid'.*valid_image_names"):
        mpii.load_records(path, tmp_path, split="valid")


def test_mat_malformed(tmp_path):
    path = tmp_path / "bad.mat"
    scipy.io.savemat(path, {"something_else": np.zeros(3)})
    with pytest.raises(ValueError, match=r"bad\.mat.*'RELEASE' struct"):
        mpii.load_records(path, tmp_path)
    rect = {"x1": 0.0, "y1": 0.0, "x2": 6.0, "y2": 8.0, "scale": 1.0, "objpos": {"x": 1.0, "y": 1.0},
            "annopoints": {"point": _struct_array([{"id": 20, "x": 1.0, "y": 1.0, "is_visible": 1}],
                                                   ("id", "x", "y", "is_visible"))}}
    annolist = _struct_array([{"image": {"name": "x.jpg"}, "annorect": _struct_array([rect], _RECT_FIELDS)}],
                             ("image", "annorect"))
    scipy.io.savemat(path, {"RELEASE": {"annolist": annolist, "img_train": np.array([[1]])}})
    with pytest.raises(ValueError, match=r"bad\.mat.*annolist\[0\].*annorect\[0\].*point id 20"):
        mpii.load_records(path, tmp_path)
    path.write_bytes(b"not a mat file at all")
    with pytest.raises(ValueError, match=r"bad\.mat.*MATLAB"):
        mpii.load_records(path, tmp_path)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda r: r.pop("joints"), r"record 1: missing key 'joints'"),
        (lambda r: r.update(joints=r["joints"][:15]), r"record 1: 'joints' must have 16 entries"),
        (lambda r: r.update(joints_vis=r["joints_vis"] + [1]), r"record 1: 'joints_vis' must have 16 entries"),
        (lambda r: r.update(scale="big"), r"record 1: key 'scale' must be int or float"),
        (lambda r: r.update(scale=0), r"record 1: 'scale' must be positive"),
        (lambda r: r["joints"].__setitem__(3, [1.0]), r"record 1: 'joints' must be numbers of shape \(16, 2\)"),
        (lambda r: r.update(center=[1.0, "a"]), r"record 1: 'center' must be numbers of shape \(2,\)"),
        (lambda r: r.update(head_box=[1, 2, 3]), r"record 1: head box must have 4 numbers"),
        (lambda r: r.update(headboxes=[[1, 2], ["a", 4]]), r"record 1: head box must have 4 numbers"),
    ],
)
def test_json_malformed_record_names_file_and_index(tmp_path, change, message):
    items = _raw()
    change(items[1])
    with pytest.raises(ValueError, match=r"broken\.json.*" + message):
        mpii.load_records(_write_json(tmp_path, items), MPII_DIR)


def test_bad_arguments_and_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.json"):
        mpii.load_records(tmp_path / "missing.json", MPII_DIR)
    with pytest.raises(FileNotFoundError, match="no_dir"):
        mpii.load_records(JSON_FILE, tmp_path / "no_dir")
    with pytest.raises(FileNotFoundError, match="names.txt"):
        mpii.load_records(JSON_FILE, MPII_DIR, split="valid", valid_image_names=tmp_path / "names.txt")
    with pytest.raises(ValueError, match="split must be one of"):
        mpii.load_records(JSON_FILE, MPII_DIR, split="test")
    with pytest.raises(ValueError, match=r"broken\.json.*expected a list"):
        mpii.load_records(_write_json(tmp_path, {"image": "a.jpg"}), MPII_DIR)
    records = mpii.load_records(JSON_FILE, tmp_path)  # images need not exist
    assert records[0].image_path == os.path.join(tmp_path, "005808361.jpg")


def test_recipe_val_head_boxes_reach_the_validation_records(tmp_path):
    from keras_integral.recipes import recipe_from_dict
    from keras_integral.training import load_split

    (tmp_path / "mpii").mkdir()
    (tmp_path / "mpii" / "valid.json").write_text(JSON_FILE.read_text())
    _write_gt_mat(tmp_path / "mpii", [[[0, 0], [30, 40]]] * 3)
    values = {"dataset": "mpii", "train_annotations": "mpii/valid.json", "train_images": "mpii",
              "val_annotations": "mpii/valid.json", "val_images": "mpii", "val_head_boxes": "mpii/gt_valid.mat"}
    recipe = recipe_from_dict(values)
    assert [r.head_size for r in load_split(recipe, str(tmp_path), "val")] == pytest.approx([0.6 * 50] * 3)
    assert {r.meta["head_size_source"] for r in load_split(recipe, str(tmp_path), "train")} == {"neck_to_head_top"}
    with pytest.raises(ValueError, match="val_head_boxes.*mpii only"):
        recipe_from_dict(dict(values, dataset="coco"))
