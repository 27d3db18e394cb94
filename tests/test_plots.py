"""cifarlab.plots: check what is drawn (titles, labels, legends, images, ticks, values).

Evaluation objects are small fakes with the documented fields (types.SimpleNamespace),
so these tests do not depend on cifarlab.evaluate; one integration test uses it when
it is there. The Agg backend and closing figures come from conftest.py.
"""

from __future__ import annotations

import types

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import QuadMesh
from matplotlib.figure import Figure

from cifarlab import plots
from cifarlab.labels import FINE_LABELS, superclass_classes

NAMES5 = ("cat", "dog", "fox", "owl", "yak")


# --------------------------------------------------------------------------- helpers


def legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def image_count(fig: Figure) -> int:
    return sum(len(ax.images) for ax in fig.axes)


def flat(text: str) -> str:
    """Titles are wrapped to the figure width: compare them with single spaces."""
    return " ".join(text.split())


def images_and_labels(n: int = 20, k: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(n) % k
    return images, labels


def fake_evaluation(k: int = 5, n: int = 60, *, names=None, synthetic: bool = False, seed=0):
    """A stand-in for cifarlab.evaluate.Evaluation, computed from random predictions."""
    names = tuple(names or NAMES5[:k])
    rng = np.random.default_rng(seed)
    y_true = np.arange(n) % k
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y_true] += 1.5  # mostly right, some mistakes
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y_pred = probs.argmax(axis=1)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    support = cm.sum(axis=1)
    recall = np.diag(cm) / support
    precision = np.diag(cm) / np.maximum(cm.sum(axis=0), 1)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    per_class = pd.DataFrame(
        {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": support,
            "accuracy": recall,
        },
        index=pd.Index(names, name="class"),
    )
    off = [(cm[i, j], names[i], names[j]) for i in range(k) for j in range(k) if i != j]
    off = sorted((c, t, p) for c, t, p in off if c > 0)[::-1]
    most_confused = pd.DataFrame(
        {
            "true": [t for _, t, _ in off],
            "predicted": [p for _, _, p in off],
            "count": [c for c, _, _ in off],
            "fraction": [c / support[names.index(t)] for c, t, _ in off],
        }
    )
    p_true = probs[np.arange(n), y_true]
    loss = -np.log(p_true)
    worst = np.argsort(-loss)[:25]
    highest_loss = pd.DataFrame(
        {
            "index": worst,
            "true": [names[i] for i in y_true[worst]],
            "predicted": [names[i] for i in y_pred[worst]],
            "loss": loss[worst],
            "p_true": p_true[worst],
            "p_pred": probs[worst, y_pred[worst]],
        }
    )
    return types.SimpleNamespace(
        accuracy=float((y_true == y_pred).mean()),
        loss=float(loss.mean()),
        top_k_accuracy={},
        per_class=per_class,
        report="",
        confusion_matrix=cm,
        class_names=names,
        most_confused=most_confused,
        highest_loss=highest_loss,
        y_true=y_true,
        y_pred=y_pred,
        probabilities=probs,
        synthetic=synthetic,
    )


@pytest.fixture
def history() -> dict[str, list[float]]:
    return {
        "loss": [1.5, 1.1, 0.8, 0.6, 0.5, 0.4],
        "val_loss": [1.6, 1.2, 0.9, 0.95, 0.85, 1.0],  # best at epoch 5
        "accuracy": [0.3, 0.5, 0.6, 0.7, 0.75, 0.8],
        "val_accuracy": [0.25, 0.45, 0.55, 0.52, 0.6, 0.58],
        "learning_rate": [1e-3, 1e-3, 1e-3, 5e-4, 5e-4, 5e-4],
    }


# --------------------------------------------------------------------------- image grids


def test_plot_samples_draws_n_images_titled_with_their_class_names():
    images, labels = images_and_labels(20)
    fig = plots.plot_samples(images, labels, NAMES5, n=6, ncols=3, synthetic=True)
    assert isinstance(fig, Figure)
    assert image_count(fig) == 6
    assert len(fig.axes) == 6  # unused grid cells are removed
    titles = [ax.get_title() for ax in fig.axes]
    assert set(titles) <= set(NAMES5)
    # each title is the class of the image drawn under it
    for ax in fig.axes:
        shown = ax.images[0].get_array()
        i = next(i for i in range(20) if np.allclose(shown, images[i] / 255.0))
        assert ax.get_title() == NAMES5[labels[i]]
    assert "SYNTHETIC data" in fig.get_suptitle()


def test_plot_samples_accepts_uint8_and_float_images_alike():
    images, labels = images_and_labels(10)
    a = plots.plot_samples(images, labels, NAMES5, n=4)
    b = plots.plot_samples(images.astype(np.float32) / 255, labels, NAMES5, n=4)
    for ax_a, ax_b in zip(a.axes, b.axes, strict=True):
        np.testing.assert_allclose(ax_a.images[0].get_array(), ax_b.images[0].get_array())
    assert "SYNTHETIC" not in a.get_suptitle()


