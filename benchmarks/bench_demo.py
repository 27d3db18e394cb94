"""Benchmark 5 (part): wall time of the main job, ``cifarlab demo``, for a full superclass.

Runs the demo as a user would (a separate process), on real CIFAR-100 when it is in
the Keras cache, otherwise on SYNTHETIC data of the real size (2,500 training and
500 test images for the superclass). One run: it takes minutes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(tiny: bool = False) -> dict:
    from cifarlab import data

    try:
        data.load_cifar100(download=False)
        real, flag = True, []
    except (data.DataNotFoundError, data.CorruptDataError):
        real, flag = False, ["--synthetic"]
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "cifarlab.cli", "demo", *flag]
        if tiny:
            cmd += ["--smoke", "--variants", "baseline"]
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"demo failed:\n{proc.stderr[-2000:]}")
        table = (Path(tmp) / "runs" / "demo-medium_mammals.md").read_text()
    return {
        "name": "The main job: `cifarlab demo` (5 variants, medium_mammals)",
        "data": "real CIFAR-100"
        if real
        else "SYNTHETIC CIFAR-100 of the real size "
        "(real data absent); includes writing the synthetic set on first use",
        "wall_s": wall,
        "table": _without_last_column(table.split("\n", 2)[-1].strip()),
        "headline": f"{wall:.0f} s for the whole demo (5 variants, one superclass)"
        if not tiny
        else f"{wall:.0f} s (smoke mode)",
        "target": "under 5 minutes on 2 cores",
        "met": wall < 300,
    }


def _without_last_column(table: str) -> str:
    """The demo's table less its last column (`path`: folders of a temporary directory)."""
    return "\n".join(line.rsplit("|", 2)[0] + "|" for line in table.splitlines())


def markdown(r: dict) -> str:
    return "\n".join(
        [
            f"### {r['name']}",
            "",
            f"Data: {r['data']}. One run, a separate process, from start-up to the "
            "last file written.",
            "",
            f"Wall time: **{r['wall_s']:.0f} s** (target: {r['target']}; "
            f"{'met' if r['met'] else 'NOT met'}). The demo's own table:",
            "",
            r["table"],
            "",
        ]
    )
