"""Representative crops: real input crops that calibrate int8 and on which parity is measured."""

import numpy as np
import tensorflow as tf

# TFLite recommends 100-500 calibration samples; the cap also stops an
# infinite (training) stream passed by mistake.
MAX_REPRESENTATIVE_CROPS = 500


def representative_crops(records, model, num=128):
    """Input crops of person records, cut by the data pipeline (no augmentation) with the model's `crop_margin`.

    Args:
        records: `PoseRecord`s (any skeleton): the first `num` are used.
        model: the model to export (its `input_size` is the crop size).
        num: number of crops.

    Returns:
        float32 `(crops, H, W, 3)` RGB in [0, 255]; unreadable images are
        skipped, so there may be fewer than `num`.

    Raises:
        ValueError: none of the records' images can be read (naming the
            folder and the count).

    Example:

    >>> records = coco.load_records("person_keypoints_val2017.json", "val2017")
    >>> crops = representative_crops(records, model, num=128)
    """
    from keras_integral.data import pipeline
    from keras_integral.inference import model_crop_margin

    if not len(records):
        raise ValueError("records is empty: representative crops need person records.")
    dataset = pipeline.make_dataset(list(records)[:num], records[0].skeleton, model.input_size, training=False,
                                    batch_size=16, margin=model_crop_margin(model), dims=2)
    with pipeline.unreadable_as_value_error(dataset.skipped_images):
        return np.concatenate([images.numpy() for images, _ in dataset])


def collect_crops(data, input_size):
    if data is None:
        raise ValueError(
            "representative_data is required: RGB crops (n, H, W, 3) in [0, 255], e.g. "
            "keras_integral.export.representative_crops(records, model)."
        )
    batches = [data] if isinstance(data, np.ndarray) or tf.is_tensor(data) else data
    collected, count = [], 0
    for batch in batches:
        batch = batch[0] if isinstance(batch, (tuple, list)) else batch
        batch = np.asarray(batch, np.float32)
        if batch.ndim == 3:
            batch = batch[None]
        collected.append(batch[: MAX_REPRESENTATIVE_CROPS - count])
        count += len(collected[-1])
        if count >= MAX_REPRESENTATIVE_CROPS:
            break
    crops = np.concatenate(collected) if collected else np.zeros((0, *input_size, 3), np.float32)
    expected = (*input_size, 3)
    if crops.ndim != 4 or crops.shape[1:] != expected or not len(crops):
        raise ValueError(
            f"representative_data must hold crops of shape (n >= 1, {', '.join(map(str, expected))}), "
            f"received {crops.shape}."
        )
    if not np.all(np.isfinite(crops)) or crops.min() < 0 or crops.max() > 255:
        raise ValueError(
            "representative_data must be RGB in [0, 255] (normalisation is inside the model), received "
            f"values in [{np.nanmin(crops)}, {np.nanmax(crops)}]."
        )
    return crops
