"""PCK / PCKh / AUC against hand-computed cases and the official MPII evaluation code."""

import json

import numpy as np
import pytest

from keras_integral import skeletons
from keras_integral.metrics import MPII_SUMMARY_EXCLUDE
from keras_integral.metrics import auc
from keras_integral.metrics import head_size_from_box
from keras_integral.metrics import pck
from keras_integral.metrics import pck_curve
from keras_integral.metrics import pckh


def mpii_official(pred, gt, headboxes, visible, threshold):
    """The MPII evaluation as in HRNet `lib/dataset/mpii.py::evaluate` (layouts of gt_valid.mat)."""
    pos_pred_src = np.transpose(pred, [1, 2, 0])  # (joints, 2, n)
    pos_gt_src = np.transpose(gt, [1, 2, 0])
    headboxes_src = np.transpose(headboxes.reshape(-1, 2, 2), [1, 2, 0])  # (2, 2, n)
    jnt_visible = np.transpose(visible).astype(float)  # 1 - jnt_missing, (joints, n)
    uv_err = np.linalg.norm(pos_pred_src - pos_gt_src, axis=1)
    headsizes = np.linalg.norm(headboxes_src[1, :, :] - headboxes_src[0, :, :], axis=0) * 0.6
    scale = np.multiply(headsizes, np.ones((len(uv_err), 1)))
    scaled_uv_err = np.multiply(np.divide(uv_err, scale), jnt_visible)
    jnt_count = np.sum(jnt_visible, axis=1)
    less_than_threshold = np.multiply((scaled_uv_err <= threshold), jnt_visible)
    per_joint = np.divide(100.0 * np.sum(less_than_threshold, axis=1), jnt_count)
    masked = np.ma.array(per_joint, mask=False)
    masked.mask[6:8] = True
    count = np.ma.array(jnt_count, mask=False)
    count.mask[6:8] = True
    jnt_ratio = count / np.sum(count).astype(np.float64)
    return per_joint, float(np.sum(masked * jnt_ratio))


def test_hand_computed_case():
    gt = np.zeros((2, 3, 2))
    # Errors 5, 10 (exactly at the threshold: counts as correct), 50 px; sample 1: 1, 20, 0 px.
    pred = np.array([[[3, 4], [6, 8], [30, 40]], [[1, 0], [0, 20], [0, 0]]], float)
    weights = np.array([[1, 1, 1], [1, 1, 0]])  # sample 1, joint 2 unlabelled
    result = pckh(pred, gt, head_sizes=[20.0, 20.0], weights=weights, alpha=0.5)
    np.testing.assert_allclose(result["per_joint"], [100.0, 50.0, 0.0])
    np.testing.assert_array_equal(result["count"], [2, 2, 1])
    assert result["mean"] == pytest.approx(100.0 * 3 / 5)
    assert pckh(pred, gt, [20.0, 20.0], weights, exclude=[2])["mean"] == pytest.approx(75.0)


def test_per_coordinate_weights_and_unlabelled_joints():
    rng = np.random.default_rng(1)
    gt = rng.uniform(0, 100, (4, 5, 2))
    pred = gt + rng.normal(0, 5, gt.shape)
    weights = np.ones((4, 5, 2))
    weights[0, 1, 1] = 0  # y unlabelled: the joint does not count
    pred[0, 1] += 1e6
    per_joint = pck(pred, gt, 10.0, weights, 0.5)
    mask = np.ones((4, 5))
    mask[0, 1] = 0
    per_joint_mask = pck(pred, gt, 10.0, mask, 0.5)
    np.testing.assert_array_equal(per_joint["per_joint"], per_joint_mask["per_joint"])
    assert per_joint["count"][1] == 3
    never = pck(pred, gt, 10.0, np.zeros((4, 5)), 0.5)
    assert np.isnan(never["per_joint"]).all() and np.isnan(never["mean"])


