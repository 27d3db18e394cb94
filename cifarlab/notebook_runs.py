"""Every group's notebooks run with papermill (``cifarlab run-notebooks``), and the results.

What lands in ``runs/<group>/`` (status.json, .ipynb, .html, .log, ...): docs/instructors.md."""

import ast
import asyncio
import contextlib
import hashlib
import importlib.util
import json
import os
import re
import secrets
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import CancelledError, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import pandas as pd

from cifarlab import _files, assign, cluster, course, data, runs, synthetic
from cifarlab._checks import did_you_mean, integer, number
from cifarlab._files import atomic_write, jsonable, markdown_text, new_folder, temp_name

RESERVED_PARAMETERS = ("SUPERCLASS", "RUNS_DIR", "SMOKE", "DATA_DIR")  # set by run_notebooks
RECORDS, PREVIOUS, SMOKE_DATA = "records", "previous", "_smoke_data"
KERNEL_START_ENV = "CIFARLAB_KERNEL_START_TIMEOUT"  # seconds a kernel may take to start
_ANSI, _TIME = re.compile(r"\x1b\[[0-9;]*[A-Za-z]"), "%Y-%m-%dT%H:%M:%S%z"


@dataclass(frozen=True)
class NotebookRun:
    """One notebook of one group: succeeded, failed, interrupted or skipped; its outputs; why."""

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
    worker: str | None = None  # the Dask worker that ran it
    retries: tuple[str, ...] = ()  # workers that died while they ran it


    def __str__(self) -> str:
        if self.status == "skipped":
            return f"{self.group} / {self.notebook}: skipped ({self.reason})"
        took = "" if self.seconds is None else f" in {self.seconds:.1f} s"
        aside = f" (earlier output moved to {self.previous}/)" if self.previous else ""
        again = f" (run again: its worker {', '.join(self.retries)} died)" if self.retries else ""
        error = f": {self.error}" if self.error else ""
        return f"{self.group} / {self.notebook}: {self.status}{took}{aside}{again}{error}"


