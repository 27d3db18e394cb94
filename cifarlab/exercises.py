"""Checks for the exercises of notebook 06: each tells the student whether the answer works.

Every check takes the student's answer first, prints one verdict and returns it:

- ``✓ ...`` and ``True`` when the answer works;
- ``Not yet: ...`` and ``False`` when the answer is missing (``None``, what the student
  version of a notebook starts with), of the wrong kind, or wrong, with a hint.

A check never raises: whatever the answer is, the notebook runs on to the end. Checks
compare with what the library computes (:mod:`cifarlab.evaluate`, :mod:`cifarlab.train`),
so they stay right on any superclass and on SYNTHETIC data.

Example::

    from cifarlab import exercises
    checks = {}
    checks["most confused pair"] = exercises.check_most_confused(most_confused_pair, evaluation)
    # ✓ fox -> possum: 9 of the 100 fox images were predicted as possum (9%), ...
"""

from __future__ import annotations

import difflib
import functools
import math
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

__all__ = [
    "NOT_YET",
    "PASSED",
    "check_better_model",
    "check_explanation",
    "check_highest_loss",
    "check_model",
    "check_most_confused",
    "check_predictions",
    "check_reloaded_model",
    "make_sample_photo",
]

#: First word of a passing verdict.
PASSED = "✓"
#: First words of a verdict that asks for more work.
NOT_YET = "Not yet:"

_INPUT_SHAPE = (32, 32, 3)
_TINY = float(np.finfo(np.float32).tiny)  # as cifarlab.evaluate floors probabilities


class _NotYet(Exception):
    """Raised inside a check to end it with a 'Not yet' verdict."""


def _fail(message: str) -> NoReturn:
    raise _NotYet(message)


def _missing(name: str, what: str) -> str:
    return (
        f"`{name}` is still None. Replace the TODO in the cell above with {what}, "
        "run that cell, then run this check again."
    )


def _verdict(check: Callable[..., str]) -> Callable[..., bool]:
    """Turn a function that returns a success message (or raises) into a polite check."""

    @functools.wraps(check)
    def wrapper(*args: Any, **kwargs: Any) -> bool:
        try:
            message = check(*args, **kwargs)
        except _NotYet as why:
            print(f"{NOT_YET} {why}", file=sys.stdout)
            return False
        except Exception as err:  # a check must never stop the notebook
            print(
                f"{NOT_YET} the check could not use your answer ({type(err).__name__}: {err}). "
                "Look at the cell above, fix it, and run this check again.",
                file=sys.stdout,
            )
            return False
        print(f"{PASSED} {message}", file=sys.stdout)
        return True

    return wrapper


# --------------------------------------------------------------------------- exercise 1


def _is_keras_model(obj: Any) -> bool:
    import keras

    return isinstance(obj, keras.Model)


def _model_problem(model: Any, num_classes: int) -> str | None:
    """Why ``model`` is not a CIFAR classifier for ``num_classes`` classes, or None."""
    if not _is_keras_model(model):
        return f"a keras.Model is needed; this is a {type(model).__name__}."
    try:
        in_shape = tuple(model.input_shape[1:])
    except (AttributeError, ValueError, TypeError):
        in_shape = None
    if in_shape != _INPUT_SHAPE:
        return (
            f"the model takes inputs of shape {in_shape}, but CIFAR images are 32x32x3: "
            "start it with keras.Input(shape=(32, 32, 3)) (the cifarlab builders do)."
        )
    try:
        out_shape = tuple(model.output_shape)
    except (AttributeError, ValueError, TypeError):
        out_shape = None
    if out_shape is None or len(out_shape) != 2 or out_shape[-1] != num_classes:
        return (
            f"the model outputs shape {out_shape}, but it must give one probability per "
            f"class: (None, {num_classes}). Build it with num_classes={num_classes} "
            "(lab.num_classes)."
        )
    probe = np.random.default_rng(0).uniform(0, 1, size=(4, *_INPUT_SHAPE)).astype("float32")
    p = np.asarray(model(probe, training=False), dtype=np.float64)
    if not np.isfinite(p).all() or p.min() < -1e-6 or not np.allclose(p.sum(axis=1), 1, atol=1e-3):
        return (
            "the model's outputs are not probabilities (each row should be >= 0 and sum "
            "to 1): end it with a Dense layer with activation='softmax'."
        )
    return None


