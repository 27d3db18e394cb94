"""Checks of notebook 06 (exercises on your superclass): they compare with what
:mod:`cifarlab.evaluate` computes and with the splits' images, so any superclass works."""

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cifarlab import evaluate, labels, photos
from cifarlab.data import scale_images
from cifarlab.exercises._core import Exercises, NotYet, expect, is_model, model_problem
from cifarlab.exercises._core import image_hashes as hashes

exercises = Exercises("06_superclass_exercises")
record_results, hint, summary = exercises.record_results, exercises.hint, exercises.summary


def _split_problem(data: Any, role: str, lab: Any) -> str | None:
    """Which images ``data`` (images, labels) holds, against lab's splits, said as a fix."""
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        return (f"`{role}_data` should be the (images, labels) pair you gave train.train; "
                f"received a {type(data).__name__}.")
    mine, own = hashes(data[0]), hashes(getattr(lab, f"x_{role}"))
    if mine == own:
        return None
    other = "train" if role == "val" else "val"
    if test := len((mine & hashes(lab.data.x_test)) - own):
        return (f"the test split used for {'validation' if role == 'val' else 'training'}: "
                f"{test:,} of your {len(mine):,} {role} images are test images (lab.data."
                "x_test), which are for the final evaluation, once.")
    if shared := len((mine & hashes(getattr(lab, f"x_{other}"))) - own):
        return (("validation images taken from the training images" if role == "val" else
                 "validation images in the training data") + f": {shared:,} of your "
                f"{len(mine):,} {role} images are also in lab.x_{other}, so validation would "
                "measure memory, not images the model has never seen.")
    return (f"your {role} images are {len(mine & own):,} of the {len(own):,} in lab.x_{role} "
            f"and {len(mine - own):,} others: compare like with like, on all of lab.x_{role}.")


def _scored_on(run: Any, images: np.ndarray, y: np.ndarray) -> tuple[float, list[float]]:
    """(the run's model's loss on these images, the val_loss of its best and last epochs)."""
    x = scale_images(images) if np.asarray(images).dtype == np.uint8 else np.asarray(images)
    p = np.asarray(run.model.predict(x, verbose=0), dtype=np.float64)
    loss = float(np.mean(-np.log(np.clip(p[np.arange(len(p)), np.ravel(y)], 1e-7, 1))))
    recorded = list((run.history or {}).get("val_loss", []))
    return loss, [recorded[i] for i in {(run.best_epoch or len(recorded)) - 1, -1} if recorded]


@exercises.check(1, "a better model", missing="your run: better = train.train(better_model, "
                 "train_data, val_data, ...)",
                 hint="what helped in 02-04: batch_norm=True, padding='same', dropout, "
                      "augment='standard'; train on (lab.x_train, lab.y_train) and validate on "
                      "(lab.x_val, lab.y_val), the splits the baseline used.")