@dataclass(frozen=True)
class BatchResult:
    """What :func:`run_notebooks` did: one :class:`NotebookRun` per group and notebook."""

    runs: tuple[NotebookRun, ...] = field(repr=False)
    runs_dir: Path
    smoke: bool
    seconds: float

    synthetic = property(lambda self: self.smoke, doc="True in smoke mode (SYNTHETIC data).")
    succeeded = property(lambda self: tuple(r for r in self.runs if r.status == "succeeded"))
    failed = property(lambda self: tuple(r for r in self.runs if r.status == "failed"))
    skipped = property(lambda self: tuple(r for r in self.runs if r.status == "skipped"))
    interrupted = property(lambda self: tuple(r for r in self.runs if r.status == "interrupted"))
    ok = property(lambda self: not self.failed and not self.interrupted, doc="All went well.")

    def to_dict(self) -> dict[str, Any]:
        return {**jsonable(asdict(self)), "synthetic": self.smoke, "ok": self.ok}

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(r) for r in self.runs])

    def summary(self) -> str:
        """Counts, each group's, then each failure with its error."""
        mark = " (smoke mode, SYNTHETIC data)" if self.smoke else ""
        stopped = f", {len(self.interrupted)} interrupted (run again)" if self.interrupted else ""
        groups = dict.fromkeys(r.group for r in self.runs)
        return "\n".join([
            f"{len(self.succeeded)} succeeded, {len(self.failed)} failed, {len(self.skipped)} "
            f"skipped (succeeded earlier){stopped} in {self.seconds:.0f} s{mark}; outputs in "
            f"{self.runs_dir}/",
            *(f"  {g}: " + ", ".join(f"{r.notebook} {r.status}" for r in self.runs
                                     if r.group == g) for g in groups),
            *(f"  FAILED {r.group} / {r.notebook}: {r.error}" for r in self.failed)])


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped :func:`run_notebooks`; ``result``: what ran (stopped: "interrupted")."""

    def __init__(self, result: BatchResult) -> None:
        super().__init__(f"Interrupted (Ctrl-C): {result.summary()}")
        self.result = result


def find_notebooks(selectors: Sequence[str | os.PathLike] | None = None, *,
                   notebooks_dir: str | os.PathLike = "notebooks") -> tuple[Path, ...]:
    """The notebooks to run, each with a ``parameters`` cell. ``selectors``: paths, or names in
    ``notebooks_dir`` (``"01"``, ``"01_baseline"``); None: every ``NN_*.ipynb`` there."""
    import nbformat

    root = Path(notebooks_dir).expanduser()
    listed = sorted(p for p in root.glob("*.ipynb") if re.match(r"\d+_", p.name))
    if selectors is None and not listed:
        raise FileNotFoundError(f"No numbered notebooks (NN_topic.ipynb) in {root}." if
                                root.is_dir() else f"`notebooks_dir` {root} does not exist. "
                                "Pass notebooks_dir= (--notebooks-dir) or the notebook paths.")
    selectors = [selectors] if isinstance(selectors, (str, os.PathLike)) else selectors
    chosen = listed if selectors is None else [_match(s, root, listed) for s in selectors]
    if not chosen:
        raise ValueError("`notebooks` is empty: name at least one notebook.")
    for i, path in enumerate(chosen):
        if twin := next((p for p in chosen[:i] if p.stem == path.stem), None):
            raise ValueError(f"Notebook {path.stem!r} is selected twice ({twin} and {path}): "
                             "their outputs would clash.")
        try:
            cells = nbformat.read(path, as_version=4).cells
        except Exception as err:  # nbformat raises several kinds for a broken file
            raise ValueError(f"Notebook {path} cannot be read as a notebook ({err}).") from None
        if not any("parameters" in c.metadata.get("tags", []) for c in cells):
            raise ValueError(f"Notebook {path} has no cell tagged 'parameters', so papermill "
                             "cannot give it the group's SUPERCLASS. Tag the cell that sets "
                             "SUPERCLASS, SMOKE, DATA_DIR, RUNS_DIR (View > Cell metadata).")
    return tuple(chosen)


def _match(selector, root: Path, listed: list[Path]) -> Path:
    """A notebook path, or the one notebook of ``listed`` with this name or number."""
    path = Path(selector).expanduser()
    if path.suffix == ".ipynb" and (path.is_file() or len(path.parts) > 1):
        if not path.is_file():
            raise FileNotFoundError(f"Notebook {path} does not exist.")
        return path
    name = path.name.removesuffix(".ipynb")
    if len(hits := [p for p in listed if p.stem == name]
           or [p for p in listed if p.stem.split("_")[0] == name]) == 1:
        return hits[0]
    valid = ", ".join(p.stem for p in listed) or f"none: {root} has no NN_topic.ipynb notebooks"
    raise ValueError(f"{'Ambiguous' if hits else 'Unknown'} notebook {os.fspath(selector)!r}."
                     f"{did_you_mean(name, [p.stem for p in listed])} Valid: {valid}.")


def parse_parameter(name: str, value: str) -> tuple[str, Any]:
    """A ``-p NAME VALUE`` pair, the value a Python literal when it is one: ``("EPOCHS", 30)``."""
    _check_parameter(name, value)
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


def _check_parameter(name: object, value: object) -> None:
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError("Parameter names must be Python identifiers (EPOCHS, SEED, ...). "
                         f"Received: {name!r}.")
    if name in RESERVED_PARAMETERS:
        how = {"SMOKE": "use smoke=True (--smoke)", "DATA_DIR": "use data_dir= (--data-dir)"}
        raise ValueError(f"Parameter {name!r} is set by run_notebooks: "
                         f"{how.get(name, 'it is set per group')}.")
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise TypeError(f"Parameter {name!r} must be a plain value (number, string, bool, "
                        f"None, list or dict). Received: {value!r}.") from None


def _check_setup(kernel_name: str) -> None:
    """papermill and its helpers are installed, and so is the Jupyter kernel ``kernel_name``."""
    needs = ("papermill", "nbconvert", "nbformat", "jupyter_client", "ipykernel",
             "distributed")
    if missing := [n for n in needs if importlib.util.find_spec(n) is None]:
        raise RuntimeError(f"Running notebooks needs {', '.join(missing)}, not installed: pip "
                           "install 'cifarlab[instructor]'.")
    from jupyter_client.kernelspec import find_kernel_specs

    if kernel_name not in (names := sorted(find_kernel_specs())):
        hint = f"{did_you_mean(kernel_name, names)} Installed: {', '.join(names) or 'none'}"
        raise ValueError(f"Unknown Jupyter kernel {kernel_name!r}.{hint} (python -m ipykernel "
                         "install --user adds one).")


@contextlib.contextmanager
def _output_to(log: Path):
    """Standard output and error of this process, and so of the kernel, into a new ``log``."""
    sys.stdout.flush(), sys.stderr.flush()
    saved, fd = (os.dup(1), os.dup(2)), os.open(log, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    os.dup2(fd, 1), os.dup2(fd, 2), os.close(fd)
    try:
        yield
    finally:
        sys.stdout.flush(), sys.stderr.flush()
        os.dup2(saved[0], 1), os.dup2(saved[1], 2), os.close(saved[0]), os.close(saved[1])


def _start_timeout(value) -> float:
    """Seconds a kernel may take to start: ``value``, else $CIFARLAB_KERNEL_START_TIMEOUT, 300."""
    name, value = ("start_timeout", value) if value is not None else (
        KERNEL_START_ENV, parse_parameter("X", os.environ.get(KERNEL_START_ENV) or "300")[1])
    return number(name, value, low=0, low_open=True)


def execute_notebook(source, output, *, parameters=None, env=None, cwd=None,
                     kernel_name: str = "python3", timeout=None, start_timeout=None,
                     log=None) -> None:
    """Run one notebook with papermill, its kernel started with ``env`` (None: unset; restored
    after) within ``start_timeout`` s; ``log``: a file for what the kernel prints outside it."""
    import papermill

    environ = {k: v for k, v in {**os.environ, **(env or {})}.items() if v is not None}
    with mock.patch.dict(os.environ, environ, clear=True), \
            _output_to(log) if log else contextlib.nullcontext():
        papermill.execute_notebook(source, output, parameters=parameters or {}, cwd=cwd,
                                   kernel_name=kernel_name, progress_bar=False,
                                   execution_timeout=timeout,
                                   start_timeout=_start_timeout(start_timeout))


def _execute(source: Path, out: Path, cwd: Path, task: dict, parameters: dict, env: dict,
             retried: bool = False) -> dict[str, Any]:
    """One notebook with papermill, its .ipynb, .log and .html made in ``out`` (``.failed.*``
    on failure). A failure is recorded, not raised; a kernel that did not start, retried once."""
    from nbconvert import HTMLExporter
    from papermill.exceptions import PapermillExecutionError

    stem = task["stem"]
    made = {ext: out / f"{stem}.part{ext}" for ext in (".ipynb", ".html", ".log")}
    record, t0 = {"error": None, "traceback": None, "started": time.strftime(_TIME)}, time.time()
    try:
        execute_notebook(source, made[".ipynb"], parameters=parameters, env=env, cwd=cwd,
                         kernel_name=task["kernel_name"], timeout=task["timeout"],
                         start_timeout=task["start_timeout"], log=made[".log"])
    except PapermillExecutionError as err:
        record["error"] = f"{err.ename}: {err.evalue} (cell [{err.exec_count}])"
        record["traceback"] = _ANSI.sub("", "\n".join(err.traceback or []))[-4000:]
    except Exception as err:  # kernel died, a cell timed out, ...: recorded, the batch goes on
        record["error"] = f"{type(err).__name__}: {_ANSI.sub('', str(err)).strip()}"
        if "Kernel didn't respond" in str(err) and not retried:  # a busy machine
            for path in made.values():
                path.unlink(missing_ok=True)
            again = _execute(source, out, cwd, task, parameters, env, retried=True)
            return {**again, "kernel_retry": record["error"]}
    record.update(status="failed" if record["error"] else "succeeded",
                  finished=time.strftime(_TIME), seconds=round(time.time() - t0, 2))
    if made[".ipynb"].is_file():
        try:
            made[".html"].write_text(HTMLExporter().from_filename(str(made[".ipynb"]))[0])
        except Exception as err:  # the notebook itself is still worth keeping
            record["html_error"] = f"{type(err).__name__}: {err}"
    name = f"{stem}.failed" if record["error"] else stem
    for key, ext in (("notebook", ".ipynb"), ("html", ".html"), ("log", ".log")):
        record[key] = f"{name}{ext}" if made[ext].is_file() else None
        if record[key]:
            os.replace(made[ext], out / record[key])
    return record


_ONE_AT_A_TIME = threading.Lock()  # a notebook takes over its process's output and environment
_DATA_FOUND: set = set()  # (dataset, data_dir, $CIFARLAB_DATA_DIR) this worker has loaded
_USES_CIFAR100 = r"load_cifar100|load_notebook_data|get_cifar"  # in a notebook's source


def _worker_data(task: dict) -> tuple[str | None, str | None]:
    """The data folder for this notebook on this worker (smoke: SYNTHETIC, written once in
    its own Keras cache), or None and why the worker has no CIFAR (full mode)."""
    if task["smoke"]:
        return _smoke_data(data.keras_cache_dir() / "cifarlab-smoke"), None
    text = task["notebook"].decode("utf-8", "replace")
    for name, load, used in (("cifar100", data.load_cifar100, _USES_CIFAR100),
                             ("cifar10", data.load_cifar10, r"cifar10\b")):
        key = (name, task["data_dir"], os.environ.get(data.ENV_VAR))
        if key in _DATA_FOUND or not re.search(used, text, re.I):
            continue
        try:
            load(task["data_dir"], verbose=False)
        except (data.DataNotFoundError, data.DownloadError, OSError, ValueError) as err:
            return None, (f"DataNotFoundError: worker {socket.gethostname()} has no {name} for "
                          f"this notebook ({err}). Put the official archive in that machine's "
                          f"Keras cache or set {data.ENV_VAR} where its worker starts.")
        _DATA_FOUND.add(key)
    return task["data_dir"], None


def _smoke_data(parent: Path) -> str:
    """SYNTHETIC CIFAR-100 and CIFAR-10 of smoke size in ``parent/<train>-<test>``, written
    once (atomically: another process that writes it too, at once, writes the same bytes)."""
    sizes = course.SMOKE_TRAIN_PER_CLASS, course.SMOKE_TEST_PER_CLASS
    folder = parent / f"{sizes[0]}-{sizes[1]}"
    if not all((folder / s.folder / s.meta_file).is_file() for s in (data.CIFAR100, data.CIFAR10)):
        folder.parent.mkdir(parents=True, exist_ok=True)
        part = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.part"))
        for write in (synthetic.write_synthetic_cifar100, synthetic.write_synthetic_cifar10):
            write(part, train_per_class=sizes[0], test_per_class=sizes[1], seed=0)
        with contextlib.suppress(OSError):  # OSError: another process put it there first
            os.rename(part, folder)
        shutil.rmtree(part, ignore_errors=True)
    return str(folder)


def run_task(task: dict[str, Any]) -> dict[str, Any]:
    """On a worker: one notebook in a new temporary folder (a submission's ``files`` unpacked
    there first). Its record, with ``outputs``: what it made, as a .tar.gz of paths relative
    to the group's folder (the notebook, its HTML and log, and what it wrote where it ran)."""
    with _ONE_AT_A_TIME, tempfile.TemporaryDirectory(prefix="cifarlab-task-") as tmp:
        where = cluster.announce(task["key"])
        work, out, source = Path(tmp, "work"), Path(tmp, "out"), Path(tmp, "source.ipynb")
        work.mkdir(), out.mkdir(), source.write_bytes(task["notebook"])
        if task.get("files"):
            cluster.unpack(task["files"], work)
        before = cluster.files_of(work)
        data_dir, problem = _worker_data(task)
        if problem:
            now = time.strftime(_TIME)
            record = {"status": "failed", "error": problem, "started": now, "finished": now,
                      "seconds": 0.0, "notebook": None, "html": None, "log": None}
        else:
            env = {**task["env"], **({data.ENV_VAR: data_dir} if data_dir else {})}
            record = _execute(source, out, work, task, {**task["parameters"], "DATA_DIR": data_dir},
                              env)
        after = cluster.files_of(work)
        if gone := sorted(set(before) - set(after)):
            record["deleted"] = gone  # a submission's own files it removed while it ran
        files = {name: work / name for name in after if before.get(name) != after[name]}
        files.update({p.name: p for p in out.iterdir() if p.is_file()})
        return {**record, "worker": where["worker"], "host": where["host"],
                "outputs": cluster.pack(files)}


