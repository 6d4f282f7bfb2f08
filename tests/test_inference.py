"""Inference: the flip test against hand-made cases, exact mapping back to the image with an
oracle model on the real COCO sample, the whole-image box, a real tiny model, drawing and tiling."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from keras_integral import skeletons
from keras_integral.data import coco
from keras_integral.inference import SIDE_COLOURS
from keras_integral.inference import Predictor
from keras_integral.inference import contact_sheet
from keras_integral.inference import draw_skeleton
from keras_integral.inference import predict_crops

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "samples"
SIZE = (64, 64)


class LookupOracle:
    """An exact, flip-equivariant pose "model" for tests.

    It holds reference crops and each one's true keypoints in crop pixels. Given
    a crop it finds the nearest reference, as is or mirrored, and answers what a
    perfect model would: the true keypoints, or for a mirrored crop the mirrored
    keypoints with left and right joints exchanged (z unchanged).
    """

    def __init__(self, crops, keypoints, skeleton, scores=None, flip_index=None):
        self.crops = np.asarray(crops, np.float32)
        self.keypoints = np.asarray(keypoints, np.float64)
        self.skeleton = skeletons.get(skeleton).name
        self.input_size = self.crops.shape[1:3]
        self.name = "oracle"
        joints = self.keypoints.shape[1]
        # Distinct per-joint scores, so a wrong joint swap shows in the scores too.
        self.scores = np.tile(np.linspace(0.3, 0.9, joints), (len(self.crops), 1)) if scores is None else scores
        self.flip_index = skeletons.get(skeleton).flip_index if flip_index is None else flip_index
        self.calls = 0

    def predict_on_batch(self, images):
        self.calls += 1
        images = np.asarray(images, np.float32)
        references = np.concatenate([self.crops, self.crops[:, :, ::-1]])
        distance = np.abs(images[:, None] - references[None]).mean(axis=(2, 3, 4))
        best = distance.argmin(axis=1)
        assert np.all(distance[np.arange(len(images)), best] < 2.0), "a crop the oracle does not know"
        n = len(self.crops)
        keypoints, scores = self.keypoints[best % n].copy(), self.scores[best % n].copy()
        for i in np.flatnonzero(best >= n):
            keypoints[i] = keypoints[i, self.flip_index]
            keypoints[i, :, 0] = self.input_size[1] - 1 - keypoints[i, :, 0]
            scores[i] = scores[i, self.flip_index]
        return {"keypoints": keypoints.astype(np.float32), "scores": scores.astype(np.float32)}


def crop_window(box, input_size, margin=1.25):
    """Independent NumPy version of the crop convention: (scale_x, scale_y, centre) of the window."""
    x, y, w, h = np.asarray(box, np.float64)
    in_h, in_w = input_size
    aspect = in_w / in_h
    crop_w, crop_h = (w, w / aspect) if w > aspect * h else (h * aspect, h)
    return in_w / (crop_w * margin), in_h / (crop_h * margin), np.array([x + w / 2, y + h / 2])


def to_crop(points, box, input_size, margin=1.25):
    """Image pixels -> crop pixels: the window's centre lands on ((W - 1) / 2, (H - 1) / 2)."""
    sx, sy, centre = crop_window(box, input_size, margin)
    in_h, in_w = input_size
    points = np.asarray(points, np.float64).copy()
    points[..., 0] = (points[..., 0] - centre[0]) * sx + (in_w - 1) / 2
    points[..., 1] = (points[..., 1] - centre[1]) * sy + (in_h - 1) / 2
    return points


def cv2_crop(image, box, input_size, margin=1.25):
    sx, sy, centre = crop_window(box, input_size, margin)
    in_h, in_w = input_size
    matrix = np.array([[sx, 0, (in_w - 1) / 2 - sx * centre[0]], [0, sy, (in_h - 1) / 2 - sy * centre[1]]])
    return cv2.warpAffine(image.astype(np.float32), matrix, (in_w, in_h), flags=cv2.INTER_LINEAR, borderValue=0)


def mirrored_pairs(skeleton):
    """Joint -> its mirror joint, from the names alone (left_x <-> right_x)."""
    names = skeletons.get(skeleton).joint_names
    swap = {"left": "right", "right": "left"}
    return [names.index(swap[n.split("_")[0]] + n[n.index("_"):]) if n.split("_")[0] in swap else j
            for j, n in enumerate(names)]  # fmt: skip


class FixedModel:
    """Returns given outputs whatever the input, and records what it was given."""

    def __init__(self, keypoints, scores, skeleton="coco", input_size=SIZE):
        self.keypoints, self.scores = keypoints, scores
        self.skeleton, self.input_size = skeleton, input_size
        self.inputs = []

    def predict_on_batch(self, images):
        self.inputs.append(np.asarray(images))
        n = len(images)
        return {"keypoints": np.broadcast_to(self.keypoints, (n, *self.keypoints.shape[-2:])),
                "scores": np.broadcast_to(self.scores, (n, self.scores.shape[-1]))}  # fmt: skip


