"""Synthetic video clips with per-frame ground truth: people moving and changing pose smoothly.

A clip is `num_frames` frames of one scene (`CLIP_KINDS`):

- `"single"`: one person walks a third of the way across, changing pose
  smoothly through three random keyframe poses (eased in and out);
- `"crossing"`: two people walk past each other, one nearer the camera,
  so that the near one covers the far one mid-clip;
- `"leaving"`: one person walks out through the right edge; about the
  last quarter of the frames show nobody.

The camera is level and still, or pans (`pan_px`: the view slides that many
pixels to the right over the clip; rendered as a window moving over a wider
frame, so the background moves with it). People keep their build, clothes
and identity (`track_id`) across frames; the style (background, lighting)
is fixed per clip. Drawing is `render.render_people`.

`write_clip` writes what the loaders and the predictor read:

```
out_dir/video.mp4                                   the frames (mp4v), fps as given
out_dir/coco/images/<frame + 1:012d>.jpg            each frame
out_dir/coco/annotations/person_keypoints_val.json  COCO keypoints per person per frame,
                                                    plus `track_id` (as PoseTrack) and the
                                                    image's `frame_index`
```

Example:

>>> summary = write_clip("/tmp/crossing", "crossing", num_frames=30)   # doctest: +SKIP
"""

import dataclasses
from pathlib import Path

import cv2
import numpy as np

from keras_integral.data.synthetic.poses import BONE_FRACTIONS
from keras_integral.data.synthetic.poses import COCO_FROM_KEYPOINTS
from keras_integral.data.synthetic.poses import pose_body
from keras_integral.data.synthetic.poses import sample_angles
from keras_integral.data.synthetic.render import render_people
from keras_integral.data.synthetic.scene import HEIGHT_RANGE_M
from keras_integral.data.synthetic.scene import sample_scene
from keras_integral.data.synthetic.writers import coco_annotation
from keras_integral.data.synthetic.writers import coco_file
from keras_integral.files import write_json

CLIP_KINDS = ("single", "crossing", "leaving")
# Walks in camera space: (start x, end x) as fractions of the image width at the person's depth, depth in
# metres, and the pose family.
_WALKS = {
    "single": [((0.35, 0.65), 4.5, "Directions")],
    "crossing": [((0.2, 0.8), 4.0, "Walking"), ((0.8, 0.2), 5.0, "Directions")],
    "leaving": [((0.4, 1.4), 4.5, "Walking")],
}
_FOCAL_PER_HEIGHT = 1.6  # focal length in image heights: a 1.75 m person at 4.5 m is 60 % of the frame
_CAMERA_R = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])  # camera-to-world: level, looking along world +y


@dataclasses.dataclass
class _Walker:
    base: object  # a Scene: build, clothes, style
    lengths: dict
    keyframes: list
    xs: tuple
    depth: float


def _ease(u):
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(u, 0, 1))


def _angles_at(keyframes, u):
    """Joint angles at clip time `u` in [0, 1], eased between equally spaced keyframes."""
    position = u * (len(keyframes) - 1)
    k = min(int(position), len(keyframes) - 2)
    w = _ease(position - k)
    a, b = keyframes[k], keyframes[k + 1]
    return {name: (1 - w) * a[name] + w * b[name] for name in a}


def _camera(image_size):
    height, width = image_size
    f = _FOCAL_PER_HEIGHT * height
    return {"R": _CAMERA_R, "T": np.zeros(3), "f": np.array([f, f]), "c": np.array([(width - 1) / 2, (height - 1) / 2]),
            "k": np.zeros(3), "p": np.zeros(2), "w": width, "h": height, "name": "clip", "id": "clip"}


