"""Re-execute the course notebooks in smoke mode on SYNTHETIC data, then clean them in place.

Fresh outputs for the ``# NBVAL_CHECK_OUTPUT`` cells (names and architectures, never the
data); every other output cleared. ``make notebooks`` runs it; commit the result::

    python tools/refresh_notebooks.py notebooks/[0-9][0-9]_*.ipynb
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from cifarlab import course, data, student, synthetic
from cifarlab._files import atomic_write
from cifarlab.notebook_runs import execute_notebook


def refresh_notebooks(paths, *, kernel_name: str = "python3") -> list[Path]:
    """Execute each notebook (smoke mode, SYNTHETIC data, runs in a temporary folder) and
    write it back with only its checked outputs."""
    import nbformat

    paths = [Path(p) for p in paths]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "data"
        for write in (synthetic.write_synthetic_cifar100, synthetic.write_synthetic_cifar10):
            write(folder, train_per_class=course.SMOKE_TRAIN_PER_CLASS,
                  test_per_class=course.SMOKE_TEST_PER_CLASS)
        env = {course.SMOKE_ENV: "1", data.ENV_VAR: str(folder),
               course.RUNS_ENV: str(Path(tmp) / "runs"), "MPLBACKEND": "Agg",
               "TF_CPP_MIN_LOG_LEVEL": "2"}
        for path in paths:
            executed = Path(tmp) / path.name
            execute_notebook(path, executed, env=env, cwd=path.parent, kernel_name=kernel_name)
            nb = student.clean_notebook(nbformat.read(executed, as_version=4))
            atomic_write(path, nbformat.writes(nb) + "\n")
    return paths


if __name__ == "__main__":
    if not sys.argv[1:]:
        sys.exit("usage: python tools/refresh_notebooks.py NOTEBOOK ...")
    for done in refresh_notebooks(sys.argv[1:]):
        print(f"refreshed {done}")
