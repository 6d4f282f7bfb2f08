"""The record every loader emits: one person in one image.

Loaders (`coco.py`, `mpii.py`, `h36m.py`, and the synthetic set through them)
turn files on disk into a list of `PoseRecord`s; `pipeline.py` turns records
into a `tf.data.Dataset`. Two helpers every loader shares live here too:
`read_json` (errors that name the file) and `warn_skipped` (the count of
what a loader left out, and why). Coordinates are in original-image pixels with the
centre of pixel (row i, column j) at `(x=j, y=i)` (OpenCV/COCO convention).

Example:

>>> import numpy as np
>>> r = PoseRecord(image_path="a.jpg", box=(10, 20, 100, 200),
...                keypoints=np.zeros((17, 2)), weights=np.ones((17, 2)),
...                skeleton="coco")
>>> r.num_joints, r.dims
(17, 2)
"""

import dataclasses
import json
import os
import warnings

import numpy as np

from keras_integral import skeletons


@dataclasses.dataclass
class PoseRecord:
    """One annotated (or detected) person.

    Args:
        image_path: path of the image file.
        box: `(4,)` person box `[x, y, width, height]` in image pixels
            (COCO `bbox` convention: top-left corner and size).
        keypoints: `(joints, 2|3)` float32: `(x, y)` in image pixels and, for
            3D records, `z` = depth relative to the root joint in millimetres
            (camera space, positive away from the camera).
        weights: `(joints, 2|3)` float32 per-coordinate weights: 0 where a
            coordinate is not labelled (invisible/unannotated joint; `z` of a
            2D-only sample).
        skeleton: name of the joint set of `keypoints` (`"coco"`, `"mpii"`,
            `"h36m"`).
        image_id: data set image id (COCO evaluation groups by it).
        score: detection score of `box` (1.0 for ground-truth boxes).
        head_size: MPII head segment length in pixels for PCKh, or `None`.
        joints_cam_mm: `(joints, 3)` camera-space joints in millimetres (3D
            data sets), or `None`.
        camera: intrinsics/extrinsics dict (`f`, `c`, `k`, `p`, `R`, `T`, as
            in the H36M camera files), or `None`.
        meta: free-form extra fields of the source (e.g. `subject`,
            `action`, `frame`, `annotation_id`).
    """

    image_path: str
    box: np.ndarray
    keypoints: np.ndarray
    weights: np.ndarray
    skeleton: str
    image_id: int = 0
    score: float = 1.0
    head_size: float | None = None
    joints_cam_mm: np.ndarray | None = None
    camera: dict | None = None
    meta: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        self.box = np.asarray(self.box, np.float32).reshape(-1)
        self.keypoints = np.asarray(self.keypoints, np.float32)
        self.weights = np.asarray(self.weights, np.float32)
        skeleton = skeletons.get(self.skeleton)
        self.skeleton = skeleton.name
        where = f"record for {self.image_path!r}"
        if self.box.shape != (4,):
            raise ValueError(f"{where}: box must have 4 values [x, y, w, h], got shape {self.box.shape}.")
        expected = (skeleton.num_joints,)
        if self.keypoints.ndim != 2 or self.keypoints.shape[:1] != expected or self.keypoints.shape[1] not in (2, 3):
            raise ValueError(
                f"{where}: keypoints must have shape ({skeleton.num_joints}, 2|3) for skeleton "
                f"{skeleton.name!r}, got {self.keypoints.shape}."
            )
        if self.weights.shape != self.keypoints.shape:
            raise ValueError(
                f"{where}: weights must have the shape of keypoints {self.keypoints.shape}, "
                f"got {self.weights.shape}."
            )
        if self.joints_cam_mm is not None:
            self.joints_cam_mm = np.asarray(self.joints_cam_mm, np.float32)

    @property
    def num_joints(self):
        return self.keypoints.shape[0]

    @property
    def dims(self):
        """2 for `(x, y)` records, 3 for `(x, y, z)`."""
        return self.keypoints.shape[1]


def warn_skipped(where, skipped, total, unit, max_ids=5):
    """Warns how many of the `total` `unit`s of `where` a loader skipped, and why.

    Args:
        where: the file, e.g. `"COCO file 'a.json'"`.
        skipped: `{reason: [id, ...]}`; reasons with no ids are left out.
        total: how many `unit`s the file holds.
        unit: what the ids count, e.g. `"annotations"`.
        max_ids: ids shown per reason.

    Returns:
        The number skipped (0: nothing is said).
    """
    skipped = {reason: ids for reason, ids in skipped.items() if ids}
    count = sum(len(ids) for ids in skipped.values())
    if count:
        parts = []
        for reason, ids in skipped.items():
            shown = ", ".join(str(i) for i in ids[:max_ids]) + (", ..." if len(ids) > max_ids else "")
            parts.append(f"{len(ids)} {reason} ({shown})")
        warnings.warn(f"{where}: skipped {count} of {total} {unit}: {'; '.join(parts)}.", stacklevel=3)
    return count


def read_json(path, what):
    """The JSON value in file `path`; errors name it as `what` (e.g. `"COCO file"`).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not UTF-8/16/32 text, or not JSON.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} {path!r} does not exist.")
    with open(path, "rb") as f:
        data = f.read()
    try:
        # From bytes, json finds UTF-8 (with or without a BOM), UTF-16 or UTF-32 (RFC 8259 allows these).
        return json.loads(data)
    except UnicodeDecodeError as e:
        raise ValueError(
            f"{what} {path!r} is not UTF-8 (or UTF-16/32) text: byte {data[e.start]:#04x} at offset "
            f"{e.start} ({e.reason}); save it as UTF-8."
        ) from e
    except json.JSONDecodeError as e:
        raise ValueError(f"{what} {path!r} is not valid JSON: {e}.") from e
