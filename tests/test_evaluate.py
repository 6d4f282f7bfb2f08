"""evaluate(): an oracle model gives perfect MPII/COCO/H36M metrics through the real pipeline and
loaders; known errors give hand-computed metrics; batch size does not matter; files are written."""

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from keras_integral import skeletons
from keras_integral.data import coco
from keras_integral.data import h36m
from keras_integral.data import mpii
from keras_integral.data import pipeline
from keras_integral.data import synthetic
from keras_integral.data.records import PoseRecord
from keras_integral.evaluate import SHEET_COLUMNS
from keras_integral.evaluate import SHEET_LARGE
from keras_integral.evaluate import SHEET_LARGE_TILE_PX
from keras_integral.evaluate import SHEET_TILE_PX
from keras_integral.evaluate import evaluate
from keras_integral.evaluate import plot_heatmap_decoding
from keras_integral.evaluate import plot_pck_curves
from keras_integral.inference import SIDE_COLOURS
from tests.test_inference import LookupOracle
from tests.test_inference import crop_window
from tests.test_inference import to_crop

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "samples"
SIZE = (64, 64)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    return synthetic.generate(out, 8, seed=0, image_size=(96, 96), verbose=0)


def mpii_records():
    return mpii.load_records(SAMPLES / "mpii" / "test_mpii_subset.json", SAMPLES / "mpii")


def coco_records(synth):
    return (coco.load_records(synth["coco_train"], synth["coco_images"]),
            coco.load_records(SAMPLES / "coco" / "test_coco_subset.json", SAMPLES / "coco"))  # fmt: skip


def h36m_records(synth):
    return (h36m.load_records(synth["h36m_annotations"], synth["h36m_images"], synth["h36m_cameras"])
            + h36m.load_records(SAMPLES / "h36m" / "test_h36m_body3d_subset.npz", SAMPLES / "h36m",
                                SAMPLES / "h36m" / "cameras.json"))  # fmt: skip


def oracle_for(records, skeleton, dims=2, offset=0.0, margin=1.25):
    """An exact model of `records`: the pipeline's evaluation crops and the true keypoints in them (NumPy),
    moved by `offset` crop pixels (`(joints, dims)` or scalar)."""
    dataset = pipeline.make_dataset(records, skeleton, SIZE, training=False, batch_size=len(records), margin=margin)
    crops = next(iter(dataset))[0].numpy()
    truth = []
    for r in records:
        kp, _ = skeletons.map_keypoints(r.keypoints, r.weights, r.skeleton, skeleton)
        kp = np.concatenate([to_crop(kp[:, :2], r.box, SIZE, margin), kp[:, 2:]], axis=1)[:, :dims]
        truth.append(np.nan_to_num(kp) + offset)  # unlabelled joints may be NaN placeholders
    return LookupOracle(crops, truth, skeleton)


@pytest.mark.parametrize("flip_test", [False, True])
def test_mpii_oracle_is_perfect(flip_test):
    records = mpii_records()
    result = evaluate(oracle_for(records, "mpii"), records, "mpii", flip_test=flip_test, verbose=0)
    assert result["PCKh@0.5"] == 100.0 and result["PCKh@0.1"] == 100.0
    # The PCKh curve is 100 from alpha = 0.01 on; at alpha = 0 it is 0 unless the error is exactly 0.
    assert result["AUC"] >= 99.0 - 1e-9
    assert result["count"] == len(records)


