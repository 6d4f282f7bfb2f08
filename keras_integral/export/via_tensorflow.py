"""Export from a model under JAX or PyTorch: reloaded under TensorFlow in a child process and exported there.

SavedModel, LiteRT and tf2onnx convert TensorFlow graphs, so the artifacts are
TensorFlow's whatever backend trained the model. The model travels through its
`.keras` file (which every backend reads) into a fresh Python process with
`KERAS_BACKEND=tensorflow` (a process's backend is fixed at import), which
runs `export()`. Back here, the reloaded model's keypoints on the
representative crops are compared with this backend's own, and the difference
is recorded in the manifest under `"source_backend"`: the artifacts' parity is
against the TensorFlow reload, this entry ties that reload to the model you
trained.

    python -m keras_integral.export MODEL.keras OUT_DIR CROPS.npy REFERENCE.npz --formats ... --quantize ...

is the child's command line (`export/__main__.py`; internal: `export()` calls it).
"""

import json
import os
import subprocess
import sys
import tempfile

import keras
import numpy as np

from keras_integral.export.parity import keypoint_errors
from keras_integral.export.parity import predict_keras
from keras_integral.files import write_json

# The same weights on two backends differ by float32 rounding in the convolutions (about 1e-4 px
# measured on the test models): a hundredth of a pixel means the reload is not the trained model.
RELOAD_TARGET_PX = 0.01


def export_through_tensorflow(model, out_dir, formats, quantize, crops):
    """Runs `export()` on `model`'s `.keras` reload under TensorFlow; returns the manifest (parity misses kept).

    Raises:
        RuntimeError: the child process failed (its last error line is quoted),
            or the reload's keypoints differ from this backend's by more than
            `RELOAD_TARGET_PX`.
    """
    with tempfile.TemporaryDirectory(prefix="keras_integral_export_") as tmp:
        model_path, crops_path = os.path.join(tmp, "model.keras"), os.path.join(tmp, "crops.npy")
        reference_path = os.path.join(tmp, "tensorflow_keypoints.npz")
        model.save(model_path)
        np.save(crops_path, crops)
        command = [sys.executable, "-m", "keras_integral.export", model_path, os.fspath(out_dir), crops_path,
                   reference_path, "--formats", *formats, "--quantize", *(quantize or ("fp32",))]
        done = subprocess.run(command, env=dict(os.environ, KERAS_BACKEND="tensorflow"),
                              capture_output=True, text=True)
        if done.returncode:
            lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
            raise RuntimeError(
                f"Export under TensorFlow (a child process reloading the {keras.backend.backend()} model) "
                f"failed: {lines[-1] if lines else f'exit status {done.returncode}'}"
            )
        with np.load(reference_path) as saved:
            reloaded = {key: saved[key] for key in ("keypoints", "scores")}
    difference = keypoint_errors(predict_keras(model, crops), reloaded)
    manifest_path = os.path.join(out_dir, "manifest.json")
    with open(manifest_path, encoding="utf-8") as f:
        manifest = json.load(f)
    manifest["source_backend"] = {
        "backend": keras.backend.backend(),
        "exported_from": "its .keras file reloaded under tensorflow",
        "reload_vs_source": difference,
        "target_px": RELOAD_TARGET_PX,
    }
    write_json(manifest_path, manifest, indent=2)
    if difference["max_px"] > RELOAD_TARGET_PX:
        raise RuntimeError(
            f"The model reloaded under TensorFlow gives keypoints up to {difference['max_px']:.4g} px from "
            f"{keras.backend.backend()}'s (target <= {RELOAD_TARGET_PX} px); the artifacts in {out_dir!r} "
            "would not be the trained model."
        )
    return manifest
