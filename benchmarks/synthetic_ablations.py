"""The paper's ablations on the synthetic set, at the scale of a 2-core CPU, with seeds.

    python benchmarks/synthetic_ablations.py --out runs/ablations
    python benchmarks/synthetic_ablations.py --out /tmp/ablations_smoke --smoke   # end to end in minutes

Generates the data (easy scenes, 128x128: the 2D/3D set with seed 0, the extra
2D set with seed 1), trains every `recipes/synthetic/*d_*.yaml` once per seed
(default 3 seeds), evaluates each on its held-out split with the flip test,
and writes OUT/results.md (the README's tables, the verdicts and the wall
time) and OUT/results.json (every run). Trainings run side by side, one
process and one core each (default: one process per core); each process
trains and then evaluates its run, so no core waits, and is fresh, so a
run's numbers do not depend on what ran before it. A finished run is kept
in results.json and a killed training resumes from its backup, so a killed
benchmark loses little.

The cells, as in the paper:
(a) Table 1: I1 vs H1 (and R1, I*) at tight thresholds, 16x16 heat maps on
    64x64 crops (a cell is 4 input pixels);
(b) Table 2: the heat map halved to 8x8: H1 should lose much more than I1;
(c) Table 7: 3D, I2 vs H2 (two-step integral, 16x16x16), and strategy 2:
    extra 2D-only images mixed half and half into the 3D batches; beside
    them, what a model that learned nothing scores (the training split's
    mean pose for everyone).

A verdict compares two means over seeds: "holds" when the difference goes the
paper's way by more than twice its standard error (from the seeds' spread),
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
IMAGE_SIZE = (128, 128)
DATA_SETS = (("synth", 0), ("synth2d", 1))  # (folder under OUT/data, seed): the recipes' data paths
NOISE_SE = 2.0  # a difference counts when it exceeds this many standard errors
# --smoke: every cell and seed, end to end, on a tiny schedule (checks the machinery, measures nothing).
SMOKE = {"num_images": 120, "epochs": 2, "steps_per_epoch": 2}
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
# (b): what halving the heat map (16x16 -> 8x8) costs each method at this quantity.
HALVING = ("(b) halving the heat map (16x16 -> 8x8) costs H1 more PCK@0.05 than I1", "PCK@0.05",
           ("coco2d_h1_hm16", "coco2d_h1_hm8"), ("coco2d_i1_hm16", "coco2d_i1_hm8"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--num-images", type=int, default=4000, help="images per synthetic set")
    parser.add_argument("--seeds", type=int, default=3, help="trainings per cell (seeds 0, 1, ...)")
    parser.add_argument("--only", default="", help="run the cells whose name contains this text")
    parser.add_argument("--processes", type=int, default=None, help="trainings at a time (default: one per core)")
    parser.add_argument("--epochs", type=int, default=None, help="override the recipes' epochs")
    parser.add_argument("--steps-per-epoch", type=int, default=None, help="override the recipes' steps per epoch")
    parser.add_argument("--smoke", action="store_true",
                        help=f"a tiny end-to-end run ({SMOKE['num_images']} images, {SMOKE['epochs']} x "
                             f"{SMOKE['steps_per_epoch']} steps): checks the machinery, measures nothing")
    args = parser.parse_args()
    if args.smoke:
        for key, value in SMOKE.items():
            setattr(args, key, value)

    from keras_integral import files
    from keras_integral.data import synthetic
    from keras_integral.processes import default_processes
    from keras_integral.processes import in_processes
    from keras_integral.recipes import load_recipe

    start = time.perf_counter()
    data_dir = os.path.join(args.out, "data")
    for name, seed in DATA_SETS:
        if not os.path.isfile(os.path.join(data_dir, name, "README.md")):
            synthetic.generate(os.path.join(data_dir, name), args.num_images, seed=seed, image_size=IMAGE_SIZE,
                               level=LEVEL, verbose=0)
    generate_s = time.perf_counter() - start
    results_path = os.path.join(args.out, "results.json")
    results = {"runs": {}, "invocations": [], "baselines": {}}
    if os.path.isfile(results_path):
        results.update(json.load(open(results_path)))
    todo = trainings(args, results["runs"])
    processes = args.processes or default_processes(len(todo))
    print(f"{len(todo)} trainings to run, {processes} at a time (finished ones kept)", flush=True)
    tasks = [(cell, run, recipe, data_dir, os.path.join(args.out, "runs", run)) for cell, run, recipe in todo]
    for _, (run, entry) in in_processes(_train_and_evaluate, tasks, processes, threads=1):
        results["runs"][run] = entry
        print(f"{run}: {json.dumps({k: round(v, 2) for k, v in entry['metrics'].items()})} "
              f"(train {entry['train_s']} s, evaluate {entry['evaluate_s']} s)", flush=True)
        files.write_json(results_path, results, indent=2)
    if any(r["cell"].startswith("h36m3d") for r in results["runs"].values()):
        results["baselines"]["h36m3d_mean_pose"] = mean_pose_baseline(
            load_recipe(os.path.join(ROOT, "recipes", "synthetic", "h36m3d_i2_hm16.yaml")), data_dir)
    wall_s = time.perf_counter() - start
    results["invocations"].append({
        "wall_s": round(wall_s), "generate_s": round(generate_s), "trainings": len(todo), "processes": processes,
        "cpu_count": os.cpu_count(), "schedule": "smoke" if args.smoke else "recipes"
        if args.epochs is None and args.steps_per_epoch is None
        else f"{args.epochs} x {args.steps_per_epoch} (override)"})
    files.write_json(results_path, results, indent=2)
    report = tables(results["runs"], results["baselines"]) + "\n" + invocations(results["invocations"])
    files.write_text(os.path.join(args.out, "results.md"), report)
    print(report)


def trainings(args, finished):
    """`[(cell, run, recipe)]` still to train, the 3D cells (slowest) first so the last ones finish together.

    Raises:
        ValueError: a finished run in `args.out` was trained with another
            recipe than the one it would get now (an edited recipe or another
            schedule): its numbers must not join these.
    """
    from keras_integral import methods
    from keras_integral.recipes import load_recipe
    from keras_integral.recipes import recipe_differences

    todo = []
    for path in sorted(glob.glob(os.path.join(ROOT, "recipes", "synthetic", "*d_*.yaml")), reverse=True):
        cell = os.path.splitext(os.path.basename(path))[0]
        if args.only not in cell:
            continue
        original = load_recipe(path)
        switch = original.phase_switch_epoch
        if args.epochs is not None and methods.get(original.method).two_phase and switch is not None:
            # Keep the recipe's fraction of heat-map-loss epochs on an overridden schedule.
            switch = max(1, min(args.epochs - 1, round(switch / original.epochs * args.epochs)))
        for seed in range(args.seeds):
            run = f"{cell}_seed{seed}"
            recipe = load_recipe(path, seed=seed, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
                                 phase_switch_epoch=switch)
            if run not in finished:
                todo.append((cell, run, recipe))
                continue
            stored = os.path.join(args.out, "runs", run, "recipe.yaml")
            if not os.path.isfile(stored):
                raise ValueError(f"{args.out}: results.json lists the finished run {run}, but {stored} is missing: "
                                 "what it was trained with is unknown. Give another --out.")
            differences = recipe_differences(recipe, stored)
            if differences:
                shown = ", ".join(f"{key}: {old!r} -> {new!r}" for key, old, new in differences[:3])
                raise ValueError(f"{args.out}: the finished run {run} was trained with another recipe ({shown}); "
                                 "its numbers would mix with these. Give another --out.")
    return todo


def _train_and_evaluate(cell, run, recipe, data_dir, run_dir):
    """Trains one run and evaluates it (in a worker process); returns `(run, results.json entry)`."""
    from keras_integral.training import train_timed

    timer = step_timer()
    train_s = train_timed(recipe, data_dir, run_dir, callbacks=[timer])
    start = time.perf_counter()
    metrics = evaluate_run(recipe, data_dir, run_dir)
    evaluate_s = time.perf_counter() - start
    return run, {"cell": cell, "seed": recipe.seed, "method": recipe.method,
                 "heatmap_size": list(recipe.heatmap_size) if recipe.heatmap_size else None,
                 "mixed": bool(recipe.mix_dataset), "steps": recipe.epochs * recipe.steps_per_epoch,
                 "train_s": round(train_s), "s_per_step": timer.seconds_per_step(), "evaluate_s": round(evaluate_s),
                 "metrics": metrics}


def step_timer(warm_up=5):
    """A Keras callback that measures the steady seconds per training step, after `warm_up` steps of tracing.

    `seconds_per_step()` is None for a run too short to measure, or that resumed past the warm-up.
    """
    import keras

    class StepTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.steps, self.first, self.last = 0, None, None

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1
            if self.steps == warm_up:
                self.first = time.perf_counter()
            self.last = time.perf_counter()

        def seconds_per_step(self):
            if self.first is None or self.steps <= warm_up:
                return None
            return round((self.last - self.first) / (self.steps - warm_up), 4)

    return StepTimer()


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
        kept = {k: float(metrics[k]) for k in ("AP", "PCK@0.02", "PCK@0.05", "PCK@0.1", "PCK_AUC")}
        kept["error_px"] = mean_error_input_px(np.load(os.path.join(out_dir, "predictions.npz")), records,
                                               tuple(recipe.input_size))
        return kept
    return {k: float(metrics[k]) for k in ("MPJPE", "PA-MPJPE")}


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


def mean_pose_baseline(recipe, data_dir):
    """What a 3D model that learned nothing from the image scores: the training split's mean pose for everyone.

    The mean root-relative camera-space pose (mm) of the recipe's training
    records, scored against its test records as `evaluate` scores a model.

    Returns:
        `{"MPJPE": mm, "PA-MPJPE": mm}`.
    """
    from keras_integral import metrics
    from keras_integral import skeletons
    from keras_integral.training import load_split

    def poses(records):
        root = skeletons.get(records[0].skeleton).root
        return metrics.root_relative(np.stack([r.joints_cam_mm for r in records]).astype(np.float64), root)

    truth = poses(load_split(recipe, data_dir, "val"))
    guess = np.broadcast_to(poses(load_split(recipe, data_dir, "train")).mean(axis=0), truth.shape)
    return {"MPJPE": float(metrics.mpjpe(guess, truth).mean()),
            "PA-MPJPE": float(metrics.pa_mpjpe(guess, truth).mean())}


# === The tables and verdicts (pure functions of results.json's runs) ===


def cell_values(runs, cell, key):
    """The values of `key` over the cell's seeds, in seed order: `(seeds,)`."""
    members = sorted((r for r in runs.values() if r["cell"] == cell), key=lambda r: r["seed"])
    return np.array([r["metrics"][key] for r in members], np.float64)


