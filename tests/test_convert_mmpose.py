"""MMPose's integral-regression checkpoints: converted, and the zoo's first-use path, against plain torch.

MMPose's released files cannot be downloaded here, so its network is rebuilt
in torch (`tests/mmpose_net.py`) with random weights and BN statistics, saved
as MMPose publishes a checkpoint, and converted; our keypoints are compared
with its forward pass decoded as MMPose decodes (IPR, DSNT, debias-IPR). The
parity is size-generic (the maps, the linspaces and the decoding scale with
the input), so it runs at 64x64 (16x16 maps) instead of 256x256.
"""

import os
import urllib.error
import urllib.request

import numpy as np
import pytest

import keras_integral
from keras_integral import cli
from keras_integral import pth
from keras_integral import skeletons
from keras_integral.download import ChecksumMismatchError
from keras_integral.download import WeightsUnavailableError
from keras_integral.inference import predict_crops
from keras_integral.zoo import convert_mmpose
from keras_integral.zoo import registry
from tests.mmpose_net import MEAN
from tests.mmpose_net import STD
from tests.mmpose_net import mmpose_flip_test
from tests.mmpose_net import mmpose_forward
from tests.mmpose_net import mmpose_network
from tests.mmpose_net import save_like_mmpose
from tests.torch_resnet import needs_torch
from tests.torch_resnet import torch

pytestmark = needs_torch
SIZE = (64, 64)
# preset -> (beta, debias): the registry's own variants, written out here from MMPose's configs.
VARIANTS = {
    "coco_resnet50_mmpose_ipr_256_hm64": (1.0, False),
    "coco_resnet50_mmpose_dsnt_256_hm64": (1.0, False),
    "coco_resnet50_mmpose_debias_256_hm64": (10.0, True),
}
NAME = "coco_resnet50_mmpose_dsnt_256_hm64"


def shift_to_moderate_partition(net, images):
    """Lowers each joint's final bias so that C = Σ exp(logits) is about e^3: the softmax (shift-invariant)
    is unchanged, but debias-IPR's correction, which shrinks as 1/C, moves joints by a measurable amount."""
    with torch.no_grad():
        feats = net(torch.from_numpy(((images - MEAN) / STD).transpose(0, 3, 1, 2).copy()))
        lse = torch.logsumexp(feats.flatten(2), dim=2).mean(dim=0)
        net.head.simplebaseline_head.final_layer.bias.sub_(lse - 3.0)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(1).uniform(0, 255, (4, *SIZE, 3)).astype("float32")


@pytest.fixture(scope="module")
def resnet50(tmp_path_factory, images):
    """MMPose's ResNet-50 integral network at 64x64, saved as MMPose publishes it."""
    net = mmpose_network(50, SIZE, final_gain=12.0)
    shift_to_moderate_partition(net, images)
    return net, save_like_mmpose(net, tmp_path_factory.mktemp("mmpose") / "ipr_res50_test.pth")


@pytest.fixture(scope="module")
def resnet18(tmp_path_factory, images):
    """A small network of the same layout (ResNet-18, 64 head filters) for the zoo-path tests."""
    net = mmpose_network(18, SIZE, final_gain=12.0, filters=64)
    return net, save_like_mmpose(net, tmp_path_factory.mktemp("mmpose") / "small.pth")


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_INTEGRAL_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_converted_checkpoint_predicts_mmposes_keypoints_for_ipr_dsnt_and_debias(resnet50, images, tmp_path):
    net, path = resnet50
    state, meta = convert_mmpose.load_checkpoint(path)
    assert meta["dataset_meta"]["sigmas"].dtype == np.float32  # NumPy arrays of meta, read safely
    converts = {name: registry.presets()[name]["source"]["convert"] for name in VARIANTS}
    for name, (beta, debias) in VARIANTS.items():
        assert (converts[name]["beta"], converts[name]["debias"]) == (beta, debias), name
    # IPR and DSNT are one network and decoding (their configs differ in the training loss only).
    assert converts["coco_resnet50_mmpose_ipr_256_hm64"] == converts[NAME]
    theirs_plain = mmpose_forward(net, images, 10.0, debias=False)
    for name in (NAME, "coco_resnet50_mmpose_debias_256_hm64"):
        beta, debias = VARIANTS[name]
        if name == NAME:  # one goes the whole way: preset folder -> from_preset
            model = keras_integral.from_preset(convert_mmpose.convert(path, tmp_path / name, **converts[name]))
        else:
            model = convert_mmpose.build_model(state, **converts[name])
        assert model.decoding == "mmpose" and model.input_size == SIZE and model.heatmap_size == (16, 16)
        theirs = mmpose_forward(net, images, beta, debias)
        # Only as strong as the maps are peaked: the joints must spread over the crop, not sit at its centre.
        assert np.all(theirs.std(axis=(0, 1)) > 4.0), name
        ours = np.asarray(model.predict_step(images)["keypoints"])
        error = np.linalg.norm(ours - theirs, axis=-1)
        assert error.mean() <= 0.02 and error.max() < 0.1, (name, error.mean(), error.max())
        if debias:  # the correction is not lost in the tolerance: it moves joints by far more
            assert np.linalg.norm(theirs - theirs_plain, axis=-1).mean() > 0.1


