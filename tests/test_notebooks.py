"""The notebooks as committed: clean, parametrised, teachable. (nbval runs them: make test.)"""

import re
from pathlib import Path

import nbformat
import pytest

from cifarlab import student

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PARAMETERS = {"SUPERCLASS", "EPOCHS", "SEED", "SMOKE", "DATA_DIR", "RUNS_DIR"}


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no NN_topic.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_clean(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if student.CHECK_OUTPUT in cell.source:
            assert cell.outputs, f"cell {i} is marked {student.CHECK_OUTPUT} but stores no output"
        else:
            assert not cell.outputs, f"cell {i} keeps outputs: run `make notebooks`"
            assert cell.execution_count is None, f"cell {i} keeps an execution count"
    assert "papermill" not in nb.metadata


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_structure(path):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith(f"# {path.stem[:2]} ")
    assert "What you will learn" in first.source
    # Issue 15: the header gives the measured full-mode time and says where it comes from.
    assert "**Time in full mode:**" in first.source and "docs/notebook_times.md" in first.source
    assert "Colab GPU" in first.source
    assert (
        f"colab.research.google.com/github/cifarlab/cifarlab/blob/main/notebooks/{path.name}"
        in (first.source)
    )
    assert 'find_spec("cifarlab")' in nb.cells[1].source  # installs itself on Colab
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged `parameters` (papermill)"
    assigned = set(re.findall(r"^([A-Z_]+)\s*=", tagged[0].source, flags=re.M))
    assert PARAMETERS <= assigned, f"parameters cell lacks {PARAMETERS - assigned}"
    assert nb.cells[-1].cell_type == "code" or "Summary" in nb.cells[-1].source
    summary = [c for c in nb.cells if c.cell_type == "markdown" and "## Summary" in c.source]
    assert summary, "every notebook ends with a summary"
