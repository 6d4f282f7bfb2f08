"""MultiStagePoseModel (MS-H1 / MS-I1): stage wiring, per-stage losses, training, saving, TFLite."""

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.ops import convert_to_numpy as to_numpy

from keras_integral.models.backbones import ResNetBackbone
from keras_integral.models.heads import DeconvHead
from keras_integral.models.multistage import MultiStagePoseModel
from keras_integral.models.pose_model import IntegralPoseModel
from tests.harness import pose_batch
from tests.harness import run_model_saving_test
from tests.harness import run_tflite

SIZE = (64, 64)
JOINTS = 16  # MPII
CONV3_CHANNELS = 128  # ResNet-18 layer2


def tiny(**kwargs):
    config = dict(backbone="resnet18", method="I1", num_stages=2, skeleton="mpii", input_size=SIZE)
    return MultiStagePoseModel(**(config | kwargs))


def count(layers):
    return sum(int(np.prod(w.shape)) for layer in layers for w in layer.weights)


def test_each_later_stage_is_a_fresh_layer3_layer4_and_head():
    model = tiny(num_stages=3)
    keys = {"keypoints", "scores", "heatmaps"}
    assert set(model.output) == keys | {f"stage{s}_{k}" for s in (1, 2) for k in keys}
    for s in ("stage1_", "stage2_", ""):
        assert tuple(model.output[s + "heatmaps"].shape) == (None, 16, 16, JOINTS)
        assert tuple(model.output[s + "keypoints"].shape) == (None, JOINTS, 2)
    # The first block of a later stage also reads the previous stage's heat maps.
    inputs = CONV3_CHANNELS + JOINTS
    for s in (2, 3):
        assert model.get_layer(f"stage{s}_layer3_0_conv1").kernel.shape == (3, 3, inputs, 256)
        assert model.get_layer(f"stage{s}_layer3_0_downsample_0").kernel.shape == (1, 1, inputs, 256)
        assert model.get_layer(f"stage{s}_layer4_1_conv2").kernel.shape == (3, 3, 512, 512)
    # Parameters: the single-stage model, plus per later stage a torchvision layer3 + layer4,
    # the extra input channels of its two first convolutions (and nothing else), and a head.
    resnet = ResNetBackbone(depth=18, input_shape=(*SIZE, 3))
    layer34 = count(layer for layer in resnet.layers if layer.name.startswith(("layer3", "layer4")))
    extra = 3 * 3 * JOINTS * 256 + 1 * 1 * JOINTS * 256
    head = DeconvHead(JOINTS)
    head.build((None, 2, 2, 512))
    single = IntegralPoseModel(backbone="resnet18", method="I1", skeleton="mpii", input_size=SIZE)
    assert model.count_params() == single.count_params() + 2 * (layer34 + extra + count([head]))


def bilinear_2x(maps):
    # OpenCV's INTER_LINEAR uses half-pixel centres with edge clamping, as Keras' UpSampling2D.
    return np.stack([cv2.resize(m, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR) for m in maps])


