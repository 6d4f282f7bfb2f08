"""Training: recipes validate, a kill -9 resumes exactly, N replicas train like one device."""

import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from keras_integral.demo import DEMO_RECIPE
from keras_integral.recipes import load_recipe
from keras_integral.recipes import recipe_from_dict
from keras_integral.training import backup_epoch
from keras_integral.training import latest_backup
from keras_integral.training import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The demo's synthetic-data recipe, shrunk: 4 epochs of 2 steps of 4 crops, in float32 (the
# replica test compares losses to 2e-3; bfloat16 keeps 3 digits).
TINY = dict(DEMO_RECIPE, method="I1", batch_size=4, epochs=4, steps_per_epoch=2, lr_drops=[3],
            phase_switch_epoch=2, seed=3, mixed_precision=None)

TRAIN_SCRIPT = """
import json, sys
{setup}
from keras_integral.recipes import recipe_from_dict
from keras_integral.training import train
train(recipe_from_dict(json.loads(sys.argv[1])), sys.argv[2], sys.argv[3], verbose=0)
"""


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    from keras_integral.data import synthetic

    out = tmp_path_factory.mktemp("synth")
    synthetic.generate(str(out), 20, seed=0, image_size=(96, 96), verbose=0)
    return str(out)


@pytest.fixture(scope="module")
def synth_dir_with_a_bad_image(synth_dir, tmp_path_factory):
    """The synthetic set with one of its 18 training images emptied (zero bytes)."""
    import shutil

    out = tmp_path_factory.mktemp("synth_bad") / "data"
    shutil.copytree(synth_dir, out)
    with open(out / TINY["train_annotations"]) as f:
        name = json.load(f)["images"][5]["file_name"]
    (out / TINY["train_images"] / name).write_bytes(b"")
    return str(out)