def test_extra_missing_and_misshapen_tensors_are_each_refused_by_name(resnet18):
    _, path = resnet18
    state, _ = convert_mmpose.load_checkpoint(path)
    extra = {**state, "head.simplebaseline_head.conv_layers.0.weight": np.zeros((64, 64, 3, 3), "float32")}
    with pytest.raises(pth.UnusedTensorError, match="'head.simplebaseline_head.conv_layers.0.weight'"):
        convert_mmpose.build_model(extra)
    missing = {k: v for k, v in state.items() if k != "backbone.layer2.0.downsample.1.running_var"}
    with pytest.raises(pth.MissingTensorError, match="'backbone.layer2.0.downsample.1.running_var'"):
        convert_mmpose.build_model(missing)
    joints16 = {**state, "head.simplebaseline_head.final_layer.weight": state[
        "head.simplebaseline_head.final_layer.weight"][:16]}
    with pytest.raises(pth.TensorShapeError, match="final_layer.weight"):
        convert_mmpose.build_model(joints16)
    shifted = {**state, "head.linspace_x": state["head.linspace_x"] + 0.5 / 16}
    with pytest.raises(ValueError, match="head.linspace_x is not arange"):
        convert_mmpose.build_model(shifted)


class RunsCode:
    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def use_test_file_as(name, path, monkeypatch):
    """Points registry preset `name` at a file like `path` (its hash prefix), as if `path` were published."""
    entry = registry._registry()["presets"][name]
    prefix = registry.sha256_file(path)[:8]
    monkeypatch.setitem(entry, "source", {**entry["source"], "sha256_prefix": prefix,
                                          "url": f"https://download.invalid/mmpose/small-{prefix}_20220913.pth"})
    return registry.upstream_path(name)


def offline(monkeypatch):
    def refuse(*args, **kwargs):
        raise urllib.error.URLError("no network (test)")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def test_first_use_converts_into_the_cache_and_later_uses_load_the_converted_preset(resnet18, images, monkeypatch):
    net, path = resnet18
    offline(monkeypatch)
    upstream = use_test_file_as(NAME, path, monkeypatch)
    upstream.parent.mkdir(parents=True)
    upstream.write_bytes(path.read_bytes())  # placed by hand, as the offline message says
    assert not registry.info(NAME)["cached_at"]
    model = keras_integral.from_preset(NAME)
    assert registry.info(NAME)["cached_at"] == str(registry.converted_dir(NAME))
    theirs = mmpose_forward(net, images)
    first = np.asarray(model.predict_step(images)["keypoints"])
    assert np.linalg.norm(first - theirs, axis=-1).mean() <= 0.02
    metadata = registry.info(NAME)
    assert metadata["reported"]["value"] == 0.674
    # From then on the converted preset is loaded: no converter runs, even without the upstream file.
    upstream.unlink()
    monkeypatch.setitem(registry.CONVERTERS, "mmpose", None)
    again = np.asarray(keras_integral.from_preset(NAME).predict_step(images)["keypoints"])
    np.testing.assert_array_equal(again, first)
    # A registry that names another file does not take the old conversion for it.
    monkeypatch.setitem(registry._registry()["presets"][NAME], "source",
                        {**registry._registry()["presets"][NAME]["source"], "sha256_prefix": "00000000"})
    assert registry.info(NAME)["cached_at"] is None


def test_offline_with_an_empty_cache_names_the_url_and_the_path(monkeypatch):
    offline(monkeypatch)
    for name in (NAME, "chall_resnet152_authors_train_384x288_hm96"):
        url = registry.presets()[name]["source"]["url"]
        with pytest.raises(WeightsUnavailableError) as info:
            keras_integral.from_preset(name)
        assert url in str(info.value) and str(registry.upstream_path(name)) in str(info.value)
    assert "?dl=1" in url  # a Dropbox link that downloads the file, not the page
    assert not registry.converted_dir(NAME).exists()


