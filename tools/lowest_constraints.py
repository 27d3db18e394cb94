"""The lowest versions pyproject.toml allows, as a pip constraints file (``make test-lowest``).

    python tools/lowest_constraints.py > constraints-lowest.txt
    pip install -c constraints-lowest.txt -e ".[dev]"

Every library requirement (``dependencies`` and the ``notebooks`` and ``instructor``
extras) ``name>=X.Y`` becomes ``name==X.Y.*`` (the oldest release line the bound allows,
with its bug fixes); ``name>=X.Y.Z`` becomes ``name==X.Y.Z``. Test tools (the ``dev``
extra's own entries) are left free. CI installs these and runs a fast part of the suite,
so a bound that is too low fails there, not on a student's machine.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
LIBRARY_EXTRAS = ("notebooks", "instructor")


def lowest(requirement: str) -> str:
    """``'keras>=3.8'`` -> ``'keras==3.8.*'``; ``'a>=1.4.7'`` -> ``'a==1.4.7'``."""
    match = re.fullmatch(r"\s*([A-Za-z0-9._-]+)\s*>=\s*([0-9][0-9.]*)\s*(;.*)?", requirement)
    if not match:
        raise ValueError(f"pyproject.toml: {requirement!r} is not of the form name>=version.")
    name, version, marker = match.group(1), match.group(2), match.group(3) or ""
    pinned = f"=={version}.*" if version.count(".") < 2 else f"=={version}"
    return f"{name}{pinned}{marker}"


def constraints(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    requirements = [*project["dependencies"], *(r for e in LIBRARY_EXTRAS for r in extras[e])]
    return [lowest(r) for r in requirements]


if __name__ == "__main__":
    sys.stdout.write("\n".join(constraints()) + "\n")
