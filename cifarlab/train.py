"""``compile`` and ``model.fit`` with the course's callbacks; a run record per fit (``runs``)."""

import math
import os
import platform
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from cifarlab import __version__, _checks, runs
from cifarlab._files import jsonable, new_folder, save_model, write_json
from cifarlab.data import make_dataset

#: What ``train_data`` / ``val_data`` may be: a batched tf.data pipeline or (images, labels).
Data = tf.data.Dataset | tuple[np.ndarray, np.ndarray]
OPTIMIZERS = {name.lower(): getattr(keras.optimizers, name)
              for name in ("Adam", "AdamW", "Adamax", "Nadam", "RMSprop", "SGD", "Adagrad")}


#: What ``train(mixed_precision=...)`` may name; True picks :func:`best_precision`.
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def _cpu_flags() -> set[str]:
    try:
        return set(Path("/proc/cpuinfo").read_text().split())
    except OSError:  # not Linux
        return set()


def best_precision() -> tuple[str, str]:
    """(policy, why): ``mixed_float16`` on a GPU of compute capability 7 or more,
    ``mixed_bfloat16`` on a CPU with AMX-BF16 or AVX512-BF16 (about 2x faster for the
    VGG-style network on 2 cores, docs/benchmarks.md), otherwise ``float32``."""
    if gpus := tf.config.list_physical_devices("GPU"):
        cc = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability")
        if cc and tuple(cc) >= (7, 0):
            return "mixed_float16", f"the GPU has compute capability {cc[0]}.{cc[1]}"
        return "float32", "the GPU is older than compute capability 7.0 (slow float16)"
    if bf16 := sorted({"amx_bf16", "avx512_bf16"} & _cpu_flags()):
        return "mixed_bfloat16", f"this CPU has {bf16[0].upper().replace('_', '-')}"
    return "float32", "no GPU, and the CPU has no bfloat16 instructions"


def train(model: keras.Model | Callable[[], keras.Model], train_data: Data, val_data: Data, *,
          epochs: int, name: str = "run", runs_dir: str | os.PathLike = "runs",
          learning_rate: float = 1e-3, optimizer: str | keras.optimizers.Optimizer = "adam",
          batch_size: int = 64, early_stopping_patience: int | None = 5,
          reduce_lr_patience: int | None = 3, reduce_lr_factor: float = 0.5,
          checkpoint: bool = True, strategy: tf.distribute.Strategy | None = None,
          mixed_precision: bool | str = False, callbacks: Sequence[keras.callbacks.Callback] = (),
          max_minutes: float | None = None, config: Mapping[str, Any] | None = None,
          record: bool = True, verbose: int = 1, seed: int | None = 0) -> runs.RunResult:
    """Fit a classifier with ``EarlyStopping(restore_best_weights=True)``, ``ReduceLROnPlateau``
    (patience None: off), ``TerminateOnNaN``, ``ModelCheckpoint``, :class:`TimeLimit` (with
    ``max_minutes``) and your ``callbacks``; Ctrl-C or a NaN loss keep the epochs done and the
    best weights (``result.stopped``). ``model``: a keras.Model or a function building one (for
    ``mixed_precision``: True for :func:`best_precision`'s choice, or one of ``PRECISIONS``),
    compiled unless it is.
    Example: ``train(build_baseline_cnn(5), (x_tr, y_tr), (x_val, y_val), epochs=20)``"""
    args = _check_arguments(locals())
    if seed is not None:
        keras.utils.set_random_seed(seed)
    model, compiled_here = _prepare_model(args)
    train_ds = as_dataset(train_data, name="train_data", model=model, batch_size=batch_size,
                          training=True, seed=seed or 0)
    val_ds = as_dataset(val_data, name="val_data", model=model, batch_size=batch_size)
    early, limit, recorder, all_callbacks = _callbacks(args, _settings(model, compiled_here, args))
    try:
        model.fit(train_ds, validation_data=val_ds, epochs=epochs, shuffle=False, verbose=verbose,
                  callbacks=all_callbacks)
    except KeyboardInterrupt:  # the stop button: keep what was trained
        recorder.interrupted = True
    return _finish(model, recorder, early, limit)


