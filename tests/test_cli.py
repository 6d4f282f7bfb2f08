"""The keras-integral command: help texts, synth, zoo, clear errors with exit code 2."""

import json
import os
import subprocess
import sys

import pytest

from keras_integral import cli
from tests.harness import assert_one_line_error
from tests.harness import run_cli

COMMANDS = ("train", "evaluate", "predict", "synth", "export", "zoo", "demo")


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_each_command_shows_an_example(command, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "example:" in out and f"keras-integral {command}" in out


def test_synth_writes_both_layouts(tmp_path, capsys):
    assert cli.main(["synth", "--out", str(tmp_path), "--num", "3", "--image-size", "48x64"]) == 0
    with open(tmp_path / "coco" / "annotations" / "person_keypoints_train.json") as f:
        coco = json.load(f)
    assert {(i["height"], i["width"]) for i in coco["images"]} == {(48, 64)}
    assert (tmp_path / "h36m" / "annotations.npz").is_file()
    assert "3 images written" in capsys.readouterr().out
    assert coco["info"]["level"] == "hard"  # today's scenes stay the default


def test_synth_level_reaches_the_generator(tmp_path):
    assert cli.main(["synth", "--out", str(tmp_path), "--num", "2", "--image-size", "48", "--level", "easy"]) == 0
    with open(tmp_path / "coco" / "annotations" / "person_keypoints_train.json") as f:
        assert json.load(f)["info"]["level"] == "easy"


def test_bad_recipe_is_one_line_error_with_exit_code_2(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("dataset: coco\ntrain_annotations: a.json\ntrain_images: img\nbackbone_depth: 50\n")
    code = cli.main(["train", str(recipe), "--data-dir", str(tmp_path), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2
    assert "backbone_depth" in err and str(recipe) in err and "Traceback" not in err


def test_zoo_list_and_an_offline_download(capsys, tmp_path, monkeypatch):
    import urllib.error
    import urllib.request

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network (test)")

    monkeypatch.setenv("KERAS_INTEGRAL_HOME", str(tmp_path))
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    assert cli.main(["zoo", "list"]) == 0
    out = capsys.readouterr().out
    assert "coco_resnet50_mmpose_dsnt_256_hm64" in out and "model_chall_train_152ft_384x288.pth.tar" in out
    assert cli.main(["zoo", "download", "coco_resnet50_mmpose_dsnt_256_hm64"]) == 2
    err = capsys.readouterr().err
    assert "https://download.openmmlab.com/" in err and str(tmp_path / "upstream") in err


def test_console_script_is_installed():
    result = subprocess.run([os.path.join(os.path.dirname(sys.executable), "keras-integral"), "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "demo" in result.stdout


@pytest.fixture(scope="module")
def model_and_image(tmp_path_factory):
    import cv2
    import numpy as np

    from keras_integral.models import IntegralPoseModel

    folder = tmp_path_factory.mktemp("cli")
    model = IntegralPoseModel(backbone="resnet18", method="I1", skeleton="coco", input_size=(64, 64))
    model.save(folder / "model.keras")
    image = np.random.default_rng(0).integers(0, 256, (80, 60, 3), dtype=np.uint8)
    cv2.imwrite(str(folder / "photo.png"), image)
    return folder / "model.keras", folder / "photo.png"


def test_predict_with_no_boxes_draws_nothing(model_and_image, tmp_path, capsys):
    import cv2

    model, image = model_and_image
    (tmp_path / "boxes.json").write_text("[]")  # what a detector that found nobody writes
    code, out, _ = run_cli(["predict", model, image, "--boxes", tmp_path / "boxes.json",
                            "--out", tmp_path / "drawn.png"], capsys)
    assert code == 0 and "0 people" in out
    assert (cv2.imread(str(tmp_path / "drawn.png")) == cv2.imread(str(image))).all()
    assert json.loads((tmp_path / "drawn.json").read_text())["frames"] == [{"index": 0, "people": []}]


@pytest.mark.parametrize("boxes, words", [
    ([{"image_id": 1, "score": 0.9}], ["entry 0", "without 'bbox'"]),
    ([[1, 2, 3, 4], [1, 2, 3]], ["entry 1", "[x, y, w, h]"]),
    ({"bbox": [1, 2, 3, 4]}, ["expected a JSON list"]),
])
def test_predict_refuses_malformed_boxes_in_one_line(model_and_image, tmp_path, capsys, boxes, words):
    model, image = model_and_image
    (tmp_path / "boxes.json").write_text(json.dumps(boxes))
    code, _, err = run_cli(["predict", model, image, "--boxes", tmp_path / "boxes.json",
                            "--out", tmp_path / "drawn.png"], capsys)
    assert_one_line_error(code, err, "boxes.json", *words)
    assert not (tmp_path / "drawn.png").exists() and not (tmp_path / "drawn.json").exists()


def test_predict_refuses_an_unwritable_extension_before_the_work(tmp_path, capsys):
    # The model does not even exist: the output is checked first.
    code, _, err = run_cli(["predict", tmp_path / "absent.keras", tmp_path / "absent.png",
                            "--out", tmp_path / "drawn.xyz"], capsys)
    assert_one_line_error(code, err, "drawn.xyz", "cannot write")
    assert list(tmp_path.iterdir()) == []


def test_a_keras_file_without_its_config_is_named(model_and_image, tmp_path, capsys):
    import zipfile

    model, image = model_and_image
    broken = tmp_path / "broken.keras"
    with zipfile.ZipFile(model) as source, zipfile.ZipFile(broken, "w") as target:
        for name in source.namelist():
            if name != "config.json":
                target.writestr(name, source.read(name))
    code, _, err = run_cli(["predict", broken, image, "--out", tmp_path / "drawn.png"], capsys)
    assert_one_line_error(code, err, "broken.keras", "has no config.json")
    (tmp_path / "text.keras").write_text("not a zip")
    code, _, err = run_cli(["predict", tmp_path / "text.keras", image, "--out", tmp_path / "drawn.png"], capsys)
    assert_one_line_error(code, err, "text.keras", "not a .keras file")
    assert not (tmp_path / "drawn.png").exists()


def test_export_refuses_an_existing_file_or_a_full_folder_as_out(tmp_path, capsys):
    existing = tmp_path / "exported"
    existing.write_text("keep me")
    argv = ["export", tmp_path / "absent.keras", "--recipe", tmp_path / "absent.yaml", "--data-dir", tmp_path,
            "--out", existing]
    code, _, err = run_cli(argv, capsys)
    assert_one_line_error(code, err, "exported", "existing file")
    assert existing.read_text() == "keep me"
    existing.unlink()
    existing.mkdir()
    (existing / "other.txt").write_text("keep me")
    code, _, err = run_cli(argv, capsys)
    assert_one_line_error(code, err, "exported", "not empty")


@pytest.mark.parametrize("recipe_flip,no_flip,expected", [(True, False, True), (False, False, False),
                                                          (True, True, False)])
def test_evaluate_takes_the_flip_test_from_the_recipe(model_and_image, tmp_path, capsys, recipe_flip, no_flip,
                                                      expected):
    model, _ = model_and_image
    assert cli.main(["synth", "--out", str(tmp_path / "data"), "--num", "10", "--image-size", "64",
                     "--level", "easy"]) == 0
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "dataset: coco\nskeleton: coco\nmethod: I1\nbackbone: resnet18\ninput_size: [64, 64]\n"
        "train_annotations: coco/annotations/person_keypoints_train.json\ntrain_images: coco/images\n"
        "val_annotations: coco/annotations/person_keypoints_val.json\nval_images: coco/images\n"
        f"flip_test: {str(recipe_flip).lower()}\n"
    )
    argv = ["evaluate", model, "--recipe", recipe, "--data-dir", tmp_path / "data", "--out", tmp_path / "eval"]
    code, _, err = run_cli(argv + (["--no-flip"] if no_flip else []), capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "eval" / "report.json").read_text())["settings"]["flip_test"] is expected
