"""IntegralPoseModel: every method trains, saves, loads, exports; wrong arguments are refused."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.ops import convert_to_numpy as to_numpy

from keras_integral.methods import METHODS_2D
from keras_integral.methods import METHODS_3D
from keras_integral.models.pose_model import IntegralPoseModel
from tests.harness import pose_batch
from tests.harness import run_model_saving_test
from tests.harness import run_tflite

SIZE = (64, 64)


def fit_loss_goes_down(model, rng, steps=6):
    # 3e-4 rather than the paper's 1e-3: on one tiny batch 1e-3 makes H1's loss bounce.
    model.compile(optimizer=keras.optimizers.Adam(3e-4))
    images, y = pose_batch(model, rng)
    history = model.fit(images, y, epochs=steps, batch_size=4, verbose=0).history["loss"]
    assert np.all(np.isfinite(history))
    assert history[-1] < history[0], history
    return images


CONFIGS = [dict(method=m, skeleton="coco") for m in METHODS_2D] + [
    dict(method=m, skeleton="h36m", depth_bins=8, two_step=two_step)
    for m in METHODS_3D
    for two_step in (False, True)
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(str(v) for v in c.values()))
@pytest.mark.all_backends
def test_every_method_trains_and_round_trips(config, rng, tmp_path):
    model = IntegralPoseModel(backbone="resnet18", input_size=SIZE, **config)
    images = fit_loss_goes_down(model, rng)
    outputs = model.predict(images, verbose=0)
    dims = 3 if "depth_bins" in config else 2
    assert set(outputs) == {"keypoints", "scores"}
    assert outputs["keypoints"].shape == (4, model.output["keypoints"].shape[1], dims)
    assert np.all((outputs["scores"] >= 0) & (outputs["scores"] <= 1))
    loaded = run_model_saving_test(model, images, tmp_path)
    assert loaded.get_config() == model.get_config()


@pytest.mark.parametrize("backbone", ["resnet34", "resnet18_stride8", "mobilenetv3_small", "hourglass2"])
def test_other_backbones_train_and_round_trip(backbone, rng, tmp_path):
    kwargs = dict(method="I1", skeleton="mpii", input_size=SIZE)
    if backbone.startswith("hourglass"):
        kwargs["heatmap_size"] = (16, 16)
    model = IntegralPoseModel(backbone=backbone, **kwargs)
    assert model.heatmap_size == (SIZE[0] // 4, SIZE[1] // 4)  # the default: stride 4, whatever the backbone's
    if backbone.startswith("hourglass"):  # every stack is supervised
        assert {"stage0_heatmaps", "stage0_keypoints", "heatmaps"} <= set(model.output)
    images = fit_loss_goes_down(model, rng, steps=8)
    run_model_saving_test(model, images, tmp_path)


@pytest.mark.parametrize("backbone", ["resnet50", "resnet101", "resnet152", "mobilenetv3_large"])
def test_large_backbones_build(backbone):
    model = IntegralPoseModel(backbone=backbone, method="I1", skeleton="coco", input_size=SIZE)
    assert tuple(model.output["heatmaps"].shape) == (None, 16, 16, 17)


@pytest.mark.parametrize("decoding,expected", [
    # x: cell 9 covers pixels 36..39 -> centre 37.5; y: 5 -> 21.5; z: bin 6 of 8 over +-1000 mm.
    ("centre", [37.5, 21.5, (6.5 / 8 - 0.5) * 2000.0]),
    # The authors' index x stride: 9 * 4, 5 * 4, (6 / 8 - 0.5) * 2000.
    ("authors", [36.0, 20.0, 500.0]),
])
@pytest.mark.all_backends
def test_keypoints_are_crop_pixels_and_depth_is_mm(decoding, expected):
    """A one-hot volume decodes to its cell's input pixels, and bin d to its mm."""
    model = IntegralPoseModel(backbone="resnet18", method="I*", skeleton="h36m", input_size=SIZE,
                              depth_bins=8, depth_range_mm=2000.0, decoding=decoding)
    volume = np.full((1, 16, 16, 8, 17), -1e4, "float32")
    volume[0, 5, 9, 6, :] = 0.0  # row 5, column 9, depth bin 6
    head_out = keras.Model(model.input, model.get_layer("volume_0").output)
    decode = keras.Model(head_out.output, model.output["keypoints"])
    keypoints = to_numpy(decode(volume))[0, 0]
    np.testing.assert_allclose(keypoints, expected, atol=1e-3)
    cells = np.asarray(model.codec.encode(keypoints[None, None]))[0, 0]
    np.testing.assert_allclose(cells, [9, 5, 6], atol=1e-4)


