"""Procedural synthetic people, written as COCO and Human3.6M files.

Each image holds one articulated body on the Human3.6M-17 skeleton plus face
points (nose, eyes, ears, for COCO-17), posed within anatomical limits, seen
by a pinhole camera with Human3.6M lens distortion and drawn with OpenCV:
limbs as shaded tapered capsules painted back to front by depth, torso and
head as projected convex hulls, a small disc at every keypoint. Around the
person, by difficulty level (`LEVELS`): "hard" adds background clutter
(shapes, lines), distractors (limb-like capsules, dots like the joint discs),
occluders in front of the person, blur and noise; "medium" the clutter, fewer
occluders, blur and noise but no distractors; "easy" a smooth background and
nothing else. Image `i` shows the same person at every level. Keypoints are the exact
distorted projections (sub-pixel; OpenCV draws with 1/16 px precision and
pixel centres at integer coordinates, as everywhere in this package).

`generate` writes the same people twice, so the real loaders read them:

```
out_dir/README.md                                     what the set is, seed, version
out_dir/coco/images/<id:012d>.jpg
out_dir/coco/annotations/person_keypoints_{train,val}.json
out_dir/h36m/images/S<k>/S<k>_<Action>.<camera id>/S<k>_<Action>.<camera id>_<frame:06d>.jpg
out_dir/h36m/annotations.npz                          imgname, center, scale, part, S
out_dir/h36m/cameras.json                             "S<k>_<camera id>" -> R, T, f, c, k, p, w, h, name, id
```

The H36M image is a hard link to the COCO image (a copy where the file system
has no hard links). Image `i` goes to subject `SUBJECTS[i % 7]`, so the
protocols split it as Human3.6M: protocol 1 tests on S11 (1/7 of the images),
protocol 2 on S9 and S11 (2/7). Every (subject, camera id) pair has one fixed
random camera, as in Human3.6M. Frames of each sequence are numbered
`1, 65, 129, ...`, exactly the frames that the every-64th-frame test
sub-sampling keeps (`h36m.load_records(..., test_stride=64)` keeps all).

Visibility (COCO `v`): 0 = the keypoint's pixel is outside the image (then
`x = y = 0`); 1 = something nearer than the keypoint's own surface was drawn
at its pixel (another body part, an occluder) or it is a face point turned
away from the camera; 2 = visible. The H36M `part` always has confidence 1
(it is the motion-capture convention: every joint is known).

Example:

>>> summary = generate("/tmp/synth", num=8, seed=0, image_size=(96, 96),
...                    verbose=0)                                  # doctest: +SKIP
>>> sorted(summary)                                                # doctest: +SKIP
['coco_images', 'coco_train', 'coco_val', 'h36m_annotations', ...]
"""

import dataclasses
import os
import zipfile
from pathlib import Path

import cv2
import numpy as np

from keras_integral import skeletons
from keras_integral.data.cameras import project_points
from keras_integral.files import write_json

GENERATOR_VERSION = "1"
SUBJECTS = ("S1", "S5", "S6", "S7", "S8", "S9", "S11")
CAMERA_IDS = ("54138969", "55011271", "58860488", "60457274")
# Pose families, named after the Human3.6M actions they resemble, and how often each is drawn.
ACTIONS = ("Directions", "Walking", "Sitting", "SittingDown", "Greeting", "Posing")
ACTION_WEIGHTS = (0.2, 0.2, 0.1, 0.1, 0.1, 0.3)
FRAME_STEP = 64
HEIGHT_RANGE_M = (1.5, 1.95)
DISTANCE_RANGE_M = (3.0, 6.0)

_H36M = skeletons.get("h36m")
_COCO = skeletons.get("coco")
# The rendered keypoints: the 17 H36M joints, then the face points COCO adds.
# H36M joint 9 (`neck_base`, Human3.6M's "Neck/Nose") is the nose tip, the
# point `skeletons.joint_mapping("coco", "h36m")` reads from COCO's nose.
KEYPOINT_NAMES = _H36M.joint_names + ("left_eye", "right_eye", "left_ear", "right_ear")
_COCO_RENAMED = {"nose": "neck_base", "left_ankle": "left_foot", "right_ankle": "right_foot"}
COCO_FROM_KEYPOINTS = tuple(KEYPOINT_NAMES.index(_COCO_RENAMED.get(n, n)) for n in _COCO.joint_names)
_FACE_POINTS = ("neck_base", "left_eye", "right_eye", "left_ear", "right_ear")

# Segment lengths as fractions of stature, roughly after Drillis & Contini's
# proportions (Winter, "Biomechanics and Motor Control of Human Movement"),
# moved to joint centres; each person scales each one by up to +-8%.
BONE_FRACTIONS = {
    "shin": 0.246,  # knee -> ankle (H36M "foot")
    "thigh": 0.245,  # hip -> knee
    "hip_half_width": 0.075,  # root -> hip joint
    "lumbar": 0.14,  # root -> spine
    "chest": 0.16,  # spine -> thorax (sternal notch, 0.83 of stature)
    "shoulder_half_width": 0.09,
    "upper_arm": 0.172,
    "forearm": 0.146,
    "hand": 0.085,
    "foot": 0.13,
}
# Head geometry in the head frame (x right, y forward, z up), fractions of stature.
_HEAD_CENTRE = (0.0, -0.005, 0.105)  # from the thorax; the crown ends at 1.0 of stature
_HEAD_RADII = (0.047, 0.058, 0.066)
_FACE_OFFSETS = {  # from the head centre
    "neck_base": (0.0, 0.066, -0.018),
    "right_eye": (0.017, 0.05, 0.0),
    "left_eye": (-0.017, 0.05, 0.0),
    "right_ear": (0.047, -0.005, -0.002),
    "left_ear": (-0.047, -0.005, -0.002),
    "head": (0.0, 0.0, 0.045),
}
# Where each face point's surface faces (head frame) and the least cosine with
# the direction to the camera for it to count as visible: the nose and ears
# stay visible a little past the profile view, as COCO labels them.
_FACE_NORMALS = {
    "neck_base": ((0.0, 1.0, 0.0), -0.2),
    "right_eye": ((0.35, 1.0, 0.0), 0.1),
    "left_eye": ((-0.35, 1.0, 0.0), 0.1),
    "right_ear": ((1.0, 0.0, 0.0), -0.35),
    "left_ear": ((-1.0, 0.0, 0.0), -0.35),
}
# Capsule radii (start, end) as fractions of stature, times the person's build.
_LIMB_RADII = {
    "thigh": (0.05, 0.036),
    "shin": (0.034, 0.024),
    "foot": (0.022, 0.016),
    "upper_arm": (0.03, 0.024),
    "forearm": (0.024, 0.018),
    "hand": (0.019, 0.013),
    "neck": (0.028, 0.028),
}
# Depth of each keypoint's visible surface in front of the point (fraction of
# stature): the keypoint is hidden when something nearer than that is drawn.
_SURFACE_DEPTH = {
    "root": 0.065, "spine": 0.06, "thorax": 0.055, "head": 0.045,
    "hip": 0.05, "knee": 0.036, "foot": 0.024, "shoulder": 0.03, "elbow": 0.024, "wrist": 0.018,
}
_LIMB_PIECES = 3  # per limb, each with its own depth, so a limb can pass in front of itself

