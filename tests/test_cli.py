"""The keras-integral command: help texts, synth, zoo, clear errors with exit code 2."""

import json
import os
import subprocess
import sys

import pytest

from keras_integral import cli

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


def test_zoo_list_and_unpublished_preset(capsys):
    assert cli.main(["zoo", "list"]) == 0
    out = capsys.readouterr().out
    assert "i1_resnet50_mpii_256x256" in out and "model_chall_train_152ft_384x288.pth.tar" in out
    assert cli.main(["zoo", "download", "i1_resnet50_mpii_256x256"]) == 2
    assert "not yet published" in capsys.readouterr().err


def test_console_script_is_installed():
    result = subprocess.run([os.path.join(os.path.dirname(sys.executable), "keras-integral"), "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "demo" in result.stdout