@pytest.mark.all_backends
def test_two_phases_switch_the_loss_without_rebuilding(rng):
    model = IntegralPoseModel(backbone="resnet18", method="I2", skeleton="coco", input_size=SIZE)
    model.compile()
    images, y = pose_batch(model, rng)
    outputs = model(images, training=False)
    phase1 = float(model.compute_loss(y=y, y_pred=outputs))
    model.phase = 2
    phase2 = float(model.compute_loss(y=y, y_pred=outputs))
    # Phase 1 is the softmax CE over 16*16 cells (about log 256 at init); phase 2 the L1 on
    # coordinates normalised by the crop size (well below 1).
    assert phase1 > 4.0 and phase2 < 1.0
    expected = np.mean(
        np.abs(to_numpy(outputs["keypoints"]) - y["keypoints"]) / 64.0 * y["weights"]
    )
    np.testing.assert_allclose(phase2, expected, rtol=1e-5)


@pytest.mark.all_backends
def test_all_zero_weights_give_zero_loss(rng):
    for config in (dict(method="I1"), dict(method="H2")):
        model = IntegralPoseModel(backbone="resnet18", skeleton="coco", input_size=SIZE, **config)
        images, y = pose_batch(model, rng)
        y["weights"][:] = 0.0
        assert float(model.compute_loss(y=y, y_pred=model(images))) == 0.0


def test_jit_compile_and_mixed_float16(rng):
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        model = IntegralPoseModel(backbone="resnet18", method="I1", skeleton="coco", input_size=SIZE)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert model.output["keypoints"].dtype == "float32"
    model.compile(jit_compile=True)
    images, y = pose_batch(model, rng)
    history = model.fit(images, y, epochs=2, batch_size=4, verbose=0).history["loss"]
    assert np.all(np.isfinite(history))


def test_mixed_bfloat16_trains_with_float32_outputs(rng):
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        model = IntegralPoseModel(backbone="resnet18_stride8", method="I1", skeleton="coco", input_size=SIZE,
                                  heatmap_size=(16, 16), head_filters=32)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert model.output["keypoints"].dtype == "float32" and model.output["heatmaps"].dtype == "bfloat16"
    model.compile()
    images, y = pose_batch(model, rng)
    history = model.fit(images, y, epochs=2, batch_size=4, verbose=0).history["loss"]
    assert np.all(np.isfinite(history))


def test_converts_to_tflite_with_builtin_ops_only(rng, tmp_path):
    model = IntegralPoseModel(backbone="resnet18", method="H1", skeleton="coco", input_size=SIZE)
    images = rng.uniform(0, 255, size=(1, *SIZE, 3)).astype("float32")
    expected = model.predict(images, verbose=0)

    archive = keras.export.ExportArchive()
    archive.track(model)
    signature = [keras.InputSpec(shape=(1, *SIZE, 3), dtype="float32")]
    archive.add_endpoint("serve", model.predict_step, input_signature=signature)
    archive.write_out(str(tmp_path / "saved_model"), verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "saved_model"))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    outputs, op_names = run_tflite(converter.convert(), images)
    assert not any("Flex" in name for name in op_names)
    keypoints = next(o for o in outputs if o.ndim == 3)
    np.testing.assert_allclose(keypoints, expected["keypoints"], atol=1e-3)