@_verdict
def check_model(model: Any, *, num_classes: int, name: str = "better_model") -> str:
    """Check that ``model`` is a Keras classifier for 32x32x3 images and ``num_classes``.

    Args:
        model: the student's model (None in the student version).
        num_classes: the number of classes of the task (``lab.num_classes``).
        name: the variable's name, used in the messages.

    Returns:
        True when it is one (after printing the verdict).

    Example:
        >>> check_model(models.build_baseline_cnn(5), num_classes=5)
        ✓ better_model takes 32x32x3 images and outputs 5 class probabilities (159,813 ...
        True
    """
    if model is None:
        _fail(_missing(name, "a model, e.g. models.build_cnn(lab.num_classes, ...)"))
    problem = _model_problem(model, num_classes)
    if problem:
        _fail(f"`{name}`: {problem}")
    return (
        f"{name} takes 32x32x3 images and outputs {num_classes} class probabilities "
        f"({model.count_params():,} parameters)."
    )


def _val_accuracy(run: Any) -> float | None:
    best = getattr(run, "best_metrics", None) or {}
    value = best.get("val_accuracy")
    if value is None or not math.isfinite(float(value)):
        history = getattr(run, "history", None) or {}
        values = [v for v in history.get("val_accuracy", []) if math.isfinite(float(v))]
        value = max(values) if values else None
    return None if value is None else float(value)


def _data_images(run: Any, split: str) -> int | None:
    settings = getattr(run, "settings", None) or {}
    described = (settings.get("data") or {}).get(split) or {}
    images = described.get("images")
    return int(images) if isinstance(images, (int, np.integer)) else None


@_verdict
def check_better_model(
    run: Any,
    baseline: Any,
    *,
    num_classes: int,
    margin: float = 0.0,
    target: float | None = None,
    name: str = "better",
) -> str:
    """Check exercise 1: a trained model that beats the baseline on the validation split.

    Passes when ``run`` is a :class:`cifarlab.train.RunResult` whose model takes 32x32x3
    images and outputs ``num_classes`` probabilities, and whose validation accuracy (at
    its best epoch) is above the baseline's minus ``margin``, or reaches ``target``.
    When both runs were trained on arrays, they must have used as many training and
    validation images, so that the comparison is fair.

    Args:
        run: the student's run, from ``train.train(...)`` (None in the student version).
        baseline: the baseline's run, trained on the same data.
        num_classes: the number of classes (``lab.num_classes``).
        margin: how far below the baseline still passes. 0 for real runs; a smoke test
            (2 epochs on a few hundred images) cannot tell models apart, so the notebook
            allows a margin there.
        target: a validation accuracy that passes on its own (None: no target).
        name: the variable's name, used in the messages.

    Example:
        >>> check_better_model(better, baseline, num_classes=lab.num_classes)
        ✓ validation accuracy 0.742 beats the baseline's 0.668 (+0.074).
        True
    """
    if run is None:
        _fail(_missing(name, "your model, trained with train.train(...)"))
    if _is_keras_model(run):
        _fail(
            f"`{name}` is a model, not a training run. Train it and keep what train.train "
            f"returns: {name} = train.train(model, (lab.x_train, lab.y_train), "
            "(lab.x_val, lab.y_val), epochs=lab.epochs, ...)."
        )
    if not hasattr(run, "model") or not hasattr(run, "best_metrics"):
        _fail(
            f"`{name}` should be the RunResult that train.train returns; this is a "
            f"{type(run).__name__}."
        )
    problem = _model_problem(run.model, num_classes)
    if problem:
        _fail(f"`{name}.model`: {problem}")
    for split, what in (("val", "validation"), ("train", "training")):
        mine, theirs = _data_images(run, split), _data_images(baseline, split)
        if mine is not None and theirs is not None and mine != theirs:
            _fail(
                f"your run used {mine:,} {what} images, the baseline {theirs:,}. Compare "
                "on the same data: train on (lab.x_train, lab.y_train) and validate on "
                "(lab.x_val, lab.y_val), never on the test split."
            )
    acc = _val_accuracy(run)
    if acc is None:
        _fail(
            f"`{name}` recorded no validation accuracy: pass validation data "
            "(lab.x_val, lab.y_val) to train.train."
        )
    base = _val_accuracy(baseline)
    if target is not None and acc >= target:
        return f"validation accuracy {acc:.3f} reaches the target {target:.3f}."
    if base is None:
        _fail("the baseline run has no validation accuracy to compare with: run its cell.")
    if acc >= base >= 1.0:
        return f"validation accuracy {acc:.3f}, like the baseline's: nothing is left to beat."
    if acc > base - margin:
        if acc > base:
            gain = acc - base
            return f"validation accuracy {acc:.3f} beats the baseline's {base:.3f} (+{gain:.3f})."
        return (
            f"validation accuracy {acc:.3f} is within the allowed margin ({margin:.2f}) of "
            f"the baseline's {base:.3f}: too little data or too few epochs to tell the two "
            "apart. Run the notebook in full to see the real difference."
        )
    goal = f"above {base - margin:.3f}" if margin else f"above the baseline's {base:.3f}"
    if target is not None:
        goal += f" or at least {target:.3f}"
    _fail(
        f"validation accuracy {acc:.3f}; it needs to be {goal}. Ideas from notebooks "
        "02-04: batch_norm=True, padding='same', dropout=0.3, augment='standard', more "
        "epochs (early stopping ends the run when it stops improving)."
    )


