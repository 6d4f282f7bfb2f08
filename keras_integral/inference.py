"""Inference: person boxes -> keypoints in image pixels; the flip test; drawing.

The path of one image, top to bottom:

    image (H, W, 3) RGB + person boxes [x, y, w, h]
      -> crop window per box (transforms.box_to_crop, model.crop_margin)  data/transforms.py
      -> affine crop (transforms.crop_matrix + warp_image), as the evaluation pipeline
      -> model on the crops (+ the mirrored crops: flip test)          predict_crops
      -> keypoints in crop pixels -> inverse affine -> image pixels

`predict_crops` is the one implementation of the flip test; `evaluate.py`
uses it too. The model is anything with `predict_on_batch(images)` returning
`{"keypoints", "scores"}` (an `IntegralPoseModel`), plus `input_size` and
`skeleton` attributes (and `crop_margin`; without it, `transforms.CROP_MARGIN`).

Example:

>>> import numpy as np
>>> from keras_integral.models.pose_model import IntegralPoseModel
>>> model = IntegralPoseModel(backbone="resnet18", method="I1", skeleton="coco",
...                           input_size=(64, 64))
>>> predictor = Predictor(model, flip_test=True)
>>> image = np.zeros((120, 160, 3), np.uint8)
>>> out = predictor.predict(image, boxes=[[40, 10, 50, 100]])
>>> out["keypoints"].shape, out["scores"].shape
((1, 17, 2), (1, 17))
>>> drawn = draw_skeleton(image, out["keypoints"], out["scores"], "coco")
"""

import cv2
import numpy as np
import tensorflow as tf

from keras_integral import skeletons
from keras_integral.data import transforms
from keras_integral.detection.boxes import whole_image_box

# RGB colours of drawn limbs and joints, by side of the body.
SIDE_COLOURS = {"left": (255, 140, 0), "right": (0, 140, 255), "centre": (60, 220, 60)}


def model_input_size(model):
    """`(height, width)` of a pose model's input crops.

    Args:
        model: an `IntegralPoseModel` (its `input_size`), or a Keras model
            with a `(batch, H, W, 3)` input.

    Returns:
        tuple of two ints.

    Example:

    >>> model_input_size(model)     # doctest: +SKIP
    (256, 192)
    """
    size = getattr(model, "input_size", None)
    if size is None:
        shape = getattr(model, "input_shape", None)
        size = shape[1:3] if shape is not None and len(shape) == 4 else None
    if size is None or len(size) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in size):
        raise ValueError(
            f"Cannot tell the input crop size of model {getattr(model, 'name', type(model).__name__)!r}: expected an "
            f"`input_size` (height, width) attribute or a (batch, H, W, 3) input, got {size!r}."
        )
    return int(size[0]), int(size[1])


def model_crop_margin(model):
    """The box enlargement a pose model's crops are cut with (its `crop_margin`).

    A model without the attribute (a plain Keras model) gets
    `transforms.CROP_MARGIN`, the default of `IntegralPoseModel`.

    Example:

    >>> model_crop_margin(model)     # doctest: +SKIP
    1.25
    """
    return transforms.check_crop_margin(getattr(model, "crop_margin", transforms.CROP_MARGIN),
                                        f"{getattr(model, 'name', type(model).__name__)}.crop_margin")


def model_skeleton(model):
    """The `Skeleton` a pose model predicts (its `skeleton` attribute).

    Example:

    >>> model_skeleton(model).name     # doctest: +SKIP
    'coco'
    """
    name = getattr(model, "skeleton", None)
    if name is None:
        raise ValueError(
            f"Model {getattr(model, 'name', type(model).__name__)!r} has no `skeleton` attribute; pass skeleton=... "
            "(a name such as 'coco' or a Skeleton)."
        )
    return skeletons.get(name)


