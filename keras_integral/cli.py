"""The `keras-integral` command: train, evaluate, predict, synth, export, zoo, demo.

Each sub-command is a thin layer over a library function; `--help` on each
says what it does, what it writes and shows an example.
"""

import argparse
import os
import sys

from keras_integral import demo
from keras_integral import smoothing


def _size(text):
    """`256` or `256x192` (height x width) -> (h, w)."""
    parts = text.lower().split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHT or HEIGHTxWIDTH, got {text!r}") from None
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected HEIGHT or HEIGHTxWIDTH, got {text!r}")
    return tuple(values)


def cmd_train(args):
    from keras_integral.recipes import load_recipe
    from keras_integral.training import train

    recipe = load_recipe(
        args.recipe, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch, batch_size=args.batch_size,
        max_train_records=args.max_train_records,
    )
    train(recipe, data_dir=args.data_dir, out_dir=args.out, verbose=args.verbose, resume=args.resume,
          overwrite=args.overwrite)
    print(f"Trained model: {os.path.join(args.out, 'model.keras')}")


def load_model(spec):
    """A `.keras` file, or a zoo preset (registry name, folder or URL)."""
    import zipfile

    import keras

    if str(spec).endswith(".keras"):
        if not os.path.isfile(spec):
            raise FileNotFoundError(f"Model file not found: {spec}")
        # Keras answers a malformed file with a KeyError or a zip error: name the file and what is missing.
        if not zipfile.is_zipfile(spec):
            raise ValueError(f"{spec} is not a .keras file (a zip archive written by model.save).")
        with zipfile.ZipFile(spec) as archive:
            missing = [name for name in ("config.json", "model.weights.h5") if name not in archive.namelist()]
        if missing:
            raise ValueError(f"{spec} is not a complete .keras file: it has no {' and no '.join(missing)}.")
        import keras_integral.models  # noqa: F401  (registers the classes for safe-mode loading)

        return keras.models.load_model(spec, safe_mode=True)
    from keras_integral.zoo import from_preset

    return from_preset(spec)


def cmd_evaluate(args):
    from keras_integral.evaluate import evaluate
    from keras_integral.recipes import load_recipe
    from keras_integral.training import load_split

    recipe = load_recipe(args.recipe, max_val_records=args.max_records)
    records = load_split(recipe, args.data_dir, "val")
    if not records:
        raise ValueError(f"{args.recipe}: no validation records (val_annotations) to evaluate on.")
    model = load_model(args.model)
    annotation_file = os.path.join(args.data_dir, recipe.val_annotations) if recipe.dataset == "coco" else None
    flip_test = recipe.flip_test and not args.no_flip
    metrics = evaluate(model, records, recipe.dataset, out_dir=args.out, flip_test=flip_test,
                       batch_size=args.batch_size, annotation_file=annotation_file)
    for key, value in metrics.items():
        if isinstance(value, float):
            print(f"{key:>22}: {value:.4g}")
    print(f"Report: {os.path.join(args.out, 'report.json')}")


def read_boxes(path):
    """`(n, 4)` float32 person boxes `[x, y, w, h]` from a JSON list of boxes or of COCO results
    (dicts with `bbox`); `[]` (a detector that found nobody) gives `(0, 4)`."""
    import numpy as np

    from keras_integral.data.records import read_json

    items = read_json(path, "Boxes file")
    if not isinstance(items, list):
        raise ValueError(f"Boxes file {path!r}: expected a JSON list of [x, y, w, h] boxes (or COCO results "
                         f"with 'bbox'), got a {type(items).__name__}.")
    boxes = []
    for i, item in enumerate(items):
        box = item.get("bbox") if isinstance(item, dict) else item
        try:
            box = np.asarray(box, np.float64)
        except (TypeError, ValueError):
            box = None
        if box is None or box.shape != (4,) or not np.all(np.isfinite(box)) or min(box[2:]) <= 0:
            what = "a dict without 'bbox'" if isinstance(item, dict) and "bbox" not in item else f"{item!r:.80}"
            raise ValueError(f"Boxes file {path!r}, entry {i}: expected [x, y, w, h] with w, h > 0 (or a dict "
                             f"with such a 'bbox'), got {what}.")
        boxes.append(box)
    return np.asarray(boxes, np.float32).reshape(-1, 4)


