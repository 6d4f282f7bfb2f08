"""TFLite (LiteRT) flatbuffers: fp32, fp16 weights, and int8 with a float decoding.

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
`python benchmarks/export_latency.py --build resnet18:H1:128 --build resnet18:I1:128`).
The debiased integral (`IntegralPoseModel(debias=True)`, MMPose's debias-IPR)
keeps it in float as well: its correction reads the maps' absolute level,
which the int8 step shifts (`keeps_last_layer_in_float`).

Why TFLite artifacts have batch 1: with a dynamic batch the converter keeps
the transposed convolutions' output shapes dynamic, and the graph ran about
1.4x slower (ResNet-18 at 128x128, 1 thread, fp32: 27 vs 19 ms on our 2-core
machine). SavedModel and ONNX keep the dynamic batch.
"""

import tempfile
import warnings

import numpy as np
import tensorflow as tf

from keras_integral import methods
from keras_integral.export.saved_model import write_saved_model

QUANTIZATIONS = ("fp32", "fp16", "int8")
# Feature-computing ops: they and every op they depend on are the network
# (quantized); all other ops are decoding (kept in float).
_NETWORK_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED", "CONV_3D",
                "CONV_3D_TRANSPOSE")


def tflite_models(model, quantize, crops):
    """{quantization: flatbuffer bytes}, converted from a batch-1 SavedModel."""
    models = {}
    with tempfile.TemporaryDirectory() as tmp:
        write_saved_model(model, tmp, batch=1, uint8=False)

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
            models["int8"] = _int8_model(converter(), fp32, crops, keeps_last_layer_in_float(model))
    return models


def keeps_last_layer_in_float(model):
    """Whether int8 keeps the layer that feeds the decoding in float: the integral averages that
    layer's int8 step away; arg-max and direct regression read it value by value, and the debiased
    integral (MMPose's debias-IPR) reads the maps' absolute level, `C = sum(exp(maps))`, which the
    step shifts (a random ResNet-18 conversion at 64x64: 1.25 px mean int8 error with an int8 last
    layer, 0.53 px with a float one, 0.55 px for the same network decoded without debias)."""
    return methods.get(model.method).decoder != "integral" or bool(getattr(model, "debias", False))


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
