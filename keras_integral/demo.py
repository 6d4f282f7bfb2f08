"""`keras-integral demo`: the whole library end to end on a CPU in about ten minutes, offline.

1. Generate a synthetic pose set (procedural people, COCO format).
2. Train two ResNet-18 models the same way: I1 (integral regression, heat-map
   loss then joint loss) and its heat-map baseline H1.
3. Evaluate both on the held-out images (flip test): COCO AP and PCK at fine
   thresholds of the person box, where integral regression should win.
4. Export I1 (SavedModel, TFLite fp32 + int8, ONNX) and check each artifact's
   keypoints against Keras.
5. Write OUT/README.md (the metrics table), pck_curves.png (both methods),
   skeletons_i1.png / skeletons_h1.png (predicted skeletons) and summary.json.

The time budget is split by measuring: each model trains for a fixed number of
steps chosen so the whole run fits `--minutes` on a 2-core machine.
"""

import json
import os
import shutil
import time

import numpy as np

from keras_integral.recipes import recipe_differences
from keras_integral.recipes import recipe_from_dict

DEMO_RECIPE = dict(
    dataset="coco",
    train_annotations="coco/annotations/person_keypoints_train.json",
    train_images="coco/images",
    val_annotations="coco/annotations/person_keypoints_val.json",
    val_images="coco/images",
    backbone="resnet18",
    skeleton="coco",
    input_size=[64, 64],
    heatmap_size=[16, 16],
    batch_size=32,
    seed=0,
)


