"""The main job, ``cifarlab demo`` (what ``make demo`` runs).

Loads CIFAR-100: real data when it is present or downloadable; otherwise it says so
and, only after that warning or with ``--synthetic``, uses a SYNTHETIC dataset in
the official format, and every output says SYNTHETIC.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cifarlab import data

#: Where the demo keeps its synthetic dataset (reused between runs).
SYNTHETIC_DIR = Path("data") / "synthetic"


def get_cifar100(
    data_dir=None,
    *,
    synthetic: bool = False,
    synthetic_dir: Path = SYNTHETIC_DIR,
    train_per_class: int = 500,
    test_per_class: int = 100,
    out=sys.stderr,
) -> data.CifarData:
    """Real CIFAR-100 when it can be had; otherwise, loudly, a SYNTHETIC stand-in.

    Args:
        data_dir: as for :func:`cifarlab.data.load_cifar100`.
        synthetic: skip the real data and use the synthetic set straight away.
        synthetic_dir: where the synthetic set is written (and reused).
        train_per_class, test_per_class: size of the synthetic set (default: CIFAR's own).
    """
    if not synthetic:
        try:
            return data.load_cifar100(data_dir)
        except (data.DataNotFoundError, data.DownloadError) as err:
            if data_dir is not None:
                raise  # an explicit folder that is wrong is an error, not a fallback
            print(
                "WARNING: real CIFAR-100 is not available here:\n"
                f"  {err}\n"
                "Continuing with SYNTHETIC data in the official format. Its results say "
                "nothing about real CIFAR-100.",
                file=out,
            )
    archive = Path(synthetic_dir) / f"{train_per_class}-{test_per_class}"
    if not (archive / data.CIFAR100.folder / "meta").is_file():
        data.write_synthetic_cifar100(
            archive, train_per_class=train_per_class, test_per_class=test_per_class
        )
    return data.load_cifar100(archive)


def run_demo(args: argparse.Namespace) -> int:
    cifar = get_cifar100(args.data_dir, synthetic=args.synthetic)
    sub = data.select_superclass(cifar, args.superclass)
    print(f"{sub.description}: {', '.join(sub.class_names)}")
    print(f"  {len(sub.x_train):,} training and {len(sub.x_test):,} test images")
    return 0


def add_arguments(subparsers) -> None:
    p = subparsers.add_parser(
        "demo", help="train and compare CNN variants on one CIFAR-100 superclass"
    )
    p.add_argument("--superclass", default="medium_mammals", help="name or index 0..19")
    p.add_argument("--data-dir", type=Path, help="folder or archive (default: see README)")
    p.add_argument(
        "--synthetic", action="store_true", help="use SYNTHETIC data without trying real CIFAR"
    )
    p.set_defaults(func=run_demo)