def test_a_file_of_the_wrong_hash_is_refused_and_nothing_converted_is_cached(resnet18, monkeypatch, tmp_path):
    _, path = resnet18
    offline(monkeypatch)
    upstream = use_test_file_as(NAME, path, monkeypatch)
    upstream.parent.mkdir(parents=True)
    upstream.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ChecksumMismatchError, match="does not start with"):
        keras_integral.from_preset(NAME)
    assert not registry.converted_dir(NAME).exists()


def test_a_hostile_global_in_meta_is_refused_and_does_not_run(resnet18, monkeypatch, tmp_path):
    net, _ = resnet18
    marker = tmp_path / "ran"
    evil = save_like_mmpose(net, tmp_path / "evil.pth", {"hook_msgs": RunsCode(os.system, f"touch {marker}")})
    offline(monkeypatch)
    upstream = use_test_file_as(NAME, evil, monkeypatch)
    upstream.parent.mkdir(parents=True)
    upstream.write_bytes(evil.read_bytes())
    with pytest.raises(pth.UnsafeCheckpointError, match=f"global {os.system.__module__}.system"):
        keras_integral.from_preset(NAME)
    assert not marker.exists() and not registry.converted_dir(NAME).exists()


def test_zoo_convert_with_like_or_a_recognised_name(resnet18, images, tmp_path, capsys):
    net, path = resnet18
    out = tmp_path / "fine_tuned"
    assert cli.main(["zoo", "convert", str(path), "--like", NAME, "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "another file of" in said and f"'{NAME}'" in said
    model = keras_integral.from_preset(out)
    assert np.linalg.norm(np.asarray(model.predict_step(images)["keypoints"]) - mmpose_forward(net, images),
                          axis=-1).mean() <= 0.02
    # Without --like: recognised from MMPose's file name (its stem, before the hash and date).
    named = tmp_path / "ipr_res50_dsnt-8xb64-210e_coco-256x256_best.pth"
    named.write_bytes(path.read_bytes())
    out, like, note = registry.convert_file(named, tmp_path / "recognised")
    assert like == NAME and "recognised" in note
    with pytest.raises(ValueError, match="pass --like NAME"):
        registry.convert_file(path, tmp_path / "unknown")


def test_zoo_list_shows_source_licence_reported_metric_and_cache(capsys):
    assert cli.main(["zoo", "list"]) == 0
    out = capsys.readouterr().out
    for name, entry in registry.presets().items():
        assert name in out and entry["source"]["url"] in out and entry["licence"] in out
        assert str(entry["reported"]["value"]) in out
    assert "not cached" in out


def test_flip_test_on_the_converted_model_is_mmposes(resnet18, images):
    net, path = resnet18
    state, _ = convert_mmpose.load_checkpoint(path)
    model = convert_mmpose.build_model(state)
    ours, _ = predict_crops(model, images, flip_index=skeletons.get("coco").flip_index)
    error = np.linalg.norm(ours - mmpose_flip_test(net, images), axis=-1)
    assert error.mean() <= 0.02


@pytest.fixture(scope="module")
def coco_records():
    from pathlib import Path

    from keras_integral.data import coco

    samples = Path(__file__).resolve().parents[2] / "shared" / "data" / "samples" / "coco"
    return coco.load_records(samples / "test_coco_subset.json", samples)


def calibration_crops(records, model):
    """The plain sample crops, mirrored and dimmed copies of them (cheap variety for the int8 calibration)."""
    from keras_integral import export as export_lib

    plain = export_lib.representative_crops(records, model)
    return np.concatenate([plain, plain[:, :, ::-1], np.clip(plain * 0.7 + 30.0, 0.0, 255.0)]).astype("float32")


def int8_parity(model, crops, out_dir):
    from ai_edge_litert.interpreter import Interpreter

    from keras_integral import export as export_lib

    manifest = export_lib.export(model, out_dir, formats=("tflite",), quantize=("int8",),
                                 representative_data=crops, allow_parity_loss=True)
    interpreter = Interpreter(model_path=str(out_dir / "model_int8.tflite"))
    dtypes = {t["index"]: t["dtype"] for t in interpreter.get_tensor_details()}
    ops = {}
    for op in interpreter._get_ops_details():
        ops.setdefault(op["op_name"], set()).update(dtypes[t] for t in op["outputs"])
    return manifest["artifacts"]["tflite_int8"]["parity"], ops


# Our own models' int8 bound (1 px mean at 256x256, export/parity.py), scaled to 64x64, written out here.
INT8_MEAN_PX = 1.0 * 64 / 256


def test_int8_tflite_of_a_converted_debiased_model_keeps_its_decoding_in_float(resnet18, coco_records, tmp_path):
    # Random weights make every peak a near tie that int8 noise in the backbone can flip, the sharper
    # the softmax the more (beta 10: 1.5-2 px mean at 64x64, also after 20 fine-tuning steps); softer
    # maps (final layer / 4, beta 1) keep the measurement about the decoding, which is what the
    # conversion adds (debias: exp, log-sum-exp). A trained network's int8 error is not known here.
    state, _ = convert_mmpose.load_checkpoint(resnet18[1])
    final = "head.simplebaseline_head.final_layer.weight"
    model = convert_mmpose.build_model({**state, final: state[final] / 4}, debias=True, beta=1.0)
    crops = calibration_crops(coco_records, model)
    # The joints move with the crop (0.26 px here; a constant output would quantize without error).
    assert np.asarray(model.predict(crops, verbose=0)["keypoints"]).std(axis=0).mean() > 0.2
    parity, ops = int8_parity(model, crops, tmp_path / "export")
    assert parity["mean_px"] <= INT8_MEAN_PX, parity
    # The debiased integral reads the maps' level (C), so int8 keeps the last convolution in float too.
    assert ops["SOFTMAX"] == ops["EXP"] == {np.float32} and ops["CONV_2D"] == {np.int8, np.float32}, ops


@pytest.mark.slow
def test_int8_error_of_a_converted_model_is_our_own_models_on_the_same_network(resnet18, coco_records, tmp_path):
    # The same weights decoded our way (I*, "centre") and MMPose's (debias): int8 quantizes the same
    # network, so what the conversion adds to the decoding must not add to the error.
    from keras_integral.models import IntegralPoseModel

    state, _ = convert_mmpose.load_checkpoint(resnet18[1])
    converted = convert_mmpose.build_model(state, debias=True, beta=1.0)
    own = IntegralPoseModel(**{**converted.get_config(), "decoding": "centre", "debias": False})
    own.set_weights(converted.get_weights())
    crops = calibration_crops(coco_records, converted)
    assert np.asarray(converted.predict(crops, verbose=0)["keypoints"]).std(axis=0).mean() > 1.0
    theirs, _ = int8_parity(converted, crops, tmp_path / "converted")
    ours, _ = int8_parity(own, crops, tmp_path / "own")
    assert theirs["mean_px"] <= 1.1 * ours["mean_px"] + 0.01, (theirs, ours)


@pytest.mark.slow
def test_an_ipr_conversion_exports_to_savedmodel_tflite_and_onnx_within_their_parity(resnet18, coco_records, tmp_path):
    from keras_integral import export as export_lib

    state, _ = convert_mmpose.load_checkpoint(resnet18[1])
    model = convert_mmpose.build_model(state)  # IPR / DSNT: beta 1
    crops = calibration_crops(coco_records, model)
    assert np.asarray(model.predict(crops, verbose=0)["keypoints"]).std(axis=0).mean() > 1.0  # not constant
    # int8 is left out: on random weights every peak is a near tie (see the int8 test above). The
    # beta-10 debias conversion misses the fp32 / fp16 targets here too, for the same reason (README).
    manifest = export_lib.export(model, tmp_path / "export", quantize=("fp32", "fp16"), representative_data=crops)
    assert sorted(manifest["artifacts"]) == ["onnx", "saved_model", "tflite_fp16", "tflite_fp32"]


def test_a_converted_model_fine_tunes_with_fit_and_predicts_on_images(resnet18, coco_records):
    from keras_integral.data import pipeline
    from keras_integral.inference import Predictor

    state, _ = convert_mmpose.load_checkpoint(resnet18[1])
    model = convert_mmpose.build_model(state, debias=True, beta=10.0)
    records = coco_records
    before = [w.copy() for w in model.get_layer("head").final_conv.get_weights()]
    model.compile(run_eagerly=True)  # eager: tracing the train step would cost more than the step
    history = model.fit(pipeline.make_dataset(records, "coco", SIZE, training=True, batch_size=2, seed=0),
                        steps_per_epoch=1, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert not np.array_equal(before[0], model.get_layer("head").final_conv.get_weights()[0])
    import cv2

    image = cv2.cvtColor(cv2.imread(str(records[0].image_path)), cv2.COLOR_BGR2RGB)
    out = Predictor(model, flip_test=True).predict(image, boxes=[records[0].box])
    x, y, w, h = records[0].box
    assert out["keypoints"].shape == (1, 17, 2)
    # Inside the (enlarged) box: crop pixels mapped back to the image.
    assert np.all((out["keypoints"] >= [x - w, y - h]) & (out["keypoints"] <= [x + 2 * w, y + 2 * h]))
