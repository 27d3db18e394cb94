"""The ``cifarlab`` command (README.md, docs/instructors.md): argparse only, each command a
call into the library. Nothing imports this module."""

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from cifarlab import assign, colab, data, demo, notebook_runs, report, student, synthetic
from cifarlab._checks import integer


def _positive_int(text: str) -> int:  # argparse's type for counts
    try:
        return integer("count", int(text))
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None


def cmd_synthetic(args: argparse.Namespace) -> int:
    write = (synthetic.write_synthetic_cifar10 if args.cifar10
             else synthetic.write_synthetic_cifar100)
    sizes = {k: getattr(args, k) for k in ("train_per_class", "test_per_class") if getattr(args, k)}
    path = write(args.dir, seed=args.seed, archive=args.archive, overwrite=args.overwrite,
                 **sizes)
    name = "10" if args.cifar10 else "100"
    print(f"Wrote a SYNTHETIC CIFAR-{name} to {path}\nIt is for offline try-outs and tests: "
          "results on it say nothing about real CIFAR.\nUse it with: "
          f"load_cifar{name}({str(args.dir)!r}) or CIFARLAB_DATA_DIR={args.dir}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    print(cifar := data.load_cifar100(args.data_dir, download=args.download))
    sub = data.select_superclass(cifar, args.superclass)
    print(f"{sub.description}: classes {', '.join(sub.class_names)}\n  {len(sub.x_train):,} "
          f"training and {len(sub.x_test):,} test images")
    from cifarlab.train import best_precision

    policy, why = best_precision()
    print(f"Precision: train(..., mixed_precision=True) uses {policy} here ({why}).")
    return 0


def cmd_student(args: argparse.Namespace) -> int:
    for path in student.write_student_notebooks(args.src, args.out, force=args.force):
        print(f"wrote {path}")
    return 0


def cmd_colab(args: argparse.Namespace) -> int:
    written = colab.set_repository(args.repository, args.branch, notebooks=args.notebooks)
    print(f"Pointed {len(written) - 1} notebooks at github.com/{args.repository} (branch "
          f"{args.branch}) and wrote {written[-1]}. Commit and push them to that repository.")
    return 0


def cmd_assign(args: argparse.Namespace) -> int:
    if (args.roster is None) == (args.groups is None):
        raise ValueError("give a roster CSV or --groups N (one of the two). "
                         f"Received: roster={args.roster}, --groups={args.groups}.")
    existing = args.out / "assignments.csv"
    automatic = args.previous is None and not args.fresh and existing.is_file()
    previous = existing if automatic else args.previous
    table = assign.assign_superclasses(args.roster or args.groups, salt=args.salt,
                                       exclude=args.exclude, previous=previous)
    files = assign.write_assignments(table, args.out)
    print(table.to_markdown())
    if kept := sum(g.kept for g in table):
        source = f"the earlier {existing} (--fresh starts over)" if automatic else previous
        print(f"{kept} of {len(table)} groups kept their superclass from {source}.")
    if files.previous:
        print(f"The earlier assignment files were moved to {files.previous}/.")
    print(f"Wrote {files.csv} and {files.markdown}." if files.changed else
          f"{files.csv} and {files.markdown} already hold this assignment: unchanged.")
    print(f"Next: cifarlab run-notebooks {files.csv} --smoke   (a quick check of the set-up)")
    return 0


def cmd_run_notebooks(args: argparse.Namespace) -> int:
    result = notebook_runs.run_notebooks(
        args.assignments, args.notebooks, notebooks_dir=args.notebooks_dir,
        runs_dir=args.runs_dir, groups=args.only, jobs=args.jobs, scheduler=args.scheduler,
        smoke=args.smoke,
        force=args.force, data_dir=args.data_dir, kernel_name=args.kernel, timeout=args.timeout,
        parameters=dict(notebook_runs.parse_parameter(*pair) for pair in args.parameter or []))
    print(result.summary())
    print(f"Next: cifarlab results {args.runs_dir}")
    return 0 if result.ok else 1


def cmd_grade(args: argparse.Namespace) -> int:
    from cifarlab import grade

    files = grade.grade(args.submissions, out_dir=args.out, assignments=args.assignments,
                        scheduler=args.scheduler, jobs=args.jobs, smoke=args.smoke,
                        force=args.force, data_dir=args.data_dir, timeout=args.timeout,
                        kernel_name=args.kernel)
    print(files.markdown.read_text())
    print(f"Wrote {files.csv}, {files.markdown} and {files.html}; each group's executed "
          f"notebooks are in {files.csv.parent}/<group>/.")
    return 0 if (files.table["status"] == "succeeded").all() else 1


def cmd_results(args: argparse.Namespace) -> int:
    files = notebook_runs.write_results(args.runs_dir, out_dir=args.out)
    print(files.markdown.read_text())
    print(f"Wrote {files.csv}, {files.markdown} and {files.chart} ({files.runs} runs).")
    return 0


def cmd_exercises(args: argparse.Namespace) -> int:
    from cifarlab.exercises import collect_results

    table = collect_results(args.runs_dir)
    if table.empty:
        print(f"No exercise verdicts under {args.runs_dir} (the notebooks record them in "
              "RUNS_DIR/exercises/ as students run their checks).")
        return 0
    done = table.pivot_table(index="group", columns="notebook", values="passed", aggfunc="sum")
    total = table.pivot_table(index="group", columns="notebook", values="passed", aggfunc="size")
    print("Exercises passed (of those checked), per group and notebook:")
    print((done.fillna(0).astype(int).astype(str) + "/" + total.fillna(0).astype(int).astype(str))
          .to_markdown())
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    files = report.write_report(args.path, out_dir=args.out, data_dir=args.data_dir)
    mark = " (SYNTHETIC data)" if files.synthetic else ""
    print(f"Wrote {files.html} (self-contained) and {files.markdown}{mark}.")
    if files.previous:
        print(f"The earlier report's files were moved to {files.previous}/.")
    if files.missing:
        print("Parts that could not be made:", *(f"  - {m}" for m in files.missing), sep="\n")
    return 0


def _command(sub, name: str, func, help: str, description: str | None = None, **arguments):
    p = sub.add_parser(name, help=help, description=description)  # options: name -> kwargs
    for option, kwargs in arguments.items():
        p.add_argument(*option.split("|"), **kwargs)
    p.set_defaults(func=func)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cifarlab", description="Image classification "
                                     "with CNNs on CIFAR-100 and CIFAR-10, for teaching.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    path, count, flag = {"type": Path}, {"type": _positive_int}, {"action": "store_true"}
    _command(sub, "synthetic", cmd_synthetic, "write a SYNTHETIC dataset in the official CIFAR "
             "format", dir={**path, "help": "folder to write into"},
             **{"--cifar10": {**flag, "help": "CIFAR-10 instead of CIFAR-100"},
                "--archive": {**flag, "help": "write the .tar.gz instead of a folder"},
                "--overwrite": {**flag, "help": "move data that is not SYNTHETIC aside "
                                "(to NAME.kept) instead of refusing"},
                "--train-per-class": {**count, "help": "training images per class"},
                "--test-per-class": {**count, "help": "test images per class"},
                "--seed": {"type": int, "default": 0}})
    _command(sub, "info", cmd_info, "load CIFAR-100 and describe a superclass",
             **{"--data-dir": {**path, "help": "folder or archive (default: see README)"},
                "--superclass": {"default": "medium_mammals", "help": "name or index 0..19"},
                "--no-download": {"dest": "download", "action": "store_false"}})
    demo.add_arguments(sub)
    _command(sub, "student-notebooks", cmd_student, "write student versions (solutions "
             "replaced by TODOs)",
             **{"--src": {"default": "notebooks", "help": "folder with the solution notebooks"},
                "--out": {"default": None, "help": "default: SRC/student"},
                "--force": {**flag, "help": "replace existing student versions"}})
    _command(sub, "colab", cmd_colab, "point every notebook's Colab badge and install cell at "
             "a course's copy of the repository", repository={"help": "GitHub owner/name"},
             **{"--branch": {"default": "main"},
                "--notebooks": {**path, "default": Path("notebooks")}})
    _command(sub, "assign", cmd_assign, "assign a CIFAR-100 superclass to every group (CSV "
             "and Markdown)", "Assign a superclass to every group: deterministic for a roster "
             "and salt, balanced, and stable (groups already in OUT/assignments.csv keep theirs).",
             roster={**path, "nargs": "?", "help": "roster CSV (see docs/instructors.md)"},
             **{"--groups": {**count, "help": "N groups named group-01 .. group-N"},
                "--salt": {"default": "", "help": "a course or term: another salt, another draw"},
                "--exclude": {"nargs": "+", "metavar": "SUPERCLASS",
                              "help": "superclasses not to use (names or 0..19)"},
                "--out": {**path, "default": Path("."), "help": "folder to write into (default .)"},
                "--previous": {**path, "help": "earlier assignments.csv whose groups keep their "
                               "superclass (default: OUT/assignments.csv when it exists)"},
                "--fresh": {**flag, "help": "ignore OUT/assignments.csv (it is moved aside)"}})
    _batch_commands(sub, path, count, flag)
    return parser


def _batch_commands(sub, path: dict, count: dict, flag: dict) -> None:
    """``run-notebooks``, ``grade``, ``results``, ``exercises``, ``report``."""
    _command(sub, "run-notebooks", cmd_run_notebooks, "run notebooks for every group with "
             "papermill, into runs/<group>/", "Run the notebooks for every group of an "
             "assignment on a Dask cluster (--scheduler) or on this machine, groups in "
             "parallel; a failing notebook is recorded and the rest go on. Exit status 1 if "
             "any failed.",
             assignments={**path, "help": "assignments.csv from cifarlab assign"},
             **{"--notebooks": {"nargs": "+", "metavar": "NB",
                                "help": "numbers, names or paths (default: all)"},
                "--notebooks-dir": {**path, "default": Path("notebooks")},
                "--only": {"nargs": "+", "metavar": "GROUP", "help": "run only these groups"},
                "--jobs": {**count, "help": "groups run at the same time (default: 1 here, "
                           "the cluster's worker threads with --scheduler)"},
                "--scheduler": {"metavar": "ADDRESS", "help": "a running Dask scheduler, "
                                "e.g. tcp://HOST:8786 (default: workers on this machine)"},
                "--smoke": {**flag, "help": "a quick check on SYNTHETIC data"},
                "--force": {**flag, "help": "re-run notebooks that succeeded"},
                "--runs-dir": {**path, "default": Path("runs")},
                "--data-dir": {**path, "help": "CIFAR-100 folder or archive for the notebooks"},
                "-p|--parameter": {"nargs": 2, "action": "append", "metavar": ("NAME", "VALUE"),
                                   "help": "a notebook parameter, e.g. -p EPOCHS 30"},
                "--timeout": {"type": float, "help": "seconds a single cell may run"},
                "--kernel": {"default": "python3", "help": "Jupyter kernel (default: python3)"}})
    _command(sub, "grade", cmd_grade, "run and grade what groups handed in (one folder per "
             "group), into grading/", "Run every group's submitted notebooks, each in a copy of "
             "its folder, on a Dask cluster (--scheduler) or here, and tabulate per group and "
             "notebook the exercise checks, test accuracy, time and errors (grades.csv, .md, "
             ".html). A submission is code: see docs/instructors.md. Exit status 1 if any "
             "notebook failed.",
             submissions={**path, "help": "folder with one folder per group"},
             **{"--out": {**path, "default": Path("grading"), "help": "default: grading"},
                "--assignments": {**path, "help": "assignments.csv: sets each group's SUPERCLASS"
                                  " (default: the notebook's own)"},
                "--scheduler": {"metavar": "ADDRESS", "help": "a running Dask scheduler"},
                "--jobs": {**count, "help": "groups graded at the same time"},
                "--smoke": {**flag, "help": "a quick check on SYNTHETIC data"},
                "--force": {**flag, "help": "run again what ran with the same inputs"},
                "--data-dir": {**path, "help": "CIFAR-100 folder or archive on the workers"},
                "--timeout": {"type": float, "default": 1800.0,
                              "help": "seconds a single cell may run (default 1800)"},
                "--kernel": {"default": "python3", "help": "Jupyter kernel (default: python3)"}})
    _command(sub, "results", cmd_results, "collect every recorded run into one table (CSV, "
             "Markdown, chart)", runs_dir={**path, "nargs": "?", "default": Path("runs")},
             **{"--out": {**path, "help": "folder to write into (default: RUNS_DIR)"}})
    _command(sub, "exercises", cmd_exercises, "which exercise checks each group passed",
             runs_dir={**path, "nargs": "?", "default": Path("runs")})
    _command(sub, "report", cmd_report, "technical report of a run or a group (Markdown and "
             "self-contained HTML)", path={**path, "help": "a run folder or a group folder "
                                           "(runs/<group>)"},
             **{"--out": {**path, "help": "folder to write into (default: PATH/report)"},
                "--data-dir": {**path, "help": "CIFAR-100 folder or archive (test-split figures)"}})


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, OSError, RuntimeError) as err:
        if isinstance(err, OSError) and err.errno and not isinstance(err, FileNotFoundError):
            err = (f"{err.strerror}: {err.filename or 'a file'}. Check that you may read and write"
                   " there (permissions) and that the disk has free space, then run it again.")
        print(f"cifarlab {args.command}: error: {err}", file=sys.stderr)  # one line, no trace
        return 2
    except KeyboardInterrupt as err:  # Ctrl-C: what was done, no traceback
        again = ""
        if hasattr(result := getattr(err, "result", None), "summary"):
            print(result.summary())
            again = ": run the same command again to finish (what succeeded is skipped)"
        print(f"cifarlab {args.command}: interrupted{again}", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
