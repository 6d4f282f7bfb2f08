"""Export a pose model for deployment: SavedModel, TFLite (LiteRT) fp32 / fp16 / int8, ONNX.

`export(model, out_dir, ...)` writes the artifacts, runs each one with its
own runtime (TensorFlow, ai-edge-litert, onnxruntime) on representative
crops, compares the keypoints with the Keras model's, and writes
`manifest.json`: input spec, skeleton, output units, sha256 of every file
and the measured parity. An artifact outside its parity target is an error.

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

Why the int8 model keeps its decoding in float: TFLite's int8 SOFTMAX has an
output scale of 1/256, so every probability below about 1/512 rounds to zero.
A soft-argmax sums `index * probability` over all cells; with the tails
gone (and the sums themselves quantized) the expected position is dragged
toward (0, 0): by 120 px mean at 256x256 on a trained ResNet-18, 4.5 px at
64x64 on a briefly trained one. So only the ops that feed a
convolution (the backbone and the head) are quantized; the softmax, the
expectations, the arg-max and the score ops run in float32 on the
dequantized heat maps. These ops are found by structure, not by name: in
the float TFLite graph, every op that no convolution or fully connected op
depends on is decoding (`float_decoding_nodes`), and the quantizer is told
to skip them (`QuantizationDebugOptions(denylisted_nodes=...)`). The rule
holds for every backbone (residual ADDs, hard-swish MULs and SE blocks feed
later convolutions and stay int8), every method, 2D and 3D. The decoding is a
few hundred float operations per joint, no measurable cost next to the
convolutions.

Methods that read one value per joint (arg-max H1-H3, regression R1) also
keep the layer that feeds the decoding in float (the heat-map convolution,
R1's fully connected layer): its int8 output has 256 levels, so nearby peaks
tie and the arg-max jumps a heat-map cell (on a briefly trained ResNet-18 at
64x64: H3 2.05 px mean error with the int8 head, 0.04 px with a float last
convolution; H2 0.37 -> 0.26, R1 0.25 -> 0.18). Integral methods average that
step away (I1: 0.0014 px either way) and keep an all-int8 network: the float
layer costs time (ResNet-18 at 128x128, 1 thread: H1 4.7 ms vs I1 4.3 ms,
`python export/benchmark.py --build resnet18:H1:128 --build resnet18:I1:128`).

Why TFLite artifacts have batch 1: with a dynamic batch the converter keeps
the transposed convolutions' output shapes dynamic, and the graph ran about
1.4x slower (ResNet-18 at 128x128, 1 thread, fp32: 27 vs 19 ms on our 2-core
machine). SavedModel and ONNX keep the dynamic batch.

Example:

>>> model = IntegralPoseModel(backbone="resnet18", method="I1", skeleton="coco",
...                           input_size=(256, 256))
>>> crops = representative_crops(records, model, num=128)
>>> manifest = export(model, "exported", representative_data=crops)
>>> manifest["artifacts"]["tflite_int8"]["parity"]["mean_px"]
"""

import hashlib
import json
import os
import tempfile
import warnings

import keras
import numpy as np
import tensorflow as tf

from keras_integral import skeletons
from keras_integral.version import __version__
from keras_integral.models.pose_model import INTEGRAL_METHODS

FORMATS = ("saved_model", "tflite", "onnx")
QUANTIZATIONS = ("fp32", "fp16", "int8")
ONNX_OPSET = 17
# TFLite recommends 100-500 calibration samples; the cap also stops an
# infinite (training) stream passed by mistake.
MAX_REPRESENTATIVE_CROPS = 500
# Parity targets on the keypoint error against Keras, in input-crop pixels.
# fp32: an absolute bound on the maximum. fp16 and int8: bounds on the mean,
# given at a 256-pixel crop and scaled with the crop's larger side (a 64x64
# test model gets a quarter of them). Measured on a ResNet-18 I* trained for
# 900 steps at 256x256 on synthetic data (64 val crops): fp32 formats 2e-4 px
# max; fp16 0.006 px mean (0.04 max); int8 0.15 px mean (1.7 max), where a
# naive full-int8 conversion gives 120 px.
FP32_MAX_PX = 1e-3
FP16_MEAN_PX_AT_256 = 0.05
INT8_MEAN_PX_AT_256 = 1.0
# Feature-computing ops: they and every op they depend on are the network
# (quantized); all other ops are decoding (kept in float).
_NETWORK_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED", "CONV_3D",
                "CONV_3D_TRANSPOSE")
_PARITY_BATCH = 16


