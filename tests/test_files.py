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


def test_json_records_round_trip_and_name_the_bad_file(tmp_path):
    import numpy as np

    from cifarlab._files import read_json, write_json

    path = write_json(tmp_path / "m.json", {"acc": np.float32(0.5), "loss": float("nan"),
                                             "where": tmp_path, "ids": np.arange(2)})
    assert read_json(path) == {"acc": 0.5, "loss": None, "where": str(tmp_path), "ids": [0, 1]}
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"bad\.json is not valid JSON"):
        read_json(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"list\.json does not hold a JSON object"):
        read_json(tmp_path / "list.json")


def test_new_folder_never_reuses_one(tmp_path):
    from datetime import datetime

    from cifarlab._files import new_folder, slug

    when = datetime(2026, 12, 1, 12, 0, 0)
    first = new_folder(tmp_path / "runs", "medium mammals/BN", when=when)
    (first / "keep.txt").write_text("mine")
    second = new_folder(tmp_path / "runs", "medium mammals/BN", when=when)
    assert first.name == "20261201-120000-medium_mammals_BN"
    assert second.name == first.name + "-2"
    assert (first / "keep.txt").read_text() == "mine"
    assert slug("../../etc") == "etc" and slug("///") == "run"


def test_save_model_leaves_no_temp_file(tmp_path):
    import keras

    from cifarlab._files import save_model

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    save_model(model, tmp_path / "model.keras")
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]
    assert keras.saving.load_model(tmp_path / "model.keras").count_params() == 3


def test_free_name_never_returns_an_existing_file(tmp_path):
    from cifarlab._files import free_name

    first = tmp_path / "cifar-100-python.tar.gz"
    assert free_name(first) == first
    first.write_text("a")
    second = free_name(first)
    assert second.name == "cifar-100-python-2.tar.gz"
    second.write_text("b")
    assert free_name(first).name == "cifar-100-python-3.tar.gz"
    (tmp_path / "report.md").write_text("mine")
    assert free_name(tmp_path / "report.md").name == "report-2.md"
    assert first.read_text() == "a" and second.read_text() == "b"


def test_markdown_and_spreadsheet_text_defuse_what_a_page_or_sheet_would_run():
    from cifarlab._files import markdown_text, spreadsheet_text

    shown = markdown_text('<img src=x onerror="alert(1)"> | Ana\nBen')
    assert "<img" not in shown and "&lt;img" in shown
    assert "\\|" in shown and "\n" not in shown
    assert spreadsheet_text('=HYPERLINK("http://x","y")') == '\'=HYPERLINK("http://x","y")'
    assert spreadsheet_text("@SUM(A1)") == "'@SUM(A1)" and spreadsheet_text("Ana") == "Ana"
    assert spreadsheet_text(-0.5) == -0.5
