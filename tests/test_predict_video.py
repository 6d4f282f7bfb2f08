"""`keras-integral predict` on photos and videos with a detector; video I/O; bad input in one line."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from keras_integral.data.synthetic.clips import write_clip
from keras_integral.video import VideoFileWriter
from keras_integral.video import count_frames
from tests.harness import assert_one_line_error
from tests.harness import run_cli

DETECTOR = Path(__file__).resolve().parents[2] / "shared" / "peers" / "pose_detection.tflite"
SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "samples"


@pytest.fixture(scope="module")
def built_model():
    from keras_integral.models import IntegralPoseModel

    return IntegralPoseModel(backbone="resnet18", method="I1", skeleton="coco", input_size=(64, 64))


@pytest.fixture(scope="module")
def model_and_clip(built_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("predict")
    built_model.save(folder / "model.keras")
    clip = write_clip(folder / "clip", "crossing", 12, seed=0, image_size=(96, 128))
    return folder / "model.keras", clip["video"]


def needs_detector():
    if not DETECTOR.is_file():
        pytest.skip(f"{DETECTOR} (the peers' copy of pose_detection.tflite) is not here.")


def test_video_in_video_out_same_frame_count_and_the_json(model_and_clip, tmp_path, capsys):
    needs_detector()
    model, clip = model_and_clip
    out = tmp_path / "out" / "drawn.mp4"
    code, printed, err = run_cli(["predict", model, clip, "--out", out, "--detector", DETECTOR,
                                  "--detect-every", 3], capsys)
    assert code == 0, err
    assert count_frames(out) == count_frames(clip) == 12
    result = json.loads(out.with_suffix(".json").read_text())
    assert [f["index"] for f in result["frames"]] == list(range(12)) and result["skeleton"] == "coco"
    for frame in result["frames"]:
        for person in frame["people"]:
            assert set(person) == {"track_id", "box", "keypoints", "scores"}
            assert np.shape(person["keypoints"]) == (17, 2) and len(person["box"]) == 4
    assert sorted(p.name for p in out.parent.iterdir()) == ["drawn.json", "drawn.mp4"]  # no temporaries


def test_video_without_a_detector_is_one_person_per_frame(model_and_clip, tmp_path, capsys):
    model, clip = model_and_clip
    out = tmp_path / "drawn.avi"
    code, _, err = run_cli(["predict", model, clip, "--out", out, "--detector", "none", "--no-smooth",
                            "--max-frames", 5], capsys)
    assert code == 0, err
    frames = json.loads((tmp_path / "drawn.json").read_text())["frames"]
    assert count_frames(out) == 5 and [[p["track_id"] for p in f["people"]] for f in frames] == [[0]] * 5


def test_photo_with_the_detector_one_person_per_detection(model_and_clip, tmp_path, capsys):
    needs_detector()
    model, _ = model_and_clip
    photo = SAMPLES / "coco" / "000000000785.jpg"
    code, printed, err = run_cli(["predict", model, photo, "--out", tmp_path / "drawn.png", "--detector",
                                  DETECTOR], capsys)
    assert code == 0, err
    people = json.loads((tmp_path / "drawn.json").read_text())["frames"][0]["people"]
    assert len(people) == 1 and "1 people" in printed
    x, y, w, h = people[0]["box"]
    assert x < 367 < x + w and y < 81 < y + h  # the annotated nose is in the detected box
    assert cv2.imread(str(tmp_path / "drawn.png")).shape == (425, 640, 3)


def test_unreadable_and_zero_frame_videos_are_one_line_errors(model_and_clip, tmp_path, capsys):
    model, _ = model_and_clip
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00not a video" * 100)
    code, _, err = run_cli(["predict", model, garbage, "--out", tmp_path / "o.mp4", "--detector", "none"], capsys)
    assert_one_line_error(code, err, "garbage.mp4", "Cannot read video")
    empty = tmp_path / "empty.avi"
    writer = cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 48))
    writer.release()
    code, _, err = run_cli(["predict", model, empty, "--out", tmp_path / "o.mp4", "--detector", "none"], capsys)
    assert_one_line_error(code, err, "empty.avi", "no frames")
    code, _, err = run_cli(["predict", model, tmp_path / "absent.mp4", "--out", tmp_path / "o.mp4"], capsys)
    assert_one_line_error(code, err, "absent.mp4", "not found")
    code, _, err = run_cli(["predict", model, garbage, "--out", tmp_path / "o.gif"], capsys)
    assert_one_line_error(code, err, "o.gif", "cannot write video")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.avi", "garbage.mp4"]


def test_a_detector_file_of_the_wrong_shape_is_a_one_line_error(model_and_clip, tmp_path, capsys):
    model, clip = model_and_clip
    other = DETECTOR.parent / "pose_landmark_full.tflite"
    if not other.is_file():
        pytest.skip(f"{other} is not here.")
    code, _, err = run_cli(["predict", model, clip, "--out", tmp_path / "o.mp4", "--detector", other], capsys)
    assert_one_line_error(code, err, "pose_landmark_full.tflite", "not the BlazePose person detector")
    assert list(tmp_path.iterdir()) == []


def test_a_video_that_fails_midway_leaves_no_video(tmp_path):
    with pytest.raises(RuntimeError, match="midway"):
        with VideoFileWriter(tmp_path / "v.mp4", 30) as writer:
            writer.write(np.zeros((32, 32, 3), np.uint8))
            raise RuntimeError("midway")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="frame 1 is 16x32"):
        with VideoFileWriter(tmp_path / "v.mp4", 30) as writer:
            writer.write(np.zeros((32, 32, 3), np.uint8))
            writer.write(np.zeros((32, 16, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_predictor_detects_when_given_no_boxes(built_model):
    from keras_integral.inference import Predictor

    model = built_model
    image = np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    boxes = [[10, 5, 30, 60], [60, 20, 40, 50]]
    detected = Predictor(model, detector=lambda im: (boxes, [0.9, 0.7])).predict(image)
    given = Predictor(model).predict(image, boxes)
    assert detected["boxes"].tolist() == boxes and detected["box_scores"].shape == (2,)
    np.testing.assert_allclose(detected["keypoints"], given["keypoints"], atol=1e-5)
    nobody = Predictor(model, detector=lambda im: (np.zeros((0, 4)), np.zeros(0))).predict(image)
    assert nobody["keypoints"].shape == (0, 17, 2)
    with pytest.raises(ValueError, match="detector must be callable"):
        Predictor(model, detector="blazepose")
