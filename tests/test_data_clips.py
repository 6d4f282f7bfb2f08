"""Synthetic clips: written as the loaders read them, frame counts, the crossing and the pan."""

import json

import numpy as np

from keras_integral import cli
from keras_integral.data import coco
from keras_integral.data.synthetic.clips import read_clip_truth
from keras_integral.data.synthetic.clips import render_clip
from keras_integral.video import count_frames


def test_synth_clip_writes_video_and_coco_ground_truth_per_frame(tmp_path, capsys):
    code = cli.main(["synth", "--out", str(tmp_path), "--clip", "crossing", "--frames", "8", "--pan", "16",
                     "--image-size", "64x96", "--level", "easy"])
    assert code == 0 and "8 frames written" in capsys.readouterr().out
    assert count_frames(tmp_path / "video.mp4") == 8
    annotations = tmp_path / "coco" / "annotations" / "person_keypoints_val.json"
    records = coco.load_records(str(annotations), str(tmp_path / "coco" / "images"))
    data = json.loads(annotations.read_text())
    assert len(data["images"]) == 8 and {a["track_id"] for a in data["annotations"]} == {0, 1}
    assert len(records) == len(data["annotations"]) >= 14  # both people in (nearly) every frame
    truth = read_clip_truth(annotations)
    assert sorted(truth) == list(range(8)) and set(truth[0]) == {0, 1}


def test_the_two_people_cross_and_the_pan_moves_the_view():
    still = list(render_clip("crossing", 9, seed=0, image_size=(64, 96)))
    x = np.array([[p["keypoints"][:, 0].mean() for p in people] for _, people in still])
    assert x[0, 0] < x[0, 1] and x[-1, 0] > x[-1, 1]  # person 0 starts left of person 1 and ends right of it
    panned = list(render_clip("crossing", 9, seed=0, image_size=(64, 96), pan_px=24))
    shift = np.array([[p["keypoints"][:, 0].mean() for p in people] for _, people in panned]) - x
    # The view slides right over the clip: people and background move left, from +12 px to -12 px of the still.
    np.testing.assert_allclose(shift[[0, -1]], [[12, 12], [-12, -12]], atol=0.5)
    assert not np.array_equal(still[-1][0], panned[-1][0])
    # Deterministic: the same seed gives the same pixels.
    again = list(render_clip("crossing", 9, seed=0, image_size=(64, 96)))
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(still, again))
