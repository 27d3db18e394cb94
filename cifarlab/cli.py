"""The ``cifarlab`` command.

    cifarlab synthetic DIR          write a SYNTHETIC CIFAR-100 (--cifar10) in the official format
    cifarlab info [--data-dir DIR]  where the data comes from, and a superclass's split sizes
    cifarlab demo                   train and compare the baseline and its variants on a superclass
    cifarlab student-notebooks      write student versions of the notebooks (solutions -> TODO)

For instructors:

    cifarlab assign ROSTER.csv | --groups N   a superclass per group (CSV and Markdown)
    cifarlab run-notebooks ASSIGNMENTS.csv    run notebooks for every group (papermill)
    cifarlab results [RUNS_DIR]               every recorded run in one table, with a chart
    cifarlab report RUN_OR_GROUP_DIR          the technical report (Markdown and HTML)

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


def cmd_assign(args: argparse.Namespace) -> int:
    from cifarlab import assign

    if (args.roster is None) == (args.groups is None):
        raise ValueError(
            "give a roster CSV or --groups N (one of the two). "
            f"Received: roster={args.roster}, --groups={args.groups}."
        )
    existing = args.out / "assignments.csv"
    previous, automatic = args.previous, False
    if previous is None and not args.fresh and existing.is_file():
        previous, automatic = existing, True
    table = assign.assign_superclasses(
        args.groups if args.roster is None else args.roster,
        salt=args.salt,
        exclude=args.exclude,
        previous=previous,
    )
    files = assign.write_assignments(table, args.out)
    print(table.to_markdown())
    kept = sum(g.kept for g in table)
    if kept:
        source = f"the earlier {existing} (--fresh starts over)" if automatic else previous
        print(f"{kept} of {len(table)} groups kept their superclass from {source}.")
    if files.previous is not None:
        print(f"The earlier assignment files were moved to {files.previous}/.")
    if files.changed:
        print(f"Wrote {files.csv} and {files.markdown}.")
    else:
        print(f"{files.csv} and {files.markdown} already hold this assignment: unchanged.")
    print(f"Next: cifarlab run-notebooks {files.csv} --smoke   (a quick check of the set-up)")
    return 0


def cmd_run_notebooks(args: argparse.Namespace) -> int:
    from cifarlab import batch

    parameters = dict(batch.parse_parameter(name, value) for name, value in args.parameter or [])
    result = batch.run_notebooks(
        args.assignments,
        args.notebooks,
        notebooks_dir=args.notebooks_dir,
        runs_dir=args.runs_dir,
        groups=args.only,
        jobs=args.jobs,
        smoke=args.smoke,
        force=args.force,
        data_dir=args.data_dir,
        parameters=parameters,
        kernel_name=args.kernel,
        timeout=args.timeout,
    )
    print(result.summary())
    print(f"Next: cifarlab results {args.runs_dir}")
    return 0 if result.ok else 1


def cmd_results(args: argparse.Namespace) -> int:
    from cifarlab import batch

    files = batch.write_results(args.runs_dir, out_dir=args.out)
    print(files.markdown.read_text())
    print(f"Wrote {files.csv}, {files.markdown} and {files.chart} ({files.runs} runs).")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from cifarlab import report

    files = report.write_report(args.path, out_dir=args.out, data_dir=args.data_dir)
    mark = " (SYNTHETIC data)" if files.synthetic else ""
    print(f"Wrote {files.html} (self-contained) and {files.markdown}{mark}.")
    if files.missing:
        print("Parts that could not be made:")
        for part in files.missing:
            print(f"  - {part}")
    return 0


def _add_instructor_commands(sub) -> None:
    p = sub.add_parser(
        "assign",
        help="assign a CIFAR-100 superclass to every group (CSV and Markdown)",
        description="Assign a superclass to every group: deterministic for a roster and "
        "salt, balanced, and stable (groups already in OUT/assignments.csv keep theirs).",
    )
    p.add_argument("roster", nargs="?", type=Path, help="roster CSV (see docs/instructors.md)")
    p.add_argument("--groups", type=_positive_int, help="N groups named group-01 .. group-N")
    p.add_argument("--salt", default="", help="a course or term name: another salt, another draw")
    p.add_argument(
        "--exclude",
        nargs="+",
        metavar="SUPERCLASS",
        help="superclasses not to use (names or 0..19)",
    )
    p.add_argument("--out", type=Path, default=Path("."), help="folder to write into (default: .)")
    p.add_argument(
        "--previous",
        type=Path,
        help="earlier assignments.csv whose groups keep their superclass "
        "(default: OUT/assignments.csv when it exists)",
    )
    p.add_argument(
        "--fresh", action="store_true", help="ignore OUT/assignments.csv (it is moved aside)"
    )
    p.set_defaults(func=cmd_assign)

    p = sub.add_parser(
        "run-notebooks",
        help="run notebooks for every group with papermill, into runs/<group>/",
        description="Run the notebooks for every group of an assignment, groups in parallel; "
        "a failing notebook is recorded and the rest go on. Exit status 1 if any failed.",
    )
    p.add_argument("assignments", type=Path, help="assignments.csv from cifarlab assign")
    p.add_argument(
        "--notebooks", nargs="+", metavar="NB", help="numbers, names or paths (default: all)"
    )
    p.add_argument("--notebooks-dir", type=Path, default=Path("notebooks"))
    p.add_argument("--only", nargs="+", metavar="GROUP", help="run only these groups")
    p.add_argument("--jobs", type=_positive_int, default=1, help="groups run at the same time")
    p.add_argument("--smoke", action="store_true", help="a quick check on SYNTHETIC data")
    p.add_argument("--force", action="store_true", help="re-run notebooks that succeeded")
    p.add_argument("--runs-dir", type=Path, default=Path("runs"))
    p.add_argument("--data-dir", type=Path, help="CIFAR-100 folder or archive for the notebooks")
    p.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        help="a papermill parameter for every notebook, e.g. -p EPOCHS 30",
    )
    p.add_argument("--timeout", type=float, help="seconds a single cell may run")
    p.add_argument("--kernel", default="python3", help="Jupyter kernel (default: python3)")
    p.set_defaults(func=cmd_run_notebooks)

    p = sub.add_parser(
        "results", help="collect every recorded run into one table (CSV, Markdown, chart)"
    )
    p.add_argument("runs_dir", nargs="?", type=Path, default=Path("runs"))
    p.add_argument("--out", type=Path, help="folder to write into (default: RUNS_DIR)")
    p.set_defaults(func=cmd_results)

    p = sub.add_parser(
        "report", help="technical report of a run or a group (Markdown and self-contained HTML)"
    )
    p.add_argument("path", type=Path, help="a run folder or a group folder (runs/<group>)")
    p.add_argument("--out", type=Path, help="folder to write into (default: PATH/report)")
    p.add_argument(
        "--data-dir", type=Path, help="CIFAR-100 folder or archive, for the test-split figures"
    )
    p.set_defaults(func=cmd_report)


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
    _add_instructor_commands(sub)
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