def test_mpii_known_offset_gives_hand_computed_pckh():
    records = mpii_records()
    skeleton = skeletons.get("mpii")
    offset = np.zeros((16, 2))
    offset[:, 0] = np.linspace(0.0, 12.0, 16)  # crop pixels, one per joint
    result = evaluate(oracle_for(records, "mpii", offset=offset), records, "mpii", flip_test=False, verbose=0)

    hits = {0.5: [], 0.1: []}
    for r in records:
        sx, _, _ = crop_window(r.box, SIZE)
        error = offset[:, 0] / sx  # image pixels
        for alpha in hits:
            for j in range(16):
                if r.weights[j, 0] > 0 and skeleton.joint_names[j] not in ("pelvis", "thorax"):
                    hits[alpha].append(error[j] <= alpha * r.head_size)
    assert 0 < np.mean(hits[0.5]) < 1  # the offsets straddle the threshold
    assert result["PCKh@0.5"] == pytest.approx(100 * np.mean(hits[0.5]))
    assert result["PCKh@0.1"] == pytest.approx(100 * np.mean(hits[0.1]))


@pytest.mark.parametrize("flip_test", [False, True])
def test_coco_oracle_ap_is_one(synth, flip_test):
    synthetic_records, sample_records = coco_records(synth)
    for records, annotations in ((synthetic_records, synth["coco_train"]),
                                 (sample_records, SAMPLES / "coco" / "test_coco_subset.json")):  # fmt: skip
        result = evaluate(oracle_for(records, "coco"), records, "coco", flip_test=flip_test,
                          annotation_file=annotations, verbose=0)  # fmt: skip
        assert result["AP"] == pytest.approx(1.0) and result["AR"] == pytest.approx(1.0)


def test_coco_swapped_left_right_lowers_ap(synth):
    records, _ = coco_records(synth)
    oracle = oracle_for(records, "coco")
    oracle.keypoints = oracle.keypoints[:, skeletons.get("coco").flip_index]  # a model that confuses sides
    result = evaluate(oracle, records, "coco", flip_test=False, annotation_file=synth["coco_train"], verbose=0)
    assert result["AP"] < 0.9


@pytest.mark.parametrize("flip_test", [False, True])
def test_h36m_oracle_errors_are_zero(synth, flip_test):
    records = h36m_records(synth)
    result = evaluate(oracle_for(records, "h36m", dims=3), records, "h36m", flip_test=flip_test, verbose=0)
    for name in ("MPJPE", "PA-MPJPE", "rigid_aligned_MPJPE"):
        assert result[name] < 0.05, (name, result[name])
    assert result["count"] == 10
    assert set(result["MPJPE_per_action"]) == {r.meta["action"] for r in records}


def test_h36m_depth_offset_gives_hand_computed_mpjpe(synth):
    # Every joint but the root 40 mm deeper: in camera space each moves along its viewing ray by
    # 40 mm * |(X/Z, Y/Z, 1)|, the root stays, so the root-relative error is exactly that.
    records = h36m_records(synth)
    offset = np.zeros((17, 3))
    offset[1:, 2] = 40.0
    result = evaluate(oracle_for(records, "h36m", dims=3, offset=offset), records, "h36m", flip_test=False,
                      verbose=0)  # fmt: skip
    expected = []
    for r in records:
        ray = r.joints_cam_mm / r.joints_cam_mm[:, 2:]
        expected.append(np.sum(40.0 * np.linalg.norm(ray[1:], axis=1)) / 17)
    assert result["MPJPE"] == pytest.approx(np.mean(expected), rel=1e-4)
    assert result["PA-MPJPE"] < result["MPJPE"]


def test_evaluation_crops_with_the_models_crop_margin(synth, tmp_path, monkeypatch):
    from keras_integral import metrics as metrics_lib

    records, _ = coco_records(synth)
    # An oracle that knows only the crops of margin 1.5 (it refuses any other crop) and says so.
    oracle = oracle_for(records, "coco", margin=1.5)
    oracle.crop_margin = 1.5
    areas, oks_nms = [], metrics_lib.oks_nms

    def recording_oks_nms(people, *args):
        areas.extend(p["area"] for p in people)
        return oks_nms(people, *args)

    monkeypatch.setattr(metrics_lib, "oks_nms", recording_oks_nms)
    result = evaluate(oracle, records, "coco", out_dir=tmp_path, flip_test=False,
                      annotation_file=synth["coco_train"], verbose=0)
    assert result["AP"] == pytest.approx(1.0) and result["count"] == len(records)
    predictions = np.load(tmp_path / "predictions.npz")
    for i, kp in zip(predictions["index"], predictions["keypoints"]):
        labelled = records[i].weights[:, 0] > 0
        np.testing.assert_allclose(kp[labelled], records[i].keypoints[labelled, :2], atol=2e-3)
    assert json.loads((tmp_path / "report.json").read_text())["settings"]["margin"] == 1.5
    # The OKS-NMS area is the crop window's: the box at the input's aspect ratio, both sides times 1.5.
    expected = []
    for r in records:
        sx, sy, _ = crop_window(r.box, SIZE, 1.5)
        expected.append(SIZE[1] / sx * SIZE[0] / sy)
    np.testing.assert_allclose(sorted(areas), sorted(expected), rtol=1e-9)