# --------------------------------------------------------------------------- exercise 2


def _class_name(value: Any, class_names: Sequence[str], role: str) -> str:
    """A class given by name or id, as its name; raises _NotYet with a suggestion."""
    if isinstance(value, (bool, np.bool_)):
        _fail(f"the {role} class must be a class name or id, not {value!r}.")
    if isinstance(value, (int, np.integer)):
        if not 0 <= int(value) < len(class_names):
            _fail(
                f"the {role} class id {int(value)} is out of range: ids run from 0 to "
                f"{len(class_names) - 1}."
            )
        return class_names[int(value)]
    if isinstance(value, str):
        if value in class_names:
            return value
        key = value.strip().lower().replace(" ", "_").replace("-", "_")
        for class_name in class_names:
            if class_name.lower().replace("-", "_") == key:
                return class_name
        close = difflib.get_close_matches(value, class_names, n=1, cutoff=0.6)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        _fail(f"{value!r} is not one of the classes.{hint} Valid: {', '.join(class_names)}.")
    _fail(f"the {role} class must be a class name (str) or id (int); received {value!r}.")


def _off_diagonal(evaluation: Any) -> np.ndarray:
    cm = np.array(evaluation.confusion_matrix, dtype=np.int64, copy=True)
    np.fill_diagonal(cm, 0)
    return cm