def predict_crops(model, crops, flip_index=None):
    """Keypoints and scores of input crops, with the flip test when `flip_index` is given.

    Flip test (as the authors' `validNet`): the model also sees each crop
    mirrored (`crop[:, :, ::-1]`); its prediction there is mapped back with
    `x -> W - 1 - x`, joint `k` read from joint `flip_index[k]` (left/right
    swapped), `z` unchanged; the result is the mean of the two predictions, on
    `x`, `y`, `z` and the scores. Both halves go through the model as one batch
    of `2 * batch` crops.

    Args:
        model: has `predict_on_batch(images)` -> dict with `keypoints`
            `(batch, joints, 2|3)` and `scores` `(batch, joints)`.
        crops: `(batch, H, W, 3)` RGB crops in `[0, 255]`.
        flip_index: `(joints,)` int array (`skeleton.flip_index`), or `None`
            for no flip test.

    Returns:
        `(keypoints, scores)`: float64 `(batch, joints, 2|3)` with `x, y` in
        crop pixels (pixel centres at integers) and `z` in mm, and
        `(batch, joints)`.

    Example:

    >>> kp, scores = predict_crops(model, crops, flip_index=skeletons.get("coco").flip_index)  # doctest: +SKIP
    """
    crops = np.asarray(crops, np.float32)
    if crops.ndim != 4 or crops.shape[-1] != 3:
        raise ValueError(f"crops must have shape (batch, H, W, 3), got {crops.shape}.")
    batch, width = crops.shape[0], crops.shape[2]
    inputs = crops if flip_index is None else np.concatenate([crops, crops[:, :, ::-1]])
    out = model.predict_on_batch(inputs)
    keypoints = np.asarray(out["keypoints"], np.float64)
    scores = np.asarray(out["scores"], np.float64)
    if keypoints.ndim != 3 or keypoints.shape[0] != len(inputs) or scores.shape != keypoints.shape[:2]:
        raise ValueError(
            f"The model returned keypoints {keypoints.shape} and scores {scores.shape} for {len(inputs)} crops; "
            "expected (crops, joints, 2|3) and (crops, joints)."
        )
    if flip_index is None:
        return keypoints, scores
    flip_index = np.asarray(flip_index)
    if flip_index.shape != (keypoints.shape[1],):
        raise ValueError(f"flip_index must have one entry per joint ({keypoints.shape[1]},), got {flip_index.shape}.")
    flipped = keypoints[batch:, flip_index].copy()
    flipped[..., 0] = width - 1 - flipped[..., 0]
    return (keypoints[:batch] + flipped) / 2, (scores[:batch] + scores[batch:, flip_index]) / 2