def start_training(recipe, data_dir, out_dir, setup=""):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    return subprocess.Popen(
        [sys.executable, "-c", TRAIN_SCRIPT.format(setup=setup), json.dumps(recipe), data_dir, out_dir],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def finish(process, timeout=600, returncode=0):
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail(f"training still running after {timeout} s: {output[-2000:]}")
    assert process.returncode == returncode, output[-3000:]
    return output


def weights_of(path):
    return [np.asarray(w) for w in keras.models.load_model(path).weights]


def test_killed_run_resumes_to_the_same_weights_with_an_unreadable_image(synth_dir_with_a_bad_image, tmp_path):
    data = synth_dir_with_a_bad_image
    unbroken = tmp_path / "unbroken"
    assert "skipped" in finish(start_training(TINY, data, str(unbroken)))

    broken = tmp_path / "broken"
    process = start_training(TINY, data, str(broken))
    deadline = time.time() + 300
    while backup_epoch(str(broken / "backup")) < 2:  # past the phase switch
        assert process.poll() is None, process.stdout.read()[-3000:]
        assert time.time() < deadline, "no backup appeared"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (broken / "model.keras").exists()
    killed_at = backup_epoch(str(broken / "backup"))
    assert 2 <= killed_at < TINY["epochs"]

    output = finish(start_training(TINY, data, str(broken)))
    assert f"epoch {killed_at}" in output
    for a, b in zip(weights_of(unbroken / "model.keras"), weights_of(broken / "model.keras")):
        np.testing.assert_array_equal(a, b)
    logs = [np.genfromtxt(run / "log.csv", delimiter=",", names=True) for run in (unbroken, broken)]
    assert logs[1]["epoch"].tolist() == list(range(TINY["epochs"]))
    np.testing.assert_array_equal(logs[0]["loss"], logs[1]["loss"])
    with open(broken / "best.keras.json") as f:  # the same quantity in both of I1's phases
        assert json.load(f)["monitor"] == "val_joint_error"


# Scale-out runs, compared with one device: 2 steps (the second from the weights the first
# updated), one phase (no re-tracing), a small head and no validation (what is compared is
# training; each run costs mostly graph tracing).
SCALE_OUT = dict(TINY, epochs=1, phase_switch_epoch=None, method="I*", lr_drops=[], head_filters=32,
                 validate=False)
TWO_DEVICES = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
"""


@pytest.fixture(scope="module")
def one_device_log(synth_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("one_device")
    assert "Training on 1 replica(s)" in finish(start_training(SCALE_OUT, synth_dir, str(out)))
    log = np.genfromtxt(out / "log.csv", delimiter=",", names=True, ndmin=1)
    assert log["loss"].shape == (1,)
    return log


def test_two_replicas_train_like_one_device_with_the_same_global_batch(synth_dir, one_device_log, tmp_path):
    output = finish(start_training(SCALE_OUT, synth_dir, str(tmp_path), TWO_DEVICES))
    assert "Training on 2 replica(s)" in output
    two = np.genfromtxt(tmp_path / "log.csv", delimiter=",", names=True, ndmin=1)
    np.testing.assert_allclose(two["loss"], one_device_log["loss"], rtol=2e-3)
    np.testing.assert_allclose(two["joint_error"], one_device_log["joint_error"], rtol=2e-3)


def test_two_worker_processes_on_loopback_train_like_one_device(synth_dir, one_device_log, tmp_path):
    import socket

    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    processes = []
    for index in range(2):
        env_setup = (
            "import os, json; os.environ['TF_CONFIG'] = json.dumps("
            f"{{'cluster': {cluster!r}, 'task': {{'type': 'worker', 'index': {index}}}}})"
        )
        processes.append(start_training(SCALE_OUT, synth_dir, str(tmp_path / "run"), env_setup))
    try:
        outputs = [finish(process, timeout=600) for process in processes]
    finally:
        for process in processes:  # one worker failing leaves the other waiting for it
            if process.poll() is None:
                process.kill()
    assert all("Training on 2 replica(s)" in output for output in outputs)
    assert (tmp_path / "run" / "model.keras").exists()
    # Two workers with one replica each train like one device with the same global batch.
    workers = np.genfromtxt(tmp_path / "run" / "log.csv", delimiter=",", names=True, ndmin=1)
    np.testing.assert_allclose(workers["loss"], one_device_log["loss"], rtol=2e-3)
    np.testing.assert_allclose(workers["joint_error"], one_device_log["joint_error"], rtol=2e-3)


def test_recipe_errors_name_the_key_the_file_and_the_allowed_values(tmp_path):
    path = tmp_path / "bad.yaml"
    cases = {
        "learning_rat: 0.1\n": ["learning_rat", "allowed keys", "learning_rate"],
        "method: I9\n": ["method", "I9", "I1"],
        "skeleton: body25\n": ["skeleton", "coco"],
        "input_size: 256\n": ["input_size", "[height, width]"],
        "batch_size: many\n": ["batch_size", "integer"],
        "phase_switch_epoch: 3\nmethod: H1\n": ["phase_switch_epoch", "I1"],
        "mixed_precision: true\n": ["mixed_precision", "string"],
        "mixed_precision: float8\n": ["mixed_precision", "bfloat16"],
        "augmentation: lots\n": ["augmentation", "flip"],
    }
    base = "dataset: coco\ntrain_annotations: a.json\ntrain_images: img\n"
    for text, expected in cases.items():
        path.write_text(base + text)
        with pytest.raises(ValueError) as info:
            load_recipe(path)
        message = str(info.value)
        assert str(path) in message
        for part in expected:
            assert part in message, (text, message)
    with pytest.raises(FileNotFoundError):
        load_recipe(tmp_path / "missing.yaml")


def test_flip_augmentation_only_mirrors_the_evaluation_crops(synth_dir):
    from keras_integral.data import pipeline
    from keras_integral.training import load_split
    from keras_integral.training import training_stream

    recipe = recipe_from_dict(dict(TINY, augmentation="flip", batch_size=8))
    records = load_split(recipe, synth_dir, "train")
    plain = next(iter(pipeline.make_dataset(records, "coco", (64, 64), training=False, batch_size=len(records))))[0]
    plain = plain.numpy()
    references = np.concatenate([plain, plain[:, :, ::-1]])
    crops = next(iter(training_stream(recipe, records, None)))[0].numpy()
    distance = np.abs(crops[:, None] - references[None]).mean(axis=(2, 3, 4)).min(axis=1)
    assert np.all(distance < 1.0), distance  # each is an evaluation crop, as is or mirrored
    flipped = np.abs(crops[:, None] - references[None]).mean(axis=(2, 3, 4)).argmin(axis=1) >= len(plain)
    assert 0 < flipped.sum() < len(crops)  # some mirrored, some not (the stream is seeded: fixed)


def test_the_recipes_crop_margin_cuts_the_training_crops_and_goes_into_the_model(synth_dir):
    from keras_integral.data import pipeline
    from keras_integral.training import build_model
    from keras_integral.training import load_split
    from keras_integral.training import training_stream

    recipe = recipe_from_dict(dict(TINY, augmentation="none", batch_size=8, crop_margin=1.5))
    assert recipe_from_dict(dict(TINY)).crop_margin == 1.25
    assert build_model(recipe).crop_margin == 1.5
    records = load_split(recipe, synth_dir, "train")
    crops = next(iter(training_stream(recipe, records, None)))[0].numpy()
    for margin, matches in ((1.5, True), (1.25, False)):
        plain = pipeline.make_dataset(records, "coco", (64, 64), training=False, batch_size=len(records), margin=margin)
        references = next(iter(plain))[0].numpy()
        distance = np.abs(crops[:, None] - references[None]).mean(axis=(2, 3, 4)).min(axis=1)
        assert np.all(distance < 1e-3) == matches, (margin, distance)  # without augmentation: evaluation crops


def test_cosine_schedule_warms_up_then_decays_to_a_hundredth():
    from keras_integral.training import learning_rate_schedule

    recipe = recipe_from_dict(dict(TINY, epochs=10, learning_rate=0.002, lr_schedule="cosine"))
    schedule = learning_rate_schedule(recipe, steps_per_epoch=100)  # 1000 steps, 50 of warm-up
    rate = {step: float(schedule(step)) for step in (0, 25, 50, 525, 1000)}
    assert rate[0] == pytest.approx(0.0002) and rate[25] == pytest.approx(0.0011)
    assert rate[50] == pytest.approx(0.002) and rate[1000] == pytest.approx(0.00002)
    assert rate[525] == pytest.approx(0.00002 + (0.002 - 0.00002) / 2, rel=1e-3)  # half way down the cosine


def test_float32_model_of_a_bfloat16_model_has_its_weights_and_float32_maths():
    from keras_integral.models.pose_model import IntegralPoseModel
    from keras_integral.training import float32_model

    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        mixed = IntegralPoseModel(backbone="resnet18_stride8", method="I1", input_size=(64, 64), head_filters=16,
                                  integral_scale=10.0)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    mixed.phase = 2
    copy = float32_model(mixed)
    assert copy.get_config() == mixed.get_config() and copy.phase == 2
    assert {layer.dtype_policy.compute_dtype for layer in copy._flatten_layers()} == {"float32"}
    for a, b in zip(mixed.get_weights(), copy.get_weights()):
        np.testing.assert_array_equal(a, b)
    images = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    ours, theirs = copy(images)["keypoints"], mixed(images)["keypoints"]
    np.testing.assert_allclose(ours, theirs, atol=0.5)  # the same model, bfloat16 rounding aside


def test_every_shipped_recipe_loads():
    paths = []
    for folder in ("paper", "synthetic"):
        directory = os.path.join(ROOT, "recipes", folder)
        paths += [os.path.join(directory, f) for f in sorted(os.listdir(directory)) if f.endswith(".yaml")]
    assert paths
    for path in paths:
        recipe = load_recipe(path)
        assert recipe.train_annotations


def test_overrides_replace_recipe_values(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("dataset: coco\ntrain_annotations: a.json\ntrain_images: img\nepochs: 140\n")
    assert load_recipe(path, epochs=2, batch_size=None).epochs == 2
    assert recipe_from_dict(dict(TINY)).model_kwargs["input_size"] == (64, 64)
    assert latest_backup(str(tmp_path)) is None


@pytest.mark.parametrize("text, expected", [
    ("epochs: 0\n", ["'epochs'", "at least 1", "0"]),
    ("epochs: -3\n", ["'epochs'", "at least 1", "-3"]),
    ("steps_per_epoch: -5\n", ["'steps_per_epoch'", "at least 1", "-5"]),
    ("batch_size: 0\n", ["'batch_size'", "at least 1", "0"]),
    ("learning_rate: .nan\n", ["'learning_rate'", "finite number > 0", "nan"]),
    ("learning_rate: -0.001\n", ["'learning_rate'", "finite number > 0", "-0.001"]),
    ("crop_margin: 0\n", ["'crop_margin'", "finite number > 0", "0.0"]),
    ("crop_margin: -1.25\n", ["'crop_margin'", "finite number > 0", "-1.25"]),
    ("crop_margin: .inf\n", ["'crop_margin'", "finite number > 0", "inf"]),
    ("crop_margin: wide\n", ["'crop_margin'", "expected a number", "wide"]),
    ("method: I1\nepochs: 10\nphase_switch_epoch: 10\n",
     ["'phase_switch_epoch'", "between 1 and epochs - 1 = 9", "10"]),
    ("method: I2\nepochs: 10\nphase_switch_epoch: 0\n", ["'phase_switch_epoch'", "between 1", "got 0"]),
])  # fmt: skip
def test_training_numbers_that_hang_crash_or_train_nothing_are_recipe_errors(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text("dataset: coco\ntrain_annotations: a.json\ntrain_images: img\n" + text)
    with pytest.raises(ValueError) as info:
        load_recipe(path)
    for part in [str(path), *expected]:
        assert part in str(info.value)


def test_cli_epochs_override_is_checked_like_the_recipe(tmp_path, capsys):
    from keras_integral import cli

    path = tmp_path / "r.yaml"
    path.write_text("dataset: coco\ntrain_annotations: a.json\ntrain_images: img\n")
    assert cli.main(["train", str(path), "--data-dir", str(tmp_path), "--out", str(tmp_path / "run"),
                     "--epochs", "-1"]) == 2
    assert "'epochs': must be at least 1, got -1" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_global_batch_the_replicas_cannot_split_is_a_recipe_error(synth_dir, tmp_path):
    two_devices = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
"""
    output = finish(start_training(dict(TINY, batch_size=3), synth_dir, str(tmp_path / "run"), two_devices),
                    timeout=300, returncode=1)
    assert "ValueError: recipe key 'batch_size': the global batch 3 must be a multiple of the 2 replicas" in output


def test_every_training_image_unreadable_stops_with_the_folder_and_the_count(synth_dir, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(synth_dir, data)
    images = data / TINY["train_images"]
    for image in images.iterdir():
        image.write_bytes(b"")
    output = finish(start_training(TINY, str(data), str(tmp_path / "run")), timeout=300, returncode=1)
    assert "ValueError" in output and "None of the 18 records' images could be read" in output
    assert f"18 unreadable file(s) under {images}" in output


def test_a_folder_with_another_recipes_run_is_refused_unless_resume_or_overwrite(tmp_path):
    from keras_integral.training import prepare_run_folder

    first, second = recipe_from_dict(dict(TINY)), recipe_from_dict(dict(TINY, epochs=6, learning_rate=0.01))
    out = tmp_path / "run"
    prepare_run_folder(first, str(out))
    (out / "log.csv").write_text("epoch,loss\n0,1.0\n")
    prepare_run_folder(first, str(out))  # the same recipe: resumes, nothing refused
    with pytest.raises(ValueError) as info:
        train(second, str(tmp_path / "no-data"), str(out))  # refused before any data is read
    message = str(info.value)
    assert "holds the run of another recipe" in message and "--resume" in message and "--overwrite" in message
    assert "epochs: 4 there, 6 now" in message and f"learning_rate: {first.learning_rate} there, 0.01 now" in message
    assert "seed" not in message
    with pytest.raises(ValueError, match="nothing to resume"):
        prepare_run_folder(second, str(out), resume=True)
    os.makedirs(out / "backup" / "epoch_00001")
    (out / "backup" / "LATEST").write_text("epoch_00001")
    prepare_run_folder(second, str(out), resume=True)  # continues; the folder now records the new recipe
    assert load_recipe(out / "recipe.yaml").epochs == 6
    prepare_run_folder(first, str(out), overwrite=True)
    assert sorted(os.listdir(out)) == ["recipe.yaml"]
    with pytest.raises(ValueError, match="not both"):
        train(first, str(tmp_path), str(out), resume=True, overwrite=True)


def test_train_help_names_resume_and_overwrite(capsys):
    from keras_integral import cli

    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    out = capsys.readouterr().out
    assert "--resume" in out and "--overwrite" in out and "another recipe" in out
    with pytest.raises(SystemExit):
        cli.main(["train", "r.yaml", "--data-dir", ".", "--out", "o", "--resume", "--overwrite"])


def test_stale_temporaries_of_killed_runs_are_removed(tmp_path):
    from keras_integral.training import AtomicBackupAndRestore
    from keras_integral.training import prepare_run_folder

    recipe = recipe_from_dict(dict(TINY))
    prepare_run_folder(recipe, str(tmp_path / "run"))
    backup = tmp_path / "run" / "backup"
    for name in ("epoch_00001", "epoch_00002", ".epoch_00003.123.tmp", ".epoch_00002.77.tmp"):
        os.makedirs(backup / name)
        (backup / name / "latest.weights.h5").write_bytes(b"x" * 10)
    (backup / "LATEST").write_text("epoch_00002")
    (backup / "LATEST.99.tmp").write_text("epoch_00003")
    for name in ("best.keras.tmp.keras", "best.keras.json.42.tmp", "model.keras.tmp.keras"):
        (tmp_path / "run" / name).write_bytes(b"half")
    prepare_run_folder(recipe, str(tmp_path / "run"))
    AtomicBackupAndRestore(str(backup))
    assert sorted(os.listdir(backup)) == ["LATEST", "epoch_00002"]
    assert sorted(os.listdir(tmp_path / "run")) == ["backup", "recipe.yaml"]


def test_log_agrees_with_the_resumed_state_when_a_kill_falls_between_backup_and_log(synth_dir, tmp_path,
                                                                                 monkeypatch):
    recipe = recipe_from_dict(dict(TINY, method="I*", epochs=2, steps_per_epoch=1, phase_switch_epoch=None,
                                   lr_drops=[], head_filters=32))
    out = tmp_path / "run"

    class Killed(Exception):
        pass

    original = keras.callbacks.CSVLogger.on_epoch_end

    def killed_at_epoch_1(self, epoch, logs=None):
        if epoch == 1:
            raise Killed()
        return original(self, epoch, logs)

    monkeypatch.setattr(keras.callbacks.CSVLogger, "on_epoch_end", killed_at_epoch_1)
    with pytest.raises(Killed):
        train(recipe, synth_dir, str(out), verbose=0)
    monkeypatch.setattr(keras.callbacks.CSVLogger, "on_epoch_end", original)
    assert backup_epoch(str(out / "backup")) == 1  # the epoch without a log row is not backed up
    (out / "log.csv").write_text((out / "log.csv").read_text() + "1,0.5,0.5,0.5,0.5,0.5,0.5,0.5\n")  # a row ahead
    train(recipe, synth_dir, str(out), verbose=0)
    log = np.genfromtxt(out / "log.csv", delimiter=",", names=True)
    assert log["epoch"].tolist() == [0, 1]
    assert "val_joint_error" in log.dtype.names


def test_joint_error_is_the_error_in_fractions_of_the_crop(rng):
    from keras_integral.models.pose_model import IntegralPoseModel

    model = IntegralPoseModel(backbone="resnet18", method="I1", skeleton="coco", input_size=(64, 32),
                              heatmap_size=(16, 8))
    model.compile()
    images = rng.uniform(0, 255, (2, 64, 32, 3)).astype("float32")
    predicted = model.predict(images, verbose=0)["keypoints"]
    truth = rng.uniform(0, 32, predicted.shape).astype("float32")
    weights = np.ones_like(truth)
    weights[0, 3] = 0
    logs = model.evaluate(images, {"keypoints": truth, "weights": weights}, return_dict=True, verbose=0)
    error = np.hypot((predicted - truth)[..., 0] / 32, (predicted - truth)[..., 1] / 64)
    assert logs["joint_error"] == pytest.approx(error[weights[..., 0] > 0].mean(), rel=1e-5)
