"""runs_table: every run below a folder, group folders of an instructor's batch included."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cifarlab import runs


def fake_run(folder, *, name, started, config=None, metrics=None):
    """A run folder as cifarlab.train.train writes it (no model needed for the table)."""
    folder.mkdir(parents=True)
    settings = {"name": name, "started": started, "synthetic": True, "config": config or {},
                "model": {"name": "tiny", "params": 123}}
    (folder / "config.json").write_text(json.dumps(settings))
    if metrics is not None:
        (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def test_runs_table_finds_runs_at_any_depth_with_their_group(tmp_path):
    done = {"best_epoch": 2, "epochs": 3, "train_seconds": 9.5, "stopped": "early_stopping",
            "best_metrics": {"val_accuracy": 0.5, "val_loss": 1.5}}
    fake_run(tmp_path / "20240101-100000-flat", name="flat", started="2024-01-01T10:00:00+00:00",
             config={"superclass": "fish"},
             metrics={**done, "test_accuracy": 0.4, "test_loss": 1.7, "test_top3_accuracy": 0.8})
    group = tmp_path / "team_a"
    group.mkdir()
    (group / "status.json").write_text(json.dumps({"group": "Team A", "superclass": 12}))
    fake_run(group / "records" / "01_train" / "20240101-110000-nb", name="nb",
             started="2024-01-01T11:00:00+00:00", config={"variant": "baseline"},
             metrics={**done, "test": {"accuracy": 0.3, "loss": 2.0,
                                       "top_k_accuracy": {"3": 0.6, "5": 0.9}}})
    fake_run(tmp_path / "team_b" / "20240101-120000-died", name="died",
             started="2024-01-01T12:00:00+00:00")
    fake_run(tmp_path / "team_b" / "previous" / "20240101-090000-old", name="old",
             started="2024-01-01T09:00:00+00:00", metrics=done)
    (tmp_path / "notes").mkdir()

    table = runs.runs_table(tmp_path)
    assert list(table.columns) == [*runs.COLUMNS, "test_top5_accuracy"]
    assert list(table["name"]) == ["flat", "nb", "died"]  # previous/ is skipped
    flat, nb, died = (table.iloc[i] for i in range(3))
    assert (flat["group"], flat["superclass"], flat["notebook"]) == ("", "fish", "")
    assert (flat["test_accuracy"], flat["test_loss"], flat["test_top3_accuracy"]) == (0.4, 1.7, 0.8)
    assert (flat["epochs"], flat["best_epoch"], flat["train_seconds"]) == (3, 2, 9.5)
    assert (flat["best_val_accuracy"], flat["best_val_loss"]) == (0.5, 1.5)
    assert flat["run"] == "20240101-100000-flat" and flat["stopped"] == "early_stopping"
    assert (nb["group"], nb["superclass"]) == ("Team A", "medium_mammals")
    assert nb["notebook"] == "01_train"
    assert nb["model"] == "baseline" and nb["params"] == 123
    assert (nb["test_accuracy"], nb["test_top3_accuracy"], nb["test_top5_accuracy"]) == (
        0.3, 0.6, 0.9)
    assert died["group"] == "team_b" and died["stopped"] == "unfinished"
    assert np.isnan(died["test_accuracy"]) and np.isnan(flat["test_top5_accuracy"])
    assert table["synthetic"].all() and table.attrs["synthetic"] is True


def test_runs_table_of_an_empty_or_missing_folder(tmp_path):
    table = runs.runs_table(tmp_path)
    assert table.empty and list(table.columns) == list(runs.COLUMNS)
    assert table.attrs["synthetic"] is False
    with pytest.raises(FileNotFoundError, match="does not exist"):
        runs.runs_table(tmp_path / "nothing")


def test_load_run_says_an_unfinished_run_did_not_finish(tmp_path):
    folder = fake_run(tmp_path / "run", name="r", started="2024-01-01T10:00:00+00:00")
    (folder / "checkpoint.keras").write_text("")
    with pytest.raises(FileNotFoundError, match="checkpoint.keras holds its best model so far"):
        runs.load_run(folder)
    with pytest.raises(FileNotFoundError, match="did not finish"):
        runs.load_run(folder, load_model=False)
    with pytest.raises(TypeError, match="`path` must be a run folder"):
        runs.load_run(3)


def test_group_status_is_read_from_the_nearest_status_json_not_above_root(tmp_path):
    group = tmp_path / "team"
    run = fake_run(group / "records" / "01" / "r", name="r", started="2024-01-01T10:00:00+00:00")
    assert runs.read_status(group) is None and runs.find_group(run) == (None, None)
    runs.write_status(group, {"group": "Team"})
    assert runs.find_group(run) == (group.resolve(), {"group": "Team"})
    assert runs.find_group(run, root=run.parent) == (None, None)  # root is below the group
    (group / runs.STATUS_FILE).write_text("{broken")
    assert runs.read_status(group) is None
