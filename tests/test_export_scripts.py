"""export/run_tflite.py and export/run_onnx.py: image + boxes -> keypoints in image pixels, without keras_integral.

The scripts run as subprocesses in which importing keras_integral, keras or
tensorflow fails. Their JSON must equal the Keras prediction on the crop cut
by `keras_integral.data.transforms` (TF warp), mapped back to the image with
the inverse affine: an independent path through the same convention.
"""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_integral import export as export_lib
from keras_integral.data import coco
from keras_integral.data import transforms
from keras_integral.models.pose_model import IntegralPoseModel

SIZE = (64, 64)
REPO = Path(__file__).resolve().parents[1]
SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "samples" / "coco"
IMAGE = SAMPLES / "000000000785.jpg"
# The annotated person of image 785, and a made-up wide box partly outside the image.
BOXES = [None, [400.0, 150.0, 300.0, 120.0]]
# Blocks the imports a deployer does not have, then runs the script as __main__.
RUNNER = (
    "import runpy, sys\n"
    "for name in ('keras_integral', 'keras', 'tensorflow'):\n"
    "    sys.modules[name] = None\n"
    "sys.argv = sys.argv[1:]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """A tiny random model with sharpened heat maps (keypoints follow the crop content), exported."""
    records = coco.load_records(SAMPLES / "test_coco_subset.json", SAMPLES)
    keras.utils.set_random_seed(1)
    model = IntegralPoseModel(backbone="resnet18", method="I1", skeleton="coco", input_size=SIZE, head_filters=64)
    crops = export_lib.representative_crops(records, model)
    head = model.get_layer("head")
    logits = keras.Model(model.inputs, head.output).predict(crops, verbose=0)
    head.final_conv.kernel.assign(head.final_conv.kernel * (3.0 / logits.std()))
    out_dir = tmp_path_factory.mktemp("deploy") / "pose"
    export_lib.export(model, out_dir, formats=("tflite", "onnx"), quantize=("fp32",), representative_data=crops)
    box = next(r.box for r in records if Path(r.image_path).name == IMAGE.name)
    return model, out_dir, [list(map(float, box)), BOXES[1]]


def keras_in_image(model, image_rgb, box):
    """Keras keypoints and scores for one box, through keras_integral's own crop convention."""
    center, size = transforms.box_to_crop(box, SIZE, margin=1.25)
    matrix = transforms.crop_matrix(center, size, SIZE)
    crop = transforms.warp_image(tf.constant(image_rgb), matrix.astype(np.float32), SIZE)
    out = model.predict(crop.numpy()[None], verbose=0)
    return transforms.apply_affine(transforms.invert_affine(matrix), out["keypoints"][0]), out["scores"][0]


def run_script(script, model_path, boxes, tmp_path, *extra):
    args = [str(REPO / "export" / script), str(model_path), "--image", str(IMAGE)]
    for box in boxes:
        args += ["--box", *map(str, box)]
    result = subprocess.run([sys.executable, "-c", RUNNER, *args, *extra], capture_output=True, text=True,
                            cwd=tmp_path, timeout=120)
    return result


@pytest.mark.parametrize("script,artifact", [("run_tflite.py", "model_fp32.tflite"), ("run_onnx.py", "model.onnx")])
def test_script_keypoints_equal_keras_mapped_to_the_image(deployed, tmp_path, script, artifact):
    model, out_dir, boxes = deployed
    out_json, out_png = tmp_path / "pose.json", tmp_path / "pose.png"
    result = run_script(script, out_dir / artifact, boxes, tmp_path, "--out-json", str(out_json),
                        "--out-png", str(out_png), "--threads", "1")
    assert result.returncode == 0, result.stderr[-3000:]

    written = json.loads(out_json.read_text())
    image_bgr = cv2.imread(str(IMAGE))
    assert written["image_size"] == list(image_bgr.shape[:2]) and len(written["joint_names"]) == 17
    assert len(written["people"]) == len(boxes)
    image_rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
    for person, box in zip(written["people"], boxes):
        expected, scores = keras_in_image(model, image_rgb, box)
        # cv2 interpolates at 1/32-pixel steps, TF exactly: measured 0.0014 image px apart. A
        # half-pixel crop shift moves these sharpened random keypoints by tens of pixels.
        image_px_per_crop_px = transforms.box_to_crop(box, SIZE)[1][0] / SIZE[1]
        np.testing.assert_allclose(person["keypoints"], expected, atol=0.01 * image_px_per_crop_px)
        np.testing.assert_allclose(person["scores"], scores, atol=0.01)
        assert person["box"] == box
    # The keypoints spread over the person: the test would miss a crop bug if they sat on the box centre.
    assert np.ptp(np.asarray(written["people"][0]["keypoints"]), axis=0).min() > 5

    drawing = cv2.imread(str(out_png))
    assert drawing.shape == image_bgr.shape
    assert np.count_nonzero(np.any(drawing != image_bgr, axis=-1)) > 100  # limbs and joints were drawn


def test_script_prints_json_to_stdout_without_out_json(deployed, tmp_path):
    _, out_dir, boxes = deployed
    result = run_script("run_onnx.py", out_dir / "model.onnx", boxes[:1], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(json.loads(result.stdout)["people"][0]["keypoints"]) == 17


@pytest.mark.parametrize("extra,box,message", [
    (["--manifest", "missing.json"], [10, 10, 50, 80], "manifest not found"),
    ([], [10, 10, 0, 80], "W, H > 0"),
])
def test_script_errors_name_the_problem(deployed, tmp_path, extra, box, message):
    _, out_dir, _ = deployed
    result = run_script("run_tflite.py", out_dir / "model_fp32.tflite", [box], tmp_path, *extra)
    assert result.returncode != 0 and message in result.stderr
