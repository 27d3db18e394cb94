"""Student versions of the notebooks, and clean notebooks for commits.

Solutions sit between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` lines (the
nbgrader convention). The student version replaces each block with TODO lines
that set the names the solution defines to ``None``, so the notebook still runs
top to bottom and the check cell after it says, politely, what is missing::

    cifarlab student-notebooks                 # notebooks/ -> notebooks/student/

Committed notebooks keep no outputs except cells marked ``# NBVAL_CHECK_OUTPUT``,
whose deterministic output nbval compares (class names, parameter counts).
:func:`clean_notebook` enforces that; ``make notebooks`` re-executes and cleans.
"""

from __future__ import annotations

import ast
import os
import re
import sys
import textwrap
from pathlib import Path

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
CHECK_OUTPUT = "NBVAL_CHECK_OUTPUT"
TODO = "# TODO: your code here"
NOTEBOOK_PATTERN = "[0-9][0-9]_*.ipynb"

_BLOCK = re.compile(
    rf"^(?P<indent>[ \t]*){re.escape(BEGIN)}[^\n]*\n"
    rf"(?P<body>.*?)^[ \t]*{re.escape(END)}[^\n]*(\n|$)",
    re.M | re.S,
)


def _defined_names(body: str) -> list[str]:
    """Top-level names a solution block assigns or defines, in order."""
    try:
        tree = ast.parse(textwrap.dedent(body))
    except SyntaxError:
        return []
    names: list[str] = []

    def add(target):
        if isinstance(target, ast.Name) and target.id not in names:
            names.append(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                add(element)

    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                add(target)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            add(node.target)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            add(ast.Name(node.name))
    return names


def student_source(source: str) -> str:
    """A code cell's source with every solution block replaced by TODO lines.

    Names the solution defines are set to None, so the rest of the notebook runs
    and the check cells can tell the student what is still missing.

    Raises:
        ValueError: for a BEGIN without END (or the reverse).
    """
    if source.count(BEGIN) != source.count(END):
        raise ValueError(
            f"Unbalanced solution markers: {source.count(BEGIN)} {BEGIN!r} and "
            f"{source.count(END)} {END!r} in a cell starting {source[:60]!r}."
        )

    def replace(match: re.Match) -> str:
        indent = match.group("indent")
        names = _defined_names(match.group("body"))
        lines = [f"{indent}{TODO}"]
        lines += [f"{indent}{name} = None" for name in names] or [f"{indent}pass"]
        return "\n".join(lines) + "\n"

    return _BLOCK.sub(replace, source)


def has_solution(source: str) -> bool:
    return BEGIN in source


def _code_cells(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def clean_notebook(nb, *, keep_checked: bool = True):
    """Clear outputs, execution counts and run metadata, in place; return ``nb``.

    With ``keep_checked``, cells marked ``# NBVAL_CHECK_OUTPUT`` keep their outputs
    (nbval compares them); everything else is cleared.
    """
    for cell in _code_cells(nb):
        keep = keep_checked and CHECK_OUTPUT in cell.source
        if not keep:  # nbval treats a kept cell with no execution count as unrun
            cell.outputs = []
            cell.execution_count = None
        for key in ("execution", "papermill", "collapsed", "scrolled"):
            cell.metadata.pop(key, None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("widgets", None)
    return nb


def make_student_notebook(nb):
    """A copy of ``nb`` with solutions replaced by TODOs and all outputs cleared."""
    import copy

    student = copy.deepcopy(nb)
    for cell in _code_cells(student):
        cell.source = student_source(cell.source)
    clean_notebook(student, keep_checked=False)
    student.metadata["cifarlab"] = {"student_version": True}
    return student


def write_student_notebooks(
    src: str | os.PathLike = "notebooks",
    out: str | os.PathLike | None = None,
    *,
    force: bool = False,
) -> list[Path]:
    """Write the student version of every ``NN_topic.ipynb`` in ``src`` to ``out``.

    Args:
        src: folder with the solution notebooks.
        out: where the student versions go (default ``src/student``); never ``src``.
        force: replace student versions already there (without it, an existing
            file is an error, so a student's edits are never overwritten).

    Returns:
        The paths written.
    """
    import nbformat

    src = Path(src)
    out = Path(out) if out is not None else src / "student"
    notebooks = sorted(src.glob(NOTEBOOK_PATTERN))
    if not notebooks:
        raise FileNotFoundError(f"No notebooks named {NOTEBOOK_PATTERN} in {src}.")
    if out.resolve() == src.resolve():
        raise ValueError(f"`out` must differ from `src` ({src}): that would replace the solutions.")
    existing = [out / nb.name for nb in notebooks if (out / nb.name).exists()]
    if existing and not force:
        raise FileExistsError(
            f"{len(existing)} student notebooks already exist in {out} (e.g. {existing[0].name}); "
            "they may hold a student's work. Pass force=True (--force) to replace them."
        )
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        student = make_student_notebook(nbformat.read(path, as_version=4))
        nbformat.validate(student)
        target = out / path.name
        tmp = target.with_name(f".{target.name}.part")
        nbformat.write(student, tmp)
        os.replace(tmp, target)
        written.append(target)
    return written


def _cmd_student(args) -> int:
    written = write_student_notebooks(args.src, args.out, force=args.force)
    for path in written:
        print(f"wrote {path}")
    return 0


def add_arguments(subparsers) -> None:
    p = subparsers.add_parser(
        "student-notebooks", help="write student versions (solutions replaced by TODOs)"
    )
    p.add_argument("--src", default="notebooks", help="folder with the solution notebooks")
    p.add_argument("--out", default=None, help="default: SRC/student")
    p.add_argument("--force", action="store_true", help="replace existing student versions")
    p.set_defaults(func=_cmd_student)


def refresh_notebooks(paths, *, kernel_name: str = "python3") -> list[Path]:
    """Re-execute notebooks in smoke mode on SYNTHETIC data, then clean them in place.

    This stores fresh outputs for the ``# NBVAL_CHECK_OUTPUT`` cells (which depend
    only on names and architectures, never on the data) and clears all the rest.
    ``make notebooks`` runs it; commit the result.
    """
    import tempfile

    import nbformat
    import papermill

    from cifarlab import course, data

    paths = [Path(p) for p in paths]
    with tempfile.TemporaryDirectory() as tmp:
        data.write_synthetic_cifar100(Path(tmp) / "data", train_per_class=40, test_per_class=10)
        data.write_synthetic_cifar10(Path(tmp) / "data", train_per_class=40, test_per_class=10)
        env = {
            course.SMOKE_ENV: "1",
            data.ENV_VAR: str(Path(tmp) / "data"),
            course.RUNS_ENV: str(Path(tmp) / "runs"),
            "MPLBACKEND": "Agg",
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            for path in paths:
                executed = Path(tmp) / path.name
                papermill.execute_notebook(
                    str(path),
                    str(executed),
                    kernel_name=kernel_name,
                    cwd=str(path.parent),
                    progress_bar=False,
                )
                nb = clean_notebook(nbformat.read(executed, as_version=4))
                tmp_target = path.with_name(f".{path.name}.part")
                nbformat.write(nb, tmp_target)
                os.replace(tmp_target, path)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    return paths


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1:2] == ["refresh"] and sys.argv[2:]:
        refresh_notebooks(sys.argv[2:])
        sys.exit(0)
    sys.exit("usage: python -m cifarlab.student refresh NOTEBOOK ...")
