"""Losses against NumPy/scipy references; zero weights; serialisation."""

import keras
import numpy as np
import pytest
from scipy.special import expit
from scipy.special import log_softmax

from keras_integral import losses

# Runs under each Keras backend (conftest.py).
pytestmark = pytest.mark.all_backends


def weighted_mean(terms, weights):
    return float(np.sum(terms * weights) / terms.size)


@pytest.mark.parametrize("norm", ["l1", "l2"])
def test_joint_loss_matches_numpy(norm, rng):
    y_true = rng.normal(size=(4, 5, 3)).astype("float32")
    y_pred = rng.normal(size=(4, 5, 3)).astype("float32")
    w = rng.integers(0, 2, size=(4, 5, 3)).astype("float32")
    error = y_pred - y_true
    terms = np.abs(error) if norm == "l1" else error**2
    got = float(losses.JointLoss(norm)(y_true, y_pred, sample_weight=w))
    np.testing.assert_allclose(got, weighted_mean(terms, w), rtol=1e-6)


def test_zero_weights_contribute_nothing_and_all_zero_gives_zero(rng):
    y_true = rng.normal(size=(2, 3, 2)).astype("float32")
    y_pred = y_true.copy()
    y_pred[0, 1] += 1000.0  # a wild error on a joint with weight 0
    w = np.ones((2, 3, 2), "float32")
    w[0, 1] = 0.0
    assert float(losses.JointLoss()(y_true, y_pred, sample_weight=w)) == 0.0
    zero = float(losses.JointLoss()(y_true, y_pred, sample_weight=np.zeros_like(w)))
    assert zero == 0.0 and not np.isnan(zero)
    maps = rng.normal(size=(2, 4, 4, 3)).astype("float32")
    for loss in (losses.HeatmapMSE(), losses.HeatmapSoftmaxCE(), losses.HeatmapBCE()):
        value = float(loss(np.zeros_like(maps), maps, sample_weight=np.zeros((2, 3), "float32")))
        assert value == 0.0


def test_heatmap_mse_matches_numpy(rng):
    t = rng.uniform(size=(2, 4, 5, 3)).astype("float32")
    p = rng.normal(size=(2, 4, 5, 3)).astype("float32")
    w = np.array([[1, 0, 1], [1, 1, 0]], "float32")
    per_joint = ((p - t) ** 2).mean(axis=(1, 2))
    got = float(losses.HeatmapMSE()(t, p, sample_weight=w))
    np.testing.assert_allclose(got, weighted_mean(per_joint, w), rtol=1e-6)


@pytest.mark.parametrize("shape", [(2, 4, 5, 3), (2, 3, 4, 5, 3), (2, 7, 3)])
def test_softmax_ce_matches_scipy_on_maps_volumes_and_marginals(shape, rng):
    p = rng.normal(scale=3, size=shape).astype("float32")
    t = rng.uniform(size=shape).astype("float32")
    axes = tuple(range(1, len(shape) - 1))
    t /= t.sum(axis=axes, keepdims=True)
    w = rng.integers(0, 2, size=(shape[0], shape[-1])).astype("float32")
    b, k = shape[0], shape[-1]
    flat_p = np.moveaxis(p, -1, 1).reshape(b, k, -1)
    flat_t = np.moveaxis(t, -1, 1).reshape(b, k, -1)
    per_joint = -(flat_t * log_softmax(flat_p.astype(np.float64), axis=-1)).sum(-1)
    got = float(losses.HeatmapSoftmaxCE()(t, p, sample_weight=w))
    np.testing.assert_allclose(got, weighted_mean(per_joint, w), rtol=1e-5)


def test_softmax_ce_on_probabilities_equals_ce_on_logits(rng):
    logits = rng.normal(size=(2, 9, 4)).astype("float32")
    probs = np.exp(log_softmax(logits, axis=1)).astype("float32")
    t = np.zeros_like(probs)
    t[:, 3, :] = 1.0
    a = float(losses.HeatmapSoftmaxCE()(t, logits))
    b = float(losses.HeatmapSoftmaxCE(from_logits=False)(t, probs))
    np.testing.assert_allclose(a, b, rtol=1e-5)


def test_softmax_ce_is_finite_for_extreme_logits():
    p = np.full((1, 4, 4, 1), -1e4, "float32")
    p[0, 0, 0, 0] = 1e4
    t = np.zeros_like(p)
    t[0, 3, 3, 0] = 1.0
    value = float(losses.HeatmapSoftmaxCE()(t, p))
    assert np.isfinite(value) and value > 1e4


def test_heatmap_bce_matches_numpy(rng):
    p = rng.normal(scale=4, size=(2, 5, 4, 3)).astype("float32")
    t = rng.integers(0, 2, size=p.shape).astype("float32")
    w = np.array([[1, 1, 0], [0, 1, 1]], "float32")
    s = expit(p.astype(np.float64))
    per_joint = -(t * np.log(s) + (1 - t) * np.log(1 - s)).mean(axis=(1, 2))
    got = float(losses.HeatmapBCE()(t, p, sample_weight=w))
    np.testing.assert_allclose(got, weighted_mean(per_joint, w), rtol=1e-5)


def test_unknown_norm_is_rejected():
    with pytest.raises(ValueError, match="l1"):
        losses.JointLoss("huber")


@pytest.mark.parametrize("loss", [
    losses.JointLoss("l2"), losses.HeatmapMSE(), losses.HeatmapSoftmaxCE(from_logits=False), losses.HeatmapBCE(),
])
def test_losses_serialise(loss):
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(clone) is type(loss) and clone.get_config() == loss.get_config()
