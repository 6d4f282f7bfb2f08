"""Person box -> affine crop, augmentation, and the image warp.

One `(2, 3)` affine matrix maps ORIGINAL image pixels to INPUT-CROP pixels;
the same matrix warps the image and moves the keypoints, so the two cannot
drift apart. Pixel convention (DESIGN.md): the centre of pixel (row i,
column j) is at `(x=j, y=i)`; a crop of `input_size=(H, W)` covers
`[-0.5, W - 0.5] x [-0.5, H - 0.5]` and the box centre lands on
`((W - 1) / 2, (H - 1) / 2)`. (The authors' code maps it to `(W / 2, H / 2)`,
half a pixel off; see `reference/authors-code.md`, section 3.)

The matrix functions (`crop_matrix`, `invert_affine`, `apply_affine`) take
NumPy values and return float64 NumPy arrays, or take TF tensors and return
float32 tensors, so the pipeline runs the very same formulas inside
`tf.data`. Random draws (`sample_augmentation`), the image warp
(`warp_image`, or `sample_crop` given the crop -> image map) and the source
window the warp reads (`source_window`) are TF ops.

Example:

>>> import numpy as np
>>> center, size = box_to_crop([10, 20, 40, 80], input_size=(64, 48))
>>> m = crop_matrix(center, size, input_size=(64, 48))
>>> apply_affine(m, center)           # the box centre -> the crop centre
array([23.5, 31.5])
>>> np.allclose(apply_affine(invert_affine(m), apply_affine(m, [[3.0, 4.0]])), [[3.0, 4.0]])
True
"""

import numpy as np
import tensorflow as tf


def box_to_crop(box, input_size, margin=1.25):
    """Crop window of a person box: its centre and size, at the input's aspect ratio.

    The shorter side of the box (relative to the aspect ratio of `input_size`)
    is expanded, then both sides are multiplied by `margin` (the authors'
    COCO/MPII convention).

    Args:
        box: `(4,)` or `(boxes, 4)` person box `[x, y, width, height]` in image
            pixels (COCO `bbox`: top-left corner and size); its centre is
            `(x + width / 2, y + height / 2)`.
        input_size: `(height, width)` of the network input in pixels.
        margin: factor applied to both sides after the aspect correction.

    Returns:
        `(center, crop_size)`: `(..., 2)` float64 `(x, y)` and `(..., 2)`
        float64 `(crop_width, crop_height)`, in image pixels.

    Example:

    >>> box_to_crop([0, 0, 100, 50], input_size=(256, 256), margin=1.0)
    (array([50., 25.]), array([100., 100.]))
    """
    box = np.asarray(box, np.float64)
    if box.shape[-1:] != (4,):
        raise ValueError(f"box must have shape (..., 4) [x, y, width, height], got {box.shape}.")
    bad = ~np.all(np.isfinite(box), axis=-1) | (box[..., 2] <= 0) | (box[..., 3] <= 0)
    if np.any(bad):
        first = box[np.unravel_index(np.argmax(bad), bad.shape)] if box.ndim > 1 else box
        raise ValueError(f"box must be finite [x, y, width, height] with width, height > 0; got {first.tolist()}.")
    in_h, in_w = _check_input_size(input_size)
    if not margin > 0:
        raise ValueError(f"margin must be > 0, got {margin!r}.")
    x, y, w, h = np.moveaxis(box, -1, 0)
    aspect = in_w / in_h
    wide = w > aspect * h
    size = np.stack([np.where(wide, w, h * aspect), np.where(wide, w / aspect, h)], axis=-1)
    return np.stack([x + w / 2, y + h / 2], axis=-1), size * margin