@_verdict
def check_most_confused(pair: Any, evaluation: Any, *, name: str = "most_confused_pair") -> str:
    """Check exercise 2: the (true, predicted) pair of classes the model confuses most.

    Rows of the confusion matrix are true classes, columns predicted classes; the pair
    is the largest cell off the diagonal. Classes may be given by name or by id; when
    several pairs share the largest count, each of them passes.

    Args:
        pair: ``(true class, predicted class)`` (None in the student version).
        evaluation: the :class:`cifarlab.evaluate.Evaluation` the exercise is about.
        name: the variable's name, used in the messages.

    Example:
        >>> check_most_confused(("fox", "possum"), evaluation)
        ✓ fox -> possum: 9 of the 100 fox images were predicted as possum (9%).
        True
    """
    if pair is None:
        _fail(_missing(name, "a pair (true class, predicted class), e.g. ('fox', 'possum')"))
    if isinstance(pair, (str, bytes)) or not isinstance(pair, (Sequence, np.ndarray)):
        _fail(
            f"`{name}` should be a pair (true class, predicted class), e.g. ('fox', "
            f"'possum'); received {pair!r}."
        )
    if len(pair) != 2:
        _fail(f"`{name}` should hold 2 classes (true, predicted); it holds {len(pair)}.")
    names = tuple(evaluation.class_names)
    true_name = _class_name(pair[0], names, "true")
    pred_name = _class_name(pair[1], names, "predicted")
    t, p = names.index(true_name), names.index(pred_name)
    cm = _off_diagonal(evaluation)
    top = int(cm.max()) if cm.size else 0
    if top == 0:
        return "the model made no mistakes on these images, so no pair is confused."
    if t == p:
        _fail(
            f"({true_name!r}, {pred_name!r}) is a class with itself: the diagonal holds the "
            "correct predictions. Look off the diagonal (np.fill_diagonal(cm, 0))."
        )
    count = int(cm[t, p])
    support = int(np.asarray(evaluation.confusion_matrix)[t].sum())
    if count == top:
        return (
            f"{true_name} -> {pred_name}: {count} of the {support} {true_name} images were "
            f"predicted as {pred_name} ({count / max(support, 1):.0%})."
        )
    if int(cm[p, t]) == top:
        _fail(
            "you have the pair the other way round: rows of the confusion matrix are "
            "the true classes and columns the predicted ones, so cm[i, j] counts images "
            "of class i predicted as class j."
        )
    _fail(
        f"{true_name} images were predicted as {pred_name} {count} times, but another "
        f"pair is confused {top} times. Hint: copy evaluation.confusion_matrix, set its "
        "diagonal to 0, and find the largest cell with np.unravel_index(cm.argmax(), cm.shape)."
    )


def _mentions(text: str, class_name: str) -> bool:
    lowered = text.lower()
    variants = {class_name.lower(), class_name.lower().replace("_", " ")}
    variants |= {v.split()[0] for v in list(variants) if " " in v}  # "maple" for maple_tree
    return any(v in lowered for v in variants)


@_verdict
def check_explanation(
    text: Any, evaluation: Any, *, min_words: int = 15, name: str = "explanation"
) -> str:
    """Check that the explanation of exercise 2 is there and is about the right pair.

    A machine cannot grade an explanation; this check only makes sure it is a text of at
    least ``min_words`` words that names both classes of the most confused pair (any of
    them when several tie). Your instructor reads the rest.

    Args:
        text: the student's explanation, a string (None in the student version).
        evaluation: the Evaluation whose most confused pair is explained.
        min_words: the fewest words accepted.
        name: the variable's name, used in the messages.

    Example:
        >>> check_explanation("Foxes and possums are both small grey-brown ...", evaluation)
    """
    if text is None:
        _fail(_missing(name, 'your explanation as a string: explanation = """..."""'))
    if not isinstance(text, str):
        _fail(f"`{name}` should be a string (text in quotes); received a {type(text).__name__}.")
    words = len(text.split())
    if words < min_words:
        _fail(
            f"your explanation has {words} words; write at least {min_words}: what do the two "
            "classes look like at 32x32 pixels, in colour, shape and background?"
        )
    cm = _off_diagonal(evaluation)
    top = int(cm.max()) if cm.size else 0
    if top == 0:
        return "explanation written (the model made no mistakes to explain)."
    names = tuple(evaluation.class_names)
    pairs = [(names[i], names[j]) for i, j in zip(*np.nonzero(cm == top), strict=True)]
    for true_name, pred_name in pairs:
        if _mentions(text, true_name) and _mentions(text, pred_name):
            return (
                f"your explanation of {true_name} -> {pred_name} is written ({words} words); "
                "your instructor reads the rest."
            )
    shown = " or ".join(f"{a} -> {b}" for a, b in pairs[:3])
    _fail(f"name both classes of the most confused pair ({shown}) in your explanation.")


# --------------------------------------------------------------------------- exercise 3


def _losses(evaluation: Any) -> np.ndarray:
    p = np.asarray(evaluation.probabilities, dtype=np.float64)
    y = np.asarray(evaluation.y_true, dtype=np.int64)
    return -np.log(np.maximum(p[np.arange(len(y)), y], _TINY))


