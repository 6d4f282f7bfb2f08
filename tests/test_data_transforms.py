"""Crop matrices, augmentation and the image warp, against hand-computed cases,
NumPy/scipy references and drawn dots."""

import numpy as np
import pytest
import scipy.ndimage
import scipy.stats
import tensorflow as tf

from keras_integral import skeletons
from keras_integral.data import transforms


def _as3x3(m):
    return np.vstack([m, [0.0, 0.0, 1.0]])


def _random_crop_args(rng):
    return {
        "center": rng.uniform(20, 300, 2),
        "crop_size": rng.uniform(30, 200, 2),
        "input_size": (int(rng.integers(16, 80)), int(rng.integers(16, 80))),
        "scale": rng.uniform(0.75, 1.25),
        "rotation_deg": rng.uniform(-30, 30),
        "shift": rng.uniform(-0.02, 0.02, 2),
    }


def test_box_to_crop_hand_computed():
    # Tall box into a 64x48 (h x w) input: width grows to 80 * 48 / 64 = 60.
    center, size = transforms.box_to_crop([10, 20, 40, 80], input_size=(64, 48))
    np.testing.assert_allclose(center, [30, 60])
    np.testing.assert_allclose(size, [60 * 1.25, 80 * 1.25])
    # Wide box into a 256x192 input: height grows to 100 / 0.75.
    center, size = transforms.box_to_crop([0, 0, 100, 50], input_size=(256, 192), margin=1.0)
    np.testing.assert_allclose(center, [50, 25])
    np.testing.assert_allclose(size, [100, 100 / 0.75])
    # A batch gives the same as one box at a time.
    boxes = np.array([[10, 20, 40, 80], [0, 0, 100, 50]])
    centers, sizes = transforms.box_to_crop(boxes, input_size=(64, 48))
    for box, c, s in zip(boxes, centers, sizes):
        np.testing.assert_allclose(transforms.box_to_crop(box, (64, 48)), (c, s))


@pytest.mark.parametrize("box", [[0, 0, 0, 10], [0, 0, 10, -1], [np.nan, 0, 10, 10], [0, 0, 10]])
def test_box_to_crop_rejects_bad_boxes(box):
    with pytest.raises(ValueError, match="box"):
        transforms.box_to_crop(box, (64, 64))


@pytest.mark.parametrize("input_size", [(0, 64), (64,), (64.5, 64), "ab"])
def test_bad_input_size_is_named(input_size):
    with pytest.raises(ValueError, match="input_size"):
        transforms.box_to_crop([0, 0, 10, 10], input_size)


def test_crop_matrix_maps_window_onto_crop_pixel_area():
    # Window [10, 110] x [5, 55] (centre (60, 30), size 100 x 50) into a 20 x 40 crop:
    # its edges land on the crop's outer pixel edges -0.5 and size - 0.5.
    m = transforms.crop_matrix([60, 30], [100, 50], input_size=(20, 40))
    np.testing.assert_allclose(m, [[0.4, 0, -4.5], [0, 0.4, -2.5]], atol=1e-12)
    points = transforms.apply_affine(m, [[60, 30], [10, 5], [110, 55]])
    np.testing.assert_allclose(points, [[19.5, 9.5], [-0.5, -0.5], [39.5, 19.5]], atol=1e-12)


def test_crop_matrix_augmentation_hand_computed():
    c, size, inp = np.array([50.0, 40.0]), np.array([20.0, 20.0]), (10, 10)
    dc = np.array([4.5, 4.5])
    # scale 2: the window doubles, so a point one crop width right of the centre lands on the right edge.
    m = transforms.crop_matrix(c, size, inp, scale=2.0)
    np.testing.assert_allclose(transforms.apply_affine(m, c + [20, 0]), dc + [5, 0])
    # rotation 90: the window's "down" direction R(90) (0, 1) = (-1, 0) points left in the image.
    m = transforms.crop_matrix(c, size, inp, rotation_deg=90.0)
    np.testing.assert_allclose(transforms.apply_affine(m, c + [-10, 0]), dc + [0, 5], atol=1e-12)
    # shift 0.1 (x): the window centre moves 2 px right.
    m = transforms.crop_matrix(c, size, inp, shift=(0.1, 0.0))
    np.testing.assert_allclose(transforms.apply_affine(m, c + [2, 0]), dc, atol=1e-12)
    # flip: a point right of the centre goes left of the crop centre.
    m = transforms.crop_matrix(c, size, inp, flip=True)
    np.testing.assert_allclose(transforms.apply_affine(m, c + [6, 3]), dc + [-3, 1.5])


