"""Student versions: solutions become TODOs, outputs are cleared, check cells fail politely."""

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from cifarlab import cli, student


def _notebook():
    return new_notebook(
        cells=[
            new_markdown_cell("# 99 Exercise"),
            new_code_cell(
                "# Exercise: a list of three squares\n"
                "### BEGIN SOLUTION\nsquares = [i * i for i in range(3)]\n### END SOLUTION",
                outputs=[new_output("stream", text="old output")],
                execution_count=3,
            ),
            new_code_cell(
                "# NBVAL_CHECK_OUTPUT\n"
                "print('done' if squares == [0, 1, 4] else 'Not yet: fill in `squares` above.')",
                outputs=[new_output("stream", text="done\n")],
                execution_count=4,
            ),
        ]
    )


def test_student_source_sets_defined_names_to_none():
    src = "x = 1\n### BEGIN SOLUTION\na, b = 1, 2\ndef f():\n    pass\n### END SOLUTION\nuse(a)"
    assert student.student_source(src) == (
        "x = 1\n# TODO: your code here\na = None\nb = None\nf = None\nuse(a)"
    )


def test_indented_block_keeps_indentation():
    src = "if True:\n    ### BEGIN SOLUTION\n    y = 3\n    ### END SOLUTION\n"
    assert student.student_source(src) == "if True:\n    # TODO: your code here\n    y = None\n"


def test_unbalanced_markers():
    with pytest.raises(ValueError, match="Unbalanced solution markers"):
        student.student_source("### BEGIN SOLUTION\nx = 1\n")


def test_clean_keeps_only_checked_outputs():
    nb = student.clean_notebook(_notebook())
    assert nb.cells[1].outputs == [] and nb.cells[1].execution_count is None
    assert nb.cells[2].outputs and nb.cells[2].execution_count == 4


def test_student_version_runs_and_its_check_fails_politely(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    nbformat.write(_notebook(), src / "99_exercise.ipynb")
    (written,) = student.write_student_notebooks(src, tmp_path / "out")
    nb = nbformat.read(written, as_version=4)
    nbformat.validate(nb)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert "BEGIN SOLUTION" not in nb.cells[1].source
    assert "squares = None" in nb.cells[1].source and "TODO" in nb.cells[1].source
    namespace, printed = {}, []
    namespace["print"] = printed.append
    for cell in nb.cells:
        if cell.cell_type == "code":
            exec(cell.source, namespace)  # runs top to bottom without an exception
    assert printed == ["Not yet: fill in `squares` above."]


def test_never_overwrites_without_force(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    nbformat.write(_notebook(), src / "99_exercise.ipynb")
    student.write_student_notebooks(src, tmp_path / "out")
    with pytest.raises(FileExistsError, match="may hold a student's work"):
        student.write_student_notebooks(src, tmp_path / "out")
    student.write_student_notebooks(src, tmp_path / "out", force=True)
    with pytest.raises(ValueError, match="would replace the solutions"):
        student.write_student_notebooks(src, src)
    with pytest.raises(FileNotFoundError, match="No notebooks named"):
        student.write_student_notebooks(tmp_path / "out" / "nothing")


def test_command_line(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    nbformat.write(_notebook(), src / "99_exercise.ipynb")
    assert cli.main(["student-notebooks", "--src", str(src)]) == 0
    assert "student/99_exercise.ipynb" in capsys.readouterr().out
    assert cli.main(["student-notebooks", "--src", str(src)]) == 2
    assert "--force" in capsys.readouterr().err
