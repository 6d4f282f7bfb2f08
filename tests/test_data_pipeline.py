"""The tf.data pipeline: crops and targets against NumPy/scipy, drawn dots,
determinism and resume, bad files, mixing."""

from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.ndimage
import tensorflow as tf

from keras_integral import skeletons
from keras_integral.data import pipeline
from keras_integral.data import transforms
from keras_integral.data.records import PoseRecord

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "samples"
COCO_IMAGE = SAMPLES / "coco" / "000000000785.jpg"  # 640 x 425


def _write(path, rgb):
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]))  # OpenCV writes BGR
    return str(path)


def _record(path, box, keypoints, skeleton="h36m", weights=None):
    keypoints = np.asarray(keypoints, np.float32)
    return PoseRecord(path, box, keypoints, np.ones_like(keypoints) if weights is None else weights, skeleton)


def _random_records(tmp_path, n, size=(48, 64), skeleton="h36m", dims=3, seed=0, suffix=".png"):
    rng = np.random.default_rng(seed)
    joints = skeletons.get(skeleton).num_joints
    records = []
    for i in range(n):
        image = rng.integers(0, 256, size + (3,), dtype=np.uint8)
        box = [rng.uniform(5, 15), rng.uniform(5, 15), rng.uniform(20, 40), rng.uniform(20, 30)]
        xy = np.asarray(box[:2]) + np.asarray(box[2:]) * rng.uniform(0.1, 0.9, (joints, 2))
        kp = np.concatenate([xy, rng.uniform(-800, 800, (joints, 1))], 1)[:, :dims]
        records.append(_record(_write(tmp_path / f"{skeleton}{i}{suffix}", image), box, kp, skeleton))
    return records


def _samples(dataset, batches):
    """The first `batches` batches, unbatched: list of (image, keypoints, weights[, meta...])."""
    out = []
    for batch in dataset.take(batches):
        images, targets = batch[0].numpy(), {k: v.numpy() for k, v in batch[1].items()}
        meta = {k: v.numpy() for k, v in batch[2].items()} if len(batch) > 2 else {}
        for i in range(len(images)):
            out.append((images[i], targets["keypoints"][i], targets["weights"][i], {k: v[i] for k, v in meta.items()}))
    return out


def test_eval_crop_and_targets_match_a_numpy_reference(tmp_path):
    # The real COCO sample (JPEG: windowed decode) and a PNG copy of it (whole decode);
    # the crop samples about 1.5 image pixels per crop pixel: full-scale decoding.
    rgb = cv2.imread(str(COCO_IMAGE))[..., ::-1]
    box, size = [250.0, 40.0, 150.0, 300.0], (256, 192)
    kp = np.random.default_rng(0).uniform([250, 40], [400, 340], (17, 2))
    records = [_record(str(COCO_IMAGE), box, kp, "coco"), _record(_write(tmp_path / "a.png", rgb), box, kp, "coco")]
    ds = pipeline.make_dataset(records, "coco", size, training=False, batch_size=2, with_meta=True)
    ((images, targets, meta),) = list(ds)
    assert images.shape == (2, *size, 3) and images.dtype == tf.float32
    center, crop_size = transforms.box_to_crop(box, size)
    m = transforms.crop_matrix(center, crop_size, size)
    inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))
    ys, xs = np.mgrid[0 : size[0], 0 : size[1]].astype(np.float64)
    coords = [inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2], inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]]
    expected = np.stack(
        [scipy.ndimage.map_coordinates(rgb[..., c].astype(np.float64), coords, order=1) for c in range(3)], -1
    )
    for i in range(2):  # OpenCV and TF decode JPEGs with the same accurate IDCT
        np.testing.assert_allclose(images[i].numpy(), expected, atol=0.01)
        np.testing.assert_allclose(targets["keypoints"][i], transforms.apply_affine(m, kp), atol=1e-3)
        np.testing.assert_allclose(meta["crop_to_image"][i], inv[:2], rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(meta["index"], [0, 1])
    np.testing.assert_array_equal(targets["weights"], 1.0)


@pytest.mark.parametrize("input_px, pixels_per_crop_px", [(96, 2.6), (48, 5.2)])
def test_zoomed_out_jpeg_window_keeps_dots_on_keypoints(tmp_path, input_px, pixels_per_crop_px):
    # A crop of the middle of a JPEG (decoded as a window) that samples several
    # image pixels per crop pixel: the blobs land on the keypoints to a small
    # fraction of a crop pixel.
    ys, xs = np.mgrid[0:500, 0:600]
    kp = np.array([[230.0, 170.0], [370.0, 180.0], [300.0, 250.0], [240.0, 330.0], [360.0, 320.0]])
    image = sum(np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 6.0**2)) for x, y in kp)
    path = tmp_path / "blobs.jpg"
    cv2.imwrite(str(path), (240 * image).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 98])
    box_side = input_px * pixels_per_crop_px / 1.25
    box = [300 - box_side / 2, 250 - box_side / 2, box_side, box_side]
    joints = np.zeros((16, 2))
    joints[:5] = kp
    weights = np.zeros((16, 2))
    weights[:5] = 1
    record = _record(str(path), box, joints, "mpii", weights)
    ds = pipeline.make_dataset([record], "mpii", (input_px, input_px), training=False, batch_size=1)
    ((image_out, out_kp, _, _),) = _samples(ds, 1)
    gy, gx = np.mgrid[0:input_px, 0:input_px]
    for x, y in out_kp[:5]:
        mass = image_out[..., 0] * (((gx - x) ** 2 + (gy - y) ** 2) < 4.5**2)
        centroid = [(mass * gx).sum() / mass.sum(), (mass * gy).sum() / mass.sum()]
        np.testing.assert_allclose(centroid, [x, y], atol=0.1)


