"""Tests for cifarlab.transfer: real models, real computations, no network.

Transfer models use weights=None and small input sizes so that they build in
about a second on a CPU; nothing is downloaded (ImageNet downloads are faked).
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

from cifarlab import transfer
from cifarlab.models import build_cnn
from cifarlab.transfer import (
    BACKBONES,
    BackbonePreprocess,
    WeightsUnavailableError,
    build_transfer_model,
    extract_features,
    freeze_backbone,
    get_backbone,
    get_feature_extractor,
    get_head,
    unfreeze_top,
)


def _images(n: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 32, 32, 3), dtype=np.float32)


def _small_transfer(num_classes: int = 5, **kwargs) -> keras.Model:
    options = {"backbone": "mobilenet_v2", "weights": None, "input_size": 32, "seed": 0}
    return build_transfer_model(num_classes, **{**options, **kwargs})


@pytest.fixture(scope="module")
def frozen_model() -> keras.Model:
    """A small transfer model for tests that do not change it."""
    return _small_transfer()


def _assert_probabilities(probabilities: np.ndarray, n: int, num_classes: int) -> None:
    assert probabilities.shape == (n, num_classes)
    assert np.all(probabilities >= 0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


# ----------------------------------------------------------------------------
# Transfer learning: structure
# ----------------------------------------------------------------------------


def test_transfer_model_structure_and_resize_inside():
    model = _small_transfer(5, input_size=64)
    assert model.input_shape == (None, 32, 32, 3)
    assert model.output_shape == (None, 5)
    assert [layer.name for layer in model.layers] == ["images", "features", "head"]
    features = get_feature_extractor(model)
    assert [layer.name for layer in features.layers[:4]] == [
        "images",
        "rescale_to_255",
        "resize",
        "preprocess",
    ]
    assert features.get_layer("resize").output.shape == (None, 64, 64, 3)
    assert get_backbone(model).input_shape == (None, 64, 64, 3)
    assert features.output_shape == (None, 1280)  # "gap" head: pooled features
    # Frozen feature extractor: only the head trains.
    assert not features.trainable
    assert len(model.trainable_weights) == len(get_head(model).trainable_weights) == 2
    _assert_probabilities(model.predict(_images(3), verbose=0), 3, 5)


def test_frozen_backbone_runs_in_inference_mode_even_in_training():
    model = _small_transfer(3, dropout=0.0)
    images = _images(4)
    np.testing.assert_allclose(
        np.asarray(model(images, training=True)), model.predict(images, verbose=0), atol=1e-6
    )


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_every_backbone_builds_offline(backbone):
    model = build_transfer_model(3, backbone=backbone, weights=None, input_size=32)
    assert model.input_shape == (None, 32, 32, 3)
    assert get_backbone(model).name.replace("_", "").startswith(backbone[:5].replace("_", ""))
    probabilities = model.predict(_images(2), verbose=0)
    assert np.all(np.isfinite(probabilities))
    _assert_probabilities(probabilities, 2, 3)


def test_default_input_sizes_are_documented_per_backbone():
    assert {name: spec.default_size for name, spec in BACKBONES.items()} == {
        "efficientnet_b0": 128,
        "mobilenet_v2": 96,
        "resnet50": 128,
        "vgg16": 128,
    }
    model = build_transfer_model(2, backbone="mobilenet_v2", weights=None)
    assert get_backbone(model).input_shape == (None, 96, 96, 3)


def test_seed001_head_is_flatten_dense512_dropout_softmax():
    model = build_transfer_model(5, backbone="vgg16", weights=None, input_size=32, head="seed001")
    head = get_head(model)
    assert [type(layer).__name__ for layer in head.layers] == [
        "InputLayer",
        "Flatten",
        "Dense",
        "Dropout",
        "Dense",
    ]
    assert head.get_layer("dense1").units == 512
    assert head.get_layer("dropout1").rate == 0.5
    assert get_feature_extractor(model).output_shape == (None, 1, 1, 512)  # feature map
    assert head.count_params() == 512 * 512 + 512 + 512 * 5 + 5


@pytest.mark.parametrize("backbone", ["vgg16", "mobilenet_v2", "efficientnet_b0", "resnet50"])
def test_preprocess_layer_matches_keras_preprocess_input(backbone):
    pixels = _images(2) * 255.0
    module = getattr(keras.applications, BACKBONES[backbone].module)
    expected = module.preprocess_input(pixels.copy())
    actual = np.asarray(BackbonePreprocess(backbone)(pixels))
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-4)


def test_transfer_save_load_round_trip(tmp_path):
    model = _small_transfer(4, input_size=48, augment="light")
    path = tmp_path / "transfer.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # no custom_objects, no safe_mode=False
    images = _images(5)
    np.testing.assert_allclose(
        loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6
    )
    assert not get_feature_extractor(loaded).trainable
    assert get_head(loaded).output_shape == (None, 4)


# ----------------------------------------------------------------------------
# Transfer learning: weights
# ----------------------------------------------------------------------------


def _backbone_weights_equal(a: keras.Model, b: keras.Model) -> bool:
    pairs = zip(get_backbone(a).get_weights(), get_backbone(b).get_weights(), strict=True)
    return all(np.array_equal(x, y) for x, y in pairs)


def test_local_weights_file_round_trip(tmp_path):
    source = _small_transfer()
    path = tmp_path / "mobilenet_v2.weights.h5"
    get_backbone(source).save_weights(path)
    loaded = _small_transfer(weights=path)
    assert _backbone_weights_equal(source, loaded)
    assert not _backbone_weights_equal(source, _small_transfer())  # fresh random weights differ
    # The same no-top weights fit any input size.
    assert _backbone_weights_equal(source, _small_transfer(weights=str(path), input_size=64))


def test_legacy_h5_weights_file_like_the_official_ones(tmp_path):
    source = build_transfer_model(2, backbone="vgg16", weights=None, input_size=32)
    path = tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns that .h5 is a legacy format
        get_backbone(source).save(path)
        loaded = build_transfer_model(2, backbone="vgg16", weights=path, input_size=32)
    assert _backbone_weights_equal(source, loaded)


def test_weights_file_of_another_backbone_is_rejected(tmp_path):
    path = tmp_path / "mobilenet_v2.weights.h5"
    get_backbone(_small_transfer()).save_weights(path)
    with pytest.raises(ValueError, match=r"does not fit the vgg16 backbone") as info:
        build_transfer_model(2, backbone="vgg16", weights=path, input_size=32)
    assert "keras.applications.VGG16(include_top=False)" in str(info.value)
    assert "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" in str(info.value)


def test_weights_file_of_a_whole_model_is_rejected(tmp_path):
    path = tmp_path / "whole_model.weights.h5"
    _small_transfer().save_weights(path)  # the full model, not the bare backbone
    with pytest.raises(ValueError, match=r"does not fit the mobilenet_v2 backbone"):
        _small_transfer(weights=path)


def test_corrupt_weights_file_is_rejected(tmp_path):
    path = tmp_path / "broken.h5"
    path.write_bytes(b"this is not an HDF5 file")
    with pytest.raises(ValueError, match=r"broken\.h5' does not fit the mobilenet_v2 backbone"):
        _small_transfer(weights=path)


def test_missing_weights_file(tmp_path):
    missing = tmp_path / "nowhere.weights.h5"
    with pytest.raises(FileNotFoundError, match=r"Weights file not found: .*nowhere\.weights\.h5"):
        _small_transfer(weights=missing)
    with pytest.raises(FileNotFoundError, match=r"Did you mean 'imagenet'\?"):
        _small_transfer(weights="imagnet")


def test_weights_file_with_wrong_suffix(tmp_path):
    path = tmp_path / "weights.txt"
    path.write_text("x")
    with pytest.raises(ValueError, match=r"must end with \.weights\.h5 .* or \.h5"):
        _small_transfer(weights=path)


def test_imagenet_download_failure_explains_how_to_work_offline(monkeypatch):
    def no_download(fname, origin, **kwargs):
        raise Exception(f"URL fetch failure on {origin}: None -- [Errno -3] name resolution")

    def must_not_build(*args, **kwargs):
        raise AssertionError("the backbone must not be built when its weights are missing")

    monkeypatch.setattr(keras.utils, "get_file", no_download)
    monkeypatch.setattr(keras.applications, "MobileNetV2", must_not_build)
    with pytest.raises(WeightsUnavailableError, match=r"Could not download the ImageNet") as info:
        build_transfer_model(5, backbone="mobilenet_v2", weights="imagenet", input_size=96)
    message = str(info.value)
    assert "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96_no_top.h5" in message
    assert "https://storage.googleapis.com/" in message
    assert "weights=None" in message and "weights='/path/to/" in message
    assert "URL fetch failure" in message
    assert isinstance(info.value, RuntimeError)


def test_imagenet_input_size_for_mobilenet_v2_is_checked_before_download(monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("no download may be attempted")

    monkeypatch.setattr(keras.utils, "get_file", no_download)
    with pytest.raises(ValueError, match=r"only for input_size in 96, 128, 160, 192, 224"):
        build_transfer_model(5, backbone="mobilenet_v2", weights="imagenet", input_size=64)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"backbone": "mobilenet"},
            ValueError,
            r"Unknown backbone 'mobilenet'\. Did you mean 'mobilenet_v2'\? "
            r"Valid: efficientnet_b0, mobilenet_v2, resnet50, vgg16\.",
        ),
        ({"backbone": "VGG16"}, ValueError, r"Did you mean 'vgg16'\?"),
        ({"head": "gpa"}, ValueError, r"Unknown head 'gpa'\. Did you mean 'gap'\? Valid: gap,"),
        ({"num_classes": 1}, ValueError, r"Expected `num_classes` >= 2"),
        ({"num_classes": "5"}, TypeError, r"`num_classes` must be an integer"),
        ({"input_size": 16}, ValueError, r"Expected `input_size` >= 32\. Received: input_size=16"),
        ({"input_size": 64.0}, TypeError, r"`input_size` must be an integer"),
        ({"dropout": 1.5}, ValueError, r"`rate`.*Received: rate=1\.5"),  # Keras's own check
        ({"weights": 123}, TypeError, r"`weights` must be 'imagenet', None, or the path"),
        ({"trainable": "yes"}, TypeError, r"`trainable` must be True or False"),
    ],
)
def test_build_transfer_model_rejects_bad_arguments(kwargs, error, message):
    kwargs = {"num_classes": 5, "weights": None, "input_size": 32, **kwargs}
    with pytest.raises(error, match=message):
        build_transfer_model(**kwargs)


# ----------------------------------------------------------------------------
# Transfer learning: feature caching, freezing, fine-tuning
# ----------------------------------------------------------------------------


def test_extract_features_from_uint8_and_float_agree():
    # VGG16: random weights still give features of a useful size (~0.1) to compare.
    model = build_transfer_model(5, backbone="vgg16", weights=None, input_size=32, seed=0)
    pixels = np.random.default_rng(1).integers(0, 256, (7, 32, 32, 3), dtype=np.uint8)
    from_uint8 = extract_features(model, pixels, batch_size=3)  # 3 batches, the last one short
    from_float = extract_features(model, pixels.astype(np.float32) / 255)
    assert from_uint8.shape == (7, 512) and from_uint8.dtype == np.float32
    assert from_uint8.std() > 1e-3
    np.testing.assert_allclose(from_uint8, from_float, rtol=1e-4, atol=1e-6)
    direct = get_feature_extractor(model).predict(pixels / np.float32(255), verbose=0)
    np.testing.assert_allclose(from_uint8, direct, rtol=1e-4, atol=1e-6)
    # The features sub-model itself is accepted too.
    from_sub_model = extract_features(get_feature_extractor(model), pixels)
    np.testing.assert_allclose(from_sub_model, from_uint8, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    ("images", "error", "message"),
    [
        (np.zeros((2, 64, 64, 3), np.uint8), ValueError, r"shape \(N, 32, 32, 3\)\. Received"),
        (np.zeros((32, 32, 3), np.uint8), ValueError, r"Received shape \(32, 32, 3\)"),
        (np.full((2, 32, 32, 3), 255.0), ValueError, r"scaled to \[0, 1\].*\[255, 255\]"),
        (
            np.zeros((2, 32, 32, 3), np.int32),
            TypeError,
            r"uint8 \(0\.\.255\) or float in \[0, 1\]\. Received: images\.dtype=int32",
        ),
        (np.zeros((0, 32, 32, 3), np.uint8), ValueError, r"`images` is empty"),
    ],
)
def test_extract_features_rejects_bad_images(frozen_model, images, error, message):
    with pytest.raises(error, match=message):
        extract_features(frozen_model, images)


def test_accessors_reject_models_that_are_not_transfer_models():
    with pytest.raises(ValueError, match=r"Model 'cnn' has no sub-model named 'features'"):
        extract_features(build_cnn(5), np.zeros((1, 32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match=r"has no sub-model named 'head'"):
        get_head(build_cnn(5))
    with pytest.raises(TypeError, match=r"Expected a keras\.Model"):
        get_backbone("mobilenet_v2")


def _two_colour_problem(n: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Reddish vs bluish noisy images: learnable from almost any features."""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], n // 2)
    colours = np.array([[200, 30, 30], [30, 30, 200]], dtype=np.float32)
    images = colours[labels][:, None, None, :] + rng.normal(0, 10, (n, 32, 32, 3))
    return np.clip(images, 0, 255).astype(np.uint8), labels


