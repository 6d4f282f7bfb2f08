"""Tests for `keras_integral.models.backbones`: ResNet, stacked hourglass, MobileNetV3.

Independent references: torchvision's published parameter totals, PyTorch's
output-size formula, NumPy convolutions / max-pooling with symmetric padding
(PyTorch semantics), and NumPy ImageNet normalisation.
"""

import functools
import hashlib

import keras
import numpy as np
import pytest

from keras_integral.download import WeightsUnavailableError
from keras_integral.models.backbones import BACKBONE_NAMES
from keras_integral.models.backbones import HourglassBackbone
from keras_integral.models.backbones import MobileNetV3Backbone
from keras_integral.models.backbones import ResNetBackbone
from keras_integral.models.backbones import backbone_stride
from keras_integral.models.backbones import get_backbone
from keras_integral.models.backbones import returns_heatmaps
from keras_integral.models.backbones.mobilenet import imagenet_weights_file
from tests.harness import run_model_saving_test
from tests.harness import run_tflite

# torchvision's published totals (docs, "Num params") and the fc they include.
TORCHVISION_TOTAL_PARAMS = {
    18: 11_689_512,
    34: 21_797_672,
    50: 25_557_032,
    101: 44_549_160,
    152: 60_192_808,
}
FEATURE_CHANNELS = {18: 512, 34: 512, 50: 2048, 101: 2048, 152: 2048}


def trainable_params(model):
    # torchvision counts parameters only; BN running stats are buffers.
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def torch_output_size(n, kernel, stride, padding):
    return (n + 2 * padding - kernel) // stride + 1


def torch_conv2d(x, kernel, stride, padding):
    """NumPy correlation with symmetric zero padding, as torch.nn.Conv2d.

    x: (h, w, in); kernel: (kh, kw, in, out).
    """
    kh, kw, _, _ = kernel.shape
    xp = np.pad(x, ((padding, padding), (padding, padding), (0, 0)))
    out_h = torch_output_size(x.shape[0], kh, stride, padding)
    out_w = torch_output_size(x.shape[1], kw, stride, padding)
    return sum(
        xp[i : i + stride * (out_h - 1) + 1 : stride, j : j + stride * (out_w - 1) + 1 : stride]
        @ kernel[i, j]
        for i in range(kh)
        for j in range(kw)
    )


def torch_max_pool(x, size, stride, padding):
    """NumPy max-pool with -inf padding, as torch.nn.MaxPool2d."""
    xp = np.pad(
        x, ((padding, padding), (padding, padding), (0, 0)), constant_values=-np.inf
    )
    out_h = torch_output_size(x.shape[0], size, stride, padding)
    out_w = torch_output_size(x.shape[1], size, stride, padding)
    windows = [
        xp[i : i + stride * (out_h - 1) + 1 : stride, j : j + stride * (out_w - 1) + 1 : stride]
        for i in range(size)
        for j in range(size)
    ]
    return np.max(windows, axis=0)


def assert_keras_file_roundtrip(model, x, tmp_path):
    """`.keras` save -> load (safe mode) gives the same class, config and outputs."""
    loaded = run_model_saving_test(model, x, tmp_path)
    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()


def intermediate(model, names, x):
    """Outputs of the named layers for input x, as float64 arrays (batch 0)."""
    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    return [np.asarray(y, dtype=np.float64)[0] for y in probe.predict(x, verbose=0)]


def kernel_of(model, name):
    return model.get_layer(name).kernel.numpy().astype(np.float64)


@pytest.fixture(scope="module")
def resnet18():
    return ResNetBackbone(depth=18)


@pytest.fixture(scope="module")
def resnet50():
    return ResNetBackbone(depth=50)


