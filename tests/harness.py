"""Short test harnesses (keras-hub style): layer round trips and TFLite/ONNX runs."""

import os

import keras
import numpy as np
from keras.ops import convert_to_numpy as to_numpy


def run_layer_test(layer, inputs, expected_output_shape, tmp_path):
    """Calls `layer` eagerly, checks shapes, `get_config` round trip and `.keras` saving.

    Returns the eager outputs as NumPy arrays.
    """
    outputs = layer(inputs)
    flat = outputs if isinstance(outputs, (tuple, list)) else [outputs]
    expected = expected_output_shape if isinstance(outputs, (tuple, list)) else [expected_output_shape]
    assert [tuple(o.shape) for o in flat] == [tuple(e) for e in expected]
    symbolic = layer.compute_output_shape(inputs.shape)
    symbolic = symbolic if isinstance(outputs, (tuple, list)) else [symbolic]
    assert [tuple(s) for s in symbolic] == [tuple(e) for e in expected]

    clone = layer.__class__.from_config(layer.get_config())
    for a, b in zip(flat, _flat(clone(inputs))):
        np.testing.assert_allclose(to_numpy(a), to_numpy(b), rtol=1e-6, atol=1e-6)

    symbolic_in = keras.Input(inputs.shape[1:])
    model = keras.Model(symbolic_in, layer(symbolic_in))
    run_model_saving_test(model, inputs, tmp_path)
    return keras.tree.map_structure(to_numpy, outputs)


def run_model_saving_test(model, inputs, tmp_path):
    """Saves `model` to `.keras`, reloads it in safe mode, and checks identical outputs."""
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    for a, b in zip(_flat(model(inputs)), _flat(loaded(inputs))):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))
    return loaded


def run_tflite(model_bytes, inputs):
    """Runs a TFLite flatbuffer with ai-edge-litert; returns {output name: array} and op names."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model_bytes)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], inputs)
    interpreter.invoke()
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    return [interpreter.get_tensor(o["index"]) for o in interpreter.get_output_details()], ops


def _flat(x):
    if isinstance(x, dict):
        return [x[k] for k in sorted(x)]
    return list(x) if isinstance(x, (tuple, list)) else [x]


def pose_batch(model, rng, n=4):
    """A random training batch for a pose model: crops and {keypoints, weights} in its input size.

    3D models get z in mm with half the batch 2D-only (z weight 0), as in mixed
    training; joint 3 of the first sample is unlabelled.
    """
    height, width = model.input_size
    dims = 3 if model.depth_bins else 2
    joints = model.output["keypoints"].shape[1]
    images = rng.uniform(0, 255, size=(n, height, width, 3)).astype("float32")
    keypoints = rng.uniform(6, min(height, width) - 6, size=(n, joints, dims)).astype("float32")
    weights = np.ones_like(keypoints)
    if dims == 3:
        keypoints[..., 2] = rng.normal(scale=300, size=(n, joints))
        weights[: n // 2, :, 2] = 0.0
    weights[0, 3] = 0.0
    return images, {"keypoints": keypoints, "weights": weights}


def value_and_gradient(fn, x):
    """`(fn(x), d sum(fn(x)) / dx)` as NumPy arrays, with the current Keras backend's autodiff.

    Keras has no backend-neutral gradient, so this is each backend's own: the
    same gradient tests then run under TensorFlow, JAX and PyTorch.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = fn(x)
            total = tf.reduce_sum(out)
        return out.numpy(), tape.gradient(total, x).numpy()
    if backend == "jax":
        import jax

        out, pullback = jax.vjp(fn, jax.numpy.asarray(x))
        return np.asarray(out), np.asarray(pullback(jax.numpy.ones_like(out))[0])
    if backend == "torch":
        import torch

        x = torch.tensor(x, requires_grad=True)
        out = fn(x)
        out.sum().backward()
        return out.detach().numpy(), x.grad.numpy()
    raise NotImplementedError(f"value_and_gradient: no autodiff for Keras backend {backend!r}.")


def run_cli(argv, capsys):
    """`keras-integral ARGV` in-process: `(exit code, stdout, stderr)`."""
    from keras_integral import cli

    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code, err, *words):
    """The CLI's answer to bad input: exit status 2, one line on stderr naming each of `words`, no traceback."""
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for word in words:
        assert word in err, err
