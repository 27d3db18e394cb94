"""Train a model with the callbacks a practitioner expects, and record every run.

One call trains, keeps the best weights and writes a run record::

    from cifarlab import train
    result = train.train(model, (x_tr, y_tr), (x_val, y_val), epochs=20, name="baseline")
    result.best_epoch, result.best_metrics["val_accuracy"], result.path

Validation data is required and must come from the *training* split (see
:func:`cifarlab.data.train_val_split`); the test split is kept for the final
evaluation only. Every run is written to its own folder that no later run overwrites::

    runs/20240301-142502-baseline/
        config.json    settings, model name and size, data, versions, start time
        history.csv    one row per epoch (epoch from 1, metrics, learning_rate, epoch_time)
        metrics.json   best epoch, best validation metrics, total time, why it stopped
        model.keras    the final model (the best weights when early stopping restored them)

:func:`load_run` reads a run back, :func:`list_runs` tabulates a folder of runs and
:func:`record_metrics` adds evaluation results (test accuracy, ...) to a run.
:func:`random_search` tries hyperparameters with keras-tuner on the validation split.
"""

from __future__ import annotations

import csv
import difflib
import inspect
import io
import json
import math
import os
import platform
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import keras
import numpy as np

from cifarlab._files import atomic_write

if TYPE_CHECKING:
    import pandas as pd
    import tensorflow as tf

#: What ``train_data`` / ``val_data`` may be: a batched tf.data pipeline or (images, labels).
Data = Union["tf.data.Dataset", tuple[np.ndarray, np.ndarray]]

__all__ = [
    "OPTIMIZERS",
    "STOP_REASONS",
    "EpochTimer",
    "LearningRateLogger",
    "RunResult",
    "compile_model",
    "list_runs",
    "load_run",
    "make_optimizer",
    "random_search",
    "record_metrics",
    "train",
]

#: Optimizer names accepted by :func:`make_optimizer`, :func:`compile_model` and :func:`train`.
OPTIMIZERS: dict[str, Callable[..., keras.optimizers.Optimizer]] = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "adamax": keras.optimizers.Adamax,
    "nadam": keras.optimizers.Nadam,
    "rmsprop": keras.optimizers.RMSprop,
    "sgd": keras.optimizers.SGD,
    "adagrad": keras.optimizers.Adagrad,
}

#: Why a run ended, as recorded in ``RunResult.stopped`` and ``metrics.json``.
STOP_REASONS = ("completed", "early_stopping", "nan", "interrupted")

OBJECTIVES = {"val_accuracy": "max", "val_loss": "min"}

CONFIG_FILE, HISTORY_FILE, METRICS_FILE, MODEL_FILE = (
    "config.json",
    "history.csv",
    "metrics.json",
    "model.keras",
)
RUN_FILES = (CONFIG_FILE, HISTORY_FILE, METRICS_FILE, MODEL_FILE)
#: Written during training so that a killed process still leaves the best model so far;
#: removed once ``model.keras`` is written.
CHECKPOINT_FILE = "checkpoint.keras"

# Keys of metrics.json that describe the training run; record_metrics never changes them.
_TRAINING_KEYS = (
    "name",
    "best_epoch",
    "best_metrics",
    "epochs_run",
    "stopped",
    "total_time",
    "final_learning_rate",
    "synthetic",
    "finished",
)


# --------------------------------------------------------------------------- the value


@dataclass(frozen=True, eq=False)
class RunResult:
    """One training run: the model, its history and what was recorded.

    Attributes:
        name: the run's name as given to :func:`train`.
        path: the run folder, or None when ``record=False``.
        model: the trained Keras model (best weights when early stopping restored
            them); None when loaded with ``load_run(..., load_model=False)``.
        history: metric name -> one float per epoch (``loss``, ``accuracy``,
            ``val_loss``, ``val_accuracy``, ..., and ``learning_rate``, the rate
            used during that epoch).
        epoch_times: seconds per epoch (training and validation).
        total_time: seconds for the whole fit.
        best_epoch: 1-based epoch with the lowest ``val_loss`` (None if no finite one).
        best_metrics: every metric of ``history`` at ``best_epoch``.
        final_learning_rate: the optimizer's learning rate when training ended.
        epochs_run: epochs completed.
        stopped: ``"completed"``, ``"early_stopping"``, ``"nan"`` or ``"interrupted"``.
        config: the extra ``config`` dict given to :func:`train`.
        synthetic: True when the data was SYNTHETIC (``config["synthetic"]``).
        settings: everything recorded in ``config.json``.
        metrics: everything recorded in ``metrics.json`` (evaluation results included).
    """

    name: str
    path: Path | None
    model: Any
    history: dict[str, list[float]]
    epoch_times: tuple[float, ...]
    total_time: float
    best_epoch: int | None
    best_metrics: dict[str, float]
    final_learning_rate: float | None
    epochs_run: int
    stopped: str
    config: dict[str, Any] = field(default_factory=dict)
    synthetic: bool = False
    settings: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def best_val_accuracy(self) -> float | None:
        """Validation accuracy at the best epoch (None if not recorded)."""
        return self.best_metrics.get("val_accuracy")

    def to_dict(self) -> dict[str, Any]:
        """Everything but the model, JSON-serialisable (NaN becomes None)."""
        model = self.settings.get("model", {})
        return _jsonable(
            {
                "name": self.name,
                "path": None if self.path is None else str(self.path),
                "model_name": model.get("name"),
                "params": model.get("params"),
                "history": self.history,
                "epoch_times": list(self.epoch_times),
                "total_time": self.total_time,
                "best_epoch": self.best_epoch,
                "best_metrics": self.best_metrics,
                "final_learning_rate": self.final_learning_rate,
                "epochs_run": self.epochs_run,
                "stopped": self.stopped,
                "config": self.config,
                "synthetic": self.synthetic,
                "metrics": self.metrics,
            }
        )

    def __repr__(self) -> str:
        mark = " SYNTHETIC" if self.synthetic else ""
        best = ""
        if self.best_epoch is not None:
            shown = ", ".join(
                f"{k} {v:.4g}"
                for k, v in self.best_metrics.items()
                if k in ("val_loss", "val_accuracy")
            )
            best = f", best epoch {self.best_epoch}: {shown}"
        where = f", path={str(self.path)!r}" if self.path is not None else ""
        return (
            f"RunResult({self.name!r}{mark}: {self.epochs_run} epochs ({self.stopped})"
            f"{best}, {self.total_time:.1f} s{where})"
        )


# --------------------------------------------------------------------------- callbacks


