"""Checks of notebook 03 (data augmentation): a pipeline by what it does to images with
``training=True`` and ``False`` and by its settings against :data:`cifarlab.augment.PRESETS`;
a model by its predictions. See :mod:`cifarlab.exercises`."""

import contextlib
import math
from typing import Any

import numpy as np

from cifarlab import augment, models
from cifarlab.exercises._core import (
    Exercises,
    NotYet,
    _layers,
    expect,
    is_model,
    model_difference,
    model_problem,
    probe_images,
)

exercises = Exercises("03_augmentation")
record_results, hint, summary = exercises.record_results, exercises.hint, exercises.summary

GEOMETRIC = ("RandomRotation", "RandomTranslation", "RandomZoom")  # they fill new pixels
ACTIVE = "augmentation active at prediction"


def _is_random(layer: Any) -> bool:
    return type(layer).__name__.startswith("Random")


def _amount(value: Any) -> float:
    """A Keras factor (a number or a (low, high) pair) as its largest size."""
    values = value if isinstance(value, (list, tuple)) else (value,)
    return max((abs(float(v)) for v in values if v is not None), default=0.0)


@contextlib.contextmanager
def _seeds_kept(layer: Any):
    """Run ``layer`` without moving its random generators on (training stays as it was)."""
    states = [v for v in getattr(layer, "variables", []) or []
              if "seed_generator_state" in str(getattr(v, "path", v.name))]
    saved = [np.asarray(v.value) for v in states]
    try:
        yield
    finally:
        for v, value in zip(states, saved, strict=True):
            v.assign(value)


def _settings(found: list) -> dict[str, Any]:
    """What a list of layers does, in the terms of :class:`cifarlab.augment.AugmentSettings`."""
    got = {"flip": "none", "rotation": 0.0, "translation": 0.0, "zoom": 0.0, "contrast": 0.0}
    for layer in found:
        config, kind = layer.get_config(), type(layer).__name__
        if kind == "RandomFlip":
            got["flip"] = config["mode"]
        elif kind == "RandomRotation":
            got["rotation"] = 360.0 * _amount(config["factor"])
        elif kind == "RandomTranslation":
            got["translation"] = max(_amount(config["height_factor"]),
                                     _amount(config["width_factor"]))
        elif kind == "RandomZoom":
            got["zoom"] = _amount(config["height_factor"])
        elif kind == "RandomContrast":
            got["contrast"] = _amount(config["factor"])
    return got


def _pipeline_problem(found: list, preset: str) -> str | None:
    """The named mistakes first, then the first setting that differs from ``preset``."""
    want = augment.PRESETS[preset]
    for layer in found:
        kind = type(layer).__name__
        if kind == "Rescaling":
            return ("it rescales the images, but they reach the model in [0, 1] already: "
                    "remove the Rescaling layer (it would also act at prediction).")
        if kind == "RandomContrast" and tuple(layer.value_range) != (0, 1):
            return (f"RandomContrast clips to value_range={tuple(layer.value_range)} (Keras's "
                    "default, for 0-255 pixels), but these images are in [0, 1]: pass "
                    "value_range=(0, 1).")
        if kind in GEOMETRIC and layer.fill_mode != want.fill_mode:
            return (f"{layer.name} fills new pixels with {layer.fill_mode!r}; the preset with "
                    f"{want.fill_mode!r}" + (" (ImageDataGenerator's default, which seed 002 "
                    "used)" if want.fill_mode == "nearest" else "") +
                    f": pass fill_mode={want.fill_mode!r}.")
        if not _is_random(layer):
            return f"it holds a {kind} ({layer.name}); an augmentation is made of Random* layers."
    got = _settings(found)
    if "vertical" in got["flip"] and "vertical" not in want.flip:
        return ("it flips images upside down: an upside-down fox is rare in photos, so the "
                "label's meaning changes. Use RandomFlip('horizontal').")
    expect(got["flip"] == want.flip, f"it flips {got['flip']!r}; the preset {want.flip!r}.")
    for key, unit, layer in (("rotation", "rotation", "RandomRotation"),
                             ("translation", "shift", "RandomTranslation"),
                             ("zoom", "zoom", "RandomZoom"),
                             ("contrast", "contrast change", "RandomContrast")):
        mine, theirs = got[key], getattr(want, key)
        if math.isclose(mine, theirs, rel_tol=1e-3, abs_tol=1e-6):
            continue
        if not theirs:
            return f"the preset has no {unit}: leave the {layer} out."
        size = f"{theirs:g} degrees" if key == "rotation" else f"{theirs:.0%}"
        if not mine:
            return f"it has no {unit}; the preset has one of up to {size}: add a {layer}."
        if key == "rotation":
            return (f"it rotates up to {mine:.3g} degrees, the preset {theirs:g}: RandomRotation"
                    f"'s factor is a fraction of a full turn, so {theirs:g} degrees is "
                    f"factor={theirs:g} / 360.")
        pixels = f" ({mine * 32:.3g} pixels)" if key in ("translation", "zoom") else ""
        return (f"its {unit} is up to {mine:.0%}{pixels}, the preset's {size}: factors are "
                "fractions (of the height and width), not pixels.")
    return None


