"""The ``cifarlab`` command.

    cifarlab synthetic DIR          write a SYNTHETIC CIFAR-100 (--cifar10) in the official format
    cifarlab info [--data-dir DIR]  where the data comes from, and a superclass's split sizes
    cifarlab demo                   train and compare the baseline and its variants on a superclass
    cifarlab student-notebooks      write student versions of the notebooks (solutions -> TODO)

Nothing imports this module; it sits on top of the library.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path


def _quiet_tensorflow() -> None:
    # TensorFlow's start-up chatter and retracing warnings hide what matters in a terminal.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def cmd_synthetic(args: argparse.Namespace) -> int:
    from cifarlab import data

    write = data.write_synthetic_cifar10 if args.cifar10 else data.write_synthetic_cifar100
    kwargs = {"seed": args.seed, "archive": args.archive}
    if args.train_per_class:
        kwargs["train_per_class"] = args.train_per_class
    if args.test_per_class:
        kwargs["test_per_class"] = args.test_per_class
    path = write(args.dir, **kwargs)
    print(f"Wrote a SYNTHETIC {'CIFAR-10' if args.cifar10 else 'CIFAR-100'} to {path}")
    print("It is for offline try-outs and tests: results on it say nothing about real CIFAR.")
    print(f"Use it with: load_cifar100({str(args.dir)!r}) or CIFARLAB_DATA_DIR={args.dir}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from cifarlab import data, labels

    cifar = data.load_cifar100(args.data_dir, download=args.download)
    print(cifar)
    name = labels.superclass_name(args.superclass)
    sub = data.select_superclass(cifar, name)
    print(f"{sub.description}: classes {', '.join(sub.class_names)}")
    print(f"  {len(sub.x_train):,} training and {len(sub.x_test):,} test images")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cifarlab",
        description="Image classification with CNNs on CIFAR-100 and CIFAR-10, for teaching.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("synthetic", help="write a SYNTHETIC dataset in the official CIFAR format")
    p.add_argument("dir", type=Path, help="folder to write into")
    p.add_argument("--cifar10", action="store_true", help="CIFAR-10 instead of CIFAR-100")
    p.add_argument("--archive", action="store_true", help="write the .tar.gz instead of a folder")
    p.add_argument("--train-per-class", type=_positive_int, help="training images per class")
    p.add_argument("--test-per-class", type=_positive_int, help="test images per class")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_synthetic)

    p = sub.add_parser("info", help="load CIFAR-100 and describe a superclass")
    p.add_argument("--data-dir", type=Path, help="folder or archive (default: see README)")
    p.add_argument("--superclass", default="medium_mammals", help="name or index 0..19")
    p.add_argument("--no-download", dest="download", action="store_false")
    p.set_defaults(func=cmd_info)

    from cifarlab import demo, student

    demo.add_arguments(sub)
    student.add_arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    _quiet_tensorflow()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, RuntimeError) as err:
        # A user mistake or missing data: one clear line, no stack trace from deep inside.
        print(f"cifarlab {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
