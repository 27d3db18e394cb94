"""Transfer learning: ``images -> features`` (a frozen ImageNet backbone) ``-> head`` (new).

Train the head on cached features (``extract_features``, ``get_head``), then ``unfreeze_top``.
"""

import os
import warnings
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from cifarlab import _checks
from cifarlab.augment import as_layers
from cifarlab.models import INPUT_SHAPE, glorot, seed_stream

__all__ = ["BACKBONES", "HEADS", "MIN_INPUT_SIZE", "BackbonePreprocess", "BackboneSpec",
           "WeightsUnavailableError", "build_transfer_model", "extract_features",
           "freeze_backbone", "get_backbone", "get_feature_extractor", "get_head", "unfreeze_top"]

MIN_INPUT_SIZE = 32  # the smallest input keras.applications accepts for these backbones
#: "gap": pooled features, Dropout, softmax; "seed001": Flatten, Dense 512, Dropout, softmax.
HEADS: tuple[str, ...] = ("gap", "seed001")


class WeightsUnavailableError(RuntimeError):
    """The ImageNet weights of a backbone could not be downloaded."""


@dataclass(frozen=True)
class BackboneSpec:
    """A ``keras.applications`` constructor, its ``preprocess_input``'s module, default size,
    no-top weights file (``{size}``: input size), its folder, sizes with ImageNet weights."""

    constructor: str
    module: str
    default_size: int
    weights_file: str
    weights_url: str
    imagenet_sizes: tuple[int, ...] | None = None


_APPS = "https://storage.googleapis.com/tensorflow/keras-applications/"
_TF = "_weights_tf_dim_ordering_tf_kernels"  # in the official files' names
#: Default sizes suit a CPU: features of 3,000 images take 10 s (mobilenet_v2) to 2 min (vgg16).
BACKBONES: dict[str, BackboneSpec] = {
    "efficientnet_b0": BackboneSpec("EfficientNetB0", "efficientnet", 128,
                                    "efficientnetb0_notop.h5",
                                    "https://storage.googleapis.com/keras-applications/"),
    "mobilenet_v2": BackboneSpec("MobileNetV2", "mobilenet_v2", 96,
                                 f"mobilenet_v2{_TF}_1.0_{{size}}_no_top.h5",
                                 _APPS + "mobilenet_v2/", (96, 128, 160, 192, 224)),
    "resnet50": BackboneSpec("ResNet50", "resnet50", 128, f"resnet50{_TF}_notop.h5",
                             _APPS + "resnet/"),
    "vgg16": BackboneSpec("VGG16", "vgg16", 128, f"vgg16{_TF}_notop.h5", _APPS + "vgg16/"),
}


