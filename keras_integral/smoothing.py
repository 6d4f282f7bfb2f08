"""The One Euro filter (Casiez, Roussel and Vogel, CHI 2012): keypoints steadied over time.

A first-order low-pass filter whose cutoff rises with speed: slow motion is
smoothed hard (no jitter), fast motion passes with little lag. Per value,
with `Te` the time since the last sample:

    alpha(fc) = 1 / (1 + tau / Te),  tau = 1 / (2 pi fc)        (paper, eq. 2)
    dx_i      = (x_i - x^_{i-1}) / Te                              (the speed)
    dx^_i     = alpha(d_cutoff) dx_i + (1 - alpha(d_cutoff)) dx^_{i-1}
    fc_i      = min_cutoff + beta |dx^_i|                          (eq. 4)
    x^_i      = alpha(fc_i) x_i + (1 - alpha(fc_i)) x^_{i-1}       (eq. 1)

with `x^_0 = x_0`, `dx^_0 = 0`. The two parameters the paper tunes are
exposed: `min_cutoff` (Hz; lower = steadier when still) and `beta` (per
speed unit; higher = less lag when moving); `d_cutoff` stays at the paper's
1 Hz. Speeds are in pixels per second, so `beta` is per (pixel / second).

Example:

>>> f = OneEuroFilter(min_cutoff=1.0, beta=0.0)
>>> f(np.array([0.0]), 0.0).tolist(), f(np.array([10.0]), 1 / 30).round(3).tolist()
([0.0], [1.732])
"""

import numpy as np

# Defaults for keypoints in pixels at video rates: on a 1 Hz, 40 px circle at 30 fps with 2 px noise they cut
# the jitter 2.7-fold for one frame of lag (tests/test_smoothing.py); beta 0 (the paper's start) lags 4 frames.
MIN_CUTOFF_HZ = 1.0
BETA = 0.01


def smoothing_factor(cutoff_hz, period_s):
    """`alpha = 1 / (1 + tau / Te)`, `tau = 1 / (2 pi fc)` (eq. 2 of the paper)."""
    tau = 1.0 / (2 * np.pi * np.asarray(cutoff_hz, np.float64))
    return 1.0 / (1.0 + tau / period_s)


class OneEuroFilter:
    """One Euro filter over an array of values (e.g. `(joints, 2)` keypoints), each filtered alone.

    Args:
        min_cutoff: minimum cutoff frequency in Hz (> 0).
        beta: speed coefficient (>= 0), per (unit / second).
        d_cutoff: cutoff of the speed's own low-pass, Hz (> 0).

    Call: `filter(values, t)` with `t` in seconds, increasing; returns the
    filtered values (same shape). A value that is NaN passes through as NaN
    and leaves its filter's state as it was.
    """

    def __init__(self, min_cutoff=MIN_CUTOFF_HZ, beta=BETA, d_cutoff=1.0):
        if not min_cutoff > 0 or not d_cutoff > 0 or not beta >= 0:
            raise ValueError(f"One Euro filter: min_cutoff and d_cutoff must be > 0 and beta >= 0, got "
                             f"min_cutoff={min_cutoff!r}, beta={beta!r}, d_cutoff={d_cutoff!r}.")
        self.min_cutoff, self.beta, self.d_cutoff = float(min_cutoff), float(beta), float(d_cutoff)
        self.value = self.speed = self.time = None

    def __call__(self, values, t):
        x = np.asarray(values, np.float64)
        if self.value is None:
            self.value, self.speed, self.time = x.copy(), np.zeros_like(x), float(t)
            return x.copy()
        period = float(t) - self.time
        if not period > 0:
            raise ValueError(f"One Euro filter: time must increase, got {t!r} after {self.time!r}.")
        known = np.isfinite(x) & np.isfinite(self.value)
        speed = np.where(known, (x - self.value) / period, 0.0)
        a_d = smoothing_factor(self.d_cutoff, period)
        speed_hat = a_d * speed + (1 - a_d) * self.speed
        a = smoothing_factor(self.min_cutoff + self.beta * np.abs(speed_hat), period)
        value_hat = a * x + (1 - a) * self.value
        # A NaN leaves its value's state as it was; a value first seen after NaNs starts from itself.
        self.value = np.where(known, value_hat, np.where(np.isfinite(x), x, self.value))
        self.speed = np.where(known, speed_hat, self.speed)
        self.time = float(t)
        return np.where(np.isfinite(x), self.value, np.nan)