def _folders(runs_dir, data_dir, smoke: bool, check_only: bool = False) -> tuple[Path, str | None]:
    """The runs folder (made) and the data folder (smoke: SYNTHETIC CIFAR, written once)."""
    if data_dir is not None and smoke:
        raise ValueError("`data_dir` cannot be combined with smoke=True: smoke mode uses its own "
                         "small SYNTHETIC dataset. Drop one of them.")
    if data_dir is not None and not (data_dir := Path(data_dir).expanduser()).exists():
        raise FileNotFoundError(f"`data_dir` {data_dir} does not exist.")
    if (root := Path(runs_dir).expanduser()).exists() and not root.is_dir():
        raise ValueError(f"`runs_dir` {root} is a file, not a folder.")
    if check_only:
        return root, None
    root.mkdir(parents=True, exist_ok=True)
    if not smoke:
        return root.resolve(), data_dir and str(data_dir.resolve())
    return root.resolve(), _smoke_data(root.resolve() / SMOKE_DATA)  # for reports here


def _outputs(group_dir: Path, stem: str) -> list[Path]:
    """A notebook's outputs in its group's folder: .ipynb, .html, .log (or .failed.*), records."""
    return [*group_dir.glob(f"{stem}.*"), *(p for p in [group_dir / RECORDS / stem] if p.exists())]