def crop_matrix(center, crop_size, input_size, scale=1.0, rotation_deg=0.0, shift=(0.0, 0.0), flip=False):
    """Affine matrix from original image pixels to input-crop pixels.

    The source window has size `scale * crop_size`, is centred on
    `center + shift * crop_size` and rotated by `rotation_deg`; it fills the
    `input_size` crop. With `flip`, the image is first mirrored
    (`x -> image_width - 1 - x`, as in the authors' code); the centre is
    mirrored with it, so the image width cancels out and the result equals a
    mirror through the box centre. The caller swaps left/right joints of the
    keypoint arrays with `skeleton.flip_index`.

    In formulas, with `K = diag(W / (scale * crop_w), H / (scale * crop_h))`,
    `R` the rotation by `rotation_deg` (`x' = x cos - y sin`,
    `y' = x sin + y cos` in image coordinates, y down; the person appears
    rotated by `-rotation_deg` in the crop) and `P = diag(-1, 1)` if `flip`
    else the identity:
    `crop = K R^T (P (p - center) - shift * crop_size) + ((W - 1) / 2, (H - 1) / 2)`.

    Args:
        center: `(2,)` window centre `(x, y)` in image pixels.
        crop_size: `(2,)` window `(width, height)` in image pixels.
        input_size: `(height, width)` of the crop in pixels.
        scale: augmentation scale factor; > 1 takes a larger source window
            (zoom out).
        rotation_deg: rotation of the source window in degrees.
        shift: `(2,)` translation of the window centre as a fraction of
            `crop_size`, in the (mirrored, if `flip`) image frame.
        flip: horizontal flip.

    Returns:
        `(2, 3)` matrix: float64 NumPy array, or float32 tensor when any
        argument is a TF tensor.

    Example:

    >>> m = crop_matrix([50.0, 25.0], [100.0, 100.0], input_size=(64, 64), flip=True)
    >>> apply_affine(m, [[100.0, 25.0]])   # right of the centre -> left side of the crop
    array([[-0.5, 31.5]])
    """
    in_h, in_w = _check_input_size(input_size)
    if _any_tensor(center, crop_size, scale, rotation_deg, shift, flip):
        xp, center, crop_size, shift = tf, *(tf.cast(v, tf.float32) for v in (center, crop_size, shift))
        scale, angle = tf.cast(scale, tf.float32), tf.cast(rotation_deg, tf.float32) * (np.pi / 180)
        mirror, input_wh = tf.where(tf.cast(flip, tf.bool), -1.0, 1.0), tf.constant([in_w, in_h], tf.float32)
    else:
        xp, center, crop_size, shift = np, *(np.asarray(v, np.float64) for v in (center, crop_size, shift))
        for name, value in (("center", center), ("crop_size", crop_size), ("shift", shift)):
            if value.shape != (2,) or not np.all(np.isfinite(value)):
                raise ValueError(f"{name} must be 2 finite values (x, y), got {value.tolist()}.")
        if np.any(crop_size <= 0) or not scale > 0:
            raise ValueError(f"crop_size and scale must be > 0, got crop_size={crop_size.tolist()}, scale={scale!r}.")
        angle, mirror, input_wh = np.deg2rad(rotation_deg), -1.0 if flip else 1.0, np.array([in_w, in_h], np.float64)
    cos, sin = xp.cos(angle), xp.sin(angle)
    rotation_t = xp.stack([xp.stack([cos, sin]), xp.stack([-sin, cos])])  # R^T
    k = input_wh / (scale * crop_size)
    linear = k[:, None] * rotation_t * xp.stack([mirror, xp.ones_like(mirror)])
    offset = (linear @ center[:, None])[:, 0] + k * (rotation_t @ (shift * crop_size)[:, None])[:, 0]
    translation = (input_wh - 1) / 2 - offset
    return _concat(xp, [linear, translation[:, None]], 1)


def invert_affine(matrix):
    """Inverse of a `(2, 3)` affine matrix (or a batch of them).

    Args:
        matrix: `(..., 2, 3)` NumPy array or TF tensor.

    Returns:
        `(..., 2, 3)` inverse, of the input's kind.

    Example:

    >>> m = np.array([[2.0, 0.0, 1.0], [0.0, 4.0, 8.0]])
    >>> apply_affine(invert_affine(m), apply_affine(m, [3.0, 5.0]))
    array([3., 5.])
    """
    if _any_tensor(matrix):
        xp, m = tf, tf.cast(matrix, tf.float32)
        linear = tf.linalg.inv(m[..., :2])
    else:
        xp, m = np, np.asarray(matrix, np.float64)
        if m.shape[-2:] != (2, 3):
            raise ValueError(f"matrix must have shape (..., 2, 3), got {m.shape}.")
        try:
            linear = np.linalg.inv(m[..., :2])
        except np.linalg.LinAlgError:
            raise ValueError(f"matrix is singular (determinant 0): {m.tolist()}.") from None
    return _concat(xp, [linear, -(linear @ m[..., 2:])], -1)