def test_plot_samples_n_larger_than_data_shows_every_image():
    images, labels = images_and_labels(5)
    assert image_count(plots.plot_samples(images, labels, NAMES5, n=25)) == 5


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"labels": np.arange(7) % 5},
            ValueError,
            r"`labels` must have one integer per image: 10 images, labels of shape \(7,\)",
        ),
        ({"labels": np.full(10, 5)}, ValueError, r"`labels` must be 0\.\.4\. Received a label 5"),
        ({"labels": np.zeros(10)}, TypeError, r"`labels` must be integers"),
        ({"n": 0}, ValueError, r"Expected `n` >= 1. Received: n=0"),
        ({"ncols": 0}, ValueError, r"Expected `ncols` >= 1. Received: ncols=0"),
        ({"images": np.zeros((10, 32, 32), np.float32) + 2}, ValueError, r"`images`.*\[0, 1\]"),
        ({"images": np.zeros((10, 32, 32, 4), np.uint8)}, ValueError, r"shape \(N, height"),
        ({"class_names": "cat"}, TypeError, r"`class_names` must be a sequence"),
    ],
)
def test_plot_samples_rejects_bad_input(kwargs, error, match):
    images, labels = images_and_labels(10)
    args = {"images": images, "labels": labels, "class_names": NAMES5, **kwargs}
    with pytest.raises(error, match=match):
        plots.plot_samples(args.pop("images"), args.pop("labels"), args.pop("class_names"), **args)


def test_plot_class_grid_one_row_per_class_named_on_the_left(superclass_data):
    data = superclass_data
    fig = plots.plot_class_grid(
        data.x_train, data.y_train, data.class_names, per_class=4, synthetic=data.synthetic
    )
    assert [ax.get_ylabel() for ax in fig.axes] == list(superclass_classes("medium_mammals"))
    assert image_count(fig) == 5
    gap = 2
    for ax in fig.axes:  # each row is 4 images side by side
        assert ax.images[0].get_array().shape[:2] == (32, 4 * 32 + 3 * gap)
    assert "SYNTHETIC data" in fig.get_suptitle()


def test_plot_class_grid_rows_hold_images_of_their_class_only():
    images = np.stack([np.full((32, 32, 3), 40 * c, np.uint8) for c in range(5)] * 3)
    labels = np.tile(np.arange(5), 3)
    fig = plots.plot_class_grid(images, labels, NAMES5, per_class=3, classes=["owl", "cat"])
    assert [ax.get_ylabel() for ax in fig.axes] == ["owl", "cat"]
    np.testing.assert_allclose(fig.axes[0].images[0].get_array()[:, :32], 120 / 255)
    np.testing.assert_allclose(fig.axes[1].images[0].get_array()[:, :32], 0.0)


def test_plot_class_grid_rejects_unknown_class_and_bad_per_class():
    images, labels = images_and_labels(10)
    with pytest.raises(ValueError, match=r"Unknown class 'dgo'.*Did you mean 'dog'"):
        plots.plot_class_grid(images, labels, NAMES5, classes=["dgo"])
    with pytest.raises(ValueError, match=r"Expected `per_class` >= 1. Received: per_class=0"):
        plots.plot_class_grid(images, labels, NAMES5, per_class=0)
    one_per_image = r"`labels` must have one integer per image: 10 images, labels of shape \(3,\)"
    with pytest.raises(ValueError, match=one_per_image):
        plots.plot_class_grid(images, labels[:3], NAMES5)


# --------------------------------------------------------------------------- history


def test_plot_history_legends_labels_and_epochs(history):
    fig = plots.plot_history(history)
    loss_ax, acc_ax = fig.axes
    assert legend_texts(loss_ax)[:2] == ["training loss", "validation loss"]
    assert legend_texts(acc_ax)[:2] == ["training accuracy", "validation accuracy"]
    assert not any("loss" in t for t in legend_texts(acc_ax))  # seed 000's mistake
    assert loss_ax.get_ylabel() == "loss" and acc_ax.get_ylabel() == "accuracy"
    assert loss_ax.get_xlabel() == acc_ax.get_xlabel() == "epoch"
    train_line = loss_ax.get_lines()[0]
    assert list(train_line.get_xdata()) == [1, 2, 3, 4, 5, 6]
    assert list(train_line.get_ydata()) == history["loss"]
    assert list(acc_ax.get_lines()[1].get_ydata()) == history["val_accuracy"]
    for ax in (loss_ax, acc_ax):
        texts = legend_texts(ax)
        assert "best epoch 5" in texts
        assert "learning rate -> 5e-04" in texts
        best = ax.get_lines()[texts.index("best epoch 5")]
        assert best.get_linestyle() == "--" and list(best.get_xdata()) == [5, 5]
        lr_line = ax.get_lines()[texts.index("learning rate -> 5e-04")]
        assert list(lr_line.get_xdata()) == [4, 4]  # first epoch with the new rate
    assert fig.get_suptitle() == "training history"


