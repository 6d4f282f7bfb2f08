"""COCO loader: the shared sample read independently with pycocotools / json, and broken files."""

import contextlib
import io
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO

from keras_integral.data import coco

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "samples"
COCO_DIR = SAMPLES / "coco"
ANNOTATIONS = COCO_DIR / "test_coco_subset.json"
DETECTIONS = COCO_DIR / "test_coco_det_AP_H_56_subset.json"


def _pycocotools():
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(ANNOTATIONS))


def _write(tmp_path, data, name="broken.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def _raw():
    with open(ANNOTATIONS) as f:
        return json.load(f)


def test_annotations_match_pycocotools():
    reference = _pycocotools()
    expected = [
        a for a in reference.loadAnns(reference.getAnnIds(iscrowd=False)) if a["num_keypoints"] > 0
    ]
    records = coco.load_records(ANNOTATIONS, COCO_DIR)
    # 4 annotations, one with num_keypoints 0.
    assert len(expected) == 3
    assert sorted(r.meta["annotation_id"] for r in records) == sorted(a["id"] for a in expected)
    by_id = {r.meta["annotation_id"]: r for r in records}
    for annotation in expected:
        record = by_id[annotation["id"]]
        image = reference.loadImgs(annotation["image_id"])[0]
        flat = np.array(annotation["keypoints"], np.float64).reshape(17, 3)
        assert record.skeleton == "coco"
        assert record.image_path == os.path.join(COCO_DIR, image["file_name"])
        assert record.image_id == annotation["image_id"]
        assert record.score == 1.0 and record.head_size is None
        np.testing.assert_array_equal(record.keypoints, flat[:, :2])
        np.testing.assert_array_equal(record.weights, np.stack([flat[:, 2] > 0] * 2, axis=1))
        np.testing.assert_allclose(record.box, annotation["bbox"], rtol=1e-6)
        assert record.meta["area"] == pytest.approx(annotation["area"])
        assert (record.meta["image_width"], record.meta["image_height"]) == (image["width"], image["height"])


def test_hand_checked_values():
    records = {r.meta["annotation_id"]: r for r in coco.load_records(ANNOTATIONS, COCO_DIR)}
    # README: image 785, annotation 442619, nose at (367, 81), all 17 visible.
    assert tuple(records[442619].keypoints[0]) == (367.0, 81.0)
    assert records[442619].weights.sum() == 34
    # Annotation 230195: both ankles unlabelled (v = 0), left hip at (378, 262).
    np.testing.assert_array_equal(records[230195].weights[15:], 0)
    assert tuple(records[230195].keypoints[11]) == (378.0, 262.0)


def test_detections_match_the_results_file():
    with open(DETECTIONS) as f:
        detections = json.load(f)
    for threshold in (0.0, 0.5):
        expected = [d for d in detections if d["category_id"] == 1 and d["score"] >= threshold]
        records = coco.load_records(ANNOTATIONS, COCO_DIR, DETECTIONS, min_box_score=threshold)
        assert len(records) == len(expected)
        for record, detection in zip(records, expected):
            assert record.image_id == detection["image_id"]
            assert record.score == pytest.approx(detection["score"])
            np.testing.assert_allclose(record.box, detection["bbox"], rtol=1e-6)
            np.testing.assert_array_equal(record.keypoints, np.zeros((17, 2)))
            np.testing.assert_array_equal(record.weights, np.zeros((17, 2)))
    assert len(coco.load_records(ANNOTATIONS, COCO_DIR, DETECTIONS, 0.5)) < len(detections)


def test_crowd_and_non_person_detections_are_skipped(tmp_path):
    data = _raw()
    data["annotations"][0]["iscrowd"] = 1
    records = coco.load_records(_write(tmp_path, data), COCO_DIR)
    assert data["annotations"][0]["id"] not in {r.meta["annotation_id"] for r in records}
    assert len(records) == 2
    detections = [
        {"image_id": 785, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.9},
        {"image_id": 785, "category_id": 2, "bbox": [1, 2, 3, 4], "score": 0.9},
    ]
    records = coco.load_records(ANNOTATIONS, COCO_DIR, _write(tmp_path, detections, "det.json"))
    assert len(records) == 1


def test_images_need_not_exist_but_image_dir_must(tmp_path):
    records = coco.load_records(ANNOTATIONS, tmp_path)  # no images in tmp_path
    assert records[0].image_path.startswith(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no_such_dir"):
        coco.load_records(ANNOTATIONS, tmp_path / "no_such_dir")
    with pytest.raises(FileNotFoundError, match="missing.json"):
        coco.load_records(tmp_path / "missing.json", COCO_DIR)
    with pytest.raises(FileNotFoundError, match="missing_det.json"):
        coco.load_records(ANNOTATIONS, COCO_DIR, tmp_path / "missing_det.json")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.pop("bbox"), r"annotation id 442619: missing key 'bbox'"),
        (lambda a: a.update(keypoints=a["keypoints"][:-1]), r"annotation id 442619: 'keypoints' must have 51 numbers"),
        (lambda a: a.update(keypoints="17 points"), r"annotation id 442619: key 'keypoints' must be list"),
        (lambda a: a["keypoints"].__setitem__(4, "x"), r"annotation id 442619: 'keypoints' must be numbers"),
        (lambda a: a.update(bbox=[1, 2, 3]), r"annotation id 442619: 'bbox' must have 4 numbers"),
        (lambda a: a.update(image_id=12345), r"annotation id 442619: image_id 12345 is not in 'images'"),
    ],
)
def test_malformed_annotation_names_file_and_id(tmp_path, change, message):
    data = _raw()
    change(next(a for a in data["annotations"] if a["id"] == 442619))
    path = _write(tmp_path, data)
    with pytest.raises(ValueError, match=r"broken\.json.*" + message):
        coco.load_records(path, COCO_DIR)


