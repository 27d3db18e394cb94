"""Grading what groups hand in (``cifarlab grade SUBMISSIONS/``): one folder per group, each
notebook run on the batch engine (:mod:`cifarlab.notebook_runs`) in a copy of its folder;
per group and notebook, the exercise checks, the test accuracy of the runs it recorded, its
time and its error, as CSV, Markdown and HTML.

A submission is code: it runs with the instructor's rights on the worker. It runs in a
temporary copy of the group's folder and only what it made comes back, into
``OUT/<group>/``; the submissions are never written. docs/instructors.md says more."""

import html
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from cifarlab import _files, assign, cluster, notebook_runs, runs
from cifarlab.exercises import collect_results

MAX_SUBMISSION = 200 * 2**20  # bytes of one group's folder sent to a worker
DEFAULT_TIMEOUT = 1800.0  # seconds a cell may run: a submission that hangs is stopped


@dataclass(frozen=True)
class GradingFiles:
    """What :func:`grade` wrote, and the table it holds (one row per group and notebook)."""

    csv: Path
    markdown: Path
    html: Path
    table: pd.DataFrame
    synthetic: bool

    def to_dict(self) -> dict[str, Any]:
        return _files.jsonable({**asdict(self), "table": self.table.to_dict("records")})


def find_submissions(submissions_dir: str | os.PathLike) -> dict[str, dict[str, Path]]:
    """``{group folder: {notebook stem: path}}``: every sub-folder holding ``NN_*.ipynb``."""
    root = Path(submissions_dir).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"`submissions_dir` {root} is not a folder. It holds one folder"
                                " per group, each with the group's notebooks (NN_topic.ipynb).")
    found = {d.name: {p.stem: p for p in sorted(d.glob("*.ipynb")) if re.match(r"\d+_", p.name)}
             for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")}
    if not (found := {name: nbs for name, nbs in found.items() if nbs}):
        raise ValueError(f"No submissions in {root}: expected one folder per group, each with "
                         "the group's notebooks (NN_topic.ipynb): group_a/01_baseline_cnn.ipynb.")
    return found


def _group_files(folder: Path) -> bytes:
    """The group's folder, packed for a worker (refused over :data:`MAX_SUBMISSION`)."""
    files = {p.relative_to(folder).as_posix(): p for p in folder.rglob("*")
             if p.is_file() and not p.is_symlink()}
    if (size := sum(p.stat().st_size for p in files.values())) > MAX_SUBMISSION:
        raise ValueError(f"The submission {folder} holds {size / 2**20:.0f} MiB, more than "
                         f"{MAX_SUBMISSION / 2**20:.0f} MiB: remove data sets and models from it.")
    return cluster.pack(files)


def _rows(submissions: dict, assignments: assign.Assignments | None) -> dict:
    """Each submission's group: its assignment (matched by folder or name), else one without
    a superclass (the notebook's own SUPERCLASS is used)."""
    by_folder = {row.folder: row for row in assignments or ()}
    rows = {}
    for name in submissions:
        if (row := by_folder.get(assign.group_folder(name))) is None and assignments is not None:
            raise ValueError(f"Submission folder {name!r} matches no group of the assignments "
                             f"(folders: {', '.join(sorted(by_folder))}).")
        rows[name] = row or assign.GroupAssignment(name, None, -1, ())
    return rows


def grade(submissions_dir: str | os.PathLike, *, out_dir: str | os.PathLike = "grading",
          assignments=None, scheduler: str | None = None, jobs: int | None = None,
          smoke: bool = False, force: bool = False, data_dir=None, timeout=DEFAULT_TIMEOUT,
          start_timeout=None, kernel_name: str = "python3", verbose: bool = True,
          out=None) -> GradingFiles:
    """Run every group's notebooks under ``submissions_dir`` (:func:`find_submissions`) on the
    Dask cluster at ``scheduler`` (None: here), each in a copy of its group's folder with
    ``SMOKE``, ``DATA_DIR``, ``RUNS_DIR`` (and, given ``assignments``, ``SUPERCLASS``) set,
    ``timeout`` seconds per cell; outputs in ``out_dir/<group>/``, the table in
    ``out_dir/grades.{csv,md,html}``. What ran with the same inputs is not run again."""
    t0 = time.perf_counter()
    notebook_runs._check_setup(kernel_name)
    submissions = find_submissions(submissions_dir)
    if assignments is not None and not isinstance(assignments, assign.Assignments):
        assignments = assign.read_assignments(assignments)
    rows = _rows(submissions, assignments)
    batch = notebook_runs._batch_settings(jobs=jobs, smoke=smoke, force=force, verbose=verbose,
                                          timeout=timeout, start_timeout=start_timeout,
                                          parameters=None, kernel_name=kernel_name)
    plan = [(rows[name], notebook_runs._sources(notebooks.values()),
             _group_files(Path(submissions_dir).expanduser() / name))
            for name, notebooks in submissions.items()]
    try:
        result = notebook_runs._run_batch(plan, out_dir, data_dir, batch, scheduler=scheduler,
                                          jobs=jobs, verbose=verbose, out=out, t0=t0)
    except notebook_runs.BatchInterrupted as stopped:
        write_grades(stopped.result.runs_dir, stopped.result)
        raise
    return write_grades(result.runs_dir, result)


def grades_table(root: Path, result: notebook_runs.BatchResult) -> pd.DataFrame:
    """One row per group and notebook: status, seconds, exercises passed (and each check),
    test accuracy of the runs the notebook recorded, error."""
    rows = []
    for run in result.runs:
        group_dir = root / assign.group_folder(run.group)
        entry = (runs.read_status(group_dir) or {}).get("notebooks", {}).get(run.notebook, {})
        records = group_dir / notebook_runs.RECORDS / run.notebook
        checks = collect_results(records) if records.is_dir() else pd.DataFrame()
        row = {"group": run.group, "notebook": run.notebook, "status": entry.get("status",
                                                                                 run.status),
               "seconds": entry.get("seconds"), "exercises": None, "test_accuracy": None,
               "runs": 0, "error": entry.get("error") or None}
        if not checks.empty:
            row["exercises"] = notebook_runs.exercise_score(checks)
            row.update({f"ex{n}": "✓" if ok else "✗"
                        for n, ok in zip(checks["exercise"], checks["passed"], strict=True)})
        trained = runs.runs_table(records) if records.is_dir() else pd.DataFrame()
        if not trained.empty:
            row.update(test_accuracy=trained["test_accuracy"].max(), runs=len(trained))
        if entry.get("deleted"):
            row["error"] = f"{row['error'] or ''} (deleted its own files: " \
                           f"{', '.join(entry['deleted'][:5])})".strip()
        rows.append(row)
    table = pd.DataFrame(rows)
    first = ["group", "notebook", "status", "seconds", "exercises", "test_accuracy", "runs"]
    checks = sorted((c for c in table if re.fullmatch(r"ex\d+", c)), key=lambda c: int(c[2:]))
    return table[first + checks + ["error"]]


def write_grades(root: Path, result: notebook_runs.BatchResult) -> GradingFiles:
    """``grades.csv``, ``grades.md`` and ``grades.html`` in ``root`` (earlier ones replaced
    atomically: the executed notebooks hold what they were made from)."""
    table = grades_table(root, result)
    files = GradingFiles(root / "grades.csv", root / "grades.md", root / "grades.html", table,
                         result.smoke)
    mark = ("> **SYNTHETIC** data (smoke mode): these accuracies say nothing about CIFAR.\n\n"
            if result.smoke else "")
    shown = table.astype(object).where(table.notna(), None)
    shown = shown.map(lambda v: _files.markdown_text(v) if isinstance(v, str) else v)
    _files.atomic_write(files.csv, table.map(_files.spreadsheet_text).to_csv(index=False))
    _files.atomic_write(files.markdown, f"# Grades: {len(table)} notebooks in {root}\n\n{mark}"
                        + shown.to_markdown(index=False, floatfmt=".3f", missingval="") + "\n")
    page = table.to_html(index=False, na_rep="", float_format="{:.3f}".format, escape=True)
    note = "<p><b>SYNTHETIC</b> data (smoke mode).</p>" if result.smoke else ""
    _files.atomic_write(files.html, "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
                        f"<title>Grades</title></head><body><h1>Grades: {html.escape(str(root))}"
                        f"</h1>{note}{page}</body></html>\n")
    return files
