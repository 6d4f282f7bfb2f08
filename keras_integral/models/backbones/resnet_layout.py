"""The ResNets' layout (He et al. 2016, Table 1, as torchvision builds them): data, no Keras.

Read by the Keras graph (`resnet.py`), the torchvision state-dict mapping
(`torchvision.py`, which tells a checkpoint's depth from its blocks) and
the multi-stage model (`models/multistage.py`).
"""

# depth -> (block type, blocks per stage).
RESNET_DEPTHS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
# Inner channels of each stage's blocks; a bottleneck puts out BOTTLENECK_EXPANSION times as many.
STAGE_WIDTHS = (64, 128, 256, 512)
BOTTLENECK_EXPANSION = 4
