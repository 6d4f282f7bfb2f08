"""HeatmapArgmax: arg-max + quarter-cell shift exactly as Simple Baselines' `get_final_preds` (H1's reference)."""

import numpy as np
import pytest
from keras.ops import convert_to_numpy as to_numpy

from keras_integral.layers import HeatmapArgmax

# Runs under each Keras backend (conftest.py).
pytestmark = pytest.mark.all_backends


def simple_baselines_decode(maps):
    """NumPy transcription of microsoft/human-pose-estimation.pytorch `lib/core/inference.py`
    (`get_max_preds`, then the `TEST.POST_PROCESS` loop of `get_final_preds`), in heat-map cells.

    maps: (batch, joints, h, w) -> (batch, joints, 2) as (x, y).
    """
    batch, joints, h, w = maps.shape
    flat = maps.reshape(batch, joints, -1)
    index = np.argmax(flat, axis=2)
    peak = np.max(flat, axis=2)
    coords = np.stack([index % w, index // w], axis=-1).astype(np.float32)
    coords *= (peak > 0)[..., None]  # their mask: a non-positive peak decodes to (0, 0)
    for n in range(batch):
        for k in range(joints):
            hm = maps[n, k]
            px = int(np.floor(coords[n, k, 0] + 0.5))
            py = int(np.floor(coords[n, k, 1] + 0.5))
            if 1 < px < w - 1 and 1 < py < h - 1:
                diff = np.array([hm[py, px + 1] - hm[py, px - 1], hm[py + 1, px] - hm[py - 1, px]])
                coords[n, k] += np.sign(diff) * 0.25
    return coords


def peak_everywhere(rng, h, w):
    """(h * w, 1, h, w) positive maps, map i peaked at cell i, neighbours random (ties included)."""
    maps = rng.choice([0.1, 0.2, 0.3], size=(h * w, 1, h, w)).astype(np.float32)
    maps.reshape(h * w, -1)[np.arange(h * w), np.arange(h * w)] = 1.0
    return maps


@pytest.mark.parametrize("size", [(8, 8), (6, 9), (3, 3)])
def test_matches_simple_baselines_at_every_cell_border_included(size, rng):
    h, w = size
    maps = peak_everywhere(rng, h, w)
    ours = to_numpy(HeatmapArgmax()(np.transpose(maps, (0, 2, 3, 1))))
    np.testing.assert_array_equal(ours, simple_baselines_decode(maps))


def test_border_rows_and_columns_0_1_and_n_minus_1_are_not_shifted():
    # Right and lower neighbours higher than left and upper ones: +0.25 on both axes where shifted.
    n = 8
    cases = {(r, c): (c + 0.25, r + 0.25) if 1 < r < n - 1 and 1 < c < n - 1 else (c, r)
             for r in (0, 1, 2, n - 2, n - 1) for c in (0, 1, 2, n - 2, n - 1)}
    for (row, col), expected in cases.items():
        maps = np.zeros((1, n, n, 1), np.float32)
        maps[0, row, col, 0] = 1.0
        if col + 1 < n:
            maps[0, row, col + 1, 0] = 0.5
        if row + 1 < n:
            maps[0, row + 1, col, 0] = 0.5
        np.testing.assert_array_equal(to_numpy(HeatmapArgmax()(maps))[0, 0], expected, err_msg=str((row, col)))


def test_volume_and_marginal_take_the_same_rule_on_every_axis():
    volume = np.zeros((1, 6, 6, 6, 1), np.float32)
    volume[0, 3, 2, 4, 0], volume[0, 3, 3, 4, 0], volume[0, 4, 2, 4, 0], volume[0, 3, 2, 5, 0] = 1, .5, .5, .5
    np.testing.assert_array_equal(to_numpy(HeatmapArgmax()(volume))[0, 0], [2.25, 3.25, 4.25])
    volume[0, 3, 2, 5, 0] = 0.0
    volume[0, 3, 2, 1, 0], volume[0, 3, 2, 4, 0] = 1.0, 0.0  # depth 1: the border, no axis moves
    volume[0, 3, 2, 2, 0] = 0.5
    np.testing.assert_array_equal(to_numpy(HeatmapArgmax()(volume))[0, 0], [2.0, 3.0, 1.0])
    marginal = np.array([[[0.0], [1.0], [0.5], [0.0], [0.0]], [[0.0], [0.0], [1.0], [0.5], [0.0]]], np.float32)
    np.testing.assert_array_equal(to_numpy(HeatmapArgmax()(marginal))[:, 0, 0], [1.0, 2.25])
