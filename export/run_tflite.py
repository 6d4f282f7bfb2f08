#!/usr/bin/env python
"""Keypoints of the people in an image with an exported LiteRT (.tflite) pose model.

Runs without keras_integral: needs only `ai-edge-litert`, `numpy` and
`opencv-python-headless`. For each person box it cuts the crop the model was
trained on (the convention is written in `manifest.json` and re-implemented
below in a few lines), runs the model, maps the keypoints back to the image,
and writes them as JSON (stdout, or `--out-json`) and, with `--out-png`, a
drawing of the skeleton.

Usage:

    python run_tflite.py exported/model_int8.tflite --image person.jpg \\
        --box 120 40 180 420 [--box X Y W H ...] [--manifest exported/manifest.json] \\
        [--out-json pose.json] [--out-png pose.png] [--threads 2] [--min-score 0.2]

A box is `X Y W H`: top-left corner and size in image pixels (a COCO
`bbox`). The JSON holds, per box, `keypoints` `(joints, 2|3)` as `(x, y)` in
image pixels (pixel centres at integers) plus `z` in mm relative to the root
for 3D models, and `scores` `(joints,)` in [0, 1]. `run_onnx.py` has the same
command line for `model.onnx`.
"""

import argparse
import json
import os
import sys

import cv2
import numpy as np

# BGR colours of the limbs by side, as in keras_integral's drawing.
COLOURS = {"left": (0, 140, 255), "right": (255, 120, 0), "centre": (80, 200, 80)}


def load_manifest(path):
    """Reads `manifest.json` written by `keras_integral.export.export`."""
    if not os.path.isfile(path):
        raise SystemExit(f"manifest not found: {path!r} (it sits next to the exported models; pass --manifest).")
    with open(path) as f:
        manifest = json.load(f)
    for key in ("input", "skeleton", "outputs"):
        if key not in manifest:
            raise SystemExit(f"{path!r} is not an export manifest: no {key!r} entry.")
    return manifest


def box_to_crop(box, input_size, margin):
    """Person box `[x, y, w, h]` -> crop window centre `(x, y)` and size `(w, h)` at the input aspect ratio."""
    x, y, w, h = (float(v) for v in box)
    if not (np.isfinite([x, y, w, h]).all() and w > 0 and h > 0):
        raise SystemExit(f"a box must be finite X Y W H with W, H > 0, got {list(box)}.")
    in_h, in_w = input_size
    aspect = in_w / in_h
    size = (w, w / aspect) if w > aspect * h else (h * aspect, h)
    return np.array([x + w / 2, y + h / 2]), np.array(size) * margin


def crop_matrix(centre, size, input_size):
    """`(2, 3)` affine from image pixels to crop pixels: the window fills the crop, centre on its middle."""
    in_h, in_w = input_size
    scale = np.array([in_w, in_h]) / size
    translation = (np.array([in_w, in_h]) - 1) / 2 - scale * centre
    return np.array([[scale[0], 0.0, translation[0]], [0.0, scale[1], translation[1]]])


def to_image(matrix, points):
    """Crop pixels `(..., 2)` -> image pixels, through the inverse of `crop_matrix`."""
    return (points - matrix[:, 2]) / np.diag(matrix[:, :2])


