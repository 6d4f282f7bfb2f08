#!/usr/bin/env python
"""Keypoints of the people in an image with an exported ONNX pose model (onnxruntime).

Runs without keras_integral: needs `onnxruntime`, `numpy` and
`opencv-python-headless`, and `run_tflite.py` from this folder (the crop,
the mapping back and the drawing are shared; LiteRT itself is not needed).
Same command line as `run_tflite.py`:

    python run_onnx.py exported/model.onnx --image person.jpg --box 120 40 180 420 \\
        [--manifest exported/manifest.json] [--out-json pose.json] [--out-png pose.png] [--threads 2]
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_tflite  # noqa: E402


class OnnxRunner:
    """Runs a `.onnx` pose model: `runner(crops (batch, H, W, 3))` -> `(keypoints, scores)`."""

    def __init__(self, path, threads=None):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    def __call__(self, crops):
        keypoints, scores = self.session.run(["keypoints", "scores"], {"images": crops.astype(np.float32)})
        return keypoints, scores


if __name__ == "__main__":
    sys.exit(run_tflite.main(runner_class=OnnxRunner, description=__doc__.splitlines()[0]))
