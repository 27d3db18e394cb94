"""The networks of the student reports, each written out as one list of layers.

Every model takes float32 images in [0, 1] of shape (32, 32, 3) and ends in a softmax (train
with ``sparse_categorical_crossentropy``) computed in float32 even under a mixed precision
policy (``dtype="float32"``: probabilities to full precision); builders do not compile.
Pretrained backbones are in ``cifarlab.transfer``.

Example:
    >>> build_baseline_cnn(num_classes=5).count_params()
    159813
"""

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import keras
from keras import layers

from cifarlab import _checks
from cifarlab.augment import as_layers

__all__ = ["BN_MOMENTUM", "INPUT_SHAPE", "build_baseline_cnn", "build_cnn", "build_simple_cnn",
           "build_vgg_style", "glorot", "layer_table", "seed_stream"]

#: Shape of one CIFAR image, as every cifarlab model takes it.
INPUT_SHAPE: tuple[int, int, int] = (32, 32, 3)

#: Momentum of the batch-normalization moving averages. Keras's default (0.99) needs a few
#: hundred steps to settle; a superclass has about 35 batches per epoch, so with 0.99 the
#: validation accuracy of a BN network lags for several epochs and early stopping ends the
#: run before it recovers (seen on the old SYNTHETIC data, not measured on CIFAR: 0.29 after one
#: epoch with 0.99, 0.72 with 0.9).
BN_MOMENTUM = 0.9


def seed_stream(seed: int | None) -> Iterator[int | None]:
    """Seeds for successive layers: seed, seed + 1, ... (None forever: Keras's global seed)."""
    if seed is None:
        return itertools.repeat(None)
    return itertools.count(_checks.integer("seed", seed, minimum=None))


def glorot(seeds: Iterator[int | None]) -> keras.initializers.GlorotUniform:
    """Keras's default kernel initializer, seeded with the next seed of ``seeds``."""
    return keras.initializers.GlorotUniform(seed=next(seeds))


def build_baseline_cnn(num_classes: int = 5, *, augment: keras.layers.Layer | str | None = None,
                       seed: int | None = None, name: str = "baseline_cnn",
                       **variant: Any) -> keras.Sequential:
    """Seed 000's network: 159,813 parameters for the 5 classes of one superclass.

    ``augment``: a layer or preset name (``cifarlab.augment``) put after the input, active
    only in training. Other ``build_cnn`` options (``batch_norm=True``, ``dropout=0.3``, ...)
    build that variant of this network with ``build_cnn``.
    """
    if variant:
        return build_cnn(num_classes, augment=augment, seed=seed, name=name, **variant)
    num_classes = _checks.integer("num_classes", num_classes, minimum=2)
    s = seed_stream(seed)
    return keras.Sequential([
        keras.Input(shape=INPUT_SHAPE, name="images"),
        *as_layers(augment, seed=seed),
        layers.Conv2D(32, 3, activation="relu", kernel_initializer=glorot(s), name="block1_conv"),
        layers.MaxPooling2D(3, name="block1_pool"),
        layers.Conv2D(64, 3, activation="relu", kernel_initializer=glorot(s), name="block2_conv"),
        layers.MaxPooling2D(2, name="block2_pool"),
        layers.Conv2D(128, 3, activation="relu", kernel_initializer=glorot(s), name="block3_conv"),
        layers.MaxPooling2D(2, name="block3_pool"),
        layers.Flatten(name="flatten"),
        layers.Dense(256, activation="relu", kernel_initializer=glorot(s), name="dense1"),
        layers.Dense(128, activation="relu", kernel_initializer=glorot(s), name="dense2"),
        layers.Dense(num_classes, activation="softmax", kernel_initializer=glorot(s),
                     dtype="float32", name="predictions"),
    ], name=name)


