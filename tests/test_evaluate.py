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
    load_image,
    load_images,
    predict_images,
)

# --------------------------------------------------------------------------- models


@pytest.fixture(scope="module")
def trained(superclass_data):
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
    x = scale_images(superclass_data.x_train)
    model.fit(x, superclass_data.y_train, epochs=3, batch_size=32, verbose=0)
    return model


FLIPPED = np.arange(3, 100, 17)  # test images given a wrong label, like real label noise


@pytest.fixture(scope="module")
def noisy_labels(superclass_data):
    labels = superclass_data.y_test.copy()
    labels[FLIPPED] = (labels[FLIPPED] + 1) % 5
    return labels


@pytest.fixture(scope="module")
def result(trained, superclass_data, noisy_labels):
    return evaluate(
        trained,
        superclass_data.x_test,
        noisy_labels,
        superclass_data.class_names,
        synthetic=superclass_data.synthetic,
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


def test_metrics_agree_with_predictions(result, trained, superclass_data, noisy_labels):
    x, y = superclass_data.x_test, noisy_labels
    assert isinstance(result, Evaluation)
    np.testing.assert_array_equal(result.y_true, y)
    np.testing.assert_allclose(
        result.probabilities, trained.predict(scale_images(x), verbose=0), rtol=1e-6, atol=1e-7
    )
    np.testing.assert_array_equal(result.y_pred, result.probabilities.argmax(axis=1))
    assert result.accuracy == pytest.approx((result.y_pred == y).mean())
    assert 0.5 < result.accuracy < 1  # trained (chance is 0.2), and wrong on wrong labels
    assert result.class_names == superclass_data.class_names


def test_loss_and_accuracy_match_keras_evaluate(result, trained, superclass_data, noisy_labels):
    loss, accuracy = trained.evaluate(scale_images(superclass_data.x_test), noisy_labels, verbose=0)
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


def test_uint8_and_float_images_give_the_same_result(trained, superclass_data):
    x, y = superclass_data.x_test[:40], superclass_data.y_test[:40]
    names = superclass_data.class_names
    a = evaluate(trained, x, y, names, batch_size=16)
    b = evaluate(trained, scale_images(x), y.reshape(-1, 1), names, batch_size=7)
    np.testing.assert_allclose(a.probabilities, b.probabilities, rtol=1e-5, atol=1e-7)
    assert a.accuracy == b.accuracy and not a.synthetic
    assert "SYNTHETIC" not in a.summary() + repr(a)
    assert "SYNTHETIC" not in a.per_class.to_string()


def test_evaluate_data_uses_the_data_names_and_flag(trained, superclass_data):
    test = evaluate_data(trained, superclass_data)
    np.testing.assert_array_equal(test.y_true, superclass_data.y_test)
    assert test.synthetic and "test split" in test.name and "SYNTHETIC" in str(test)
    assert test.class_names == superclass_data.class_names
    train = evaluate_data(trained, superclass_data, split="train", top_k=2, n_highest_loss=3)
    assert train.num_examples == len(superclass_data.x_train)
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


def test_models_baseline_cnn_is_accepted(superclass_data):
    models = pytest.importorskip("cifarlab.models")
    if not hasattr(models, "build_baseline_cnn"):
        pytest.skip("cifarlab.models has no build_baseline_cnn yet")
    model = models.build_baseline_cnn(5)
    r = evaluate(model, superclass_data.x_test[:10], superclass_data.y_test[:10], RGB + ("a", "b"))
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
        (X4, [0, 1, 2, 3], RGB, {}, ValueError, r"0\.\.2.*from 0 to 3"),
        (X2, [34, 63], RGB, {}, ValueError, "select_superclass"),
        (X2, [-1, 0], RGB, {}, ValueError, "from -1 to 0"),
        (X2, [0.0, 1.0], RGB, {}, TypeError, "integer class ids"),
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


def test_evaluate_data_rejects_bad_input(colour_model, superclass_data):
    with pytest.raises(ValueError, match="split='tset'.*Did you mean 'test'"):
        evaluate_data(colour_model, superclass_data, split="tset")
    with pytest.raises(TypeError, match="CifarData.*evaluate\\(model, images"):
        evaluate_data(colour_model, (superclass_data.x_test, superclass_data.y_test))
    with pytest.raises(ValueError, match="normalize='rows'"):
        evaluate(colour_model, _colour_images([0]), [0], RGB).normalized_confusion_matrix("rows")


# --------------------------------------------------------------------------- own photos


def _gradient(w: int, h: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), (xx + yy) % 256], -1)