# Joint angles in degrees: the anatomical limits, and narrower ranges per pose family.
# Flexion moves a limb forward (knee: the shin backward), abduction outward,
# rotation is internal rotation; spine and neck flexion bend forward.
_LIMITS = {
    "pitch": (-10, 10), "roll": (-8, 8),
    "lumbar_flex": (-15, 45), "lumbar_lat": (-15, 15), "lumbar_twist": (-20, 20),
    "chest_flex": (-10, 25), "chest_lat": (-10, 10), "chest_twist": (-20, 20),
    "neck_flex": (-35, 45), "neck_lat": (-25, 25), "neck_twist": (-60, 60),
    "hip_flex": (-20, 110), "hip_abd": (-10, 45), "hip_rot": (-30, 40),
    "knee_flex": (0, 140), "ankle_flex": (-20, 35),
    "shoulder_flex": (-40, 160), "shoulder_abd": (-10, 150), "shoulder_rot": (-60, 80),
    "elbow_flex": (0, 145), "wrist_flex": (-50, 50),
}
_STANDING = {"hip_flex": (-8, 20), "hip_abd": (-3, 15), "knee_flex": (0, 25), "lumbar_flex": (-8, 15), "pitch": (-5, 5)}
_FAMILIES = {
    "Directions": {**_STANDING, "shoulder_flex": (-20, 110), "shoulder_abd": (0, 70), "elbow_flex": (0, 100)},
    "Walking": {**_STANDING, "elbow_flex": (5, 50), "shoulder_abd": (0, 15)},
    "Sitting": {
        "hip_flex": (70, 105), "hip_abd": (0, 25), "knee_flex": (60, 110), "lumbar_flex": (-5, 25),
        "shoulder_flex": (-10, 60), "shoulder_abd": (0, 30), "elbow_flex": (20, 110),
    },
    "SittingDown": {
        "hip_flex": (80, 110), "hip_abd": (5, 40), "knee_flex": (100, 140), "lumbar_flex": (10, 45),
        "ankle_flex": (10, 35), "shoulder_flex": (0, 90), "elbow_flex": (10, 120),
    },
    "Greeting": {**_STANDING, "shoulder_flex": (-20, 40), "shoulder_abd": (0, 30), "elbow_flex": (0, 60)},
    "Posing": {},
}
_SIDES = (("right", 1.0), ("left", -1.0))  # body frame: x right, y forward, z up
_PER_SIDE = ("hip_flex", "hip_abd", "hip_rot", "knee_flex", "ankle_flex",
             "shoulder_flex", "shoulder_abd", "shoulder_rot", "elbow_flex", "wrist_flex")

# Skin tones (RGB); clothes and the rest are random colours.
_SKIN = ((255, 219, 172), (241, 194, 125), (224, 172, 105), (198, 134, 66), (141, 85, 36), (92, 58, 34))
_BACKGROUND_KEY = np.inf
_SHIFT = 4  # OpenCV fixed-point bits: coordinates drawn to 1/16 px
_SCALE = 1 << _SHIFT


@dataclasses.dataclass(frozen=True)
class Difficulty:
    """What a scene holds besides the person: one row of `LEVELS`.

    Args:
        clutter: background shapes (rectangles, ellipses, lines, polygons)
            over the smooth gradient.
        distractors: look-alikes in the background: limb-like capsules
            (half of them skin-coloured) and dots the size of the joint markers.
        occluder_probability: share of images with one or two occluders in
            front of the person.
        blur: Gaussian blur (sigma 0.3-1.2 px) in 40 % of the images.
        noise: additive Gaussian noise (sigma up to 8 levels).
    """

    clutter: bool
    distractors: bool
    occluder_probability: float
    blur: bool
    noise: bool


# Every level draws the same random numbers and leaves things out, so image i
# shows the same person, pose, camera and background colours at every level.
LEVELS = {
    "easy": Difficulty(clutter=False, distractors=False, occluder_probability=0.0, blur=False, noise=False),
    "medium": Difficulty(clutter=True, distractors=False, occluder_probability=0.2, blur=True, noise=True),
    "hard": Difficulty(clutter=True, distractors=True, occluder_probability=0.45, blur=True, noise=True),
}


def _difficulty(level):
    if level not in LEVELS:
        raise ValueError(f"level must be one of {tuple(LEVELS)}, got {level!r}.")
    return LEVELS[level]


def _fibonacci_sphere(n):
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    phi = np.pi * (1 + 5**0.5) * i
    r = np.sqrt(1 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


_SPHERE = _fibonacci_sphere(48)
_RING = np.stack([np.cos(np.linspace(0, 2 * np.pi, 12, endpoint=False)),
                  np.sin(np.linspace(0, 2 * np.pi, 12, endpoint=False))], axis=1)


@dataclasses.dataclass
class Scene:
    """Everything needed to draw one image; `render_scene` is a pure function of it.

    Args:
        image_size: `(height, width)` in pixels.
        camera: dict with `R` `(3, 3)` camera-to-world rotation, `T` `(3,)`
            camera centre (world metres), `f` `(2,)`, `c` `(2,)` pixels, `k`
            `(3,)`, `p` `(2,)` distortion (Human3.6M convention), `w`, `h`,
            `name`, `id`.
        points: name -> `(3,)` camera-space point in metres: the names of
            `KEYPOINT_NAMES` plus the drawing-only points `head_centre`,
            `head_base`, `{left,right}_toe`, `{left,right}_hand`.
        frames: name -> `(3, 3)` camera-space rotation of a body segment
            (columns: its right, forward, up axes): `pelvis`, `lumbar`,
            `chest`, `head`.
        height_m: stature in metres.
        build: limb-thickness factor (about 0.85 to 1.25).
        colours: part -> RGB triple (`skin`, `hair`, `shirt`, `stripe`,
            `sleeve`, `pants`, `shin`, `shoes`, `marker`).
        occluders: list of `((n, 2) pixel polygon, RGB)` drawn in front of
            everything.
        style_seed: seeds background, lighting and texture.
        blur_sigma: Gaussian blur in pixels (0 = none).
        noise_sigma: additive Gaussian noise, in 8-bit levels.
        level: name in `LEVELS`; its `clutter` and `distractors` decide
            what the background shows (occluders, blur and noise are above).
    """

    image_size: tuple
    camera: dict
    points: dict
    frames: dict
    height_m: float
    build: float
    colours: dict
    occluders: list
    style_seed: int
    blur_sigma: float
    noise_sigma: float
    level: str = "hard"


def make_cameras(seed, image_size):
    """Draws one camera per (subject, camera id), placed like Human3.6M's four.

    Cameras stand on a circle of radius 4 to 5.5 m around the capture area,
    one per quadrant, 0.5 to 3 m high, aimed at its centre (elevation about
    -5 to 25 degrees), focal length 1.5 to 1.9 image sizes, principal point
    near the image centre, distortion `k1` in [-0.25, 0.05], `k2` in
    [-0.05, 0.25], `|k3| <= 0.01`, `|p| <= 0.002` (monotonic over the view).

    Args:
        seed: int, the data set seed.
        image_size: `(height, width)` in pixels.

    Returns:
        dict `"S1_54138969"` -> camera dict as in `Scene.camera`.

    Example:

    >>> cameras = make_cameras(0, (256, 256))
    >>> sorted(cameras)[:2], cameras["S1_54138969"]["f"].shape
    (['S11_54138969', 'S11_55011271'], (2,))
    """
    rng = np.random.default_rng([seed, 0])
    height, width = image_size
    cameras = {}
    for subject in SUBJECTS:
        for index, camera_id in enumerate(CAMERA_IDS):
            azimuth = np.radians(45 + 90 * index + rng.uniform(-15, 15))
            radius, cam_height = rng.uniform(4.0, 5.5), rng.uniform(0.5, 3.0)
            centre = np.array([radius * np.cos(azimuth), radius * np.sin(azimuth), cam_height])
            target = np.array([rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3), rng.uniform(0.7, 1.1)])
            forward = (target - centre) / np.linalg.norm(target - centre)
            right = np.cross(forward, [0.0, 0.0, 1.0])
            right /= np.linalg.norm(right)
            down = np.cross(forward, right)
            roll = np.radians(rng.uniform(-3, 3))
            right, down = np.cos(roll) * right + np.sin(roll) * down, np.cos(roll) * down - np.sin(roll) * right
            focal = rng.uniform(1.5, 1.9) * max(height, width)
            cameras[f"{subject}_{camera_id}"] = {
                "R": np.stack([right, down, forward], axis=1),
                "T": centre,
                "f": np.array([focal, focal * (1 + rng.uniform(-0.005, 0.005))]),
                "c": np.array([(width - 1) / 2 + rng.uniform(-0.02, 0.02) * width,
                               (height - 1) / 2 + rng.uniform(-0.02, 0.02) * height]),
                "k": np.array([rng.uniform(-0.25, 0.05), rng.uniform(-0.05, 0.25), rng.uniform(-0.01, 0.01)]),
                "p": rng.uniform(-0.002, 0.002, size=2),
                "w": int(width),
                "h": int(height),
                "name": f"camera{index + 1}",
                "id": camera_id,
            }
    return cameras


