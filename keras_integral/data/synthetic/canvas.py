"""Drawing with OpenCV at sub-pixel precision: shaded shapes, and an id buffer of what was drawn where."""

import cv2
import numpy as np

SHIFT = 4  # OpenCV fixed-point bits: coordinates drawn to 1/16 px
SCALE = 1 << SHIFT


def fixed_point(points):
    """Pixel coordinates -> OpenCV fixed-point integers (1/16 px)."""
    return np.round(np.asarray(points) * SCALE).astype(np.int32)


class Canvas:
    """Draws shaded shapes into the RGB image and their id into the id buffer."""

    def __init__(self, image, ids, light):
        self.image, self.ids, self.light = image, ids, light

    def capsule(self, p0, p1, r0, r1, colour, id_, caps):
        """A tapered limb piece from `p0` to `p1` (pixels), radii `r0`, `r1` (pixels).

        `caps` = (bool, bool): round off the start / end (the limb's ends, not
        the seams between its pieces, so pieces join without a visible rim).
        """
        axis = p1 - p0
        length = np.linalg.norm(axis)
        normal = np.array([-axis[1], axis[0]]) / length if length > 1e-6 else np.array([1.0, 0.0])
        if normal @ self.light < 0:
            normal = -normal
        colour = np.asarray(colour, np.float64)
        layers = (  # (width factor, offset toward the light, colour): a cylinder lit from one side
            (1.0, 0.0, 0.6 * colour),
            (0.78, 0.12, colour),
            (0.3, 0.4, np.minimum(255, 0.55 * colour + 115)),
        )
        for width, shift, layer_colour in layers:
            quad = np.array([
                p0 + normal * r0 * (shift + width), p1 + normal * r1 * (shift + width),
                p1 + normal * r1 * (shift - width), p0 + normal * r0 * (shift - width),
            ])
            cv2.fillConvexPoly(self.image, fixed_point(quad), layer_colour.tolist(), cv2.LINE_AA, SHIFT)
            for end, radius, cap in zip((p0, p1), (r0, r1), caps):
                if cap:
                    centre = end + normal * radius * shift
                    cv2.circle(self.image, tuple(fixed_point(centre)), int(round(radius * width * SCALE)),
                               layer_colour.tolist(), -1, cv2.LINE_AA, SHIFT)
        quad = np.array([p0 + normal * r0, p1 + normal * r1, p1 - normal * r1, p0 - normal * r0])
        cv2.fillConvexPoly(self.ids, fixed_point(quad), id_, cv2.LINE_8, SHIFT)
        for end, radius, cap in zip((p0, p1), (r0, r1), caps):
            if cap:
                cv2.circle(self.ids, tuple(fixed_point(end)), int(round(radius * SCALE)), id_, -1, cv2.LINE_8, SHIFT)

    def polygon(self, points, colour, id_, shade=0.8, stripes=None):
        """A filled convex polygon, darker at the rim; `stripes` = (colour, period px, angle)."""
        colour = np.asarray(colour, np.float64)
        fixed = fixed_point(points)
        cv2.fillConvexPoly(self.image, fixed, (shade * colour).tolist(), cv2.LINE_AA, SHIFT)
        centre = points.mean(axis=0)
        inner = centre + 0.75 * (points - centre) + self.light * 0.05 * np.ptp(points, axis=0).max()
        cv2.fillConvexPoly(self.image, fixed_point(inner), colour.tolist(), cv2.LINE_AA, SHIFT)
        if stripes is not None:
            self._stripes(points, *stripes)
        cv2.fillConvexPoly(self.ids, fixed, id_, cv2.LINE_8, SHIFT)

    def disc(self, centre, radius, colour, id_):
        fixed_centre, fixed_radius = tuple(fixed_point(centre)), int(round(radius * SCALE))
        cv2.circle(self.image, fixed_centre, fixed_radius, np.asarray(colour, np.float64).tolist(), -1,
                   cv2.LINE_AA, SHIFT)
        cv2.circle(self.ids, fixed_centre, fixed_radius, id_, -1, cv2.LINE_8, SHIFT)

    def _stripes(self, points, colour, period, angle):
        height, width = self.ids.shape
        x0, y0 = np.maximum(np.floor(points.min(axis=0)).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(points.max(axis=0)).astype(int) + 1, [width, height])
        if x1 <= x0 or y1 <= y0:
            return
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillConvexPoly(mask, fixed_point(points - [x0, y0]), 1, cv2.LINE_8, SHIFT)
        yy, xx = np.mgrid[y0:y1, x0:x1]
        band = (np.cos(angle) * xx + np.sin(angle) * yy) % period < period / 2
        region = self.image[y0:y1, x0:x1]
        region[(mask > 0) & band] = colour
