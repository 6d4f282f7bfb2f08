"""Human3.6M frames -> 3D `PoseRecord`s, from the MMPose npz or the authors' layouts.

`load_records` reads three layouts, told apart by what `annotation_file` is.

**An `.npz`** (MMPose "body3d", the layout of `../shared/data/samples/h36m`
and of the synthetic writer) with

- `imgname` `(N,)` str: image path relative to `image_dir`, named
  `S<k>/S<k>_<Action>[_<n>].<camera id>/S<k>_<Action>[_<n>].<camera id>_<frame:06d>.jpg`
  (only the file name is parsed: subject, action, camera id, 1-based frame);
- `center` `(N, 2)` px, `scale` `(N,)` (box side / 200 px);
- `part` `(N, 17, 3)`: 2D joints in pixels + confidence;
- `S` `(N, 17, 4)`: 3D joints in camera coordinates, metres, + confidence;

and a camera file (`cameras.json` keyed `"S1_54138969"`, or `cameras.pkl`;
see `cameras.load_cameras`). Box: a square of side `200 * scale` around
`center` (MMPose's `scale` already holds a 1.2 margin over the 2D joints'
extent; the pipeline adds the model's crop margin, by default 1.25, on top).

**A folder**: the `annot` folder of the authors' layout
(JimmySuen/integral-human-pose, `common_pytorch/dataset/hm36.py`), with
`image_dir` its sibling `images`:

```
<root>/annot/<video>/matlab_meta.txt
<root>/images/<video>/<video>_<frame:06d>.jpg     frame = row + 1 (1-based)
<video> = s_<subject:02d>_act_<action:02d>_subact_<subaction:02d>_ca_<camera:02d>
```

with subject in 1, 5, 6, 7, 8, 9, 11, action 2..16, subaction 1..2, camera
1..4. `matlab_meta.txt` is whitespace-separated text; every line but the
first starts with a tag word that is skipped (line numbers 1-based):

```
line 1        N, the number of frames
line 2        tag, image width, height (px)
line 3        tag, M: 3x3, row-major
line 4        tag, T: camera centre in the world (mm)
line 5        tag, fx fy
line 6        tag, cx cy
line 7        tag, k1 k2 k3 (radial distortion)
line 8        tag, p1 p2 (tangential distortion)
line 9        tag, jt_list: 17 indices (1-based) into the 32 mocap joints,
              in our H36M-17 order (normally 1 2 3 4 7 8 9 13 14 15 16 18 19 20 26 27 28)
line 10 + n   tag, frame n + 1: 32 joints x (X, Y, Z), world mm
```

The authors move joints to the camera with `X_cam = M.T @ (X_world - T)`,
which is `cameras.world_to_camera` with `R = M`; the camera of the records is
the H36M camera dict with `R = M` and `T` in metres, like `cameras.json`.
The authors project with a plain pinhole (they read `k`, `p` and ignore
them); here the keypoints are projected with the H36M distortion model
(`cameras.project_points`), as the released 2D annotations are (up to
~2.5 px apart). The box is the authors' crop: a square of `box_mm` around
the pelvis, parallel to the image plane, projected with their pinhole (centre
= the pelvis's projection, side `f * box_mm / Z_pelvis`). The default 1600 mm
is their 2000 mm divided by the default crop margin 1.25
(`transforms.CROP_MARGIN`), so the network sees their crop. No camera file
is read: the calibration is in `matlab_meta.txt`.

**A `.pkl`**: the authors' cache `HM36_keypoint_db_sample<N>.pkl`, a pickled
list of dicts (`image`, `center_x`, `center_y`, `width`, `height`,
`joints_3d`, `joints_3d_vis`, `joints_3d_cam`, `fl`, `c_p`, ...) with 18
joints: our 17 and the thorax (mean of the shoulders), which is dropped.
Image paths, absolute on the authors' machine, become
`image_dir/<video>/<file>`. Keypoints are the cache's `(u, v, Z - Z_root)`,
pinhole-projected as the authors made them, so the camera is the pinhole of
`fl`, `c_p` in camera coordinates (`k = p = 0`, `R = I`, `T = 0`), which
`cameras.project_points` reproduces. The box is the cache's box divided by
the default crop margin 1.25 (the network sees the authors' crop, as above).
The file is read with `cameras.load_numpy_pickle` (NumPy arrays and plain
values only: a hostile file cannot run code), Python 2 pickles included.

Protocols (as in the paper): 1 = train S1, S5, S6, S7, S8, S9 / test S11;
2 = train S1, S5, S6, S7, S8 / test S9, S11. The test split keeps every
`test_stride`-th frame of each video (frames 1, 1 + stride, ...); the train
split keeps every frame (sub-sample in the pipeline or recipe).

Example:

>>> records = load_records("h36m_train.npz", "images", "cameras.json",
...                        protocol=2, split="test")               # doctest: +SKIP
>>> records[0].keypoints.shape, records[0].meta["subject"]         # doctest: +SKIP
((17, 3), 'S9')
>>> train = load_records("hm36/annot", "hm36/images", protocol=2,
...                      split="train")                            # doctest: +SKIP
>>> train[0].meta                                                  # doctest: +SKIP
{'subject': 'S1', 'action': 'Directions', 'action_id': 2, 'subaction': 1, 'camera': 1, 'frame': 1,
 'video': 's_01_act_02_subact_01_ca_01'}
"""

