"""cifarlab.evaluate: metrics from real predictions, and own-photo prediction."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

keras = pytest.importorskip("keras")

from cifarlab.data import scale_images  # noqa: E402
from cifarlab.evaluate import (  # noqa: E402
    Evaluation,
    evaluate,
    evaluate_data,
    highest_loss_table,
    image_losses,
    most_confused_pairs,
    normalize_confusion_matrix,
)

# --------------------------------------------------------------------------- models

@pytest.fixture(scope="module")
def trained(learnable):
    """A tiny CNN trained for real on SYNTHETIC medium_mammals (5 classes)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
            keras.layers.Conv2D(16, 3, strides=2, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(5, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    x = scale_images(learnable.x_train)
    model.fit(x, learnable.y_train, epochs=3, batch_size=32, verbose=0)
    return model


FLIPPED = np.arange(3, 100, 17)  # test images given a wrong label, like real label noise


@pytest.fixture(scope="module")
def noisy_labels(learnable):
    labels = learnable.y_test.copy()
    labels[FLIPPED] = (labels[FLIPPED] + 1) % 5
    return labels


@pytest.fixture(scope="module")
def result(trained, learnable, noisy_labels):
    return evaluate(
        trained,
        learnable.x_test,
        noisy_labels,
        learnable.class_names,
        synthetic=learnable.synthetic,
        name="medium_mammals, test split with 6 wrong labels",
    )


# A model whose softmax we know exactly: mean colour -> Dense -> softmax.
W = np.array([[8.0, 1.0, 0.0], [2.0, 6.0, 0.0], [0.5, 0.0, 4.0]], dtype=np.float32)
B = np.array([0.0, 0.25, -0.5], dtype=np.float32)
RGB = ("red", "green", "blue")


def _colour_model(softmax: bool = True):
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    dense = keras.layers.Dense(3, activation="softmax" if softmax else None)
    model = keras.Model(inputs, dense(x))
    dense.set_weights([W, B])
    return model


def _colour_images(colours) -> np.ndarray:
    images = np.zeros((len(colours), 32, 32, 3), dtype=np.uint8)
    images[np.arange(len(colours)), :, :, colours] = 255
    return images


@pytest.fixture(scope="module")
def colour_model():
    return _colour_model()


# --------------------------------------------------------------------------- evaluate


def test_metrics_agree_with_predictions(result, trained, learnable, noisy_labels):
    x, y = learnable.x_test, noisy_labels
    assert isinstance(result, Evaluation)
    np.testing.assert_array_equal(result.y_true, y)
    np.testing.assert_allclose(
        result.probabilities, trained.predict(scale_images(x), verbose=0), rtol=1e-6, atol=1e-7
    )
    np.testing.assert_array_equal(result.y_pred, result.probabilities.argmax(axis=1))
    assert result.accuracy == pytest.approx((result.y_pred == y).mean())
    assert 0.5 < result.accuracy < 1  # trained (chance is 0.2), and wrong on wrong labels
    assert result.class_names == learnable.class_names


def test_loss_and_accuracy_match_keras_evaluate(result, trained, learnable, noisy_labels):
    loss, accuracy = trained.evaluate(scale_images(learnable.x_test), noisy_labels, verbose=0)
    assert result.loss == pytest.approx(loss, rel=1e-4, abs=1e-5)
    assert result.accuracy == pytest.approx(accuracy, abs=1e-6)


def test_confusion_matrix_rows_are_true_classes(result):
    cm, n = result.confusion_matrix, result.num_examples
    assert cm.shape == (5, 5) and np.issubdtype(cm.dtype, np.integer)
    assert cm.sum() == n
    assert np.trace(cm) / n == pytest.approx(result.accuracy)
    by_hand = np.zeros((5, 5), dtype=np.int64)
    np.add.at(by_hand, (result.y_true, result.y_pred), 1)
    np.testing.assert_array_equal(cm, by_hand)
    np.testing.assert_allclose(result.normalized_confusion_matrix("true").sum(axis=1), 1)
    np.testing.assert_allclose(result.normalized_confusion_matrix("all").sum(), 1)


def test_per_class_table(result):
    table = result.per_class
    assert list(table.index) == list(result.class_names)
    assert list(table.columns) == ["precision", "recall", "f1", "support", "accuracy"]
    for c, name in enumerate(result.class_names):
        is_c = result.y_true == c
        assert table.loc[name, "accuracy"] == pytest.approx((result.y_pred[is_c] == c).mean())
        assert table.loc[name, "recall"] == table.loc[name, "accuracy"]
        assert table.loc[name, "support"] == is_c.sum()
        predicted_c = result.y_pred == c
        precision = (result.y_true[predicted_c] == c).mean() if predicted_c.any() else 0.0
        assert table.loc[name, "precision"] == pytest.approx(precision)
    assert all(name in result.report for name in result.class_names)


def test_top_k_accuracy(result):
    # 5 classes: top-5 is always 1, so it is skipped
    assert list(result.top_k_accuracy) == [3]
    top3 = np.argsort(-result.probabilities, axis=1)[:, :3]
    by_hand = (top3 == result.y_true[:, None]).any(axis=1).mean()
    assert result.top_k_accuracy[3] == pytest.approx(by_hand)
    assert result.top_k_accuracy[3] >= result.accuracy


def test_most_confused_is_sorted_and_off_diagonal(result):
    pairs = result.most_confused
    assert list(pairs.columns) == ["true", "predicted", "count", "fraction"]
    assert (pairs["true"] != pairs["predicted"]).all()
    assert (pairs["count"] > 0).all()
    assert pairs["count"].is_monotonic_decreasing
    assert pairs["count"].sum() == result.num_examples - np.trace(result.confusion_matrix)
    support = result.per_class["support"]
    np.testing.assert_allclose(
        pairs["fraction"], pairs["count"] / support.loc[pairs["true"]].to_numpy()
    )


def test_highest_loss_reveals_confident_mistakes(result):
    worst = result.highest_loss
    assert list(worst.columns) == ["index", "true", "predicted", "loss", "p_true", "p_pred"]
    assert len(worst) == 25
    assert worst["loss"].is_monotonic_decreasing
    np.testing.assert_allclose(worst["loss"], -np.log(worst["p_true"]), rtol=1e-9)
    idx = worst["index"].to_numpy()
    names = np.array(result.class_names)
    np.testing.assert_array_equal(worst["true"], names[result.y_true[idx]])
    np.testing.assert_array_equal(worst["predicted"], names[result.y_pred[idx]])
    np.testing.assert_allclose(worst["p_true"], result.probabilities[idx, result.y_true[idx]])
    np.testing.assert_allclose(worst["p_pred"], result.probabilities[idx].max(axis=1))
    # the wrong labels are the most "surprising" images: that is how to find them
    assert set(worst["index"].iloc[: len(FLIPPED)]) == set(FLIPPED)
    assert (worst["true"].iloc[: len(FLIPPED)] != worst["predicted"].iloc[: len(FLIPPED)]).all()
    # nothing left out has a higher loss
    p_true = result.probabilities[np.arange(result.num_examples), result.y_true]
    assert np.sort(-np.log(p_true))[-25] == pytest.approx(worst["loss"].iloc[-1])


def test_synthetic_is_said_everywhere(result):
    assert result.synthetic
    for text in (result.summary(), str(result), repr(result), result.description):
        assert "SYNTHETIC" in text
    assert "medium_mammals, test split" in result.summary()
    assert "most confused" in result.summary()
    for frame in (result.per_class, result.most_confused, result.highest_loss):
        assert "SYNTHETIC" in frame.to_string()


def test_to_dict_is_json_and_small(result):
    d = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert d["synthetic"] is True
    assert d["accuracy"] == pytest.approx(result.accuracy)
    assert d["top_k_accuracy"] == {"3": pytest.approx(result.top_k_accuracy[3])}
    assert d["confusion_matrix"] == result.confusion_matrix.tolist()
    assert set(d["per_class"]) == set(result.class_names)
    assert d["per_class"]["fox"]["support"] == result.per_class.loc["fox", "support"]
    assert d["most_confused"][0] == result.most_confused.iloc[0].to_dict()
    assert len(d["most_confused"]) <= 10 and len(d["highest_loss"]) == 25
    assert "probabilities" not in d and "y_pred" not in d


def test_uint8_and_float_images_give_the_same_result(trained, learnable):
    x, y = learnable.x_test[:40], learnable.y_test[:40]
    names = learnable.class_names
    a = evaluate(trained, x, y, names, batch_size=16)
    b = evaluate(trained, scale_images(x), y.reshape(-1, 1), names, batch_size=7)
    np.testing.assert_allclose(a.probabilities, b.probabilities, rtol=1e-5, atol=1e-7)
    assert a.accuracy == b.accuracy and not a.synthetic
    assert "SYNTHETIC" not in a.summary() + repr(a)
    assert "SYNTHETIC" not in a.per_class.to_string()


def test_evaluate_data_uses_the_data_names_and_flag(trained, learnable):
    test = evaluate_data(trained, learnable)
    np.testing.assert_array_equal(test.y_true, learnable.y_test)
    assert test.synthetic and "test split" in test.name and "SYNTHETIC" in str(test)
    assert test.class_names == learnable.class_names
    train = evaluate_data(trained, learnable, split="train", top_k=2, n_highest_loss=3)
    assert train.num_examples == len(learnable.x_train)
    assert list(train.top_k_accuracy) == [2] and len(train.highest_loss) == 3
    assert "train split" in train.name and train.synthetic


def test_known_softmax_gives_exact_confusion_matrix(colour_model):
    colours = np.array([0, 0, 1, 1, 2, 2, 2, 0, 0])  # the model predicts the colour
    truth = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    images = _colour_images(colours)
    r = evaluate(colour_model, images, truth, RGB, top_k=(1, 2, 3), n_highest_loss=100)

    logits = np.eye(3)[colours] @ W.astype(np.float64) + B
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(r.probabilities, expected, rtol=1e-5)
    np.testing.assert_array_equal(r.y_pred, colours)
    np.testing.assert_array_equal(r.confusion_matrix, [[2, 1, 0], [0, 1, 1], [2, 0, 2]])
    assert r.accuracy == pytest.approx(5 / 9)
    p_true = expected[np.arange(9), truth]
    assert r.loss == pytest.approx(-np.log(p_true).mean(), rel=1e-5)
    # top-2: the green image labelled red has red second; the others have it third
    assert r.top_k_accuracy == {1: pytest.approx(5 / 9), 2: pytest.approx(6 / 9)}
    assert r.most_confused.to_dict(orient="list") == {
        "true": ["blue", "red", "green"],
        "predicted": ["red", "green", "blue"],
        "count": [2, 1, 1],
        "fraction": [0.5, pytest.approx(1 / 3), 0.5],
    }
    assert len(r.highest_loss) == 9  # capped at the number of images
    assert r.highest_loss["index"].tolist()[:2] == [7, 8]  # blue labelled as red: top loss
    np.testing.assert_allclose(
        r.normalized_confusion_matrix("pred"), [[0.5, 0.5, 0], [0, 0.5, 1 / 3], [0.5, 0, 2 / 3]]
    )
    table = r.per_class
    assert table["recall"].tolist() == pytest.approx([2 / 3, 0.5, 0.5])
    assert table["precision"].tolist() == pytest.approx([0.5, 0.5, 2 / 3])


def test_confident_mistakes_count_in_full_like_keras_loss():
    model = keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)]
    )
    model.layers[-1].set_weights([30 * np.eye(3, dtype=np.float32), np.zeros(3, np.float32)])
    model = keras.Sequential([model, keras.layers.Softmax()])
    model.compile(loss="sparse_categorical_crossentropy")
    images, labels = _colour_images([0, 1, 2, 0]), np.array([0, 1, 2, 1])  # last: p_true ~ 1e-13
    r = evaluate(model, images, labels, RGB)
    assert r.highest_loss["p_true"].iloc[0] < 1e-7
    assert r.loss == pytest.approx(model.evaluate(scale_images(images), labels, verbose=0))
    assert r.loss == pytest.approx(30 / 4, rel=1e-4)  # not capped at -log(1e-7) = 16.1 per image