def apply_affine(matrix, points):
    """Applies an affine matrix to points.

    Args:
        matrix: `(2, 3)` matrix with `points` of shape `(..., 2)`, or a batch
            `(..., 2, 3)` with `points` of shape `(..., n, 2)` (one matrix per
            set of `n` points). NumPy or TF.
        points: `(x, y)` points, as above.

    Returns:
        Transformed points, the shape of `points`.

    Example:

    >>> apply_affine(np.array([[1.0, 0.0, 5.0], [0.0, 1.0, -1.0]]), [[0.0, 0.0], [1.0, 2.0]])
    array([[ 5., -1.],
           [ 6.,  1.]])
    """
    if _any_tensor(matrix, points):
        m, p = tf.cast(matrix, tf.float32), tf.cast(points, tf.float32)
        linear_t = tf.linalg.matrix_transpose(m[..., :2])
    else:
        m, p = np.asarray(matrix, np.float64), np.asarray(points, np.float64)
        if m.shape[-2:] != (2, 3) or p.shape[-1:] != (2,):
            raise ValueError(f"expected matrix (..., 2, 3) and points (..., 2), got {m.shape} and {p.shape}.")
        linear_t = np.swapaxes(m[..., :2], -1, -2)
    translation = m[..., 2]
    if len(m.shape) > 2:  # one matrix per leading index: broadcast over the points axis
        linear_t, translation = linear_t[..., None, :, :], translation[..., None, :]
    return (p[..., None, :] @ linear_t)[..., 0, :] + translation


def sample_augmentation(
    seed,
    index,
    scale_factor=0.25,
    rotation_factor_deg=30.0,
    rotation_prob=0.6,
    shift_fraction=0.02,
    flip_prob=0.5,
    color_factor=0.2,
):
    """Random augmentation of one sample, a pure function of `(seed, index)`.

    The paper's ranges, drawn as in the authors' `augment.py` except for the
    rotation clip (the paper says +-30 degrees; their code clips at +-60):
    - scale `1 + scale_factor * clip(N(0, 1), -1, 1)`, in `[0.75, 1.25]`;
    - rotation `rotation_factor_deg * clip(N(0, 1), -1, 1)` degrees with
      probability `rotation_prob`, else 0;
    - shift `U(-shift_fraction, shift_fraction)` of the crop size per axis;
    - horizontal flip with probability `flip_prob`;
    - colour: each RGB channel times `U(1 - color_factor, 1 + color_factor)`.
    Set a factor (or probability) to 0 to turn that part off.

    Args:
        seed: int, or `(2,)` integer stateless-RNG key.
        index: int scalar (tensor): the global sample index.
        scale_factor, rotation_factor_deg, rotation_prob, shift_fraction,
            flip_prob, color_factor: ranges, as above.

    Returns:
        dict of float32 tensors: `scale` `()`, `rotation_deg` `()`, `shift`
        `(2,)` (x, y), `flip` `()` bool, `color` `(3,)` RGB factors.

    Example:

    >>> aug = sample_augmentation(seed=0, index=7)
    >>> float(aug["scale"]) == float(sample_augmentation(seed=0, index=7)["scale"])
    True
    """
    key = tf.cast(seed, tf.int64)
    if key.shape.rank == 0:
        key = tf.stack([key, tf.zeros_like(key)])
    # One draw of 9 uniforms per sample; the two normals by the inverse CDF.
    uniform = tf.random.stateless_uniform([9], tf.random.experimental.stateless_fold_in(key, tf.cast(index, tf.int64)))
    normal = tf.clip_by_value(tf.math.ndtri(uniform[7:]), -1.0, 1.0)
    return {
        "scale": 1.0 + scale_factor * normal[0],
        "rotation_deg": tf.where(uniform[0] < rotation_prob, rotation_factor_deg * normal[1], 0.0),
        "shift": shift_fraction * (2.0 * uniform[2:4] - 1.0),
        "flip": uniform[1] < flip_prob,
        "color": 1.0 + color_factor * (2.0 * uniform[4:7] - 1.0),
    }