def test_plot_history_from_keras_fit():
    import keras

    rng = np.random.default_rng(0)
    x = rng.random((32, 4), dtype=np.float32)
    y = (x[:, 0] > 0.5).astype(np.int32)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    result = model.fit(x, y, validation_split=0.25, epochs=3, verbose=0)
    fig = plots.plot_history(result, metrics=["accuracy"], title="tiny model")
    (ax,) = fig.axes
    assert legend_texts(ax)[:2] == ["training accuracy", "validation accuracy"]
    assert list(ax.get_lines()[0].get_ydata()) == pytest.approx(result.history["accuracy"])
    assert fig.get_suptitle() == "tiny model"


def test_plot_history_from_run_record_and_history_csv(history, tmp_path):
    run = types.SimpleNamespace(name="baseline", history=history, synthetic=True)
    fig = plots.plot_history(run)
    assert "SYNTHETIC data" in fig.get_suptitle()

    csv = tmp_path / "history.csv"  # as keras.callbacks.CSVLogger writes it
    pd.DataFrame({"epoch": range(6), **history}).to_csv(csv, index=False)
    fig = plots.plot_history(pd.read_csv(csv), metrics=("loss",))
    (ax,) = fig.axes
    assert list(ax.get_lines()[0].get_xdata()) == [1, 2, 3, 4, 5, 6]
    assert legend_texts(ax)[:2] == ["training loss", "validation loss"]
    with pytest.raises(ValueError, match=r"Unknown metric 'epoch'"):
        plots.plot_history(pd.read_csv(csv), metrics=("epoch",))


def test_plot_history_without_validation_or_learning_rate():
    fig = plots.plot_history({"loss": [1.0, 0.5], "accuracy": [0.4, 0.6]})
    assert legend_texts(fig.axes[0]) == ["training loss"]
    assert legend_texts(fig.axes[1]) == ["training accuracy"]


def test_plot_history_schedule_changing_every_epoch_uses_a_second_axis(history):
    history = {**history, "learning_rate": [1e-3 * 0.7**i for i in range(6)]}
    fig = plots.plot_history(history)
    assert len(fig.axes) == 3  # two panels and the learning-rate axis
    twin = fig.axes[2]
    assert twin.get_ylabel() == "learning rate" and twin.get_yscale() == "log"
    assert "learning rate (right axis)" in legend_texts(fig.axes[0])
    assert not any(t.startswith("learning rate ->") for t in legend_texts(fig.axes[1]))


def test_plot_history_draws_on_given_axes(history):
    fig, axes = plt.subplots(1, 2)
    assert plots.plot_history(history, axes=axes) is fig
    assert axes[0].get_ylabel() == "loss" and axes[1].get_ylabel() == "accuracy"
    assert len(plt.get_fignums()) == 1


@pytest.mark.parametrize(
    ("source", "kwargs", "error", "match"),
    [
        ({}, {}, ValueError, r"`history` is empty"),
        ({"loss": [], "val_loss": []}, {}, ValueError, r"`history` is empty"),
        (pd.DataFrame(), {}, ValueError, r"`history` is empty"),
        ("history", {}, TypeError, r"`history` must be a Keras History"),
        (
            {"loss": [1.0]},
            {"metrics": ("acuracy",)},
            ValueError,
            r"Unknown metric 'acuracy'.*Valid: loss",
        ),
        (
            {"loss": [1.0], "accuracy": [0.5]},
            {"metrics": ("val_accuracy",)},
            ValueError,
            r"Did you mean 'accuracy'\?.*Valid: accuracy, loss",
        ),
        ({"loss": [1.0]}, {"metrics": ()}, ValueError, r"`metrics` is empty"),
        (
            {"loss": [1.0], "accuracy": [0.5]},
            {"axes": "one"},
            ValueError,
            r"`axes` must hold one matplotlib Axes per metric: 2 metrics",
        ),
    ],
)
def test_plot_history_rejects_bad_input(source, kwargs, error, match):
    with pytest.raises(error, match=match):
        plots.plot_history(source, **kwargs)


# --------------------------------------------------------------------------- confusion


def heatmap_values(ax) -> np.ndarray:
    mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
    values = np.asarray(mesh.get_array())
    k = len(ax.get_xticklabels())
    return values.reshape(k, k)


def test_plot_confusion_matrix_small_is_annotated_with_names_on_both_axes():
    evaluation = fake_evaluation(synthetic=True)
    ax = plots.plot_confusion_matrix(evaluation)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(NAMES5)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(NAMES5)
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"
    np.testing.assert_array_equal(heatmap_values(ax), evaluation.confusion_matrix)
    cells = [t.get_text() for t in ax.texts]
    assert len(cells) == 25
    assert cells[0] == str(evaluation.confusion_matrix[0, 0])
    assert "SYNTHETIC data" in flat(ax.get_title())
    assert ax.figure.axes[-1].get_ylabel() == "number of images"  # colorbar


