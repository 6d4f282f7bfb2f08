"""Person boxes `[x, y, w, h]`: overlap and non-maximum suppression (plain and MediaPipe's weighted).

Boxes are in image pixels, COCO `bbox` convention (top-left corner, width,
height). Both suppressions follow MediaPipe's `NonMaxSuppressionCalculator`
(`mediapipe/calculators/util/non_max_suppression_calculator.cc`): detections
sorted by score, highest first; a kept detection takes every remaining one
whose IoU with it is above `threshold`. The plain one drops them; the
weighted one (MediaPipe's `WEIGHTED`, the pose detector's) replaces the kept
box and its keypoints by the score-weighted mean over all it took (itself
included) and keeps the highest score.
"""

import numpy as np


def check_boxes(boxes, scores, what="detector"):
    """`(n, 4)` float64 boxes with `w, h > 0` and `(n,)` scores, or a one-line ValueError naming `what`."""
    boxes = np.asarray(boxes, np.float64)
    scores = np.asarray(scores, np.float64)
    if boxes.size == 0 and scores.size == 0:
        return np.zeros((0, 4)), np.zeros((0,))
    if boxes.ndim != 2 or boxes.shape[1] != 4 or scores.shape != (len(boxes),):
        raise ValueError(f"{what}: expected boxes (n, 4) [x, y, w, h] and scores (n,), got {boxes.shape} and "
                         f"{scores.shape}.")
    if not (np.all(np.isfinite(boxes)) and np.all(np.isfinite(scores))) or np.any(boxes[:, 2:] <= 0):
        raise ValueError(f"{what}: boxes must be finite with width and height > 0 (and scores finite).")
    return boxes, scores


def box_iou(box, boxes):
    """IoU of one box `(4,)` with `(n, 4)` boxes, all `[x, y, w, h]`; `(n,)`, 0 where they do not meet.

    Example:

    >>> box_iou(np.array([0, 0, 2, 2.0]), np.array([[1, 0, 2, 2.0]])).tolist()
    [0.3333333333333333]
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[0] + box[2], boxes[:, 0] + boxes[:, 2])
    y1 = np.minimum(box[1] + box[3], boxes[:, 1] + boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    union = box[2] * box[3] + boxes[:, 2] * boxes[:, 3] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def non_max_suppression(boxes, scores, threshold, weighted=False, keypoints=None):
    """Merges overlapping detections (see the module docstring).

    Args:
        boxes: `(n, 4)` `[x, y, w, h]`.
        scores: `(n,)`.
        threshold: IoU above which a detection is taken by a higher one.
        weighted: MediaPipe's weighted NMS (score-weighted mean of the
            boxes' corners and keypoints) instead of dropping.
        keypoints: `(n, k, 2)` carried along (averaged when `weighted`), or None.

    Returns:
        `(boxes (m, 4), scores (m,), keypoints (m, k, 2) or None)`, highest score first.

    Example:

    >>> b, s, _ = non_max_suppression([[0, 0, 10, 10], [1, 0, 10, 10]], [0.9, 0.6], 0.3, weighted=True)
    >>> b.round(3).tolist(), s.tolist()
    ([[0.4, 0.0, 10.0, 10.0]], [0.9])
    """
    boxes, scores = np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(scores, np.float64).reshape(-1)
    points = None if keypoints is None else np.asarray(keypoints, np.float64)
    order = np.argsort(-scores, kind="stable")  # std::sort by score; ties keep anchor order here
    remaining = list(order)
    kept_boxes, kept_scores, kept_points = [], [], []
    while remaining:
        top = remaining[0]
        overlap = box_iou(boxes[top], boxes[remaining]) > threshold
        overlap[0] = True  # the box itself (IoU 1, or 0 for a degenerate box)
        taken = [i for i, o in zip(remaining, overlap) if o]
        remaining = [i for i, o in zip(remaining, overlap) if not o]
        box, point = boxes[top], None if points is None else points[top]
        if weighted:
            w = scores[taken] / scores[taken].sum()
            corners = np.concatenate([boxes[taken, :2], boxes[taken, :2] + boxes[taken, 2:]], axis=1)
            mean = w @ corners
            box = np.concatenate([mean[:2], mean[2:] - mean[:2]])
            if points is not None:
                point = np.tensordot(w, points[taken], axes=1)
        kept_boxes.append(box)
        kept_scores.append(scores[top])
        kept_points.append(point)
    out_boxes = np.asarray(kept_boxes, np.float64).reshape(-1, 4)
    out_points = None if points is None else np.asarray(kept_points, np.float64).reshape(-1, *points.shape[1:])
    return out_boxes, np.asarray(kept_scores, np.float64), out_points


def person_found(boxes, person, min_coverage=0.7, max_size_ratio=3.0):
    """Whether a detection covers an annotated person: the rule of the sample-photo recall.

    A detection finds the person when at least `min_coverage` of the
    person's annotated (tight) box lies inside it and it is at most
    `max_size_ratio` times the box's longer side (a box over the whole frame
    does not count). Detectors' boxes are looser than annotations
    (BlazePose's is the square around the body's circle), hence coverage,
    not IoU.

    Args:
        boxes: `(n, 4)` detected `[x, y, w, h]`.
        person: `(4,)` annotated `[x, y, w, h]`.

    Example:

    >>> person_found([[0, 0, 100, 100]], [20, 10, 40, 80])
    True
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    person = np.asarray(person, np.float64)
    x0 = np.maximum(person[0], boxes[:, 0])
    y0 = np.maximum(person[1], boxes[:, 1])
    x1 = np.minimum(person[0] + person[2], boxes[:, 0] + boxes[:, 2])
    y1 = np.minimum(person[1] + person[3], boxes[:, 1] + boxes[:, 3])
    coverage = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None) / (person[2] * person[3])
    small_enough = boxes[:, 2:].max(axis=1) <= max_size_ratio * person[2:].max()
    return bool(np.any((coverage >= min_coverage) & small_enough))


def whole_image_box(image_size):
    """The box `[x, y, w, h]` of a whole `(height, width)` image: it spans `[-0.5, W - 0.5] x [-0.5, H - 0.5]`
    (pixel centres at integers). `Predictor` crops it, unenlarged, when it has no boxes and no detector."""
    height, width = image_size
    return [-0.5, -0.5, width, height]