def test_flip_test_mirrors_x_swaps_left_right_keeps_z(rng):
    crops = rng.uniform(0, 255, (2, *SIZE, 3)).astype(np.float32)
    # Rows 0-1: answers on the crops; rows 2-3: on the mirrored crops.
    keypoints = rng.uniform(0, 63, (4, 17, 3))
    scores = rng.uniform(0, 1, (4, 17))
    model = FixedModel(keypoints, scores)
    kp, sc = predict_crops(model, crops, skeletons.get("coco").flip_index)

    np.testing.assert_array_equal(model.inputs[0][2:], crops[:, :, ::-1])
    mirror = mirrored_pairs("coco")
    for i in range(2):
        for j in range(17):
            m = mirror[j]
            expected = [(keypoints[i, j, 0] + 63 - keypoints[2 + i, m, 0]) / 2,
                        (keypoints[i, j, 1] + keypoints[2 + i, m, 1]) / 2,
                        (keypoints[i, j, 2] + keypoints[2 + i, m, 2]) / 2]  # fmt: skip
            np.testing.assert_allclose(kp[i, j], expected, atol=1e-12)
            assert sc[i, j] == pytest.approx((scores[i, j] + scores[2 + i, m]) / 2)

    no_flip_kp, no_flip_sc = predict_crops(FixedModel(keypoints[:2], scores[:2]), crops)
    np.testing.assert_array_equal(no_flip_kp, keypoints[:2])
    np.testing.assert_array_equal(no_flip_sc, scores[:2])


def test_flip_test_with_an_exact_model_changes_nothing_but_needs_the_swap(rng):
    crops = rng.uniform(0, 255, (3, *SIZE, 3)).astype(np.float32)
    truth = np.concatenate([rng.uniform(0, 63, (3, 16, 2)), rng.normal(0, 300, (3, 16, 1))], -1)
    oracle = LookupOracle(crops, truth, "mpii")
    kp, sc = predict_crops(oracle, crops, skeletons.get("mpii").flip_index)
    np.testing.assert_allclose(kp, truth, atol=1e-4)
    np.testing.assert_allclose(sc, oracle.scores, atol=1e-6)

    unswapped, _ = predict_crops(oracle, crops, np.arange(16))
    paired = [a for pair in skeletons.get("mpii").flip_pairs for a in pair]
    assert np.abs(unswapped[:, paired, :2] - truth[:, paired, :2]).max(axis=-1).min() > 1e-3


@pytest.mark.parametrize("flip_test", [False, True])
def test_predictor_maps_back_to_the_image_exactly(flip_test):
    records = coco.load_records(SAMPLES / "coco" / "test_coco_subset.json", SAMPLES / "coco")
    crops, truth, images = [], [], {}
    for r in records:
        images.setdefault(r.image_path, cv2.imread(r.image_path)[..., ::-1])
        crops.append(cv2_crop(images[r.image_path], r.box, SIZE))
        truth.append(to_crop(r.keypoints, r.box, SIZE))
    oracle = LookupOracle(crops, truth, "coco")
    predictor = Predictor(oracle, flip_test=flip_test, batch_size=1)
    for path, image in images.items():
        mine = [r for r in records if r.image_path == path]
        out = predictor.predict(image, np.stack([r.box for r in mine]))
        assert out["keypoints"].shape == (len(mine), 17, 2) and out["scores"].shape == (len(mine), 17)
        for r, kp in zip(mine, out["keypoints"]):
            labelled = r.weights[:, 0] > 0
            np.testing.assert_allclose(kp[labelled], r.keypoints[labelled], atol=2e-3)
    assert oracle.calls == len(records)  # batch_size=1: one model call per box, flip halves included


def test_whole_image_and_box_of_another_aspect_ratio():
    crop_kp = np.array([[0.0, 0.0, 5.0], [63.0, 63.0, -5.0], [31.5, 10.0, 0.0]])
    model = FixedModel(crop_kp[None], np.ones((1, 3)), skeleton="coco", input_size=SIZE)
    predictor = Predictor(model, skeleton=skeletons.Skeleton("three", ("a", "b", "c"), (), ()))
    image = np.zeros((96, 128, 3), np.uint8)
    out = predictor.predict(image)["keypoints"][0]
    # The crop spans the image's 128 px width; its height is 128 px around the image's centre row 47.5.
    expected_x = (crop_kp[:, 0] + 0.5) * 2 - 0.5
    expected_y = (crop_kp[:, 1] - 31.5) * 2 + 47.5
    np.testing.assert_allclose(out, np.stack([expected_x, expected_y, crop_kp[:, 2]], 1), atol=1e-4)

    # A tall box [10, 20, 30, 80], margin 1.25: window 100 x 100 around (25, 60).
    out = predictor.predict(image, [10, 20, 30, 80])["keypoints"][0]
    np.testing.assert_allclose(out[:, :2], (crop_kp[:, :2] - 31.5) * 100 / 64 + [25, 60], atol=1e-4)