def _rerun_reason(old, group_dir: Path, stem: str, params, digest: str, force: bool) -> str | None:
    """Why a notebook must run, or None to skip it (it succeeded with the same inputs)."""
    if not old:
        return "no status recorded" if _outputs(group_dir, stem) else "first run"
    if old.get("status") != "succeeded":
        return "failed before" if old.get("status") == "failed" else "interrupted before"
    if not (group_dir / (old.get("notebook") or "")).is_file():
        return "its executed notebook is missing"
    before, now = (jsonable({**p, "RUNS_DIR": None}) for p in (old.get("parameters") or {}, params))
    if before != now:
        return "parameters changed"
    if old.get("source_sha256") != digest:
        return "the notebook changed"
    return "forced" if force else None


def _move_aside(group_dir: Path, stem: str, old, moved: list[Path]) -> str | None:
    """Move a notebook's outputs and status entry into ``previous/<time>/`` (one per batch)."""
    if not (existing := _outputs(group_dir, stem)):
        return None
    if not moved:
        moved.append(new_folder(group_dir / PREVIOUS))
    for path in existing:
        (moved[0] / path.relative_to(group_dir)).parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, moved[0] / path.relative_to(group_dir))
    if old is not None:
        kept = (runs.read_status(moved[0]) or {}).get("notebooks", {})
        runs.write_status(moved[0], {"notebooks": {**kept, stem: old}})
    return str(moved[0].relative_to(group_dir))


