"""Checks of notebook 02 (batch normalization, run-to-run variance): the network is compared
with :func:`cifarlab.models.build_cnn` (``batch_norm=True``), runs by what they recorded.
See :mod:`cifarlab.exercises`."""

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from cifarlab import models
from cifarlab.exercises._core import (
    Exercises,
    NotYet,
    _layers,
    expect,
    is_model,
    model_difference,
    model_problem,
)

exercises = Exercises("02_batch_norm")
record_results, hint, summary = exercises.record_results, exercises.hint, exercises.summary

#: What exercise 5 accepts as ``verdict``.
VERDICTS = ("better", "worse", "within the spread")


def _bn_problem(model) -> str | None:
    """The typical mistakes of a BN network, named: no BN, ReLU first, a bias, momentum."""
    import keras

    found = _layers(model)
    bns = [layer for layer in found if isinstance(layer, keras.layers.BatchNormalization)]
    if not bns:
        return ("there is no BatchNormalization layer: put one after each Conv2D, before its "
                "ReLU (Conv2D -> BatchNormalization -> Activation('relu') -> MaxPooling2D).")
    for before, layer in zip(found, found[1:], strict=False):
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        if not isinstance(before, keras.layers.Conv2D):
            return (f"{layer.name} follows a {type(before).__name__} ({before.name}); in the "
                    "reference each normalization directly follows a Conv2D.")
        if before.activation is not keras.activations.linear:
            return (f"the ReLU comes before the normalization: {before.name} has "
                    f"activation='{before.activation.__name__}'. Normalize first, then "
                    "activate: Conv2D(..., use_bias=False), BatchNormalization(), "
                    "Activation('relu').")
        if before.use_bias:
            return (f"{before.name} keeps its bias, but the normalization's offset beta "
                    f"replaces it: Conv2D(..., use_bias=False) saves {before.filters} "
                    "parameters that do nothing.")
        if not math.isclose(layer.momentum, models.BN_MOMENTUM):
            return (f"{layer.name} has momentum {layer.momentum} (Keras's default is 0.99): with "
                    "about 36 batches per epoch its moving averages lag for epochs. Use "
                    f"BatchNormalization(momentum=models.BN_MOMENTUM), i.e. {models.BN_MOMENTUM}.")
    return None


def _relu_as_activation(model):
    """``model`` with each ``ReLU`` layer as the reference writes it, ``Activation('relu')``."""
    import keras

    if not any(isinstance(layer, keras.layers.ReLU) for layer in model.layers):
        return model
    return keras.models.clone_model(model, clone_function=lambda layer: (
        keras.layers.Activation("relu") if isinstance(layer, keras.layers.ReLU)
        else layer.__class__.from_config(layer.get_config())))


@exercises.check(1, "the network with batch normalization",
                 missing="your keras.Sequential([...]) with BatchNormalization layers",
                 hint="the baseline's list of layers (notebook 01), where each "
                      "Conv2D(n, 3, activation='relu') becomes Conv2D(n, 3, use_bias=False), "
                      "BatchNormalization(momentum=models.BN_MOMENTUM), Activation('relu').")
def check_bn_network(model: Any, *, num_classes: int, name: str = "bn_model") -> str:
    """Check exercise 1: ``model`` is seed 000's network with batch normalization, layer for
    layer like ``models.build_cnn(num_classes, batch_norm=True)``."""
    problem = model_problem(model, num_classes)
    expect(problem is None, f"`{name}`: {problem}")
    problem = _bn_problem(model) or model_difference(
        _relu_as_activation(model), models.build_cnn(num_classes, batch_norm=True))
    expect(problem is None, f"`{name}`: {problem}")
    return (f"{name} has seed 000's three conv blocks, each Conv2D -> BatchNormalization -> "
            f"ReLU -> MaxPooling2D: {model.count_params():,} parameters, layer for layer like "
            "models.build_cnn(..., batch_norm=True).")


@exercises.check(2, "the parameters batch normalization adds",
                 missing="a pair (all parameters, parameters not trained), computed by hand",
                 hint="4 numbers per channel (gamma, beta, moving mean, moving variance), of "
                      "which the 2 moving averages are not trained; the convolutions before a "
                      "normalization lose their biases (one per channel).")
