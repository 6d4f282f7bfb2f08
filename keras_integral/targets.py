"""Heat-map targets for the H1 / H2 / H3 losses, from centres in heat-map cells.

The centre of cell (row i, column j) is at `(x=j, y=i)`, as in the integral
layers, so a Gaussian target's integral is its centre and the arg-max of a
one-hot target is the nearest cell; keypoints come to cells through the
model's `KeypointCodec` (codec.py). (Near the border a Gaussian is truncated and its mean
moves inward; five sigma from it the bias is below 1e-5 cells.)

Targets are built with `keras.ops` from keypoints inside the model's
`compute_loss` (not in the input pipeline): the data set stays one format for
every method, and no `(h, w, joints)` maps sit in prefetch buffers.

Maps have the layout of the heads' outputs: spatial axes first in `(h, w[, d])`
order, joints last; centres are `(x, y[, z])` (note the swap of the first two).

Example:

>>> import numpy as np
>>> centres = np.array([[[2.0, 1.0]]], "float32")          # x = 2, y = 1
>>> maps = gaussian_maps(centres, (4, 5), sigma=1.0)       # (1, 4, 5, 1)
>>> tuple(maps.shape), float(maps[0, 1, 2, 0])
((1, 4, 5, 1), 1.0)
"""

from keras import ops

# Axis of the map (in (h, w, d) order) that each coordinate (x, y, z) indexes.
_AXIS_OF_COORDINATE = (1, 0, 2)


def _squared_offsets(centres, shape):
    """Per-coordinate squared distances from each cell index to the centre.

    Returns a list, one per spatial axis in map order, of tensors broadcastable
    to `(batch, joints, *shape)`.
    """
    centres = ops.convert_to_tensor(centres, "float32")
    rank = len(shape)
    if centres.shape[-1] != rank:
        raise ValueError(
            f"Centres must have {rank} coordinates for maps of spatial shape {tuple(shape)}, "
            f"received centres of shape {tuple(centres.shape)}."
        )
    offsets = [None] * rank
    for coordinate in range(rank):
        axis = _AXIS_OF_COORDINATE[coordinate] if rank > 1 else 0
        index = ops.cast(ops.arange(shape[axis]), "float32")
        view = [1] * rank
        view[axis] = shape[axis]
        index = ops.reshape(index, (1, 1, *view))
        c = ops.reshape(centres[..., coordinate], (-1, centres.shape[1]) + (1,) * rank)
        offsets[axis] = index - c
    return offsets


def _joints_last(maps):
    rank = len(maps.shape)
    return ops.transpose(maps, (0,) + tuple(range(2, rank)) + (1,))


def gaussian_maps(centres, shape, sigma=1.0, normalize=False):
    """Gaussian blobs at sub-pixel centres (H1 target; σ in cells).

    Args:
        centres: `(batch, joints, n)` centres in cell units, `(x, y[, z])`
            for 2D/3D maps, `(c,)` for 1D marginals (n = len(shape)).
        shape: spatial shape `(h, w)`, `(h, w, depth)` or `(n,)`.
        sigma: standard deviation in cells.
        normalize: if True, each map sums to 1 (a distribution, as for the
            marginal cross-entropy); else the peak value is 1 at the centre.

    Returns:
        `(batch, *shape, joints)` float32 maps.
    """
    offsets = _squared_offsets(centres, shape)
    squared = sum(o * o for o in offsets)
    maps = ops.exp(-squared / (2.0 * sigma * sigma))
    if normalize:
        total = ops.sum(maps, axis=tuple(range(2, 2 + len(shape))), keepdims=True)
        maps = ops.divide_no_nan(maps, total)
    return _joints_last(maps)


def onehot_maps(centres, shape):
    """One-hot maps at the cell nearest each centre (H2 target).

    A centre outside the map gives an all-zero map; `in_map` tells which
    centres are inside so their weights can be zeroed.

    Args:
        centres: `(batch, joints, n)` centres in cell units.
        shape: spatial shape.

    Returns:
        `(batch, *shape, joints)` float32 maps.
    """
    offsets = _squared_offsets(centres, shape)
    # The nearest cell is floor(c + 0.5): index - c in (-0.5, 0.5], so an exact
    # tie (c = 2.5) picks one cell (3), never two.
    hit = None
    for o in offsets:
        inside = ops.logical_and(o > -0.5, o <= 0.5)
        hit = inside if hit is None else ops.logical_and(hit, inside)
    return _joints_last(ops.cast(hit, "float32"))


def disk_maps(centres, shape, radius):
    """Binary maps: 1 within `radius` cells of the centre, else 0 (H3 target).

    Args:
        centres: `(batch, joints, n)` centres in cell units.
        shape: spatial shape.
        radius: radius in cells (the paper's 15 input pixels, scaled to the
            heat map by the model).

    Returns:
        `(batch, *shape, joints)` float32 maps.
    """
    offsets = _squared_offsets(centres, shape)
    squared = sum(o * o for o in offsets)
    return _joints_last(ops.cast(squared <= radius * radius, "float32"))


def in_map(centres, shape):
    """`(batch, joints)` bool: whether each centre's nearest cell lies inside the map."""
    centres = ops.convert_to_tensor(centres, "float32")
    rank = len(shape)
    inside = None
    for coordinate in range(rank):
        axis = _AXIS_OF_COORDINATE[coordinate] if rank > 1 else 0
        c = centres[..., coordinate]
        ok = ops.logical_and(c >= -0.5, c < shape[axis] - 0.5)
        inside = ok if inside is None else ops.logical_and(inside, ok)
    return inside