def check_better_model(run: Any, baseline: Any, lab: Any, *, train_data: Any, val_data: Any,
                       margin: float = 0.0, name: str = "better") -> str:
    """Check exercise 1: ``run`` trained on the images of ``lab.x_train``, validated on those of
    ``lab.x_val`` (by hash, and by the loss its model scores on ``val_data``), and its best
    validation accuracy beats ``baseline``'s (minus ``margin``, for smoke runs)."""
    expect(not is_model(run), f"`{name}` is a model, not a training run. Keep what "
           f"train.train returns: {name} = train.train(model, train_data, val_data, ...).")
    expect(hasattr(run, "model") and hasattr(run, "best_metrics"), f"`{name}` should be the "
           f"RunResult that train.train returns; this is a {type(run).__name__}.")
    problem = model_problem(run.model, lab.num_classes)
    expect(problem is None, f"`{name}.model`: {problem}")
    for role, data in (("val", val_data), ("train", train_data)):
        problem = _split_problem(data, role, lab)
        expect(problem is None, f"{problem} Train on (lab.x_train, lab.y_train) and validate "
               "on (lab.x_val, lab.y_val), cut from the training split.")
    loss, recorded = _scored_on(run, *val_data)
    expect(any(math.isclose(loss, r, rel_tol=2e-3, abs_tol=2e-4) for r in recorded),
           f"`{name}`'s model scores a loss of {loss:.4f} on val_data, but the run recorded "
           f"{', '.join(f'{r:.4f}' for r in recorded) or 'none'}: it was not validated on "
           "val_data. Pass the same val_data to train.train.")
    acc, base = run.best_metrics.get("val_accuracy"), baseline.best_metrics.get("val_accuracy")
    expect(acc is not None, f"`{name}` recorded no val_accuracy: compile with metrics="
           "['accuracy'], or let train.train compile the model.")
    if acc >= base >= 1.0:
        return f"validation accuracy {acc:.3f}, like the baseline's: nothing is left to beat."
    if acc > base:
        return f"validation accuracy {acc:.3f} beats the baseline's {base:.3f} (+{acc - base:.3f})."
    goal = f"{base - margin:.3f}" if margin else f"the baseline's {base:.3f}"
    expect(acc > base - margin, f"validation accuracy {acc:.3f}; it needs to be above {goal}. "
           "Ideas from notebooks 02-04: batch_norm=True, padding='same', dropout=0.3, "
           "augment='standard', more epochs (early stopping ends a run that stops improving).")
    return (f"validation accuracy {acc:.3f} is within the allowed margin ({margin:.2f}) of the "
            f"baseline's {base:.3f}: too little data or too few epochs to tell the two apart. "
            "Run the notebook in full to see the real difference.")


