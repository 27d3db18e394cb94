"""Model builders: the CNNs of the student reports and transfer learning.

Every model takes float32 images scaled to [0, 1], shape (32, 32, 3), and
outputs softmax probabilities (train with ``sparse_categorical_crossentropy``).
Builders do not compile; ``cifarlab.training`` does (``unfreeze_top`` is the one
exception, since fine-tuning needs its low learning rate).

From scratch:

- ``build_cnn``: the one configurable family the notebooks step through (plain,
  batch normalization, dropout, augmentation).
- ``build_baseline_cnn``: seed 000's network (159,813 parameters for 5 classes).
- ``build_vgg_style``: seed 002's VGG-like network (8,739,492 for 100 classes).
- ``build_simple_cnn``: seed 003's network (831,354 for 100 classes).

Transfer learning (seed 001 used VGG16):

- ``build_transfer_model``: ImageNet backbone from ``keras.applications`` plus a
  new head. The 32x32 images are resized inside the model, one batch at a time.
  The model is ``images -> features -> head``: a frozen feature extractor
  sub-model named ``"features"`` and a classifier sub-model named ``"head"``.
- ``extract_features`` + ``get_head``: cache the backbone's features once and
  train only the head on them, the fast way to do transfer learning on a CPU.
  The head object is shared with the full model, so after ``head.fit(...)`` the
  full model classifies 32x32 images directly.
- ``freeze_backbone`` / ``unfreeze_top``: switch between feature extraction and
  fine-tuning.

Example:
    >>> from cifarlab.models import build_baseline_cnn
    >>> build_baseline_cnn(num_classes=5).count_params()
    159813
"""

from __future__ import annotations

import difflib
import itertools
import operator
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from cifarlab.augment import augmentation

__all__ = [
    "BACKBONES",
    "HEADS",
    "INPUT_SHAPE",
    "MIN_INPUT_SIZE",
    "VGG_BLOCKS",
    "BackboneSpec",
    "BackbonePreprocess",
    "WeightsUnavailableError",
    "build_baseline_cnn",
    "build_cnn",
    "build_simple_cnn",
    "build_transfer_model",
    "build_vgg_style",
    "extract_features",
    "freeze_backbone",
    "get_backbone",
    "get_feature_extractor",
    "get_head",
    "unfreeze_top",
]

#: Shape of one CIFAR image, as every cifarlab model takes it.
INPUT_SHAPE: tuple[int, int, int] = (32, 32, 3)

#: Smallest input size ``keras.applications`` accepts for these backbones.
MIN_INPUT_SIZE = 32

#: Seed 002's convolutional blocks: (filters, number of 3x3 convolutions).
VGG_BLOCKS: tuple[tuple[int, int], ...] = ((64, 2), (128, 2), (256, 3), (512, 3))

#: Heads of ``build_transfer_model``.
HEADS: tuple[str, ...] = ("gap", "seed001")

_PADDINGS = ("valid", "same")


#: Momentum of the batch-normalization moving averages. Keras' default (0.99) needs
#: a few hundred steps to settle; a superclass has about 35 batches per epoch, so
#: with 0.99 the validation accuracy of a BN network lags for several epochs and
#: early stopping ends the run before it recovers (measured on medium_mammals:
#: 0.29 after one epoch with 0.99, 0.72 with 0.9). 0.9 works for all of CIFAR too.
BN_MOMENTUM = 0.9


