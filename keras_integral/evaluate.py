"""Evaluation: a model on a list of records -> the data set's metrics, a report, plots.

The path, top to bottom:

    records -> pipeline.make_dataset(training=False, with_meta=True,   data/pipeline.py
                                     margin=model.crop_margin)
      -> predict_crops (flip test)                                       inference.py
      -> crop pixels -> image pixels (meta["crop_to_image"])             inference.crops_to_image
      -> metrics against the records' own annotations                    metrics/
         "mpii": PCKh@0.5, PCKh@0.1, AUC of PCKh over alpha in [0, 0.5]
         "coco": OKS AP (rescoring, OKS-NMS per image, pycocotools)
         "h36m": MPJPE, PA-MPJPE, rigid-aligned MPJPE (mm) in camera space
      -> out_dir: report.json, predictions.npz, pck_curve.png (2D),
         contact_sheet.png, coco_results.json (COCO)

Records whose image cannot be read are skipped by the pipeline; they are
counted in the report and left out of the metrics.

Human3.6M, as the authors' `hm36.evaluate` (reference/authors-code.md,
section 6): the predicted `(u, v)` in image pixels and root-relative depth
`z` give the camera-space pose with the GROUND-TRUTH root depth
`Z_j = z_j + Z_root` and the record's intrinsics. Unlike the authors (who
back-project GT and prediction alike with a pinhole camera), the pixels are
UNDISTORTED with the record's lens distortion `k`, `p` (the inverse of
`cameras.project_points`), and the prediction is compared with the record's
true `joints_cam_mm`; a perfect 2D prediction thus gives 0 mm. Both poses are
made root-relative; the means are over all 17 joints (root included, as the
authors). The rigid-aligned error fits on these 17 joints (the authors fit on
18, with a thorax).

Example:

>>> from keras_integral.data import mpii
>>> records = mpii.load_records("valid.json", "images")                    # doctest: +SKIP
>>> metrics = evaluate(model, records, "mpii", out_dir="eval/mpii")         # doctest: +SKIP
>>> metrics["PCKh@0.5"], metrics["AUC"]                                     # doctest: +SKIP
"""

import math
import os
from collections import defaultdict

import cv2
import keras
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from keras_integral import metrics as metrics_lib
from keras_integral import skeletons
from keras_integral.data import cameras
from keras_integral.data import pipeline
from keras_integral.data import transforms
from keras_integral.files import write_json
from keras_integral.inference import contact_sheet
from keras_integral.inference import crops_to_image
from keras_integral.inference import draw_skeleton
from keras_integral.inference import model_crop_margin
from keras_integral.inference import model_input_size
from keras_integral.inference import model_skeleton
from keras_integral.inference import predict_crops

DATASET_KINDS = ("mpii", "coco", "h36m")
PCK_ALPHAS = np.linspace(0.0, 0.5, 51)  # the MPII evaluation's 0:0.01:0.5
# Box-relative PCK: a head is about an eighth of the body, so the box's longer
# side times [0, 0.1] spans roughly PCKh's [0, 0.5] at finer steps.
BOX_PCK_ALPHAS = np.linspace(0.0, 0.1, 51)
BOX_PCK_REPORTED = (0.02, 0.05, 0.1)
# Contact sheet: the first SHEET_LARGE crops in a row of large tiles, the rest
# SHEET_COLUMNS to a row of small ones; crops are enlarged by a whole factor.
SHEET_LARGE = 3
SHEET_LARGE_TILE_PX = 256
SHEET_TILE_PX = 128
SHEET_COLUMNS = 6
SHEET_GROUND_TRUTH_RGB = (255, 255, 255)
# Simple Baselines / HRNet COCO evaluation: joints above this score enter the
# person score; people more similar than this OKS are suppressed.
COCO_JOINT_SCORE_THRESHOLD = 0.2
COCO_NMS_OKS = 0.9