@_verdict
def check_highest_loss(
    indices: Any, evaluation: Any, *, n: int, name: str = "highest_loss_indices"
) -> str:
    """Check exercise 3: the positions of the ``n`` images with the highest loss.

    The loss of one image is ``-log(p_true)``, where ``p_true`` is the probability the
    model gave to the image's true class. Any order is accepted, and ties at the
    boundary are too: the check compares losses, not positions.

    Args:
        indices: positions in the evaluated images (a list, array or Series; None in the
            student version).
        evaluation: the Evaluation computed on those images.
        n: how many images the exercise asks for.
        name: the variable's name, used in the messages.

    Example:
        >>> check_highest_loss(evaluation.highest_loss["index"][:9], evaluation, n=9)
        ✓ these are the 9 highest-loss images (losses 6.1 down to 3.2).
        True
    """
    if indices is None:
        _fail(_missing(name, f"the positions of the {n} images with the highest loss"))
    if hasattr(indices, "columns"):
        _fail(
            f"`{name}` is a table; give only the positions, e.g. a list or a NumPy array "
            "of integers."
        )
    if isinstance(indices, (int, np.integer, str, bytes)):
        _fail(f"`{name}` should be a list of {n} positions; received {indices!r}.")
    chosen = np.asarray(list(indices))
    if chosen.ndim != 1 or (chosen.size and not np.issubdtype(chosen.dtype, np.integer)):
        _fail(
            f"`{name}` should be a flat list of integer positions; received an array of "
            f"shape {chosen.shape} and dtype {chosen.dtype}."
        )
    losses = _losses(evaluation)
    if len(chosen) != n:
        _fail(f"`{name}` holds {len(chosen)} positions; the exercise asks for {n}.")
    if chosen.min() < 0 or chosen.max() >= len(losses):
        _fail(
            f"positions must lie in 0..{len(losses) - 1} (one per evaluated image); "
            f"received {int(chosen.min())}..{int(chosen.max())}."
        )
    if len(set(chosen.tolist())) != len(chosen):
        _fail(f"`{name}` repeats a position; give {n} different images.")
    expected = np.sort(losses)[::-1][:n]
    got = np.sort(losses[chosen])[::-1]
    if np.allclose(got, expected, rtol=1e-6, atol=1e-9):
        return (
            f"these are the {n} highest-loss images (losses {expected[0]:.2f} down to "
            f"{expected[-1]:.2f}). Look at them: is the label or the model wrong?"
        )
    lowest = np.sort(losses)[:n][::-1]
    if np.allclose(got, lowest, rtol=1e-6, atol=1e-9):
        _fail(
            "these are the images with the *lowest* loss, the ones the model is surest "
            "about. Sort by loss from high to low: np.argsort(-loss)."
        )
    _fail(
        "some of these are not among the highest-loss images. The loss of image i is "
        "-log(p_true): p_true = evaluation.probabilities[np.arange(len(evaluation.y_true)), "
        "evaluation.y_true]."
    )


# --------------------------------------------------------------------------- exercise 4