@pytest.mark.parametrize("image_width", [101, 640])
def test_flip_equals_mirrored_image_then_crop(image_width):
    # The authors flip the image first (x -> W - 1 - x, centre mirrored too), then crop.
    rng = np.random.default_rng(image_width)
    for _ in range(5):
        args = _random_crop_args(rng)
        mirror = np.array([[-1.0, 0, image_width - 1], [0, 1, 0], [0, 0, 1]])
        mirrored_center = [image_width - 1 - args["center"][0], args["center"][1]]
        expected = _as3x3(transforms.crop_matrix(**{**args, "center": mirrored_center})) @ mirror
        np.testing.assert_allclose(transforms.crop_matrix(**args, flip=True), expected[:2], atol=1e-9)


def test_invert_and_apply_round_trip():
    rng = np.random.default_rng(0)
    matrices = np.stack([transforms.crop_matrix(**_random_crop_args(rng), flip=bool(i % 2)) for i in range(6)])
    inverse = transforms.invert_affine(matrices)
    for m, inv in zip(matrices, inverse):
        np.testing.assert_allclose(_as3x3(inv), np.linalg.inv(_as3x3(m)), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(transforms.invert_affine(inverse), matrices, rtol=1e-9, atol=1e-9)
    points = rng.uniform(-50, 400, (6, 17, 2))
    crop = transforms.apply_affine(matrices, points)  # batched: one matrix per row of points
    expected = np.einsum("bij,bnj->bni", matrices[:, :, :2], points) + matrices[:, None, :, 2]
    np.testing.assert_allclose(crop, expected, rtol=1e-9)
    np.testing.assert_allclose(transforms.apply_affine(inverse, crop), points, atol=1e-9)
    np.testing.assert_allclose(transforms.apply_affine(matrices[0], points[0]), crop[0], rtol=1e-12)
    with pytest.raises(ValueError, match="singular"):
        transforms.invert_affine([[1, 2, 0], [2, 4, 0]])


def test_tensor_inputs_give_the_numpy_result():
    rng = np.random.default_rng(1)
    args = _random_crop_args(rng)
    expected = transforms.crop_matrix(**args, flip=True)
    tensors = {k: (v if k == "input_size" else tf.constant(v, tf.float32)) for k, v in args.items()}
    got = transforms.crop_matrix(**tensors, flip=tf.constant(True))
    assert isinstance(got, tf.Tensor)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(
        transforms.invert_affine(got).numpy(), transforms.invert_affine(expected), rtol=1e-4, atol=1e-3
    )
    points = rng.uniform(0, 300, (17, 2))
    np.testing.assert_allclose(
        transforms.apply_affine(got, tf.constant(points, tf.float32)).numpy(),
        transforms.apply_affine(expected, points),
        atol=1e-3,
    )


@pytest.mark.parametrize("rotation_deg", [17.0, 0.0])  # the general warp; the crop_and_resize path
@pytest.mark.parametrize("center", [(18.0, 14.0), (3.0, 27.5)])  # inside; hanging over the border
def test_warp_image_matches_scipy_bilinear(rotation_deg, center):
    rng = np.random.default_rng(2)
    image = scipy.ndimage.gaussian_filter(rng.uniform(0, 255, (30, 40, 2)), (2, 2, 0))
    for flip in (False, True):
        m = transforms.crop_matrix(center, [30.0, 25.0], (24, 20), 1.1, rotation_deg, (0.01, -0.02), flip)
        out = transforms.warp_image(tf.constant(image, tf.float32), m, (24, 20)).numpy()
        # Independent reference: each crop pixel samples the image at inv(M) (x, y, 1).
        ys, xs = np.mgrid[0:24, 0:20].astype(np.float64)
        inv = np.linalg.inv(_as3x3(m))
        src_x = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
        src_y = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
        for ch in range(2):
            expected = scipy.ndimage.map_coordinates(image[..., ch], [src_y, src_x], order=1, mode="grid-constant")
            np.testing.assert_allclose(out[..., ch], expected, atol=1e-2)


def test_unrotated_crops_equal_the_general_warp_in_batches_and_any_dtype():
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (3, 50, 70, 3)).astype(np.uint8)
    matrices = np.stack([
        transforms.crop_matrix(rng.uniform(-10, 80, 2), rng.uniform(5, 90, 2), (16, 12), rng.uniform(0.7, 1.3), 0.0,
                               rng.uniform(-0.05, 0.05, 2), flip=bool(i % 2))
        for i in range(3)
    ])  # fmt: skip
    inverse = tf.constant(transforms.invert_affine(matrices), tf.float32)
    general = transforms._projective_warp(tf.constant(images), inverse, 16, 12).numpy()
    for dtype in (tf.uint8, tf.float32, tf.bfloat16):
        out = transforms.warp_image(tf.constant(images, dtype), matrices, (16, 12))
        assert out.dtype == tf.float32
        np.testing.assert_allclose(out.numpy(), general, atol=2e-3)
    single = transforms.warp_image(tf.constant(images[1]), matrices[1], (16, 12)).numpy()
    np.testing.assert_allclose(single, general[1], atol=2e-3)