def mean_std(values, scale=1.0):
    """`mean ± std` (sample std over seeds) of `values * scale`; one value alone; `-` for none."""
    values = np.asarray(values, np.float64) * scale
    if not len(values):
        return "-"
    return f"{values.mean():.1f} ± {values.std(ddof=1):.1f}" if len(values) > 1 else f"{values.mean():.1f}"


def judge(a, b, sign):
    """Whether the paper's claim `sign * (mean(a) - mean(b)) > 0` holds beyond noise.

    Returns:
        `(verdict, mean(a) - mean(b), its standard error)`, the verdict one of
        "holds", "does not hold", "within noise" (`NOISE_SE` standard errors,
        from each side's sample variance over seeds) or "not enough seeds"
        (fewer than 2 on a side).
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 2 or len(b) < 2:
        return "not enough seeds", float("nan"), float("nan")
    difference = a.mean() - b.mean()
    se = float(np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b)))
    if sign * difference > NOISE_SE * se:
        return "holds", difference, se
    if sign * difference < -NOISE_SE * se:
        return "does not hold", difference, se
    return "within noise", difference, se


def timing(members):
    """`train s | s/step`: the cell's mean training seconds (start-up included) and steady seconds per step."""
    per_step = [r["s_per_step"] for r in members if r.get("s_per_step")]
    return (f"{np.mean([r['train_s'] for r in members]):.0f} | "
            f"{f'{np.mean(per_step):.3f}' if per_step else '-'}")