def _write_outputs(group_dir: Path, outputs: bytes, moved: list[Path]) -> bool:
    """A task's outputs into the group's folder, each file renamed into place; a file of the
    same name already there (not a notebook's own output, those moved before) goes aside.
    Whether one did."""
    part, aside = Path(tempfile.mkdtemp(dir=group_dir, prefix=".outputs.part.")), False
    try:
        for name in cluster.unpack(outputs, part):
            target = group_dir / name
            if target.exists():
                if not moved:
                    moved.append(new_folder(group_dir / PREVIOUS))
                (moved[0] / name).parent.mkdir(parents=True, exist_ok=True)
                os.replace(target, moved[0] / name)
                aside = True
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(part / name, target)
    finally:
        shutil.rmtree(part, ignore_errors=True)
    return aside


def _run_group(row, sources: dict, root: Path, batch: dict, submit, finish, stop,
               files: bytes | None = None) -> list:
    """A group's notebooks in turn, until ``stop``: skipped, or "running" in status.json, run
    by ``submit(task)`` (a Dask worker), and what it made written into the group's folder."""
    group_dir, moved, done = root / row.folder, [], []
    for stem, (source, digest) in sources.items():
        if stop.is_set():
            break
        runs_dir = f"{RECORDS}/{stem}"  # relative: the task's working folder is the group's
        params = {"SUPERCLASS": row.superclass, "SMOKE": batch["smoke"],
                  "DATA_DIR": batch["data_dir"], "RUNS_DIR": runs_dir, **batch["parameters"]}
        params = {k: v for k, v in params.items() if k != "SUPERCLASS" or v is not None}
        status = runs.read_status(group_dir) or {}
        old = status.get("notebooks", {}).get(stem)
        task = {**batch, "key": f"{stem}-{row.folder}-{secrets.token_hex(4)}", "stem": stem,
                "group_dir": str(group_dir), "source": source, "source_sha256": digest,
                "parameters": params, "previous": None, "files": files,
                "env": {**batch["env"], course.RUNS_ENV: runs_dir},
                "reason": _rerun_reason(old, group_dir, stem, params, digest, batch["force"])}
        if task["reason"] is None:
            done.append(finish(_summary(row, task, {**old, "status": "skipped"})))
            continue
        status.update(group=row.group, folder=row.folder, superclass=row.superclass,
                      classes=list(row.classes))
        status["data_dir"] = batch["data_dir"] or status.get("data_dir")
        status.setdefault("notebooks", {})[stem] = {"status": "running", "reason": task["reason"]}
        group_dir.mkdir(parents=True, exist_ok=True)
        runs.write_status(group_dir, status)
        task["previous"] = _move_aside(group_dir, stem, old, moved)
        stage = "running it (the worker ended)"
        try:
            record = submit({**task, "notebook": Path(source).read_bytes()})
            stage = f"writing its outputs into {group_dir}"
            if _write_outputs(group_dir, record.pop("outputs"), moved):
                task["previous"] = str(moved[0].relative_to(group_dir))
        except (Exception, CancelledError, asyncio.CancelledError) as err:  # Ctrl-C, a worker
            record = {"status": "interrupted" if stop.is_set() else "failed", "seconds": None,
                      "finished": time.strftime(_TIME), "error": "stopped by Ctrl-C" if
                      stop.is_set() else f"{type(err).__name__} while {stage}: {err}"}
        for part in group_dir.glob(".*.part*"):  # of a stopped run
            shutil.rmtree(part) if part.is_dir() else part.unlink(missing_ok=True)
        status["notebooks"][stem] = entry = {
            **record, **{k: task[k] for k in ("parameters", "source", "source_sha256", "smoke",
                                              "data_dir", "previous", "reason")},
            "synthetic": batch["smoke"], "records": f"{RECORDS}/{stem}"}
        runs.write_status(group_dir, status)
        done.append(finish(_summary(row, task, entry)))
    return done