def _as_images(images: Any, n: int = 8) -> np.ndarray:
    x = probe_images(n) if images is None else np.asarray(images)
    return x.astype("float32") / 255.0 if x.dtype == np.uint8 else x.astype("float32")


@exercises.check(1, "seed 002's augmentation as layers",
                 missing="keras.Sequential([keras.layers.RandomFlip(...), ...])",
                 hint="RandomFlip('horizontal'), RandomRotation(15 / 360, fill_mode='nearest'), "
                      "RandomTranslation(0.1, 0.1, fill_mode='nearest'), in a keras.Sequential; "
                      "give each layer a seed.")
def check_augmentation(pipeline: Any, *, preset: str = "seed002", images: Any = None,
                       name: str = "my_augmentation") -> str:
    """Check exercise 1: ``pipeline`` does what ``preset`` does, changes ``images`` (float in
    [0, 1] or uint8) with ``training=True``, keeping shape and range, and none with False."""
    import keras

    expect(not isinstance(pipeline, (list, tuple)), f"`{name}` is a list: wrap the layers in "
           "keras.Sequential([...]), so the model can hold them as one layer.")
    expect(isinstance(pipeline, keras.layers.Layer), f"`{name}` should be a Keras layer (a "
           f"keras.Sequential of Random* layers); received a {type(pipeline).__name__}.")
    found = _layers(pipeline) if isinstance(pipeline, keras.Model) else [pipeline]
    problem = _pipeline_problem(found, preset)
    expect(problem is None, f"`{name}`: {problem}")
    x = _as_images(images)
    with _seeds_kept(pipeline):
        trained = np.asarray(pipeline(x, training=True))
    expect(trained.shape == x.shape, f"with training=True `{name}` turns images of shape "
           f"{x.shape} into {trained.shape}: augmentation must keep the shape.")
    expect(trained.min() >= -1e-6 and trained.max() <= 1 + 1e-6, f"`{name}`: with "
           f"training=True the values range from {trained.min():.3g} to {trained.max():.3g}: "
           "they must stay in [0, 1].")
    expect(not np.allclose(trained, x), f"with training=True `{name}` leaves the images as "
           "they are: it does not augment.")
    expect(np.allclose(np.asarray(pipeline(x, training=False)), x, atol=1e-6), f"`{name}` "
           f"changes images with training=False too: {ACTIVE}.")
    return (f"{name} does what the {preset!r} preset does: with training=True each image "
            f"changes ({len(x)} tried, shape and [0, 1] range kept), with training=False none.")


def _without_augmentation(model: Any, x: np.ndarray) -> np.ndarray:
    """``model``'s layers in order, skipping the Random* ones, with ``training=False``."""
    for layer in _layers(model):
        if not _is_random(layer):
            x = layer(x, training=False)
    return np.asarray(x)


@exercises.check(2, "augmentation inside the model",
                 missing="keras.Sequential([keras.Input((32, 32, 3)), my_augmentation, ...])",
                 hint="keras.Input(shape=(32, 32, 3)), then my_augmentation, then the layers of "
                      "seed 000's network (notebook 01) from the first Conv2D on.")