@_verdict
def check_predictions(
    table: Any,
    class_names: Sequence[str],
    *,
    n_images: int | None = None,
    top_k: int | None = None,
    name: str = "my_predictions",
) -> str:
    """Check exercise 4: the table of top-k predictions for your own photos.

    Passes for the DataFrame :func:`cifarlab.evaluate.predict_images` returns: one row
    per photo (``n_images`` when given), columns ``name_1``, ``prob_1``, ... (``top_k``
    of each when given), names among ``class_names`` and probabilities in [0, 1],
    most probable first.

    Args:
        table: the student's predictions (None in the student version).
        class_names: the classes of the model, in label order (``lab.class_names``).
        n_images: how many photos were predicted.
        top_k: how many classes per photo the exercise asks for.
        name: the variable's name, used in the messages.

    Example:
        >>> check_predictions(evaluate.predict_images(model, photos, lab.class_names),
        ...                   lab.class_names, n_images=len(photos))
    """
    import pandas as pd

    if table is None:
        _fail(_missing(name, "evaluate.predict_images(model, photos, lab.class_names, top_k=3)"))
    if not isinstance(table, pd.DataFrame):
        _fail(
            f"`{name}` should be the DataFrame evaluate.predict_images returns; received a "
            f"{type(table).__name__}."
        )
    ranks = sorted(
        int(c.split("_")[1]) for c in table.columns if c.startswith("name_") and c[5:].isdigit()
    )
    if not ranks or ranks != list(range(1, len(ranks) + 1)):
        _fail(
            f"`{name}` lacks the columns name_1, prob_1, ...; make it with evaluate.predict_images."
        )
    missing = [f"prob_{r}" for r in ranks if f"prob_{r}" not in table.columns]
    if missing:
        _fail(f"`{name}` lacks the column(s) {', '.join(missing)}.")
    if top_k is not None and len(ranks) != top_k:
        _fail(
            f"`{name}` has the top {len(ranks)} classes per photo; the exercise asks for {top_k}."
        )
    if n_images is not None and len(table) != n_images:
        _fail(f"`{name}` has {len(table)} rows for {n_images} photos: one row per photo.")
    if len(table) == 0:
        _fail(f"`{name}` is empty: give predict_images at least one photo.")
    valid = set(class_names)
    for r in ranks:
        unknown = sorted({str(v) for v in table[f"name_{r}"]} - valid)
        if unknown:
            _fail(
                f"{unknown[0]!r} is not one of the model's classes ({', '.join(class_names)}): "
                "pass lab.class_names, the names of the classes the model was trained on."
            )
    probs = table[[f"prob_{r}" for r in ranks]].to_numpy(dtype=np.float64)
    if not np.isfinite(probs).all() or probs.min() < 0 or probs.max() > 1 + 1e-6:
        _fail("the probabilities must lie between 0 and 1.")
    if np.any(np.diff(probs, axis=1) > 1e-6):
        _fail("the classes of each photo should be sorted, most probable first.")
    first = table.iloc[0]
    source = f"{first['source']}: " if "source" in table.columns else ""
    return (
        f"{len(table)} photo(s) predicted, top {len(ranks)} classes each "
        f"({source}{first['name_1']} {first['prob_1']:.0%}). Is that what you see?"
    )


