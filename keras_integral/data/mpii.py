"""MPII Human Pose annotations (HRNet/MMPose json or the official `.mat`) -> `PoseRecord`s.

Two sources, one record format:

- the json conversion used by HRNet and MMPose (`annot/train.json`,
  `annot/valid.json`): a list of `{image, center, scale, joints, joints_vis}`,
  one entry per person, optionally with a head box (`headboxes` or
  `head_box`: `[[x1, y1], [x2, y2]]` or `[x1, y1, x2, y2]`);
- the official `mpii_human_pose_v1_u12_1.mat` (`RELEASE` with `annolist`,
  `img_train`, `single_person`, `act`), read with `scipy.io.loadmat`.

Conventions:

- MPII coordinates are MATLAB 1-based: 1 is subtracted from the joints and the
  centre (as HRNet and the authors' code do; their PCKh evaluation adds it
  back). Unannotated joints get coordinates 0 and weight 0.
- Box: a square of side `200 * scale` around the centre moved down by
  `15 * scale` (the authors' code and HRNet). The 1.25 margin those add is
  NOT applied here: the pipeline adds the same 1.25 margin to every data
  set's box.
- `head_size` (PCKh's reference length): `0.6 * diagonal` of the head box
  (the MPII evaluation's `SC_BIAS`) when the source has head boxes: the
  `.mat` always; the json when its records carry them or with
  `head_boxes_file`, the `gt_valid.mat` that HRNet and MMPose ship beside
  `valid.json` (`headboxes_src` `(2, 2, N)`, one box per json record, in
  order). Otherwise it falls back to
  the upper_neck (8) - head_top (9) distance, an approximation (PCKh with it
  is not comparable to published numbers), and `None` if either joint is
  unannotated; `meta["head_size_source"]` says which was used.
- Splits: the json files are already split, so `split` only filters them when
  `valid_image_names` is given. For the `.mat`, `img_train == 1` marks the
  annotated (train + validation) images; the standard ~3k validation subset
  (Tompson et al., the HRNet `valid.json`) is not in the `.mat` and cannot be
  downloaded here, so `split="valid"` needs `valid_image_names` (image file
  names, e.g. the `image` values of HRNet's `valid.json`), and
  `split="train"` then excludes those images.
- `image_id`: the `annolist` index for the `.mat`; for the json, the index of
  the image name in order of first appearance.

Example:

>>> records = load_records("annot/valid.json", "images")   # doctest: +SKIP
>>> records[0].keypoints.shape, records[0].head_size        # doctest: +SKIP
((16, 2), 31.2)
"""

import os

import numpy as np
import scipy.io

from keras_integral.data.records import PoseRecord
from keras_integral.data.records import read_json

NUM_JOINTS = 16
UPPER_NECK, HEAD_TOP = 8, 9
# MPII evaluation: head size = SC_BIAS * head-box diagonal.
HEAD_SIZE_FACTOR = 0.6
SPLITS = (None, "train", "valid")