def test_warp_image_identity_and_batch():
    image = tf.constant(np.random.default_rng(3).integers(0, 256, (2, 12, 16, 3)), tf.uint8)
    # The box covering exactly the pixel area [-0.5, 15.5] x [-0.5, 11.5] gives the identity.
    center, size = transforms.box_to_crop([-0.5, -0.5, 16, 12], (12, 16), margin=1.0)
    m = transforms.crop_matrix(center, size, (12, 16))
    np.testing.assert_allclose(m, [[1, 0, 0], [0, 1, 0]], atol=1e-12)
    out = transforms.warp_image(image, np.stack([m, m]), (12, 16))
    assert out.dtype == tf.float32 and out.shape == (2, 12, 16, 3)
    np.testing.assert_array_equal(out.numpy(), image.numpy().astype(np.float32))


def test_source_window_holds_every_pixel_bilinear_sampling_reads():
    # Independent reference: the floor and ceil of every crop pixel's source position (NumPy, float64).
    rng = np.random.default_rng(7)
    for _ in range(20):
        args = _random_crop_args(rng)
        input_size = args["input_size"]
        m = transforms.crop_matrix(**args, flip=bool(rng.integers(2)))
        inv = np.linalg.inv(_as3x3(m))[:2]
        ys, xs = np.mgrid[0 : input_size[0], 0 : input_size[1]].astype(np.float64)
        source = np.stack([inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2], inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]])
        read_low, read_high = np.floor(source.min((1, 2))), np.ceil(source.max((1, 2)))
        low, high = (v.numpy() for v in transforms.source_window(inv, input_size))
        assert np.all(low <= read_low) and np.all(high >= read_high)
        # Not much more: half a crop pixel on each side (the crop area's edge), then one pixel to spare.
        slack = 0.5 * np.abs(inv[:, :2]).sum(1) + 2
        assert np.all(read_low - low <= slack) and np.all(high - read_high <= slack)
    # A batch: the union of its members' windows.
    maps = np.array([[[1.0, 0.0, 10.0], [0.0, 1.0, 20.0]], [[2.0, 0.0, -5.0], [0.0, 2.0, 0.0]]])
    low, high = transforms.source_window(maps, (4, 6))
    assert low.numpy().tolist() == [-7, -2] and high.numpy().tolist() == [17, 25]


@pytest.mark.parametrize("rotation_deg", [17.0, 0.0])  # the general warp; the crop_and_resize path
def test_sampling_the_source_window_equals_warping_the_whole_image(rotation_deg):
    # The pipeline's path: cut the source window, sample it with the crop -> window map.
    rng = np.random.default_rng(4)
    image = rng.uniform(0, 255, (60, 80, 3)).astype(np.float32)
    for center in ((40.0, 30.0), (2.0, 55.0)):  # inside; hanging over the border
        m = transforms.crop_matrix(center, [30.0, 40.0], (24, 20), 1.1, rotation_deg)
        to_image = transforms.invert_affine(m)
        low, high = (v.numpy() for v in transforms.source_window(to_image, (24, 20)))
        start = np.clip(low, 0, [79, 59])
        stop = np.clip(high, 0, [79, 59]) + 1
        window = image[start[1] : stop[1], start[0] : stop[0]]
        to_window = np.concatenate([to_image[:, :2], (to_image[:, 2] - start)[:, None]], 1)
        np.testing.assert_allclose(transforms.sample_crop(window, to_window, (24, 20)).numpy(),
                                   transforms.warp_image(image, m, (24, 20)).numpy(), atol=1e-2)


def _blob_images(points, height, width, sigma=1.5):
    ys, xs = np.mgrid[0:height, 0:width]
    blobs = [np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2)) for x, y in points]
    return (255 * np.stack(blobs))[..., None].astype(np.float32)


def _centroids(images):
    ys, xs = np.mgrid[0 : images.shape[1], 0 : images.shape[2]]
    mass = images[..., 0].sum(axis=(1, 2))
    return np.stack([(images[..., 0] * xs).sum((1, 2)) / mass, (images[..., 0] * ys).sum((1, 2)) / mass], -1)


