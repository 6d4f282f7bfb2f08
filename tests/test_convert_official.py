"""Importing the authors' PyTorch checkpoints: their network, written here in torch.nn, against ours.

The released files (ResNet-152, 384x288) cannot be downloaded here, so the
test rebuilds their `ResPoseNet` (torchvision ResNet layout + `DeconvHead`,
`reference/authors-code.md` section 4) with random weights and non-trivial BN
statistics, saves it the way their training script does (a dict with
`network` = the `DataParallel` state dict, legacy torch serialisation),
converts it, and compares our keypoints with their forward pass decoded by
their `softmax_integral_tensor`, in their normalised units.
"""

import hashlib
import json

import numpy as np
import pytest

import keras_integral
from keras_integral.zoo import convert_official
from keras_integral.zoo import registry
from tests.torch_resnet import BasicBlock
from tests.torch_resnet import Bottleneck
from tests.torch_resnet import Module
from tests.torch_resnet import ResNetBackbone
from tests.torch_resnet import needs_torch
from tests.torch_resnet import nn
from tests.torch_resnet import randomise
from tests.torch_resnet import torch

AUTHORS_PRESET = "chall_resnet152_authors_train_384x288_hm96"
MEAN = np.array([123.675, 116.28, 103.53], "float32")
STD = np.array([58.395, 57.12, 57.375], "float32")


def fake_state(depth_blocks=(2, 2, 2, 2), deconv_kernel=4, final_channels=18 * 24, num_deconv=3):
    """Key names and shapes of their state dict (zeros), enough for `network_config`."""
    state = {"backbone.conv1.weight": np.zeros((64, 3, 7, 7), "float32")}
    for stage, blocks in enumerate(depth_blocks, start=1):
        for b in range(blocks):
            state[f"backbone.layer{stage}.{b}.conv1.weight"] = np.zeros((1, 1, 3, 3), "float32")
    for i in range(num_deconv):
        state[f"head.features.{3 * i}.weight"] = np.zeros((8, 16, deconv_kernel, deconv_kernel), "float32")
    state[f"head.features.{3 * num_deconv}.weight"] = np.zeros((final_channels, 16, 1, 1), "float32")
    state[f"head.features.{3 * num_deconv}.bias"] = np.zeros((final_channels,), "float32")
    return state


def test_network_config_reads_depth_head_and_bins_from_the_state():
    config = convert_official.network_config(fake_state(), input_size=(128, 96))
    assert config["backbone"] == "resnet18" and config["head_filters"] == 16
    assert config["heatmap_size"] == (32, 24) and config["depth_bins"] == 24
    assert config["decoding"] == "authors" and config["method"] == "I*"
    # Their challenge model: 18 joints x 72 bins at 384x288 -> 96x72 heat maps.
    config = convert_official.network_config(fake_state(final_channels=18 * 72))
    assert config["heatmap_size"] == (96, 72) and config["depth_bins"] == 72


@pytest.mark.parametrize("state, message", [
    (fake_state(deconv_kernel=3), "4x4"),
    (fake_state(final_channels=18 * 24 + 1), "multiple of the 18 joints"),
    (fake_state(depth_blocks=(2, 2, 3, 2)), "no torchvision ResNet"),
])
def test_network_config_refuses_what_it_cannot_map(state, message):
    with pytest.raises(ValueError, match=message):
        convert_official.network_config(state, input_size=(128, 96))


class DeconvHead(Module):
    """Their base_modules/deconv_head.py with kernel 4 and a 1x1 final conv with bias."""

    def __init__(self, in_channels, num_layers, num_filters, num_joints, depth_dim):
        super().__init__()
        self.features = nn.ModuleList()
        for i in range(num_layers):
            self.features.append(nn.ConvTranspose2d(in_channels if i == 0 else num_filters, num_filters,
                                                    4, stride=2, padding=1, output_padding=0, bias=False))
            self.features.append(nn.BatchNorm2d(num_filters))
            self.features.append(nn.ReLU())
        self.features.append(nn.Conv2d(num_filters, num_joints * depth_dim, 1, bias=True))

    def forward(self, x):
        for layer in self.features:
            x = layer(x)
        return x


class ResPoseNet(Module):
    def __init__(self, backbone, head):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x):
        return self.head(self.backbone(x))


