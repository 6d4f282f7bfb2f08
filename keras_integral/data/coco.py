"""COCO person keypoints (`person_keypoints_*.json`) -> `PoseRecord`s.

Training / ground-truth evaluation: one record per person annotation with at
least one labelled keypoint (crowd regions and `num_keypoints == 0` boxes are
skipped silently, as every COCO loader does; a box with no pixel in its image
is skipped with a warning that counts it), box = the annotation's tight `bbox` (the pipeline adds the 1.25
margin to every data set's box). Test time with a person detector: one record
per detected box (COCO results format), with zero keypoints and weights.

The annotation file is checked here (clear errors naming the file and the
annotation id) and indexed with `pycocotools`, the same index `COCOeval` uses.
Images are not opened: a missing image is the pipeline's concern.

Example:

>>> records = load_records("person_keypoints_val2017.json", "val2017")  # doctest: +SKIP
>>> records[0].keypoints.shape, records[0].meta["annotation_id"]        # doctest: +SKIP
((17, 2), 183126)
"""

import contextlib
import io
import os

import numpy as np
from pycocotools.coco import COCO

from keras_integral.data.records import PoseRecord
from keras_integral.data.records import read_json
from keras_integral.data.records import warn_skipped

NUM_JOINTS = 17
PERSON_CATEGORY_ID = 1

_IMAGE_KEYS = {"id": int, "file_name": str, "width": int, "height": int}
_ANNOTATION_KEYS = {"id": int, "image_id": int, "bbox": list, "keypoints": list, "area": (int, float)}
_DETECTION_KEYS = {"image_id": int, "category_id": int, "bbox": list, "score": (int, float)}
OUTSIDE_IMAGE = "box entirely outside its image"


def load_records(annotation_file, image_dir, detections_file=None, min_box_score=0.0):
    """Reads COCO person keypoint annotations (or detections) into records.

    Args:
        annotation_file: COCO `person_keypoints_*.json`.
        image_dir: folder holding the images (`file_name` is joined to it);
            the folder must exist, the images need not.
        detections_file: optional COCO results json, a list of
            `{image_id, category_id, bbox [x, y, w, h], score}`. When given,
            the records are the person detections (category 1) instead of the
            annotations.
        min_box_score: detections scoring below this are dropped.

    Returns:
        list of `PoseRecord` with skeleton `"coco"`, keypoints `(17, 2)`
        `(x, y)` in image pixels, weights `(17, 2)` (1 where `v > 0`),
        `box` `[x, y, w, h]`, `image_id`, `score` (1 for annotations, the
        detection score otherwise), and `meta` with `image_width`,
        `image_height` and, for annotations, `annotation_id` and `area`.
        Annotations come in file order; detections in file order. Those
        whose box has no pixel in its image (`width` x `height`) are left
        out, counted in a warning that names them.

    Raises:
        FileNotFoundError: a missing file or `image_dir`.
        ValueError: a malformed file (the message names the file, the
            annotation id or detection index, and what was expected).

    Example:

    >>> records = load_records("person_keypoints_val2017.json", "val2017",
    ...                        "detections.json", min_box_score=0.5)  # doctest: +SKIP
    """
    _check_dir(image_dir)
    data = _read_json(annotation_file)
    where = f"COCO file {os.fspath(annotation_file)!r}"
    if not (isinstance(data, dict) and isinstance(data.get("images"), list)
            and isinstance(data.get("annotations"), list)):
        raise ValueError(f"{where}: expected a dict with lists 'images' and 'annotations'.")
    for i, image in enumerate(data["images"]):
        _check_fields(image, _IMAGE_KEYS, f"{where}, images[{i}]")
    image_ids = {image["id"] for image in data["images"]}
    annotations = _checked_annotations(data["annotations"], image_ids, where)
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        coco.createIndex()
    if detections_file is None:
        return _annotation_records(coco, annotations, image_dir, where)
    return _detection_records(coco, detections_file, image_dir, min_box_score)


def _checked_annotations(annotations, image_ids, where):
    """The non-crowd annotations, each checked for the keys, types and lengths used here."""
    kept = []
    for i, annotation in enumerate(annotations):
        has_id = isinstance(annotation, dict) and "id" in annotation
        name = f"{where}, annotation id {annotation['id']}" if has_id else f"{where}, annotations[{i}]"
        _check_fields(annotation, _ANNOTATION_KEYS, name)
        if annotation.get("iscrowd", 0):
            continue
        _check_length(annotation, "keypoints", 3 * NUM_JOINTS, name, "17 x (x, y, v)")
        _check_length(annotation, "bbox", 4, name, "[x, y, w, h]")
        if annotation["image_id"] not in image_ids:
            raise ValueError(f"{name}: image_id {annotation['image_id']} is not in 'images'.")
        kept.append(annotation)
    return kept