def sample_scene(rng, camera, action="Posing", level="hard"):
    """Draws a person (shape, pose, placement, clothes) and occluders for `camera`.

    The person is 1.5 to 1.95 m tall with per-bone variation, posed within
    anatomical limits (knees and elbows bend one way), any yaw, small pitch
    and roll, its root 3 to 6 m in front of the camera, and framed so that
    it mostly fits the image (about one image in seven cuts it off).

    Args:
        rng: `np.random.Generator`.
        camera: camera dict as from `make_cameras` (`w`, `h` give the size).
        action: pose family, one of `ACTIONS`.
        level: scene difficulty, a name in `LEVELS` (occluders, blur, noise,
            background clutter). The same `rng` state gives the same person
            at every level.

    Returns:
        a `Scene`.

    Example:

    >>> camera = make_cameras(0, (128, 128))["S1_54138969"]
    >>> scene = sample_scene(np.random.default_rng(0), camera, "Walking")
    >>> scene.points["root"].shape
    (3,)
    """
    if action not in _FAMILIES:
        raise ValueError(f"action must be one of {ACTIONS}, got {action!r}.")
    difficulty = _difficulty(level)
    image_size = (int(camera["h"]), int(camera["w"]))
    height_m = rng.uniform(*HEIGHT_RANGE_M)
    lengths = {
        name: fraction * height_m * (1 + np.clip(rng.normal(0, 0.035), -0.08, 0.08))
        for name, fraction in BONE_FRACTIONS.items()
    }
    points, frames = _pose_body(height_m, lengths, _sample_angles(rng, action))
    # World (z up) -> camera orientation; row vectors: R.T @ v = v @ R.
    R = np.asarray(camera["R"])
    names = list(points)
    offsets = np.stack([points[n] for n in names]) @ R
    root = _place(rng, offsets, camera, image_size)
    points = {n: root + o for n, o in zip(names, offsets)}
    frames = {n: R.T @ m for n, m in frames.items()}
    skin = np.clip(np.array(_SKIN[rng.integers(len(_SKIN))]) + rng.integers(-15, 16, 3), 0, 255)
    shirt, pants = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    colours = {
        "skin": skin, "hair": rng.integers(0, 120, 3), "shirt": shirt,
        "stripe": rng.integers(0, 256, 3) if rng.random() < 0.4 else shirt,
        "sleeve": shirt if rng.random() < 0.6 else skin,
        "pants": pants, "shin": pants if rng.random() < 0.75 else skin,
        "shoes": rng.integers(0, 256, 3), "marker": rng.integers(0, 256, 3),
    }
    build, style_seed = rng.uniform(0.85, 1.25), int(rng.integers(2**31))
    blur_sigma = rng.uniform(0.3, 1.2) if rng.random() < 0.4 else 0.0
    noise_sigma = rng.uniform(0.0, 8.0)
    scene = Scene(
        image_size=image_size, camera=camera, points=points, frames=frames, height_m=height_m,
        build=build, colours=colours, occluders=[], style_seed=style_seed,
        blur_sigma=blur_sigma if difficulty.blur else 0.0, noise_sigma=noise_sigma if difficulty.noise else 0.0,
        level=level,
    )
    if rng.random() < difficulty.occluder_probability:
        keypoints = project_points(np.stack([points[n] for n in KEYPOINT_NAMES]), camera)
        scene.occluders = [_random_occluder(rng, keypoints, image_size) for _ in range(1 + (rng.random() < 0.3))]
    return scene


def render_scene(scene):
    """Draws a `Scene` and measures where each keypoint lands and whether it is seen.

    Args:
        scene: a `Scene`.

    Returns:
        dict with `image` `(height, width, 3)` uint8 RGB; `keypoints`
        `(21, 2)` float64 distorted projections `(x, y)` in pixels, in the
        order of `KEYPOINT_NAMES`; `visibility` `(21,)` int: 0 outside the
        image, 1 occluded, 2 visible; `person_mask` `(height, width)` bool:
        pixels where the person is seen (not covered by an occluder).

    Example:

    >>> camera = make_cameras(0, (96, 96))["S1_54138969"]
    >>> out = render_scene(sample_scene(np.random.default_rng(0), camera))
    >>> out["image"].shape, out["keypoints"].shape
    ((96, 96, 3), (21, 2))
    """
    height, width = scene.image_size
    style = np.random.default_rng(scene.style_seed)
    image = _background(style, height, width, _difficulty(scene.level))
    ids = np.full((height, width), -1, np.int32)  # which primitive was drawn last, per pixel
    light = style.normal(size=2)
    light /= np.linalg.norm(light)
    canvas = _Canvas(image, ids, light)

    primitives, markers = _body_primitives(scene, style)
    # Painter's algorithm: farthest first; a keypoint's disc right after the body parts it sits on.
    order = sorted(range(len(primitives)), key=lambda i: -primitives[i][0])
    keys = np.array([primitives[i][0] for i in order] + [-np.inf] * len(scene.occluders))
    for new_id, i in enumerate(order):
        primitives[i][1](canvas, new_id)
    body_count = len(order)
    for n, (polygon, colour) in enumerate(scene.occluders):
        canvas.polygon(np.asarray(polygon), colour, body_count + n, shade=style.uniform(0.6, 0.9))

    keypoints = project_points(np.stack([scene.points[n] for n in KEYPOINT_NAMES]), scene.camera)
    visibility = np.zeros(len(KEYPOINT_NAMES), np.int64)
    for j, (x, y) in enumerate(keypoints):
        col, row = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
        if not (0 <= col < width and 0 <= row < height):
            continue
        drawn = ids[row, col]
        drawn_key = keys[drawn] if drawn >= 0 else _BACKGROUND_KEY
        visible = markers[j] is not None and drawn_key >= markers[j]
        visibility[j] = 2 if visible else 1

    if scene.blur_sigma > 0:
        image = cv2.GaussianBlur(image, (0, 0), scene.blur_sigma)
    if scene.noise_sigma > 0:
        noise = style.standard_normal((height, width, 3), dtype=np.float32) * np.float32(scene.noise_sigma)
        image = np.clip(np.rint(image + noise), 0, 255)
    return {
        "image": image.astype(np.uint8),
        "keypoints": keypoints,
        "visibility": visibility,
        "person_mask": (ids >= 0) & (ids < body_count),
    }


