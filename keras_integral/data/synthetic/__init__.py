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

One module per idea, imported one way (each only from those above it):
`levels.py` (the difficulty table), `poses.py` (keypoints, proportions, joint
limits, pose families, forward kinematics), `camera_rig.py` (the fixed
cameras), `scene.py` (`sample_scene`: a person placed before a camera, with
occluders), `canvas.py` (sub-pixel OpenCV drawing and the id buffer),
`background.py`, `render.py` (`render_scene`: drawing and visibility),
`writers.py` (the COCO, Human3.6M and README files); `generate` below
runs them for every image.

Example:

>>> summary = generate("/tmp/synth", num=8, seed=0, image_size=(96, 96),
...                    verbose=0)                                  # doctest: +SKIP
>>> sorted(summary)                                                # doctest: +SKIP
['coco_images', 'coco_train', 'coco_val', 'h36m_annotations', ...]
"""

import os
from pathlib import Path

import cv2
import numpy as np

from keras_integral.data.synthetic.camera_rig import CAMERA_IDS
from keras_integral.data.synthetic.camera_rig import SUBJECTS
from keras_integral.data.synthetic.camera_rig import make_cameras
from keras_integral.data.synthetic.levels import LEVELS
from keras_integral.data.synthetic.levels import Difficulty
from keras_integral.data.synthetic.poses import ACTION_WEIGHTS
from keras_integral.data.synthetic.poses import ACTIONS
from keras_integral.data.synthetic.poses import BONE_FRACTIONS
from keras_integral.data.synthetic.poses import COCO_FROM_KEYPOINTS
from keras_integral.data.synthetic.poses import KEYPOINT_NAMES
from keras_integral.data.synthetic.render import render_scene
from keras_integral.data.synthetic.scene import DISTANCE_RANGE_M
from keras_integral.data.synthetic.scene import HEIGHT_RANGE_M
from keras_integral.data.synthetic.scene import Scene
from keras_integral.data.synthetic.scene import sample_scene
from keras_integral.data.synthetic.writers import GENERATOR_VERSION
from keras_integral.data.synthetic.writers import camera_json
from keras_integral.data.synthetic.writers import coco_annotation
from keras_integral.data.synthetic.writers import coco_file
from keras_integral.data.synthetic.writers import h36m_row
from keras_integral.data.synthetic.writers import link_or_copy
from keras_integral.data.synthetic.writers import readme_text
from keras_integral.data.synthetic.writers import write_npz
from keras_integral.files import write_json

FRAME_STEP = 64  # frames 1, 65, 129, ... of each sequence: those the every-64th-frame test sub-sampling keeps


def generate(out_dir, num, seed=0, image_size=(256, 256), val_fraction=0.1, jpeg_quality=90, level="hard",
             verbose=1):
    """Renders `num` synthetic people and writes them in COCO and Human3.6M layouts.

    Deterministic: the same `seed` (and arguments) gives byte-identical files;
    image `i` depends only on `seed`, `i`, `image_size` and `level`, not on
    `num`; at every level it shows the same person (`LEVELS`).
    Files of an earlier run in `out_dir` are overwritten, not deleted. The
    layout is in the package docstring; the last `round(num * val_fraction)`
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
        link_or_copy(coco_path, paths["h36m_images"] / imgname)

        coco_images.append({"id": image_id, "file_name": file_name, "width": image_size[1],
                            "height": image_size[0], "license": 1})
        coco_annotations.append(coco_annotation(image_id, rendered, image_size))
        h36m_rows.append(h36m_row(imgname, scene, rendered))
        if progbar is not None:
            progbar.update(i + 1)

    split = num - num_val
    write_json(paths["coco_train"], coco_file(coco_images[:split], coco_annotations[:split], seed, level))
    write_json(paths["coco_val"], coco_file(coco_images[split:], coco_annotations[split:], seed, level))
    write_npz(paths["h36m_annotations"], {
        "imgname": np.array([row[0] for row in h36m_rows], dtype=str),
        "center": np.array([row[1] for row in h36m_rows], np.float64).reshape(-1, 2),
        "scale": np.array([row[2] for row in h36m_rows], np.float64),
        "part": np.array([row[3] for row in h36m_rows], np.float64).reshape(-1, 17, 3),
        "S": np.array([row[4] for row in h36m_rows], np.float64).reshape(-1, 17, 4),
    })
    write_json(paths["h36m_cameras"], {key: camera_json(camera) for key, camera in cameras.items()})
    paths["readme"].write_text(readme_text(num, num_val, seed, image_size, val_fraction, jpeg_quality, level),
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


__all__ = [
    "ACTIONS",
    "ACTION_WEIGHTS",
    "BONE_FRACTIONS",
    "CAMERA_IDS",
    "COCO_FROM_KEYPOINTS",
    "DISTANCE_RANGE_M",
    "Difficulty",
    "FRAME_STEP",
    "GENERATOR_VERSION",
    "HEIGHT_RANGE_M",
    "KEYPOINT_NAMES",
    "LEVELS",
    "SUBJECTS",
    "Scene",
    "generate",
    "make_cameras",
    "render_scene",
    "sample_scene",
]
