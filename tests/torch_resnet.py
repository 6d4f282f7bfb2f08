"""A torchvision-layout ResNet in plain torch (no torchvision), the independent reference for the converters.

torchvision does not install here (its wheels pull a CUDA build), so its
`ResNet` is rewritten from torchvision/models/resnet.py: BasicBlock and
Bottleneck (stride on the 3x3 conv), `downsample` = 1x1 conv + BN, the same
module names, hence the same state-dict keys. `randomise` gives it random
weights and random BatchNorm statistics.
"""

import pytest

try:
    import torch
except ImportError:  # torch is a test-only dependency (the [convert] extra); tests needing it skip
    torch = None
# The network classes below are only instantiated when torch is installed.
nn = torch.nn if torch else None
Module = torch.nn.Module if torch else object
needs_torch = pytest.mark.skipif(
    torch is None, reason="torch is not installed: pip install 'keras-integral[convert]' (torch==2.13.0, CPU)"
)


class BasicBlock(Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (self.downsample(x) if self.downsample is not None else x))


class Bottleneck(Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)  # torchvision: stride on 3x3
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (self.downsample(x) if self.downsample is not None else x))


class ResNetBackbone(Module):
    """torchvision's ResNet without avgpool and fc (also the authors' base_modules/resnet.py)."""

    def __init__(self, block, layers):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], 2)
        self.layer3 = self._make_layer(block, 256, layers[2], 2)
        self.layer4 = self._make_layer(block, 512, layers[3], 2)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class ResNet(ResNetBackbone):
    """torchvision's ResNet with its classifier: `state_dict()` has the keys of torchvision's files."""

    def __init__(self, block, layers, num_classes=10):
        super().__init__(block, layers)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)


# depth -> (block, blocks per stage), torchvision's resnet18 ... resnet152.
TORCHVISION_RESNETS = {
    18: ("BasicBlock", (2, 2, 2, 2)),
    34: ("BasicBlock", (3, 4, 6, 3)),
    50: ("Bottleneck", (3, 4, 6, 3)),
    101: ("Bottleneck", (3, 4, 23, 3)),
    152: ("Bottleneck", (3, 8, 36, 3)),
}


def torchvision_resnet(depth, seed=0):
    """A torchvision-layout ResNet-`depth` classifier with random weights and BN statistics, in eval mode."""
    block, layers = TORCHVISION_RESNETS[depth]
    net = ResNet(globals()[block], layers)
    randomise(net, torch.Generator().manual_seed(seed))
    return net.eval()


def randomise(net, generator):
    """Random weights (unit-variance activations) and non-trivial BN statistics."""
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                n = module.num_features
                module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(n, generator=generator) * 0.1)
                module.running_mean.copy_(torch.randn(n, generator=generator) * 0.2)
                module.running_var.copy_(torch.rand(n, generator=generator) * 1.5 + 0.5)
                module.num_batches_tracked.fill_(1000)
            elif isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                fan_in = module.weight[0].numel() if isinstance(module, nn.Conv2d) else (
                    module.weight.shape[0] * module.weight[0, 0].numel() / 4)
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) / fan_in**0.5)
                if module.bias is not None:
                    module.bias.copy_(torch.randn(module.bias.shape, generator=generator))