def generate(out_dir, num, seed=0, image_size=(256, 256), val_fraction=0.1, jpeg_quality=90, level="hard",
             verbose=1):
    """Renders `num` synthetic people and writes them in COCO and Human3.6M layouts.

    Deterministic: the same `seed` (and arguments) gives byte-identical files;
    image `i` depends only on `seed`, `i`, `image_size` and `level`, not on
    `num`; at every level it shows the same person (`LEVELS`).
    Files of an earlier run in `out_dir` are overwritten, not deleted. The
    layout is in the module docstring; the last `round(num * val_fraction)`
    images (at least one when `val_fraction > 0` and `num > 1`) form the COCO
    `val` split.

    Args:
        out_dir: output folder (created).
        num: number of images (one person each).
        seed: non-negative int.
        image_size: `(height, width)` in pixels, each at least 32.
        val_fraction: share of images in `person_keypoints_val.json`, in [0, 1).
        jpeg_quality: JPEG quality, 1 to 100.
        level: scene difficulty, a name in `LEVELS`: `"easy"` (smooth
            background, no occluders, look-alikes, blur or noise),
            `"medium"` (clutter without look-alikes, fewer occluders) or
            `"hard"` (everything).
        verbose: 1 shows a `keras.utils.Progbar`, 0 is silent.

    Returns:
        dict of the paths written (`readme`, `coco_images`, `coco_train`,
        `coco_val`, `h36m_images`, `h36m_annotations`, `h36m_cameras`) and
        `num_images`.

    Example:

    >>> summary = generate("out/synth", num=1000, seed=0)    # doctest: +SKIP
    >>> summary["coco_train"]                                # doctest: +SKIP
    PosixPath('out/synth/coco/annotations/person_keypoints_train.json')
    """
    num, seed, image_size = _check_arguments(num, seed, image_size, val_fraction, jpeg_quality, level)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"out_dir {os.fspath(out_dir)!r} exists and is not a folder.")
    paths = {
        "readme": out_dir / "README.md",
        "coco_images": out_dir / "coco" / "images",
        "coco_train": out_dir / "coco" / "annotations" / "person_keypoints_train.json",
        "coco_val": out_dir / "coco" / "annotations" / "person_keypoints_val.json",
        "h36m_images": out_dir / "h36m" / "images",
        "h36m_annotations": out_dir / "h36m" / "annotations.npz",
        "h36m_cameras": out_dir / "h36m" / "cameras.json",
    }
    paths["coco_images"].mkdir(parents=True, exist_ok=True)
    paths["coco_train"].parent.mkdir(parents=True, exist_ok=True)
    paths["h36m_images"].mkdir(parents=True, exist_ok=True)

    cameras = make_cameras(seed, image_size)
    num_val = 0 if val_fraction == 0 or num < 2 else min(num - 1, max(1, round(num * val_fraction)))
    progbar = None
    if verbose:
        import keras  # only here: the renderer itself does not need TensorFlow started

        progbar = keras.utils.Progbar(num, unit_name="image")
    coco_images, coco_annotations, h36m_rows = [], [], []
    frame_counts = {}
    for i in range(num):
        rng = np.random.default_rng([seed, 1, i])
        subject = SUBJECTS[i % len(SUBJECTS)]
        camera_id = CAMERA_IDS[rng.integers(len(CAMERA_IDS))]
        action = ACTIONS[rng.choice(len(ACTIONS), p=ACTION_WEIGHTS)]
        scene = sample_scene(rng, cameras[f"{subject}_{camera_id}"], action, level)
        rendered = render_scene(scene)

        image_id = i + 1
        file_name = f"{image_id:012d}.jpg"
        ok, encoded = cv2.imencode(
            ".jpg", cv2.cvtColor(rendered["image"], cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]
        )
        if not ok:
            raise RuntimeError(f"OpenCV could not encode image {image_id} as JPEG.")
        coco_path = paths["coco_images"] / file_name
        coco_path.write_bytes(encoded.tobytes())

        sequence = f"{subject}_{action}.{camera_id}"
        count = frame_counts.get(sequence, 0)
        frame_counts[sequence] = count + 1
        imgname = f"{subject}/{sequence}/{sequence}_{1 + FRAME_STEP * count:06d}.jpg"
        _link_or_copy(coco_path, paths["h36m_images"] / imgname)

        coco_images.append({"id": image_id, "file_name": file_name, "width": image_size[1],
                            "height": image_size[0], "license": 1})
        coco_annotations.append(_coco_annotation(image_id, rendered, image_size))
        h36m_rows.append(_h36m_row(imgname, scene, rendered))
        if progbar is not None:
            progbar.update(i + 1)

    split = num - num_val
    write_json(paths["coco_train"], _coco_file(coco_images[:split], coco_annotations[:split], seed, level))
    write_json(paths["coco_val"], _coco_file(coco_images[split:], coco_annotations[split:], seed, level))
    _write_npz(paths["h36m_annotations"], {
        "imgname": np.array([row[0] for row in h36m_rows], dtype=str),
        "center": np.array([row[1] for row in h36m_rows], np.float64).reshape(-1, 2),
        "scale": np.array([row[2] for row in h36m_rows], np.float64),
        "part": np.array([row[3] for row in h36m_rows], np.float64).reshape(-1, 17, 3),
        "S": np.array([row[4] for row in h36m_rows], np.float64).reshape(-1, 17, 4),
    })
    write_json(paths["h36m_cameras"], {key: _camera_json(camera) for key, camera in cameras.items()})
    paths["readme"].write_text(_readme(num, num_val, seed, image_size, val_fraction, jpeg_quality, level),
                               encoding="utf-8")
    return {**paths, "num_images": num}


def _check_arguments(num, seed, image_size, val_fraction, jpeg_quality, level):
    def is_int(value):
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool)

    if not is_int(num) or num < 1:
        raise ValueError(f"generate: num must be a positive integer, got {num!r}.")
    if not is_int(seed) or seed < 0:
        raise ValueError(f"generate: seed must be a non-negative integer, got {seed!r}.")
    if (not isinstance(image_size, (tuple, list)) or len(image_size) != 2
            or not all(is_int(s) and s >= 32 for s in image_size)):
        raise ValueError(f"generate: image_size must be (height, width), two integers >= 32, got {image_size!r}.")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"generate: val_fraction must be in [0, 1), got {val_fraction!r}.")
    if not is_int(jpeg_quality) or not 1 <= jpeg_quality <= 100:
        raise ValueError(f"generate: jpeg_quality must be an integer in [1, 100], got {jpeg_quality!r}.")
    if not isinstance(level, str) or level not in LEVELS:
        raise ValueError(f"generate: level must be one of {tuple(LEVELS)}, got {level!r}.")
    return int(num), int(seed), (int(image_size[0]), int(image_size[1]))