def test_models_baseline_cnn_is_accepted(learnable):
    models = pytest.importorskip("cifarlab.models")
    if not hasattr(models, "build_baseline_cnn"):
        pytest.skip("cifarlab.models has no build_baseline_cnn yet")
    model = models.build_baseline_cnn(5)
    r = evaluate(model, learnable.x_test[:10], learnable.y_test[:10], RGB + ("a", "b"))
    assert r.probabilities.shape == (10, 5)


# --------------------------------------------------------------------------- bad input


X2 = np.zeros((2, 32, 32, 3), np.uint8)
X4 = np.zeros((4, 32, 32, 3), np.uint8)


@pytest.mark.parametrize(
    ("images", "labels", "names", "kwargs", "error", "match"),
    [
        (X4[:, :28, :28], [0] * 4, RGB, {}, ValueError, r"\(N, 32, 32, 3\).*\(4, 28, 28, 3\)"),
        (np.zeros((32, 32, 3), np.uint8), [0], RGB, {}, ValueError, r"images\[None\]"),
        (np.zeros((4, 3, 32, 32), np.uint8), [0] * 4, RGB, {}, ValueError, "channels-first"),
        (np.zeros((4, 3072), np.uint8), [0] * 4, RGB, {}, ValueError, "flat CIFAR rows"),
        (np.zeros((0, 32, 32, 3), np.uint8), [], RGB, {}, ValueError, "empty"),
        (np.zeros((4, 32, 32, 3)) + 255.0, [0] * 4, RGB, {}, ValueError, r"\[0, 1\]"),
        (np.zeros((4, 32, 32, 3), np.int32), [0] * 4, RGB, {}, TypeError, "int32"),
        (np.full((4, 32, 32, 3), np.nan), [0] * 4, RGB, {}, ValueError, "NaN"),
        (X4, [0, 1, 2], RGB, {}, ValueError, "4 images"),
        (X4, [0, 1, 2, 3], RGB, {}, ValueError, r"0\.\.2\. Received a label 3"),
        (X2, [34, 63], RGB, {}, ValueError, "select_superclass"),
        (X2, [-1, 0], RGB, {}, ValueError, r"0\.\.2\. Received a label -1"),
        (X2, [0.0, 1.0], RGB, {}, TypeError, "`labels` must be integers"),
        (X2, np.eye(3)[[0, 1]], RGB, {}, ValueError, "one-hot"),
        (X2, [0, 1], ("red", "green"), {}, ValueError, "2 names but the model outputs 3"),
        (X2, [0, 1], ("a", "b", "a"), {}, ValueError, "unique.*a"),
        (X2, [0, 1], "red", {}, TypeError, "class_names"),
        (X2, [0, 1], ("a", 1, "c"), {}, TypeError, "strings"),
        (X2, [0, 1], RGB, {"top_k": 0}, ValueError, "top_k=0"),
        (X2, [0, 1], RGB, {"top_k": "3"}, TypeError, "top_k"),
        (X2, [0, 1], RGB, {"top_k": (3, 2.5)}, TypeError, "top_k=2.5"),
        (X2, [0, 1], RGB, {"batch_size": 0}, ValueError, "batch_size=0"),
        (X2, [0, 1], RGB, {"n_highest_loss": -1}, ValueError, "n_highest_loss=-1"),
        (X2, [0, 1], RGB, {"synthetic": "yes"}, TypeError, "synthetic"),
    ],
)  # fmt: skip
def test_evaluate_rejects_bad_input(colour_model, images, labels, names, kwargs, error, match):
    with pytest.raises(error, match=match):
        evaluate(colour_model, images, np.asarray(labels), names, **kwargs)