def warp_image(image, matrix, input_size):
    """Warps an image into the input crop (bilinear, constant 0 outside the image).

    Inverts `matrix` and samples with `sample_crop`; a caller that has the
    crop -> image map already (the pipeline) calls `sample_crop` directly.

    Args:
        image: `(height, width, channels)` or `(batch, height, width,
            channels)` tensor, any real dtype.
        matrix: `(2, 3)` or `(batch, 2, 3)` affine from image pixels to crop
            pixels (`crop_matrix`).
        input_size: `(height, width)` of the crop.

    Returns:
        float32 `(H, W, channels)` or `(batch, H, W, channels)` crop.

    Example:

    >>> img = tf.reshape(tf.range(12.0), (3, 4, 1))
    >>> m = crop_matrix([1.5, 1.0], [4.0, 3.0], input_size=(3, 4))   # the identity
    >>> bool(tf.reduce_all(warp_image(img, m, (3, 4)) == img))
    True
    """
    return sample_crop(image, invert_affine(tf.convert_to_tensor(matrix)), input_size)


def sample_crop(image, crop_to_image, input_size):
    """The input crop of an image, each crop pixel sampled where `crop_to_image` puts it.

    Each crop pixel `(x, y)` samples the image bilinearly at
    `crop_to_image @ (x, y, 1)`, blending with zeros across the image border.
    Crops without rotation (every evaluation crop, and training crops drawn
    without rotation) take TF's `crop_and_resize` kernel, about 2x faster
    than the general `ImageProjectiveTransformV3` (same sampling positions
    and values, checked against SciPy in the tests).

    Args:
        image: `(height, width, channels)` or `(batch, height, width,
            channels)` tensor, any real dtype.
        crop_to_image: `(2, 3)` or `(batch, 2, 3)` affine from crop pixels to
            image pixels (`invert_affine(crop_matrix(...))`).
        input_size: `(height, width)` of the crop.

    Returns:
        float32 `(H, W, channels)` or `(batch, H, W, channels)` crop.

    Example:

    >>> img = tf.reshape(tf.range(12.0), (3, 4, 1))
    >>> shifted = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])   # crop x = image x - 1
    >>> sample_crop(img, shifted, (3, 4))[0, :, 0].numpy().tolist()
    [1.0, 2.0, 3.0, 0.0]
    """
    in_h, in_w = _check_input_size(input_size)
    image = tf.convert_to_tensor(image)
    single = image.shape.rank == 3
    if image.shape.rank not in (3, 4):
        raise ValueError(f"image must be (height, width, channels) or (batch, ...), got shape {image.shape}.")
    images = image[None] if single else image
    if images.dtype not in _CROP_AND_RESIZE_DTYPES:
        images = tf.cast(images, tf.float32)
    # Crop -> image maps, one per image.
    inverse = tf.reshape(tf.cast(crop_to_image, tf.float32), (-1, 2, 3))
    inverse = tf.broadcast_to(inverse, tf.stack([tf.shape(images)[0], 2, 3]))
    axis_aligned = tf.reduce_all(tf.equal(inverse[:, 0, 1], 0.0) & tf.equal(inverse[:, 1, 0], 0.0))
    out = tf.cond(
        axis_aligned,
        lambda: _crop_and_resize(images, inverse, in_h, in_w),
        lambda: _projective_warp(images, inverse, in_h, in_w),
    )
    return out[0] if single else out


