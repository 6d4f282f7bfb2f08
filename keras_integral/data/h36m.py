"""Human3.6M frames (MMPose "body3d" npz + camera file) -> 3D `PoseRecord`s.

Supported layout (the one of `../shared/data/samples/h36m` and of the
synthetic writer): an `.npz` with

- `imgname` `(N,)` str: image path relative to `image_dir`, named
  `S<k>/S<k>_<Action>[_<n>].<camera id>/S<k>_<Action>[_<n>].<camera id>_<frame:06d>.jpg`
  (only the file name is parsed: subject, action, camera id, 1-based frame);
- `center` `(N, 2)` px, `scale` `(N,)` (box side / 200 px);
- `part` `(N, 17, 3)`: 2D joints in pixels + confidence;
- `S` `(N, 17, 4)`: 3D joints in camera coordinates, metres, + confidence;

and a camera file (`cameras.json` keyed `"S1_54138969"`, or `cameras.pkl`;
see `cameras.load_cameras`). The authors' own layout (per-video folders
`s_01_act_02_subact_01_ca_01` with pickled caches built from the MATLAB
release) is not supported; convert it to this npz.

Protocols (as in the paper): 1 = train S1, S5, S6, S7, S8, S9 / test S11;
2 = train S1, S5, S6, S7, S8 / test S9, S11. The test split keeps every
`test_stride`-th frame of each video (frames 1, 1 + stride, ...); the train
split keeps every frame (sub-sample in the pipeline or recipe).

Box: the npz box, a square of side `200 * scale` around `center`. In MMPose's
files `scale` already holds a 1.2 margin over the 2D joints' extent, and the
pipeline adds its 1.25 margin on top.

Example:

>>> records = load_records("h36m_train.npz", "images", "cameras.json",
...                        protocol=2, split="test")               # doctest: +SKIP
>>> records[0].keypoints.shape, records[0].meta["subject"]         # doctest: +SKIP
((17, 3), 'S9')
"""

import os
import re

import numpy as np

from keras_integral.data import cameras as cameras_lib
from keras_integral.data.records import PoseRecord

NUM_JOINTS = 17
ROOT = 0
PROTOCOLS = {
    1: {"train": ("S1", "S5", "S6", "S7", "S8", "S9"), "test": ("S11",)},
    2: {"train": ("S1", "S5", "S6", "S7", "S8"), "test": ("S9", "S11")},
}
SPLITS = (None, "train", "test")

# S1_Directions_1.54138969_000001.jpg -> subject, sequence, camera id, frame.
_NAME = re.compile(r"(S\d+)_([^./]+)\.([^._/]+)_(\d+)\.[A-Za-z]+$")
# A sequence "Directions_1" (or "Directions 1") is action "Directions", take 1.
_SEQUENCE = re.compile(r"(.*?)(?:[_ ]\d+)?$")