@pytest.mark.parametrize(("normalize", "axis"), [("true", 1), ("pred", 0)])
def test_plot_confusion_matrix_normalized_sums_to_one(normalize, axis):
    cm = np.array([[5, 1, 0], [2, 2, 2], [0, 0, 7]])
    ax = plots.plot_confusion_matrix(cm, ["a", "b", "c"], normalize=normalize)
    values = heatmap_values(ax)
    np.testing.assert_allclose(values.sum(axis=axis), 1.0)
    assert ax.texts[0].get_text() == f"{values[0, 0]:.2f}"
    assert "normalised" in ax.get_title()


def test_plot_confusion_matrix_empty_row_stays_zero_when_normalized():
    cm = np.array([[3, 1], [0, 0]])
    values = heatmap_values(plots.plot_confusion_matrix(cm, normalize="true"))
    np.testing.assert_allclose(values, [[0.75, 0.25], [0.0, 0.0]])


def test_plot_confusion_matrix_100_classes_readable_in_superclass_order():
    rng = np.random.default_rng(0)
    cm = rng.integers(0, 5, size=(100, 100)) + np.diag(np.full(100, 50))
    ax = plots.plot_confusion_matrix(cm, FINE_LABELS)
    xticks = [t.get_text() for t in ax.get_xticklabels()]
    yticks = [t.get_text() for t in ax.get_yticklabels()]
    assert xticks[:5] == ["beaver", "dolphin", "otter", "seal", "whale"]
    assert yticks[:5] == xticks[:5] and xticks[5:10] == list(superclass_classes("fish"))
    assert sorted(xticks) == sorted(FINE_LABELS)
    assert len(ax.texts) == 0  # no annotations at 100 classes
    assert ax.get_xticklabels()[0].get_fontsize() < 8
    # values follow their names: cell (dolphin, beaver) is the original one
    values = heatmap_values(ax)
    i, j = FINE_LABELS.index("dolphin"), FINE_LABELS.index("beaver")
    assert values[1, 0] == cm[i, j]
    # 19 lines each way separate the 20 superclass blocks
    separators = [line for line in ax.get_lines() if line.get_color() == "black"]
    assert len(separators) == 38


def test_plot_confusion_matrix_order_given_keeps_the_official_order():
    cm = np.eye(100, dtype=int)
    ax = plots.plot_confusion_matrix(cm, FINE_LABELS, order="given", annotate=False)
    assert [t.get_text() for t in ax.get_xticklabels()][:3] == ["apple", "aquarium_fish", "baby"]


def test_plot_confusion_matrix_superclass_order_on_a_subset():
    names = ("shark", "fox", "trout", "skunk")
    cm = np.arange(16).reshape(4, 4)
    ax = plots.plot_confusion_matrix(cm, names, order="superclass")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["shark", "trout", "fox", "skunk"]
    assert heatmap_values(ax)[0, 1] == cm[0, 2]  # (shark, trout)


@pytest.mark.parametrize(
    ("cm", "names", "kwargs", "error", "match"),
    [
        (np.ones((3, 4)), None, {}, ValueError, r"must be square.*Received shape \(3, 4\)"),
        (np.ones(3), None, {}, ValueError, r"must be square"),
        (np.ones((3, 3)), ["a", "b"], {}, ValueError, r"`class_names` has 2 names but.*3"),
        (
            np.ones((2, 2)),
            None,
            {"normalize": "ture"},
            ValueError,
            r"Unknown normalize 'ture'. Did you mean 'true'\?",
        ),
        (np.ones((2, 2)), None, {"order": "coarse"}, ValueError, r"Unknown order 'coarse'"),
        (
            np.ones((2, 2)),
            ["a", "b"],
            {"order": "superclass"},
            ValueError,
            r"needs CIFAR-100 fine class names.*'a', 'b'",
        ),
        (-np.ones((2, 2)), None, {}, ValueError, r"non-negative finite counts"),
        (np.ones((2, 2)), None, {"annotate": "yes"}, TypeError, r"`annotate` must be"),
    ],
)
def test_plot_confusion_matrix_rejects_bad_input(cm, names, kwargs, error, match):
    with pytest.raises(error, match=match):
        plots.plot_confusion_matrix(cm, names, **kwargs)


# --------------------------------------------------------------------------- evaluation


def test_plot_per_class_sorted_bars_with_mean_line():
    evaluation = fake_evaluation(synthetic=True)
    ax = plots.plot_per_class(evaluation, metric="precision")
    widths = [bar.get_width() for bar in ax.patches]
    assert widths == sorted(widths)  # bottom to top: the best class is the top bar
    names = [t.get_text() for t in ax.get_yticklabels()]
    table = evaluation.per_class["precision"]
    assert [table[n] for n in names] == pytest.approx(widths)
    assert ax.get_xlabel() == "precision" and ax.get_ylabel() == "class"
    mean = table.mean()
    assert legend_texts(ax) == [f"mean precision over classes = {mean:.3f}", "precision per class"]
    assert "SYNTHETIC data" in flat(ax.get_title())