def _summary(row: assign.GroupAssignment, task: dict, entry: dict) -> NotebookRun:
    """A notebook's :class:`NotebookRun` from its status.json entry."""
    at = [entry.get(k) and os.path.join(task["group_dir"], entry[k]) for k in ("notebook", "html")]
    why = task["reason"] or "succeeded earlier with the same parameters (force re-runs it)"
    return NotebookRun(row.group, row.superclass, task["stem"], entry["status"],
                       entry.get("seconds"), entry.get("error"), *at, task["previous"], why,
                       entry.get("worker"), tuple(entry.get("worker_retries") or ()))


def _sources(paths) -> dict[str, tuple[str, str]]:
    """``{stem: (path, SHA-256 of its bytes)}`` of the notebooks at ``paths``."""
    return {p.stem: (str(p.resolve()), hashlib.sha256(p.read_bytes()).hexdigest())
            for p in paths}


def _run_batch(plan, runs_dir, data_dir, batch: dict, *, scheduler: str | None,
               jobs: int | None, verbose: bool, out, t0: float) -> BatchResult:
    """Each ``(row, sources, files)`` of ``plan`` by :func:`_run_group` into ``runs_dir``,
    ``jobs`` groups at a time, every notebook a task on the Dask cluster at ``scheduler``
    (None: a LocalCluster of ``jobs`` workers here). Folders are checked before connecting."""
    _folders(runs_dir, data_dir, batch["smoke"], check_only=True)
    with cluster.connect(scheduler, workers=min(jobs or 1, len(plan))) as client:
        root, batch["data_dir"] = _folders(runs_dir, data_dir, batch["smoke"])
        return _run_on(client, plan, root, batch, verbose=verbose, t0=t0,
                       jobs=jobs or (cluster.worker_threads(client) if scheduler else 1),
                       out=sys.stderr if out is None else out)