def build_simple_cnn(num_classes: int = 100, *, augment: keras.layers.Layer | str | None = None,
                     seed: int | None = None, name: str = "simple_cnn",
                     **variant: Any) -> keras.Sequential:
    """Seed 003's network: 831,354 parameters for all 100 classes.

    ``augment`` and other ``build_cnn`` options as in ``build_baseline_cnn``.
    """
    if variant:
        options = {"filters": (100, 80, 50), "kernel_size": 2, "dense_units": (1024, 512),
                   "padding": ("valid", "same", "same")}
        return build_cnn(num_classes, augment=augment, seed=seed, name=name,
                         **{**options, **variant})
    num_classes = _checks.integer("num_classes", num_classes, minimum=2)
    s = seed_stream(seed)
    return keras.Sequential([
        keras.Input(shape=INPUT_SHAPE, name="images"),
        *as_layers(augment, seed=seed),
        layers.Conv2D(100, 2, activation="relu", kernel_initializer=glorot(s), name="block1_conv"),
        layers.MaxPooling2D(3, name="block1_pool"),
        layers.Conv2D(80, 2, padding="same", activation="relu", kernel_initializer=glorot(s),
                      name="block2_conv"),
        layers.MaxPooling2D(2, name="block2_pool"),
        layers.Conv2D(50, 2, padding="same", activation="relu", kernel_initializer=glorot(s),
                      name="block3_conv"),
        layers.MaxPooling2D(2, name="block3_pool"),
        layers.Flatten(name="flatten"),
        layers.Dense(1024, activation="relu", kernel_initializer=glorot(s), name="dense1"),
        layers.Dense(512, activation="relu", kernel_initializer=glorot(s), name="dense2"),
        layers.Dense(num_classes, activation="softmax", kernel_initializer=glorot(s),
                     dtype="float32", name="predictions"),
    ], name=name)


def _vgg_block(block: int, filters: int, convs: int, seeds: Iterator[int | None]) -> list:
    """Seed 002's block: ``convs`` 3x3 'same' convolutions, one BatchNormalization, 2x2 pool."""
    return [
        *(layers.Conv2D(filters, 3, padding="same", activation="relu",
                        kernel_initializer=glorot(seeds), name=f"block{block}_conv{i}")
          for i in range(1, convs + 1)),
        layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"block{block}_bn"),
        layers.MaxPooling2D(2, name=f"block{block}_pool"),
    ]


def build_vgg_style(
    num_classes: int = 100,
    *,
    dropout: float = 0.5,
    dense_units: int = 512,
    activation: str = "relu",
    width: float = 1.0,
    augment: keras.layers.Layer | str | None = None,
    seed: int | None = None,
    name: str = "vgg_style",
) -> keras.Sequential:
    """Seed 002's VGG-like network: 8,739,492 parameters for 100 classes, 1,920 of them the
    normalizations' moving statistics (non-trainable).

    Seed 002 trained it with ``augment="seed002"``. Its code gives the hidden layer
    ``activation="sigmoid"`` (the winner of its grid search), its text ReLU. ``dropout``
    (after Flatten) 0 adds no layer. ``width`` scales every block's filters (0.25: a quarter,
    many times faster to train; notebook 07's smoke mode trains 0.0625).
    """
    num_classes = _checks.integer("num_classes", num_classes, minimum=2)
    width = _checks.number("width", width, low=0.0, low_open=True)
    f = [max(1, round(filters * width)) for filters in (64, 128, 256, 512)]
    s = seed_stream(seed)
    return keras.Sequential([
        keras.Input(shape=INPUT_SHAPE, name="images"),
        *as_layers(augment, seed=seed),
        *_vgg_block(1, f[0], 2, s),
        *_vgg_block(2, f[1], 2, s),
        *_vgg_block(3, f[2], 3, s),
        *_vgg_block(4, f[3], 3, s),
        layers.Flatten(name="flatten"),
        *([layers.Dropout(dropout, seed=next(s), name="dropout")] if dropout else []),
        layers.Dense(dense_units, activation=activation, kernel_initializer=glorot(s),
                     name="dense1"),
        layers.Dense(num_classes, activation="softmax", kernel_initializer=glorot(s),
                     dtype="float32", name="predictions"),
    ], name=name)