def test_evaluate_rejects_logits_and_non_models():
    images, labels = _colour_images([0, 1, 2]), np.array([0, 1, 2])
    with pytest.raises(ValueError, match="not probabilities.*Softmax"):
        evaluate(_colour_model(softmax=False), images, labels, RGB)
    with pytest.raises(TypeError, match="Keras model"):
        evaluate(object(), images, labels, RGB)


def test_evaluate_data_rejects_bad_input(colour_model, learnable):
    with pytest.raises(ValueError, match="split 'tset'.*Did you mean 'test'"):
        evaluate_data(colour_model, learnable, split="tset")
    with pytest.raises(TypeError, match="CifarData.*evaluate\\(model, images"):
        evaluate_data(colour_model, (learnable.x_test, learnable.y_test))
    with pytest.raises(ValueError, match="normalize 'rows'.*Valid: true, pred, all"):
        evaluate(colour_model, _colour_images([0]), [0], RGB).normalized_confusion_matrix("rows")


# --------------------------------------------------------------------------- shared tables


def test_tables_from_arrays_match_the_evaluation(result):
    names = result.class_names
    pairs = most_confused_pairs(result.confusion_matrix, names)
    pd.testing.assert_frame_equal(pairs, result.most_confused, check_names=False)
    pd.testing.assert_frame_equal(
        most_confused_pairs(result.confusion_matrix, names, top=2), pairs.head(2)
    )
    table = highest_loss_table(result.probabilities, result.y_true, names)
    pd.testing.assert_frame_equal(table, result.highest_loss, check_names=False)
    losses = image_losses(result.probabilities, result.y_true)
    assert losses.mean() == pytest.approx(result.loss)
    np.testing.assert_allclose(
        normalize_confusion_matrix(result.confusion_matrix, "true"),
        result.normalized_confusion_matrix("true"),
    )


def test_one_probability_floor_for_every_loss():
    p = np.array([[1.0, 0.0], [0.5, 0.5]])
    losses = image_losses(p, [1, 0])
    assert losses[0] == pytest.approx(-np.log(np.finfo(np.float32).tiny))  # 87.3, finite
    assert losses[1] == pytest.approx(np.log(2))
    assert highest_loss_table(p, [1, 0], ("a", "b"))["loss"].tolist() == pytest.approx(
        losses.tolist()
    )
    np.testing.assert_array_equal(
        normalize_confusion_matrix([[3, 1], [0, 0]]), [[0.75, 0.25], [0, 0]]
    )


def test_large_sets_show_progress_and_small_ones_none(colour_model, capsys):
    from cifarlab.evaluate import predict_probabilities

    colours = np.arange(5000) % 3
    big = predict_probabilities(colour_model, _colour_images(colours), RGB, batch_size=256)
    assert "predicting" in capsys.readouterr().err  # 5,000 images: two chunks, a bar
    np.testing.assert_array_equal(big.argmax(1), colours)
    predict_probabilities(colour_model, _colour_images(colours[:9]), RGB)
    assert "predicting" not in capsys.readouterr().err
