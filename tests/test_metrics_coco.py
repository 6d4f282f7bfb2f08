"""COCO OKS, OKS-NMS, rescoring and AP against pycocotools and the HRNet reference code."""

import contextlib
import io
import json
import math

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from keras_integral import skeletons
from keras_integral.metrics import coco_keypoint_ap
from keras_integral.metrics import oks
from keras_integral.metrics import oks_nms
from keras_integral.metrics import rescore

SIGMAS = np.array(skeletons.get("coco").oks_sigmas)


@pytest.fixture
def annotation_file(samples_dir):
    return samples_dir / "coco" / "test_coco_subset.json"


@pytest.fixture
def annotations(annotation_file):
    return json.loads(annotation_file.read_text())["annotations"]


def as_predictions(annotations, shift=0.0):
    """Ground-truth people as COCO results, moved right by `shift` pixels."""
    predictions = []
    for a in annotations:
        if a["num_keypoints"] == 0:
            continue
        keypoints = np.array(a["keypoints"], float).reshape(17, 3)
        keypoints[:, 0] += shift
        keypoints[:, 2] = 1.0
        predictions.append(
            {"image_id": a["image_id"], "category_id": 1, "keypoints": keypoints.ravel().tolist(), "score": 0.9}
        )
    return predictions


def pycocotools_oks(annotation_file, prediction):
    """`COCOeval.computeOks` of one prediction against every person of its image."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(annotation_file))
        evaluator = COCOeval(coco_gt, coco_gt.loadRes([prediction]), iouType="keypoints")
        evaluator.evaluate()
    image_id = prediction["image_id"]
    return evaluator.ious[(image_id, 1)][0], coco_gt.loadAnns(evaluator.cocoGt.getAnnIds(imgIds=[image_id]))


def test_ground_truth_scores_ap_one_and_shift_scores_less(annotation_file, annotations):
    perfect = coco_keypoint_ap(as_predictions(annotations), annotation_file)
    assert perfect["AP"] == pytest.approx(1.0) and perfect["AR"] == pytest.approx(1.0)
    assert perfect["AP50"] == pytest.approx(1.0) and perfect["APl"] == pytest.approx(1.0)
    assert math.isnan(perfect["APm"])  # every labelled person here is large
    shifted = coco_keypoint_ap(as_predictions(annotations, shift=8.0), annotation_file)
    assert 0.0 <= shifted["AP"] < 0.9 and shifted["AP50"] >= shifted["AP75"]


def test_oks_equals_hand_computation_and_pycocotools(annotation_file, annotations):
    person = next(a for a in annotations if a["id"] == 198196)  # 14 of 17 joints labelled
    gt = np.array(person["keypoints"], float).reshape(17, 3)
    pred = gt.copy()
    pred[:, :2] += np.random.default_rng(0).normal(0, 6, (17, 2))
    prediction = {"image_id": person["image_id"], "category_id": 1, "keypoints": pred.ravel().tolist(), "score": 1.0}

    # By hand: mean over labelled joints of exp(-d^2 / (2 s^2 k^2)), s^2 = area, k = 2 sigma.
    terms = [
        math.exp(-((px - gx) ** 2 + (py - gy) ** 2) / (2 * person["area"] * (2 * sigma) ** 2))
        for (px, py, _), (gx, gy, v), sigma in zip(pred, gt, SIGMAS)
        if v > 0
    ]
    hand = sum(terms) / len(terms)
    ious, people = pycocotools_oks(annotation_file, prediction)
    column = [p["id"] for p in people].index(person["id"])
    assert ious[column] == pytest.approx(hand, rel=1e-9)
    assert oks(pred, gt, person["area"]) == pytest.approx(ious[column], rel=1e-12)
    assert oks(pred[:, :2], gt, person["area"], SIGMAS) == pytest.approx(ious[column], rel=1e-12)

    # The person without labelled joints: pycocotools measures distance to its enlarged box.
    empty = next(a for a in annotations if a["num_keypoints"] == 0)
    column = [p["id"] for p in people].index(empty["id"])
    empty_gt = np.array(empty["keypoints"], float).reshape(17, 3)
    assert oks(pred, empty_gt, empty["area"], box=empty["bbox"]) == pytest.approx(ious[column], rel=1e-12)
    with pytest.raises(ValueError, match="no labelled joint"):
        oks(pred, empty_gt, empty["area"])


def hrnet_oks_nms(kpts_db, thresh):
    """`oks_iou` + `oks_nms` of HRNet `lib/nms/nms.py` (sigmas None, in_vis_thre None)."""
    sigmas = SIGMAS
    variances = (sigmas * 2) ** 2
    scores = np.array([p["score"] for p in kpts_db])
    kpts = np.array([p["keypoints"].flatten() for p in kpts_db])
    areas = np.array([p["area"] for p in kpts_db])
    order = scores.argsort()[::-1]
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(i)
        g, d = kpts[i], kpts[order[1:]]
        ious = np.zeros(d.shape[0])
        for n in range(d.shape[0]):
            dx, dy = d[n, 0::3] - g[0::3], d[n, 1::3] - g[1::3]
            e = (dx**2 + dy**2) / variances / ((areas[i] + areas[order[1:]][n]) / 2 + np.spacing(1)) / 2
            ious[n] = np.sum(np.exp(-e)) / e.shape[0]
        order = order[np.where(ious <= thresh)[0] + 1]
    return keep


def test_oks_nms_matches_reference_and_hand_case():
    rng = np.random.default_rng(1)
    base = rng.uniform(0, 200, (4, 17, 3))
    people = []
    for k in range(24):  # clusters of near-duplicates around four people
        keypoints = base[k % 4] + rng.normal(0, 1.0 + k % 3 * 3.0, (17, 3))
        people.append({"keypoints": keypoints, "score": float(rng.uniform()), "area": float(rng.uniform(2000, 9000))})
    for threshold in (0.5, 0.9):
        assert oks_nms(people, threshold) == [int(i) for i in hrnet_oks_nms(people, threshold)]

    person = {"keypoints": base[0], "score": 0.5, "area": 5000.0}
    twin = dict(person, score=0.7)
    far = {"keypoints": base[0] + 300, "score": 0.1, "area": 5000.0}
    assert oks_nms([person, far, twin]) == [2, 1]
    assert oks_nms([]) == []


def test_rescore():
    assert rescore([0.9, 0.7, 0.1, 0.2], box_score=0.5) == pytest.approx(0.5 * 0.8)
    assert rescore([0.1, 0.2], box_score=0.9) == 0.0  # nothing above the threshold
    scores = np.array([[0.9, 0.7, 0.1], [0.3, 0.3, 0.3]])
    np.testing.assert_allclose(rescore(scores, [1.0, 0.5], threshold=0.25), [0.8, 0.15])


def test_quiet_by_default(annotation_file, annotations, capsys):
    coco_keypoint_ap(as_predictions(annotations), annotation_file)
    assert capsys.readouterr().out == ""
    coco_keypoint_ap(as_predictions(annotations), annotation_file, verbose=True)
    assert "Average Precision" in capsys.readouterr().out


@pytest.mark.parametrize(
    "change, message",
    [
        ({"category_id": 2}, "category_id"),
        ({"keypoints": [0.0] * 48}, "51"),
        ({"image_id": 123456789}, "image_id 123456789"),
    ],
)
def test_bad_predictions_raise_clear_errors(annotation_file, annotations, change, message):
    predictions = as_predictions(annotations)
    predictions[1] = dict(predictions[1], **change)
    with pytest.raises(ValueError, match=r"predictions\[1\].*" + message):
        coco_keypoint_ap(predictions, annotation_file)
    with pytest.raises(ValueError, match="empty"):
        coco_keypoint_ap([], annotation_file)
