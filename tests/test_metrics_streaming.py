"""Streaming PCK and MPJPE equal the NumPy evaluators, under tf.function, XLA and model.evaluate."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_integral.metrics import MPJPE
from keras_integral.metrics import PCK
from keras_integral.metrics import mpjpe
from keras_integral.metrics import pck

# Runs under each Keras backend (conftest.py).
pytestmark = pytest.mark.all_backends


def batches(seed, count=3, joints=5, dims=3):
    """Keypoints in crop pixels (z in mm) with per-coordinate weights, some joints partly unlabelled."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        y_true = rng.uniform(0, 64, (4, joints, dims)).astype("float32")
        y_pred = (y_true + rng.normal(0, 4, y_true.shape)).astype("float32")
        weights = (rng.uniform(size=y_true.shape) > 0.2).astype("float32")
        yield y_true, y_pred, weights


def numpy_pooled(seed, input_size, threshold, scale):
    data = list(batches(seed))
    y_true, y_pred, weights = (np.concatenate(parts) for parts in zip(*data))
    pck_value = pck(y_pred[..., :2], y_true[..., :2], max(input_size), weights[..., :2], threshold)["mean"] / 100
    per_sample = mpjpe(y_pred * scale, y_true * scale, weights)
    count = (weights > 0).all(axis=-1).sum(axis=1)
    mpjpe_value = np.nansum(per_sample * count) / count.sum()
    return pck_value, mpjpe_value


def test_equal_numpy_over_batches_and_reset():
    input_size, threshold, scale = (64, 48), 0.1, np.array([4.0, 4.0, 1.0])
    pck_metric = PCK(input_size, threshold)
    mpjpe_metric = MPJPE(coordinate_scale=scale)
    for seed in (0, 1):  # the second round checks that reset_state forgets the first
        pck_metric.reset_state()
        mpjpe_metric.reset_state()
        for y_true, y_pred, weights in batches(seed):
            pck_metric.update_state(y_true, y_pred, sample_weight=weights)
            mpjpe_metric.update_state(y_true, y_pred, sample_weight=weights)
        expected_pck, expected_mpjpe = numpy_pooled(seed, input_size, threshold, scale)
        assert 0.1 < expected_pck < 0.9  # a case that can tell counts apart
        assert float(pck_metric.result()) == pytest.approx(expected_pck, rel=1e-6)
        assert float(mpjpe_metric.result()) == pytest.approx(expected_mpjpe, rel=1e-5)
    pck_metric.reset_state()
    assert float(pck_metric.result()) == 0.0


def test_weights_count_joints_per_coordinate():
    y_true = np.zeros((1, 3, 3), "float32")
    y_pred = np.array([[[1, 0, 500], [100, 0, 0], [100, 0, 0]]], "float32")
    weights = np.array([[[1, 1, 0], [1, 0, 1], [0, 1, 1]]], "float32")  # only joint 0 has x and y
    metric = PCK((32, 32), 0.05)
    metric.update_state(y_true, y_pred, weights)
    assert float(metric.result()) == 1.0  # z weight does not matter for PCK
    error = MPJPE()
    error.update_state(y_true, y_pred, np.array([[[1, 1, 1], [1, 1, 0], [1, 1, 1]]], "float32"))
    assert float(error.result()) == pytest.approx((np.hypot(1, 500) + 100) / 2)  # joint 1 lacks z


@pytest.mark.tensorflow
def test_xla_function_equals_eager():
    metric, eager = MPJPE((2.0, 2.0, 1.0)), MPJPE((2.0, 2.0, 1.0))
    pck_xla, pck_eager = PCK((64, 64)), PCK((64, 64))

    @tf.function(jit_compile=True)
    def update(y_true, y_pred, weights):
        metric.update_state(y_true, y_pred, weights)
        pck_xla.update_state(y_true, y_pred, weights)

    for y_true, y_pred, weights in batches(3):
        update(y_true, y_pred, weights)
        eager.update_state(y_true, y_pred, weights)
        pck_eager.update_state(y_true, y_pred, weights)
    assert float(metric.result()) == pytest.approx(float(eager.result()), rel=1e-6)
    assert float(pck_xla.result()) == pytest.approx(float(pck_eager.result()))


def test_model_evaluate_with_per_coordinate_sample_weight():
    inputs = keras.Input((4,))
    keypoints = keras.layers.Reshape((5, 3))(keras.layers.Dense(15, kernel_initializer="ones")(inputs))
    model = keras.Model(inputs, keypoints)
    # Keras passes sample_weight to weighted_metrics only; an element-wise loss takes it as it is.
    model.compile(
        loss=lambda t, p: keras.ops.abs(t - p), weighted_metrics=[PCK((64, 64), 0.2), MPJPE()], jit_compile=True
    )
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 4, (8, 4)).astype("float32")
    y = rng.uniform(0, 30, (8, 5, 3)).astype("float32")
    w = (rng.uniform(size=y.shape) > 0.3).astype("float32")
    logs = model.evaluate(x, y, sample_weight=w, batch_size=3, verbose=0, return_dict=True)
    pred = model.predict(x, verbose=0)
    assert logs["pck"] == pytest.approx(pck(pred[..., :2], y[..., :2], 64, w[..., :2], 0.2)["mean"] / 100, rel=1e-6)
    count = (w > 0).all(axis=-1).sum(axis=1)
    expected = np.nansum(mpjpe(pred, y, w) * count) / count.sum()
    assert logs["mpjpe"] == pytest.approx(expected, rel=1e-5)


def test_config_round_trip():
    for metric in (PCK((256, 192), 0.1, name="pck_01"), MPJPE((3.9, 3.9, 1.0), name="mpjpe_mm")):
        restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(metric))
        assert type(restored) is type(metric)
        assert restored.get_config() == metric.get_config()


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="input_size"):
        PCK((256,))
    with pytest.raises(ValueError, match="threshold"):
        PCK((256, 256), threshold=0)
    with pytest.raises(ValueError, match="coordinate_scale has 3 factors"):
        MPJPE().update_state(np.zeros((1, 2, 2)), np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match="same shape"):
        PCK((8, 8)).update_state(np.zeros((1, 3, 2)), np.zeros((1, 2, 2)))