def test_predictor_crops_with_the_models_crop_margin_unless_told_otherwise():
    crop_kp = np.array([[0.0, 0.0], [63.0, 63.0], [31.5, 10.0]])
    model = FixedModel(crop_kp[None], np.ones((1, 3)), skeleton="coco", input_size=SIZE)
    model.crop_margin = 1.5
    three = skeletons.Skeleton("three", ("a", "b", "c"), (), ())
    # A smooth image: OpenCV's fixed-point bilinear weights stay within a small error of TF's.
    ys, xs = np.mgrid[0:120, 0:160]
    image = np.stack([xs * 1.5, ys * 2.0, (xs + ys) * 0.5], -1).astype(np.uint8)
    box = [40.0, 20.0, 30.0, 80.0]  # tall: window 80 x 80 around (55, 60), times the margin
    for margin, expected_margin in ((None, 1.5), (1.0, 1.0)):
        predictor = Predictor(model, skeleton=three, margin=margin)
        assert predictor.margin == expected_margin
        out = predictor.predict(image, [box])["keypoints"][0]
        window = 80 * expected_margin
        np.testing.assert_allclose(out, (crop_kp - 31.5) * window / 64 + [55, 60], atol=1e-4)
        np.testing.assert_allclose(model.inputs[-1][0], cv2_crop(image, box, SIZE, margin=expected_margin), atol=0.5)
    for bad in (0.0, -1.0, float("nan"), float("inf"), "1.5"):
        with pytest.raises(ValueError, match="`margin` must be a finite number > 0"):
            Predictor(model, skeleton=three, margin=bad)
    model.crop_margin = 0.0
    with pytest.raises(ValueError, match="crop_margin` must be a finite number > 0"):
        Predictor(model, skeleton=three)


def test_predictor_with_a_real_model_matches_manual_crops_and_flip():
    from keras_integral.models.pose_model import IntegralPoseModel

    model = IntegralPoseModel(backbone="resnet18", method="I1", skeleton="coco", input_size=SIZE)
    image = cv2.imread(str(SAMPLES / "coco" / "000000000785.jpg"))[..., ::-1]
    box = [250.0, 40.0, 150.0, 300.0]
    out = Predictor(model, flip_test=True).predict(image, [box])

    crop = cv2_crop(image, box, SIZE)[None]
    both = model.predict_on_batch(np.concatenate([crop, crop[:, :, ::-1]]))
    kp, sc = both["keypoints"].astype(np.float64), both["scores"]
    mirror = mirrored_pairs("coco")
    flipped = kp[1, mirror] * [-1, 1] + [63, 0]
    expected = (kp[0] + flipped) / 2
    sx, sy, centre = crop_window(box, SIZE)
    expected_image = (expected - 31.5) / [sx, sy] + centre
    # Tolerance: OpenCV's 5-bit fixed-point interpolation vs the TF warp move the input slightly.
    np.testing.assert_allclose(out["keypoints"][0], expected_image, atol=0.05 / min(sx, sy))
    np.testing.assert_allclose(out["scores"][0], (sc[0] + sc[1, mirror]) / 2, atol=1e-3)


def test_draw_skeleton_colours_limbs_and_joints_by_side():
    skeleton = skeletons.get("coco")
    keypoints = np.array([[10 + 5 * j, 10 + 4 * (j % 5) * 5] for j in range(17)], np.float64)
    scores = np.full(17, 0.9)
    scores[[0, 4]] = 0.1  # below the threshold: not drawn
    keypoints[13], keypoints[15] = [40, 100], [80, 100]  # left knee - left ankle: a horizontal limb
    image = np.zeros((120, 120, 3), np.uint8)
    drawn = draw_skeleton(image, keypoints, scores, skeleton, threshold=0.2, thickness=3, radius=2)
    assert not image.any()  # the input is left as it was

    for j, name in enumerate(skeleton.joint_names):
        x, y = np.round(keypoints[j]).astype(int)
        side = name.split("_")[0] if name.split("_")[0] in ("left", "right") else "centre"
        if scores[j] > 0.2:
            assert drawn[y, x].tolist() == list(SIDE_COLOURS[side]), name
    # A limb into an undrawn joint is not drawn: nothing at the nose or the right ear.
    assert not drawn[10, 10].any() and not drawn[int(keypoints[4, 1]), int(keypoints[4, 0])].any()
    assert drawn[100, 60].tolist() == list(SIDE_COLOURS["left"])  # the middle of the left shin

    several = draw_skeleton(image, np.stack([keypoints, keypoints + [5, 0]]), np.stack([scores, scores]), "coco")
    assert several[100, 85].tolist() == list(SIDE_COLOURS["left"])  # the second person's left ankle