# --- the body -------------------------------------------------------------------------------


def _rx(degrees):
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])


def _ry(degrees):
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return np.array([[c, 0, s], [0, 1.0, 0], [-s, 0, c]])


def _rz(degrees):
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def _sample_angles(rng, action):
    """Joint angles (degrees) of one pose of the family `action`."""
    ranges = {**_LIMITS, **_FAMILIES[action]}
    angles = {"yaw": rng.uniform(0, 360)}
    for name, (low, high) in ranges.items():
        if name in _PER_SIDE:
            for side, _ in _SIDES:
                angles[f"{side}_{name}"] = rng.uniform(low, high)
        else:
            angles[name] = rng.uniform(low, high)
    if action == "Walking":  # a gait phase: legs swing in opposition, arms against the legs
        swing, phase = rng.uniform(15, 35), rng.uniform(0, 2 * np.pi)
        for side, sign in _SIDES:
            s = sign * np.sin(phase)
            angles[f"{side}_hip_flex"] = 5 + swing * s + rng.normal(0, 3)
            angles[f"{side}_knee_flex"] = 10 + 40 * max(0.0, -s) + rng.uniform(0, 10)
            angles[f"{side}_shoulder_flex"] = -0.8 * swing * s + rng.normal(0, 5)
    elif action == "Greeting":  # one arm raised, elbow bent
        side = _SIDES[rng.integers(2)][0]
        angles[f"{side}_shoulder_flex"] = rng.uniform(60, 160)
        angles[f"{side}_shoulder_abd"] = rng.uniform(0, 90)
        angles[f"{side}_elbow_flex"] = rng.uniform(20, 130)
    for side, _ in _SIDES:
        # A raised arm cannot also swing far sideways without passing through the head.
        flex = angles[f"{side}_shoulder_flex"]
        angles[f"{side}_shoulder_abd"] = min(angles[f"{side}_shoulder_abd"], max(20.0, 170.0 - flex))
    return angles


def _pose_body(height_m, lengths, angles):
    """Forward kinematics: world-oriented points (root at 0) and segment frames."""
    H = height_m
    pelvis = _rz(angles["yaw"]) @ _rx(angles["pitch"]) @ _ry(angles["roll"])
    lumbar = pelvis @ _rx(-angles["lumbar_flex"]) @ _ry(angles["lumbar_lat"]) @ _rz(angles["lumbar_twist"])
    chest = lumbar @ _rx(-angles["chest_flex"]) @ _ry(angles["chest_lat"]) @ _rz(angles["chest_twist"])
    head = chest @ _rx(-angles["neck_flex"]) @ _ry(angles["neck_lat"]) @ _rz(angles["neck_twist"])
    p = {"root": np.zeros(3)}
    p["spine"] = lumbar @ [0, 0, lengths["lumbar"]]
    p["thorax"] = p["spine"] + chest @ [0, 0, lengths["chest"]]
    p["head_centre"] = p["thorax"] + head @ (np.array(_HEAD_CENTRE) * H)
    p["head_base"] = p["head_centre"] + head @ (np.array([0.0, -0.01, -0.045]) * H)
    for name, offset in _FACE_OFFSETS.items():
        p[name] = p["head_centre"] + head @ (np.array(offset) * H)
    for side, sign in _SIDES:
        a = {name: angles[f"{side}_{name}"] for name in _PER_SIDE}
        # Mirror abduction and rotation so equal angles mean the same motion on both sides.
        thigh = pelvis @ _rx(a["hip_flex"]) @ _ry(-sign * a["hip_abd"]) @ _rz(sign * a["hip_rot"])
        shin = thigh @ _rx(-a["knee_flex"])
        foot = shin @ _rx(a["ankle_flex"])
        p[f"{side}_hip"] = pelvis @ [sign * lengths["hip_half_width"], 0, 0]
        p[f"{side}_knee"] = p[f"{side}_hip"] + thigh @ [0, 0, -lengths["thigh"]]
        p[f"{side}_foot"] = p[f"{side}_knee"] + shin @ [0, 0, -lengths["shin"]]
        p[f"{side}_toe"] = p[f"{side}_foot"] + foot @ [0, lengths["foot"], -0.25 * lengths["foot"]]
        upper = chest @ _rx(a["shoulder_flex"]) @ _ry(-sign * a["shoulder_abd"]) @ _rz(sign * a["shoulder_rot"])
        fore = upper @ _rx(a["elbow_flex"])
        hand = fore @ _rx(a["wrist_flex"])
        p[f"{side}_shoulder"] = p["thorax"] + chest @ [sign * lengths["shoulder_half_width"], -0.01 * H, -0.045 * H]
        p[f"{side}_elbow"] = p[f"{side}_shoulder"] + upper @ [0, 0, -lengths["upper_arm"]]
        p[f"{side}_wrist"] = p[f"{side}_elbow"] + fore @ [0, 0, -lengths["forearm"]]
        p[f"{side}_hand"] = p[f"{side}_wrist"] + hand @ [0, 0, -lengths["hand"]]
    return p, {"pelvis": pelvis, "lumbar": lumbar, "chest": chest, "head": head}


def _place(rng, offsets, camera, image_size):
    """Camera-space root position: depth 3-6 m, the body framed in (or partly out of) the image."""
    height, width = image_size
    f, c = np.asarray(camera["f"]), np.asarray(camera["c"])
    depth = rng.uniform(*DISTANCE_RANGE_M)
    cut_off = rng.random() < 0.15
    root = np.array([0.0, 0.0, depth])
    targets = None
    for _ in range(3):  # shifting sideways changes each point's perspective a little: iterate
        points = root + offsets
        uv = points[:, :2] / points[:, 2:3] * f + c
        low, high = uv.min(axis=0), uv.max(axis=0)
        if targets is None:
            extent = high - low
            slack = extent * (0.2 if cut_off else 0.02)
            lo = np.minimum(extent / 2, [width / 2, height / 2]) - slack
            hi = np.maximum([width - extent[0] / 2, height - extent[1] / 2], [width / 2, height / 2]) + slack
            targets = rng.uniform(lo, hi)
        root[:2] += (targets - (low + high) / 2) / f * depth
    return root


def _random_occluder(rng, keypoints, image_size):
    """A box or a bar in front of the person, usually over one of its keypoints."""
    height, width = image_size
    size = max(np.ptp(keypoints[:, 0]), np.ptp(keypoints[:, 1]), 8.0)
    anchor = keypoints[rng.integers(len(keypoints))] + rng.normal(0, 0.08 * size, 2)
    if rng.random() < 0.5:
        box = ((anchor[0], anchor[1]), tuple(rng.uniform(0.12, 0.35, 2) * size), rng.uniform(-30, 30))
    else:
        length = 2.0 * np.hypot(height, width)
        box = ((anchor[0], anchor[1]), (length, rng.uniform(0.05, 0.12) * size), rng.uniform(0, 180))
    return cv2.boxPoints(box).astype(np.float64), rng.integers(0, 256, 3)


# --- drawing --------------------------------------------------------------------------------