class EpochTimer(keras.callbacks.Callback):
    """Measures the wall-clock seconds of every epoch (training and validation).

    Example:
        >>> timer = EpochTimer()
        >>> model.fit(train_ds, validation_data=val_ds, epochs=3, callbacks=[timer])
        >>> timer.times    # [12.1, 11.8, 11.9]
    """

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []
        self._start: float | None = None

    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if self._start is not None:
            self.times.append(time.perf_counter() - self._start)


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the learning rate used during each epoch to the logs, as ``learning_rate``.

    Place it before callbacks that change the rate at the end of an epoch
    (``ReduceLROnPlateau``), so the value is the one the epoch was trained with.
    The History callback then holds it with the other metrics.
    """

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = _current_lr(self.model)


class _RunRecorder(keras.callbacks.Callback):
    """Keeps each epoch's logs (copied, with time and rate) and writes history.csv."""

    def __init__(self, timer: EpochTimer, run_dir: Path | None) -> None:
        super().__init__()
        self.timer = timer
        self.run_dir = run_dir
        self.rows: list[dict[str, float]] = []
        self.nan_epoch: int | None = None
        self.current_epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.current_epoch = epoch + 1

    def on_epoch_end(self, epoch, logs=None):
        row = {k: _to_float(v) for k, v in (logs or {}).items()}
        row.setdefault("learning_rate", _current_lr(self.model))
        row["epoch_time"] = self.timer.times[-1] if self.timer.times else float("nan")
        self.rows.append(row)
        if self.nan_epoch is None and not math.isfinite(row.get("loss", 0.0)):
            self.nan_epoch = epoch + 1
        if self.run_dir is not None:
            _write_history(self.run_dir / HISTORY_FILE, self.rows)


# --------------------------------------------------------------------------- compiling


def make_optimizer(
    name: str | keras.optimizers.Optimizer = "adam", *, learning_rate: float = 1e-3
) -> keras.optimizers.Optimizer:
    """A Keras optimizer from its name (one of :data:`OPTIMIZERS`) and a learning rate.

    ``"sgd"`` is plain SGD (no momentum), as ``keras.optimizers.SGD``. An optimizer
    instance is returned unchanged.

    Example:
        >>> opt = make_optimizer("adamax", learning_rate=1e-4)
    """
    if isinstance(name, keras.optimizers.Optimizer):
        return name
    _check_learning_rate(learning_rate)
    key = _choice("optimizer", name, OPTIMIZERS)
    return OPTIMIZERS[key](learning_rate=float(learning_rate))