def crop_person(image_rgb, box, input_size, margin):
    """The model input for one box: float32 `(H, W, 3)` RGB in [0, 255], and its affine."""
    matrix = crop_matrix(*box_to_crop(box, input_size, margin), input_size)
    # warpAffine samples the source at the inverse map with pixel centres at
    # integers, the convention of the training crops; bilinear, 0 outside.
    crop = cv2.warpAffine(image_rgb.astype(np.float32), matrix, (input_size[1], input_size[0]),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return crop, matrix


class TFLiteRunner:
    """Runs a `.tflite` pose model: `runner(crop (1, H, W, 3))` -> `(keypoints, scores)`."""

    def __init__(self, path, threads=None):
        from ai_edge_litert.interpreter import Interpreter

        self.runner = Interpreter(model_path=path, num_threads=threads).get_signature_runner()

    def __call__(self, crops):
        outputs = self.runner(images=crops.astype(np.float32))
        return outputs["keypoints"], outputs["scores"]


def predict(image_rgb, boxes, runner, manifest):
    """Keypoints in image pixels for each box: a list of `{box, keypoints, scores}`."""
    input_size = tuple(manifest["input"]["shape"][1:3])
    margin = manifest["input"]["crop"]["margin"]
    people = []
    for box in boxes:
        crop, matrix = crop_person(image_rgb, box, input_size, margin)
        keypoints, scores = runner(crop[None])
        keypoints = np.array(keypoints[0], np.float64)
        keypoints[:, :2] = to_image(matrix, keypoints[:, :2])
        people.append({"box": [float(v) for v in box], "keypoints": keypoints.tolist(),
                       "scores": np.asarray(scores[0], np.float64).tolist()})
    return people


def draw(image_bgr, people, skeleton, min_score=0.0):
    """Draws limbs (coloured by side) and joints of every person whose joints score >= `min_score`."""
    canvas = image_bgr.copy()
    thickness = max(1, round(max(canvas.shape[:2]) / 300))
    for person in people:
        points = np.asarray(person["keypoints"])[:, :2]
        shown = np.asarray(person["scores"]) >= min_score
        for (a, b), side in zip(skeleton["limbs"], skeleton["limb_sides"]):
            if shown[a] and shown[b]:
                cv2.line(canvas, _pixel(points[a]), _pixel(points[b]), COLOURS[side], thickness, cv2.LINE_AA)
        for point, ok in zip(points, shown):
            if ok:
                cv2.circle(canvas, _pixel(point), thickness + 1, (255, 255, 255), -1, cv2.LINE_AA)
    return canvas


def _pixel(point):
    return int(round(point[0])), int(round(point[1]))


def main(argv=None, runner_class=TFLiteRunner, description=None):
    """Command line: image + boxes -> JSON (and PNG) of keypoints in image pixels."""
    parser = argparse.ArgumentParser(description=description or __doc__.splitlines()[0])
    parser.add_argument("model", help="the exported model file")
    parser.add_argument("--image", required=True, help="image file (any format OpenCV reads)")
    parser.add_argument("--box", nargs=4, type=float, action="append", required=True, metavar=("X", "Y", "W", "H"),
                        help="person box in image pixels: top-left corner and size; repeat for more people")
    parser.add_argument("--manifest", help="manifest.json of the export (default: next to the model)")
    parser.add_argument("--out-json", help="write the keypoints here instead of stdout")
    parser.add_argument("--out-png", help="write the image with the skeletons drawn here")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads of the runtime")
    parser.add_argument("--min-score", type=float, default=0.0, help="draw only joints scoring at least this")
    args = parser.parse_args(argv)

    manifest = load_manifest(args.manifest or os.path.join(os.path.dirname(os.path.abspath(args.model)),
                                                           "manifest.json"))
    image_bgr = cv2.imread(args.image, cv2.IMREAD_COLOR)
    if image_bgr is None:
        raise SystemExit(f"cannot read image {args.image!r}.")
    runner = runner_class(args.model, args.threads)
    people = predict(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB), args.box, runner, manifest)
    result = {"image": args.image, "model": args.model, "image_size": list(image_bgr.shape[:2]),
              "joint_names": manifest["skeleton"]["joint_names"], "people": people}
    if args.out_png and not cv2.imwrite(args.out_png, draw(image_bgr, people, manifest["skeleton"], args.min_score)):
        raise SystemExit(f"cannot write {args.out_png!r}.")
    if args.out_json:
        with open(args.out_json, "w") as f:
            json.dump(result, f, indent=1)
    else:
        json.dump(result, sys.stdout, indent=1)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