def _fixed(points):
    """Pixel coordinates -> OpenCV fixed-point integers (1/16 px)."""
    return np.round(np.asarray(points) * _SCALE).astype(np.int32)


class _Canvas:
    """Draws shaded shapes into the RGB image and their id into the id buffer."""

    def __init__(self, image, ids, light):
        self.image, self.ids, self.light = image, ids, light

    def capsule(self, p0, p1, r0, r1, colour, id_, caps):
        """A tapered limb piece from `p0` to `p1` (pixels), radii `r0`, `r1` (pixels).

        `caps` = (bool, bool): round off the start / end (the limb's ends, not
        the seams between its pieces, so pieces join without a visible rim).
        """
        axis = p1 - p0
        length = np.linalg.norm(axis)
        normal = np.array([-axis[1], axis[0]]) / length if length > 1e-6 else np.array([1.0, 0.0])
        if normal @ self.light < 0:
            normal = -normal
        colour = np.asarray(colour, np.float64)
        layers = (  # (width factor, offset toward the light, colour): a cylinder lit from one side
            (1.0, 0.0, 0.6 * colour),
            (0.78, 0.12, colour),
            (0.3, 0.4, np.minimum(255, 0.55 * colour + 115)),
        )
        for width, shift, layer_colour in layers:
            quad = np.array([
                p0 + normal * r0 * (shift + width), p1 + normal * r1 * (shift + width),
                p1 + normal * r1 * (shift - width), p0 + normal * r0 * (shift - width),
            ])
            cv2.fillConvexPoly(self.image, _fixed(quad), layer_colour.tolist(), cv2.LINE_AA, _SHIFT)
            for end, radius, cap in zip((p0, p1), (r0, r1), caps):
                if cap:
                    centre = end + normal * radius * shift
                    cv2.circle(self.image, tuple(_fixed(centre)), int(round(radius * width * _SCALE)),
                               layer_colour.tolist(), -1, cv2.LINE_AA, _SHIFT)
        quad = np.array([p0 + normal * r0, p1 + normal * r1, p1 - normal * r1, p0 - normal * r0])
        cv2.fillConvexPoly(self.ids, _fixed(quad), id_, cv2.LINE_8, _SHIFT)
        for end, radius, cap in zip((p0, p1), (r0, r1), caps):
            if cap:
                cv2.circle(self.ids, tuple(_fixed(end)), int(round(radius * _SCALE)), id_, -1, cv2.LINE_8, _SHIFT)

    def polygon(self, points, colour, id_, shade=0.8, stripes=None):
        """A filled convex polygon, darker at the rim; `stripes` = (colour, period px, angle)."""
        colour = np.asarray(colour, np.float64)
        fixed = _fixed(points)
        cv2.fillConvexPoly(self.image, fixed, (shade * colour).tolist(), cv2.LINE_AA, _SHIFT)
        centre = points.mean(axis=0)
        inner = centre + 0.75 * (points - centre) + self.light * 0.05 * np.ptp(points, axis=0).max()
        cv2.fillConvexPoly(self.image, _fixed(inner), colour.tolist(), cv2.LINE_AA, _SHIFT)
        if stripes is not None:
            self._stripes(points, *stripes)
        cv2.fillConvexPoly(self.ids, fixed, id_, cv2.LINE_8, _SHIFT)

    def disc(self, centre, radius, colour, id_):
        fixed_centre, fixed_radius = tuple(_fixed(centre)), int(round(radius * _SCALE))
        cv2.circle(self.image, fixed_centre, fixed_radius, np.asarray(colour, np.float64).tolist(), -1,
                   cv2.LINE_AA, _SHIFT)
        cv2.circle(self.ids, fixed_centre, fixed_radius, id_, -1, cv2.LINE_8, _SHIFT)

    def _stripes(self, points, colour, period, angle):
        height, width = self.ids.shape
        x0, y0 = np.maximum(np.floor(points.min(axis=0)).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(points.max(axis=0)).astype(int) + 1, [width, height])
        if x1 <= x0 or y1 <= y0:
            return
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillConvexPoly(mask, _fixed(points - [x0, y0]), 1, cv2.LINE_8, _SHIFT)
        yy, xx = np.mgrid[y0:y1, x0:x1]
        band = (np.cos(angle) * xx + np.sin(angle) * yy) % period < period / 2
        region = self.image[y0:y1, x0:x1]
        region[(mask > 0) & band] = colour