def test_metrics_do_not_depend_on_batch_size(synth, tmp_path):
    from keras_integral.models.pose_model import IntegralPoseModel

    records = h36m_records(synth)
    model = IntegralPoseModel(backbone="resnet18", method="I1", skeleton="h36m", input_size=SIZE, depth_bins=8)
    results = {}
    for batch_size in (3, 10):
        results[batch_size] = evaluate(model, records, "h36m", out_dir=tmp_path / str(batch_size),
                                       batch_size=batch_size, verbose=0)  # fmt: skip
    assert results[3]["MPJPE"] > 1.0  # an untrained model: the numbers compared are not trivial
    for name in ("MPJPE", "PA-MPJPE", "rigid_aligned_MPJPE"):
        assert results[3][name] == pytest.approx(results[10][name], rel=1e-5)
    a, b = (np.load(tmp_path / str(s) / "predictions.npz") for s in (3, 10))
    np.testing.assert_array_equal(a["index"], np.arange(len(records)))
    np.testing.assert_allclose(a["keypoints"], b["keypoints"], atol=1e-3)


def test_files_are_written_and_unreadable_images_are_counted(synth, tmp_path):
    records, _ = coco_records(synth)
    oracle = oracle_for(records, "coco")
    missing = PoseRecord(str(tmp_path / "missing.jpg"), records[0].box, records[0].keypoints, records[0].weights,
                         "coco", image_id=records[0].image_id)  # fmt: skip
    out = tmp_path / "eval"
    result = evaluate(oracle, records[:3] + [missing] + records[3:], "coco", out_dir=out,
                      annotation_file=synth["coco_train"], max_sheet_images=5, verbose=0)  # fmt: skip
    assert result["AP"] == pytest.approx(1.0) and result["count"] == len(records)

    report = json.loads((out / "report.json").read_text())
    assert report["counts"] == {"records": len(records) + 1, "evaluated": len(records), "skipped": 1}
    assert report["skipped_images"] == [missing.image_path]
    assert report["metrics"]["AP"] == pytest.approx(1.0)
    assert report["settings"]["flip_test"] is True and report["settings"]["input_size"] == list(SIZE)
    assert report["pck_curve"]["pck"][-1] == 100.0

    predictions = np.load(out / "predictions.npz")
    assert 3 not in predictions["index"] and len(predictions["index"]) == len(records)
    results = json.loads((out / "coco_results.json").read_text())
    assert len(results) == len(records) and len(results[0]["keypoints"]) == 51

    sheet = cv2.imread(str(out / "contact_sheet.png"))
    large, small = (math.ceil(px / max(SIZE)) * SIZE[0] for px in (SHEET_LARGE_TILE_PX, SHEET_TILE_PX))
    # 5 enlarged crops: SHEET_LARGE large ones in a row, then the rest small, SHEET_COLUMNS to a row.
    assert sheet.shape == (large + small, max(SHEET_LARGE * large, SHEET_COLUMNS * small), 3)
    assert not sheet[large:, (5 - SHEET_LARGE) * small:].any()  # the empty cells of the small row
    # The skeleton is drawn: pixels of the side colours (BGR on disk) and the white ground truth.
    first = sheet[:large, :large].reshape(-1, 3).tolist()
    assert [0, 140, 255] in first and [255, 140, 0] in first and [255, 255, 255] in first

    curve = cv2.imread(str(out / "pck_curve.png"))
    assert curve is not None and curve.shape == (400, 500, 3)


