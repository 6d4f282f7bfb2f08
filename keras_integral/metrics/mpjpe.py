"""MPJPE and its aligned variants: offline evaluators for 3D poses.

Three errors, named for what they do:
- `mpjpe`: mean Euclidean joint error, no alignment (Human3.6M protocol 2
  on root-relative poses: pass `root_relative(...)` of both).
- `pa_mpjpe`: after a similarity Procrustes alignment of the prediction onto
  the ground truth (rotation, uniform scale, translation; no reflection), the
  standard PA-MPJPE of the literature (protocol 1).
- `rigid_aligned_mpjpe`: after a rigid alignment (rotation and translation,
  no scale), the "aligned" error of the authors' code (`hm36_17j_align`).

All are per sample, in the units of the inputs (millimetres for H36M).

Example:

>>> import numpy as np
>>> gt = np.random.default_rng(0).normal(size=(1, 17, 3)) * 100
>>> pred = 1.2 * gt + 50.0                       # scaled and shifted
>>> bool(mpjpe(pred, gt)[0] > 1), bool(pa_mpjpe(pred, gt)[0] < 1e-6)
(True, True)
"""

import numpy as np

from keras_integral.metrics.pck import check_points
from keras_integral.metrics.pck import joint_mask


def root_relative(points, root=0):
    """Subtracts the root joint from every joint.

    Args:
        points: `(..., joints, dims)` keypoints.
        root: index of the root joint (0 = pelvis in H36M-17).

    Returns:
        `(..., joints, dims)` array, root joint at the origin.

    Example:

    >>> root_relative(np.array([[1.0, 2.0], [4.0, 6.0]])).tolist()
    [[0.0, 0.0], [3.0, 4.0]]
    """
    points = np.asarray(points)
    if points.ndim < 2 or not -points.shape[-2] <= root < points.shape[-2]:
        raise ValueError(f"root={root} is not a joint index of points with shape {points.shape}.")
    return points - points[..., root : root + 1, :]


def mpjpe(pred, gt, weights=None):
    """Mean per-joint position error of each sample, no alignment.

    Args:
        pred: `(n, joints, dims)` predicted joints.
        gt: `(n, joints, dims)` ground-truth joints, same units.
        weights: `(n, joints)` or `(n, joints, dims)`; a joint counts where
            all its weights are > 0. `None`: every joint counts.

    Returns:
        `(n,)` mean Euclidean error over the counted joints, in the input
        units (NaN for a sample without counted joints).

    Example:

    >>> mpjpe(np.array([[[3.0, 4.0, 0.0], [0.0, 0.0, 0.0]]]), np.zeros((1, 2, 3))).tolist()
    [2.5]
    """
    pred, gt = check_points(pred, gt)
    counted = joint_mask(weights, pred.shape[:2])
    error = np.linalg.norm(pred - gt, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counted, error, 0.0).sum(axis=1) / counted.sum(axis=1)


def _procrustes(pred, gt, with_scale):
    """Aligns each `pred` onto `gt` by least squares (Umeyama 1991).

    The rotation is `V diag(1, .., 1, d) U^T` from the SVD `U S V^T` of the
    cross-covariance, with `d = -1` where `det(V U^T) < 0`, else 1: flipping the last singular
    vector keeps it a proper rotation, as the authors' `rigid_transform_3D`.
    """
    pred, gt = check_points(pred, gt)
    mu_pred = pred.mean(axis=1, keepdims=True)
    mu_gt = gt.mean(axis=1, keepdims=True)
    x, y = pred - mu_pred, gt - mu_gt
    u, s, vt = np.linalg.svd(np.einsum("nji,njk->nik", x, y))
    d = np.ones_like(s)
    d[:, -1] = np.where(np.linalg.det(np.einsum("nji,nkj->nik", vt, u)) < 0, -1.0, 1.0)
    # Rotation acting on row vectors: p @ r with r = U diag(d) V^T.
    r = np.einsum("nij,nj,njk->nik", u, d, vt)
    scale = np.ones((pred.shape[0], 1, 1))
    if with_scale:
        variance = np.sum(x**2, axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = (np.sum(s * d, axis=1) / variance)[:, None, None]
    return scale * x @ r + mu_gt


def similarity_align(pred, gt):
    """Best similarity transform of `pred` onto `gt`: rotation, uniform scale, translation.

    Args:
        pred: `(n, joints, dims)` predicted joints.
        gt: `(n, joints, dims)` ground-truth joints.

    Returns:
        `(n, joints, dims)` the aligned `pred`. Reflections are not allowed.

    Example:

    >>> gt = np.array([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0]]])
    >>> bool(np.allclose(similarity_align(2 * gt + 1, gt), gt))
    True
    """
    return _procrustes(pred, gt, with_scale=True)


def rigid_align(pred, gt):
    """Best rigid transform of `pred` onto `gt`: rotation and translation, no scale.

    The alignment of the authors' `rigid_align` (Kabsch; a reflection is
    turned into a rotation by flipping the last singular vector).

    Args:
        pred: `(n, joints, dims)` predicted joints.
        gt: `(n, joints, dims)` ground-truth joints.

    Returns:
        `(n, joints, dims)` the aligned `pred`.

    Example:

    >>> gt = np.array([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0]]])
    >>> bool(np.allclose(rigid_align(gt[:, :, [1, 0, 2]] * [-1, 1, 1] + 5, gt), gt))
    True
    """
    return _procrustes(pred, gt, with_scale=False)


def pa_mpjpe(pred, gt):
    """MPJPE after similarity Procrustes alignment (PA-MPJPE, H36M protocol 1).

    Args:
        pred: `(n, joints, dims)` predicted joints.
        gt: `(n, joints, dims)` ground-truth joints.

    Returns:
        `(n,)` per-sample error in the input units.

    Example:

    >>> gt = np.random.default_rng(1).normal(size=(2, 17, 3))
    >>> bool(np.allclose(pa_mpjpe(3 * gt - 1, gt), 0))
    True
    """
    return mpjpe(similarity_align(pred, gt), gt)


def rigid_aligned_mpjpe(pred, gt):
    """MPJPE after rigid alignment (rotation + translation, no scale): the authors' "aligned" error.

    The authors' `hm36_17j_align` fits on their 18 joints, then makes both
    poses root-relative and averages over the first 17 joints; to reproduce it:
    `mpjpe(root_relative(rigid_align(p18, g18))[:, :17], root_relative(g18)[:, :17])`.
    This function evaluates on the joints it fits.

    Args:
        pred: `(n, joints, dims)` predicted joints.
        gt: `(n, joints, dims)` ground-truth joints.

    Returns:
        `(n,)` per-sample error in the input units.

    Example:

    >>> gt = np.random.default_rng(2).normal(size=(1, 17, 3))
    >>> bool(rigid_aligned_mpjpe(2 * gt, gt)[0] > 0.1)     # scale is not removed
    True
    """
    return mpjpe(rigid_align(pred, gt), gt)
