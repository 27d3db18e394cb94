"""Data augmentation as Keras preprocessing layers, put at the front of a model.

Keras runs them only in ``fit`` (not in ``evaluate`` or ``predict``) and saves them with the
model; called directly, write ``aug(images, training=True)``. Images are float32 in [0, 1] and
stay there. ``"seed002"`` fills new border pixels with ``"nearest"``, as seed 002's
``ImageDataGenerator`` did; the other presets mirror the image (``"reflect"``).
"""

import itertools
from dataclasses import dataclass, replace

import keras
from keras import layers

from cifarlab import _checks

__all__ = ["FILL_MODES", "FLIP_MODES", "PRESETS", "AugmentSettings", "as_layers", "augmentation"]

FILL_MODES: tuple[str, ...] = ("reflect", "nearest", "wrap", "constant")
FLIP_MODES: tuple[str, ...] = ("horizontal", "vertical", "horizontal_and_vertical", "none")


@dataclass(frozen=True)
class AugmentSettings:
    """A preset: rotation in degrees either way; shift, zoom, contrast as fractions (0: off)."""

    flip: str = "horizontal"
    rotation: float = 0.0
    translation: float = 0.0
    zoom: float = 0.0
    contrast: float = 0.0
    fill_mode: str = "reflect"


#: "seed002": seed 002's ImageDataGenerator (rotation 15, shifts 0.1, horizontal flip).
PRESETS: dict[str, AugmentSettings] = {
    "seed002": AugmentSettings(rotation=15.0, translation=0.1, fill_mode="nearest"),
    "standard": AugmentSettings(rotation=15.0, translation=0.1, zoom=0.1, contrast=0.1),
    "light": AugmentSettings(translation=0.1),
}


def augmentation(preset: str = "seed002", *, seed: int | None = 0, flip: str | None = None,
                 rotation: float | None = None, translation: float | None = None,
                 zoom: float | None = None, contrast: float | None = None,
                 fill_mode: str | None = None, name: str = "augmentation") -> keras.Sequential:
    """Random layers from one of ``PRESETS``; keywords override it (0 leaves a layer out).

    ``seed`` seeds the first layer, seed + 1 the next... (None: fresh randomness). Ranges:
    ``rotation`` 0..180 degrees, ``translation`` and ``zoom`` in [0, 1), ``contrast`` in [0, 1].
    """
    given = {"flip": flip, "rotation": rotation, "translation": translation, "zoom": zoom,
             "contrast": contrast, "fill_mode": fill_mode}
    s = replace(PRESETS[_checks.one_of("augmentation preset", preset, PRESETS)],
                **{k: v for k, v in given.items() if v is not None})
    _checks.one_of("`flip`", s.flip, FLIP_MODES)
    _checks.one_of("`fill_mode`", s.fill_mode, FILL_MODES)
    for option, high in (("rotation", 180), ("translation", 1), ("zoom", 1), ("contrast", 1)):
        value = _checks.number(option, getattr(s, option), low=0, high=high)
        if value == 1 and option in ("translation", "zoom"):
            raise ValueError(f"Expected `{option}` in [0, 1). Received: {option}={value}.")
    seeds = itertools.repeat(None) if seed is None else itertools.count(
        _checks.integer("seed", seed, minimum=None))
    fill, stack = s.fill_mode, [keras.Input(shape=(None, None, 3), name="images")]
    if s.flip != "none":
        stack.append(layers.RandomFlip(s.flip, seed=next(seeds), name="flip"))
    if s.rotation:  # Keras's factor is a fraction of a full turn
        stack.append(layers.RandomRotation(s.rotation / 360.0, fill_mode=fill,
                                           seed=next(seeds), name="rotation"))
    if s.translation:
        stack.append(layers.RandomTranslation(s.translation, s.translation, fill_mode=fill,
                                              seed=next(seeds), name="translation"))
    if s.zoom:
        stack.append(layers.RandomZoom(s.zoom, fill_mode=fill, seed=next(seeds), name="zoom"))
    if s.contrast:  # value_range: clip to [0, 1] (Keras's default is [0, 255])
        stack.append(layers.RandomContrast(s.contrast, value_range=(0.0, 1.0),
                                           seed=next(seeds), name="contrast"))
    return keras.Sequential(stack, name=name)


def as_layers(augment: keras.layers.Layer | str | None, *, seed: int | None) -> list:
    """A model builder's ``augment`` (a layer, a preset name or None) as a list of layers."""
    if isinstance(augment, str):
        augment = augmentation(augment, seed=0 if seed is None else seed)
    if augment is not None and not isinstance(augment, keras.layers.Layer):
        raise TypeError("`augment` must be a Keras layer (e.g. cifarlab.augment.augmentation()), "
                        f"a preset name, or None. Received: augment={augment!r}.")
    return [] if augment is None else [augment]