@pytest.fixture(scope="module")
def photo_files(tmp_path_factory):
    """Student photos of every common kind, written with PIL."""
    from PIL import Image

    d = tmp_path_factory.mktemp("photos")
    rgb = Image.fromarray(_gradient(500, 300).astype(np.uint8))
    files = {
        "rgb.jpg": rgb,
        "gray.png": rgb.convert("L").resize((40, 60)),
        "rgba.png": rgb.convert("RGBA"),
        "palette.png": rgb.convert("P", palette=Image.Palette.ADAPTIVE),
        "bw.png": rgb.convert("1"),
        "cmyk.jpg": rgb.convert("CMYK"),
        "tiny.png": rgb.resize((10, 7)),
        "sixteen.png": Image.fromarray((_gradient(64, 64)[..., 0] * 257).astype(np.uint16)),
    }
    for name, img in files.items():
        img.save(d / name)
    return {name: d / name for name in files}


def test_load_image_handles_every_kind_of_photo(photo_files):
    for path in photo_files.values():
        small = load_image(path)
        assert small.shape == (32, 32, 3) and small.dtype == np.uint8, path
    gray = load_image(photo_files["gray.png"])
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()


def test_sixteen_bit_is_rescaled_not_clipped(tmp_path):
    from PIL import Image

    values = np.array([[0, 257 * 100], [65535, 257 * 200]], dtype=np.uint16)
    path = tmp_path / "depth.png"
    Image.fromarray(values.repeat(16, 0).repeat(16, 1)).save(path)
    assert Image.open(path).mode.startswith("I")
    small = load_image(path)
    np.testing.assert_array_equal(small[[0, 0, 31, 31], [0, 31, 0, 31], 0], [0, 100, 255, 200])


def test_transparency_is_composited_on_white(tmp_path):
    from PIL import Image

    rgba = np.zeros((64, 64, 4), dtype=np.uint8)  # invisible black everywhere
    rgba[:32, :, :] = (255, 0, 0, 255)  # opaque red top half
    path = tmp_path / "cutout.png"
    Image.fromarray(rgba, "RGBA").save(path)
    small = load_image(path)
    np.testing.assert_array_equal(small[0, 0], [255, 0, 0])
    np.testing.assert_array_equal(small[-1, -1], [255, 255, 255])
    half = np.zeros((8, 8, 4), dtype=np.uint8)
    half[...] = (255, 0, 0, 128)
    np.testing.assert_allclose(load_image(half)[0, 0], [255, 127, 127], atol=1)


def test_palette_transparency_and_animation(tmp_path):
    from PIL import Image

    indices = np.zeros((16, 16), dtype=np.uint8)
    indices[:8] = 1  # top half: colour 1 (blue); bottom half: colour 0, transparent
    img = Image.fromarray(indices, "P")
    img.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    path = tmp_path / "sticker.png"
    img.save(path, transparency=0)
    small = load_image(path)
    assert small[0, 0].tolist() == [0, 0, 255] and small[-1, -1].tolist() == [255, 255, 255]
    frames = [Image.new("RGB", (16, 16), colour) for colour in ((255, 0, 0), (0, 255, 0))]
    gif = tmp_path / "blink.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100)
    assert load_image(gif)[5, 5].tolist() == [255, 0, 0]  # the first frame