def evaluate(
    model,
    records,
    dataset_kind,
    out_dir=None,
    flip_test=True,
    batch_size=32,
    annotation_file=None,
    max_sheet_images=16,
    verbose=1,
):
    """Predicts every record and computes the metrics of its data set.

    Args:
        model: a pose model (`IntegralPoseModel`, or anything with
            `predict_on_batch`, `input_size` and `skeleton`). The crops are
            cut with its `crop_margin` (`inference.model_crop_margin`).
        records: list of `PoseRecord`s (any skeleton the pipeline can map to
            the model's). Ground-truth boxes or detections (`record.score`).
        dataset_kind: `"mpii"` (any 2D set with `record.head_size`), `"coco"`
            or `"h36m"` (3D records with `joints_cam_mm` and `camera`).
        out_dir: folder for `report.json`, `predictions.npz`,
            `contact_sheet.png`, `pck_curve.png` (2D sets) and
            `coco_results.json` (COCO); `None` writes nothing.
        flip_test: average with the prediction on the mirrored crop
            (`inference.predict_crops`).
        batch_size: crops per model call (the flip test doubles it).
        annotation_file: the COCO `person_keypoints` json the records come
            from; required for `"coco"`.
        max_sheet_images: crops on the contact sheet: the predicted skeleton
            (side colours, at least 2 px wide) with the ground truth thin and
            white over it; the first `SHEET_LARGE` in large tiles.
        verbose: 1 shows a progress bar over the batches, 0 is silent.

    Returns:
        dict of metrics; `count` is the number of evaluated records.
        - `"mpii"`: `PCKh@0.5`, `PCKh@0.1`, `AUC` (%, the mean of the PCKh
          curve over alpha in [0, 0.5]), `PCKh@0.5_per_joint` {joint: %};
          pelvis and thorax are left out of the means for the MPII skeleton.
        - `"coco"`: `AP`, `AP50`, `AP75`, `APm`, `APl`, `AR`, ... in [0, 1]
          (`metrics.coco_keypoint_ap`); with labelled joints also `PCK@0.02`,
          `PCK@0.05`, `PCK@0.1` (%, of the box's longer side) and `PCK_AUC`
          (%, mean over alpha in [0, 0.1]): the fine thresholds where
          sub-pixel accuracy shows.
        - `"h36m"`: `MPJPE` (protocol 2 style), `PA-MPJPE` (protocol 1
          style, similarity alignment), `rigid_aligned_MPJPE` (the authors'
          "aligned"), all in mm, and `MPJPE_per_action` {action: mm}.

    Example:

    >>> records = h36m.load_records("test.npz", "images", "cameras.json", protocol=2, split="test")  # doctest: +SKIP
    >>> evaluate(model, records, "h36m", out_dir="eval/h36m")["MPJPE"]                             # doctest: +SKIP
    """
    if dataset_kind not in DATASET_KINDS:
        raise ValueError(f"dataset_kind must be one of {DATASET_KINDS}, got {dataset_kind!r}.")
    is_int = isinstance(max_sheet_images, (int, np.integer)) and not isinstance(max_sheet_images, bool)
    if not is_int or max_sheet_images < 0:
        raise ValueError(f"max_sheet_images must be an integer >= 0, got {max_sheet_images!r}.")
    records = list(records)
    if not records:
        raise ValueError("records is empty: nothing to evaluate.")
    skeleton = model_skeleton(model)
    input_size = model_input_size(model)
    margin = model_crop_margin(model)
    _check_records(records, dataset_kind, skeleton, annotation_file)

    predictions = _predict(model, records, skeleton, input_size, margin, flip_test, batch_size, max_sheet_images,
                           verbose)
    index = predictions["index"]
    if not len(index):
        raise ValueError(f"None of the {len(records)} records could be evaluated: every image was unreadable.")
    evaluated = [records[i] for i in index]
    curve = None
    if dataset_kind == "mpii":
        result, curve = _mpii_metrics(predictions, evaluated, skeleton)
    elif dataset_kind == "coco":
        result, results_json = _coco_metrics(predictions, evaluated, input_size, margin, annotation_file)
        curve = _box_pck_curve(predictions, evaluated, skeleton)
        if curve is not None:
            for alpha in BOX_PCK_REPORTED:
                result[f"PCK@{alpha:g}"] = float(curve[2][np.argmin(np.abs(curve[1] - alpha))])
            result["PCK_AUC"] = float(metrics_lib.auc(curve[1], curve[2]))
    else:
        result = _h36m_metrics(predictions, evaluated, skeleton)
    result["count"] = len(index)

    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        np.savez(
            os.path.join(out_dir, "predictions.npz"),
            index=index, keypoints=predictions["keypoints"], scores=predictions["scores"],
        )  # fmt: skip
        if dataset_kind == "coco":
            write_json(os.path.join(out_dir, "coco_results.json"), _plain(results_json), indent=2, allow_nan=False)
        if curve is not None:
            label = f"{getattr(model, 'name', 'model')}{' + flip' if flip_test else ''}"
            plot_pck_curves({label: curve[1:]}, os.path.join(out_dir, "pck_curve.png"), f"{curve[0]}, {dataset_kind}")
        if predictions["sheet"]:
            _write_png(os.path.join(out_dir, "contact_sheet.png"), _sheet(predictions["sheet"]))
        report = {
            "dataset_kind": dataset_kind,
            "metrics": result,
            "counts": {"records": len(records), "evaluated": len(index), "skipped": len(predictions["skipped"])},
            "skipped_images": predictions["skipped"][:100],
            "settings": {
                "model": getattr(model, "name", type(model).__name__),
                "config": _model_config(model),
                "skeleton": skeleton.name,
                "input_size": list(input_size),
                "margin": margin,
                "flip_test": bool(flip_test),
                "batch_size": batch_size,
                "annotation_file": None if annotation_file is None else os.fspath(annotation_file),
            },
        }
        if curve is not None:
            report["pck_curve"] = {"normalizer": curve[0], "alphas": curve[1].tolist(), "pck": curve[2].tolist()}
        write_json(os.path.join(out_dir, "report.json"), _plain(report), indent=2, allow_nan=False)
    return result