class EpochTimer(keras.callbacks.Callback):
    """Wall-clock seconds of every epoch (training and validation), in ``times``."""

    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)


class TimeLimit(EpochTimer):
    """Stops training before an epoch that would end past ``minutes`` from the start of
    ``fit`` (judged by the slowest epoch so far); the best weights are restored as usual."""

    def __init__(self, minutes: float, verbose: int = 1):
        super().__init__()
        self.minutes, self.verbose, self.stopped_epoch = minutes, verbose, 0

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._fit_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        elapsed = time.perf_counter() - self._fit_start
        if elapsed + max(self.times) > 60 * self.minutes:
            self.stopped_epoch, self.model.stop_training = epoch + 1, True
            if self.verbose:
                print(f"Epoch {epoch + 1}: stopping, another epoch would end past the time limit "
                      f"of {self.minutes:g} minutes ({elapsed / 60:.1f} minutes so far).")


class _Recorder(EpochTimer):
    """Adds the learning rate to each epoch's logs, keeps them, rewrites history.csv."""

    def __init__(self, folder: Path | None, settings: dict) -> None:
        super().__init__()
        self.folder, self.settings, self.rows, self.interrupted = folder, settings, [], False
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        logs["learning_rate"] = _lr(self.model.optimizer)
        self.rows.append({**logs, "epoch_time": self.times[-1]})
        if self.folder is not None:
            runs.write_history(self.folder / runs.HISTORY_FILE, self.rows)


def make_optimizer(name: str | keras.optimizers.Optimizer = "adam", *,
                   learning_rate: float = 1e-3) -> keras.optimizers.Optimizer:
    """A Keras optimizer from a name in :data:`OPTIMIZERS` (``"sgd"``: no momentum), or as given."""
    if isinstance(name, keras.optimizers.Optimizer):
        return name
    key = _checks.one_of("optimizer", name.lower() if isinstance(name, str) else name, OPTIMIZERS)
    try:
        rate = _checks.number("learning_rate", learning_rate, low=0, low_open=True)
    except ValueError as err:
        raise ValueError(f"{err} Typical: 1e-4 to 1e-2.") from None
    return OPTIMIZERS[key](learning_rate=rate)


