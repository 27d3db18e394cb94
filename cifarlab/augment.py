"""Data augmentation as Keras preprocessing layers.

Augmentation here is a small ``keras.Sequential`` of random layers. Put it at
the front of a model (``cifarlab.models.build_cnn(..., augment=aug)``) or map it
over a *batched* ``tf.data`` pipeline (``cifarlab.data.make_dataset(...,
augment=aug)``). Inside a model Keras runs the random layers only in training
(``model.fit``), so ``evaluate`` and ``predict`` see the original images, and the
augmentation travels with a saved ``.keras`` model. Called directly, the layers
augment unless told ``training=False``: write ``aug(images, training=True)`` or
``aug(images, training=False)`` to be explicit.

Images are float32 in [0, 1] (what ``cifarlab.data`` produces) and stay in
[0, 1]: rotation, translation and zoom only resample existing pixels, and
``RandomContrast`` is told the value range so it clips to [0, 1].

Fill mode: pixels that a rotation, shift or zoom brings in from outside the
image are filled with ``"nearest"`` (repeat the edge pixel) in the ``"seed002"``
preset, because that is the default of the ``ImageDataGenerator`` seed 002
used, and with ``"reflect"`` (mirror the image, the Keras default) in the other
presets, which shows fewer streaks on 32x32 images. Override with ``fill_mode=``.

Each geometric layer resamples the image on its own, so a rotation followed by
a shift blurs a little more than ``ImageDataGenerator``'s single combined
transform; the random ranges are the same.

Example:
    >>> from cifarlab.augment import augmentation
    >>> aug = augmentation("seed002", seed=0)
    >>> [layer.name for layer in aug.layers]
    ['flip', 'rotation', 'translation']
"""

from __future__ import annotations

import difflib
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass, replace

import keras

__all__ = ["FILL_MODES", "FLIP_MODES", "PRESETS", "AugmentSettings", "augmentation"]

#: What ``fill_mode=`` accepts (Keras' own names).
FILL_MODES: tuple[str, ...] = ("reflect", "nearest", "wrap", "constant")

#: What ``flip=`` accepts; ``"none"`` switches flipping off.
FLIP_MODES: tuple[str, ...] = ("horizontal", "vertical", "horizontal_and_vertical", "none")


@dataclass(frozen=True)
class AugmentSettings:
    """The random ranges of one augmentation preset.

    Attributes:
        flip: One of ``FLIP_MODES``.
        rotation: Largest rotation in degrees, either way (15 means -15..+15).
        translation: Largest shift as a fraction of height and width, either way.
        zoom: Largest zoom in or out as a fraction of the size (0 switches it off).
        contrast: Contrast factor range, 1 - contrast .. 1 + contrast (0: off).
        fill_mode: How pixels brought in from outside the image are filled.
    """

    flip: str = "horizontal"
    rotation: float = 0.0
    translation: float = 0.0
    zoom: float = 0.0
    contrast: float = 0.0
    fill_mode: str = "reflect"


#: The named presets. ``"seed002"`` is exactly seed 002's
#: ``ImageDataGenerator(rotation_range=15, width_shift_range=0.1,
#: height_shift_range=0.1, horizontal_flip=True)``.
PRESETS: dict[str, AugmentSettings] = {
    "seed002": AugmentSettings(
        flip="horizontal", rotation=15.0, translation=0.1, fill_mode="nearest"
    ),
    "standard": AugmentSettings(
        flip="horizontal", rotation=15.0, translation=0.1, zoom=0.1, contrast=0.1
    ),
    "light": AugmentSettings(flip="horizontal", translation=0.1),
}


