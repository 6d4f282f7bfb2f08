"""KeypointCodec: input-crop pixels (and mm) <-> heat-map cells (and depth bins) <-> crop fractions.

One object owns both directions (MMPose's codec idea): the model decodes its
heat maps with it, the losses encode their targets with it, the importer of
the authors' checkpoints and export read the same convention from it.

Three conventions for where a cell sits in the input crop (a row of
`CELL_OFFSET` each):

- `"centre"` (ours, DESIGN.md): the centre of cell j is input pixel
  `x_in = (j + 0.5) * W / w - 0.5`, so the centres of pixels and cells line
  up at every resolution (no bias from resizing or flipping); depth bin d is
  at `((d + 0.5) / D - 0.5) * range_mm` from the root.
- `"authors"` (their released models, reference/authors-code.md section 1):
  cell j maps to `j * W / w` and bin d to `(d / D - 0.5) * range_mm`, kept so
  imported checkpoints predict the same pixels as in PyTorch.
- `"mmpose"` (MMPose's `IntegralRegressionHead` / `DSNTHead` and its
  `RegressionLabel` codec): the expectation of `arange(w) / w`, times the
  input width, so cell j is at `j * W / w`: the authors' pixels in x and y.
  It has its own name because it is MMPose's, not the authors', and says so
  in a preset's config; MMPose's integral heads are 2D, so it takes no depth.

The joint losses compare keypoints as fractions of the crop (`normalise`): x
over the width, y over the height, z over the depth range.

Example:

>>> import numpy as np
>>> codec = KeypointCodec(input_size=(256, 256), heatmap_size=(64, 64))
>>> float(codec.decode(np.array([[[0.0, 0.0]]], "float32"))[0, 0, 0])     # cell 0 -> pixel 1.5
1.5
>>> float(codec.encode(codec.decode(np.array([[[3.0, 5.0]]], "float32")))[0, 0, 1])
5.0
"""

from keras import ops

# How far in from its index a cell's centre sits, in cells, per convention.
CELL_OFFSET = {"centre": 0.5, "authors": 0.0, "mmpose": 0.0}
CONVENTIONS = tuple(CELL_OFFSET)
_WITH_DEPTH = ("centre", "authors")


class KeypointCodec:
    """Maps keypoints between input-crop pixels, heat-map cells and crop fractions.

    Args:
        input_size: `(H, W)` of the input crop in pixels.
        heatmap_size: `(h, w)` of the heat maps (None for R1: no cells).
        depth_bins: number of depth bins D (None for 2D).
        depth_range_mm: the bins' span in mm, centred on the root.
        convention: `"centre"`, `"authors"` or `"mmpose"` (see the module
            docstring; `"mmpose"` is 2D only).

    Keypoints are `(..., 2|3)` `(x, y[, z])`: x, y in input pixels (pixel
    centres at integers), z in mm from the root. Cells are `(..., 2|3)` in
    heat-map cells (and depth bins).
    """

    def __init__(self, input_size, heatmap_size=None, depth_bins=None, depth_range_mm=2000.0,
                 convention="centre"):
        if convention not in CONVENTIONS:
            raise ValueError(f"`decoding` must be one of {CONVENTIONS}, received {convention!r}.")
        if depth_bins and convention not in _WITH_DEPTH:
            raise ValueError(
                f"`decoding` {convention!r} is 2D only (MMPose's integral heads); a 3D model "
                f"(depth_bins={depth_bins}) takes one of {_WITH_DEPTH}."
            )
        self.input_size = tuple(input_size)
        self.heatmap_size = tuple(heatmap_size) if heatmap_size else None
        self.depth_bins = depth_bins
        self.depth_range_mm = float(depth_range_mm)
        self.convention = convention
        self._half = CELL_OFFSET[convention]

    @property
    def dims(self):
        return 3 if self.depth_bins else 2

    def cell_size_px(self):
        """`(x, y)` size of one heat-map cell in input pixels."""
        return (self.input_size[1] / self.heatmap_size[1], self.input_size[0] / self.heatmap_size[0])

    def decode(self, cells):
        """`(..., 2|3)` heat-map cells (and depth bins) -> input-crop pixels (and mm from the root)."""
        cells = ops.convert_to_tensor(cells)
        xy = self._rescale(cells[..., :2], self.heatmap_size, self.input_size)
        if cells.shape[-1] == 2:
            return xy
        depth_mm = ((cells[..., 2:] + self._half) / self.depth_bins - 0.5) * self.depth_range_mm
        return ops.concatenate([xy, depth_mm], axis=-1)

    def encode(self, keypoints):
        """Inverse of `decode`: `(..., 2|3)` keypoints -> cells (and bins), the heat-map losses' targets."""
        keypoints = ops.convert_to_tensor(keypoints)
        xy = self._rescale(keypoints[..., :2], self.input_size, self.heatmap_size)
        if keypoints.shape[-1] == 2:
            return xy
        bins = (keypoints[..., 2:] / self.depth_range_mm + 0.5) * self.depth_bins - self._half
        return ops.concatenate([xy, bins], axis=-1)

    def _rescale(self, xy, from_size, to_size):
        # "centre": (x + 0.5) * s - 0.5 = x * s + 0.5 * (s - 1); "authors": x * s.
        sx, sy = to_size[1] / from_size[1], to_size[0] / from_size[0]
        scale = ops.convert_to_tensor([sx, sy], xy.dtype)
        offset = ops.convert_to_tensor([self._half * (sx - 1.0), self._half * (sy - 1.0)], xy.dtype)
        return xy * scale + offset

    def _fraction_scale(self, dtype):
        scale = [self.input_size[1], self.input_size[0]] + ([self.depth_range_mm] if self.depth_bins else [])
        return ops.convert_to_tensor(scale, dtype)

    def normalise(self, keypoints):
        """`(..., 2|3)` keypoints -> fractions of the crop's width, height (and of the depth range)."""
        keypoints = ops.convert_to_tensor(keypoints, "float32")
        return keypoints / self._fraction_scale(keypoints.dtype)

    def denormalise(self, fractions):
        """Inverse of `normalise`: R1's head predicts fractions of the crop."""
        fractions = ops.convert_to_tensor(fractions, "float32")
        return fractions * self._fraction_scale(fractions.dtype)
