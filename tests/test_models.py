"""Tests for cifarlab.models: the seed networks, real models, real computations."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from cifarlab import models
from cifarlab.models import (
    BN_MOMENTUM,
    build_baseline_cnn,
    build_cnn,
    build_simple_cnn,
    build_vgg_style,
    layer_table,
)


def _images(n: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 32, 32, 3), dtype=np.float32)


def _non_trainable_count(model: keras.Model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)


def _assert_probabilities(probabilities: np.ndarray, n: int, num_classes: int) -> None:
    assert probabilities.shape == (n, num_classes)
    assert np.all(probabilities >= 0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


# ----------------------------------------------------------------------------
# The student reports' networks
# ----------------------------------------------------------------------------


def test_baseline_cnn_is_seed_000_network():
    model = build_baseline_cnn(5)
    assert model.count_params() == 159_813
    assert _non_trainable_count(model) == 0
    # Seed 000's summary, layer by layer (type, output shape, parameters).
    expected = [
        ("Conv2D", (30, 30, 32), 896),
        ("MaxPooling2D", (10, 10, 32), 0),
        ("Conv2D", (8, 8, 64), 18_496),
        ("MaxPooling2D", (4, 4, 64), 0),
        ("Conv2D", (2, 2, 128), 73_856),
        ("MaxPooling2D", (1, 1, 128), 0),
        ("Flatten", (128,), 0),
        ("Dense", (256,), 33_024),
        ("Dense", (128,), 32_896),
        ("Dense", (5,), 645),
    ]
    actual = [
        (type(layer).__name__, tuple(layer.output.shape[1:]), layer.count_params())
        for layer in model.layers  # a Sequential's layers leave its InputLayer out
    ]
    assert actual == expected
    assert isinstance(model, keras.Sequential) and model.input_shape == (None, 32, 32, 3)


def test_baseline_cnn_is_build_cnn_with_defaults():
    baseline, plain = build_baseline_cnn(5, seed=3), build_cnn(5, seed=3)
    assert [w.shape for w in baseline.weights] == [w.shape for w in plain.weights]
    for a, b in zip(baseline.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_vgg_style_is_seed_002_network():
    model = build_vgg_style(100)
    assert model.count_params() == 8_739_492
    assert _non_trainable_count(model) == 1_920
    kinds = [type(layer).__name__ for layer in model.layers]
    block = ["Conv2D", "Conv2D"]
    assert kinds == (
        [*block, "BatchNormalization", "MaxPooling2D"]
        + [*block, "BatchNormalization", "MaxPooling2D"]
        + [*block, "Conv2D", "BatchNormalization", "MaxPooling2D"]
        + [*block, "Conv2D", "BatchNormalization", "MaxPooling2D"]
        + ["Flatten", "Dropout", "Dense", "Dense"]
    )
    assert model.get_layer("dropout").rate == 0.5
    assert model.get_layer("block4_pool").output.shape[1:] == (2, 2, 512)
    assert all(
        layer.padding == "same" for layer in model.layers if isinstance(layer, keras.layers.Conv2D)
    )


def test_vgg_style_hidden_activation_is_configurable():
    model = build_vgg_style(10, activation="sigmoid", dropout=0.0, dense_units=64)
    assert model.get_layer("dense1").activation is keras.activations.sigmoid
    assert model.get_layer("dense1").units == 64
    assert "dropout" not in [layer.name for layer in model.layers]


def test_simple_cnn_is_seed_003_network():
    model = build_simple_cnn(100)
    assert model.count_params() == 831_354
    params = [layer.count_params() for layer in model.layers if layer.count_params()]
    assert params == [1_300, 32_080, 16_050, 205_824, 524_800, 51_300]
    shapes = [tuple(layer.output.shape[1:]) for layer in model.layers[:6]]
    assert shapes == [
        (31, 31, 100),
        (10, 10, 100),
        (10, 10, 80),
        (5, 5, 80),
        (5, 5, 50),
        (2, 2, 50),
    ]


@pytest.mark.parametrize(
    ("builder", "num_classes"),
    [
        (build_baseline_cnn, 5),
        (build_simple_cnn, 100),
        (build_vgg_style, 100),
        (lambda n: build_cnn(n, batch_norm=True, dropout=0.3, padding="same"), 10),
        (lambda n: build_cnn(n, dense_units=()), 4),  # no hidden dense layer
    ],
)
def test_forward_pass_gives_probabilities(builder, num_classes):
    model = builder(num_classes)
    assert model.input_shape == (None, 32, 32, 3)
    _assert_probabilities(model.predict(_images(3), verbose=0), 3, num_classes)


def test_build_cnn_batch_norm_goes_between_conv_and_relu():
    model = build_cnn(5, batch_norm=True)
    names = [layer.name for layer in model.layers]
    assert names[:4] == ["block1_conv", "block1_bn", "block1_relu", "block1_pool"]
    assert not model.get_layer("block1_conv").use_bias  # the BN offset replaces the bias
    assert _non_trainable_count(model) == 2 * (32 + 64 + 128)
    # Keras's default momentum (0.99) needs a few hundred steps to settle; a superclass has
    # about 35 batches per epoch, so BN networks lagged for epochs and stopped early.
    assert BN_MOMENTUM == 0.9
    assert {model.get_layer(f"block{i}_bn").momentum for i in (1, 2, 3)} == {BN_MOMENTUM}
    assert build_vgg_style(10).get_layer("block1_bn").momentum == BN_MOMENTUM


def test_build_cnn_dropout_after_flatten_and_each_hidden_dense():
    model = build_cnn(5, dropout=0.4, conv_dropout=0.1)
    names = [layer.name for layer in model.layers]
    tail = names[names.index("flatten") :]
    assert tail == ["flatten", "dropout", "dense1", "dropout1", "dense2", "dropout2", "predictions"]
    assert model.get_layer("dropout1").rate == 0.4
    assert [n for n in names if n.endswith("_dropout")] == [f"block{i}_dropout" for i in (1, 2, 3)]
    assert model.count_params() == 159_813  # dropout adds no parameters


def test_seed_makes_initial_weights_reproducible():
    first, again, other = build_cnn(5, seed=1), build_cnn(5, seed=1), build_cnn(5, seed=2)
    for a, b in zip(first.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first.get_weights()[0], other.get_weights()[0])


def test_augment_layer_acts_only_in_training():
    augmented = build_cnn(5, augment="standard", seed=1)
    plain = build_cnn(5, seed=1)
    assert augmented.layers[0].name == "augmentation"
    images = _images(4)
    np.testing.assert_allclose(
        augmented.predict(images, verbose=0), plain.predict(images, verbose=0), rtol=1e-6
    )
    trained = np.asarray(augmented(images, training=True))
    assert not np.allclose(trained, plain.predict(images, verbose=0))


def test_augment_accepts_a_layer_from_cifarlab_augment():
    from cifarlab.augment import augmentation

    aug = augmentation("light", seed=0)
    model = build_vgg_style(10, augment=aug)
    assert model.get_layer("augmentation") is aug


def test_cnn_save_load_round_trip(tmp_path):
    model = build_cnn(5, batch_norm=True, dropout=0.2, augment="seed002", seed=0)
    path = tmp_path / "cnn.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    images = _images(5)
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0))
    assert loaded.count_params() == model.count_params()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"num_classes": 1}, ValueError, r"Expected `num_classes` >= 2\. Received: num_classes=1"),
        ({"num_classes": 2.5}, TypeError, r"`num_classes` must be an integer >= 2"),
        ({"num_classes": True}, TypeError, r"num_classes=True"),
        (
            {"filters": (32, 64), "pool_sizes": (3, 2, 2)},
            ValueError,
            r"`pool_sizes` needs one size per conv block.*filters=\(32, 64\) \(2 blocks\)",
        ),
        ({"filters": ()}, ValueError, r"`filters` needs at least one value"),
        ({"filters": (32, "64", 128)}, TypeError, r"`filters` must be an integer >= 1\. Received"),
        ({"filters": 32}, TypeError, r"`filters` must be a sequence of integers"),
        ({"dense_units": 256}, TypeError, r"`dense_units` must be a sequence of integers"),
        ({"kernel_size": 0}, ValueError, r"Expected `kernel_size` >= 1\. Received: kernel_size=0"),
        # Keras checks its own arguments (Dropout's rate, Conv2D's padding) and raises.
        ({"dropout": 1.5}, ValueError, r"`rate`.*Received: rate=1\.5"),
        ({"dropout": -0.1}, ValueError, r"`rate`.*Received: rate=-0\.1"),
        ({"conv_dropout": 2}, ValueError, r"`rate`.*Received: rate=2"),
        ({"dropout": "0.5"}, TypeError, r"not supported between instances of .*'str'"),
        ({"padding": "vaild"}, ValueError, r"`padding` argument must be .*Received: vaild"),
        ({"padding": ("same", "valid")}, ValueError, r"`padding` needs one value per conv block"),
        (
            {"filters": (32, 64, 128, 256), "pool_sizes": (3, 2, 2, 2)},
            ValueError,
            r"shrink the 32x32 image to nothing at block 4.*padding='same'",
        ),
        ({"batch_norm": "yes"}, TypeError, r"`batch_norm` must be True or False"),
        ({"augment": 42}, TypeError, r"`augment` must be a Keras layer"),
        ({"augment": "strong"}, ValueError, r"Unknown augmentation preset 'strong'"),
        ({"seed": 1.5}, TypeError, r"`seed` must be an integer\. Received: seed=1\.5"),
    ],
)
def test_build_cnn_rejects_bad_arguments(kwargs, error, message):
    kwargs = {"num_classes": 5, **kwargs}
    with pytest.raises(error, match=message):
        build_cnn(**kwargs)


def test_vgg_style_rejects_bad_arguments():
    # Keras checks the activation and the dropout rate itself.
    with pytest.raises(ValueError, match=r"activation function identifier: rleu"):
        build_vgg_style(10, activation="rleu")
    with pytest.raises(ValueError, match=r"`rate`.*Received: rate=1\.5"):
        build_vgg_style(10, dropout=1.5)
    with pytest.raises(ValueError, match=r"num_classes"):
        build_vgg_style(0)


def test_written_out_networks_match_build_cnn_variants():
    # build_simple_cnn's list of layers is build_cnn with seed 003's options.
    listed = build_simple_cnn(100, seed=3)
    via_cnn = build_simple_cnn(100, seed=3, batch_norm=False)  # any build_cnn option: build_cnn
    assert [layer.name for layer in listed.layers] == [layer.name for layer in via_cnn.layers]
    for a, b in zip(listed.get_weights(), via_cnn.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # A variant of the baseline is build_cnn with that option, under the baseline's name.
    variant = build_baseline_cnn(5, batch_norm=True, seed=0)
    assert variant.name == "baseline_cnn"
    assert variant.get_layer("block1_bn").momentum == BN_MOMENTUM
    assert variant.count_params() == build_cnn(5, batch_norm=True).count_params()
    with_aug = build_baseline_cnn(5, augment="light", seed=0)
    assert [layer.name for layer in with_aug.layers[:2]] == ["augmentation", "block1_conv"]
    assert with_aug.count_params() == 159_813


def test_layer_table_lists_the_input_and_every_layer():
    for model in (build_vgg_style(100), build_cnn(5, batch_norm=True, dropout=0.2)):
        table = layer_table(model)
        assert list(table.columns) == ["layer", "type", "output shape", "parameters"]
        assert tuple(table.iloc[0]) == ("images", "InputLayer", (32, 32, 3), 0)
        assert list(table["layer"][1:]) == [layer.name for layer in model.layers]
        assert table["parameters"].sum() == model.count_params()
    x = keras.Input((3,), name="x")
    functional = keras.Model(x, keras.layers.Dense(2, name="d")(x))
    assert list(layer_table(functional)["layer"]) == ["x", "d"]
    with pytest.raises(TypeError, match="must be a keras.Model"):
        layer_table("model")


def test_module_exports_exist():
    for name in models.__all__:
        assert hasattr(models, name), name


def test_vgg_style_width_scales_every_block_and_only_the_filters():
    narrow = models.build_vgg_style(100, width=0.25)
    convs = [layer.filters for layer in narrow.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs == [16, 16, 32, 32, 64, 64, 64, 128, 128, 128]
    assert narrow.get_layer("dense1").units == 512
    with pytest.raises(ValueError, match="width"):
        models.build_vgg_style(100, width=0)