def _dot_record(tmp_path, rng):
    # Coloured blobs: left joints in red, right joints in green, centre joints in blue.
    coco = skeletons.get("coco")
    box = np.array([60.0, 40.0, 80.0, 80.0])
    grid = np.stack(np.meshgrid(np.arange(5), np.arange(4)), -1).reshape(-1, 2)[:17]
    kp = box[:2] + box[2:] / 2 + (grid - [2, 1.5]) * 12 + rng.uniform(-1, 1, (17, 2))
    channel = [0 if n.startswith("left") else 1 if n.startswith("right") else 2 for n in coco.joint_names]
    ys, xs = np.mgrid[0:160, 0:200]
    image = np.zeros((160, 200, 3))
    for (x, y), c in zip(kp, channel):
        image[..., c] += 250 * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 1.5**2))
    path = _write(tmp_path / "dots.png", np.clip(image, 0, 255).round().astype(np.uint8))
    return _record(path, box, kp, "coco"), np.array(channel)


def test_training_dots_stay_on_keypoints_and_flip_swaps_left_and_right(tmp_path):
    record, channel = _dot_record(tmp_path, np.random.default_rng(1))
    coco = skeletons.get("coco")
    ds = pipeline.make_dataset([record], "coco", (96, 96), training=True, batch_size=4, seed=3, with_meta=True)
    ys, xs = np.mgrid[0:96, 0:96]
    flipped_seen = set()
    for image, kp, weights, meta in _samples(ds, 4):
        flipped = np.linalg.det(meta["crop_to_image"][:, :2]) < 0
        flipped_seen.add(bool(flipped))
        # After a flip, index i holds the mirror image of joint flip_index[i]: a dot of the other side's colour.
        expected_channel = channel[coco.flip_index] if flipped else channel
        for i in np.flatnonzero(weights[:, 0]):
            near = (xs - kp[i, 0]) ** 2 + (ys - kp[i, 1]) ** 2 < 4.5**2
            mass = image[..., expected_channel[i]] * near
            dots_of_colour = np.sum(channel == expected_channel[i])
            assert mass.sum() > 0.5 * image[..., expected_channel[i]].sum() / dots_of_colour
            centroid = [(mass * xs).sum() / mass.sum(), (mass * ys).sum() / mass.sum()]
            np.testing.assert_allclose(centroid, kp[i], atol=0.5)
        assert weights.sum() == 17 * 2  # every dot stays inside the crop
        left_wrist = coco.joint_names.index("left_wrist")
        # The dot drawn at the left wrist switches sides of the crop on flip.
        drawn = record.keypoints[left_wrist, 0] - (record.box[0] + record.box[2] / 2)
        shown = kp[coco.flip_index[left_wrist] if flipped else left_wrist, 0] - 47.5
        assert np.sign(shown) == (-1 if flipped else 1) * np.sign(drawn)
    assert flipped_seen == {False, True}


