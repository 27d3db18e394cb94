import os
import stat

import pytest

from cifarlab._files import atomic_write


def test_atomic_write_replaces_whole_files_only(tmp_path, monkeypatch):
    target = tmp_path / "record.json"
    atomic_write(target, "first")
    assert target.read_text() == "first"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, b"second")
    assert target.read_text() == "first"  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]  # no temp file left