def test_plot_per_class_accepts_a_dataframe_and_rejects_unknown_metric():
    table = fake_evaluation().per_class
    assert plots.plot_per_class(table, metric="f1").get_xlabel() == "f1"
    with pytest.raises(ValueError, match=r"Unknown metric 'recal'. Did you mean 'recall'\?"):
        plots.plot_per_class(table, metric="recal")
    with pytest.raises(ValueError, match=r"lacks the column\(s\) f1"):
        plots.plot_per_class(table.drop(columns="f1"), metric="f1")
    with pytest.raises(TypeError, match=r"`evaluation` must be a cifarlab Evaluation"):
        plots.plot_per_class(object())


def test_plot_predictions_titles_and_red_mistakes():
    images, _ = images_and_labels(8)
    true = np.array([0, 1, 2, 3, 4, 0, 1, 2])
    pred = np.array([0, 1, 2, 3, 0, 0, 4, 2])  # two mistakes
    probs = np.full((8, 5), 0.05)
    probs[np.arange(8), pred] = 0.8
    fig = plots.plot_predictions(images, true, pred, NAMES5, probs=probs, n=8, synthetic=True)
    assert image_count(fig) == 8
    titles = {ax.get_title(): ax for ax in fig.axes}
    wrong = titles["true: yak / pred: cat (p=0.80)"]
    right = titles["true: cat / pred: cat (p=0.80)"]
    assert mpl.colors.same_color(wrong.title.get_color(), "tab:red")
    assert mpl.colors.same_color(wrong.spines["top"].get_edgecolor(), "tab:red")
    assert mpl.colors.same_color(right.title.get_color(), "black")
    assert flat(fig.get_suptitle()) == "2 of 8 shown are mistakes (in red) (SYNTHETIC data)"


def test_plot_predictions_mistakes_only_and_without_probs():
    images, _ = images_and_labels(8)
    true = np.arange(8) % 5
    pred = np.where(np.arange(8) < 3, (true + 1) % 5, true)
    fig = plots.plot_predictions(images, true, pred, NAMES5, n=16, which="mistakes")
    assert image_count(fig) == 3
    assert all(
        ax.get_title().startswith("true: ") and "(p=" not in ax.get_title() for ax in fig.axes
    )
    assert all(mpl.colors.same_color(ax.title.get_color(), "tab:red") for ax in fig.axes)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"pred": np.zeros(5, int)},
            ValueError,
            r"`pred` must have one integer per image: 8 images, \w+ of shape \(5,\)",
        ),
        ({"true": np.zeros(8)}, TypeError, r"`true` must be integers"),
        ({"probs": np.ones((8, 3))}, ValueError, r"`probs` must have shape \(8, 5\)"),
        ({"n": -1}, ValueError, r"Expected `n` >= 1. Received: n=-1"),
        ({"which": "wrong"}, ValueError, r"Unknown which 'wrong'.*Valid: all, mistakes, correct"),
        ({"which": "mistakes"}, ValueError, r"which='mistakes': there are no such"),
    ],
)
def test_plot_predictions_rejects_bad_input(kwargs, error, match):
    images, _ = images_and_labels(8)
    args = {"true": np.zeros(8, int), "pred": np.zeros(8, int), **kwargs}
    with pytest.raises(error, match=match):
        plots.plot_predictions(images, args.pop("true"), args.pop("pred"), NAMES5, **args)


def test_plot_most_confused_bars_true_to_predicted_with_counts():
    evaluation = fake_evaluation(k=5, n=100)
    ax = plots.plot_most_confused(evaluation, k=3)
    top = evaluation.most_confused.head(3)
    labels = [t.get_text() for t in ax.get_yticklabels()][::-1]  # top bar first
    assert labels == [f"{t} -> {p}" for t, p in zip(top["true"], top["predicted"], strict=True)]
    assert [bar.get_width() for bar in ax.patches][::-1] == list(top["count"])
    assert ax.get_xlabel() == "number of test images"
    assert ax.get_ylabel() == "true class -> predicted class"
    assert [t.get_text() for t in ax.texts] == [str(c) for c in top["count"][::-1]]


def test_plot_most_confused_from_confusion_matrix_alone():
    cm = np.array([[5, 3, 0], [1, 4, 0], [0, 6, 2]])
    ax = plots.plot_most_confused(
        types.SimpleNamespace(confusion_matrix=cm, class_names=("a", "b", "c"), synthetic=True)
    )
    labels = [t.get_text() for t in ax.get_yticklabels()][::-1]
    assert labels == ["c -> b", "a -> b", "b -> a"]
    assert "SYNTHETIC data" in ax.get_title()


def test_plot_most_confused_without_mistakes_and_bad_k():
    empty = pd.DataFrame({"true": [], "predicted": [], "count": []})
    ax = plots.plot_most_confused(empty)
    assert [t.get_text() for t in ax.texts] == ["no mistakes"]
    with pytest.raises(ValueError, match=r"Expected `k` >= 1. Received: k=0"):
        plots.plot_most_confused(fake_evaluation(), k=0)
    with pytest.raises(ValueError, match=r"lacks the column\(s\) count"):
        plots.plot_most_confused(pd.DataFrame({"true": ["a"], "predicted": ["b"]}))