import os
import re
import zipfile
import zlib

import numpy as np

from keras_integral.data import cameras as cameras_lib
from keras_integral.data.records import PoseRecord
from keras_integral.data.records import warn_skipped
from keras_integral.data.transforms import CROP_MARGIN

NUM_JOINTS = 17
ROOT = 0
PROTOCOLS = {
    1: {"train": ("S1", "S5", "S6", "S7", "S8", "S9"), "test": ("S11",)},
    2: {"train": ("S1", "S5", "S6", "S7", "S8"), "test": ("S9", "S11")},
}
SPLITS = (None, "train", "test")
# The authors' 2000 mm crop over the default crop margin (1.25) the pipeline adds.
AUTHORS_BOX_MM = 2000.0 / CROP_MARGIN

# S1_Directions_1.54138969_000001.jpg -> subject, sequence, camera id, frame.
_NAME = re.compile(r"(S\d+)_([^./]+)\.([^._/]+)_(\d+)\.[A-Za-z]+$")
# A sequence "Directions_1" (or "Directions 1") is action "Directions", take 1.
_SEQUENCE = re.compile(r"(.*?)(?:[_ ]\d+)?$")

# The authors' layout.
_VIDEO = re.compile(r"s_(\d\d)_act_(\d\d)_subact_(\d\d)_ca_(\d\d)")
_VIDEO_IDS = {  # the values each field of a video name may take
    "subject": (1, 5, 6, 7, 8, 9, 11),
    "action": tuple(range(2, 17)),
    "subaction": (1, 2),
    "camera": (1, 2, 3, 4),
}
# Action ids of the authors' video names -> the names of the H36M video files (and of MMPose's npz).
ACTION_NAMES = {
    2: "Directions", 3: "Discussion", 4: "Eating", 5: "Greeting", 6: "Phoning", 7: "Posing", 8: "Purchases",
    9: "Sitting", 10: "SittingDown", 11: "Smoking", 12: "Photo", 13: "Waiting", 14: "Walking", 15: "WalkDog",
    16: "WalkTogether",
}  # fmt: skip
_META_FILE = "matlab_meta.txt"
_META_HEADER = (  # lines 2..9 of matlab_meta.txt: what follows the tag, number of values
    ("image width, height", 2),
    ("M, 3x3 row-major", 9),
    ("T, camera centre in world mm", 3),
    ("fx fy", 2),
    ("cx cy", 2),
    ("k1 k2 k3", 3),
    ("p1 p2", 2),
    (f"jt_list, {NUM_JOINTS} joint indices in 1..32", NUM_JOINTS),
)
_RAW_JOINTS = 32
_CACHE_JOINTS = NUM_JOINTS + 1  # + thorax


