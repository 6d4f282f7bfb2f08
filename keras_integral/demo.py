"""`keras-integral demo`: the whole library end to end on a CPU in under ten minutes, offline.

1. Generate a synthetic pose set (procedural people on easy scenes, COCO format).
2. Train two models the same way, on the same data, with the same budget: I1
   (integral regression: heat-map loss, then the joint loss) and its heat-map
   baseline H1 (arg-max decoding). On a CPU each trains in its own process
   on one core, the two at once.
3. Evaluate both on the held-out people (flip test): COCO AP, PCK of the box,
   and the paired comparison the paper is about: mean keypoint error in input
   pixels and PCK at tight thresholds, I1 - H1 with a 95 % bootstrap
   interval over people, and a one-line verdict.
4. Export I1 (SavedModel, TFLite fp32 + int8, ONNX) and check each artifact's
   keypoints against Keras.
5. Write OUT/README.md (tables and verdict), pck_curves.png (both methods),
   skeletons_i1.png / skeletons_h1.png (predicted skeletons, ground truth thin),
   quantisation.png (one joint's heat maps as their grids) and summary.json.
6. Run I1 over a short synthetic clip as `keras-integral predict` does
   (people detected with BlazePose when its file is cached, tracked,
   smoothed): video.mp4, video.json and video_frames.png (`run_clip`).

The model, ResNet-18 cut after its second stage (stride 8, `resnet18_stride8`)
with one deconvolution to 16x16 heat maps on 64x64 crops, trained in
bfloat16 with flips only, is the fastest learner we measured on 2 CPU cores
(README, "The demo").
"""

import json
import os
import shutil
import time

import numpy as np

from keras_integral import methods
from keras_integral.files import write_json
from keras_integral.files import write_text
from keras_integral.recipes import recipe_from_dict

DEMO_LEVEL = "easy"
DEMO_RECIPE = dict(
    dataset="coco",
    train_annotations="coco/annotations/person_keypoints_train.json",
    train_images="coco/images",
    val_annotations="coco/annotations/person_keypoints_val.json",
    val_images="coco/images",
    backbone="resnet18_stride8",
    skeleton="coco",
    input_size=[64, 64],
    heatmap_size=[16, 16],  # a cell is 4 input pixels: where arg-max quantisation shows
    head_filters=128,
    integral_scale=10.0,  # I1's integral starts as a soft arg-max of its H1-trained maps
    batch_size=16,
    learning_rate=3e-3,
    lr_schedule="cosine",
    mixed_precision="bfloat16",
    augmentation="flip",
    seed=0,
)
# The schedule `keras-integral demo` runs by default (its CLI reads these): 10 x 400 steps of 16 per model.
NUM_IMAGES = 4000
EPOCHS = 10
STEPS_PER_EPOCH = 400
METHODS = ("I1", "H1")
# The tight thresholds of the comparison, as fractions of the box's longer side.
TIGHT_THRESHOLDS = (0.02, 0.05)
BOOTSTRAP_RESAMPLES = 2000
SHEET_IMAGES = 15  # 3 large, 12 small


def demo_recipe(method, epochs, steps_per_epoch):
    """The demo's recipe for `method` ("I1" or "H1"): same data, model size and schedule."""
    # No validation passes while training: the held-out people are evaluated once, afterwards.
    values = dict(DEMO_RECIPE, method=method, epochs=epochs, steps_per_epoch=steps_per_epoch, validate=False)
    if methods.get(method).two_phase:  # I1: the H1 loss for 80 % of the steps, then the joint loss
        if not isinstance(epochs, int) or epochs < 2:
            raise ValueError(f"demo: epochs must be at least 2 ({method} trains the heat-map loss, then the "
                             f"joint loss), got {epochs!r}.")
        values["phase_switch_epoch"] = max(1, min(epochs - 1, round(0.8 * epochs)))
    return recipe_from_dict(values, source="demo")


