"""Run records on disk and the one table of runs; a group folder's ``status.json``.

A run folder ``runs/<YYYYmmdd-HHMMSS>-<name>/`` holds config.json (settings, model, data,
versions), history.csv (one row per epoch), metrics.json (best epoch, epochs, train_seconds,
stopped, test results) and model.keras (the best weights when restored).
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cifarlab import labels as _labels
from cifarlab._files import atomic_write, jsonable, read_json, write_json

if TYPE_CHECKING:
    import pandas as pd

RUN_FILES = ("config.json", "history.csv", "metrics.json", "model.keras")
STATUS_FILE = "status.json"  # a group folder's record of its notebooks (run-notebooks)
CONFIG_FILE, HISTORY_FILE, METRICS_FILE, MODEL_FILE = RUN_FILES
CHECKPOINT_FILE = "checkpoint.keras"  # the best model so far, while training
#: Why a run ended (``RunResult.stopped``); ``runs_table`` adds ``unfinished``.
STOP_REASONS = ("completed", "early_stopping", "time_limit", "nan", "interrupted")
#: Keys of metrics.json that describe the training; :func:`record_metrics` never changes them.
TRAINING_KEYS = ("name", "best_epoch", "best_metrics", "epochs", "stopped", "train_seconds",
                 "final_learning_rate", "synthetic", "finished")
#: Columns of :func:`runs_table`; ``test_top<k>_accuracy`` for other k follow.
COLUMNS = ("group", "run", "name", "model", "params", "epochs", "best_epoch",
           "best_val_accuracy", "best_val_loss", "test_accuracy", "test_loss",
           "test_top3_accuracy", "train_seconds", "stopped", "synthetic", "superclass", "path",
           "notebook", "started")


@dataclass(frozen=True, eq=False)
class RunResult:
    """One training run. ``history``: metric (and ``learning_rate``) -> one value per epoch;
    ``best_metrics``: those at ``best_epoch`` (lowest ``val_loss``); ``settings``/``metrics``:
    config.json/metrics.json; ``path`` None when not recorded; ``model`` None when not loaded.
    """

    name: str
    path: Path | None
    model: Any
    history: dict[str, list[float]]
    epoch_times: tuple[float, ...]
    train_seconds: float
    best_epoch: int | None
    best_metrics: dict[str, float]
    final_learning_rate: float | None
    epochs: int
    stopped: str
    config: dict[str, Any] = field(default_factory=dict)
    synthetic: bool = False
    settings: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def best_val_accuracy(self) -> float | None:
        """Validation accuracy at the best epoch (None if not recorded)."""
        return self.best_metrics.get("val_accuracy")

    @property
    def test_accuracy(self) -> float | None:
        """Test accuracy once :func:`record_metrics` added it (None before)."""
        return scores_on_test(self.metrics).get("test_accuracy")

    def to_dict(self) -> dict[str, Any]:
        """Everything but the model, JSON-serialisable (NaN becomes None)."""
        model = self.settings.get("model", {})
        return jsonable({"model_name": model.get("name"), "params": model.get("params"),
                         **{f.name: getattr(self, f.name) for f in fields(self)
                            if f.name not in ("model", "settings")}})

    def __repr__(self) -> str:
        best = ", ".join(f"{k} {v:.4g}" for k, v in self.best_metrics.items()
                         if k in ("val_loss", "val_accuracy"))
        mark = " SYNTHETIC" if self.synthetic else ""
        return (f"RunResult({self.name!r}{mark}: {self.epochs} epochs ({self.stopped})"
                + (f", best epoch {self.best_epoch}: {best}" if self.best_epoch else "")
                + f", {self.train_seconds:.1f} s"
                + (f", path={str(self.path)!r})" if self.path is not None else ")"))


def scores_on_test(metrics: Mapping[str, Any]) -> dict[str, float]:
    """test_accuracy, test_loss, test_top<k>_accuracy: flat keys, else the ``test`` record."""
    test = metrics.get("test") if isinstance(metrics.get("test"), Mapping) else {}
    found = {"test_accuracy": test.get("accuracy"), "test_loss": test.get("loss")}
    found.update({f"test_top{k}_accuracy": v
                  for k, v in (test.get("top_k_accuracy") or {}).items() if str(k).isdigit()})
    found.update({k: v for k, v in metrics.items()
                  if re.fullmatch(r"test_(accuracy|loss|top\d+_accuracy)", k)})
    return {k: as_float(v) for k, v in found.items() if v is not None}


def load_run(path: str | os.PathLike, *, load_model: bool = True) -> RunResult:
    """Read a recorded run back (``load_model=False``: no model.keras needed, ``model`` None).
    Example: ``load_run("runs/20240301-142502-baseline").model.predict(images)``"""
    folder = _run_folder(path, RUN_FILES if load_model else RUN_FILES[:3])
    settings, metrics = read_json(folder / CONFIG_FILE), read_json(folder / METRICS_FILE)
    rows = read_history(folder / HISTORY_FILE)
    if load_model:
        import keras
    return RunResult(
        name=settings.get("name", folder.name), path=folder,
        model=keras.saving.load_model(folder / MODEL_FILE) if load_model else None,
        history=history_of(rows), epoch_times=tuple(r.get("epoch_time", math.nan) for r in rows),
        train_seconds=as_float(metrics.get("train_seconds") or 0.0),
        best_epoch=metrics.get("best_epoch"),
        best_metrics={k: as_float(v) for k, v in (metrics.get("best_metrics") or {}).items()},
        final_learning_rate=metrics.get("final_learning_rate"),
        epochs=int(metrics.get("epochs", len(rows))), stopped=metrics.get("stopped", "completed"),
        config=settings.get("config") or {}, synthetic=bool(settings.get("synthetic", False)),
        settings=settings, metrics=metrics)


def record_metrics(run: str | os.PathLike | RunResult, metrics: Mapping[str, Any]) -> dict:
    """Merge evaluation results into a run's metrics.json (a key there is replaced, the
    training record :data:`TRAINING_KEYS` kept); returns it.
    Example: ``record_metrics(result, {"test_loss": loss, "test_accuracy": acc})``
    """
    result = run if isinstance(run, RunResult) else None
    if result is not None and result.path is None:
        raise ValueError(f"Run {result.name!r} was not recorded (record=False): there is no "
                         "folder to add metrics to.")
    folder = _run_folder(result.path if result is not None else run, (METRICS_FILE,))
    if not isinstance(metrics, Mapping) or not metrics:
        raise TypeError(
            f"`metrics` must be a non-empty dict of names -> values. Received: {metrics!r}.")
    if protected := sorted(str(k) for k in metrics if k in TRAINING_KEYS):
        raise ValueError(
            f"`metrics` may not change the training record ({', '.join(protected)}). Use other "
            f"names, e.g. 'test_accuracy'. Protected: {', '.join(TRAINING_KEYS)}.")
    merged = {**read_json(folder / METRICS_FILE), **jsonable(dict(metrics))}
    write_json(folder / METRICS_FILE, merged)
    if result is not None:
        result.metrics.update(merged)
    return merged


def history_of(rows: Sequence[Mapping[str, float]]) -> dict[str, list[float]]:
    """Per-epoch rows (as in history.csv) as metric -> values, without epoch and epoch_time."""
    keys = list(dict.fromkeys(k for row in rows for k in row if k not in ("epoch", "epoch_time")))
    return {k: [float(row.get(k, math.nan)) for row in rows] for k in keys}


def write_history(path: Path, rows: Sequence[Mapping[str, float]]) -> None:
    """history.csv: epoch, training metrics, validation metrics, learning_rate, epoch_time."""
    keys = dict.fromkeys([*(k for row in rows for k in row), "learning_rate", "epoch_time"])
    last = {"learning_rate": 2, "epoch_time": 3}  # after the training and validation metrics
    columns = sorted(keys, key=lambda k: last.get(k, k.startswith("val_")))
    lines = [",".join(["epoch", *columns])] + [
        ",".join([str(epoch)] + [repr(float(row.get(c, math.nan))) for c in columns])
        for epoch, row in enumerate(rows, start=1)]
    atomic_write(path, "\n".join(lines) + "\n")


def read_history(path: Path) -> list[dict[str, float]]:
    """The rows of a history.csv as floats (empty cells NaN); ValueError naming a bad cell."""
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        (_, header), *rows = [(n, r) for n, r in enumerate(csv.reader(f), 1) if r] or [(1, [])]
    return [{key: _cell(text, f"{path} row {n}, column {key!r}")
             for key, text in zip(header, row, strict=False)} for n, row in rows]


def _cell(text: str, where: str) -> float:
    try:
        return float(text) if text.strip() else math.nan
    except ValueError:
        raise ValueError(f"{where}: {text!r} is not a number; correct or delete it.") from None


def _run_folder(path, required: Sequence[str]) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a run folder. Received: {path!r}.")
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"Run folder {folder} does not exist. runs_table(runs_dir) lists the recorded runs.")
    if missing := [f for f in required if not (folder / f).is_file()]:
        hint = (f" The run did not finish; {CHECKPOINT_FILE} holds its best model so far."
                if MODEL_FILE in missing and (folder / CHECKPOINT_FILE).is_file()
                else " The run did not finish (its process ended during training)."
                if METRICS_FILE in missing else "")
        raise FileNotFoundError(f"Run folder {folder} lacks {', '.join(missing)}; a run holds "
                                f"{', '.join(RUN_FILES)}.{hint}")
    return folder


def runs_table(runs_dir: str | os.PathLike = "runs") -> pd.DataFrame:
    """Every run below ``runs_dir`` (any depth, models not loaded), sorted by group and time.

    Columns: :data:`COLUMNS`. ``group``: the run's config, its group's status.json or the
    first folder below ``runs_dir``; ``stopped="unfinished"`` when its process died; test
    results NaN until recorded; ``stopped`` names an unreadable config.json or metrics.json.
    Hidden, ``_*`` and ``previous`` folders are skipped (a report folder holds no run).
    """
    import pandas as pd

    root = Path(runs_dir).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(
            f"`runs_dir` {root} does not exist or is not a folder. Runs are recorded by "
            "cifarlab.train.train(..., runs_dir=...), in 'runs' by default.")
    rows = [_row(folder, root) for folder in _run_folders(root)]
    extra = sorted({k for r in rows for k in r if k not in COLUMNS},
                   key=lambda c: int(re.sub(r"\D", "", c) or 0))
    table = pd.DataFrame(rows, columns=[*COLUMNS, *extra])
    table["started"] = pd.to_datetime(table["started"], utc=True, errors="coerce")
    table = table.sort_values(["group", "notebook", "started", "path"], kind="stable",
                              ignore_index=True)
    table.attrs["synthetic"] = bool(table["synthetic"].any())
    return table


def _run_folders(root: Path) -> list[Path]:
    found = []
    for folder, dirs, files in os.walk(root):
        if CONFIG_FILE in files:
            found.append(Path(folder))
        # nothing below a run; skip hidden and _ folders, and outputs a re-run replaced
        dirs[:] = [] if CONFIG_FILE in files else sorted(
            d for d in dirs if not d.startswith((".", "_")) and d != "previous")
    return sorted(found)


def _record(path: Path) -> tuple[dict, str | None]:
    """A run's config.json or metrics.json, and why not when it cannot be read."""
    try:
        return read_json(path), None
    except FileNotFoundError:
        return {}, "unfinished"
    except (OSError, ValueError) as err:
        return {}, f"{path.name} unreadable: {err}"