def check_bn_parameters(answer: Any, *, num_classes: int, name: str = "bn_parameters") -> str:
    """Check exercise 2: ``answer`` = (parameters of the BN network, how many of them are not
    trained), as ``models.build_cnn(num_classes, batch_norm=True)`` counts them."""
    expect(isinstance(answer, (Sequence, np.ndarray)) and not isinstance(answer, str)
           and len(answer) == 2, f"`{name}` should be a pair (all parameters, parameters not "
           f"trained), e.g. (150_000, 100); received {answer!r}.")
    total, frozen = (int(round(float(v))) for v in answer)
    reference = models.build_cnn(num_classes, batch_norm=True)
    base = models.build_baseline_cnn(num_classes).count_params()
    channels = sum(layer.filters for layer in _layers(reference) if hasattr(layer, "filters"))
    want = int(sum(np.prod(w.shape) for w in reference.non_trainable_weights))
    expect(frozen != 4 * channels, "you counted all 4 numbers per channel as not trained: gamma "
           "and beta are learned by gradient descent; only the moving mean and the moving "
           "variance are not.")
    expect(frozen not in (channels, 0), f"{frozen:,} parameters not trained: each channel has "
           "2 numbers that are averaged, not trained (the moving mean and the moving variance).")
    expect(frozen == want, f"{frozen:,} parameters not trained is not right: count 2 per channel "
           "of the three normalizations (32, 64 and 128 channels).")
    expect(total != base + 4 * channels, f"{total:,} forgets that the convolutions lose their "
           f"biases (use_bias=False): {channels} fewer.")
    expect(total != base + 2 * channels - channels, f"{total:,} counts only gamma and beta: "
           "count_params() also counts the moving averages, which are weights too.")
    expect(total != base, f"{total:,} is the baseline's count: each normalization adds 4 "
           "numbers per channel.")
    expect(total == reference.count_params(), f"{total:,} parameters is not right: start from "
           f"the baseline's {base:,}, add 4 per channel of each normalization, and take away "
           "the convolutions' biases.")
    return (f"{total:,} = {base:,} + 4 x {channels} - {channels} parameters, {frozen:,} of them "
            "(the moving averages) not trained.")


def _run_problem(run: Any, what: str) -> str | None:
    """Why ``run`` (called ``what`` in the verdict) is not a recorded run with validation."""
    if is_model(run):
        return (f"{what} is a model, not a training run: keep what train.train (or "
                "train_run) returns.")
    if not (hasattr(run, "model") and hasattr(run, "best_metrics")):
        return f"{what} should be a RunResult from train.train; this is a {type(run).__name__}."
    if run.best_metrics.get("val_accuracy") is None:
        return f"{what} recorded no validation accuracy: pass (lab.x_val, lab.y_val)."
    return None


def _data(run: Any) -> tuple:
    data = (getattr(run, "settings", None) or {}).get("data") or {}
    return tuple((data.get(split) or {}).get("images") for split in ("train", "val"))


def _same_history(a: Any, b: Any) -> bool:
    ha, hb = (np.asarray(r.history.get("loss", []), dtype=float) for r in (a, b))
    return ha.shape == hb.shape and np.allclose(ha, hb, rtol=1e-5, atol=1e-6)


@exercises.check(3, "one network, three seeds", missing="a list of the 3 runs train.train returned",
                 hint="for each seed: build a NEW model (models.build_baseline_cnn(lab.num_"
                      "classes, seed=seed)) and train it with that seed (seed=seed).")
def check_seed_runs(runs: Any, *, num_classes: int, n: int = 3, name: str = "seed_runs") -> str:
    """Check exercise 3: ``runs`` holds ``n`` runs of seed 000's baseline on the same data,
    each a new model trained with its own seed."""
    expect(isinstance(runs, (list, tuple)), f"`{name}` should be a list of {n} runs; received "
           f"a {type(runs).__name__}.")
    expect(len(runs) == n, f"`{name}` holds {len(runs)} runs; the exercise asks for {n}, one "
           "per seed.")
    reference = models.build_baseline_cnn(num_classes)
    for i, run in enumerate(runs, start=1):
        problem = _run_problem(run, f"run {i}")
        expect(problem is None, f"`{name}`: {problem}")
        problem = model_difference(run.model, reference)
        expect(problem is None, f"`{name}`: run {i} is not seed 000's network: {problem}")
    for i, a in enumerate(runs, start=1):
        for j, b in enumerate(runs[i:], start=i + 1):
            expect(a.model is not b.model, f"runs {i} and {j} trained the same model object, so "
                   f"run {j} continued from the weights run {i} had learned. Build a new model "
                   "for each seed.")
            expect(not _same_history(a, b), f"runs {i} and {j} are the same run twice (same "
                   "seed, same numbers): give each run its own seed, both to the model and to "
                   "train.train(..., seed=seed).")
            expect(_data(a) == _data(b), f"runs {i} and {j} used different data ({_data(a)} and "
                   f"{_data(b)} training/validation images): train all on lab's splits.")
    seeds = [((r.settings.get("train") or {}).get("seed")) for r in runs]
    accs = ", ".join(f"{r.best_val_accuracy:.3f}" for r in runs)
    return (f"{n} runs of the same network (seeds {', '.join(map(str, seeds))}): best "
            f"validation accuracy {accs}.")