@keras.saving.register_keras_serializable(package="cifarlab")
class BackbonePreprocess(keras.layers.Layer):
    """``keras.applications.<module>.preprocess_input`` of a backbone, on images in [0, 255]."""

    def __init__(self, backbone: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.backbone = _checks.one_of("backbone", backbone, BACKBONES)

    def call(self, inputs: Any) -> Any:
        return getattr(keras.applications, BACKBONES[self.backbone].module).preprocess_input(inputs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "backbone": self.backbone}


def build_transfer_model(num_classes: int, *, backbone: str = "mobilenet_v2",
                         weights: str | os.PathLike[str] | None = "imagenet",
                         input_size: int | None = None, head: str = "gap",
                         dropout: float | None = None, trainable: bool = False,
                         augment: keras.layers.Layer | str | None = None,
                         seed: int | None = None, name: str | None = None) -> keras.Model:
    """A pretrained ``backbone`` (one of ``BACKBONES``) and a new ``head`` (one of ``HEADS``).

    ``weights``: ``"imagenet"`` (downloaded once into ``~/.keras/models/``; offline, put
    ``BACKBONES[backbone].weights_file`` there), the path of a no-top ``.weights.h5``/``.h5``
    file (e.g. from ``get_backbone(model).save_weights``), or None (random). ``input_size``:
    the side the 32x32 images are resized to, inside the model (>= 32; None: the default).
    ``dropout``: None is 0.2 for ``"gap"``, 0.5 for ``"seed001"``. ``trainable``: train the
    backbone from scratch (to fine-tune, ``unfreeze_top``). ``augment`` goes before it all.
    Seed 001: ``build_transfer_model(5, backbone="vgg16", input_size=224, head="seed001")``.
    """
    num_classes = _checks.integer("num_classes", num_classes, minimum=2)
    spec = BACKBONES[_checks.one_of("backbone", backbone, BACKBONES)]
    head = _checks.one_of("head", head, HEADS)
    size = spec.default_size if input_size is None else _checks.integer(
        "input_size", input_size, minimum=MIN_INPUT_SIZE)
    if not isinstance(trainable, bool):
        raise TypeError(f"`trainable` must be True or False. Received: trainable={trainable!r}.")
    s, aug = seed_stream(seed), as_layers(augment, seed=seed)
    base = _backbone(backbone, size, weights)  # keras.applications.X(include_top=False)
    base.trainable = trainable
    inputs = keras.Input(shape=INPUT_SHAPE, name="images")
    x = layers.Rescaling(255.0, name="rescale_to_255")(inputs)
    x = layers.Resizing(size, size, name="resize")(x)
    x = BackbonePreprocess(backbone, name="preprocess")(x)
    # Frozen, it runs in inference mode: its BatchNormalization keeps ImageNet's statistics.
    x = base(x) if trainable else base(x, training=False)
    if head == "gap":
        x = layers.GlobalAveragePooling2D(name="gap")(x)
    features = keras.Model(inputs, x, name="features")
    features.trainable = trainable  # what get_feature_extractor(model).trainable reports

    head_inputs = keras.Input(shape=features.output_shape[1:], name="head_input")
    dropout = (0.2 if head == "gap" else 0.5) if dropout is None else dropout
    if head == "gap":
        x = layers.Dropout(dropout, seed=next(s), name="dropout")(head_inputs)
    else:
        x = layers.Flatten(name="flatten")(head_inputs)
        x = layers.Dense(512, activation="relu", kernel_initializer=glorot(s), name="dense1")(x)
        x = layers.Dropout(dropout, seed=next(s), name="dropout1")(x)
    outputs = layers.Dense(num_classes, activation="softmax", kernel_initializer=glorot(s),
                           dtype="float32", name="predictions")(x)
    head_model = keras.Model(head_inputs, outputs, name="head")

    images = keras.Input(shape=INPUT_SHAPE, name="images")
    x = aug[0](images) if aug else images
    return keras.Model(images, head_model(features(x)), name=name or f"{backbone}_transfer")


def get_feature_extractor(model: keras.Model) -> keras.Model:
    """The ``"features"`` sub-model of a ``build_transfer_model`` model (or that sub-model)."""
    is_features = isinstance(model, keras.Model) and model.name == "features"
    return model if is_features else _sub_model(model, "features")


def get_head(model: keras.Model) -> keras.Model:
    """The ``"head"`` sub-model, shared: ``get_head(model).fit(features, y)`` trains ``model``."""
    return _sub_model(model, "head")


def get_backbone(model: keras.Model) -> keras.Model:
    """The ``keras.applications`` backbone inside a transfer model or its ``"features"``."""
    for layer in get_feature_extractor(model).layers:
        if isinstance(layer, keras.Model):
            return layer
    raise ValueError(f"The 'features' sub-model of {model.name!r} holds no backbone model.")


def extract_features(model: keras.Model, images: np.ndarray, *, batch_size: int = 64,
                     verbose: int | str = "auto") -> np.ndarray:
    """The frozen features (float32) of uint8 (0..255) or float ([0, 1]) images (N, 32, 32, 3):
    compute them once, then train the head on them for many epochs (fast on a CPU).
    ``verbose``: Keras's progress bar (``"auto"``), or 0 for none."""
    features = get_feature_extractor(model)
    images, expected = _checks.images(images), tuple(features.input_shape[1:])
    if images.shape[1:] != expected:
        raise ValueError(f"`images` must have shape (N, {', '.join(map(str, expected))}). "
                         f"Received: images.shape={images.shape}.")
    if images.dtype != np.uint8 and not np.issubdtype(images.dtype, np.floating):
        raise TypeError("`images` must be uint8 (0..255) or float in [0, 1]. "
                        f"Received: images.dtype={images.dtype}.")
    if images.dtype != np.uint8 and not (images.min() >= 0 and images.max() <= 1):
        raise ValueError("Float `images` must be scaled to [0, 1] (divide 0..255 images by 255) "
                         f"or be uint8. Received values in [{images.min():g}, {images.max():g}].")
    scale = 1.0 / 255.0 if images.dtype == np.uint8 else 1.0
    dataset = (tf.data.Dataset.from_tensor_slices(images)
               .batch(_checks.integer("batch_size", batch_size))
               .map(lambda batch: tf.cast(batch, tf.float32) * scale).prefetch(tf.data.AUTOTUNE))
    return np.asarray(features.predict(dataset, verbose=verbose), dtype=np.float32)


def freeze_backbone(model: keras.Model) -> keras.Model:
    """Freeze the whole feature extractor again; compile the model afterwards."""
    get_feature_extractor(model).trainable = False
    return model


def unfreeze_top(model: keras.Model, n_layers: int, *, learning_rate: float = 1e-5,
                 freeze_batch_norm: bool = True) -> keras.Model:
    """Fine-tuning: make the backbone's top ``n_layers`` trainable, compile with a low Adam
    ``learning_rate``, ``sparse_categorical_crossentropy`` and accuracy. BatchNormalization
    layers stay frozen unless ``freeze_batch_norm=False``: then their scale and offset train
    and, in Keras 3, fit's ``training=True`` reaches them despite ``base(x, training=False)``,
    so their moving statistics drift from ImageNet's (notebook 05 measures it)."""
    base = get_backbone(model)
    n_layers = _checks.integer("n_layers", n_layers, minimum=None)
    if not 0 <= n_layers <= len(base.layers):
        raise ValueError(f"Expected `n_layers` in [0, {len(base.layers)}] (the backbone "
                         f"{base.name!r} has {len(base.layers)} layers). "
                         f"Received: n_layers={n_layers}.")
    learning_rate = _checks.number("learning_rate", learning_rate, low=0, low_open=True)
    get_feature_extractor(model).trainable = True
    for index, layer in enumerate(base.layers):
        is_bn = isinstance(layer, layers.BatchNormalization)
        layer.trainable = index >= len(base.layers) - n_layers and not (freeze_batch_norm and is_bn)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _backbone(backbone: str, size: int, weights: object) -> keras.Model:
    """``keras.applications.<constructor>(include_top=False)`` with ``weights`` loaded."""
    spec = BACKBONES[backbone]
    constructor = getattr(keras.applications, spec.constructor)
    file_name, shape = spec.weights_file.format(size=size), (size, size, 3)
    if weights is None:
        return constructor(include_top=False, weights=None, input_shape=shape)
    if weights == "imagenet":
        if spec.imagenet_sizes and size not in spec.imagenet_sizes:
            raise ValueError(f"{backbone} has ImageNet weights only for input_size in "
                             f"{', '.join(map(str, spec.imagenet_sizes))}. Received: input_size="
                             f"{size}. Pick one of those sizes, or use weights=None.")
        try:
            keras.utils.get_file(file_name, spec.weights_url + file_name, cache_subdir="models")
        except Exception as err:  # get_file raises a bare Exception("URL fetch failure ...")
            cache = os.path.join(os.environ.get("KERAS_HOME", "~/.keras"), "models")
            raise WeightsUnavailableError(
                f"Could not download the ImageNet weights of {backbone} ({err}). To work "
                f"offline, either: (1) download {spec.weights_url + file_name} elsewhere and "
                f"copy it, named exactly {file_name!r}, into the Keras cache {cache}/, "
                f"then weights='imagenet' works offline; or (2) pass weights='/path/to/"
                f"{file_name}'; or (3) pass weights=None to start from random weights.") from err
        return constructor(include_top=False, weights="imagenet", input_shape=shape)
    valid = "'imagenet', None, or the path of an existing .weights.h5 / .h5 file"
    if not isinstance(weights, (str, os.PathLike)):
        raise TypeError(f"`weights` must be {valid}. Received: weights={weights!r}.")
    path = os.fspath(weights)
    if not os.path.isfile(path):
        hint = _checks.did_you_mean(path, ["imagenet"])
        raise FileNotFoundError(f"Weights file not found: {path!r}.{hint} "
                                f"`weights` must be {valid}.")
    if not path.endswith(".h5"):
        raise ValueError(f"Weights file {path!r} must end with .weights.h5 (Keras 3) or .h5 "
                         "(legacy Keras, like the official ImageNet files).")
    base = constructor(include_top=False, weights=None, input_shape=shape)
    _load_weights(base, path, backbone, file_name)
    return base


def _load_weights(base: keras.Model, path: str, backbone: str, official: str) -> None:
    """Load a weights file into the backbone; a ValueError that says why if it does not fit."""
    problem = f"The weights file {path!r} does not fit the {backbone} backbone:"
    advice = (f"It must hold a {backbone} backbone without its top (keras.applications."
              f"{BACKBONES[backbone].constructor}(include_top=False)), e.g. saved with get_backbone"
              f"(model).save_weights('{backbone}.weights.h5'), or be the official {official!r}.")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            base.load_weights(path)
        except (ValueError, KeyError, OSError) as err:
            reason = (str(err).strip() or type(err).__name__).splitlines()[0]
            raise ValueError(f"{problem} {reason} {advice}") from err
    for warning in caught:  # a weight that did not fit; pass the other warnings on
        text = str(warning.message)
        if "could not be loaded" in text.lower() or text.startswith("Skipping"):
            raise ValueError(f"{problem} {text.splitlines()[0]} {advice}")
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)


def _sub_model(model: keras.Model, name: str) -> keras.Model:
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"Expected a keras.Model from build_transfer_model. Received: {type(model).__name__}.")
    layer = next((sub for sub in model.layers if sub.name == name), None)
    if not isinstance(layer, keras.Model):
        raise ValueError(f"Model {model.name!r} has no sub-model named {name!r}: expected a model "
                         "from build_transfer_model (images -> 'features' -> 'head'). Its layers "
                         f"are: {', '.join(sub.name for sub in model.layers)}.")
    return layer
