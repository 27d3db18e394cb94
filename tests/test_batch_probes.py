"""Probes of issue 14 against the batch runner and the results table: Ctrl-C during
run-notebooks, kernels that do not start on a busy machine, runs the results table lost,
names that reach results.md / results.csv verbatim, a bad history.csv.

One test starts a real kernel (the Ctrl-C one); the others run ``_run_group`` in this
process with papermill replaced by a stand-in, so they take well under a second.
"""

import csv
import hashlib
import json
import os
import threading
import time
from pathlib import Path

import nbformat
import pytest

from cifarlab import assign, notebook_runs, runs
from tests.notebook_files import alive, write_notebook

PARAMETERS = """SUPERCLASS = "fish"
SMOKE = False
DATA_DIR = None
RUNS_DIR = "runs"
MAIN_PID = 0
PID_FILE = "kernel.pid"
"""

# The kernel notes its pid and presses Ctrl-C for the instructor, which a terminal sends to
# run-notebooks and to its Dask worker (the kernel's parent); then it would sleep 5 min.
STOP = """import os, pathlib, signal, time
pathlib.Path(PID_FILE).write_text(str(os.getpid()))
os.kill(os.getppid(), signal.SIGINT)
time.sleep(1)
os.kill(MAIN_PID, signal.SIGINT)
time.sleep(300)
"""


def make_notebook(path, code):
    return write_notebook(path, code, PARAMETERS)


def digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()



# --------------------------------------------------------------------------- Ctrl-C (item 3)


def test_ctrl_c_stops_the_worker_records_it_and_keeps_what_was_moved_aside(tmp_path):
    """Probe: Ctrl-C in run-notebooks gave a raw traceback, left .part files, and status.json
    said "succeeded" for a notebook whose output was already in previous/."""
    notebook = make_notebook(tmp_path / "notebooks" / "01_stop.ipynb", STOP)
    table = assign.assign_superclasses(["Group A"], salt="test")
    # the group ran this notebook before (an older version of it): its outputs are moved aside
    group_dir = tmp_path / "runs" / table["Group A"].folder
    group_dir.mkdir(parents=True)
    (group_dir / "01_stop.ipynb").write_text('{"earlier": "output"}')
    (group_dir / "01_stop.html").write_text("<html>earlier</html>")
    earlier = {"status": "succeeded", "notebook": "01_stop.ipynb", "source_sha256": "older"}
    runs.write_status(group_dir, {"group": "Group A", "notebooks": {"01_stop": earlier}})
    (group_dir / ".01_stop.999-dead.part.log").write_text("left by a run killed long ago")
    kept = {name: digest(group_dir / name) for name in ("01_stop.ipynb", "01_stop.html")}

    seen, move_aside = [], notebook_runs._move_aside

    def spy(folder, stem, old, moved):  # what status.json says when the outputs move
        seen.append(runs.read_status(folder)["notebooks"][stem]["status"])
        return move_aside(folder, stem, old, moved)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(notebook_runs, "_move_aside", spy)
        mp.setenv("KERAS_HOME", str(tmp_path / "keras"))
        with pytest.raises(KeyboardInterrupt) as info:  # a raw one fails below, pytest goes on
            notebook_runs.run_notebooks(table, [notebook], runs_dir=tmp_path / "runs",
                                        smoke=True, verbose=False, start_timeout=600,
                                        parameters={"MAIN_PID": os.getpid(),
                                                    "PID_FILE": str(tmp_path / "kernel.pid")})
    assert isinstance(info.value, notebook_runs.BatchInterrupted), info.value
    result = info.value.result
    assert not result.ok and not result.succeeded
    assert [(r.group, r.status, r.error) for r in result.runs] == [
        ("Group A", "interrupted", "stopped by Ctrl-C")]
    assert "Interrupted (Ctrl-C)" in str(info.value) and "1 interrupted" in str(info.value)
    assert seen == ["running"]  # never "succeeded" once the outputs were gone
    entry = runs.read_status(group_dir)["notebooks"]["01_stop"]
    assert entry["status"] == "interrupted" and entry["error"] == "stopped by Ctrl-C"
    moved = group_dir / entry["previous"]
    assert {name: digest(moved / name) for name in kept} == kept  # nothing lost
    assert runs.read_status(moved)["notebooks"]["01_stop"] == earlier
    assert not (group_dir / "01_stop.ipynb").exists()  # nothing claims to be its output
    assert not list((tmp_path / "runs").rglob(".*.part*"))  # the stale one too
    # the worker was stopped, and so its kernel (which would sleep 5 minutes) ends
    pid, deadline = int((tmp_path / "kernel.pid").read_text()), time.monotonic() + 60
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(pid)


