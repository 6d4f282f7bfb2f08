"""Integral (soft-argmax) regression: heat maps -> joint coordinates (Sun et al., Eq. 2-6).

The joint is the expectation of the location under the softmax-normalised
heat map. Coordinates are in heat-map pixel units with the centre of cell
(row i, column j) at `(x=j, y=i)`: a one-hot map at column j gives `x = j`
exactly, a map uniform over a row gives its centre `(w - 1) / 2`.

All three layers compute the softmax in float32 (their default dtype policy is
"float32" even under `mixed_float16`, like a final softmax layer in Keras), so
float16 heat maps never overflow the normaliser.
"""

import keras
from keras import ops


def _expected_index(marginal, axis):
    """Σ_i i · p(i) along `axis` of a marginal distribution (Eq. 6)."""
    n = ops.shape(marginal)[axis]
    index = ops.cast(ops.arange(n), marginal.dtype)
    shape = [1] * len(marginal.shape)
    shape[axis] = -1
    return ops.sum(marginal * ops.reshape(index, shape), axis=axis)


def _check_input_shape(layer, shape, rank, layout):
    if len(shape) != rank:
        raise ValueError(
            f"{layer.__class__.__name__} expects heat maps of rank {rank} {layout}, "
            f"received shape {tuple(shape)}."
        )
    spatial = shape[1:-1]
    if any(d is not None and d < 1 for d in spatial) or shape[-1] == 0:
        raise ValueError(
            f"{layer.__class__.__name__} expects non-empty heat maps {layout}, "
            f"received shape {tuple(shape)}."
        )
    if any(d is None for d in spatial) or shape[-1] is None:
        raise ValueError(
            f"{layer.__class__.__name__} needs static spatial sizes and joint count {layout}, "
            f"received shape {tuple(shape)}."
        )


def _volume_softmax(logits):
    """(batch, *spatial, joints) logits -> probabilities of the same shape, one softmax per joint."""
    spatial = tuple(logits.shape[1:-1])
    joints = logits.shape[-1]
    size = 1
    for d in spatial:
        size *= d
    # Softmax over the last axis of (batch, joints, cells): the layout TFLite's
    # builtin SOFTMAX and ONNX Softmax handle natively.
    rank = len(logits.shape)
    to_joint_major = (0, rank - 1) + tuple(range(1, rank - 1))
    flat = ops.reshape(ops.transpose(logits, to_joint_major), (-1, joints, size))
    probs = ops.softmax(flat, axis=-1)
    return ops.reshape(probs, (-1, joints) + spatial)  # (batch, joints, *spatial)


def _volume_marginals(heatmaps):
    """(batch, h, w, depth, joints) logits -> x, y, z marginals, each (batch, joints, n) (Eq. 5).

    One pass over the volume sums out depth; x and y then come from the small
    (h, w) map, z from a second pass.
    """
    probs = _volume_softmax(heatmaps)  # (batch, joints, h, w, depth)
    plane = ops.sum(probs, axis=4)  # (batch, joints, h, w)
    return [ops.sum(plane, axis=2), ops.sum(plane, axis=3), ops.sum(probs, axis=(2, 3))]


class _IntegralLayer(keras.layers.Layer):
    """Shared by the integral layers: float32 by default (the softmax never runs in float16) and
    the input check; subclasses set `RANK` and `LAYOUT` and implement `call`."""

    RANK, LAYOUT = None, None

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def build(self, input_shape):
        _check_input_shape(self, input_shape, self.RANK, self.LAYOUT)


@keras.saving.register_keras_serializable(package="keras_integral")
class IntegralRegression2D(_IntegralLayer):
    """Soft-argmax over 2D heat maps: `(batch, h, w, joints)` -> `(batch, joints, 2)`.

    Formula (Eq. 2-4 with D = 1): `p = softmax(H_k)` over the `h·w` cells of
    each joint's map, `x = Σ_j j·p_x(j)`, `y = Σ_i i·p_y(i)` where `p_x`,
    `p_y` are the column and row marginals of `p`.

    With `debias=True`, Gu et al.'s correction as MMPose's
    `IntegralRegressionHead(debias=True)` computes it: the softmax spreads
    mass `1 / C` on every cell, `C = Σ exp(H_k / logit_scale)` (MMPose sums
    the exponentials of the head's logits before its softmax factor beta),
    and that uniform part pulls the expectation to the map's centre; on
    MMPose's normalised `x / w` the correction is
    `C / (C - 1) · (x / w - 1 / (2C))`, here in cells:
    `x <- (x - w / (2C)) / (1 - 1 / C)` (and `y` with `h`). `1 / C` comes
    from a log-sum-exp, so where MMPose's `C` overflows float32 (a NaN there)
    the result is the limit, the uncorrected `x`.

    Args:
        debias: apply Gu et al.'s correction. Defaults to `False`.
        logit_scale: the factor the logits were multiplied by before this
            layer (the model's `integral_scale`, MMPose's beta); only read
            with `debias`. Defaults to `1.0`.

    Input shape:
        `(batch, h, w, joints)` heat-map logits (any float dtype).

    Output shape:
        `(batch, joints, 2)` float32 `(x, y)` in heat-map pixel units, the
        centre of cell (row i, column j) being `(j, i)`.

    Example:

    >>> import numpy as np
    >>> logits = np.full((1, 4, 5, 1), -1e4, "float32")
    >>> logits[0, 2, 3, 0] = 0.0              # peak at row 2, column 3
    >>> IntegralRegression2D()(logits).numpy().tolist()
    [[[3.0, 2.0]]]

    Reference: Sun et al., Integral Human Pose Regression, ECCV 2018, Eq. 2-4;
    Gu et al., Removing the Bias of Integral Pose Regression, ICCV 2021.
    """

    RANK, LAYOUT = 4, "(batch, h, w, joints)"

    def __init__(self, debias=False, logit_scale=1.0, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(debias, bool):
            raise ValueError(f"`debias` must be True or False, received {debias!r}.")
        if isinstance(logit_scale, bool) or not isinstance(logit_scale, (int, float)) or not logit_scale > 0:
            raise ValueError(f"`logit_scale` must be a number > 0, received {logit_scale!r}.")
        self.debias = debias
        self.logit_scale = float(logit_scale)

    def call(self, heatmaps):
        _check_input_shape(self, heatmaps.shape, self.RANK, self.LAYOUT)
        probs = _volume_softmax(heatmaps)  # (batch, joints, h, w)
        x = _expected_index(ops.sum(probs, axis=2), axis=-1)
        y = _expected_index(ops.sum(probs, axis=3), axis=-1)
        if self.debias:
            h, w, joints = heatmaps.shape[1:]
            flat = ops.reshape(ops.transpose(ops.cast(heatmaps, "float32"), (0, 3, 1, 2)), (-1, joints, h * w))
            inverse_c = ops.exp(-ops.logsumexp(flat / self.logit_scale, axis=-1))  # 1 / C, (batch, joints)
            x = (x - 0.5 * w * inverse_c) / (1.0 - inverse_c)
            y = (y - 0.5 * h * inverse_c) / (1.0 - inverse_c)
        return ops.stack([x, y], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1], 2)

    def get_config(self):
        return {**super().get_config(), "debias": self.debias, "logit_scale": self.logit_scale}