def test_a_set_none_of_whose_images_can_be_read_is_a_value_error_naming_the_folder(synth, tmp_path):
    records, _ = coco_records(synth)
    oracle = oracle_for(records, "coco")
    (tmp_path / "images").mkdir()
    unreadable = []
    for i, r in enumerate(records):
        empty = tmp_path / "images" / f"{i}.jpg"
        empty.write_bytes(b"")  # exists, does not decode
        unreadable.append(PoseRecord(str(empty), r.box, r.keypoints, r.weights, "coco", image_id=r.image_id))
    with pytest.raises(ValueError) as info:  # was: a tf.errors.InvalidArgumentError with graph context
        evaluate(oracle, unreadable, "coco", annotation_file=synth["coco_train"], verbose=0)
    assert f"{len(records)} unreadable file(s) under {tmp_path / 'images'}" in str(info.value)
    assert str(info.value).startswith(f"None of the {len(records)} records' images could be read")  # the message alone


def test_contact_sheet_draws_the_prediction_thick_and_the_ground_truth_thin_beside_it(synth, tmp_path):
    records, _ = coco_records(synth)
    records = records[:1]
    shift_px = 6.0  # crop pixels, to the right
    oracle = oracle_for(records, "coco", offset=np.array([shift_px, 0.0]))
    evaluate(oracle, records, "coco", out_dir=tmp_path, flip_test=False, annotation_file=synth["coco_train"],
             verbose=0)  # fmt: skip
    tile = cv2.imread(str(tmp_path / "contact_sheet.png"))[..., ::-1]  # one large tile, RGB
    factor = tile.shape[0] // SIZE[0]
    crop = cv2.resize(np.clip(np.round(oracle.crops[0]), 0, 255).astype(np.uint8), None, fx=factor, fy=factor,
                      interpolation=cv2.INTER_CUBIC).astype(int)  # the tile before drawing
    skeleton = skeletons.get("coco")
    gt = to_crop(records[0].keypoints, records[0].box, SIZE)
    labelled = records[0].weights[:, 0] > 0
    checked = 0
    for a, b in skeleton.limbs:
        if not (labelled[a] and labelled[b]) or np.linalg.norm(gt[a] - gt[b]) * factor < 24:
            continue
        side = skeleton.limb_side((a, b))
        middle = ((gt[a] + gt[b]) / 2 + 0.5) * factor - 0.5
        x, y = np.round(middle).astype(int)
        # The ground truth: a thin (anti-aliased) white line through the limb's middle ...
        whiter = (tile[y - 1:y + 2, x - 1:x + 2].astype(int) - crop[y - 1:y + 2, x - 1:x + 2]).sum(axis=-1)
        assert whiter.max() > 90, (a, b, whiter)
        # ... and the prediction in its side colour, shifted right, at least 2 px wide across the limb.
        px = int(round(middle[0] + shift_px * factor))
        column = tile[y - 4:y + 5, px - 1:px + 2].reshape(-1, 3).tolist()
        row = tile[y - 1:y + 2, px - 4:px + 5].reshape(-1, 3).tolist()
        colour = list(SIDE_COLOURS[side])
        assert column.count(colour) >= 2 * 3 or row.count(colour) >= 2 * 3, (a, b, side)
        checked += 1
    assert checked >= 3


