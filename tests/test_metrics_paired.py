"""Per-person sums and the paired bootstrap, against direct NumPy computations."""

import numpy as np
import pytest

from keras_integral.metrics.paired import paired_bootstrap
from keras_integral.metrics.paired import person_sums


def test_person_sums_by_hand():
    gt = np.zeros((2, 3, 2))
    pred = gt.copy()
    pred[0, :, 0] = [3.0, 6.0, 30.0]  # errors 3, 6, 30
    pred[1, :, 1] = [1.0, 2.0, 4.0]
    weights = np.array([[1, 1, 1], [1, 0, 1]])  # person 1's middle joint is unlabelled
    sums = person_sums(pred, gt, weights, scale=[0.5, 2.0], normalizer=[50.0, 10.0], thresholds=(0.1, 0.2))
    np.testing.assert_allclose(sums["count"], [3, 2])
    np.testing.assert_allclose(sums["error"], [0.5 * 39, 2.0 * 5])
    np.testing.assert_allclose(sums["within@0.1"], [1, 1])  # 3 <= 5 px; 1 <= 1 px
    np.testing.assert_allclose(sums["within@0.2"], [2, 1])  # 3, 6 <= 10 px; 1 <= 2 px (the 2 px joint is unlabelled)


def _direct_interval(a, b, count, num_resamples, confidence, seed):
    """The bootstrap written out: one resample at a time."""
    rng = np.random.default_rng(seed)
    people = rng.integers(0, len(a), (num_resamples, len(a)))
    values = []
    for r in range(num_resamples):
        chosen = people[r]
        values.append((a[chosen].sum() - b[chosen].sum()) / count[chosen].sum())
    tail = 100 * (1 - confidence) / 2
    return np.percentile(values, tail), np.percentile(values, 100 - tail)


def test_interval_matches_a_direct_loop():
    rng = np.random.default_rng(7)
    count = rng.integers(5, 18, 60).astype(float)
    a = rng.gamma(2.0, 3.0, 60) * count
    b = rng.gamma(2.0, 2.5, 60) * count
    result = paired_bootstrap(a, b, count, num_resamples=500, confidence=0.9, seed=3)
    low, high = _direct_interval(a, b, count, 500, 0.9, 3)
    assert result["low"] == pytest.approx(low, rel=1e-12) and result["high"] == pytest.approx(high, rel=1e-12)
    assert result["difference"] == pytest.approx((a - b).sum() / count.sum())
    assert result["num_people"] == 60 and result["excludes_zero"] == (low > 0 or high < 0)


def test_interval_agrees_with_the_normal_approximation_for_a_mean():
    rng = np.random.default_rng(0)
    difference = rng.normal(0.3, 1.0, 2000)
    result = paired_bootstrap(difference, np.zeros_like(difference), num_resamples=4000, seed=1)
    half_width = 1.96 * difference.std(ddof=1) / np.sqrt(len(difference))
    assert result["difference"] == pytest.approx(difference.mean())
    assert result["high"] - result["low"] == pytest.approx(2 * half_width, rel=0.1)
    assert result["excludes_zero"]


def test_no_difference_gives_a_point_interval_at_zero():
    a = np.arange(10.0)
    result = paired_bootstrap(a, a.copy())
    assert (result["difference"], result["low"], result["high"], result["excludes_zero"]) == (0.0, 0.0, 0.0, False)


@pytest.mark.parametrize("kwargs, message", [
    ({"b": np.zeros(4)}, "same people"),
    ({"count": np.zeros(3)}, "count sums to 0"),
    ({"confidence": 1.0}, "confidence"),
    ({"num_resamples": 0}, "num_resamples"),
])
def test_bad_arguments_raise(kwargs, message):
    arguments = {"a": np.zeros(3), "b": np.zeros(3), **kwargs}
    with pytest.raises(ValueError, match=message):
        paired_bootstrap(**arguments)
