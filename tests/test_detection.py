"""Person detectors: MediaPipe's anchors and decoding on handmade tensors, NMS, the wheel fetch, real photos."""

import hashlib
import importlib.util
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from keras_integral import download
from keras_integral.detection import CheckedDetector
from keras_integral.detection import KerasHubDetector
from keras_integral.detection import blazepose
from keras_integral.detection import detector_from_spec
from keras_integral.detection.boxes import box_iou
from keras_integral.detection.boxes import non_max_suppression

PEERS = Path(__file__).resolve().parents[2] / "shared" / "peers"
DETECTOR_FILE = PEERS / "pose_detection.tflite"
SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "samples"
BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "tracking.py"


def anchor_index(stride_cell, k=0):
    """Index of anchor k of cell (x, y) in the layer of stride 8, 16 or 32, counted by hand from the graph file:
    28x28 cells x 2 anchors, then 14x14 x 2, then 7x7 x 6 (three stride-32 layers of 2 merged)."""
    stride, x, y = stride_cell
    start, size, per_cell = {8: (0, 28, 2), 16: (1568, 14, 2), 32: (1960, 7, 6)}[stride]
    return start + (y * size + x) * per_cell + k


def test_anchors_follow_the_ssd_anchors_options():
    anchors = blazepose.ssd_anchors()
    assert anchors.shape == (2254, 2)
    for (stride, x, y), k in [((8, 0, 0), 1), ((8, 27, 3), 0), ((16, 5, 9), 1), ((32, 6, 2), 5), ((32, 0, 6), 3)]:
        size = 224 // stride
        np.testing.assert_allclose(anchors[anchor_index((stride, x, y), k)], [(x + 0.5) / size, (y + 0.5) / size],
                                   atol=1e-7)


def handmade_outputs():
    """Two overlapping detections near stride-16 cell (5, 9) and one far away at stride-32 cell (1, 1), k = 4."""
    raw_boxes = np.zeros((2254, 12), np.float32)
    raw_scores = np.full((2254, 1), -20.0, np.float32)
    a, b, c = anchor_index((16, 5, 9), 0), anchor_index((16, 5, 9), 1), anchor_index((32, 1, 1), 4)
    # centre offset (dx, dy), size (w, h), keypoints (x, y) x 4: all in input pixels relative to the anchor.
    raw_boxes[a] = [2, -4, 30, 40, 0, 10, 0, -50, 0, -30, 0, -45]
    raw_boxes[b] = [4, -4, 30, 40, 2, 10, 2, -50, 0, -30, 0, -45]
    raw_boxes[c] = [0, 0, 20, 20, 0, 0, 0, -20, 0, 0, 0, 0]
    raw_scores[a], raw_scores[b], raw_scores[c] = np.log(0.9 / 0.1), np.log(0.6 / 0.4), np.log(0.7 / 0.3)
    raw_scores[7] = 300.0  # clipped to 100: sigmoid 1.0 ...
    raw_boxes[7, 2:4] = [-5, 10]  # ... but a negative width: dropped, as MediaPipe drops it
    return raw_boxes, raw_scores


def test_decoding_a_handmade_tensor():
    raw_boxes, raw_scores = handmade_outputs()
    boxes, scores, keypoints = blazepose.decode_detections(raw_boxes, raw_scores, blazepose.ssd_anchors())
    np.testing.assert_allclose(scores, [0.9, 0.6, 0.7], rtol=1e-6)  # anchor order; the score-0.5 cut keeps 3
    ax, ay = 5.5 / 14, 9.5 / 14
    np.testing.assert_allclose(boxes[0], [ax + 2 / 224 - 15 / 224, ay - 4 / 224 - 20 / 224, 30 / 224, 40 / 224],
                               atol=1e-6)
    np.testing.assert_allclose(keypoints[0], [[ax, ay + 10 / 224], [ax, ay - 50 / 224], [ax, ay - 30 / 224],
                                              [ax, ay - 45 / 224]], atol=1e-6)
    np.testing.assert_allclose(keypoints[2, 1], [1.5 / 7, 1.5 / 7 - 20 / 224], atol=1e-6)


