"""benchmarks/synthetic_ablations.py: the verdicts and tables, on hand-made runs (no training)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "synthetic_ablations.py"


@pytest.fixture(scope="module")
def ablations():
    spec = importlib.util.spec_from_file_location("synthetic_ablations", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _runs(values):
    """{cell: [metric dict per seed]} -> results.json's `runs`."""
    runs = {}
    for cell, seeds in values.items():
        method = cell.split("_")[1].upper().replace("ISTAR", "I*")
        for seed, metrics in enumerate(seeds):
            runs[f"{cell}_seed{seed}"] = {"cell": cell, "seed": seed, "method": method,
                                          "heatmap_size": [8, 8] if cell.endswith("hm8") else [16, 16],
                                          "mixed": cell.endswith("mixed2d"), "steps": 1200, "train_s": 100,
                                          "s_per_step": 0.1,
                                          "metrics": metrics}
    return runs


def test_judge_against_a_direct_welch_standard_error(ablations):
    a, b = np.array([60.0, 62.0, 61.0]), np.array([50.0, 55.0, 52.0])
    se = np.sqrt(np.var(a, ddof=1) / 3 + np.var(b, ddof=1) / 3)
    verdict, difference, got_se = ablations.judge(a, b, +1)
    assert (verdict, difference) == ("holds", pytest.approx(a.mean() - b.mean())) and got_se == pytest.approx(se)
    assert ablations.judge(a, b, -1)[0] == "does not hold"
    # The same means with a spread wider than the gap: within noise.
    assert ablations.judge(a - a.mean() + [-9, 0, 9] + 53, b, +1)[0] == "within noise"
    assert ablations.judge(a[:1], b, +1)[0] == "not enough seeds"


def test_tables_show_mean_and_std_over_seeds_and_every_verdict(ablations):
    def coco(pck05, pck02=10.0, error=3.0):
        return {"AP": 0.3, "PCK@0.02": pck02, "PCK@0.05": pck05, "PCK@0.1": 85.0, "PCK_AUC": 50.0, "error_px": error}

    runs = _runs({
        "coco2d_i1_hm16": [coco(70.0), coco(71.0), coco(72.0)],
        "coco2d_h1_hm16": [coco(60.0), coco(61.0), coco(62.0)],
        "coco2d_i1_hm8": [coco(69.0), coco(70.0), coco(71.0)],  # I1 loses 1.0 per seed
        "coco2d_h1_hm8": [coco(50.0), coco(52.0), coco(51.0)],  # H1 loses 10, 9, 11
        "h36m3d_i2_hm16": [{"MPJPE": 100.0, "PA-MPJPE": 80.0}, {"MPJPE": 104.0, "PA-MPJPE": 82.0}],
    })
    text = ablations.tables(runs)
    assert ("| I1 | 16x16 | 3 | 10.0 ± 0.0 | 71.0 ± 1.0 | 85.0 ± 0.0 | 3.0 ± 0.0 | 30.0 ± 0.0 | 1200 | 100 "
            "| 0.100 |") in text
    assert "| I2 | 3D only | 2 | 102.0 ± 2.8 | 81.0 ± 1.4 | 1200 | 100 | 0.100 |" in text
    verdicts = {line.split(" | ")[0][2:]: line.rsplit(" | ", 1)[1].rstrip(" |")
                for line in text.splitlines() if line.startswith("| (")}
    assert verdicts["(a) I1 beats H1 at PCK@0.05 of the box (16x16)"] == "holds"
    assert verdicts["(a) I1 beats H1 at PCK@0.02 of the box (16x16)"] == "within noise"  # equal, no spread
    assert verdicts["(a) I1 beats R1 at PCK@0.05"] == "not enough seeds"  # no R1 runs
    halving = [k for k in verdicts if k.startswith("(b)")]
    assert halving == ["(b) halving the heat map (16x16 -> 8x8) costs H1 more PCK@0.05 than I1 "
                       "(H1 loses 10.0, I1 loses 1.0)"]
    assert verdicts[halving[0]] == "holds"
    assert len(verdicts) == len(ablations.CLAIMS) + 1
    assert "mean pose" not in text  # no baseline given, no row
    with_baseline = ablations.tables(runs, {"h36m3d_mean_pose": {"MPJPE": 300.04, "PA-MPJPE": 250.06}})
    assert "| none: the training split's mean pose for everyone | - | - | 300.0 | 250.1 | - | - | - |" in with_baseline