def _run_on(client, plan, root: Path, batch: dict, *, jobs: int, verbose: bool, out,
            t0: float) -> BatchResult:
    """:func:`_run_batch` on ``client``'s cluster, into the folder ``root``."""
    from tqdm.auto import tqdm

    lock, stop, inflight = threading.Lock(), threading.Event(), set()

    def submit(task: dict) -> dict:
        future = client.submit(run_task, task, key=task["key"], pure=False)
        with lock:
            inflight.add(future)
        try:
            record = future.result()
        finally:
            with lock:
                inflight.discard(future)
        if len(started := cluster.starts(client, task["key"])) > 1:  # its worker died
            record["worker_retries"] = [s["worker"] for s in started[:-1]]
        return record

    bar = tqdm(total=sum(len(p[1]) for p in plan), desc="notebooks", unit="nb", file=out,
               disable=not verbose)

    def finish(run: NotebookRun) -> NotebookRun:
        with lock:
            bar.update(1)
            if verbose:
                bar.write(str(run), file=out)
        return run

    with bar, ThreadPoolExecutor(jobs) as threads:
        done = [threads.submit(_run_group, row, sources, root, batch, submit, finish, stop,
                               files) for row, sources, files in plan]
        try:
            wait(done)
        except KeyboardInterrupt:  # cancel what runs, record it, close the cluster
            stop.set()
            with lock:
                client.cancel(list(inflight))
            wait(done)
    result = BatchResult(tuple(run for group in done for run in group.result()), root,
                         batch["smoke"], time.perf_counter() - t0)
    if stop.is_set():
        raise BatchInterrupted(result)
    return result


def run_notebooks(
    assignments: assign.Assignments | str | os.PathLike,
    notebooks: Sequence[str | os.PathLike] | None = None, *,
    notebooks_dir: str | os.PathLike = "notebooks", runs_dir: str | os.PathLike = "runs",
    groups: Sequence[str] | None = None, jobs: int | None = None, scheduler: str | None = None,
    smoke: bool = False, force: bool = False, data_dir: str | os.PathLike | None = None,
    parameters: Mapping[str, Any] | None = None, kernel_name: str = "python3",
    timeout: float | None = None, start_timeout=None, verbose: bool = True, out=None,
) -> BatchResult:
    """Run ``notebooks`` (:func:`find_notebooks`; None: all) for each group of ``assignments``
    (or its CSV) with ``SUPERCLASS``, ``SMOKE``, ``DATA_DIR``, ``RUNS_DIR`` and ``parameters``
    set, each notebook a task on the Dask cluster at ``scheduler`` (None: a LocalCluster of
    ``jobs`` workers here), ``jobs`` groups at a time (None: 1 here, the cluster's threads
    there); its outputs land in ``runs_dir/<group>/``. What succeeded with the same inputs is
    skipped unless ``force``. ``smoke``: small SYNTHETIC data. ``timeout``: seconds per cell;
    ``start_timeout``: per kernel ($CIFARLAB_KERNEL_START_TIMEOUT, 300). Ctrl-C: BatchInterrupted"""
    t0 = time.perf_counter()
    _check_setup(kernel_name)
    if not isinstance(assignments, assign.Assignments):
        assignments = assign.read_assignments(assignments)
    batch = _batch_settings(jobs=jobs, smoke=smoke, force=force, verbose=verbose,
                            timeout=timeout, start_timeout=start_timeout, parameters=parameters,
                            kernel_name=kernel_name)
    if groups is not None and not (groups := [groups] if isinstance(groups, str) else groups):
        raise ValueError("`groups` is empty: name at least one group, or pass None for all.")
    try:
        selected = list(dict.fromkeys(assignments[g] for g in groups or assignments.names))
    except KeyError as err:
        raise ValueError(str(err.args[0])) from None
    sources = _sources(find_notebooks(notebooks, notebooks_dir=notebooks_dir))
    return _run_batch([(row, sources, None) for row in selected], runs_dir, data_dir, batch,
                      scheduler=scheduler, jobs=jobs, verbose=verbose, out=out, t0=t0)


