"""Where batch notebooks run: a Dask cluster (``--scheduler``), else a ``LocalCluster`` here.

One code path for both. A task gets what it needs as values (the notebook's bytes, a
submission's files, parameters) and returns what it made as a ``.tar.gz``, so workers need
no shared filesystem. Set-ups (lab PCs, Slurm): docs/instructors.md."""

import contextlib
import io
import logging
import os
import shutil
import socket
import tarfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

STARTS = "cifarlab-task-start"  # Dask event topic: a task began on a worker
CONNECT_TIMEOUT = 10  # seconds to reach a scheduler
WORKERS_TIMEOUT = 60  # seconds to wait for a first worker


@contextlib.contextmanager
def connect(scheduler: str | None = None, *, workers: int = 1):
    """A ``distributed.Client``: to the scheduler at ``scheduler`` (``tcp://HOST:8786``), or
    to a new LocalCluster of ``workers`` processes of one thread each, closed afterwards."""
    from distributed import Client, LocalCluster

    if scheduler is None:
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=":0", memory_limit=0,  # any free port
                          silence_logs=logging.ERROR) as local, Client(local) as client:
            yield client
        return
    start = f"Start one with `dask scheduler`, and workers with `dask worker {scheduler} " \
            "--nthreads 1` (docs/instructors.md)."
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as err:
        raise ConnectionError(f"Cannot reach the Dask scheduler at {scheduler!r} within "
                              f"{CONNECT_TIMEOUT} s ({err}). {start}") from None
    with client:
        try:
            client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
        except TimeoutError:
            raise ConnectionError(f"The Dask scheduler at {scheduler} has no workers (waited "
                                  f"{WORKERS_TIMEOUT} s). {start}") from None
        yield client


def worker_threads(client) -> int:
    """How many tasks the cluster runs at once (its workers' threads)."""
    return max(1, sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values()))


def announce(key: str) -> dict:
    """Where this task runs (worker address, host, pid), told to the scheduler as an event so
    that the instructor's side sees a task that began twice (its first worker died)."""
    where = {"key": key, "worker": None, "host": socket.gethostname(), "pid": os.getpid()}
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):  # not on a Dask worker
        return where
    where["worker"] = worker.address
    worker.log_event(STARTS, where)
    return where


def starts(client, key: str) -> list[dict]:
    """Every start of the task ``key``, in order (more than one: a worker died under it)."""
    return [msg for _, msg in client.get_events(STARTS) if msg.get("key") == key]


def pack(files: Mapping[str, Path]) -> bytes:
    """The ``files`` (name in the archive -> path here) as a ``.tar.gz``, in memory."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        for name in sorted(files):
            tar.add(files[name], arcname=name, recursive=False)
    return buffer.getvalue()


def unpack(archive: bytes, dest: Path) -> list[str]:
    """The regular files of ``archive`` written under ``dest``; their relative paths. An
    absolute path, ``..`` or a link is refused: nothing lands outside ``dest``."""
    names = []
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for member in tar:
            path = PurePosixPath(member.name)
            if path.is_absolute() or ".." in path.parts or not (member.isfile() or member.isdir()):
                raise ValueError(f"Refusing archive member {member.name!r}: only plain files "
                                 "inside the folder are unpacked.")
            if member.isfile():
                target = dest.joinpath(*path.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
                names.append(path.as_posix())
    return names


def files_of(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root``: relative path -> (size, modification time in ns)."""
    return {p.relative_to(root).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file() and not p.is_symlink()}
