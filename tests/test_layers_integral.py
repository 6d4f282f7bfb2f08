"""The integral layers against NumPy, hand-computed cases and finite differences."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.ops import convert_to_numpy as to_numpy

from keras_integral.layers import IntegralRegression2D
from keras_integral.layers import IntegralRegression3D
from keras_integral.layers import MarginalIntegral3D
from tests.harness import run_layer_test
from tests.harness import run_tflite
from tests.harness import value_and_gradient

# Every test here runs under each Keras backend, except those marked `tensorflow` (conftest.py).
pytestmark = pytest.mark.all_backends


def numpy_integral(logits):
    """Independent reference: (b, *spatial, k) -> (b, k, n) with explicit loops over cells."""
    b, *spatial, k = logits.shape
    out = np.zeros((b, k, len(spatial)))
    grids = np.meshgrid(*[np.arange(n) for n in spatial], indexing="ij")  # (h, w[, d]) index grids
    for i in range(b):
        for j in range(k):
            z = logits[i, ..., j].astype(np.float64)
            p = np.exp(z - z.max())
            p /= p.sum()
            # axis order of the map is (h, w[, d]); coordinates are (x, y[, z]).
            out[i, j, 0] = (p * grids[1]).sum()
            out[i, j, 1] = (p * grids[0]).sum()
            if len(spatial) == 3:
                out[i, j, 2] = (p * grids[2]).sum()
    return out


def test_2d_matches_numpy_reference(rng, tmp_path):
    logits = rng.normal(scale=3.0, size=(2, 6, 7, 3)).astype("float32")
    out = run_layer_test(IntegralRegression2D(), logits, (2, 3, 2), tmp_path)
    np.testing.assert_allclose(out, numpy_integral(logits), atol=1e-5)


def test_3d_matches_numpy_reference(rng, tmp_path):
    logits = rng.normal(scale=3.0, size=(2, 5, 6, 4, 3)).astype("float32")
    out = run_layer_test(IntegralRegression3D(), logits, (2, 3, 3), tmp_path)
    np.testing.assert_allclose(out, numpy_integral(logits), atol=1e-5)


@pytest.mark.parametrize("row,col", [(0, 0), (3, 6), (2, 5), (4, 1)])
def test_one_hot_map_gives_its_index(row, col):
    logits = np.full((1, 5, 7, 2), -1e4, "float32")
    logits[0, row, col, 0] = 0.0
    logits[0, 4 - row, 6 - col, 1] = 0.0
    out = to_numpy(IntegralRegression2D()(logits))
    np.testing.assert_allclose(out[0], [[col, row], [6 - col, 4 - row]], atol=1e-6)


def test_one_hot_volume_gives_its_index():
    logits = np.full((1, 4, 5, 6, 1), -1e4, "float32")
    logits[0, 3, 1, 4, 0] = 0.0
    np.testing.assert_allclose(to_numpy(IntegralRegression3D()(logits))[0, 0], [1, 3, 4], atol=1e-6)


# Centres on cells or between two cells: only then is the sampled map symmetric.
@pytest.mark.parametrize("centre", [(4.0, 3.0), (3.5, 5.5), (5.0, 4.5)])
def test_symmetric_blob_gives_its_centre(centre):
    h, w = 9, 10
    ys, xs = np.mgrid[0:h, 0:w]
    logits = -((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) * 2.0  # sharp, symmetric
    out = to_numpy(IntegralRegression2D()(logits[None, :, :, None].astype("float32")))
    np.testing.assert_allclose(out[0, 0], centre, atol=1e-4)


def test_uniform_map_gives_the_map_centre():
    out = to_numpy(IntegralRegression2D()(np.zeros((1, 4, 7, 1), "float32")))
    np.testing.assert_allclose(out[0, 0], [3.0, 1.5], atol=1e-6)


def test_horizontal_flip_maps_x_to_w_minus_1_minus_x(rng):
    logits = rng.normal(size=(2, 6, 8, 3)).astype("float32")
    layer = IntegralRegression2D()
    out = to_numpy(layer(logits))
    flipped = to_numpy(layer(logits[:, :, ::-1, :].copy()))
    np.testing.assert_allclose(flipped[..., 0], 8 - 1 - out[..., 0], atol=1e-5)
    np.testing.assert_allclose(flipped[..., 1], out[..., 1], atol=1e-5)
    twice = to_numpy(layer(logits[:, :, ::-1, :][:, :, ::-1, :].copy()))
    np.testing.assert_allclose(twice, out, atol=1e-6)


def test_marginals_sum_to_one_and_coordinates_equal_direct_3d(rng, tmp_path):
    logits = rng.normal(scale=2.0, size=(2, 6, 5, 4, 3)).astype("float32")
    coords, mx, my, mz = run_layer_test(
        MarginalIntegral3D(), logits, [(2, 3, 3), (2, 5, 3), (2, 6, 3), (2, 4, 3)], tmp_path
    )
    for m in (mx, my, mz):
        np.testing.assert_allclose(np.sum(m, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(coords, to_numpy(IntegralRegression3D()(logits)), atol=1e-5)
    # Marginals equal sums of the NumPy softmax volume (Eq. 5).
    z = logits.astype(np.float64)
    flat = z.reshape(2, -1, 3)
    p = np.exp(flat - flat.max(axis=1, keepdims=True))
    p = (p / p.sum(axis=1, keepdims=True)).reshape(z.shape)
    np.testing.assert_allclose(mx, p.sum(axis=(1, 3)), atol=1e-6)
    np.testing.assert_allclose(my, p.sum(axis=(2, 3)), atol=1e-6)
    np.testing.assert_allclose(mz, p.sum(axis=(1, 2)), atol=1e-6)


@pytest.mark.parametrize("layer_cls,shape", [
    (IntegralRegression2D, (2, 4, 5, 3)),
    (IntegralRegression3D, (2, 4, 5, 3, 2)),
])
def test_extreme_logits_give_finite_values_and_gradients(layer_cls, shape, rng):
    logits = rng.choice([-1e4, 1e4], size=shape).astype("float32")
    layer = layer_cls()
    out, grad = value_and_gradient(lambda x: keras.ops.square(layer(x)), logits)
    assert np.all(np.isfinite(out))
    assert np.all(np.isfinite(grad))


def test_gradient_matches_finite_differences(rng):
    logits = rng.normal(size=(1, 3, 4, 2))
    layer = IntegralRegression2D(dtype="float64")
    weights = rng.normal(size=(1, 2, 2))

    def f(x):
        return float(np.sum(to_numpy(layer(x)) * weights))

    _, analytic = value_and_gradient(lambda x: keras.ops.multiply(layer(x), weights), logits)
    # JAX computes in float32 unless x64 is switched on process-wide: a wider step and tolerance there.
    float64 = to_numpy(layer(logits)).dtype == np.float64
    eps, rtol, atol = (1e-6, 1e-5, 1e-7) if float64 else (1e-2, 2e-3, 1e-4)
    numeric = np.zeros_like(logits)
    for idx in np.ndindex(logits.shape):
        up, down = logits.copy(), logits.copy()
        up[idx] += eps
        down[idx] -= eps
        numeric[idx] = (f(up) - f(down)) / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol)


def test_mixed_float16_computes_softmax_in_float32(rng):
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        layer = IntegralRegression2D()
        logits16 = rng.normal(scale=5000.0, size=(1, 8, 8, 2)).astype("float16")
        out = layer(keras.ops.convert_to_tensor(logits16))
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    reference = numpy_integral(logits16.astype(np.float32))
    np.testing.assert_allclose(to_numpy(out), reference, atol=1e-4)


@pytest.mark.tensorflow
def test_jit_compile_matches_eager(rng):
    logits = tf.constant(rng.normal(size=(2, 6, 6, 4, 3)).astype("float32"))
    layer = MarginalIntegral3D()
    compiled = tf.function(lambda x: layer(x), jit_compile=True)
    for a, b in zip(compiled(logits), layer(logits)):
        np.testing.assert_allclose(to_numpy(a), to_numpy(b), atol=1e-6)


@pytest.mark.parametrize("layer_cls,bad_shape,expected", [
    (IntegralRegression2D, (1, 4, 4), "(batch, h, w, joints)"),
    (IntegralRegression2D, (1, 4, 4, 2, 3), "(batch, h, w, joints)"),
    (IntegralRegression3D, (1, 4, 4, 3), "(batch, h, w, depth, joints)"),
    (MarginalIntegral3D, (1, 4, 4, 3), "(batch, h, w, depth, joints)"),
])
def test_wrong_rank_names_expected_and_received_shapes(layer_cls, bad_shape, expected):
    with pytest.raises(ValueError) as info:
        layer_cls()(np.zeros(bad_shape, "float32"))
    assert expected in str(info.value)
    assert str(bad_shape) in str(info.value)


@pytest.mark.tensorflow
def test_model_ending_in_integral_converts_to_tflite_builtins_and_onnx(rng, tmp_path):
    inputs = keras.Input((16, 16, 3))
    maps = keras.layers.Conv2D(5 * 4, 3, padding="same")(inputs)
    volume = keras.layers.Reshape((16, 16, 4, 5))(maps)
    coords = IntegralRegression3D()(volume)
    coords2d = IntegralRegression2D()(keras.layers.Conv2D(5, 1)(inputs))
    model = keras.Model(inputs, [coords, coords2d])
    x = rng.uniform(0, 1, size=(1, 16, 16, 3)).astype("float32")
    expected = [to_numpy(o) for o in model(x)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # no Flex
    outputs, op_names = run_tflite(converter.convert(), x)
    assert not any("Flex" in name for name in op_names)
    got = sorted(outputs, key=lambda a: a.shape[-1])
    want = sorted(expected, key=lambda a: a.shape[-1])
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, atol=1e-4)

    import onnxruntime

    path = str(tmp_path / "model.onnx")
    model.export(path, format="onnx", verbose=False)
    session = onnxruntime.InferenceSession(path)
    got = session.run(None, {session.get_inputs()[0].name: x})
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_debias_is_gu_et_al_as_mmpose_computes_it(rng, tmp_path):
    # MMPose's IntegralRegressionHead(debias=True): on x / w, C / (C - 1) * (x / w - 1 / (2C)),
    # C = sum(exp(raw logits)); the layer sees the logits times beta (the model's integral_scale).
    raw = (rng.normal(scale=0.5, size=(2, 6, 7, 3)) - 2.0).astype("float32")  # C about 6: a large correction
    beta = 10.0
    layer = IntegralRegression2D(debias=True, logit_scale=beta)
    out = run_layer_test(layer, raw * beta, (2, 3, 2), tmp_path)
    c = np.exp(raw.astype(np.float64)).sum(axis=(1, 2))[..., None]  # (b, k, 1)
    plain = numpy_integral(raw * beta) / np.array([7, 6])
    expected = c / (c - 1) * (plain - 1 / (2 * c)) * np.array([7, 6])
    np.testing.assert_allclose(out, expected, atol=1e-4)
    assert np.abs(expected - plain * np.array([7, 6])).mean() > 0.1  # the case is one where debias matters
    # Where MMPose's C overflows float32 (its result NaN), the limit: the plain integral.
    huge = np.zeros((1, 4, 4, 1), "float32")
    huge[0, 1, 2, 0] = 200.0
    np.testing.assert_allclose(to_numpy(IntegralRegression2D(debias=True)(huge)), [[[2.0, 1.0]]], atol=1e-5)
    with pytest.raises(ValueError, match="logit_scale"):
        IntegralRegression2D(debias=True, logit_scale=0.0)
