"""Checks for the exercises of notebook 06: ``check_x(answer, ...)`` prints one verdict and
returns it, ``✓ ...`` (True) or ``Not yet: ...`` (False: missing, wrong kind or wrong, with a
hint). A check never raises; it compares with :mod:`cifarlab.evaluate`: any superclass works."""

import functools
import inspect
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cifarlab import evaluate, labels
from cifarlab.data import scale_images

PASSED = "✓"  # first word of a passing verdict
NOT_YET = "Not yet:"  # first words of a verdict that asks for more work


class _NotYet(Exception):
    """Ends a check with a 'Not yet' verdict."""


def _expect(ok: object, why: str) -> None:
    """The one way a check fails: ``why`` becomes the 'Not yet' verdict unless ``ok``."""
    if not ok:
        raise _NotYet(why)


def _verdict(missing: str):
    """``check`` (a success message, or _expect fails) printing one verdict, returning a bool.
    ``missing``: what replaces the TODO when the answer is None (formatted with the args)."""

    def decorate(check):
        @functools.wraps(check)
        def wrapper(*args: Any, **kwargs: Any) -> bool:
            try:
                bound = inspect.signature(check).bind(*args, **kwargs)
                bound.apply_defaults()
                answer, name = next(iter(bound.arguments.values())), bound.arguments["name"]
                _expect(answer is not None, f"`{name}` is still None. Replace the TODO in the cell "
                        f"above with {missing.format(**bound.arguments)}, run that cell, then "
                        "run this check again.")
                verdict = f"{PASSED} {check(*args, **kwargs)}"
            except _NotYet as why:
                verdict = f"{NOT_YET} {why}"
            except Exception as err:  # a check must never stop the notebook
                verdict = (f"{NOT_YET} the check could not use your answer ({type(err).__name__}"
                           f": {err}). Look at the cell above, fix it, and run this check again.")
            print(verdict)
            return verdict.startswith(PASSED)
        return wrapper
    return decorate


def _is_keras_model(obj: Any) -> bool:
    import keras  # late: checks that need no model do not load Keras
    return isinstance(obj, keras.Model)


def _model_problem(model: Any, num_classes: int) -> str | None:
    """Why ``model`` is not a CIFAR classifier for ``num_classes`` classes, or None."""
    if not _is_keras_model(model):
        return f"a keras.Model is needed; this is a {type(model).__name__}."
    try:
        inputs, outputs = tuple(model.input_shape), tuple(model.output_shape)
    except (AttributeError, ValueError, TypeError):
        inputs = outputs = None
    if inputs is None or inputs[1:] != (32, 32, 3):
        return (f"the model takes inputs of shape {inputs and inputs[1:]}, but CIFAR images are "
                "32x32x3: start it with keras.Input(shape=(32, 32, 3)) (the cifarlab builders do).")
    if outputs is None or len(outputs) != 2 or outputs[-1] != num_classes:
        return (f"the model outputs shape {outputs}, but it must give one probability per class: "
                f"(None, {num_classes}). Build it with num_classes={num_classes} "
                "(lab.num_classes).")
    probe = np.random.default_rng(0).uniform(0, 1, size=(4, 32, 32, 3)).astype("float32")
    p = np.asarray(model(probe, training=False), dtype=np.float64)
    if not np.isfinite(p).all() or p.min() < -1e-6 or not np.allclose(p.sum(axis=1), 1, atol=1e-3):
        return ("the model's outputs are not probabilities (each row should be >= 0 and sum "
                "to 1): end it with a Dense layer with activation='softmax'.")
    return None


@_verdict("a model, e.g. models.build_cnn(lab.num_classes, ...)")
def check_model(model: Any, *, num_classes: int, name: str = "better_model") -> str:
    """Check that ``model`` is a Keras classifier for 32x32x3 images and ``num_classes``."""
    problem = _model_problem(model, num_classes)
    _expect(problem is None, f"`{name}`: {problem}")
    return (f"{name} takes 32x32x3 images and outputs {num_classes} class probabilities "
            f"({model.count_params():,} parameters).")


def _val_accuracy(run: Any) -> float | None:
    """Validation accuracy at the best epoch, else the best one in the history."""
    value = (getattr(run, "best_metrics", None) or {}).get("val_accuracy")
    if value is None or not math.isfinite(float(value)):
        history = (getattr(run, "history", None) or {}).get("val_accuracy", [])
        value = max((v for v in history if math.isfinite(float(v))), default=None)
    return None if value is None else float(value)


def _images_used(run: Any, split: str) -> int | None:
    images = (((getattr(run, "settings", None) or {}).get("data") or {}).get(split) or {})
    return int(images["images"]) if isinstance(images.get("images"), (int, np.integer)) else None