def load_records(annotation_file, image_dir, cameras_file, protocol=None, split=None, test_stride=64):
    """Reads Human3.6M frames into 3D records.

    Args:
        annotation_file: the `.npz` (layout in the module docstring).
        image_dir: folder the `imgname` paths are relative to; it must exist,
            the images need not.
        cameras_file: `cameras.json` or `cameras.pkl`.
        protocol: 1 or 2 (subjects above); needed when `split` is given.
        split: `None` (every record in the file), `"train"` or `"test"`.
        test_stride: the test split keeps frames `1, 1 + test_stride, ...`.

    Returns:
        list of `PoseRecord` with skeleton `"h36m"`: keypoints `(17, 3)`
        `(u, v, z)` with `(u, v)` from `part` in pixels and `z = Z_j - Z_root`
        in mm; weights `(17, 3)` (x, y: 0 where `part`'s confidence is 0;
        z: 0 where `S`'s confidence of the joint or the root is 0);
        `joints_cam_mm` `(17, 3)`; `camera` (the shared, read-only dict of
        `cameras.load_cameras`: `f`, `c`, `k`, `p`, `R`, `T` in metres, ...);
        `box` `[x, y, w, h]`; `image_id` = row in the file; `meta` with
        `subject` (`"S9"`), `action` (`"Directions"`), `sequence`
        (`"Directions_1"`), `camera_id` (`"54138969"`) and `frame` (1-based).

    Raises:
        FileNotFoundError: a missing file or `image_dir`.
        ValueError: a malformed file (the message names the file, the row and
            what was expected), a camera missing from `cameras_file`, or bad
            `protocol` / `split` / `test_stride`.

    Example:

    >>> train = load_records("h36m_train.npz", "images", "cameras.json",
    ...                      protocol=1, split="train")               # doctest: +SKIP
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    if split is not None and protocol not in PROTOCOLS:
        raise ValueError(f"split={split!r} needs protocol 1 or 2, got protocol={protocol!r}.")
    if protocol is not None and protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be 1, 2 or None, got {protocol!r}.")
    if isinstance(test_stride, bool) or not isinstance(test_stride, (int, np.integer)) or test_stride < 1:
        raise ValueError(f"test_stride must be a positive integer, got {test_stride!r}.")
    if not os.path.isdir(image_dir):
        raise FileNotFoundError(f"image_dir {os.fspath(image_dir)!r} is not an existing folder.")
    path = os.fspath(annotation_file)
    names, center, scale, part, joints_cam = _read_npz(path)
    camera_table = cameras_lib.load_cameras(cameras_file)

    parsed = []
    for i, name in enumerate(names):
        match = _NAME.search(name)
        if match is None:
            raise ValueError(
                f"H36M file {path!r}, row {i}: image name {name!r} does not match "
                "'S<k>_<Action>.<camera id>_<frame>.jpg'."
            )
        parsed.append(match.groups())
    subjects = np.asarray([p[0] for p in parsed])
    frames = np.asarray([int(p[3]) for p in parsed], np.int64)
    keep = np.ones(len(names), bool)
    if split is not None:
        keep &= np.isin(subjects, PROTOCOLS[protocol][split])
        if split == "test":
            keep &= (frames - 1) % test_stride == 0
    rows = np.flatnonzero(keep)

    keypoints = np.concatenate([part[rows, :, :2], _root_relative_mm(joints_cam[rows])], axis=-1)
    weights = _weights(part[rows], joints_cam[rows])
    joints_cam_mm = (joints_cam[rows, :, :3] * 1000.0).astype(np.float32)
    side = 200.0 * scale[rows]
    boxes = np.stack([center[rows, 0] - side / 2, center[rows, 1] - side / 2, side, side], axis=1)
    keypoints = keypoints.astype(np.float32)
    weights = weights.astype(np.float32)
    boxes = boxes.astype(np.float32)

    videos = {}  # (subject, sequence, camera id) -> (camera, action): parsed once per video
    records = []
    for i, box, keypoints_i, weights_i, joints_i in zip(rows, boxes, keypoints, weights, joints_cam_mm):
        subject, sequence, camera_id, _ = parsed[i]
        video = videos.get((subject, sequence, camera_id))
        if video is None:
            camera = camera_table.get(f"{subject}_{camera_id}")
            if camera is None:
                raise ValueError(
                    f"H36M file {path!r}, row {i} ({names[i]!r}): camera {subject}_{camera_id} is not in "
                    f"camera file {os.fspath(cameras_file)!r}."
                )
            video = videos[subject, sequence, camera_id] = (camera, _SEQUENCE.match(sequence).group(1))
        records.append(
            PoseRecord(
                image_path=os.path.join(image_dir, names[i]),
                box=box,
                keypoints=keypoints_i,
                weights=weights_i,
                skeleton="h36m",
                image_id=int(i),
                joints_cam_mm=joints_i,
                camera=video[0],
                meta={
                    "subject": subject,
                    "action": video[1],
                    "sequence": sequence,
                    "camera_id": camera_id,
                    "frame": int(frames[i]),
                },
            )
        )
    return records


def _root_relative_mm(joints_cam):
    """`(n, 17, 1)` depth of each joint minus the root's, metres -> millimetres."""
    return (joints_cam[:, :, 2:3] - joints_cam[:, ROOT : ROOT + 1, 2:3]) * 1000.0


def _weights(part, joints_cam):
    """`(n, 17, 3)`: x, y from `part`'s confidence; z from `S`'s, joint and root both."""
    xy = part[:, :, 2] > 0
    z = (joints_cam[:, :, 3] > 0) & (joints_cam[:, ROOT : ROOT + 1, 3] > 0)
    return np.stack([xy, xy, z], axis=-1)


def _read_npz(path):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"H36M file {path!r} does not exist.")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError) as e:
        raise ValueError(f"H36M file {path!r} could not be read as an .npz of plain arrays: {e}") from e
    expected = {
        "imgname": "(N,) image paths",
        "center": "(N, 2) px",
        "scale": "(N,)",
        "part": f"(N, {NUM_JOINTS}, 3) px + confidence",
        "S": f"(N, {NUM_JOINTS}, 4) camera metres + confidence",
    }
    for key, layout in expected.items():
        if key not in arrays:
            raise ValueError(f"H36M file {path!r}: missing array {key!r} {layout}; found {sorted(arrays)}.")
    names = arrays["imgname"]
    if names.ndim != 1 or names.dtype.kind not in "US":
        raise ValueError(
            f"H36M file {path!r}: 'imgname' must be {expected['imgname']} as strings, "
            f"got {names.dtype} {names.shape}."
        )
    n = len(names)
    shapes = {
        "center": (n, 2),
        "scale": (n,),
        "part": (n, NUM_JOINTS, 3),
        "S": (n, NUM_JOINTS, 4),
    }
    for key, shape in shapes.items():
        value = arrays[key]
        if key == "scale" and value.shape == (n, 1):
            value = value[:, 0]
        if value.shape != shape or value.dtype.kind not in "fiu":
            raise ValueError(
                f"H36M file {path!r}: {key!r} must be numbers of shape {shape} ({expected[key]}), "
                f"got {value.dtype} {value.shape}."
            )
        arrays[key] = value.astype(np.float64, copy=False)
    return (
        names.astype(str).tolist(),
        arrays["center"],
        arrays["scale"],
        arrays["part"],
        arrays["S"],
    )