def _class_name(value: Any, class_names: tuple[str, ...], role: str) -> str:
    """A class given by name (any case) or id, as its name."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        expect(0 <= value < len(class_names), f"the {role} class id {int(value)} is out of "
               f"range: ids run from 0 to {len(class_names) - 1}.")
        return class_names[int(value)]
    expect(isinstance(value, str), f"the {role} class must be a class name (str) or id (int); "
           f"received {value!r}.")
    try:
        return labels.fine_class_name(value, valid=class_names)
    except ValueError as err:
        raise NotYet(str(err)) from None


def _top_pairs(evaluation: Any) -> list[tuple[str, str, int]]:
    """(true, predicted, count) of the pairs confused most often (ties too); [] if no mistakes."""
    pairs = evaluate.most_confused_pairs(evaluation.confusion_matrix, evaluation.class_names)
    top = pairs[pairs["count"] == pairs["count"].max()]
    return list(zip(top["true"], top["predicted"], top["count"], strict=True))


@exercises.check(2, "most confused pair",
                 missing="a pair (true class, predicted class), e.g. ('fox', 'possum')",
                 hint="copy evaluation.confusion_matrix, set its diagonal to 0 (np.fill_diagonal"
                      "), then np.unravel_index(cm.argmax(), cm.shape) gives (true, predicted).")
def check_most_confused(pair: Any, evaluation: Any, *, name: str = "most_confused_pair") -> str:
    """Check exercise 2: the (true, predicted) pair of classes (names or ids) confused most
    often; rows of the confusion matrix are true classes. Each of tied pairs passes."""
    expect(isinstance(pair, (Sequence, np.ndarray)) and not isinstance(pair, (str, bytes)),
           f"`{name}` should be a pair (true class, predicted class); received {pair!r}.")
    expect(len(pair) == 2, f"`{name}` should hold 2 classes (true, predicted); it holds "
           f"{len(pair)}.")
    names = tuple(evaluation.class_names)
    true, pred = _class_name(pair[0], names, "true"), _class_name(pair[1], names, "predicted")
    top = [p[:2] for p in _top_pairs(evaluation)]
    if not top:
        return "the model made no mistakes on these images, so no pair is confused."
    expect(true != pred, f"({true!r}, {pred!r}) is a class with itself: the diagonal holds the "
           "correct predictions. Look off the diagonal (np.fill_diagonal(cm, 0)).")
    cm = np.asarray(evaluation.confusion_matrix)
    row, count = cm[names.index(true)], cm[names.index(true), names.index(pred)]
    if (true, pred) in top:
        return (f"{true} -> {pred}: {count} of the {row.sum()} {true} images were predicted as "
                f"{pred} ({count / max(row.sum(), 1):.0%}).")
    expect((pred, true) not in top, "you have the pair the other way round: rows of the "
           "confusion matrix are the true classes, columns the predicted ones.")
    raise NotYet(f"{true} images were predicted as {pred} {count} times, but another pair is "
                 f"confused {cm[names.index(top[0][0]), names.index(top[0][1])]} times: look "
                 "for the largest cell off the diagonal.")


def _mentions(text: str, class_name: str) -> bool:
    variants = {class_name.lower(), class_name.lower().replace("_", " ")}
    variants |= {v.split()[0] for v in variants if " " in v}  # "maple" for maple_tree
    return any(v in text.lower() for v in variants)


@exercises.check(3, "explanation", missing='your explanation as a string: explanation = """..."""',
                 hint="name both classes and say what they share at 32x32 pixels: colours, "
                      "shapes, backgrounds.")
def check_explanation(text: Any, evaluation: Any, *, min_words: int = 15,
                      name: str = "explanation") -> str:
    """Check exercise 3: at least ``min_words`` words, naming both classes of the most
    confused pair (any of them when several tie); the instructor reads the rest."""
    expect(isinstance(text, str), f"`{name}` should be a string (text in quotes); received a "
           f"{type(text).__name__}.")
    words = len(text.split())
    expect(words >= min_words, f"your explanation has {words} words; write at least "
           f"{min_words}: what do the two classes look like at 32x32 pixels, in colour, shape "
           "and background?")
    pairs = _top_pairs(evaluation)
    if not pairs:
        return "explanation written (the model made no mistakes to explain)."
    if any(_mentions(text, true) and _mentions(text, pred) for true, pred, _ in pairs):
        return f"your explanation is written ({words} words); your instructor reads the rest."
    shown = " or ".join(f"{a} -> {b}" for a, b, _ in pairs[:3])
    raise NotYet(f"name both classes of the most confused pair ({shown}) in your explanation.")


@exercises.check(4, "highest-loss images",
                 missing="the positions of the {n} images with the highest loss",
                 hint="loss = -np.log(evaluation.probabilities[np.arange(n), evaluation.y_true]); "
                      "np.argsort(-loss)[:N_WORST].")
def check_highest_loss(indices: Any, evaluation: Any, *, n: int,
                       name: str = "highest_loss_indices") -> str:
    """Check exercise 4: the positions of the ``n`` images with the highest loss
    (``-log(p_true)``), in any order; ties at the boundary pass (losses are compared)."""
    chosen = np.asarray(None if hasattr(indices, "columns") or isinstance(
        indices, (str, bytes)) else indices)
    expect(chosen.ndim == 1 and (not chosen.size or np.issubdtype(chosen.dtype, np.integer)),
           f"`{name}` should be a list of {n} integer positions; received a "
           f"{type(indices).__name__} ({chosen.dtype}, shape {chosen.shape}).")
    losses = evaluate.image_losses(evaluation.probabilities, evaluation.y_true)
    expect(len(chosen) == n, f"`{name}` holds {len(chosen)} positions; the exercise asks for {n}.")
    expect(0 <= chosen.min() and chosen.max() < len(losses), f"positions must lie in "
           f"0..{len(losses) - 1}; received {int(chosen.min())}..{int(chosen.max())}.")
    expect(len(np.unique(chosen)) == n, f"`{name}` repeats a position; give {n} different images.")
    got, ranked = np.sort(losses[chosen])[::-1], np.sort(losses)[::-1]
    if np.allclose(got, ranked[:n], rtol=1e-6, atol=1e-9):
        return (f"these are the {n} highest-loss images (losses {ranked[0]:.2f} down to "
                f"{ranked[n - 1]:.2f}). Look at them: is the label or the model wrong?")
    expect(not np.allclose(got, ranked[len(ranked) - n:], rtol=1e-6, atol=1e-9), "these are the "
           "images with the *lowest* loss, the ones the model is surest about. Sort by loss "
           "from high to low: np.argsort(-loss).")
    raise NotYet("some of these are not among the highest-loss images; the loss of an image "
                 "is -log(p_true), p_true the probability of its true class.")


@exercises.check(5, "own photos", missing="the class probabilities of your photos: "
                 "chosen.model.predict(x), one row per photo",
                 hint="images = photos.load_images(photo_paths) gives 32x32 uint8 images "
                      "(0..255), prepared like CIFAR's; divide them by 255, as the training "
                      "images were, then chosen.model.predict(x, verbose=0).")
def check_predictions(probabilities: Any, model: Any, photo_paths: Sequence, *,
                      name: str = "my_probabilities") -> str:
    """Check exercise 5: ``probabilities`` are what ``model`` predicts for the photos, prepared
    with :func:`cifarlab.photos.load_images` and scaled to [0, 1] like its training images."""
    expect(not isinstance(probabilities, pd.DataFrame), f"`{name}` is a table; give the array "
           "model.predict returns (photos.predict_images makes the table, in the next cell).")
    images, p = photos.load_images(photo_paths), np.asarray(probabilities, dtype=np.float64)
    expected = (len(images), model.output_shape[-1])
    expect(p.shape == expected, f"`{name}` has shape {p.shape}; model.predict gives one row "
           f"of {expected[1]} class probabilities per photo: {expected}.")

    def same(x) -> bool:
        return np.allclose(p, model.predict(x, verbose=0), atol=1e-4)

    if same(scale_images(images)):
        top = np.argmax(p, axis=1)
        return (f"{len(p)} photo(s) predicted from pixels scaled like the training images; the "
                f"first is class {top[0]} at {p[0, top[0]]:.0%}. Is that what you see?")
    expect(not same(images.astype("float32")), "unscaled pixels: these are the model's "
           "predictions for 0-255 pixels, but it was trained on images divided by 255. Inputs "
           "255 times too large push one class far ahead and the softmax to near 1: seed "
           "003's 'Likelihood: 1.0'. Divide by 255 first.")
    squashed = photos.load_images(photo_paths, crop=None, resample="nearest")
    expect(not same(scale_images(squashed)), "these photos were squashed to 32x32 keeping one "
           "pixel in many, as keras.utils.load_img(path, target_size=(32, 32)) does: prepare "
           "them with photos.load_images, which keeps the centre square and averages pixels.")
    raise NotYet(f"`{name}` is not what the model predicts for your photos prepared with "
                 "photos.load_images(photo_paths) and divided by 255, in that order.")


@exercises.check(6, "save and reload",
                 missing="the model loaded back: keras.saving.load_model(model_path)",
                 hint="model.save(model_path) with a path ending in .keras, then "
                      "keras.saving.load_model(model_path).")
def check_reloaded_model(reloaded: Any, original: Any, images: np.ndarray, *,
                         path: str | os.PathLike | None = None, name: str = "reloaded") -> str:
    """Check exercise 6: a model saved to ``path`` (a ``.keras`` file, when given) and loaded
    back predicts like ``original`` on ``images`` (uint8 or float in [0, 1])."""
    if path is not None:
        expect(Path(path).suffix == ".keras", "save to a file ending in .keras (Keras 3's "
               f"format: architecture, weights and optimizer); received {str(path)!r}.")
        expect(Path(path).is_file(), f"there is no file {str(path)!r}: save the model with "
               "model.save(model_path).")
    expect(not isinstance(reloaded, (str, os.PathLike)), f"`{name}` is a path; load the model "
           f"from it: {name} = keras.saving.load_model(model_path).")
    expect(is_model(reloaded), f"`{name}` should be a keras.Model; received a "
           f"{type(reloaded).__name__}.")
    expect(reloaded is not original, f"`{name}` is the very model in memory, not a copy read "
           "from the file: load it with keras.saving.load_model(model_path), so you know the "
           "file works.")
    x = scale_images(images) if np.asarray(images).dtype == np.uint8 else np.asarray(images)
    mine, theirs = (np.asarray(m.predict(x, verbose=0)) for m in (reloaded, original))
    expect(mine.shape == theirs.shape and np.allclose(mine, theirs, atol=1e-5), "the reloaded "
           "model predicts differently from the original: did you save it before training "
           "finished, or load another file?")
    where = "" if path is None else f" from {path} ({Path(path).stat().st_size / 1e6:.1f} MB)"
    return f"{name}{where} predicts exactly like the original on {len(x)} images."
