"""Batch runs on a real Dask cluster: a ``dask scheduler`` and two ``dask worker`` processes on
127.0.0.1 (free ports, stopped at the end), each worker with its own Keras cache, so that
nothing reaches the instructor's side but what a task returns.

The notebooks are tiny ones written here; one notes which worker process ran it, one is
slow enough for a worker to be killed under it.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from cifarlab import assign, cluster, notebook_runs, runs
from tests.notebook_files import alive, write_notebook

START = {"start_timeout": 900}  # a busy machine can take minutes to start a kernel

WHERE = """import os, pathlib
pathlib.Path("where.txt").write_text(f"{os.getppid()}|{os.environ['CIFARLAB_DATA_DIR']}")
print(GREETING, SUPERCLASS)
"""

# notes the worker (the kernel's parent) in MARKERS, then takes long enough to be killed
SLOW = """import os, pathlib, time
pathlib.Path(MARKERS, f"{os.getppid()}-{time.time_ns()}").write_text(str(os.getpid()))
time.sleep(8)
print("done")
"""


PARAMETERS = """SUPERCLASS = "fish"
SMOKE = False
DATA_DIR = None
RUNS_DIR = "runs"
GREETING = "hello"
MARKERS = "."
"""


def make_notebook(path, code):
    return write_notebook(path, code, PARAMETERS)



def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """A scheduler and two single-thread workers (no nanny: a killed worker stays dead)."""
    root = tmp_path_factory.mktemp("cluster")
    address, procs = f"tcp://127.0.0.1:{free_port()}", []
    env = {k: v for k, v in os.environ.items() if k != "CIFARLAB_DATA_DIR"}
    log = open(root / "cluster.log", "w")  # noqa: SIM115 (closed at the end)
    procs.append(subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
         "--port", address.rsplit(":", 1)[1], "--no-dashboard"], stdout=log, stderr=log, env=env))
    for name in ("w1", "w2"):
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", address, "--name", name,
             "--nthreads", "1", "--no-nanny", "--no-dashboard", "--memory-limit", "0"],
            stdout=log, stderr=log, env={**env, "KERAS_HOME": str(root / name / "keras")}))
    from distributed import Client

    try:
        with Client(address, timeout=120) as client:
            client.wait_for_workers(2, timeout=300)
            workers = {addr: (addr, pid) for addr, pid in client.run(os.getpid).items()}
        yield address, workers, root
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()


@pytest.fixture(scope="module")
def cluster_batch(dask_cluster, tmp_path_factory):
    """Two groups x two notebooks on the cluster, smoke mode."""
    address, workers, _ = dask_cluster
    root = tmp_path_factory.mktemp("cluster_batch")
    make_notebook(root / "notebooks" / "01_where.ipynb", WHERE)
    make_notebook(root / "notebooks" / "02_again.ipynb", WHERE)
    table = assign.assign_superclasses(["Group A", "Group B"], salt="test")
    result = notebook_runs.run_notebooks(table, notebooks_dir=root / "notebooks",
                                         runs_dir=root / "runs", scheduler=address, smoke=True,
                                         verbose=False, **START)
    return root, table, result, workers


def test_a_smoke_batch_runs_on_both_workers_and_lands_here(cluster_batch):
    root, table, result, workers = cluster_batch
    assert [(r.group, r.notebook, r.status) for r in result.runs] == [
        (g, nb, "succeeded") for g in ("Group A", "Group B") for nb in ("01_where", "02_again")
    ], result.summary()
    pids = {pid: addr for addr, pid in workers.values()}
    ran_on = set()
    for row in table:
        group_dir = root / "runs" / row.folder
        status = runs.read_status(group_dir)
        assert status["superclass"] == row.superclass
        for stem in ("01_where", "02_again"):
            entry = status["notebooks"][stem]
            assert entry["status"] == "succeeded" and entry["worker"] in pids.values()
            assert {f"{stem}.ipynb", f"{stem}.html", f"{stem}.log"} <= set(os.listdir(group_dir))
            assert row.superclass in (group_dir / f"{stem}.html").read_text()
            ran_on.add(entry["worker"])
        # what the notebook wrote where it ran came back; it ran in a worker's own data
        worker_pid, data_dir = (group_dir / "where.txt").read_text().split("|")
        assert pids[int(worker_pid)] == entry["worker"]
        assert "cifarlab-smoke" in data_dir and str(root) not in data_dir
        assert (group_dir / "previous").is_dir()  # 02's where.txt replaced 01's, kept aside
    assert ran_on == set(pids.values())  # both workers ran tasks
    assert not list((root / "runs").rglob(".*.part*"))
    assert "Group A: 01_where succeeded, 02_again succeeded" in result.summary()


def test_a_second_batch_skips_what_succeeded(cluster_batch, dask_cluster):
    root, table, _, _ = cluster_batch
    again = notebook_runs.run_notebooks(table, notebooks_dir=root / "notebooks",
                                        runs_dir=root / "runs", scheduler=dask_cluster[0],
                                        smoke=True, verbose=False, **START)
    assert [r.status for r in again.runs] == ["skipped"] * 4


def test_a_worker_without_cifar_fails_that_notebook_clearly(dask_cluster, tmp_path):
    make_notebook(tmp_path / "notebooks" / "01_where.ipynb",
                  "from cifarlab import data\ncifar = data.load_cifar100(DATA_DIR)")
    table = assign.assign_superclasses(["Group A"], salt="test")
    result = notebook_runs.run_notebooks(table, notebooks_dir=tmp_path / "notebooks",
                                         runs_dir=tmp_path / "runs", scheduler=dask_cluster[0],
                                         verbose=False, **START)  # full mode: real CIFAR needed
    (run,) = result.runs
    assert run.status == "failed" and "has no cifar100" in run.error
    assert "CIFARLAB_DATA_DIR" in run.error and run.output is None
    entry = runs.read_status(tmp_path / "runs" / table["Group A"].folder)["notebooks"]["01_where"]
    assert entry["status"] == "failed" and entry["worker"] == run.worker


def test_an_unreachable_scheduler_is_a_clear_error_before_anything_runs(tmp_path, monkeypatch):
    make_notebook(tmp_path / "notebooks" / "01_where.ipynb", WHERE)
    table = assign.assign_superclasses(["Group A"], salt="test")
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 2)
    with pytest.raises(ConnectionError, match="Cannot reach the Dask scheduler.*dask scheduler"):
        notebook_runs.run_notebooks(table, notebooks_dir=tmp_path / "notebooks",
                                    runs_dir=tmp_path / "runs",
                                    scheduler=f"tcp://127.0.0.1:{free_port()}", smoke=True)
    assert not (tmp_path / "runs").exists()


def test_a_smoke_grading_runs_on_the_cluster(dask_cluster, tmp_path):
    from cifarlab import grade

    subs = tmp_path / "submissions"
    make_notebook(subs / "Group A" / "01_where.ipynb", WHERE)
    make_notebook(subs / "Group B" / "01_where.ipynb", "raise ValueError('not done yet')")
    files = grade.grade(subs, out_dir=tmp_path / "grading", scheduler=dask_cluster[0],
                        smoke=True, timeout=120, verbose=False, **START)
    rows = {r.group: r for r in files.table.itertuples()}
    assert rows["Group A"].status == "succeeded" and rows["Group B"].status == "failed"
    assert "ValueError: not done yet" in rows["Group B"].error
    assert (tmp_path / "grading" / "Group_A" / "where.txt").is_file()
    assert files.html.is_file() and files.csv.is_file()


def test_a_worker_killed_mid_notebook_is_replaced_and_the_retry_recorded(dask_cluster, tmp_path):
    """Last in this file: it leaves the cluster one worker short."""
    address, workers, _ = dask_cluster
    markers = tmp_path / "markers"
    markers.mkdir()
    make_notebook(tmp_path / "notebooks" / "01_slow.ipynb", SLOW)
    table = assign.assign_superclasses(["Group A"], salt="test")
    killed = []

    def kill_the_first_worker():
        deadline = time.monotonic() + 600
        while not killed and time.monotonic() < deadline:
            if found := sorted(markers.iterdir()):
                pid = int(found[0].name.split("-")[0])
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.1)

    killer = threading.Thread(target=kill_the_first_worker, daemon=True)
    killer.start()
    result = notebook_runs.run_notebooks(table, notebooks_dir=tmp_path / "notebooks",
                                         runs_dir=tmp_path / "runs", scheduler=address,
                                         smoke=True, verbose=False,
                                         parameters={"MARKERS": str(markers)}, **START)
    killer.join(5)
    (run,) = result.runs
    by_pid = {pid: addr for addr, pid in workers.values()}
    assert killed and not alive(killed[0])
    assert run.status == "succeeded", result.summary()
    assert run.retries == (by_pid[killed[0]],) and run.worker != by_pid[killed[0]]
    assert f"its worker {by_pid[killed[0]]} died" in str(run)
    entry = runs.read_status(tmp_path / "runs" / table["Group A"].folder)["notebooks"]["01_slow"]
    assert entry["worker_retries"] == [by_pid[killed[0]]]
    assert len(list(markers.iterdir())) == 2  # it began twice, and finished once
    json.dumps(result.to_dict())