# --------------------------------------------------------------------------- kernel start-up


@pytest.fixture
def group(tmp_path, monkeypatch):
    """One group, one notebook, run by ``_run_group`` in this process with papermill's part
    (``execute_notebook``) replaced by ``group.behave(call_number, output, log)``."""
    source = make_notebook(tmp_path / "01_x.ipynb", "print(1)")
    row = assign.assign_superclasses(["Group A"], salt="test")["Group A"]
    batch = {"smoke": False, "data_dir": None, "kernel_name": "python3", "force": False,
             "timeout": None, "start_timeout": 600.0, "env": {}, "parameters": {}}
    calls = []

    def execute(source_path, output, *, log, **kwargs):
        calls.append(kwargs)
        Path(log).write_text(f"attempt {len(calls)}\n")
        nbformat.write(nbformat.read(source_path, as_version=4), output)  # as papermill does
        group.behave(len(calls))

    monkeypatch.setattr(notebook_runs, "execute_notebook", execute)
    monkeypatch.setattr(notebook_runs, "_worker_data", lambda task: (None, None))  # no CIFAR

    class Group:
        folder = tmp_path / row.folder
        behave = None

        def run(self):  # the task runs here, as a Dask worker would run it
            done = notebook_runs._run_group(row, {"01_x": (str(source), digest(source))},
                                            tmp_path, batch, notebook_runs.run_task,
                                            lambda r: r, threading.Event())
            return done[0], runs.read_status(self.folder)["notebooks"]["01_x"]

    group = Group()
    group.calls = calls
    return group


def test_a_kernel_that_did_not_start_is_started_once_more(group):
    def behave(call):
        if call == 1:
            raise RuntimeError("Kernel didn't respond in 600 seconds")

    group.behave = behave
    run, entry = group.run()
    assert run.status == "succeeded" and entry["status"] == "succeeded"
    assert len(group.calls) == 2 and group.calls[0]["start_timeout"] == 600.0
    assert entry["kernel_retry"] == "RuntimeError: Kernel didn't respond in 600 seconds"
    assert (group.folder / "01_x.log").read_text() == "attempt 2\n"
    assert {p.name for p in group.folder.iterdir()} >= {"01_x.ipynb", "01_x.html"}
    assert not list(group.folder.glob(".*.part*"))  # the first attempt's are gone


def test_a_kernel_that_never_starts_is_retried_once_only(group):
    def behave(call):
        raise RuntimeError("Kernel didn't respond in 600 seconds")

    group.behave = behave
    run, entry = group.run()
    assert run.status == "failed" and len(group.calls) == 2
    assert entry["error"] == entry["kernel_retry"]
    assert not list(group.folder.glob(".*.part*"))


@pytest.mark.parametrize("error", ["in the notebook", "kernel died"])
def test_a_notebook_that_failed_otherwise_is_not_run_again(group, error):
    from papermill.exceptions import PapermillExecutionError

    def behave(call):
        if error == "kernel died":
            raise RuntimeError("Kernel died before replying to kernel_info")
        # the notebook's own code raised, even with the very same words
        raise PapermillExecutionError(1, 1, "", "RuntimeError", "Kernel didn't respond", [])

    group.behave = behave
    run, entry = group.run()
    assert run.status == "failed" and len(group.calls) == 1
    assert entry.get("kernel_retry") is None and (group.folder / "01_x.failed.ipynb").is_file()


def test_kernel_start_timeout_is_a_setting(tmp_path, monkeypatch):
    import papermill

    seen = {}
    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **kw: seen.update(kw))
    monkeypatch.delenv(notebook_runs.KERNEL_START_ENV, raising=False)
    notebook_runs.execute_notebook("in.ipynb", "out.ipynb")
    assert seen["start_timeout"] == 300  # was 120: too short on a busy machine
    monkeypatch.setenv(notebook_runs.KERNEL_START_ENV, "900")
    notebook_runs.execute_notebook("in.ipynb", "out.ipynb")
    assert seen["start_timeout"] == 900
    notebook_runs.execute_notebook("in.ipynb", "out.ipynb", start_timeout=30)
    assert seen["start_timeout"] == 30

    nbs = tmp_path / "notebooks"
    make_notebook(nbs / "01_x.ipynb", "print(1)")
    table = assign.assign_superclasses(["Group A"], salt="test")
    args = dict(notebooks_dir=nbs, runs_dir=tmp_path / "runs", verbose=False)
    monkeypatch.setenv(notebook_runs.KERNEL_START_ENV, "soon")
    with pytest.raises(TypeError, match="CIFARLAB_KERNEL_START_TIMEOUT.* must be a number"):
        notebook_runs.run_notebooks(table, **args)
    with pytest.raises(ValueError, match=r"Expected `start_timeout` in \(0"):
        notebook_runs.run_notebooks(table, start_timeout=0, **args)
    assert not (tmp_path / "runs").exists()


