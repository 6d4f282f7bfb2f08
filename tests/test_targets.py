"""Heat-map targets against NumPy and the integral layers."""

import numpy as np
import pytest
from keras.ops import convert_to_numpy as to_numpy

from keras_integral import targets
from keras_integral.layers import IntegralRegression2D
from keras_integral.layers import IntegralRegression3D

# Runs under each Keras backend (conftest.py).
pytestmark = pytest.mark.all_backends


# Centres at least 5 sigma from the border: nearer, the blob is truncated and its mean moves inward.
@pytest.mark.parametrize("centre", [(6.0, 7.0), (6.3, 6.7), (6.49, 7.51)])
def test_gaussian_matches_formula_and_its_integral_is_its_centre(centre):
    shape = (14, 13)
    maps = np.asarray(targets.gaussian_maps(np.array([[centre]], "float32"), shape, sigma=1.0))
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]]
    expected = np.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / 2.0)
    np.testing.assert_allclose(maps[0, :, :, 0], expected, rtol=1e-5, atol=1e-7)
    p = expected / expected.sum()
    assert abs((p * xs).sum() - centre[0]) < 1e-5 and abs((p * ys).sum() - centre[1]) < 1e-5
    # The integral layer on log(target) recovers the centre: one convention on both ends.
    logits = np.log(np.maximum(maps, 1e-30)).astype("float32")
    np.testing.assert_allclose(to_numpy(IntegralRegression2D()(logits))[0, 0], centre, atol=1e-4)


def test_gaussian_volume_integral_is_its_centre():
    centre = np.array([[[6.2, 5.6, 6.3]]], "float32")
    volume = np.asarray(targets.gaussian_maps(centre, (12, 13, 14)))
    assert volume.shape == (1, 12, 13, 14, 1)
    logits = np.log(np.maximum(volume, 1e-30)).astype("float32")
    np.testing.assert_allclose(to_numpy(IntegralRegression3D()(logits))[0, 0], centre[0, 0], atol=1e-4)


def test_normalized_1d_gaussian_sums_to_one():
    maps = np.asarray(targets.gaussian_maps(np.array([[[7.4], [0.2]]], "float32"), (16,), normalize=True))
    assert maps.shape == (1, 16, 2)
    np.testing.assert_allclose(maps.sum(axis=1), 1.0, rtol=1e-6)
    assert np.argmax(maps[0, :, 0]) == 7


@pytest.mark.parametrize("centre,cell", [((2.4, 1.6), (2, 2)), ((2.5, 0.0), (3, 0)), ((0.0, 3.49), (0, 3))])
def test_onehot_is_one_at_the_nearest_cell(centre, cell):
    maps = np.asarray(targets.onehot_maps(np.array([[centre]], "float32"), (5, 6)))
    assert maps.sum() == 1.0
    row, col = np.unravel_index(np.argmax(maps[0, :, :, 0]), (5, 6))
    assert (col, row) == cell


def test_onehot_outside_the_map_is_empty_and_flagged():
    centres = np.array([[[-0.6, 2.0], [5.6, 2.0], [2.0, 2.0]]], "float32")
    maps = np.asarray(targets.onehot_maps(centres, (5, 6)))
    assert maps[0, :, :, 0].sum() == 0 and maps[0, :, :, 1].sum() == 0 and maps[0, :, :, 2].sum() == 1
    assert np.asarray(targets.in_map(centres, (5, 6))).tolist() == [[False, False, True]]


def test_disk_counts_cells_within_radius():
    centre = (5.3, 6.1)
    maps = np.asarray(targets.disk_maps(np.array([[centre]], "float32"), (14, 12), radius=3.75))
    ys, xs = np.mgrid[0:14, 0:12]
    expected = ((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2 <= 3.75**2).astype(np.float32)
    np.testing.assert_array_equal(maps[0, :, :, 0], expected)


def test_wrong_number_of_coordinates_is_an_error():
    with pytest.raises(ValueError, match="3 coordinates"):
        targets.gaussian_maps(np.zeros((1, 2, 2), "float32"), (4, 4, 4))