def test_plot_pck_curves_draws_each_method(tmp_path):
    alphas = np.linspace(0, 0.5, 51)
    curves = {"I1": (alphas, 100 * np.minimum(1, alphas / 0.2)), "H1": (alphas, 100 * np.minimum(1, alphas / 0.3))}
    path = plot_pck_curves(curves, tmp_path / "curves.png", "PCKh")
    rgb = cv2.imread(str(path))[..., ::-1].reshape(-1, 3).astype(int)
    # matplotlib's first two default colours, C0 and C1.
    for colour in ([0x1F, 0x77, 0xB4], [0xFF, 0x7F, 0x0E]):
        assert np.sum(np.abs(rgb - colour).sum(axis=1) < 10) > 100
    with pytest.raises(ValueError, match="equal length"):
        plot_pck_curves({"bad": (alphas, alphas[:-1])}, tmp_path / "bad.png")


def test_bad_input_is_named(synth):
    records = mpii_records()
    # The checks come before any prediction: a model that only names its skeleton and input size.
    oracle, coco_model, h36m_model = (
        type("Stub", (), {"skeleton": name, "input_size": SIZE})() for name in ("mpii", "coco", "h36m")
    )
    with pytest.raises(ValueError, match="dataset_kind must be one of"):
        evaluate(oracle, records, "lsp", verbose=0)
    with pytest.raises(ValueError, match="records is empty"):
        evaluate(oracle, [], "mpii", verbose=0)
    no_head = PoseRecord(records[0].image_path, records[0].box, records[0].keypoints, records[0].weights, "mpii")
    with pytest.raises(ValueError, match=r"records\[1\] .* needs a positive head_size"):
        evaluate(oracle, [records[0], no_head], "mpii", verbose=0)
    with pytest.raises(ValueError, match="needs annotation_file"):
        evaluate(coco_model, coco_records(synth)[0], "coco", verbose=0)
    with pytest.raises(ValueError, match="needs joints_cam_mm and camera"):
        evaluate(h36m_model, records, "h36m", verbose=0)


def test_plot_heatmap_decoding_draws_each_panel(tmp_path):
    crop = np.full((64, 64, 3), 128.0)
    heatmap = np.zeros((16, 16))
    heatmap[8, 5] = 1.0  # the cell centred on input pixel (21.5, 33.5)
    panels = [{"label": "H1", "heatmap": heatmap, "point": (22.5, 33.5), "colour": "#ff0000"},
              {"label": "I1", "heatmap": heatmap, "point": (21.0, 34.0), "colour": "#0000ff"}]
    path = plot_heatmap_decoding(crop, (21.8, 33.9), panels, tmp_path / "q.png", title="one joint")
    rgb = cv2.imread(str(path))[..., ::-1].reshape(-1, 3).astype(int)
    assert len(rgb) == 840 * 440  # two panels
    for colour in ((255, 0, 0), (0, 0, 255)):
        assert (np.abs(rgb - colour).sum(axis=1) < 30).sum() > 20, colour  # each method's cross
    with pytest.raises(ValueError, match="heatmap"):
        plot_heatmap_decoding(crop, (1, 1), [{**panels[0], "heatmap": np.zeros(4)}], tmp_path / "bad.png")
    with pytest.raises(ValueError, match="panels"):
        plot_heatmap_decoding(crop, (1, 1), [], tmp_path / "bad.png")


def test_non_finite_3d_joints_and_predictions_are_named(synth):
    records = h36m_records(synth)
    oracle = oracle_for(records, "h36m", dims=3)
    broken = list(records)
    broken[2] = PoseRecord(records[2].image_path, records[2].box, records[2].keypoints, records[2].weights, "h36m",
                           joints_cam_mm=np.where(np.arange(17)[:, None] == 5, np.nan, records[2].joints_cam_mm),
                           camera=records[2].camera)  # fmt: skip
    with pytest.raises(ValueError, match=r"records\[2\] .*joints_cam_mm has non-finite values \(rows \[5\]\)"):
        evaluate(oracle, broken, "h36m", verbose=0)
    oracle.keypoints[1, 7] = np.nan  # a diverged model
    with pytest.raises(ValueError, match=r"non-finite keypoints for 1 of 10 records .*diverged"):
        evaluate(oracle, records, "h36m", flip_test=False, verbose=0)
