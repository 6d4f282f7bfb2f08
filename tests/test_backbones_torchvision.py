"""torchvision ImageNet weights for `ResNetBackbone` (`models/backbones/torchvision.py`), against PyTorch.

torchvision's own files cannot be downloaded here, so a torchvision-layout
ResNet written in plain torch (`tests/torch_resnet.py`) with random weights
and BN statistics is saved with `torch.save` under a torchvision-style name
(`resnet18-<first 8 hex digits of its SHA-256>.pth`). Our converted
backbone must give PyTorch's features on the same images, through a local
path and through `weights="imagenet"` with the file in a temporary cache
(the URL table pointed at that name). Also: the download into the cache,
the wrong-hash refusal, the offline message, a hostile file, the wrong depth.
"""

import hashlib
import os

import numpy as np
import pytest

from keras_integral import download
from keras_integral import pth
from keras_integral.models import IntegralPoseModel
from keras_integral.models.backbones import ResNetBackbone
from keras_integral.models.backbones import get_backbone
from keras_integral.models.backbones import torchvision
from keras_integral.recipes import load_recipe
from tests.torch_resnet import needs_torch
from tests.torch_resnet import torch
from tests.torch_resnet import torchvision_resnet

MEAN = np.array([123.675, 116.28, 103.53], "float32")
STD = np.array([58.395, 57.12, 57.375], "float32")
SIZE = (64, 96)  # non-square: padding and both strides show
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_INTEGRAL_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def save_torchvision_style(net, folder, depth, layout="zip"):
    """torch.save(net.state_dict()) named as torchvision names its files: resnet<depth>-<sha256[:8]>.pth."""
    folder.mkdir(parents=True, exist_ok=True)
    work = folder / "work.pth"
    torch.save(net.state_dict(), work, _use_new_zipfile_serialization=layout == "zip")
    digest = hashlib.sha256(work.read_bytes()).hexdigest()
    path = folder / f"resnet{depth}-{digest[:8]}.pth"
    work.rename(path)
    return path


def torch_features(net, images):
    x = torch.from_numpy(((images - MEAN) / STD).transpose(0, 3, 1, 2))
    with torch.no_grad():
        out = net.layer4(net.layer3(net.layer2(net.layer1(net.maxpool(net.relu(net.bn1(net.conv1(x))))))))
    return out.numpy().transpose(0, 2, 3, 1)


def assert_features_match(backbone, net):
    images = np.random.default_rng(1).uniform(0, 255, (2, *SIZE, 3)).astype("float32")
    theirs = torch_features(net, images)
    ours = np.asarray(backbone(images, training=False))
    assert ours.shape == theirs.shape == (2, 2, 3, backbone.output.shape[-1])
    relative = np.abs(ours - theirs).max() / np.abs(theirs).max()
    assert relative <= 1e-4, relative


def point_table_at(monkeypatch, depth, path_or_url):
    url = path_or_url if isinstance(path_or_url, str) else path_or_url.resolve().as_uri()
    monkeypatch.setitem(torchvision.IMAGENET_V1_URLS, depth, url)
    return url


def test_url_table_is_torchvisions_v1_and_carries_hash_prefixes():
    assert sorted(torchvision.IMAGENET_V1_URLS) == [18, 34, 50, 101, 152]
    for depth, url in torchvision.IMAGENET_V1_URLS.items():
        assert url.startswith(f"https://download.pytorch.org/models/resnet{depth}-")
        assert len(torchvision.hash_prefix(url)) == 8
    assert torchvision.hash_prefix(torchvision.IMAGENET_V1_URLS[50]) == "0676ba61"
    assert torchvision.hash_prefix("https://x/resnet50.pth") is None


@needs_torch
@pytest.mark.parametrize("depth, layout", [(18, "zip"), (50, "legacy")])
def test_converted_backbone_gives_pytorchs_features_from_a_local_file(depth, layout, tmp_path):
    net = torchvision_resnet(depth)
    path = save_torchvision_style(net, tmp_path, depth, layout)
    backbone = ResNetBackbone(depth=depth, input_shape=(*SIZE, 3), weights=path)
    assert_features_match(backbone, net)


@needs_torch
def test_a_resnet_cut_after_its_second_stage_takes_the_checkpoints_first_stages(tmp_path):
    net = torchvision_resnet(18, seed=4)
    path = save_torchvision_style(net, tmp_path, 18)
    backbone = get_backbone("resnet18_stride8", (*SIZE, 3), weights=path)
    images = np.random.default_rng(2).uniform(0, 255, (2, *SIZE, 3)).astype("float32")
    x = torch.from_numpy(((images - MEAN) / STD).transpose(0, 3, 1, 2))
    with torch.no_grad():
        theirs = net.layer2(net.layer1(net.maxpool(net.relu(net.bn1(net.conv1(x)))))).numpy().transpose(0, 2, 3, 1)
    ours = np.asarray(backbone(images, training=False))
    assert ours.shape == theirs.shape == (2, 8, 12, 128)
    assert np.abs(ours - theirs).max() / np.abs(theirs).max() <= 1e-4


