"""The paper's ablations on the synthetic set, at the scale of a 2-core CPU, with seeds.

    python benchmarks/synthetic_ablations.py --out runs/ablations

Generates the data (easy scenes, 128x128: the 2D/3D set with seed 0, the extra
2D set with seed 1), trains every `recipes/synthetic/*d_*.yaml` once per seed
(default 3 seeds; two trainings at a time, one core each; a finished run is
kept, so a killed benchmark resumes), evaluates each on its held-out split
with the flip test, and writes OUT/results.md (the README's tables and the
verdicts) and OUT/results.json (every run).

The cells, as in the paper:
(a) Table 1: I1 vs H1 (and R1, I*) at tight thresholds, 16x16 heat maps on
    64x64 crops (a cell is 4 input pixels);
(b) Table 2: the heat map halved to 8x8: H1 should lose much more than I1;
(c) Table 7: 3D, I2 vs H2 (two-step integral, 16x16x16), and strategy 2:
    extra 2D-only images mixed half and half into the 3D batches.

A verdict compares two means over seeds: "holds" when the difference goes the
paper's way by more than twice its standard error (the seeds' spread),
"does not hold" when it goes the other way by as much, "within noise" else.
"""

import argparse
import glob
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LEVEL = "easy"
NOISE_SE = 2.0  # a difference counts when it exceeds this many standard errors
# (claim, quantity, cell A, cell B, +1 when the paper says A > B, -1 when A < B)
CLAIMS = (
    ("(a) I1 beats H1 at PCK@0.05 of the box (16x16)", "PCK@0.05", "coco2d_i1_hm16", "coco2d_h1_hm16", +1),
    ("(a) I1 beats H1 at PCK@0.02 of the box (16x16)", "PCK@0.02", "coco2d_i1_hm16", "coco2d_h1_hm16", +1),
    ("(a) I1 has the lower mean keypoint error (16x16)", "error_px", "coco2d_i1_hm16", "coco2d_h1_hm16", -1),
    ("(a) I1 beats R1 at PCK@0.05", "PCK@0.05", "coco2d_i1_hm16", "coco2d_r1", +1),
    ("(a) I1 beats I* at PCK@0.05", "PCK@0.05", "coco2d_i1_hm16", "coco2d_istar_hm16", +1),
    ("(c) I2 has the lower MPJPE than H2 (3D only)", "MPJPE", "h36m3d_i2_hm16", "h36m3d_h2_hm16", -1),
    ("(c) extra 2D images lower I2's MPJPE", "MPJPE", "h36m3d_i2_hm16_mixed2d", "h36m3d_i2_hm16", -1),
    ("(c) extra 2D images lower H2's MPJPE", "MPJPE", "h36m3d_h2_hm16_mixed2d", "h36m3d_h2_hm16", -1),
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--num-images", type=int, default=4000, help="images per synthetic set")
    parser.add_argument("--seeds", type=int, default=3, help="trainings per cell (seeds 0, 1, ...)")
    parser.add_argument("--only", default="", help="run the cells whose name contains this text")
    parser.add_argument("--processes", type=int, default=None, help="trainings at a time (default: one per core)")
    parser.add_argument("--epochs", type=int, default=None, help="override the recipes' epochs (smoke tests)")
    parser.add_argument("--steps-per-epoch", type=int, default=None, help="override the recipes' steps per epoch")
    args = parser.parse_args()

    from keras_integral.data import synthetic
    from keras_integral.recipes import load_recipe
    from keras_integral.training import train_in_processes

    start = time.perf_counter()
    data_dir = os.path.join(args.out, "data")
    for name, seed in (("synth", 0), ("synth2d", 1)):
        if not os.path.isfile(os.path.join(data_dir, name, "README.md")):
            synthetic.generate(os.path.join(data_dir, name), args.num_images, seed=seed, image_size=(128, 128),
                               level=LEVEL, verbose=0)
    results_path = os.path.join(args.out, "results.json")
    results = json.load(open(results_path)) if os.path.isfile(results_path) else {"runs": {}}
    paths = sorted(glob.glob(os.path.join(ROOT, "recipes", "synthetic", "*d_*.yaml")))
    todo = []
    for path in paths:
        cell = os.path.splitext(os.path.basename(path))[0]
        for seed in range(args.seeds):
            run = f"{cell}_seed{seed}"
            if args.only in cell and run not in results["runs"]:
                todo.append((cell, run, load_recipe(path, seed=seed, epochs=args.epochs,
                                                    steps_per_epoch=args.steps_per_epoch)))
    print(f"{len(todo)} trainings to run ({len(paths)} cells x {args.seeds} seeds, finished ones kept)", flush=True)
    for i in range(0, len(todo), 8):  # in chunks, so a killed benchmark loses little
        chunk = todo[i : i + 8]
        runs = [(recipe, data_dir, os.path.join(args.out, "runs", run)) for _, run, recipe in chunk]
        seconds = train_in_processes(runs, processes=args.processes)
        for (cell, run, recipe), train_s in zip(chunk, seconds):
            metrics = evaluate_run(recipe, data_dir, os.path.join(args.out, "runs", run))
            results["runs"][run] = {"cell": cell, "seed": recipe.seed, "method": recipe.method,
                                    "heatmap_size": recipe.heatmap_size, "mixed": bool(recipe.mix_dataset),
                                    "train_s": round(train_s), "metrics": metrics}
            print(f"{run}: {json.dumps({k: round(v, 2) for k, v in metrics.items()})} ({train_s:.0f} s)", flush=True)
        with open(results_path, "w") as f:
            json.dump(results, f, indent=2, default=float)
    results["wall_s_this_invocation"] = round(time.perf_counter() - start)
    with open(results_path, "w") as f:
        json.dump(results, f, indent=2, default=float)
    report = tables(results["runs"], args.seeds)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(report)
    print(report)
    print(f"Wall time of this invocation: {results['wall_s_this_invocation'] / 60:.1f} min")


def evaluate_run(recipe, data_dir, run_dir):
    """The run's model (float32) on its held-out split, flip test: PCK of the box and the mean error, or MPJPE."""
    import keras

    from keras_integral.evaluate import evaluate
    from keras_integral.training import float32_model
    from keras_integral.training import load_split

    model = float32_model(keras.saving.load_model(os.path.join(run_dir, "model.keras")))
    records = load_split(recipe, data_dir, "val")
    annotations = os.path.join(data_dir, recipe.val_annotations) if recipe.dataset == "coco" else None
    out_dir = os.path.join(run_dir, "eval")
    metrics = evaluate(model, records, recipe.dataset, out_dir=out_dir, flip_test=True, annotation_file=annotations,
                       max_sheet_images=0, verbose=0)
    if recipe.dataset == "coco":
        kept = {k: metrics[k] for k in ("AP", "PCK@0.02", "PCK@0.05", "PCK@0.1", "PCK_AUC")}
        kept["error_px"] = mean_error_input_px(np.load(os.path.join(out_dir, "predictions.npz")), records,
                                               tuple(recipe.input_size))
        return kept
    return {k: metrics[k] for k in ("MPJPE", "PA-MPJPE")}


def mean_error_input_px(predictions, records, input_size):
    """Mean keypoint error over all labelled joints, in input-crop pixels (each person's crop scale)."""
    from keras_integral.data import transforms
    from keras_integral.metrics.paired import person_sums

    people = [records[i] for i in predictions["index"]]
    boxes = np.stack([r.box for r in people]).astype(np.float64)
    _, crop_sizes = transforms.box_to_crop(boxes, input_size)
    sums = person_sums(predictions["keypoints"][..., :2], np.stack([r.keypoints[:, :2] for r in people]),
                       np.stack([r.weights[:, :2] for r in people]), scale=input_size[1] / crop_sizes[:, 0])
    return float(sums["error"].sum() / sums["count"].sum())


def cell_values(runs, cell, key):
    return np.array([r["metrics"][key] for r in runs.values() if r["cell"] == cell], np.float64)


def mean_std(values):
    if not len(values):
        return "-"
    return f"{values.mean():.1f} ± {values.std(ddof=1):.1f}" if len(values) > 1 else f"{values.mean():.1f}"


def judge(a, b, sign):
    """'holds' / 'does not hold' / 'within noise' for the paper's claim sign * (mean a - mean b) > 0."""
    if len(a) < 2 or len(b) < 2:
        return "not enough seeds", float("nan"), float("nan")
    difference = a.mean() - b.mean()
    se = np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    if sign * difference > NOISE_SE * se:
        return "holds", difference, se
    if sign * difference < -NOISE_SE * se:
        return "does not hold", difference, se
    return "within noise", difference, se


def tables(runs, seeds):
    cells = sorted({r["cell"] for r in runs.values()})
    lines = [f"2D, synthetic COCO-format val ({LEVEL} scenes), flip test; mean ± std over seeds "
             "(PCK in % of the box's longer side, error in input pixels):", "",
             "| method | heat map | seeds | PCK@0.02 | PCK@0.05 | PCK@0.1 | mean error px | AP | train s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for cell in cells:
        members = [r for r in runs.values() if r["cell"] == cell]
        if not cell.startswith("coco2d"):
            continue
        hm = members[0]["heatmap_size"]
        hm = "-" if not hm else f"{hm[0]}x{hm[1]}"
        values = {k: cell_values(runs, cell, k) for k in ("PCK@0.02", "PCK@0.05", "PCK@0.1", "error_px", "AP")}
        train_s = np.mean([r["train_s"] for r in members])
        lines.append(f"| {members[0]['method']} | {hm} | {len(members)} | {mean_std(values['PCK@0.02'])} | "
                     f"{mean_std(values['PCK@0.05'])} | {mean_std(values['PCK@0.1'])} | "
                     f"{mean_std(values['error_px'])} | {mean_std(100 * values['AP'])} | {train_s:.0f} |")
    lines += ["", "3D, synthetic Human3.6M-layout test split (protocol 2: S9, S11), flip test, mm, mean ± std over seeds:",
              "", "| method | training data | seeds | MPJPE | PA-MPJPE | train s |", "|---|---|---|---|---|---|"]
    for cell in cells:
        members = [r for r in runs.values() if r["cell"] == cell]
        if not cell.startswith("h36m3d"):
            continue
        data = "3D + extra 2D (half/half)" if members[0]["mixed"] else "3D only"
        train_s = np.mean([r["train_s"] for r in members])
        lines.append(f"| {members[0]['method']} | {data} | {len(members)} | {mean_std(cell_values(runs, cell, 'MPJPE'))} | "
                     f"{mean_std(cell_values(runs, cell, 'PA-MPJPE'))} | {train_s:.0f} |")
    lines += ["", f"Verdicts (a difference counts beyond {NOISE_SE:g} standard errors of the seeds' spread):", "",
              "| claim | A - B | standard error | verdict |", "|---|---|---|---|"]
    claims = list(CLAIMS)
    # (b): what halving the heat map costs each method, per seed-averaged cell.
    halving = {}
    for method in ("h1", "i1"):
        full = cell_values(runs, f"coco2d_{method}_hm16", "PCK@0.05")
        half = cell_values(runs, f"coco2d_{method}_hm8", "PCK@0.05")
        if len(full) == len(half) and len(full):
            halving[method] = full - half
    for name, key, a, b, sign in claims:
        verdict, difference, se = judge(cell_values(runs, a, key), cell_values(runs, b, key), sign)
        lines.append(f"| {name} ({key}) | {difference:+.2f} | {se:.2f} | {verdict} |")
    if len(halving) == 2:
        verdict, difference, se = judge(halving["h1"], halving["i1"], +1)
        lines.append(f"| (b) halving the heat map (16x16 -> 8x8) costs H1 more PCK@0.05 than I1 "
                     f"(H1 loses {halving['h1'].mean():.1f}, I1 {halving['i1'].mean():.1f}) | {difference:+.2f} | "
                     f"{se:.2f} | {verdict} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