def _write_image(path, image):
    """Writes an RGB image through a temporary name beside `path` (nothing half-written left)."""
    import cv2

    root, extension = os.path.splitext(path)
    temporary = f"{root}.{os.getpid()}.partial{extension}"
    try:
        if not cv2.imwrite(temporary, cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
            raise ValueError(f"--out {path!r}: OpenCV could not write the image there.")
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def cmd_predict(args):
    import cv2

    from keras_integral import video
    from keras_integral.detection import detector_from_spec
    from keras_integral.detection.boxes import whole_image_box
    from keras_integral.files import write_json
    from keras_integral.inference import Predictor
    from keras_integral.inference import draw_people
    from keras_integral.tracking import PoseTracker
    from keras_integral.tracking import predict_video

    # Everything the command can refuse is checked before the model loads.
    is_video = video.is_video(args.input)
    if is_video:
        video.VideoFileWriter.check_extension(args.out)
        if args.boxes:
            raise ValueError("--boxes is for a photo; on a video the people are detected (--detector).")
    elif not cv2.haveImageWriter(args.out):
        raise ValueError(f"--out {args.out!r}: OpenCV cannot write images with this extension; use .png or .jpg.")
    if args.detect_every < 1:
        raise ValueError(f"--detect-every must be at least 1, got {args.detect_every}.")
    smoothing = None if args.no_smooth else (args.min_cutoff, args.beta)
    if is_video:
        capture, info = video.open_video(args.input)  # refused here, before the model loads
        capture.release()
    else:
        image = cv2.imread(args.input, cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"Cannot read image {args.input!r} (missing, or not an image OpenCV can decode).")
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    boxes = read_boxes(args.boxes) if args.boxes else None
    model = load_model(args.model)
    detector = None if boxes is not None else detector_from_spec(args.detector, num_threads=args.threads)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    json_path = os.path.splitext(args.out)[0] + ".json"
    result = {"input": args.input, "skeleton": model.skeleton, "frames": []}
    if not is_video:
        out = Predictor(model, flip_test=args.flip, detector=detector).predict(image, boxes)
        boxes = out.get("boxes", boxes if boxes is not None else [whole_image_box(image.shape[:2])])
        people = [{"track_id": i, "box": [float(v) for v in box], "keypoints": k[:, :2].tolist(), "scores": s.tolist()}
                  for i, (box, k, s) in enumerate(zip(boxes, out["keypoints"], out["scores"]))]
        frame = {"index": 0, "people": people}
        result["frames"].append(frame)
        _write_image(args.out, draw_people(image, frame["people"], model.skeleton))
        write_json(json_path, result, indent=1)
        print(f"{len(frame['people'])} people: {args.out}, {json_path}")
        return
    tracker = PoseTracker(Predictor(model, flip_test=args.flip), detector, detect_every=args.detect_every,
                          smoothing=smoothing, fps=info["fps"])
    result["frames"], info, _ = predict_video(tracker, args.input, args.out, model.skeleton,
                                              max_frames=args.max_frames, progress=True)
    result["fps"] = info["fps"]
    write_json(json_path, result, indent=1)
    print(f"{len(result['frames'])} frames, {tracker.next_id} people tracked: {args.out}, {json_path}")


def cmd_synth(args):
    from keras_integral.data import synthetic

    if args.clip:
        from keras_integral.data.synthetic.clips import write_clip

        written = write_clip(args.out, args.clip, args.frames, seed=args.seed, image_size=args.image_size,
                             pan_px=args.pan, fps=args.fps, level=args.level)
        print(f"{written['num_frames']} frames written to {written['video']} (COCO per frame: "
              f"{written['coco_val']}).")
        return
    if args.num is None:
        raise ValueError("synth needs --num (images) or --clip (a video clip).")
    written = synthetic.generate(args.out, args.num, seed=args.seed, image_size=args.image_size,
                                 val_fraction=args.val_fraction, level=args.level)
    print(f"{written['num_images']} images written to {args.out} (COCO: {written['coco_train']}, "
          f"H36M: {written['h36m_annotations']}).")


def cmd_export(args):
    from keras_integral.export import export
    from keras_integral.export import representative_crops
    from keras_integral.recipes import load_recipe
    from keras_integral.training import load_split

    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise ValueError(f"--out {args.out!r} is an existing file; export writes a folder (new or empty).")
    if os.path.isdir(args.out) and os.listdir(args.out):
        raise ValueError(f"--out {args.out!r} is not empty; export into a new or empty folder.")
    recipe = load_recipe(args.recipe)
    records = load_split(recipe, args.data_dir, "val") or load_split(recipe, args.data_dir, "train")
    model = load_model(args.model)
    crops = representative_crops(records, model, num=args.num_crops)
    manifest = export(model, args.out, formats=args.formats, quantize=args.quantize, representative_data=crops,
                      allow_parity_loss=args.allow_parity_loss)
    for name, artifact in manifest["artifacts"].items():
        parity = artifact["parity"]
        print(f"{name:<12} {artifact['path']:<22} mean {parity['mean_px']:.4g} px, max {parity['max_px']:.4g} px "
              f"(target: {parity['target']['statistic']} <= {parity['target']['px']} px)"
              f"{'' if parity['within_target'] else '  OUTSIDE TARGET'}")
    print(f"Manifest: {os.path.join(args.out, 'manifest.json')}")


def cmd_zoo(args):
    import json

    from keras_integral.zoo import registry

    if args.zoo_command == "list":
        rows = registry.list_presets()
        width = max(len(r["name"]) for r in rows)
        for r in rows:
            print(f"{r['name']:<{width}}  {'cached' if r['cached'] else 'not cached'}")
            print(f"    source:   {r['source']}\n    licence:  {r['licence']}\n    reported: {r['reported']}")
    elif args.zoo_command == "info":
        print(json.dumps(registry.info(args.name), indent=2))
    elif args.zoo_command == "download":
        print(registry.download(args.name))
    elif args.zoo_command == "convert":
        out, like, note = registry.convert_file(args.checkpoint, args.out, like=args.like)
        print(note)
        print(f"Preset written to {out}; load it with keras_integral.from_preset({str(out)!r}).")


def cmd_demo(args):
    from keras_integral.demo import run_demo

    run_demo(args.out, num_images=args.num_images, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
             verbose=args.verbose, parallel=False if args.sequential else None)
    print(f"Demo written to {args.out} (README.md, pck_curves.png, skeletons_*.png, export/, video.mp4).")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-integral",
        description="Integral Human Pose Regression (Sun et al., ECCV 2018) for Keras 3.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser(
        "train", help="train a recipe (resumes a killed run)",
        description="Train the model of a recipe YAML on its data set. Writes OUT/recipe.yaml, backup/ "
                    "(resume state), best.keras (lowest validation joint error), model.keras, log.csv, "
                    "tensorboard/. Re-running the same command after an interruption resumes exactly where the "
                    "last epoch ended. An OUT holding another recipe's run is refused (the error names the "
                    "differing keys) unless --resume or --overwrite.",
        epilog="example: keras-integral train recipes/synthetic/quickstart.yaml --data-dir synth --out runs/q",
    )
    p.add_argument("recipe", help="recipe YAML file (recipes/paper/*.yaml, recipes/synthetic/*.yaml)")
    p.add_argument("--data-dir", required=True, help="directory the recipe's data paths are relative to")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--epochs", type=int, help="override the recipe's epochs")
    p.add_argument("--steps-per-epoch", type=int, help="override the recipe's steps per epoch")
    p.add_argument("--batch-size", type=int, help="override the recipe's global batch size")
    p.add_argument("--max-train-records", type=int, help="train on a seeded subset of this many people")
    p.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2), help="progress: 1 bar, 2 line/epoch")
    existing = p.add_mutually_exclusive_group()
    existing.add_argument("--resume", action="store_true",
                          help="continue the backup in OUT although its recipe differs (e.g. more epochs)")
    existing.add_argument("--overwrite", action="store_true",
                          help="delete the run in OUT (backup, models, log) and start afresh")
    p.set_defaults(func=cmd_train)

    p = commands.add_parser(
        "evaluate", help="evaluate a model on a recipe's validation set",
        description="Predict the recipe's validation people (flip test unless the recipe says flip_test: false), "
        "map the predictions back "
                    "to the original images and compute the data set's metrics: MPII PCKh@0.5/@0.1/AUC, COCO "
                    "OKS AP (+ box-relative PCK), H36M MPJPE / PA-MPJPE. Writes OUT/report.json, a PCK curve "
                    "PNG and a sheet of images with the predicted skeletons.",
        epilog="example: keras-integral evaluate runs/q/model.keras --recipe recipes/synthetic/quickstart.yaml "
               "--data-dir synth --out runs/q/eval",
    )
    p.add_argument("model", help="a .keras file or a zoo preset (name, folder or URL)")
    p.add_argument("--recipe", required=True, help="recipe YAML naming the validation data")
    p.add_argument("--data-dir", required=True, help="directory the recipe's data paths are relative to")
    p.add_argument("--out", required=True, help="report folder")
    p.add_argument("--no-flip", action="store_true", help="no flip test, whatever the recipe says")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-records", type=int, help="evaluate a seeded subset of this many people")
    p.set_defaults(func=cmd_evaluate)

    p = commands.add_parser(
        "predict", help="draw predicted keypoints on a photo or a video (people detected and tracked)",
        description="Find the people (--boxes, or a detector), crop each, predict, map the keypoints back to the "
                    "image, and write the drawn photo or video (OUT) and the keypoints as JSON (OUT with .json): "
                    '{"frames": [{"index", "people": [{"track_id", "box", "keypoints", "scores"}]}]} in image '
                    "pixels. On a video (or a camera index) the detector runs every --detect-every frames, "
                    "between detections each person's crop follows its last keypoints, track ids are kept by "
                    "box matching and keypoints smoothed with the One Euro filter; OUT has as many frames as "
                    "INPUT. The BlazePose detector is fetched once from the mediapipe 0.10.21 wheel into the "
                    "cache; offline, the error says where to put the file.",
        epilog="example: keras-integral predict runs/q/model.keras clip.mp4 --out drawn.mp4 --detect-every 5",
    )
    p.add_argument("model", help="a .keras file or a zoo preset (name, folder or URL)")
    p.add_argument("input", help="a photo, a video file or a camera index (0, 1, ...)")
    p.add_argument("--out", required=True, help="output PNG/JPEG for a photo, MP4/AVI for a video")
    p.add_argument("--boxes", help="photo only: JSON list of person boxes [x, y, w, h] (or COCO detection "
                                   "results) instead of a detector")
    p.add_argument("--detector", default="blazepose",
                   help="blazepose (default), PATH.tflite (MediaPipe's pose_detection.tflite), keras_hub:PRESET "
                        "(a COCO object detector; needs the network once) or none (the whole frame is one person)")
    p.add_argument("--detect-every", type=int, default=1, help="video: detect every N frames (default 1)")
    p.add_argument("--no-smooth", action="store_true", help="video: no One Euro smoothing")
    p.add_argument("--min-cutoff", type=float, default=smoothing.MIN_CUTOFF_HZ,
                   help=f"One Euro minimum cutoff, Hz (default {smoothing.MIN_CUTOFF_HZ})")
    p.add_argument("--beta", type=float, default=smoothing.BETA,
                   help=f"One Euro speed coefficient, per px/s (default {smoothing.BETA})")
    p.add_argument("--max-frames", type=int, help="video: stop after this many frames")
    p.add_argument("--threads", type=int, default=1, help="detector threads (LiteRT)")
    p.add_argument("--flip", action="store_true", help="flip test (average with the mirrored crop)")
    p.set_defaults(func=cmd_predict)

    p = commands.add_parser(
        "synth", help="generate the procedural synthetic pose set",
        description="Render a procedural articulated person per image (random pose, camera; by --level "
                    "clutter, look-alikes, occluders, blur, noise) and write it in COCO format (OUT/coco) "
                    "and in the Human3.6M layout (OUT/h36m). Deterministic by seed and level.",
        epilog="example: keras-integral synth --out synth --num 2000 --seed 0 --image-size 128\n"
               "example: keras-integral synth --out crossing --clip crossing --frames 60 --pan 40 --level easy",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--num", type=int, help="number of images (one person each)")
    p.add_argument("--clip", choices=("single", "crossing", "leaving"),
                   help="render a video clip instead: one person moving and changing pose, two people crossing, "
                        "or one walking out of the frame (OUT/video.mp4 + COCO ground truth per frame)")
    p.add_argument("--frames", type=int, default=60, help="clip: number of frames (default 60)")
    p.add_argument("--pan", type=float, default=0.0, help="clip: the view slides this many pixels right (default 0)")
    p.add_argument("--fps", type=float, default=30.0, help="clip: frames per second of video.mp4 (default 30)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--image-size", type=_size, default=(256, 256), help="HEIGHT or HEIGHTxWIDTH (default 256)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of images in the COCO val split")
    p.add_argument("--level", default="hard", choices=("easy", "medium", "hard"),
                   help="scene difficulty: easy = smooth background only; medium = clutter and some occluders, "
                        "no look-alike limbs or dots; hard = everything, blur and noise (default)")
    p.set_defaults(func=cmd_synth)

    p = commands.add_parser(
        "export", help="SavedModel, TFLite fp32/fp16/int8 and ONNX, with parity against Keras",
        description="Write deployable artifacts of a model and manifest.json (input spec, skeleton, output units, "
                    "sha256 of every file, keypoint error of each artifact against Keras on real crops from the "
                    "recipe's data, which also calibrate int8). An artifact outside its parity target is an "
                    "error unless --allow-parity-loss.",
        epilog="example: keras-integral export runs/q/model.keras --recipe recipes/synthetic/quickstart.yaml "
               "--data-dir synth --out exported",
    )
    p.add_argument("model", help="a .keras file or a zoo preset (name, folder or URL)")
    p.add_argument("--recipe", required=True, help="recipe YAML whose data give the representative crops")
    p.add_argument("--data-dir", required=True, help="directory the recipe's data paths are relative to")
    p.add_argument("--out", required=True, help="output folder (new or empty)")
    p.add_argument("--formats", nargs="+", default=["saved_model", "tflite", "onnx"],
                   choices=["saved_model", "tflite", "onnx"])
    p.add_argument("--quantize", nargs="+", default=["fp32", "fp16", "int8"], choices=["fp32", "fp16", "int8"],
                   help="TFLite variants")
    p.add_argument("--num-crops", type=int, default=128, help="representative crops (calibration and parity)")
    p.add_argument("--allow-parity-loss", action="store_true", help="record, do not fail on, parity misses")
    p.set_defaults(func=cmd_export)

    p = commands.add_parser(
        "zoo", help="list, inspect, download and import pretrained models",
        description="The model zoo: `list` the registry, `info NAME`, `download NAME` (fetch its upstream file "
                    "once into the cache, $KERAS_INTEGRAL_HOME, default ~/.cache/keras_integral, check and "
                    "convert it), `convert FILE --like NAME --out DIR` to convert a local upstream file "
                    "(e.g. fine-tuned with MMPose) with NAME's architecture and decoding.",
        epilog="example: keras-integral zoo convert best_coco_AP_epoch_210.pth "
               "--like coco_resnet50_mmpose_dsnt_256_hm64 --out my_dsnt",
    )
    zoo = p.add_subparsers(dest="zoo_command", required=True, metavar="ZOO_COMMAND")
    zoo.add_parser("list", help="the registry's presets: source, licence, reported metric, cached or not")
    q = zoo.add_parser("info", help="everything the registry knows about one entry")
    q.add_argument("name")
    q = zoo.add_parser("download", help="fetch, check and convert a preset into the cache (once)")
    q.add_argument("name")
    q = zoo.add_parser("convert", help="convert a local upstream checkpoint as a preset folder")
    q.add_argument("checkpoint", help="the upstream file (MMPose .pth, the authors' .pth.tar)")
    q.add_argument("--like", help="the preset whose architecture and decoding it has "
                                  "(default: recognised from the file name)")
    q.add_argument("--out", required=True, help="preset folder to write")
    p.set_defaults(func=cmd_zoo)

    p = commands.add_parser(
        "demo", help="the whole library end to end on a generated data set (under 10 min on 2 CPU cores)",
        description="Generate a synthetic pose set, train I1 and its H1 baseline the same way, "
                    "evaluate both (COCO AP, PCK of the box, and I1 - H1 at tight thresholds with a bootstrap "
                    "interval over people), export I1 to SavedModel, TFLite fp32/int8 and ONNX with parity "
                    "checks, and write OUT/README.md with the tables and a verdict, pck_curves.png, "
                    "skeletons_*.png and quantisation.png. No network needed.",
        epilog="example: keras-integral demo --out demo",
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--num-images", type=int, default=demo.NUM_IMAGES, help="synthetic images (a tenth held out)")
    p.add_argument("--epochs", type=int, default=demo.EPOCHS, help="epochs per model")
    p.add_argument("--steps-per-epoch", type=int, default=demo.STEPS_PER_EPOCH, help="steps of 16 crops per epoch")
    p.add_argument("--sequential", action="store_true",
                   help="train I1 and H1 one after the other (default: at once, one core each, on 2+ cores)")
    p.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2))
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except Exception as error:
        from keras_integral.download import PresetUnavailableError

        # Bad input and unreachable presets are the user's to fix: one line, no traceback.
        if not isinstance(error, (ValueError, FileNotFoundError, PresetUnavailableError)):
            raise
        print(f"keras-integral {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
