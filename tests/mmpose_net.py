"""MMPose's integral-regression network and decoding in plain torch, the independent reference for `convert_mmpose`.

Rewritten from open-mmlab/mmpose (mmpose 1.x): `TopdownPoseEstimator` with
`ResNet` (torchvision's module names, `backbone.*`) and `DSNTHead` /
`IntegralRegressionHead` (`head.simplebaseline_head.deconv_layers` = 3 x
[ConvTranspose2d 4x4 s2 p1 no bias, BN, ReLU], `final_layer` 1x1 conv,
`head.linspace_x/y` = `arange(n) / n` as non-trainable Parameters); the
decoding is `IntegralRegressionHead.forward` (softmax of beta x maps, the
expectation of the linspaces, Gu et al.'s correction with `debias`) and
`RegressionLabel.decode` (times the input `[w, h]`); the flip test is
`flip_coordinates` with `shift_coords=True`. Saved as MMPose publishes a
checkpoint (`tools/misc/publish_model.py`): `{"meta", "state_dict"}` in
torch's legacy layout, `meta["dataset_meta"]` holding NumPy arrays.
"""

import numpy as np

from keras_integral import skeletons
from tests.torch_resnet import BasicBlock
from tests.torch_resnet import Bottleneck
from tests.torch_resnet import Module
from tests.torch_resnet import ResNetBackbone
from tests.torch_resnet import nn
from tests.torch_resnet import randomise
from tests.torch_resnet import torch

MEAN = np.array([123.675, 116.28, 103.53], "float32")  # PoseDataPreprocessor, RGB after bgr_to_rgb
STD = np.array([58.395, 57.12, 57.375], "float32")
BLOCKS = {18: (BasicBlock, (2, 2, 2, 2)), 50: (Bottleneck, (3, 4, 6, 3))}


class SimpleBaselineHead(Module):
    """MMPose's `HeatmapHead` as `IntegralRegressionHead` builds it: `deconv_layers`, `final_layer`."""

    def __init__(self, in_channels, joints, filters=256):
        super().__init__()
        layers = []
        for _ in range(3):
            layers += [nn.ConvTranspose2d(in_channels, filters, 4, 2, 1, bias=False), nn.BatchNorm2d(filters),
                       nn.ReLU()]
            in_channels = filters
        self.deconv_layers = nn.Sequential(*layers)
        self.final_layer = nn.Conv2d(filters, joints, 1)

    def forward(self, x):
        return self.final_layer(self.deconv_layers(x))


class IntegralHead(Module):
    def __init__(self, in_channels, joints, heatmap_size, filters=256):
        super().__init__()
        self.simplebaseline_head = SimpleBaselineHead(in_channels, joints, filters)
        w, h = heatmap_size  # MMPose's sizes are (w, h)
        self.linspace_x = nn.Parameter(torch.arange(0.0, 1.0 * w, 1).reshape(1, 1, 1, w) / w, requires_grad=False)
        self.linspace_y = nn.Parameter(torch.arange(0.0, 1.0 * h, 1).reshape(1, 1, h, 1) / h, requires_grad=False)


class TopdownPoseEstimator(Module):
    def __init__(self, depth, input_size, joints=17, filters=256):
        super().__init__()
        block, layers = BLOCKS[depth]
        self.backbone = ResNetBackbone(block, layers)
        self.head = IntegralHead(512 * block.expansion, joints, (input_size[1] // 4, input_size[0] // 4), filters)

    def forward(self, x):
        return self.head.simplebaseline_head(self.backbone(x))


def mmpose_network(depth, input_size, seed=0, final_gain=6.0, filters=256):
    """Random weights and BN statistics; the final layer scaled so the maps are peaked. Eval mode."""
    net = TopdownPoseEstimator(depth, input_size, filters=filters)
    randomise(net, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        net.head.simplebaseline_head.final_layer.weight.mul_(final_gain)
    return net.eval()


def mmpose_forward(net, images, beta=1.0, debias=False):
    """`IntegralRegressionHead.forward` + `RegressionLabel.decode`: RGB crops `(b, H, W, 3)` -> `(b, K, 2)` px."""
    x = torch.from_numpy(((images - MEAN) / STD).transpose(0, 3, 1, 2).copy())
    with torch.no_grad():
        feats = net(x)
        b, n, h, w = feats.shape
        heatmaps = torch.nn.functional.softmax((feats * beta).reshape(-1, n, h * w), dim=2).reshape(-1, n, h, w)
        pred_x = heatmaps.mul(net.head.linspace_x).reshape(b, n, -1).sum(dim=2, keepdim=True)
        pred_y = heatmaps.mul(net.head.linspace_y).reshape(b, n, -1).sum(dim=2, keepdim=True)
        if debias:
            c = feats.reshape(b, n, h * w).exp().sum(dim=2).reshape(b, n, 1)
            pred_x = c / (c - 1) * (pred_x - 1 / (2 * c))
            pred_y = c / (c - 1) * (pred_y - 1 / (2 * c))
        coords = torch.cat([pred_x, pred_y], dim=-1).numpy()
    return coords * np.array([images.shape[2], images.shape[1]], "float32")


def mmpose_flip_test(net, images, beta=1.0, debias=False, skeleton="coco"):
    """`IntegralRegressionHead.predict` with `flip_test=True, shift_coords=True`, in input pixels."""
    width = images.shape[2]
    plain = mmpose_forward(net, images, beta, debias) / width
    flipped = mmpose_forward(net, images[:, :, ::-1], beta, debias) / width  # normalised, as MMPose's coords
    flipped[..., 0] = 1.0 - flipped[..., 0] - 1.0 / width
    flipped = flipped[:, skeletons.get(skeleton).flip_index]
    return (plain + flipped) * 0.5 * width


def save_like_mmpose(net, path, extra_meta=None):
    """`torch.save` as MMPose publishes: `meta` (mmengine's, with NumPy arrays) and `state_dict`, legacy layout."""
    coco = skeletons.get("coco")
    meta = {
        "mmengine_version": "0.1.0",
        "cfg": "model = dict(type='TopdownPoseEstimator', ...)",
        "seed": 0,
        "epoch": 210,
        "dataset_meta": {
            "dataset_name": "coco",
            "num_keypoints": 17,
            "keypoint_id2name": dict(enumerate(coco.joint_names)),
            "flip_indices": [int(i) for i in coco.flip_index],
            "keypoint_colors": np.array([[51, 153, 255]] * 17, np.uint8),
            "dataset_keypoint_weights": np.ones(17, np.float32),
            "sigmas": np.array(coco.oks_sigmas, np.float32),
        },
        **(extra_meta or {}),
    }
    torch.save({"meta": meta, "state_dict": net.state_dict()}, path, _use_new_zipfile_serialization=False)
    return path