@pytest.mark.parametrize("thickness", [None, 2, 5])
def test_drawn_limbs_cover_the_segment_at_the_width_asked(thickness):
    skeleton = skeletons.get("coco")
    keypoints = np.full((17, 2), np.nan)
    left_knee, left_ankle = skeleton.joint_names.index("left_knee"), skeleton.joint_names.index("left_ankle")
    keypoints[left_knee], keypoints[left_ankle] = [10.0, 32.0], [54.0, 32.0]  # a horizontal limb along row 32
    drawn = draw_skeleton(np.zeros((64, 64, 3), np.uint8), keypoints, None, skeleton, thickness=thickness)
    width = 2 if thickness is None else thickness  # the default on a 64-px image: 2, never a hairline
    colour = np.all(drawn == SIDE_COLOURS["left"], axis=-1)
    for x in range(20, 45):  # away from the joints' dots
        rows = np.flatnonzero(colour[:, x])
        # Full-colour pixels cover the segment across at least `width` rows (OpenCV draws t + 1) ...
        assert len(rows) >= width and rows.min() <= 32 <= rows.max(), (x, rows)
        # ... and nothing is drawn farther from it than that and an anti-aliased rim.
        painted = np.flatnonzero(drawn[:, x].any(axis=-1))
        assert np.abs(painted - 32).max() <= (width + 1) / 2 + 1.5, (x, painted)
    reach = (width + 1) + 2  # the joints' dots (radius thickness + 1) and a rim
    assert not drawn[:, : 10 - reach].any() and not drawn[:, 54 + reach + 1 :].any()  # nothing beyond the ends


def test_draw_skeleton_in_one_colour():
    keypoints = np.array([[10 + 2 * j, 20.0] for j in range(17)])
    drawn = draw_skeleton(np.zeros((40, 48, 3), np.uint8), keypoints, None, "coco", thickness=1, radius=1,
                          colour=(255, 255, 255))
    values = {tuple(v) for v in drawn.reshape(-1, 3).tolist()}
    assert (255, 255, 255) in values and all(len(set(v)) == 1 for v in values)  # greys only: no side colour
    with pytest.raises(ValueError, match="colour"):
        draw_skeleton(np.zeros((40, 48, 3), np.uint8), keypoints, None, "coco", colour=(255, 0))


def test_contact_sheet_tiles_row_by_row():
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255)]
    sizes = [(10, 20), (12, 16), (10, 20), (8, 8), (10, 20)]
    images = [np.full((h, w, 3), c, np.uint8) for c, (h, w) in zip(colours, sizes)]
    sheet = contact_sheet(images, ncols=2)
    assert sheet.shape == (3 * 12, 2 * 20, 3)
    for i, (colour, (h, w)) in enumerate(zip(colours, sizes)):
        top, left = (i // 2) * 12, (i % 2) * 20
        cell = sheet[top : top + 12, left : left + 20]
        assert np.all(cell[:h, :w] == colour)
        assert not cell[h:].any() and not cell[:, w:].any()


def test_bad_input_is_named():
    model = FixedModel(np.zeros((1, 17, 2)), np.ones((1, 17)))
    predictor = Predictor(model)
    with pytest.raises(ValueError, match="image must be an"):
        predictor.predict(np.zeros((10, 10)))
    with pytest.raises(ValueError, match=r"boxes must have shape \(n, 4\)"):
        predictor.predict(np.zeros((10, 10, 3), np.uint8), [[1, 2, 3]])
    with pytest.raises(ValueError, match="width, height > 0"):
        predictor.predict(np.zeros((10, 10, 3), np.uint8), [[1, 2, 0, 3]])
    assert predictor.predict(np.zeros((10, 10, 3), np.uint8), np.zeros((0, 4)))["keypoints"].shape == (0, 17, 2)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        Predictor(model, batch_size=0)
    with pytest.raises(ValueError, match="no `skeleton` attribute"):
        Predictor(type("M", (), {"input_size": SIZE})())
    with pytest.raises(ValueError, match=r"keypoints must have shape \(16, 2\|3\)"):
        draw_skeleton(np.zeros((8, 8, 3), np.uint8), np.zeros((17, 2)), None, "mpii")
    with pytest.raises(ValueError, match="images is empty"):
        contact_sheet([])
