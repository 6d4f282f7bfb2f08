"""manifest.json: what a deployer needs to run the artifacts without keras_integral.

Input spec and crop convention, skeleton, output units, sha256 and size of
every file, and each artifact's measured parity.
"""

import os

from keras_integral import skeletons
from keras_integral.download import sha256_file
from keras_integral.version import __version__


def build_manifest(model, artifacts, crops, out_dir):
    skeleton = skeletons.get(model.skeleton)
    height, width = model.input_size
    dims = 3 if model.depth_bins else 2
    files = {}
    for root, _, names in os.walk(out_dir):
        for name in sorted(names):
            full = os.path.join(root, name)
            rel = os.path.relpath(full, out_dir).replace(os.sep, "/")
            if rel != "manifest.json":
                files[rel] = {"sha256": sha256_file(full), "bytes": os.path.getsize(full)}
    return {
        "manifest_version": 1,
        "keras_integral_version": __version__,
        "model": {"name": model.name, "config": model.get_config()},
        "input": {
            "name": "images",
            "shape": [None, height, width, 3],
            "layout": "NHWC",
            "channels": "RGB",
            "dtype": "float32 (SavedModel: also uint8, signature serve_uint8)",
            "range": [0, 255],
            "crop": {
                "box": "[x, y, width, height] person box in image pixels (COCO bbox)",
                "margin": model.crop_margin,
                "window": "centre = box centre; the box is widened (or heightened) to the input aspect "
                          "ratio width/height, then both sides are multiplied by margin",
                "affine": "crop = K (p - centre) + ((W - 1) / 2, (H - 1) / 2), K = diag(W / window_width, "
                          "H / window_height); image -> crop, p = (x, y) in image pixels",
                "pixel_centres": "pixel (row i, column j) has its centre at (x=j, y=i)",
                "interpolation": "bilinear, 0 outside the image",
            },
        },
        "preprocessing": "none beyond the crop: normalisation is inside the model",
        "skeleton": {
            "name": skeleton.name,
            "joint_names": list(skeleton.joint_names),
            "flip_pairs": [list(p) for p in skeleton.flip_pairs],
            "limbs": [list(limb) for limb in skeleton.limbs],
            "limb_sides": [skeleton.limb_side(limb) for limb in skeleton.limbs],
            "root": skeleton.root,
        },
        "outputs": {
            "keypoints": {
                "shape": [None, skeleton.num_joints, dims],
                "units": "x, y in input-crop pixels, pixel (row i, column j) centred at (x=j, y=i); "
                         "map back to the image with the inverse of the crop affine"
                         + ("; z in mm relative to the root joint" if dims == 3 else ""),
            },
            "scores": {"shape": [None, skeleton.num_joints], "units": "confidence in [0, 1]"},
        },
        "parity": {
            "reference": "Keras model.predict_step on the same crops",
            "num_crops": int(len(crops)),
            "error": "Euclidean x-y distance per joint, in crop pixels (z: absolute, mm)",
        },
        "artifacts": artifacts,
        "files": files,
    }