def _body_primitives(scene, style):
    """Drawing primitives `(depth key, draw(canvas, id))` and each keypoint's marker key.

    A primitive's key is the camera depth (metres) of its axis; a keypoint's
    marker sits on its visible surface, in front of the parts it belongs to.
    Returns the primitives and, per keypoint, the marker key (None for a face
    point turned away from the camera).
    """
    H, build, colours = scene.height_m, scene.build, scene.colours
    pts, frames, camera = scene.points, scene.frames, scene.camera
    names = list(pts)
    uv = dict(zip(names, project_points(np.stack([pts[n] for n in names]), camera)))
    f = float(np.mean(camera["f"]))
    primitives = []
    attached = {name: [] for name in KEYPOINT_NAMES}  # keys of the parts each keypoint sits on

    def pixels(metres, depth):
        return metres * f / depth

    def limb(a, b, kind, colour, joint_a=None, joint_b=None):
        r_a, r_b = (np.array(_LIMB_RADII[kind]) * H * build)
        for piece in range(_LIMB_PIECES):
            t0, t1 = piece / _LIMB_PIECES, (piece + 1) / _LIMB_PIECES
            q0, q1 = pts[a] + t0 * (pts[b] - pts[a]), pts[a] + t1 * (pts[b] - pts[a])
            (u0, u1) = project_points(np.stack([q0, q1]), camera)
            rad0, rad1 = pixels(r_a + t0 * (r_b - r_a), q0[2]), pixels(r_a + t1 * (r_b - r_a), q1[2])
            key = (q0[2] + q1[2]) / 2
            jitter = style.integers(-8, 9, 3)
            piece_colour = np.clip(np.asarray(colour) + jitter, 0, 255)
            caps = (piece == 0, piece == _LIMB_PIECES - 1)
            primitives.append((key, lambda c, i, u0=u0, u1=u1, r0=rad0, r1=rad1, col=piece_colour, caps=caps:
                               c.capsule(u0, u1, max(r0, 0.5), max(r1, 0.5), col, i, caps)))
            if piece == 0 and joint_a:
                attached[joint_a].append(key)
            if piece == _LIMB_PIECES - 1 and joint_b:
                attached[joint_b].append(key)

    for side, _ in _SIDES:
        limb(f"{side}_hip", f"{side}_knee", "thigh", colours["pants"], f"{side}_hip", f"{side}_knee")
        limb(f"{side}_knee", f"{side}_foot", "shin", colours["shin"], f"{side}_knee", f"{side}_foot")
        limb(f"{side}_foot", f"{side}_toe", "foot", colours["shoes"], f"{side}_foot")
        limb(f"{side}_shoulder", f"{side}_elbow", "upper_arm", colours["shirt"], f"{side}_shoulder", f"{side}_elbow")
        limb(f"{side}_elbow", f"{side}_wrist", "forearm", colours["sleeve"], f"{side}_elbow", f"{side}_wrist")
        limb(f"{side}_wrist", f"{side}_hand", "hand", colours["skin"], f"{side}_wrist")
    limb("thorax", "head_base", "neck", colours["skin"], "thorax")

    # Torso: convex hulls of elliptic cross-sections (centre, frame, half width, half depth, height).
    hip_half = float(np.linalg.norm(pts["right_hip"] - pts["root"]))
    shoulder_half = float(np.linalg.norm(pts["right_shoulder"] - pts["thorax"]))
    sections = {
        "pelvis": (("root", "pelvis", hip_half + 0.045 * H, 0.065 * H, 0.0),
                   ("root", "pelvis", hip_half + 0.03 * H, 0.06 * H, -0.05 * H),
                   ("spine", "lumbar", 0.085 * H, 0.06 * H, 0.0)),
        "chest": (("spine", "lumbar", 0.085 * H, 0.06 * H, 0.0),
                  ("thorax", "chest", 0.1 * H, 0.07 * H, -0.08 * H),
                  ("thorax", "chest", shoulder_half + 0.02 * H, 0.055 * H, -0.04 * H),
                  ("thorax", "chest", 0.04 * H, 0.035 * H, 0.01 * H)),
    }
    stripes = None
    if not np.array_equal(colours["stripe"], colours["shirt"]):
        stripes = (np.asarray(colours["stripe"]).tolist(), style.uniform(3, 8), style.uniform(0, np.pi))
    for part, rings in sections.items():
        ring_points = np.concatenate([
            pts[centre] + (np.column_stack([_RING * [a * build, b * build], np.full(len(_RING), dz)])
                           @ frames[frame].T)
            for centre, frame, a, b, dz in rings
        ])
        hull = cv2.convexHull(project_points(ring_points, camera).astype(np.float32))[:, 0].astype(np.float64)
        key = float(ring_points[:, 2].mean())
        colour = colours["shirt"] if part == "chest" else colours["pants"]
        part_stripes = stripes if part == "chest" else None
        primitives.append((key, lambda c, i, hull=hull, col=colour, s=part_stripes: c.polygon(hull, col, i, stripes=s)))
        for joint in ("root", "spine") if part == "pelvis" else ("spine", "thorax"):
            attached[joint].append(key)

    # Head: a hair-coloured ellipsoid with a skin-coloured face on the side the nose points to.
    head_frame, centre = frames["head"], pts["head_centre"]
    surface = centre + (_SPHERE * np.array(_HEAD_RADII) * H) @ head_frame.T
    head_hull = cv2.convexHull(project_points(surface, camera).astype(np.float32))[:, 0].astype(np.float64)
    head_key = float(centre[2])
    primitives.append((head_key, lambda c, i: c.polygon(head_hull, colours["hair"], i, shade=0.7)))
    attached["head"].append(head_key)
    # Unit-sphere directions whose ellipsoid normal is within ~65 degrees of the face direction.
    normals = _SPHERE / np.array(_HEAD_RADII) ** 2
    face_dir = np.array([0.0, 1.0, -0.25]) / np.linalg.norm([0.0, 1.0, -0.25])
    cap = (normals / np.linalg.norm(normals, axis=1, keepdims=True)) @ face_dir > 0.42
    normals_cam = normals @ head_frame.T
    facing = np.einsum("ij,ij->i", normals_cam, surface) < 0  # normal points back toward the camera
    face_points = surface[cap & facing]
    if len(face_points) >= 3:
        face_hull = cv2.convexHull(project_points(face_points, camera).astype(np.float32))[:, 0]
        face_key = head_key - 1e-4
        primitives.append((face_key, lambda c, i: c.polygon(face_hull.astype(np.float64), colours["skin"], i)))
        for name in _FACE_POINTS:
            attached[name].append(face_key)

    # Keypoint markers: small discs on the visible surface, in front of the parts they sit on.
    markers = []
    for name in KEYPOINT_NAMES:
        point = pts[name]
        if name in _FACE_NORMALS:
            normal, least_cosine = _FACE_NORMALS[name]
            normal = head_frame @ (np.array(normal) / np.linalg.norm(normal))
            if normal @ (-point / np.linalg.norm(point)) < least_cosine:
                markers.append(None)
                continue
            surface_depth = 0.002 * H
        else:
            joint = name.split("_", 1)[-1] if name.startswith(("left_", "right_")) else name
            surface_depth = _SURFACE_DEPTH[joint] * build
        key = min([point[2] - surface_depth] + attached[name]) - 1e-4
        radius = max(0.9, pixels(0.009 * H, point[2]) * (0.7 if name in _FACE_NORMALS else 1.0))
        if name.endswith("_ear"):
            ear = max(1.2, pixels(0.014 * H, point[2]))
            primitives.append((key + 5e-5, lambda c, i, p=uv[name], r=ear: c.disc(p, r, colours["skin"], i)))
        primitives.append((key, lambda c, i, p=uv[name], r=radius: c.disc(p, r, colours["marker"], i)))
        markers.append(key)
    return primitives, markers