def check_augmented_model(model: Any, *, num_classes: int, images: Any = None,
                          name: str = "aug_model") -> str:
    """Check exercise 2: ``model`` is seed 000's network with Random* layers in front that act
    only in training: with ``training=False`` it predicts, every time, what the same network
    without them predicts."""
    problem = model_problem(model, num_classes)
    expect(problem is None, f"`{name}`: {problem}")
    x = _as_images(images)
    once, again = (np.asarray(model(x, training=False)) for _ in range(2))
    expect(np.allclose(once, again, atol=1e-6), f"`{name}` predicts differently each time on "
           f"the same images: {ACTIVE} (a layer that calls it with training=True?).")
    found = _layers(model)
    random = [i for i, layer in enumerate(found) if _is_random(layer)]
    expect(random, f"`{name}` has no augmentation layer: put your pipeline (my_augmentation) "
           "right after keras.Input.")
    first = next((i for i, layer in enumerate(found) if not _is_random(layer)), len(found))
    expect(max(random) < first, f"`{name}` augments after {found[first].name}: augmentation "
           "comes first, on the images, before the first Conv2D.")
    try:
        plain = _without_augmentation(model, x)
    except Exception as err:  # not a chain of layers
        raise NotYet(f"`{name}` could not be run layer by layer ({type(err).__name__}): write "
                     "it as keras.Sequential([...]).") from None
    expect(np.allclose(once, plain, atol=1e-5), f"with training=False `{name}` does not "
           f"predict like the same network without augmentation: {ACTIVE}, or another layer "
           "in front changes the images.")
    reference = models.build_baseline_cnn(num_classes, augment=_chain(found[:first]))
    problem = model_difference(model, reference)
    expect(problem is None, f"`{name}` after the augmentation is not seed 000's network: "
           f"{problem}")
    return (f"{name} augments in training only: with training=False it predicts the same, "
            "every time, as the network without augmentation.")


def _chain(found: list):
    import keras

    return keras.Sequential([keras.Input((None, None, 3)), *found], name="augmentation")


@exercises.check(3, "predictions without augmentation",
                 missing="a function predict(model, images) -> class probabilities",
                 hint="scale the uint8 images to [0, 1] (data.scale_images), then return "
                      "model.predict(x, verbose=0): predict runs with training=False.")
def check_predict(predict: Any, model: Any, images: Any, *, name: str = "predict") -> str:
    """Check exercise 3: ``predict(model, images)`` (``images`` uint8) gives the probabilities
    ``model`` gives the scaled images with ``training=False``, the same every call."""
    expect(callable(predict), f"`{name}` should be a function predict(model, images); "
           f"received a {type(predict).__name__}.")
    expect(is_model(model), "the model to check with should be a keras.Model.")
    x = np.asarray(images)
    expect(x.dtype == np.uint8, "give the check uint8 images, as lab.x_val holds them.")
    first, second = (np.asarray(predict(model, x.copy()), dtype=np.float64) for _ in range(2))
    right = np.asarray(model(x.astype("float32") / 255.0, training=False))
    expect(first.shape == right.shape, f"`{name}` returns shape {first.shape}; it should "
           f"return one row of class probabilities per image, {right.shape}" +
           (": the probabilities, not class ids." if first.ndim == 1 else "."))
    expect(np.allclose(first, second, atol=1e-6), f"`{name}` gives different probabilities "
           f"for the same images each time: {ACTIVE}. Predict with model.predict (training="
           "False) and do not augment the images you predict.")
    raw = np.asarray(model(x.astype("float32"), training=False))
    expect(not np.allclose(first, raw, atol=1e-5), "unscaled pixels: the model was trained on "
           "images in [0, 1], and this passes 0-255. Scale them first (data.scale_images).")
    expect(np.allclose(first, right, atol=1e-5), f"`{name}` does not give the probabilities "
           "model.predict gives the scaled images: is augmentation active at prediction, or "
           "are the images changed in another way?")
    return (f"{name} gives the model's probabilities for the original images, the same on "
            "every call: augmentation stays out of prediction.")
