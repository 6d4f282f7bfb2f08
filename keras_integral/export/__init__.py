"""Export a pose model for deployment: SavedModel, TFLite (LiteRT) fp32 / fp16 / int8, ONNX.

One module per format (`saved_model.py`, `litert.py`, `onnx.py`), `parity.py`
(run each artifact in its own runtime, compare with Keras), `manifest.py`,
`crops.py` (representative crops); `export()` below runs them in order.

`export(model, out_dir, ...)` writes the artifacts, runs each one with its
own runtime (TensorFlow, ai-edge-litert, onnxruntime) on representative
crops, compares the keypoints with the Keras model's, and writes
`manifest.json`: input spec (with the crop: the model's `crop_margin`),
skeleton, output units, sha256 of every file and the measured parity. An artifact outside its parity target is an error.

    out_dir/
      saved_model/        TF SavedModel, dynamic batch; signatures `serving_default`
                          (float32 images) and `serve_uint8` (uint8 images)
      model_fp32.tflite   LiteRT, batch 1, float32
      model_fp16.tflite   LiteRT, batch 1, float16 weights
      model_int8.tflite   LiteRT, batch 1, int8 backbone + head, float decoding
      model.onnx          ONNX (opset 17), dynamic batch
      manifest.json

Every artifact takes RGB crops `(batch, H, W, 3)` in [0, 255] (float32; the
SavedModel also uint8) and returns `keypoints` `(batch, joints, 2|3)` in
input-crop pixels (pixel centres at integers; z in mm relative to the root)
and `scores` `(batch, joints)`. Normalisation is inside the model: a deployer
only crops (see `export/run_tflite.py`).

Every format is a TensorFlow graph, so under the JAX or PyTorch backend
`export()` saves the model to `.keras`, reloads it under TensorFlow in a child
process and exports there (`via_tensorflow.py`); the manifest's
`source_backend` records how far the reload's keypoints are from the trained
model's (an error beyond a hundredth of a pixel).

Example:

>>> model = IntegralPoseModel(backbone="resnet18", method="I1", skeleton="coco",
...                           input_size=(256, 256))
>>> crops = representative_crops(records, model, num=128)
>>> manifest = export(model, "exported", representative_data=crops)
>>> manifest["artifacts"]["tflite_int8"]["parity"]["mean_px"]
"""
import os

import keras

from keras_integral.export.crops import MAX_REPRESENTATIVE_CROPS
from keras_integral.export.crops import collect_crops
from keras_integral.export.crops import representative_crops
from keras_integral.export.litert import QUANTIZATIONS
from keras_integral.export.litert import float_decoding_nodes
from keras_integral.export.litert import keeps_last_layer_in_float
from keras_integral.export.litert import tflite_models
from keras_integral.export.manifest import build_manifest
from keras_integral.export.onnx import ONNX_OPSET
from keras_integral.export.onnx import write_onnx
from keras_integral.export.parity import describe_miss
from keras_integral.export.parity import keypoint_errors
from keras_integral.export.parity import parity_targets
from keras_integral.export.parity import predict_keras
from keras_integral.export.parity import run_artifact
from keras_integral.export.parity import within_target
from keras_integral.export.saved_model import write_saved_model
from keras_integral.export.via_tensorflow import export_through_tensorflow
from keras_integral.files import write_json

FORMATS = ("saved_model", "tflite", "onnx")