def test_matches_official_mpii_code_on_sample_annotations(samples_dir):
    records = json.loads((samples_dir / "mpii" / "test_mpii_subset.json").read_text())
    gt = np.array([r["joints"] for r in records], float)
    visible = np.array([r["joints_vis"] for r in records])
    # No head boxes in the samples: a box around upper neck (8) and head top (9), for tests only.
    corners = np.sort(gt[:, [8, 9], :], axis=1)
    headboxes = np.concatenate([corners[:, 0] - 5, corners[:, 1] + 5], axis=1)
    rng = np.random.default_rng(0)
    pred = np.tile(gt, (4, 1, 1)) + rng.normal(0, 8, (4 * len(gt), 16, 2))
    gt, headboxes, visible = np.tile(gt, (4, 1, 1)), np.tile(headboxes, (4, 1)), np.tile(visible, (4, 1))
    assert visible.min() == 0  # the sample has unannotated joints

    head_sizes = head_size_from_box(headboxes)
    for threshold in (0.1, 0.5):
        per_joint, mean = mpii_official(pred, gt, headboxes, visible, threshold)
        ours = pckh(pred, gt, head_sizes, visible, threshold, exclude=MPII_SUMMARY_EXCLUDE)
        np.testing.assert_allclose(ours["per_joint"], per_joint)
        assert ours["mean"] == pytest.approx(mean)
    alphas, curve = pck_curve(pred, gt, head_sizes, visible, exclude=MPII_SUMMARY_EXCLUDE)
    np.testing.assert_allclose(alphas, np.arange(0, 0.5 + 0.01, 0.01))
    assert curve[10] == pytest.approx(mpii_official(pred, gt, headboxes, visible, 0.1)[1])


def test_mpii_summary_excludes_pelvis_and_thorax():
    names = skeletons.get("mpii").joint_names
    assert [names[j] for j in MPII_SUMMARY_EXCLUDE] == ["pelvis", "thorax"]


def test_head_size_from_box():
    boxes = np.array([[10, 20, 40, 60], [0, 0, 5, 12]], float)
    np.testing.assert_allclose(head_size_from_box(boxes), [0.6 * 50, 0.6 * 13])


def test_auc_hand_and_closed_form():
    assert auc([0.0, 0.5], [0.0, 100.0]) == pytest.approx(50.0)
    assert auc([0.0, 0.25, 0.5], [50.0, 50.0, 50.0]) == pytest.approx(50.0)
    # PCK(a) = share of errors <= a, so its mean over [0, A] is the mean of (A - min(e, A)) / A.
    rng = np.random.default_rng(2)
    gt = np.zeros((50, 4, 2))
    pred = gt + rng.normal(0, 4, gt.shape)
    errors = np.linalg.norm(pred, axis=-1) / 10.0
    alphas, curve = pck_curve(pred, gt, np.full(50, 10.0), None, alphas=np.linspace(0, 0.5, 5001))
    expected = 100.0 * np.mean((0.5 - np.minimum(errors, 0.5)) / 0.5)
    assert auc(alphas, curve) == pytest.approx(expected, abs=0.02)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: pck(np.zeros((2, 3, 2)), np.zeros((2, 4, 2)), 1.0, None, 0.5), "same|shape"),
        (lambda: pck(np.zeros((2, 3, 2)), np.zeros((2, 3, 2)), [1.0, 0.0], None, 0.5), "samples \\[1\\]"),
        (lambda: pck(np.zeros((2, 3, 2)), np.zeros((2, 3, 2)), 1.0, np.ones((2, 4)), 0.5), "weights"),
        (lambda: pck(np.zeros((2, 3, 2)), np.zeros((2, 3, 2)), 1.0, None, 0.5, exclude=[3]), "exclude"),
        (lambda: auc([0.0, 0.5, 0.4], [1.0, 2.0, 3.0]), "increasing"),
        (lambda: head_size_from_box([1, 2, 3]), "head_box"),
    ],
)
def test_bad_input_raises_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