@_verdict("your model, trained with train.train(...)")
def check_better_model(run: Any, baseline: Any, *, num_classes: int, margin: float = 0.0,
                       target: float | None = None, name: str = "better") -> str:
    """Check exercise 1: ``run`` (a RunResult, same data as ``baseline``) has a model for
    ``num_classes`` whose best validation accuracy beats the baseline's minus ``margin`` (for
    smoke runs) or reaches ``target``."""
    _expect(not _is_keras_model(run), f"`{name}` is a model, not a training run. Train it and "
            f"keep what train.train returns: {name} = train.train(model, (lab.x_train, "
            "lab.y_train), (lab.x_val, lab.y_val), epochs=lab.epochs, ...).")
    _expect(hasattr(run, "model") and hasattr(run, "best_metrics"), f"`{name}` should be the "
            f"RunResult that train.train returns; this is a {type(run).__name__}.")
    problem = _model_problem(run.model, num_classes)
    _expect(problem is None, f"`{name}.model`: {problem}")
    for split, what in (("val", "validation"), ("train", "training")):
        mine, theirs = _images_used(run, split), _images_used(baseline, split)
        _expect(None in (mine, theirs) or mine == theirs, f"your run used {mine or 0:,} {what} "
                f"images, the baseline {theirs or 0:,}. Compare on the same data: train on "
                "(lab.x_train, lab.y_train) and validate on (lab.x_val, lab.y_val), never on "
                "the test split.")
    acc, base = _val_accuracy(run), _val_accuracy(baseline)
    _expect(acc is not None, f"`{name}` recorded no validation accuracy: pass validation data "
            "(lab.x_val, lab.y_val) to train.train.")
    if target is not None and acc >= target:
        return f"validation accuracy {acc:.3f} reaches the target {target:.3f}."
    _expect(base is not None, "the baseline run has no validation accuracy to compare with: run "
            "its cell.")
    if acc >= base >= 1.0:
        return f"validation accuracy {acc:.3f}, like the baseline's: nothing is left to beat."
    if acc > base:
        return f"validation accuracy {acc:.3f} beats the baseline's {base:.3f} (+{acc - base:.3f})."
    goal = f"above {base - margin:.3f}" if margin else f"above the baseline's {base:.3f}"
    goal += "" if target is None else f" or at least {target:.3f}"
    _expect(acc > base - margin, f"validation accuracy {acc:.3f}; it needs to be {goal}. Ideas "
            "from notebooks 02-04: batch_norm=True, padding='same', dropout=0.3, augment="
            "'standard', more epochs (early stopping ends the run when it stops improving).")
    return (f"validation accuracy {acc:.3f} is within the allowed margin ({margin:.2f}) of the "
            f"baseline's {base:.3f}: too little data or too few epochs to tell the two apart. "
            "Run the notebook in full to see the real difference.")