class Predictor:
    """Top-down pose prediction on whole images: boxes in, image-pixel keypoints out.

    Crops exactly as the evaluation pipeline (`transforms.box_to_crop` with
    the model's `crop_margin`, `crop_matrix`, bilinear `warp_image`, zeros
    outside the image) and maps the predictions back with the inverse affine.

    Args:
        model: a pose model (`IntegralPoseModel`, or anything with
            `predict_on_batch`, `input_size` and `skeleton`; see the module
            docstring).
        skeleton: the model's joint set (name or `Skeleton`), for the flip
            test's left/right swap; default: `model.skeleton`.
        flip_test: average with the prediction on the mirrored crop.
        batch_size: crops per model call (the flip test doubles it).
        margin: box enlargement (`transforms.box_to_crop`); `None`: the
            model's `crop_margin` (`model_crop_margin`), the one it was
            trained with.
        detector: finds the people when `predict` gets no boxes:
            `detector(image) -> (boxes (n, 4) [x, y, w, h], scores (n,))`
            (`keras_integral.detection`); `None`: no boxes means the whole
            image is one person.

    Example:

    >>> predictor = Predictor(model, flip_test=True)                      # doctest: +SKIP
    >>> out = predictor.predict(image, boxes=[[40, 10, 50, 100]])        # doctest: +SKIP
    >>> out["keypoints"][0, 0]      # (x, y) of joint 0 in image pixels   # doctest: +SKIP
    """

    def __init__(self, model, skeleton=None, flip_test=False, batch_size=32, margin=None, detector=None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
        self.margin = model_crop_margin(model) if margin is None else transforms.check_crop_margin(margin, "margin")
        self.model = model
        self.skeleton = skeletons.get(skeleton) if skeleton is not None else model_skeleton(model)
        self.input_size = model_input_size(model)
        self.flip_test = bool(flip_test)
        self.batch_size = int(batch_size)
        if detector is not None and not callable(detector):
            raise ValueError(f"detector must be callable: image -> (boxes, scores), got {detector!r:.80}.")
        self.detector = detector

    def predict(self, image, boxes=None):
        """Keypoints of the people in `boxes`, in original image pixels.

        Args:
            image: `(H, W, 3)` uint8 RGB image.
            boxes: `(n, 4)` (or `(4,)`) person boxes `[x, y, width, height]`
                in image pixels (COCO `bbox`), each enlarged by `margin`; or
                `None`: the detector's boxes (their scores in the result's
                `box_scores`), or without a detector one person filling the
                image, whose crop window is the whole image (not enlarged).

        Returns:
            dict with `keypoints` float32 `(n, joints, 2|3)`: `(x, y)` in
            image pixels (pixel centres at integers), `z` in mm relative to
            the root as the model gives it; and `scores` float32
            `(n, joints)`.

        Example:

        >>> Predictor(model).predict(image)["keypoints"].shape      # doctest: +SKIP
        (1, 17, 2)
        """
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[-1] != 3 or image.dtype.kind not in "uif":
            raise ValueError(f"image must be an (H, W, 3) RGB array (uint8), got shape {image.shape}, {image.dtype}.")
        height, width = image.shape[:2]
        if boxes is None and self.detector is not None:
            boxes, box_scores = self.detector(image)
            return {**self.predict(image, np.asarray(boxes, np.float64).reshape(-1, 4)),
                    "boxes": np.asarray(boxes, np.float32).reshape(-1, 4),
                    "box_scores": np.asarray(box_scores, np.float32).reshape(-1)}
        if boxes is None:
            centers, sizes = transforms.box_to_crop([whole_image_box((height, width))], self.input_size, margin=1.0)
        else:
            boxes = np.asarray(boxes, np.float64)
            if boxes.ndim == 1:
                boxes = boxes[None]
            if boxes.ndim != 2 or boxes.shape[1] != 4:
                raise ValueError(f"boxes must have shape (n, 4) [x, y, width, height], got {boxes.shape}.")
            if not len(boxes):
                dims = 3 if getattr(self.model, "depth_bins", None) else 2
                return {
                    "keypoints": np.zeros((0, self.skeleton.num_joints, dims), np.float32),
                    "scores": np.zeros((0, self.skeleton.num_joints), np.float32),
                }
            centers, sizes = transforms.box_to_crop(boxes, self.input_size, margin=self.margin)
        matrices = np.stack([transforms.crop_matrix(c, s, self.input_size) for c, s in zip(centers, sizes)])
        pixels = tf.convert_to_tensor(image, tf.float32)  # converted once, warped per box
        flip_index = self.skeleton.flip_index if self.flip_test else None
        keypoints, scores = [], []
        for start in range(0, len(matrices), self.batch_size):
            chunk = matrices[start : start + self.batch_size]
            crops = np.stack([transforms.warp_image(pixels, m, self.input_size).numpy() for m in chunk])
            kp, sc = predict_crops(self.model, crops, flip_index)
            keypoints.append(crops_to_image(kp, chunk))
            scores.append(sc)
        return {
            "keypoints": np.concatenate(keypoints).astype(np.float32),
            "scores": np.concatenate(scores).astype(np.float32),
        }


def crops_to_image(keypoints, image_to_crop=None, crop_to_image=None):
    """Moves crop-pixel keypoints back to image pixels (`z` is left as it is).

    Args:
        keypoints: `(n, joints, 2|3)` keypoints in crop pixels.
        image_to_crop: `(n, 2, 3)` affine from image to crop pixels
            (`transforms.crop_matrix`), inverted here; or
        crop_to_image: `(n, 2, 3)` the inverse affine itself (the pipeline's
            `meta["crop_to_image"]`).

    Returns:
        float64 `(n, joints, 2|3)` keypoints in image pixels.

    Example:

    >>> m = transforms.crop_matrix([50.0, 50.0], [100.0, 100.0], (64, 64))
    >>> crops_to_image(np.array([[[31.5, 31.5]]]), image_to_crop=m[None]).tolist()
    [[[50.0, 50.0]]]
    """
    if (image_to_crop is None) == (crop_to_image is None):
        raise ValueError("Pass exactly one of image_to_crop and crop_to_image.")
    matrix = transforms.invert_affine(image_to_crop) if crop_to_image is None else np.asarray(crop_to_image, np.float64)
    keypoints = np.asarray(keypoints, np.float64)
    if keypoints.ndim != 3 or matrix.shape != (len(keypoints), 2, 3):
        raise ValueError(
            f"expected keypoints (n, joints, 2|3) and matrices (n, 2, 3), got {keypoints.shape} and {matrix.shape}."
        )
    xy = transforms.apply_affine(matrix, keypoints[..., :2])
    return np.concatenate([xy, keypoints[..., 2:]], axis=-1)


def draw_skeleton(image, keypoints, scores, skeleton, threshold=0.2, thickness=None, radius=None, colour=None):
    """Draws people's limbs (coloured by body side) and joints (dots) on a copy of an image.

    A joint is drawn where its score is above `threshold` and its `(x, y)`
    is finite; a limb where both its joints are drawn. Colours are
    `SIDE_COLOURS` (RGB): a limb or joint named `left_*` / `right_*`, or
    neither (`centre`); `colour` draws everything in one colour instead (a
    thin ground truth over the prediction, say). Joints are drawn over the limbs.

    Args:
        image: `(H, W, 3)` uint8 RGB image.
        keypoints: `(joints, 2|3)` for one person or `(n, joints, 2|3)`, in
            image pixels (`z` is ignored).
        scores: `(joints,)` / `(n, joints)` confidences, or `None` (draw all).
        skeleton: joint set (name or `Skeleton`) of `keypoints`.
        threshold: minimum score of a drawn joint.
        thickness: limb width in pixels; default about 1/120 of the image's
            shorter side, at least 2 (visible on a small crop).
        radius: joint dot radius in pixels; default `thickness + 1`.
        colour: None (by side), or one RGB triple for every limb and joint.

    Returns:
        `(H, W, 3)` uint8 RGB image with the skeletons drawn.

    Example:

    >>> canvas = draw_skeleton(np.zeros((64, 64, 3), np.uint8), np.full((17, 2), 30.0), None, "coco")
    >>> canvas[30, 30].tolist()     # the joints' dot, drawn last: a right-side joint
    [0, 140, 255]
    """
    skeleton = skeletons.get(skeleton)
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be an (H, W, 3) uint8 RGB array, got shape {image.shape}, {image.dtype}.")
    keypoints = np.asarray(keypoints, np.float64)
    people = keypoints[None] if keypoints.ndim == 2 else keypoints
    if people.ndim != 3 or people.shape[1] != skeleton.num_joints or people.shape[2] not in (2, 3):
        raise ValueError(
            f"keypoints must have shape ({skeleton.num_joints}, 2|3) or (n, {skeleton.num_joints}, 2|3) for skeleton "
            f"{skeleton.name!r}, got {keypoints.shape}."
        )
    if scores is None:
        scores = np.ones(people.shape[:2])
    scores = np.asarray(scores, np.float64).reshape(-1, skeleton.num_joints)
    if scores.shape != people.shape[:2]:
        raise ValueError(f"scores must have shape {people.shape[:2]} to match keypoints, got {np.shape(scores)}.")
    if thickness is None:
        thickness = max(2, round(min(image.shape[:2]) / 120))
    if radius is None:
        radius = thickness + 1
    if colour is not None:
        if np.shape(colour) != (3,):
            raise ValueError(f"colour must be one RGB triple, got {colour!r}.")
        colour = tuple(int(c) for c in colour)
    canvas = np.ascontiguousarray(image.copy())
    shift = 4  # OpenCV's sub-pixel drawing: coordinates in 1/16 pixel
    for xy, score in zip(people[..., :2], scores):
        shown = (score > threshold) & np.all(np.isfinite(xy), axis=-1)
        fixed = np.round(np.where(shown[:, None], xy, 0) * (1 << shift)).astype(np.int64)
        for limb in skeleton.limbs:
            a, b = limb
            if shown[a] and shown[b]:
                limb_colour = colour or SIDE_COLOURS[skeleton.limb_side(limb)]
                cv2.line(canvas, tuple(map(int, fixed[a])), tuple(map(int, fixed[b])), limb_colour, thickness,
                         cv2.LINE_AA, shift)  # fmt: skip
        for j in np.flatnonzero(shown):
            joint_colour = colour or SIDE_COLOURS[skeleton.limb_side((j,))]
            cv2.circle(canvas, tuple(map(int, fixed[j])), radius << shift, joint_colour, -1, cv2.LINE_AA, shift)
    return canvas


def track_colour(track_id):
    """A bright RGB colour per track id (golden-angle hues), the same on every frame."""
    hue = int((track_id * 137.508) % 180)
    return tuple(int(c) for c in cv2.cvtColor(np.uint8([[[hue, 200, 255]]]), cv2.COLOR_HSV2RGB)[0, 0])


def draw_people(image, people, skeleton, threshold=0.2):
    """Draws tracked people: each one's skeleton (`draw_skeleton`), box and track id in its track's colour.

    Args:
        image: `(H, W, 3)` uint8 RGB image.
        people: list of dicts with `track_id`, `box` `[x, y, w, h]`,
            `keypoints` `(joints, 2)` and `scores` `(joints,)` in image pixels
            (a frame of `tracking.PoseTracker.update`).
        skeleton: joint set (name or `Skeleton`).

    Returns:
        `(H, W, 3)` uint8 RGB image.

    Example:

    >>> person = {"track_id": 3, "box": [5, 5, 40, 50], "keypoints": np.full((17, 2), 20.0), "scores": None}
    >>> draw_people(np.zeros((64, 64, 3), np.uint8), [person], "coco").shape
    (64, 64, 3)
    """
    canvas = np.asarray(image)
    thickness = max(1, round(min(canvas.shape[:2]) / 240))
    for person in people:
        canvas = draw_skeleton(canvas, person["keypoints"], person["scores"], skeleton, threshold=threshold)
        colour = track_colour(person["track_id"])
        x, y, w, h = (int(round(v)) for v in person["box"])
        cv2.rectangle(canvas, (x, y), (x + w, y + h), colour, thickness, cv2.LINE_AA)
        scale = max(0.35, min(canvas.shape[:2]) / 600)
        cv2.putText(canvas, str(person["track_id"]), (max(x, 0) + 2, max(y, 0) + int(14 * scale / 0.5)),
                    cv2.FONT_HERSHEY_SIMPLEX, scale, colour, max(1, thickness), cv2.LINE_AA)
    return canvas


def contact_sheet(images, ncols=4):
    """Tiles images into one, row by row, each top-left in a cell of the largest size.

    Args:
        images: list of `(h, w, 3)` uint8 images (sizes may differ).
        ncols: images per row.

    Returns:
        `(rows * cell_h, min(ncols, len(images)) * cell_w, 3)` uint8 image,
        black where no image is.

    Example:

    >>> sheet = contact_sheet([np.zeros((64, 48, 3), np.uint8)] * 5, ncols=4)
    >>> sheet.shape
    (128, 192, 3)
    """
    if isinstance(ncols, bool) or not isinstance(ncols, (int, np.integer)) or ncols < 1:
        raise ValueError(f"ncols must be a positive integer, got {ncols!r}.")
    images = [np.asarray(image) for image in images]
    if not images:
        raise ValueError("images is empty: nothing to tile.")
    for i, image in enumerate(images):
        if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
            raise ValueError(f"images[{i}] must be an (h, w, 3) uint8 image, got shape {image.shape}, {image.dtype}.")
    cell_h = max(image.shape[0] for image in images)
    cell_w = max(image.shape[1] for image in images)
    cols = min(ncols, len(images))
    rows = -(-len(images) // cols)
    sheet = np.zeros((rows * cell_h, cols * cell_w, 3), np.uint8)
    for i, image in enumerate(images):
        top, left = (i // cols) * cell_h, (i % cols) * cell_w
        sheet[top : top + image.shape[0], left : left + image.shape[1]] = image
    return sheet
