"""Writing files so that an interruption never leaves a half file under the final name."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


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
