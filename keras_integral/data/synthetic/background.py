"""The background of a synthetic image: a gradient, blotches and, by level, clutter and distractors."""

import cv2
import numpy as np

from keras_integral.data.synthetic.canvas import SCALE
from keras_integral.data.synthetic.canvas import SHIFT
from keras_integral.data.synthetic.canvas import fixed_point
from keras_integral.data.synthetic.scene import SKIN_TONES


def draw_background(rng, height, width, difficulty):
    """A gradient, blotchy texture and, by `difficulty`, clutter (shapes, lines) and distractors.

    Distractors are limb-like capsules and marker-like dots. Shapes a level
    leaves out are still drawn, into a scratch image: the random stream, and
    so everything drawn after the background, is the same at every level.
    """
    c0, c1 = rng.uniform(0, 255, 3).astype(np.float32), rng.uniform(0, 255, 3).astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    t = (np.cos(angle) * np.arange(width)[None, :] + np.sin(angle) * np.arange(height)[:, None])
    t = ((t - t.min()) / max(np.ptp(t), 1e-6)).astype(np.float32)
    image = c0 + (c1 - c0) * t[:, :, None]
    blotches = rng.uniform(-40, 40, (rng.integers(3, 9), rng.integers(3, 9), 3)).astype(np.float32)
    image = np.clip(image + cv2.resize(blotches, (width, height), interpolation=cv2.INTER_CUBIC), 0, 255)
    image = image.astype(np.uint8)
    scratch = np.zeros_like(image)
    size = max(height, width)
    for _ in range(rng.integers(6, 24)):
        colour = rng.integers(0, 256, 3).tolist()
        centre = tuple(fixed_point(rng.uniform([0, 0], [width, height])))
        kind = rng.integers(6)
        shown = difficulty.distractors if kind >= 4 else difficulty.clutter
        target = image if shown else scratch
        if kind == 0:
            p0, p1 = rng.uniform(-0.1, 1.1, 2) * [width, height], rng.uniform(-0.1, 1.1, 2) * [width, height]
            cv2.rectangle(target, tuple(fixed_point(p0)), tuple(fixed_point(p1)), colour, -1, cv2.LINE_AA, SHIFT)
        elif kind == 1:
            axes = tuple(fixed_point(rng.uniform(0.02, 0.25, 2) * size))
            cv2.ellipse(target, centre, axes, rng.uniform(0, 180), 0, 360, colour, -1, cv2.LINE_AA, SHIFT)
        elif kind == 2:
            p0, p1 = rng.uniform(0, 1, 2) * [width, height], rng.uniform(0, 1, 2) * [width, height]
            cv2.line(target, tuple(fixed_point(p0)), tuple(fixed_point(p1)), colour, int(rng.integers(1, 6)),
                     cv2.LINE_AA, SHIFT)
        elif kind == 3:
            polygon = rng.uniform(0, 1, (int(rng.integers(3, 7)), 2)) * [width, height]
            cv2.fillPoly(target, [fixed_point(polygon)], colour, cv2.LINE_AA, SHIFT)
        elif kind == 4:  # a limb-like capsule, possibly skin-coloured
            if rng.random() < 0.5:
                colour = SKIN_TONES[rng.integers(len(SKIN_TONES))]
            p0 = rng.uniform(0, 1, 2) * [width, height]
            p1 = p0 + rng.normal(0, 0.15 * size, 2)
            cv2.line(target, tuple(fixed_point(p0)), tuple(fixed_point(p1)), list(colour),
                     int(rng.integers(3, max(4, size // 20))), cv2.LINE_AA, SHIFT)
        else:  # dots the size of the joint markers
            for _ in range(rng.integers(1, 6)):
                dot = rng.uniform(0, 1, 2) * [width, height]
                cv2.circle(target, tuple(fixed_point(dot)), int(rng.uniform(0.8, 2.5) * SCALE), colour, -1,
                           cv2.LINE_AA, SHIFT)
    return image
