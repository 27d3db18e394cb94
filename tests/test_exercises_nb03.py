"""cifarlab.exercises.nb03: each check passes on a right answer, says "Not yet:" on None and
names each typical mistake, on real Keras layers and models run on real arrays."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from cifarlab import augment, data, models  # noqa: E402
from cifarlab.exercises import nb03 as ex  # noqa: E402
from tests.exercise_checks import not_yet, passes, verdict  # noqa: E402

L = keras.layers


def _seed002(*extra, rotation=15 / 360, shift=0.1, fill="nearest", flip="horizontal"):
    """Seed 002's augmentation as a student writes it (or gets wrong)."""
    return keras.Sequential([
        L.RandomFlip(flip, seed=0), L.RandomRotation(rotation, fill_mode=fill, seed=1),
        L.RandomTranslation(shift, shift, fill_mode=fill, seed=2), *extra])


class RandomAlwaysJitter(L.Layer):
    """Adds noise whatever ``training`` says: augmentation active at prediction."""

    def call(self, x, training=None):
        return keras.ops.clip(x + keras.random.uniform(keras.ops.shape(x), 0, 0.05), 0, 1)


class RandomBrighten(L.Layer):
    """Adds 0.5 in training, unclipped: values leave [0, 1]."""

    def call(self, x, training=None):
        return x + 0.5 if training else x


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)


# --------------------------------------------------------------------------- exercise 1


def test_augmentation(images, capsys):
    out = passes(capsys, ex.check_augmentation(_seed002(), images=images))
    assert "training=False none" in out
    not_yet(capsys, ex.check_augmentation(None), "`my_augmentation` is still None")
    not_yet(capsys, ex.check_augmentation(list(_seed002().layers)), "is a list")
    not_yet(capsys, ex.check_augmentation("flip"), "should be a Keras layer")


@pytest.mark.parametrize("preset", list(augment.PRESETS))
def test_the_library_presets_pass(preset, capsys):
    passes(capsys, ex.check_augmentation(augment.augmentation(preset), preset=preset))


@pytest.mark.parametrize(("pipeline", "match"), [
    (lambda: _seed002(rotation=0.15), "fraction of a full turn"),
    (lambda: _seed002(shift=0.3), "not pixels"),
    (lambda: _seed002(flip="horizontal_and_vertical"), "upside down"),
    (lambda: _seed002(fill="reflect"), "fill_mode='nearest'"),
    (lambda: _seed002(L.Rescaling(1 / 255)), "rescales the images"),
    (lambda: _seed002(L.RandomZoom(0.1, fill_mode="nearest")), "no zoom"),
    (lambda: keras.Sequential([L.RandomFlip("horizontal")]), "add a RandomRotation"),
    (lambda: _seed002(RandomAlwaysJitter()), "augmentation active at prediction"),
    (lambda: _seed002(RandomBrighten()), "must stay in [0, 1]"),
    (lambda: _seed002(L.GaussianNoise(0.1)), "holds a GaussianNoise"),
], ids=["degrees", "pixels", "vertical", "fill", "rescaling", "extra", "missing", "active",
        "range", "other"])
def test_augmentation_mistakes(pipeline, match, images, capsys):
    not_yet(capsys, ex.check_augmentation(pipeline(), images=images), match)


def test_contrast_value_range(capsys):
    mine = augment.augmentation("standard")
    wrong = keras.Sequential([*mine.layers[:-1], L.RandomContrast(0.1)])  # (0, 255)
    not_yet(capsys, ex.check_augmentation(wrong, preset="standard"), "value_range=(0, 1)")


def test_augmentation_leaves_training_state(capsys):
    pipeline = _seed002()
    x = ex.probe_images(2)
    before = np.asarray(pipeline(x, training=True))
    pipeline = _seed002()  # the same seeds, checked first: the next call is as before
    passes(capsys, ex.check_augmentation(pipeline))
    np.testing.assert_allclose(np.asarray(pipeline(x, training=True)), before)


# --------------------------------------------------------------------------- exercise 2


def _baseline_layers():
    return [L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(3),
            L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(2),
            L.Conv2D(128, 3, activation="relu"), L.MaxPooling2D(2), L.Flatten(),
            L.Dense(256, activation="relu"), L.Dense(128, activation="relu"),
            L.Dense(5, activation="softmax")]


def test_augmented_model(images, capsys):
    mine = keras.Sequential([keras.Input((32, 32, 3)), _seed002(), *_baseline_layers()])
    out = passes(capsys, ex.check_augmented_model(mine, num_classes=5, images=images))
    assert "training only" in out
    passes(capsys, ex.check_augmented_model(models.build_baseline_cnn(5, augment="standard"),
                                             num_classes=5))
    not_yet(capsys, ex.check_augmented_model(None, num_classes=5), "`aug_model` is still None")


def test_augmented_model_mistakes(capsys):
    def check(model):
        return ex.check_augmented_model(model, num_classes=5)

    not_yet(capsys, check(models.build_baseline_cnn(5)), "has no augmentation layer")
    first, *rest = _baseline_layers()
    late = keras.Sequential([keras.Input((32, 32, 3)), first, _seed002(), *rest])
    not_yet(capsys, check(late), "augmentation comes first")
    pipeline = _seed002()
    active = keras.Sequential([keras.Input((32, 32, 3)),
                               L.Lambda(lambda x: pipeline(x, training=True)),
                               *_baseline_layers()])
    not_yet(capsys, check(active), "augmentation active at prediction")
    scaled = keras.Sequential([keras.Input((32, 32, 3)), _seed002(L.Rescaling(1 / 255)),
                               *_baseline_layers()])
    not_yet(capsys, check(scaled), "is a Rescaling")
    wide = models.build_cnn(5, filters=(16, 64, 128), augment=_seed002())
    not_yet(capsys, check(wide), "not seed 000's network")


# --------------------------------------------------------------------------- exercise 3


@pytest.fixture(scope="module")
def aug_model():
    return models.build_baseline_cnn(5, augment="seed002", seed=0)


def test_predict(aug_model, images, capsys):
    def predict(model, x):
        return model.predict(data.scale_images(x), verbose=0)

    out = passes(capsys, ex.check_predict(predict, aug_model, images))
    assert "augmentation stays out of prediction" in out
    not_yet(capsys, ex.check_predict(None, aug_model, images), "`predict` is still None")
    not_yet(capsys, ex.check_predict("predict", aug_model, images), "should be a function")


def test_predict_mistakes(aug_model, images, capsys):
    pipeline = aug_model.get_layer("augmentation")

    def training_true(model, x):
        return model(data.scale_images(x), training=True)

    def augments_the_images(model, x):
        return model.predict(pipeline(data.scale_images(x), training=True), verbose=0)

    def unscaled(model, x):
        return model.predict(x, verbose=0)

    def class_ids(model, x):
        return model.predict(data.scale_images(x), verbose=0).argmax(axis=1)

    def reversed_rows(model, x):
        return model.predict(data.scale_images(x[::-1]), verbose=0)

    for wrong, match in ((training_true, "augmentation active at prediction"),
                         (augments_the_images, "augmentation active at prediction"),
                         (unscaled, "unscaled pixels"), (class_ids, "not class ids"),
                         (reversed_rows, "does not give the probabilities")):
        not_yet(capsys, ex.check_predict(wrong, aug_model, images), match)


def test_every_exercise_has_a_hint(capsys):
    for number in (1, 2, 3):
        ex.hint(number)
        assert f"Hint for exercise {number}" in verdict(capsys)
