"""Evaluate a trained model, and predict the classes of your own photos.

Two jobs, both computed from the model's softmax probabilities:

- :func:`evaluate` / :func:`evaluate_data`: predict once, then accuracy, loss,
  top-k accuracy, a per-class table, scikit-learn's classification report, the
  confusion matrix, the most confused class pairs and the highest-loss images
  (the place to look for label noise: a confident "wrong" answer is often a
  wrong label).
- :func:`predict_images` / :func:`load_image`: a student's own JPEG or PNG (any
  size, grayscale, palette, transparent, 16-bit, rotated by a phone) becomes a
  32x32 RGB ``uint8`` image the way CIFAR images are, then the model gives its
  top-k classes.

The test split is for the final evaluation only: choose models, epochs and
settings on a validation split (:func:`cifarlab.data.train_val_split`), then
evaluate the chosen model on the test split once.

Example::

    from cifarlab.evaluate import evaluate_data, predict_images
    result = evaluate_data(model, mammals)            # mammals: a CifarData
    print(result)                                     # summary, says SYNTHETIC if it is
    result.per_class                                  # precision, recall, f1, support
    result.highest_loss.head()                        # wrong labels hide here
    predict_images(model, ["fox.jpg"], mammals.class_names)
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cifarlab.data import CifarData, scale_images

__all__ = [
    "CROPS",
    "IMAGE_SIZE",
    "RESAMPLING",
    "SPLITS",
    "Evaluation",
    "evaluate",
    "evaluate_data",
    "load_image",
    "load_images",
    "predict_images",
]

IMAGE_SIZE = 32
#: Ways to make a photo square before resizing: ``"center"`` keeps the largest
#: centred square (no distortion), ``None`` squashes the whole photo.
CROPS = ("center", None)
#: Resampling filters for :func:`load_image`, Pillow names in lower case.
RESAMPLING = ("box", "lanczos", "bicubic", "bilinear", "nearest")
#: Splits of a :class:`~cifarlab.data.CifarData` that :func:`evaluate_data` accepts.
SPLITS = ("test", "train")

_SYNTHETIC_NOTE = "SYNTHETIC data, not real CIFAR"
_ROWS_SHOWN = 10  # most confused pairs in to_dict()
# Probabilities are floored here only so that a float32 softmax that underflowed to 0
# gives a finite loss (at most 87.3 per image).
_TINY = float(np.finfo(np.float32).tiny)


# --------------------------------------------------------------------------- the value


@dataclass(frozen=True, eq=False)
class Evaluation:
    """Everything :func:`evaluate` measured, computed from one prediction pass.

    Attributes:
        accuracy: fraction of images whose most probable class is the true one.
        loss: mean sparse categorical cross-entropy, ``-log(p_true)``. It agrees
            with the loss Keras reports in ``fit`` / ``evaluate`` (see :func:`evaluate`).
        top_k_accuracy: ``{k: fraction}``: the true class is among the ``k`` most
            probable. Only ``k`` below the number of classes (otherwise it is 1).
        per_class: DataFrame indexed by class name with ``precision``, ``recall``,
            ``f1``, ``support`` (true images of the class) and ``accuracy``
            (the class's share of correct answers, which is its recall).
        report: scikit-learn's ``classification_report`` text.
        confusion_matrix: ``int`` array, rows = true class, columns = predicted.
        class_names: names of the classes, label ``i`` is ``class_names[i]``.
        most_confused: DataFrame of off-diagonal cells, most frequent first:
            ``true``, ``predicted``, ``count``, ``fraction`` (of the true class).
        highest_loss: DataFrame of the highest-loss images, highest first:
            ``index`` (position in the evaluated images), ``true``, ``predicted``,
            ``loss``, ``p_true``, ``p_pred``.
        y_true, y_pred: true and predicted class ids, one per image.
        probabilities: the model's softmax output, shape ``(N, num_classes)``.
        synthetic: True when the images are SYNTHETIC (not real CIFAR).
        name: what was evaluated (for example ``"CIFAR-100 / medium_mammals, test split"``).
    """

    accuracy: float
    loss: float
    top_k_accuracy: dict[int, float]
    per_class: pd.DataFrame
    report: str
    confusion_matrix: np.ndarray
    class_names: tuple[str, ...]
    most_confused: pd.DataFrame
    highest_loss: pd.DataFrame
    y_true: np.ndarray
    y_pred: np.ndarray
    probabilities: np.ndarray
    synthetic: bool = False
    name: str = ""

    @property
    def num_examples(self) -> int:
        return len(self.y_true)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def description(self) -> str:
        """What was evaluated, saying SYNTHETIC when the data is not real CIFAR."""
        text = self.name or "Evaluation"
        return f"{text} ({_SYNTHETIC_NOTE})" if self.synthetic else text

    def normalized_confusion_matrix(self, normalize: str = "true") -> np.ndarray:
        """The confusion matrix as fractions.

        Args:
            normalize: ``"true"`` (each row sums to 1: where each class's images
                went), ``"pred"`` (each column sums to 1: what each prediction
                really was) or ``"all"`` (everything sums to 1). Empty rows or
                columns stay 0.
        """
        cm = self.confusion_matrix.astype(np.float64)
        if normalize == "true":
            total = cm.sum(axis=1, keepdims=True)
        elif normalize == "pred":
            total = cm.sum(axis=0, keepdims=True)
        elif normalize == "all":
            total = np.array([[cm.sum()]])
        else:
            raise ValueError(
                f"`normalize` must be one of 'true', 'pred', 'all'. Received: "
                f"normalize={normalize!r}.{_did_you_mean(normalize, ('true', 'pred', 'all'))}"
            )
        return np.divide(cm, total, out=np.zeros_like(cm), where=total > 0)

    def to_dict(self) -> dict:
        """A JSON-serialisable summary: scalars, per-class table, confusion matrix,
        the most confused pairs and the highest-loss images (no probability arrays).

        Example:
            >>> json.dumps(result.to_dict())
        """
        return {
            "name": self.name,
            "synthetic": bool(self.synthetic),
            "num_examples": self.num_examples,
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "accuracy": float(self.accuracy),
            "loss": float(self.loss),
            "top_k_accuracy": {str(k): float(v) for k, v in self.top_k_accuracy.items()},
            "per_class": {
                str(name): {
                    "precision": float(row["precision"]),
                    "recall": float(row["recall"]),
                    "f1": float(row["f1"]),
                    "support": int(row["support"]),
                    "accuracy": float(row["accuracy"]),
                }
                for name, row in self.per_class.iterrows()
            },
            "confusion_matrix": self.confusion_matrix.astype(int).tolist(),
            "most_confused": _records(self.most_confused.head(_ROWS_SHOWN)),
            "highest_loss": _records(self.highest_loss),
        }

    def summary(self) -> str:
        """A few lines for a notebook or a log; says SYNTHETIC when it is."""
        lines = [
            self.description,
            f"  {self.num_examples:,} images, {self.num_classes} classes",
            f"  accuracy {self.accuracy:.1%}, loss {self.loss:.4f}"
            + "".join(f", top-{k} accuracy {v:.1%}" for k, v in self.top_k_accuracy.items()),
        ]
        by_recall = self.per_class.sort_values("recall", kind="stable")
        worst = by_recall.head(min(3, self.num_classes))
        lines.append(
            "  lowest recall: "
            + ", ".join(f"{name} {row['recall']:.1%}" for name, row in worst.iterrows())
        )
        pairs = self.most_confused.head(3)
        if len(pairs):
            lines.append(
                "  most confused (true -> predicted): "
                + ", ".join(
                    f"{r.true} -> {r.predicted} ({r.count}, {r.fraction:.0%} of {r.true})"
                    for r in pairs.itertuples()
                )
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        topk = "".join(f", top_{k}={v:.4f}" for k, v in self.top_k_accuracy.items())
        flag = ", SYNTHETIC" if self.synthetic else ""
        return (
            f"Evaluation({self.name or 'unnamed'}: accuracy={self.accuracy:.4f}, "
            f"loss={self.loss:.4f}{topk}, n={self.num_examples}, "
            f"classes={self.num_classes}{flag})"
        )


def _records(frame: pd.DataFrame) -> list[dict]:
    """DataFrame rows as JSON-able dicts (NumPy scalars become Python ones)."""
    return [
        {str(k): (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]


# --------------------------------------------------------------------------- checks


def _did_you_mean(value: object, valid: Sequence[object]) -> str:
    if not isinstance(value, str):
        return ""
    names = [v for v in valid if isinstance(v, str)]
    close = difflib.get_close_matches(value.lower(), names, n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""


def _check_int(name: str, value: object, *, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(
            f"`{name}` must be an integer. Received: {name}={value!r} "
            f"of type {type(value).__name__}."
        )
    if value < low or (high is not None and value > high):
        valid = f"{low}..{high}" if high is not None else f">= {low}"
        raise ValueError(f"`{name}` must be in {valid}. Received: {name}={value!r}.")
    return int(value)


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be True or False. Received: {name}={value!r}.")
    return bool(value)


def _check_class_names(class_names: object) -> tuple[str, ...]:
    if isinstance(class_names, str) or not isinstance(class_names, (Sequence, np.ndarray)):
        raise TypeError(
            "`class_names` must be a list or tuple of class names, one per model output, "
            f"such as data.class_names. Received: {class_names!r}."
        )
    names = tuple(class_names)
    bad = [n for n in names if not isinstance(n, str)]
    if bad:
        raise TypeError(
            f"`class_names` must all be strings. Received {bad[0]!r} "
            f"of type {type(bad[0]).__name__}."
        )
    if len(names) < 2:
        raise ValueError(
            f"`class_names` must name at least 2 classes. Received: class_names={names!r}."
        )
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"`class_names` must be unique. Repeated: {', '.join(repeated)}.")
    return names


def _model_output_size(model: object) -> int | None:
    """The number of model outputs per image, when the model can tell before predicting."""
    if not callable(getattr(model, "predict", None)):
        raise TypeError(
            "`model` must be a Keras model (with a `predict` method). "
            f"Received: {type(model).__name__}."
        )
    try:
        shape = model.output_shape
    except (AttributeError, ValueError, RuntimeError):
        return None  # a subclassed model not yet built: checked after predicting
    if isinstance(shape, list) or (
        isinstance(shape, tuple) and shape and isinstance(shape[0], (tuple, list))
    ):
        raise TypeError(
            f"`model` must have one output (class probabilities). It has several: {shape}."
        )
    if len(shape) != 2:
        raise ValueError(
            f"`model` must output one probability per class, shape (batch, num_classes). "
            f"Its output shape is {shape}."
        )
    return shape[-1]


def _match_class_names(names: tuple[str, ...], n_outputs: int | None) -> None:
    if n_outputs is not None and n_outputs != len(names):
        raise ValueError(
            f"`class_names` has {len(names)} names but the model outputs {n_outputs} "
            "probabilities: give one name per output, in label order (data.class_names of "
            "the data the model was trained on)."
        )


def _check_images(images: object) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype == object:
        raise TypeError(
            "`images` must be a NumPy array of shape (N, 32, 32, 3). Received an array of "
            "Python objects (a tf.data.Dataset or a ragged list?)."
        )
    expected = (IMAGE_SIZE, IMAGE_SIZE, 3)
    if images.ndim != 4 or images.shape[1:] != expected:
        hint = ""
        if images.ndim == 3 and images.shape == expected:
            hint = " For one image, pass images[None] (a batch of one)."
        elif images.ndim == 4 and images.shape[1:] == (3, IMAGE_SIZE, IMAGE_SIZE):
            hint = " These look channels-first: use images.transpose(0, 2, 3, 1)."
        elif images.ndim == 2 and images.shape[1] == 3 * IMAGE_SIZE * IMAGE_SIZE:
            hint = (
                " These look like flat CIFAR rows: use images.reshape(-1, 3, 32, 32)"
                ".transpose(0, 2, 3, 1), or load them with cifarlab.data."
            )
        raise ValueError(
            f"`images` must have shape (N, 32, 32, 3). Received shape {images.shape}.{hint}"
        )
    if len(images) == 0:
        raise ValueError("`images` is empty: there is nothing to evaluate.")
    if images.dtype != np.uint8:
        if not np.issubdtype(images.dtype, np.floating):
            raise TypeError(
                "`images` must be uint8 (0..255) or float in [0, 1]. "
                f"Received dtype {images.dtype}."
            )
        if not np.isfinite(images).all():
            raise ValueError("`images` contains NaN or infinite values.")
        low, high = images.min(), images.max()
        if low < 0 or high > 1:
            raise ValueError(
                f"Float `images` must be scaled to [0, 1]; these range from {low:g} to "
                f"{high:g}. Pass the uint8 images (0..255) instead, or divide by 255."
            )
    return images


def _check_labels(labels: object, n_images: int, class_names: tuple[str, ...]) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]  # Keras-style (N, 1) labels
    if labels.ndim == 2 and labels.shape == (n_images, len(class_names)):
        raise ValueError(
            f"`labels` must be integer class ids of shape ({n_images},), not one-hot vectors "
            f"of shape {labels.shape}: pass labels.argmax(axis=1)."
        )
    if labels.ndim != 1 or len(labels) != n_images:
        raise ValueError(
            f"`labels` must hold one class id per image: {n_images} images, "
            f"labels of shape {labels.shape}."
        )
    if labels.dtype == bool or not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"`labels` must be integer class ids. Received dtype {labels.dtype}.")
    k = len(class_names)
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= k:
        hint = ""
        if high >= k:
            hint = (
                " Labels that large usually mean the original CIFAR-100 ids were kept: "
                "select_superclass / select_classes in cifarlab.data remap them to 0..k-1."
            )
        raise ValueError(
            f"`labels` must be class ids 0..{k - 1} ({k} class_names). Received labels "
            f"from {low} to {high}.{hint}"
        )
    return labels.astype(np.int64, copy=False)


def _check_top_k(top_k: object) -> tuple[int, ...]:
    values = (top_k,) if isinstance(top_k, (int, np.integer)) else top_k
    if isinstance(values, str) or not isinstance(values, (Sequence, np.ndarray)):
        raise TypeError(
            f"`top_k` must be an integer or a tuple of integers such as (3, 5). "
            f"Received: top_k={top_k!r}."
        )
    for k in values:
        _check_int("top_k", k, low=1)
    return tuple(sorted({int(k) for k in values}))


def _check_probabilities(p: object, n_images: int, n_classes: int) -> np.ndarray:
    if isinstance(p, (list, tuple, dict)):
        raise TypeError("`model` must have one output (class probabilities); it returned several.")
    p = np.asarray(p, dtype=np.float64)
    if p.shape != (n_images, n_classes):
        raise ValueError(
            f"The model returned an array of shape {p.shape}; expected ({n_images}, "
            f"{n_classes}): one probability per class in `class_names`."
        )
    if not np.isfinite(p).all():
        raise ValueError(
            "The model returned NaN or infinite outputs (did training diverge? try a "
            "lower learning rate)."
        )
    sums = p.sum(axis=1)
    if p.min() < -1e-6 or np.abs(sums - 1).max() > 1e-2:
        raise ValueError(
            "The model's outputs are not probabilities: rows sum to between "
            f"{sums.min():.3g} and {sums.max():.3g}, smallest value {p.min():.3g}. "
            "cifarlab models end in a softmax; if yours outputs logits, wrap it: "
            "keras.Sequential([model, keras.layers.Softmax()])."
        )
    return p


def _predict(model, images: np.ndarray, batch_size: int) -> np.ndarray:
    """Softmax output for all images, scaling ``chunk`` images at a time (bounded memory)."""
    chunk = batch_size * max(1, 4096 // batch_size)
    parts = [
        model.predict(scale_images(images[i : i + chunk]), batch_size=batch_size, verbose=0)
        for i in range(0, len(images), chunk)
    ]
    if any(isinstance(p, (list, tuple, dict)) for p in parts):
        raise TypeError("`model` must have one output (class probabilities); it returned several.")
    return np.concatenate([np.asarray(p) for p in parts])


# --------------------------------------------------------------------------- evaluate


def evaluate(
    model,
    images: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    *,
    top_k: int | Sequence[int] = (3, 5),
    batch_size: int = 256,
    n_highest_loss: int = 25,
    synthetic: bool = False,
    name: str = "",
) -> Evaluation:
    """Predict once and measure everything a report needs.

    Use it on validation data while choosing a model, and on the test split only
    once, for the final result (:func:`evaluate_data` does that for a ``CifarData``).

    The loss is ``-log(p_true)`` averaged over the images: the number Keras shows
    as ``loss`` / ``val_loss`` for a softmax model (Keras computes it from the
    logits). Probabilities are not clipped at ``keras.config.epsilon()`` (1e-7),
    which would cap each image's loss at 16.1 and under-report confident mistakes;
    they are floored at the smallest float32 (about 1e-38) only to keep the loss
    finite.

    Args:
        model: a Keras model taking float32 images in [0, 1] of shape (32, 32, 3)
            and returning softmax probabilities, one per class.
        images: ``(N, 32, 32, 3)`` ``uint8`` (scaled with
            :func:`cifarlab.data.scale_images`) or float in [0, 1].
        labels: ``N`` integer class ids in ``0..len(class_names) - 1``
            (Keras-style ``(N, 1)`` works too).
        class_names: one unique name per model output, in label order.
        top_k: the k for top-k accuracy; values not below the number of classes
            are skipped (they are always 1).
        batch_size: images per prediction batch.
        n_highest_loss: rows in :attr:`Evaluation.highest_loss`.
        synthetic: True when the images are SYNTHETIC; every summary says so.
        name: what is evaluated, shown in the summary.

    Returns:
        An :class:`Evaluation`.

    Example:
        >>> result = evaluate(model, x_val, y_val, mammals.class_names,
        ...                   synthetic=mammals.synthetic)
        >>> result.accuracy, result.top_k_accuracy
        (0.71, {3: 0.93})
        >>> result.most_confused.head(3)      # which classes the model mixes up
    """
    from sklearn.metrics import (
        classification_report,
        confusion_matrix,
        precision_recall_fscore_support,
        top_k_accuracy_score,
    )

    names = _check_class_names(class_names)
    _match_class_names(names, _model_output_size(model))
    images = _check_images(images)
    y_true = _check_labels(labels, len(images), names)
    ks = _check_top_k(top_k)
    batch_size = _check_int("batch_size", batch_size, low=1)
    n_highest_loss = _check_int("n_highest_loss", n_highest_loss, low=0)
    synthetic = _check_bool("synthetic", synthetic)
    if not isinstance(name, str):
        raise TypeError(f"`name` must be a string. Received: name={name!r}.")

    k = len(names)
    ids = np.arange(k)
    p = _check_probabilities(_predict(model, images, batch_size), len(images), k)
    y_pred = p.argmax(axis=1)
    p_true = p[np.arange(len(y_true)), y_true]
    losses = -np.log(np.maximum(p_true, _TINY))

    top = {kk: float(top_k_accuracy_score(y_true, p, k=kk, labels=ids)) for kk in ks if kk < k}
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=ids, zero_division=0
    )
    per_class = pd.DataFrame(
        {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": support.astype(np.int64),
            "accuracy": recall,
        },
        index=pd.Index(names, name="class"),
    )
    report = classification_report(
        y_true, y_pred, labels=ids, target_names=list(names), digits=3, zero_division=0
    )
    cm = confusion_matrix(y_true, y_pred, labels=ids).astype(np.int64)

    true_i, pred_i = np.nonzero(cm * (1 - np.eye(k, dtype=np.int64)))
    counts = cm[true_i, pred_i]
    order = np.lexsort((pred_i, true_i, -counts))  # count desc, then true, then predicted
    true_i, pred_i, counts = true_i[order], pred_i[order], counts[order]
    names_arr = np.array(names, dtype=object)
    most_confused = pd.DataFrame(
        {
            "true": names_arr[true_i],
            "predicted": names_arr[pred_i],
            "count": counts.astype(np.int64),
            "fraction": counts / cm.sum(axis=1)[true_i],
        },
        columns=["true", "predicted", "count", "fraction"],
    )

    worst = np.argsort(-losses, kind="stable")[:n_highest_loss]
    highest_loss = pd.DataFrame(
        {
            "index": worst.astype(np.int64),
            "true": names_arr[y_true[worst]],
            "predicted": names_arr[y_pred[worst]],
            "loss": losses[worst],
            "p_true": p_true[worst],
            "p_pred": p[worst, y_pred[worst]],
        },
        columns=["index", "true", "predicted", "loss", "p_true", "p_pred"],
    )
    if synthetic:  # shown above the columns whenever a table is displayed
        for frame in (per_class, most_confused, highest_loss):
            frame.columns.name = "SYNTHETIC"

    return Evaluation(
        accuracy=float((y_pred == y_true).mean()),
        loss=float(losses.mean()),
        top_k_accuracy=top,
        per_class=per_class,
        report=report,
        confusion_matrix=cm,
        class_names=names,
        most_confused=most_confused,
        highest_loss=highest_loss,
        y_true=y_true,
        y_pred=y_pred,
        probabilities=p,
        synthetic=synthetic,
        name=name,
    )


def evaluate_data(
    model,
    data: CifarData,
    *,
    split: str = "test",
    top_k: int | Sequence[int] = (3, 5),
    batch_size: int = 256,
    n_highest_loss: int = 25,
) -> Evaluation:
    """:func:`evaluate` on a split of a :class:`~cifarlab.data.CifarData`.

    Class names, the SYNTHETIC flag and a name come from ``data``. The test split
    is for the final evaluation of the model you chose, once: compare models on a
    validation split with :func:`evaluate` instead. ``split="train"`` shows how
    well the model fits its training images (compare with the test accuracy to
    see overfitting).

    Example:
        >>> result = evaluate_data(model, mammals)     # the test split
        >>> print(result)
    """
    if not isinstance(data, CifarData):
        raise TypeError(
            "`data` must be a CifarData from cifarlab.data (load_cifar100, "
            f"select_superclass, ...). Received: {type(data).__name__}. "
            "For arrays, call evaluate(model, images, labels, class_names)."
        )
    if split not in SPLITS:
        raise ValueError(
            f"`split` must be one of {', '.join(map(repr, SPLITS))}. "
            f"Received: split={split!r}.{_did_you_mean(split, SPLITS)}"
        )
    images, labels = (data.x_test, data.y_test) if split == "test" else (data.x_train, data.y_train)
    return evaluate(
        model,
        images,
        labels,
        data.class_names,
        top_k=top_k,
        batch_size=batch_size,
        n_highest_loss=n_highest_loss,
        synthetic=data.synthetic,
        name=f"{data.name}, {split} split",
    )


# --------------------------------------------------------------------------- own photos


_PIL_FILTERS = {
    "box": "BOX",
    "lanczos": "LANCZOS",
    "bicubic": "BICUBIC",
    "bilinear": "BILINEAR",
    "nearest": "NEAREST",
}


def _check_options(crop: object, resample: object) -> None:
    if crop not in CROPS:
        raise ValueError(
            f"`crop` must be 'center' (keep the centred square) or None (squash the whole "
            f"image). Received: crop={crop!r}.{_did_you_mean(crop, CROPS)}"
        )
    if resample not in RESAMPLING:
        raise ValueError(
            f"`resample` must be one of {', '.join(RESAMPLING)}. Received: "
            f"resample={resample!r}.{_did_you_mean(resample, RESAMPLING)}"
        )


def _open(path: Path):
    """Open an image file fully, with errors that name the file."""
    from PIL import Image, UnidentifiedImageError

    if not path.exists():
        hint = (
            " Download it first: load_image reads local files only."
            if str(path).startswith(("http:", "https:"))
            else ""
        )
        raise FileNotFoundError(
            f"Image file not found: '{path}' (full path: '{path.absolute()}').{hint}"
        )
    if not path.is_file():
        raise ValueError(f"'{path}' is a folder, not an image file.")
    try:
        with Image.open(path) as img:
            img.load()
            return img
    except UnidentifiedImageError:
        raise ValueError(
            f"'{path}' is not an image PIL can read (JPEG, PNG, GIF, BMP, WebP, TIFF, ...)."
        ) from None
    except OSError as err:
        raise ValueError(f"'{path}' could not be decoded (truncated or corrupt?): {err}") from None


def _from_array(array: np.ndarray):
    """An array (H x W, H x W x 1/3/4; uint8 or float in [0, 1]) as a PIL image."""
    from PIL import Image

    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ValueError(
            "An image array must have shape (height, width), (height, width, 1), "
            f"(height, width, 3) or (height, width, 4). Received shape {array.shape}."
        )
    if min(array.shape[:2]) == 0:
        raise ValueError(f"An image array is empty: shape {array.shape}.")
    if array.dtype != np.uint8:
        if array.dtype == bool or not np.issubdtype(array.dtype, np.floating):
            raise TypeError(
                "An image array must be uint8 (0..255) or float in [0, 1]. Received dtype "
                f"{array.dtype} (if its values are 0..255, use .astype(np.uint8))."
            )
        if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
            raise ValueError(
                "A float image array must lie in [0, 1]. Received values from "
                f"{np.nanmin(array):g} to {np.nanmax(array):g}: pass uint8 0..255 images "
                "as uint8, or divide by 255."
            )
        array = np.rint(array * 255).astype(np.uint8)
    mode = {2: "L", 3: "RGB", 4: "RGBA"}[array.ndim if array.ndim == 2 else array.shape[-1]]
    return Image.fromarray(np.ascontiguousarray(array), mode=mode)


def _to_rgb(img):
    """Any PIL image as 8-bit RGB: upright, transparency on white, 16-bit rescaled."""
    from PIL import Image, ImageOps

    img = ImageOps.exif_transpose(img)  # phone photos store their rotation in EXIF
    if img.mode.startswith("I") or img.mode == "F":
        # 16/32-bit grayscale: Pillow's convert() would clip values above 255 to white.
        a = np.asarray(img, dtype=np.float64)
        if img.mode.startswith("I;16"):
            top = 65535.0
        elif img.mode == "F":
            top = 1.0 if a.max() <= 1 else 255.0
        else:  # "I": 32-bit, usually a 16-bit PNG; 8-bit values stay as they are
            top = 65535.0 if a.max() > 255 else 255.0
        img = Image.fromarray(np.clip(np.rint(a / top * 255), 0, 255).astype(np.uint8))
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    try:
        return img.convert("RGB")
    except ValueError as err:
        raise ValueError(f"An image in mode {img.mode!r} cannot be made RGB: {err}") from None


def load_image(source, *, crop: str | None = "center", resample: str = "box") -> np.ndarray:
    """One image (a file, a PIL image or an array) as a 32x32 RGB ``uint8`` array.

    The same preparation as CIFAR's images, so the model sees what it was trained on:

    1. turned upright (phone photos store their rotation in EXIF);
    2. made RGB: grayscale ("L", "1"), palette ("P") and CMYK are converted; a
       transparent background (RGBA, LA, P with transparency) is composited on
       **white**, because dropping alpha shows whatever colour the invisible
       pixels happen to hold (often black); 16-bit images are rescaled to 0..255;
    3. made square: ``crop="center"`` keeps the largest centred square (CIFAR
       images are square, so a wide photo is not squashed); ``crop=None`` squashes;
    4. resized to 32x32 with Pillow's ``BOX`` filter: each new pixel is the average
       of the area it covers, a downscaling without aliasing, like the reduction
       that made CIFAR's 32x32 images from larger photos. ``resample="nearest"``
       keeps one pixel in many and aliases, as ``keras.utils.load_img(path,
       target_size=(32, 32))`` does by default; ``"lanczos"``, ``"bicubic"`` and
       ``"bilinear"`` are other antialiased choices.

    An animation (GIF, WebP) gives its first frame.
    Arrays of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), ``uint8`` or float
    in [0, 1] (rounded to ``uint8``, like CIFAR's pixels), of any size, take the same
    path. A 32x32x3 ``uint8`` array comes back unchanged.

    Args:
        source: a path (str or Path), a ``PIL.Image.Image`` or a NumPy array.
        crop: ``"center"`` or ``None``.
        resample: ``"box"``, ``"lanczos"``, ``"bicubic"``, ``"bilinear"`` or ``"nearest"``.

    Returns:
        ``uint8`` array of shape ``(32, 32, 3)``; show it with ``plt.imshow``.

    Example:
        >>> small = load_image("my_fox.jpg")
        >>> small.shape, small.dtype
        ((32, 32, 3), dtype('uint8'))
    """
    from PIL import Image

    _check_options(crop, resample)
    if isinstance(source, (str, os.PathLike)):
        img = _open(Path(source))
    elif isinstance(source, Image.Image):
        img = source
    elif isinstance(source, np.ndarray):
        img = _from_array(source)
    else:
        raise TypeError(
            "An image must be a file path, a PIL image or a NumPy array. "
            f"Received: {type(source).__name__}."
        )
    img = _to_rgb(img)
    w, h = img.size
    box = (0, 0, w, h)
    if crop == "center":
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        box = (left, top, left + side, top + side)
    size = (IMAGE_SIZE, IMAGE_SIZE)
    if img.size == size and box == (0, 0, *size):
        out = img
    else:
        out = img.resize(size, getattr(Image.Resampling, _PIL_FILTERS[resample]), box=box)
    return np.asarray(out, dtype=np.uint8).copy()


def _as_items(images) -> list:
    """One image or many, as a list of single images."""
    from PIL import Image

    if isinstance(images, (str, os.PathLike, Image.Image)):
        return [images]
    if isinstance(images, np.ndarray):
        return list(images) if images.ndim == 4 else [images]
    if isinstance(images, Sequence) or hasattr(images, "__iter__"):
        return list(images)
    raise TypeError(
        "`images` must be a file path, a PIL image, an array, or a list of them. "
        f"Received: {type(images).__name__}."
    )


def _source_name(item, i: int) -> str:
    if isinstance(item, (str, os.PathLike)):
        return str(item)
    if isinstance(item, np.ndarray):
        return f"array #{i}"
    return getattr(item, "filename", "") or f"image #{i}"


def load_images(images, *, crop: str | None = "center", resample: str = "box") -> np.ndarray:
    """Several images (paths, PIL images, arrays; or an (N, H, W, C) array) with
    :func:`load_image`, stacked as ``uint8`` of shape ``(N, 32, 32, 3)``.

    Example:
        >>> x = load_images(["fox.jpg", "skunk.png"])
        >>> x.shape
        (2, 32, 32, 3)
    """
    _check_options(crop, resample)
    items = _as_items(images)
    if not items:
        raise ValueError("`images` is empty: give at least one file, PIL image or array.")
    return np.stack([load_image(item, crop=crop, resample=resample) for item in items])


def predict_images(
    model,
    images,
    class_names: Sequence[str],
    *,
    top_k: int = 3,
    crop: str | None = "center",
    resample: str = "box",
    batch_size: int = 256,
    synthetic: bool = False,
) -> pd.DataFrame:
    """The model's top-k classes for your own images, one row per image.

    Each image is prepared by :func:`load_image` (upright, RGB, square, 32x32),
    scaled to [0, 1] like the training images, and all are predicted in one batch.
    Call :func:`load_images` with the same options to show what the model saw.

    Args:
        model: a Keras model returning softmax probabilities.
        images: a path, a PIL image, an array, or a list of them.
        class_names: one unique name per model output, in label order.
        top_k: how many classes per image, 1..number of classes.
        crop, resample: see :func:`load_image`.
        batch_size: images per prediction batch.
        synthetic: True when the model was trained on SYNTHETIC data: the table
            says so above its columns.

    Returns:
        DataFrame with ``source`` (the file path, or ``array #i`` / ``image #i``
        where ``i`` is the position in ``images``) and, most probable first,
        ``name_1``, ``prob_1``, ..., ``name_k``, ``prob_k``.

    Example:
        >>> predict_images(model, ["fox.jpg", "raccoon.png"], mammals.class_names, top_k=2)
                source   name_1  prob_1   name_2  prob_2
        0      fox.jpg      fox   0.81   possum   0.12
        1  raccoon.png  raccoon   0.64    skunk   0.20
    """
    names = _check_class_names(class_names)
    _match_class_names(names, _model_output_size(model))
    top_k = _check_int("top_k", top_k, low=1, high=len(names))
    batch_size = _check_int("batch_size", batch_size, low=1)
    synthetic = _check_bool("synthetic", synthetic)
    _check_options(crop, resample)
    items = _as_items(images)
    if not items:
        raise ValueError("`images` is empty: give at least one file, PIL image or array.")
    x = np.stack([load_image(item, crop=crop, resample=resample) for item in items])
    p = _check_probabilities(_predict(model, x, batch_size), len(x), len(names))

    order = np.argsort(-p, axis=1, kind="stable")[:, :top_k]
    columns: dict[str, object] = {"source": [_source_name(it, i) for i, it in enumerate(items)]}
    names_arr = np.array(names, dtype=object)
    for r in range(top_k):
        columns[f"name_{r + 1}"] = names_arr[order[:, r]]
        columns[f"prob_{r + 1}"] = p[np.arange(len(p)), order[:, r]]
    frame = pd.DataFrame(columns)
    frame.attrs["synthetic"] = synthetic
    if synthetic:
        frame.columns.name = "SYNTHETIC model"
    return frame
