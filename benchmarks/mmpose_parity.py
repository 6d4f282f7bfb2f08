"""Converted MMPose integral models against MMPose's forward + decode, in crop pixels, at the real 256x256.

The test (`tests/test_convert_mmpose.py`) checks the same at 64x64; this
runs MMPose's ResNet-50 network (`tests/mmpose_net.py`, plain torch, random
weights and BN statistics, final layer scaled for peaked maps, final bias
lowered so debias-IPR's correction is large) at the published input size,
saves it as MMPose publishes a checkpoint, converts it for IPR, DSNT and
debias-IPR, and prints the keypoint error of our model against MMPose's
decoding, and how far the debias correction itself moves the joints.

Usage (needs torch, the [convert] extra; run from the repository root):

    python benchmarks/mmpose_parity.py [--size 256] [--crops 4]
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from keras_integral.zoo import convert_mmpose  # noqa: E402
from keras_integral.zoo import registry  # noqa: E402
from tests.mmpose_net import mmpose_forward  # noqa: E402
from tests.mmpose_net import mmpose_network  # noqa: E402
from tests.mmpose_net import save_like_mmpose  # noqa: E402
from tests.test_convert_mmpose import shift_to_moderate_partition  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="square input side (a multiple of 32)")
    parser.add_argument("--crops", type=int, default=4)
    args = parser.parse_args()
    size = (args.size, args.size)
    images = np.random.default_rng(1).uniform(0, 255, (args.crops, *size, 3)).astype("float32")
    net = mmpose_network(50, size, final_gain=12.0)
    shift_to_moderate_partition(net, images)
    with tempfile.TemporaryDirectory() as tmp:
        state, _ = convert_mmpose.load_checkpoint(save_like_mmpose(net, Path(tmp) / "mmpose.pth"))
    plain = mmpose_forward(net, images, 10.0, debias=False)
    print(f"input {size[0]}x{size[1]}, {args.crops} random crops, ResNet-50, {len(state)} tensors")
    for name, entry in registry.presets().items():
        if entry["source"]["format"] != "mmpose":
            continue
        convert = entry["source"]["convert"]
        model = convert_mmpose.build_model(state, **convert)
        theirs = mmpose_forward(net, images, convert["beta"], convert["debias"])
        ours = np.asarray(model.predict_step(images)["keypoints"])
        error = np.linalg.norm(ours - theirs, axis=-1)
        line = (f"{name}: error vs MMPose mean {error.mean():.2e} px, max {error.max():.2e} px; "
                f"joint spread (std) {theirs.std(axis=(0, 1)).round(1).tolist()} px")
        if convert["debias"]:
            line += f"; the correction moves joints {np.linalg.norm(theirs - plain, axis=-1).mean():.2f} px mean"
        print(line)


if __name__ == "__main__":
    main()
