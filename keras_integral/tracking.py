"""People followed through a video: detect every N frames, follow keypoints in between, keep ids, smooth.

Per frame (`PoseTracker.update`):

1. **Boxes.** On a detection frame (every `detect_every`-th, and any frame
   after which no track is left or one was lost) the detector's boxes are
   matched to the tracks (greedy, largest overlap first, `box_overlap` at
   least `match_overlap`, against each track's predicted box); a match keeps
   its track id and takes the detection's box, an unmatched detection starts
   a new id, an unmatched track goes on following. Between detections each track's box
   follows its person as BlazePose's tracking does (`pose_landmarks_to_roi`
   in MediaPipe: the next crop comes from the last keypoints): the bounds of
   its last confident keypoints, enlarged by `KEYPOINT_BOX_PADDING`, moved
   by its last frame-to-frame motion (constant velocity, so two people who
   cross keep their own boxes).
2. **Pose.** Every box goes through the pose predictor (`Predictor`: crop,
   model, back to image pixels) in one call.
3. **Lost.** A track ends when its mean keypoint score falls below
   `lost_score` (the model no longer sees a person in its crop), or when
   fewer than half of its confident keypoints lie inside the frame (the
   person left); the next frame then detects.
   Two tracks whose keypoints have converged on one person (`same_person`)
   are one: the younger ends.
4. **Smoothing.** Each track's keypoints go through its own One Euro filter
   (`smoothing.py`; time = frame index / fps), unless `smoothing` is None.

Without a detector the whole frame is one person, track id 0.

Each frame gives what the command's JSON holds: `{"index", "people":
[{"track_id", "box": [x, y, w, h], "keypoints": [[x, y], ...], "scores"}]}`,
in image pixels.

Example:

>>> tracker = PoseTracker(Predictor(model), detector=BlazePoseDetector())   # doctest: +SKIP
>>> for frame_result in track_video(tracker, read_frames("clip.mp4")):       # doctest: +SKIP
...     print(frame_result["index"], [p["track_id"] for p in frame_result["people"]])
"""

import dataclasses

import numpy as np

from keras_integral.detection.boxes import box_iou
from keras_integral.detection.boxes import whole_image_box
from keras_integral.smoothing import BETA
from keras_integral.smoothing import MIN_CUTOFF_HZ
from keras_integral.smoothing import OneEuroFilter

# Keypoints lie inside the body's outline; a person box (COCO bbox) reaches the top of the head and the
# soles: the keypoints' bounds are enlarged by this fraction of their size on every side.
KEYPOINT_BOX_PADDING = 0.1
KEYPOINT_THRESHOLD = 0.2
# Two tracks whose keypoints lie this close (mean distance / box side) follow one person: the younger goes.
# On our synthetic clips two people crossing never come closer than 0.196 (4 clips of 40 frames); the pose
# model on two BlazePose detections of one person gave 0.10 to 0.17.
DUPLICATE_DISTANCE = 0.15
# Two detections whose boxes overlap this much (IoU) are one person seen twice (BlazePose at times finds one
# person twice, with similar circles); two people at different depths have boxes of different sizes.
DUPLICATE_DETECTION_IOU = 0.6


@dataclasses.dataclass
class Track:
    """One person followed: id, the last box and keypoints, motion, filter."""

    track_id: int
    box: np.ndarray
    keypoints: np.ndarray = None
    scores: np.ndarray = None
    velocity: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(2))
    smoother: OneEuroFilter = None


