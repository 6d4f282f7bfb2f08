"""PCK, PCKh (MPII) and the area under the PCKh curve: offline evaluators.

A joint is correct when its error is within `threshold * normalizer`, where
the normalizer is a length per sample: the MPII head size for PCKh, a crop
or box size for plain PCK. Only joints with weight > 0 count. Means pool all
counted joints (the MPII evaluation code weights each joint's PCKh by its
count, which is the same thing), and are in percent.

Example:

>>> import numpy as np
>>> gt = np.zeros((1, 2, 2))
>>> pred = np.array([[[3.0, 4.0], [30.0, 40.0]]])     # errors 5 and 50 px
>>> r = pck(pred, gt, normalizer=[100.0], weights=np.ones((1, 2)), threshold=0.1)
>>> r["per_joint"].tolist(), float(r["mean"])
([100.0, 0.0], 50.0)
"""

import numpy as np

from keras_integral import skeletons

# The MPII evaluation (Andriluka et al. 2014, and HRNet's `evaluate`) scales
# the head box diagonal by this factor to get the head size.
MPII_SC_BIAS = 0.6

# Joints left out of the MPII summary mean (pelvis, thorax), by index in the
# MPII-16 order: `pckh(..., exclude=MPII_SUMMARY_EXCLUDE)`.
MPII_SUMMARY_EXCLUDE = tuple(
    skeletons.get("mpii").joint_names.index(name) for name in ("pelvis", "thorax")
)


def joint_mask(weights, shape, name="weights"):
    """Which joints count: `(n, joints)` bool, True where every coordinate weight is > 0.

    Args:
        weights: `(n, joints)` per-joint or `(n, joints, c)` per-coordinate
            weights (the targets' format), or `None` (every joint counts).
        shape: `(n, joints)` the mask must have.
        name: argument name used in error messages.

    Returns:
        `(n, joints)` bool array.

    Example:

    >>> joint_mask(np.array([[[1, 1], [1, 0]]]), (1, 2)).tolist()
    [[True, False]]
    """
    shape = tuple(shape)
    if weights is None:
        return np.ones(shape, bool)
    weights = np.asarray(weights)
    if weights.shape[:2] != shape or weights.ndim not in (2, 3):
        raise ValueError(
            f"{name} must have shape {shape} or {shape + ('c',)}, got {weights.shape}."
        )
    positive = weights > 0
    return positive.all(axis=-1) if weights.ndim == 3 else positive


def check_points(pred, gt):
    """`pred`, `gt` as float64 arrays of one shape `(n, joints, dims)`, or a ValueError naming both shapes."""
    pred = np.asarray(pred, np.float64)
    gt = np.asarray(gt, np.float64)
    if pred.ndim != 3 or pred.shape != gt.shape:
        raise ValueError(
            f"pred and gt must both have shape (n, joints, dims), got pred {pred.shape} and gt {gt.shape}."
        )
    return pred, gt


def pck(pred, gt, normalizer, weights, threshold, exclude=()):
    """Percentage of correct keypoints: `||pred - gt|| <= threshold * normalizer`.

    Args:
        pred: `(n, joints, 2)` predicted keypoints, pixels.
        gt: `(n, joints, 2)` ground-truth keypoints, pixels.
        normalizer: `(n,)` positive length per sample in pixels (head size,
            crop size), or a scalar for all samples.
        weights: `(n, joints)` or `(n, joints, 2)`; a joint counts where all
            its weights are > 0. `None`: every joint counts.
        threshold: fraction of the normalizer, e.g. 0.5 for PCKh@0.5.
        exclude: joint indices left out of `mean` (still in `per_joint`).

    Returns:
        dict with `per_joint` `(joints,)` PCK in % (NaN for a joint that
        never counts), `count` `(joints,)` counted joints, and `mean`: the
        PCK in % pooled over the counted joints not in `exclude` (NaN if none).

    Example:

    >>> r = pck(np.zeros((2, 3, 2)), np.ones((2, 3, 2)), 10.0, None, 0.2)
    >>> float(r["mean"])     # error sqrt(2) <= 0.2 * 10
    100.0
    """
    pred, gt = check_points(pred, gt)
    n, joints = pred.shape[:2]
    normalizer = np.broadcast_to(np.asarray(normalizer, np.float64), (n,))
    bad = np.flatnonzero(~(normalizer > 0) | ~np.isfinite(normalizer))
    if bad.size:
        raise ValueError(
            f"normalizer must be positive and finite for every sample; samples {bad[:10].tolist()} "
            f"have {normalizer[bad[:10]].tolist()}."
        )
    counted = joint_mask(weights, (n, joints))
    error = np.linalg.norm(pred - gt, axis=-1) / normalizer[:, None]
    correct = (error <= threshold) & counted

    count = counted.sum(axis=0)
    hits = correct.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_joint = 100.0 * hits / count
    exclude = [int(j) for j in exclude]
    if any(not 0 <= j < joints for j in exclude):
        raise ValueError(f"exclude must hold joint indices in [0, {joints}), got {exclude}.")
    kept = np.ones(joints, bool)
    kept[exclude] = False
    total = count[kept].sum()
    mean = 100.0 * hits[kept].sum() / total if total else np.nan
    return {"per_joint": per_joint, "count": count, "mean": mean}