def test_plot_highest_loss_shows_the_worst_images_first():
    evaluation = fake_evaluation(n=60)
    images, _ = images_and_labels(60)
    fig = plots.plot_highest_loss(evaluation, images, n=4)
    assert image_count(fig) == 4
    worst = evaluation.highest_loss.iloc[0]
    first = fig.axes[0]
    assert first.get_title().startswith(f"true: {worst['true']}\npred: {worst['predicted']}\n")
    assert f"loss {worst['loss']:.2f}" in first.get_title()
    np.testing.assert_allclose(first.images[0].get_array(), images[worst["index"]] / 255)


def test_plot_highest_loss_computes_the_table_from_probabilities():
    evaluation = fake_evaluation(n=30)
    images, _ = images_and_labels(30)
    del evaluation.highest_loss
    fig = plots.plot_highest_loss(evaluation, images, n=2)
    p_true = evaluation.probabilities[np.arange(30), evaluation.y_true]
    worst = int(np.argmin(p_true))
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), images[worst] / 255)
    assert f"loss {-np.log(p_true[worst]):.2f}" in fig.axes[0].get_title()


def test_plot_highest_loss_rejects_other_images_and_bad_n():
    evaluation = fake_evaluation(n=60)
    images, _ = images_and_labels(50)
    with pytest.raises(ValueError, match=r"`images` has 50 images but the evaluation.*60"):
        plots.plot_highest_loss(evaluation, images)
    with pytest.raises(ValueError, match=r"Expected `n` >= 1. Received: n=0"):
        plots.plot_highest_loss(evaluation, images, n=0)


# --------------------------------------------------------------------------- augmentation


def test_plot_augmentations_original_then_flipped_versions():
    import keras

    flip = keras.Sequential([keras.layers.RandomFlip("horizontal", seed=1)])
    image = np.zeros((32, 32, 3), np.uint8)
    image[:, :8] = 255  # a white band on the left: flips are easy to see
    state_before = [keras.ops.convert_to_numpy(v.value) for v in flip.variables]
    fig = plots.plot_augmentations(image, flip, n=9, seed=3, synthetic=True)
    assert image_count(fig) == 9
    assert fig.axes[0].get_title() == "original"
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), image / 255)
    flipped = 0
    for ax in fig.axes[1:]:
        shown = np.asarray(ax.images[0].get_array())
        if np.allclose(shown, image[:, ::-1] / 255):
            flipped += 1
        else:
            np.testing.assert_allclose(shown, image / 255)
    assert 0 < flipped < 8
    assert "SYNTHETIC data" in flat(fig.get_suptitle())
    # the same seed draws the same augmentations; the layer's own generator is untouched
    again = plots.plot_augmentations(image, flip, n=9, seed=3)
    for a, b in zip(fig.axes, again.axes, strict=True):
        np.testing.assert_allclose(a.images[0].get_array(), b.images[0].get_array())
    for before, v in zip(state_before, flip.variables, strict=True):
        np.testing.assert_array_equal(before, keras.ops.convert_to_numpy(v.value))


def test_plot_augmentations_with_a_plain_callable_and_bad_input():
    image = np.full((32, 32, 3), 0.5, np.float32)
    fig = plots.plot_augmentations(image, lambda x, training: x * 0.5, n=3)
    np.testing.assert_allclose(fig.axes[2].images[0].get_array(), 0.25)
    with pytest.raises(ValueError, match=r"Expected `n` >= 1. Received: n=0"):
        plots.plot_augmentations(image, lambda x, training: x, n=0)
    with pytest.raises(TypeError, match=r"`augment` must be a Keras layer or a callable"):
        plots.plot_augmentations(image, "flip")
    with pytest.raises(ValueError, match=r"`image` must be one image"):
        plots.plot_augmentations(np.zeros((2, 32, 32, 3)), lambda x, training: x)


# --------------------------------------------------------------------------- runs


def run_result(name, history, train_seconds, metrics, synthetic=False):
    """A cifarlab.runs.RunResult as train() returns it (not recorded on disk)."""
    from cifarlab.runs import RunResult

    return RunResult(
        name=name,
        path=None,
        model=None,
        history=history,
        epoch_times=(),
        train_seconds=train_seconds,
        best_epoch=None,
        best_metrics={},
        final_learning_rate=None,
        epochs=len(next(iter(history.values()))),
        stopped="completed",
        synthetic=synthetic,
        metrics=metrics,
    )


