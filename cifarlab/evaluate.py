"""Metrics of a trained model on a test split, all from one prediction pass.

Choose models on a validation split; evaluate the chosen one on the test split once:
``print(evaluate_data(model, mammals))``. ``result.highest_loss`` is where wrong labels hide.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from tqdm.auto import tqdm

from cifarlab import _checks
from cifarlab.data import CifarData, scale_images

__all__ = ["NORMALIZE", "SPLITS", "Evaluation", "evaluate", "evaluate_data", "highest_loss_table",
           "image_losses", "most_confused_pairs", "normalize_confusion_matrix",
           "predict_probabilities"]

NORMALIZE = ("true", "pred", "all")
SPLITS = ("test", "train")
_ROWS_SHOWN = 10  # most confused pairs in to_dict()
# The one probability floor: a float32 softmax that underflowed to 0 gives a finite loss.
_TINY = float(np.finfo(np.float32).tiny)
_REMAP_HINT = (" Labels that large usually mean the original CIFAR-100 ids were kept: "
               "select_superclass / select_classes in cifarlab.data remap them to 0..k-1.")


def image_losses(probabilities: np.ndarray, y_true: np.ndarray) -> np.ndarray:
    """Cross-entropy of each image, ``-log(p_true)``, the loss Keras reports."""
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(y_true).ravel()
    return -np.log(np.maximum(p[np.arange(len(y)), y], _TINY))


def most_confused_pairs(confusion_matrix: np.ndarray, class_names: Sequence[str], *,
                        top: int | None = None) -> pd.DataFrame:
    """Off-diagonal cells, most frequent first: ``true``, ``predicted``, ``count``,
    ``fraction`` (of the true class). ``top`` keeps the first rows only."""
    cm = np.asarray(confusion_matrix)
    true_i, pred_i = np.nonzero(cm * (1 - np.eye(len(cm), dtype=cm.dtype)))
    counts = cm[true_i, pred_i]
    order = np.lexsort((pred_i, true_i, -counts))[:top]  # count desc, then true, predicted
    names = np.array(class_names, dtype=object)
    true_i, pred_i, counts = true_i[order], pred_i[order], counts[order]
    return pd.DataFrame({
        "true": names[true_i], "predicted": names[pred_i], "count": counts.astype(np.int64),
        "fraction": counts / cm.sum(axis=1)[true_i],
    })


def highest_loss_table(probabilities: np.ndarray, y_true: np.ndarray,
                       class_names: Sequence[str], *, top: int | None = 25) -> pd.DataFrame:
    """The highest-loss images, highest first: ``index`` (position), ``true``,
    ``predicted``, ``loss``, ``p_true``, ``p_pred``."""
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(y_true).ravel()
    losses = image_losses(p, y)
    worst = np.argsort(-losses, kind="stable")[:top]
    pred = p[worst].argmax(axis=1)
    names = np.array(class_names, dtype=object)
    return pd.DataFrame({
        "index": worst.astype(np.int64), "true": names[y[worst]], "predicted": names[pred],
        "loss": losses[worst], "p_true": p[worst, y[worst]], "p_pred": p[worst, pred],
    })


def normalize_confusion_matrix(confusion_matrix: np.ndarray, normalize: str = "true"):
    """Counts as fractions (scikit-learn's): ``"true"`` rows sum to 1, ``"pred"`` columns,
    ``"all"`` everything. Empty rows or columns stay 0."""
    _checks.one_of("normalize", normalize, NORMALIZE)
    cm = np.asarray(confusion_matrix, dtype=np.float64)
    true_i, pred_i = np.divmod(np.arange(cm.size), len(cm))  # one sample per cell, its count
    return skm.confusion_matrix(true_i, pred_i, labels=np.arange(len(cm)),
                                sample_weight=cm.ravel(), normalize=normalize)


@dataclass(frozen=True, eq=False)
class Evaluation:
    """Everything :func:`evaluate` measured: ``loss`` is the mean ``-log(p_true)`` Keras
    reports, ``per_class`` has precision, recall, f1, support and accuracy, ``report`` is
    scikit-learn's, ``confusion_matrix`` has true classes as rows."""

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

    num_examples = property(lambda self: len(self.y_true))
    num_classes = property(lambda self: len(self.class_names))

    @property
    def description(self) -> str:
        """What was evaluated, saying SYNTHETIC when the data is not real CIFAR."""
        text = self.name or "Evaluation"
        return f"{text} (SYNTHETIC data, not real CIFAR)" if self.synthetic else text

    def normalized_confusion_matrix(self, normalize: str = "true") -> np.ndarray:
        """The confusion matrix as fractions: see :func:`normalize_confusion_matrix`."""
        return normalize_confusion_matrix(self.confusion_matrix, normalize)

    def to_dict(self) -> dict:
        """A JSON-serialisable summary (no probability arrays)."""
        from cifarlab._files import jsonable

        return jsonable({
            "name": self.name, "synthetic": bool(self.synthetic),
            "num_examples": self.num_examples, "num_classes": self.num_classes,
            "class_names": list(self.class_names), "accuracy": self.accuracy,
            "loss": self.loss, "top_k_accuracy": self.top_k_accuracy,
            "per_class": self.per_class.to_dict(orient="index"),
            "confusion_matrix": self.confusion_matrix,
            "most_confused": self.most_confused.head(_ROWS_SHOWN).to_dict(orient="records"),
            "highest_loss": self.highest_loss.to_dict(orient="records"),
        })

    def summary(self) -> str:
        """A few lines for a notebook or a log; says SYNTHETIC when it is."""
        topk = "".join(f", top-{k} accuracy {v:.1%}" for k, v in self.top_k_accuracy.items())
        worst = self.per_class.sort_values("recall", kind="stable").head(3)
        lines = [
            self.description,
            f"  {self.num_examples:,} images, {self.num_classes} classes",
            f"  accuracy {self.accuracy:.1%}, loss {self.loss:.4f}{topk}",
            "  lowest recall: " + ", ".join(f"{n} {r:.1%}" for n, r in worst["recall"].items()),
        ]
        pairs = self.most_confused.head(3)
        if len(pairs):
            lines.append("  most confused (true -> predicted): " + ", ".join(
                f"{r.true} -> {r.predicted} ({r.count}, {r.fraction:.0%} of {r.true})"
                for r in pairs.itertuples()))
        return "\n".join(lines)

    __str__ = summary

    def __repr__(self) -> str:
        topk = "".join(f", top_{k}={v:.4f}" for k, v in self.top_k_accuracy.items())
        flag = ", SYNTHETIC" if self.synthetic else ""
        return (f"Evaluation({self.name or 'unnamed'}: accuracy={self.accuracy:.4f}, "
                f"loss={self.loss:.4f}{topk}, n={self.num_examples}, "
                f"classes={self.num_classes}{flag})")


def _class_names(class_names: object) -> tuple[str, ...]:
    if isinstance(class_names, str) or not isinstance(class_names, (Sequence, np.ndarray)):
        raise TypeError("`class_names` must be a list or tuple of class names, one per model "
                        f"output, such as data.class_names. Received: {class_names!r}.")
    names = tuple(class_names)
    if bad := [n for n in names if not isinstance(n, str)]:
        raise TypeError(f"`class_names` must all be strings. Received {bad[0]!r} "
                        f"of type {type(bad[0]).__name__}.")
    if len(names) < 2:
        raise ValueError(f"`class_names` must name at least 2 classes. Received: {names!r}.")
    if repeated := sorted({n for n in names if names.count(n) > 1}):
        raise ValueError(f"`class_names` must be unique. Repeated: {', '.join(repeated)}.")
    return names


def _check_model(model: object, names: tuple[str, ...]) -> None:
    """A Keras model with one probability per class name (unbuilt ones: after predicting)."""
    if not callable(getattr(model, "predict", None)):
        raise TypeError("`model` must be a Keras model (with a `predict` method). "
                        f"Received: {type(model).__name__}.")
    try:
        outputs = model.output_shape[-1]
    except (AttributeError, ValueError, RuntimeError, TypeError, IndexError):
        return
    if isinstance(outputs, int) and outputs != len(names):
        raise ValueError(
            f"`class_names` has {len(names)} names but the model outputs {outputs} "
            "probabilities: give one name per output, in label order (data.class_names of "
            "the data the model was trained on).")


def _images_and_labels(images: object, labels: object, k: int):
    x, y = np.asarray(images), np.asarray(labels)
    if x.shape[1:] != (32, 32, 3):
        hint = {(32, 32, 3): " For one image, pass images[None] (a batch of one).",
                (3, 32, 32): " These look channels-first: use images.transpose(0, 2, 3, 1).",
                (3072,): " These look like flat CIFAR rows: use images.reshape(-1, 3, 32, 32)"
                         ".transpose(0, 2, 3, 1), or load them with cifarlab.data."}
        raise ValueError(f"`images` must have shape (N, 32, 32, 3). Received shape "
                         f"{x.shape}.{hint.get(x.shape if x.ndim == 3 else x.shape[1:], '')}")
    if x.dtype.kind == "f" and np.isnan(x).any():
        raise ValueError("`images` contains NaN values.")
    if y.shape == (len(x), k):
        raise ValueError(f"`labels` must be integer class ids of shape ({len(x)},), not "
                         f"one-hot vectors of shape {y.shape}: pass labels.argmax(axis=1).")
    try:
        return _checks.images_and_labels(x, y, num_classes=k)
    except ValueError as err:
        too_big = y.size and y.dtype.kind in "iu" and y.max() >= k
        raise ValueError(f"{err}{_REMAP_HINT if too_big else ''}") from None


def predict_probabilities(model, images: np.ndarray, class_names: Sequence[str], *,
                          batch_size: int = 256) -> np.ndarray:
    """The model's softmax output for uint8 (or [0, 1] float) images, checked to be
    probabilities, one per class name; scaled in chunks (bounded memory)."""
    names = _class_names(class_names)
    _check_model(model, names)
    batch_size = _checks.integer("batch_size", batch_size)
    chunk = batch_size * max(1, 4096 // batch_size)
    parts, bar = [], tqdm(total=len(images), desc="predicting", unit="image", leave=False,
                          disable=len(images) <= chunk)  # a bar only where it takes a while
    for i in range(0, len(images), chunk):
        parts.append(model.predict(scale_images(images[i:i + chunk]), batch_size=batch_size,
                                   verbose=0))
        bar.update(len(parts[-1]))
    bar.close()
    if any(isinstance(part, (list, tuple, dict)) for part in parts):
        raise TypeError("`model` must have one output (class probabilities); it returned several.")
    p = np.concatenate([np.asarray(part, dtype=np.float64) for part in parts])
    if p.shape != (len(images), len(names)):
        raise ValueError(f"The model returned an array of shape {p.shape}; expected "
                         f"({len(images)}, {len(names)}): one probability per class.")
    if not np.isfinite(p).all():
        raise ValueError("The model returned NaN or infinite outputs (did training diverge? "
                         "try a lower learning rate).")
    sums = p.sum(axis=1)
    if p.min() < -1e-6 or np.abs(sums - 1).max() > 1e-2:
        raise ValueError(
            f"The model's outputs are not probabilities: rows sum to between {sums.min():.3g} "
            f"and {sums.max():.3g}, smallest value {p.min():.3g}. cifarlab models end in a "
            "softmax; if yours outputs logits, wrap it: "
            "keras.Sequential([model, keras.layers.Softmax()]).")
    return p


def evaluate(model, images: np.ndarray, labels: np.ndarray, class_names: Sequence[str], *,
             top_k: int | Sequence[int] = (3, 5), batch_size: int = 256,
             n_highest_loss: int = 25, synthetic: bool = False, name: str = "") -> Evaluation:
    """Predict once and measure everything a report needs.

    ``images``: (N, 32, 32, 3) uint8 (scaled here) or float in [0, 1]; ``labels``: class ids
    0..len(class_names) - 1, ``(N, 1)`` too; ``class_names``: one per model output, in label
    order; ``top_k``: the k of top-k accuracy (k not below the number of classes skipped);
    ``synthetic``: the images are SYNTHETIC, every summary and table says so.

    Example:
        >>> evaluate(model, x_val, y_val, mammals.class_names).most_confused.head(3)
    """
    names = _class_names(class_names)
    _check_model(model, names)
    images, y_true = _images_and_labels(images, labels, len(names))
    many = isinstance(top_k, (Sequence, np.ndarray)) and not isinstance(top_k, str)
    ks = sorted({_checks.integer("top_k", k) for k in (top_k if many else (top_k,))})
    n_highest_loss = _checks.integer("n_highest_loss", n_highest_loss, minimum=0)
    if not isinstance(synthetic, (bool, np.bool_)):
        raise TypeError(f"`synthetic` must be True or False. Received: synthetic={synthetic!r}.")
    if not isinstance(name, str):
        raise TypeError(f"`name` must be a string. Received: name={name!r}.")
    ids = np.arange(len(names))
    p = predict_probabilities(model, images, names, batch_size=batch_size)
    y_pred = p.argmax(axis=1)
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=ids, zero_division=0)
    per_class = pd.DataFrame(
        {"precision": precision, "recall": recall, "f1": f1,
         "support": support.astype(np.int64), "accuracy": recall},
        index=pd.Index(names, name="class"))
    cm = skm.confusion_matrix(y_true, y_pred, labels=ids).astype(np.int64)
    confused, worst = most_confused_pairs(cm, names), highest_loss_table(p, y_true, names,
                                                                         top=n_highest_loss)
    for frame in (per_class, confused, worst) if synthetic else ():
        frame.columns.name = "SYNTHETIC"  # shown above the columns of a displayed table
    return Evaluation(
        accuracy=float((y_pred == y_true).mean()),
        loss=float(image_losses(p, y_true).mean()),
        top_k_accuracy={k: float(skm.top_k_accuracy_score(y_true, p, k=k, labels=ids))
                        for k in ks if k < len(names)},
        per_class=per_class, confusion_matrix=cm, class_names=names, most_confused=confused,
        report=skm.classification_report(y_true, y_pred, labels=ids, target_names=list(names),
                                         digits=3, zero_division=0),
        highest_loss=worst, y_true=y_true, y_pred=y_pred, probabilities=p,
        synthetic=bool(synthetic), name=name)


def evaluate_data(model, data: CifarData, *, split: str = "test",
                  top_k: int | Sequence[int] = (3, 5), batch_size: int = 256,
                  n_highest_loss: int = 25) -> Evaluation:
    """:func:`evaluate` on the ``"test"`` (or ``"train"``) split of a ``CifarData``, with its
    class names, SYNTHETIC flag and name. Evaluate the test split once, for the chosen model."""
    if not isinstance(data, CifarData):
        raise TypeError("`data` must be a CifarData from cifarlab.data (load_cifar100, "
                        f"select_superclass, ...). Received: {type(data).__name__}. For arrays, "
                        "call evaluate(model, images, labels, class_names).")
    _checks.one_of("split", split, SPLITS)
    x, y = (data.x_test, data.y_test) if split == "test" else (data.x_train, data.y_train)
    return evaluate(model, x, y, data.class_names, top_k=top_k, batch_size=batch_size,
                    n_highest_loss=n_highest_loss, synthetic=data.synthetic,
                    name=f"{data.name}, {split} split")
