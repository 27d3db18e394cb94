"""Helpers shared by the benchmarks: timing, memory, child processes, machine, data."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]

#: How the doc names the data when real CIFAR-100 is absent.
SYNTHETIC_LABEL = (
    "SYNTHETIC CIFAR-100 of the real size (500 training and 100 test images per class) "
    "in the official format; real data absent"
)


def summary(values) -> dict:
    """Median, min, max and count of a list of numbers (seconds, MB, ...)."""
    values = [float(v) for v in values]
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def timed(fn, *, repeats: int = 5, warmup: int = 1) -> dict:
    """Run ``fn`` ``warmup + repeats`` times; median, min and max of the timed runs (seconds)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return summary(times)


def spread(t: dict, *, unit: str = "s", scale: float = 1.0, digits: int = 1) -> str:
    """``"1.2 s (min 1.1, max 1.4, n=5)"`` from a :func:`summary` dict."""
    m, lo, hi = (t[k] * scale for k in ("median", "min", "max"))
    return f"{m:.{digits}f} {unit} (min {lo:.{digits}f}, max {hi:.{digits}f}, n={t['n']})"


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (the kernel's own accounting)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes vs KiB


def current_rss_mb() -> float:
    """Resident memory of this process now, in MiB (falls back to the peak off Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mb()


def run_child(module: str, *args: object, env: dict | None = None, timeout: float = 600) -> dict:
    """Run ``python -m benchmarks.<module> --child ARGS`` and return the JSON it prints last.

    Memory and threading are measured in a fresh process each: peak RSS covers
    only that way's work, and TensorFlow's thread pools are set before it starts.
    """
    cmd = [sys.executable, "-m", f"benchmarks.{module}", "--child", *map(str, args)]
    child_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    child_env.update(env or {})
    proc = subprocess.run(
        cmd, cwd=ROOT, env=child_env, capture_output=True, text=True, timeout=timeout
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(
            f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
        )
    return json.loads(lines[-1])


def emit(result: dict) -> None:
    """What a child process prints last: one line of JSON for :func:`run_child`."""
    print(json.dumps(result), flush=True)


def fit_line(xs, ys) -> tuple[float, float]:
    """Least-squares ``y = intercept + slope * x``; returns ``(slope, intercept)``."""
    import numpy as np

    if len(set(xs)) < 2:
        return 0.0, float(statistics.median(ys))
    slope, intercept = np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)
    return float(slope), float(intercept)


def cpu_model() -> str | None:
    """The CPU's model name from /proc/cpuinfo (None where there is none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine() -> str:
    cpu = cpu_model() or platform.processor() or platform.machine()
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    versions = ""
    try:
        import keras
        import tensorflow as tf

        versions = f", TensorFlow {tf.__version__}, Keras {keras.__version__}"
    except ImportError:  # pragma: no cover
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}){mem}, no GPU, Python {platform.python_version()}"
        f"{versions}, {date.today()}"
    )


def load_average() -> str:
    """The 1-minute load average: how busy the machine was with other work."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:  # pragma: no cover - not on every platform
        return "unknown"


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
    folder = synthetic_folder(*per_class)
    label = "SYNTHETIC CIFAR-100 (tiny)" if tiny else SYNTHETIC_LABEL
    return data.load_cifar100(folder), label


def synthetic_folder(train_per_class: int, test_per_class: int) -> Path:
    """A SYNTHETIC CIFAR-100 in the official format, written once under the temp folder."""
    from cifarlab import synthetic

    folder = (
        Path(tempfile.gettempdir()) / f"cifarlab-bench-synthetic-{train_per_class}-{test_per_class}"
    )
    if not (folder / "cifar-100-python" / "meta").is_file():
        synthetic.write_synthetic_cifar100(
            folder, train_per_class=train_per_class, test_per_class=test_per_class
        )
    return folder