def compile_model(model: keras.Model, *, optimizer: str | keras.optimizers.Optimizer = "adam",
                  learning_rate: float = 1e-3, top_k: int | str | None = "auto") -> keras.Model:
    """Compile a classifier for integer labels: sparse categorical cross-entropy, accuracy and
    ``top{top_k}_accuracy`` (``"auto"``: top-5 for 20 or more classes)."""
    if top_k == "auto":
        top_k = 5 if (_shapes(model)[1] or 0) >= 20 else None
    k = None if top_k is None else _checks.integer("top_k", top_k)
    top = [keras.metrics.SparseTopKCategoricalAccuracy(k=k, name=f"top{k}_accuracy")] if k else []
    model.compile(optimizer=make_optimizer(optimizer, learning_rate=learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy", *top])
    return model


def as_dataset(data: Data, *, name: str, model: keras.Model | None = None, batch_size: int = 64,
               training: bool = False, seed: int = 0) -> tf.data.Dataset:
    """``data`` as a batched tf.data.Dataset, checked against ``model``'s input and classes."""
    expected, classes = _shapes(model)
    if not isinstance(data, tf.data.Dataset):
        if not isinstance(data, (tuple, list)) or len(data) != 2:
            raise TypeError(f"`{name}` must be a tf.data.Dataset or (images, labels) from the "
                            f"training split, never test data. Received: {type(data).__name__}.")
        try:
            ds = make_dataset(*data, batch_size=batch_size, training=training, seed=seed)
        except (TypeError, ValueError) as err:
            raise type(err)(f"`{name}`: {err}") from None
        if classes is not None and np.max(data[1]) >= classes:
            raise ValueError(f"`{name}` labels range from {np.min(data[1])} to {np.max(data[1])}, "
                             f"but the model has {classes} outputs: valid labels 0..{classes - 1}.")
        data = ds
    if int(data.cardinality()) == 0:
        raise ValueError(f"`{name}` is an empty dataset: there is nothing to train on.")
    shape = getattr(data.element_spec[0], "shape", None)
    if expected and shape is not None and not shape.is_compatible_with((None, *expected)):
        raise ValueError(f"`{name}` yields images of shape {tuple(shape)}; the model takes batches"
                         f" of shape {(None, *expected)}. Batch single images or resize them.")
    return data


def _check_arguments(args: dict) -> dict:
    """The arguments of :func:`train`, checked before anything is built or written."""
    _checks.integer("epochs", args["epochs"])
    for key in ("early_stopping_patience", "reduce_lr_patience"):
        if args[key] is not None:
            _checks.integer(key, args[key], minimum=0)
    _checks.number("reduce_lr_factor", args["reduce_lr_factor"], low=0, high=1, low_open=True)
    if args["max_minutes"] is not None:
        _checks.number("max_minutes", args["max_minutes"], low=0, low_open=True)
    given, config, strategy = args["callbacks"], args["config"], args["strategy"]
    if args["verbose"] not in (0, 1, 2) or isinstance(args["verbose"], bool):
        raise ValueError(f"`verbose` must be 0, 1 or 2. Received: verbose={args['verbose']!r}.")
    callbacks = [given] if isinstance(given, keras.callbacks.Callback) else list(given or ())
    if not all(isinstance(cb, keras.callbacks.Callback) for cb in callbacks):
        raise TypeError(f"`callbacks` must be keras.callbacks.Callback objects. Received: {given}")
    if not isinstance(config, (Mapping, type(None))):
        raise TypeError(f"`config` must be a dict of settings to record. Received: {config!r}.")
    if strategy is not None and not hasattr(strategy, "num_replicas_in_sync"):
        raise TypeError(f"`strategy` must be a tf.distribute.Strategy. Received: {strategy!r}.")
    policy = args["mixed_precision"]
    if policy is True:
        policy = best_precision()[0]
    elif not isinstance(policy, bool):
        policy = _checks.one_of("mixed_precision", policy, PRECISIONS)
    if policy and policy != "float32" and isinstance(args["model"], keras.Model):
        raise ValueError(f"`mixed_precision={args['mixed_precision']!r}` needs `model` to be a "
                         "function that builds it (`lambda: build_baseline_cnn(5)`): a built "
                         "model would stay float32.")
    return {**args, "callbacks": callbacks, "config": dict(config or {}),
            "mixed_precision": policy}  # False: the global policy as it is


def _prepare_model(args: dict) -> tuple[keras.Model, bool]:
    """(model, compiled here): built or cloned in the strategy's scope and compiled there."""
    model, strategy = args["model"], args["strategy"]
    with (strategy or tf.distribute.get_strategy()).scope():  # the default: no-op
        if not isinstance(model, keras.Model):
            previous = keras.mixed_precision.global_policy()
            if args["mixed_precision"]:
                keras.mixed_precision.set_global_policy(args["mixed_precision"])
            try:
                model = model() if callable(model) else model
            finally:
                keras.mixed_precision.set_global_policy(previous)
            if not isinstance(model, keras.Model):
                raise TypeError("`model` must be a keras.Model or a function that builds one. "
                                f"Received or built: {type(model).__name__}.")
        elif strategy is not None:
            clone = keras.models.clone_model(model)
            clone.set_weights(model.get_weights())
            if model.compiled:
                clone.compile_from_config(model.get_compile_config())
            model = clone
        compiled_here = not model.compiled
        if compiled_here:
            compile_model(model, optimizer=args["optimizer"], learning_rate=args["learning_rate"])
        if model.built and not model.optimizer.built:  # else fit's first step is traced twice
            model.optimizer.build(model.trainable_variables)
    opt = model.optimizer
    if not compiled_here and (args["learning_rate"] != 1e-3 or args["optimizer"] != "adam"):
        warnings.warn(f"The model was already compiled, so optimizer={args['optimizer']!r} and "
                      f"learning_rate={args['learning_rate']!r} are ignored; it trains with its "
                      f"own {type(opt).__name__} at {_lr(opt):g}.", stacklevel=3)
    if args["reduce_lr_patience"] is not None and isinstance(  # Keras would fail mid-run
            opt._learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        raise ValueError("The model's optimizer uses a LearningRateSchedule, which "
                         "ReduceLROnPlateau cannot change. Pass reduce_lr_patience=None.")
    return model, compiled_here


def _callbacks(args: dict, settings: dict) -> tuple[Any, Any, _Recorder, list]:
    """EarlyStopping and TimeLimit (or None), the recorder (it makes the run folder), and all
    callbacks."""
    loud, stop = int(args["verbose"] > 0), args["early_stopping_patience"]
    early = None if stop is None else keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=stop, restore_best_weights=True, verbose=loud)
    reduce = None if args["reduce_lr_patience"] is None else keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss", factor=args["reduce_lr_factor"], patience=args["reduce_lr_patience"],
        min_lr=1e-7, verbose=loud)
    folder = _new_run_folder(args["runs_dir"], settings) if args["record"] else None
    best = None if folder is None or not args["checkpoint"] else keras.callbacks.ModelCheckpoint(
        str(folder / runs.CHECKPOINT_FILE), monitor="val_loss", save_best_only=True)
    recorder = _Recorder(folder, settings)
    limit = None if args["max_minutes"] is None else TimeLimit(args["max_minutes"], loud)
    course = [early, reduce, keras.callbacks.TerminateOnNaN(), best, limit]
    return early, limit, recorder, [recorder, *args["callbacks"], *(cb for cb in course if cb)]


def _settings(model: keras.Model, compiled_here: bool, args: dict) -> dict[str, Any]:
    """What config.json records: name, training settings, model, data and versions."""
    (input_shape, classes), strategy = _shapes(model), args["strategy"]
    kept = ("epochs", "batch_size", "early_stopping_patience", "reduce_lr_patience",
            "reduce_lr_factor", "checkpoint", "mixed_precision", "max_minutes", "seed")
    fit = {k: args[k] for k in kept} | {
        "optimizer": type(model.optimizer).__name__,
        "learning_rate": _lr(model.optimizer),
        "loss": getattr(model.loss, "name", model.loss),
        "compiled_by": "train" if compiled_here else "caller",
        "strategy": strategy and {"type": type(strategy).__name__,
                                  "replicas": int(strategy.num_replicas_in_sync)}}
    about = {"name": model.name, "class": type(model).__name__, "params": model.count_params(),
             "trainable_params": sum(math.prod(w.shape) for w in model.trainable_weights),
             "input_shape": list(input_shape or []), "classes": classes,
             "dtype_policy": model.dtype_policy.name}
    versions = {"python": platform.python_version(), "tensorflow": tf.__version__,
                "keras": keras.__version__, "numpy": np.__version__, "cifarlab": __version__}
    return {"name": args["name"], "started": datetime.now().astimezone().isoformat("T", "seconds"),
            "synthetic": bool(args["config"].get("synthetic", False)), "config": args["config"],
            "train": fit, "model": about, "versions": versions,
            "data": {k: _describe(args[f"{k}_data"]) for k in ("train", "val")}}


def _describe(data: Data) -> dict[str, Any]:
    if not isinstance(data, (tuple, list)):
        return {"kind": "tf.data.Dataset", "batches": int(data.cardinality()),  # < 0: unknown
                "element_spec": str(data.element_spec)}
    return {"kind": "arrays", "images": len(data[0]), "image_shape": list(data[0].shape[1:]),
            "dtype": str(data[0].dtype), "classes_present": len(np.unique(data[1]))}


def _new_run_folder(runs_dir: str | os.PathLike, settings: dict) -> Path:
    """A new folder ``runs_dir/<time>-<name>`` holding the run's config.json."""
    root = Path(runs_dir).expanduser()
    try:
        folder = new_folder(root, settings["name"])
    except PermissionError as err:
        raise PermissionError(f"`runs_dir` {root} is not writable ({err.filename}).") from err
    except (FileExistsError, NotADirectoryError) as err:
        blocking = next((p for p in (root, *root.parents) if p.is_file()), root)
        raise ValueError(f"`runs_dir` {root} cannot be created: {blocking} is a file, not a "
                         "folder.") from err
    write_json(folder / runs.CONFIG_FILE, {**settings, "folder": folder.name})
    return folder


def _finish(model: keras.Model, recorder: _Recorder, early, limit) -> runs.RunResult:
    """Why the run stopped, the best weights back, a warning, and the record completed."""
    rows, folder, settings = recorder.rows, recorder.folder, recorder.settings
    seconds, history = time.perf_counter() - recorder.started, runs.history_of(rows)
    nan_epoch = next((i for i, r in enumerate(rows, 1) if not math.isfinite(r["loss"])), None)
    stopped = ("interrupted" if recorder.interrupted else "nan" if nan_epoch else "early_stopping"
               if early is not None and early.stopped_epoch > 0 else "time_limit"
               if limit is not None and limit.stopped_epoch > 0 else "completed")
    losses = [v if math.isfinite(v) else math.inf for v in history.get("val_loss", [])]
    best_epoch = losses.index(min(losses)) + 1 if min(losses, default=math.inf) < math.inf else None
    kept = stopped in ("interrupted", "nan") and best_epoch is not None
    if kept and early is not None and early.best_weights is not None:
        model.set_weights(early.best_weights)  # its on_train_end did not run after Ctrl-C
    elif kept:
        try:
            model.load_weights(folder / runs.CHECKPOINT_FILE)
        except Exception:  # not recorded, no checkpoint yet, or one half written
            kept = False
    if stopped in ("interrupted", "nan"):
        lr = settings["train"]["learning_rate"]
        why = (f"Training was interrupted during epoch {len(rows) + 1}" if stopped == "interrupted"
               else f"The loss became NaN (or infinite) in epoch {nan_epoch}: training stopped. "
               f"Try a lower learning rate (e.g. 10x lower than {lr:g}), images scaled to [0, 1]")
        weights = (f"with the weights of the best epoch ({best_epoch})" if kept else
                   "but not the best weights" + (": rebuild the model" if stopped == "nan" else ""))
        where = f", recorded in {folder}" if folder is not None else ""
        warnings.warn(f"{why}. The {len(rows)} epochs completed are kept, {weights}{where}.",
                      RuntimeWarning, stacklevel=3)
    best = {k: v[best_epoch - 1] for k, v in history.items()} if best_epoch else {}
    metrics = {"name": settings["name"], "best_epoch": best_epoch, "best_metrics": best,
               "epochs": len(rows), "stopped": stopped, "train_seconds": seconds,
               "final_learning_rate": _lr(model.optimizer),
               "synthetic": settings["synthetic"]}
    finished = datetime.now().astimezone().isoformat(timespec="seconds")
    if folder is not None:
        runs.write_history(folder / runs.HISTORY_FILE, rows)
        save_model(model, folder / runs.MODEL_FILE)
        write_json(folder / runs.METRICS_FILE, {**metrics, "finished": finished})
        (folder / runs.CHECKPOINT_FILE).unlink(missing_ok=True)
        settings = {**settings, "folder": folder.name}
    return runs.RunResult(**metrics, path=folder, model=model, history=history,
                          epoch_times=tuple(r["epoch_time"] for r in rows),
                          config=settings["config"], settings=jsonable(settings),
                          metrics=jsonable({**metrics, "finished": finished}))


def _shapes(model) -> tuple[tuple | None, int | None]:
    """(input shape without the batch axis, number of outputs) of ``model``; None: unknown."""
    inputs, outputs = getattr(model, "input_shape", None), getattr(model, "output_shape", None)
    return (tuple(inputs[1:]) if isinstance(inputs, tuple) else None,
            outputs[-1] if isinstance(outputs, tuple) and isinstance(outputs[-1], int) else None)


def _lr(optimizer) -> float:
    """The optimizer's learning rate now, from a plain or a distributed (mirrored) variable."""
    rate = optimizer.learning_rate
    return float(rate.numpy() if hasattr(rate, "numpy") else rate)