@pytest.mark.parametrize("depth", sorted(TORCHVISION_TOTAL_PARAMS))
def test_resnet_params_and_symbolic_output_equal_torchvision(depth):
    channels = FEATURE_CHANNELS[depth]
    fc_params = channels * 1000 + 1000
    model = ResNetBackbone(depth=depth, input_shape=(64, 96, 3))
    assert trainable_params(model) == TORCHVISION_TOTAL_PARAMS[depth] - fc_params
    assert tuple(model.output.shape) == (None, 2, 3, channels)
    strides = {k: 64 // v.shape[1] for k, v in model.pyramid_outputs.items()}
    assert strides == {"P2": 4, "P3": 8, "P4": 16, "P5": 32}


def test_resnet_forward_shapes_follow_pytorch_sizes(resnet18, resnet50):
    # Odd sizes: PyTorch floors (n + 2p - k) / s + 1 at every strided layer.
    height, width = 65, 97
    expected = []
    for n in (height, width):
        n = torch_output_size(n, 7, 2, 3)  # conv1
        n = torch_output_size(n, 3, 2, 1)  # maxpool
        for _ in range(3):  # layer2..4, first 3x3 conv
            n = torch_output_size(n, 3, 2, 1)
        expected.append(n)
    x = np.random.default_rng(0).uniform(0, 255, size=(2, height, width, 3))
    assert resnet18.predict(x, verbose=0).shape == (2, *expected, 512)
    assert resnet50.predict(x[:1], verbose=0).shape == (1, *expected, 2048)


def test_resnet_layer_conventions(resnet18, resnet50):
    for model in (resnet18, resnet50):
        convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
        norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
        assert len(convs) == len(norms)
        assert not any(c.use_bias for c in convs)
        assert all(n.epsilon == 1e-5 and n.momentum == 0.9 for n in norms)
        for conv in convs:
            if conv.strides == (2, 2) and conv.kernel_size != (1, 1):
                pad = model.get_layer(f"{conv.name}_pad").padding
                assert conv.padding == "valid"
                assert pad == ((conv.kernel_size[0] // 2,) * 2,) * 2
    # torchvision: stride on conv1 of a BasicBlock, on the 3x3 conv2 of a Bottleneck.
    assert resnet18.get_layer("layer2_0_conv1").strides == (2, 2)
    assert resnet50.get_layer("layer2_0_conv1").strides == (1, 1)
    assert resnet50.get_layer("layer2_0_conv2").strides == (2, 2)
    assert resnet50.get_layer("layer2_0_downsample_0").strides == (2, 2)
    for name in ("conv1", "bn1", "layer1_0_conv3", "layer1_0_downsample_1", "layer4_2_bn3"):
        resnet50.get_layer(name)  # torchvision state-dict key, "." -> "_"


def test_resnet_normalisation_and_padding_match_pytorch(resnet18):
    # Even sizes, where TF's "same" would pad (0, 1) instead of (1, 1).
    x = np.random.default_rng(1).uniform(0, 255, size=(1, 66, 70, 3)).astype("float32")
    names = ["image_normalization", "conv1", "relu", "maxpool", "layer1_1_out", "layer2_0_conv1"]
    norm, conv1, relu, pool, layer1, layer2_conv1 = intermediate(resnet18, names, x)

    mean = np.array([0.485, 0.456, 0.406]) * 255
    std = np.array([0.229, 0.224, 0.225]) * 255
    np.testing.assert_allclose(norm, (x[0] - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        conv1, torch_conv2d(norm, kernel_of(resnet18, "conv1"), 2, 3), rtol=1e-4, atol=1e-4
    )
    np.testing.assert_allclose(pool, torch_max_pool(relu, 3, 2, 1), atol=1e-6)
    np.testing.assert_allclose(
        layer2_conv1,
        torch_conv2d(layer1, kernel_of(resnet18, "layer2_0_conv1"), 2, 1),
        rtol=1e-4,
        atol=1e-4,
    )


def test_resnet50_strided_convs_match_pytorch(resnet50):
    x = np.random.default_rng(2).uniform(0, 255, size=(1, 64, 72, 3)).astype("float32")
    names = ["layer1_2_out", "layer2_0_relu1", "layer2_0_conv2", "layer2_0_downsample_0"]
    layer1, relu1, conv2, downsample = intermediate(resnet50, names, x)
    np.testing.assert_allclose(
        conv2,
        torch_conv2d(relu1, kernel_of(resnet50, "layer2_0_conv2"), 2, 1),
        rtol=1e-4,
        atol=1e-4,
    )
    np.testing.assert_allclose(
        downsample,
        torch_conv2d(layer1, kernel_of(resnet50, "layer2_0_downsample_0"), 2, 0),
        rtol=1e-4,
        atol=1e-4,
    )


def test_resnet_config_and_keras_file_roundtrip(tmp_path):
    model = ResNetBackbone(depth=18, input_shape=(64, 64, 3), name="r18")
    config = model.get_config()
    assert config == {"name": "r18", "trainable": True, "depth": 18, "num_stages": 4, "input_shape": (64, 64, 3)}
    clone = ResNetBackbone.from_config(config)
    assert clone.get_config() == config
    assert trainable_params(clone) == trainable_params(model)
    x = np.random.default_rng(3).uniform(0, 255, size=(2, 64, 64, 3)).astype("float32")
    assert_keras_file_roundtrip(model, x, tmp_path)


def test_resnet_weights_file(tmp_path):
    model = ResNetBackbone(depth=18, input_shape=(64, 64, 3))
    path = tmp_path / "r18.weights.h5"
    model.save_weights(path)
    x = np.random.default_rng(4).uniform(0, 255, size=(1, 64, 64, 3)).astype("float32")
    # A fresh model has other random weights; loading makes the outputs equal.
    loaded = ResNetBackbone(depth=18, input_shape=(64, 64, 3), weights=path)
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6
    )
    with pytest.raises(FileNotFoundError, match="missing.weights.h5"):
        ResNetBackbone(depth=18, weights=tmp_path / "missing.weights.h5")
    with pytest.raises(ValueError, match="weights"):
        ResNetBackbone(depth=18, weights=tmp_path / "r18.npz")


@pytest.mark.parametrize(
    "kwargs, arg",
    [({"depth": 20}, "depth"), ({"input_shape": (64, 64, 1)}, "input_shape"), ({"num_stages": 5}, "num_stages")],
)
def test_resnet_rejects_bad_arguments(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        ResNetBackbone(**kwargs)


@pytest.mark.parametrize("name, stride, channels", [("resnet18_stride8", 8, 128), ("resnet18_stride16", 16, 256),
                                                     ("resnet50_stride8", 8, 512)])
def test_resnet_cut_after_a_stage_is_the_full_resnets_first_layers(name, stride, channels):
    cut = get_backbone(name, (64, 64, 3))
    assert cut.name == name and backbone_stride(name) == stride
    assert cut.output.shape == (None, 64 // stride, 64 // stride, channels)
    full = get_backbone(name.split("_")[0], (64, 64, 3))
    # The same layers under the same names, so the full ResNet's weights port by name.
    full_weights = {w.path: w for w in full.weights}
    assert len(cut.weights) < len(full.weights) and all(w.path in full_weights for w in cut.weights)
    for w in cut.weights:
        w.assign(full_weights[w.path])
    features = keras.Model(full.inputs, full.pyramid_outputs[f"P{int(np.log2(stride))}"])
    x = np.random.default_rng(5).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(cut.predict(x, verbose=0), features.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    assert backbone_stride("resnet18") == 32 and backbone_stride("hourglass2") == 4


def tiny_hourglass(**kwargs):
    args = {"num_stacks": 2, "num_channels": 16, "output_channels": 5, "depth": 2}
    return HourglassBackbone(**{**args, **kwargs})


@pytest.mark.parametrize("num_stacks", [1, 3])
def test_hourglass_outputs_one_heatmap_per_stack(num_stacks):
    model = tiny_hourglass(num_stacks=num_stacks)
    x = np.random.default_rng(5).uniform(0, 255, size=(2, 32, 48, 3)).astype("float32")
    expected = [(2, 8, 12, 5)] * num_stacks
    # A list even for one stack: eager call, predict and symbolic call.
    assert [tuple(o.shape) for o in model(x)] == expected
    assert [o.shape for o in model.predict(x, verbose=0)] == expected
    symbolic = model(keras.Input((32, 48, 3)))
    assert [tuple(o.shape) for o in symbolic] == [(None, 8, 12, 5)] * num_stacks
    assert model.get_layer("stem_conv").padding == "valid"
    assert model.get_layer("stem_conv_pad").padding == ((3, 3), (3, 3))


def test_hourglass_reinjects_features_and_heatmaps():
    # next stack input = x + conv1x1(features) + conv1x1(heatmaps), in NumPy.
    model = tiny_hourglass()
    x = np.random.default_rng(6).uniform(0, 255, size=(1, 32, 32, 3)).astype("float32")
    names = ["stem_res3_add", "stack0_features_relu", "stack0_heatmaps", "stack0_reinject"]
    x_in, features, heatmaps, reinjected = intermediate(model, names, x)
    expected = x_in
    for name, y in (("stack0_features_remap", features), ("stack0_heatmaps_remap", heatmaps)):
        kernel, bias = (v.numpy().astype(np.float64) for v in model.get_layer(name).weights)
        expected = expected + y @ kernel[0, 0] + bias
    np.testing.assert_allclose(reinjected, expected, rtol=1e-5, atol=1e-5)
    # ... and that sum is what stack 1 reads.
    assert model.get_layer("stack1_hg_up_1_bn").input is model.get_layer("stack0_reinject").output


def test_hourglass_config_and_keras_file_roundtrip(tmp_path):
    model = tiny_hourglass(input_shape=(32, 32, 3))
    config = model.get_config()
    assert HourglassBackbone.from_config(config).get_config() == config
    x = np.random.default_rng(7).uniform(0, 255, size=(1, 32, 32, 3)).astype("float32")
    assert_keras_file_roundtrip(model, x, tmp_path)


@pytest.mark.parametrize(
    "kwargs, arg",
    [
        ({"input_shape": (40, 32, 3)}, "input_shape"),
        ({"num_channels": 15}, "num_channels"),
        ({"num_stacks": 0}, "num_stacks"),
    ],
)
def test_hourglass_rejects_bad_arguments(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        tiny_hourglass(**kwargs)


@pytest.mark.parametrize("variant, channels", [("small", 576), ("large", 960)])
def test_mobilenet_output_stride_32(variant, channels):
    model = MobileNetV3Backbone(variant, input_shape=(64, 96, 3))
    assert tuple(model.output.shape) == (None, 2, 3, channels)
    assert model.get_config()["variant"] == variant


def test_mobilenet_converts_to_tflite_with_builtin_ops_only(tmp_path):
    model = MobileNetV3Backbone("small", input_shape=(64, 64, 3))
    path = tmp_path / "mobilenet.tflite"
    model.export(str(path), format="litert", verbose=False)
    x = np.random.default_rng(8).uniform(0, 255, size=(1, 64, 64, 3)).astype("float32")
    (got,), ops = run_tflite(path.read_bytes(), x)
    assert "CONV_2D" in ops and "HARD_SWISH" in ops
    assert not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"], ops
    want = model.predict(x, verbose=0)
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3 * np.abs(want).max())


@pytest.fixture
def keras_cache(tmp_path, monkeypatch):
    """Keras's own download and cache (`get_file`) for the MobileNetV3 weights, in a temporary folder."""
    from keras.src.applications import mobilenet_v3

    monkeypatch.setattr(mobilenet_v3.file_utils, "get_file",
                        functools.partial(keras.utils.get_file, cache_dir=str(tmp_path)))
    return mobilenet_v3, tmp_path / "models"


def test_mobilenet_imagenet_weights_are_keras_applications_with_their_scaling(keras_cache, monkeypatch):
    mobilenet_v3, folder = keras_cache
    # Stand-in for Keras's weights file: an Applications model with random weights and BN
    # statistics, written as Keras writes them (legacy .h5 by layer order), hash entered in
    # Keras's table so its get_file accepts the cached copy.
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    reference = keras.applications.MobileNetV3Small(input_shape=(64, 64, 3), include_top=False, weights=None,
                                                    include_preprocessing=False)
    rng = np.random.default_rng(0)
    for layer in reference.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.1, n), rng.normal(0, 0.2, n),
                               rng.uniform(0.5, 2.0, n)])
    url, _ = imagenet_weights_file("small")
    path = folder / url.rsplit("/", 1)[1]
    folder.mkdir(parents=True)
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, reference)
    top_hash, _ = mobilenet_v3.WEIGHTS_HASHES["small_224_1.0_float"]
    monkeypatch.setitem(mobilenet_v3.WEIGHTS_HASHES, "small_224_1.0_float",
                        (top_hash, hashlib.sha256(path.read_bytes()).hexdigest()))
    monkeypatch.setattr(mobilenet_v3, "BASE_WEIGHT_PATH", "https://127.0.0.1:9/")  # no download

    ours = MobileNetV3Backbone("small", input_shape=(64, 64, 3), weights="imagenet")
    x = rng.uniform(0, 255, size=(2, 64, 64, 3)).astype("float32")
    # The weights expect [-1, 1]; ours takes [0, 255] and scales inside.
    want = reference.predict(x / 127.5 - 1.0, verbose=0)
    np.testing.assert_allclose(ours.predict(x, verbose=0), want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    assert ours.get_config().get("weights") is None


def test_mobilenet_imagenet_offline_names_the_url_and_the_cache_path(keras_cache, monkeypatch):
    mobilenet_v3, _ = keras_cache
    monkeypatch.setattr(mobilenet_v3, "BASE_WEIGHT_PATH", "https://127.0.0.1:9/")  # refuses at once
    with pytest.raises(WeightsUnavailableError) as info:
        MobileNetV3Backbone("large", input_shape=(64, 64, 3), weights="imagenet")
    url, path = imagenet_weights_file("large")
    assert url.startswith("https://127.0.0.1:9/") and url in str(info.value)
    assert path.endswith("models/weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5")
    assert path in str(info.value)


def test_get_backbone_names():
    resnet = get_backbone("resnet34", (64, 64, 3))
    assert isinstance(resnet, ResNetBackbone) and resnet.depth == 34
    hourglass = get_backbone("hourglass", (32, 32, 3), num_channels=16, depth=2)
    assert isinstance(hourglass, HourglassBackbone) and len(hourglass.outputs) == 2
    assert len(get_backbone("hourglass1", (32, 32, 3), num_channels=16, depth=2).outputs) == 1
    mobilenet = get_backbone("mobilenetv3_large", (64, 64, 3))
    assert isinstance(mobilenet, MobileNetV3Backbone) and mobilenet.variant == "large"
    for bad in ("vgg16", "resnet20", "hourglass0"):
        with pytest.raises(ValueError, match="resnet50.*mobilenetv3_small"):
            get_backbone(bad)
    assert {"resnet18", "resnet152", "hourglass", "mobilenetv3_large"} <= set(BACKBONE_NAMES)


@pytest.mark.parametrize("name, kwargs", [
    ("resnet18", {}), ("resnet18_stride8", {}), ("resnet34_stride16", {}), ("mobilenetv3_small", {}),
    ("hourglass1", {"num_channels": 16, "depth": 2, "output_channels": 5}),
])
def test_stride_and_heatmaps_are_read_off_the_class_and_match_the_graph(name, kwargs):
    net = get_backbone(name, (64, 96, 3), **kwargs)
    outputs = net(np.zeros((1, 64, 96, 3), "float32"))
    heatmaps = isinstance(outputs, list)
    maps = outputs[-1] if heatmaps else outputs
    # The stride measured on the output equals what the name and the object say, without a name test.
    assert (64 // maps.shape[1], 96 // maps.shape[2]) == (net.output_stride,) * 2 == (backbone_stride(name),) * 2
    assert backbone_stride(net) == net.output_stride
    assert returns_heatmaps(name) == returns_heatmaps(net) == net.returns_heatmaps == heatmaps
    assert heatmaps == (name == "hourglass1")


def test_a_plain_keras_model_counts_as_stride_32_features():
    inputs = keras.Input((64, 64, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(4, 32, strides=32)(inputs))
    assert get_backbone(model, (64, 64, 3)) is model
    assert backbone_stride(model) == 32 and not returns_heatmaps(model)


def test_each_backbone_names_the_weights_it_takes(tmp_path):
    with pytest.raises(ValueError, match=r'mobilenetv3_small must be None, "imagenet" or a local Keras .\.weights\.h5'):
        MobileNetV3Backbone("small", input_shape=(64, 64, 3), weights=tmp_path / "m.npz")
    with pytest.raises(ValueError, match=r"hourglass1 must be None or a local Keras .\.weights\.h5"):
        tiny_hourglass(num_stacks=1, weights="imagenet")
    with pytest.raises(FileNotFoundError, match="missing.weights.h5"):
        tiny_hourglass(weights=tmp_path / "missing.weights.h5")