def run_demo(out_dir, num_images=NUM_IMAGES, image_size=128, epochs=EPOCHS, steps_per_epoch=STEPS_PER_EPOCH, verbose=2,
             parallel=None):
    """Runs the demo into `out_dir`; returns the summary dict (also in `out_dir/summary.json`).

    Args:
        out_dir: output folder.
        num_images: synthetic images (one person each; a tenth held out).
        image_size: their side in pixels.
        epochs, steps_per_epoch: the schedule of each model.
        verbose: Keras progress setting for training (0, 1 or 2).
        parallel: train I1 and H1 at once, one process and one core each;
            default: when the machine has at least two cores.
    """
    from keras_integral.data import coco
    from keras_integral.data import synthetic

    # Bad numbers fail here, before the data are generated.
    recipes = {method: demo_recipe(method, epochs, steps_per_epoch) for method in METHODS}
    os.makedirs(out_dir, exist_ok=True)
    timings = {}
    start = time.perf_counter()
    data_dir = os.path.join(out_dir, "data")
    print(f"[1/6] Generating {num_images} synthetic images ({image_size}x{image_size}, {DEMO_LEVEL} scenes) "
          f"in {data_dir}")
    written = synthetic.generate(data_dir, num_images, seed=0, image_size=(image_size, image_size),
                                 level=DEMO_LEVEL, verbose=min(verbose, 1))
    timings["generate_s"] = time.perf_counter() - start

    run_dirs = {method: os.path.join(out_dir, "runs", method.lower()) for method in METHODS}
    if parallel is None:
        parallel = (os.cpu_count() or 1) >= 2
    recipe = recipes["I1"]
    print(f"[2/6] Training I1 and H1 {'at once, one core each' if parallel else 'one after the other'}: "
          f"{recipe.backbone}, {recipe.input_size[0]}x{recipe.input_size[1]} crops, heat maps "
          f"{recipe.heatmap_size[0]}x{recipe.heatmap_size[1]}, {epochs} x {steps_per_epoch} steps of "
          f"{recipe.batch_size} -> {os.path.join(out_dir, 'runs')}")
    t = time.perf_counter()
    train_seconds = _train_all(recipes, data_dir, run_dirs, verbose, parallel)
    timings["train_s"] = time.perf_counter() - t
    timings.update({f"train_{m}_s": s for m, s in train_seconds.items()})

    print("[3/6] Evaluating both on the held-out people (flip test)")
    import keras

    from keras_integral.evaluate import evaluate
    from keras_integral.training import float32_model

    val_file = os.fspath(written["coco_val"])
    val_records = coco.load_records(val_file, os.fspath(written["coco_images"]))
    models, results, curves, predictions = {}, {}, {}, {}
    for method in METHODS:
        t = time.perf_counter()
        models[method] = float32_model(keras.saving.load_model(os.path.join(run_dirs[method], "model.keras")))
        eval_dir = os.path.join(run_dirs[method], "eval")
        results[method] = evaluate(models[method], val_records, "coco", out_dir=eval_dir, flip_test=True,
                                   annotation_file=val_file, max_sheet_images=SHEET_IMAGES, verbose=0)
        timings[f"evaluate_{method}_s"] = time.perf_counter() - t
        with open(os.path.join(eval_dir, "report.json")) as f:
            curve = json.load(f)["pck_curve"]
        curves[method] = (np.array(curve["alphas"]), np.array(curve["pck"]))
        predictions[method] = np.load(os.path.join(eval_dir, "predictions.npz"))
        shutil.copy(os.path.join(eval_dir, "contact_sheet.png"),
                    os.path.join(out_dir, f"skeletons_{method.lower()}.png"))
    comparison = compare_methods(predictions["I1"], predictions["H1"], val_records, tuple(recipe.input_size))

    print("[4/6] Pictures: PCK curves, the quantisation of one joint")
    from keras_integral.evaluate import plot_pck_curves

    plot_pck_curves(curves, os.path.join(out_dir, "pck_curves.png"),
                    "Synthetic val: PCK of the box's longer side (flip test)")
    quantisation = plot_quantisation(models, val_records, predictions, os.path.join(out_dir, "quantisation.png"))

    print("[5/6] Exporting I1: SavedModel, TFLite fp32 + int8, ONNX; parity against Keras")
    from keras_integral.export import export
    from keras_integral.export import representative_crops

    t = time.perf_counter()
    crops = representative_crops(val_records, models["I1"], num=64)
    export_dir = os.path.join(out_dir, "export")
    shutil.rmtree(export_dir, ignore_errors=True)
    # A minutes-long training is not converged; record its parity rather than fail on it.
    manifest = export(models["I1"], export_dir, quantize=("fp32", "int8"), representative_data=crops,
                      allow_parity_loss=True)
    timings["export_s"] = time.perf_counter() - t

    print("[6/6] In the wild: I1 on a synthetic video clip, people detected, tracked and smoothed")
    t = time.perf_counter()
    clip = run_clip(models["I1"], out_dir)
    timings["clip_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - start

    summary = {
        "data": {"images": num_images, "image_size": image_size, "level": DEMO_LEVEL, "val_people": len(val_records)},
        "training": {"epochs": epochs, "steps_per_epoch": steps_per_epoch, "batch_size": recipe.batch_size,
                     "input_size": list(recipe.input_size), "heatmap_size": list(recipe.heatmap_size),
                     "backbone": recipe.backbone, "mixed_precision": recipe.mixed_precision,
                     "augmentation": recipe.augmentation, "parallel": bool(parallel)},
        "metrics": results,
        "comparison": comparison,
        "quantisation_figure": quantisation,
        "export": {name: a["parity"] for name, a in manifest["artifacts"].items()},
        "clip": clip,
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
    }
    write_json(os.path.join(out_dir, "summary.json"), summary, indent=2, default=float)
    write_text(os.path.join(out_dir, "README.md"), _report(summary))
    print(_report(summary))
    return summary


# === The clip ===

# The clip the demo tracks: two people crossing before a panning camera when the BlazePose detector is in the
# cache (the demo never downloads), else one person and the whole frame as its box.
DEMO_CLIPS = {True: dict(kind="crossing", num_frames=36, pan_px=32), False: dict(kind="single", num_frames=36)}
CLIP_SIZE = (128, 160)
CLIP_DETECT_EVERY = 4
CLIP_SHEET_FRAMES = (0, 12, 20, 35)


def run_clip(model, out_dir, detector=None):
    """Renders a short clip, runs `model` over it as `keras-integral predict` does, writes the results.

    Writes `out_dir/clip/` (the clip and its ground truth), `out_dir/video.mp4`
    (drawn), `out_dir/video.json` (the predict command's JSON) and
    `out_dir/video_frames.png` (a few drawn frames side by side).

    Args:
        model: a COCO-skeleton pose model.
        out_dir: the demo folder.
        detector: a detector callable, or None: BlazePose if its file is
            cached (`detection.blazepose.cached_path()`), else the whole frame.

    Returns:
        dict: the detector used, frames, track ids seen, mean keypoint error
        against the truth (px, matched by track), and the file names.
    """
    import cv2

    from keras_integral.data.synthetic.clips import read_clip_truth
    from keras_integral.data.synthetic.clips import write_clip
    from keras_integral.detection import blazepose
    from keras_integral.detection import detector_from_spec
    from keras_integral.inference import Predictor
    from keras_integral.inference import contact_sheet
    from keras_integral.tracking import PoseTracker
    from keras_integral.tracking import predict_video

    name = "given"
    if detector is None and blazepose.cached_path().is_file():
        detector, name = detector_from_spec(str(blazepose.cached_path())), "BlazePose"
    settings = DEMO_CLIPS[detector is not None]
    written = write_clip(os.path.join(out_dir, "clip"), settings["kind"], settings["num_frames"], seed=0,
                         image_size=CLIP_SIZE, pan_px=settings.get("pan_px", 0), level=DEMO_LEVEL)
    tracker = PoseTracker(Predictor(model), detector, detect_every=CLIP_DETECT_EVERY)
    frames, info, kept = predict_video(tracker, written["video"], os.path.join(out_dir, "video.mp4"),
                                       model.skeleton, keep_frames=CLIP_SHEET_FRAMES)
    write_json(os.path.join(out_dir, "video.json"), {"input": os.fspath(written["video"]),
                                                     "skeleton": model.skeleton, "fps": info["fps"],
                                                     "frames": frames}, indent=1)
    sheet = contact_sheet([kept[i] for i in sorted(kept)], ncols=len(kept))
    cv2.imwrite(os.path.join(out_dir, "video_frames.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    truth = read_clip_truth(written["coco_val"])
    errors = []
    for frame in frames:
        for person in frame["people"]:
            # The nearest true person (a whole-frame run has no ids to match).
            candidates = [np.linalg.norm(np.asarray(person["keypoints"]) - kp, axis=1)[v > 0].mean()
                          for kp, v in truth[frame["index"]].values() if (v > 0).sum() >= 3]
            if candidates:
                errors.append(min(candidates))
    return {"detector": name if detector is not None else "none (whole frame)", "kind": settings["kind"],
            "frames": len(frames), "detect_every": CLIP_DETECT_EVERY,
            "track_ids": sorted({p["track_id"] for f in frames for p in f["people"]}),
            "mean_error_px": float(np.mean(errors)) if errors else None,
            "files": ["video.mp4", "video.json", "video_frames.png", "clip/"]}


# === Training ===


def _train_all(recipes, data_dir, run_dirs, verbose, parallel):
    """Trains every recipe; returns {method: seconds}. In parallel: one process and one core each."""
    from keras_integral.recipes import recipe_differences
    from keras_integral.training import prepare_run_folder
    from keras_integral.training import train_in_processes
    from keras_integral.training import train_timed

    names = list(recipes)
    for m in names:  # a demo run with other numbers is started afresh (train refuses another recipe's folder)
        previous = os.path.join(run_dirs[m], "recipe.yaml")
        if os.path.isfile(previous) and recipe_differences(recipes[m], previous):
            prepare_run_folder(recipes[m], run_dirs[m], overwrite=True)
    runs = [(recipes[m], data_dir, run_dirs[m]) for m in names]
    if parallel:
        seconds = train_in_processes(runs, processes=len(runs), threads=1, verbose=verbose)
    else:
        seconds = [train_timed(*run, verbose=verbose) for run in runs]
    return dict(zip(names, seconds))


# === The comparison ===


def compare_methods(predictions_a, predictions_b, records, input_size, thresholds=TIGHT_THRESHOLDS):
    """I1 - H1 on the same people: mean keypoint error (input px) and PCK at tight thresholds, with intervals.

    Args:
        predictions_a, predictions_b: `evaluate`'s `predictions.npz` of the
            two methods (`index`, `keypoints` in image pixels).
        records: the evaluated records (COCO skeleton).
        input_size: the models' `(height, width)`: errors are converted from
            image to input-crop pixels with each person's crop scale.
        thresholds: PCK thresholds, fractions of the box's longer side.

    Returns:
        dict: `mean_error_px` and `PCK@<t>` -> the paired bootstrap result
        (`metrics.paired.paired_bootstrap`, PCK in %), `verdict` (one line).
    """
    from keras_integral.data import transforms
    from keras_integral.metrics.paired import paired_bootstrap
    from keras_integral.metrics.paired import person_sums

    index = np.intersect1d(predictions_a["index"], predictions_b["index"])
    people = [records[i] for i in index]
    gt = np.stack([r.keypoints[:, :2] for r in people]).astype(np.float64)
    weights = np.stack([r.weights[:, :2] for r in people])
    boxes = np.stack([r.box for r in people]).astype(np.float64)
    _, crop_sizes = transforms.box_to_crop(boxes, input_size)
    input_px_per_image_px = input_size[1] / crop_sizes[:, 0]
    longer_side = boxes[:, 2:].max(axis=1)
    sums = {}
    for name, predictions in (("a", predictions_a), ("b", predictions_b)):
        order = np.searchsorted(predictions["index"], index)
        sums[name] = person_sums(predictions["keypoints"][order, :, :2], gt, weights, scale=input_px_per_image_px,
                                 normalizer=longer_side, thresholds=thresholds)
    count = sums["a"]["count"]
    result = {"mean_error_px": paired_bootstrap(sums["a"]["error"], sums["b"]["error"], count,
                                                num_resamples=BOOTSTRAP_RESAMPLES)}
    for t in thresholds:
        key = f"within@{t:g}"
        result[f"PCK@{t:g}"] = paired_bootstrap(100 * sums["a"][key], 100 * sums["b"][key], count,
                                                num_resamples=BOOTSTRAP_RESAMPLES)
    result["mean_error_px"]["I1"] = float(sums["a"]["error"].sum() / count.sum())
    result["mean_error_px"]["H1"] = float(sums["b"]["error"].sum() / count.sum())
    result["verdict"] = verdict(result["mean_error_px"], "mean keypoint error", "px", lower_is_better=True)
    return result


def verdict(interval, quantity, unit, lower_is_better):
    """One line: which method is ahead on `quantity` and whether the 95 % interval of I1 - H1 excludes zero."""
    d, low, high = interval["difference"], interval["low"], interval["high"]
    ahead = "I1" if (d < 0) == lower_is_better else "H1"
    if d == 0:
        ahead = "neither"
    span = f"I1 - H1 = {d:+.2f} {unit}, {100 * interval['confidence']:.0f} % interval [{low:+.2f}, {high:+.2f}]"
    if interval["excludes_zero"]:
        return f"{ahead} is ahead on {quantity} ({span}, {interval['num_people']} people): the interval excludes zero."
    return (f"{ahead} is ahead on {quantity} by a margin the data cannot separate from zero "
            f"({span}, {interval['num_people']} people): within noise.")


# === Pictures ===


def plot_quantisation(models, records, predictions, path):
    """quantisation.png: one joint's H1 and I1 heat maps as their grids, the truth and both decoded points.

    The joint is typical, not chosen to flatter either method: among the
    labelled joints that both methods place within one heat-map cell (flip
    test), the one whose H1 error is the median. Returns what was drawn (record, joint, errors).
    """
    from keras_integral import skeletons
    from keras_integral.data import pipeline
    from keras_integral.data import transforms
    from keras_integral.evaluate import plot_heatmap_decoding

    model = models["I1"]
    input_size = tuple(model.input_size)
    cell_px = input_size[1] / model.heatmap_size[1]
    index = np.intersect1d(predictions["I1"]["index"], predictions["H1"]["index"])
    people = [records[i] for i in index]
    boxes = np.stack([r.box for r in people]).astype(np.float64)
    centers, sizes = transforms.box_to_crop(boxes, input_size)
    to_input = input_size[1] / sizes[:, 0]
    gt = np.stack([r.keypoints[:, :2] for r in people]).astype(np.float64)
    labelled = np.stack([r.weights[:, 0] for r in people]) > 0
    errors = {}
    for method in METHODS:
        order = np.searchsorted(predictions[method]["index"], index)
        predicted = predictions[method]["keypoints"][order, :, :2]
        errors[method] = np.linalg.norm(predicted - gt, axis=-1) * to_input[:, None]
    candidates = np.argwhere(labelled & (errors["I1"] < cell_px) & (errors["H1"] < cell_px))
    if not len(candidates):
        return None
    h1 = errors["H1"][candidates[:, 0], candidates[:, 1]]
    person, joint = candidates[np.argsort(h1)[len(h1) // 2]]
    record = people[person]
    dataset = pipeline.make_dataset([record], "coco", input_size, training=False, batch_size=1, dims=2,
                                    with_meta=True)
    crop, _, meta = next(iter(dataset))
    crop = crop.numpy()
    image_to_crop = transforms.invert_affine(meta["crop_to_image"].numpy())
    truth = transforms.apply_affine(image_to_crop, gt[person][None])[0, joint]
    panels = []
    for method, colour, label in (("H1", "#ff3030", "H1: arg-max + quarter shift"),
                                  ("I1", "#30a0ff", "I1: expectation (integral)")):
        out = models[method](crop, training=False)
        logits = np.asarray(out["heatmaps"][0, :, :, joint], np.float64)
        # What each decoder reads: arg-max the raw map, the integral its softmax.
        shown = _softmax(logits) if methods.get(method).decoder == "integral" else logits
        panels.append({"label": label, "heatmap": shown, "point": np.asarray(out["keypoints"][0, joint]),
                       "colour": colour})
    name = skeletons.get("coco").joint_names[joint]
    plot_heatmap_decoding(crop[0], truth, panels, path,
                          title=f"{name} of val image {record.image_id}, one cell = {cell_px:g} input px "
                                "(o truth, x decoded, dot: arg-max cell centre; no flip test)")
    return {"image_id": int(record.image_id), "joint": name, "cell_px": cell_px,
            "error_px_flip_test": {m: float(errors[m][person, joint]) for m in METHODS}}


def _softmax(logits):
    e = np.exp(logits - logits.max())
    return e / e.sum()


# === The report ===


def _clip_lines(clip):
    error = "n/a" if clip["mean_error_px"] is None else f"{clip['mean_error_px']:.2f} px"
    how = ("no detector (BlazePose not cached; `keras-integral predict ... --detector blazepose` fetches it "
           "once), the whole frame as the person's box" if clip["detector"].startswith("none") else
           f"detector {clip['detector']} every {clip['detect_every']} frames, crops following the keypoints in "
           "between")
    return (f"In the wild: I1 over a {clip['frames']}-frame synthetic clip ({clip['kind']}), {how}, "
            f"One Euro smoothing: track ids {clip['track_ids']}, mean keypoint error {error} against the truth. "
            "Files: video.mp4, video.json, video_frames.png (frames " + ", ".join(map(str, CLIP_SHEET_FRAMES))
            + "), clip/ (the clip and its ground truth).\n")


def _report(summary):
    m, c = summary["metrics"], summary["comparison"]
    t = summary["training"]
    rows = [("AP (COCO OKS)", "AP", 100.0), ("AP50", "AP50", 100.0), ("PCK@0.02 (box)", "PCK@0.02", 1.0),
            ("PCK@0.05 (box)", "PCK@0.05", 1.0), ("PCK@0.1 (box)", "PCK@0.1", 1.0),
            ("AUC PCK [0, 0.1]", "PCK_AUC", 1.0)]
    lines = [
        "# keras-integral demo",
        "",
        f"Synthetic set: {summary['data']['images']} images of {summary['data']['image_size']} px "
        f"({summary['data']['level']} scenes), {summary['data']['val_people']} people held out. "
        f"{t['backbone']} at {t['input_size'][0]}x{t['input_size'][1]} (heat maps "
        f"{t['heatmap_size'][0]}x{t['heatmap_size'][1]}: "
        f"a cell is {t['input_size'][1] // t['heatmap_size'][1]} input px), "
        f"{t['epochs']} x {t['steps_per_epoch']} steps of {t['batch_size']}, trained from scratch "
        f"({t['mixed_precision'] or 'float32'}, flips only); flip test.",
        "",
        "| metric | I1 (integral) | H1 (heat map) |",
        "|---|---|---|",
    ]
    for label, key, scale in rows:
        lines.append(f"| {label} | {m['I1'].get(key, float('nan')) * scale:.1f} | "
                     f"{m['H1'].get(key, float('nan')) * scale:.1f} |")
    error = c["mean_error_px"]
    lines += ["", "Where arg-max quantisation bites: the same people, I1 - H1, 95 % bootstrap interval over "
              f"{error['num_people']} people ({error['num_resamples']} resamples):", "",
              "| quantity | I1 - H1 | 95 % interval | interval excludes 0 |", "|---|---|---|---|"]
    lines.append(f"| mean keypoint error (input px; I1 {error['I1']:.2f}, H1 {error['H1']:.2f}) | "
                 f"{error['difference']:+.2f} | [{error['low']:+.2f}, {error['high']:+.2f}] | "
                 f"{error['excludes_zero']} |")
    for key in (k for k in c if k.startswith("PCK@")):
        r = c[key]
        lines.append(f"| {key} of the box (points) | {r['difference']:+.1f} | [{r['low']:+.1f}, {r['high']:+.1f}] | "
                     f"{r['excludes_zero']} |")
    lines += ["", f"**Verdict:** {c['verdict']}", ""]
    lines += ["Exported I1, keypoint error against Keras on held-out crops (input pixels):", "",
              "| artifact | mean px | max px | within target |", "|---|---|---|---|"]
    for name, parity in summary["export"].items():
        lines.append(f"| {name} | {parity['mean_px']:.4f} | {parity['max_px']:.4f} | {parity['within_target']} |")
    # quantisation.png needs a joint both methods place within one cell: none after a few-step run.
    figure = "quantisation.png, " if summary["quantisation_figure"] else ""
    lines += ["", "Files: pck_curves.png, skeletons_i1.png, skeletons_h1.png (prediction in side colours, "
              f"ground truth thin white), {figure}export/ (manifest.json), "
              "runs/<method>/ (model.keras, log.csv, eval/report.json).", "",
              _clip_lines(summary["clip"]),
              "Timings (s): " + ", ".join(f"{k[:-2]} {v}" for k, v in summary["timings_s"].items()), ""]
    return "\n".join(lines)