def box_overlap(a, b):
    """Intersection over the smaller box's area, `[x, y, w, h]` boxes: 1 when one holds the other.

    Detectors' boxes are looser than those around keypoints (BlazePose's is
    the square around the body's circle, half as large again as the person
    standing), so IoU would be low for the same person; the overlap of the
    smaller box is not.

    Example:

    >>> box_overlap([0, 0, 10, 10], [2, 2, 4, 4])
    1.0
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(x1 - x0, 0.0) * max(y1 - y0, 0.0)
    smaller = min(a[2] * a[3], b[2] * b[3])
    return float(inter / smaller) if smaller > 0 else 0.0


def same_person(a, b, threshold=DUPLICATE_DISTANCE):
    """Whether two tracks' keypoints `(joints, 2)` are one person: mean distance under `threshold` times the
    geometric mean side of their joint keypoint box (two people crossing differ in pose and size)."""
    a, b = np.asarray(a, np.float64)[..., :2], np.asarray(b, np.float64)[..., :2]
    points = np.concatenate([a, b])
    side = np.sqrt(max(np.prod(np.ptp(points, axis=0)), 1e-9))
    return float(np.linalg.norm(a - b, axis=-1).mean()) < threshold * side


def keypoint_box(keypoints, scores, image_size, threshold=KEYPOINT_THRESHOLD, padding=KEYPOINT_BOX_PADDING):
    """`[x, y, w, h]` around the keypoints scored above `threshold` (all if none is), padded; None if degenerate."""
    xy = np.asarray(keypoints, np.float64)[..., :2]
    confident = np.asarray(scores) > threshold
    points = xy[confident] if confident.sum() >= 2 else xy
    points = points[np.all(np.isfinite(points), axis=1)]
    if len(points) < 2:
        return None
    low, high = points.min(0), points.max(0)
    size = np.maximum(high - low, 1e-3 * max(image_size))
    low, size = low - padding * size, size * (1 + 2 * padding)
    return np.concatenate([low, size])


def inside_fraction(keypoints, scores, image_size, threshold=KEYPOINT_THRESHOLD):
    """Share of the confident keypoints inside the frame `[-0.5, W - 0.5] x [-0.5, H - 0.5]`."""
    height, width = image_size
    xy = np.asarray(keypoints)[..., :2]
    confident = np.asarray(scores) > threshold
    xy = xy[confident] if confident.any() else xy
    inside = (xy[:, 0] >= -0.5) & (xy[:, 0] <= width - 0.5) & (xy[:, 1] >= -0.5) & (xy[:, 1] <= height - 0.5)
    return float(inside.mean()) if len(xy) else 0.0


class PoseTracker:
    """Detection, pose, tracking and smoothing of one video, a frame at a time (module docstring).

    Args:
        predictor: has `predict(image, boxes)` -> `{"keypoints" (n, joints,
            2|3), "scores" (n, joints)}` in image pixels (a `Predictor`).
        detector: `detector(image) -> (boxes, scores)` (`keras_integral.detection`),
            or None: the whole frame is one person.
        detect_every: detect on every N-th frame (1 = every frame).
        lost_score: mean keypoint score under which a track is lost.
        match_overlap: least `box_overlap` for a detection to continue a track.
        smoothing: `(min_cutoff_hz, beta)` of the One Euro filter, or None.
        fps: frame rate, for the filter's time steps.
        max_people: at most this many tracks (highest detection scores first), or None.
        duplicate_distance: `same_person`'s threshold (0: never merge tracks).

    Example:

    >>> tracker = PoseTracker(predictor, detector, detect_every=5)     # doctest: +SKIP
    >>> tracker.update(frame, 0)["people"][0]["track_id"]             # doctest: +SKIP
    0
    """

    def __init__(self, predictor, detector=None, detect_every=1, lost_score=0.1, match_overlap=0.5,
                 smoothing=(MIN_CUTOFF_HZ, BETA), fps=30.0, max_people=None, duplicate_distance=DUPLICATE_DISTANCE):
        if isinstance(detect_every, bool) or not isinstance(detect_every, (int, np.integer)) or detect_every < 1:
            raise ValueError(f"detect_every must be a positive integer, got {detect_every!r}.")
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps!r}.")
        if smoothing is not None:
            OneEuroFilter(*smoothing)  # checks the parameters now, not on the first person
        self.predictor, self.detector = predictor, detector
        self.detect_every, self.lost_score = int(detect_every), float(lost_score)
        self.match_overlap = float(match_overlap)
        self.smoothing, self.fps, self.max_people = smoothing, float(fps), max_people
        self.duplicate_distance = float(duplicate_distance)
        self.tracks, self.next_id, self.detect_next = [], 0, True
        self.detections = 0  # frames on which the detector ran

    def _predicted_box(self, track, image_size):
        box = keypoint_box(track.keypoints, track.scores, image_size) if track.keypoints is not None else None
        box = track.box.copy() if box is None else box
        box[:2] += track.velocity
        return box

    def _boxes_from_detections(self, image, predicted):
        boxes, scores = self.detector(image)
        order = np.argsort(-np.asarray(scores), kind="stable")
        boxes = np.asarray(boxes, np.float64)[order]
        # Best aligned first (IoU tells apart two people one box holds); accepted on the overlap of the smaller.
        pairs = sorted(((box_iou(d, [p])[0], box_overlap(d, p), t, k) for k, d in enumerate(boxes)
                        for t, p in enumerate(predicted)), reverse=True)
        used_tracks, used_detections = set(), set()
        for _, overlap, t, k in pairs:
            if overlap >= self.match_overlap and t not in used_tracks and k not in used_detections:
                used_tracks.add(t)
                used_detections.add(k)
                self.tracks[t].box = boxes[k]
        for t, track in enumerate(self.tracks):
            if t not in used_tracks:
                track.box = predicted[t]
        # An unmatched detection is a new person, unless it is a second detection of one already taken (a box
        # of about the same place and size); one that was a tracked person after all converges on its
        # keypoints and is merged into the older track (`same_person`, after the pose).
        taken = [boxes[k] for k in used_detections]
        for k, box in enumerate(boxes):
            room = self.max_people is None or len(self.tracks) < self.max_people
            second = any(box_iou(box, [other])[0] >= DUPLICATE_DETECTION_IOU for other in taken)
            if k not in used_detections and room and not second:
                self.tracks.append(Track(self.next_id, box))
                self.next_id += 1
                taken.append(box)

    def update(self, image, index):
        """Tracks, poses and smooths one frame; returns `{"index", "people": [...]}` (module docstring).

        Args:
            image: `(H, W, 3)` uint8 RGB frame.
            index: frame number (0-based), also the filter's clock (`index / fps`).
        """
        image_size = image.shape[:2]
        if self.detector is None:
            out = self.predictor.predict(image, None)
            if not self.tracks:
                self.tracks = [Track(0, np.array(whole_image_box(image_size)))]
            keypoints, scores = out["keypoints"], out["scores"]
        else:
            predicted = [self._predicted_box(track, image_size) for track in self.tracks]
            if self.detect_next or index % self.detect_every == 0:
                self.detections += 1
                self._boxes_from_detections(image, predicted)
            else:
                for track, box in zip(self.tracks, predicted):
                    track.box = box
            self.detect_next = False
            if not self.tracks:
                self.detect_next = True
                return {"index": int(index), "people": []}
            out = self.predictor.predict(image, np.stack([track.box for track in self.tracks]))
            keypoints, scores = out["keypoints"], out["scores"]
        people, kept = [], []
        for track, kp, sc in zip(self.tracks, keypoints, scores):
            lost = self.detector is not None and (
                float(np.mean(sc)) < self.lost_score or inside_fraction(kp, sc, image_size) < 0.5)
            if lost:
                self.detect_next = True
                continue
            previous = keypoint_box(track.keypoints, track.scores, image_size) if track.keypoints is not None else None
            current = keypoint_box(kp, sc, image_size)
            if previous is not None and current is not None:
                track.velocity = (current[:2] + current[2:] / 2) - (previous[:2] + previous[2:] / 2)
            track.keypoints, track.scores = np.asarray(kp, np.float64), np.asarray(sc, np.float64)
            shown = track.keypoints[..., :2]
            if self.smoothing is not None:
                if track.smoother is None:
                    track.smoother = OneEuroFilter(*self.smoothing)
                shown = track.smoother(shown, index / self.fps)
            kept.append(track)
            people.append({"track_id": int(track.track_id), "box": [float(v) for v in track.box],
                           "keypoints": np.asarray(shown, np.float64).tolist(),
                           "scores": [float(s) for s in sc]})
        # Two crops on one person (after a crossing, say) converge on the same keypoints: keep the older track.
        duplicates = {j for i in range(len(kept)) for j in range(i + 1, len(kept))
                      if same_person(kept[i].keypoints, kept[j].keypoints, self.duplicate_distance)}
        people = [p for i, p in enumerate(people) if i not in duplicates]
        self.tracks = [t for i, t in enumerate(kept) if i not in duplicates]
        if not self.tracks:
            self.detect_next = True
        return {"index": int(index), "people": sorted(people, key=lambda p: p["track_id"])}


def track_video(tracker, frames):
    """Yields `tracker.update(frame, i)` for each `(H, W, 3)` RGB frame of an iterable, in order."""
    for index, frame in enumerate(frames):
        yield tracker.update(frame, index)


def predict_video(tracker, source, out=None, skeleton=None, max_frames=None, progress=False, keep_frames=()):
    """Runs a tracker over a video file or camera and writes the drawn video: `keras-integral predict`'s loop.

    Args:
        tracker: a `PoseTracker`.
        source: a video path or a camera index (`video.open_video`).
        out: the drawn video to write (through a temporary name; nothing is
            left there if the run fails), or None.
        skeleton: the joint set to draw (needed with `out` or `keep_frames`).
        max_frames: stop after this many frames (a camera otherwise runs
            until Ctrl-C, which ends the video normally).
        progress: show a progress bar with frames per second.
        keep_frames: indices of drawn frames to return as images too.

    Returns:
        `(frames, info, kept)`: the per-frame results (`PoseTracker.update`),
        the video's `open_video` info, and `{index: drawn (H, W, 3) uint8}`.
    """
    import contextlib
    import time

    from keras_integral import video
    from keras_integral.inference import draw_people

    capture, info = video.open_video(source)
    bar = None
    if progress:
        import keras

        bar = keras.utils.Progbar(info["frames"], unit_name="frame", stateful_metrics=["fps"])
    results, kept = [], {}
    keep_frames = set(keep_frames)
    start = time.perf_counter()
    with video.VideoFileWriter(out, info["fps"]) if out is not None else contextlib.nullcontext() as writer:
        frames = video.read_frames(capture, info, max_frames)
        try:
            for index, frame in enumerate(frames):
                result = tracker.update(frame, index)
                results.append(result)
                if writer is not None or index in keep_frames:
                    drawn = draw_people(frame, result["people"], skeleton)
                    if writer is not None:
                        writer.write(drawn)
                    if index in keep_frames:
                        kept[index] = drawn
                if bar is not None:
                    bar.update(index + 1, values=[("fps", (index + 1) / (time.perf_counter() - start))])
        except KeyboardInterrupt:
            if not info["camera"]:
                raise
            frames.close()
    return results, info, kept