def source_window(crop_to_image, input_size):
    """The image pixels that bilinear sampling of a crop reads: an integer window, not clipped to the image.

    The bound of the crop area `[-0.5, W - 0.5] x [-0.5, H - 0.5]` in the
    image, widened by one pixel each way: bilinear sampling reads the
    pixels at floor and ceil of each position, and the pixel to spare
    absorbs float32 rounding. The pipeline decodes this window of a JPEG
    (so its pixels depend on it: JPEG decoding of a part is not exactly the
    same as a part of the whole decoding) and `sample_crop` cuts it.

    Args:
        crop_to_image: `(2, 3)` or `(batch, 2, 3)` affine from crop pixels to
            image pixels (tensor or array).
        input_size: `(height, width)` of the crop.

    Returns:
        `(low, high)`: int32 `(2,)` tensors, the `(x, y)` image pixels of the
        window's first and last column and row (inclusive), over the whole
        batch.

    Example:

    >>> low, high = source_window(np.array([[1.0, 0.0, 10.0], [0.0, 1.0, 20.0]]), (4, 6))
    >>> low.numpy().tolist(), high.numpy().tolist()
    ([8, 18], [17, 25])
    """
    in_h, in_w = _check_input_size(input_size)
    maps = tf.reshape(tf.cast(crop_to_image, tf.float32), (-1, 2, 3))
    corners = tf.constant([[-0.5, -0.5], [in_w - 0.5, -0.5], [-0.5, in_h - 0.5], [in_w - 0.5, in_h - 0.5]])
    source = apply_affine(maps, tf.broadcast_to(corners, tf.stack([tf.shape(maps)[0], 4, 2])))
    low = tf.cast(tf.floor(tf.reduce_min(source, axis=[0, 1])), tf.int32) - 1
    high = tf.cast(tf.math.ceil(tf.reduce_max(source, axis=[0, 1])), tf.int32) + 1
    return low, high


# Input dtypes of tf.image.crop_and_resize; others are cast to float32.
_CROP_AND_RESIZE_DTYPES = (
    tf.uint8, tf.uint16, tf.int8, tf.int16, tf.int32, tf.int64, tf.float16, tf.float32, tf.float64,
)


def _crop_and_resize(images, inverse, in_h, in_w):
    """`sample_crop` for crops without rotation (`inverse` `(batch, 2, 3)` diagonal)."""
    # The crop's source window, plus a ring of zeros where that window meets
    # the image border: crop_and_resize then blends with zeros across the
    # border exactly as the projective warp's constant fill does.
    low, high = source_window(inverse, (in_h, in_w))
    size_wh = tf.shape(images)[2:0:-1]
    start = tf.clip_by_value(low, 0, size_wh - 1)
    stop = tf.clip_by_value(high + 1, start + 1, size_wh)
    window = images[:, start[1] : stop[1], start[0] : stop[0]]
    window = tf.pad(window, [[0, 0], [1, 1], [1, 1], [0, 0]])
    origin = tf.cast(start - 1, tf.float32)  # image pixel of the padded window's (0, 0)
    last = tf.cast(tf.shape(window)[2:0:-1] - 1, tf.float32)  # crop_and_resize's unit box ends here
    first_x, first_y = inverse[:, 0, 2] - origin[0], inverse[:, 1, 2] - origin[1]
    last_x = inverse[:, 0, 0] * (in_w - 1) + first_x
    last_y = inverse[:, 1, 1] * (in_h - 1) + first_y
    boxes = tf.stack([first_y / last[1], first_x / last[0], last_y / last[1], last_x / last[0]], axis=1)
    return tf.image.crop_and_resize(window, boxes, tf.range(tf.shape(window)[0]), [in_h, in_w], "bilinear")


def _projective_warp(images, inverse, in_h, in_w):
    """`sample_crop` for any affine crop."""
    # ImageProjectiveTransformV3 takes the OUTPUT -> INPUT map, with pixel
    # centres at integer coordinates (checked against scipy in the tests).
    flat = tf.reshape(inverse, (-1, 6))
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.cast(images, tf.float32),
        transforms=tf.concat([flat, tf.zeros_like(flat[:, :2])], axis=1),
        output_shape=tf.constant([in_h, in_w], tf.int32),
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )


def _check_input_size(input_size):
    try:
        in_h, in_w = (int(v) for v in input_size)
    except (TypeError, ValueError):
        raise ValueError(f"input_size must be (height, width), got {input_size!r}.") from None
    if in_h <= 0 or in_w <= 0 or (in_h, in_w) != tuple(input_size):
        raise ValueError(f"input_size must be two positive integers (height, width), got {input_size!r}.")
    return in_h, in_w


def _concat(xp, values, axis):
    return tf.concat(values, axis) if xp is tf else np.concatenate(values, axis)


def _any_tensor(*values):
    return any(isinstance(v, (tf.Tensor, tf.Variable)) for v in values)