def _batch_settings(*, jobs, smoke, force, verbose, timeout, start_timeout, parameters,
                    kernel_name) -> dict[str, Any]:
    """The settings every task of a batch shares, checked (ValueError/TypeError)."""
    if jobs is not None:
        integer("jobs", jobs)
    for flag, value in (("smoke", smoke), ("force", force), ("verbose", verbose)):
        if not isinstance(value, bool):
            raise TypeError(f"`{flag}` must be True or False. Received: {flag}={value!r}.")
    for name, value in (parameters or {}).items():
        _check_parameter(name, value)
    env = {course.SMOKE_ENV: "1" if smoke else None,
           "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
           "MPLBACKEND": "module://matplotlib_inline.backend_inline"}  # figures in the HTML
    return {"smoke": smoke, "kernel_name": kernel_name, "force": force, "env": env,
            "timeout": None if timeout is None else number("timeout", timeout, low=0,
                                                           low_open=True),
            "start_timeout": _start_timeout(start_timeout), "parameters": dict(parameters or {})}


def _exercises_of(table: pd.DataFrame) -> list[str | None]:
    """Per run of a batch: "passed/checked" of the exercise checks its notebook recorded."""
    from cifarlab.exercises import collect_results

    folders = [Path(p).parent if nb else None
               for p, nb in zip(table["path"], table["notebook"], strict=True)]
    scores = {folder: exercise_score(collect_results(folder)) for folder in set(folders) - {None}}
    return [scores.get(folder) for folder in folders]


def exercise_score(checks: pd.DataFrame) -> str | None:
    """The "passed/checked" of :func:`cifarlab.exercises.collect_results` rows, or None."""
    return f"{int(checks['passed'].sum())}/{len(checks)}" if len(checks) else None


@dataclass(frozen=True)
class ResultsFiles:
    """What :func:`write_results` wrote: the table as CSV and Markdown, and the chart."""

    csv: Path
    markdown: Path
    chart: Path
    runs: int
    synthetic: bool

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))


def results_markdown(table, root) -> str:
    """The results table as a Markdown page (SYNTHETIC runs flagged at the top)."""
    first = ["group", "superclass", "notebook", "model"]
    rest = [c for c in table.columns if c not in [*first, "path", "started", "run", "name"]]
    shown = table[first + rest].dropna(axis=1, how="all").astype(object)
    shown = shown.map(lambda v: markdown_text(v) if isinstance(v, str) else v)  # names as text
    shown["synthetic"] = ["SYNTHETIC" if s else "real" for s in table["synthetic"]]
    lines = [f"# Results: {len(table)} runs in {markdown_text(root)}", ""]
    if n := int(table["synthetic"].sum()):
        lines += [f"> **SYNTHETIC**: {n} of these runs used SYNTHETIC data (smoke checks or "
                  "offline try-outs): their numbers say nothing about real CIFAR-100.", ""]
    shown = shown.rename(columns={"synthetic": "data"}).where(shown.notna(), None)
    lines.append(shown.to_markdown(index=False, floatfmt=".3f", missingval=""))
    return "\n".join(lines) + "\n"


def write_results(runs_dir: str | os.PathLike = "runs", *,
                  out_dir: str | os.PathLike | None = None) -> ResultsFiles:
    """``results.csv`` (every column of :func:`cifarlab.runs.runs_table`, and ``exercises``:
    the checks passed in the notebook that made the run), ``results.md`` and ``results.png``
    (test accuracy per group and model) in ``out_dir`` (or ``runs_dir``)."""
    import matplotlib.pyplot as plt

    from cifarlab import plots

    table, root = runs.runs_table(runs_dir), Path(runs_dir).expanduser()
    if table.empty:
        raise ValueError(f"No recorded runs under {root}: a run is a folder with config.json and"
                         " metrics.json (cifarlab.train.train records them; cifarlab "
                         "run-notebooks puts them in runs/<group>/records/).")
    table.insert(table.columns.get_loc("test_accuracy"), "exercises", _exercises_of(table))
    out = root if out_dir is None else Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    files = ResultsFiles(out / "results.csv", out / "results.md", out / "results.png",
                         len(table), bool(table["synthetic"].any()))
    atomic_write(files.csv, table.map(_files.spreadsheet_text).to_csv(index=False))  # no formulas
    atomic_write(files.markdown, results_markdown(table, root))
    figure = plots.plot_results(table).figure
    figure.savefig(png := temp_name(files.chart), format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    os.replace(png, files.chart)
    return files