def export(
    model,
    out_dir,
    formats=FORMATS,
    quantize=QUANTIZATIONS,
    representative_data=None,
    allow_parity_loss=False,
    margin=1.25,
):
    """Writes deployable artifacts of a pose model, measures their parity, writes `manifest.json`.

    Args:
        model: an `IntegralPoseModel` (any method, backbone, 2D or 3D).
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
        margin: the box expansion the model was trained with
            (`transforms.box_to_crop`), recorded in the manifest for deployers.

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
    crops = _collect_crops(representative_data, model.input_size)
    out_dir = os.fspath(out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"out_dir {out_dir!r} is an existing file; export writes a directory (new or empty).")
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        raise ValueError(f"out_dir {out_dir!r} is not empty; export into a new or empty directory.")
    os.makedirs(out_dir, exist_ok=True)

    artifacts = {}
    if "saved_model" in formats:
        _write_saved_model(model, os.path.join(out_dir, "saved_model"), batch=None, uint8=True)
        artifacts["saved_model"] = {
            "path": "saved_model",
            "runtime": "tensorflow",
            "input": {"serving_default": "float32", "serve_uint8": "uint8"},
            "batch": None,
        }
    if "tflite" in formats:
        for name, content in _tflite_models(model, quantize, crops).items():
            path = f"model_{name}.tflite"
            with open(os.path.join(out_dir, path), "wb") as f:
                f.write(content)
            artifacts[f"tflite_{name}"] = {"path": path, "runtime": "ai-edge-litert", "input": "float32",
                                           "batch": 1, "quantization": name}
    if "onnx" in formats:
        _write_onnx(model, os.path.join(out_dir, "model.onnx"))
        artifacts["onnx"] = {"path": "model.onnx", "runtime": "onnxruntime", "input": "float32",
                             "batch": None, "opset": ONNX_OPSET}

    reference = _predict_keras(model, crops)
    targets = parity_targets(model)
    misses = []
    for name, artifact in artifacts.items():
        predicted = run_artifact(os.path.join(out_dir, artifact["path"]), crops)
        parity = _parity(reference, predicted)
        target = targets[artifact.get("quantization", "fp32")]
        parity["target"] = target
        parity["within_target"] = _within(parity, target)
        artifact["parity"] = parity
        if not parity["within_target"]:
            misses.append(f"{name}: {_describe(parity, target)}")

    manifest = _manifest(model, artifacts, crops, margin, out_dir)
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    if misses and not allow_parity_loss:
        raise ValueError(
            f"Exported artifacts in {out_dir!r} miss their parity target against Keras on "
            f"{len(crops)} representative crops: " + "; ".join(misses)
            + ". Pass allow_parity_loss=True to keep them anyway."
        )
    return manifest


def representative_crops(records, model, num=128, margin=1.25):
    """Input crops of person records, cut by the data pipeline (no augmentation).

    Args:
        records: `PoseRecord`s (any skeleton): the first `num` are used.
        model: the model to export (its `input_size` is the crop size).
        num: number of crops.
        margin: box expansion, as in training.

    Returns:
        float32 `(crops, H, W, 3)` RGB in [0, 255]; unreadable images are
        skipped, so there may be fewer than `num`.

    Example:

    >>> records = coco.load_records("person_keypoints_val2017.json", "val2017")
    >>> crops = representative_crops(records, model, num=128)
    """
    from keras_integral.data import pipeline

    if not len(records):
        raise ValueError("records is empty: representative crops need person records.")
    dataset = pipeline.make_dataset(list(records)[:num], records[0].skeleton, model.input_size, training=False,
                                    batch_size=16, margin=margin, dims=2)
    with pipeline.unreadable_as_value_error(dataset.skipped_images):
        return np.concatenate([images.numpy() for images, _ in dataset])


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
        session = _onnx_session(path)
        names = [o.name for o in session.get_outputs()]
        run = lambda batch: dict(zip(names, session.run(None, {"images": batch})))  # noqa: E731
        step = _PARITY_BATCH
    else:
        raise ValueError(f"Unknown artifact {path!r}: expected a saved_model directory, .tflite or .onnx.")
    outputs = [run(crops[i : i + step]) for i in range(0, len(crops), step)]
    return {key: np.concatenate([o[key] for o in outputs]) for key in ("keypoints", "scores")}


def float_decoding_nodes(tflite_model, with_last_layer=False):
    """Output tensor names of the ops of a float TFLite model that no convolution depends on.

    These are the decoding (softmax, expectations, arg-max, scores, the map
    to crop pixels): the int8 export keeps them in float32.

    Args:
        tflite_model: bytes of a float TFLite flatbuffer.
        with_last_layer: also name the network ops (convolutions, fully
            connected) that no other network op consumes: the layers whose
            output the decoding reads.

    Returns:
        list of tensor names, in execution order.

    Example:

    >>> float_decoding_nodes(fp32_bytes)[:3]
    ['i1_resnet18_1/integral_0_1/transpose', 'i1_resnet18_1/integral_0_1/Reshape', ...]
    """
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=tflite_model)
    ops = interpreter._get_ops_details()  # noqa: SLF001 (the only op-graph view LiteRT offers)
    names = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
    producer = {tensor: op["index"] for op in ops for tensor in op["outputs"]}
    network = set()
    pending = [op["index"] for op in ops if op["op_name"] in _NETWORK_OPS]
    while pending:
        index = pending.pop()
        if index not in network:
            network.add(index)
            pending.extend(producer[t] for t in ops[index]["inputs"] if t in producer)
    consumed = {t for op in ops if op["index"] in network for t in op["inputs"]}
    last = {op["index"] for op in ops if op["index"] in network and not consumed & set(op["outputs"])}
    floats = {op["index"] for op in ops if op["index"] not in network or (with_last_layer and op["index"] in last)}
    return [names[t] for op in ops if op["index"] in floats for t in op["outputs"]]


# === Writers ===


def _serving_functions(model):
    def serve(images):
        return model.predict_step(images)

    def serve_uint8(images):
        return model.predict_step(tf.cast(images, tf.float32))

    return serve, serve_uint8


def _write_saved_model(model, path, batch, uint8):
    shape = (batch, *model.input_size, 3)
    serve, serve_uint8 = _serving_functions(model)
    archive = keras.export.ExportArchive()
    archive.track(model)
    # The first endpoint is also written as `serving_default`.
    archive.add_endpoint("serve", serve, input_signature=[tf.TensorSpec(shape, tf.float32, name="images")])
    if uint8:
        archive.add_endpoint("serve_uint8", serve_uint8,
                             input_signature=[tf.TensorSpec(shape, tf.uint8, name="images")])
    archive.write_out(path, verbose=False)


def _tflite_models(model, quantize, crops):
    """{quantization: flatbuffer bytes}, converted from a batch-1 SavedModel."""
    models = {}
    with tempfile.TemporaryDirectory() as tmp:
        _write_saved_model(model, tmp, batch=1, uint8=False)

        def converter():
            return tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=["serving_default"])

        fp32 = converter().convert()
        if "fp32" in quantize:
            models["fp32"] = fp32
        if "fp16" in quantize:
            c = converter()
            c.optimizations = [tf.lite.Optimize.DEFAULT]
            c.target_spec.supported_types = [tf.float16]
            models["fp16"] = c.convert()
        if "int8" in quantize:
            # The integral averages the int8 step of the last layer away; other decodings need it in float.
            models["int8"] = _int8_model(converter(), fp32, crops, model.method not in INTEGRAL_METHODS)
    return models


def _int8_model(converter, fp32, crops, float_last_layer):
    """int8 backbone and head, float decoding (see the module docstring), float32 input and outputs."""

    def dataset():
        for crop in crops:
            yield {"images": crop[None]}

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = dataset
    options = tf.lite.experimental.QuantizationDebugOptions(
        denylisted_nodes=float_decoding_nodes(fp32, with_last_layer=float_last_layer)
    )
    with warnings.catch_warnings():
        # The debugger builds TF's own (deprecated) interpreter internally; we run LiteRT's.
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=dataset, debug_options=options
        )
        content = debugger.get_nondebug_quantized_model()
    _check_int8_layout(content)
    return content


def _check_int8_layout(content):
    """Fails loudly if a converter change quantized the softmax or left the network in float."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=content)
    dtypes = {t["index"]: t["dtype"] for t in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()  # noqa: SLF001
    if any(dtypes[t] != np.float32 for op in ops if op["op_name"] == "SOFTMAX" for t in op["outputs"]):
        raise RuntimeError("The int8 TFLite model has an int8 SOFTMAX: the soft-argmax would be biased.")
    if not any(dtypes[t] == np.int8 for op in ops if op["op_name"] in _NETWORK_OPS for t in op["outputs"]):
        raise RuntimeError("The int8 TFLite model has no int8 convolution: quantization did not apply.")


def _write_onnx(model, path):
    """ONNX via a frozen graph of `predict_step`, input `images`, outputs `keypoints` and `scores`.

    Freezing first: tf2onnx lists the constants a Keras model captures (its
    normalisation and pixel-mapping tensors) as extra graph inputs otherwise.
    """
    import onnx
    import tf2onnx
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    serve, _ = _serving_functions(model)
    spec = tf.TensorSpec((None, *model.input_size, 3), tf.float32, name="images")
    function = tf.function(serve).get_concrete_function(spec)
    frozen = convert_variables_to_constants_v2(function)
    keys = sorted(function.structured_outputs)  # the flat outputs follow the sorted dict keys
    graph_def = frozen.graph.as_graph_def()
    # Keras runs grouped convolutions (keras-hub's depthwise convs) as XLA-compiled, no-inline
    # calls on CPU; unmarked, tf2onnx's optimizer inlines them into plain (grouped) Conv2D nodes.
    for node in graph_def.node:
        node.attr.pop("_XlaMustCompile", None)
    for function_def in graph_def.library.function:
        function_def.attr.pop("_XlaMustCompile", None)
        function_def.attr.pop("_noinline", None)
    proto, _ = tf2onnx.convert.from_graph_def(
        graph_def,
        input_names=[frozen.inputs[0].name],
        output_names=[t.name for t in frozen.outputs],
        opset=ONNX_OPSET,
    )
    renames = {frozen.inputs[0].name: "images", **{t.name: k for t, k in zip(frozen.outputs, keys)}}
    for value in list(proto.graph.input) + list(proto.graph.output):
        value.name = renames.get(value.name, value.name)
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    for node in proto.graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
    onnx.checker.check_model(proto)
    onnx.save(proto, path)


# === Parity and manifest ===


def _predict_keras(model, crops):
    outputs = [model.predict_step(crops[i : i + _PARITY_BATCH]) for i in range(0, len(crops), _PARITY_BATCH)]
    return {key: np.concatenate([np.asarray(o[key]) for o in outputs]) for key in ("keypoints", "scores")}


def _parity(reference, predicted):
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


def _within(parity, target):
    stat = target["statistic"]
    ok = parity[f"{stat}_px"] <= target["px"]
    if "z_mm" in target:
        ok = ok and parity[f"{stat}_z_mm"] <= target["z_mm"]
    return bool(ok)


def _describe(parity, target):
    stat = target["statistic"]
    text = f"{stat} keypoint error {parity[f'{stat}_px']:.4g} px (target <= {target['px']:.4g} px)"
    if "z_mm" in target:
        text += f", {stat} z error {parity[f'{stat}_z_mm']:.4g} mm (target <= {target['z_mm']:.4g} mm)"
    return text


def _manifest(model, artifacts, crops, margin, out_dir):
    skeleton = skeletons.get(model.skeleton)
    height, width = model.input_size
    dims = 3 if model.depth_bins else 2
    files = {}
    for root, _, names in os.walk(out_dir):
        for name in sorted(names):
            full = os.path.join(root, name)
            rel = os.path.relpath(full, out_dir).replace(os.sep, "/")
            if rel != "manifest.json":
                files[rel] = {"sha256": _sha256(full), "bytes": os.path.getsize(full)}
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
                "margin": margin,
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


# === Checks and helpers ===


def _check_model(model):
    missing = [a for a in ("input_size", "skeleton", "depth_bins", "method", "predict_step") if not hasattr(model, a)]
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


def _collect_crops(data, input_size):
    if data is None:
        raise ValueError(
            "representative_data is required: RGB crops (n, H, W, 3) in [0, 255], e.g. "
            "keras_integral.export.representative_crops(records, model)."
        )
    batches = [data] if isinstance(data, np.ndarray) or tf.is_tensor(data) else data
    collected, count = [], 0
    for batch in batches:
        batch = batch[0] if isinstance(batch, (tuple, list)) else batch
        batch = np.asarray(batch, np.float32)
        if batch.ndim == 3:
            batch = batch[None]
        collected.append(batch[: MAX_REPRESENTATIVE_CROPS - count])
        count += len(collected[-1])
        if count >= MAX_REPRESENTATIVE_CROPS:
            break
    crops = np.concatenate(collected) if collected else np.zeros((0, *input_size, 3), np.float32)
    expected = (*input_size, 3)
    if crops.ndim != 4 or crops.shape[1:] != expected or not len(crops):
        raise ValueError(
            f"representative_data must hold crops of shape (n >= 1, {', '.join(map(str, expected))}), "
            f"received {crops.shape}."
        )
    if not np.all(np.isfinite(crops)) or crops.min() < 0 or crops.max() > 255:
        raise ValueError(
            "representative_data must be RGB in [0, 255] (normalisation is inside the model), received "
            f"values in [{np.nanmin(crops)}, {np.nanmax(crops)}]."
        )
    return crops


def _onnx_session(path):
    import onnxruntime

    return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