class WeightsUnavailableError(RuntimeError):
    """The ImageNet weights of a backbone could not be downloaded."""


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one ``keras.applications`` backbone.

    Attributes:
        constructor: Name of the constructor in ``keras.applications``.
        module: Module of ``keras.applications`` whose ``preprocess_input`` it needs.
        default_size: Input size used when ``input_size`` is None (CPU-friendly).
        weights_file: Official file name of the ImageNet weights without the top
            (``{size}`` is replaced by the input size).
        weights_url: Folder the official file is downloaded from.
        imagenet_sizes: Input sizes that have ImageNet weights (None: any size).
    """

    constructor: str
    module: str
    default_size: int
    weights_file: str
    weights_url: str
    imagenet_sizes: tuple[int, ...] | None = None


_KERAS_APPS = "https://storage.googleapis.com/tensorflow/keras-applications/"

#: Backbones of ``build_transfer_model``. Default input sizes are chosen for a
#: CPU: features of 3,000 images take about 10 s with mobilenet_v2 at 96,
#: 15 s with efficientnet_b0 at 128, 30 s with resnet50 at 128 and 2 min with
#: vgg16 at 128 (seed 001 used vgg16 at 224: about 4 times slower than 128).
BACKBONES: dict[str, BackboneSpec] = {
    "efficientnet_b0": BackboneSpec(
        "EfficientNetB0",
        "efficientnet",
        128,
        "efficientnetb0_notop.h5",
        "https://storage.googleapis.com/keras-applications/",
    ),
    "mobilenet_v2": BackboneSpec(
        "MobileNetV2",
        "mobilenet_v2",
        96,
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{size}_no_top.h5",
        _KERAS_APPS + "mobilenet_v2/",
        imagenet_sizes=(96, 128, 160, 192, 224),
    ),
    "resnet50": BackboneSpec(
        "ResNet50",
        "resnet50",
        128,
        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        _KERAS_APPS + "resnet/",
    ),
    "vgg16": BackboneSpec(
        "VGG16",
        "vgg16",
        128,
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        _KERAS_APPS + "vgg16/",
    ),
}


# ----------------------------------------------------------------------------
# Models trained from scratch
# ----------------------------------------------------------------------------


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
) -> keras.Model:
    """Build a plain CNN: conv blocks, then dense layers, then softmax.

    Each block is ``Conv2D -> ReLU -> MaxPooling2D``. With ``batch_norm`` it is
    ``Conv2D (no bias) -> BatchNormalization -> ReLU -> MaxPooling2D`` (the
    normalization's offset replaces the bias). The classifier is ``Flatten``,
    the hidden ``Dense`` ReLU layers and a softmax ``Dense``; ``dropout`` adds a
    ``Dropout`` after ``Flatten`` and after each hidden ``Dense``, and
    ``conv_dropout`` one after each pooling. The defaults are seed 000's network.

    Args:
        num_classes: Number of classes (at least 2).
        filters: Filters of each conv block.
        kernel_size: Size of the square convolution kernels.
        pool_sizes: Max-pooling size of each block (same length as ``filters``).
        dense_units: Units of each hidden dense layer (may be empty).
        batch_norm: Add batch normalization between each convolution and its ReLU.
        dropout: Dropout rate in [0, 1) for the classifier; 0 adds no layer.
        conv_dropout: Dropout rate in [0, 1) after each pooling; 0 adds no layer.
        padding: ``"valid"`` or ``"same"``, for all blocks or one per block.
        augment: A layer placed right after the input (e.g. from
            ``cifarlab.augment.augmentation``), active only in training and
            saved with the model; or the name of an augmentation preset.
        seed: Seed of the initial weights, dropout and a preset augmentation
            (None: Keras' global seed, see ``cifarlab.set_seed``).
        name: Model name.

    Returns:
        An uncompiled ``keras.Model`` from (None, 32, 32, 3) to (None, num_classes).

    Raises:
        ValueError: for a bad count, rate, padding, mismatched lengths, or
            blocks that shrink the 32x32 image to nothing.
        TypeError: for arguments of the wrong type.

    Example:
        >>> model = build_cnn(10, batch_norm=True, dropout=0.3, augment="standard")
        >>> model.output_shape
        (None, 10)
    """
    num_classes = _check_num_classes(num_classes)
    filters = _check_positive_ints("filters", filters)
    pool_sizes = _check_positive_ints("pool_sizes", pool_sizes)
    dense_units = _check_positive_ints("dense_units", dense_units, allow_empty=True)
    kernel_size = _check_positive_int("kernel_size", kernel_size)
    if len(pool_sizes) != len(filters):
        raise ValueError(
            "`pool_sizes` needs one size per conv block, like `filters`. Received: "
            f"filters={filters} ({len(filters)} blocks), pool_sizes={pool_sizes} "
            f"({len(pool_sizes)} sizes)."
        )
    paddings = _check_paddings(padding, len(filters))
    dropout = _check_rate("dropout", dropout)
    conv_dropout = _check_rate("conv_dropout", conv_dropout)
    if not isinstance(batch_norm, bool):
        raise TypeError(f"`batch_norm` must be True or False. Received: batch_norm={batch_norm!r}.")
    _check_spatial_size(
        [(kernel_size, pad, 1, pool) for pad, pool in zip(paddings, pool_sizes, strict=True)],
        f"filters={filters}, kernel_size={kernel_size}, padding={padding!r} and "
        f"pool_sizes={pool_sizes}",
    )
    seeds = _seed_stream(seed)
    aug = _augment_layer(augment, seed)

    inputs = keras.Input(shape=INPUT_SHAPE, name="images")
    x = aug(inputs) if aug is not None else inputs
    blocks = zip(filters, paddings, pool_sizes, strict=True)
    for i, (n_filters, pad, pool) in enumerate(blocks, start=1):
        x = _conv_block(
            x,
            n_filters,
            convs=1,
            kernel_size=kernel_size,
            padding=pad,
            batch_norm="each" if batch_norm else "none",
            pool_size=pool,
            dropout=conv_dropout,
            seeds=seeds,
            name=f"block{i}",
        )
    outputs = _classifier(
        x,
        num_classes,
        pooling="flatten",
        dense_units=dense_units,
        activation="relu",
        input_dropout=dropout,
        hidden_dropout=dropout,
        seeds=seeds,
    )
    return keras.Model(inputs, outputs, name=name)


def build_baseline_cnn(num_classes: int = 5, **kwargs: Any) -> keras.Model:
    """Build seed 000's network: ``build_cnn`` with its defaults.

    Conv2D 32 3x3 + MaxPool 3, Conv2D 64 3x3 + MaxPool 2, Conv2D 128 3x3 +
    MaxPool 2 (ReLU, 'valid' padding), Flatten, Dense 256, Dense 128, softmax:
    159,813 parameters for 5 classes.

    Args:
        num_classes: Number of classes (seed 000 classified the 5 classes of one
            superclass).
        **kwargs: Any other ``build_cnn`` option, e.g. ``augment=`` or ``seed=``.

    Returns:
        An uncompiled ``keras.Model``.

    Example:
        >>> build_baseline_cnn(5).count_params()
        159813
    """
    return build_cnn(num_classes, **{"name": "baseline_cnn", **kwargs})


def build_simple_cnn(num_classes: int = 100, **kwargs: Any) -> keras.Model:
    """Build seed 003's network with ``build_cnn``.

    Conv2D 100 2x2 'valid' + MaxPool 3, Conv2D 80 2x2 'same' + MaxPool 2,
    Conv2D 50 2x2 'same' + MaxPool 2 (ReLU), Flatten, Dense 1024, Dense 512,
    softmax: 831,354 parameters for 100 classes.

    Args:
        num_classes: Number of classes (seed 003 used all 100).
        **kwargs: Any other ``build_cnn`` option, e.g. ``dropout=`` or ``seed=``.

    Returns:
        An uncompiled ``keras.Model``.

    Example:
        >>> build_simple_cnn(100).count_params()
        831354
    """
    options: dict[str, Any] = {
        "filters": (100, 80, 50),
        "kernel_size": 2,
        "pool_sizes": (3, 2, 2),
        "padding": ("valid", "same", "same"),
        "dense_units": (1024, 512),
        "name": "simple_cnn",
    }
    return build_cnn(num_classes, **{**options, **kwargs})


def build_vgg_style(
    num_classes: int = 100,
    *,
    dropout: float = 0.5,
    dense_units: int = 512,
    activation: str = "relu",
    augment: keras.layers.Layer | str | None = None,
    seed: int | None = None,
    name: str = "vgg_style",
) -> keras.Model:
    """Build seed 002's VGG-like network.

    Four blocks of 3x3 'same' convolutions with ReLU (``VGG_BLOCKS``: 64-64,
    128-128, 256x3, 512x3), each closed by one BatchNormalization and a 2x2
    max-pooling; then Flatten, Dropout, one hidden Dense and softmax:
    8,739,492 parameters for 100 classes, 1,920 of them non-trainable (the
    normalizations' moving statistics).

    Seed 002 trained it with ``augment="seed002"``. Its appendix code sets the
    hidden layer's activation to ``"sigmoid"`` (the winner of its grid search)
    while its text describes ReLU; pass ``activation="sigmoid"`` for the former.

    Args:
        num_classes: Number of classes.
        dropout: Dropout rate in [0, 1) after Flatten; 0 adds no layer.
        dense_units: Units of the hidden dense layer.
        activation: Activation of the hidden dense layer (a Keras name).
        augment: Augmentation layer or preset name placed after the input.
        seed: Seed of the initial weights, dropout and a preset augmentation.
        name: Model name.

    Returns:
        An uncompiled ``keras.Model``.

    Example:
        >>> model = build_vgg_style(100)
        >>> model.count_params()
        8739492
    """
    num_classes = _check_num_classes(num_classes)
    dropout = _check_rate("dropout", dropout)
    dense_units = _check_positive_int("dense_units", dense_units)
    activation = _check_activation(activation)
    seeds = _seed_stream(seed)
    aug = _augment_layer(augment, seed)

    inputs = keras.Input(shape=INPUT_SHAPE, name="images")
    x = aug(inputs) if aug is not None else inputs
    for i, (n_filters, convs) in enumerate(VGG_BLOCKS, start=1):
        x = _conv_block(
            x,
            n_filters,
            convs=convs,
            kernel_size=3,
            padding="same",
            batch_norm="end",
            pool_size=2,
            dropout=0.0,
            seeds=seeds,
            name=f"block{i}",
        )
    outputs = _classifier(
        x,
        num_classes,
        pooling="flatten",
        dense_units=(dense_units,),
        activation=activation,
        input_dropout=dropout,
        hidden_dropout=0.0,
        seeds=seeds,
    )
    return keras.Model(inputs, outputs, name=name)


def _conv_block(
    x: keras.KerasTensor,
    filters: int,
    *,
    convs: int,
    kernel_size: int,
    padding: str,
    batch_norm: str,
    pool_size: int,
    dropout: float,
    seeds: Iterator[int | None],
    name: str,
) -> keras.KerasTensor:
    """``convs`` convolutions, then max-pooling (and dropout).

    ``batch_norm``: ``"none"``; ``"each"``: Conv (no bias) -> BN -> ReLU for
    every convolution; ``"end"``: Conv+ReLU each, one BN before the pooling
    (seed 002).
    """
    for i in range(1, convs + 1):
        suffix = str(i) if convs > 1 else ""
        if batch_norm == "each":
            x = keras.layers.Conv2D(
                filters,
                kernel_size,
                padding=padding,
                use_bias=False,
                kernel_initializer=_glorot(seeds),
                name=f"{name}_conv{suffix}",
            )(x)
            x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn{suffix}")(x)
            x = keras.layers.Activation("relu", name=f"{name}_relu{suffix}")(x)
        else:
            x = keras.layers.Conv2D(
                filters,
                kernel_size,
                padding=padding,
                activation="relu",
                kernel_initializer=_glorot(seeds),
                name=f"{name}_conv{suffix}",
            )(x)
    if batch_norm == "end":
        x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    x = keras.layers.MaxPooling2D(pool_size, name=f"{name}_pool")(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, seed=next(seeds), name=f"{name}_dropout")(x)
    return x


def _classifier(
    x: keras.KerasTensor,
    num_classes: int,
    *,
    pooling: str | None,
    dense_units: Sequence[int],
    activation: str,
    input_dropout: float,
    hidden_dropout: float,
    seeds: Iterator[int | None],
) -> keras.KerasTensor:
    """[Flatten | GAP] -> [Dropout] -> (Dense -> [Dropout]) * n -> Dense softmax."""
    if pooling == "flatten":
        x = keras.layers.Flatten(name="flatten")(x)
    elif pooling == "gap":
        x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    if input_dropout > 0:
        x = keras.layers.Dropout(input_dropout, seed=next(seeds), name="dropout")(x)
    for i, units in enumerate(dense_units, start=1):
        x = keras.layers.Dense(
            units, activation=activation, kernel_initializer=_glorot(seeds), name=f"dense{i}"
        )(x)
        if hidden_dropout > 0:
            x = keras.layers.Dropout(hidden_dropout, seed=next(seeds), name=f"dropout{i}")(x)
    return keras.layers.Dense(
        num_classes, activation="softmax", kernel_initializer=_glorot(seeds), name="predictions"
    )(x)


# ----------------------------------------------------------------------------
# Transfer learning
# ----------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="cifarlab")
class BackbonePreprocess(keras.layers.Layer):
    """Apply a backbone's own ``keras.applications.<module>.preprocess_input``.

    Takes images in [0, 255]. For ``efficientnet_b0`` it passes the images
    through unchanged: that model rescales inside itself.

    Args:
        backbone: A key of ``BACKBONES``.
        **kwargs: Standard layer arguments (``name``, ...).
    """

    def __init__(self, backbone: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.backbone = _check_choice("backbone", backbone, BACKBONES)

    def call(self, inputs: Any) -> Any:
        module = getattr(keras.applications, BACKBONES[self.backbone].module)
        return module.preprocess_input(inputs)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "backbone": self.backbone}


def build_transfer_model(
    num_classes: int,
    *,
    backbone: str = "mobilenet_v2",
    weights: str | os.PathLike[str] | None = "imagenet",
    input_size: int | None = None,
    head: str = "gap",
    dropout: float | None = None,
    trainable: bool = False,
    augment: keras.layers.Layer | str | None = None,
    seed: int | None = None,
    name: str | None = None,
) -> keras.Model:
    """Build a pretrained backbone plus a new classifier head, for 32x32 images.

    The model is ``images -> [augment] -> features -> head``:

    - ``features`` (a sub-model, frozen unless ``trainable``): Rescaling(255)
      -> Resizing(input_size) -> the backbone's ``preprocess_input`` -> the
      backbone without its ImageNet top -> (GlobalAveragePooling2D for the
      ``"gap"`` head). The resize happens inside the model, one batch at a time,
      so the data set stays 32x32 in memory.
    - ``head`` (a sub-model): ``"gap"``: Dropout -> Dense softmax on the pooled
      features; ``"seed001"`` (seed 001's head): Flatten -> Dense 512 ReLU ->
      Dropout -> Dense softmax on the feature map.

    Train the head alone quickly with ``extract_features`` and ``get_head``; for
    fine-tuning, see ``unfreeze_top``. Seed 001 is ``build_transfer_model(5,
    backbone="vgg16", input_size=224, head="seed001")``.

    Working offline: ``weights="imagenet"`` downloads the official file into the
    Keras cache (``~/.keras/models/``) the first time. Without network, put that
    file there by hand (its name is in ``BACKBONES[name].weights_file``), or pass
    its path as ``weights``. For ``efficientnet_b0`` prefer the cache: Keras adds
    a small ImageNet rescaling to that model only when ``weights="imagenet"``.

    Args:
        num_classes: Number of classes (at least 2).
        backbone: One of ``BACKBONES``: ``efficientnet_b0``, ``mobilenet_v2``,
            ``resnet50``, ``vgg16``.
        weights: ``"imagenet"``, the path of a ``.weights.h5`` or ``.h5`` file
            holding the weights of that backbone without its top (e.g. saved with
            ``get_backbone(model).save_weights(...)``, or the official file), or
            None for random initial weights (for training from scratch or offline
            tests; random MobileNetV2/EfficientNet features are nearly all zero).
        input_size: Side of the square images the backbone sees, at least 32;
            None uses ``BACKBONES[backbone].default_size``. MobileNetV2's ImageNet
            weights exist only for 96, 128, 160, 192 and 224.
        head: One of ``HEADS``.
        dropout: Dropout rate of the head in [0, 1); None: 0.2 for ``"gap"``,
            0.5 for ``"seed001"``.
        trainable: Make the whole feature extractor trainable (for training from
            scratch with ``weights=None``; to fine-tune pretrained weights use
            ``unfreeze_top``).
        augment: Augmentation layer or preset name placed before the feature
            extractor (used only when the full model is trained).
        seed: Seed of the head's initial weights, its dropout and a preset
            augmentation. A randomly initialised backbone follows Keras' global
            seed (``cifarlab.set_seed``).
        name: Model name; default ``"<backbone>_transfer"``.

    Returns:
        An uncompiled ``keras.Model`` from (None, 32, 32, 3) to (None, num_classes).

    Raises:
        ValueError: unknown backbone or head, bad num_classes, input_size or
            dropout, or a weights file that does not fit the backbone.
        TypeError: arguments of the wrong type.
        FileNotFoundError: a weights file that does not exist.
        WeightsUnavailableError: ImageNet weights that cannot be downloaded.

    Example:
        >>> model = build_transfer_model(5, backbone="mobilenet_v2", weights=None,
        ...                              input_size=64)
        >>> model.input_shape, model.output_shape
        ((None, 32, 32, 3), (None, 5))
    """
    num_classes = _check_num_classes(num_classes)
    backbone = _check_choice("backbone", backbone, BACKBONES)
    head = _check_choice("head", head, HEADS)
    spec = BACKBONES[backbone]
    size = _check_input_size(input_size, backbone, spec, weights)
    if dropout is None:
        dropout = 0.2 if head == "gap" else 0.5
    dropout = _check_rate("dropout", dropout)
    if not isinstance(trainable, bool):
        raise TypeError(f"`trainable` must be True or False. Received: trainable={trainable!r}.")
    weights_path = _check_weights(weights)
    seeds = _seed_stream(seed)
    aug = _augment_layer(augment, seed)

    base = _build_backbone(backbone, spec, size, weights, weights_path)
    inputs = keras.Input(shape=INPUT_SHAPE, name="images")
    x = keras.layers.Rescaling(255.0, name="rescale_to_255")(inputs)
    x = keras.layers.Resizing(size, size, name="resize")(x)
    x = BackbonePreprocess(backbone, name="preprocess")(x)
    x = base(x)
    if head == "gap":
        x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    features = keras.Model(inputs, x, name="features")
    features.trainable = trainable

    head_inputs = keras.Input(shape=features.output_shape[1:], name="head_input")
    if head == "gap":
        head_outputs = _classifier(
            head_inputs,
            num_classes,
            pooling=None,
            dense_units=(),
            activation="relu",
            input_dropout=dropout,
            hidden_dropout=0.0,
            seeds=seeds,
        )
    else:
        head_outputs = _classifier(
            head_inputs,
            num_classes,
            pooling="flatten",
            dense_units=(512,),
            activation="relu",
            input_dropout=0.0,
            hidden_dropout=dropout,
            seeds=seeds,
        )
    head_model = keras.Model(head_inputs, head_outputs, name="head")

    images = keras.Input(shape=INPUT_SHAPE, name="images")
    x = aug(images) if aug is not None else images
    outputs = head_model(features(x))
    return keras.Model(images, outputs, name=name or f"{backbone}_transfer")


def get_feature_extractor(model: keras.Model) -> keras.Model:
    """Return the ``"features"`` sub-model of a ``build_transfer_model`` model.

    Example:
        >>> get_feature_extractor(model).output_shape  # doctest: +SKIP
        (None, 1280)
    """
    if isinstance(model, keras.Model) and model.name == "features":
        return model
    return _sub_model(model, "features")


def get_head(model: keras.Model) -> keras.Model:
    """Return the ``"head"`` sub-model of a ``build_transfer_model`` model.

    The head is shared with the full model: training it (e.g. on cached
    features) changes the full model's predictions.

    Example:
        >>> head = get_head(model)  # doctest: +SKIP
        >>> head.compile("adam", "sparse_categorical_crossentropy")  # doctest: +SKIP
        >>> head.fit(extract_features(model, x_train), y_train, epochs=10)  # doctest: +SKIP
    """
    return _sub_model(model, "head")


def get_backbone(model: keras.Model) -> keras.Model:
    """Return the ``keras.applications`` backbone inside a transfer model.

    Accepts the full model or its ``"features"`` sub-model.

    Example:
        >>> get_backbone(model).save_weights("backbone.weights.h5")  # doctest: +SKIP
    """
    features = get_feature_extractor(model)
    for layer in features.layers:
        if isinstance(layer, keras.Model):
            return layer
    raise ValueError(f"The 'features' sub-model of {model.name!r} holds no backbone model.")


def extract_features(
    model: keras.Model,
    images: np.ndarray,
    *,
    batch_size: int = 64,
    verbose: int = 0,
) -> np.ndarray:
    """Run the frozen feature extractor over images, one batch at a time.

    Compute the features once, then train the head on them for many epochs:
    much faster on a CPU than running the backbone every epoch. Images are
    converted (and resized inside the model) batch by batch, so memory holds
    only the 32x32 images and the features.

    Args:
        model: A model from ``build_transfer_model`` or its ``"features"`` sub-model.
        images: ``uint8`` images in 0..255 or float images in [0, 1], shape
            (N, 32, 32, 3).
        batch_size: Images per batch.
        verbose: Keras progress bar (0: silent, 1: bar).

    Returns:
        float32 array of shape (N, *features.output_shape[1:]), e.g. (N, 1280)
        for mobilenet_v2 with the ``"gap"`` head.

    Raises:
        ValueError: for images of the wrong shape, empty, or floats outside [0, 1].
        TypeError: for images of another dtype, or a bad batch size.

    Example:
        >>> train_features = extract_features(model, x_train)  # doctest: +SKIP
        >>> get_head(model).fit(train_features, y_train, epochs=20)  # doctest: +SKIP
    """
    features = get_feature_extractor(model)
    batch_size = _check_positive_int("batch_size", batch_size)
    images = np.asarray(images)
    expected = tuple(features.input_shape[1:])
    if images.ndim != 4 or images.shape[1:] != expected:
        raise ValueError(
            f"`images` must have shape (N, {', '.join(map(str, expected))}). "
            f"Received: images.shape={images.shape}."
        )
    if len(images) == 0:
        raise ValueError("`images` is empty: there is nothing to extract features from.")
    if images.dtype == np.uint8:
        scale = 1.0 / 255.0
    elif np.issubdtype(images.dtype, np.floating):
        low, high = float(images.min()), float(images.max())
        if not (low >= 0.0 and high <= 1.0):
            raise ValueError(
                "Float `images` must be scaled to [0, 1]. Received values in "
                f"[{low:g}, {high:g}]: divide 0..255 images by 255, or pass them as uint8."
            )
        scale = 1.0
    else:
        raise TypeError(
            "`images` must be uint8 (0..255) or float in [0, 1]. "
            f"Received: images.dtype={images.dtype}."
        )
    dataset = (
        tf.data.Dataset.from_tensor_slices(images)
        .batch(batch_size)
        .map(lambda batch: tf.cast(batch, tf.float32) * scale)
        .prefetch(tf.data.AUTOTUNE)
    )
    return np.asarray(features.predict(dataset, verbose=verbose), dtype=np.float32)


def freeze_backbone(model: keras.Model) -> keras.Model:
    """Freeze the whole feature extractor (feature-extraction mode).

    Batch normalization layers of a frozen backbone run in inference mode.
    Compile the model again afterwards (``cifarlab.training`` does) so that
    training sees the change.

    Args:
        model: A model from ``build_transfer_model``.

    Returns:
        The same model, for chaining.

    Example:
        >>> freeze_backbone(model).get_layer("features").trainable  # doctest: +SKIP
        False
    """
    get_feature_extractor(model).trainable = False
    return model


def unfreeze_top(
    model: keras.Model,
    n_layers: int,
    *,
    learning_rate: float = 1e-5,
    freeze_batch_norm: bool = True,
) -> keras.Model:
    """Make the top ``n_layers`` of the backbone trainable and recompile.

    Standard Keras fine-tuning: first train the head with the backbone frozen,
    then unfreeze its top layers and train on with a low learning rate.
    Batch normalization layers stay frozen (and in inference mode) unless
    ``freeze_batch_norm=False``, so their ImageNet statistics are not destroyed
    by small batches. The model is compiled with Adam(``learning_rate``),
    ``sparse_categorical_crossentropy`` and accuracy.

    Args:
        model: A model from ``build_transfer_model``.
        n_layers: Number of backbone layers, counted from the top, to unfreeze
            (0 to ``len(get_backbone(model).layers)``).
        learning_rate: Adam learning rate (> 0), typically 1e-5 to 1e-4.
        freeze_batch_norm: Keep batch normalization layers frozen.

    Returns:
        The same model, compiled.

    Raises:
        ValueError: for n_layers or learning_rate out of range.
        TypeError: for arguments of the wrong type.

    Example:
        >>> model = unfreeze_top(model, 20, learning_rate=1e-5)  # doctest: +SKIP
        >>> model.fit(train_ds, epochs=3)  # doctest: +SKIP
    """
    base = get_backbone(model)
    layers = base.layers
    if isinstance(n_layers, bool) or not isinstance(n_layers, (int, np.integer)):
        raise TypeError(f"`n_layers` must be an integer. Received: n_layers={n_layers!r}.")
    if not 0 <= n_layers <= len(layers):
        raise ValueError(
            f"Expected `n_layers` in [0, {len(layers)}] (the backbone {base.name!r} has "
            f"{len(layers)} layers). Received: n_layers={n_layers}."
        )
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float, np.floating)):
        raise TypeError(
            f"`learning_rate` must be a number. Received: learning_rate={learning_rate!r}."
        )
    if not 0 < learning_rate < float("inf"):
        raise ValueError(f"Expected `learning_rate` > 0. Received: learning_rate={learning_rate}.")

    get_feature_extractor(model).trainable = True  # also sets every nested layer
    first_trainable = len(layers) - int(n_layers)
    for index, layer in enumerate(layers):
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = index >= first_trainable and not (freeze_batch_norm and is_bn)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def _build_backbone(
    backbone: str,
    spec: BackboneSpec,
    size: int,
    weights: object,
    weights_path: str | None,
) -> keras.Model:
    """Build the backbone without its top and load the requested weights."""
    constructor = getattr(keras.applications, spec.constructor)
    input_shape = (size, size, 3)
    if weights == "imagenet":
        _download_imagenet_weights(backbone, spec, size)
        return constructor(include_top=False, weights="imagenet", input_shape=input_shape)
    model = constructor(include_top=False, weights=None, input_shape=input_shape)
    if weights_path is not None:
        _load_backbone_weights(model, weights_path, backbone, spec, size)
    return model


def _keras_cache_dir() -> str:
    """Folder where ``keras.utils.get_file`` caches model weights."""
    try:  # Keras reads KERAS_HOME once, when it is imported.
        from keras.src.backend.config import keras_home

        home = keras_home()
    except ImportError:  # pragma: no cover - private Keras API moved
        home = os.environ.get("KERAS_HOME", os.path.join("~", ".keras"))
    return os.path.join(os.path.expanduser(home), "models")


def _download_imagenet_weights(backbone: str, spec: BackboneSpec, size: int) -> None:
    """Fetch the official weights into the Keras cache, or explain how to work offline."""
    file_name = spec.weights_file.format(size=size)
    url = spec.weights_url + file_name
    try:
        keras.utils.get_file(file_name, url, cache_subdir="models")
    except Exception as err:  # get_file raises a bare Exception("URL fetch failure ...")
        raise WeightsUnavailableError(
            f"Could not download the ImageNet weights of {backbone} ({err}). To work "
            f"offline, either: (1) download {url} elsewhere and copy it, named exactly "
            f"{file_name!r}, into the Keras cache {_keras_cache_dir()}/, then "
            f"weights='imagenet' works offline; or (2) pass weights='/path/to/{file_name}'; "
            "or (3) pass weights=None to start from random weights."
        ) from err


def _load_backbone_weights(
    model: keras.Model, path: str, backbone: str, spec: BackboneSpec, size: int
) -> None:
    """Load a weights file into the backbone, with a clear error if it does not fit."""
    advice = (
        f"The file must hold the weights of a {backbone} backbone without its top "
        f"(keras.applications.{spec.constructor}(include_top=False)), e.g. saved with "
        f"get_backbone(model).save_weights('{backbone}.weights.h5'), or the official file "
        f"{spec.weights_file.format(size=size)!r}."
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_weights(path)
        except (ValueError, KeyError, OSError) as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ValueError(
                f"The weights file {path!r} does not fit the {backbone} backbone: {reason} {advice}"
            ) from err
    skipped = [w for w in caught if "could not be loaded" in str(w.message).lower()]
    skipped += [w for w in caught if str(w.message).startswith("Skipping")]
    if skipped:
        raise ValueError(
            f"The weights file {path!r} does not fit the {backbone} backbone: "
            f"{str(skipped[0].message).splitlines()[0]} {advice}"
        )
    for warning in caught:  # pass the other warnings on, under the usual filters
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)


def _sub_model(model: keras.Model, name: str) -> keras.Model:
    """Return the nested model called ``name`` with a clear error if it is missing."""
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"Expected a keras.Model from build_transfer_model. Received: {type(model).__name__}."
        )
    try:
        layer = model.get_layer(name)
    except ValueError:
        layer = None
    if not isinstance(layer, keras.Model):
        raise ValueError(
            f"Model {model.name!r} has no sub-model named {name!r}: expected a model from "
            "build_transfer_model (images -> 'features' -> 'head'). Its layers are: "
            f"{', '.join(sub.name for sub in model.layers)}."
        )
    return layer


# ----------------------------------------------------------------------------
# Validation helpers
# ----------------------------------------------------------------------------


def _check_num_classes(num_classes: object) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise TypeError(
            f"`num_classes` must be an integer >= 2. Received: num_classes={num_classes!r} "
            f"of type {type(num_classes).__name__}."
        )
    if num_classes < 2:
        raise ValueError(f"Expected `num_classes` >= 2. Received: num_classes={num_classes}.")
    return int(num_classes)


def _check_positive_int(name: str, value: object) -> int:
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"`{name}` must be a positive integer. Received: {name}={value!r}."
        ) from None
    if number < 1:
        raise ValueError(f"Expected `{name}` >= 1. Received: {name}={number}.")
    return number


def _check_positive_ints(
    name: str, values: object, *, allow_empty: bool = False
) -> tuple[int, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(
            f"`{name}` must be a sequence of positive integers, e.g. (32, 64). "
            f"Received: {name}={values!r}."
        )
    values = tuple(values)
    if not values and not allow_empty:
        raise ValueError(f"`{name}` needs at least one value. Received: {name}={values}.")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"`{name}` must contain integers. Received: {name}={values!r}.")
        if value < 1:
            raise ValueError(f"`{name}` must contain integers >= 1. Received: {name}={values}.")
    return tuple(int(value) for value in values)


def _check_rate(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
        raise TypeError(f"`{name}` must be a number in [0, 1). Received: {name}={value!r}.")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"Expected `{name}` in [0, 1). Received: {name}={value}.")
    return float(value)


def _check_choice(name: str, value: object, valid: Iterable[str]) -> str:
    valid = list(valid)
    if isinstance(value, str) and value in valid:
        return value
    hint = ""
    if isinstance(value, str):
        close = difflib.get_close_matches(value.lower(), valid, n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"Unknown {name} {value!r}.{hint} Valid: {', '.join(valid)}.")


def _check_paddings(padding: object, n_blocks: int) -> tuple[str, ...]:
    paddings = (padding,) * n_blocks if isinstance(padding, str) else padding
    if not isinstance(paddings, Iterable):
        raise TypeError(
            f"`padding` must be 'valid', 'same' or one of them per block. Received: {padding!r}."
        )
    paddings = tuple(paddings)
    for value in paddings:
        _check_choice("padding", value, _PADDINGS)
    if len(paddings) != n_blocks:
        raise ValueError(
            f"`padding` needs one value per conv block ({n_blocks}). Received: padding={padding!r}."
        )
    return paddings


def _check_spatial_size(blocks: Sequence[tuple[int, str, int, int]], described: str) -> None:
    """Raise if (kernel, padding, convs, pool) blocks shrink a 32x32 image to nothing."""
    size = INPUT_SHAPE[0]
    for index, (kernel, padding, convs, pool) in enumerate(blocks, start=1):
        if padding == "valid":
            size -= convs * (kernel - 1)
        size = size // pool if size >= 1 else 0
        if size < 1:
            raise ValueError(
                f"These conv blocks shrink the 32x32 image to nothing at block {index}: "
                f"{described}. Use padding='same', smaller pool sizes or fewer blocks."
            )


def _check_activation(activation: object) -> str:
    if not isinstance(activation, str):
        raise TypeError(
            f"`activation` must be the name of a Keras activation such as 'relu'. "
            f"Received: activation={activation!r}."
        )
    try:
        keras.activations.get(activation)
    except ValueError:
        raise ValueError(
            f"Unknown activation {activation!r}. Valid: any keras.activations name, e.g. "
            "relu, sigmoid, tanh, gelu, elu, selu, swish."
        ) from None
    return activation


def _check_input_size(
    input_size: object, backbone: str, spec: BackboneSpec, weights: object
) -> int:
    if input_size is None:
        return spec.default_size
    if isinstance(input_size, bool) or not isinstance(input_size, (int, np.integer)):
        raise TypeError(
            f"`input_size` must be an integer (the side of the square image). "
            f"Received: input_size={input_size!r}."
        )
    if input_size < MIN_INPUT_SIZE:
        raise ValueError(
            f"input_size={input_size} is too small for {backbone}: keras.applications "
            f"backbones need at least {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE} pixels."
        )
    if weights == "imagenet" and spec.imagenet_sizes and input_size not in spec.imagenet_sizes:
        raise ValueError(
            f"{backbone} has ImageNet weights only for input_size in "
            f"{', '.join(map(str, spec.imagenet_sizes))}. Received: input_size={input_size}. "
            "Pick one of those sizes, or use weights=None."
        )
    return int(input_size)


def _check_weights(weights: object) -> str | None:
    """Return the path of a weights file, or None for 'imagenet' and None."""
    if weights is None or weights == "imagenet":
        return None
    if not isinstance(weights, (str, os.PathLike)):
        raise TypeError(
            "`weights` must be 'imagenet', None, or the path of a .weights.h5 / .h5 file. "
            f"Received: weights={weights!r}."
        )
    path = os.fspath(weights)
    if not os.path.isfile(path):
        hint = ""
        if difflib.get_close_matches(str(path).lower(), ["imagenet"], n=1, cutoff=0.6):
            hint = " Did you mean 'imagenet'?"
        raise FileNotFoundError(
            f"Weights file not found: {path!r}.{hint} `weights` must be 'imagenet', None, "
            "or the path of an existing .weights.h5 / .h5 file."
        )
    if not str(path).endswith(".h5"):
        raise ValueError(
            f"Weights file {path!r} must end with .weights.h5 (Keras 3) or .h5 (legacy "
            "Keras, like the official ImageNet files)."
        )
    return str(path)


def _seed_stream(seed: int | None) -> Iterator[int | None]:
    """Seeds for successive layers: seed, seed + 1, ... (or None forever)."""
    if seed is None:
        return itertools.repeat(None)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"`seed` must be an integer or None. Received: seed={seed!r}.")
    return itertools.count(int(seed))


def _glorot(seeds: Iterator[int | None]) -> keras.initializers.Initializer | str:
    """Keras' default kernel initializer, seeded from the stream when a seed is set."""
    seed = next(seeds)
    return "glorot_uniform" if seed is None else keras.initializers.GlorotUniform(seed=seed)


def _augment_layer(
    augment: keras.layers.Layer | str | None, seed: int | None
) -> keras.layers.Layer | None:
    """Check ``augment`` and return the layer to apply (built from a preset name)."""
    if augment is None:
        return None
    if isinstance(augment, str):
        return augmentation(augment, seed=0 if seed is None else seed)
    if not isinstance(augment, keras.layers.Layer):
        raise TypeError(
            "`augment` must be a Keras layer (e.g. cifarlab.augment.augmentation()), "
            f"a preset name, or None. Received: augment={augment!r}."
        )
    return augment


def layer_table(model: keras.Model):
    """One row per layer: name, type, output shape and parameters (a pandas DataFrame).

    The same information as ``model.summary()``, as a table that does not depend on
    the terminal's width, so notebooks can show it and compare it.

    Example:
        >>> print(layer_table(build_baseline_cnn(5)).to_string(index=False))
    """
    import pandas as pd

    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model. Received: {type(model).__name__}.")
    return pd.DataFrame(
        [
            (layer.name, type(layer).__name__, tuple(layer.output.shape[1:]), layer.count_params())
            for layer in model.layers
        ],
        columns=["layer", "type", "output shape", "parameters"],
    )