@needs_torch
def test_imagenet_uses_the_file_in_the_cache_without_downloading(cache, tmp_path, monkeypatch):
    net = torchvision_resnet(18, seed=3)
    source = save_torchvision_style(net, tmp_path / "elsewhere", 18)
    url = point_table_at(monkeypatch, 18, f"https://download.pytorch.org/models/{source.name}")
    target = torchvision.imagenet_checkpoint_path(18)
    assert target == cache / "torchvision" / source.name
    target.parent.mkdir(parents=True)
    source.rename(target)

    def no_network(*args):
        raise AssertionError(f"downloaded {url} although the cache has it")

    monkeypatch.setattr(download, "_copy_url", no_network)
    backbone = get_backbone("resnet18", (*SIZE, 3), weights="imagenet")
    assert_features_match(backbone, net)
    # The pose model and a recipe reach the same weights.
    model = IntegralPoseModel(backbone="resnet18", method="I1", skeleton="coco", input_size=SIZE,
                              head_filters=16, backbone_weights="imagenet")
    np.testing.assert_array_equal(model.get_layer("resnet18").get_layer("conv1").kernel.numpy(),
                                  net.conv1.weight.detach().numpy().transpose(2, 3, 1, 0))
    assert model.get_config()["backbone_weights"] is None  # the weights travel in the model file


@needs_torch
def test_imagenet_downloads_once_into_the_cache(cache, tmp_path, monkeypatch):
    net = torchvision_resnet(18)
    source = save_torchvision_style(net, tmp_path / "server", 18)
    point_table_at(monkeypatch, 18, source)
    path = torchvision.fetch_imagenet_checkpoint(18, progress=False)
    assert path == cache / "torchvision" / source.name
    assert path.read_bytes() == source.read_bytes()
    assert sorted(os.listdir(path.parent)) == [source.name]  # no partial file left
    source.unlink()  # the second call must not need the server
    assert torchvision.fetch_imagenet_checkpoint(18, progress=False) == path


@needs_torch
def test_wrong_hash_is_refused_and_nothing_is_cached(cache, tmp_path, monkeypatch):
    source = save_torchvision_style(torchvision_resnet(18), tmp_path / "server", 18)
    wrong = source.with_name("resnet18-00000000.pth")
    source.rename(wrong)
    point_table_at(monkeypatch, 18, wrong)
    with pytest.raises(download.ChecksumMismatchError, match="start with 00000000.*nothing was cached"):
        ResNetBackbone(depth=18, weights="imagenet")
    folder = cache / "torchvision"
    assert not folder.exists() or os.listdir(folder) == []
    # A wrong file placed by hand is refused too, and named.
    folder.mkdir(parents=True, exist_ok=True)
    (folder / wrong.name).write_bytes(b"not the checkpoint")
    with pytest.raises(download.ChecksumMismatchError, match=str(folder / wrong.name)):
        ResNetBackbone(depth=18, weights="imagenet")


def test_offline_with_an_empty_cache_says_where_to_put_the_file(cache, monkeypatch):
    # Port 9 on the loopback refuses at once: an unreachable server without needing the internet.
    url = point_table_at(monkeypatch, 18, "https://127.0.0.1:9/models/resnet18-f37072fd.pth")
    with pytest.raises(download.WeightsUnavailableError) as info:
        ResNetBackbone(depth=18, weights="imagenet")
    message = str(info.value)
    assert url in message
    assert str(cache / "torchvision" / "resnet18-f37072fd.pth") in message
    assert "f37072fd" in message
    folder = cache / "torchvision"
    assert not folder.exists() or os.listdir(folder) == []


@needs_torch
def test_hostile_file_is_refused_and_does_not_run(tmp_path):
    marker = tmp_path / "ran"

    class RunsCode:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    state = torchvision_resnet(18).state_dict()
    state["fc.bias"] = RunsCode()
    path = tmp_path / "resnet18-evil.pth"
    torch.save(state, path)
    with pytest.raises(pth.UnsafeCheckpointError, match="system"):
        ResNetBackbone(depth=18, weights=path)
    assert not marker.exists()


@needs_torch
@pytest.mark.parametrize("file_depth, model_depth, message", [
    (18, 34, r"no tensor 'layer1\.2\.conv1\.weight'.*ResNet-18"),  # missing keys
    (50, 18, r"'layer1\.0\.conv1\.weight' has shape \(64, 64, 1, 1\).*needs \(64, 64, 3, 3\).*ResNet-50"),
    (34, 18, r"key 'layer1\.2\.conv1\.weight' has no layer in resnet18.*ResNet-34"),  # extra keys
])
def test_file_of_another_depth_names_the_first_mismatching_key(file_depth, model_depth, message, tmp_path):
    path = save_torchvision_style(torchvision_resnet(file_depth), tmp_path, file_depth)
    with pytest.raises(ValueError, match=message):
        ResNetBackbone(depth=model_depth, input_shape=(64, 64, 3), weights=path)


def test_bad_weights_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="imagenet.*torchvision state dict.*weights.h5"):
        ResNetBackbone(depth=18, weights=tmp_path / "r18.npz")
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        ResNetBackbone(depth=18, weights=tmp_path / "missing.pth")
    with pytest.raises(ValueError, match="hourglass.*weights.h5"):
        get_backbone("hourglass1", (64, 64, 3), weights="imagenet")


def test_paper_recipes_start_from_imagenet_and_synthetic_ones_from_scratch():
    folders = {name: os.path.join(ROOT, "recipes", name) for name in ("paper", "synthetic")}
    paper = [load_recipe(os.path.join(folders["paper"], f)) for f in sorted(os.listdir(folders["paper"]))]
    assert len(paper) > 40
    for recipe in paper:
        expected = "imagenet" if recipe.backbone.startswith("resnet") else None
        assert recipe.backbone_weights == expected, (recipe.paper, recipe.backbone)
        assert recipe.model_kwargs["backbone_weights"] == expected
    assert {r.backbone_weights for r in paper if r.backbone.startswith("hourglass")} == {None}
    for name in sorted(os.listdir(folders["synthetic"])):
        assert load_recipe(os.path.join(folders["synthetic"], name)).backbone_weights is None, name