def load_records(annotation_file, image_dir, split=None, valid_image_names=None, head_boxes_file=None):
    """Reads MPII annotations (json or official `.mat`) into records.

    Args:
        annotation_file: HRNet/MMPose-style `.json` or the official `.mat`.
        image_dir: folder holding the images (the names are joined to it); the
            folder must exist, the images need not.
        split: `None` (every annotated person), `"train"` or `"valid"` (see
            the module docstring for what each source supports).
        valid_image_names: image file names of the validation split, as a list
            or a path to a text file with one name per line; needed for
            `split="valid"` on the `.mat`.
        head_boxes_file: json only: HRNet's `annot/gt_valid.mat` (MMPose:
            `mpii_gt_val.mat`) with the head boxes of the json's records, in
            order; its boxes give the head sizes (PCKh comparable to
            published numbers).

    Returns:
        list of `PoseRecord` with skeleton `"mpii"`, keypoints `(16, 2)`
        `(x, y)` in 0-based image pixels, weights `(16, 2)` (1 where
        annotated), `box` `[x, y, w, h]`, `head_size` in pixels (or `None`),
        `image_id`, and `meta` with `center` `(2,)` (0-based, unshifted),
        `scale`, `head_size_source` and, for the `.mat`, `rect_index`,
        `single_person`, `joints_visible` `(16,)` (1 visible, 0 occluded, -1
        not annotated or not given) and the activity (`category`,
        `activity`, `activity_id`) where given.

    Raises:
        FileNotFoundError: a missing annotation file, `image_dir`,
            `valid_image_names` or `head_boxes_file`.
        ValueError: a malformed file (the message names the file, the record
            or image and what was expected), an unknown `split`,
            `split="valid"` on the `.mat` without `valid_image_names`, or a
            `head_boxes_file` whose box count differs from the json's
            records (or given with the `.mat`).

    Example:

    >>> train = load_records("mpii_human_pose_v1_u12_1.mat", "images", split="train",
    ...                      valid_image_names="valid_images.txt")    # doctest: +SKIP
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    if not os.path.isdir(image_dir):
        raise FileNotFoundError(f"image_dir {os.fspath(image_dir)!r} is not an existing folder.")
    path = os.fspath(annotation_file)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"MPII annotation file {path!r} does not exist.")
    valid_names = _read_names(valid_image_names)
    extension = os.path.splitext(path)[1].lower()
    if extension == ".json":
        return _json_records(path, image_dir, split, valid_names, head_boxes_file)
    if head_boxes_file is not None:
        raise ValueError(f"MPII file {path!r}: head_boxes_file is for the json; the official .mat has its own.")
    if extension == ".mat":
        if split == "valid" and valid_names is None:
            raise ValueError(
                f"MPII file {path!r}: split='valid' on the official .mat needs valid_image_names "
                "(the standard validation subset is not part of the .mat)."
            )
        return _mat_records(path, image_dir, split, valid_names)
    raise ValueError(f"MPII annotation file {path!r}: expected a .json or .mat file, got {extension!r}.")


def _read_names(valid_image_names):
    if valid_image_names is None:
        return None
    if isinstance(valid_image_names, (str, os.PathLike)):
        if not os.path.isfile(valid_image_names):
            raise FileNotFoundError(
                f"valid_image_names file {os.fspath(valid_image_names)!r} does not exist."
            )
        with open(valid_image_names, encoding="utf-8") as f:
            return {line.strip() for line in f if line.strip()}
    return {str(name) for name in valid_image_names}


def _selected(name, split, valid_names):
    if split is None or valid_names is None:
        return True
    return (name in valid_names) == (split == "valid")


def _boxes(centers, scales):
    """`(n, 4)` `[x, y, w, h]` squares of side 200*scale around centers moved down by 15*scale."""
    side = 200.0 * scales
    cx = centers[:, 0]
    cy = centers[:, 1] + 15.0 * scales
    return np.stack([cx - side / 2, cy - side / 2, side, side], axis=1)


def _neck_head_sizes(joints, annotated):
    """`(n,)` upper-neck to head-top distances, NaN where either is unannotated."""
    size = np.linalg.norm(joints[:, UPPER_NECK] - joints[:, HEAD_TOP], axis=-1)
    return np.where(annotated[:, UPPER_NECK] & annotated[:, HEAD_TOP], size, np.nan)


def _head_box_size(box):
    """Head size from a head box `[[x1, y1], [x2, y2]]` (any shape with 4 numbers)."""
    (x1, y1), (x2, y2) = np.asarray(box, np.float64).reshape(2, 2)
    return HEAD_SIZE_FACTOR * float(np.hypot(x2 - x1, y2 - y1))


# --- json -----------------------------------------------------------------------------------

_JSON_KEYS = {"image": str, "center": list, "scale": (int, float), "joints": list, "joints_vis": list}


def _json_records(path, image_dir, split, valid_names, head_boxes_file):
    items = read_json(path, "MPII file")
    if not isinstance(items, list):
        raise ValueError(
            f"MPII file {path!r}: expected a list of person records, got {type(items).__name__}."
        )
    indices = []
    for i, item in enumerate(items):
        _check_json_item(item, f"MPII file {path!r}, record {i}")
        if _selected(item["image"], split, valid_names):
            indices.append(i)
    if not indices:
        return []
    file_head_sizes = None if head_boxes_file is None else _gt_head_sizes(head_boxes_file, len(items), path)
    where = lambda i: f"MPII file {path!r}, record {i}"  # noqa: E731
    joints = _stack(items, indices, "joints", where) - 1.0
    annotated = _stack(items, indices, "joints_vis", where) > 0
    centers = _stack(items, indices, "center", where) - 1.0
    scales = np.asarray([items[i]["scale"] for i in indices], np.float64)
    joints[~annotated] = 0.0
    boxes = _boxes(centers, scales)
    neck_head = _neck_head_sizes(joints, annotated)
    weights = np.repeat(annotated[:, :, None], 2, axis=2).astype(np.float32)
    joints = joints.astype(np.float32)
    image_ids = {}  # over the whole file, so a split keeps the ids
    for item in items:
        image_ids.setdefault(item["image"], len(image_ids))
    records = []
    for n, i in enumerate(indices):
        item = items[i]
        head_box = item.get("headboxes", item.get("head_box"))
        if file_head_sizes is not None:
            head_size, source = float(file_head_sizes[i]), "head_boxes_file"
        elif head_box is not None:
            head_size, source = _head_box_size(head_box), "head_box"
        elif np.isfinite(neck_head[n]):
            head_size, source = float(neck_head[n]), "neck_to_head_top"
        else:
            head_size, source = None, None
        records.append(
            PoseRecord(
                image_path=os.path.join(image_dir, item["image"]),
                box=boxes[n],
                keypoints=joints[n],
                weights=weights[n],
                skeleton="mpii",
                image_id=image_ids[item["image"]],
                head_size=head_size,
                meta={"center": centers[n], "scale": float(scales[n]), "head_size_source": source},
            )
        )
    return records


def _gt_head_sizes(head_boxes_file, count, json_path):
    """`(count,)` head sizes from the `headboxes_src` `(2, 2, count)` of an HRNet/MMPose `gt_*.mat`."""
    path = os.fspath(head_boxes_file)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"MPII head_boxes_file {path!r} does not exist.")
    try:
        data = scipy.io.loadmat(path)
    except (ValueError, TypeError, OSError) as e:
        raise ValueError(f"MPII head_boxes_file {path!r} could not be read as a MATLAB file: {e}") from e
    if "headboxes_src" not in data:
        found = sorted(k for k in data if not k.startswith("__"))
        raise ValueError(f"MPII head_boxes_file {path!r}: no 'headboxes_src' (2, 2, N) array; found {found}.")
    boxes = np.asarray(data["headboxes_src"])
    if boxes.ndim != 3 or boxes.shape[:2] != (2, 2) or boxes.dtype.kind not in "fiu":
        raise ValueError(
            f"MPII head_boxes_file {path!r}: 'headboxes_src' must be numbers of shape (2, 2, N) "
            f"(corner, x/y, person), got {boxes.dtype} {boxes.shape}."
        )
    if boxes.shape[2] != count:
        raise ValueError(
            f"MPII head_boxes_file {path!r} has {boxes.shape[2]} head boxes but {json_path!r} has {count} "
            "records; the two must come from the same split (gt_valid.mat with valid.json)."
        )
    diagonal = boxes[1].astype(np.float64) - boxes[0]
    return HEAD_SIZE_FACTOR * np.hypot(diagonal[0], diagonal[1])


def _check_json_item(item, where):
    if not isinstance(item, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(item).__name__}.")
    for key, kind in _JSON_KEYS.items():
        if key not in item:
            raise ValueError(f"{where}: missing key {key!r}.")
        if isinstance(item[key], bool) or not isinstance(item[key], kind):
            expected = " or ".join(k.__name__ for k in kind) if isinstance(kind, tuple) else kind.__name__
            raise ValueError(f"{where}: key {key!r} must be {expected}, got {type(item[key]).__name__}.")
    for key, length, layout in (
        ("center", 2, "[x, y]"),
        ("joints", NUM_JOINTS, "16 x [x, y]"),
        ("joints_vis", NUM_JOINTS, "16 flags"),
    ):
        if len(item[key]) != length:
            raise ValueError(f"{where}: {key!r} must have {length} entries ({layout}), got {len(item[key])}.")
    if not item["scale"] > 0:
        raise ValueError(f"{where}: 'scale' must be positive (person height / 200 px), got {item['scale']}.")
    head_box = item.get("headboxes", item.get("head_box"))
    if head_box is not None:
        try:
            size = np.asarray(head_box, np.float64).size
        except (TypeError, ValueError):
            size = None
        if size != 4:
            raise ValueError(f"{where}: head box must have 4 numbers (x1, y1, x2, y2), got {head_box!r:.80}.")


def _stack(items, indices, key, where):
    """float64 array of `items[i][key]` for `i` in `indices` (lengths already checked)."""
    try:
        values = np.asarray([items[i][key] for i in indices], np.float64)
    except (TypeError, ValueError):
        values = None
    expected = {"joints": (NUM_JOINTS, 2), "joints_vis": (NUM_JOINTS,), "center": (2,)}[key]
    if values is None or values.shape[1:] != expected:
        for i in indices:  # slow path, only to name the offending record
            try:
                value = np.asarray(items[i][key], np.float64)
            except (TypeError, ValueError):
                value = None
            if value is None or value.shape != expected:
                raise ValueError(
                    f"{where(i)}: {key!r} must be numbers of shape {expected}, got {items[i][key]!r:.80}."
                )
    return values


# --- official .mat --------------------------------------------------------------------------


def _mat_records(path, image_dir, split, valid_names):
    try:
        mat = scipy.io.loadmat(path, struct_as_record=False, squeeze_me=True)
    except Exception as e:  # scipy raises several types for a file that is not a .mat
        raise ValueError(f"MPII file {path!r} could not be read as a MATLAB file: {e}") from e
    release = mat.get("RELEASE")
    for field in ("annolist", "img_train"):
        if release is None or not hasattr(release, field):
            raise ValueError(f"MPII file {path!r}: expected a 'RELEASE' struct with field {field!r}.")
    annolist = np.atleast_1d(release.annolist)
    img_train = np.atleast_1d(release.img_train)
    if img_train.shape != annolist.shape:
        raise ValueError(
            f"MPII file {path!r}: img_train has {img_train.size} entries for {annolist.size} annolist images."
        )
    single_person = _per_image(release, "single_person", annolist.size, path)
    activities = _per_image(release, "act", annolist.size, path)
    records = []
    for image_index in np.flatnonzero(img_train == 1):
        where = f"MPII file {path!r}, annolist[{image_index}]"
        try:
            name = str(annolist[image_index].image.name)
        except AttributeError as e:
            raise ValueError(f"{where}: expected image.name.") from e
        if not _selected(name, split, valid_names):
            continue
        singles = set()
        if single_person is not None:
            singles = set(np.atleast_1d(single_person[image_index]).astype(int).tolist())
        activity = _activity(activities[image_index]) if activities is not None else {}
        rects = np.atleast_1d(getattr(annolist[image_index], "annorect", np.zeros(0)))
        for rect_index, rect in enumerate(rects):
            person = _parse_rect(rect, f"{where} ({name}), annorect[{rect_index}]")
            if person is None:
                continue
            joints, annotated, visible, center, scale, head_size = person
            records.append(
                PoseRecord(
                    image_path=os.path.join(image_dir, name),
                    box=_boxes(center[None], np.asarray([scale]))[0],
                    keypoints=joints,
                    weights=np.repeat(annotated[:, None], 2, axis=1),
                    skeleton="mpii",
                    image_id=int(image_index),
                    head_size=head_size,
                    meta={
                        "center": center,
                        "scale": scale,
                        "head_size_source": "head_box",
                        "rect_index": rect_index,
                        # single_person lists 1-based annorect indices.
                        "single_person": rect_index + 1 in singles,
                        "joints_visible": visible,
                        **activity,
                    },
                )
            )
    return records


def _per_image(release, field, size, path):
    values = getattr(release, field, None)
    if values is None:
        return None
    values = np.atleast_1d(values)
    if values.size != size:
        raise ValueError(f"MPII file {path!r}: {field} has {values.size} entries for {size} annolist images.")
    return values.reshape(-1)


def _activity(act):
    activity = {}
    for field, key in (("cat_name", "category"), ("act_name", "activity")):
        value = getattr(act, field, None)
        if isinstance(value, str) and value:
            activity[key] = value
    act_id = np.atleast_1d(getattr(act, "act_id", np.zeros(0)))
    if act_id.size == 1:
        activity["activity_id"] = int(act_id[0])
    return activity


def _is_empty(value):
    return value is None or (isinstance(value, np.ndarray) and value.size == 0)


def _parse_rect(rect, where):
    """`(joints, annotated, visible, center, scale, head_size)` of one annorect, or None if unannotated."""
    annopoints = getattr(rect, "annopoints", None)
    scale = getattr(rect, "scale", None)
    objpos = getattr(rect, "objpos", None)
    # Rects without points (test images, unannotated people) or without a scale/position
    # (which a few real annotations lack) are not training people: skipped, as in HRNet's json.
    points = getattr(annopoints, "point", None)
    if _is_empty(annopoints) or _is_empty(points) or _is_empty(scale) or _is_empty(objpos):
        return None
    try:
        center = np.array([float(objpos.x), float(objpos.y)]) - 1.0
        scale = float(scale)
        head_size = _head_box_size([float(rect.x1), float(rect.y1), float(rect.x2), float(rect.y2)])
    except (AttributeError, TypeError, ValueError) as e:
        raise ValueError(
            f"{where}: expected numeric objpos.x/.y, scale and head box x1, y1, x2, y2 ({e})."
        ) from e
    if not scale > 0:
        raise ValueError(f"{where}: 'scale' must be positive (person height / 200 px), got {scale}.")
    joints = np.zeros((NUM_JOINTS, 2), np.float32)
    annotated = np.zeros(NUM_JOINTS, np.float32)
    visible = np.full(NUM_JOINTS, -1, np.int8)
    for point in np.atleast_1d(points):
        try:
            joint = int(point.id)
            xy = (float(point.x) - 1.0, float(point.y) - 1.0)
            flag = _visibility(getattr(point, "is_visible", None))
        except (AttributeError, TypeError, ValueError) as e:
            raise ValueError(
                f"{where}: each annopoints.point needs numeric id, x, y (and is_visible) ({e})."
            ) from e
        if not 0 <= joint < NUM_JOINTS:
            raise ValueError(f"{where}: point id {joint} is outside 0..{NUM_JOINTS - 1}.")
        joints[joint] = xy
        annotated[joint] = 1.0
        visible[joint] = flag
    return joints, annotated, visible, center, scale, head_size


def _visibility(value):
    """1 visible, 0 occluded, -1 not given; the release stores ints, strings or [] here."""
    if _is_empty(value) or (isinstance(value, str) and not value.strip()):
        return -1
    return int(int(value) > 0)
