"""Colab on day one: the repository the notebooks' badges and install cells point to.

It is written in one place, ``notebooks/colab.json`` (``{"repository": "owner/name",
"branch": "main"}``). A course that copies the project runs once::

    cifarlab colab my-university/cifarlab --branch fall-2027

which rewrites that file and, in every notebook and student version, the "Open in Colab"
badge (cell 0) and the set-up cell (cell 1) that installs cifarlab on Colab and can keep runs
and the CIFAR download in Google Drive. ``tests/test_notebooks.py`` checks they agree.
"""

import json
import os
import re
from pathlib import Path

from cifarlab._files import atomic_write

CONFIG = "colab.json"
DEFAULT = {"repository": "cifarlab/cifarlab", "branch": "main"}
_BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)")
_REPOSITORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
_BRANCH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")

_SETUP = '''\
# Set-up. Where cifarlab is missing (Colab) this installs it; elsewhere it does nothing.
# On Colab, USE_DRIVE = True keeps your runs and the CIFAR download in your Google Drive,
# so the next notebooks (and your instructor's tools) find them: Colab forgets the rest.
import importlib.util
import os
import subprocess
import sys

USE_DRIVE = False
CIFARLAB_REPO = "git+https://github.com/{repository}@{branch}"  # set by `cifarlab colab`

if USE_DRIVE and "google.colab" in sys.modules:
    try:
        from google.colab import drive
        drive.mount("/content/drive")
        os.environ.setdefault("CIFARLAB_RUNS_DIR", "/content/drive/MyDrive/cifarlab/runs")
        os.environ.setdefault("KERAS_HOME", "/content/drive/MyDrive/cifarlab/keras")
    except Exception as err:  # a refused or failed mount: carry on without Drive
        print(f"Google Drive is not mounted ({{err}}): runs stay on this Colab machine.")
if importlib.util.find_spec("cifarlab") is None:
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", CIFARLAB_REPO],
                          capture_output=True, text=True)
    print(f"Installed cifarlab from {{CIFARLAB_REPO}}." if done.returncode == 0 else
          f"Could not install cifarlab from {{CIFARLAB_REPO}}:\\n{{done.stderr[-1500:]}}\\n"
          "Check that this machine is online, or ask your instructor for the course's copy.")
'''


def read_config(notebooks: str | os.PathLike = "notebooks") -> dict[str, str]:
    """The repository and branch in ``notebooks/colab.json`` (the defaults if it is absent)."""
    path = Path(notebooks) / CONFIG
    config = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    return {**DEFAULT, **config}


def _check(repository: str, branch: str) -> None:
    if not isinstance(repository, str) or not _REPOSITORY.match(repository):
        raise ValueError(f"The repository must be GitHub's 'owner/name', e.g. "
                         f"'my-university/cifarlab'; received {repository!r}.")
    if not isinstance(branch, str) or not _BRANCH.match(branch) or ".." in branch:
        raise ValueError(f"Not a branch name: {branch!r}.")


def badge(repository: str, branch: str, path: str) -> str:
    """The "Open in Colab" badge of the notebook at ``path`` in the repository."""
    return ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{repository}/blob/{branch}/{path})")


def setup_cell(repository: str, branch: str) -> str:
    """The source of every notebook's cell 1: install on Colab, optional Google Drive."""
    return _SETUP.format(repository=repository, branch=branch).rstrip("\n")


def point_notebook(nb, path: str, repository: str, branch: str):
    """Set ``nb``'s badge (cell 0) and set-up cell (cell 1) for ``path`` in the repository;
    ValueError when the notebook has no badge or no set-up cell where they belong."""
    head, setup = nb.cells[0], nb.cells[1] if len(nb.cells) > 1 else None
    if head.cell_type != "markdown" or not _BADGE.search(head.source):
        raise ValueError(f"{path}: cell 0 has no 'Open In Colab' badge.")
    if setup is None or setup.cell_type != "code" or 'find_spec("cifarlab")' not in setup.source:
        raise ValueError(f"{path}: cell 1 is not the set-up cell that installs cifarlab.")
    head.source = _BADGE.sub(lambda _: badge(repository, branch, path), head.source, count=1)
    setup.source = setup_cell(repository, branch)
    return nb


def set_repository(repository: str, branch: str = "main", *,
                   notebooks: str | os.PathLike = "notebooks") -> list[Path]:
    """Point every notebook in ``notebooks`` (and ``notebooks/student``) at ``repository``
    and ``branch`` and write them in ``notebooks/colab.json``; returns the files written."""
    import nbformat

    _check(repository, branch)
    root = Path(notebooks)
    paths = [*sorted(root.glob("[0-9][0-9]_*.ipynb")),
             *sorted(root.glob("student/[0-9][0-9]_*.ipynb"))]
    if not paths:
        raise FileNotFoundError(f"No notebooks named NN_*.ipynb in {root}.")
    written = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        point_notebook(nb, path.relative_to(root.parent).as_posix(), repository, branch)
        written.append(atomic_write(path, nbformat.writes(nb) + "\n"))
    config = json.dumps({"repository": repository, "branch": branch}, indent=2) + "\n"
    return written + [atomic_write(root / CONFIG, config)]
