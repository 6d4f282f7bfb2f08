"""A keras-hub object detector preset (COCO) as a person detector.

keras-hub's `ObjectDetector.predict` returns, per image, `boxes (batch, k,
4)` in the model's `bounding_box_format`, `confidence (batch, k)`, `labels
(batch, k)` and `num_detections (batch,)`, in the pixels of the image it was
given. The image is resized here to the preprocessor's `image_size` (when it
has one) and the boxes scaled back, so no resizing inside keras-hub moves
them. Needs the network the first time (presets come from Kaggle).

Example:

>>> detector = KerasHubDetector("retinanet_resnet50_fpn_coco")   # doctest: +SKIP
>>> boxes, scores = detector(image)                              # doctest: +SKIP
"""

import cv2
import numpy as np

from keras_integral.detection.boxes import non_max_suppression

# keras_hub.utils.coco_name_to_id("person"): the COCO category id of keras-hub's COCO presets.
COCO_PERSON = 1


class KerasHubDetector:
    """Person boxes `[x, y, w, h]` from a keras-hub object detector.

    Args:
        detector: a preset name (`keras_hub.models.ObjectDetector.from_preset`),
            or a built detector: anything with `predict(images)` returning the
            dict above and a `bounding_box_format` attribute.
        person_label: the class id of people among `labels`.
        min_score: detections below this confidence go.
        nms_threshold: IoU above which a lower-scored person box is dropped.

    Call: `detector(image)` with an `(H, W, 3)` uint8 RGB image returns
    `(boxes (n, 4) float64 in image pixels, scores (n,))`, highest first.
    """

    def __init__(self, detector, person_label=COCO_PERSON, min_score=0.5, nms_threshold=0.5):
        if isinstance(detector, str):
            import keras_hub

            try:
                detector = keras_hub.models.ObjectDetector.from_preset(detector)
            except Exception as e:  # keras-hub answers a missing network or a bad name in many ways
                from keras_integral.download import PresetUnavailableError

                first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
                raise PresetUnavailableError(
                    f"keras-hub object detector preset {detector!r} could not be loaded ({first}); presets "
                    "download from Kaggle once (network needed), or pass a local preset folder.") from None
        if not hasattr(detector, "predict") or not hasattr(detector, "bounding_box_format"):
            raise ValueError(f"detector must be a keras-hub preset name or an ObjectDetector, got {detector!r:.80}.")
        self.detector = detector
        self.person_label = int(person_label)
        self.min_score, self.nms_threshold = float(min_score), float(nms_threshold)
        converter = getattr(getattr(detector, "preprocessor", None), "image_converter", None)
        size = getattr(converter, "image_size", None)
        self.input_size = tuple(int(v) for v in size) if size else None  # (height, width)

    def __call__(self, image):
        import keras

        image = np.asarray(image)
        if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be an (H, W, 3) uint8 RGB array, got shape {image.shape}, {image.dtype}.")
        height, width = image.shape[:2]
        size = self.input_size or (height, width)
        resized = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_LINEAR) if size != (height, width) \
            else image
        out = self.detector.predict(resized[None].astype(np.float32), verbose=0)
        count = int(np.asarray(out["num_detections"]).reshape(-1)[0])
        boxes = keras.utils.bounding_boxes.convert_format(
            np.asarray(out["boxes"], np.float32)[:1, :count], source=self.detector.bounding_box_format,
            target="xywh", height=size[0], width=size[1])
        boxes = np.asarray(boxes, np.float64)[0] * np.tile([width / size[1], height / size[0]], 2)
        scores = np.asarray(out["confidence"], np.float64)[0, :count]
        labels = np.asarray(out["labels"])[0, :count]
        keep = (labels == self.person_label) & (scores >= self.min_score) & np.all(boxes[:, 2:] > 0, axis=1)
        boxes, scores, _ = non_max_suppression(boxes[keep], scores[keep], self.nms_threshold)
        return boxes, scores
