"""Student versions of the notebooks (``cifarlab student-notebooks``), and clean notebooks.

Solutions sit between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's
convention); the student version replaces each block with a TODO that sets the names the
solution defines to None, so the notebook still runs and its checks say what is missing.
Markdown cells tagged ``instructor`` (notes, answers) are left out of the student version,
whose Colab badge opens the student version. Committed notebooks keep only the outputs of
cells marked ``# NBVAL_CHECK_OUTPUT``.
"""

import ast
import copy
import os
import re
import textwrap
from pathlib import Path

from cifarlab._files import atomic_write

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
CHECK_OUTPUT, TODO = "NBVAL_CHECK_OUTPUT", "# TODO: your code here"
NOTEBOOK_PATTERN = "[0-9][0-9]_*.ipynb"
INSTRUCTOR_TAG = "instructor"  # cells with this tag are left out of the student version
_COLAB_PATH = re.compile(r"(colab\.research\.google\.com/github/[^)\s]*?/notebooks/)(?!student/)")

_BLOCK = re.compile(rf"^(?P<indent>[ \t]*){re.escape(BEGIN)}[^\n]*\n"
                    rf"(?P<body>.*?)^[ \t]*{re.escape(END)}[^\n]*(\n|$)", re.M | re.S)


def _defined_names(body: str) -> list[str]:
    """Top-level names a solution block assigns or defines, in order."""
    try:
        tree = ast.parse(textwrap.dedent(body))
    except SyntaxError:
        return []
    targets = []
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets += node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets.append(node.target)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            targets.append(ast.Name(node.name))
    while any(isinstance(t, (ast.Tuple, ast.List)) for t in targets):  # a, b = ...
        targets = [e for t in targets for e in (t.elts if isinstance(t, (ast.Tuple, ast.List))
                                                else [t])]
    return list(dict.fromkeys(t.id for t in targets if isinstance(t, ast.Name)))


def student_source(source: str) -> str:
    """A code cell's source with every solution block replaced by TODO lines that set the
    names it defines to None. ValueError for a BEGIN without END (or the reverse)."""
    if source.count(BEGIN) != source.count(END):
        raise ValueError(f"Unbalanced solution markers: {source.count(BEGIN)} {BEGIN!r} and "
                         f"{source.count(END)} {END!r} in a cell starting {source[:60]!r}.")

    def replace(match: re.Match) -> str:
        indent, names = match.group("indent"), _defined_names(match.group("body"))
        lines = [TODO] + ([f"{name} = None" for name in names] or ["pass"])
        return "".join(f"{indent}{line}\n" for line in lines)

    return _BLOCK.sub(replace, source)


def clean_notebook(nb, *, keep_checked: bool = True):
    """Clear outputs, execution counts and run metadata in place (``keep_checked``: cells
    marked ``# NBVAL_CHECK_OUTPUT`` keep their outputs, which nbval compares); return ``nb``."""
    for cell in nb.cells:
        if cell.cell_type == "code" and not (keep_checked and CHECK_OUTPUT in cell.source):
            cell.outputs, cell.execution_count = [], None  # nbval: no count means not run
        for key in ("execution", "papermill", "collapsed", "scrolled"):
            cell.metadata.pop(key, None)
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("widgets", None)
    return nb


def make_student_notebook(nb):
    """A copy of ``nb`` with solutions replaced by TODOs and all outputs cleared."""
    student = copy.deepcopy(nb)
    student.cells = [c for c in student.cells if INSTRUCTOR_TAG not in c.metadata.get("tags", [])]
    for cell in student.cells:
        if cell.cell_type == "code":
            cell.source = student_source(cell.source)
    if student.cells and student.cells[0].cell_type == "markdown":
        student.cells[0].source = _COLAB_PATH.sub(r"\1student/", student.cells[0].source, count=1)
    student.metadata["cifarlab"] = {"student_version": True}
    return clean_notebook(student, keep_checked=False)


def write_student_notebooks(src: str | os.PathLike = "notebooks",
                            out: str | os.PathLike | None = None, *,
                            force: bool = False) -> list[Path]:
    """Write the student version of every ``NN_topic.ipynb`` in ``src`` to ``out``
    (default ``src/student``, never ``src``); ``force`` replaces versions already there,
    which otherwise are an error (they may hold a student's work). Returns the paths."""
    import nbformat

    src, out = Path(src), Path(src) / "student" if out is None else Path(out)
    notebooks = sorted(src.glob(NOTEBOOK_PATTERN))
    if not notebooks:
        raise FileNotFoundError(f"No notebooks named {NOTEBOOK_PATTERN} in {src}.")
    if out.resolve() == src.resolve():
        raise ValueError(f"`out` must differ from `src` ({src}): that would replace the solutions.")
    existing = [out / nb.name for nb in notebooks if (out / nb.name).exists()]
    if existing and not force:
        raise FileExistsError(
            f"{len(existing)} student notebooks already exist in {out} (e.g. {existing[0].name}); "
            "they may hold a student's work. Pass force=True (--force) to replace them.")
    out.mkdir(parents=True, exist_ok=True)
    students = [make_student_notebook(nbformat.read(p, as_version=4)) for p in notebooks]
    for student in students:
        nbformat.validate(student)
    return [atomic_write(out / p.name, nbformat.writes(nb) + "\n")
            for p, nb in zip(notebooks, students, strict=True)]