def test_outputs_to_people_weighted_nms_letterbox_and_the_body_square():
    raw_boxes, raw_scores = handmade_outputs()
    # A 448 x 224 (w x h) frame: scale 0.5, letterboxed with 56-pixel bars above and below (padding 0.25 in y).
    boxes, scores, keypoints = blazepose.outputs_to_people(raw_boxes, raw_scores, (0.0, 0.25), (224, 448))
    np.testing.assert_allclose(scores, [0.9, 0.7], rtol=1e-6)  # the 0.6 one merged into the 0.9 one
    ax, ay = 5.5 / 14, 9.5 / 14
    # Weighted mean of the two hip-centre keypoints, weights 0.9 and 0.6, then (v - pad) / (1 - 2 pad) -> pixels.
    hip = np.array([ax + (0.6 * 2 / 224) / 1.5, ay + 10 / 224])
    hip_px = (hip - [0, 0.25]) / [1, 0.5] * [448, 224] - 0.5
    np.testing.assert_allclose(keypoints[0, 0], hip_px, atol=1e-4)
    scale_point_px = (np.array([ax + 0.8 / 224, ay - 50 / 224]) - [0, 0.25]) / [1, 0.5] * [448, 224] - 0.5
    side = 2 * np.linalg.norm(scale_point_px - hip_px)
    rotation = np.pi / 2 - np.arctan2(-(scale_point_px[1] - hip_px[1]), scale_point_px[0] - hip_px[0])
    extent = side * (abs(np.cos(rotation)) + abs(np.sin(rotation)))
    np.testing.assert_allclose(boxes[0], [*(hip_px - extent / 2), extent, extent], atol=1e-3)


def test_weighted_and_plain_nms_on_a_handmade_case():
    boxes = [[0, 0, 10, 10], [2, 0, 10, 10], [30, 30, 5, 5], [0, 1, 10, 10]]
    scores = [0.5, 0.9, 0.8, 0.3]
    points = np.arange(8, dtype=float).reshape(4, 1, 2)
    kept, kept_scores, _ = non_max_suppression(boxes, scores, 0.3)
    assert kept.tolist() == [[2, 0, 10, 10], [30, 30, 5, 5]] and kept_scores.tolist() == [0.9, 0.8]
    # IoU([2,0,10,10], [0,1,10,10]) = 72 / 128 = 0.5625 > 0.3 and IoU([2,0,..],[0,0,..]) = 80/120: all three merge.
    merged, merged_scores, merged_points = non_max_suppression(boxes, scores, 0.3, weighted=True, keypoints=points)
    w = np.array([0.9, 0.5, 0.3]) / 1.7
    np.testing.assert_allclose(merged[0], [w @ [2, 0, 0], w @ [0, 0, 1], 10, 10])
    np.testing.assert_allclose(merged_points[0, 0], w @ points[[1, 0, 3], 0])
    assert merged_scores.tolist() == [0.9, 0.8]
    assert box_iou(np.array([0, 0, 1, 1.0]), [[5, 5, 1, 1]]).tolist() == [0.0]


def fake_wheel(path, content, member=blazepose.WHEEL_MEMBER):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mediapipe/__init__.py", "")
        z.writestr(member, content)
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_the_wheel_fetch_extracts_the_member_or_says_where_to_put_the_file(tmp_path, monkeypatch):
    if not DETECTOR_FILE.is_file():
        pytest.skip(f"{DETECTOR_FILE} (the peers' copy of pose_detection.tflite) is not here.")
    monkeypatch.setenv("KERAS_INTEGRAL_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(blazepose, "WHEEL_URL", (tmp_path / "missing.whl").as_uri())
    with pytest.raises(download.WeightsUnavailableError) as error:
        blazepose.pose_detection_file(progress=False)
    message = str(error.value)
    assert "\n" not in message and str(blazepose.cached_path()) in message and blazepose.FILE_SHA256 in message
    # A wheel whose member is another file: refused, nothing cached, no temporary left.
    wheel = tmp_path / "wrong.whl"
    monkeypatch.setattr(blazepose, "WHEEL_SHA256", fake_wheel(wheel, b"not the detector"))
    monkeypatch.setattr(blazepose, "WHEEL_URL", wheel.as_uri())
    with pytest.raises(download.ChecksumMismatchError, match="member"):
        blazepose.pose_detection_file(progress=False)
    assert sorted(p.name for p in blazepose.cached_path().parent.iterdir()) == []
    # A wheel without the member: refused the same way.
    monkeypatch.setattr(blazepose, "WHEEL_SHA256", fake_wheel(wheel, b"x", member="mediapipe/other.tflite"))
    with pytest.raises(ValueError, match="has no member"):
        blazepose.pose_detection_file(progress=False)
    assert sorted(p.name for p in blazepose.cached_path().parent.iterdir()) == []
    # The right member: cached under its name, the wheel removed; then used offline.
    monkeypatch.setattr(blazepose, "WHEEL_SHA256", fake_wheel(wheel, DETECTOR_FILE.read_bytes()))
    path = blazepose.pose_detection_file(progress=False)
    assert path == blazepose.cached_path() and download.sha256_file(path) == blazepose.FILE_SHA256
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    wheel.unlink()
    assert blazepose.pose_detection_file(progress=False) == path
    # A damaged cached file is refused with the expected hash in the message.
    path.write_bytes(b"damaged")
    with pytest.raises(download.ChecksumMismatchError, match=blazepose.FILE_SHA256):
        blazepose.pose_detection_file(progress=False)


def test_a_model_file_of_the_wrong_shape_or_not_a_model_is_refused(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match="not a TFLite model"):
        detector_from_spec(str(bad))
    with pytest.raises(FileNotFoundError, match="not found"):
        detector_from_spec(str(tmp_path / "absent.tflite"))
    other = PEERS / "pose_landmark_full.tflite"  # a real TFLite model, another I/O
    if other.is_file():
        with pytest.raises(ValueError, match="not the BlazePose person detector") as error:
            detector_from_spec(str(other))
        assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="blazepose"):
        detector_from_spec("yolo")