def test_invocations_each_get_their_wall_time(ablations):
    entries = [{"wall_s": 1800, "generate_s": 110, "trainings": 30, "processes": 2, "cpu_count": 2,
                "schedule": "recipes"},
               {"wall_s": 6, "generate_s": 0, "trainings": 0, "processes": 1, "cpu_count": 2, "schedule": "recipes"}]
    lines = ablations.invocations(entries).splitlines()
    assert lines == ["Wall time of invocation 1: 30.0 min (30 trainings, 2 at a time, 2 cores, schedule: recipes; "
                     "generating the data 110 s).",
                     "Wall time of invocation 2: 0.1 min (0 trainings, 1 at a time, 2 cores, schedule: recipes; "
                     "generating the data 0 s)."]


def test_mean_pose_baseline_against_numpy_on_the_annotation_file(ablations, tmp_path):
    from keras_integral.data import synthetic
    from keras_integral.metrics.mpjpe import pa_mpjpe
    from keras_integral.recipes import load_recipe

    synthetic.generate(tmp_path / "synth", 40, seed=3, image_size=(64, 64), level="easy", verbose=0)
    recipe = load_recipe(ablations.ROOT + "/recipes/synthetic/h36m3d_i2_hm16.yaml", test_stride=1)
    got = ablations.mean_pose_baseline(recipe, str(tmp_path))
    # Directly from the file: S is (N, 17, 4) camera-space metres; protocol 2 tests on S9 and S11; root: pelvis.
    annotations = np.load(tmp_path / "synth" / "h36m" / "annotations.npz")
    poses = annotations["S"][..., :3] * 1000.0
    poses = poses - poses[:, :1]
    test = np.isin([name.split("/")[0] for name in annotations["imgname"]], ["S9", "S11"])
    assert 0 < test.sum() < len(test)
    truth, guess = poses[test], np.broadcast_to(poses[~test].mean(axis=0), poses[test].shape)
    # rel 1e-6: the loader keeps joints in float32 mm.
    assert got["MPJPE"] == pytest.approx(np.linalg.norm(guess - truth, axis=-1).mean(), rel=1e-6)
    assert got["PA-MPJPE"] == pytest.approx(pa_mpjpe(guess, truth).mean(), rel=1e-6)


def test_an_overridden_schedule_keeps_each_recipes_fraction_of_heat_map_epochs(ablations):
    # --smoke (2 epochs) once failed: the recipe was loaded with the short schedule and its own switch epoch 8.
    import argparse

    args = argparse.Namespace(only="", seeds=2, epochs=5, steps_per_epoch=3)
    todo = ablations.trainings(args, finished={})
    runs = {run: recipe for _, run, recipe in todo}
    assert len(runs) == 10 * 2  # ten cells, two seeds
    assert all((r.epochs, r.steps_per_epoch) == (5, 3) for r in runs.values())
    assert runs["coco2d_i1_hm16_seed1"].seed == 1
    # The recipes switch at 8 of 10 epochs: 4 of 5 here; methods without a switch keep none.
    assert runs["coco2d_i1_hm16_seed0"].phase_switch_epoch == 4
    assert runs["h36m3d_i2_hm16_mixed2d_seed1"].phase_switch_epoch == 4
    assert runs["coco2d_h1_hm16_seed0"].phase_switch_epoch is None
    # The 3D cells (the slowest) come first.
    assert next(iter(runs)).startswith("h36m3d_")


def test_a_finished_run_of_another_recipe_is_refused(ablations, tmp_path):
    # A benchmark folder belongs to one set of recipes: an edited recipe must not reuse its old numbers.
    import argparse

    from keras_integral.recipes import dump_recipe
    from keras_integral.recipes import load_recipe

    args = argparse.Namespace(only="coco2d_r1", seeds=2, epochs=None, steps_per_epoch=None, out=str(tmp_path))
    recipe = load_recipe(ablations.ROOT + "/recipes/synthetic/coco2d_r1.yaml", seed=0)
    (tmp_path / "runs" / "coco2d_r1_seed0").mkdir(parents=True)
    dump_recipe(recipe, tmp_path / "runs" / "coco2d_r1_seed0" / "recipe.yaml")
    finished = {"coco2d_r1_seed0": {}}
    assert [run for _, run, _ in ablations.trainings(args, finished)] == ["coco2d_r1_seed1"]  # the same recipe: kept
    args.steps_per_epoch = 7
    changed = r"coco2d_r1_seed0 was trained with another recipe \(steps_per_epoch: 120 -> 7\)"
    with pytest.raises(ValueError, match=changed):
        ablations.trainings(args, finished)
    args.steps_per_epoch = None
    (tmp_path / "runs" / "coco2d_r1_seed0" / "recipe.yaml").unlink()
    with pytest.raises(ValueError, match="coco2d_r1_seed0, but .*recipe.yaml is missing"):
        ablations.trainings(args, finished)
