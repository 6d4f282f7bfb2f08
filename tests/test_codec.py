"""KeypointCodec: both conventions, both directions, against the formulas written out here."""

import numpy as np
import pytest

from keras_integral.codec import KeypointCodec

# Runs under each Keras backend (conftest.py).
pytestmark = pytest.mark.all_backends


def test_heatmap_cell_centre_maps_to_the_centre_of_its_input_pixels():
    # A 64-wide map over a 256-wide input: cell 0 covers input pixels 0..3, centre 1.5.
    codec = KeypointCodec((256, 256), (64, 64))
    points = np.array([[[0.0, 0.0], [63.0, 10.0]]], "float32")
    out = np.asarray(codec.decode(points))
    np.testing.assert_allclose(out, [[[1.5, 1.5], [253.5, 41.5]]])
    back = np.asarray(codec.encode(out))
    np.testing.assert_allclose(back, points, atol=1e-5)


def test_rectangular_sizes_and_depth_bins():
    codec = KeypointCodec((256, 192), (64, 48), depth_bins=48, depth_range_mm=2000.0)
    points = np.array([[[10.0, 20.0, -300.0]]], "float32")
    cells = np.asarray(codec.encode(points))
    np.testing.assert_allclose(cells, [[[(10.5) * 48 / 192 - 0.5, (20.5) * 64 / 256 - 0.5,
                                         (-300.0 / 2000.0 + 0.5) * 48 - 0.5]]], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(codec.decode(cells)), points, atol=1e-4)


def test_authors_convention_is_index_times_stride():
    # Their integral: pixel = index * stride, depth = (bin / D - 0.5) * range (authors-code.md).
    codec = KeypointCodec((384, 288), (96, 72), depth_bins=72, depth_range_mm=2000.0, convention="authors")
    cells = np.array([[[0.0, 0.0, 0.0], [10.0, 20.0, 36.0]]], "float32")
    np.testing.assert_allclose(np.asarray(codec.decode(cells)), [[[0.0, 0.0, -1000.0], [40.0, 80.0, 0.0]]],
                               atol=1e-4)
    np.testing.assert_allclose(np.asarray(codec.encode(codec.decode(cells))), cells, atol=1e-4)


def test_normalise_is_fractions_of_the_crop_and_the_depth_range():
    codec = KeypointCodec((128, 64), (32, 16), depth_bins=16, depth_range_mm=1600.0)
    points = np.array([[[32.0, 32.0, 400.0]]], "float32")
    np.testing.assert_allclose(np.asarray(codec.normalise(points)), [[[0.5, 0.25, 0.25]]])
    np.testing.assert_allclose(np.asarray(codec.denormalise(codec.normalise(points))), points)


def test_unknown_convention_is_refused():
    with pytest.raises(ValueError, match="decoding"):
        KeypointCodec((64, 64), (16, 16), convention="corner")


def test_mmpose_convention_is_the_expectation_of_arange_over_w_times_the_input_size():
    # MMPose: x = sum(p * arange(w) / w) * W, so cell j -> j * W / w; its integral heads are 2D only.
    codec = KeypointCodec((256, 192), (64, 48), convention="mmpose")
    cells = np.array([[[0.0, 0.0], [10.0, 20.0]]], "float32")
    np.testing.assert_allclose(np.asarray(codec.decode(cells)), [[[0.0, 0.0], [40.0, 80.0]]], atol=1e-4)
    with pytest.raises(ValueError, match="2D only"):
        KeypointCodec((64, 64), (16, 16), depth_bins=8, convention="mmpose")
