"""keras-hub backbones inside the pose models (`models/backbones/hub.py`).

keras-hub's presets download from Kaggle, so the backbones here are built
from their configuration (random weights, smallest configurations that
keep stride 32); a local preset folder stands in for a preset name. Each is
plugged into I1 (2D) and a 3D method, trained 2 steps, saved and reloaded
as `.keras`, and exported with parity. The normalisation in front of the
backbone is checked against NumPy.
"""

import keras
import numpy as np
import pytest

from keras_integral import export as export_lib
from keras_integral.download import WeightsUnavailableError
from keras_integral.models import IntegralPoseModel
from keras_integral.models.backbones import HubBackbone
from keras_integral.models.backbones import get_backbone
from keras_integral.models.backbones.hub import HUB_NORMALISATION
from keras_integral.recipes import recipe_from_dict
from tests.harness import pose_batch
from tests.harness import run_model_saving_test

keras_hub = pytest.importorskip("keras_hub", reason="keras-hub is optional: pip install 'keras-integral[hub]'")
SIZE = (64, 64)


def tiny_resnet():
    """keras-hub's ResNet (torchvision layout, as its presets), one basic block per stage."""
    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[7], stackwise_num_filters=[64, 16, 16, 16],
        stackwise_num_blocks=[1, 1, 1, 1], stackwise_num_strides=[1, 2, 2, 2], block_type="basic_block",
        name="hub_resnet")


def tiny_mobilenet_v3():
    """keras-hub's MobileNetV3 blocks (SE, hard-swish, depthwise), one per stage, stride 32."""
    return keras_hub.models.MobileNetBackbone(
        stackwise_expansion=[[16], [32], [48], [64]],
        stackwise_num_blocks=[1, 1, 1, 1],
        stackwise_num_filters=[[16], [24], [24], [32]],
        stackwise_kernel_size=[[3], [5], [5], [5]],
        stackwise_num_strides=[[2], [2], [1], [2]],
        stackwise_se_ratio=[[None], [0.25], [0.25], [0.25]],
        stackwise_activation=[["relu"], ["hard_swish"], ["hard_swish"], ["hard_swish"]],
        stackwise_padding=[[1], [2], [2], [2]],
        output_num_filters=1024, depthwise_filters=8, depthwise_stride=2, depthwise_residual=False,
        last_layer_filter=64, squeeze_and_excite=0.5, input_activation="hard_swish",
        output_activation="hard_swish", input_num_filters=16, name="hub_mobilenet_v3")


HUB_BACKBONES = {"resnet": tiny_resnet, "mobilenet_v3": tiny_mobilenet_v3}
# method, extra IntegralPoseModel arguments
MODELS = {
    "I1": ("I1", dict(skeleton="coco")),
    "I2-3D": ("I2", dict(skeleton="h36m", depth_bins=8, two_step=True)),
}


