"""Heat-map decoding for the baselines: arg-max with the quarter-cell shift, and joint confidences.

The integral layers decode by expectation; the heat-map methods (H1, H2, H3)
decode by arg-max, shifted a quarter cell toward the higher neighbour on each
axis, in the same cell convention as the integral layers and `targets.py`
(cell `(row i, column j)` at `(x=j, y=i)`).

Which peaks are shifted follows Xiao et al.'s Simple Baselines
(microsoft/human-pose-estimation.pytorch, `lib/core/inference.py`,
`get_final_preds`): the paper's H1 is that baseline (Xiao is a co-author, and
the authors say their 2D code is "quite similar" to it), and the
references disagree at the border (Newell's hourglass code, HRNet and MMPose
each shift different border cells).
"""

import keras
from keras import ops

SCORE_MODES = ("softmax", "peak", "sigmoid")


def _joint_major(maps):
    """(batch, *spatial, joints) -> (batch, joints, cells)."""
    rank = len(maps.shape)
    joints = maps.shape[-1]
    moved = ops.transpose(maps, (0, rank - 1) + tuple(range(1, rank - 1)))
    return ops.reshape(moved, (-1, joints, _cells(maps.shape[1:-1])))


def _cells(spatial):
    size = 1
    for d in spatial:
        size *= d
    return size


def _pick(flat, index):
    """flat[..., index] for `(batch, joints, cells)` and `(batch, joints, 1)` indices.

    A one-hot product rather than a gather: `take_along_axis` lowers to ops
    (BitwiseAnd) that TFLite's builtin set lacks.
    """
    picked = ops.one_hot(index[..., 0], flat.shape[-1], dtype=flat.dtype) * flat
    return ops.sum(picked, axis=-1, keepdims=True)


@keras.saving.register_keras_serializable(package="keras_integral")
class HeatmapArgmax(keras.layers.Layer):
    """Arg-max decoding with the quarter-cell shift: `(batch, *spatial, joints)` -> `(batch, joints, n)`.

    Accepts 1D marginals `(batch, n, joints)`, 2D maps `(batch, h, w, joints)`
    and volumes `(batch, h, w, depth, joints)`; returns coordinates in cell
    units in `(x, y[, z])` order (for 1D: the single index).

    The shift (Simple Baselines' `get_final_preds`): both axes move by
    `0.25 * sign(right - left)` (`sign(below - above)`) only when the peak is
    at `1 < column < w - 1` and `1 < row < h - 1`; a peak in rows or columns
    0, 1 or n - 1 is not shifted on either axis. Volumes and 1D marginals take
    the same rule on all their axes. Unlike that code, a peak <= 0 keeps its
    position (theirs is set to (0, 0)): H2 and H3 maps are logits.

    Example:

    >>> import numpy as np
    >>> maps = np.zeros((1, 5, 5, 1), "float32")
    >>> maps[0, 2, 3, 0], maps[0, 2, 4, 0] = 1.0, 0.5   # right neighbour higher
    >>> HeatmapArgmax()(maps).numpy().tolist()
    [[[3.25, 2.0]]]
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def call(self, maps):
        spatial = tuple(maps.shape[1:-1])
        if not 1 <= len(spatial) <= 3 or any(d is None for d in spatial):
            raise ValueError(
                "HeatmapArgmax expects (batch, n, joints), (batch, h, w, joints) or "
                f"(batch, h, w, depth, joints) with static sizes, received {tuple(maps.shape)}."
            )
        flat = _joint_major(maps)
        # First index of the maximum, from max/equal/min: Keras' TF argmax emits a
        # BitwiseAnd (for signed zeros) that TFLite's builtin set lacks.
        cells = flat.shape[-1]
        is_max = ops.equal(flat, ops.max(flat, axis=-1, keepdims=True))
        index = ops.min(ops.where(is_max, ops.arange(cells, dtype="int32"), cells), axis=-1)
        index = index[..., None]  # (batch, joints, 1)
        strides, stride = [], cells
        for size in spatial:  # map axes in (h, w, d) order
            stride //= size
            strides.append(stride)
        positions = [(index // s) % size for s, size in zip(strides, spatial)]
        inner = None  # Simple Baselines: shift only peaks inside the border on every axis
        for position, size in zip(positions, spatial):
            axis_inner = ops.logical_and(position > 1, position < size - 1)
            inner = axis_inner if inner is None else ops.logical_and(inner, axis_inner)
        coords = []
        for position, stride in zip(positions, strides):
            plus = _pick(flat, ops.where(inner, index + stride, index))
            minus = _pick(flat, ops.where(inner, index - stride, index))
            shift = 0.25 * ops.sign(plus - minus)
            coords.append(ops.cast(position, "float32") + ops.cast(shift, "float32"))
        if len(coords) >= 2:
            coords[0], coords[1] = coords[1], coords[0]  # (row, column) -> (x, y)
        return ops.concatenate(coords, axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1], len(input_shape) - 2)


@keras.saving.register_keras_serializable(package="keras_integral")
class JointConfidence(keras.layers.Layer):
    """Per-joint confidence in [0, 1] from heat maps: `(batch, h, w[, depth], joints)` -> `(batch, joints)`.

    Modes:
        `"softmax"` (H2 and the integral methods): the probability mass of the
            densest 3x3 window of the softmax-normalised map (for a volume, of
            its x-y marginal): 1 for a sharp peak, small for a spread map.
        `"peak"` (H1): the maximum of the regressed Gaussian map, clipped to
            [0, 1] (the usual heat-map score).
        `"sigmoid"` (H3): the sigmoid of the maximum logit.

    Example:

    >>> import numpy as np
    >>> maps = np.full((1, 6, 6, 1), -1e4, "float32"); maps[0, 2, 2, 0] = 0.0
    >>> float(JointConfidence("softmax")(maps)[0, 0])
    1.0
    """

    def __init__(self, mode="softmax", **kwargs):
        if mode not in SCORE_MODES:
            raise ValueError(f"JointConfidence mode must be one of {SCORE_MODES}, received {mode!r}.")
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.mode = mode

    def call(self, maps):
        if len(maps.shape) not in (4, 5):
            raise ValueError(
                "JointConfidence expects (batch, h, w, joints) or (batch, h, w, depth, joints), "
                f"received {tuple(maps.shape)}."
            )
        if self.mode == "peak":
            return ops.clip(ops.max(_joint_major(maps), axis=-1), 0.0, 1.0)
        if self.mode == "sigmoid":
            return ops.sigmoid(ops.max(_joint_major(maps), axis=-1))
        if len(maps.shape) == 5:
            maps = ops.logsumexp(maps, axis=3)  # log of the x-y marginal, up to a constant
        h, w, joints = maps.shape[1:]
        flat = _joint_major(maps)
        probs = ops.softmax(flat, axis=-1)
        probs = ops.transpose(ops.reshape(probs, (-1, joints, h, w)), (0, 2, 3, 1))
        # Zero padding + "valid": a border window sums only real cells ("same"
        # pooling would average over fewer cells and inflate border scores).
        probs = ops.pad(probs, ((0, 0), (1, 1), (1, 1), (0, 0)))
        window = ops.average_pool(probs, 3, strides=1, padding="valid") * 9.0
        return ops.clip(ops.max(_joint_major(window), axis=-1), 0.0, 1.0)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