def plot_pck_curves(curves, path, title="PCK"):
    """Draws PCK curves of several methods in one figure and saves it as a PNG.

    Args:
        curves: dict `{label: (alphas, pck)}`, each a pair of `(k,)` arrays:
            thresholds (fraction of the normalizer) and PCK in %.
        path: output `.png` file.
        title: figure title.

    Returns:
        `path`.

    Example:

    >>> alphas = np.linspace(0, 0.5, 51)
    >>> plot_pck_curves({"I1": (alphas, 100 * np.minimum(1, alphas / 0.2)),
    ...                  "H1": (alphas, 100 * np.minimum(1, alphas / 0.3))}, "/tmp/pck.png")
    '/tmp/pck.png'
    """
    if not curves:
        raise ValueError("curves is empty: give {label: (alphas, pck)}.")
    # A bare Figure with the Agg canvas: no pyplot, no global backend state.
    figure = Figure(figsize=(5, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for label, curve in curves.items():
        alphas, values = (np.asarray(v, np.float64) for v in curve)
        if alphas.ndim != 1 or alphas.shape != values.shape:
            raise ValueError(
                f"curves[{label!r}] must be two 1-D arrays of equal length, got {alphas.shape} and {values.shape}."
            )
        auc = metrics_lib.auc(alphas, values) if len(alphas) > 1 else float("nan")
        axes.plot(alphas, values, label=f"{label} (AUC {auc:.1f})")
    axes.set_xlabel("threshold (fraction of the normalizer)")
    axes.set_ylabel("PCK (%)")
    axes.set_ylim(0, 100)
    axes.grid(True, alpha=0.3)
    axes.set_title(title)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(os.fspath(path))
    return path


def plot_heatmap_decoding(crop, ground_truth, panels, path, title="", window_cells=5):
    """One joint's heat maps drawn as their grids, with the true point and each method's decoded point.

    Each panel shows the crop (grey) under a heat map drawn cell by cell
    (cell `j` covers input pixels `[j s - 1/2, (j + 1) s - 1/2]`, `s` =
    input / heat-map size, DESIGN.md), zoomed to `window_cells` cells around
    the true point, which is a white circle; the method's point is a cross
    and the centre of the map's arg-max cell a black dot, so the distance
    from cross to circle is the error, and for an arg-max decoding the
    distance from dot to cross is its quarter-cell shift.

    Args:
        crop: `(H, W, 3)` input crop, RGB in [0, 255].
        ground_truth: `(x, y)` of the joint in input pixels.
        panels: list of dicts: `label` (str), `heatmap` `(h, w)` the map to
            show (probabilities or logits), `point` `(x, y)` the method's
            decoded joint in input pixels, `colour` a Matplotlib colour.
        path: output `.png` file.
        title: figure title.
        window_cells: side of the zoomed window, in heat-map cells.

    Returns:
        `path`.
    """
    crop = np.asarray(crop, np.float64)
    if crop.ndim != 3 or crop.shape[-1] != 3:
        raise ValueError(f"crop must be an (H, W, 3) image, got shape {crop.shape}.")
    if not panels:
        raise ValueError("panels is empty: give at least one {label, heatmap, point, colour}.")
    height, width = crop.shape[:2]
    grey = crop.mean(axis=-1)
    gx, gy = (float(v) for v in ground_truth)
    figure = Figure(figsize=(4.2 * len(panels), 4.4), dpi=100)
    FigureCanvasAgg(figure)
    for i, panel in enumerate(panels):
        heatmap = np.asarray(panel["heatmap"], np.float64)
        if heatmap.ndim != 2:
            raise ValueError(f"panels[{i}]['heatmap'] must be (h, w), got shape {heatmap.shape}.")
        sy, sx = height / heatmap.shape[0], width / heatmap.shape[1]
        axes = figure.add_subplot(1, len(panels), i + 1)
        axes.imshow(grey, cmap="gray", vmin=0, vmax=255, extent=(-0.5, width - 0.5, height - 0.5, -0.5))
        axes.imshow(heatmap, cmap="magma", alpha=0.6, interpolation="nearest",
                    extent=(-0.5, width - 0.5, height - 0.5, -0.5))
        for j in range(heatmap.shape[1] + 1):
            axes.axvline(j * sx - 0.5, color="white", linewidth=0.5, alpha=0.5)
        for j in range(heatmap.shape[0] + 1):
            axes.axhline(j * sy - 0.5, color="white", linewidth=0.5, alpha=0.5)
        row, col = np.unravel_index(np.argmax(heatmap), heatmap.shape)
        axes.plot((col + 0.5) * sx - 0.5, (row + 0.5) * sy - 0.5, "o", color="black", markersize=4)
        px, py = (float(v) for v in panel["point"])
        axes.plot(gx, gy, "o", markerfacecolor="none", markeredgecolor="white", markersize=14, markeredgewidth=2)
        axes.plot(px, py, "x", color=panel["colour"], markersize=12, markeredgewidth=3)
        half_x, half_y = window_cells * sx / 2, window_cells * sy / 2
        axes.set_xlim(gx - half_x, gx + half_x)
        axes.set_ylim(gy + half_y, gy - half_y)
        axes.set_title(f"{panel['label']}: error {np.hypot(px - gx, py - gy):.2f} px", fontsize=10)
        axes.set_xlabel("input x (px)")
        axes.set_ylabel("input y (px)")
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(os.fspath(path))
    return path


def _check_records(records, dataset_kind, skeleton, annotation_file):
    """Raises for records that lack what `dataset_kind` needs, naming the first."""
    for i, record in enumerate(records):
        where = f"records[{i}] ({getattr(record, 'image_path', '?')!r})"
        if not hasattr(record, "keypoints") or not hasattr(record, "skeleton"):
            raise TypeError(f"records[{i}] is a {type(record).__name__}, expected a PoseRecord.")
        if dataset_kind == "mpii" and not (record.head_size is not None and record.head_size > 0):
            raise ValueError(f"{where}: 'mpii' evaluation (PCKh) needs a positive head_size, got {record.head_size!r}.")
        if dataset_kind == "h36m":
            if record.joints_cam_mm is None or record.camera is None:
                raise ValueError(f"{where}: 'h36m' evaluation needs joints_cam_mm and camera (a 3D record).")
            if not np.all(np.isfinite(record.joints_cam_mm)):
                raise ValueError(
                    f"{where}: joints_cam_mm has non-finite values "
                    f"(rows {np.flatnonzero(~np.isfinite(record.joints_cam_mm).all(1)).tolist()}); "
                    "'h36m' evaluation compares every 3D joint."
                )
            if record.dims != 3:
                raise ValueError(
                    f"{where}: 'h36m' evaluation needs 3D keypoints (joints, 3), got {record.keypoints.shape}."
                )
            if np.any(skeletons.joint_mapping(skeleton, record.skeleton) < 0):
                raise ValueError(
                    f"{where}: the model's {skeleton.name!r} joints do not cover the record's "
                    f"{record.skeleton!r} joints."
                )
    if dataset_kind == "coco":
        if annotation_file is None:
            raise ValueError("dataset_kind='coco' needs annotation_file, the person_keypoints json of the records.")
        if skeleton.num_joints != 17 or skeleton.oks_sigmas is None:
            raise ValueError(f"dataset_kind='coco' needs a model with the COCO-17 skeleton, got {skeleton.name!r}.")


def _predict(model, records, skeleton, input_size, margin, flip_test, batch_size, max_sheet_images, verbose):
    """Runs the evaluation stream: predictions in image pixels, by record index, and the sheet's crops."""
    dataset = pipeline.make_dataset(
        records, skeleton, input_size, training=False, batch_size=batch_size, margin=margin,
        dims=2,  # the stream's targets are unused: metrics read the records' own annotations
        with_meta=True,
    )  # fmt: skip
    flip_index = skeleton.flip_index if flip_test else None
    progbar = keras.utils.Progbar(math.ceil(len(records) / batch_size), verbose=verbose, unit_name="batch")
    index, keypoints, scores, sheet = [], [], [], []
    step = 0
    with pipeline.unreadable_as_value_error(dataset.skipped_images):
        for images, _, meta in dataset:
            crops = images.numpy()
            kp, sc = predict_crops(model, crops, flip_index)
            index.append(meta["index"].numpy())
            keypoints.append(crops_to_image(kp, crop_to_image=meta["crop_to_image"].numpy()))
            scores.append(sc)
            for crop, crop_kp, crop_sc, i, to_image in zip(crops[: max_sheet_images - len(sheet)], kp, sc,
                                                           meta["index"].numpy(), meta["crop_to_image"].numpy()):
                gt, weights = _ground_truth([records[i]], skeleton)
                gt_crop = transforms.apply_affine(transforms.invert_affine(to_image[None]), gt)[0]
                tile_px = SHEET_LARGE_TILE_PX if len(sheet) < SHEET_LARGE else SHEET_TILE_PX
                sheet.append(_sheet_tile(crop, crop_kp, crop_sc, gt_crop, weights[0, :, 0] > 0, skeleton, tile_px))
            step += 1
            progbar.update(step)
    if step < progbar.target:  # skipped images made fewer batches: close the bar
        progbar.update(step, finalize=True)
    dims = 3 if not keypoints else keypoints[0].shape[-1]
    return {
        "index": np.concatenate(index) if index else np.zeros(0, np.int64),
        "keypoints": np.concatenate(keypoints) if keypoints else np.zeros((0, skeleton.num_joints, dims)),
        "scores": np.concatenate(scores) if scores else np.zeros((0, skeleton.num_joints)),
        "sheet": sheet,
        "skipped": dataset.skipped_images.paths,
    }


def _sheet_tile(crop, keypoints, scores, gt, labelled, skeleton, tile_px):
    """A crop enlarged to at least `tile_px`: the predicted skeleton, and the ground truth thin over it.

    The prediction is drawn by side colour, about a 90th of the tile wide
    (at least 2 px); the labelled ground-truth joints and limbs 1 px wide in
    `SHEET_GROUND_TRUTH_RGB`, so a miss shows as a white line off the colour.
    """
    factor = max(1, math.ceil(tile_px / max(crop.shape[:2])))
    image = np.clip(np.round(crop), 0, 255).astype(np.uint8)
    if factor > 1:
        image = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)

    def enlarge(points):  # pixel centres stay centres
        points = np.array(points[..., :2], np.float64)
        return (points + 0.5) * factor - 0.5

    thickness = max(2, round(max(image.shape[:2]) / 90))
    drawn = draw_skeleton(image, enlarge(keypoints), scores, skeleton, thickness=thickness)
    return draw_skeleton(drawn, enlarge(gt), labelled.astype(np.float64), skeleton, threshold=0.5,
                         thickness=1, radius=1, colour=SHEET_GROUND_TRUTH_RGB)


def _sheet(tiles):
    """The contact sheet: a row of the first `SHEET_LARGE` tiles over rows of `SHEET_COLUMNS` smaller ones."""
    parts = [contact_sheet(tiles[:SHEET_LARGE], ncols=SHEET_LARGE)]
    if len(tiles) > SHEET_LARGE:
        parts.append(contact_sheet(tiles[SHEET_LARGE:], ncols=SHEET_COLUMNS))
    width = max(part.shape[1] for part in parts)
    return np.concatenate([np.pad(part, ((0, 0), (0, width - part.shape[1]), (0, 0))) for part in parts])


def _ground_truth(records, skeleton):
    """The records' `(x, y)` and weights `(n, joints, 2)` in the model's joint set."""
    keypoints, weights = [], []
    for record in records:
        k, w = skeletons.map_keypoints(record.keypoints[:, :2], record.weights[:, :2], record.skeleton, skeleton)
        keypoints.append(k)
        weights.append(w)
    return np.stack(keypoints).astype(np.float64), np.stack(weights)


def _mpii_metrics(predictions, records, skeleton):
    gt, weights = _ground_truth(records, skeleton)
    pred = predictions["keypoints"][..., :2]
    head_sizes = np.array([r.head_size for r in records], np.float64)
    exclude = metrics_lib.MPII_SUMMARY_EXCLUDE if skeleton.name == "mpii" else ()
    at_half = metrics_lib.pckh(pred, gt, head_sizes, weights, 0.5, exclude)
    at_tenth = metrics_lib.pckh(pred, gt, head_sizes, weights, 0.1, exclude)
    alphas, curve = metrics_lib.pck_curve(pred, gt, head_sizes, weights, PCK_ALPHAS, exclude)
    result = {
        "PCKh@0.5": float(at_half["mean"]),
        "PCKh@0.1": float(at_tenth["mean"]),
        "AUC": metrics_lib.auc(alphas, curve),
        "PCKh@0.5_per_joint": dict(zip(skeleton.joint_names, map(float, at_half["per_joint"]))),
    }
    return result, ("PCKh", alphas, curve)


def _box_pck_curve(predictions, records, skeleton):
    """PCK over alpha in [0, 0.1] of the box's longer side, or `None` without labelled joints (detections)."""
    gt, weights = _ground_truth(records, skeleton)
    if not np.any(metrics_lib.joint_mask(weights, weights.shape[:2])):
        return None
    sides = np.array([max(r.box[2], r.box[3]) for r in records], np.float64)
    alphas, curve = metrics_lib.pck_curve(predictions["keypoints"][..., :2], gt, sides, weights, BOX_PCK_ALPHAS)
    return "PCK of the box's longer side", alphas, curve


def _coco_metrics(predictions, records, input_size, margin, annotation_file):
    """Top-down COCO evaluation as Simple Baselines / HRNet: rescore, OKS-NMS per image, AP."""
    person_scores = metrics_lib.rescore(
        predictions["scores"], np.array([r.score for r in records]), COCO_JOINT_SCORE_THRESHOLD
    )
    # HRNet's NMS area: the crop window (box at the input's aspect ratio, times the margin).
    _, crop_sizes = transforms.box_to_crop(np.stack([r.box for r in records]), input_size, margin)
    people_by_image = defaultdict(list)
    for keypoints, scores, score, crop_size, record in zip(
        predictions["keypoints"], predictions["scores"], person_scores, crop_sizes, records
    ):
        people_by_image[record.image_id].append(
            {
                "keypoints": np.concatenate([keypoints[:, :2], scores[:, None]], axis=1),
                "score": float(score),
                "area": float(np.prod(crop_size)),
            }
        )
    results = []
    for image_id, people in people_by_image.items():
        for i in metrics_lib.oks_nms(people, COCO_NMS_OKS):
            results.append(
                {
                    "image_id": image_id,
                    "category_id": 1,
                    "keypoints": people[i]["keypoints"].reshape(-1).tolist(),
                    "score": people[i]["score"],
                }
            )
    return metrics_lib.coco_keypoint_ap(results, annotation_file), results


def _h36m_metrics(predictions, records, skeleton):
    """MPJPE, PA-MPJPE and rigid-aligned MPJPE in mm, root-relative, in camera space (module docstring)."""
    pred_cam, gt_cam, actions = [], [], []
    for keypoints, record in zip(predictions["keypoints"], records):
        if keypoints.shape[-1] != 3:
            raise ValueError(f"'h36m' evaluation needs a 3D model (keypoints (joints, 3)), got {keypoints.shape}.")
        keypoints = keypoints[skeletons.joint_mapping(skeleton, record.skeleton)]
        root = skeletons.get(record.skeleton).root
        gt = np.asarray(record.joints_cam_mm, np.float64)
        depth_mm = keypoints[:, 2] + gt[root, 2]  # the ground-truth root depth, as the authors
        pred = cameras.unproject_points(keypoints[:, :2], depth_mm, record.camera)
        pred_cam.append(metrics_lib.root_relative(pred, root))
        gt_cam.append(metrics_lib.root_relative(gt, root))
        actions.append(record.meta.get("action", "all"))
    pred_cam, gt_cam = np.stack(pred_cam), np.stack(gt_cam)
    broken = np.flatnonzero(~np.isfinite(pred_cam).all(axis=(1, 2)))
    if len(broken):  # the alignments' SVD would fail on them ("SVD did not converge")
        raise ValueError(
            f"The model predicted non-finite keypoints for {len(broken)} of {len(records)} records (first: "
            f"{records[broken[0]].image_path!r}); has its training diverged?"
        )
    errors = metrics_lib.mpjpe(pred_cam, gt_cam)
    per_action = defaultdict(list)
    for action, error in zip(actions, errors):
        per_action[action].append(error)
    return {
        "MPJPE": float(errors.mean()),
        "PA-MPJPE": float(metrics_lib.pa_mpjpe(pred_cam, gt_cam).mean()),
        "rigid_aligned_MPJPE": float(metrics_lib.rigid_aligned_mpjpe(pred_cam, gt_cam).mean()),
        "MPJPE_per_action": {a: float(np.mean(e)) for a, e in sorted(per_action.items())},
    }


def _model_config(model):
    try:
        return _plain(model.get_config())
    except (AttributeError, NotImplementedError, TypeError):
        return None


def _plain(value):
    """JSON-ready copy: NumPy scalars/arrays to Python, NaN and infinities to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def _write_png(path, rgb):
    if not cv2.imwrite(path, np.ascontiguousarray(rgb[..., ::-1])):  # OpenCV writes BGR
        raise OSError(f"Could not write {path!r}.")
