"""Re-execute the course notebooks in smoke mode on SYNTHETIC data, then clean them in place,
and write and execute their student versions (``notebooks/student/``) the same way.

Fresh outputs for the ``# NBVAL_CHECK_OUTPUT`` cells (names, architectures, which exercises
pass: never the data); every other output cleared. ``make notebooks`` runs it; commit the
result::

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
               "KERAS_HOME": str(Path(tmp) / "keras"), "TF_CPP_MIN_LOG_LEVEL": "2"}
        written = []
        for path in paths:
            _execute_clean(path, path, env, kernel_name, Path(tmp))
            version = path.parent / "student" / path.name
            version.parent.mkdir(exist_ok=True)
            todo = Path(tmp) / f"student-{path.name}"
            nbformat.write(student.make_student_notebook(nbformat.read(path, as_version=4)), todo)
            _execute_clean(todo, version, env, kernel_name, Path(tmp))
            written += [path, version]
    return written


def _execute_clean(source: Path, target: Path, env: dict, kernel_name: str, tmp: Path) -> None:
    """Execute ``source`` in ``target``'s folder and write it to ``target``, cleaned."""
    import nbformat

    executed = tmp / f"executed-{target.name}"
    execute_notebook(source, executed, env=env, cwd=target.parent, kernel_name=kernel_name)
    nb = student.clean_notebook(nbformat.read(executed, as_version=4))
    atomic_write(target, nbformat.writes(nb) + "\n")


if __name__ == "__main__":
    if not sys.argv[1:]:
        sys.exit("usage: python tools/refresh_notebooks.py NOTEBOOK ...")
    for done in refresh_notebooks(sys.argv[1:]):
        print(f"refreshed {done}")