def _valid_runs(runs: Any) -> list:
    ok = isinstance(runs, (list, tuple)) and len(runs) >= 2 and all(
        _run_problem(r, "a run") is None for r in runs)
    expect(ok, "first finish exercise 3: the spread is computed from its runs (seed_runs).")
    return list(runs)


@exercises.check(4, "the run-to-run spread", missing="(lowest, highest) best validation accuracy",
                 hint="accuracies = [run.best_val_accuracy for run in seed_runs]; "
                      "spread = (min(accuracies), max(accuracies)).")
def check_spread(spread: Any, runs: Any, *, name: str = "spread") -> str:
    """Check exercise 4: ``spread`` = (lowest, highest) best validation accuracy of ``runs``
    (at each run's best epoch, or the best of its history)."""
    runs = _valid_runs(runs)
    expect(isinstance(spread, (Sequence, np.ndarray)) and not isinstance(spread, str)
           and len(spread) == 2, f"`{name}` should be a pair (lowest, highest); received "
           f"{spread!r}.")
    low, high = (float(v) for v in spread)

    def is_range(values) -> bool:
        return np.allclose((low, high), (min(values), max(values)), atol=1e-6)

    best = [r.best_val_accuracy for r in runs]
    if is_range(best) or is_range([max(r.history["val_accuracy"]) for r in runs]):
        return (f"the best validation accuracy of the same network ranges from {low:.3f} to "
                f"{high:.3f} (mean {np.mean(best):.3f}) with the seed alone: a difference "
                f"smaller than {high - low:.3f} between two networks may be chance.")
    expect(not np.allclose((high, low), (min(best), max(best)), atol=1e-6), "you have the pair "
           "the other way round: (lowest, highest).")
    expect(not np.allclose((low / 100, high / 100), (min(best), max(best)), atol=1e-5), "these "
           "are percentages: keep accuracies as fractions between 0 and 1.")
    expect(not is_range([r.history["val_accuracy"][-1] for r in runs]), "these are the "
           "accuracies of the last epochs; take each run's best (run.best_val_accuracy: the "
           "epoch whose weights early stopping restored).")
    expect(not is_range([r.best_metrics.get("accuracy", math.nan) for r in runs]), "these are "
           "training accuracies; the spread that matters is of validation accuracy "
           "(run.best_val_accuracy).")
    raise NotYet(f"({low:.3f}, {high:.3f}) is not the range of the runs' best validation "
                 f"accuracies ({', '.join(f'{a:.3f}' for a in best)}).")


@exercises.check(5, "better, or within the spread?",
                 missing=f"one of {', '.join(map(repr, VERDICTS))}, computed in code",
                 hint="compare bn_run.best_val_accuracy with the spread: above the highest seed "
                      "run is 'better', below the lowest 'worse', otherwise 'within the spread'.")
def check_verdict(verdict: Any, bn_run: Any, runs: Any, *, name: str = "verdict") -> str:
    """Check exercise 5: ``verdict`` says where the BN run's best validation accuracy lies
    against the range of the seed ``runs``: above, below or inside it."""
    import keras

    runs = _valid_runs(runs)
    problem = _run_problem(bn_run, "`bn_run`")
    expect(problem is None, str(problem))
    expect(any(isinstance(layer, keras.layers.BatchNormalization)
               for layer in _layers(bn_run.model)), "`bn_run` has no BatchNormalization layer: "
           "it should be the run of your network from exercise 1.")
    expect(_data(bn_run) == _data(runs[0]), "`bn_run` used other data than the seed runs: "
           "compare on the same splits.")
    expect(verdict in VERDICTS, f"`{name}` should be one of {', '.join(map(repr, VERDICTS))}; "
           f"received {verdict!r}.")
    acc = bn_run.best_val_accuracy
    accs = [r.best_val_accuracy for r in runs]
    low, high = min(accs), max(accs)
    right = "better" if acc > high else "worse" if acc < low else "within the spread"
    if verdict == right:
        return (f"batch normalization {acc:.3f} against the baseline's {low:.3f} to {high:.3f}: "
                f"{right}." + ("" if right != "within the spread" else " Another seed could "
                               "reverse the order: this is no evidence either way."))
    one = accs[0]
    first = "better" if acc > one else "worse" if acc < one else "within the spread"
    expect(verdict != first, f"you compared with one baseline run ({one:.3f}); the seeds range "
           f"from {low:.3f} to {high:.3f}, and {acc:.3f} lies {right}.")
    raise NotYet(f"{acc:.3f} against {low:.3f} to {high:.3f} is not {verdict!r}. Compute it: "
                 "'better' above the highest, 'worse' below the lowest.")