# --------------------------------------------------------------------------- results (items 4, 8)


def fake_run(folder, config, *, metrics=None):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(config if isinstance(config, str) else json.dumps(config))
    if metrics is not None:
        (folder / "metrics.json").write_text(metrics)
    return folder


def test_results_keep_runs_in_report_folders_and_runs_with_a_bad_config(tmp_path):
    """Probe: every folder named ``report`` was skipped, and a run with a corrupt or
    list-valued config.json was dropped without a word."""
    settings = {"name": "net", "started": "2024-01-01T10:00:00+00:00", "synthetic": True}
    done = json.dumps({"epochs": 1, "stopped": "completed", "test_accuracy": 0.5})
    fake_run(tmp_path / "report" / "20240101-100000-net", settings, metrics=done)
    fake_run(tmp_path / "team" / "20240101-110000-broken", "{not json", metrics=done)
    fake_run(tmp_path / "team" / "20240101-120000-listed", "[1, 2]")
    fake_run(tmp_path / "team" / "20240101-130000-half", settings, metrics="{half")
    (tmp_path / "team" / "report" / "report_files").mkdir(parents=True)  # a group's report
    (tmp_path / "team" / "report" / "report.md").write_text("# Report")
    before = {p: digest(p) for p in tmp_path.rglob("*") if p.is_file()}

    table = runs.runs_table(tmp_path)
    stopped = dict(zip(table["run"], table["stopped"], strict=True))
    assert stopped["20240101-100000-net"] == "completed"  # a group named "report"
    assert stopped["20240101-110000-broken"].startswith("config.json unreadable: ")
    assert "not valid JSON" in stopped["20240101-110000-broken"]
    assert "does not hold a JSON object" in stopped["20240101-120000-listed"]
    assert stopped["20240101-130000-half"].startswith("metrics.json unreadable: ")
    assert len(table) == 4
    files = notebook_runs.write_results(tmp_path, out_dir=tmp_path / "out")
    markdown = files.markdown.read_text()
    assert files.runs == 4 and markdown.count("unreadable") == 3
    assert "config.json unreadable" in files.csv.read_text()
    assert {p: digest(p) for p in before} == before  # nothing changed


def test_results_md_and_csv_show_names_as_text(tmp_path):
    """Probe: results.md carried ``<script>`` verbatim, results.csv ran ``=HYPERLINK``."""
    config = {"group": "<script>alert(1)</script>", "model": "=HYPERLINK(\"http://x\",\"y\")",
              "superclass": "fish"}
    fake_run(tmp_path / "<img src=x onerror=alert(1)>" / "20240101-100000-net",
             {"name": "net", "started": "2024-01-01T10:00:00+00:00", "config": config},
             metrics=json.dumps({"epochs": 1, "test_accuracy": 0.5}))
    files = notebook_runs.write_results(tmp_path, out_dir=tmp_path / "out")
    markdown = files.markdown.read_text()
    assert "<script" not in markdown and "&lt;script&gt;alert(1)&lt;/script&gt;" in markdown
    assert "<img" not in markdown
    with open(files.csv, newline="") as f:
        row = next(csv.DictReader(f))
    assert row["model"] == "'=HYPERLINK(\"http://x\",\"y\")" and row["group"].startswith("<scr")
    assert row["test_accuracy"] == "0.5" and row["started"].startswith("2024-01-01 10:00")


# --------------------------------------------------------------------------- history.csv (11)


def test_a_bad_history_csv_names_the_file_row_and_column(tmp_path):
    """Probe: "could not convert string to float: 'abc'", no file named (or a silent NaN)."""
    folder = fake_run(tmp_path / "run", {"name": "r"}, metrics=json.dumps({"epochs": 2}))
    history = folder / "history.csv"
    history.write_text("epoch,loss,val_loss\n1,0.9,1.0\n2,abc,0.8\n")
    before = digest(history)
    with pytest.raises(ValueError, match=r"history.csv row 3, column 'loss': 'abc' is not a"):
        runs.load_run(folder, load_model=False)
    assert digest(history) == before
    history.write_text("epoch,loss,val_loss\n1,0.9,\n2,nan,0.8\n")  # empty and nan: NaN
    assert runs.load_run(folder, load_model=False).history["val_loss"][1] == 0.8