@pytest.mark.parametrize("method, scale", [("I1", 1.0), ("I1", 10.0), ("H1", 10.0)])
@pytest.mark.all_backends
def test_integral_scale_multiplies_the_logits_of_the_integral_only(method, scale, rng):
    model = IntegralPoseModel(backbone="resnet18_stride8", method=method, skeleton="coco", input_size=SIZE,
                              heatmap_size=(16, 16), head_filters=16, integral_scale=scale)
    out = model(rng.uniform(0, 255, (2, *SIZE, 3)).astype("float32"), training=False)
    maps = to_numpy(out["heatmaps"]).astype(np.float64)  # what the heat-map losses see: the head's own output
    if method == "H1":  # arg-max decoding ignores the scale: the model is the unscaled one's
        assert not any("integral_scale" in layer.name for layer in model.layers)
        return
    logits = scale * maps.reshape(2, 256, 17)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    rows, cols = np.divmod(np.arange(256), 16)
    cells = np.stack([(p * cols[None, :, None]).sum(1), (p * rows[None, :, None]).sum(1)], axis=-1)
    np.testing.assert_allclose(to_numpy(out["keypoints"]), (cells + 0.5) * 4 - 0.5, atol=2e-3)


@pytest.mark.parametrize("kwargs,message", [
    (dict(integral_scale=0.0), "integral_scale"),
    (dict(method="I4"), "expected one of"),
    (dict(backbone="vgg16"), "resnet18"),
    (dict(method="H3", skeleton="h36m", depth_bins=8), "3D method"),
    (dict(method="I1", skeleton="coco", depth_bins=8), "3D skeleton"),
    (dict(heatmap_size=(128, 128)), "larger than the input"),
    (dict(heatmap_size=(24, 24)), "allowed"),
    (dict(two_step=True), "depth_bins"),
    (dict(input_size=(60, 64)), "multiple"),
    (dict(input_size=64.0), "positive ints"),
    (dict(input_size=(64, 64, 3)), "positive ints"),
    (dict(method="I2", skeleton="h36m", depth_bins=8, depth_range_mm=0), "depth_range_mm"),
    (dict(method="I2", skeleton="h36m", depth_bins=8, depth_range_mm=-2000.0), "depth_range_mm"),
    (dict(method="I2", skeleton="h36m", depth_bins=8, depth_range_mm=float("nan")), "depth_range_mm"),
    (dict(head_filters=0), "head_filters"),
    (dict(crop_margin=0.0), "`crop_margin` must be a finite number > 0"),
    (dict(crop_margin=-1.25), "`crop_margin` must be a finite number > 0"),
    (dict(crop_margin=float("inf")), "`crop_margin` must be a finite number > 0"),
    (dict(crop_margin=float("nan")), "`crop_margin` must be a finite number > 0"),
    (dict(crop_margin="1.25"), "`crop_margin` must be a finite number > 0"),
    (dict(crop_margin=True), "`crop_margin` must be a finite number > 0"),
    (dict(method="H1", debias=True), "`debias=True` is for 2D integral methods"),
    (dict(decoding="mmpose", depth_bins=8, skeleton="h36m"), "2D only"),
])
def test_wrong_arguments_name_the_allowed_values(kwargs, message):
    config = dict(backbone="resnet18", method="I1", skeleton="coco", input_size=SIZE) | kwargs
    with pytest.raises(ValueError, match=message):
        IntegralPoseModel(**config)


def test_crop_margin_is_in_the_config_and_round_trips_through_a_keras_file(rng, tmp_path):
    from keras_integral.models import MultiStagePoseModel

    model = IntegralPoseModel(backbone="resnet18", method="I1", skeleton="coco", input_size=SIZE, crop_margin=1.5)
    assert model.crop_margin == 1.5 and model.get_config()["crop_margin"] == 1.5
    loaded = run_model_saving_test(model, pose_batch(model, rng)[0], tmp_path)
    assert loaded.crop_margin == 1.5 and loaded.get_config() == model.get_config()
    # A config saved before the key existed (older presets) loads with the default.
    old = {k: v for k, v in model.get_config().items() if k != "crop_margin"}
    assert IntegralPoseModel.from_config(old).crop_margin == 1.25
    multistage = MultiStagePoseModel(backbone="resnet18", method="H1", num_stages=2, skeleton="mpii",
                                     input_size=SIZE, crop_margin=1.5)
    assert MultiStagePoseModel.from_config(multistage.get_config()).crop_margin == 1.5