def demo_recipe(method, epochs, steps_per_epoch):
    """The demo's recipe for `method` ("I1" or "H1"): same data, model size and schedule."""
    values = dict(DEMO_RECIPE, method=method, epochs=epochs, steps_per_epoch=steps_per_epoch,
                  lr_drops=[max(1, epochs - 1)])
    if method == "I1":
        if not isinstance(epochs, int) or epochs < 2:
            raise ValueError(f"demo: epochs must be at least 2 (I1 trains the heat-map loss, then the joint "
                             f"loss), got {epochs!r}.")
        values["phase_switch_epoch"] = max(1, (2 * epochs) // 5)  # 40 % heat maps, then the joint loss
    return recipe_from_dict(values, source="demo")


def run_demo(out_dir, num_images=1500, image_size=128, epochs=10, steps_per_epoch=40, verbose=2):
    """Runs the demo into `out_dir`; returns the summary dict (also in `out_dir/summary.json`)."""
    from keras_integral.data import coco
    from keras_integral.data import synthetic
    from keras_integral.evaluate import evaluate
    from keras_integral.evaluate import plot_pck_curves
    from keras_integral.export import export
    from keras_integral.export import representative_crops
    from keras_integral.training import train

    demo_recipe("I1", epochs, steps_per_epoch)  # bad numbers fail before the data are generated
    os.makedirs(out_dir, exist_ok=True)
    timings = {}
    start = time.perf_counter()
    data_dir = os.path.join(out_dir, "data")
    print(f"[1/4] Generating {num_images} synthetic images ({image_size}x{image_size}) in {data_dir}")
    written = synthetic.generate(data_dir, num_images, seed=0, image_size=(image_size, image_size),
                                 verbose=min(verbose, 1))
    timings["generate_s"] = time.perf_counter() - start

    val_file = os.fspath(written["coco_val"])
    val_records = coco.load_records(val_file, os.fspath(written["coco_images"]))
    results, curves = {}, {}
    for number, method in enumerate(("I1", "H1"), start=2):
        recipe = demo_recipe(method, epochs, steps_per_epoch)
        run_dir = os.path.join(out_dir, "runs", method.lower())
        print(f"[{number}/4] Training {method}: ResNet-18, {recipe.input_size[0]}x{recipe.input_size[1]} crops, "
              f"{epochs} x {steps_per_epoch} steps of {recipe.batch_size} -> {run_dir}")
        t = time.perf_counter()
        previous = os.path.join(run_dir, "recipe.yaml")  # a demo run with other numbers: start afresh
        again = os.path.isfile(previous) and bool(recipe_differences(recipe, previous))
        model, _ = train(recipe, data_dir, run_dir, verbose=verbose, overwrite=again)
        timings[f"train_{method}_s"] = time.perf_counter() - t
        t = time.perf_counter()
        metrics = evaluate(model, val_records, "coco", out_dir=os.path.join(run_dir, "eval"), flip_test=True,
                           annotation_file=val_file, verbose=0)
        timings[f"evaluate_{method}_s"] = time.perf_counter() - t
        with open(os.path.join(run_dir, "eval", "report.json")) as f:
            curve = json.load(f)["pck_curve"]
        curves[method] = (np.array(curve["alphas"]), np.array(curve["pck"]))
        results[method] = {"metrics": metrics, "model": model}
        shutil.copy(os.path.join(run_dir, "eval", "contact_sheet.png"),
                    os.path.join(out_dir, f"skeletons_{method.lower()}.png"))
    plot_pck_curves(curves, os.path.join(out_dir, "pck_curves.png"),
                    "Synthetic val: PCK of the box's longer side (flip test)")

    print("[4/4] Exporting I1: SavedModel, TFLite fp32 + int8, ONNX; parity against Keras")
    t = time.perf_counter()
    model = results["I1"]["model"]
    crops = representative_crops(val_records, model, num=64)
    export_dir = os.path.join(out_dir, "export")
    shutil.rmtree(export_dir, ignore_errors=True)
    # A ten-minute model is far from converged; record its parity rather than fail on it.
    manifest = export(model, export_dir, quantize=("fp32", "int8"), representative_data=crops,
                      allow_parity_loss=True)
    timings["export_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - start

    summary = {
        "data": {"images": num_images, "image_size": image_size, "val_people": len(val_records)},
        "training": {"epochs": epochs, "steps_per_epoch": steps_per_epoch, "batch_size": DEMO_RECIPE["batch_size"],
                     "input_size": DEMO_RECIPE["input_size"], "heatmap_size": DEMO_RECIPE["heatmap_size"]},
        "metrics": {m: r["metrics"] for m, r in results.items()},
        "export": {name: a["parity"] for name, a in manifest["artifacts"].items()},
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
    }
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2, default=float)
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write(_report(summary))
    print(_report(summary))
    return summary


def _report(summary):
    m = summary["metrics"]
    rows = [("AP (COCO OKS)", "AP", 100.0), ("AP50", "AP50", 100.0), ("PCK@0.02 (box)", "PCK@0.02", 1.0),
            ("PCK@0.05 (box)", "PCK@0.05", 1.0), ("PCK@0.1 (box)", "PCK@0.1", 1.0), ("AUC PCK [0, 0.1]", "PCK_AUC", 1.0)]
    lines = [
        "# keras-integral demo",
        "",
        f"Synthetic set: {summary['data']['images']} images of {summary['data']['image_size']} px, "
        f"{summary['data']['val_people']} people held out. ResNet-18 at "
        f"{summary['training']['input_size'][0]}x{summary['training']['input_size'][1]} "
        f"(heat maps {summary['training']['heatmap_size'][0]}x{summary['training']['heatmap_size'][1]}), "
        f"{summary['training']['epochs']} x {summary['training']['steps_per_epoch']} steps of "
        f"{summary['training']['batch_size']}, trained from scratch; flip test.",
        "",
        "| metric | I1 (integral) | H1 (heat map) |",
        "|---|---|---|",
    ]
    for label, key, scale in rows:
        lines.append(f"| {label} | {m['I1'].get(key, float('nan')) * scale:.1f} | "
                     f"{m['H1'].get(key, float('nan')) * scale:.1f} |")
    lines += ["", "Exported I1, keypoint error against Keras on held-out crops (input pixels):", "",
              "| artifact | mean px | max px | within target |", "|---|---|---|---|"]
    for name, parity in summary["export"].items():
        lines.append(f"| {name} | {parity['mean_px']:.4f} | {parity['max_px']:.4f} | {parity['within_target']} |")
    lines += ["", "Files: pck_curves.png, skeletons_i1.png, skeletons_h1.png, export/ (manifest.json), "
              "runs/<method>/ (model.keras, log.csv, eval/report.json).", "",
              "Timings (s): " + ", ".join(f"{k[:-2]} {v}" for k, v in summary["timings_s"].items()), ""]
    return "\n".join(lines)
