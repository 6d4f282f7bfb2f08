"""The paper's ablations on the synthetic set, at the scale of a 2-core CPU.

2D (Tables 1-2): R1, H1, I*, I1 with ResNet-18 at 64x64 crops, heat maps
16x16 and 8x8 (three or two deconvolutions). 3D (Table 7): H2 vs I2 on a
16x16x16 volume with the two-step integral, on 3D data alone and mixed half
and half with extra 2D-only images (strategy 2).

    python benchmarks/synthetic_ablations.py --out runs/ablations

generates the data (3D/2D set: seed 0; the extra 2D set: seed 1), trains every
`recipes/synthetic/*.yaml` but the quickstart (a killed run resumes), evaluates
each on its held-out split with the flip test, and prints the two tables
(also written to OUT/results.md and OUT/results.json).
"""

import argparse
import glob
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--num-images", type=int, default=3000, help="images per synthetic set")
    parser.add_argument("--only", default="", help="run the recipes whose name contains this text")
    args = parser.parse_args()

    from keras_integral.data import synthetic
    from keras_integral.evaluate import evaluate
    from keras_integral.recipes import load_recipe
    from keras_integral.training import load_split
    from keras_integral.training import train

    data_dir = os.path.join(args.out, "data")
    for name, seed in (("synth", 0), ("synth2d", 1)):
        if not os.path.isfile(os.path.join(data_dir, name, "README.md")):
            synthetic.generate(os.path.join(data_dir, name), args.num_images, seed=seed, image_size=(128, 128))
    results_path = os.path.join(args.out, "results.json")
    results = json.load(open(results_path)) if os.path.isfile(results_path) else {}
    recipes = sorted(glob.glob(os.path.join(ROOT, "recipes", "synthetic", "*_64*.yaml")))
    for path in recipes:
        name = os.path.splitext(os.path.basename(path))[0]
        if args.only not in name or name in results:
            continue
        recipe = load_recipe(path)
        run_dir = os.path.join(args.out, "runs", name)
        print(f"=== {name}", flush=True)
        start = time.perf_counter()
        model, _ = train(recipe, data_dir, run_dir, verbose=2)
        train_s = time.perf_counter() - start
        records = load_split(recipe, data_dir, "val")
        annotations = os.path.join(data_dir, recipe.val_annotations) if recipe.dataset == "coco" else None
        metrics = evaluate(model, records, recipe.dataset, out_dir=os.path.join(run_dir, "eval"), flip_test=True,
                           annotation_file=annotations, verbose=0)
        results[name] = {"metrics": metrics, "train_s": round(train_s), "method": recipe.method,
                         "heatmap_size": recipe.heatmap_size, "mixed": bool(recipe.mix_dataset)}
        with open(results_path, "w") as f:
            json.dump(results, f, indent=2, default=float)
    table = tables(results)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(table)
    print(table)


def tables(results):
    lines = ["2D, synthetic COCO-format val, flip test (PCK in % of the box's longer side):", "",
             "| method | heat map | AP | PCK@0.02 | PCK@0.05 | PCK@0.1 | AUC [0, 0.1] | train s |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        if not name.startswith("coco2d"):
            continue
        m = r["metrics"]
        hm = "-" if not r["heatmap_size"] else f"{r['heatmap_size'][0]}x{r['heatmap_size'][1]}"
        lines.append(f"| {r['method']} | {hm} | {100 * m['AP']:.1f} | {m['PCK@0.02']:.1f} | {m['PCK@0.05']:.1f} | "
                     f"{m['PCK@0.1']:.1f} | {m['PCK_AUC']:.1f} | {r['train_s']} |")
    lines += ["", "3D, synthetic Human3.6M-layout test split (protocol 2 subjects S9, S11), flip test, mm:", "",
              "| method | training data | MPJPE | PA-MPJPE | train s |", "|---|---|---|---|---|"]
    for name, r in results.items():
        if not name.startswith("h36m3d"):
            continue
        m = r["metrics"]
        data = "3D + extra 2D (half/half)" if r["mixed"] else "3D only"
        lines.append(f"| {r['method']} | {data} | {m['MPJPE']:.1f} | {m['PA-MPJPE']:.1f} | {r['train_s']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
