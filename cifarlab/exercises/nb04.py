"""Checks of notebook 04 (dropout): the network is compared with
:func:`cifarlab.models.build_cnn` (``dropout=...``) and run on images; plots by their Axes;
answers about overfitting with what the runs recorded. See :mod:`cifarlab.exercises`."""

import math
from typing import Any

import numpy as np

from cifarlab import models
from cifarlab.exercises._core import (
    Exercises,
    NotYet,
    _layers,
    expect,
    model_difference,
    model_problem,
    probe_images,
)

exercises = Exercises("04_dropout")
record_results, hint, summary = exercises.record_results, exercises.hint, exercises.summary

#: Columns of :func:`cifarlab.course.overfitting_table` that exercise 4 reads.
FIT, CLEAN, VAL = ("training accuracy (as fit reports it)", "training accuracy (original images)",
                   "validation accuracy")


def _dropouts(layers: list) -> list:
    import keras

    return [layer for layer in layers if isinstance(layer, keras.layers.Dropout)]


def _dropout_problem(model: Any) -> str | None:
    """The typical dropout mistakes, named: after the output, a rate of 1, on at prediction."""
    import keras

    found = _layers(model)
    last = max((i for i, layer in enumerate(found) if isinstance(layer, keras.layers.Dense)),
               default=-1)
    if after := _dropouts(found[last + 1:]):
        return (f"dropout after the softmax output ({after[0].name}): in training it zeroes "
                "some class probabilities and scales up the rest, so they no longer sum to 1. "
                "Dropout belongs between layers that learn, never after the output layer.")
    if full := [d for d in _dropouts(found) if d.rate >= 1]:
        return (f"{full[0].name} has rate {full[0].rate}: a rate of 1.0 drops every input in "
                "training, nothing reaches the next layer and the network cannot learn. `rate` "
                "is the share dropped: Dropout(DROPOUT).")
    x = probe_images(8)
    first, second = (np.asarray(model(x, training=False)) for _ in range(2))
    if not np.allclose(first, second, atol=1e-6):
        return ("dropout active at prediction: two predictions of the same images differ. "
                "Keras switches dropout off when it predicts (model.predict, or model(x, "
                "training=False)); a layer that drops whatever `training` says keeps "
                "dropping. Use keras.layers.Dropout(rate).")
    return None


@exercises.check(1, "place the dropout layers",
                 missing="keras.Sequential([...]): seed 000's network with Dropout layers",
                 hint="seed 000's list of layers from notebook 01, with "
                      "keras.layers.Dropout(DROPOUT) after Flatten and after each hidden Dense "
                      "layer: three Dropout layers, none after the last (softmax) Dense.")
def check_dropout_network(model: Any, *, num_classes: int, rate: float,
                          name: str = "dropout_model") -> str:
    """Check exercise 1: ``model`` is seed 000's network with Dropout(``rate``) where
    ``models.build_cnn(num_classes, dropout=rate)`` has them, and it drops only in training."""
    problem = model_problem(model, num_classes)
    expect(problem is None, f"`{name}`: {problem}")
    problem = _dropout_problem(model)
    expect(problem is None, f"`{name}`: {problem}")
    reference = models.build_cnn(num_classes, dropout=rate)
    problem = model_difference(model, reference)
    expect(problem is None, f"`{name}`: {problem} The reference, models.build_cnn(num_classes, "
           f"dropout={rate}), is seed 000's network with a Dropout after Flatten and after each "
           "hidden Dense layer.")
    for mine in _dropouts(_layers(model)):
        expect(math.isclose(mine.rate, rate), f"`{name}`: {mine.name} has rate {mine.rate}, the "
               f"exercise asks for DROPOUT = {rate}" + (": `rate` is the share of inputs "
               "dropped, not kept." if math.isclose(mine.rate, 1 - rate) else "."))
    x = probe_images(8)
    expect(not np.allclose(model(x, training=True), model(x, training=False), atol=1e-6),
           f"`{name}`: nothing changes in training: the Dropout layers drop nothing.")
    return (f"{name} has {len(_dropouts(_layers(model)))} Dropout layers (rate {rate}) where "
            f"models.build_cnn(..., dropout={rate}) has them, and {model.count_params():,} "
            "parameters, as many as without dropout; it drops only in training.")


def _history(run: Any) -> dict[str, np.ndarray]:
    history = getattr(run, "history", run)  # a RunResult, a keras History, or a dict
    history = getattr(history, "history", history)
    expect(isinstance(history, dict) and history, "the run has no history to compare with.")
    return {k: np.asarray(v, dtype=np.float64) for k, v in history.items()}