def load_records(
    annotation_file,
    image_dir,
    cameras_file=None,
    protocol=None,
    split=None,
    test_stride=64,
    box_mm=AUTHORS_BOX_MM,
):
    """Reads Human3.6M frames into 3D records.

    Args:
        annotation_file: an `.npz`, the authors' `annot` folder, or the
            authors' `.pkl` cache (layouts in the module docstring).
        image_dir: for the npz, the folder its `imgname` paths are relative
            to; for the authors' layouts, the `images` folder holding one
            folder per video. It must exist, and for the authors' layouts so
            must the folder of every video read; the images need not.
        cameras_file: `cameras.json` or `cameras.pkl`, required for the npz;
            must be `None` for the authors' layouts, which carry their own
            calibration.
        protocol: 1 or 2 (subjects above); needed when `split` is given.
        split: `None` (every frame), `"train"` or `"test"`.
        test_stride: the test split keeps frames `1, 1 + test_stride, ...`.
        box_mm: side in mm of the square around the pelvis that gives the
            box of the authors' folder layout; the default 1600 is the
            authors' 2000 mm over the default crop margin 1.25. The npz and the
            cache carry their boxes, so any other value is refused for them.

    Returns:
        list of `PoseRecord` with skeleton `"h36m"`: keypoints `(17, 3)`
        `(u, v, z)` with `(u, v)` in pixels and `z = Z_j - Z_root` in mm;
        weights `(17, 3)`; `joints_cam_mm` `(17, 3)`; `camera` (a shared,
        read-only dict: `f`, `c`, `k`, `p`, `R`, `T` in metres, ...);
        `box` `[x, y, w, h]`; `image_id` = row in the file (for the folder,
        the row over all videos in name order); and `meta`.

        From the npz: `(u, v)` from `part`; weights x, y 0 where `part`'s
        confidence is 0, z 0 where `S`'s confidence of the joint or the root
        is 0; camera from `cameras_file`; `meta` with `subject` (`"S9"`),
        `action` (`"Directions"`), `sequence` (`"Directions_1"`),
        `camera_id` (`"54138969"`) and `frame` (1-based). Frames with a
        non-finite box, labelled 2D joint or 3D joint are left out, counted
        in a warning that names their rows.

        From the authors' layouts: weights 1 (the cache: its
        `joints_3d_vis`); `meta` with `subject` (`"S9"`), `action`
        (`"Directions"`, named as in the npz: `ACTION_NAMES`), `action_id`
        (2..16), `subaction` (1, 2), `camera` (1..4), `frame` (1-based) and `video`
        (`"s_09_act_02_subact_01_ca_01"`).

    Raises:
        FileNotFoundError: a missing file, `image_dir` or video image folder.
        ValueError: a malformed file (the message names the file, the line or
            row and what was expected), a camera missing from `cameras_file`,
            a `cameras_file` or `box_mm` that the layout does not use, or bad
            `protocol` / `split` / `test_stride` / `box_mm`.

    Example:

    >>> train = load_records("h36m_train.npz", "images", "cameras.json",
    ...                      protocol=1, split="train")               # doctest: +SKIP
    >>> test = load_records("hm36/annot", "hm36/images", protocol=2,
    ...                     split="test")                             # doctest: +SKIP
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    if split is not None and protocol not in PROTOCOLS:
        raise ValueError(f"split={split!r} needs protocol 1 or 2, got protocol={protocol!r}.")
    if protocol is not None and protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be 1, 2 or None, got {protocol!r}.")
    if isinstance(test_stride, bool) or not isinstance(test_stride, (int, np.integer)) or test_stride < 1:
        raise ValueError(f"test_stride must be a positive integer, got {test_stride!r}.")
    if isinstance(box_mm, bool) or not isinstance(box_mm, (int, float, np.number)) or not 0 < box_mm < np.inf:
        raise ValueError(f"box_mm must be a positive number of millimetres, got {box_mm!r}.")
    if not os.path.isdir(image_dir):
        raise FileNotFoundError(f"image_dir {os.fspath(image_dir)!r} is not an existing folder.")
    path = os.fspath(annotation_file)
    image_dir = os.fspath(image_dir)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"H36M annotations {path!r} do not exist (expected an .npz, the authors' annot folder or their "
            ".pkl cache)."
        )

    def keep(subjects, frames):
        """Mask of the frames of `split` (all when `split` is None)."""
        mask = np.ones(len(frames), bool)
        if split is not None:
            mask &= np.isin(np.asarray(subjects, str), PROTOCOLS[protocol][split])
            if split == "test":
                mask &= (np.asarray(frames) - 1) % test_stride == 0
        return mask

    if os.path.isdir(path) or path.lower().endswith(".pkl"):
        layout = "the authors' folder" if os.path.isdir(path) else "the authors' .pkl cache"
        if cameras_file is not None:
            raise ValueError(
                f"H36M annotations {path!r} are in {layout} layout, which carries its own calibration; "
                f"pass cameras_file=None, got {os.fspath(cameras_file)!r}."
            )
        if os.path.isdir(path):
            return _load_authors_folder(path, image_dir, keep, box_mm)
        if box_mm != AUTHORS_BOX_MM:
            raise ValueError(
                f"H36M cache {path!r}: box_mm applies to the authors' folder layout only (the cache holds "
                f"its boxes), got box_mm={box_mm!r}."
            )
        return _load_authors_cache(path, image_dir, keep)
    if cameras_file is None:
        raise ValueError(
            f"H36M file {path!r}: the .npz layout needs cameras_file (cameras.json or cameras.pkl); only the "
            "authors' annot folder and .pkl cache carry their own calibration."
        )
    if box_mm != AUTHORS_BOX_MM:
        raise ValueError(
            f"H36M file {path!r}: box_mm applies to the authors' folder layout only (the npz holds its "
            f"boxes), got box_mm={box_mm!r}."
        )
    return _load_npz(path, image_dir, cameras_file, keep)


# === The MMPose npz ===


def _load_npz(path, image_dir, cameras_file, keep):
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
    frames = np.asarray([int(p[3]) for p in parsed], np.int64)
    rows = np.flatnonzero(keep([p[0] for p in parsed], frames))
    # Only labelled values must be numbers; evaluation uses every 3D joint of a frame.
    finite = {
        "box not finite and > 0 (center, scale)":
            np.isfinite(center[rows]).all(1) & np.isfinite(scale[rows]) & (scale[rows] > 0),
        "non-finite 2D joints (part)": np.all(np.isfinite(part[rows, :, :2]) | (part[rows, :, 2:] == 0), axis=(1, 2))
        & np.isfinite(part[rows, :, 2]).all(1),
        "non-finite 3D joints (S)": np.isfinite(joints_cam[rows]).all(axis=(1, 2)),
    }
    usable, skipped = np.ones(len(rows), bool), {}
    for reason, ok in finite.items():  # each frame counted once, under its first problem
        skipped[reason] = rows[usable & ~ok].tolist()
        usable &= ok
    warn_skipped(f"H36M file {path!r}", skipped, len(names), "frames (rows)")
    rows = rows[usable]

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


# === The authors' layout ===


def _load_authors_folder(annot_dir, image_dir, keep, box_mm):
    videos = sorted(
        name for name in os.listdir(annot_dir)
        if not name.startswith(".") and os.path.isdir(os.path.join(annot_dir, name))
    )
    if not videos:
        raise ValueError(
            f"H36M folder {annot_dir!r} holds no video folders; expected the authors' annot folder with "
            f"'s_<subject>_act_<action>_subact_<subaction>_ca_<camera>/{_META_FILE}' inside."
        )
    records = []
    first_row = 0  # image ids count the frames of every video, kept or not
    for video in videos:
        ids = _parse_video_name(video, f"H36M folder {os.path.join(annot_dir, video)!r}")
        meta_path = os.path.join(annot_dir, video, _META_FILE)
        num_frames = _read_frame_count(meta_path)
        subject = f"S{ids['subject']}"
        frames = np.arange(1, num_frames + 1)
        rows = np.flatnonzero(keep([subject] * num_frames, frames))
        if len(rows):
            _check_video_images(image_dir, video)
            camera, joints_cam_mm = _read_matlab_meta(meta_path, num_frames)
            records += _video_records(
                video, ids, first_row, rows, camera, joints_cam_mm, box_mm, image_dir, meta_path
            )
        first_row += num_frames
    return records


def _parse_video_name(video, where):
    """`s_01_act_02_subact_01_ca_01` -> `{"subject": 1, "action": 2, "subaction": 1, "camera": 1}`."""
    match = _VIDEO.fullmatch(video)
    if match is None:
        raise ValueError(f"{where}: video name {video!r} does not match 's_%02d_act_%02d_subact_%02d_ca_%02d'.")
    ids = dict(zip(_VIDEO_IDS, (int(g) for g in match.groups())))
    for field, allowed in _VIDEO_IDS.items():
        if ids[field] not in allowed:
            raise ValueError(f"{where}: video {video!r} has {field} {ids[field]}, expected one of {list(allowed)}.")
    return ids


def _check_video_images(image_dir, video):
    folder = os.path.join(image_dir, video)
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"H36M images folder {folder!r} does not exist; expected the images of video {video!r} as "
            f"{video}/{video}_<frame:06d>.jpg under image_dir {image_dir!r}."
        )


def _read_frame_count(path):
    """Line 1 of `matlab_meta.txt`: the number of frames."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"H36M file {path!r} does not exist.")
    with open(path, encoding="utf-8", errors="replace") as f:
        tokens = f.readline().split()
    count = float(tokens[0]) if len(tokens) == 1 and _is_number(tokens[0]) else -1.0
    if not (0 <= count < np.inf and count == int(count)):
        raise ValueError(f"H36M file {path!r}, line 1: expected the number of frames (one integer), got {tokens}.")
    return int(count)


