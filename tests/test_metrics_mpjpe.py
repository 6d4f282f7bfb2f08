"""MPJPE, PA-MPJPE and the authors' rigid-aligned error against scipy and synthetic transforms."""

import numpy as np
import pytest
import scipy.spatial
from scipy.spatial.transform import Rotation

from keras_integral.metrics import mpjpe
from keras_integral.metrics import pa_mpjpe
from keras_integral.metrics import rigid_align
from keras_integral.metrics import rigid_aligned_mpjpe
from keras_integral.metrics import root_relative
from keras_integral.metrics import similarity_align


def authors_rigid_align(a, b):
    """`rigid_transform_3D` + `rigid_align` of the authors' `hm36_eval` (one pose, (joints, 3))."""
    centroid_a, centroid_b = np.mean(a, axis=0), np.mean(b, axis=0)
    h = np.dot(np.transpose(a - centroid_a), b - centroid_b)
    u, s, v = np.linalg.svd(h)
    r = np.dot(np.transpose(v), np.transpose(u))
    if np.linalg.det(r) < 0:
        v[2] = -v[2]
        r = np.dot(np.transpose(v), np.transpose(u))
    t = -np.dot(r, np.transpose(centroid_a)) + np.transpose(centroid_b)
    return np.transpose(np.dot(r, np.transpose(a))) + t


@pytest.fixture
def poses():
    """Human-sized random poses in millimetres, root-relative."""
    rng = np.random.default_rng(0)
    return root_relative(rng.normal(0, 300, (6, 17, 3)))


def test_mpjpe_against_loops_and_weights(poses):
    rng = np.random.default_rng(1)
    pred = poses + rng.normal(0, 20, poses.shape)
    weights = np.ones(poses.shape)
    weights[0, 3, 2] = 0  # z unlabelled: joint 3 of sample 0 does not count
    expected = []
    for p, g, w in zip(pred, poses, weights):
        errors = [np.sqrt(np.sum((pj - gj) ** 2)) for pj, gj, wj in zip(p, g, w) if wj.min() > 0]
        expected.append(sum(errors) / len(errors))
    np.testing.assert_allclose(mpjpe(pred, poses, weights), expected)
    np.testing.assert_allclose(mpjpe(pred, poses, weights.min(axis=-1)), expected)
    assert mpjpe([[[3.0, 4.0, 0.0]]], np.zeros((1, 1, 3)))[0] == pytest.approx(5.0)
    assert np.isnan(mpjpe(pred[:1], poses[:1], np.zeros((1, 17))))[0]


def test_root_relative():
    points = np.array([[[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 0.0, 0.0]]])
    np.testing.assert_allclose(root_relative(points, root=1), points - points[:, 1:2])
    with pytest.raises(ValueError, match="root=17"):
        root_relative(np.zeros((2, 17, 3)), root=17)


def test_similarity_of_gt_aligns_to_zero_error(poses):
    rotations = Rotation.random(len(poses), random_state=3).as_matrix()
    scales = np.linspace(0.5, 2.0, len(poses))[:, None, None]
    shifts = np.random.default_rng(4).normal(0, 500, (len(poses), 1, 3))
    pred = scales * np.einsum("nij,nkj->nki", rotations, poses) + shifts  # s R gt + t, proper R
    assert np.all(mpjpe(pred, poses) > 10)
    np.testing.assert_allclose(pa_mpjpe(pred, poses), 0, atol=1e-8)
    np.testing.assert_allclose(similarity_align(pred, poses), poses, atol=1e-8)
    # Rigid alignment removes rotation and translation but not scale.
    rigid = rigid_aligned_mpjpe(pred, poses)
    np.testing.assert_allclose(rigid[scales.ravel() == 1.0], 0, atol=1e-8)
    assert np.all(rigid[np.abs(scales.ravel() - 1) > 0.1] > 10)
    unscaled = np.einsum("nij,nkj->nki", rotations, poses) + shifts
    np.testing.assert_allclose(rigid_aligned_mpjpe(unscaled, poses), 0, atol=1e-8)


def test_reflection_is_not_aligned_away(poses):
    mirrored = poses * np.array([-1.0, 1.0, 1.0])  # det -1: no proper rotation maps it back
    assert np.all(pa_mpjpe(mirrored, poses) > 10)
    assert np.all(rigid_aligned_mpjpe(mirrored, poses) > 10)
    # The optimum over proper rotations: no worse than identity.
    assert np.all(pa_mpjpe(mirrored, poses) <= mpjpe(mirrored, poses) + 1e-9)


@pytest.mark.parametrize("dims", [2, 3])
def test_pa_matches_scipy_procrustes(dims):
    rng = np.random.default_rng(5)
    gt = rng.normal(0, 300, (4, 17, dims))
    rotation = Rotation.random(4, random_state=6).as_matrix()[:, :dims, :dims]
    if dims == 2:
        angle = rng.uniform(0, 2 * np.pi, 4)
        rotation = np.stack([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]).transpose(2, 0, 1)
    # Small noise: the optimal orthogonal map is a proper rotation, where scipy (which
    # also allows reflections) and PA agree.
    pred = 1.7 * np.einsum("nij,nkj->nki", rotation, gt) + 40 + rng.normal(0, 15, gt.shape)
    aligned = similarity_align(pred, gt)
    for g, p, a in zip(gt, pred, aligned):
        standard_gt, standard_pred, disparity = scipy.spatial.procrustes(g, p)
        centred = g - g.mean(axis=0)
        norm = np.linalg.norm(centred)
        # scipy centres and scales both to unit norm; put our result in gt's standard frame.
        np.testing.assert_allclose((a - g.mean(axis=0)) / norm, standard_pred, atol=1e-10)
        assert np.sum((a - g) ** 2) / norm**2 == pytest.approx(disparity)
    np.testing.assert_allclose(pa_mpjpe(pred, gt), mpjpe(aligned, gt))


def test_rigid_align_matches_the_authors_code():
    rng = np.random.default_rng(7)
    poses = rng.normal(0, 300, (6, 18, 3))  # the authors' 18 joints
    rotations = Rotation.random(len(poses), random_state=8).as_matrix()
    pred = np.einsum("nij,nkj->nki", rotations, poses) * 1.1 + rng.normal(0, 30, poses.shape)
    pred[0] *= np.array([1.0, -1.0, 1.0])  # a reflected pose takes the det < 0 branch
    expected = np.stack([authors_rigid_align(p, g) for p, g in zip(pred, poses)])
    np.testing.assert_allclose(rigid_align(pred, poses), expected, atol=1e-9)
    # The authors' "hm36_17j_align" on 18 joints, as the docstring spells it.
    p18, g18 = pred, poses
    reference = [
        np.mean(np.linalg.norm((a - a[0]) - (g - g[0]), axis=-1)[:17])
        for a, g in zip(map(authors_rigid_align, p18, g18), g18)
    ]
    ours = mpjpe(root_relative(rigid_align(p18, g18))[:, :17], root_relative(g18)[:, :17])
    np.testing.assert_allclose(ours, reference)


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="pred and gt"):
        pa_mpjpe(np.zeros((2, 17, 3)), np.zeros((2, 16, 3)))
    with pytest.raises(ValueError, match="weights"):
        mpjpe(np.zeros((2, 17, 3)), np.zeros((2, 17, 3)), np.ones((2, 16)))