def test_head_trained_on_cached_features_updates_the_full_model():
    # VGG16 keeps informative activations with random weights (MobileNetV2's vanish).
    images, labels = _two_colour_problem()
    model = build_transfer_model(2, backbone="vgg16", weights=None, input_size=32, seed=0)
    features = extract_features(model, images, batch_size=16)
    head = get_head(model)
    head.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    loss_before = head.evaluate(features, labels, verbose=0)
    head.fit(features, labels, epochs=15, batch_size=8, verbose=0)
    loss_after = head.evaluate(features, labels, verbose=0)
    assert loss_after < 0.5 * loss_before

    # The head is shared: the full model now classifies the 32x32 images directly.
    full = model.predict(images.astype(np.float32) / 255, verbose=0)
    np.testing.assert_allclose(full, head.predict(features, verbose=0), rtol=1e-5, atol=1e-6)
    assert np.mean(full.argmax(axis=1) == labels) == 1.0


def test_unfreeze_top_then_freeze_backbone():
    model = _small_transfer(2)
    backbone = get_backbone(model)
    layers = backbone.layers
    unfreeze_top(model, 10, learning_rate=3e-5)

    top, rest = layers[-10:], layers[:-10]
    assert all(not layer.trainable for layer in rest)
    assert all(
        layer.trainable != isinstance(layer, keras.layers.BatchNormalization) for layer in top
    )
    assert any(isinstance(layer, keras.layers.BatchNormalization) for layer in top)
    assert np.isclose(float(model.optimizer.learning_rate), 3e-5)
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    trainable_ids = {id(w) for w in model.trainable_weights}
    assert {id(w) for w in backbone.get_layer("Conv_1").weights} <= trainable_ids
    assert not {id(w) for w in backbone.get_layer("Conv_1_bn").weights} & trainable_ids

    freeze_backbone(model)
    assert not get_feature_extractor(model).trainable
    assert len(model.trainable_weights) == len(get_head(model).trainable_weights)