def head_size_from_box(head_box):
    """MPII head size: `0.6 * ||(x2 - x1, y2 - y1)||`, the scaled head box diagonal.

    Args:
        head_box: `(..., 4)` head boxes `[x1, y1, x2, y2]` in pixels, as in
            MPII's `annolist.annorect` (`headboxes_src` of `gt_valid.mat`).

    Returns:
        `(...)` head sizes in pixels.

    Example:

    >>> float(head_size_from_box([10, 20, 40, 60]))     # 0.6 * 50
    30.0
    """
    head_box = np.asarray(head_box, np.float64)
    if head_box.shape[-1:] != (4,):
        raise ValueError(f"head_box must have shape (..., 4) [x1, y1, x2, y2], got {head_box.shape}.")
    return MPII_SC_BIAS * np.linalg.norm(head_box[..., 2:] - head_box[..., :2], axis=-1)


def pckh(pred, gt, head_sizes, weights, alpha=0.5, exclude=()):
    """PCKh@alpha as in the MPII evaluation: correct if `||pred - gt|| <= alpha * head_size`.

    The MPII summary ("Mean" of the official code) leaves out pelvis and
    thorax: pass `exclude=MPII_SUMMARY_EXCLUDE` with MPII-16 joints.

    Args:
        pred: `(n, joints, 2)` predicted keypoints, pixels.
        gt: `(n, joints, 2)` ground-truth keypoints, pixels.
        head_sizes: `(n,)` head sizes in pixels (`head_size_from_box`).
        weights: `(n, joints)` or `(n, joints, 2)`; joints with weight > 0
            count (MPII: `1 - jnt_missing`).
        alpha: threshold as a fraction of the head size.
        exclude: joint indices left out of `mean`.

    Returns:
        dict as `pck`: `per_joint` (%), `count`, `mean` (%).

    Example:

    >>> gt = np.zeros((1, 16, 2))
    >>> r = pckh(gt + 1.0, gt, [10.0], np.ones((1, 16)), exclude=MPII_SUMMARY_EXCLUDE)
    >>> float(r["mean"])
    100.0
    """
    return pck(pred, gt, head_sizes, weights, alpha, exclude)


def pck_curve(pred, gt, head_sizes, weights, alphas=None, exclude=()):
    """Mean PCKh at each threshold in `alphas`.

    Args:
        pred, gt: `(n, joints, 2)` keypoints, pixels.
        head_sizes: `(n,)` normalizer per sample, pixels.
        weights: `(n, joints)` or `(n, joints, 2)`.
        alphas: `(k,)` increasing thresholds; None (the default) is the
            MPII evaluation's `0:0.01:0.5`.
        exclude: joint indices left out of the means.

    Returns:
        `(alphas, pck)`: two `(k,)` arrays, `pck` in %.

    Example:

    >>> gt = np.zeros((1, 1, 2))
    >>> a, p = pck_curve(gt + [3.0, 4.0], gt, [10.0], None, alphas=[0.4, 0.5])
    >>> p.tolist()
    [0.0, 100.0]
    """
    alphas = np.linspace(0.0, 0.5, 51) if alphas is None else np.asarray(alphas, np.float64)
    values = [pck(pred, gt, head_sizes, weights, a, exclude)["mean"] for a in alphas]
    return alphas, np.asarray(values)


def auc(alphas, pck_values):
    """Area under a PCK curve divided by the threshold range, in % (the paper's AUC).

    Args:
        alphas: `(k,)` strictly increasing thresholds, k >= 2.
        pck_values: `(k,)` PCK in % at each threshold.

    Returns:
        float in [0, 100]: the trapezoidal area over `alphas[-1] - alphas[0]`.

    Example:

    >>> auc([0.0, 0.5], [0.0, 100.0])
    50.0
    """
    alphas = np.asarray(alphas, np.float64)
    pck_values = np.asarray(pck_values, np.float64)
    if alphas.ndim != 1 or alphas.size < 2 or alphas.shape != pck_values.shape:
        raise ValueError(
            f"alphas and pck_values must be 1-D of the same length >= 2, got {alphas.shape} and {pck_values.shape}."
        )
    if np.any(np.diff(alphas) <= 0):
        raise ValueError(f"alphas must be strictly increasing, got {alphas.tolist()}.")
    return float(np.trapezoid(pck_values, alphas) / (alphas[-1] - alphas[0]))