def _label_problem(key: str, label: str) -> str | None:
    """Why ``label`` does not say what the curve of history[``key``] shows, or None."""
    text, val = label.lower(), key.startswith("val_")
    accuracy, loss = "acc" in key, key.endswith("loss")
    if accuracy and "loss" in text and "acc" not in text:
        return (f"an accuracy curve labelled as loss: '{label}' is history['{key}'] (seed 000 "
                "labelled its accuracy curves 'Training Loss' and 'Validation Loss').")
    if loss and "acc" in text and "loss" not in text:
        return f"a loss curve labelled as accuracy: '{label}' is history['{key}']."
    if (accuracy and "acc" not in text) or (loss and "loss" not in text):
        return f"the label '{label}' does not say which metric history['{key}'] is."
    if val and "test" in text:
        return (f"the validation curve labelled as test ('{label}'): these images are the "
                "validation split, cut from the training data; the test split is kept for "
                "the final evaluation.")
    if val != ("val" in text):
        return (f"'{label}' is history['{key}'], the {'validation' if val else 'training'} "
                "curve: say 'training' or 'validation' in its label.")
    return None


def _legend_pairs(ax: Any) -> dict[int, str]:
    """id(line) -> its legend text, paired as matplotlib pairs them."""
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    lines = ax.get_lines()
    if texts and set(texts) <= {line.get_label() for line in lines}:
        return {id(line): line.get_label() for line in lines if line.get_label() in texts}
    return {id(line): t for line, t in zip(lines, texts, strict=False)}  # legend(["a", "b"])


@exercises.check(2, "label the curves", missing="the matplotlib Axes you drew the curves on",
                 hint="fig, ax = plt.subplots(); ax.plot(epochs, history['accuracy'], "
                      "label='training accuracy'), the same for 'val_accuracy', then "
                      "ax.set_xlabel('epoch'), ax.set_ylabel('accuracy'), ax.legend().")
def check_history_plot(ax: Any, run: Any, *, name: str = "history_ax") -> str:
    """Check exercise 2: ``ax`` shows the training and validation accuracy of ``run``, each
    curve labelled with what it is, against epochs counted from 1, both axes labelled."""
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes) and len(getattr(ax, "axes", None) or ()) == 1:
        ax = ax.axes[0]  # a Figure with one Axes
    expect(isinstance(ax, Axes), f"`{name}` should be a matplotlib Axes (fig, ax = "
           f"plt.subplots()); received a {type(ax).__name__}.")
    history = _history(run)
    curves = [line for line in ax.get_lines() if len(set(np.ravel(line.get_xdata()))) > 1]
    expect(curves, f"nothing is plotted on `{name}`: ax.plot(epochs, history['accuracy'], ...).")
    expect(ax.get_legend() is not None, f"`{name}` has no legend: call ax.legend() so a reader "
           "knows which curve is which.")
    labels, shown = _legend_pairs(ax), set()
    for line in curves:
        y = np.asarray(line.get_ydata(), dtype=np.float64)
        keys = [k for k, v in history.items() if v.shape == y.shape and np.allclose(v, y)]
        expect(keys, f"a curve on `{name}` is not in the run's history (values "
               f"{np.round(y[:3], 3).tolist()}...): plot history['accuracy'] and "
               "history['val_accuracy'].")
        expect(id(line) in labels, f"the curve of history['{keys[0]}'] has no legend entry: "
               "give it a label.")
        problems = [_label_problem(k, labels[id(line)]) for k in keys]
        expect(None in problems, problems[0])
        shown.add(keys[problems.index(None)])
        x = np.asarray(line.get_xdata(), dtype=np.float64)
        expect(not np.array_equal(x, np.arange(len(y))), "epochs counted from 0: "
               "plt.plot(values) puts them at 0, 1, ...; plot against epochs = range(1, "
               "len(values) + 1), as Keras counts them (run.best_epoch too).")
    expect({"accuracy", "val_accuracy"} <= shown, "plot both the training and the validation "
           "accuracy: history['accuracy'] and history['val_accuracy'].")
    ylabel, xlabel = ax.get_ylabel().lower(), ax.get_xlabel().lower()
    expect("acc" in ylabel, f"the y axis is labelled '{ax.get_ylabel()}' but shows accuracy: "
           "ax.set_ylabel('accuracy').")
    expect("epoch" in xlabel, "label the x axis: ax.set_xlabel('epoch').")
    return (f"{len(curves)} curves, each labelled with what it shows "
            f"({', '.join(repr(labels[id(c)]) for c in curves)}), epochs from 1, axes labelled.")


