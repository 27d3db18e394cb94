"""Every figure a CIFAR report needs, one call each, correct and readable.

Each function draws on the ``ax`` it is given (or on a new figure) and returns the
Axes; image grids and multi-panel plots return the Figure. Nothing here calls
``plt.show()``, changes ``rcParams`` or trains anything: plots only draw what
:mod:`cifarlab.evaluate`, :mod:`cifarlab.train` or your own code computed.

Figures made from SYNTHETIC data say so in their title: pass ``synthetic=True``
with plain arrays; objects with a ``.synthetic`` attribute (``CifarData``,
``Evaluation``, run records) are detected.

Example:
    >>> from cifarlab import plots
    >>> plots.plot_samples(data.x_train, data.y_train, data.class_names, n=16)
    >>> plots.plot_history(history)                     # Keras History, dict, run, DataFrame
    >>> plots.plot_confusion_matrix(evaluation, normalize="true")
"""

from __future__ import annotations

import difflib
import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from cifarlab import labels as _labels

__all__ = [
    "plot_augmentations",
    "plot_class_grid",
    "plot_confusion_matrix",
    "plot_feature_maps",
    "plot_highest_loss",
    "plot_history",
    "plot_most_confused",
    "plot_per_class",
    "plot_predictions",
    "plot_run_comparison",
    "plot_samples",
]

NORMALIZE_OPTIONS = (None, "true", "pred", "all")
ORDER_OPTIONS = (None, "superclass", "given")
PER_CLASS_METRICS = ("accuracy", "precision", "recall", "f1")
PREDICTION_CHOICES = ("all", "mistakes", "correct")
LR_KEYS = ("learning_rate", "lr")
MISTAKE_COLOR = "tab:red"
SYNTHETIC_NOTE = "SYNTHETIC data"
# At most this many learning-rate changes are drawn as marked lines; more (a schedule
# that changes every epoch) are drawn as a curve on a second y axis.
MAX_LR_MARKS = 4


# --------------------------------------------------------------------------- helpers


def _mark(text: str, synthetic: bool) -> str:
    """``text`` with "(SYNTHETIC data)" appended when the data is synthetic."""
    if not synthetic or "SYNTHETIC" in text:
        return text
    return f"{text} ({SYNTHETIC_NOTE})" if text else SYNTHETIC_NOTE


def _wrap(text: str, width_in: float, fontsize: float) -> str:
    """Break ``text`` into lines that fit ``width_in`` inches at ``fontsize`` points."""
    chars = max(24, int(width_in * 72 / (0.58 * fontsize)))
    return "\n".join(textwrap.fill(line, chars) for line in text.split("\n"))


def _set_suptitle(fig: Figure, text: str, synthetic: bool, fontsize: float = 12) -> None:
    fig.suptitle(_wrap(_mark(text, synthetic), fig.get_figwidth(), fontsize), fontsize=fontsize)


def _set_title(ax: Axes, text: str, synthetic: bool, fontsize: float = 11) -> None:
    width = ax.figure.get_figwidth() * max(ax.get_position().width, 0.5)
    ax.set_title(_wrap(_mark(text, synthetic), width, fontsize), fontsize=fontsize)


def _synthetic_of(obj: Any, synthetic: bool | None) -> bool:
    """``synthetic`` when given, else the object's ``.synthetic`` flag (or a config entry)."""
    if synthetic is not None:
        return bool(synthetic)
    if isinstance(obj, Mapping):
        return bool(obj.get("synthetic", False))
    flag = getattr(obj, "synthetic", None)
    if flag is not None:
        return bool(flag)
    for attr in ("config", "metrics"):
        extra = getattr(obj, attr, None)
        if isinstance(extra, Mapping) and extra.get("synthetic"):
            return True
    return False


def _new_axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    elif not isinstance(ax, Axes):
        raise TypeError(f"`ax` must be a matplotlib Axes or None. Received: {ax!r}.")
    return ax


def _check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}.")
    return int(value)


def _check_choice(value: Any, name: str, options: Sequence[Any]) -> None:
    if value in options:
        return
    shown = ", ".join(repr(o) for o in options)
    hint = ""
    if isinstance(value, str):
        close = difflib.get_close_matches(value, [o for o in options if isinstance(o, str)], n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"Unknown {name}={value!r}.{hint} Valid: {shown}.")


def _check_class_names(class_names: Any, name: str = "class_names") -> tuple[str, ...]:
    if isinstance(class_names, (str, bytes)) or not isinstance(class_names, (Sequence, np.ndarray)):
        raise TypeError(
            f"`{name}` must be a sequence of class names such as data.class_names. "
            f"Received: {class_names!r}."
        )
    names = tuple(str(n) for n in class_names)
    if not names:
        raise ValueError(f"`{name}` is empty: give one name per class.")
    return names


def _display_images(images: Any, name: str = "images", *, single: bool = False) -> np.ndarray:
    """uint8 or [0, 1] float images -> float32 in [0, 1], shape (N, H, W, C) with C in 1, 3."""
    from cifarlab.data import scale_images

    arr = np.asarray(images)
    if single:
        if arr.ndim == 4 and arr.shape[0] == 1:
            arr = arr[0]
        if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] in (1, 3)):
            arr = arr[None]
        else:
            raise ValueError(
                f"`{name}` must be one image of shape (height, width, 3). "
                f"Received shape {arr.shape}."
            )
    if arr.ndim == 3:  # (N, H, W) grayscale
        arr = arr[..., None]
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3):
        raise ValueError(
            f"`{name}` must have shape (N, height, width, 3). Received shape {arr.shape}."
        )
    if len(arr) == 0:
        raise ValueError(f"`{name}` is empty: there is nothing to show.")
    try:
        return scale_images(arr)
    except (TypeError, ValueError) as err:
        raise type(err)(f"`{name}`: {err}") from None


def _check_labels(labels: Any, count: int, num_classes: int, name: str) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]  # Keras-style (N, 1) labels
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must be one integer per image. Received shape {arr.shape}.")
    if len(arr) != count:
        raise ValueError(
            f"`{name}` has {len(arr)} entries but `images` has {count} images: "
            "give one label per image."
        )
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(
            f"`{name}` must be integer class ids (not names or one-hot rows). "
            f"Received dtype {arr.dtype}."
        )
    if count and (arr.min() < 0 or arr.max() >= num_classes):
        bad = arr.min() if arr.min() < 0 else arr.max()
        raise ValueError(
            f"`{name}` holds the class id {bad}, but `class_names` has {num_classes} names "
            f"(valid ids 0..{num_classes - 1})."
        )
    return arr.astype(np.int64, copy=False)


