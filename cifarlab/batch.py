"""Run the notebooks of every group with papermill, then collect every result in one table.

From Python (``cifarlab run-notebooks`` and ``cifarlab results`` in a shell)::

    from cifarlab import batch
    done = batch.run_notebooks("assignments/assignments.csv", ["01", "02"], jobs=2)
    print(done.summary())                       # per notebook: succeeded, failed, skipped
    files = batch.write_results("runs")          # results.csv, results.md, results.png

What :func:`run_notebooks` writes, per group (``runs/<group>/``, the group's folder name
from :func:`cifarlab.assign.group_folder`)::

    runs/<group>/
        status.json              per notebook: succeeded / failed, error, seconds, parameters
        01_baseline.ipynb        the executed notebook, its HTML export, and what the
        01_baseline.html         kernel printed outside the notebook (TensorFlow's
        01_baseline.log          start-up lines, a crash)
        02_augment.failed.ipynb  a notebook that failed (the error is in status.json too)
        02_augment.failed.html
        records/01_baseline/     RUNS_DIR of that notebook: its training runs
        previous/<time>/         earlier outputs that a re-run moved aside (never deleted)

Each notebook gets the papermill parameters ``SUPERCLASS`` (the group's superclass),
``SMOKE``, ``DATA_DIR`` and ``RUNS_DIR`` (its ``records/<notebook>/`` folder), plus any
extra ``parameters``; it runs with the group's folder as working directory. Groups run in
parallel processes (``jobs``), the notebooks of one group one after the other. A failing
notebook is recorded and the rest go on. A re-run skips notebooks that succeeded with the
same parameters and notebook source unless ``force``; whatever a re-run replaces is first
moved into ``previous/<time>/``.

``smoke=True`` checks the whole set-up quickly: a small SYNTHETIC CIFAR-100 is written
once to ``runs/_smoke_data/``, passed as ``DATA_DIR`` (and ``CIFARLAB_DATA_DIR``), and
notebooks get ``SMOKE=True`` (and ``CIFARLAB_SMOKE=1``) to shrink epochs and data.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import json
import math
import os
import re
import sys
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cifarlab import assign, report
from cifarlab import labels as _labels
from cifarlab._files import atomic_write

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "RESERVED_PARAMETERS",
    "BatchResult",
    "NotebookRun",
    "ResultsFiles",
    "collect_results",
    "find_notebooks",
    "parse_parameter",
    "run_notebooks",
    "write_results",
]

#: Parameters that run_notebooks sets itself (use ``smoke=`` / ``data_dir=`` for two of them).
RESERVED_PARAMETERS = ("SUPERCLASS", "RUNS_DIR", "SMOKE", "DATA_DIR")
STATUS_FILE = report.STATUS_FILE
RECORDS = "records"
PREVIOUS = "previous"
SMOKE_DATA = "_smoke_data"
#: Size of the smoke-mode SYNTHETIC datasets (train, test images per class), as the
#: notebooks' own smoke mode (cifarlab.course).
SMOKE_PER_CLASS = (40, 10)
#: Environment variables the kernels get (read by cifarlab.course and cifarlab.data).
SMOKE_ENV, DATA_ENV, RUNS_ENV = "CIFARLAB_SMOKE", "CIFARLAB_DATA_DIR", "CIFARLAB_RUNS_DIR"
STATUSES = ("succeeded", "failed", "skipped")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class NotebookRun:
    """One notebook of one group.

    Attributes:
        group: the group's name.
        superclass: the group's superclass.
        notebook: the notebook's name (file stem, e.g. ``"01_baseline"``).
        status: ``"succeeded"``, ``"failed"`` or ``"skipped"`` (succeeded earlier).
        seconds: how long it ran (the earlier run's time when skipped).
        error: the error for a failed notebook (``"ValueError: ... (cell [3])"``).
        output: the executed notebook; ``html`` its HTML export.
        previous: where earlier outputs were moved before this run (or None).
        reason: why it ran or was skipped (``"first run"``, ``"parameters changed"``, ...).
    """

    group: str
    superclass: str
    notebook: str
    status: str
    seconds: float | None
    error: str | None = None
    output: str | None = None
    html: str | None = None
    previous: str | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "superclass": self.superclass,
            "notebook": self.notebook,
            "status": self.status,
            "seconds": self.seconds,
            "error": self.error,
            "output": self.output,
            "html": self.html,
            "previous": self.previous,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class BatchResult:
    """What :func:`run_notebooks` did: one :class:`NotebookRun` per group and notebook."""

    runs: tuple[NotebookRun, ...]
    runs_dir: Path
    smoke: bool
    seconds: float

    @property
    def synthetic(self) -> bool:
        """True in smoke mode: the notebooks ran on SYNTHETIC data."""
        return self.smoke

    @property
    def succeeded(self) -> tuple[NotebookRun, ...]:
        return tuple(r for r in self.runs if r.status == "succeeded")

    @property
    def failed(self) -> tuple[NotebookRun, ...]:
        return tuple(r for r in self.runs if r.status == "failed")

    @property
    def skipped(self) -> tuple[NotebookRun, ...]:
        return tuple(r for r in self.runs if r.status == "skipped")

    @property
    def ok(self) -> bool:
        """No notebook failed."""
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs_dir": str(self.runs_dir),
            "smoke": self.smoke,
            "synthetic": self.synthetic,
            "seconds": self.seconds,
            "ok": self.ok,
            "runs": [r.to_dict() for r in self.runs],
        }

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([r.to_dict() for r in self.runs])

    def summary(self) -> str:
        """A few lines: counts, then each failure with its error."""
        mark = " (smoke mode, SYNTHETIC data)" if self.smoke else ""
        lines = [
            f"{len(self.succeeded)} succeeded, {len(self.failed)} failed, "
            f"{len(self.skipped)} skipped (succeeded earlier) in {self.seconds:.0f} s{mark}; "
            f"outputs in {self.runs_dir}/"
        ]
        for r in self.failed:
            lines.append(f"  FAILED {r.group} / {r.notebook}: {r.error}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"BatchResult({len(self.succeeded)} succeeded, {len(self.failed)} failed, "
            f"{len(self.skipped)} skipped{', SYNTHETIC' if self.smoke else ''})"
        )


@dataclass(frozen=True)
class ResultsFiles:
    """What :func:`write_results` wrote: the table as CSV and Markdown, and the chart."""

    csv: Path
    markdown: Path
    chart: Path
    runs: int
    synthetic: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "csv": str(self.csv),
            "markdown": str(self.markdown),
            "chart": str(self.chart),
            "runs": self.runs,
            "synthetic": self.synthetic,
        }


# --------------------------------------------------------------------------- notebooks


def _has_parameters_cell(path: Path) -> bool:
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as err:  # nbformat raises several kinds for a broken file
        raise ValueError(f"Notebook {path} cannot be read as a notebook ({err}).") from None
    return any("parameters" in (c.get("metadata", {}).get("tags") or []) for c in nb.cells)


def find_notebooks(
    selectors: Sequence[str | os.PathLike] | None = None,
    *,
    notebooks_dir: str | os.PathLike = "notebooks",
) -> tuple[Path, ...]:
    """The notebooks to run, checked: each exists and has a ``parameters``-tagged cell.

    Args:
        selectors: notebook paths, or names in ``notebooks_dir``: the number (``"01"``),
            the stem (``"01_baseline"``) or the file name. None: every ``NN_*.ipynb`` in
            ``notebooks_dir``, in order.
        notebooks_dir: where names are looked up.

    Raises:
        FileNotFoundError: ``notebooks_dir`` or a notebook path does not exist.
        ValueError: a name matches no notebook (with the closest one) or several, a
            notebook is selected twice, two share a name, or one has no ``parameters``
            cell (papermill could not inject the superclass).

    Example:
        >>> find_notebooks(["01", "02"])
        (PosixPath('notebooks/01_baseline.ipynb'), PosixPath('notebooks/02_augment.ipynb'))
    """
    root = Path(notebooks_dir).expanduser()
    listed = (
        sorted(
            p
            for p in root.glob("*.ipynb")
            if re.match(r"\d+_", p.name) and not p.name.startswith(".")
        )
        if root.is_dir()
        else []
    )
    chosen: list[Path] = []
    if selectors is None:
        if not root.is_dir():
            raise FileNotFoundError(
                f"`notebooks_dir` {root} does not exist. Pass notebooks_dir= (--notebooks-dir) "
                "or the notebook paths."
            )
        if not listed:
            raise FileNotFoundError(f"No numbered notebooks (NN_topic.ipynb) in {root}.")
        chosen = listed
    else:
        if isinstance(selectors, (str, os.PathLike)):
            selectors = [selectors]
        if not selectors:
            raise ValueError("`notebooks` is empty: name at least one notebook.")
        for sel in selectors:
            chosen.append(_match_notebook(sel, root, listed))
    seen: dict[str, Path] = {}
    for path in chosen:
        if path.stem in seen:
            same = seen[path.stem].resolve() == path.resolve()
            raise ValueError(
                f"Notebook {path.stem!r} is selected twice"
                + ("" if same else f" ({seen[path.stem]} and {path}: the outputs would clash)")
                + "."
            )
        seen[path.stem] = path
        if not _has_parameters_cell(path):
            raise ValueError(
                f"Notebook {path} has no cell tagged 'parameters', so papermill cannot give it "
                "the group's SUPERCLASS. Tag the cell that sets SUPERCLASS, EPOCHS, SEED, "
                "SMOKE, DATA_DIR and RUNS_DIR (View > Cell metadata > tags: parameters)."
            )
    return tuple(chosen)


def _match_notebook(sel, root: Path, listed: list[Path]) -> Path:
    if not isinstance(sel, (str, os.PathLike)):
        raise TypeError(f"Notebooks are names or paths. Received: {sel!r}.")
    text = os.fspath(sel)
    path = Path(text).expanduser()
    if path.suffix == ".ipynb" and (path.is_file() or os.sep in text or "/" in text):
        if not path.is_file():
            raise FileNotFoundError(f"Notebook {path} does not exist.")
        return path
    name = Path(text).name.removesuffix(".ipynb")
    hits = [p for p in listed if p.stem == name] or [
        p for p in listed if p.stem.split("_")[0] == name
    ]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise ValueError(
            f"Notebook {text!r} matches several in {root}: "
            f"{', '.join(p.name for p in hits)}. Give the full name."
        )
    stems = [p.stem for p in listed]
    close = difflib.get_close_matches(name, stems, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    valid = ", ".join(stems) if stems else f"none: {root} has no NN_topic.ipynb notebooks"
    raise ValueError(f"Unknown notebook {text!r}.{hint} Valid: {valid}.")


def parse_parameter(name: str, value: str) -> tuple[str, Any]:
    """A ``-p NAME VALUE`` pair from the command line: the value as a Python literal
    (``3``, ``0.5``, ``True``, ``None``, ``[32, 64]``) when it is one, else the string.

    Example:
        >>> parse_parameter("EPOCHS", "30")
        ('EPOCHS', 30)
    """
    _check_parameter_name(name)
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


def _check_parameter_name(name: object) -> str:
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(
            f"Parameter names must be Python identifiers (EPOCHS, SEED, ...). Received: {name!r}."
        )
    if name in RESERVED_PARAMETERS:
        how = {
            "SMOKE": "use smoke=True (--smoke)",
            "DATA_DIR": "use data_dir= (--data-dir)",
        }.get(name, "it is set per group")
        raise ValueError(f"Parameter {name!r} is set by run_notebooks: {how}.")
    return name


def _check_parameters(parameters) -> dict[str, Any]:
    if parameters is None:
        return {}
    if not isinstance(parameters, Mapping):
        raise TypeError(f"`parameters` must be a dict of NAME -> value. Received: {parameters!r}.")
    out = {}
    for name, value in parameters.items():
        _check_parameter_name(name)
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise TypeError(
                f"Parameter {name!r} must be a plain value (number, string, bool, None, list "
                f"or dict). Received: {value!r}."
            ) from None
        out[name] = value
    return out


def _check_kernel(kernel_name: str) -> None:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    manager = KernelSpecManager()
    try:
        manager.get_kernel_spec(kernel_name)
    except NoSuchKernel:
        names = sorted(manager.find_kernel_specs())
        close = difflib.get_close_matches(str(kernel_name), names, n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"Unknown Jupyter kernel {kernel_name!r}.{hint} Installed: "
            f"{', '.join(names) or 'none'} (python -m ipykernel install --user adds one)."
        ) from None


# --------------------------------------------------------------------------- running


def _smoke_data(runs_dir: Path) -> Path:
    """The small SYNTHETIC CIFAR-100 (and CIFAR-10) for smoke runs, written once, reused."""
    from cifarlab import data

    train_per_class, test_per_class = SMOKE_PER_CLASS
    folder = runs_dir / SMOKE_DATA / f"{train_per_class}-{test_per_class}"
    for load, write in (
        (data.load_cifar100, data.write_synthetic_cifar100),
        (data.load_cifar10, data.write_synthetic_cifar10),
    ):
        try:
            load(folder, download=False, verbose=False)
        except (FileNotFoundError, ValueError):
            write(folder, train_per_class=train_per_class, test_per_class=test_per_class, seed=0)
    return folder.resolve()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_status(group_dir: Path) -> dict[str, Any]:
    return report.read_group_status(group_dir) or {}


def _write_status(group_dir: Path, status: Mapping[str, Any]) -> None:
    text = json.dumps(status, indent=2, default=str) + "\n"
    atomic_write(group_dir / STATUS_FILE, text)


def _outputs(group_dir: Path, stem: str) -> list[Path]:
    names = [
        f"{stem}{suffix}{ext}" for suffix in ("", ".failed") for ext in (".ipynb", ".html", ".log")
    ]
    paths = [group_dir / n for n in names] + [group_dir / RECORDS / stem]
    return [p for p in paths if p.exists()]


def _compare_key(parameters: Mapping[str, Any]) -> str:
    return json.dumps({k: v for k, v in parameters.items() if k != "RUNS_DIR"}, sort_keys=True)


def _execute(task: dict[str, Any]) -> dict[str, Any]:
    """Run one notebook (in a worker process): papermill, then the HTML export.

    Writes to temporary names in the group's folder and renames when complete, so a
    killed run never leaves a file that looks finished. What the kernel prints to its
    standard output and error (TensorFlow's start-up lines, crashes) goes to
    ``<notebook>.log`` instead of the terminal.
    """
    for key, value in task["env"].items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    import papermill
    from papermill.exceptions import PapermillExecutionError

    group_dir = Path(task["group_dir"])
    stem = task["stem"]
    (group_dir / RECORDS / stem).mkdir(parents=True, exist_ok=True)
    tmp = assign._temp_name(group_dir / stem, ".part.ipynb")
    tmp_log = assign._temp_name(group_dir / stem, ".part.log")
    started = datetime.now().astimezone()
    t0 = time.perf_counter()
    error = trace = None
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    log_fd = os.open(tmp_log, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)  # the kernel inherits these: its chatter goes to the log
    try:
        papermill.execute_notebook(
            task["source"],
            str(tmp),
            parameters=task["parameters"],
            kernel_name=task["kernel_name"],
            progress_bar=False,
            log_output=False,
            cwd=str(group_dir),
            execution_timeout=task["timeout"],
            start_timeout=120,
        )
    except PapermillExecutionError as err:
        error = f"{err.ename}: {err.evalue} (cell [{err.exec_count}])"
        trace = _ANSI.sub("", "\n".join(err.traceback or []))[-4000:]
    except Exception as err:  # kernel died, timeout, ...: recorded, the batch goes on
        error = f"{type(err).__name__}: {_ANSI.sub('', str(err)).strip()}"
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, log_fd):
            os.close(fd)
    seconds = time.perf_counter() - t0
    suffix = "" if error is None else ".failed"
    record: dict[str, Any] = {
        "status": "succeeded" if error is None else "failed",
        "error": error,
        "traceback": trace,
        "seconds": round(seconds, 2),
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now().astimezone().isoformat(timespec="seconds"),
        "notebook": None,
        "html": None,
        "log": None,
    }
    try:
        if tmp.is_file() and tmp.stat().st_size > 0:
            try:
                from nbconvert import HTMLExporter

                body, _ = HTMLExporter().from_filename(str(tmp))
                html = group_dir / f"{stem}{suffix}.html"
                atomic_write(html, body)
                record["html"] = html.name
            except Exception as err:  # the notebook itself is still worth keeping
                record["html_error"] = f"{type(err).__name__}: {err}"
            target = group_dir / f"{stem}{suffix}.ipynb"
            os.replace(tmp, target)
            record["notebook"] = target.name
        log = group_dir / f"{stem}{suffix}.log"
        os.replace(tmp_log, log)
        record["log"] = log.name
    finally:
        tmp.unlink(missing_ok=True)
        tmp_log.unlink(missing_ok=True)
    return record


def run_notebooks(
    assignments: assign.Assignments | str | os.PathLike,
    notebooks: Sequence[str | os.PathLike] | None = None,
    *,
    notebooks_dir: str | os.PathLike = "notebooks",
    runs_dir: str | os.PathLike = "runs",
    groups: Sequence[str] | None = None,
    jobs: int = 1,
    smoke: bool = False,
    force: bool = False,
    data_dir: str | os.PathLike | None = None,
    parameters: Mapping[str, Any] | None = None,
    kernel_name: str = "python3",
    timeout: float | None = None,
    verbose: bool = True,
    out=None,
) -> BatchResult:
    """Run notebooks for every group of an assignment table, in parallel processes.

    Args:
        assignments: :class:`cifarlab.assign.Assignments` or its ``assignments.csv``.
        notebooks: which notebooks (see :func:`find_notebooks`); None: all in
            ``notebooks_dir``. They run in this order within a group.
        notebooks_dir: where notebook names are looked up.
        runs_dir: the root of the groups' folders (``runs/<group>/``).
        groups: run only these groups (names from the table); None: all.
        jobs: groups run at the same time (each in its own process and kernel).
        smoke: a quick check on a small SYNTHETIC dataset (see the module docstring).
        force: re-run notebooks that succeeded before (their outputs are moved into
            ``previous/<time>/`` first, as always when something is replaced).
        data_dir: CIFAR-100 folder or archive, given to notebooks as ``DATA_DIR`` and
            ``CIFARLAB_DATA_DIR`` (not with ``smoke``, which uses its own data).
        parameters: more papermill parameters for every notebook (``{"EPOCHS": 30}``).
        kernel_name: the Jupyter kernel (``python3``: the Python running cifarlab).
        timeout: seconds a single cell may run (None: no limit).
        verbose: show an overall progress bar and one line per notebook with its time.
        out: where progress goes (default: standard error).

    Returns:
        A :class:`BatchResult`; ``result.ok`` is False when a notebook failed.

    Raises:
        ValueError, TypeError, FileNotFoundError: bad arguments, found before anything runs.

    Example:
        >>> result = run_notebooks("assignments.csv", ["01", "02"], jobs=2, smoke=True)
        >>> print(result.summary())
    """
    t_start = time.perf_counter()
    _check_installed()
    if not isinstance(assignments, assign.Assignments):
        assignments = assign.read_assignments(assignments)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"`jobs` must be a positive integer. Received: jobs={jobs!r}.")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0
    ):
        raise ValueError(
            f"`timeout` must be a positive number of seconds or None. "
            f"Received: timeout={timeout!r}."
        )
    for flag, value in (("smoke", smoke), ("force", force), ("verbose", verbose)):
        if not isinstance(value, bool):
            raise TypeError(f"`{flag}` must be True or False. Received: {flag}={value!r}.")
    extra = _check_parameters(parameters)
    selected = _select_groups(assignments, groups)
    paths = find_notebooks(notebooks, notebooks_dir=notebooks_dir)
    _check_kernel(kernel_name)
    if smoke and data_dir is not None:
        raise ValueError(
            "`data_dir` cannot be combined with smoke=True: smoke mode uses its own small "
            "SYNTHETIC dataset. Drop one of them."
        )
    if data_dir is not None:
        data_path = Path(data_dir).expanduser()
        if not data_path.exists():
            raise FileNotFoundError(f"`data_dir` {data_path} does not exist.")
        data_dir = str(data_path.resolve())
    root = Path(runs_dir).expanduser()
    if root.exists() and not root.is_dir():
        raise ValueError(f"`runs_dir` {root} is a file, not a folder.")
    root.mkdir(parents=True, exist_ok=True)
    root = root.resolve()
    if smoke:
        data_dir = str(_smoke_data(root))
    env = {
        SMOKE_ENV: "1" if smoke else None,
        "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
        # figures inline, so that the HTML exports show them (whatever the shell says)
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    if data_dir is not None:
        env[DATA_ENV] = data_dir
    out = sys.stderr if out is None else out

    # ---- what to run, group by group; what is already done is skipped
    queues: dict[str, deque] = {}
    results: list[NotebookRun] = []
    sources = {p.stem: (p.resolve(), _sha256(p)) for p in paths}
    for row in selected:
        group_dir = root / row.folder
        status = _read_status(group_dir)
        done = status.get("notebooks") or {}
        queue: deque = deque()
        for stem, (source, digest) in sources.items():
            params = {
                "SUPERCLASS": row.superclass,
                "SMOKE": smoke,
                "DATA_DIR": data_dir,
                "RUNS_DIR": str(group_dir / RECORDS / stem),
                **extra,
            }
            old = done.get(stem) or {}
            reason = _rerun_reason(old, group_dir, stem, params, digest, force)
            if reason is None:
                results.append(
                    NotebookRun(
                        group=row.group,
                        superclass=row.superclass,
                        notebook=stem,
                        status="skipped",
                        seconds=old.get("seconds"),
                        output=str(group_dir / old["notebook"]),
                        html=str(group_dir / old["html"]) if old.get("html") else None,
                        reason="succeeded earlier with the same parameters (force re-runs it)",
                    )
                )
                continue
            queue.append(
                {
                    "group": row.group,
                    "superclass": row.superclass,
                    "classes": list(row.classes),
                    "group_dir": str(group_dir),
                    "stem": stem,
                    "source": str(source),
                    "source_sha256": digest,
                    "parameters": params,
                    "kernel_name": kernel_name,
                    "timeout": timeout,
                    "env": {**env, RUNS_ENV: params["RUNS_DIR"]},
                    "smoke": smoke,
                    "data_dir": data_dir,
                    "reason": reason,
                }
            )
        if queue:
            queues[row.group] = queue

    total = sum(len(q) for q in queues.values())
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc="notebooks", unit="nb", file=out, disable=not verbose)
    if verbose:
        for r in results:
            bar.write(f"{r.group} / {r.notebook}: skipped ({r.reason})", file=out)
    moved: dict[str, str] = {}
    try:
        if total:
            results += _run_queues(queues, jobs, moved, bar, out, verbose)
    finally:
        bar.close()
    order = {(row.group, stem): i for i, row in enumerate(selected) for stem in sources}
    results.sort(key=lambda r: order[(r.group, r.notebook)])
    return BatchResult(
        runs=tuple(results),
        runs_dir=root,
        smoke=smoke,
        seconds=time.perf_counter() - t_start,
    )


def _check_installed() -> None:
    import importlib.util

    missing = [
        name
        for name in ("papermill", "nbconvert", "nbformat", "jupyter_client", "ipykernel")
        if importlib.util.find_spec(name) is None
    ]
    if missing:
        raise RuntimeError(
            f"Running notebooks needs {', '.join(missing)}, which are not installed. "
            "Install them with: pip install 'cifarlab[dev]' (or pip install papermill "
            "nbconvert ipykernel)."
        )


def _select_groups(assignments: assign.Assignments, groups) -> list[assign.GroupAssignment]:
    if not len(assignments):
        raise ValueError("The assignment table has no groups.")
    if groups is None:
        return list(assignments)
    if isinstance(groups, str):
        groups = [groups]
    if not groups:
        raise ValueError("`groups` is empty: name at least one group, or pass None for all.")
    chosen = []
    for name in groups:
        try:
            row = assignments[name]
        except KeyError as err:
            raise ValueError(str(err.args[0])) from None
        if row not in chosen:
            chosen.append(row)
    return chosen


def _rerun_reason(old, group_dir: Path, stem: str, params, digest: str, force: bool) -> str | None:
    """Why a notebook must run, or None to skip it (it succeeded with the same inputs)."""
    if not old:
        return "first run" if not _outputs(group_dir, stem) else "no status recorded"
    if old.get("status") != "succeeded":
        return "failed before"
    if not old.get("notebook") or not (group_dir / old["notebook"]).is_file():
        return "its executed notebook is missing"
    if _compare_key(old.get("parameters") or {}) != _compare_key(params):
        return "parameters changed"
    if old.get("source_sha256") != digest:
        return "the notebook changed"
    if force:
        return "forced"
    return None


def _move_aside(group_dir: Path, stem: str, moved: dict[str, str]) -> str | None:
    """Move a notebook's earlier outputs into ``previous/<time>/`` (one folder per batch)."""
    existing = _outputs(group_dir, stem)
    if not existing:
        return None
    key = str(group_dir)
    if key not in moved:
        moved[key] = str(assign._new_folder(group_dir / PREVIOUS))
    target = Path(moved[key])
    for path in existing:
        dest = target / path.relative_to(group_dir)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, dest)
    status = _read_status(group_dir)
    old = (status.get("notebooks") or {}).get(stem)
    if old is not None:
        kept = report.read_group_status(target) or {"notebooks": {}}
        kept.setdefault("notebooks", {})[stem] = old
        atomic_write(target / STATUS_FILE, json.dumps(kept, indent=2, default=str) + "\n")
    return str(target.relative_to(group_dir))


def _run_queues(queues, jobs, moved, bar, out, verbose) -> list[NotebookRun]:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    finished: list[NotebookRun] = []
    # A fresh interpreter per worker: no inherited TensorFlow or open files.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(queues)), mp_context=context) as pool:
        pending: dict[Any, dict[str, Any]] = {}

        def submit_next(group: str) -> None:
            queue = queues[group]
            while queue:
                task = queue.popleft()
                task["previous"] = _move_aside(Path(task["group_dir"]), task["stem"], moved)
                try:
                    pending[pool.submit(_execute, task)] = task
                    return
                except (BrokenProcessPool, RuntimeError) as err:
                    finish(task, _crash_record(err))

        def finish(task: dict[str, Any], record: dict[str, Any]) -> None:
            run = _record(task, record)
            finished.append(run)
            bar.update(1)
            if verbose:
                took = f" in {run.seconds:.1f} s" if run.seconds is not None else ""
                line = f"{run.group} / {run.notebook}: {run.status}{took}"
                if run.previous:
                    line += f" (earlier output moved to {run.previous}/)"
                if run.error:
                    line += f": {run.error}"
                bar.write(line, file=out)

        for group in queues:
            submit_next(group)
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                task = pending.pop(future)
                try:
                    record = future.result()
                except Exception as err:  # the worker process died
                    record = _crash_record(err)
                finish(task, record)
                submit_next(task["group"])
    return finished


def _crash_record(err: BaseException) -> dict[str, Any]:
    now = datetime.now().astimezone().isoformat(timespec="seconds")
    return {
        "status": "failed",
        "error": f"{type(err).__name__}: {err} (the worker process ended)",
        "traceback": None,
        "seconds": None,
        "started": now,
        "finished": now,
        "notebook": None,
        "html": None,
    }


def _record(task: dict[str, Any], record: dict[str, Any]) -> NotebookRun:
    """Add a finished notebook to its group's status.json and return its summary."""
    group_dir = Path(task["group_dir"])
    status = _read_status(group_dir)
    status.update(
        {
            "group": task["group"],
            "folder": group_dir.name,
            "superclass": task["superclass"],
            "classes": task["classes"],
        }
    )
    entry = {
        **record,
        "parameters": task["parameters"],
        "source": task["source"],
        "source_sha256": task["source_sha256"],
        "smoke": task["smoke"],
        "synthetic": task["smoke"],
        "data_dir": task["data_dir"],
        "records": f"{RECORDS}/{task['stem']}",
        "previous": task.get("previous"),
        "reason": task["reason"],
    }
    status.setdefault("notebooks", {})[task["stem"]] = entry
    if task["data_dir"] is not None:
        status["data_dir"] = task["data_dir"]
    _write_status(group_dir, status)
    return NotebookRun(
        group=task["group"],
        superclass=task["superclass"],
        notebook=task["stem"],
        status=record["status"],
        seconds=record.get("seconds"),
        error=record.get("error"),
        output=str(group_dir / record["notebook"]) if record.get("notebook") else None,
        html=str(group_dir / record["html"]) if record.get("html") else None,
        previous=task.get("previous"),
        reason=task["reason"],
    )


# --------------------------------------------------------------------------- results


#: Columns of :func:`collect_results`, in order (``top{k}_accuracy`` for other k follow top5).
RESULT_COLUMNS = (
    "group",
    "superclass",
    "notebook",
    "model",
    "run",
    "test_accuracy",
    "top3_accuracy",
    "top5_accuracy",
    "best_val_accuracy",
    "epochs",
    "best_epoch",
    "train_seconds",
    "params",
    "stopped",
    "synthetic",
    "started",
    "path",
)


def _find_run_dirs(root: Path) -> list[Path]:
    """Every run folder (config.json with metrics.json or history.csv) below ``root``.

    Skipped: hidden folders, ``_smoke_data``, ``previous`` (outputs a re-run replaced)
    and ``report`` folders."""
    found = []
    for folder, dirs, files in os.walk(root):
        if "config.json" in files and ("metrics.json" in files or "history.csv" in files):
            found.append(Path(folder))
            dirs[:] = []
            continue
        dirs[:] = sorted(
            d for d in dirs if not d.startswith((".", "_")) and d not in (PREVIOUS, "report")
        )
    return sorted(found)


def _float(value) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def _superclass_name(value) -> str:
    if value in (None, ""):
        return ""
    try:
        return _labels.superclass_name(value)
    except (TypeError, ValueError):
        return str(value)


def _run_row(run_dir: Path, root: Path) -> dict[str, Any] | None:
    try:
        settings = json.loads((run_dir / "config.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(settings, dict):
        return None
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text())
        if not isinstance(metrics, dict):
            metrics = {}
    except (OSError, ValueError):
        metrics = {"stopped": "unfinished"}
    config = settings.get("config") if isinstance(settings.get("config"), dict) else {}
    model = settings.get("model") if isinstance(settings.get("model"), dict) else {}
    test = metrics.get("test") if isinstance(metrics.get("test"), dict) else {}
    group_dir, status = report.find_group(run_dir, root)
    group = config.get("group") or (status or {}).get("group")
    if not group:
        rel = run_dir.relative_to(root).parts
        group = rel[0] if len(rel) >= 2 else ""
    notebook = run_dir.parent.name if run_dir.parent.parent.name == RECORDS else ""
    top_k: dict[int, float] = {}
    for k, v in (test.get("top_k_accuracy") or {}).items():
        if str(k).isdigit():
            top_k[int(k)] = _float(v)
    for key, v in metrics.items():
        m = re.fullmatch(r"test_top(\d+)_accuracy", key)
        if m and v is not None:
            top_k[int(m.group(1))] = _float(v)
    best = metrics.get("best_metrics") if isinstance(metrics.get("best_metrics"), dict) else {}
    test_accuracy = metrics.get("test_accuracy", test.get("accuracy"))
    row = {
        "group": str(group),
        "superclass": _superclass_name(
            config.get("superclass") or (status or {}).get("superclass")
        ),
        "notebook": notebook,
        "model": str(config.get("model") or config.get("variant") or model.get("name") or ""),
        "run": str(settings.get("name") or run_dir.name),
        "test_accuracy": _float(test_accuracy),
        "best_val_accuracy": _float(best.get("val_accuracy")),
        "epochs": metrics.get("epochs_run"),
        "best_epoch": metrics.get("best_epoch"),
        "train_seconds": _float(metrics.get("total_time")),
        "params": model.get("params"),
        "stopped": metrics.get("stopped", "unfinished"),
        "synthetic": bool(settings.get("synthetic") or config.get("synthetic")),
        "started": settings.get("started"),
        "path": str(run_dir),
    }
    for k, v in top_k.items():
        row[f"top{k}_accuracy"] = v
    return row


def collect_results(runs_dir: str | os.PathLike = "runs") -> pd.DataFrame:
    """Every recorded run below ``runs_dir`` in one table, sorted by group and notebook.

    Walks the folder for run records (``config.json`` + ``metrics.json``, as written by
    :func:`cifarlab.train.train`), skipping ``previous/`` folders (outputs a re-run
    replaced). The group comes from the run's config (``group``), the group's
    ``status.json``, or the first folder below ``runs_dir``; the superclass from the
    run's config or the group's assignment. Columns: :data:`RESULT_COLUMNS` (test
    accuracy and top-k are NaN when the run was not evaluated on the test split).

    Example:
        >>> table = collect_results("runs")
        >>> table.groupby("model")["test_accuracy"].mean()
    """
    import pandas as pd

    root = Path(runs_dir).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(
            f"`runs_dir` {root} does not exist or is not a folder. Runs are recorded by "
            "cifarlab.train.train(..., runs_dir=...) and by cifarlab run-notebooks."
        )
    rows = [r for r in (_run_row(p, root) for p in _find_run_dirs(root)) if r is not None]
    extra = sorted(
        {k for r in rows for k in r if k not in RESULT_COLUMNS},
        key=lambda c: int(re.sub(r"\D", "", c) or 0),
    )
    columns = list(RESULT_COLUMNS)
    at = columns.index("top5_accuracy") + 1
    columns[at:at] = extra
    table = pd.DataFrame(rows, columns=columns)
    if rows:
        table = table.sort_values(["group", "notebook", "started", "path"], kind="stable")
        table = table.reset_index(drop=True)
    table.attrs["synthetic"] = bool(table["synthetic"].any()) if rows else False
    return table


def _results_markdown(table: pd.DataFrame, root: Path) -> str:
    shown = table.drop(columns=["path", "started", "run"])
    shown = shown.dropna(axis=1, how="all")
    shown = shown.assign(synthetic=["SYNTHETIC" if s else "real" for s in table["synthetic"]])
    shown = shown.rename(columns={"synthetic": "data"})
    shown = shown.astype(object).where(shown.notna(), None)  # empty cells, not "nan"
    synthetic = bool(table["synthetic"].any())
    lines = [f"# Results: {len(table)} runs in {root}", ""]
    if synthetic:
        lines += [
            f"> **SYNTHETIC**: {int(table['synthetic'].sum())} of these runs used SYNTHETIC "
            "data (smoke checks or offline try-outs): their numbers say nothing about real "
            "CIFAR-100.",
            "",
        ]
    lines.append(shown.to_markdown(index=False, floatfmt=".3f", missingval=""))
    return "\n".join(lines) + "\n"


def write_results(
    runs_dir: str | os.PathLike = "runs", *, out_dir: str | os.PathLike | None = None
) -> ResultsFiles:
    """Write the results table (CSV, Markdown) and a chart of accuracy per group and model.

    ``results.csv`` holds every column of :func:`collect_results`; ``results.md`` the
    readable ones; ``results.png`` the test accuracy of the latest run of each model in
    each group. They are summaries of the runs (which are never changed) and are
    regenerated, atomically, each time.

    Args:
        runs_dir: the folder to collect from.
        out_dir: where to write (default: ``runs_dir``).

    Raises:
        FileNotFoundError: ``runs_dir`` does not exist.
        ValueError: there is no recorded run in it.

    Example:
        >>> files = write_results("runs")
        >>> files.markdown.read_text()
    """
    import matplotlib.pyplot as plt

    table = collect_results(runs_dir)
    root = Path(runs_dir).expanduser()
    if table.empty:
        raise ValueError(
            f"No recorded runs under {root}: a run is a folder with config.json and "
            "metrics.json (cifarlab.train.train records them; cifarlab run-notebooks puts "
            "them in runs/<group>/records/)."
        )
    out = root if out_dir is None else Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path, png_path = out / "results.csv", out / "results.md", out / "results.png"
    atomic_write(csv_path, table.to_csv(index=False))
    atomic_write(md_path, _results_markdown(table, root))
    ax = report.plot_results(table)
    try:
        report.save_figure(ax.figure, png_path)
    finally:
        plt.close(ax.figure)
    return ResultsFiles(
        csv=csv_path,
        markdown=md_path,
        chart=png_path,
        runs=len(table),
        synthetic=bool(table["synthetic"].any()),
    )