@keras.saving.register_keras_serializable(package="keras_integral")
class IntegralRegression3D(_IntegralLayer):
    """Soft-argmax over 3D heat volumes: `(batch, h, w, depth, joints)` -> `(batch, joints, 3)`.

    Formula (Eq. 2-4): one softmax per joint over all `h·w·depth` cells, then
    the expected `(x, y, z)` cell index.

    Input shape:
        `(batch, h, w, depth, joints)` logits. A head whose last conv has
        `depth * joints` channels with channel `c = d * joints + k` is reshaped
        to this layout without a transpose (DESIGN.md).

    Output shape:
        `(batch, joints, 3)` float32: `x`, `y` in heat-map pixels, `z` in
        depth-bin index units (bin centre `d` at `z = d`).

    Example:

    >>> import numpy as np
    >>> logits = np.full((1, 4, 4, 6, 1), -1e4, "float32")
    >>> logits[0, 1, 2, 5, 0] = 0.0           # row 1, column 2, depth bin 5
    >>> IntegralRegression3D()(logits).numpy().tolist()
    [[[2.0, 1.0, 5.0]]]

    Reference: Sun et al., Integral Human Pose Regression, ECCV 2018, Eq. 4.
    """

    RANK, LAYOUT = 5, "(batch, h, w, depth, joints)"

    def call(self, heatmaps):
        _check_input_shape(self, heatmaps.shape, self.RANK, self.LAYOUT)
        marginals = _volume_marginals(heatmaps)
        return ops.stack([_expected_index(m, axis=-1) for m in marginals], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1], 3)


@keras.saving.register_keras_serializable(package="keras_integral")
class MarginalIntegral3D(_IntegralLayer):
    """Two-step integral (Eq. 5-6): volume softmax -> x, y, z marginals -> 1D integrals.

    The marginals separate the x, y and z targets, so a 2D-only sample (z
    weight 0) still supervises the x and y marginals of the 3D volume
    (strategy 2 of the paper). The coordinates equal `IntegralRegression3D`'s.

    Input shape:
        `(batch, h, w, depth, joints)` logits.

    Returns:
        A tuple `(coordinates, x_marginal, y_marginal, z_marginal)`:
        coordinates `(batch, joints, 3)`; marginals `(batch, w, joints)`,
        `(batch, h, joints)`, `(batch, depth, joints)`, each summing to 1 over
        axis 1 (float32 probabilities).

    Example:

    >>> import numpy as np
    >>> logits = np.random.default_rng(0).normal(size=(2, 8, 8, 4, 3)).astype("float32")
    >>> coords, mx, my, mz = MarginalIntegral3D()(logits)
    >>> tuple(coords.shape), tuple(mx.shape), tuple(mz.shape)
    ((2, 3, 3), (2, 8, 3), (2, 4, 3))

    Reference: Sun et al., Integral Human Pose Regression, ECCV 2018, Eq. 5-6.
    """

    RANK, LAYOUT = 5, "(batch, h, w, depth, joints)"

    def call(self, heatmaps):
        _check_input_shape(self, heatmaps.shape, self.RANK, self.LAYOUT)
        marginals = _volume_marginals(heatmaps)  # (batch, joints, n) for x, y, z
        coords = ops.stack([_expected_index(m, axis=-1) for m in marginals], axis=-1)  # Eq. 6
        mx, my, mz = (ops.transpose(m, (0, 2, 1)) for m in marginals)
        return coords, mx, my, mz

    def compute_output_shape(self, input_shape):
        b, h, w, d, k = input_shape
        return (b, k, 3), (b, w, k), (b, h, k), (b, d, k)
