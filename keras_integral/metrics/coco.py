"""COCO keypoint evaluation: OKS, OKS-based NMS, rescoring and AP through pycocotools.

The top-down evaluation of Simple Baselines / HRNet, which the paper's COCO
results follow: for each detected person, `rescore` the box score with the
mean confident keypoint score, keep people per image with `oks_nms`, write
COCO result dicts, and score them with `coco_keypoint_ap`.

Example:

>>> import numpy as np
>>> gt = np.array([[10.0, 10.0, 2.0], [20.0, 10.0, 2.0], [0.0, 0.0, 0.0]])
>>> float(oks(gt[:, :2], gt, area=100.0, sigmas=[0.1, 0.1, 0.1]))
1.0
"""

import contextlib
import io

import numpy as np

from keras_integral import skeletons


def _sigmas_for(sigmas, joints):
    if sigmas is None:
        sigmas = skeletons.get("coco").oks_sigmas
        if joints != len(sigmas):
            raise ValueError(f"sigmas=None means the COCO-17 sigmas, but the keypoints have {joints} joints.")
    sigmas = np.asarray(sigmas, np.float64)
    if sigmas.shape != (joints,):
        raise ValueError(f"sigmas must have shape ({joints},), one per joint, got {sigmas.shape}.")
    return sigmas


def _oks_terms(dx, dy, area, sigmas):
    """`exp(-d^2 / (2 s^2 k^2))` per joint with `s^2 = area`, as `COCOeval.computeOks`."""
    variances = (2.0 * sigmas) ** 2
    return np.exp(-(dx**2 + dy**2) / variances / (area + np.spacing(1)) / 2.0)


def oks(pred, gt, area, sigmas=None, box=None):
    """Object keypoint similarity of one predicted person to one ground-truth person.

    As `pycocotools` `COCOeval.computeOks`: the mean over labelled ground-truth
    joints (`v > 0`) of `exp(-d^2 / (2 * area * (2 sigma)^2))`. A ground truth
    with no labelled joint is compared through the distance of each predicted
    joint to its box enlarged to three times its size, which needs `box`.

    Args:
        pred: `(joints, 2|3)` predicted `(x, y[, score])`, pixels.
        gt: `(joints, 3)` ground-truth `(x, y, v)`, pixels.
        area: ground-truth segment area in square pixels (`annotation["area"]`).
        sigmas: `(joints,)` per-joint constants; `None`: COCO-17's.
        box: ground-truth `[x, y, w, h]`, needed only when no joint is labelled.

    Returns:
        float in [0, 1].

    Example:

    >>> gt = np.array([[0.0, 0.0, 2.0], [9.0, 9.0, 0.0]])
    >>> round(float(oks([[1.0, 0.0], [50.0, 50.0]], gt, 1.0, [0.5, 0.5])), 4)   # exp(-1 / 2)
    0.6065
    """
    pred = np.asarray(pred, np.float64)
    gt = np.asarray(gt, np.float64)
    if gt.ndim != 2 or gt.shape[1] != 3 or pred.shape[:1] != gt.shape[:1] or pred.shape[1:] not in ((2,), (3,)):
        raise ValueError(
            f"pred must be (joints, 2|3) and gt (joints, 3) with the same joints, got {pred.shape} and {gt.shape}."
        )
    sigmas = _sigmas_for(sigmas, gt.shape[0])
    labelled = gt[:, 2] > 0
    if labelled.any():
        terms = _oks_terms(pred[:, 0] - gt[:, 0], pred[:, 1] - gt[:, 1], area, sigmas)
        return float(terms[labelled].mean())
    if box is None:
        raise ValueError("gt has no labelled joint (all v == 0): pass its box [x, y, w, h] to compare against.")
    x, y, w, h = np.asarray(box, np.float64)
    # COCOeval's ignore region: the box doubled on every side.
    x0, x1, y0, y1 = x - w, x + 2 * w, y - h, y + 2 * h
    dx = np.maximum(0.0, x0 - pred[:, 0]) + np.maximum(0.0, pred[:, 0] - x1)
    dy = np.maximum(0.0, y0 - pred[:, 1]) + np.maximum(0.0, pred[:, 1] - y1)
    return float(_oks_terms(dx, dy, area, sigmas).mean())


