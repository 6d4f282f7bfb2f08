"""The TensorFlow half of an export from a JAX or PyTorch model (`via_tensorflow.py`): reload, export, reference.

    KERAS_BACKEND=tensorflow python -m keras_integral.export MODEL.keras OUT_DIR CROPS.npy REFERENCE.npz \\
        --formats ... --quantize ...

runs `export()` on the reloaded model (keeping parity misses: the parent
decides about them) and writes the reload's own keypoints and scores on the
crops to REFERENCE.npz. Internal: `export()` runs it.
"""

import argparse

import keras
import numpy as np

from keras_integral.export import export
from keras_integral.export.parity import predict_keras


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("out_dir")
    parser.add_argument("crops")
    parser.add_argument("reference")
    parser.add_argument("--formats", nargs="+", required=True)
    parser.add_argument("--quantize", nargs="+", required=True)
    args = parser.parse_args(argv)
    if keras.backend.backend() != "tensorflow":
        raise SystemExit(f"python -m keras_integral.export runs under KERAS_BACKEND=tensorflow, not "
                         f"{keras.backend.backend()!r}.")
    model = keras.models.load_model(args.model, safe_mode=True)
    crops = np.load(args.crops, allow_pickle=False)
    # The parent decides about parity misses (it raises as export() does); the manifest records them.
    export(model, args.out_dir, formats=args.formats, quantize=args.quantize, representative_data=crops,
           allow_parity_loss=True)
    np.savez(args.reference, **predict_keras(model, crops))


if __name__ == "__main__":
    main()
