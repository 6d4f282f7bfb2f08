"""Two methods on the same people: per-person sums and the paired bootstrap of their difference.

Comparing two models on one test set is a paired experiment: both saw the
same people, so the question is how much the DIFFERENCE would move had other
people been drawn. The bootstrap answers it by resampling people (with
replacement) and recomputing the difference each time (Efron & Tibshirani,
"An Introduction to the Bootstrap", 1993, ch. 13: the percentile interval).

Every statistic here is a ratio of sums over people, `sum(value) / sum(count)`:
the mean keypoint error pools the errors of all labelled joints and PCK the
hits, exactly as the reported metrics do, and a resample draws whole people
(all of a person's joints go together, as they are not independent).

Example:

>>> import numpy as np
>>> gt = np.zeros((3, 2, 2))
>>> a = person_sums(gt + [3.0, 4.0], gt, np.ones((3, 2)), normalizer=np.full(3, 100.0), thresholds=(0.1,))
>>> a["error"].tolist(), a["count"].tolist(), a["within@0.1"].tolist()   # 5 px per joint
([10.0, 10.0, 10.0], [2.0, 2.0, 2.0], [2.0, 2.0, 2.0])
>>> b = person_sums(gt, gt, np.ones((3, 2)), normalizer=np.full(3, 100.0), thresholds=(0.1,))
>>> paired_bootstrap(a["error"], b["error"], a["count"])["difference"]
5.0
"""

import numpy as np

from keras_integral.metrics.pck import joint_mask


def person_sums(pred, gt, weights, scale=None, normalizer=None, thresholds=()):
    """Per person: how many joints are labelled, their summed error, and how many are within each threshold.

    Args:
        pred: `(n, joints, 2)` predicted `(x, y)`.
        gt: `(n, joints, 2)` ground truth, same units.
        weights: `(n, joints)` or `(n, joints, c)`; a joint counts where
            every weight is > 0.
        scale: `(n,)` factor applied to each person's errors (e.g. input-crop
            pixels per image pixel, so errors are in input pixels), or None.
        normalizer: `(n,)` length per person for the thresholds (e.g. the
            box's longer side, in the units of `pred`), needed with `thresholds`.
        thresholds: fractions of `normalizer`; a joint is within when its
            (unscaled) error is at most `threshold * normalizer`.

    Returns:
        dict of float64 `(n,)` arrays: `count` (labelled joints), `error`
        (sum of the scaled errors of those joints) and `within@<t>` for each
        threshold (joints within it).
    """
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[-1] != 2:
        raise ValueError(f"pred and gt must both have shape (n, joints, 2), got {pred.shape} and {gt.shape}.")
    n = len(pred)
    mask = joint_mask(weights, pred.shape[:2])
    error = np.where(mask, np.linalg.norm(pred - gt, axis=-1), 0.0)
    factor = np.ones(n) if scale is None else _per_person(scale, n, "scale")
    sums = {"count": mask.sum(axis=1).astype(np.float64), "error": (error * factor[:, None]).sum(axis=1)}
    if thresholds:
        if normalizer is None:
            raise ValueError("thresholds need a normalizer (one length per person).")
        length = _per_person(normalizer, n, "normalizer")
        for t in thresholds:
            sums[f"within@{t:g}"] = (mask & (error <= t * length[:, None])).sum(axis=1).astype(np.float64)
    return sums


def paired_bootstrap(a, b, count=None, num_resamples=2000, confidence=0.95, seed=0):
    """The difference of two methods' pooled statistic, `sum(a - b) / sum(count)`, and its bootstrap interval.

    Args:
        a: `(n,)` per-person sums of method A (e.g. `person_sums(...)["error"]`).
        b: `(n,)` the same for method B, on the same people in the same order.
        count: `(n,)` per-person denominators (labelled joints), or None for
            one per person (a plain mean over people).
        num_resamples: bootstrap resamples of the `n` people.
        confidence: coverage of the percentile interval, in (0, 1).
        seed: seeds `np.random.default_rng`; resample `r` takes people
            `rng.integers(0, n, (num_resamples, n))[r]`.

    Returns:
        dict: `difference` (A - B on all people), `low`, `high` (the
        percentile interval), `confidence`, `num_people`, `num_resamples`,
        and `excludes_zero` (the interval lies wholly above or below 0).
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"a and b must be (n,) arrays over the same people, got {a.shape} and {b.shape}.")
    count = np.ones_like(a) if count is None else _per_person(count, len(a), "count")
    if not count.sum() > 0:
        raise ValueError("count sums to 0: no person has anything to compare.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}.")
    if isinstance(num_resamples, bool) or not isinstance(num_resamples, (int, np.integer)) or num_resamples < 1:
        raise ValueError(f"num_resamples must be a positive integer, got {num_resamples!r}.")
    n = len(a)
    people = np.random.default_rng(seed).integers(0, n, (num_resamples, n))
    difference = a - b
    with np.errstate(invalid="ignore", divide="ignore"):  # a resample of people with no labelled joint
        resampled = difference[people].sum(axis=1) / count[people].sum(axis=1)
    resampled = resampled[np.isfinite(resampled)]
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(resampled, [tail, 100 - tail])
    return {
        "difference": float(difference.sum() / count.sum()),
        "low": float(low),
        "high": float(high),
        "confidence": float(confidence),
        "num_people": int(n),
        "num_resamples": int(num_resamples),
        "excludes_zero": bool(low > 0 or high < 0),
    }


def _per_person(values, n, name):
    values = np.asarray(values, np.float64)
    if values.shape != (n,):
        raise ValueError(f"{name} must have one value per person, shape ({n},), got {values.shape}.")
    return values
