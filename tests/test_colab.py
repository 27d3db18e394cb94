"""Colab on day one: one place names the repository; one command points every notebook at it."""

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from cifarlab import cli, colab, student

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "course" / "notebooks"
    (root / "student").mkdir(parents=True)
    for nb in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))[:2]:
        shutil.copy(nb, root / nb.name)
        shutil.copy(NOTEBOOKS / "student" / nb.name, root / "student" / nb.name)
    shutil.copy(NOTEBOOKS / colab.CONFIG, root / colab.CONFIG)
    return root


def test_the_committed_notebooks_agree_with_colab_json():
    config = colab.read_config(NOTEBOOKS)
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")) + sorted(
        NOTEBOOKS.glob("student/[0-9][0-9]_*.ipynb"))
    assert len(paths) >= 18
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        where = path.relative_to(NOTEBOOKS.parent).as_posix()
        assert colab.badge(config["repository"], config["branch"], where) in nb.cells[0].source
        assert nb.cells[1].source == colab.setup_cell(config["repository"], config["branch"]), where


def test_set_repository_rewrites_badges_and_setup_cells(tmp_path):
    root = _copy(tmp_path)
    written = colab.set_repository("uni-x/cifarlab-fall", "fall-2027", notebooks=root)
    assert json.loads((root / colab.CONFIG).read_text()) == {
        "repository": "uni-x/cifarlab-fall", "branch": "fall-2027"}
    assert len(written) == 5
    for path in sorted(root.rglob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        url = (f"colab.research.google.com/github/uni-x/cifarlab-fall/blob/fall-2027/"
               f"{path.relative_to(root.parent).as_posix()}")
        assert url in nb.cells[0].source
        assert "git+https://github.com/uni-x/cifarlab-fall@fall-2027" in nb.cells[1].source
        assert "cifarlab/cifarlab" not in nb.cells[0].source + nb.cells[1].source
        if "student" in path.parts:
            assert "/notebooks/student/" in nb.cells[0].source
    compile(nb.cells[1].source, "setup", "exec")  # the set-up cell is valid Python


def test_the_setup_cell_never_raises_when_the_install_fails(tmp_path, monkeypatch, capsys):
    import importlib.util
    import subprocess

    class Failed:
        returncode, stderr = 1, "ERROR: Could not find a version that satisfies the requirement"

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: Failed())
    exec(colab.setup_cell("uni-x/cifarlab", "main"), {})
    printed = capsys.readouterr().out
    assert "Could not install cifarlab from git+https://github.com/uni-x/cifarlab@main" in printed
    assert "Could not find a version" in printed


@pytest.mark.parametrize("repository", ["cifarlab", "https://github.com/a/b", "a/b c", "../x"])
def test_a_repository_that_is_not_owner_name_is_refused(tmp_path, repository):
    root = _copy(tmp_path)
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    with pytest.raises(ValueError, match="owner/name"):
        colab.set_repository(repository, notebooks=root)
    assert before == {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_the_command(tmp_path, capsys):
    root = _copy(tmp_path)
    assert cli.main(["colab", "me/course", "--notebooks", str(root)]) == 0
    assert "Pointed 4 notebooks at github.com/me/course" in capsys.readouterr().out
    assert cli.main(["colab", "not a repo", "--notebooks", str(root)]) == 2
    assert "owner/name" in capsys.readouterr().err


def test_student_versions_open_themselves_on_colab():
    nb = nbformat.read(sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))[1], as_version=4)
    version = student.make_student_notebook(nb)
    assert "/notebooks/student/" in version.cells[0].source
    assert "/notebooks/student/" not in nb.cells[0].source
