"""People in the wild: the detector's recall on the real sample photos; tracking and smoothing on synthetic clips.

1. **Recall on the real photos.** The BlazePose person detector on the 9
   sample photos of `../shared/data/samples` (COCO, MPII, Human3.6M,
   MPI-INF-3DHP): is the largest annotated person found (`boxes.person_found`:
   at least 70 % of the annotated tight box inside a detection at most 3x its
   size), and of all annotated people with keypoints.
2. **Clips.** Synthetic clips (`keras-integral synth --clip`: one person,
   two people crossing; camera still or panning) run through the whole loop
   (read the video, detect, crop, pose model, track, smooth, draw, write the
   video), with BlazePose and a pose model, four ways: detecting every frame
   or every N frames (between detections the crops follow the keypoints),
   with and without the One Euro filter. Per way: keypoint error (mean
   pixel distance to the truth over labelled joints of the matched people,
   per frame, then averaged), jitter (mean absolute acceleration error
   against the truth, px / frame^2, over joints matched in three consecutive
   frames), id switches (a true person's track id changing between frames
   it is matched in), missed person-frames, and frames per second of the
   whole loop with TensorFlow and LiteRT on one thread (the fastest of
   `--repeats` runs) and, steadier on a shared machine, CPU milliseconds of
   this process per frame (the least of them).

Usage (from the repository root):

    python benchmarks/tracking.py --model demo/runs/i1/model.keras [--detector PATH.tflite] [--frames 60]
        [--detect-every 5] [--image-size 128x160] [--repeats 3]
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "samples"
PEERS_DETECTOR = Path(__file__).resolve().parents[2] / "shared" / "peers" / "pose_detection.tflite"
CLIPS = (("single", 0), ("single", 48), ("crossing", 0), ("crossing", 48))  # (kind, pan in px)


def sample_people(samples=SAMPLES):
    """`[(image path, [annotated person boxes [x, y, w, h], largest first])]` of the real sample photos:
    COCO `bbox` of the people with keypoints; MPII, Human3.6M and MPI-INF-3DHP the bounds of the labelled joints."""

    def bounds(joints):
        joints = np.asarray(joints, np.float64)
        return [*joints.min(0), *np.ptp(joints, axis=0)]

    photos = []
    data = json.loads((samples / "coco" / "test_coco_subset.json").read_text())
    for image in data["images"]:
        anns = [a for a in data["annotations"] if a["image_id"] == image["id"] and a["num_keypoints"] > 0]
        photos.append((samples / "coco" / image["file_name"],
                       [a["bbox"] for a in sorted(anns, key=lambda a: -a["area"])]))
    for record in json.loads((samples / "mpii" / "test_mpii_subset.json").read_text()):
        joints = np.asarray(record["joints"])[np.asarray(record["joints_vis"]) > 0] - 1  # MATLAB 1-based
        photos.append((samples / "mpii" / record["image"], [bounds(joints)]))
    h36m = np.load(samples / "h36m" / "test_h36m_body3d_subset.npz")
    for name, part in zip(h36m["imgname"], h36m["part"]):
        photos.append((samples / "h36m" / str(name), [bounds(part[:, :2])]))
    hp = np.load(samples / "mpi_inf_3dhp" / "test_3dhp_train.npz")
    for name, part in zip(hp["imgname"], hp["part"]):
        photos.append((samples / "mpi_inf_3dhp" / str(name), [bounds(part[part[:, 2] > 0, :2])]))
    return photos


def read_rgb(path):
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def recall_on_photos(detector):
    from keras_integral.detection.boxes import person_found

    rows, largest, everyone, people = [], 0, 0, 0
    for path, boxes in sample_people():
        detected, scores = detector(read_rgb(path))
        found = [person_found(detected, box) for box in boxes]
        largest += found[0]
        everyone += sum(found)
        people += len(boxes)
        rows.append((path.name, len(detected), found))
    return rows, largest, everyone, people


def match(people, truth):
    """Greedy matching of tracker people to true people by mean distance over labelled joints:
    `{true id: (track id, (17, 2) keypoints)}`."""
    pairs = []
    for true_id, (keypoints, visibility) in truth.items():
        labelled = visibility > 0
        for person in people:
            predicted = np.asarray(person["keypoints"])[:, :2]
            pairs.append((np.linalg.norm(predicted[labelled] - keypoints[labelled], axis=1).mean(), true_id,
                          person["track_id"], predicted))
    matched, used = {}, set()
    for _, true_id, track_id, predicted in sorted(pairs, key=lambda p: p[0]):
        if true_id not in matched and track_id not in used:
            matched[true_id] = (track_id, predicted)
            used.add(track_id)
    return matched


def clip_metrics(results, truth):
    errors, accelerations, switches, missed = [], [], 0, 0
    history = {}  # true id -> [(frame, track id, keypoints)]
    for result in results:
        frame_truth = {t: v for t, v in truth[result["index"]].items() if (v[1] > 0).sum() >= 3}
        matched = match(result["people"], frame_truth)
        missed += len(frame_truth) - len(matched)
        frame_errors = []
        for true_id, (track_id, predicted) in matched.items():
            keypoints, visibility = frame_truth[true_id]
            frame_errors += list(np.linalg.norm(predicted - keypoints, axis=1)[visibility > 0])
            seen = history.setdefault(true_id, [])
            if seen and seen[-1][1] != track_id:
                switches += 1
            seen.append((result["index"], track_id, predicted, keypoints, visibility))
        if frame_errors:
            errors.append(np.mean(frame_errors))
    for seen in history.values():
        for a, b, c in zip(seen, seen[1:], seen[2:]):
            if c[0] - a[0] == 2:
                labelled = (a[4] > 0) & (b[4] > 0) & (c[4] > 0)
                predicted = a[2] - 2 * b[2] + c[2]
                true = a[3] - 2 * b[3] + c[3]
                accelerations += list(np.abs(predicted - true)[labelled].ravel())
    return {"error_px": float(np.mean(errors)), "jitter": float(np.mean(accelerations)), "id_switches": switches,
            "missed": missed}


def run_loop(model, detector, video_path, detect_every, smoothing, out_path):
    """The whole loop of `keras-integral predict` on a video: (per-frame results, frames per wall-clock second,
    CPU milliseconds of this process per frame)."""
    from keras_integral.inference import Predictor
    from keras_integral.tracking import PoseTracker
    from keras_integral.tracking import predict_video

    start, cpu = time.perf_counter(), time.process_time()
    tracker = PoseTracker(Predictor(model), detector, detect_every=detect_every, smoothing=smoothing, fps=30.0)
    results, _, _ = predict_video(tracker, video_path, out_path, model.skeleton)
    return results, len(results) / (time.perf_counter() - start), 1000 * (time.process_time() - cpu) / len(results)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a .keras pose model (COCO skeleton)")
    parser.add_argument("--detector", default=str(PEERS_DETECTOR), help="pose_detection.tflite")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--detect-every", type=int, default=5)
    parser.add_argument("--image-size", default="128x160", help="HEIGHTxWIDTH of the clips")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per way (the fastest is reported)")
    args = parser.parse_args(argv)

    from keras_integral.cli import load_model
    from keras_integral.data.synthetic.clips import read_clip_truth
    from keras_integral.data.synthetic.clips import write_clip
    from keras_integral.detection import detector_from_spec
    from keras_integral.smoothing import BETA
    from keras_integral.smoothing import MIN_CUTOFF_HZ

    detector = detector_from_spec(args.detector, num_threads=1)
    rows, largest, everyone, people = recall_on_photos(detector)
    print("Detector recall on the real sample photos (BlazePose, pose_detection.tflite):")
    for name, count, found in rows:
        print(f"  {name:<40} {count} detections, annotated people found: {found}")
    print(f"  largest annotated person found: {largest}/{len(rows)}; all annotated people: {everyone}/{people}")

    model = load_model(args.model)
    if hasattr(model, "method"):  # a pose model trained under mixed precision runs in float32, as evaluate does
        from keras_integral.training import float32_model

        model = float32_model(model)
    size = tuple(int(v) for v in args.image_size.split("x"))
    ways = [("every frame", 1, None), ("every frame", 1, (MIN_CUTOFF_HZ, BETA)),
            (f"every {args.detect_every}", args.detect_every, None),
            (f"every {args.detect_every}", args.detect_every, (MIN_CUTOFF_HZ, BETA))]
    print(f"\nSynthetic clips, {args.frames} frames of {size[1]}x{size[0]}, easy scenes; model {args.model}; "
          f"1 thread; fps: the fastest of {args.repeats} runs")
    print(f"{'clip':<18} {'detect':<10} {'smooth':<7} {'error px':>8} {'jitter':>7} {'id sw':>5} {'missed':>6} "
          f"{'fps':>6} {'CPU ms':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for seed, (kind, pan) in enumerate(CLIPS):
            clip_dir = Path(tmp) / f"{kind}_{pan}"
            written = write_clip(clip_dir, kind, args.frames, seed=seed, image_size=size, pan_px=pan, level="easy")
            truth = read_clip_truth(written["coco_val"])
            # Each loop once untimed first (LiteRT and TF warm-up), then timed.
            run_loop(model, detector, written["video"], 1, None, clip_dir / "warm.mp4")
            for label, every, smoothing in ways:
                # The best of `--repeats` runs: the results are the same each time, the machine's load is not.
                runs = [run_loop(model, detector, written["video"], every, smoothing, clip_dir / "out.mp4")
                        for _ in range(args.repeats)]
                results, fps, cpu_ms = runs[0][0], max(run[1] for run in runs), min(run[2] for run in runs)
                m = clip_metrics(results, truth)
                name = f"{kind}{', pan ' + str(pan) + ' px' if pan else ''}"
                print(f"{name:<18} {label:<10} {'yes' if smoothing else 'no':<7} {m['error_px']:>8.2f} "
                      f"{m['jitter']:>7.2f} {m['id_switches']:>5d} {m['missed']:>6d} {fps:>6.1f} {cpu_ms:>7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