def build_cnn(
    num_classes: int,
    *,
    filters: Sequence[int] = (32, 64, 128),
    kernel_size: int = 3,
    pool_sizes: Sequence[int] = (3, 2, 2),
    dense_units: Sequence[int] = (256, 128),
    batch_norm: bool = False,
    dropout: float = 0.0,
    conv_dropout: float = 0.0,
    padding: str | Sequence[str] = "valid",
    augment: keras.layers.Layer | str | None = None,
    seed: int | None = None,
    name: str = "cnn",
) -> keras.Sequential:
    """The family of seed 000's network (its defaults): conv blocks, dense layers, softmax.

    Block ``i``: Conv2D -> ReLU -> MaxPooling2D; with ``batch_norm``: Conv2D (no bias: the
    normalization's offset replaces it) -> BatchNormalization -> ReLU -> MaxPooling2D.
    ``conv_dropout`` adds a Dropout after each pooling, ``dropout`` one after Flatten and
    after each hidden Dense (0: none). ``padding``: one for all blocks or one per block.
    ``augment``: a layer or preset name put after the input, active only in training.
    """
    num_classes = _checks.integer("num_classes", num_classes, minimum=2)
    filters = _checks.integers("filters", filters)
    pool_sizes = _checks.integers("pool_sizes", pool_sizes)
    kernel_size = _checks.integer("kernel_size", kernel_size)
    dense_units = () if dense_units in ((), []) else _checks.integers("dense_units", dense_units)
    paddings = (padding,) * len(filters) if isinstance(padding, str) else tuple(padding)
    _check_blocks(filters, pool_sizes, paddings, kernel_size, padding)
    if not isinstance(batch_norm, bool):
        raise TypeError(f"`batch_norm` must be True or False. Received: batch_norm={batch_norm!r}.")
    s = seed_stream(seed)
    stack = [keras.Input(shape=INPUT_SHAPE, name="images"), *as_layers(augment, seed=seed)]
    for i, (n, pad, pool) in enumerate(zip(filters, paddings, pool_sizes, strict=True), start=1):
        if batch_norm:
            stack += [
                layers.Conv2D(n, kernel_size, padding=pad, use_bias=False,
                              kernel_initializer=glorot(s), name=f"block{i}_conv"),
                layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"block{i}_bn"),
                layers.Activation("relu", name=f"block{i}_relu"),
            ]
        else:
            stack.append(layers.Conv2D(n, kernel_size, padding=pad, activation="relu",
                                       kernel_initializer=glorot(s), name=f"block{i}_conv"))
        stack.append(layers.MaxPooling2D(pool, name=f"block{i}_pool"))
        if conv_dropout:
            stack.append(layers.Dropout(conv_dropout, seed=next(s), name=f"block{i}_dropout"))
    stack.append(layers.Flatten(name="flatten"))
    if dropout:
        stack.append(layers.Dropout(dropout, seed=next(s), name="dropout"))
    for i, units in enumerate(dense_units, start=1):
        stack.append(layers.Dense(units, activation="relu", kernel_initializer=glorot(s),
                                  name=f"dense{i}"))
        if dropout:
            stack.append(layers.Dropout(dropout, seed=next(s), name=f"dropout{i}"))
    stack.append(layers.Dense(num_classes, activation="softmax", kernel_initializer=glorot(s),
                              dtype="float32", name="predictions"))
    return keras.Sequential(stack, name=name)


def _check_blocks(filters: tuple, pool_sizes: tuple, paddings: tuple, kernel_size: int,
                  padding: object) -> None:
    """One pool size and padding per block, and blocks that leave the 32x32 image a pixel."""
    if len(pool_sizes) != len(filters):
        raise ValueError(
            f"`pool_sizes` needs one size per conv block, like `filters`. Received: filters="
            f"{filters} ({len(filters)} blocks), pool_sizes={pool_sizes} "
            f"({len(pool_sizes)} sizes).")
    if len(paddings) != len(filters):
        raise ValueError(f"`padding` needs one value per conv block ({len(filters)}). "
                         f"Received: padding={padding!r}.")
    size = INPUT_SHAPE[0]
    for block, (pad, pool) in enumerate(zip(paddings, pool_sizes, strict=True), start=1):
        size = (size - (kernel_size - 1 if pad == "valid" else 0)) // pool
        if size < 1:
            raise ValueError(
                f"These conv blocks shrink the 32x32 image to nothing at block {block}: filters="
                f"{filters}, kernel_size={kernel_size}, padding={padding!r} and pool_sizes="
                f"{pool_sizes}. Use padding='same', smaller pool sizes or fewer blocks.")


def layer_table(model: keras.Model):
    """One row per layer, the input included: name, type, output shape, parameters (pandas).

    ``model.summary()`` as a table that does not depend on the terminal's width.
    """
    import pandas as pd

    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model. Received: {type(model).__name__}.")
    rows = [(layer.name, type(layer).__name__, tuple(layer.output.shape[1:]), layer.count_params())
            for layer in model.layers]
    if isinstance(model, keras.Sequential):  # Sequential.layers leaves its InputLayer out
        rows.insert(0, (model.inputs[0].name, "InputLayer", tuple(model.input_shape[1:]), 0))
    return pd.DataFrame(rows, columns=["layer", "type", "output shape", "parameters"])