@pytest.mark.parametrize("heatmap_size,resize", [
    ((16, 16), lambda m: m.reshape(m.shape[0], 8, 2, 8, 2, -1).mean(axis=(2, 4))),  # 2x2 average
    ((8, 8), lambda m: m),  # already at the conv3 stride
    ((4, 4), bilinear_2x),
])
@pytest.mark.all_backends
def test_later_stages_read_conv3_and_the_previous_heatmaps(heatmap_size, resize, rng):
    model = tiny(heatmap_size=heatmap_size)
    images = rng.uniform(0, 255, size=(2, *SIZE, 3)).astype("float32")
    probe = keras.Model(
        model.input, [model.get_layer("stage2_concat").output, model.output["stage1_heatmaps"]]
    )
    concat, stage1 = (to_numpy(t) for t in probe(images))

    resnet = ResNetBackbone(depth=18, input_shape=(*SIZE, 3))
    resnet.set_weights(model.get_layer("resnet18").get_weights())
    conv3 = to_numpy(keras.Model(resnet.input, resnet.pyramid_outputs["P3"])(images))
    assert concat.shape == (2, 8, 8, CONV3_CHANNELS + JOINTS)
    np.testing.assert_allclose(concat[..., :CONV3_CHANNELS], conv3, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(concat[..., CONV3_CHANNELS:], resize(stage1), rtol=1e-5, atol=1e-7)


@pytest.mark.all_backends
def test_loss_is_the_sum_of_each_stages_own_loss(rng):
    """I1 on three stages: phase 1 sums the H1 loss of each stage, phase 2 the joint L1."""
    model = tiny(num_stages=3)
    images, y = pose_batch(model, rng)
    # Different predictions per stage (fresh heads all predict about the same flat maps).
    outputs = {k: rng.normal(scale=0.5, size=v.shape).astype("float32") for k, v in model(images).items()}
    for p in ("stage1_", "stage2_", ""):
        outputs[p + "keypoints"] = rng.uniform(0, 63, size=y["keypoints"].shape).astype("float32")
    true, weights = y["keypoints"], y["weights"]
    joint_weight = weights.min(axis=-1)

    # H1: Gaussian (sigma 1 cell, peak 1) at the keypoint's heat-map position (cell centres at
    # integers: x_hm = (x + 0.5) * 16 / 64 - 0.5); MSE over cells, mean over (batch, joints).
    cells = (true + 0.5) * 16 / 64 - 0.5
    rows, cols = np.mgrid[0:16, 0:16]
    squared = (cols[None, :, :, None] - cells[:, None, None, :, 0]) ** 2 + (
        rows[None, :, :, None] - cells[:, None, None, :, 1]
    ) ** 2
    target = np.exp(-squared / 2.0)
    per_stage_h1 = [
        np.mean(joint_weight * np.mean((outputs[p + "heatmaps"] - target) ** 2, axis=(1, 2)))
        for p in ("stage1_", "stage2_", "")
    ]
    np.testing.assert_allclose(float(model.compute_loss(y=y, y_pred=outputs)), sum(per_stage_h1), rtol=1e-5)

    model.phase = 2
    per_stage_l1 = [
        np.mean(np.abs(outputs[p + "keypoints"] - true) / 64.0 * weights) for p in ("stage1_", "stage2_", "")
    ]
    np.testing.assert_allclose(float(model.compute_loss(y=y, y_pred=outputs)), sum(per_stage_l1), rtol=1e-5)


@pytest.mark.parametrize("config", [
    dict(method="H1"),
    dict(method="I1", phase=2),
    dict(method="I1", skeleton="h36m", depth_bins=8, two_step=True),
], ids=["MS-H1", "MS-I1-phase2", "MS-I1-3D-two-step"])
@pytest.mark.all_backends
def test_trains_every_stage_and_round_trips(config, rng, tmp_path):
    model = tiny(**config)
    # 3e-4 rather than the paper's 1e-3, as in test_pose_model: one tiny batch.
    model.compile(optimizer=keras.optimizers.Adam(3e-4))
    images, y = pose_batch(model, rng)
    heads = ("head", "stage2_head", "stage2_layer3_0_conv1")
    before = [model.get_layer(name).get_weights()[0].copy() for name in heads]
    history = model.fit(images, y, epochs=6, batch_size=4, verbose=0).history["loss"]
    assert np.all(np.isfinite(history))
    assert history[-1] < history[0], history
    for name, old in zip(heads, before):
        assert not np.allclose(model.get_layer(name).get_weights()[0], old), name

    outputs = model.predict(images, verbose=0)
    assert set(outputs) == {"keypoints", "scores"}
    assert outputs["keypoints"].shape == (4, model.output["keypoints"].shape[1], 3 if model.depth_bins else 2)
    loaded = run_model_saving_test(model, images, tmp_path)
    assert isinstance(loaded, MultiStagePoseModel)
    assert loaded.get_config() == model.get_config()


def test_converts_to_tflite_with_builtin_ops_only(rng, tmp_path):
    model = tiny(method="H1")
    images = rng.uniform(0, 255, size=(1, *SIZE, 3)).astype("float32")
    expected = model.predict(images, verbose=0)

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", model.predict_step,
                         input_signature=[keras.InputSpec(shape=(1, *SIZE, 3), dtype="float32")])
    archive.write_out(str(tmp_path / "saved_model"), verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "saved_model"))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    outputs, op_names = run_tflite(converter.convert(), images)
    assert not any("Flex" in name for name in op_names)
    assert "AVERAGE_POOL_2D" in op_names  # the stage-1 heat maps pooled for stage 2
    keypoints = next(o for o in outputs if o.ndim == 3)
    np.testing.assert_allclose(keypoints, expected["keypoints"], atol=1e-3)


@pytest.mark.parametrize("kwargs,message", [
    (dict(method="R1"), r"expected one of \('H1', 'H2', 'H3', 'I\*', 'I1', 'I2', 'I3'\)"),
    (dict(method="H3", skeleton="h36m", depth_bins=8), r"expected one of \('H1', 'H2', 'I\*'"),
    (dict(backbone="hourglass2"), "must be one of .*'resnet18'"),
    (dict(backbone="mobilenetv3_small"), "must be one of .*'resnet50'"),
    (dict(num_stages=0), "num_stages"),
    (dict(num_stages=2.0), "num_stages"),
    (dict(input_size=(60, 64)), "multiple"),
])
def test_wrong_arguments_name_the_allowed_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny(**kwargs)