def test_plot_run_comparison_curves_and_accuracy_against_time(history):
    runs = [
        run_result("baseline", history, 30.0, {"test_accuracy": 0.61}, synthetic=True),
        {
            "name": "vgg",
            "history": {"val_accuracy": [0.3, 0.5, 0.7]},
            "train_seconds": 95.0,
            "test_accuracy": 0.7,
        },
    ]
    fig = plots.plot_run_comparison(runs)
    curves, scatter = fig.axes
    assert legend_texts(curves) == ["baseline", "vgg"]
    assert curves.get_ylabel() == "val_accuracy" and curves.get_xlabel() == "epoch"
    assert list(curves.get_lines()[1].get_xdata()) == [1, 2, 3]
    points = np.vstack([c.get_offsets() for c in scatter.collections])
    np.testing.assert_allclose(points, [[30.0, 0.61], [95.0, 0.7]])
    assert scatter.get_xlabel() == "training time (s)"
    assert scatter.get_ylabel() == "test accuracy"
    assert [t.get_text() for t in scatter.texts] == ["baseline", "vgg"]
    assert "SYNTHETIC data" in fig.get_suptitle()


def test_plot_run_comparison_from_a_results_table():
    table = pd.DataFrame(  # as cifarlab.runs.runs_table returns it
        {
            "name": ["a", "b", "c"],
            "test_accuracy": [0.5, 0.6, np.nan],
            "train_seconds": [600.0, 1200.0, 60.0],
            "synthetic": [True, True, True],
        }
    )
    fig = plots.plot_run_comparison(table)
    bars, scatter = fig.axes
    assert [t.get_text() for t in bars.get_yticklabels()] == ["a", "b", "c"]
    assert [p.get_width() for p in bars.patches] == [0.5, 0.6, 0.0]
    assert [t.get_text() for t in bars.texts] == ["no test accuracy recorded"]
    assert scatter.get_xlabel() == "training time (min)"
    np.testing.assert_allclose(scatter.collections[1].get_offsets(), [[20.0, 0.6]])
    assert len(scatter.collections) == 2
    assert "not shown (no test accuracy or time): c" in [t.get_text() for t in scatter.texts]
    assert "SYNTHETIC data" in fig.get_suptitle()


def test_plot_run_comparison_reads_nested_test_metrics(history):
    run = run_result("r", history, 5.0, {"test": {"accuracy": 0.4}})
    scatter = plots.plot_run_comparison([run], metric="val_loss").axes[1]
    np.testing.assert_allclose(scatter.collections[0].get_offsets(), [[5.0, 0.4]])


def test_plot_run_comparison_rejects_bad_input(history):
    run = run_result("a", history, 1.0, {"test_accuracy": 0.5})
    with pytest.raises(ValueError, match=r"Unknown metric 'val_acc'.*val_accuracy"):
        plots.plot_run_comparison([run], metric="val_acc")
    with pytest.raises(ValueError, match=r"`runs` is empty"):
        plots.plot_run_comparison([])
    with pytest.raises(ValueError, match=r"lacks the column\(s\) train_seconds"):
        plots.plot_run_comparison(pd.DataFrame({"name": ["a"], "test_accuracy": [0.5]}))
    with pytest.raises(TypeError, match=r"`runs` must be a list of runs"):
        plots.plot_run_comparison(run)


def test_plot_results_draws_the_latest_run_per_group_and_model():
    table = pd.DataFrame(
        {
            "group": ["g1", "g1", "g1", "g2"],
            "superclass": ["fish", "fish", "fish", "trees"],
            "model": ["base", "base", "vgg", "base"],
            "test_accuracy": [0.9, 0.5, 0.7, np.nan],
            "started": ["2024-01-02", "2024-01-01", "2024-01-01", "2024-01-01"],
            "synthetic": [False, False, True, False],
        }
    )
    ax = plots.plot_results(table)
    heights = sorted(round(p.get_height(), 2) for p in ax.patches)
    assert heights == [0.7, 0.9]  # the later g1/base run; g2 has no test accuracy
    assert "SYNTHETIC" in ax.get_title() and ax.get_ylabel() == "test accuracy"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["g1\nfish", "g2\ntrees"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["base", "vgg"]
    fig, given = plt.subplots()
    assert plots.plot_results(table, ax=given, title="mine") is given
    assert given.get_title() == "mine (SYNTHETIC data)"
    with pytest.raises(ValueError, match="lacks the column.*test_accuracy"):
        plots.plot_results(table.drop(columns="test_accuracy"))
    with pytest.raises(ValueError, match="empty"):
        plots.plot_results(table.iloc[:0])
    with pytest.raises(TypeError, match="must be a pandas DataFrame"):
        plots.plot_results(table.to_dict())


# --------------------------------------------------------------------------- feature maps


@pytest.fixture(scope="module")
def tiny_model():
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv_a")(inputs)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Conv2D(6, 3, activation="relu", name="conv_b")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(5, activation="softmax", name="dense")(x)
    return keras.Model(inputs, outputs, name="tiny")


def test_plot_feature_maps_first_conv_by_default(tiny_model):
    import keras

    image = images_and_labels(1)[0][0]
    fig = plots.plot_feature_maps(tiny_model, image, synthetic=True)
    assert image_count(fig) == 1 + 4  # the input and all 4 filters of conv_a (n=16 > 4)
    assert [ax.get_title() for ax in fig.axes] == ["input"] + [f"filter {k}" for k in range(4)]
    assert "'conv_a'" in fig.get_suptitle() and "SYNTHETIC data" in flat(fig.get_suptitle())
    expected = keras.Model(tiny_model.inputs[0], tiny_model.get_layer("conv_a").output)(
        image[None].astype("float32") / 255
    )
    expected = keras.ops.convert_to_numpy(expected)
    np.testing.assert_allclose(
        fig.axes[3].images[0].get_array(), expected[0, :, :, 2], rtol=1e-5, atol=1e-6
    )


def test_plot_feature_maps_named_layer_and_nested_sequential(tiny_model):
    import keras

    image = np.full((32, 32, 3), 0.5, np.float32)
    fig = plots.plot_feature_maps(tiny_model, image, layer="conv_b", n=3)
    assert image_count(fig) == 4
    assert fig.axes[1].images[0].get_array().shape == (13, 13)
    seq = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.Sequential([keras.layers.Conv2D(2, 3, name="inner_conv")], name="block"),
            keras.layers.Flatten(),
        ]
    )
    fig = plots.plot_feature_maps(seq, image)
    assert image_count(fig) == 3 and "'inner_conv'" in fig.get_suptitle()