def test_depth_follows_zoom_and_outside_joints_get_weight_zero(tmp_path):
    image = np.zeros((60, 80, 3), np.uint8)
    kp = np.zeros((17, 3), np.float32)
    kp[:, :2] = [40, 30]
    kp[:, 2] = np.linspace(-900, 900, 17)
    kp[5, :2] = [200, 30]  # far outside the box
    record = _record(_write(tmp_path / "z.png", image), [30, 20, 20, 20], kp)
    ds = pipeline.make_dataset([record], "h36m", (32, 32), training=True, batch_size=8, with_meta=True)
    crop_w = 20 * 1.25
    scales = []
    for _, out_kp, weights, meta in _samples(ds, 2):
        # |det| of crop_to_image = (scale * crop_w / 32) ** 2.
        scale = np.sqrt(abs(np.linalg.det(meta["crop_to_image"][:, :2]))) * 32 / crop_w
        scales.append(scale)
        flip = np.linalg.det(meta["crop_to_image"][:, :2]) < 0
        z = kp[skeletons.get("h36m").flip_index, 2] if flip else kp[:, 2]
        outside = skeletons.get("h36m").flip_index[5] if flip else 5
        inside = np.arange(17) != outside
        np.testing.assert_allclose(out_kp[inside, 2], z[inside] / scale, rtol=1e-4)
        np.testing.assert_array_equal(weights[outside], 0)
        np.testing.assert_array_equal(out_kp[outside], 0)
        np.testing.assert_array_equal(weights[inside], 1)
    assert np.ptp(scales) > 0.1


def test_2d_records_are_mapped_and_padded(tmp_path):
    mpii = skeletons.get("mpii")
    rng = np.random.default_rng(2)
    kp = rng.uniform([12, 10], [36, 40], (16, 2))
    record = _record(_write(tmp_path / "m.png", np.zeros((50, 50, 3), np.uint8)), [10, 8, 28, 34], kp, "mpii")
    ds = pipeline.make_dataset([record], "h36m", (32, 32), training=False, batch_size=1, dims=3, with_meta=True)
    ((_, out_kp, weights, meta),) = _samples(ds, 1)
    assert out_kp.shape == (17, 3)
    back = transforms.apply_affine(meta["crop_to_image"], out_kp[:, :2])
    h36m_names = skeletons.get("h36m").joint_names
    for h36m_joint, mpii_joint in (("root", "pelvis"), ("left_wrist", "left_wrist"), ("head", "head_top")):
        np.testing.assert_allclose(
            back[h36m_names.index(h36m_joint)], kp[mpii.joint_names.index(mpii_joint)], atol=1e-3
        )
    unmapped = [h36m_names.index("spine"), h36m_names.index("neck_base")]
    np.testing.assert_array_equal(weights[unmapped], 0)
    np.testing.assert_array_equal(weights[:, 2], 0)  # no depth labels
    assert weights[:, :2].sum() == 2 * (17 - len(unmapped))


def test_3d_records_cut_to_2d(tmp_path):
    (record,) = _random_records(tmp_path, 1, dims=3)
    ds = pipeline.make_dataset([record], "h36m", (32, 32), training=False, batch_size=1, dims=2, with_meta=True)
    ((_, out_kp, weights, meta),) = _samples(ds, 1)
    assert out_kp.shape == weights.shape == (17, 2)
    inside = weights[:, 0] > 0
    back = transforms.apply_affine(meta["crop_to_image"], out_kp)
    np.testing.assert_allclose(back[inside], record.keypoints[inside, :2], atol=1e-3)


def test_same_seed_same_batches_other_seed_other_batches(tmp_path):
    records = _random_records(tmp_path, 4)

    def first_batches(seed):
        ds = pipeline.make_dataset(records, "h36m", (24, 24), training=True, batch_size=3, seed=seed)
        return [(b[0].numpy(), b[1]["keypoints"].numpy()) for b in ds.take(3)]

    a, b, c = first_batches(11), first_batches(11), first_batches(12)
    for (ia, ka), (ib, kb) in zip(a, b):
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_array_equal(ka, kb)
    assert not all(np.array_equal(ka, kc) for (_, ka), (_, kc) in zip(a, c))