def export(
    model,
    out_dir,
    formats=FORMATS,
    quantize=QUANTIZATIONS,
    representative_data=None,
    allow_parity_loss=False,
):
    """Writes deployable artifacts of a pose model, measures their parity, writes `manifest.json`.

    Args:
        model: an `IntegralPoseModel` (any method, backbone, 2D or 3D); the
            manifest records its `crop_margin` for deployers.
        out_dir: directory to write; created, and must be empty if it exists.
        formats: any of `"saved_model"`, `"tflite"`, `"onnx"`.
        quantize: the TFLite variants, any of `"fp32"`, `"fp16"`, `"int8"`
            (only used with `"tflite"`).
        representative_data: RGB crops in [0, 255] of the model's input size:
            an array `(crops, H, W, 3)`, or an iterable (e.g. a
            `pipeline.make_dataset(..., training=False)` dataset) of batches
            `(batch, H, W, 3)` or of tuples whose first element is such a batch.
            Real crops (see `representative_crops`): they calibrate the int8
            model and every artifact's parity is measured on them. At most
            `MAX_REPRESENTATIVE_CROPS` are used.
        allow_parity_loss: if False, an artifact whose keypoint error against
            Keras exceeds its target (`parity_targets`) raises after every
            file and the manifest are written; if True the manifest records
            the miss (`within_target: false`) and nothing raises.

    Returns:
        The manifest (also in `out_dir/manifest.json`) as a dict. Its
        `artifacts` maps `saved_model`, `tflite_fp32`, `tflite_fp16`,
        `tflite_int8`, `onnx` (those written) to `path` (relative to
        `out_dir`), `runtime`, `input`, `batch` (`null` = dynamic) and
        `parity`: `max_px`, `mean_px` (Euclidean x-y error in crop pixels;
        for 3D also `max_z_mm`, `mean_z_mm`), `max_score_error`, `target`,
        `within_target`.

    Raises:
        ValueError: bad arguments, or an artifact outside its parity target
            (naming the artifact, the measured error and the target) unless
            `allow_parity_loss`.
        RuntimeError: under JAX or PyTorch, the TensorFlow child process
            failed, or its reload is not the trained model (`via_tensorflow.py`).

    Example:

    >>> crops = representative_crops(records, model, num=128)
    >>> manifest = export(model, "exported", formats=("tflite",), quantize=("int8",),
    ...                   representative_data=crops)
    >>> sorted(manifest["artifacts"])
    ['tflite_int8']
    """
    _check_model(model)
    formats = _check_choices(formats, FORMATS, "formats")
    quantize = _check_choices(quantize, QUANTIZATIONS, "quantize") if "tflite" in formats else ()
    crops = collect_crops(representative_data, model.input_size)
    out_dir = os.fspath(out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"out_dir {out_dir!r} is an existing file; export writes a directory (new or empty).")
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        raise ValueError(f"out_dir {out_dir!r} is not empty; export into a new or empty directory.")
    if keras.backend.backend() != "tensorflow":
        manifest = export_through_tensorflow(model, out_dir, formats, quantize, crops)
        _raise_on_misses(manifest, out_dir, len(crops), allow_parity_loss)
        return manifest
    os.makedirs(out_dir, exist_ok=True)

    artifacts = {}
    if "saved_model" in formats:
        write_saved_model(model, os.path.join(out_dir, "saved_model"), batch=None, uint8=True)
        artifacts["saved_model"] = {
            "path": "saved_model",
            "runtime": "tensorflow",
            "input": {"serving_default": "float32", "serve_uint8": "uint8"},
            "batch": None,
        }
    if "tflite" in formats:
        for name, content in tflite_models(model, quantize, crops).items():
            path = f"model_{name}.tflite"
            with open(os.path.join(out_dir, path), "wb") as f:
                f.write(content)
            artifacts[f"tflite_{name}"] = {"path": path, "runtime": "ai-edge-litert", "input": "float32",
                                           "batch": 1, "quantization": name}
    if "onnx" in formats:
        write_onnx(model, os.path.join(out_dir, "model.onnx"))
        artifacts["onnx"] = {"path": "model.onnx", "runtime": "onnxruntime", "input": "float32",
                             "batch": None, "opset": ONNX_OPSET}

    reference = predict_keras(model, crops)
    targets = parity_targets(model)
    for artifact in artifacts.values():
        predicted = run_artifact(os.path.join(out_dir, artifact["path"]), crops)
        parity = keypoint_errors(reference, predicted)
        target = targets[artifact.get("quantization", "fp32")]
        parity["target"] = target
        parity["within_target"] = within_target(parity, target)
        artifact["parity"] = parity

    manifest = build_manifest(model, artifacts, crops, out_dir)
    write_json(os.path.join(out_dir, "manifest.json"), manifest, indent=2)
    _raise_on_misses(manifest, out_dir, len(crops), allow_parity_loss)
    return manifest


def _raise_on_misses(manifest, out_dir, num_crops, allow_parity_loss):
    misses = [f"{name}: {describe_miss(a['parity'], a['parity']['target'])}"
              for name, a in manifest["artifacts"].items() if not a["parity"]["within_target"]]
    if misses and not allow_parity_loss:
        raise ValueError(
            f"Exported artifacts in {out_dir!r} miss their parity target against Keras on "
            f"{num_crops} representative crops: " + "; ".join(misses)
            + ". Pass allow_parity_loss=True to keep them anyway."
        )


def _check_model(model):
    required = ("input_size", "skeleton", "depth_bins", "method", "crop_margin", "predict_step")
    missing = [a for a in required if not hasattr(model, a)]
    if missing:
        raise TypeError(
            f"export() expects an IntegralPoseModel; received {type(model).__name__} without {missing}."
        )


def _check_choices(values, allowed, arg):
    values = (values,) if isinstance(values, str) else tuple(values)
    unknown = [v for v in values if v not in allowed]
    if unknown or not values:
        raise ValueError(f"`{arg}` must be a non-empty subset of {allowed}, received {values!r}.")
    return values


__all__ = [
    "FORMATS",
    "MAX_REPRESENTATIVE_CROPS",
    "ONNX_OPSET",
    "QUANTIZATIONS",
    "export",
    "float_decoding_nodes",
    "keeps_last_layer_in_float",
    "parity_targets",
    "representative_crops",
    "run_artifact",
]
