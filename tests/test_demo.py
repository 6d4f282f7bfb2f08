"""The demo's recipes and its I1 - H1 comparison, on hand-made predictions."""

import dataclasses

import numpy as np
import pytest

from keras_integral.data import coco
from keras_integral.data import synthetic
from keras_integral.data import transforms
from keras_integral.demo import compare_methods
from keras_integral.demo import demo_recipe
from keras_integral.demo import verdict


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    written = synthetic.generate(tmp_path_factory.mktemp("synth"), 12, seed=2, image_size=(96, 96), level="easy",
                                 verbose=0)
    return coco.load_records(written["coco_train"], written["coco_images"])


def test_i1_and_h1_share_data_model_and_schedule():
    i1, h1 = demo_recipe("I1", 10, 30), demo_recipe("H1", 10, 30)
    differ = {f.name for f in dataclasses.fields(i1) if getattr(i1, f.name) != getattr(h1, f.name)}
    assert differ == {"method", "phase_switch_epoch"}
    assert i1.phase_switch_epoch == 8 and not i1.validate
    assert demo_recipe("I1", 2, 5).phase_switch_epoch == 1  # the fewest epochs: one of each phase
    with pytest.raises(ValueError, match="epochs must be at least 2"):  # one epoch would never run I1's joint loss
        demo_recipe("I1", 1, 5)


def test_comparison_converts_to_input_pixels_and_brackets_the_difference(records):
    gt = np.stack([r.keypoints for r in records])
    labelled = np.stack([r.weights[:, 0] for r in records]) > 0
    index = np.arange(len(records))
    a = {"index": index, "keypoints": gt + [1.0, 0.0]}  # 1 image px off
    b = {"index": index, "keypoints": gt + [0.0, 3.0]}  # 3 image px off
    result = compare_methods(a, b, records, (64, 64), thresholds=(0.02,))
    _, crops = transforms.box_to_crop(np.stack([r.box for r in records]), (64, 64))
    scale = 64 / crops[:, 0]
    count = labelled.sum(axis=1)
    error = result["mean_error_px"]
    assert error["I1"] == pytest.approx((count * scale).sum() / count.sum())
    assert error["H1"] == pytest.approx((count * 3 * scale).sum() / count.sum())
    assert error["difference"] == pytest.approx(error["I1"] - error["H1"])
    assert error["low"] <= error["difference"] <= error["high"] < 0 and error["excludes_zero"]
    assert result["verdict"].startswith("I1 is ahead on mean keypoint error") and "excludes zero" in result["verdict"]
    # PCK@0.02 of the box (in image pixels): which misses are within 2 % of the box's longer side.
    side = np.stack([r.box[2:] for r in records]).max(axis=1)
    within_a, within_b = 1.0 <= 0.02 * side, 3.0 <= 0.02 * side
    assert within_a.any() and not within_b.all()
    expected = 100 * (count * (within_a.astype(float) - within_b)).sum() / count.sum()
    assert result["PCK@0.02"]["difference"] == pytest.approx(expected)


def test_verdict_says_within_noise_when_the_interval_holds_zero():
    line = verdict({"difference": 0.3, "low": -0.1, "high": 0.7, "confidence": 0.95, "num_people": 40,
                    "excludes_zero": False}, "mean keypoint error", "px", lower_is_better=True)
    assert line.startswith("H1 is ahead") and "within noise" in line and "[-0.10, +0.70]" in line


def test_the_cli_runs_the_demo_schedule_by_default():
    from keras_integral import demo
    from keras_integral.cli import build_parser

    args = build_parser().parse_args(["demo", "--out", "d"])
    assert (args.num_images, args.epochs, args.steps_per_epoch) == (4000, 10, 400)
    assert (demo.NUM_IMAGES, demo.EPOCHS, demo.STEPS_PER_EPOCH) == (4000, 10, 400)
    assert not args.sequential and demo.demo_recipe("I1", 10, 400).batch_size == 16


def test_the_demo_clip_writes_video_json_and_picture(tmp_path):
    import json

    from keras_integral.demo import CLIP_SHEET_FRAMES
    from keras_integral.demo import run_clip
    from keras_integral.models import IntegralPoseModel
    from keras_integral.video import count_frames

    model = IntegralPoseModel(backbone="resnet18", method="I1", skeleton="coco", input_size=(64, 64))
    clip = run_clip(model, tmp_path, detector=lambda image: ([[40, 10, 60, 110]], [0.9]))
    assert clip["frames"] == 36 and clip["kind"] == "crossing" and clip["detector"] == "given"
    assert count_frames(tmp_path / "video.mp4") == 36
    assert len(json.loads((tmp_path / "video.json").read_text())["frames"]) == 36
    import cv2

    sheet = cv2.imread(str(tmp_path / "video_frames.png"))
    assert sheet.shape == (128, 160 * len(CLIP_SHEET_FRAMES), 3)