def tables(runs, baselines=None):
    """results.md: the 2D and 3D tables (mean ± std over seeds, the 3D one with its mean-pose baseline) and one
    verdict per claim."""
    cells = sorted({r["cell"] for r in runs.values()})

    def members(cell):
        return [r for r in runs.values() if r["cell"] == cell]

    lines = [f"2D, synthetic COCO-format val ({LEVEL} scenes), flip test; mean ± std over seeds "
             "(PCK in % of the box's longer side, error in input pixels, AP in %):", "",
             "| method | heat map | seeds | PCK@0.02 | PCK@0.05 | PCK@0.1 | mean error px | AP | steps | train s "
             "| s/step |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for cell in (c for c in cells if c.startswith("coco2d")):
        first = members(cell)[0]
        hm = "-" if not first["heatmap_size"] else "x".join(map(str, first["heatmap_size"]))
        columns = [mean_std(cell_values(runs, cell, k)) for k in ("PCK@0.02", "PCK@0.05", "PCK@0.1", "error_px")]
        columns.append(mean_std(cell_values(runs, cell, "AP"), scale=100))
        lines.append(f"| {first['method']} | {hm} | {len(members(cell))} | {' | '.join(columns)} | "
                     f"{first.get('steps', '-')} | {timing(members(cell))} |")
    lines += ["", f"3D, synthetic Human3.6M-layout test split (protocol 2: S9, S11; {LEVEL} scenes), flip test, mm, "
              "mean ± std over seeds:", "",
              "| method | training data | seeds | MPJPE | PA-MPJPE | steps | train s | s/step |",
              "|---|---|---|---|---|---|---|---|"]
    for cell in (c for c in cells if c.startswith("h36m3d")):
        first = members(cell)[0]
        data = "3D + extra 2D (half/half)" if first["mixed"] else "3D only"
        lines.append(f"| {first['method']} | {data} | {len(members(cell))} | "
                     f"{mean_std(cell_values(runs, cell, 'MPJPE'))} | "
                     f"{mean_std(cell_values(runs, cell, 'PA-MPJPE'))} | "
                     f"{first.get('steps', '-')} | {timing(members(cell))} |")
    baseline = (baselines or {}).get("h36m3d_mean_pose")
    if baseline:
        lines.append(f"| none: the training split's mean pose for everyone | - | - | {baseline['MPJPE']:.1f} | "
                     f"{baseline['PA-MPJPE']:.1f} | - | - | - |")
    lines += ["", f"Verdicts (A - B over seeds; a difference counts beyond {NOISE_SE:g} standard errors):", "",
              "| claim | quantity | A - B | standard error | verdict |", "|---|---|---|---|---|"]
    for name, key, a, b, sign in CLAIMS:
        verdict, difference, se = judge(cell_values(runs, a, key), cell_values(runs, b, key), sign)
        lines.append(f"| {name} | {key} | {difference:+.2f} | {se:.2f} | {verdict} |")
    name, key, (h_full, h_half), (i_full, i_half) = HALVING
    losses = {}
    for method, full, half in (("H1", h_full, h_half), ("I1", i_full, i_half)):
        full, half = cell_values(runs, full, key), cell_values(runs, half, key)
        # The same seeds at both sizes: a per-seed loss.
        losses[method] = full - half if len(full) == len(half) else np.array([])
    verdict, difference, se = judge(losses["H1"], losses["I1"], +1)
    spent = ", ".join(f"{m} loses {v.mean():.1f}" for m, v in losses.items() if len(v))
    lines.append(f"| {name}{f' ({spent})' if spent else ''} | {key} | {difference:+.2f} | {se:.2f} | {verdict} |")
    return "\n".join(lines) + "\n"


def invocations(entries):
    """The wall time of each invocation that wrote results.json (a resumed benchmark has several)."""
    lines = []
    for i, e in enumerate(entries, 1):
        lines.append(f"Wall time of invocation {i}: {e['wall_s'] / 60:.1f} min ({e['trainings']} trainings, "
                     f"{e['processes']} at a time, {e['cpu_count']} cores, schedule: {e['schedule']}; generating "
                     f"the data {e['generate_s']} s).")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
