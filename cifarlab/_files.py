"""Files written so that an interruption never leaves a half file under the final name,
folders that are never reused, and the JSON every record uses."""

import json
import math
import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import numpy as np


def atomic_write(target: str | os.PathLike, payload: bytes | str) -> Path:
    """Write ``payload`` to a temporary file beside ``target``, then rename it into place.

    A reader sees the old file or the new one, never a part of it. Text is UTF-8.
    The file is readable by others (0644), like one written with ``open``.
    """
    target = Path(target)
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            os.fchmod(f.fileno(), 0o644)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


def temp_name(target: Path, suffix: str = ".part") -> Path:
    """A fresh hidden name beside ``target``, for writers that need a path (not bytes)."""
    return target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}{suffix}")


def save_model(model, target: Path) -> Path:
    """``model.save`` to a temporary ``.keras`` file beside ``target``, then rename."""
    tmp = temp_name(target, ".keras")
    try:
        model.save(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def jsonable(obj):
    """Plain JSON types: NumPy numbers converted, NaN/inf as None, paths as strings."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return str(obj)


def write_json(path: str | os.PathLike, obj) -> Path:
    """``obj`` as indented JSON (NaN as null), written atomically."""
    return atomic_write(path, json.dumps(jsonable(obj), indent=2, allow_nan=False) + "\n")


def read_json(path: str | os.PathLike) -> dict:
    """A JSON object from ``path``; ValueError naming the file when it is not one."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err}).") from err
    if not isinstance(obj, dict):
        raise ValueError(f"{path} does not hold a JSON object.")
    return obj


def slug(text: str, *, limit: int = 60, default: str = "run") -> str:
    """A name safe for a file or folder: ``'medium mammals/BN'`` -> ``'medium_mammals_BN'``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("._-")[:limit] or default


def new_folder(root: str | os.PathLike, name: str = "", *, when: datetime | None = None) -> Path:
    """A new folder ``root/<YYYYmmdd-HHMMSS>[-name]`` (``-2``, ``-3``, ... when it exists).

    Never returns a folder that existed before, so nothing recorded earlier is overwritten.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    base = (when or datetime.now()).strftime("%Y%m%d-%H%M%S") + (f"-{slug(name)}" if name else "")
    for i in range(1, 10_000):
        folder = root / (base if i == 1 else f"{base}-{i}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise RuntimeError(f"Could not create a new folder for {base!r} in {root}.")


def free_name(path: str | os.PathLike) -> Path:
    """``path`` if nothing is there, else ``stem-2.ext``, ``stem-3.ext``, ...: never an
    existing file, so moving something aside never overwrites what was moved before."""
    path = Path(path)
    suffix = "".join(path.suffixes[-2:]) if path.name.endswith(".tar.gz") else path.suffix
    stem = path.name[: len(path.name) - len(suffix)] if suffix else path.name
    for i in range(1, 10_000):
        candidate = path if i == 1 else path.with_name(f"{stem}-{i}{suffix}")
        if not candidate.exists() and not candidate.is_symlink():
            return candidate
    raise RuntimeError(f"No free name beside {path}.")


#: A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def markdown_text(value: object) -> str:
    """``value`` safe inside Markdown meant for a course page: HTML escaped (no raw
    ``<script>``), table pipes escaped, and on one line."""
    import html

    text = html.escape(str(value), quote=False).replace("|", "\\|")
    return " ".join(text.splitlines())


def spreadsheet_text(value: object) -> object:
    """A CSV cell a spreadsheet shows as text: ``'=HYPERLINK(...)`` instead of a formula.
    Only strings change; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
