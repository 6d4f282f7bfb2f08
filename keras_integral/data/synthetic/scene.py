"""A synthetic scene: a person (shape, pose, placement, clothes) and occluders, before drawing.

`sample_scene` draws a `Scene` from a random generator and a camera;
`render.render_scene` draws it.
"""

import dataclasses

import cv2
import numpy as np

from keras_integral.data.cameras import project_points
from keras_integral.data.synthetic.levels import difficulty_of
from keras_integral.data.synthetic.poses import ACTIONS
from keras_integral.data.synthetic.poses import BONE_FRACTIONS
from keras_integral.data.synthetic.poses import KEYPOINT_NAMES
from keras_integral.data.synthetic.poses import pose_body
from keras_integral.data.synthetic.poses import sample_angles

HEIGHT_RANGE_M = (1.5, 1.95)
DISTANCE_RANGE_M = (3.0, 6.0)
# Skin tones (RGB); clothes and the rest are random colours.
SKIN_TONES = ((255, 219, 172), (241, 194, 125), (224, 172, 105), (198, 134, 66), (141, 85, 36), (92, 58, 34))


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
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {ACTIONS}, got {action!r}.")
    difficulty = difficulty_of(level)
    image_size = (int(camera["h"]), int(camera["w"]))
    height_m = rng.uniform(*HEIGHT_RANGE_M)
    lengths = {
        name: fraction * height_m * (1 + np.clip(rng.normal(0, 0.035), -0.08, 0.08))
        for name, fraction in BONE_FRACTIONS.items()
    }
    points, frames = pose_body(height_m, lengths, sample_angles(rng, action))
    # World (z up) -> camera orientation; row vectors: R.T @ v = v @ R.
    R = np.asarray(camera["R"])
    names = list(points)
    offsets = np.stack([points[n] for n in names]) @ R
    root = _place(rng, offsets, camera, image_size)
    points = {n: root + o for n, o in zip(names, offsets)}
    frames = {n: R.T @ m for n, m in frames.items()}
    skin = np.clip(np.array(SKIN_TONES[rng.integers(len(SKIN_TONES))]) + rng.integers(-15, 16, 3), 0, 255)
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