def augmentation(
    preset: str = "seed002",
    *,
    seed: int | None = 0,
    flip: str | None = None,
    rotation: float | None = None,
    translation: float | None = None,
    zoom: float | None = None,
    contrast: float | None = None,
    fill_mode: str | None = None,
    name: str = "augmentation",
) -> keras.Sequential:
    """Build a random augmentation block from a preset, with optional overrides.

    The block accepts batches of float images in [0, 1] of any height and
    width, shape ``(batch, height, width, 3)``, and returns the same shape and
    dtype. Each layer draws its own random numbers from ``seed``: two blocks
    built with the same seed produce the same sequence of augmentations.

    Args:
        preset: One of ``PRESETS``: ``"seed002"`` (flip, rotation 15 degrees,
            shift 0.1, as seed 002), ``"standard"`` (``"seed002"`` plus zoom 0.1
            and contrast 0.1), ``"light"`` (flip and shift 0.1).
        seed: Seed of the first layer; the following layers use seed + 1, ...
            None draws fresh randomness every time the block is built.
        flip: Override the preset's flip, one of ``FLIP_MODES``.
        rotation: Override the largest rotation, in degrees (0 to 180).
        translation: Override the largest shift, a fraction in [0, 1).
        zoom: Override the largest zoom, a fraction in [0, 1).
        contrast: Override the contrast range, a fraction in [0, 1].
        fill_mode: Override how new border pixels are filled, one of
            ``FILL_MODES``.
        name: Name of the returned ``keras.Sequential``.

    Returns:
        A ``keras.Sequential`` with an input of shape ``(None, None, 3)``; its
        layers are named ``flip``, ``rotation``, ``translation``, ``zoom``,
        ``contrast`` (those with a non-zero range only).

    Raises:
        ValueError: for an unknown preset or option, or a range out of bounds.
        TypeError: for a seed that is not an integer or a range that is not a number.

    Example:
        >>> import numpy as np
        >>> aug = augmentation("standard", rotation=10, seed=1)
        >>> images = np.random.default_rng(0).random((8, 32, 32, 3), dtype="float32")
        >>> aug(images, training=True).shape
        TensorShape([8, 32, 32, 3])
    """
    settings = _settings(
        preset,
        flip=flip,
        rotation=rotation,
        translation=translation,
        zoom=zoom,
        contrast=contrast,
        fill_mode=fill_mode,
    )
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"`seed` must be an integer or None. Received: seed={seed!r}.")
    seeds = itertools.count(seed) if seed is not None else itertools.repeat(None)

    layers: list[keras.layers.Layer] = [keras.Input(shape=(None, None, 3), name="images")]
    if settings.flip != "none":
        layers.append(keras.layers.RandomFlip(settings.flip, seed=next(seeds), name="flip"))
    if settings.rotation > 0:
        layers.append(
            keras.layers.RandomRotation(
                settings.rotation / 360.0,  # Keras' factor is a fraction of a full turn
                fill_mode=settings.fill_mode,
                seed=next(seeds),
                name="rotation",
            )
        )
    if settings.translation > 0:
        layers.append(
            keras.layers.RandomTranslation(
                settings.translation,
                settings.translation,
                fill_mode=settings.fill_mode,
                seed=next(seeds),
                name="translation",
            )
        )
    if settings.zoom > 0:
        layers.append(
            keras.layers.RandomZoom(
                settings.zoom, fill_mode=settings.fill_mode, seed=next(seeds), name="zoom"
            )
        )
    if settings.contrast > 0:
        # value_range tells RandomContrast to clip to [0, 1] (its default is [0, 255]).
        layers.append(
            keras.layers.RandomContrast(
                settings.contrast, value_range=(0.0, 1.0), seed=next(seeds), name="contrast"
            )
        )
    return keras.Sequential(layers, name=name)


def _settings(preset: str, **overrides: float | str | None) -> AugmentSettings:
    """Look up a preset, apply the non-None overrides and validate the result."""
    if not isinstance(preset, str) or preset not in PRESETS:
        raise ValueError(
            f"Unknown augmentation preset {preset!r}."
            f"{_did_you_mean(preset, PRESETS)} Valid: {', '.join(PRESETS)}."
        )
    settings = replace(PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None})
    for option, valid in (("flip", FLIP_MODES), ("fill_mode", FILL_MODES)):
        value = getattr(settings, option)
        if value not in valid:
            raise ValueError(
                f"Unknown `{option}` {value!r}.{_did_you_mean(value, valid)} "
                f"Valid: {', '.join(valid)}."
            )
    bounds = {
        "rotation": (0.0, 180.0, "[0, 180] degrees", True),
        "translation": (0.0, 1.0, "[0, 1)", False),
        "zoom": (0.0, 1.0, "[0, 1)", False),
        "contrast": (0.0, 1.0, "[0, 1]", True),
    }
    for option, (low, high, text, high_ok) in bounds.items():
        value = getattr(settings, option)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"`{option}` must be a number in {text}. Received: {option}={value!r}.")
        in_range = low <= value <= high if high_ok else low <= value < high
        if not (math.isfinite(value) and in_range):
            raise ValueError(f"Expected `{option}` in {text}. Received: {option}={value!r}.")
    return settings


def _did_you_mean(name: object, valid: Iterable[str]) -> str:
    """Return " Did you mean 'x'?" for the closest valid name, or ""."""
    if not isinstance(name, str):
        return ""
    close = difflib.get_close_matches(name, list(valid), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""
