"""The One Euro filter: against a plain transcription of the paper's equations; less jitter, bounded lag."""

import math

import numpy as np
import pytest

from keras_integral.smoothing import OneEuroFilter


def paper_one_euro(xs, ts, min_cutoff, beta, d_cutoff):
    """Casiez et al. 2012, the filter as its pseudo-code reads, one scalar at a time."""

    def alpha(cutoff, te):
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / te)

    out, x_hat, dx_hat = [], None, 0.0
    for i, (x, t) in enumerate(zip(xs, ts)):
        if i == 0:
            x_hat = x
        else:
            te = t - ts[i - 1]
            dx = (x - x_hat) / te
            dx_hat = alpha(d_cutoff, te) * dx + (1 - alpha(d_cutoff, te)) * dx_hat
            cutoff = min_cutoff + beta * abs(dx_hat)
            x_hat = alpha(cutoff, te) * x + (1 - alpha(cutoff, te)) * x_hat
        out.append(x_hat)
    return np.array(out)


def test_matches_the_paper_equations_value_by_value():
    rng = np.random.default_rng(0)
    ts = np.cumsum(rng.uniform(0.02, 0.05, 60))  # uneven frame times
    xs = rng.normal(0, 5, (60, 3, 2)).cumsum(axis=0)
    f = OneEuroFilter(min_cutoff=0.7, beta=0.02, d_cutoff=1.3)
    ours = np.stack([f(x, t) for x, t in zip(xs, ts)])
    for j in range(3):
        for c in range(2):
            np.testing.assert_allclose(ours[:, j, c], paper_one_euro(xs[:, j, c], ts, 0.7, 0.02, 1.3), rtol=1e-12)


def jitter(track, truth):
    """Mean absolute acceleration error against the truth, pixels per frame squared."""
    return np.abs(np.diff(track, 2, axis=0) - np.diff(truth, 2, axis=0)).mean()


def test_smoothing_lowers_jitter_with_lag_under_two_frames():
    """A joint moving on a 1 Hz circle of radius 40 px at 30 fps, 2 px of noise: with the defaults the filter
    must cut the jitter (mean acceleration error) at least 2.5-fold and lag the truth by at most one frame
    (the shift that best aligns them; measured 2.7-fold and 1 frame; beta 0 would lag 4 frames)."""
    fps, n = 30.0, 150
    t = np.arange(n) / fps
    truth = 40 * np.stack([np.cos(2 * np.pi * t), np.sin(2 * np.pi * t)], -1)
    noisy = truth + np.random.default_rng(1).normal(0, 2.0, truth.shape)
    f = OneEuroFilter()
    smooth = np.stack([f(x, ti) for x, ti in zip(noisy, t)])
    assert jitter(smooth, truth) < jitter(noisy, truth) / 2.5
    errors = [np.abs(smooth[30 + lag:] - truth[30:n - lag]).mean() for lag in range(6)]
    assert int(np.argmin(errors)) <= 1, errors


def test_nan_passes_and_bad_arguments_are_refused():
    f = OneEuroFilter()
    f(np.array([1.0, 2.0]), 0.0)
    out = f(np.array([np.nan, 2.0]), 0.1)
    assert np.isnan(out[0]) and out[1] == 2.0
    assert 1.0 < f(np.array([5.0, 2.0]), 0.2)[0] < 5.0  # filtered from the state before the NaN
    g = OneEuroFilter()
    g(np.array([np.nan]), 0.0)
    assert g(np.array([3.0]), 0.1).tolist() == [3.0]  # first seen after NaNs: starts from itself
    with pytest.raises(ValueError, match="time must increase"):
        f(np.array([1.0, 1.0]), 0.2)
    with pytest.raises(ValueError, match="min_cutoff"):
        OneEuroFilter(min_cutoff=0)