def annotated_people():
    """(photo, box of its largest annotated person) from benchmarks/tracking.py's `sample_people`."""
    spec = importlib.util.spec_from_file_location("tracking_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [(path, boxes[0]) for path, boxes in module.sample_people(SAMPLES)]


def read_rgb(path):
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def blazepose_detector():
    if not DETECTOR_FILE.is_file():
        pytest.skip(f"{DETECTOR_FILE} (the peers' copy of pose_detection.tflite) is not here.")
    return detector_from_spec(str(DETECTOR_FILE))


def test_blazepose_finds_the_largest_annotated_person_in_every_sample_photo(blazepose_detector):
    from keras_integral.detection.boxes import person_found

    people = annotated_people()
    assert len(people) == 9
    for path, box in people:
        boxes, scores = blazepose_detector(read_rgb(path))
        assert person_found(boxes, box), f"{path.name}: annotated {np.round(box)}, detected {np.round(boxes)}"
    # The criterion can fail: the same boxes moved by half the image, or a detector that sees nobody.
    path, box = people[0]
    image = read_rgb(path)
    boxes, _ = blazepose_detector(image)
    assert not person_found(boxes + [image.shape[1] / 2, 0, 0, 0], box)
    assert not person_found(np.zeros((0, 4)), box)


def test_checked_detector_and_any_callable():
    detector = CheckedDetector(lambda image: ([[0, 0, 5, 5], [1, 1, 4, 4]], [0.2, 0.8]), min_score=0.5)
    boxes, scores = detector(np.zeros((8, 8, 3), np.uint8))
    assert boxes.tolist() == [[1, 1, 4, 4]] and scores.tolist() == [0.8]
    with pytest.raises(ValueError, match="width and height > 0"):
        CheckedDetector(lambda image: ([[0, 0, -1, 5]], [1.0]))(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match=r"\(boxes, scores\)"):
        CheckedDetector(lambda image: None)(np.zeros((8, 8, 3), np.uint8))


class FakeKerasHubDetector:
    """keras-hub's ObjectDetector output format: yxyx boxes in the pixels of its 100x200 (h x w) input."""

    bounding_box_format = "yxyx"

    class preprocessor:  # noqa: N801
        class image_converter:  # noqa: N801
            image_size = (100, 200)

    def __init__(self):
        self.seen = []

    def predict(self, images, verbose=0):
        self.seen.append(images.shape)
        boxes = np.zeros((1, 5, 4), np.float32)
        boxes[0, :4] = [[10, 20, 60, 50], [12, 22, 60, 50], [0, 0, 50, 50], [5, 100, 95, 180]]
        return {"boxes": boxes, "confidence": np.array([[0.9, 0.8, 0.95, 0.3, 0.0]], np.float32),
                "labels": np.array([[1, 1, 3, 1, 0]]), "num_detections": np.array([4])}


def test_keras_hub_detector_on_its_output_format():
    fake = FakeKerasHubDetector()
    detector = KerasHubDetector(fake, min_score=0.5)
    boxes, scores = detector(np.zeros((200, 400, 3), np.uint8))  # twice the model's input in each direction
    assert fake.seen == [(1, 100, 200, 3)]
    # Person (label 1) boxes above 0.5: the first two, which overlap (IoU > 0.5): one kept, scaled x2 to xywh.
    np.testing.assert_allclose(boxes, [[40, 20, 60, 100]])
    np.testing.assert_allclose(scores, [0.9])


def test_an_unloadable_keras_hub_preset_is_a_one_line_error(tmp_path):
    with pytest.raises(download.PresetUnavailableError, match="could not be loaded") as error:
        detector_from_spec(f"keras_hub:{tmp_path / 'no_such_preset'}")
    assert "\n" not in str(error.value)