def _epoch_of(values: np.ndarray, pick=np.nanargmin) -> int:
    return int(pick(values)) + 1


@exercises.check(3, "when overfitting starts",
                 missing="the epoch (counted from 1) after which validation loss rises",
                 hint="validation loss falls while the network learns what generalises, and "
                      "rises once it learns the training images by heart: find its lowest "
                      "point, np.argmin(history['val_loss']) + 1.")
def check_overfit_epoch(epoch: Any, run: Any, *, name: str = "overfit_epoch") -> str:
    """Check exercise 3: ``epoch`` is the epoch (from 1) with the lowest validation loss of
    ``run``, after which it rises while training loss keeps falling."""
    history = _history(run)
    val, n = history["val_loss"], len(history["val_loss"])
    integral = isinstance(epoch, (int, np.integer)) or (
        isinstance(epoch, (float, np.floating)) and float(epoch).is_integer())
    expect(integral and not isinstance(epoch, bool), f"`{name}` should be an epoch number "
           f"(a whole number from 1 to {n}); received {epoch!r}.")
    epoch, best = int(epoch), _epoch_of(val)
    if epoch == best:
        rest = ("and rises after it while training loss keeps falling: from there on the "
                "network learns its training images by heart. Early stopping keeps this "
                "epoch's weights (run.best_epoch)." if best < n else "and falls until the last "
                "epoch: in these epochs the run shows no overfitting yet.")
        return f"validation loss is lowest at epoch {best} ({val[best - 1]:.3f}) {rest}"
    expect(1 <= epoch <= n, f"the run has {n} epochs, numbered 1 to {n}; received {epoch}.")
    expect(epoch != best - 1, f"epoch {epoch} is counted from 0: Keras prints the first epoch "
           "as 'Epoch 1', and run.best_epoch counts the same way.")
    expect(epoch != _epoch_of(history["loss"]), f"epoch {epoch} has the lowest *training* loss; "
           "training loss keeps falling while a network overfits. Look at validation loss.")
    if "val_accuracy" in history:
        expect(epoch != _epoch_of(history["val_accuracy"], np.nanargmax), f"epoch {epoch} has "
               "the highest validation accuracy; the question is about validation loss, what "
               "early stopping watches (accuracy counts only right or wrong, not how sure).")
    raise NotYet(f"validation loss at epoch {epoch} is {val[epoch - 1]:.3f}, but another epoch "
                 "has a lower one: find its minimum, np.argmin(history['val_loss']) + 1.")


def _network(answer: Any, table: Any) -> str:
    names = {str(v).lower(): str(v) for v in table.index}
    expect(isinstance(answer, str) and answer.lower() in names, f"{answer!r} is not one of the "
           f"networks: {', '.join(map(repr, names.values()))}.")
    return names[answer.lower()]


@exercises.check(4, "which network overfits most",
                 missing="the name of a network, e.g. 'baseline'",
                 hint="overfitting is the gap between training and validation accuracy; take "
                      "the training accuracy measured on the original images, not the one fit "
                      "reports with dropout (and augmentation) on.")
def check_most_overfit(answer: Any, table: Any, *, name: str = "most_overfit") -> str:
    """Check exercise 4: ``answer`` names the network of ``table`` (course.overfitting_table)
    with the largest gap between clean training accuracy and validation accuracy."""
    network, gap = _network(answer, table), table[CLEAN] - table[VAL]
    top = gap[np.isclose(gap, gap.max(), atol=1e-9)].index
    if network in top:
        tie = " (every network has the same gap on these images)" if len(top) == len(gap) else ""
        return (f"{network}: {table.loc[network, CLEAN]:.3f} on its own training images "
                f"against {table.loc[network, VAL]:.3f} on validation, the largest gap "
                f"({gap[network]:.3f}){tie}.")
    fit_gap = table[FIT] - table[VAL]
    expect(not np.isclose(fit_gap[network], fit_gap.max()), f"{network} has the largest gap "
           "with training accuracy as fit reports it, but fit measures it with dropout on (and "
           "on augmented images), which makes it lower. Use the training accuracy measured on "
           "the original images.")
    expect(not np.isclose(gap[network], gap.min()), f"{network} has the smallest gap: it "
           "overfits least.")
    expect(not np.isclose(table.loc[network, VAL], table[VAL].min()), f"{network} has the "
           "lowest validation accuracy, but overfitting is the gap between training and "
           "validation accuracy.")
    raise NotYet(f"{network}'s gap is {gap[network]:.3f}; another network's is larger.")