def test_unfreeze_top_changes_trainable_weights_when_fitting():
    model = _small_transfer(2)
    backbone = get_backbone(model)
    unfreeze_top(model, 5, learning_rate=1e-3)
    conv = backbone.get_layer("Conv_1")  # among the top 5 layers of MobileNetV2
    bn = backbone.get_layer("Conv_1_bn")
    first = backbone.layers[1]
    conv_before, bn_before, first_before = conv.get_weights(), bn.get_weights(), first.get_weights()
    images, labels = _two_colour_problem(8)
    model.fit(images.astype(np.float32) / 255, labels, epochs=1, batch_size=4, verbose=0)
    assert not np.array_equal(conv.get_weights()[0], conv_before[0])
    for a, b in zip(bn.get_weights(), bn_before, strict=True):  # frozen BN: inference mode
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(first.get_weights()[0], first_before[0])


def test_unfreeze_top_can_train_batch_norm_too():
    model = _small_transfer(2)
    unfreeze_top(model, 5, freeze_batch_norm=False)
    assert get_backbone(model).get_layer("Conv_1_bn").trainable
    assert np.isclose(float(model.optimizer.learning_rate), 1e-5)  # the default


def test_unfreeze_all_and_none():
    model = _small_transfer(2)
    n = len(get_backbone(model).layers)
    unfreeze_top(model, n)
    assert get_backbone(model).get_layer("Conv1").trainable
    unfreeze_top(model, 0)
    assert len(model.trainable_weights) == len(get_head(model).trainable_weights)


@pytest.mark.parametrize(
    ("n_layers", "kwargs", "error", "message"),
    [
        (-1, {}, ValueError, r"Expected `n_layers` in \[0, \d+\] \(the backbone .* has \d+ layers"),
        (10_000, {}, ValueError, r"Received: n_layers=10000"),
        (2.5, {}, TypeError, r"`n_layers` must be an integer"),
        (3, {"learning_rate": 0.0}, ValueError, r"Expected `learning_rate` in \(0, inf\]"),
        (3, {"learning_rate": "fast"}, TypeError, r"`learning_rate` must be a number"),
    ],
)
def test_unfreeze_top_rejects_bad_arguments(n_layers, kwargs, error, message):
    with pytest.raises(error, match=message):
        unfreeze_top(_small_transfer(2), n_layers, **kwargs)


def test_trainable_backbone_for_training_from_scratch():
    model = _small_transfer(2, trainable=True)
    assert get_feature_extractor(model).trainable
    assert len(model.trainable_weights) > len(get_head(model).trainable_weights)


def test_module_exports_exist():
    for name in transfer.__all__:
        assert hasattr(transfer, name), name
