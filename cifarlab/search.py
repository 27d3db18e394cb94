"""Random search over hyper-parameters with keras-tuner, scored on the validation split."""

import contextlib
import inspect
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence

import keras
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from cifarlab import _checks
from cifarlab._files import new_folder
from cifarlab.train import OPTIMIZERS, Data, as_dataset, compile_model

OBJECTIVES = {"val_accuracy": "max", "val_loss": "min"}


def random_search(build_fn: Callable[..., keras.Model], train_data: Data, val_data: Data, *,
                  space: Mapping[str, Sequence], max_trials: int = 5, epochs: int = 3,
                  batch_size: int = 64, seed: int = 0, directory: str | os.PathLike | None = None,
                  objective: str = "val_accuracy", synthetic: bool = False,
                  verbose: int = 0) -> pd.DataFrame:
    """Try ``max_trials`` draws from ``space`` (``{"dense_units": [128, 256], "optimizer": ["adam",
    "sgd"], "learning_rate": [1e-3, 1e-4]}``: those two compile an uncompiled model), ``epochs``
    each; files in a new folder in ``directory`` (None: temporary). A DataFrame, best first."""
    import keras_tuner

    accepts, choices = _check_space(space, build_fn)
    for key, value in (("max_trials", max_trials), ("epochs", epochs), ("seed", seed)):
        _checks.integer(key, value, minimum=0 if key == "seed" else 1)
    direction = OBJECTIVES[_checks.one_of("objective", objective, OBJECTIVES)]
    train_ds = as_dataset(train_data, name="train_data", batch_size=batch_size, training=True,
                          seed=seed)
    val_ds = as_dataset(val_data, name="val_data", batch_size=batch_size)

    def build(hp):
        values = {key: hp.Choice(key, vals) for key, vals in choices.items()}
        model = build_fn(**{k: v for k, v in values.items() if accepts is None or k in accepts})
        unused = ", ".join(sorted(set(values) - accepts)) if accepts is not None else ""
        if isinstance(model, keras.Model) and not model.compiled:
            compile_model(model, optimizer=values.get("optimizer", "adam"),
                          learning_rate=values.get("learning_rate", 1e-3))
        elif isinstance(model, keras.Model) and unused:
            raise keras_tuner.errors.FatalValueError(
                f"`build_fn` returned a compiled model, so `space`'s {unused} would be ignored: "
                "return it uncompiled, or take them as arguments and call compile_model.")
        return model  # keras-tuner itself refuses what is not a keras.Model

    keras.utils.set_random_seed(seed)
    with (tempfile.TemporaryDirectory(prefix="cifarlab-search-", ignore_cleanup_errors=True)
          if directory is None else contextlib.nullcontext(directory)) as root:
        tuner = keras_tuner.RandomSearch(
            hypermodel=build, objective=keras_tuner.Objective(objective, direction=direction),
            max_trials=max_trials, seed=seed, directory=str(root),
            project_name=new_folder(root, "search").name)
        with tqdm(total=max_trials * epochs, desc="random search", unit="epoch") as bar:
            tuner.search(train_ds, validation_data=val_ds, epochs=epochs, shuffle=False,
                         verbose=verbose, callbacks=[_progress(bar)])
        rows = [{"trial_id": t.trial_id, **{k: t.hyperparameters.values.get(k) for k in choices},
                 **{m: _metric_at(t, m) for m in ("val_accuracy", "val_loss")},
                 "best_epoch": None if t.score is None else int(t.best_step) + 1,
                 "status": str(t.status).rsplit(".", 1)[-1], "synthetic": bool(synthetic)}
                for t in tuner.oracle.trials.values()]
    table = pd.DataFrame(rows, columns=["trial_id", *choices, "val_accuracy", "val_loss",
                                        "best_epoch", "status", "synthetic"]).sort_values(
        objective, ascending=direction == "min", kind="stable", ignore_index=True)
    table.attrs.update(synthetic=bool(synthetic), objective=objective)
    return table


def _progress(bar) -> keras.callbacks.Callback:
    """One tick of ``bar`` per epoch of any trial (keras-tuner deep-copies callbacks per
    trial; a function is copied as itself, so every copy ticks the same bar)."""
    def tick(epoch, logs=None):
        bar.update(1)

    return keras.callbacks.LambdaCallback(on_epoch_end=tick)


def _metric_at(trial, metric: str) -> float:
    history = trial.metrics.get_history(metric) if trial.metrics.exists(metric) else []
    return next((float(o.mean()) for o in history if o.step == trial.best_step), float("nan"))


def _check_space(space, build_fn) -> tuple[set[str] | None, dict[str, list]]:
    """(names ``build_fn`` takes by keyword or None for ``**kwargs``, ``space`` checked)."""
    if not callable(build_fn):
        raise TypeError(f"`build_fn` must be callable. Received: {type(build_fn).__name__}.")
    params = inspect.signature(build_fn).parameters.values()
    accepts = None if any(p.kind is p.VAR_KEYWORD for p in params) else {
        p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    if not isinstance(space, Mapping) or not space:
        raise ValueError("`space` must be a non-empty dict of hyperparameter -> list of values, "
                         f"e.g. {{'dense_units': [128, 256]}}. Received: space={space!r}.")
    out = {}
    for key, values in space.items():
        if accepts is not None and key not in accepts | {"optimizer", "learning_rate"}:
            raise ValueError(
                f"`space` key {key!r} is not a parameter of build_fn."
                f"{_checks.did_you_mean(key, sorted(accepts))} build_fn takes: "
                f"{', '.join(sorted(accepts)) or 'nothing'} (and 'optimizer', 'learning_rate').")
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ValueError(f"`space[{key!r}]` must be a non-empty list. Received: {values!r}.")
        values = [v.item() if isinstance(v, np.generic) else v for v in values]
        kinds = {type(v) for v in values}
        if not kinds <= {str, int, float, bool} or (len(kinds) > 1 and kinds != {int, float}):
            raise ValueError(f"`space[{key!r}]` mixes types or holds other than str, int, float, "
                             f"bool: use one type per hyperparameter. Received: {values!r}.")
        if len(set(values)) != len(values):
            raise ValueError(f"`space[{key!r}]` repeats a value: {values!r}.")
        if key == "optimizer":
            values = [_checks.one_of(f"space[{key!r}]", v, OPTIMIZERS) for v in values]
        if key == "learning_rate":
            values = [_checks.number(f"space[{key!r}]", v, low=0, low_open=True) for v in values]
        out[key] = [float(v) for v in values] if kinds == {int, float} else values
    return accepts, out