def test_drawn_dots_follow_the_keypoints_under_random_augmentation():
    # One image per joint with one blob at the joint; after the warp each blob's
    # intensity-weighted centroid must sit on the transformed keypoint.
    rng = np.random.default_rng(4)
    box = np.array([40.0, 30.0, 60.0, 80.0])
    points = box[:2] + box[2:] * rng.uniform(0.25, 0.75, (17, 2))
    images = tf.constant(_blob_images(points, 140, 150))
    center, size = transforms.box_to_crop(box, (64, 48))
    flips = set()
    for index in range(8):
        aug = transforms.sample_augmentation(seed=5, index=index)
        flips.add(bool(aug["flip"]))
        m = transforms.crop_matrix(
            center, size, (64, 48), float(aug["scale"]), float(aug["rotation_deg"]), aug["shift"].numpy(),
            bool(aug["flip"]),
        )  # fmt: skip
        out = transforms.warp_image(images, np.broadcast_to(m, (17, 2, 3)), (64, 48)).numpy()
        np.testing.assert_allclose(_centroids(out), transforms.apply_affine(m, points), atol=0.5)
    assert flips == {False, True}


def test_flip_moves_left_joints_to_the_other_side_and_swap_restores_names():
    coco = skeletons.get("coco")
    left_wrist, right_wrist = coco.joint_names.index("left_wrist"), coco.joint_names.index("right_wrist")
    keypoints = np.full((17, 2), 50.0)
    keypoints[left_wrist] = [70.0, 50.0]  # the person's left wrist, right of the box centre in the image
    keypoints[right_wrist] = [35.0, 52.0]
    center, size = np.array([50.0, 50.0]), np.array([80.0, 80.0])
    m = transforms.crop_matrix(center, size, (32, 32), flip=True)
    crop = transforms.apply_affine(m, keypoints)
    assert crop[left_wrist, 0] < 15.5  # the dot drawn at left_wrist is now left of the crop centre
    swapped = crop[coco.flip_index]
    # After the swap, index left_wrist holds the joint that looks like a left wrist in
    # the mirrored image: the mirrored right wrist.
    np.testing.assert_allclose(swapped[left_wrist], [15.5 - (35.0 - 50.0) * 0.4, 15.5 + 2 * 0.4])
    np.testing.assert_allclose(swapped[right_wrist], crop[left_wrist])


def test_sample_augmentation_is_a_pure_function_with_the_paper_ranges():
    n = 4000
    draws = next(
        iter(tf.data.Dataset.range(n).map(lambda i: transforms.sample_augmentation(7, i)).batch(n))
    )
    draws = {k: v.numpy() for k, v in draws.items()}
    again = transforms.sample_augmentation(7, 123)
    for k, v in again.items():
        np.testing.assert_array_equal(v.numpy(), draws[k][123])
    other_seed = transforms.sample_augmentation(8, 123)
    assert float(other_seed["scale"]) != float(again["scale"])
    assert len(np.unique(draws["scale"])) > n * 0.6  # distinct per index (up to the clip at 0.75 / 1.25)

    clipped = 2 * scipy.stats.norm.sf(1.0)  # P(|N(0, 1)| > 1)
    assert draws["scale"].min() == pytest.approx(0.75) and draws["scale"].max() == pytest.approx(1.25)
    assert np.mean(np.isclose(np.abs(draws["scale"] - 1), 0.25)) == pytest.approx(clipped, abs=0.03)
    rotated = draws["rotation_deg"] != 0
    assert rotated.mean() == pytest.approx(0.6, abs=0.03)
    assert np.abs(draws["rotation_deg"]).max() == pytest.approx(30.0)
    assert np.mean(np.isclose(np.abs(draws["rotation_deg"][rotated]), 30)) == pytest.approx(clipped, abs=0.04)
    assert draws["flip"].mean() == pytest.approx(0.5, abs=0.03)
    assert np.abs(draws["shift"]).max() <= 0.02 and np.abs(draws["shift"]).max() > 0.019
    assert draws["color"].min() >= 0.8 and draws["color"].max() <= 1.2
    assert np.std(draws["color"]) == pytest.approx(0.4 / np.sqrt(12), rel=0.05)  # U(0.8, 1.2)
    # Scale and rotation are drawn independently.
    assert abs(np.corrcoef(draws["scale"][rotated], draws["rotation_deg"][rotated])[0, 1]) < 0.06


def test_sample_augmentation_factors_zero_turn_parts_off():
    aug = transforms.sample_augmentation(
        0, 3, scale_factor=0, rotation_factor_deg=0, shift_fraction=0, flip_prob=0, color_factor=0
    )
    assert float(aug["scale"]) == 1 and float(aug["rotation_deg"]) == 0 and not bool(aug["flip"])
    np.testing.assert_array_equal(aug["shift"].numpy(), [0, 0])
    np.testing.assert_array_equal(aug["color"].numpy(), [1, 1, 1])
