"""Losses of the paper: joint L1/L2 (integral, R1) and the heat-map losses H1, H2, H3.

Each loss is a `keras.losses.Loss` whose `call` returns unreduced terms, one
per weighted item, so Keras' own weighting does the masking:

- `JointLoss`: `(batch, joints, 2|3)` terms, weighted per coordinate
  (`sample_weight` = the data set's `(batch, joints, 2|3)` weights).
- `HeatmapMSE`, `HeatmapSoftmaxCE`, `HeatmapBCE`: `(batch, joints)` terms, one
  per map, weighted per joint (`sample_weight` `(batch, joints)`).

With the default reduction (`"sum_over_batch_size"`) the loss is the mean of
`weight * term` over all items: a weight of 0 contributes nothing, and a batch
whose weights are all 0 gives 0, never NaN. This is the authors' loss (sum over
joints and coordinates divided by the batch size) divided by the constant
`joints * coordinates`.

The same heat-map losses serve 2D maps `(batch, h, w, joints)`, 3D volumes
`(batch, h, w, depth, joints)` and the two-step marginals `(batch, n, joints)`
(see `layers.MarginalIntegral3D`): on marginals, each axis' loss is weighted by
that coordinate's weight, so 2D-only samples (z weight 0) supervise x and y
only. Targets come from `keras_integral.targets`.

Example:

>>> import numpy as np
>>> pred = np.zeros((1, 2, 2), "float32")
>>> true = np.array([[[1.0, 2.0], [3.0, 4.0]]], "float32")
>>> weights = np.array([[[1.0, 1.0], [0.0, 0.0]]], "float32")
>>> float(JointLoss()(true, pred, sample_weight=weights))   # (1 + 2) / 4
0.75
"""

import keras
from keras import ops

JOINT_NORMS = ("l1", "l2")


def _spatial_axes(maps):
    return tuple(range(1, len(maps.shape) - 1))


@keras.saving.register_keras_serializable(package="keras_integral")
class JointLoss(keras.losses.Loss):
    """L1 (default) or L2 distance between predicted and true joint coordinates.

    Formula: terms `|pred - true|` (L1) or `(pred - true)^2` (L2) per
    coordinate; the paper found L1 consistently better and uses it throughout.

    Args:
        norm: `"l1"` or `"l2"`.
        reduction, name, dtype: as in `keras.losses.Loss`.

    Call arguments:
        y_true, y_pred: `(batch, joints, 2|3)` coordinates (the model passes
            them normalised by the crop size).
        sample_weight: `(batch, joints, 2|3)` per-coordinate weights.
    """

    def __init__(self, norm="l1", reduction="sum_over_batch_size", name="joint_loss", dtype=None):
        if norm not in JOINT_NORMS:
            raise ValueError(f"JointLoss norm must be one of {JOINT_NORMS}, received {norm!r}.")
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.norm = norm

    def call(self, y_true, y_pred):
        error = y_pred - y_true
        return ops.abs(error) if self.norm == "l1" else ops.square(error)

    def get_config(self):
        return {**super().get_config(), "norm": self.norm}


@keras.saving.register_keras_serializable(package="keras_integral")
class HeatmapMSE(keras.losses.Loss):
    """H1: mean squared error between heat-map logits and a Gaussian target (σ = 1 cell).

    Call arguments:
        y_true: `(batch, *spatial, joints)` targets (`targets.gaussian_maps`).
        y_pred: `(batch, *spatial, joints)` head outputs.
        sample_weight: `(batch, joints)` per-joint weights.

    Returns per-item terms `(batch, joints)`: the mean over the map's cells.
    """

    def __init__(self, reduction="sum_over_batch_size", name="heatmap_mse", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return ops.mean(ops.square(y_pred - y_true), axis=_spatial_axes(y_pred))


@keras.saving.register_keras_serializable(package="keras_integral")
class HeatmapSoftmaxCE(keras.losses.Loss):
    """H2: cross-entropy of a softmax over all cells of each map against a target distribution.

    With a one-hot target (`targets.onehot_maps`) this is Mask R-CNN's
    `m²`-way softmax loss; with a normalised Gaussian it is a soft-label
    cross-entropy (used on the two-step marginals for H1-style supervision).

    Args:
        from_logits: True when `y_pred` holds logits (heat maps); False when
            it holds probabilities (the marginals of `MarginalIntegral3D`).

    Call arguments:
        y_true: `(batch, *spatial, joints)` target distributions.
        y_pred: `(batch, *spatial, joints)` logits or probabilities.
        sample_weight: `(batch, joints)`.

    Returns per-item terms `(batch, joints)`.
    """

    def __init__(self, from_logits=True, reduction="sum_over_batch_size", name="heatmap_softmax_ce", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = from_logits

    def call(self, y_true, y_pred):
        axes = _spatial_axes(y_pred)
        if self.from_logits:
            # log-softmax through logsumexp: finite for logits of any magnitude.
            log_probs = y_pred - ops.logsumexp(y_pred, axis=axes, keepdims=True)
        else:
            log_probs = ops.log(ops.clip(y_pred, 1e-12, 1.0))
        return -ops.sum(y_true * log_probs, axis=axes)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}


@keras.saving.register_keras_serializable(package="keras_integral")
class HeatmapBCE(keras.losses.Loss):
    """H3: per-cell binary cross-entropy of sigmoid(logits) against a disk target.

    The target (`targets.disk_maps`) is 1 within 15 input pixels of the joint,
    scaled to the heat map, and 0 elsewhere (Pishchulin et al., as in the paper).

    Call arguments:
        y_true: `(batch, *spatial, joints)` binary targets.
        y_pred: `(batch, *spatial, joints)` logits.
        sample_weight: `(batch, joints)`.

    Returns per-item terms `(batch, joints)`: the mean over the map's cells.
    """

    def __init__(self, reduction="sum_over_batch_size", name="heatmap_bce", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        # max(x, 0) - x*t + log(1 + exp(-|x|)): the stable sigmoid cross-entropy.
        terms = ops.relu(y_pred) - y_pred * y_true + ops.log1p(ops.exp(-ops.abs(y_pred)))
        return ops.mean(terms, axis=_spatial_axes(y_pred))