def test_normalisation_is_the_class_default_and_matches_numpy():
    net = tiny_resnet()
    wrapped = HubBackbone(net, (*SIZE, 3))
    scale, offset = HUB_NORMALISATION["ResNetBackbone"]
    mean, std = np.array([123.675, 116.28, 103.53]), np.array([58.395, 57.12, 57.375])
    np.testing.assert_allclose(offset, -mean / std)
    np.testing.assert_allclose(scale, 1 / std)
    x = np.random.default_rng(0).uniform(0, 255, (2, *SIZE, 3)).astype("float32")
    want = net(((x - mean) / std).astype("float32"))
    np.testing.assert_allclose(wrapped(x), want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    assert wrapped.output.shape == (None, 2, 2, 16)


@pytest.mark.parametrize("backbone", HUB_BACKBONES)
@pytest.mark.parametrize("case", MODELS)
def test_hub_backbone_trains_saves_and_exports(backbone, case, tmp_path):
    keras.utils.set_random_seed(0)
    method, kwargs = MODELS[case]
    model = IntegralPoseModel(backbone=HUB_BACKBONES[backbone](), method=method, input_size=SIZE,
                              head_filters=16, **kwargs)
    assert isinstance(model.get_layer(model.backbone_name), HubBackbone)
    model.compile()
    images, targets = pose_batch(model, np.random.default_rng(1), n=4)
    history = model.fit(images, targets, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    # The config holds the whole keras-hub backbone: loading needs neither a download nor the object.
    assert model.get_config()["backbone"]["class_name"] == "HubBackbone"
    loaded = run_model_saving_test(model, images, tmp_path)
    assert isinstance(loaded.get_layer(model.backbone_name).backbone, keras_hub.models.Backbone)

    quantize = ("fp32", "int8") if case == "I1" else ("fp32",)
    manifest = export_lib.export(loaded, tmp_path / "export", quantize=quantize,
                                 representative_data=np.concatenate([images] * 4))
    assert {"saved_model", "tflite_fp32", "onnx"} <= set(manifest["artifacts"])
    for name, artifact in manifest["artifacts"].items():
        assert artifact["parity"]["within_target"], (name, artifact["parity"])


def test_a_preset_folder_brings_its_image_converters_normalisation(tmp_path):
    folder = tmp_path / "tiny_resnet_preset"
    tiny_resnet().save_to_preset(str(folder))
    keras_hub.layers.ResNetImageConverter(image_size=(224, 224), scale=1 / 255.0, offset=-0.5).save_to_preset(
        str(folder))
    recipe = recipe_from_dict({"dataset": "coco", "train_annotations": "a.json", "train_images": "i",
                               "backbone": f"keras_hub:{folder}", "method": "I1", "input_size": [64, 64],
                               "head_filters": 16})
    model = IntegralPoseModel(**recipe.model_kwargs)
    wrapped = model.get_layer(model.backbone_name)
    np.testing.assert_allclose(wrapped.scale, [1 / 255.0] * 3)
    np.testing.assert_allclose(wrapped.offset, [-0.5] * 3)
    config = model.get_config()
    # The preset is read once; the model rebuilds from its own config without the folder.
    for path in sorted(folder.iterdir()):
        path.unlink()
    folder.rmdir()
    clone = IntegralPoseModel.from_config(config)
    clone.set_weights(model.get_weights())
    x = np.random.default_rng(2).uniform(0, 255, (1, 64, 64, 3)).astype("float32")
    np.testing.assert_array_equal(clone.predict(x, verbose=0)["keypoints"], model.predict(x, verbose=0)["keypoints"])


def test_unusable_backbones_are_refused_with_the_reason(tmp_path):
    vit = keras_hub.models.ViTBackbone(image_shape=(64, 64, 3), patch_size=16, num_layers=1, num_heads=1,
                                       hidden_dim=8, mlp_dim=8)
    with pytest.raises(ValueError, match="not one .batch, height, width, channels. feature map"):
        IntegralPoseModel(backbone=vit, method="I1", input_size=SIZE)
    inputs = keras.Input((None, None, 3))
    stride16 = keras.Model(inputs, keras.layers.Conv2D(8, 16, strides=16)(inputs))
    with pytest.raises(ValueError, match="not stride 32"):
        IntegralPoseModel(backbone=stride16, method="I1", input_size=SIZE)
    with pytest.raises(ValueError, match="comes with its own weights"):
        get_backbone(tiny_resnet(), (*SIZE, 3), weights="imagenet")
    with pytest.raises(WeightsUnavailableError, match="keras_hub:<dir>"):
        get_backbone(f"keras_hub:{tmp_path / 'no_such_preset'}", (*SIZE, 3))


# keras-hub class -> (timm architecture its presets come from, channels): the table of hub.py.
PRESET_FAMILIES = {
    "ResNetBackbone": [("resnet50", 2048), ("resnetv2_50", 2048)],
    "MobileNetBackbone": [("mobilenetv3_small_100", 576), ("mobilenetv3_large_100", 960)],
    "EfficientNetBackbone": [("efficientnet_b0", 1280)],
    "CSPNetBackbone": [("cspdarknet53", 1024), ("cspresnet50", 1024)],
    "DenseNetBackbone": [("densenet121", 1024)],
    "VGGBackbone": [("vgg16", 512)],
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", PRESET_FAMILIES)
def test_preset_configurations_give_one_stride_32_map(kind):
    """The presets' own configurations (keras-hub's timm converters), random weights, at 128x96."""
    from keras_hub.src.utils.timm import preset_loader

    for architecture, channels in PRESET_FAMILIES[kind]:
        converter = preset_loader.TimmPresetLoader(None, {"architecture": architecture}).converter
        assert converter.backbone_cls.__name__ == kind
        config = converter.convert_backbone_config({"architecture": architecture, "num_features": 1024})
        wrapped = HubBackbone(converter.backbone_cls(**{"image_shape": (None, None, 3), **config}), (128, 96, 3))
        assert wrapped.output.shape == (None, 4, 3, channels), architecture


@pytest.mark.slow
def test_xception_preset_configuration_gives_one_stride_32_map():
    # keras-hub's tools/checkpoint_conversion/convert_xception_checkpoints.py (Keras Applications' Xception).
    net = keras_hub.models.XceptionBackbone(
        stackwise_conv_filters=[[32, 64], [128, 128], [256, 256], [728, 728]] + [[728, 728, 728]] * 8
        + [[728, 1024], [1536, 2048]],
        stackwise_pooling=[False, True, True, True] + [False] * 8 + [True, False])
    assert HubBackbone(net, (128, 96, 3)).output.shape == (None, 4, 3, 2048)
