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
from keras_integral.recipes import load_recipe, recipe_from_dict
from keras_integral.training import backup_epoch, latest_backup

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


def start_training(recipe, data_dir, out_dir, setup=""):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    return subprocess.Popen(
        [sys.executable, "-c", TRAIN_SCRIPT.format(setup=setup), json.dumps(recipe), data_dir, out_dir],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def finish(process, timeout=600):
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-3000:]
    return output


def weights_of(path):
    return [np.asarray(w) for w in keras.models.load_model(path).weights]


def test_killed_run_resumes_to_the_same_weights(synth_dir, tmp_path):
    unbroken = tmp_path / "unbroken"
    finish(start_training(TINY, synth_dir, str(unbroken)))

    broken = tmp_path / "broken"
    process = start_training(TINY, synth_dir, str(broken))
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

    output = finish(start_training(TINY, synth_dir, str(broken)))
    assert f"epoch {killed_at}" in output
    for a, b in zip(weights_of(unbroken / "model.keras"), weights_of(broken / "model.keras")):
        np.testing.assert_array_equal(a, b)


def test_two_replicas_train_like_one_device_with_the_same_global_batch(synth_dir, tmp_path):
    recipe = dict(TINY, epochs=2, phase_switch_epoch=None, method="I*", lr_drops=[])
    two_devices = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
"""
    runs = {}
    for name, setup in (("one", ""), ("two", two_devices)):
        out = tmp_path / name
        output = finish(start_training(recipe, synth_dir, str(out), setup))
        runs[name] = np.genfromtxt(out / "log.csv", delimiter=",", names=True)
        assert f"Training on {1 if name == 'one' else 2} replica(s)" in output
    assert runs["one"]["loss"].shape == (2,)
    np.testing.assert_allclose(runs["two"]["loss"], runs["one"]["loss"], rtol=2e-3)
    np.testing.assert_allclose(runs["two"]["val_loss"], runs["one"]["val_loss"], rtol=2e-3)


@pytest.mark.slow
def test_two_worker_processes_on_loopback_complete(synth_dir, tmp_path):
    import socket

    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    recipe = dict(TINY, epochs=1, phase_switch_epoch=None, method="I*", lr_drops=[])
    processes = []
    for index in range(2):
        env_setup = (
            "import os, json; os.environ['TF_CONFIG'] = json.dumps("
            f"{{'cluster': {cluster!r}, 'task': {{'type': 'worker', 'index': {index}}}}})"
        )
        processes.append(start_training(recipe, synth_dir, str(tmp_path / "run"), env_setup))
    for process in processes:
        finish(process, timeout=900)
    assert (tmp_path / "run" / "model.keras").exists()
    # Two workers with one replica each train like one device with the same global batch.
    finish(start_training(recipe, synth_dir, str(tmp_path / "one")))
    workers = np.genfromtxt(tmp_path / "run" / "log.csv", delimiter=",", names=True)
    one = np.genfromtxt(tmp_path / "one" / "log.csv", delimiter=",", names=True)
    np.testing.assert_allclose(workers["loss"], one["loss"], rtol=2e-3)


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
    from keras_integral.training import load_split, training_stream

    recipe = recipe_from_dict(dict(TINY, augmentation="flip", batch_size=8))
    records = load_split(recipe, synth_dir, "train")
    plain = next(iter(pipeline.make_dataset(records, "coco", (64, 64), training=False, batch_size=len(records))))[0]
    plain = plain.numpy()
    references = np.concatenate([plain, plain[:, :, ::-1]])
    crops = next(iter(training_stream(recipe, records, None, steps_per_epoch=2, initial_epoch=0)))[0].numpy()
    distance = np.abs(crops[:, None] - references[None]).mean(axis=(2, 3, 4)).min(axis=1)
    assert np.all(distance < 1.0), distance  # each is an evaluation crop, as is or mirrored
    flipped = np.abs(crops[:, None] - references[None]).mean(axis=(2, 3, 4)).argmin(axis=1) >= len(plain)
    assert 0 < flipped.sum() < len(crops)  # some mirrored, some not (the stream is seeded: fixed)


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