def _show_image(ax: Axes, image: np.ndarray) -> None:
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(np.clip(image, 0.0, 1.0), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def _image_grid(
    count: int, ncols: int | None, cell: tuple[float, float]
) -> tuple[Figure, list[Axes]]:
    """A figure with ``count`` image axes in a grid; unused cells are removed."""
    if ncols is None:
        ncols = math.ceil(math.sqrt(count))
    ncols = _check_positive_int(ncols, "ncols")
    ncols = min(ncols, count)
    nrows = math.ceil(count / ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(cell[0] * ncols, cell[1] * nrows + 0.6),
        squeeze=False,
        layout="constrained",
    )
    flat = list(axes.ravel())
    for extra in flat[count:]:
        extra.remove()
    return fig, flat[:count]


def _table(obj: Any, attr: str, what: str):
    """``obj.<attr>`` (a DataFrame) from an evaluation, or ``obj`` itself when it is one."""
    import pandas as pd

    if isinstance(obj, pd.DataFrame):
        return obj
    table = getattr(obj, attr, None)
    if table is None:
        raise TypeError(
            f"`{what}` must be a cifarlab Evaluation (with `.{attr}`) or a pandas "
            f"DataFrame. Received: {type(obj).__name__}."
        )
    return table if isinstance(table, pd.DataFrame) else pd.DataFrame(table)


# --------------------------------------------------------------------------- image grids


def plot_samples(
    images: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    *,
    n: int = 25,
    seed: int = 0,
    ncols: int | None = None,
    synthetic: bool = False,
    title: str | None = None,
) -> Figure:
    """A grid of ``n`` random images, each titled with its class name.

    Args:
        images: uint8 images (N, 32, 32, 3), or floats in [0, 1].
        labels: integer class ids, one per image.
        class_names: the name of each class id (``data.class_names``).
        n: how many images (fewer when there are fewer images).
        seed: which images are picked.
        ncols: columns of the grid (default: a square grid).
        synthetic: the images are SYNTHETIC; the title says so.
        title: figure title (default: what is shown).

    Returns:
        The Figure.

    Example:
        >>> plot_samples(data.x_train, data.y_train, data.class_names, n=16,
        ...              synthetic=data.synthetic)
    """
    names = _check_class_names(class_names)
    shown = _display_images(images)
    y = _check_labels(labels, len(shown), len(names), "labels")
    n = min(_check_positive_int(n, "n"), len(shown))
    pick = np.sort(np.random.default_rng(seed).choice(len(shown), size=n, replace=False))
    fig, axes = _image_grid(n, ncols, (1.5, 1.7))
    for ax, i in zip(axes, pick, strict=True):
        _show_image(ax, shown[i])
        ax.set_title(names[y[i]], fontsize=9)
    default = f"{n} random images with their class names"
    _set_suptitle(fig, default if title is None else title, synthetic)
    return fig


def plot_class_grid(
    images: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    *,
    per_class: int = 10,
    seed: int = 0,
    classes: Sequence[str] | None = None,
    synthetic: bool = False,
    title: str | None = None,
) -> Figure:
    """``per_class`` random examples of every class, one row per class, named on the left.

    Args:
        images, labels, class_names: as for :func:`plot_samples`.
        per_class: images per row.
        seed: which images are picked.
        classes: names of the classes to show, in this order (default: all).
        synthetic: the images are SYNTHETIC; the title says so.
        title: figure title.

    Returns:
        The Figure: one Axes per class, its y label the class name.

    Example:
        >>> plot_class_grid(mammals.x_train, mammals.y_train, mammals.class_names, per_class=8)
    """
    names = _check_class_names(class_names)
    shown = _display_images(images)
    y = _check_labels(labels, len(shown), len(names), "labels")
    per_class = _check_positive_int(per_class, "per_class")
    if classes is None:
        rows = list(range(len(names)))
    else:
        rows = []
        for name in _check_class_names(classes, "classes"):
            if name not in names:
                close = difflib.get_close_matches(name, names, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ValueError(
                    f"Unknown class {name!r} in `classes`.{hint} Valid: {', '.join(names)}."
                )
            rows.append(names.index(name))
    rng = np.random.default_rng(seed)
    height, width = shown.shape[1:3]
    gap = max(1, width // 16)
    fig, axes = plt.subplots(
        len(rows),
        1,
        figsize=(0.9 * per_class + 1.6, 0.9 * len(rows) + 0.7),
        squeeze=False,
        layout="constrained",
    )
    for ax, cls in zip(axes[:, 0], rows, strict=True):
        members = np.flatnonzero(y == cls)
        pick = np.sort(rng.choice(members, size=min(per_class, len(members)), replace=False))
        # One row = the class's images side by side on a white background.
        strip = np.ones((height, per_class * (width + gap) - gap, shown.shape[-1]), np.float32)
        for j, i in enumerate(pick):
            strip[:, j * (width + gap) : j * (width + gap) + width] = shown[i]
        _show_image(ax, strip)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_ylabel(names[cls], rotation=0, ha="right", va="center", fontsize=10)
        if len(pick) < per_class:
            ax.set_xlabel(f"only {len(pick)} images", fontsize=8)
    default = f"{per_class} random images per class"
    _set_suptitle(fig, default if title is None else title, synthetic)
    return fig


# --------------------------------------------------------------------------- history


def _history_dict(history: Any) -> dict[str, np.ndarray]:
    """A Keras History, dict, run record or DataFrame -> {key: float array per epoch}."""
    import pandas as pd

    source = history
    for _ in range(3):  # History -> .history dict; run record -> .history dict or DataFrame
        if isinstance(source, (Mapping, pd.DataFrame)):
            break
        if hasattr(source, "history"):
            source = source.history
    if isinstance(source, pd.DataFrame):
        source = {
            str(c): source[c].to_numpy()
            for c in source.columns
            if pd.api.types.is_numeric_dtype(source[c])
        }
    if not isinstance(source, Mapping):
        raise TypeError(
            "`history` must be a Keras History, a dict of metric -> values per epoch, a "
            "run record with a `.history` dict, or a DataFrame read from history.csv. "
            f"Received: {type(history).__name__}."
        )
    out: dict[str, np.ndarray] = {}
    for key, values in source.items():
        if str(key) == "epoch":
            continue  # epochs are numbered 1..N by position
        arr = np.asarray(values, dtype=float).ravel()
        if arr.size:
            out[str(key)] = arr
    if not out:
        raise ValueError(
            "`history` is empty: it has no values per epoch. Pass the History that "
            "model.fit returned after at least one epoch."
        )
    return out


def _metric_names(hist: Mapping[str, np.ndarray]) -> list[str]:
    names = {k[4:] if k.startswith("val_") else k for k in hist}
    return sorted(n for n in names if n != "lr" and not n.startswith("learning_rate"))


def _check_metric(metric: Any, available: list[str], name: str = "metric") -> None:
    if isinstance(metric, str) and metric in available:
        return
    hint = ""
    if isinstance(metric, str):
        if metric.startswith("val_") and metric[4:] in available:
            hint = f" Did you mean {metric[4:]!r}? Its validation curve is drawn with it."
        else:
            close = difflib.get_close_matches(metric, available, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"Unknown {name} {metric!r}.{hint} Available metrics in this history: "
        f"{', '.join(available)}."
    )


def _format_lr(value: float) -> str:
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{exponent}"


def plot_history(
    history: Any,
    *,
    metrics: Sequence[str] = ("loss", "accuracy"),
    axes: Sequence[Axes] | None = None,
    title: str | None = None,
    synthetic: bool | None = None,
) -> Figure:
    """Training and validation curves, one panel per metric, with the best epoch marked.

    Each panel's legend says exactly what is drawn ("training loss", "validation
    loss", ...); its y label is the metric name and the x axis counts epochs from 1.
    A dashed line marks the best epoch (lowest validation loss). When the history
    records a ``learning_rate`` that changes, dotted lines mark the first epoch of
    each new rate ("learning rate -> 5e-04"); a rate that changes more than
    four times is drawn as a curve on a second y axis of the first panel instead.

    Args:
        history: a Keras ``History``, a dict ``{"loss": [...], "val_loss": [...]}``,
            any object with such a ``.history`` (a cifarlab run record), or a
            pandas DataFrame read from ``history.csv`` (an ``epoch`` column is ignored).
        metrics: metric names; validation curves come from ``val_<metric>``.
        axes: one Axes per metric to draw on (default: a new figure).
        title: figure title (default "training history").
        synthetic: the run used SYNTHETIC data (default: the object's ``.synthetic``).

    Returns:
        The Figure.

    Raises:
        ValueError: empty history, or a metric that is not in it (the message lists
            the available ones).

    Example:
        >>> history = model.fit(train_ds, validation_data=val_ds, epochs=10)
        >>> plot_history(history)
    """
    hist = _history_dict(history)
    available = _metric_names(hist)
    if isinstance(metrics, str):
        metrics = (metrics,)
    metrics = tuple(metrics)
    if not metrics:
        raise ValueError("`metrics` is empty: name at least one metric, e.g. ('loss',).")
    for metric in metrics:
        _check_metric(metric, available)
    created = axes is None
    if created:
        fig, axes_arr = plt.subplots(
            1, len(metrics), figsize=(5.2 * len(metrics), 4), squeeze=False, layout="constrained"
        )
        axes = list(axes_arr[0])
    else:
        axes = list(np.ravel(np.asarray(axes, dtype=object)))
        if len(axes) != len(metrics) or not all(isinstance(a, Axes) for a in axes):
            raise ValueError(
                f"`axes` must hold one matplotlib Axes per metric: {len(metrics)} metrics "
                f"{metrics}, received {len(axes)} axes."
            )
        fig = axes[0].figure

    best = None
    val_loss = hist.get("val_loss")
    if val_loss is not None and np.isfinite(val_loss).any():
        best = int(np.nanargmin(val_loss)) + 1
    lr_key = next((k for k in LR_KEYS if k in hist), None)
    lr = hist[lr_key] if lr_key else None
    changes = []
    if lr is not None and len(lr) > 1:
        finite = np.isfinite(lr[1:]) & np.isfinite(lr[:-1])
        changed = finite & ~np.isclose(lr[1:], lr[:-1], rtol=1e-6, atol=0.0)
        changes = [int(i) + 1 for i in np.flatnonzero(changed)]  # 0-based first epoch

    for i, (ax, metric) in enumerate(zip(axes, metrics, strict=True)):
        for key, label, style in (
            (metric, f"training {metric}", "-"),
            (f"val_{metric}", f"validation {metric}", "--"),
        ):
            if key in hist:
                values = hist[key]
                epochs = np.arange(1, len(values) + 1)
                ax.plot(
                    epochs,
                    values,
                    style,
                    marker="o" if len(values) <= 30 else None,
                    markersize=3,
                    label=label,
                )
        if best is not None:
            ax.axvline(best, color="gray", linestyle="--", linewidth=1, label=f"best epoch {best}")
        handles, texts = ax.get_legend_handles_labels()
        if changes and len(changes) <= MAX_LR_MARKS:
            for index in changes:
                ax.axvline(
                    index + 1,
                    color="tab:purple",
                    linestyle=":",
                    linewidth=1.2,
                    label=f"learning rate -> {_format_lr(lr[index])}",
                )
            handles, texts = ax.get_legend_handles_labels()
        elif changes and i == 0:
            twin = ax.twinx()
            (line,) = twin.plot(
                np.arange(1, len(lr) + 1),
                lr,
                ":",
                color="tab:purple",
                label="learning rate (right axis)",
            )
            twin.set_yscale("log")
            twin.set_ylabel("learning rate")
            handles, texts = handles + [line], texts + [line.get_label()]
        ax.legend(handles, texts, fontsize=8)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)

    flag = _synthetic_of(history, synthetic)
    if title is not None or flag or created:
        _set_suptitle(fig, "training history" if title is None else title, flag)
    return fig


# --------------------------------------------------------------------------- confusion


def _superclass_order(names: tuple[str, ...]) -> tuple[np.ndarray, list[tuple[int, int, str]]]:
    """Indices putting CIFAR-100 fine classes in superclass order, and the blocks."""
    fine = {name: i for i, name in enumerate(_labels.FINE_LABELS)}
    unknown = [n for n in names if n not in fine]
    if unknown:
        raise ValueError(
            "order='superclass' needs CIFAR-100 fine class names; these are not: "
            f"{', '.join(map(repr, unknown[:10]))}. Use order='given' to keep your order."
        )
    coarse = [_labels.FINE_TO_COARSE[fine[n]] for n in names]
    order = np.array(sorted(range(len(names)), key=lambda i: (coarse[i], fine[names[i]])))
    blocks = []
    start = 0
    for pos in range(1, len(order) + 1):
        if pos == len(order) or coarse[order[pos]] != coarse[order[start]]:
            blocks.append((start, pos, _labels.COARSE_LABELS[coarse[order[start]]]))
            start = pos
    return order, blocks


def plot_confusion_matrix(
    cm_or_evaluation: Any,
    class_names: Sequence[str] | None = None,
    *,
    normalize: str | None = None,
    annotate: bool | None = None,
    order: str | None = None,
    ax: Axes | None = None,
    cmap: str = "Blues",
    title: str | None = None,
    synthetic: bool | None = None,
) -> Axes:
    """A confusion matrix heatmap with class names on both axes, readable at 100 classes.

    Rows are true classes (y label "true class"), columns predicted classes (x label
    "predicted class"). Cells hold counts, or fractions with ``normalize``. With
    more than 20 classes the cells are not annotated and tick labels are small; the
    CIFAR-100 classes are grouped by superclass, with lines between the blocks and
    the superclass names along the top.

    Args:
        cm_or_evaluation: a square count matrix (rows true, columns predicted), or an
            object with ``.confusion_matrix`` and ``.class_names`` (cifarlab Evaluation).
        class_names: one name per row (default: the evaluation's names, else 0..k-1).
        normalize: None (counts), "true" (each row sums to 1: recall on the
            diagonal), "pred" (each column sums to 1: precision), or "all".
        annotate: write the value in each cell (default: only up to 20 classes).
        order: None (superclass order when all names are CIFAR-100 fine names and
            there are more than 20 classes, else as given), "superclass", or "given".
        ax: Axes to draw on (default: a new figure sized for the number of classes).
        cmap: matplotlib colormap name.
        title: Axes title (default "confusion matrix", plus how it is normalised).
        synthetic: the data is SYNTHETIC (default: the evaluation's ``.synthetic``).

    Returns:
        The Axes.

    Example:
        >>> plot_confusion_matrix(evaluation, normalize="true")
        >>> plot_confusion_matrix(cm, data.class_names)
    """
    import seaborn as sns

    source = cm_or_evaluation
    if hasattr(source, "confusion_matrix") and not isinstance(source, np.ndarray):
        cm = source.confusion_matrix
        if class_names is None:
            class_names = getattr(source, "class_names", None)
    else:
        cm = source
    try:
        cm = np.asarray(cm, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(
            "`cm_or_evaluation` must be a square matrix of counts or an Evaluation. "
            f"Received: {type(source).__name__}."
        ) from None
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(
            "The confusion matrix must be square (rows true classes, columns predicted "
            f"classes). Received shape {cm.shape}."
        )
    if not np.isfinite(cm).all() or (cm < 0).any():
        raise ValueError("The confusion matrix must hold non-negative finite counts.")
    k = cm.shape[0]
    names = (
        tuple(str(i) for i in range(k)) if class_names is None else _check_class_names(class_names)
    )
    if len(names) != k:
        raise ValueError(
            f"`class_names` has {len(names)} names but the confusion matrix has {k} "
            "classes: give one name per row."
        )
    _check_choice(normalize, "normalize", NORMALIZE_OPTIONS)
    _check_choice(order, "order", ORDER_OPTIONS)
    if annotate is not None and not isinstance(annotate, (bool, np.bool_)):
        raise TypeError(f"`annotate` must be True, False or None. Received: {annotate!r}.")

    blocks: list[tuple[int, int, str]] = []
    use_superclass = order == "superclass" or (
        order is None and k > 20 and set(names) <= set(_labels.FINE_LABELS)
    )
    if use_superclass:
        perm, blocks = _superclass_order(names)
        cm = cm[np.ix_(perm, perm)]
        names = tuple(names[i] for i in perm)

    counts_are_int = np.allclose(cm, np.round(cm))
    if normalize == "true":
        sums = cm.sum(axis=1, keepdims=True)
    elif normalize == "pred":
        sums = cm.sum(axis=0, keepdims=True)
    elif normalize == "all":
        sums = np.full((1, 1), cm.sum())
    if normalize is not None:
        cm = np.divide(cm, sums, out=np.zeros_like(cm), where=sums > 0)
    if annotate is None:
        annotate = k <= 20
    fmt = ".2f" if normalize else (".0f" if counts_are_int else ".3g")
    colorbar_label = {
        None: "number of images",
        "true": "fraction of the true class",
        "pred": "fraction of the predicted class",
        "all": "fraction of all images",
    }[normalize]

    size = float(np.clip(0.13 * k + 3.0, 5.0, 16.0))
    ax = _new_axes(ax, (size + 1.2, size))
    tick_size = 9 if k <= 20 else (7 if k <= 50 else 5.5)
    sns.heatmap(
        cm,
        ax=ax,
        cmap=cmap,
        annot=bool(annotate),
        fmt=fmt,
        annot_kws={"fontsize": 8 if k <= 10 else 6},
        xticklabels=list(names),
        yticklabels=list(names),
        vmin=0.0,
        vmax=1.0 if normalize else None,
        square=True,
        linewidths=0.5 if k <= 20 else 0.0,
        cbar_kws={"label": colorbar_label, "shrink": 0.8},
    )
    ax.tick_params(axis="both", labelsize=tick_size, length=2 if k > 20 else 3.5)
    ax.set_xticklabels(ax.get_xticklabels(), rotation=90)
    ax.set_yticklabels(ax.get_yticklabels(), rotation=0)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if len(blocks) > 1:
        for start, _, _ in blocks[1:]:
            ax.axhline(start, color="black", linewidth=0.8)
            ax.axvline(start, color="black", linewidth=0.8)
        top = ax.secondary_xaxis("top")
        top.set_ticks(
            [(a + b) / 2 for a, b, _ in blocks],
            labels=[name for _, _, name in blocks],
            rotation=90,
            fontsize=tick_size + 0.5,
        )
        top.tick_params(length=0)
        top.set_xlabel("superclass", fontsize=9)
    how = {
        None: "",
        "true": " (rows normalised: recall on the diagonal)",
        "pred": " (columns normalised: precision on the diagonal)",
        "all": " (normalised over all images)",
    }[normalize]
    default = f"confusion matrix, {k} classes{how}"
    _set_title(ax, default if title is None else title, _synthetic_of(source, synthetic))
    return ax


# --------------------------------------------------------------------------- evaluation


def plot_per_class(
    evaluation: Any,
    *,
    metric: str = "accuracy",
    ax: Axes | None = None,
    title: str | None = None,
    synthetic: bool | None = None,
) -> Axes:
    """One horizontal bar per class, sorted best to worst, with the mean as a line.

    Args:
        evaluation: a cifarlab Evaluation (uses ``.per_class``), or a DataFrame indexed
            by class name with the metric as a column.
        metric: "accuracy", "precision", "recall" or "f1".
        ax: Axes to draw on (default: a new figure sized for the number of classes).
        title: Axes title.
        synthetic: the data is SYNTHETIC (default: the evaluation's ``.synthetic``).

    Returns:
        The Axes; the best class is the top bar.

    Example:
        >>> plot_per_class(evaluation, metric="precision")
    """
    _check_choice(metric, "metric", PER_CLASS_METRICS)
    table = _table(evaluation, "per_class", "evaluation")
    if metric not in table.columns:
        raise ValueError(
            f"The per-class table has no {metric!r} column. Its columns: "
            f"{', '.join(map(str, table.columns))}."
        )
    if len(table) == 0:
        raise ValueError("The per-class table is empty: there are no classes to plot.")
    # Best first, ties in name order; reversed because barh draws bottom-up.
    values = table[metric].astype(float)
    order = sorted(
        range(len(values)),
        key=lambda i: (-np.nan_to_num(values.iloc[i], nan=-1.0), str(values.index[i])),
    )
    values = values.iloc[order[::-1]]
    k = len(values)
    ax = _new_axes(ax, (8, float(np.clip(0.22 * k + 1.5, 3.0, 24.0))))
    positions = np.arange(k)
    bars = ax.barh(positions, values.to_numpy(), color="tab:blue", label=f"{metric} per class")
    ax.set_yticks(positions, labels=[str(n) for n in values.index])
    ax.tick_params(axis="y", labelsize=9 if k <= 30 else 6)
    ax.set_ylim(-0.6, k - 0.4)
    mean = float(np.nanmean(values.to_numpy()))
    ax.axvline(
        mean, color="tab:red", linestyle="--", label=f"mean {metric} over classes = {mean:.3f}"
    )
    if k <= 30:
        ax.bar_label(bars, fmt="%.2f", padding=2, fontsize=8)
    ax.set_xlim(0, 1.08)
    ax.set_xlabel(metric)
    ax.set_ylabel("class")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    default = f"{metric} per class, sorted"
    _set_title(ax, default if title is None else title, _synthetic_of(evaluation, synthetic))
    return ax


def plot_predictions(
    images: np.ndarray,
    true: np.ndarray,
    pred: np.ndarray,
    class_names: Sequence[str],
    *,
    probs: np.ndarray | None = None,
    n: int = 16,
    which: str = "all",
    seed: int = 0,
    ncols: int | None = None,
    synthetic: bool = False,
    title: str | None = None,
) -> Figure:
    """Images titled "true: X / pred: Y (p=0.87)"; mistakes in red with a red frame.

    Args:
        images: uint8 images (N, 32, 32, 3), or floats in [0, 1].
        true: true class ids, one per image.
        pred: predicted class ids, one per image.
        class_names: the name of each class id.
        probs: the model's probabilities, (N, classes) or the predicted class's
            probability (N,); shown as ``p=``.
        n: how many images.
        which: "all", "mistakes" or "correct" predictions.
        seed: which images are picked.
        ncols: columns of the grid.
        synthetic: the images are SYNTHETIC; the title says so.
        title: figure title (default: how many of those shown are mistakes).

    Returns:
        The Figure.

    Example:
        >>> probs = model.predict(scale_images(data.x_test))
        >>> plot_predictions(data.x_test, data.y_test, probs.argmax(1), data.class_names,
        ...                  probs=probs, which="mistakes")
    """
    names = _check_class_names(class_names)
    shown = _display_images(images)
    y_true = _check_labels(true, len(shown), len(names), "true")
    y_pred = _check_labels(pred, len(shown), len(names), "pred")
    n = _check_positive_int(n, "n")
    _check_choice(which, "which", PREDICTION_CHOICES)
    p_shown = None
    if probs is not None:
        p = np.asarray(probs, dtype=float)
        if p.ndim == 2 and p.shape == (len(shown), len(names)):
            p_shown = p[np.arange(len(shown)), y_pred]
        elif p.ndim == 1 and len(p) == len(shown):
            p_shown = p
        else:
            raise ValueError(
                f"`probs` must have shape ({len(shown)}, {len(names)}) (probabilities per "
                f"class) or ({len(shown)},) (probability of the prediction). "
                f"Received shape {p.shape}."
            )
    wrong = y_true != y_pred
    pool = {
        "all": np.arange(len(shown)),
        "mistakes": np.flatnonzero(wrong),
        "correct": np.flatnonzero(~wrong),
    }[which]
    if len(pool) == 0:
        raise ValueError(f"which={which!r}: there are no such predictions among the images.")
    pick = np.sort(np.random.default_rng(seed).choice(pool, size=min(n, len(pool)), replace=False))
    fig, axes = _image_grid(
        len(pick), ncols if ncols is not None else min(4, len(pick)), (2.6, 2.3)
    )
    for ax, i in zip(axes, pick, strict=True):
        _show_image(ax, shown[i])
        text = f"true: {names[y_true[i]]} / pred: {names[y_pred[i]]}"
        if p_shown is not None:
            text += f" (p={p_shown[i]:.2f})"
        color = MISTAKE_COLOR if wrong[i] else "black"
        ax.set_title(text, fontsize=7.5, color=color, wrap=True)
        for spine in ax.spines.values():
            spine.set_color(color)
            spine.set_linewidth(3 if wrong[i] else 0.8)
    mistakes = int(wrong[pick].sum())
    default = f"{mistakes} of {len(pick)} shown are mistakes (in red)"
    _set_suptitle(fig, default if title is None else title, synthetic)
    return fig


def _most_confused_from_cm(cm: np.ndarray, names: Sequence[str]):
    import pandas as pd

    cm = np.asarray(cm)
    off = cm.astype(float).copy()
    np.fill_diagonal(off, 0)
    rows, cols = np.nonzero(off)
    order = np.argsort(-off[rows, cols], kind="stable")
    support = cm.sum(axis=1)
    return pd.DataFrame(
        {
            "true": [names[r] for r in rows[order]],
            "predicted": [names[c] for c in cols[order]],
            "count": off[rows, cols][order].astype(int),
            "fraction": off[rows, cols][order] / np.maximum(support[rows[order]], 1),
        }
    )


def plot_most_confused(
    evaluation: Any,
    *,
    k: int = 10,
    ax: Axes | None = None,
    title: str | None = None,
    synthetic: bool | None = None,
) -> Axes:
    """The ``k`` most frequent mistakes as bars labelled "true -> predicted", with counts.

    Args:
        evaluation: a cifarlab Evaluation (uses ``.most_confused``, or the confusion
            matrix), or a DataFrame with columns true, predicted, count.
        k: how many pairs.
        ax: Axes to draw on.
        title: Axes title.
        synthetic: the data is SYNTHETIC (default: the evaluation's ``.synthetic``).

    Returns:
        The Axes; the most frequent mistake is the top bar.

    Example:
        >>> plot_most_confused(evaluation, k=15)
    """
    import pandas as pd

    k = _check_positive_int(k, "k")
    if isinstance(evaluation, pd.DataFrame):
        table = evaluation
    elif getattr(evaluation, "most_confused", None) is not None:
        table = pd.DataFrame(evaluation.most_confused)
    elif getattr(evaluation, "confusion_matrix", None) is not None:
        table = _most_confused_from_cm(evaluation.confusion_matrix, evaluation.class_names)
    else:
        raise TypeError(
            "`evaluation` must be a cifarlab Evaluation or a DataFrame with columns "
            f"true, predicted, count. Received: {type(evaluation).__name__}."
        )
    missing = {"true", "predicted", "count"} - set(table.columns)
    if missing:
        raise ValueError(
            f"The most-confused table lacks the column(s) {', '.join(sorted(missing))}; "
            f"it has {', '.join(map(str, table.columns))}."
        )
    table = table[table["count"] > 0].sort_values("count", ascending=False, kind="stable")
    table = table.head(k).iloc[::-1]  # barh draws bottom-up: largest on top
    ax = _new_axes(ax, (7, 0.35 * max(len(table), 3) + 1.5))
    if len(table) == 0:
        ax.text(0.5, 0.5, "no mistakes", ha="center", va="center", transform=ax.transAxes)
    else:
        positions = np.arange(len(table))
        bars = ax.barh(positions, table["count"].to_numpy(), color="tab:orange")
        ax.set_yticks(
            positions,
            labels=[f"{t} -> {p}" for t, p in zip(table["true"], table["predicted"], strict=True)],
        )
        ax.bar_label(bars, fmt="%d", padding=2, fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.margins(x=0.1)
    ax.set_xlabel("number of test images")
    ax.set_ylabel("true class -> predicted class")
    default = f"the {len(table)} most frequent mistakes"
    _set_title(ax, default if title is None else title, _synthetic_of(evaluation, synthetic))
    return ax


def _highest_loss_table(evaluation: Any):
    """``evaluation.highest_loss``, or the same table computed from its probabilities."""
    import pandas as pd

    table = getattr(evaluation, "highest_loss", None)
    if table is not None:
        return pd.DataFrame(table)
    probs = getattr(evaluation, "probabilities", None)
    y_true = getattr(evaluation, "y_true", None)
    names = getattr(evaluation, "class_names", None)
    if probs is None or y_true is None or names is None:
        raise TypeError(
            "`evaluation` must be a cifarlab Evaluation with `.highest_loss` (or "
            "`.probabilities`, `.y_true` and `.class_names`). "
            f"Received: {type(evaluation).__name__}."
        )
    probs = np.asarray(probs, dtype=float)
    y_true = np.asarray(y_true).ravel()
    pred = probs.argmax(axis=1)
    p_true = probs[np.arange(len(y_true)), y_true]
    loss = -np.log(np.clip(p_true, 1e-12, 1.0))
    order = np.argsort(-loss, kind="stable")
    return pd.DataFrame(
        {
            "index": order,
            "true": [names[i] for i in y_true[order]],
            "predicted": [names[i] for i in pred[order]],
            "loss": loss[order],
            "p_true": p_true[order],
            "p_pred": probs[order, pred[order]],
        }
    )


def plot_highest_loss(
    evaluation: Any,
    images: np.ndarray,
    *,
    n: int = 9,
    ncols: int | None = None,
    title: str | None = None,
    synthetic: bool | None = None,
) -> Figure:
    """The ``n`` test images the model is most wrong about, highest loss first.

    Each image is titled with its true class, the prediction and the loss
    (-log of the probability given to the true class). Look here for label noise:
    images whose "true" label is itself wrong.

    Args:
        evaluation: a cifarlab Evaluation (uses ``.highest_loss``, whose ``index``
            column points into ``images``).
        images: the images the evaluation was computed on (``data.x_test``).
        n: how many images.
        ncols: columns of the grid.
        title: figure title.
        synthetic: the data is SYNTHETIC (default: the evaluation's ``.synthetic``).

    Returns:
        The Figure.

    Example:
        >>> plot_highest_loss(evaluation, data.x_test, n=12)
    """
    n = _check_positive_int(n, "n")
    shown = _display_images(images)
    y_true = getattr(evaluation, "y_true", None)
    if y_true is not None and len(np.ravel(y_true)) != len(shown):
        raise ValueError(
            f"`images` has {len(shown)} images but the evaluation was computed on "
            f"{len(np.ravel(y_true))}: pass the same images (e.g. data.x_test)."
        )
    table = _highest_loss_table(evaluation)
    missing = {"index", "true", "predicted", "loss"} - set(table.columns)
    if missing:
        raise ValueError(
            f"The highest-loss table lacks the column(s) {', '.join(sorted(missing))}."
        )
    table = table.sort_values("loss", ascending=False, kind="stable").head(n)
    index = table["index"].to_numpy()
    if len(index) and (index.min() < 0 or index.max() >= len(shown)):
        raise ValueError(
            f"The evaluation points at image {index.max()} but `images` has only "
            f"{len(shown)}: pass the images the evaluation was computed on."
        )
    if len(table) == 0:
        raise ValueError("The highest-loss table is empty: there is nothing to show.")
    fig, axes = _image_grid(len(table), ncols, (2.3, 2.6))
    for ax, (_, row) in zip(axes, table.iterrows(), strict=True):
        _show_image(ax, shown[int(row["index"])])
        wrong = row["true"] != row["predicted"]
        text = f"true: {row['true']}\npred: {row['predicted']}\nloss {row['loss']:.2f}"
        if "p_true" in row:
            text += f" (p_true={row['p_true']:.2g})"
        color = MISTAKE_COLOR if wrong else "black"
        ax.set_title(text, fontsize=8, color=color)
        for spine in ax.spines.values():
            spine.set_color(color)
            spine.set_linewidth(3 if wrong else 0.8)
    default = f"the {len(table)} test images with the highest loss"
    _set_suptitle(fig, default if title is None else title, _synthetic_of(evaluation, synthetic))
    return fig


# --------------------------------------------------------------------------- augmentation


def _seed_states(augment: Any) -> list:
    """The Keras seed-generator state variables inside a layer (empty for plain callables)."""
    variables = getattr(augment, "variables", None)
    if not isinstance(variables, (list, tuple)):
        return []
    return [v for v in variables if "seed_generator_state" in str(getattr(v, "path", v.name))]


def plot_augmentations(
    image: np.ndarray,
    augment: Any,
    *,
    n: int = 9,
    seed: int = 0,
    ncols: int | None = None,
    title: str | None = None,
    synthetic: bool = False,
) -> Figure:
    """The original image and ``n - 1`` augmented versions of it.

    Calls ``augment(batch, training=True)`` once on ``n - 1`` copies. For Keras
    layers the random generators are set from ``seed`` for this call and put back
    afterwards, so the figure is reproducible and training is not affected.

    Args:
        image: one image (32, 32, 3), uint8 or float in [0, 1].
        augment: a Keras layer or Sequential (e.g. ``cifarlab.augment.augmentation``)
            or any callable taking ``(batch, training=True)`` of [0, 1] floats.
        n: images in the figure, the original included.
        seed: the random augmentations drawn.
        ncols: columns of the grid.
        title: figure title.
        synthetic: the image is SYNTHETIC; the title says so.

    Returns:
        The Figure; the first panel is the original.

    Example:
        >>> plot_augmentations(data.x_train[0], augmentation("light", seed=0))
    """
    original = _display_images(image, "image", single=True)
    n = _check_positive_int(n, "n")
    if not callable(augment):
        raise TypeError(f"`augment` must be a Keras layer or a callable. Received: {augment!r}.")
    augmented = np.empty((0,) + original.shape[1:], np.float32)
    if n > 1:
        import keras

        batch = np.repeat(original, n - 1, axis=0)
        states = _seed_states(augment)
        saved = [keras.ops.convert_to_numpy(v.value) for v in states]
        try:
            for j, v in enumerate(states):
                v.assign(np.asarray([seed + 1000 * j, 0], dtype=saved[j].dtype))
            augmented = keras.ops.convert_to_numpy(augment(batch, training=True))
        finally:
            for v, value in zip(states, saved, strict=True):
                v.assign(value)
        augmented = np.asarray(augmented, dtype=np.float32)
        if augmented.ndim != 4 or len(augmented) != n - 1:
            raise ValueError(
                f"`augment` must return a batch of images; for a batch of {n - 1} it "
                f"returned shape {augmented.shape}."
            )
    fig, axes = _image_grid(n, ncols, (1.7, 1.8))
    _show_image(axes[0], original[0])
    axes[0].set_title("original", fontsize=9, fontweight="bold")
    for j, (ax, img) in enumerate(zip(axes[1:], augmented, strict=True), start=1):
        _show_image(ax, img)
        ax.set_title(f"augmented {j}", fontsize=9)
    name = getattr(augment, "name", None) or getattr(augment, "__name__", "augment")
    default = f"one image and {n - 1} random augmentations ({name})"
    _set_suptitle(fig, default if title is None else title, synthetic)
    return fig


# --------------------------------------------------------------------------- runs


def _field(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _run_test_accuracy(run: Any) -> float:
    metrics = _field(run, "metrics")
    if isinstance(metrics, Mapping):
        if metrics.get("test_accuracy") is not None:
            return float(metrics["test_accuracy"])
        test = metrics.get("test")
        if isinstance(test, Mapping) and test.get("accuracy") is not None:
            return float(test["accuracy"])
    value = _field(run, "test_accuracy")
    return float(value) if value is not None else float("nan")


def _run_time(run: Any) -> float:
    value = _field(run, "total_time")
    if value is None:
        metrics = _field(run, "metrics")
        if isinstance(metrics, Mapping):
            value = metrics.get("total_time")
    return float(value) if value is not None else float("nan")


def plot_run_comparison(
    runs: Any,
    *,
    metric: str = "val_accuracy",
    title: str | None = None,
    synthetic: bool | None = None,
) -> Figure:
    """Compare runs: their validation curves, and test accuracy against training time.

    Left panel: ``metric`` per epoch for each run, the legend naming the runs.
    Right panel: each run's test accuracy against its training time, points
    labelled with run names. Given a table without histories, the left panel
    shows test accuracy per run as bars.

    Args:
        runs: a list of run-like objects (or dicts), each with ``name``, ``history``
            (dict of metric -> values per epoch, or a Keras History), ``total_time``
            (seconds; or ``metrics["total_time"]``) and test accuracy as
            ``metrics["test_accuracy"]`` or ``test_accuracy``; or a pandas
            DataFrame with columns name, test_accuracy, total_time.
        metric: the history key drawn per epoch, e.g. "val_accuracy" or "val_loss".
        title: figure title.
        synthetic: the runs used SYNTHETIC data (default: any run's ``.synthetic``).

    Returns:
        The Figure.

    Example:
        >>> plot_run_comparison([baseline_run, vgg_run, transfer_run])
    """
    import pandas as pd

    if isinstance(runs, pd.DataFrame):
        missing = {"name", "test_accuracy", "total_time"} - set(runs.columns)
        if missing:
            raise ValueError(
                f"The runs table lacks the column(s) {', '.join(sorted(missing))}; it has "
                f"{', '.join(map(str, runs.columns))}."
            )
        records = runs.to_dict("records")
        flag = bool(runs["synthetic"].any()) if "synthetic" in runs.columns else False
    elif isinstance(runs, (Sequence, np.ndarray)) and not isinstance(runs, (str, bytes)):
        records = list(runs)
        flag = any(_synthetic_of(r, None) for r in records)
    else:
        raise TypeError(
            "`runs` must be a list of runs or a DataFrame with columns name, "
            f"test_accuracy, total_time. Received: {type(runs).__name__}."
        )
    if not records:
        raise ValueError("`runs` is empty: give at least one run to compare.")
    flag = flag if synthetic is None else bool(synthetic)
    names = [str(_field(r, "name") or f"run {i + 1}") for i, r in enumerate(records)]
    test_acc = np.array([_run_test_accuracy(r) for r in records])
    times = np.array([_run_time(r) for r in records])

    curves = []
    available: set[str] = set()
    for name, run in zip(names, records, strict=True):
        hist = _field(run, "history")
        if hist is None or (isinstance(hist, float) and np.isnan(hist)):
            continue
        hist = _history_dict(hist)
        available.update(hist)
        if metric in hist:
            curves.append((name, hist[metric]))
    if available and not curves:
        _check_metric(metric, sorted(available - {"epoch"}), "metric")

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    if curves:
        for name, values in curves:
            epochs = np.arange(1, len(values) + 1)
            left.plot(
                epochs, values, marker="o" if len(values) <= 30 else None, markersize=3, label=name
            )
        left.set_xlabel("epoch")
        left.set_ylabel(metric)
        left.xaxis.set_major_locator(MaxNLocator(integer=True))
        left.legend(title="run", fontsize=8)
        left.set_title(f"{metric} per epoch")
        left.grid(alpha=0.3)
    else:
        positions = np.arange(len(names))
        left.barh(positions, np.nan_to_num(test_acc), color="tab:blue")
        for pos, acc in zip(positions, test_acc, strict=True):
            if not np.isfinite(acc):
                left.text(0.01, pos, "no test accuracy recorded", va="center", fontsize=8)
        left.set_yticks(positions, labels=names)
        left.set_xlabel("test accuracy")
        left.set_ylabel("run")
        left.set_xlim(0, 1)
        left.set_title("test accuracy per run (no histories given)")

    known = np.isfinite(test_acc) & np.isfinite(times)
    minutes = known.any() and np.nanmax(times[known]) > 300
    scale, unit = (60.0, "min") if minutes else (1.0, "s")
    for name, acc, t in zip(names, test_acc, times, strict=True):
        if np.isfinite(acc) and np.isfinite(t):
            right.scatter(t / scale, acc, s=40)
            right.annotate(
                name, (t / scale, acc), textcoords="offset points", xytext=(5, 4), fontsize=8
            )
    if not known.any():
        right.text(
            0.5,
            0.5,
            "no test accuracy and training time recorded",
            ha="center",
            va="center",
            transform=right.transAxes,
        )
    elif not known.all():
        left_out = ", ".join(n for n, ok in zip(names, known, strict=True) if not ok)
        right.text(
            0.01,
            0.01,
            f"not shown (no test accuracy or time): {left_out}",
            transform=right.transAxes,
            fontsize=7,
            va="bottom",
        )
    right.set_xlabel(f"training time ({unit})")
    right.set_ylabel("test accuracy")
    right.margins(x=0.25, y=0.2)
    right.set_title("test accuracy vs training time")
    right.grid(alpha=0.3)
    _set_suptitle(fig, f"comparison of {len(names)} runs" if title is None else title, flag)
    return fig


# --------------------------------------------------------------------------- feature maps


def _conv_classes() -> tuple[type, ...]:
    import keras

    names = ("Conv2D", "SeparableConv2D", "DepthwiseConv2D", "Conv2DTranspose")
    return tuple(getattr(keras.layers, n) for n in names if hasattr(keras.layers, n))


def _walk_layers(model: Any) -> list:
    """All layers, nested models' layers included, in order."""
    out = []
    for layer in getattr(model, "layers", []):
        out.append(layer)
        if hasattr(layer, "layers"):
            out.extend(_walk_layers(layer))
    return out


def _contains(container: Any, target: Any) -> bool:
    return any(layer is target for layer in _walk_layers(container))


def _apply_until(container: Any, target: Any, x: Any) -> Any:
    """Run ``x`` through a Sequential container's layers up to and including ``target``."""
    import keras

    if not isinstance(container, keras.Sequential):
        raise ValueError(
            f"Layer {target.name!r} sits inside the nested model {container.name!r}, which "
            "is not a Sequential: pass a layer of the outer model, or that nested model "
            "as `model` with an image it accepts."
        )
    for layer in container.layers:
        if layer is target:
            return layer(x, training=False)
        if hasattr(layer, "layers") and _contains(layer, target):
            return _apply_until(layer, target, x)
        x = layer(x, training=False)
    raise ValueError(f"Layer {target.name!r} is not in {container.name!r}.")


def plot_feature_maps(
    model: Any,
    image: np.ndarray,
    *,
    layer: str | Any | None = None,
    n: int = 16,
    ncols: int | None = None,
    title: str | None = None,
    synthetic: bool = False,
) -> Figure:
    """What a convolution layer sees: the input image and its first ``n`` feature maps.

    Args:
        model: a Keras model taking [0, 1] float images (any cifarlab model).
        image: one image (32, 32, 3), uint8 or float in [0, 1].
        layer: the layer's name (or the layer); default: the first convolution.
            Any layer with a (batch, height, width, channels) output works.
        n: how many feature maps (channels), at most the layer's channel count.
        ncols: columns of the grid.
        title: figure title.
        synthetic: the image is SYNTHETIC; the title says so.

    Returns:
        The Figure: the input first, then one panel per channel ("filter k"), each
        with its own colour scale (bright = strong activation).

    Raises:
        ValueError: an unknown layer name (the message lists the convolution
            layers), or a layer whose output is not a stack of feature maps.

    Example:
        >>> plot_feature_maps(model, data.x_test[0], n=16)
    """
    import keras

    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a Keras model. Received: {type(model).__name__}.")
    n = _check_positive_int(n, "n")
    shown = _display_images(image, "image", single=True)
    every = _walk_layers(model)
    convs = [lay for lay in every if isinstance(lay, _conv_classes())]
    conv_names = [lay.name for lay in convs]
    if layer is None:
        if not convs:
            raise ValueError(
                f"Model {model.name!r} has no convolution layer; pass `layer=` the name of "
                "a layer with a 4-D output."
            )
        target = convs[0]
    elif isinstance(layer, str):
        matches = [lay for lay in every if lay.name == layer]
        if not matches:
            close = difflib.get_close_matches(layer, [lay.name for lay in every], n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"Unknown layer={layer!r}.{hint} Convolution layers of {model.name!r}: "
                f"{', '.join(conv_names) or 'none'}."
            )
        target = matches[0]
    elif any(lay is layer for lay in every):
        target = layer
    else:
        raise ValueError(
            f"`layer` must be a layer name of {model.name!r} or one of its layers. "
            f"Convolution layers: {', '.join(conv_names) or 'none'}."
        )

    if any(lay is target for lay in model.layers):
        try:
            inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
            extractor = keras.Model(inputs, target.output)
            maps = extractor(shown, training=False)
        except (AttributeError, ValueError, TypeError):  # unbuilt Sequential, no graph
            maps = _apply_until(model, target, keras.ops.convert_to_tensor(shown))
    else:
        maps = _apply_until(model, target, keras.ops.convert_to_tensor(shown))
    maps = np.asarray(keras.ops.convert_to_numpy(maps))
    if maps.ndim != 4:
        raise ValueError(
            f"Layer {target.name!r} outputs shape {maps.shape[1:]}, not feature maps "
            f"(height, width, channels). Convolution layers: {', '.join(conv_names) or 'none'}."
        )
    channels = maps.shape[-1]
    count = min(n, channels)
    fig, axes = _image_grid(count + 1, ncols, (1.5, 1.6))
    _show_image(axes[0], shown[0])
    axes[0].set_title("input", fontsize=9, fontweight="bold")
    for k, ax in enumerate(axes[1:]):
        ax.imshow(maps[0, :, :, k], cmap="viridis", interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"filter {k}", fontsize=8)
    default = (
        f"layer {target.name!r}: {count} of its {channels} feature maps "
        "(bright = strong activation)"
    )
    _set_suptitle(fig, default if title is None else title, synthetic)
    return fig