def _annotation_records(coco, annotations, image_dir, where):
    if not annotations:
        return []
    describe = lambda i: f"{where}, annotation id {annotations[i]['id']}"  # noqa: E731
    keypoints = _stack(annotations, "keypoints", describe).reshape(-1, NUM_JOINTS, 3)
    boxes = _stack(annotations, "bbox", describe)
    labelled = keypoints[:, :, 2] > 0
    weights = np.repeat(labelled[:, :, None], 2, axis=2).astype(np.float32)
    coordinates = keypoints[:, :, :2]
    records = []
    images = [coco.imgs[a["image_id"]] for a in annotations]
    inside = _boxes_in_images(boxes, images)
    # `num_keypoints` counts v > 0; the flags themselves decide, so the field is not trusted.
    people = np.flatnonzero(labelled.any(axis=1))
    warn_skipped(where, {OUTSIDE_IMAGE: [annotations[i]["id"] for i in people if not inside[i]]},
                 len(annotations), "annotations (ids)")
    for i in people[inside[people]]:
        annotation = annotations[i]
        image = images[i]
        records.append(
            PoseRecord(
                image_path=os.path.join(image_dir, image["file_name"]),
                box=boxes[i],
                keypoints=coordinates[i],
                weights=weights[i],
                skeleton="coco",
                image_id=annotation["image_id"],
                meta={
                    "annotation_id": annotation["id"],
                    "area": float(annotation["area"]),
                    "image_width": image["width"],
                    "image_height": image["height"],
                },
            )
        )
    return records


def _detection_records(coco, detections_file, image_dir, min_box_score):
    detections = _read_json(detections_file)
    where = f"detections file {os.fspath(detections_file)!r}"
    if not isinstance(detections, list):
        raise ValueError(
            f"{where}: expected a list of detections (COCO results format), got {type(detections).__name__}."
        )
    kept, indices = [], []
    for i, detection in enumerate(detections):
        _check_fields(detection, _DETECTION_KEYS, f"{where}, detection {i}")
        _check_length(detection, "bbox", 4, f"{where}, detection {i}", "[x, y, w, h]")
        if detection["image_id"] not in coco.imgs:
            raise ValueError(
                f"{where}, detection {i}: image_id {detection['image_id']} is not in the annotation file."
            )
        if detection["category_id"] == PERSON_CATEGORY_ID and detection["score"] >= min_box_score:
            kept.append(detection)
            indices.append(i)
    if not kept:
        return []
    boxes = _stack(kept, "bbox", lambda i: f"{where}, detection {indices[i]}")
    inside = _boxes_in_images(boxes, [coco.imgs[d["image_id"]] for d in kept])
    warn_skipped(where, {OUTSIDE_IMAGE: [indices[i] for i in np.flatnonzero(~inside)]},
                 len(detections), "detections (indices)")
    kept, boxes = [kept[i] for i in np.flatnonzero(inside)], boxes[inside]
    if not kept:
        return []
    # One array each, sliced per record: records never share (and alias) keypoints and weights.
    keypoints = np.zeros((len(kept), NUM_JOINTS, 2), np.float32)
    weights = np.zeros((len(kept), NUM_JOINTS, 2), np.float32)
    records = []
    for i, (detection, box) in enumerate(zip(kept, boxes)):
        image = coco.imgs[detection["image_id"]]
        records.append(
            PoseRecord(
                image_path=os.path.join(image_dir, image["file_name"]),
                box=box,
                keypoints=keypoints[i],
                weights=weights[i],
                skeleton="coco",
                image_id=detection["image_id"],
                score=float(detection["score"]),
                meta={"image_width": image["width"], "image_height": image["height"]},
            )
        )
    return records


def _boxes_in_images(boxes, images):
    """`(n,)` bool: box `[x, y, w, h]` overlaps its image, which spans `[-0.5, W - 0.5] x [-0.5, H - 0.5]`."""
    size = np.array([[image["width"], image["height"]] for image in images], np.float64).reshape(-1, 2)
    low, high = boxes[:, :2], boxes[:, :2] + boxes[:, 2:]
    return np.all((low < size - 0.5) & (high > -0.5), axis=1)


def _check_dir(image_dir):
    if not os.path.isdir(image_dir):
        raise FileNotFoundError(f"image_dir {os.fspath(image_dir)!r} is not an existing folder.")


def _read_json(path):
    return read_json(path, "COCO file")


def _check_fields(item, fields, where):
    if not isinstance(item, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(item).__name__}.")
    for key, kind in fields.items():
        if key not in item:
            raise ValueError(f"{where}: missing key {key!r}.")
        value = item[key]
        # bool is an int in Python but never a valid id, size or score.
        if isinstance(value, bool) or not isinstance(value, kind):
            expected = " or ".join(k.__name__ for k in kind) if isinstance(kind, tuple) else kind.__name__
            raise ValueError(
                f"{where}: key {key!r} must be {expected}, got {type(value).__name__} {value!r:.60}."
            )


def _check_length(item, key, length, where, layout):
    if len(item[key]) != length:
        raise ValueError(f"{where}: {key!r} must have {length} numbers ({layout}), got {len(item[key])}.")


def _stack(items, key, describe):
    """`(len(items), n)` float32 array of `item[key]` (lengths already checked).

    `describe(i)` names item `i` in the error raised for non-numeric values.
    """
    try:
        return np.asarray([item[key] for item in items], np.float32)
    except (TypeError, ValueError):
        for i, item in enumerate(items):  # slow path, only to name the offending record
            try:
                np.asarray(item[key], np.float32)
            except (TypeError, ValueError) as e:
                raise ValueError(f"{describe(i)}: {key!r} must be numbers, got {item[key]!r:.80}.") from e
        raise