def compile_model(
    model: keras.Model,
    *,
    optimizer: str | keras.optimizers.Optimizer = "adam",
    learning_rate: float = 1e-3,
    top_k: int | str | None = "auto",
) -> keras.Model:
    """Compile a classifier for integer labels: sparse categorical cross-entropy, accuracy.

    Args:
        model: a model with softmax outputs.
        optimizer: a name from :data:`OPTIMIZERS` or an optimizer instance.
        learning_rate: the learning rate (for a named optimizer).
        top_k: also report ``top{k}_accuracy``; ``"auto"`` adds top-5 accuracy when the
            model has 20 or more classes (CIFAR-100), ``None`` never.

    Returns:
        The same model, compiled.

    Example:
        >>> model = compile_model(build_baseline_cnn(5), optimizer="sgd", learning_rate=0.01)
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model. Received: {type(model).__name__}.")
    opt = make_optimizer(optimizer, learning_rate=learning_rate)
    metrics: list[Any] = ["accuracy"]
    classes = _num_outputs(model)
    if top_k == "auto":
        top_k = 5 if classes is not None and classes >= 20 else None
    if top_k is not None:
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ValueError(
                f'`top_k` must be a positive integer, "auto" or None. Received: top_k={top_k!r}.'
            )
        metrics.append(
            keras.metrics.SparseTopKCategoricalAccuracy(k=top_k, name=f"top{top_k}_accuracy")
        )
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=metrics)
    return model


# --------------------------------------------------------------------------- training


def train(
    model: keras.Model | Callable[[], keras.Model],
    train_data: Data,
    val_data: Data,
    *,
    epochs: int,
    name: str = "run",
    runs_dir: str | os.PathLike = "runs",
    learning_rate: float = 1e-3,
    optimizer: str | keras.optimizers.Optimizer = "adam",
    batch_size: int = 64,
    early_stopping_patience: int | None = 5,
    reduce_lr_patience: int | None = 3,
    reduce_lr_factor: float = 0.5,
    checkpoint: bool = True,
    strategy: tf.distribute.Strategy | None = None,
    mixed_precision: bool = False,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    config: Mapping[str, Any] | None = None,
    record: bool = True,
    verbose: int = 1,
    seed: int | None = 0,
) -> RunResult:
    """Fit a classifier with early stopping, learning-rate reduction and a run record.

    Callbacks used: ``EarlyStopping(monitor="val_loss", restore_best_weights=True)``,
    ``ReduceLROnPlateau(monitor="val_loss")``, ``TerminateOnNaN``,
    ``ModelCheckpoint(save_best_only=True)`` (to ``checkpoint.keras`` in the run
    folder while training), an :class:`EpochTimer` and a :class:`LearningRateLogger`,
    then your own ``callbacks``.

    How a run can end (``result.stopped``):

    - ``"completed"``: all ``epochs`` ran (or one of your callbacks stopped it).
    - ``"early_stopping"``: ``val_loss`` did not improve for ``early_stopping_patience``
      epochs; the best weights are restored.
    - ``"nan"``: the loss became NaN or infinite; training stops, a warning names the
      epoch, and the best weights so far are restored (from early stopping or the
      checkpoint). Try a lower learning rate.
    - ``"interrupted"``: you pressed Ctrl-C / the notebook's stop button
      (``KeyboardInterrupt``). The exception is *not* re-raised: the epochs completed so
      far and the best weights are kept, recorded and returned, with a warning, so a
      notebook keeps what it has.

    Args:
        model: a Keras model with softmax outputs taking float images in [0, 1], or a
            zero-argument function that builds one (needed for ``mixed_precision``, and
            best with ``strategy``). A model that is not compiled yet is compiled with
            ``optimizer`` at ``learning_rate``, sparse categorical cross-entropy and
            accuracy (see :func:`compile_model`); a compiled model keeps its settings.
        train_data: a batched ``tf.data.Dataset`` (from
            :func:`cifarlab.data.make_dataset`) or a tuple ``(images, labels)`` of
            NumPy arrays (uint8 images are scaled to [0, 1]; shuffled every epoch).
        val_data: the validation data, in the same forms. Required. Take it from the
            training split with :func:`cifarlab.data.train_val_split`; never pass the
            test split, which is for the final evaluation only.
        epochs: the most epochs to run (a positive integer).
        name: the run's name; the folder is ``runs_dir/<YYYYmmdd-HHMMSS>-<name>``.
        runs_dir: where run folders go (created if needed).
        learning_rate: for a model that is not compiled yet.
        optimizer: a name from :data:`OPTIMIZERS` or an optimizer, for a model that is
            not compiled yet.
        batch_size: batch size when the data are NumPy arrays.
        early_stopping_patience: epochs without improvement of ``val_loss`` before
            stopping. With early stopping on, the model returned and saved always holds
            the weights of the best epoch, also when all epochs ran. None turns it off:
            the last weights are kept.
        reduce_lr_patience: epochs without improvement of ``val_loss`` before the
            learning rate is multiplied by ``reduce_lr_factor`` (down to 1e-7); None
            turns it off.
        reduce_lr_factor: in (0, 1).
        checkpoint: save the best model so far to the run folder during training
            (needs ``record=True``).
        strategy: a ``tf.distribute.Strategy``. The model is built (when ``model`` is a
            builder) and compiled inside ``strategy.scope()``. A model that is already
            built is cloned inside the scope (``keras.models.clone_model`` and its
            weights copied; a compiled model's compile settings are copied too), and the
            clone is trained and returned: the object you passed is not changed.
        mixed_precision: build the model under the ``"mixed_float16"`` policy (faster on
            recent GPUs, slow on CPU). Needs ``model`` to be a builder, because the policy
            applies when layers are created; the previous global policy is restored
            afterwards.
        callbacks: more Keras callbacks, called after the recorder.
        config: extra settings to record in ``config.json`` (superclass, model name,
            ``synthetic``: True for SYNTHETIC data, ...). JSON-serialisable values.
        record: write the run folder. With False nothing is written (no checkpoint).
        verbose: 0 silent, 1 progress bar, 2 one line per epoch.
        seed: seeds Python, NumPy and the backend (``keras.utils.set_random_seed``)
            before building and fitting; None leaves the seeds alone.

    Returns:
        A :class:`RunResult`.

    Raises:
        ValueError, TypeError: a bad argument or data that do not fit the model,
            before any training starts.
        PermissionError: ``runs_dir`` cannot be written.

    Example:
        >>> from cifarlab import data, models, train
        >>> (x_tr, y_tr), (x_val, y_val) = data.train_val_split(mammals.x_train,
        ...                                                     mammals.y_train)
        >>> result = train.train(models.build_baseline_cnn(5), (x_tr, y_tr), (x_val, y_val),
        ...                      epochs=20, name="baseline",
        ...                      config={"superclass": "medium_mammals",
        ...                              "data": mammals.description,
        ...                              "synthetic": mammals.synthetic})
        >>> result.best_epoch, result.best_val_accuracy
    """
    # ---- check everything before anything is built, written or trained
    _check_int("epochs", epochs, minimum=1)
    if not isinstance(name, str):
        raise TypeError(f"`name` must be a string. Received: name={name!r}.")
    _check_learning_rate(learning_rate)
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        _choice("optimizer", optimizer, OPTIMIZERS)
    _check_int("batch_size", batch_size, minimum=1)
    for arg, value in (
        ("early_stopping_patience", early_stopping_patience),
        ("reduce_lr_patience", reduce_lr_patience),
    ):
        if value is not None:
            _check_int(arg, value, minimum=0)
    if (
        isinstance(reduce_lr_factor, bool)
        or not isinstance(reduce_lr_factor, (int, float))
        or not 0 < reduce_lr_factor < 1
    ):
        raise ValueError(
            "`reduce_lr_factor` must be a number strictly between 0 and 1. "
            f"Received: reduce_lr_factor={reduce_lr_factor!r}."
        )
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"`verbose` must be 0, 1 or 2. Received: verbose={verbose!r}.")
    if seed is not None:
        _check_int("seed", seed, minimum=0)
    callbacks = _check_callbacks(callbacks)
    user_config = _check_config(config)
    if strategy is not None:
        import tensorflow as tf

        if not isinstance(strategy, tf.distribute.Strategy):
            raise TypeError(
                "`strategy` must be a tf.distribute.Strategy (e.g. "
                f"tf.distribute.MirroredStrategy()) or None. Received: {strategy!r}."
            )
    is_builder = not isinstance(model, keras.Model)
    if is_builder and not callable(model):
        raise TypeError(
            "`model` must be a keras.Model or a zero-argument function that builds one. "
            f"Received: {type(model).__name__}."
        )
    if mixed_precision and not is_builder:
        raise ValueError(
            "`mixed_precision=True` needs `model` to be a zero-argument function that builds "
            "the model (e.g. `lambda: build_baseline_cnn(5)`): the policy applies when the "
            "layers are created, so an already built model would stay float32."
        )
    if train_data is None:
        raise ValueError("`train_data` is required: a tf.data.Dataset or (images, labels).")
    if val_data is None:
        raise ValueError(
            "`val_data` is required: take it from the training split with "
            "cifarlab.data.train_val_split(x_train, y_train) (never the test split, which "
            "is kept for the final evaluation)."
        )
    _check_data_form("train_data", train_data)
    _check_data_form("val_data", val_data)
    runs_root = _check_runs_dir(runs_dir) if record else None

    if seed is not None:
        keras.utils.set_random_seed(seed)

    # ---- the model, compiled (inside the strategy's scope when there is one)
    model, compiled_here = _prepare_model(
        model, strategy, mixed_precision, optimizer, learning_rate
    )
    if not compiled_here and (learning_rate != 1e-3 or optimizer != "adam"):
        warnings.warn(
            f"The model was already compiled, so optimizer={optimizer!r} and "
            f"learning_rate={learning_rate!r} are ignored; it trains with its own "
            f"{type(model.optimizer).__name__} at learning rate {_current_lr(model):g}.",
            stacklevel=2,
        )
    if reduce_lr_patience is not None and _has_lr_schedule(model):
        raise ValueError(
            "The model's optimizer uses a LearningRateSchedule, which ReduceLROnPlateau "
            "cannot change. Pass reduce_lr_patience=None."
        )

    # ---- the data, checked against the model
    train_ds, train_desc = _as_dataset(
        "train_data", train_data, model, batch_size=batch_size, training=True, seed=seed or 0
    )
    val_ds, val_desc = _as_dataset(
        "val_data", val_data, model, batch_size=batch_size, training=False, seed=seed or 0
    )

    # ---- the run folder and its config, before training
    started = datetime.now().astimezone()
    settings = {
        "name": name,
        "started": started.isoformat(timespec="seconds"),
        "synthetic": bool(user_config.get("synthetic", False)),
        "config": user_config,
        "train": {
            "epochs": epochs,
            "optimizer": type(model.optimizer).__name__,
            "learning_rate": _current_lr(model),
            "compiled_by": "train" if compiled_here else "caller",
            "loss": _loss_name(model),
            "batch_size": batch_size,
            "early_stopping_patience": early_stopping_patience,
            "reduce_lr_patience": reduce_lr_patience,
            "reduce_lr_factor": reduce_lr_factor,
            "checkpoint": bool(checkpoint and record),
            "mixed_precision": bool(mixed_precision),
            "strategy": None
            if strategy is None
            else {
                "type": type(strategy).__name__,
                "replicas": int(strategy.num_replicas_in_sync),
            },
            "seed": seed,
            "callbacks": [type(cb).__name__ for cb in callbacks],
        },
        "model": _model_info(model),
        "data": {"train": train_desc, "val": val_desc},
        "versions": _versions(),
    }
    run_dir = None
    if record:
        run_dir = _make_run_dir(runs_root, name, started)
        settings["folder"] = run_dir.name
        _write_json(run_dir / CONFIG_FILE, settings)

    # ---- callbacks: ours first so that the logs they record are the epoch's own
    timer = EpochTimer()
    recorder = _RunRecorder(timer, run_dir)
    early = None
    all_callbacks: list[keras.callbacks.Callback] = [timer, LearningRateLogger(), recorder]
    all_callbacks += callbacks
    if early_stopping_patience is not None:
        early = keras.callbacks.EarlyStopping(
            monitor="val_loss",
            patience=early_stopping_patience,
            restore_best_weights=True,
            verbose=int(verbose > 0),
        )
        all_callbacks.append(early)
    if reduce_lr_patience is not None:
        all_callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss",
                factor=reduce_lr_factor,
                patience=reduce_lr_patience,
                min_lr=1e-7,
                verbose=int(verbose > 0),
            )
        )
    all_callbacks.append(keras.callbacks.TerminateOnNaN())
    checkpoint_path = None
    if checkpoint and run_dir is not None:
        checkpoint_path = run_dir / CHECKPOINT_FILE
        all_callbacks.append(
            keras.callbacks.ModelCheckpoint(
                str(checkpoint_path), monitor="val_loss", save_best_only=True, verbose=0
            )
        )

    # ---- fit
    interrupted = False
    t0 = time.perf_counter()
    try:
        model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=epochs,
            callbacks=all_callbacks,
            shuffle=False,  # the training dataset shuffles itself, every epoch
            verbose=verbose,
        )
    except KeyboardInterrupt:
        interrupted = True
    total_time = time.perf_counter() - t0

    # ---- why it stopped, and the best weights back where training did not restore them
    rows = recorder.rows
    if interrupted:
        stopped = "interrupted"
    elif recorder.nan_epoch is not None:
        stopped = "nan"
    elif early is not None and early.stopped_epoch > 0:
        stopped = "early_stopping"
    else:
        stopped = "completed"
    history = _history_from_rows(rows)
    best_epoch = _best_epoch(history)
    restored = True
    if stopped == "interrupted" and early is not None and early.best_weights is not None:
        model.set_weights(early.best_weights)  # on_train_end did not run
    elif stopped in ("interrupted", "nan") and early is None:
        restored = _restore_from_checkpoint(model, checkpoint_path)
    if stopped == "nan":
        warnings.warn(
            f"The loss became NaN (or infinite) in epoch {recorder.nan_epoch}: training "
            "stopped. Try a lower learning rate (e.g. 10x lower than "
            f"{settings['train']['learning_rate']:g}), and check that images are scaled to "
            "[0, 1]. "
            + (
                f"The model holds the weights of the best epoch ({best_epoch})."
                if restored and best_epoch is not None
                else "The model's weights may be NaN: rebuild it before training again."
            ),
            RuntimeWarning,
            stacklevel=2,
        )
    if stopped == "interrupted":
        warnings.warn(
            f"Training was interrupted during epoch {len(rows) + 1}; the {len(rows)} epochs "
            "completed are kept"
            + (f", with the weights of the best epoch ({best_epoch})" if best_epoch else "")
            + (f", and recorded in {run_dir}" if run_dir is not None else "")
            + ".",
            RuntimeWarning,
            stacklevel=2,
        )

    best_metrics = (
        {k: v[best_epoch - 1] for k, v in history.items()} if best_epoch is not None else {}
    )
    metrics = {
        "name": name,
        "best_epoch": best_epoch,
        "best_metrics": best_metrics,
        "epochs_run": len(rows),
        "stopped": stopped,
        "total_time": total_time,
        "final_learning_rate": _current_lr(model),
        "synthetic": settings["synthetic"],
        "finished": datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    if run_dir is not None:
        _write_history(run_dir / HISTORY_FILE, rows)
        _atomic_save_model(model, run_dir / MODEL_FILE)
        _write_json(run_dir / METRICS_FILE, metrics)
        if checkpoint_path is not None:
            checkpoint_path.unlink(missing_ok=True)

    return RunResult(
        name=name,
        path=run_dir,
        model=model,
        history=history,
        epoch_times=tuple(r["epoch_time"] for r in rows),
        total_time=total_time,
        best_epoch=best_epoch,
        best_metrics=best_metrics,
        final_learning_rate=metrics["final_learning_rate"],
        epochs_run=len(rows),
        stopped=stopped,
        config=user_config,
        synthetic=settings["synthetic"],
        settings=_jsonable(settings),
        metrics=_jsonable(metrics),
    )


# --------------------------------------------------------------------------- run records


def record_metrics(run: str | os.PathLike | RunResult, metrics: Mapping[str, Any]) -> dict:
    """Add evaluation results to a run's ``metrics.json`` (merged, written atomically).

    Use flat names with the split as prefix, so :func:`list_runs` finds them:
    ``{"test_accuracy": 0.61, "test_loss": 1.2}``. A key that is already there is
    replaced (re-evaluating updates it); the training record (``best_epoch``,
    ``stopped``, ...) cannot be changed.

    Args:
        run: a run folder or the :class:`RunResult` of a recorded run.
        metrics: names -> JSON-serialisable values (NumPy numbers are converted).

    Returns:
        The merged contents of ``metrics.json``.

    Example:
        >>> loss, acc = result.model.evaluate(test_ds, verbose=0)
        >>> record_metrics(result, {"test_loss": loss, "test_accuracy": acc})
    """
    result = run if isinstance(run, RunResult) else None
    if result is not None:
        if result.path is None:
            raise ValueError(
                f"Run {result.name!r} was not recorded (record=False): there is no folder "
                "to add metrics to."
            )
        run = result.path
    path = _check_run_dir(run, required=(METRICS_FILE,))
    if not isinstance(metrics, Mapping) or not metrics:
        raise TypeError(
            f"`metrics` must be a non-empty dict of names -> values. Received: {metrics!r}."
        )
    bad = sorted(str(k) for k in metrics if not isinstance(k, str))
    if bad:
        raise TypeError(f"`metrics` keys must be strings. Received keys: {', '.join(bad)}.")
    protected = sorted(k for k in metrics if k in _TRAINING_KEYS)
    if protected:
        raise ValueError(
            f"`metrics` may not change the training record ({', '.join(protected)}). "
            f"Use other names, e.g. 'test_accuracy'. Protected: {', '.join(_TRAINING_KEYS)}."
        )
    merged = {**_read_json(path / METRICS_FILE), **_jsonable(dict(metrics))}
    _write_json(path / METRICS_FILE, merged)
    if result is not None:
        result.metrics.update(merged)  # the run in memory says what its folder says
    return merged


def load_run(path: str | os.PathLike, *, load_model: bool = True) -> RunResult:
    """Read a recorded run back: model, history, config and metrics.

    Args:
        path: the run folder (``runs/<YYYYmmdd-HHMMSS>-<name>``).
        load_model: load ``model.keras`` too (``keras.saving.load_model``); with False
            ``model`` is None and the file need not exist.

    Raises:
        FileNotFoundError: the folder, or one of its files, is missing (named).

    Example:
        >>> run = load_run("runs/20240301-142502-baseline")
        >>> run.best_epoch, run.model.predict(images)
    """
    required = RUN_FILES if load_model else (CONFIG_FILE, HISTORY_FILE, METRICS_FILE)
    folder = _check_run_dir(path, required=required)
    settings = _read_json(folder / CONFIG_FILE)
    metrics = _read_json(folder / METRICS_FILE)
    rows = _read_history(folder / HISTORY_FILE)
    history = _history_from_rows(rows)
    model = keras.saving.load_model(folder / MODEL_FILE) if load_model else None
    best_metrics = {k: _nan_if_none(v) for k, v in (metrics.get("best_metrics") or {}).items()}
    return RunResult(
        name=settings.get("name", folder.name),
        path=folder,
        model=model,
        history=history,
        epoch_times=tuple(r.get("epoch_time", float("nan")) for r in rows),
        total_time=float(metrics.get("total_time") or 0.0),
        best_epoch=metrics.get("best_epoch"),
        best_metrics=best_metrics,
        final_learning_rate=metrics.get("final_learning_rate"),
        epochs_run=int(metrics.get("epochs_run", len(rows))),
        stopped=metrics.get("stopped", "completed"),
        config=settings.get("config") or {},
        synthetic=bool(settings.get("synthetic", False)),
        settings=settings,
        metrics=metrics,
    )


LIST_COLUMNS = (
    "name",
    "started",
    "model",
    "params",
    "epochs_run",
    "best_epoch",
    "best_val_loss",
    "best_val_accuracy",
    "test_accuracy",
    "total_time",
    "stopped",
    "synthetic",
    "path",
)


def list_runs(runs_dir: str | os.PathLike = "runs") -> pd.DataFrame:
    """A table of the recorded runs in ``runs_dir``, oldest first.

    One row per run folder (folders without ``config.json`` are skipped), with the
    columns of :data:`LIST_COLUMNS`: name, start time, model name and parameter count,
    epochs, best epoch, best validation loss and accuracy, ``test_accuracy`` when
    :func:`record_metrics` added it, total seconds, why it stopped, whether the data
    were SYNTHETIC, and the folder. A run whose process died before the end has
    ``stopped == "unfinished"``. Models are not loaded.

    Example:
        >>> list_runs("runs").sort_values("best_val_accuracy", ascending=False).head()
    """
    import pandas as pd

    root = Path(runs_dir).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(
            f"`runs_dir` {root} does not exist or is not a folder. Runs are recorded by "
            "cifarlab.train.train(..., runs_dir=...), in 'runs' by default."
        )
    rows = []
    for folder in sorted(p for p in root.iterdir() if (p / CONFIG_FILE).is_file()):
        try:
            settings = _read_json(folder / CONFIG_FILE)
        except ValueError:
            continue  # not a cifarlab run
        try:
            metrics = _read_json(folder / METRICS_FILE)
        except (FileNotFoundError, ValueError):
            metrics = {"stopped": "unfinished"}
        best = metrics.get("best_metrics") or {}
        test = metrics.get("test_accuracy")
        if test is None and isinstance(metrics.get("test"), Mapping):
            test = metrics["test"].get("accuracy")
        model = settings.get("model") or {}
        rows.append(
            {
                "name": settings.get("name", folder.name),
                "started": pd.Timestamp(settings["started"]) if "started" in settings else None,
                "model": model.get("name"),
                "params": model.get("params"),
                "epochs_run": metrics.get("epochs_run"),
                "best_epoch": metrics.get("best_epoch"),
                "best_val_loss": _nan_if_none(best.get("val_loss")),
                "best_val_accuracy": _nan_if_none(best.get("val_accuracy")),
                "test_accuracy": _nan_if_none(test),
                "total_time": _nan_if_none(metrics.get("total_time")),
                "stopped": metrics.get("stopped", "unfinished"),
                "synthetic": bool(settings.get("synthetic", False)),
                "path": str(folder),
            }
        )
    table = pd.DataFrame(rows, columns=list(LIST_COLUMNS))
    if rows:
        table["started"] = pd.to_datetime(table["started"], utc=True)
        table = table.sort_values(["started", "path"], kind="stable").reset_index(drop=True)
    return table


# --------------------------------------------------------------------------- random search


def random_search(
    build_fn: Callable[..., keras.Model],
    train_data: Data,
    val_data: Data,
    *,
    space: Mapping[str, Sequence],
    max_trials: int = 5,
    epochs: int = 3,
    batch_size: int = 64,
    seed: int = 0,
    directory: str | os.PathLike | None = None,
    objective: str = "val_accuracy",
    synthetic: bool = False,
    verbose: int = 0,
) -> pd.DataFrame:
    """Random search over a hyperparameter space with keras-tuner, on the validation split.

    Each trial draws one value per hyperparameter from ``space``, builds a model with
    ``build_fn(**values)``, trains it ``epochs`` epochs on ``train_data`` and scores it on
    ``val_data`` (never the test split). A model that ``build_fn`` returns uncompiled is
    compiled with :func:`compile_model`, using the trial's ``optimizer`` and
    ``learning_rate`` when the space has them, so these two keys may be searched even
    when ``build_fn`` does not take them.

    Args:
        build_fn: returns a keras.Model; its parameters are the keys of ``space``.
        train_data, val_data: as for :func:`train` (tf.data or ``(images, labels)``).
        space: hyperparameter -> list of values to draw from (str, int, float or bool,
            one type per list), e.g. ``{"optimizer": ["adam", "sgd", "adamax"],
            "dense_units": [128, 256, 512], "learning_rate": [1e-3, 1e-4]}``.
        max_trials: how many combinations to try (fewer if the space is smaller).
        epochs: epochs per trial.
        batch_size: when the data are arrays.
        seed: draws and model initialisation.
        directory: where keras-tuner keeps its files, in a new sub-folder per search
            (nothing earlier is overwritten); by default a temporary folder, deleted
            after the search.
        objective: ``"val_accuracy"`` (higher is better) or ``"val_loss"``.
        synthetic: True when the data are SYNTHETIC; recorded in the table's
            ``synthetic`` column and ``attrs``.
        verbose: 0 silent, 1 keras-tuner's progress.

    Returns:
        A ``pandas.DataFrame`` sorted best-first: ``trial_id``, one column per
        hyperparameter, ``val_accuracy`` and ``val_loss`` (at the trial's best epoch by
        ``objective``), ``best_epoch`` (1-based), ``status`` and ``synthetic``.

    Example:
        >>> def build(dense_units, dropout):
        ...     return models.build_cnn(5, dense_units=(dense_units,), dropout=dropout)
        >>> table = random_search(build, (x_tr, y_tr), (x_val, y_val), max_trials=6,
        ...     space={"dense_units": [128, 256, 512], "dropout": [0.0, 0.3],
        ...            "optimizer": ["adam", "sgd", "adamax"], "learning_rate": [1e-3, 1e-4]})
        >>> table.head(3)   # best first
    """
    import keras_tuner
    import pandas as pd

    if not callable(build_fn):
        raise TypeError(f"`build_fn` must be callable. Received: {type(build_fn).__name__}.")
    choices = _check_space(space, build_fn)
    _check_int("max_trials", max_trials, minimum=1)
    _check_int("epochs", epochs, minimum=1)
    _check_int("batch_size", batch_size, minimum=1)
    _check_int("seed", seed, minimum=0)
    objective = _choice("objective", objective, OBJECTIVES)
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"`verbose` must be 0, 1 or 2. Received: verbose={verbose!r}.")
    for arg, data in (("train_data", train_data), ("val_data", val_data)):
        if data is None:
            raise ValueError(
                f"`{arg}` is required (validation comes from the training split, "
                "never the test split)."
            )
        _check_data_form(arg, data)
    train_ds, _ = _as_dataset(
        "train_data", train_data, None, batch_size=batch_size, training=True, seed=seed
    )
    val_ds, _ = _as_dataset(
        "val_data", val_data, None, batch_size=batch_size, training=False, seed=seed
    )
    accepts = _accepted_params(build_fn)

    def build(hp):
        values = {key: hp.Choice(key, vals) for key, vals in choices.items()}
        kwargs = {k: v for k, v in values.items() if accepts is None or k in accepts}
        model = build_fn(**kwargs)
        if not isinstance(model, keras.Model):
            raise keras_tuner.errors.FatalTypeError(
                f"`build_fn` must return a keras.Model. It returned {type(model).__name__}."
            )
        if not model.compiled:
            compile_model(
                model,
                optimizer=values.get("optimizer", "adam"),
                learning_rate=values.get("learning_rate", 1e-3),
            )
        elif set(values) - set(kwargs):
            raise keras_tuner.errors.FatalValueError(
                f"`build_fn` returned a compiled model but does not take "
                f"{', '.join(sorted(set(values) - set(kwargs)))}, so those values of "
                "`space` would be ignored. Return an uncompiled model, or take them as "
                "parameters and compile with cifarlab.train.compile_model."
            )
        return model

    keras.utils.set_random_seed(seed)
    cleanup = directory is None
    if cleanup:
        root = Path(tempfile.mkdtemp(prefix="cifarlab-search-"))
        project = "search"
    else:
        base = _check_runs_dir(directory, arg="directory")
        project = _make_run_dir(base, "search", datetime.now()).name
        root = base
    try:
        tuner = keras_tuner.RandomSearch(
            hypermodel=build,
            objective=keras_tuner.Objective(objective, direction=OBJECTIVES[objective]),
            max_trials=max_trials,
            seed=seed,
            directory=str(root),
            project_name=project,
            overwrite=cleanup,  # only ever inside our own temporary folder
        )
        tuner.search(
            train_ds, validation_data=val_ds, epochs=epochs, shuffle=False, verbose=verbose
        )
        rows = []
        for trial in tuner.oracle.trials.values():
            row: dict[str, Any] = {"trial_id": trial.trial_id}
            row.update({k: trial.hyperparameters.values.get(k) for k in choices})
            step = trial.best_step
            for metric in ("val_accuracy", "val_loss"):
                row[metric] = _metric_at(trial, metric, step)
            row["best_epoch"] = None if trial.score is None else int(step) + 1
            row["status"] = str(trial.status).rsplit(".", 1)[-1]
            rows.append(row)
    finally:
        if cleanup:
            shutil.rmtree(root, ignore_errors=True)
    columns = ["trial_id", *choices, "val_accuracy", "val_loss", "best_epoch", "status"]
    table = pd.DataFrame(rows, columns=columns)
    table = table.sort_values(
        objective, ascending=OBJECTIVES[objective] == "min", na_position="last", kind="stable"
    ).reset_index(drop=True)
    table["synthetic"] = bool(synthetic)
    table.attrs["synthetic"] = bool(synthetic)
    table.attrs["objective"] = objective
    if synthetic:
        table.attrs["description"] = "random search on SYNTHETIC data"
    return table


def _metric_at(trial, metric: str, step) -> float:
    try:
        history = trial.metrics.get_history(metric)
    except ValueError:
        return float("nan")
    for obs in history:
        if obs.step == step:
            return float(obs.mean())
    return float("nan")


def _accepted_params(build_fn) -> set[str] | None:
    """Parameter names ``build_fn`` takes by keyword; None when it takes ``**kwargs``."""
    try:
        params = inspect.signature(build_fn).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {
        p.name
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }


def _check_space(space, build_fn) -> dict[str, list]:
    if not isinstance(space, Mapping) or not space:
        raise ValueError(
            "`space` must be a non-empty dict of hyperparameter -> list of values, e.g. "
            '{"dense_units": [128, 256], "optimizer": ["adam", "sgd"]}. '
            f"Received: space={space!r}."
        )
    accepts = _accepted_params(build_fn)
    compile_keys = {"optimizer", "learning_rate"}
    out: dict[str, list] = {}
    for key, values in space.items():
        if not isinstance(key, str):
            raise TypeError(f"`space` keys must be strings. Received key {key!r}.")
        if accepts is not None and key not in accepts and key not in compile_keys:
            close = difflib.get_close_matches(key, sorted(accepts), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"`space` key {key!r} is not a parameter of build_fn.{hint} build_fn takes: "
                f"{', '.join(sorted(accepts)) or 'nothing'} (and 'optimizer', "
                "'learning_rate' are applied when compiling)."
            )
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ValueError(
                f"`space[{key!r}]` must be a non-empty list of values. Received: {values!r}."
            )
        values = [v.item() if isinstance(v, np.generic) else v for v in values]
        kinds = {type(v) for v in values}
        if not kinds <= {str, int, float, bool}:
            raise ValueError(
                f"`space[{key!r}]` values must be str, int, float or bool. Received: {values!r}."
            )
        if kinds == {int, float}:
            values = [float(v) for v in values]
        elif len(kinds) > 1:
            raise ValueError(
                f"`space[{key!r}]` mixes types ({', '.join(sorted(k.__name__ for k in kinds))}):"
                f" use one type per hyperparameter. Received: {values!r}."
            )
        if len(set(values)) != len(values):
            raise ValueError(f"`space[{key!r}]` repeats a value: {values!r}.")
        if key == "optimizer":
            for v in values:
                _choice("space['optimizer']", v, OPTIMIZERS)
        if key == "learning_rate":
            for v in values:
                _check_learning_rate(v)
        out[key] = values
    return out


# --------------------------------------------------------------------------- helpers: checks


def _check_int(arg: str, value, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"`{arg}` must be an integer >= {minimum}. Received: {arg}={value!r}.")


def _check_learning_rate(value) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(
            "`learning_rate` must be a positive number (typical: 1e-4 to 1e-2). "
            f"Received: learning_rate={value!r}."
        )


def _choice(arg: str, value, valid: Mapping[str, Any]) -> str:
    if not isinstance(value, str):
        raise TypeError(f"`{arg}` must be one of {', '.join(valid)}. Received: {arg}={value!r}.")
    key = value.strip().lower()
    if key not in valid:
        close = difflib.get_close_matches(key, list(valid), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown `{arg}` {value!r}.{hint} Valid: {', '.join(valid)}.")
    return key


def _check_callbacks(callbacks) -> list[keras.callbacks.Callback]:
    if isinstance(callbacks, keras.callbacks.Callback):
        callbacks = [callbacks]
    if callbacks is None:
        return []
    try:
        callbacks = list(callbacks)
    except TypeError:
        raise TypeError(
            f"`callbacks` must be a list of keras.callbacks.Callback. Received: {callbacks!r}."
        ) from None
    for cb in callbacks:
        if not isinstance(cb, keras.callbacks.Callback):
            raise TypeError(
                f"`callbacks` must hold keras.callbacks.Callback instances. Received: {cb!r}."
            )
    return callbacks


def _check_config(config) -> dict[str, Any]:
    if config is None:
        return {}
    if not isinstance(config, Mapping):
        raise TypeError(
            f"`config` must be a dict of settings to record, or None. Received: {config!r}."
        )
    bad = [k for k in config if not isinstance(k, str)]
    if bad:
        raise TypeError(f"`config` keys must be strings. Received keys: {bad!r}.")
    return dict(config)


def _check_runs_dir(runs_dir, *, arg: str = "runs_dir") -> Path:
    """Create ``runs_dir`` if needed and make sure a run folder can be written there."""
    if not isinstance(runs_dir, (str, os.PathLike)):
        raise TypeError(f"`{arg}` must be a path. Received: {arg}={runs_dir!r}.")
    root = Path(runs_dir).expanduser()
    if root.exists() and not root.is_dir():
        raise ValueError(f"`{arg}` {root} is a file, not a folder.")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except PermissionError as err:
        raise PermissionError(
            f"`{arg}` {root} cannot be created: permission denied ({err.filename}). "
            "Choose a folder you can write to."
        ) from err
    except (FileExistsError, NotADirectoryError) as err:
        blocking = next((p for p in root.parents if p.exists() and not p.is_dir()), root)
        raise ValueError(
            f"`{arg}` {root} cannot be created: {blocking} is a file, not a folder."
        ) from err
    except OSError as err:
        raise ValueError(f"`{arg}` {root} cannot be created: {err}.") from err
    try:
        fd, probe = tempfile.mkstemp(dir=root, prefix=".cifarlab-write-test-")
    except PermissionError as err:
        raise PermissionError(
            f"`{arg}` {root} is not writable. Choose a folder you can write to."
        ) from err
    except OSError as err:
        raise ValueError(f"`{arg}` {root} cannot be written to: {err}.") from err
    os.close(fd)
    os.unlink(probe)
    return root


def _check_run_dir(path, *, required: Sequence[str]) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a run folder. Received: {path!r}.")
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"Run folder {folder} does not exist. list_runs(runs_dir) shows the recorded runs."
        )
    missing = [f for f in required if not (folder / f).is_file()]
    if missing:
        hint = ""
        if MODEL_FILE in missing and (folder / CHECKPOINT_FILE).is_file():
            hint = (
                f" The run did not finish; {CHECKPOINT_FILE} holds its best model so far "
                "(keras.saving.load_model)."
            )
        elif METRICS_FILE in missing:
            hint = " The run did not finish (its process ended during training)."
        raise FileNotFoundError(
            f"Run folder {folder} lacks {', '.join(missing)}; a run holds "
            f"{', '.join(RUN_FILES)}.{hint}"
        )
    return folder


def _check_data_form(arg: str, data) -> None:
    import tensorflow as tf

    if isinstance(data, tf.data.Dataset):
        return
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return
    if isinstance(data, Mapping):
        raise TypeError(
            f"`{arg}` must be a tf.data.Dataset or a tuple (images, labels); received a dict."
        )
    raise TypeError(
        f"`{arg}` must be a tf.data.Dataset (cifarlab.data.make_dataset) or a tuple "
        f"(images, labels) of arrays. Received: {type(data).__name__}"
        + (f" of length {len(data)}" if isinstance(data, (tuple, list)) else "")
        + "."
    )


def _as_dataset(arg: str, data, model, *, batch_size: int, training: bool, seed: int):
    """Check ``data`` against ``model`` and return (batched tf.data.Dataset, description)."""
    import tensorflow as tf

    from cifarlab.data import make_dataset

    in_shape = _input_shape(model)
    classes = _num_outputs(model)
    if isinstance(data, tf.data.Dataset):
        n = int(data.cardinality())
        if n == 0:
            raise ValueError(f"`{arg}` is an empty dataset: there is nothing to train on.")
        spec = data.element_spec
        if isinstance(spec, tuple) and len(spec) in (2, 3):
            x_spec = spec[0]
            shape = getattr(x_spec, "shape", None)
            if shape is not None and shape.rank is not None:
                if shape.rank == 3 and in_shape is not None and len(in_shape) == 3:
                    raise ValueError(
                        f"`{arg}` yields single images of shape {tuple(shape)}, not batches. "
                        "Batch it: cifarlab.data.make_dataset(...) or dataset.batch(64)."
                    )
                if in_shape is not None and not _shape_fits(tuple(shape)[1:], in_shape):
                    raise ValueError(
                        f"`{arg}` yields images of shape {tuple(shape)[1:]}, but the model "
                        f"takes {in_shape}. Resize the images or build the model for them."
                    )
        desc = {
            "kind": "tf.data.Dataset",
            "batches": n if n >= 0 else "unknown",
            "element_spec": str(spec),
        }
        return data, desc
    images, labels = (np.asarray(a) for a in data)
    if images.ndim != 4:
        raise ValueError(
            f"`{arg}` images must have shape (N, height, width, channels). "
            f"Received shape {images.shape}."
        )
    if len(images) == 0:
        raise ValueError(f"`{arg}` holds no images: there is nothing to train on.")
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(
            f"`{arg}` needs one integer label per image: {len(images)} images, labels of "
            f"shape {labels.shape}."
        )
    if in_shape is not None and not _shape_fits(images.shape[1:], in_shape):
        raise ValueError(
            f"`{arg}` images have shape {images.shape[1:]}, but the model takes {in_shape}. "
            "Resize the images or build the model for them."
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(
            f"`{arg}` labels must be integer class ids (sparse labels). Received dtype "
            f"{labels.dtype}"
            + (" (one-hot? use labels.argmax(1))" if labels.ndim == 2 else "")
            + "."
        )
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0 or (classes is not None and hi >= classes):
        raise ValueError(
            f"`{arg}` labels range from {lo} to {hi}, but the model has {classes} outputs "
            f"(valid labels 0..{classes - 1 if classes else '?'}). Build the model with "
            "num_classes = the number of classes in the data, or remap the labels."
        )
    ds = make_dataset(images, labels, batch_size=batch_size, training=training, seed=seed)
    desc = {
        "kind": "arrays",
        "images": int(len(images)),
        "image_shape": list(images.shape[1:]),
        "dtype": str(images.dtype),
        "classes_present": int(len(np.unique(labels))),
        "batch_size": batch_size,
    }
    return ds, desc


def _shape_fits(shape, expected) -> bool:
    shape, expected = tuple(shape), tuple(expected)
    return len(shape) == len(expected) and all(
        e is None or s is None or int(s) == int(e) for s, e in zip(shape, expected, strict=True)
    )


# --------------------------------------------------------------------------- helpers: model


def _prepare_model(model, strategy, mixed_precision, optimizer, learning_rate):
    """Build (builder) or clone (strategy) the model and compile it when needed."""
    import contextlib

    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:
        if not isinstance(model, keras.Model):
            previous = keras.mixed_precision.global_policy()
            if mixed_precision:
                keras.mixed_precision.set_global_policy("mixed_float16")
            try:
                built = model()
            finally:
                keras.mixed_precision.set_global_policy(previous)
            if not isinstance(built, keras.Model):
                raise TypeError(
                    "The `model` function must return a keras.Model. It returned "
                    f"{type(built).__name__}."
                )
            model = built
        elif strategy is not None:
            try:
                clone = keras.models.clone_model(model)
            except Exception as err:  # subclassed models cannot always be cloned
                raise TypeError(
                    f"Cannot clone {model.name!r} inside the strategy's scope ({err}). Pass a "
                    "zero-argument function that builds the model instead."
                ) from err
            clone.set_weights(model.get_weights())
            if model.compiled:
                clone.compile_from_config(model.get_compile_config())
            model = clone
        compiled_here = not model.compiled
        if compiled_here:
            compile_model(model, optimizer=optimizer, learning_rate=learning_rate)
    return model, compiled_here


def _input_shape(model) -> tuple | None:
    if model is None:
        return None
    try:
        shape = model.input_shape
    except (AttributeError, ValueError):
        return None
    if isinstance(shape, list):  # several inputs: not checked
        return None
    return tuple(shape[1:]) if shape else None


def _num_outputs(model) -> int | None:
    if model is None:
        return None
    try:
        shape = model.output_shape
    except (AttributeError, ValueError):
        return None
    if isinstance(shape, tuple) and shape and isinstance(shape[-1], int):
        return int(shape[-1])
    return None


def _current_lr(model) -> float:
    try:
        lr = model.optimizer.learning_rate
        return float(lr.numpy() if hasattr(lr, "numpy") else lr)
    except Exception:  # no optimizer yet
        return float("nan")


def _has_lr_schedule(model) -> bool:
    lr = getattr(model.optimizer, "_learning_rate", None)
    return isinstance(lr, keras.optimizers.schedules.LearningRateSchedule)


def _loss_name(model) -> str:
    loss = getattr(model, "loss", None)
    if isinstance(loss, str):
        return loss
    return getattr(loss, "name", type(loss).__name__)


def _model_info(model) -> dict[str, Any]:
    trainable = int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))
    return {
        "name": model.name,
        "class": type(model).__name__,
        "params": int(model.count_params()),
        "trainable_params": trainable,
        "input_shape": list(_input_shape(model) or []),
        "classes": _num_outputs(model),
        "dtype_policy": getattr(getattr(model, "dtype_policy", None), "name", None),
    }


def _restore_from_checkpoint(model, checkpoint_path: Path | None) -> bool:
    if checkpoint_path is None or not checkpoint_path.is_file():
        return False
    try:
        model.load_weights(checkpoint_path)
    except Exception:  # e.g. interrupted while the checkpoint was being written
        return False
    return True


def _versions() -> dict[str, str]:
    import tensorflow as tf

    import cifarlab

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "cifarlab": cifarlab.__version__,
    }


# --------------------------------------------------------------------------- helpers: history


def _history_from_rows(rows: Sequence[Mapping[str, float]]) -> dict[str, list[float]]:
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys and k not in ("epoch", "epoch_time")]
    return {k: [float(row.get(k, float("nan"))) for row in rows] for k in keys}


def _best_epoch(history: Mapping[str, list[float]]) -> int | None:
    losses = np.asarray(history.get("val_loss", []), dtype=float)
    if not losses.size or not np.isfinite(losses).any():
        return None
    return int(np.nanargmin(np.where(np.isfinite(losses), losses, np.nan))) + 1


def _history_columns(rows) -> list[str]:
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    last = ("learning_rate", "epoch_time")
    first = [k for k in keys if not k.startswith("val_") and k not in last]
    val = [k for k in keys if k.startswith("val_")]
    return ["epoch", *first, *val, *last]


def _write_history(path: Path, rows: Sequence[Mapping[str, float]]) -> None:
    columns = _history_columns(rows)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for epoch, row in enumerate(rows, start=1):
        writer.writerow([epoch] + [repr(float(row.get(c, float("nan")))) for c in columns[1:]])
    atomic_write(path, buf.getvalue())


def _read_history(path: Path) -> list[dict[str, float]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return [
            {k: float(v) if v not in ("", None) else float("nan") for k, v in row.items()}
            for row in reader
        ]


# --------------------------------------------------------------------------- helpers: files


def _sanitise_name(name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")
    return safe[:60] or "run"


def _timestamp(when: datetime) -> str:
    return when.strftime("%Y%m%d-%H%M%S")


def _make_run_dir(root: Path, name: str, when: datetime) -> Path:
    """A new folder ``<time>-<name>``; ``-2``, ``-3``, ... when that exists already."""
    base = f"{_timestamp(when)}-{_sanitise_name(name)}"
    for i in range(1, 10_000):
        folder = root / (base if i == 1 else f"{base}-{i}")
        try:
            folder.mkdir(exist_ok=False)
        except FileExistsError:
            continue
        return folder
    raise RuntimeError(f"Could not create a new run folder for {base!r} in {root}.")


def _atomic_save_model(model, target: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}-", suffix=".keras")
    os.close(fd)
    try:
        model.save(tmp)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _write_json(path: Path, obj) -> None:
    text = json.dumps(_jsonable(obj), indent=2, allow_nan=False)
    atomic_write(path, text + "\n")


def _read_json(path: Path) -> dict:
    try:
        obj = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}).") from err
    if not isinstance(obj, dict):
        raise ValueError(f"{path} does not hold a JSON object.")
    return obj


def _jsonable(obj):
    """Plain JSON types: NumPy numbers converted, NaN/inf as None, paths as strings."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return str(obj)


def _to_float(value) -> float:
    try:
        return float(value.numpy() if hasattr(value, "numpy") else value)
    except (TypeError, ValueError):
        return float("nan")


def _nan_if_none(value) -> float:
    return float("nan") if value is None else float(value)