def test_plot_feature_maps_rejects_bad_layer_and_n(tiny_model):
    image = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match=r"Unknown layer='conv_c'. Did you mean.*conv_a, conv_b"):
        plots.plot_feature_maps(tiny_model, image, layer="conv_c")
    with pytest.raises(ValueError, match=r"'dense' outputs shape \(5,\), not feature maps"):
        plots.plot_feature_maps(tiny_model, image, layer="dense")
    with pytest.raises(ValueError, match=r"Expected `n` >= 1. Received: n=0"):
        plots.plot_feature_maps(tiny_model, image, n=0)
    with pytest.raises(TypeError, match=r"`model` must be a Keras model"):
        plots.plot_feature_maps("model", image)


# --------------------------------------------------------------------------- hygiene


def test_plots_change_no_global_settings_and_never_show(monkeypatch, history):
    def no_show(*args, **kwargs):
        raise AssertionError("plots must not call plt.show()")

    monkeypatch.setattr(plt, "show", no_show)
    before = dict(mpl.rcParams)
    images, labels = images_and_labels(10)
    evaluation = fake_evaluation()
    plots.plot_samples(images, labels, NAMES5)
    plots.plot_class_grid(images, labels, NAMES5, per_class=2)
    plots.plot_history(history)
    plots.plot_confusion_matrix(evaluation, normalize="true")
    plots.plot_confusion_matrix(np.eye(100), FINE_LABELS)
    plots.plot_per_class(evaluation)
    plots.plot_most_confused(evaluation)
    plots.plot_predictions(images, labels, labels, NAMES5)
    assert dict(mpl.rcParams) == before


def test_axes_functions_draw_on_the_given_axes():
    evaluation = fake_evaluation()
    fig, axes = plt.subplots(1, 3)
    assert plots.plot_confusion_matrix(evaluation, ax=axes[0]) is axes[0]
    assert plots.plot_per_class(evaluation, ax=axes[1]) is axes[1]
    assert plots.plot_most_confused(evaluation, ax=axes[2]) is axes[2]
    assert axes[0].get_title().startswith("confusion matrix")
    assert len(plt.get_fignums()) == 1
    with pytest.raises(TypeError, match=r"`ax` must be a matplotlib Axes"):
        plots.plot_per_class(evaluation, ax=fig)


# --------------------------------------------------------------------------- integration


@pytest.mark.filterwarnings("ignore:`shuffle=True` was passed")
def test_plots_of_a_real_evaluation(superclass_data):
    evaluate = pytest.importorskip("cifarlab.evaluate")
    import keras

    from cifarlab.data import make_dataset

    data = superclass_data
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(5, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    fit = model.fit(
        make_dataset(data.x_train, data.y_train, batch_size=64, training=True),
        validation_data=make_dataset(data.x_test, data.y_test, batch_size=100, training=False),
        epochs=2,
        verbose=0,
    )
    result = evaluate.evaluate_data(model, data)
    assert "SYNTHETIC" in plots.plot_history(fit, synthetic=data.synthetic).get_suptitle()
    ax = plots.plot_confusion_matrix(result, normalize="true")
    assert [t.get_text() for t in ax.get_xticklabels()] == list(data.class_names)
    np.testing.assert_allclose(heatmap_values(ax).sum(axis=1), 1.0)
    assert "SYNTHETIC data" in flat(ax.get_title())
    assert "SYNTHETIC data" in flat(plots.plot_per_class(result).get_title())
    assert "SYNTHETIC data" in flat(plots.plot_most_confused(result).get_title())
    fig = plots.plot_highest_loss(result, data.x_test, n=4)
    assert image_count(fig) == 4 and "SYNTHETIC data" in flat(fig.get_suptitle())
    fig = plots.plot_feature_maps(model, data.x_test[0], n=4, synthetic=data.synthetic)
    assert image_count(fig) == 5
