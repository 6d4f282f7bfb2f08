"""Tests for `keras_integral.models.heads`: DeconvHead and RegressionHead.

References are computed independently in NumPy: a PyTorch-semantics
transposed convolution (`out = (in - 1) * stride - 2 * pad + kernel`,
kernel layout `(in, out, kh, kw)`), inference-mode BN, global average
pooling and a dense layer.
"""

import keras
import numpy as np
import pytest

from keras_integral.models.heads import DeconvHead
from keras_integral.models.heads import RegressionHead
from tests.harness import run_model_saving_test

# Runs under each Keras backend (conftest.py).
pytestmark = pytest.mark.all_backends

BN_EPS = 1e-5
to_numpy = keras.ops.convert_to_numpy


def torch_conv_transpose2d(x, weight, stride, padding):
    """NumPy ConvTranspose2d as PyTorch defines it, for one image.

    x: (h, w, in); weight: (in, out, kh, kw) PyTorch layout. Every input
    pixel (i, j) scatters `x[i, j] @ weight[:, :, ki, kj]` to output pixel
    (i * stride - padding + ki, j * stride - padding + kj).
    """
    h, w, _ = x.shape
    _, c_out, kh, kw = weight.shape
    out_h = (h - 1) * stride - 2 * padding + kh
    out_w = (w - 1) * stride - 2 * padding + kw
    out = np.zeros((out_h, out_w, c_out))
    for i in range(h):
        for j in range(w):
            for ki in range(kh):
                for kj in range(kw):
                    y, xx = i * stride - padding + ki, j * stride - padding + kj
                    if 0 <= y < out_h and 0 <= xx < out_w:
                        out[y, xx] += x[i, j] @ weight[:, :, ki, kj]
    return out


def _assert_keras_file_roundtrip(layer, x, tmp_path):
    """A one-layer model survives `.keras` saving: same class, config, outputs."""
    inputs = keras.Input(shape=x.shape[1:])
    loaded = run_model_saving_test(keras.Model(inputs, layer(inputs)), x, tmp_path)
    assert type(loaded.layers[-1]) is type(layer)
    assert loaded.layers[-1].get_config() == layer.get_config()


@pytest.mark.parametrize("kernel_size, torch_padding", [(4, 1), (2, 0)])
def test_deconv_head_equals_numpy_pytorch_semantics(kernel_size, torch_padding):
    rng = np.random.default_rng(0)
    c_in, filters, out_channels = 3, 4, 2
    x = rng.normal(size=(1, 3, 5, c_in)).astype("float32")
    head = DeconvHead(out_channels, num_deconv=2, filters=filters, kernel_size=kernel_size)
    head.build(x.shape)

    # Weights drawn in PyTorch layouts, imported as the docstring says.
    torch_deconvs = [
        rng.normal(size=(c, filters, kernel_size, kernel_size))
        for c in (c_in, filters)
    ]
    torch_final = rng.normal(size=(out_channels, filters, 1, 1))
    bias = rng.normal(size=out_channels)
    for deconv, w in zip(head.deconvs, torch_deconvs):
        deconv.set_weights([w.transpose(2, 3, 1, 0)])
    head.final_conv.set_weights([torch_final.transpose(2, 3, 1, 0), bias])

    y = x[0].astype("float64")
    for w in torch_deconvs:
        y = torch_conv_transpose2d(y, w, stride=2, padding=torch_padding)
        # Fresh BN in inference: mean 0, var 1, gamma 1, beta 0.
        y = np.maximum(y / np.sqrt(1 + BN_EPS), 0)
    expected = y @ torch_final[:, :, 0, 0].T + bias

    assert expected.shape == (12, 20, out_channels)  # 3 -> 6 -> 12, 5 -> 10 -> 20
    got = to_numpy(head(x, training=False))[0]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_deconv_head_output_shape_and_names():
    head = DeconvHead(17)
    x = np.zeros((2, 8, 6, 32), "float32")
    assert tuple(head(x).shape) == (2, 64, 48, 17)
    assert head.compute_output_shape((None, None, 6, 32)) == (None, None, 48, 17)
    symbolic = DeconvHead(17, num_deconv=2)(keras.Input((None, None, 32)))
    assert tuple(symbolic.shape) == (None, None, None, 17)
    names = {w.path.split("/")[1] for w in head.weights}
    expected = {f"head_{kind}_{i}" for kind in ("deconv", "bn") for i in range(3)}
    assert names == expected | {"head_final_conv"}


