"""Parity: every artifact runs in its own runtime and its keypoints are compared with the Keras model's.

Targets on the keypoint error against Keras, in input-crop pixels. fp32: an
absolute bound on the maximum. fp16 and int8: bounds on the mean, given at a
256-pixel crop and scaled with the crop's larger side (a 64x64 test model gets
a quarter of them). Measured on a ResNet-18 I* trained for 900 steps at
256x256 on synthetic data (64 val crops): fp32 formats 2e-4 px max; fp16
0.006 px mean (0.04 max); int8 0.15 px mean (1.7 max), where a naive
full-int8 conversion gives 120 px.
"""

import os

import numpy as np
import tensorflow as tf

from keras_integral.export.onnx import onnx_session

FP32_MAX_PX = 1e-3
FP16_MEAN_PX_AT_256 = 0.05
INT8_MEAN_PX_AT_256 = 1.0
_PARITY_BATCH = 16


def parity_targets(model):
    """The keypoint-error bounds each quantization must meet against Keras.

    Args:
        model: the exported model (its input size and depth range set the
            scale of the fp16 and int8 targets).

    Returns:
        dict `quantization -> {"statistic": "max" | "mean", "px": float,
        "z_mm": float (3D only)}`: the bound on the max or mean x-y error
        in crop pixels (and on the z error in mm: the pixel bound times
        `depth_range_mm` over the crop's larger side, the same fraction of
        the range).

    Example:

    >>> parity_targets(model_256)["int8"]
    {'statistic': 'mean', 'px': 1.0}
    """
    side = max(model.input_size)
    targets = {
        "fp32": {"statistic": "max", "px": FP32_MAX_PX},
        "fp16": {"statistic": "mean", "px": FP16_MEAN_PX_AT_256 * side / 256},
        "int8": {"statistic": "mean", "px": INT8_MEAN_PX_AT_256 * side / 256},
    }
    if model.depth_bins:
        for target in targets.values():
            target["z_mm"] = target["px"] * model.depth_range_mm / side
    return targets


def run_artifact(path, crops):
    """Runs an exported artifact with its own runtime.

    Args:
        path: a `saved_model` directory, a `.tflite` or a `.onnx` file.
        crops: `(crops, H, W, 3)` float32 RGB in [0, 255].

    Returns:
        dict with `keypoints` `(crops, joints, 2|3)` and `scores`
        `(crops, joints)`, NumPy.

    Example:

    >>> run_artifact("exported/model_int8.tflite", crops)["keypoints"].shape
    (128, 17, 2)
    """
    crops = np.asarray(crops, np.float32)
    if os.path.isdir(path):
        serve = tf.saved_model.load(path).signatures["serving_default"]
        run = lambda batch: {k: v.numpy() for k, v in serve(images=tf.constant(batch)).items()}  # noqa: E731
        step = _PARITY_BATCH
    elif path.endswith(".tflite"):
        from ai_edge_litert.interpreter import Interpreter

        runner = Interpreter(model_path=path).get_signature_runner()
        run, step = (lambda batch: runner(images=batch)), 1
    elif path.endswith(".onnx"):
        session = onnx_session(path)
        names = [o.name for o in session.get_outputs()]
        run = lambda batch: dict(zip(names, session.run(None, {"images": batch})))  # noqa: E731
        step = _PARITY_BATCH
    else:
        raise ValueError(f"Unknown artifact {path!r}: expected a saved_model directory, .tflite or .onnx.")
    outputs = [run(crops[i : i + step]) for i in range(0, len(crops), step)]
    return {key: np.concatenate([o[key] for o in outputs]) for key in ("keypoints", "scores")}


def predict_keras(model, crops):
    # `predict_on_batch`, not `predict_step`: the same call on every Keras backend (export/via_tensorflow.py).
    outputs = [model.predict_on_batch(crops[i : i + _PARITY_BATCH]) for i in range(0, len(crops), _PARITY_BATCH)]
    return {key: np.concatenate([np.asarray(o[key]) for o in outputs]) for key in ("keypoints", "scores")}


def keypoint_errors(reference, predicted):
    ref, got = reference["keypoints"], predicted["keypoints"]
    if got.shape != ref.shape:
        raise ValueError(f"artifact keypoints have shape {got.shape}, Keras gives {ref.shape}.")
    xy = np.linalg.norm(got[..., :2].astype(np.float64) - ref[..., :2], axis=-1)
    parity = {"max_px": float(xy.max()), "mean_px": float(xy.mean())}
    if ref.shape[-1] == 3:
        z = np.abs(got[..., 2].astype(np.float64) - ref[..., 2])
        parity.update(max_z_mm=float(z.max()), mean_z_mm=float(z.mean()))
    parity["max_score_error"] = float(np.abs(predicted["scores"] - reference["scores"]).max())
    return parity


def within_target(parity, target):
    stat = target["statistic"]
    ok = parity[f"{stat}_px"] <= target["px"]
    if "z_mm" in target:
        ok = ok and parity[f"{stat}_z_mm"] <= target["z_mm"]
    return bool(ok)


def describe_miss(parity, target):
    stat = target["statistic"]
    text = f"{stat} keypoint error {parity[f'{stat}_px']:.4g} px (target <= {target['px']:.4g} px)"
    if "z_mm" in target:
        text += f", {stat} z error {parity[f'{stat}_z_mm']:.4g} mm (target <= {target['z_mm']:.4g} mm)"
    return text