def _class_name(value: Any, class_names: tuple[str, ...], role: str) -> str:
    """A class given by name (any case) or id, as its name."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        _expect(0 <= value < len(class_names), f"the {role} class id {int(value)} is out of "
                f"range: ids run from 0 to {len(class_names) - 1}.")
        return class_names[int(value)]
    _expect(isinstance(value, str), f"the {role} class must be a class name (str) or id (int); "
            f"received {value!r}.")
    try:
        return labels.fine_class_name(value, valid=class_names)
    except ValueError as err:
        raise _NotYet(str(err)) from None


def _top_pairs(evaluation: Any) -> list[tuple[str, str, int]]:
    """(true, predicted, count) of the pairs confused most often (ties too); [] if no mistakes."""
    pairs = evaluate.most_confused_pairs(evaluation.confusion_matrix, evaluation.class_names)
    top = pairs[pairs["count"] == pairs["count"].max()]
    return list(zip(top["true"], top["predicted"], top["count"], strict=True))


@_verdict("a pair (true class, predicted class), e.g. ('fox', 'possum')")
def check_most_confused(pair: Any, evaluation: Any, *, name: str = "most_confused_pair") -> str:
    """Check exercise 2: the (true, predicted) pair of classes (names or ids) confused most
    often; rows of the confusion matrix are true classes. Each of tied pairs passes."""
    _expect(isinstance(pair, (Sequence, np.ndarray)) and not isinstance(pair, (str, bytes)),
            f"`{name}` should be a pair (true class, predicted class), e.g. ('fox', 'possum'); "
            f"received {pair!r}.")
    _expect(len(pair) == 2, f"`{name}` should hold 2 classes (true, predicted); it holds "
            f"{len(pair)}.")
    names = tuple(evaluation.class_names)
    true, pred = _class_name(pair[0], names, "true"), _class_name(pair[1], names, "predicted")
    top = _top_pairs(evaluation)
    if not top:
        return "the model made no mistakes on these images, so no pair is confused."
    _expect(true != pred, f"({true!r}, {pred!r}) is a class with itself: the diagonal holds the "
            "correct predictions. Look off the diagonal (np.fill_diagonal(cm, 0)).")
    cm = np.asarray(evaluation.confusion_matrix)
    row, count = cm[names.index(true)], cm[names.index(true), names.index(pred)]
    if (true, pred) in [p[:2] for p in top]:
        return (f"{true} -> {pred}: {count} of the {row.sum()} {true} images were predicted as "
                f"{pred} ({count / max(row.sum(), 1):.0%}).")
    _expect((pred, true) not in [p[:2] for p in top], "you have the pair the other way round: "
            "rows of the confusion matrix are the true classes and columns the predicted ones, "
            "so cm[i, j] counts images of class i predicted as class j.")
    raise _NotYet(f"{true} images were predicted as {pred} {count} times, but another pair is "
                  f"confused {top[0][2]} times. Hint: copy evaluation.confusion_matrix, set its "
                  "diagonal to 0, and find the largest cell with np.unravel_index(cm.argmax(), "
                  "cm.shape).")


def _mentions(text: str, class_name: str) -> bool:
    variants = {class_name.lower(), class_name.lower().replace("_", " ")}
    variants |= {v.split()[0] for v in variants if " " in v}  # "maple" for maple_tree
    return any(v in text.lower() for v in variants)


@_verdict('your explanation as a string: explanation = """..."""')
def check_explanation(text: Any, evaluation: Any, *, min_words: int = 15,
                      name: str = "explanation") -> str:
    """Check that the explanation of exercise 2 has ``min_words`` words and names both classes
    of the most confused pair (any of them when several tie); the instructor reads the rest."""
    _expect(isinstance(text, str), f"`{name}` should be a string (text in quotes); received a "
            f"{type(text).__name__}.")
    words = len(text.split())
    _expect(words >= min_words, f"your explanation has {words} words; write at least "
            f"{min_words}: what do the two classes look like at 32x32 pixels, in colour, shape "
            "and background?")
    pairs = _top_pairs(evaluation)
    if not pairs:
        return "explanation written (the model made no mistakes to explain)."
    for true, pred, _ in pairs:
        if _mentions(text, true) and _mentions(text, pred):
            return (f"your explanation of {true} -> {pred} is written ({words} words); your "
                    "instructor reads the rest.")
    shown = " or ".join(f"{a} -> {b}" for a, b, _ in pairs[:3])
    raise _NotYet(f"name both classes of the most confused pair ({shown}) in your explanation.")


@_verdict("the positions of the {n} images with the highest loss")
def check_highest_loss(indices: Any, evaluation: Any, *, n: int,
                       name: str = "highest_loss_indices") -> str:
    """Check exercise 3: the positions of the ``n`` images with the highest loss
    (``-log(p_true)``), in any order; ties at the boundary pass (losses are compared)."""
    _expect(not hasattr(indices, "columns"), f"`{name}` is a table; give only the positions, "
            "e.g. a list or a NumPy array of integers.")
    _expect(not isinstance(indices, (int, np.integer, str, bytes)), f"`{name}` should be a list "
            f"of {n} positions; received {indices!r}.")
    chosen = np.asarray(list(indices))
    _expect(chosen.ndim == 1 and (not chosen.size or np.issubdtype(chosen.dtype, np.integer)),
            f"`{name}` should be a flat list of integer positions; received an array of shape "
            f"{chosen.shape} and dtype {chosen.dtype}.")
    losses = evaluate.image_losses(evaluation.probabilities, evaluation.y_true)
    _expect(len(chosen) == n, f"`{name}` holds {len(chosen)} positions; the exercise asks for {n}.")
    _expect(0 <= chosen.min() and chosen.max() < len(losses), f"positions must lie in "
            f"0..{len(losses) - 1} (one per evaluated image); received "
            f"{int(chosen.min())}..{int(chosen.max())}.")
    _expect(len(np.unique(chosen)) == n, f"`{name}` repeats a position; give {n} different images.")
    got, ranked = np.sort(losses[chosen])[::-1], np.sort(losses)[::-1]
    if np.allclose(got, ranked[:n], rtol=1e-6, atol=1e-9):
        return (f"these are the {n} highest-loss images (losses {ranked[0]:.2f} down to "
                f"{ranked[n - 1]:.2f}). Look at them: is the label or the model wrong?")
    _expect(not np.allclose(got, ranked[len(ranked) - n:], rtol=1e-6, atol=1e-9), "these are the "
            "images with the *lowest* loss, the ones the model is surest about. Sort by loss "
            "from high to low: np.argsort(-loss).")
    raise _NotYet("some of these are not among the highest-loss images. The loss of image i is "
                  "-log(p_true): p_true = evaluation.probabilities[np.arange(len(evaluation."
                  "y_true)), evaluation.y_true].")


@_verdict("predict_images(model, photos, lab.class_names, top_k=3)")
def check_predictions(table: Any, class_names: Sequence[str], *, n_images: int | None = None,
                      top_k: int | None = None, name: str = "my_predictions") -> str:
    """Check exercise 4: the DataFrame of :func:`cifarlab.photos.predict_images` for your own
    photos: one row per photo (``n_images``), columns ``name_1``, ``prob_1``, ... (``top_k``
    each), names among ``class_names``, probabilities in [0, 1], most probable first."""
    _expect(isinstance(table, pd.DataFrame), f"`{name}` should be the DataFrame "
            f"cifarlab.photos.predict_images returns; received a {type(table).__name__}.")
    ranks = sorted(int(c[5:]) for c in table.columns if c.startswith("name_") and c[5:].isdigit())
    _expect(ranks and ranks == list(range(1, len(ranks) + 1)), f"`{name}` lacks the columns "
            "name_1, prob_1, ...; make it with cifarlab.photos.predict_images.")
    missing = [f"prob_{r}" for r in ranks if f"prob_{r}" not in table.columns]
    _expect(not missing, f"`{name}` lacks the column(s) {', '.join(missing)}.")
    _expect(top_k in (None, len(ranks)), f"`{name}` has the top {len(ranks)} classes per photo; "
            f"the exercise asks for {top_k}.")
    _expect(n_images in (None, len(table)), f"`{name}` has {len(table)} rows for {n_images} "
            "photos: one row per photo.")
    _expect(len(table), f"`{name}` is empty: give predict_images at least one photo.")
    unknown = sorted({str(v) for r in ranks for v in table[f"name_{r}"]} - set(class_names))
    if unknown:
        raise _NotYet(f"{unknown[0]!r} is not one of the model's classes ({', '.join(class_names)}"
                      "): pass lab.class_names, the names of the classes the model was trained on.")
    probs = table[[f"prob_{r}" for r in ranks]].to_numpy(dtype=np.float64)
    _expect(np.isfinite(probs).all() and probs.min() >= 0 and probs.max() <= 1 + 1e-6,
            "the probabilities must lie between 0 and 1.")
    _expect(not np.any(np.diff(probs, axis=1) > 1e-6), "the classes of each photo should be "
            "sorted, most probable first.")
    first = table.iloc[0]
    source = f"{first['source']}: " if "source" in table.columns else ""
    return (f"{len(table)} photo(s) predicted, top {len(ranks)} classes each ({source}"
            f"{first['name_1']} {first['prob_1']:.0%}). Is that what you see?")


@_verdict("the model loaded back: keras.saving.load_model(model_path)")
def check_reloaded_model(reloaded: Any, original: Any, images: np.ndarray, *,
                         path: str | os.PathLike | None = None, name: str = "reloaded") -> str:
    """Check exercise 5: a model saved to ``path`` (a ``.keras`` file, when given) and loaded
    back predicts like ``original`` on ``images`` (uint8 or float in [0, 1])."""
    if path is not None:
        _expect(Path(path).suffix == ".keras", "save to a file ending in .keras (Keras 3's "
                "format, holding the architecture, the weights and the optimizer); received "
                f"{str(path)!r}.")
        _expect(Path(path).is_file(), f"there is no file {str(path)!r}: save the model with "
                "model.save(model_path).")
    _expect(not isinstance(reloaded, (str, os.PathLike)), f"`{name}` is a path; load the model "
            f"from it: {name} = keras.saving.load_model(model_path).")
    _expect(_is_keras_model(reloaded), f"`{name}` should be a keras.Model; received a "
            f"{type(reloaded).__name__}.")
    _expect(reloaded is not original, f"`{name}` is the very model in memory, not a copy read "
            "from the file: load it with keras.saving.load_model(model_path), so you know the "
            "file works.")
    x = np.asarray(images)
    x = scale_images(x) if x.dtype == np.uint8 else x.astype("float32")
    mine, theirs = (np.asarray(m.predict(x, verbose=0)) for m in (reloaded, original))
    _expect(mine.shape == theirs.shape and np.allclose(mine, theirs, atol=1e-5), "the reloaded "
            "model predicts differently from the original: did you save it before training "
            "finished, or load another file?")
    where = "" if path is None else f" from {path} ({Path(path).stat().st_size / 1e6:.1f} MB)"
    return f"{name}{where} predicts exactly like the original on {len(x)} images."