def test_compile_refuses_a_loss():
    model = IntegralPoseModel(backbone="resnet18", method="I1", skeleton="coco", input_size=SIZE)
    with pytest.raises(ValueError, match="loss"):
        model.compile(loss="mse")


def test_input_size_takes_one_int_or_numpy_ints():
    square = IntegralPoseModel(backbone="resnet18", method="I1", skeleton="coco", input_size=64)
    pair = IntegralPoseModel(backbone="resnet18", method="I1", skeleton="coco", input_size=np.array([64, 96]))
    assert square.input_size == (64, 64) and pair.input_size == (64, 96)
    assert all(type(v) is int for v in pair.input_size)  # the config stays JSON


@pytest.fixture(scope="module")
def i1_model():
    return IntegralPoseModel(backbone="resnet18", method="I1", skeleton="coco", input_size=SIZE)


@pytest.mark.parametrize("images,message", [
    (np.zeros((1, 96, 96, 3), "uint8"), r"\(batch, 64, 64, 3\).*received crops of 96x96"),
    (np.zeros((1, 64, 64, 4), "uint8"), r"received 4 channels .*alpha"),
    (np.zeros((1, 64, 64, 1), "uint8"), r"RGB .*received 1 channels"),
    (np.zeros((64, 64, 3), "uint8"), r"one image of shape \(64, 64, 3\): add a batch axis"),
    (np.zeros((2, 64, 64), "uint8"), r"rank 3, not 4"),
    (np.full((1, 64, 64, 3), "a"), r"uint8 or float.*received dtype"),
    (np.zeros((1, 64, 64, 3), bool), r"received dtype bool"),
])
@pytest.mark.parametrize("entry", ["predict", "predict_on_batch", "call"])
@pytest.mark.all_backends
def test_wrong_images_are_refused_at_the_input_with_what_it_expects(i1_model, images, message, entry):
    run = {"predict": lambda x: i1_model.predict(x, verbose=0), "predict_on_batch": i1_model.predict_on_batch,
           "call": i1_model}[entry]
    with pytest.raises(ValueError, match=message):
        run(images)


@pytest.mark.all_backends
def test_wrong_images_are_refused_in_a_dataset_too(i1_model):
    dataset = tf.data.Dataset.from_tensor_slices(np.zeros((2, 32, 32, 3), "uint8")).batch(2)
    with pytest.raises(ValueError, match="received crops of 32x32"):
        i1_model.predict(dataset, verbose=0)


@pytest.mark.parametrize("entry", ["predict", "predict_on_batch", "call"])
@pytest.mark.all_backends
def test_an_empty_batch_gives_empty_outputs(i1_model, entry):
    empty = np.zeros((0, *SIZE, 3), "uint8")
    out = {"predict": lambda x: i1_model.predict(x, verbose=0), "predict_on_batch": i1_model.predict_on_batch,
           "call": i1_model}[entry](empty)
    assert tuple(out["keypoints"].shape) == (0, 17, 2) and tuple(out["scores"].shape) == (0, 17)
    if entry == "call":
        assert tuple(out["heatmaps"].shape) == (0, 16, 16, 17)


@pytest.mark.all_backends
def test_uint8_and_float_images_give_the_same_prediction(i1_model, rng):
    images = rng.integers(0, 256, size=(2, *SIZE, 3)).astype("uint8")
    as_uint8 = i1_model.predict_on_batch(images)
    as_float = i1_model.predict_on_batch(images.astype("float64"))
    np.testing.assert_allclose(as_uint8["keypoints"], as_float["keypoints"], atol=1e-5)
