"""Person detectors: an image in, person boxes and scores out.

A detector is any callable `detector(image) -> (boxes, scores)`: `image` an
`(H, W, 3)` uint8 RGB frame, `boxes` `(n, 4)` `[x, y, w, h]` in its pixels
(COCO `bbox`), `scores` `(n,)`. Three come with the package:

- `BlazePoseDetector` (`blazepose.py`): MediaPipe's person detector on
  LiteRT, the default, offline once its file is cached;
- `KerasHubDetector` (`keras_hub_detector.py`): a keras-hub COCO object
  detector preset, its person class;
- any callable of your own, checked by `CheckedDetector`.

`detector_from_spec` reads the command line's `--detector` (`blazepose`,
`PATH.tflite`, `keras_hub:PRESET`, `none`); `none` is `None`: the whole
frame is one person.

Example:

>>> detector = detector_from_spec("blazepose")              # doctest: +SKIP
>>> boxes, scores = detector(image)                         # doctest: +SKIP
"""

from keras_integral.detection.blazepose import BlazePoseDetector
from keras_integral.detection.boxes import check_boxes
from keras_integral.detection.keras_hub_detector import KerasHubDetector


class CheckedDetector:
    """Wraps a detector callable; its output is validated, scored and thresholded.

    Args:
        detector: `detector(image) -> (boxes, scores)` (see the module docstring).
        min_score: boxes scored below this go.
        max_people: keep at most this many, highest scores first (None: all).
    """

    def __init__(self, detector, min_score=0.0, max_people=None):
        if not callable(detector):
            raise ValueError(f"detector must be callable: image -> (boxes, scores), got {detector!r:.80}.")
        self.detector, self.min_score, self.max_people = detector, float(min_score), max_people

    def __call__(self, image):
        out = self.detector(image)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise ValueError(f"detector {self.detector!r:.60} must return (boxes, scores), got {type(out).__name__}.")
        boxes, scores = check_boxes(*out, what=f"detector {self.detector!r:.60}")
        order = [i for i in sorted(range(len(scores)), key=lambda i: -scores[i]) if scores[i] >= self.min_score]
        order = order[: self.max_people] if self.max_people is not None else order
        return boxes[order], scores[order]


def detector_from_spec(spec, num_threads=1):
    """`blazepose` | `PATH.tflite` | `keras_hub:PRESET` | `none` | a callable -> a `CheckedDetector` or None.

    Example:

    >>> detector_from_spec("none") is None
    True
    """
    if spec is None or spec == "none":
        return None
    if callable(spec):
        return CheckedDetector(spec)
    if spec == "blazepose":
        return CheckedDetector(BlazePoseDetector(num_threads=num_threads))
    if isinstance(spec, str) and spec.startswith("keras_hub:"):
        return CheckedDetector(KerasHubDetector(spec.split(":", 1)[1]))
    if isinstance(spec, str) and spec.endswith(".tflite"):
        return CheckedDetector(BlazePoseDetector(spec, num_threads=num_threads))
    raise ValueError(f"detector must be 'blazepose', a PATH.tflite, 'keras_hub:PRESET' or 'none', got {spec!r}.")


__all__ = ["BlazePoseDetector", "CheckedDetector", "KerasHubDetector", "check_boxes", "detector_from_spec"]
