"""Helpers shared by the benchmarks: timing, machine description, data."""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def timed(fn, *, repeats: int = 5, warmup: int = 1) -> dict:
    """Run ``fn`` ``warmup + repeats`` times; median, min and max of the timed runs (seconds)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"median": statistics.median(times), "min": min(times), "max": max(times), "n": repeats}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}){mem}, Python {platform.python_version()}, {date.today()}"
    )


def cifar100(tiny: bool):
    """Real CIFAR-100 when present (no download), else SYNTHETIC data of the real size.

    Returns ``(data, label)``, where label says which was used.
    """
    from cifarlab import data

    if not tiny:
        try:
            return data.load_cifar100(download=False), "real CIFAR-100"
        except (data.DataNotFoundError, data.CorruptDataError):
            pass
    per_class = (10, 2) if tiny else (500, 100)
    folder = Path(tempfile.gettempdir()) / f"cifarlab-bench-synthetic-{per_class[0]}"
    if not (folder / "cifar-100-python" / "meta").is_file():
        data.write_synthetic_cifar100(
            folder, train_per_class=per_class[0], test_per_class=per_class[1]
        )
    return data.load_cifar100(
        folder
    ), "SYNTHETIC CIFAR-100 in the official format (real data absent)"