def oks_nms(people, threshold=0.9, sigmas=None):
    """Non-maximum suppression of people by OKS (Simple Baselines / HRNet `oks_nms`).

    Visits people by decreasing score; keeps one, and suppresses the later
    ones whose OKS with it exceeds `threshold`. As in the reference code, the
    OKS here uses every joint and the mean of the two areas.

    Args:
        people: list of dicts with `keypoints` `(joints, 3)` (x, y, score),
            `score` (float) and `area` (square pixels, e.g. box w * h).
        threshold: OKS above which the lower-scored person is dropped.
        sigmas: `(joints,)`; `None`: COCO-17's.

    Returns:
        list of the kept indices into `people`, highest score first.

    Example:

    >>> a = {"keypoints": np.zeros((17, 3)), "score": 0.9, "area": 1e6}
    >>> b = {"keypoints": np.ones((17, 3)), "score": 0.8, "area": 1e6}
    >>> oks_nms([b, a])          # b nearly coincides with a
    [1]
    """
    if not people:
        return []
    for i, person in enumerate(people):
        missing = {"keypoints", "score", "area"} - set(person)
        if missing:
            raise ValueError(f"people[{i}] lacks {sorted(missing)}; expected keys keypoints, score, area.")
    keypoints = np.stack([np.asarray(p["keypoints"], np.float64).reshape(-1, 3) for p in people])
    scores = np.array([p["score"] for p in people], np.float64)
    areas = np.array([p["area"] for p in people], np.float64)
    sigmas = _sigmas_for(sigmas, keypoints.shape[1])

    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(int(i))
        delta = keypoints[rest, :, :2] - keypoints[i, :, :2]
        mean_area = (areas[i] + areas[rest])[:, None] / 2.0
        similarity = _oks_terms(delta[..., 0], delta[..., 1], mean_area, sigmas).mean(axis=1)
        order = rest[similarity <= threshold]
    return keep


def rescore(keypoint_scores, box_score, threshold=0.2):
    """Person score = box score x mean of the keypoint scores above `threshold` (HRNet's COCO evaluation).

    A person with no keypoint score above the threshold gets 0.

    Args:
        keypoint_scores: `(..., joints)` keypoint confidences.
        box_score: `(...)` detection scores, broadcast against them.
        threshold: keypoint scores at or below it are left out of the mean.

    Returns:
        `(...)` float array of person scores.

    Example:

    >>> float(rescore([0.9, 0.7, 0.1], box_score=0.5))     # 0.5 * (0.9 + 0.7) / 2
    0.4
    """
    keypoint_scores = np.asarray(keypoint_scores, np.float64)
    confident = keypoint_scores > threshold
    count = confident.sum(axis=-1)
    total = np.where(confident, keypoint_scores, 0.0).sum(axis=-1)
    mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    return mean * np.asarray(box_score, np.float64)


_STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


def coco_keypoint_ap(predictions, annotation_file, verbose=False):
    """COCO keypoint AP/AR of result dicts against a `person_keypoints` file, through pycocotools.

    Every image of the annotation file is evaluated: an image without
    predictions counts its people as missed.

    Args:
        predictions: list of COCO result dicts `{"image_id", "category_id": 1,
            "keypoints": [x, y, score] * joints (flat), "score"}`.
        annotation_file: path of the ground-truth COCO json.
        verbose: print pycocotools' loading messages and summary table.

    Returns:
        dict of floats `AP, AP50, AP75, APm, APl, AR, AR50, AR75, ARm, ARl`
        in [0, 1]; NaN where no ground truth falls in the range (pycocotools
        prints -1 there).

    Example:

    >>> import json
    >>> gt = json.load(open("person_keypoints_val2017.json"))     # doctest: +SKIP
    >>> preds = [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"],
    ...           "score": 1.0} for a in gt["annotations"] if a["num_keypoints"]]  # doctest: +SKIP
    >>> coco_keypoint_ap(preds, "person_keypoints_val2017.json")["AP"]      # doctest: +SKIP
    1.0
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    quiet = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
    with quiet:
        coco_gt = COCO(str(annotation_file))
    joints = len(coco_gt.loadCats(1)[0]["keypoints"]) if 1 in coco_gt.cats else None
    _check_predictions(predictions, set(coco_gt.getImgIds()), joints, annotation_file)
    with quiet:
        # Plain floats: pycocotools slices the flat list; arrays may come as (joints, 3).
        results = [dict(p, keypoints=np.asarray(p["keypoints"], float).reshape(-1).tolist()) for p in predictions]
        coco_dt = coco_gt.loadRes(results)
        evaluator = COCOeval(coco_gt, coco_dt, iouType="keypoints")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {name: (float(v) if v >= 0 else float("nan")) for name, v in zip(_STAT_NAMES, evaluator.stats)}


def _check_predictions(predictions, image_ids, joints, annotation_file):
    if not predictions:
        raise ValueError("predictions is empty; pycocotools needs at least one result dict.")
    for i, p in enumerate(predictions):
        missing = {"image_id", "category_id", "keypoints", "score"} - set(p)
        if missing:
            raise ValueError(f"predictions[{i}] lacks {sorted(missing)}.")
        if p["category_id"] != 1:
            raise ValueError(f"predictions[{i}] has category_id {p['category_id']!r}; person keypoints need 1.")
        if joints is not None and np.size(p["keypoints"]) != 3 * joints:
            raise ValueError(
                f"predictions[{i}] has {np.size(p['keypoints'])} keypoint values; expected {3 * joints} "
                f"(x, y, score for {joints} joints, flat)."
            )
        if p["image_id"] not in image_ids:
            raise ValueError(f"predictions[{i}] has image_id {p['image_id']!r}, which is not in {annotation_file}.")