def _is_number(token):
    try:
        float(token)
    except ValueError:
        return False
    return True


def _read_matlab_meta(path, num_frames):
    """`matlab_meta.txt` -> (the camera dict, `(frames, 17, 3)` camera-space joints in mm)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    expected = 1 + len(_META_HEADER) + num_frames
    if len(lines) != expected:
        raise ValueError(
            f"H36M file {path!r}: expected {expected} lines (9 + the {num_frames} frames of line 1), "
            f"got {len(lines)}."
        )
    header = [_numbers(path, n + 2, lines[n + 1], what, size) for n, (what, size) in enumerate(_META_HEADER)]
    (width, height), M, T_mm, f, c, k, p, jt_list = header
    if np.any(jt_list != np.round(jt_list)) or np.any((jt_list < 1) | (jt_list > _RAW_JOINTS)):
        raise ValueError(
            f"H36M file {path!r}, line 9: jt_list must be {NUM_JOINTS} integers in 1..{_RAW_JOINTS}, "
            f"got {jt_list.tolist()}."
        )
    world = _frame_numbers(path, lines[1 + len(_META_HEADER):]).reshape(num_frames, _RAW_JOINTS, 3)
    camera = _frozen_camera(R=M.reshape(3, 3), T=T_mm / 1000.0, f=f, c=c, k=k, p=p)
    camera.update(w=int(width), h=int(height))
    joints_cam_mm = cameras_lib.world_to_camera(world[:, jt_list.astype(int) - 1], M.reshape(3, 3), T_mm)
    return camera, joints_cam_mm


def _numbers(path, line_number, line, what, size):
    """The `size` finite numbers after the tag of one line, or an error naming the line."""
    tokens = line.split()[1:]
    if len(tokens) != size:
        raise ValueError(
            f"H36M file {path!r}, line {line_number}: expected a tag and {size} numbers ({what}), "
            f"got {len(tokens)} values after the tag."
        )
    try:
        values = np.array([float(t) for t in tokens])
    except ValueError:
        bad = next(t for t in tokens if not _is_number(t))
        raise ValueError(
            f"H36M file {path!r}, line {line_number}: {bad!r} is not a number (expected {what})."
        ) from None
    if not np.all(np.isfinite(values)):
        raise ValueError(f"H36M file {path!r}, line {line_number}: expected finite numbers ({what}), got {tokens}.")
    return values


def _frame_numbers(path, lines):
    """`(frames, 96)` world joints of the frame lines; a whole video is converted at once."""
    size = 3 * _RAW_JOINTS
    rows = [line.split()[1:] for line in lines]
    try:
        if all(len(row) == size for row in rows):
            values = np.array(rows, np.float64).reshape(len(rows), size)
            if np.all(np.isfinite(values)):
                return values
    except ValueError:
        pass
    # Line by line: slower, and names the first bad line.
    first = 1 + len(_META_HEADER) + 1
    what = f"{_RAW_JOINTS} joints x (X, Y, Z), world mm"
    return np.stack([_numbers(path, first + n, line, what, size) for n, line in enumerate(lines)])


def _video_records(video, ids, first_row, rows, camera, joints_cam_mm, box_mm, image_dir, meta_path):
    joints = joints_cam_mm[rows]
    root = joints[:, ROOT]
    behind = np.flatnonzero(root[:, 2] <= 0)
    if len(behind):
        line = 1 + len(_META_HEADER) + rows[behind[0]] + 1
        raise ValueError(
            f"H36M file {meta_path!r}, line {line}: the pelvis is at Z = {root[behind[0], 2]:.1f} mm in camera "
            "coordinates; expected it in front of the camera (Z > 0)."
        )
    uv = cameras_lib.project_points(joints, camera)
    keypoints = np.concatenate([uv, joints[:, :, 2:] - root[:, None, 2:]], axis=-1).astype(np.float32)
    # The authors' crop: the box_mm square at the pelvis, projected with their pinhole.
    centre = camera["f"] * root[:, :2] / root[:, 2:] + camera["c"]
    size = camera["f"] * box_mm / root[:, 2:]
    boxes = np.concatenate([centre - size / 2, size], axis=1)
    weights = np.ones((len(rows), NUM_JOINTS, 3), np.float32)  # every joint is motion-captured
    records = []
    for row, keypoints_i, weights_i, joints_i, box in zip(rows, keypoints, weights, joints, boxes):
        frame = int(row) + 1
        records.append(
            PoseRecord(
                image_path=os.path.join(image_dir, video, f"{video}_{frame:06d}.jpg"),
                box=box,
                keypoints=keypoints_i,
                weights=weights_i,
                skeleton="h36m",
                image_id=first_row + int(row),
                joints_cam_mm=joints_i,
                camera=camera,
                meta=_authors_meta(ids, frame, video),
            )
        )
    return records


def _authors_meta(ids, frame, video):
    return {
        "subject": f"S{ids['subject']}",
        "action": ACTION_NAMES[ids["action"]],  # per-action MPJPE then reads as for the npz
        "action_id": ids["action"],
        "subaction": ids["subaction"],
        "camera": ids["camera"],
        "frame": frame,
        "video": video,
    }


def _frozen_camera(**fields):
    """A camera dict of read-only float64 arrays: one dict is shared by every record of a video."""
    camera = {}
    for name, value in fields.items():
        array = np.array(value, np.float64)
        array.setflags(write=False)
        camera[name] = array
    return camera


_CACHE_FIELDS = {  # key -> (shape, what)
    "center_x": ((), "box centre x, px"),
    "center_y": ((), "box centre y, px"),
    "width": ((), "box width, px"),
    "height": ((), "box height, px"),
    "joints_3d": ((_CACHE_JOINTS, 3), "(u, v, Z - Z_root)"),
    "joints_3d_vis": ((_CACHE_JOINTS, 3), "visibility"),
    "joints_3d_cam": ((_CACHE_JOINTS, 3), "camera mm"),
    "fl": ((2,), "fx fy"),
    "c_p": ((2,), "cx cy"),
}


def _load_authors_cache(path, image_dir, keep):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"H36M cache {path!r} does not exist.")
    with open(path, "rb") as f:
        try:
            db = cameras_lib.load_numpy_pickle(f, encoding="latin1")  # latin1: Python 2 / NumPy 1.x pickles
        except Exception as e:  # a forbidden global, a truncated or corrupt stream: all "not a cache"
            raise ValueError(
                f"H36M cache {path!r} could not be read as a pickle of NumPy arrays and plain values: {e}"
            ) from e
    if not isinstance(db, list):
        raise ValueError(
            f"H36M cache {path!r}: expected a list of dicts (the authors' gt_db), got {type(db).__name__}."
        )

    parsed = []  # (video, file name, ids, frame) per row
    for i, entry in enumerate(db):
        if not isinstance(entry, dict) or not isinstance(entry.get("image"), str):
            raise ValueError(f"H36M cache {path!r}, row {i}: expected a dict with an 'image' path string.")
        # The path is absolute on the authors' machine: keep <video>/<file>, whatever the separator.
        parts = re.split(r"[\\/]", entry["image"])
        video, name = parts[-2:] if len(parts) > 1 else ("", parts[0])
        match = re.fullmatch(re.escape(video) + r"_(\d+)\.jpg", name) if video else None
        if match is None:
            raise ValueError(
                f"H36M cache {path!r}, row {i}: image {entry['image']!r} does not end in "
                "'<video>/<video>_<frame>.jpg'."
            )
        ids = _parse_video_name(video, f"H36M cache {path!r}, row {i}")
        parsed.append((video, name, ids, int(match.group(1))))
    rows = np.flatnonzero(keep([f"S{p[2]['subject']}" for p in parsed], [p[3] for p in parsed]))

    for video in sorted({parsed[i][0] for i in rows}):
        _check_video_images(image_dir, video)
    cameras = {}  # (fl, c_p) -> camera: shared by the records of one video
    records = []
    for i in rows:
        video, name, ids, frame = parsed[i]
        fields = _cache_fields(db[i], f"H36M cache {path!r}, row {i}")
        intrinsics = (*fields["fl"], *fields["c_p"])
        camera = cameras.get(intrinsics)
        if camera is None:
            camera = cameras[intrinsics] = _frozen_camera(
                R=np.eye(3), T=np.zeros(3), f=fields["fl"], c=fields["c_p"], k=np.zeros(3), p=np.zeros(2)
            )
        size = np.array([fields["width"], fields["height"]]) / CROP_MARGIN
        centre = np.array([fields["center_x"], fields["center_y"]])
        records.append(
            PoseRecord(
                image_path=os.path.join(image_dir, video, name),
                box=np.concatenate([centre - size / 2, size]),
                keypoints=fields["joints_3d"][:NUM_JOINTS],
                weights=fields["joints_3d_vis"][:NUM_JOINTS] > 0,
                skeleton="h36m",
                image_id=int(i),
                joints_cam_mm=fields["joints_3d_cam"][:NUM_JOINTS],
                camera=camera,
                meta=_authors_meta(ids, frame, video),
            )
        )
    return records


def _cache_fields(entry, where):
    fields = {}
    for key, (shape, what) in _CACHE_FIELDS.items():
        if key not in entry:
            raise ValueError(f"{where}: missing key {key!r} ({what}, shape {shape}).")
        try:
            value = np.asarray(entry[key], np.float64)
        except (TypeError, ValueError):
            value = None
        if value is None or value.shape != shape or not np.all(np.isfinite(value)):
            got = "not numbers" if value is None else f"shape {value.shape}" + (
                "" if value.shape != shape else " with non-finite values"
            )
            raise ValueError(f"{where}: {key!r} must be finite numbers of shape {shape} ({what}), got {got}.")
        fields[key] = value
    if not (fields["width"] > 0 and fields["height"] > 0):
        raise ValueError(f"{where}: box width and height must be > 0, got {fields['width']}, {fields['height']}.")
    return fields


# === Shared ===


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
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:  # truncated or corrupt
        raise ValueError(
            f"H36M file {path!r} could not be read as an .npz of plain arrays ({type(e).__name__}: {e}); "
            "is it complete?"
        ) from e
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
