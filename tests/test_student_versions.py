"""The student versions as committed (``notebooks/student/``, made by ``make notebooks``).

nbval executes every solution and every student version in smoke mode (``make test``); the
stored output of each notebook's ``ex.summary()`` cell is what it compares: "all K exercises
passed" for the solution, "0 of K exercises passed" for the student version. This file checks
that those outputs are there and say so, that the student versions are up to date with the
solutions, and that no solution leaks into them.
"""

import importlib
import re
from pathlib import Path

import nbformat
import pytest

from cifarlab import student
from cifarlab.exercises import NOT_YET, PASSED

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOLUTIONS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def _exercises(path: Path):
    return importlib.import_module(f"cifarlab.exercises.nb{path.name[:2]}").exercises


def _summary_output(nb) -> str:
    cells = [c for c in nb.cells if c.cell_type == "code" and "ex.summary()" in c.source]
    assert len(cells) == 1, "one cell calls ex.summary()"
    assert student.CHECK_OUTPUT in cells[0].source, "the summary cell is checked by nbval"
    return "".join(o.get("text", "") for o in cells[0].outputs).strip()


def test_at_least_25_exercises_and_2_in_every_notebook():
    counts = {p.stem: len(_exercises(p).titles) for p in SOLUTIONS}
    assert len(counts) == 9 and min(counts.values()) >= 2, counts
    assert sum(counts.values()) >= 25, counts


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_every_exercise_has_its_todo_and_its_check_in_the_notebook(path):
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    module = importlib.import_module(f"cifarlab.exercises.nb{path.name[:2]}")
    checks = {getattr(module, n).exercise: n for n in dir(module)
              if hasattr(getattr(module, n), "exercise")}
    assert sorted(checks) == sorted(module.exercises.titles)
    for number, name in checks.items():
        assert f"ex.{name}(" in code, f"exercise {number}: the notebook never calls ex.{name}"
    assert code.count(student.BEGIN) >= len(checks), "a solution block per exercise"
    assert "ex.record_results(" in code, "verdicts are recorded for the instructor"


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_the_solution_passes_every_check(path):
    k = len(_exercises(path).titles)
    summary = _summary_output(nbformat.read(path, as_version=4))
    assert summary == f"{PASSED} {path.stem}: all {k} exercises passed.", summary


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_the_student_version_is_current_and_passes_no_check(path):
    version_path = NOTEBOOKS / "student" / path.name
    assert version_path.is_file(), f"no student version of {path.name}: run `make notebooks`"
    version = nbformat.read(version_path, as_version=4)
    expected = student.make_student_notebook(nbformat.read(path, as_version=4))
    assert [(c.cell_type, c.source) for c in version.cells] == [
        (c.cell_type, c.source) for c in expected.cells], "stale: run `make notebooks`"
    text = "\n".join(c.source for c in version.cells)
    assert student.BEGIN not in text and student.END not in text
    assert not [c for c in version.cells if student.INSTRUCTOR_TAG in c.metadata.get("tags", [])]
    k = len(_exercises(path).titles)
    summary = _summary_output(version)
    assert summary.startswith(f"{path.stem}: 0 of {k} exercises passed. {NOT_YET} "), summary
    assert re.search(r"/notebooks/student/" + re.escape(path.name), version.cells[0].source)