def _background(rng, height, width, difficulty):
    """A gradient, blotchy texture and, by `difficulty`, clutter (shapes, lines) and distractors.

    Distractors are limb-like capsules and marker-like dots. Shapes a level
    leaves out are still drawn, into a scratch image: the random stream, and
    so everything drawn after the background, is the same at every level.
    """
    c0, c1 = rng.uniform(0, 255, 3).astype(np.float32), rng.uniform(0, 255, 3).astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    t = (np.cos(angle) * np.arange(width)[None, :] + np.sin(angle) * np.arange(height)[:, None])
    t = ((t - t.min()) / max(np.ptp(t), 1e-6)).astype(np.float32)
    image = c0 + (c1 - c0) * t[:, :, None]
    blotches = rng.uniform(-40, 40, (rng.integers(3, 9), rng.integers(3, 9), 3)).astype(np.float32)
    image = np.clip(image + cv2.resize(blotches, (width, height), interpolation=cv2.INTER_CUBIC), 0, 255)
    image = image.astype(np.uint8)
    scratch = np.zeros_like(image)
    size = max(height, width)
    for _ in range(rng.integers(6, 24)):
        colour = rng.integers(0, 256, 3).tolist()
        centre = tuple(_fixed(rng.uniform([0, 0], [width, height])))
        kind = rng.integers(6)
        shown = difficulty.distractors if kind >= 4 else difficulty.clutter
        target = image if shown else scratch
        if kind == 0:
            p0, p1 = rng.uniform(-0.1, 1.1, 2) * [width, height], rng.uniform(-0.1, 1.1, 2) * [width, height]
            cv2.rectangle(target, tuple(_fixed(p0)), tuple(_fixed(p1)), colour, -1, cv2.LINE_AA, _SHIFT)
        elif kind == 1:
            axes = tuple(_fixed(rng.uniform(0.02, 0.25, 2) * size))
            cv2.ellipse(target, centre, axes, rng.uniform(0, 180), 0, 360, colour, -1, cv2.LINE_AA, _SHIFT)
        elif kind == 2:
            p0, p1 = rng.uniform(0, 1, 2) * [width, height], rng.uniform(0, 1, 2) * [width, height]
            cv2.line(target, tuple(_fixed(p0)), tuple(_fixed(p1)), colour, int(rng.integers(1, 6)), cv2.LINE_AA, _SHIFT)
        elif kind == 3:
            polygon = rng.uniform(0, 1, (int(rng.integers(3, 7)), 2)) * [width, height]
            cv2.fillPoly(target, [_fixed(polygon)], colour, cv2.LINE_AA, _SHIFT)
        elif kind == 4:  # a limb-like capsule, possibly skin-coloured
            if rng.random() < 0.5:
                colour = _SKIN[rng.integers(len(_SKIN))]
            p0 = rng.uniform(0, 1, 2) * [width, height]
            p1 = p0 + rng.normal(0, 0.15 * size, 2)
            cv2.line(target, tuple(_fixed(p0)), tuple(_fixed(p1)), list(colour),
                     int(rng.integers(3, max(4, size // 20))), cv2.LINE_AA, _SHIFT)
        else:  # dots the size of the joint markers
            for _ in range(rng.integers(1, 6)):
                dot = rng.uniform(0, 1, 2) * [width, height]
                cv2.circle(target, tuple(_fixed(dot)), int(rng.uniform(0.8, 2.5) * _SCALE), colour, -1,
                           cv2.LINE_AA, _SHIFT)
    return image


# --- writers --------------------------------------------------------------------------------


def _coco_annotation(image_id, rendered, image_size):
    height, width = image_size
    keypoints = rendered["keypoints"][list(COCO_FROM_KEYPOINTS)]
    visibility = rendered["visibility"][list(COCO_FROM_KEYPOINTS)]
    flat = []
    for (x, y), v in zip(keypoints, visibility):
        flat += [round(float(x), 3), round(float(y), 3), int(v)] if v > 0 else [0, 0, 0]
    mask = rendered["person_mask"]
    if mask.any():
        cols, rows = np.flatnonzero(mask.any(axis=0)), np.flatnonzero(mask.any(axis=1))
        low, high = np.array([cols[0], rows[0]], float), np.array([cols[-1], rows[-1]], float)
    else:  # fully hidden (never seen in practice): the keypoints' box
        inside = np.clip(keypoints, 0, [width - 1, height - 1])
        low, high = inside.min(axis=0), inside.max(axis=0)
    margin = 0.03 * (high - low).max() + 1.0
    low = np.maximum(low - margin, 0)
    high = np.minimum(high + margin, [width - 1, height - 1])
    return {
        "id": image_id,
        "image_id": image_id,
        "category_id": 1,
        "iscrowd": 0,
        "bbox": [round(float(v), 2) for v in (low[0], low[1], high[0] - low[0], high[1] - low[1])],
        "area": float(mask.sum()),
        "num_keypoints": int((visibility > 0).sum()),
        "keypoints": flat,
        "segmentation": [],
    }


def _h36m_row(imgname, scene, rendered):
    part_xy = rendered["keypoints"][: _H36M.num_joints]  # KEYPOINT_NAMES starts with the H36M joints
    joints = np.stack([scene.points[name] for name in _H36M.joint_names])
    low, high = part_xy.min(axis=0), part_xy.max(axis=0)
    ones = np.ones((len(joints), 1))
    return (
        imgname,
        (low + high) / 2,
        1.2 * float((high - low).max()) / 200.0,
        np.concatenate([part_xy, ones], axis=1),
        np.concatenate([joints, ones], axis=1),
    )


def _coco_file(images, annotations, seed, level):
    return {
        "info": {
            "description": "keras-integral procedural synthetic people (keras_integral.data.synthetic)",
            "version": GENERATOR_VERSION,
            "seed": seed,
            "level": level,
        },
        "licenses": [{"id": 1, "name": "Generated by keras-integral; same terms as the package (MIT)", "url": ""}],
        "categories": [{
            "supercategory": "person",
            "id": 1,
            "name": "person",
            "keypoints": list(_COCO.joint_names),
            "skeleton": [[a + 1, b + 1] for a, b in _COCO.limbs],
        }],
        "images": images,
        "annotations": annotations,
    }


def _camera_json(camera):
    return {
        "R": np.asarray(camera["R"]).tolist(),
        "T": np.asarray(camera["T"]).reshape(3, 1).tolist(),
        "c": np.asarray(camera["c"]).reshape(2, 1).tolist(),
        "f": np.asarray(camera["f"]).reshape(2, 1).tolist(),
        "k": np.asarray(camera["k"]).reshape(3, 1).tolist(),
        "p": np.asarray(camera["p"]).reshape(2, 1).tolist(),
        "w": camera["w"],
        "h": camera["h"],
        "name": camera["name"],
        "id": camera["id"],
    }


def _write_npz(path, arrays):
    """Like `np.savez_compressed`, with fixed zip timestamps so that equal data gives equal bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, array in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(array), allow_pickle=False)


def _link_or_copy(source, target):
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() or target.is_symlink():
        target.unlink()
    try:
        os.link(source, target)
    except OSError:  # no hard links on this file system
        target.write_bytes(source.read_bytes())


def _readme(num, num_val, seed, image_size, val_fraction, jpeg_quality, level):
    height, width = image_size
    difficulty = LEVELS[level]
    scene = ", ".join(f"{field.name.replace('_', ' ')}: {getattr(difficulty, field.name)}"
                      for field in dataclasses.fields(difficulty))
    return f"""# Synthetic people (keras-integral)

Procedurally rendered images of one articulated person each, written by
`keras_integral.data.synthetic.generate` (generator version {GENERATOR_VERSION}).
Regenerate with `generate(out_dir, num={num}, seed={seed}, image_size=({height}, {width}),
val_fraction={val_fraction}, jpeg_quality={jpeg_quality}, level="{level}")` (same
arguments give byte-identical files).

- images: {num}, {width}x{height} px, JPEG quality {jpeg_quality}; seed {seed}
- scene level "{level}": {scene}
- body: Human3.6M-17 skeleton plus nose, eyes and ears; stature 1.5-1.95 m,
  joint angles within anatomical limits; pose families named after Human3.6M
  actions ({", ".join(ACTIONS)})
- camera: pinhole with Human3.6M lens distortion (`ProjectPointRadial`), root
  3-6 m away; one fixed camera per (subject, camera id)
- keypoints: the exact distorted projections, sub-pixel, pixel centres at
  integer coordinates; a small disc is drawn at each
- visibility (COCO `v`): 0 outside the image (x = y = 0), 1 hidden behind a
  nearer body part or an occluder (or a face point turned away), 2 visible

## COCO layout
`coco/images/<id:012d>.jpg`; `coco/annotations/person_keypoints_train.json`
({num - num_val} images) and `person_keypoints_val.json` (the last {num_val}).
`bbox` is tight around the visible person plus a small margin; `area` is the
visible person's pixel count.

## Human3.6M layout
`h36m/images/S<k>/S<k>_<Action>.<camera id>/S<k>_<Action>.<camera id>_<frame:06d>.jpg`
(hard links to the COCO images), `h36m/annotations.npz` (`imgname` relative to
`h36m/images`, `center`, `scale` = 1.2 max(box w, h) / 200 of the joints' box,
`part` distorted projection + 1, `S` camera-space metres + 1),
`h36m/cameras.json` (`X_cam = R.T @ (X_world - T)`). Image i belongs to
subject `{"/".join(SUBJECTS)}`[i mod 7]; frames of each sequence are numbered
1, 65, 129, ... so the every-64th-frame test sub-sampling keeps all of them.
Human3.6M joint 9 (`neck_base`, "Neck/Nose") is the nose tip.

## Licence
Generated data; same terms as keras-integral (MIT). No real images are used.
"""
