"""Tracking on synthetic clips, with an oracle for the pose model and detector (so nothing rests on training):
ids kept through a crossing, a person leaving ends the track, detection every N frames, smoothing."""

import numpy as np
import pytest

from keras_integral.data.synthetic.clips import coco_keypoints
from keras_integral.data.synthetic.clips import render_clip
from keras_integral.detection.boxes import box_iou
from keras_integral.tracking import PoseTracker
from keras_integral.tracking import keypoint_box
from keras_integral.tracking import track_video


class Oracle:
    """Ground truth of a rendered clip as a pose predictor and a detector.

    `predict(image, boxes)`: per box, the true COCO keypoints (plus seeded noise of `noise_px`) of the person
    whose true keypoint box overlaps it most, scored 0.9 inside the frame and 0.0 outside; nobody overlapping:
    scores 0. `detect(image)`: the true boxes of the people in the frame, except that of two boxes with IoU
    above 0.4 only the nearer person's comes back (a detector merging people who overlap).
    """

    skeleton = "coco"

    def __init__(self, clip, noise_px=0.0):
        self.frames = {image.tobytes(): people for image, people in clip}
        self.rng = np.random.default_rng(0)
        self.noise_px = noise_px
        self.detector_calls = 0

    def truth(self, image):
        people = []
        for person in self.frames[image.tobytes()]:
            keypoints, visibility = coco_keypoints(person)
            if (visibility > 0).any():
                box = keypoint_box(keypoints, visibility > 0, image.shape[:2])
                people.append((person["track_id"], keypoints, visibility, box))
        return people

    def predict(self, image, boxes):
        people = self.truth(image)
        height, width = image.shape[:2]
        keypoints, scores = np.zeros((len(boxes), 17, 2)), np.zeros((len(boxes), 17))
        for i, box in enumerate(boxes):
            overlaps = [box_iou(np.asarray(box, float), [p[3]])[0] for p in people]
            if not overlaps or max(overlaps) == 0:
                continue
            _, kp, _, _ = people[int(np.argmax(overlaps))]
            keypoints[i] = kp + self.rng.normal(0, self.noise_px, kp.shape)
            inside = (kp[:, 0] >= 0) & (kp[:, 0] < width) & (kp[:, 1] >= 0) & (kp[:, 1] < height)
            scores[i] = np.where(inside, 0.9, 0.0)
        return {"keypoints": keypoints, "scores": scores}

    def detect(self, image):
        self.detector_calls += 1
        people = self.truth(image)
        kept = []
        for _, _, _, box in sorted(people, key=lambda p: p[0]):  # track 0 walks nearer the camera
            if all(box_iou(box, [k])[0] <= 0.4 for k in kept):
                kept.append(box)
        return np.array(kept).reshape(-1, 4), np.full(len(kept), 0.9)


def run(clip, oracle, **kwargs):
    tracker = PoseTracker(oracle, detector=oracle.detect, **kwargs)
    return list(track_video(tracker, [image for image, _ in clip])), tracker


def id_of_each_person(clip, results):
    """{true track id: set of tracker ids that followed it}, matching people by mean keypoint distance."""
    followed = {}
    for (image, _), result in zip(clip, results):
        truth = {p[0]: p[1] for p in Oracle([(image, _)]).truth(image)}
        for person in result["people"]:
            kp = np.asarray(person["keypoints"])
            true_id = min(truth, key=lambda t: np.abs(truth[t] - kp).mean())
            followed.setdefault(true_id, set()).add(person["track_id"])
    return followed


@pytest.mark.parametrize("detect_every", [1, 5])
def test_two_people_crossing_keep_their_ids(detect_every):
    clip = list(render_clip("crossing", 30, seed=1, image_size=(96, 128), pan_px=20))
    oracle = Oracle(clip, noise_px=0.5)
    results, tracker = run(clip, oracle, detect_every=detect_every, smoothing=None)
    assert len(results) == 30 and [r["index"] for r in results] == list(range(30))
    followed = id_of_each_person(clip, results)
    assert set(followed) == {0, 1}  # both people followed
    assert all(len(ids) == 1 for ids in followed.values()), followed  # no id switch
    assert len({next(iter(ids)) for ids in followed.values()}) == 2
    if detect_every == 5:
        assert oracle.detector_calls <= 30 // 5 + 2  # between detections the crops follow the keypoints


def test_the_crossing_check_can_fail():
    """The same clip, tracked with no matching and no merging (every detection a new person): ids change."""
    clip = list(render_clip("crossing", 30, seed=1, image_size=(96, 128), pan_px=20))
    results, _ = run(clip, Oracle(clip), detect_every=1, smoothing=None, match_overlap=1.01, duplicate_distance=0)
    assert any(len(ids) > 1 for ids in id_of_each_person(clip, results).values())


def test_a_person_leaving_the_frame_ends_the_track():
    clip = list(render_clip("leaving", 24, seed=2, image_size=(96, 128)))
    oracle = Oracle(clip)
    results, tracker = run(clip, oracle, detect_every=6, smoothing=None)
    present = [bool(Oracle(clip).truth(image)) for image, _ in clip]
    assert present[0] and not present[-1]
    gone = present.index(False)
    assert all(not r["people"] for r in results[gone + 1:])
    assert {p["track_id"] for r in results[:gone - 2] for p in r["people"]} == {0}
    assert tracker.tracks == []
    # Once the track ended, every later frame looks for people again (and finds nobody).
    assert oracle.detector_calls >= len(results) - gone - 1


def test_smoothing_lowers_jitter_of_tracked_keypoints():
    clip = list(render_clip("single", 40, seed=3, image_size=(96, 128)))
    truth = np.stack([coco_keypoints(people[0])[0] for _, people in clip])

    def keypoints(smoothing):
        results, _ = run(clip, Oracle(clip, noise_px=1.5), detect_every=10, smoothing=smoothing)
        return np.stack([np.asarray(r["people"][0]["keypoints"]) for r in results])

    def jitter(track):
        return np.abs(np.diff(track, 2, axis=0) - np.diff(truth, 2, axis=0)).mean()

    raw, smooth = keypoints(None), keypoints((1.0, 0.01))
    assert jitter(smooth) < 0.5 * jitter(raw)
    assert np.abs(smooth - truth).mean() < 1.5  # the lag costs less than the noise it removes


def test_without_a_detector_the_frame_is_one_person():
    clip = list(render_clip("single", 3, seed=0, image_size=(64, 64)))

    class WholeFrame:
        def predict(self, image, boxes):
            assert boxes is None
            return {"keypoints": np.full((1, 17, 2), 10.0), "scores": np.ones((1, 17))}

    results = list(track_video(PoseTracker(WholeFrame()), [image for image, _ in clip]))
    assert [[p["track_id"] for p in r["people"]] for r in results] == [[0], [0], [0]]
    assert results[0]["people"][0]["box"] == [-0.5, -0.5, 64, 64]


def test_bad_arguments():
    with pytest.raises(ValueError, match="detect_every"):
        PoseTracker(None, detect_every=0)
    with pytest.raises(ValueError, match="min_cutoff"):
        PoseTracker(None, smoothing=(0.0, 1.0))
