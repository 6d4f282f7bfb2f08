"""ONNX: a frozen graph of the model's `predict_step`, converted by tf2onnx, dynamic batch."""

import tensorflow as tf

from keras_integral.export.saved_model import serving_functions

ONNX_OPSET = 17


def write_onnx(model, path):
    """ONNX via a frozen graph of `predict_step`, input `images`, outputs `keypoints` and `scores`.

    Freezing first: tf2onnx lists the constants a Keras model captures (its
    normalisation and pixel-mapping tensors) as extra graph inputs otherwise.
    """
    import onnx
    import tf2onnx
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    serve, _ = serving_functions(model)
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


def onnx_session(path):
    import onnxruntime

    return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