def render_clip(kind, num_frames, seed=0, image_size=(128, 128), pan_px=0, level="easy"):
    """Yields `(image (H, W, 3) uint8 RGB, people)` per frame; `people` a list of dicts with `track_id`,
    `keypoints` `(21, 2)`, `visibility` `(21,)`, `person_mask` `(H, W)` in the frame's pixels.

    Args:
        kind: one of `CLIP_KINDS`.
        num_frames: at least 2.
        seed: the clip's people, poses and style.
        image_size: `(height, width)` of the frames.
        pan_px: how far the view slides right over the clip, in pixels (0: still camera).
        level: scene difficulty (`LEVELS`) of the background.
    """
    if kind not in CLIP_KINDS:
        raise ValueError(f"kind must be one of {CLIP_KINDS}, got {kind!r}.")
    if isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)) or num_frames < 2:
        raise ValueError(f"num_frames must be an integer >= 2, got {num_frames!r}.")
    if not 0 <= pan_px <= 4 * image_size[1]:
        raise ValueError(f"pan_px must be in [0, 4 * width], got {pan_px!r}.")
    height, width = image_size
    wide = (height, width + int(np.ceil(pan_px)))
    camera = _camera(wide)
    rng = np.random.default_rng([seed, 20])
    walkers = []
    for xs, depth, action in _WALKS[kind]:
        base = sample_scene(rng, camera, action, level)
        height_m = float(np.clip(base.height_m, *HEIGHT_RANGE_M))
        lengths = {name: fraction * height_m for name, fraction in BONE_FRACTIONS.items()}
        keyframes = [sample_angles(rng, action) for _ in range(3)]
        facing = 90.0 if xs[1] > xs[0] else 270.0  # yaw: walking to the right or to the left
        for frame in keyframes:
            frame["yaw"] = facing + rng.uniform(-25, 25)
            frame["pitch"] = frame["roll"] = 0.0
        walkers.append(_Walker(base, lengths, keyframes, xs, depth))
    for t in range(num_frames):
        u = t / (num_frames - 1)
        offset = int(round(pan_px * u))
        scenes = []
        for walker in walkers:
            points, frames = pose_body(walker.base.height_m, walker.lengths, _angles_at(walker.keyframes, u))
            names = list(points)
            offsets = np.stack([points[n] for n in names]) @ _CAMERA_R
            # Root at the walk's x (a fraction of the frame's width, in the middle of the wide frame the view
            # slides over, so the pan moves the people as much as the background), feet near the bottom.
            x_px = pan_px / 2 + width * ((1 - u) * walker.xs[0] + u * walker.xs[1])
            root = np.array([(x_px - camera["c"][0]) / camera["f"][0] * walker.depth, 0.1, walker.depth])
            scenes.append(dataclasses.replace(
                walker.base, camera=camera, image_size=wide, occluders=[],
                points={n: root + o for n, o in zip(names, offsets)},
                frames={n: _CAMERA_R.T @ m for n, m in frames.items()}))
        scenes[0] = dataclasses.replace(scenes[0], style_seed=int(walkers[0].base.style_seed))
        image, people = render_people(scenes)
        image = np.ascontiguousarray(image[:, offset:offset + width])
        frame_people = []
        for track_id, person in enumerate(people):
            keypoints = person["keypoints"] - [offset, 0]
            inside = (keypoints[:, 0] >= -0.5) & (keypoints[:, 0] < width - 0.5)
            frame_people.append({"track_id": track_id, "keypoints": keypoints,
                                 "visibility": np.where(inside, person["visibility"], 0),
                                 "person_mask": person["person_mask"][:, offset:offset + width]})
        yield image, frame_people


def coco_keypoints(person):
    """`(17, 2)` COCO keypoints and `(17,)` visibility of a `render_clip` person."""
    index = list(COCO_FROM_KEYPOINTS)
    return person["keypoints"][index], person["visibility"][index]


def write_clip(out_dir, kind, num_frames, seed=0, image_size=(128, 128), pan_px=0, fps=30.0, level="easy",
               jpeg_quality=95):
    """Renders a clip and writes its video, frames and COCO ground truth (module docstring).

    A person with no keypoint in the frame gets no annotation in it.

    Returns:
        dict of the paths written (`video`, `coco_images`, `coco_val`) and `num_frames`.
    """
    from keras_integral.video import VideoFileWriter

    out_dir = Path(out_dir)
    paths = {"video": out_dir / "video.mp4", "coco_images": out_dir / "coco" / "images",
             "coco_val": out_dir / "coco" / "annotations" / "person_keypoints_val.json"}
    paths["coco_images"].mkdir(parents=True, exist_ok=True)
    paths["coco_val"].parent.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    with VideoFileWriter(paths["video"], fps) as writer:
        for t, (image, people) in enumerate(render_clip(kind, num_frames, seed, image_size, pan_px, level)):
            writer.write(image)
            image_id = t + 1
            file_name = f"{image_id:012d}.jpg"
            ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                                       [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
            if not ok:
                raise RuntimeError(f"OpenCV could not encode frame {t} as JPEG.")
            (paths["coco_images"] / file_name).write_bytes(encoded.tobytes())
            images.append({"id": image_id, "file_name": file_name, "width": image_size[1], "height": image_size[0],
                           "license": 1, "frame_index": t})
            for person in people:
                if not (person["visibility"] > 0).any():
                    continue
                annotation = coco_annotation(image_id, person, image_size)
                annotation.update(id=len(annotations) + 1, track_id=person["track_id"])
                annotations.append(annotation)
    write_json(paths["coco_val"], coco_file(images, annotations, seed, level))
    return {**paths, "num_frames": num_frames}


def read_clip_truth(annotation_file):
    """`{frame index: {track_id: ((17, 2) keypoints, (17,) visibility)}}` from a `write_clip` COCO file."""
    import json

    data = json.loads(Path(annotation_file).read_text(encoding="utf-8"))
    frame_of = {image["id"]: image["frame_index"] for image in data["images"]}
    truth = {frame: {} for frame in frame_of.values()}
    for annotation in data["annotations"]:
        flat = np.asarray(annotation["keypoints"], np.float64).reshape(-1, 3)
        truth[frame_of[annotation["image_id"]]][annotation["track_id"]] = (flat[:, :2], flat[:, 2].astype(int))
    return truth