def _row(folder: Path, root: Path) -> dict[str, Any]:
    settings, bad_config = _record(folder / CONFIG_FILE)
    metrics, bad_metrics = _record(folder / METRICS_FILE)
    config = settings.get("config") if isinstance(settings.get("config"), dict) else {}
    model = settings.get("model") if isinstance(settings.get("model"), dict) else {}
    best = metrics.get("best_metrics") if isinstance(metrics.get("best_metrics"), dict) else {}
    status = find_group(folder, root)[1] or {}
    parts = folder.relative_to(root).parts
    return {
        "group": str(config.get("group") or status.get("group")
                     or (parts[0] if len(parts) >= 2 else "")),
        "run": folder.name,
        "name": settings.get("name", folder.name),
        "model": str(config.get("model") or config.get("variant") or model.get("name") or ""),
        "params": model.get("params"),
        "epochs": metrics.get("epochs"),
        "best_epoch": metrics.get("best_epoch"),
        "best_val_accuracy": as_float(best.get("val_accuracy")),
        "best_val_loss": as_float(best.get("val_loss")),
        **dict.fromkeys(("test_accuracy", "test_loss", "test_top3_accuracy"), math.nan),
        **scores_on_test(metrics),
        "train_seconds": as_float(metrics.get("train_seconds")),
        "stopped": bad_config or bad_metrics or metrics.get("stopped", "unfinished"),
        "synthetic": bool(settings.get("synthetic") or config.get("synthetic")),
        "superclass": _superclass(config.get("superclass") or status.get("superclass")),
        "path": str(folder),
        "notebook": folder.parent.name if folder.parent.parent.name == "records" else "",
        "started": settings.get("started"),
    }


def read_status(group_dir: str | os.PathLike) -> dict[str, Any] | None:
    """A group folder's ``status.json`` (written by ``cifarlab run-notebooks``), or None."""
    try:
        return read_json(Path(group_dir) / STATUS_FILE)
    except (OSError, ValueError):
        return None


def write_status(group_dir: str | os.PathLike, status: Mapping[str, Any]) -> Path:
    """Write a group folder's ``status.json`` atomically."""
    return write_json(Path(group_dir) / STATUS_FILE, status)


def find_group(run_dir: str | os.PathLike, root: str | os.PathLike | None = None
               ) -> tuple[Path | None, dict[str, Any] | None]:
    """The group folder holding a run (nearest with ``status.json``, at most four levels up
    and not above ``root``) and its status; (None, None) when there is none."""
    current = Path(run_dir).resolve()
    for folder in [current, *current.parents][:4]:
        if (status := read_status(folder)) is not None:
            return folder, status
        if root is not None and folder == Path(root).resolve():
            break
    return None, None


def _superclass(value) -> str:
    try:
        return "" if value in (None, "") else _labels.superclass_name(value)
    except (TypeError, ValueError):
        return str(value)


def as_float(value) -> float:
    """``float(value)``, NaN when it is not a number (None, text)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan

