"""The exercises notebook (06) as students and instructors get it, run for real.

The student version (solutions replaced by TODOs, made by ``cifarlab.student``) must run
top to bottom without an exception, with every check cell saying, politely, "Not yet:";
the solution version must pass every check. Both run in smoke mode on SYNTHETIC data,
configured through environment variables as nbval does (``notebooks/conftest.py``).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from cifarlab import course, data, exercises, student, synthetic

papermill = pytest.importorskip("papermill")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "06_superclass_exercises.ipynb"


@pytest.fixture(scope="module")
def smoke_env(tmp_path_factory):
    """Environment for a notebook kernel: smoke mode, SYNTHETIC data, runs in a temp folder."""
    root = tmp_path_factory.mktemp("student_notebooks")
    synthetic.write_synthetic_cifar100(
        root / "data",
        train_per_class=course.SMOKE_TRAIN_PER_CLASS,
        test_per_class=course.SMOKE_TEST_PER_CLASS,
    )
    env = {
        course.SMOKE_ENV: "1",
        data.ENV_VAR: str(root / "data"),
        course.RUNS_ENV: str(root / "runs"),
        "KERAS_HOME": str(root / "keras"),
        "MPLBACKEND": "Agg",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        yield root


def _execute(path: Path, out: Path):
    papermill.execute_notebook(
        str(path), str(out), kernel_name="python3", cwd=str(path.parent), progress_bar=False
    )
    return nbformat.read(out, as_version=4)


def _check_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code" and "exercises.check_" in c.source]


def _printed(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


@pytest.fixture(scope="module")
def student_run(smoke_env):
    folder = smoke_env / "student"
    folder.mkdir()
    source = nbformat.read(NOTEBOOK, as_version=4)
    path = folder / NOTEBOOK.name
    nbformat.write(student.make_student_notebook(source), path)
    return path, _execute(path, smoke_env / f"executed-student-{NOTEBOOK.name}")


def test_student_version_is_a_valid_notebook_without_solutions(student_run):
    path, _ = student_run
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["cifarlab"] == {"student_version": True}
    sources = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert student.BEGIN not in sources and student.END not in sources
    assert sources.count(student.TODO) == 6  # exercise 2 has two answers: pair and explanation
    assert all(not c.outputs for c in nb.cells if c.cell_type == "code")
    for name in (
        "better",
        "most_confused_pair",
        "explanation",
        "highest_loss_indices",
        "my_predictions",
        "model_path",
        "reloaded",
    ):
        assert f"\n{name} = None" in sources


def test_student_version_runs_and_every_check_says_not_yet(student_run):
    _, executed = student_run
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    checks = _check_cells(executed)
    assert len(checks) == 6
    for cell in checks:
        printed = _printed(cell)
        assert printed.startswith(exercises.NOT_YET), (cell.source, printed)
        assert "is still None" in printed and "Replace the TODO" in printed
    summary = _printed(executed.cells[-1])
    assert "SYNTHETIC" in summary and summary.count("not yet") == 6


def test_solution_version_passes_every_check(smoke_env):
    executed = _execute(NOTEBOOK, smoke_env / f"executed-solution-{NOTEBOOK.name}")
    checks = _check_cells(executed)
    assert len(checks) == 6
    for cell in checks:
        printed = _printed(cell)
        assert printed.startswith(exercises.PASSED), (cell.source, printed)
    assert _printed(executed.cells[-1]).count("✓") == 6