def test_deconv_head_initialisation_follows_authors():
    head = DeconvHead(17, num_deconv=1, filters=256)
    head.build((None, 8, 8, 512))
    kernel = to_numpy(head.deconvs[0].kernel)
    assert kernel.shape == (4, 4, 256, 512)
    assert abs(kernel.std() - 0.001) < 0.00002  # 2M samples: ~0.05% error
    assert abs(kernel.mean()) < 0.00002
    assert abs(to_numpy(head.final_conv.kernel).std() - 0.001) < 0.0001
    np.testing.assert_array_equal(to_numpy(head.final_conv.bias), 0)
    assert head.norms[0].epsilon == BN_EPS and head.norms[0].momentum == 0.9
    assert not head.deconvs[0].use_bias


def test_deconv_head_no_upsampling_is_a_conv():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1, 4, 4, 3)).astype("float32")
    head = DeconvHead(2, num_deconv=0, final_kernel_size=3)
    y = to_numpy(head(x))
    kernel, bias = (to_numpy(v) for v in head.final_conv.weights)
    xp = np.pad(x[0], ((1, 1), (1, 1), (0, 0)))
    expected = bias + sum(
        xp[ki : ki + 4, kj : kj + 4] @ kernel[ki, kj] for ki in range(3) for kj in range(3)
    )
    np.testing.assert_allclose(y[0], expected, rtol=1e-5, atol=1e-7)


def test_deconv_head_config_and_keras_file_roundtrip(tmp_path):
    rng = np.random.default_rng(2)
    head = DeconvHead(5, num_deconv=2, filters=8, name="my_head")
    head.build((None, 2, 3, 4))
    # Non-trivial BN statistics, so a weight mix-up would show.
    head.set_weights([rng.uniform(0.5, 1.5, size=w.shape) for w in head.get_weights()])
    config = head.get_config()
    clone = DeconvHead.from_config(config)
    assert clone.get_config() == config
    assert config["num_deconv"] == 2 and config["name"] == "my_head"
    x = rng.uniform(size=(2, 2, 3, 4)).astype("float32")
    _assert_keras_file_roundtrip(head, x, tmp_path)


@pytest.mark.parametrize(
    "kwargs, arg",
    [
        ({"out_channels": 0}, "out_channels"),
        ({"out_channels": 17, "kernel_size": 3}, "kernel_size"),
        ({"out_channels": 17, "num_deconv": -1}, "num_deconv"),
        ({"out_channels": 17, "final_kernel_size": 2}, "final_kernel_size"),
        ({"out_channels": 17, "filters": 0}, "filters"),
    ],
)
def test_deconv_head_rejects_bad_arguments(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        DeconvHead(**kwargs)


def test_regression_head_equals_pool_and_dense():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 3, 4, 6)).astype("float32")
    head = RegressionHead(num_joints=5, dims=3)
    head.build(x.shape)
    kernel = rng.normal(size=(6, 15))
    bias = rng.normal(size=15)
    head.fc.set_weights([kernel, bias])
    expected = (x.mean(axis=(1, 2)) @ kernel + bias).reshape(2, 5, 3)
    np.testing.assert_allclose(to_numpy(head(x)), expected, rtol=1e-5, atol=1e-5)
    assert head.compute_output_shape((None, 3, 4, 6)) == (None, 5, 3)
    assert [w.path for w in head.weights] == ["head/head_fc/kernel", "head/head_fc/bias"]


def test_regression_head_init_config_and_keras_file_roundtrip(tmp_path):
    head = RegressionHead(num_joints=4)
    head.build((None, 2, 2, 64))
    assert abs(to_numpy(head.fc.kernel).std() - 0.001) < 0.0002
    np.testing.assert_array_equal(to_numpy(head.fc.bias), 0)
    clone = RegressionHead.from_config(head.get_config())
    assert (clone.num_joints, clone.dims) == (4, 2)
    rng = np.random.default_rng(4)
    head.fc.set_weights([rng.normal(size=(64, 8)), rng.normal(size=8)])
    x = rng.normal(size=(2, 2, 2, 64)).astype("float32")
    _assert_keras_file_roundtrip(head, x, tmp_path)


@pytest.mark.parametrize(
    "kwargs, arg", [({"num_joints": 0}, "num_joints"), ({"num_joints": 17, "dims": 4}, "dims")]
)
def test_regression_head_rejects_bad_arguments(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        RegressionHead(**kwargs)