def make_sample_photo(path: str | os.PathLike, *, size: tuple[int, int] = (320, 240)) -> Path:
    """Draw a sample "photo" (a cartoon animal in a meadow) for exercise 4, as a PNG.

    For students without a photo at hand: it is wider than high (so cropping to a
    square matters) and far larger than 32x32 (so resizing matters), like a phone
    photo. An existing file is never replaced: it is returned as it is.

    Args:
        path: where to write the PNG (its folder is created).
        size: (width, height) in pixels, each at least 32.

    Returns:
        The path of the photo.

    Raises:
        ValueError: for a size below 32x32 or a path that is a folder.

    Example:
        >>> make_sample_photo("runs/sample_photo.png")
        PosixPath('runs/sample_photo.png')
    """
    from PIL import Image, ImageDraw

    path = Path(path)
    if path.is_dir():
        raise ValueError(f"`path` must be a file name, not a folder. Received: path={str(path)!r}.")
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 32 for v in size)
    ):
        raise ValueError(
            f"`size` must be (width, height), two integers >= 32. Received: size={size!r}."
        )
    if path.exists():
        return path
    w, h = size
    img = Image.new("RGB", (w, h), (135, 190, 235))  # sky
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, int(h * 0.62), w, h], fill=(90, 160, 70))  # meadow
    draw.ellipse([int(w * 0.80), int(h * 0.06), int(w * 0.93), int(h * 0.23)], fill=(250, 220, 80))
    cx, cy = w // 2, int(h * 0.58)
    body = (205, 110, 45)
    draw.ellipse([cx - w // 6, cy - h // 9, cx + w // 8, cy + h // 9], fill=body)  # body
    tail = [cx - w // 6 - w // 10, cy + h // 40, cx - w // 8, cy + h // 12]
    draw.ellipse(tail, fill=body)
    hx, hy, r = cx + w // 7, cy - h // 7, h // 9
    draw.ellipse([hx - r, hy - r, hx + r, hy + r], fill=body)  # head
    draw.polygon([(hx - r, hy - r // 2), (hx - r // 2, hy - 2 * r), (hx, hy - r)], fill=body)
    draw.polygon([(hx, hy - r), (hx + r // 2, hy - 2 * r), (hx + r, hy - r // 2)], fill=body)
    snout = [
        (hx + r // 2, hy - r // 3),
        (hx + (8 * r) // 5, hy + r // 4),
        (hx + r // 2, hy + r // 2),
    ]
    draw.polygon(snout, fill=(225, 140, 70))
    nose = (hx + (8 * r) // 5, hy + r // 4)
    draw.ellipse(
        [nose[0] - r // 6, nose[1] - r // 6, nose[0] + r // 6, nose[1] + r // 6], fill="black"
    )
    draw.ellipse([hx - r // 6, hy - r // 3, hx + r // 6, hy], fill=(20, 20, 20))  # eye
    for leg_x in (cx - w // 9, cx - w // 20, cx + w // 30, cx + w // 12):
        leg = [leg_x, cy + h // 14, leg_x + max(w // 60, 2), cy + h // 5]
        draw.rectangle(leg, fill=(60, 35, 20))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".png")
    os.close(fd)
    try:
        img.save(tmp, format="PNG")
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


# --------------------------------------------------------------------------- exercise 5


@_verdict
def check_reloaded_model(
    reloaded: Any,
    original: Any,
    images: np.ndarray,
    *,
    path: str | os.PathLike | None = None,
    name: str = "reloaded",
) -> str:
    """Check exercise 5: a model saved to a ``.keras`` file and loaded back predicts the same.

    Args:
        reloaded: the model loaded from the file (None in the student version).
        original: the model that was saved.
        images: a few images to compare predictions on (uint8 or float in [0, 1]).
        path: the file it was saved to; when given it must exist and end in ``.keras``.
        name: the variable's name, used in the messages.

    Example:
        >>> check_reloaded_model(keras.saving.load_model(path), model, lab.x_val[:32], path=path)
        ✓ reloaded from runs/.../my_model.keras (1.9 MB) predicts exactly like the original.
        True
    """
    from cifarlab.data import scale_images

    if path is not None:
        file = Path(path)
        if file.suffix != ".keras":
            _fail(
                f"save to a file ending in .keras (Keras 3's format, holding the architecture, "
                f"the weights and the optimizer); received {str(file)!r}."
            )
        if not file.is_file():
            _fail(f"there is no file {str(file)!r}: save the model with model.save(model_path).")
    if reloaded is None:
        _fail(_missing(name, "the model loaded back: keras.saving.load_model(model_path)"))
    if isinstance(reloaded, (str, os.PathLike)):
        _fail(
            f"`{name}` is a path; load the model from it: {name} = "
            "keras.saving.load_model(model_path)."
        )
    if not _is_keras_model(reloaded):
        _fail(f"`{name}` should be a keras.Model; received a {type(reloaded).__name__}.")
    if reloaded is original:
        _fail(
            f"`{name}` is the very model in memory, not a copy read from the file: load it "
            "with keras.saving.load_model(model_path), so you know the file works."
        )
    x = np.asarray(images)
    x = scale_images(x) if x.dtype == np.uint8 else x.astype("float32")
    mine = np.asarray(reloaded.predict(x, verbose=0))
    theirs = np.asarray(original.predict(x, verbose=0))
    if mine.shape != theirs.shape or not np.allclose(mine, theirs, atol=1e-5):
        _fail(
            "the reloaded model predicts differently from the original: did you save it "
            "before training finished, or load another file?"
        )
    where = ""
    if path is not None:
        where = f" from {path} ({Path(path).stat().st_size / 1e6:.1f} MB)"
    return f"{name}{where} predicts exactly like the original on {len(x)} images."