def test_stream_started_at_k_equals_the_unbroken_stream_from_k(tmp_path):
    records = _random_records(tmp_path, 3)  # 3 records: sample 4 is in epoch 1

    def make(start):
        return pipeline.make_dataset(
            records, "h36m", (24, 24), training=True, batch_size=2, seed=5, start_index=start, with_meta=True
        )

    unbroken = _samples(make(0), 6)
    resumed = _samples(make(4), 4)
    for (ia, ka, wa, ma), (ib, kb, wb, mb) in zip(unbroken[4:], resumed):
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_array_equal(ka, kb)
        np.testing.assert_array_equal(wa, wb)
        assert ma["index"] == mb["index"]


def test_each_epoch_visits_every_record_once_in_a_new_order(tmp_path):
    records = _random_records(tmp_path, 5, size=(40, 40))
    ds = pipeline.make_dataset(records, "h36m", (8, 8), training=True, batch_size=5, seed=1, with_meta=True)
    orders = [b[2]["index"].numpy().tolist() for b in ds.take(4)]
    for order in orders:
        assert sorted(order) == [0, 1, 2, 3, 4]
    assert len({tuple(o) for o in orders}) > 1


def test_missing_corrupt_and_truncated_images_are_skipped_and_counted(tmp_path, capsys):
    good = _random_records(tmp_path, 2, size=(40, 40), suffix=".jpg")
    data = COCO_IMAGE.read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(data[: len(data) // 5])
    (tmp_path / "random.jpg").write_bytes(np.random.default_rng(0).integers(0, 256, 3000, np.uint8).tobytes())
    box, kp = [250, 150, 150, 200], np.full((17, 3), 300.0)  # the crop needs rows past the truncation
    bad = [_record(str(tmp_path / name), box, kp) for name in ("missing.jpg", "random.jpg", "truncated.jpg")]
    records = [good[0], *bad, good[1]]

    ds = pipeline.make_dataset(records, "h36m", (16, 16), training=False, batch_size=2, with_meta=True)
    indices = [int(i) for batch in ds for i in batch[2]["index"]]
    assert indices == [0, 4]
    assert ds.skipped_images.count == 3
    assert [Path(p).name for p in ds.skipped_images.paths] == ["missing.jpg", "random.jpg", "truncated.jpg"]

    ds = pipeline.make_dataset(records, "h36m", (16, 16), training=True, batch_size=2, with_meta=True)
    seen = [int(i) for batch in ds.take(10) for i in batch[2]["index"]]
    assert set(seen) == {0, 4}
    assert ds.skipped_images.count >= 3 * 20 / 2 - 3  # 20 good samples need 10 epochs (2 good of 5)
    report = pipeline.SkippedImagesReport(ds.skipped_images, max_paths=2)
    report.on_epoch_end(0)
    printed = capsys.readouterr().out
    assert f"skipped {ds.skipped_images.count} unreadable or wrong-size image(s) from 3 file(s)" in printed
    assert printed.count(".jpg") == 2  # max_paths
    report.on_epoch_end(1)  # nothing new: silent
    assert capsys.readouterr().out == ""


def test_an_image_of_another_size_than_its_annotation_file_says_is_skipped_with_a_warning(tmp_path):
    records = _random_records(tmp_path, 3, size=(40, 40), skeleton="coco", dims=2, suffix=".jpg")
    for r in records:  # what coco.load_records reads from the json's images
        r.meta.update(image_width=40, image_height=40)
    _write(records[1].image_path, np.zeros((20, 40, 3), np.uint8))  # half the declared height
    records[2].meta.update(image_width=None)  # no usable size given: not checked
    for name in ("png", "jpg"):  # decode_image and the JPEG window read the size differently
        if name == "png":
            _write(tmp_path / "small.png", np.zeros((40, 30, 3), np.uint8))
            records[1].image_path = str(tmp_path / "small.png")
        with pytest.warns(UserWarning, match=r"Image '.*" + records[1].image_path.split("/")[-1] +
                          r"' is (40x20|30x40) px but its annotation file says 40x40: skipped"):
            ds = pipeline.make_dataset(records, "coco", (16, 16), training=False, batch_size=3, with_meta=True)
            indices = [int(i) for batch in ds for i in batch[2]["index"]]
        assert indices == [0, 2]
        assert ds.skipped_images.paths == [records[1].image_path]


def test_streams_run_each_op_on_one_thread_and_keep_their_skip_counter(tmp_path):
    records = _random_records(tmp_path, 2)
    for ds in (pipeline.make_dataset(records, "h36m", (16, 16), training=False, batch_size=2),
               pipeline.mixed([records, records], [0.5, 0.5], "h36m", (16, 16), batch_size=2)):  # fmt: skip
        assert ds.options().threading.max_intra_op_parallelism == 1
        assert isinstance(ds.skipped_images, pipeline.SkippedImages)


def test_mixed_batches_hold_exact_shares(tmp_path):
    h36m = _random_records(tmp_path, 3, skeleton="h36m", dims=3)
    mpii = _random_records(tmp_path, 2, skeleton="mpii", dims=2, seed=1)
    for weights, counts in (([0.5, 0.5], [2, 2]), ([0.75, 0.25], [3, 1])):
        ds = pipeline.mixed([h36m, mpii], weights, "h36m", (16, 16), batch_size=4, seed=2)
        for images, targets in ds.take(3):
            assert images.shape == (4, 16, 16, 3) and targets["keypoints"].shape == (4, 17, 3)
            has_depth = targets["weights"].numpy()[:, :, 2].sum(axis=1) > 0
            # H36M samples (with depth labels; some joints may leave the crop) come first.
            assert has_depth.tolist() == [True] * counts[0] + [False] * counts[1]
    first = next(iter(pipeline.mixed([h36m, mpii], [0.5, 0.5], "h36m", (16, 16), batch_size=4, seed=2)))
    resumed = next(iter(pipeline.mixed([h36m, mpii], [0.5, 0.5], "h36m", (16, 16), 4, seed=2, start_index=4)))
    second = list(pipeline.mixed([h36m, mpii], [0.5, 0.5], "h36m", (16, 16), 4, seed=2).take(2))[1]
    np.testing.assert_array_equal(resumed[0].numpy(), second[0].numpy())
    assert not np.array_equal(first[0].numpy(), second[0].numpy())


@pytest.mark.parametrize(
    "weights, batch_size, start_index, match",
    [([0.5, 0.5], 5, 0, "add up"), ([0.9, 0.1], 4, 0, ">= 1"), ([0.5], 4, 0, "equal length"),
     ([0.5, 0.5], 4, 2, "multiple of batch_size")],
)  # fmt: skip
def test_mixed_rejects_bad_shares(tmp_path, weights, batch_size, start_index, match):
    records = _random_records(tmp_path, 1)
    with pytest.raises(ValueError, match=match):
        pipeline.mixed([records, records], weights, "h36m", (16, 16), batch_size, start_index=start_index)


def test_bad_input_is_named(tmp_path):
    records = _random_records(tmp_path, 1)
    three_d, two_d = records[0], _random_records(tmp_path, 1, skeleton="h36m", dims=2)[0]
    with pytest.raises(ValueError, match="empty"):
        pipeline.make_dataset([], "h36m", (16, 16), True, 2)
    with pytest.raises(ValueError, match="dims=3"):
        pipeline.make_dataset([three_d, two_d], "h36m", (16, 16), True, 2)
    with pytest.raises(ValueError, match="batch_size"):
        pipeline.make_dataset(records, "h36m", (16, 16), True, 0)
    with pytest.raises(ValueError, match="seed"):
        pipeline.make_dataset(records, "h36m", (16, 16), True, 2, seed=1.5)
    with pytest.raises(ValueError, match="input_size"):
        pipeline.make_dataset(records, "h36m", (16,), True, 2)
    flat = _record(three_d.image_path, [1, 1, 0, 5], three_d.keypoints)
    with pytest.raises(ValueError, match=r"records\[1\].*box"):
        pipeline.make_dataset([three_d, flat], "h36m", (16, 16), True, 2)
    coco = _record(three_d.image_path, [1, 1, 5, 5], np.zeros((17, 2)), "coco")
    with pytest.raises(ValueError, match=r"records\[0\].*'coco' to 'mpii'"):
        pipeline.make_dataset([coco], "mpii", (16, 16), True, 2)
    nan = three_d.keypoints.copy()
    nan[3, 0] = np.nan
    with pytest.raises(ValueError, match=r"records\[0\].*not finite"):
        pipeline.make_dataset([_record(three_d.image_path, [1, 1, 5, 5], nan)], "h36m", (16, 16), True, 2)
    lost = _record(str(tmp_path / "nowhere" / "a.jpg"), [1, 1, 5, 5], three_d.keypoints)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        pipeline.make_dataset([lost], "h36m", (16, 16), True, 2)
    with pytest.raises(ValueError, match="start_index"):
        pipeline.make_dataset(records, "h36m", (16, 16), False, 2, start_index=3)


def _first_batch_or_error(dataset, timeout_s=120):
    """The first batch, or the error it raised; fails (instead of hanging) after `timeout_s`."""
    import threading

    result = {}

    def run():
        try:
            result["batch"] = next(iter(dataset))
        except Exception as error:  # noqa: BLE001 (returned to the test)
            result["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout_s)
    assert not thread.is_alive(), f"no batch and no error after {timeout_s} s: the stream hangs"
    return result.get("batch"), result.get("error")


@pytest.mark.parametrize("training, start_index", [(True, 0), (True, 7), (False, 0)])
def test_every_image_unreadable_stops_with_the_folder_and_the_count(tmp_path, training, start_index):
    records = _random_records(tmp_path, 5)
    for record in records:
        Path(record.image_path).write_bytes(b"")  # zero-byte files: they exist, none decodes
    records.append(_record(records[0].image_path, records[0].box, records[0].keypoints))  # 6 people, 5 files
    ds = pipeline.make_dataset(records, "h36m", (16, 16), training=training, batch_size=2, start_index=start_index)
    batch, error = _first_batch_or_error(ds)
    assert batch is None and isinstance(error, tf.errors.InvalidArgumentError)
    expected = "None of the 6 records' images could be read or decoded"
    assert f"5 unreadable file(s) under {tmp_path}" in str(error)  # the raw error (TF escapes its quotes)
    assert ds.skipped_images.stopped_by(error).startswith(expected) and ds.skipped_images.error.startswith(expected)
    with pytest.raises(ValueError, match=f"5 unreadable file\\(s\\) under {tmp_path}"), \
            pipeline.unreadable_as_value_error(ds.skipped_images):
        next(iter(ds))


def test_a_few_unreadable_images_do_not_stop_the_stream(tmp_path):
    records = _random_records(tmp_path, 2)
    Path(records[0].image_path).write_bytes(b"")  # half the records: epochs keep a readable one
    ds = pipeline.make_dataset(records, "h36m", (16, 16), training=True, batch_size=3, with_meta=True)
    assert {int(i) for batch in ds.take(4) for i in batch[2]["index"]} == {1}
    assert ds.skipped_images.error is None


@pytest.mark.parametrize("mixed", [False, True])
def test_resume_at_stream_positions_continues_exactly_with_skips(tmp_path, mixed):
    records = _random_records(tmp_path, 5, size=(40, 40))
    Path(records[2].image_path).write_bytes(b"")
    other = _random_records(tmp_path, 3, size=(40, 40), seed=1, suffix=".jpg")
    Path(other[0].image_path).write_bytes(b"")

    def stream(start):
        if mixed:
            return pipeline.mixed([records, other], [0.5, 0.5], "h36m", (16, 16), batch_size=4, seed=1,
                                  start_index=start or 0)
        return pipeline.make_dataset(records, "h36m", (16, 16), training=True, batch_size=4, seed=1,
                                     start_index=start[0] if start else 0)

    unbroken = list(stream(None).take(6))
    for taken in (1, 2, 4):
        first = stream(None)
        list(first.take(2))  # another iterator first (Keras may open one): it meets the same skips
        list(first.take(taken))
        positions = first.skipped_images.stream_positions(taken)
        assert sum(positions) > taken * 4  # the skips moved the stream on
        for a, b in zip(unbroken[taken:], stream(positions).take(6 - taken)):
            np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
            np.testing.assert_array_equal(a[1]["keypoints"].numpy(), b[1]["keypoints"].numpy())
    # Without skips the position is the plain sample count.
    clean = pipeline.make_dataset(other[1:], "h36m", (16, 16), training=True, batch_size=2, start_index=6)
    list(clean.take(3))
    assert clean.skipped_images.stream_positions(3) == [12]
