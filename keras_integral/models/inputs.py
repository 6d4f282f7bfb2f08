"""What a pose model accepts: its size arguments and its input images, checked with a clear error.

The image check runs in Python on static shapes, before Keras's own, so a
traced call (export, fit) sees the same graph as without it.
"""

import numbers

import keras
import numpy as np
import tensorflow as tf


def is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def as_size(value, arg):
    """An int or a pair of ints -> `(height, width)` of Python ints."""
    if is_int(value):
        value = (value, value)
    try:
        size = tuple(value)
    except TypeError:
        size = ()
    if len(size) != 2 or not all(is_int(v) and v > 0 for v in size):
        raise ValueError(
            f"`{arg}` must be (height, width) of positive ints, or one positive int for a square, "
            f"received {value!r}."
        )
    return tuple(int(v) for v in size)


def _static_images(x):
    """`(shape, dtype)` of the images in what a caller passes to the model, or None if unknown.

    Understands arrays, tensors (Keras symbolic ones too), `{"images": ...}`,
    `[images]`, nested lists of numbers and `tf.data.Dataset`s of images or
    `(images, targets)`. Shapes are static: a traced call's `None` sizes stay `None`.
    """
    if isinstance(x, tf.data.Dataset):
        x = x.element_spec
        x = x[0] if isinstance(x, (tuple, list)) else x
    if isinstance(x, dict):
        x = x.get("images")
    if isinstance(x, (list, tuple)) and len(x) == 1 and hasattr(x[0], "shape"):
        x = x[0]
    if x is None:
        return None
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        try:
            x = np.asarray(x)
        except (ValueError, TypeError):  # ragged lists: Keras reports them
            return None
    shape = x.shape
    if isinstance(shape, tf.TensorShape):
        if shape.rank is None:
            return None
        shape = shape.as_list()
    try:
        dtype = keras.backend.standardize_dtype(x.dtype)
    except ValueError:  # strings, objects
        dtype = str(getattr(x.dtype, "name", x.dtype))
    return tuple(shape), dtype


def check_images(x, input_size, name="The model"):
    """Raises a ValueError saying what is wrong with `x` unless it can be a batch of input crops.

    A model takes `(batch, height, width, 3)` RGB crops in [0, 255], uint8 or
    float, of exactly its `input_size`; sizes unknown while tracing pass.

    Returns:
        The static batch size, or None when it is unknown.
    """
    found = _static_images(x)
    if found is None:
        return None
    shape, dtype = found
    height, width = input_size
    expected = f"expects a batch of RGB crops (batch, {height}, {width}, 3), uint8 or float in [0, 255]"
    if len(shape) == 3 and tuple(shape) in ((height, width, 3), (height, width, None)):
        raise ValueError(f"{name} {expected}; received one image of shape {shape}: add a batch axis (images[None]).")
    if len(shape) != 4:
        raise ValueError(f"{name} {expected}; received shape {shape} (rank {len(shape)}, not 4).")
    if shape[3] is not None and shape[3] != 3:
        hint = ": drop the alpha channel (images[..., :3])" if shape[3] == 4 else ""
        raise ValueError(f"{name} {expected}; received {shape[3]} channels (shape {shape}){hint}.")
    if any(s is not None and s != e for s, e in zip(shape[1:3], (height, width))):
        raise ValueError(
            f"{name} {expected}; received crops of {shape[1]}x{shape[2]} (shape {shape}): crop and resize "
            "each person to the input size first (keras_integral.inference.Predictor does, from boxes)."
        )
    if not dtype.startswith(("uint", "int", "float", "bfloat")):
        raise ValueError(f"{name} {expected}; received dtype {dtype}.")
    return shape[0]
