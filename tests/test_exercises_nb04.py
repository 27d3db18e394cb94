"""cifarlab.exercises.nb04 (dropout): each check passes on a right answer, says "Not yet:" on
None and names each typical mistake. Models are built and run for real; plots are real Axes."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

keras = pytest.importorskip("keras")

from cifarlab import models, plots  # noqa: E402
from cifarlab.exercises import NOT_YET, PASSED, nb04  # noqa: E402
from cifarlab.exercises.nb04 import CLEAN, FIT, VAL  # noqa: E402

layers = keras.layers


def _verdict(capsys, result, passed: bool, match: str = "") -> str:
    out = capsys.readouterr().out.strip()
    assert out.count("\n") == 0, f"a check prints one line: {out!r}"
    assert result is passed and out.startswith(PASSED if passed else NOT_YET), out
    assert match in out, out
    return out


def _network(rate=0.5, *, after_output=False, dropout=layers.Dropout, classes=5):
    """Seed 000's network with dropout after Flatten and each hidden Dense, as a student
    writes it (no names, no seeds)."""
    stack = [keras.Input((32, 32, 3)), layers.Conv2D(32, 3, activation="relu"),
             layers.MaxPooling2D(3), layers.Conv2D(64, 3, activation="relu"),
             layers.MaxPooling2D(2), layers.Conv2D(128, 3, activation="relu"),
             layers.MaxPooling2D(2), layers.Flatten(), dropout(rate),
             layers.Dense(256, activation="relu"), dropout(rate),
             layers.Dense(128, activation="relu"), dropout(rate),
             layers.Dense(classes, activation="softmax")]
    return keras.Sequential(stack + ([dropout(rate)] if after_output else []))


class AlwaysDropout(layers.Dropout):
    """A dropout that ignores `training`: it drops at prediction too."""

    def call(self, inputs, training=None):
        return super().call(inputs, training=True)


# --------------------------------------------------------------------------- exercise 1


def test_dropout_network_right_answer(capsys):
    check = nb04.check_dropout_network
    out = _verdict(capsys, check(_network(), num_classes=5, rate=0.5), True)
    assert "3 Dropout layers (rate 0.5)" in out and "159,813 parameters" in out
    reference = models.build_cnn(5, dropout=0.3, seed=0)
    _verdict(capsys, check(reference, num_classes=5, rate=0.3), True)


def test_dropout_network_missing(capsys):
    result = nb04.check_dropout_network(None, num_classes=5, rate=0.5)
    _verdict(capsys, result, False, "`dropout_model` is still None")


@pytest.mark.parametrize("model, rate, match", [
    (lambda: _network(after_output=True), 0.5, "dropout after the softmax output"),
    (lambda: _network(1.0), 1.0, "a rate of 1.0 drops every input"),
    (lambda: _network(dropout=AlwaysDropout), 0.5, "dropout active at prediction"),
    (lambda: _network(0.2), 0.5, "has rate 0.2, the exercise asks for DROPOUT = 0.5"),
    (lambda: _network(0.7), 0.3, "the share of inputs dropped, not kept"),
    (lambda: models.build_baseline_cnn(5), 0.5, "the reference has a Dropout there"),
    (lambda: models.build_cnn(5, conv_dropout=0.5), 0.5, "is a Dropout, the reference has a"),
    (lambda: _network(classes=3), 0.5, "(None, 5)"),
    (lambda: "my network", 0.5, "a keras.Model is needed"),
])
def test_dropout_network_mistakes(model, rate, match, capsys):
    result = nb04.check_dropout_network(model(), num_classes=5, rate=rate)
    _verdict(capsys, result, False, match)


# --------------------------------------------------------------------------- exercise 2

HISTORY = {"loss": [1.0, 0.8, 0.6, 0.5, 0.4], "accuracy": [0.3, 0.45, 0.5, 0.6, 0.7],
           "val_loss": [1.0, 0.8, 0.6, 0.7, 0.9], "val_accuracy": [0.3, 0.4, 0.5, 0.55, 0.5],
           "learning_rate": [1e-3] * 5}
EPOCHS = np.arange(1, 6)


def _plot(curves, *, legend=None, xlabel="epoch", ylabel="accuracy", from_zero=False):
    """Curves: (history key, label); legend: labels given to ax.legend instead."""
    fig, ax = plt.subplots()
    for key, label in curves:
        x = EPOCHS - 1 if from_zero else EPOCHS
        ax.plot(x, HISTORY[key], **({"label": label} if label else {}))
    if legend is not False:
        ax.legend(*([legend] if legend else []))
    ax.set(xlabel=xlabel, ylabel=ylabel)
    return ax


RIGHT = [("accuracy", "training accuracy"), ("val_accuracy", "validation accuracy")]


def test_history_plot_right_answer(capsys):
    check = nb04.check_history_plot
    out = _verdict(capsys, check(_plot(RIGHT), HISTORY), True, "2 curves")
    assert "'training accuracy', 'validation accuracy'" in out
    listed = _plot([("accuracy", None), ("val_accuracy", None)], legend=["train acc", "val acc"])
    _verdict(capsys, check(listed, HISTORY), True)
    _verdict(capsys, check(_plot(RIGHT).figure, HISTORY), True)  # a Figure with one Axes
    library = plots.plot_history(HISTORY, metrics=("accuracy",))  # its best-epoch line is skipped
    _verdict(capsys, check(library, HISTORY), True)


def test_history_plot_missing(capsys):
    _verdict(capsys, nb04.check_history_plot(None, HISTORY), False, "`history_ax` is still None")


@pytest.mark.parametrize("ax, match", [
    # seed 000: plt.plot(history['accuracy']); plt.legend(['Training Loss', 'Validation Loss'])
    (lambda: _plot([("accuracy", None), ("val_accuracy", None)], from_zero=True,
                   legend=["Training Loss", "Validation Loss"]),
     "an accuracy curve labelled as loss"),
    (lambda: _plot(RIGHT, from_zero=True), "epochs counted from 0"),
    (lambda: _plot(RIGHT, legend=False), "has no legend"),
    (lambda: _plot([RIGHT[0], ("val_accuracy", "test accuracy")]), "labelled as test"),
    (lambda: _plot([RIGHT[0], ("val_accuracy", "training accuracy")]),
     "say 'training' or 'validation'"),
    (lambda: _plot([("loss", "training accuracy")]), "a loss curve labelled as accuracy"),
    (lambda: _plot([("accuracy", "training")]), "does not say which metric"),
    (lambda: _plot(RIGHT[:1]), "plot both the training and the validation accuracy"),
    (lambda: _plot(RIGHT, ylabel=""), "ax.set_ylabel('accuracy')"),
    (lambda: _plot(RIGHT, ylabel="loss"), "the y axis is labelled 'loss'"),
    (lambda: _plot(RIGHT, xlabel=""), "label the x axis"),
    (lambda: plt.subplots()[1], "nothing is plotted"),
    (lambda: np.zeros(3), "should be a matplotlib Axes"),
])
def test_history_plot_mistakes(ax, match, capsys):
    _verdict(capsys, nb04.check_history_plot(ax(), HISTORY), False, match)


def test_history_plot_of_another_run(capsys):
    ax = _plot(RIGHT)
    ax.plot(EPOCHS, np.linspace(0, 1, 5), label="validation accuracy of another run")
    _verdict(capsys, nb04.check_history_plot(ax, HISTORY), False, "is not in the run's history")


# --------------------------------------------------------------------------- exercise 3


def test_overfit_epoch_right_answer(capsys):
    out = _verdict(capsys, nb04.check_overfit_epoch(3, HISTORY), True, "lowest at epoch 3")
    assert "rises after it" in out
    _verdict(capsys, nb04.check_overfit_epoch(np.int64(3), HISTORY), True)
    _verdict(capsys, nb04.check_overfit_epoch(3.0, HISTORY), True)
    falling = {**HISTORY, "val_loss": [1.0, 0.9, 0.8, 0.7, 0.6]}
    _verdict(capsys, nb04.check_overfit_epoch(5, falling), True, "no overfitting yet")


@pytest.mark.parametrize("epoch, match", [
    (None, "`overfit_epoch` is still None"),
    (2, "counted from 0"),
    (5, "the lowest *training* loss"),
    (4, "the highest validation accuracy"),
    (1, "another epoch has a lower one"),
    (9, "numbered 1 to 5"),
    ("three", "should be an epoch number"),
    (True, "should be an epoch number"),
])
def test_overfit_epoch_mistakes(epoch, match, capsys):
    _verdict(capsys, nb04.check_overfit_epoch(epoch, HISTORY), False, match)


# --------------------------------------------------------------------------- exercise 4

NETWORKS = ["baseline", "dropout", "augmentation+dropout"]
# clean gaps 0.12, 0.20, 0.08; as fit reports it: 0.10, -0.15, 0.18
TABLE = pd.DataFrame({FIT: [0.80, 0.60, 0.90], CLEAN: [0.82, 0.95, 0.80],
                      VAL: [0.70, 0.75, 0.72]}, index=NETWORKS)


def test_most_overfit_right_answer(capsys):
    out = _verdict(capsys, nb04.check_most_overfit("dropout", TABLE), True, "largest gap (0.200)")
    assert "same gap" not in out
    _verdict(capsys, nb04.check_most_overfit("Dropout", TABLE), True)
    same = TABLE.assign(**{CLEAN: 1.0, VAL: 1.0})
    _verdict(capsys, nb04.check_most_overfit("baseline", same), True, "the same gap")


@pytest.mark.parametrize("answer, table, match", [
    (None, TABLE, "`most_overfit` is still None"),
    ("augmentation+dropout", TABLE, "as fit reports it"),
    ("baseline", TABLE, "the lowest validation accuracy"),
    ("baseline", TABLE.assign(**{VAL: [0.75, 0.70, 0.72], FIT: 0.5}), "overfits least"),
    ("cnn", TABLE, "is not one of the networks"),
    (1, TABLE, "is not one of the networks"),
])
def test_most_overfit_mistakes(answer, table, match, capsys):
    _verdict(capsys, nb04.check_most_overfit(answer, table), False, match)


def test_hint_and_summary(capsys):
    nb04.hint(2)
    assert "Hint for exercise 2 (label the curves)" in capsys.readouterr().out
    assert set(nb04.exercises.titles) == {1, 2, 3, 4}