def test_malformed_files(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"broken\.json.*not valid JSON"):
        coco.load_records(path, COCO_DIR)
    with pytest.raises(ValueError, match=r"broken\.json.*'images' and 'annotations'"):
        coco.load_records(_write(tmp_path, [1, 2]), COCO_DIR)
    data = _raw()
    del data["images"][1]["file_name"]
    with pytest.raises(ValueError, match=r"images\[1\]: missing key 'file_name'"):
        coco.load_records(_write(tmp_path, data), COCO_DIR)


def test_malformed_detections_name_the_detection(tmp_path):
    good = {"image_id": 785, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.9}
    cases = [
        ([good, {k: v for k, v in good.items() if k != "score"}], r"detection 1: missing key 'score'"),
        ([good, dict(good, image_id=7)], r"detection 1: image_id 7 is not in the annotation file"),
        ([dict(good, bbox=[1, 2])], r"detection 0: 'bbox' must have 4 numbers"),
        ({"image_id": 785}, r"expected a list of detections"),
    ]
    for detections, message in cases:
        with pytest.raises(ValueError, match=r"det\.json.*" + message):
            coco.load_records(ANNOTATIONS, COCO_DIR, _write(tmp_path, detections, "det.json"))


def test_a_box_outside_its_image_is_skipped_and_counted(tmp_path):
    data = _raw()  # image 785 is 640 x 425
    annotation = next(a for a in data["annotations"] if a["id"] == 442619)
    annotation["bbox"] = [700.0, 44.73, 218.7, 346.68]
    with pytest.warns(UserWarning, match=r"broken\.json.*skipped 1 of 4 annotations.*"
                                         r"1 box entirely outside its image \(442619\)"):
        records = coco.load_records(_write(tmp_path, data), COCO_DIR)
    assert sorted(r.meta["annotation_id"] for r in records) == [198196, 230195]
    annotation["bbox"] = [600.0, -300.0, 218.7, 346.68]  # partly inside: kept, without a word
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(coco.load_records(_write(tmp_path, data), COCO_DIR)) == 3
    detections = [
        {"image_id": 785, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.9},
        {"image_id": 785, "category_id": 1, "bbox": [10, 430, 30, 40], "score": 0.9},  # below the image
    ]
    with pytest.warns(UserWarning, match=r"det\.json.*skipped 1 of 2 detections.*outside its image \(1\)"):
        records = coco.load_records(ANNOTATIONS, COCO_DIR, _write(tmp_path, detections, "det.json"))
    assert [r.box.tolist() for r in records] == [[1, 2, 3, 4]]


def test_a_json_in_another_encoding(tmp_path):
    data = _raw()
    data["images"][0]["file_name"] = "café.jpg"
    text = json.dumps(data, ensure_ascii=False)
    latin = tmp_path / "latin1.json"
    latin.write_bytes(text.encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1\.json.* is not UTF-8 .*byte 0xe9 at offset \d+.*save it as UTF-8"):
        coco.load_records(latin, COCO_DIR)
    # UTF-16 and a UTF-8 BOM are JSON too (RFC 8259 section 8.1 allows reading them).
    for name, encoded in (("utf16.json", text.encode("utf-16")), ("bom.json", text.encode("utf-8-sig"))):
        (tmp_path / name).write_bytes(encoded)
        records = coco.load_records(tmp_path / name, COCO_DIR)
        assert records[0].image_path == os.path.join(COCO_DIR, "café.jpg")
