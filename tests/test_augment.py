"""Tests for cifarlab.augment: real layers on real arrays, no network."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from cifarlab.augment import PRESETS, as_layers, augmentation


def _images(n: int = 4, seed: int = 0) -> np.ndarray:
    """Random float32 images in [0, 1] with exact 0s and 1s (contrast edge cases)."""
    images = np.random.default_rng(seed).random((n, 32, 32, 3), dtype=np.float32)
    images[:, :4] = 0.0
    images[:, -4:] = 1.0
    return images


def _asymmetric_image() -> np.ndarray:
    """One image that no flip, shift or rotation leaves unchanged: a diagonal ramp."""
    rows, cols = np.mgrid[0:32, 0:32].astype(np.float32)
    ramp = (rows + 2 * cols) / (31 + 62)
    return np.stack([ramp, ramp**2, 1 - ramp], axis=-1)[None]


@pytest.mark.parametrize("preset", list(PRESETS))
def test_training_output_keeps_shape_dtype_and_unit_range(preset):
    images = _images()
    out = np.asarray(augmentation(preset, seed=0)(images, training=True))
    assert out.shape == images.shape
    assert out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_strong_contrast_is_clipped_to_unit_range():
    # RandomContrast clips to value_range, which must be (0, 1) for cifarlab images.
    aug = augmentation("standard", contrast=0.9, seed=3)
    out = np.concatenate([np.asarray(aug(_images(8, seed=s), training=True)) for s in range(3)])
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert np.isclose(out.max(), 1.0)  # clipped, not rescaled


@pytest.mark.parametrize("preset", list(PRESETS))
def test_inference_returns_input_unchanged(preset):
    images = _images()
    aug = augmentation(preset, seed=0)
    np.testing.assert_array_equal(np.asarray(aug(images, training=False)), images)
    # Inside a model, predict/evaluate run with training=False: no augmentation.
    model = keras.Sequential([keras.Input((32, 32, 3)), aug])
    np.testing.assert_array_equal(model.predict(images, verbose=0), images)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_training_changes_an_asymmetric_image(preset):
    image = _asymmetric_image()
    aug = augmentation(preset, seed=0)
    changed = [not np.allclose(np.asarray(aug(image, training=True)), image) for _ in range(3)]
    assert all(changed)


def test_same_seed_gives_same_output_for_fresh_layers():
    images = _images(8)
    first = np.asarray(augmentation("standard", seed=7)(images, training=True))
    again = np.asarray(augmentation("standard", seed=7)(images, training=True))
    other = np.asarray(augmentation("standard", seed=8)(images, training=True))
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_successive_calls_draw_new_augmentations():
    images = _images(8)
    aug = augmentation("seed002", seed=0)
    assert not np.allclose(np.asarray(aug(images, training=True)), aug(images, training=True))


def test_seed002_preset_matches_image_data_generator_settings():
    # rotation_range=15, width/height_shift_range=0.1, horizontal_flip=True, fill 'nearest'.
    aug = augmentation("seed002")
    assert [layer.name for layer in aug.layers] == ["flip", "rotation", "translation"]
    flip, rotation, translation = (layer.get_config() for layer in aug.layers)
    assert flip["mode"] == "horizontal"
    assert np.allclose(np.array(rotation["factor"]) * 360, [-15, 15])
    assert translation["height_factor"] == 0.1 and translation["width_factor"] == 0.1
    assert rotation["fill_mode"] == translation["fill_mode"] == "nearest"


def test_standard_preset_adds_zoom_and_contrast_for_unit_images():
    aug = augmentation("standard")
    assert [layer.name for layer in aug.layers] == [
        "flip",
        "rotation",
        "translation",
        "zoom",
        "contrast",
    ]
    assert tuple(aug.get_layer("contrast").get_config()["value_range"]) == (0.0, 1.0)


def test_keyword_overrides_change_the_preset():
    aug = augmentation("light", flip="none", zoom=0.2, fill_mode="constant", seed=None)
    assert [layer.name for layer in aug.layers] == ["translation", "zoom"]
    assert aug.get_layer("zoom").get_config()["height_factor"] == 0.2
    assert aug.get_layer("translation").get_config()["fill_mode"] == "constant"


def test_accepts_any_batch_and_image_size():
    aug = augmentation("standard", seed=0)
    assert aug(np.zeros((3, 48, 40, 3), np.float32), training=True).shape == (3, 48, 40, 3)
    assert aug(np.zeros((1, 32, 32, 3), np.float32), training=True).shape == (1, 32, 32, 3)


def test_unknown_preset_suggests_the_closest():
    with pytest.raises(
        ValueError,
        match=r"Unknown augmentation preset 'seed02'\. Did you mean "
        r"'seed002'\? Valid: seed002, standard, light\.",
    ):
        augmentation("seed02")
    with pytest.raises(ValueError, match="Unknown augmentation preset 'heavy'. Valid:"):
        augmentation("heavy")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"rotation": -5}, ValueError, r"Expected `rotation` in \[0, 180\]\. Received: rotation="),
        ({"rotation": 400}, ValueError, r"rotation=400"),
        ({"translation": 1.0}, ValueError, r"Expected `translation` in \[0, 1\)"),
        ({"zoom": float("nan")}, ValueError, r"Expected `zoom`"),
        ({"contrast": 1.5}, ValueError, r"Expected `contrast` in \[0, 1\]"),
        ({"zoom": "big"}, TypeError, r"`zoom` must be a number"),
        (
            {"fill_mode": "reflekt"},
            ValueError,
            r"Unknown `fill_mode` 'reflekt'\. Did you mean 'reflect'\?",
        ),
        ({"flip": "horizontally"}, ValueError, r"Did you mean 'horizontal'\? Valid: horizontal,"),
        ({"seed": "1"}, TypeError, r"`seed` must be an integer\. Received: seed='1'"),
    ],
)
def test_bad_options_raise_clear_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        augmentation("seed002", **kwargs)


def test_works_inside_a_tf_data_map():
    images, labels = _images(6), np.arange(6)

    def run(seed):
        aug = augmentation("standard", seed=seed)
        ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4)
        ds = ds.map(lambda x, y: (aug(x, training=True), y))
        batches = list(ds.as_numpy_iterator())
        return np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches])

    out, out_labels = run(seed=1)
    assert out.shape == images.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    np.testing.assert_array_equal(out_labels, labels)
    assert not np.allclose(out, images)
    np.testing.assert_array_equal(out, run(seed=1)[0])  # reproducible in a pipeline too


def test_saved_inside_a_model_without_custom_objects(tmp_path):
    aug = augmentation("standard", seed=0)
    inputs = keras.Input((32, 32, 3))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(aug(inputs))))
    path = tmp_path / "with_aug.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    images = _images()
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0))
    assert [layer.name for layer in loaded.get_layer("augmentation").layers] == [
        layer.name for layer in aug.layers
    ]


def test_as_layers_takes_a_layer_a_preset_name_or_none():
    aug = augmentation("light", seed=0)
    assert as_layers(aug, seed=None) == [aug]
    assert as_layers(None, seed=0) == []
    [preset] = as_layers("standard", seed=None)  # seed None: the preset still gets seed 0
    assert [layer.name for layer in preset.layers] == [
        layer.name for layer in augmentation("standard").layers
    ]
    with pytest.raises(TypeError, match=r"`augment` must be a Keras layer.*augment=42"):
        as_layers(42, seed=0)
