"""The `keras-integral` command: train, evaluate, predict, synth, export, zoo, demo.

Each sub-command is a thin layer over a library function; `--help` on each
says what it does, what it writes and shows an example.
"""

import argparse
import os
import sys


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
    train(recipe, data_dir=args.data_dir, out_dir=args.out, verbose=args.verbose)
    print(f"Trained model: {os.path.join(args.out, 'model.keras')}")


def cmd_synth(args):
    from keras_integral.data import synthetic

    written = synthetic.generate(args.out, args.num, seed=args.seed, image_size=args.image_size,
                                 val_fraction=args.val_fraction)
    print(f"{written['num_images']} images written to {args.out} (COCO: {written['coco_train']}, "
          f"H36M: {written['h36m_annotations']}).")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-integral",
        description="Integral Human Pose Regression (Sun et al., ECCV 2018) for Keras 3.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser(
        "train", help="train a recipe (resumes a killed run)",
        description="Train the model of a recipe YAML on its data set. Writes OUT/recipe.yaml, backup/ "
                    "(resume state), best.keras, model.keras, log.csv, tensorboard/. Re-running the same "
                    "command after an interruption resumes exactly where the last epoch ended.",
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
    p.set_defaults(func=cmd_train)

    p = commands.add_parser(
        "synth", help="generate the procedural synthetic pose set",
        description="Render a procedural articulated person per image (random pose, camera, clutter, "
                    "occluders) and write it in COCO format (OUT/coco) and in the Human3.6M layout "
                    "(OUT/h36m). Deterministic by seed.",
        epilog="example: keras-integral synth --out synth --num 2000 --seed 0 --image-size 128",
    )
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--num", type=int, required=True, help="number of images (one person each)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--image-size", type=_size, default=(256, 256), help="HEIGHT or HEIGHTxWIDTH (default 256)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of images in the COCO val split")
    p.set_defaults(func=cmd_synth)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"keras-integral {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