def softmax_integral_tensor(preds, num_joints, hm_width, hm_height, hm_depth):
    """Their common_loss/integral.py (3D branch), on the CPU."""
    preds = preds.reshape((preds.shape[0], num_joints, -1))
    preds = torch.nn.functional.softmax(preds, 2)
    heatmaps = preds.reshape((preds.shape[0], num_joints, hm_depth, hm_height, hm_width))
    accu_x = heatmaps.sum(dim=2).sum(dim=2) * torch.arange(hm_width).float()
    accu_y = heatmaps.sum(dim=2).sum(dim=3) * torch.arange(hm_height).float()
    accu_z = heatmaps.sum(dim=3).sum(dim=3) * torch.arange(hm_depth).float()
    x = accu_x.sum(dim=2, keepdim=True) / float(hm_width) - 0.5
    y = accu_y.sum(dim=2, keepdim=True) / float(hm_height) - 0.5
    z = accu_z.sum(dim=2, keepdim=True) / float(hm_depth) - 0.5
    return torch.cat((x, y, z), dim=2)  # (N, K, 3); theirs flattens to (N, K * 3)


# name: (block, blocks per stage, input (h, w), deconvolutions, skeleton, joints, depth bins)
CASES = {
    "resnet18": (BasicBlock, (2, 2, 2, 2), (128, 96), 3, "h36m18", 18, 24),
    "resnet50": (Bottleneck, (3, 4, 6, 3), (64, 96), 2, "h36m", 17, 6),
}


@needs_torch
@pytest.mark.parametrize("case", list(CASES))
def test_converted_checkpoint_predicts_what_their_network_predicts(case, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_INTEGRAL_HOME", str(tmp_path / "cache"))
    block, layers, (h, w), num_deconv, skeleton, joints, depth = CASES[case]
    generator = torch.Generator().manual_seed(0)
    net = ResPoseNet(ResNetBackbone(block, layers),
                     DeconvHead(512 * block.expansion, num_deconv, 32, joints, depth))
    randomise(net, generator)
    with torch.no_grad():  # sharper heat maps, so joints spread over the map instead of its centre
        net.head.features[-1].weight.mul_(10.0)
    net = torch.nn.DataParallel(net).eval()  # their checkpoints hold the DataParallel state dict
    checkpoint = tmp_path / "model_test.pth.tar"
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    torch.save({"epoch": 7, "network": net.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": {"last_epoch": 7}, "train_loss": 0.25, "valid_loss": 0.5},
               checkpoint, _use_new_zipfile_serialization=False)
    assert all(k.startswith("module.") for k in net.state_dict())

    if case == "resnet18":  # through the registry, as `keras-integral zoo convert FILE --like NAME` does
        entry = registry._registry()["presets"][AUTHORS_PRESET]
        monkeypatch.setitem(entry, "source", {**entry["source"], "convert": {
            "input_size": [h, w], "skeleton": skeleton, "depth_range_mm": 2000.0}})
        out, _, note = registry.convert_file(checkpoint, tmp_path / "preset", like=AUTHORS_PRESET)
        assert "publisher gives no hash" in note
    else:
        out = convert_official.convert(checkpoint, tmp_path / "preset", input_size=(h, w), skeleton=skeleton)
    model = keras_integral.from_preset(out)

    images = np.random.default_rng(1).uniform(0, 255, (2, h, w, 3)).astype("float32")
    with torch.no_grad():
        logits = net(torch.from_numpy(((images - MEAN) / STD).transpose(0, 3, 1, 2)))
        theirs = softmax_integral_tensor(logits, joints, logits.shape[3], logits.shape[2], depth).numpy()
    # The test is only as strong as the heat maps are peaked: joints must not all sit at the centre.
    assert np.all(theirs.std(axis=(0, 1)) > 0.04)

    keypoints = np.asarray(model.predict_step(images)["keypoints"])
    ours = np.stack([keypoints[..., 0] / w - 0.5, keypoints[..., 1] / h - 0.5,
                     keypoints[..., 2] / 2000.0], axis=-1)
    np.testing.assert_allclose(ours, theirs, atol=1e-4)

    metadata = json.loads((out / "metadata.json").read_text())
    assert hashlib.sha256(checkpoint.read_bytes()).hexdigest() == metadata["upstream_sha256"]
    assert metadata["skeleton"] == skeleton and metadata["decoding"] == "authors"
    assert metadata["depth_bins"] == depth and metadata["backbone"] == case
    assert "Microsoft" in metadata["licence"]


@needs_torch
def test_checkpoint_without_network_is_refused(tmp_path):
    path = tmp_path / "not_a_model.pth.tar"
    torch.save({"epoch": 1, "optimizer": {}}, path)
    with pytest.raises(ValueError, match="network"):
        convert_official.load_checkpoint(path)