def test_phone_rotation_is_applied(tmp_path):
    from PIL import Image

    stored = np.zeros((32, 64, 3), dtype=np.uint8)  # wide: red left, blue right
    stored[:, :32] = (255, 0, 0)
    stored[:, 32:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / "phone.png"
    Image.fromarray(stored).save(path, exif=exif)
    small = load_image(path)  # upright: tall, red on top, blue below
    assert small[2, 16].tolist() == [255, 0, 0]
    assert small[29, 16].tolist() == [0, 0, 255]


def test_center_crop_keeps_aspect_ratio_and_none_squashes():
    wide = np.zeros((32, 96, 3), dtype=np.uint8)
    wide[:, :32] = (0, 255, 0)
    wide[:, 32:64] = (255, 0, 0)
    wide[:, 64:] = (0, 0, 255)
    assert (load_image(wide) == [255, 0, 0]).all()  # only the centre square
    squashed = load_image(wide, crop=None)
    assert squashed[5, 2].tolist() == [0, 255, 0] and squashed[5, 29].tolist() == [0, 0, 255]


def test_box_filter_does_not_alias():
    checker = ((np.indices((320, 320)).sum(axis=0) % 2) * 255).astype(np.uint8)
    box = load_image(checker)
    assert np.abs(box.astype(int) - 128).max() <= 1  # each 10x10 block averages to grey
    nearest = load_image(checker, resample="nearest")
    assert set(np.unique(nearest)) <= {0, 255}  # one pixel in a hundred: aliasing


def test_arrays_take_the_same_path(superclass_data, photo_files):
    cifar = superclass_data.x_test[0]
    np.testing.assert_array_equal(load_image(cifar), cifar)  # already 32x32: unchanged
    np.testing.assert_array_equal(load_image(scale_images(cifar)), cifar)
    np.testing.assert_array_equal(load_image(cifar[..., :1]), np.repeat(cifar[..., :1], 3, -1))
    from PIL import Image

    with Image.open(photo_files["rgb.jpg"]) as img:
        np.testing.assert_array_equal(load_image(np.asarray(img)), load_image(img))
    batch = load_images(superclass_data.x_test[:3])
    np.testing.assert_array_equal(batch, superclass_data.x_test[:3])


def test_predict_images_top_k(trained, superclass_data, photo_files):
    names = superclass_data.class_names
    sources = [*photo_files.values(), superclass_data.x_test[0]]
    table = predict_images(trained, sources, names, top_k=3, synthetic=True)
    assert isinstance(table, pd.DataFrame) and len(table) == len(sources)
    assert list(table.columns) == [
        "source", "name_1", "prob_1", "name_2", "prob_2", "name_3", "prob_3",
    ]  # fmt: skip
    assert table["source"].tolist() == [
        *map(str, photo_files.values()),
        f"array #{len(photo_files)}",
    ]
    probs = table[["prob_1", "prob_2", "prob_3"]].to_numpy()
    assert (np.diff(probs, axis=1) <= 0).all() and (probs >= 0).all() and (probs <= 1).all()
    top = table[["name_1", "name_2", "name_3"]].to_numpy()
    assert set(top.ravel()) <= set(names) and all(len(set(row)) == 3 for row in top)
    p = trained.predict(scale_images(load_images(sources)), verbose=0)
    np.testing.assert_allclose(table["prob_1"], p.max(axis=1), rtol=1e-5)
    assert table["name_1"].tolist() == [names[i] for i in p.argmax(axis=1)]
    assert table.attrs["synthetic"] and "SYNTHETIC" in table.to_string()
    one = predict_images(trained, photo_files["rgb.jpg"], names, top_k=5)
    assert one.shape == (1, 11) and one.filter(like="prob_").sum(axis=1).iloc[0] == pytest.approx(1)
    assert "SYNTHETIC" not in one.to_string()


def test_missing_and_unreadable_files(tmp_path, colour_model):
    missing = tmp_path / "nope.jpg"
    with pytest.raises(FileNotFoundError, match="nope.jpg"):
        predict_images(colour_model, [missing], RGB)
    text = tmp_path / "x.jpg"
    text.write_text("this is not a picture")
    with pytest.raises(ValueError, match=r"x\.jpg' is not an image PIL can read"):
        load_image(text)
    with pytest.raises(ValueError, match="is a folder"):
        load_image(tmp_path)
    good = tmp_path / "cut.png"
    from PIL import Image

    Image.fromarray(_gradient(200, 200).astype(np.uint8)).save(good)
    truncated = tmp_path / "truncated.png"
    raw = good.read_bytes()
    truncated.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="truncated.png' could not be decoded"):
        load_image(truncated)


@pytest.mark.parametrize(
    ("images", "kwargs", "error", "match"),
    [
        ([], {}, ValueError, "empty"),
        ([np.zeros((8, 8, 3), np.uint8)], {"top_k": 0}, ValueError, r"1\.\.3.*top_k=0"),
        ([np.zeros((8, 8, 3), np.uint8)], {"top_k": 4}, ValueError, r"1\.\.3.*top_k=4"),
        ([np.zeros((8, 8, 3), np.uint8)], {"top_k": 1.5}, TypeError, "top_k"),
        ([np.zeros((8, 8, 3), np.uint8)], {"top_k": True}, TypeError, "top_k"),
        ([np.zeros((8, 8, 2), np.uint8)], {}, ValueError, r"\(8, 8, 2\)"),
        ([np.zeros(10, np.uint8)], {}, ValueError, r"\(10,\)"),
        ([np.zeros((0, 8, 3), np.uint8)], {}, ValueError, "empty"),
        (np.zeros((1, 2, 8, 8, 3), np.uint8), {}, ValueError, r"\(1, 2, 8, 8, 3\)"),
        ([np.zeros((8, 8, 3), np.int64)], {}, TypeError, "int64.*astype"),
        ([np.full((8, 8, 3), 200.0)], {}, ValueError, r"\[0, 1\].*200"),
        ([np.zeros((8, 8, 3), np.uint8)], {"crop": "centre"}, ValueError, "Did you mean 'center'"),
        ([np.zeros((8, 8, 3), np.uint8)], {"resample": "lanczoz"}, ValueError, "mean 'lanczos'"),
        ([5], {}, TypeError, "file path, a PIL image or a NumPy array"),
        (5, {}, TypeError, "images"),
    ],
)  # fmt: skip
def test_predict_images_rejects_bad_input(colour_model, images, kwargs, error, match):
    with pytest.raises(error, match=match):
        predict_images(colour_model, images, RGB, **kwargs)


def test_predict_images_checks_class_names(colour_model):
    image = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="4 names but the model outputs 3"):
        predict_images(colour_model, image, RGB + ("pink",))
    with pytest.raises(ValueError, match="unique"):
        predict_images(colour_model, image, ("red", "red", "blue"))
