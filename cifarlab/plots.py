"""Every figure, one call each: ``ax`` in, the Axes out (image grids: the Figure). No
``plt.show()``, no ``rcParams``; titles say SYNTHETIC for SYNTHETIC data (``synthetic=True``, or
the object's ``.synthetic``). Example: ``plot_confusion_matrix(evaluation, normalize="true")``."""

import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from cifarlab import _checks
from cifarlab import labels as _labels
from cifarlab.data import scale_images
from cifarlab.evaluate import highest_loss_table, most_confused_pairs, normalize_confusion_matrix
from cifarlab.runs import history_of

__all__ = ["plot_augmentations", "plot_class_grid", "plot_confusion_matrix", "plot_feature_maps",
           "plot_highest_loss", "plot_history", "plot_most_confused", "plot_per_class",
           "plot_predictions", "plot_results", "plot_run_comparison", "plot_samples"]

PER_CLASS_METRICS = ("accuracy", "precision", "recall", "f1")
NORMALIZED = {None: ("number of images", ""),  # normalize -> colour bar label, title note
              "true": ("fraction of the true class", " (rows normalised: recall on the diagonal)"),
              "pred": ("fraction of the predicted class",
                       " (columns normalised: precision on the diagonal)"),
              "all": ("fraction of all images", " (normalised over all images)")}


def _title(target: Axes | Figure, text: str, synthetic: bool | None, source: Any = None) -> None:
    """The Axes title (Figure: suptitle), wrapped; SYNTHETIC if ``synthetic`` (None: source's)."""
    if synthetic is None:
        synthetic = (source.get("synthetic", pd.Series()).any() if isinstance(source, pd.DataFrame)
                     else getattr(source, "synthetic", False))
    if synthetic and "SYNTHETIC" not in text:
        text = f"{text} (SYNTHETIC data)"
    fig = target if isinstance(target, Figure) else target.figure
    size, share = (12, 1.0) if target is fig else (11, max(target.get_position().width, 0.5))
    chars = max(24, int(fig.get_figwidth() * share * 72 / (0.58 * size)))
    text = "\n".join(textwrap.fill(line, chars) for line in text.split("\n"))
    (target.suptitle if target is fig else target.set_title)(text, fontsize=size)


def _new_axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    elif not isinstance(ax, Axes):
        raise TypeError(f"`ax` must be a matplotlib Axes or None. Received: {ax!r}.")
    return ax


def _class_names(class_names: Any, name: str = "class_names") -> tuple[str, ...]:
    if isinstance(class_names, (str, bytes)) or not isinstance(class_names, (Sequence, np.ndarray)):
        raise TypeError(f"`{name}` must be a sequence of class names such as data.class_names. "
                        f"Received: {class_names!r}.")
    if not len(class_names):
        raise ValueError(f"`{name}` is empty: give one name per class.")
    return tuple(str(n) for n in class_names)


def _display_images(images: Any, name: str = "images", *, single: bool = False) -> np.ndarray:
    """uint8 or [0, 1] images -> float32 (N, H, W, C), C 1 or 3; ``single``: one image."""
    arr = np.asarray(images)
    if single:
        arr = arr[0] if arr.ndim == 4 and len(arr) == 1 else arr
        if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] in (1, 3))):
            raise ValueError(f"`{name}` must be one image of shape (height, width, 3). "
                             f"Received shape {arr.shape}.")
        arr = arr[None]
    arr = arr[..., None] if arr.ndim == 3 else arr  # (N, H, W) grayscale
    _checks.images(arr[..., [0, 0, 0]] if arr.ndim == 4 and arr.shape[-1] == 1 else arr, name=name)
    try:
        return scale_images(arr)
    except (TypeError, ValueError) as err:
        raise type(err)(f"`{name}`: {err}") from None


def _labelled(images: Any, class_names: Any, **labels: Any) -> tuple:
    """(names, display images, a class id array per keyword), checked by ``_checks``."""
    names, shown = _class_names(class_names), _display_images(images)
    rgb, ids = np.broadcast_to(shown[..., :1], (*shown.shape[:-1], 3)), []
    for key, value in labels.items():
        try:
            ids.append(_checks.images_and_labels(rgb, value, num_classes=len(names))[1])
        except (TypeError, ValueError) as err:
            raise type(err)(str(err).replace("`labels`", f"`{key}`", 1)) from None
    return names, shown, *ids


def _show(ax: Axes, image: np.ndarray, title: str = "", wrong: bool | None = None,
          size: float = 9) -> None:
    """An image (2-D: a feature map, own colour scale), no ticks; ``wrong``: a red frame."""
    if image.ndim == 2:
        ax.imshow(image, cmap="viridis", interpolation="nearest")
    else:
        gray = image.shape[-1] == 1
        ax.imshow(image[..., 0] if gray else np.clip(image, 0.0, 1.0),
                  cmap="gray" if gray else None, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set(xticks=[], yticks=[])
    color = "tab:red" if wrong else "black"
    ax.set_title(title, fontsize=size, color=color, wrap=True)
    for spine in ax.spines.values() if wrong is not None else ():
        spine.set(color=color, linewidth=3 if wrong else 0.8)


def _grid(images: Sequence[np.ndarray], titles: Sequence[str], ncols: int | None,
          cell: tuple[float, float], title: str, synthetic: bool | None, source: Any = None, *,
          wrong: Sequence[bool] | None = None, size: float = 9, bold: bool = False) -> Figure:
    """Images in a grid of ``ncols`` columns, each titled (``bold``: the first), under ``title``."""
    count = len(images)
    ncols = math.ceil(math.sqrt(count)) if ncols is None else _checks.integer("ncols", ncols)
    ncols, nrows = min(count, ncols), math.ceil(count / min(count, ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(cell[0] * ncols, cell[1] * nrows + 0.6),
                             squeeze=False, layout="constrained")
    for extra in axes.flat[count:]:
        extra.remove()
    for ax, im, text, bad in zip(axes.flat, images, titles, wrong or [None] * count, strict=False):
        _show(ax, im, text, bad, size)
    axes.flat[0].title.set_fontweight("bold" if bold else "normal")
    _title(fig, title, synthetic, source)
    return fig


def _missing_columns(table: pd.DataFrame, needed: Sequence[str], what: str) -> None:
    if missing := set(needed) - set(table.columns):
        raise ValueError(f"{what} lacks the column(s) {', '.join(sorted(missing))}; it has "
                         f"{', '.join(map(str, table.columns))}.")


def plot_samples(images: np.ndarray, labels: np.ndarray, class_names: Sequence[str], *,
                 n: int = 25, seed: int = 0, ncols: int | None = None, synthetic: bool = False,
                 title: str | None = None) -> Figure:
    """A grid of ``n`` random images (uint8 or [0, 1] floats), each titled with its class."""
    names, shown, y = _labelled(images, class_names, labels=labels)
    n = min(_checks.integer("n", n), len(shown))
    pick = np.sort(np.random.default_rng(seed).choice(len(shown), size=n, replace=False))
    return _grid(shown[pick], [names[i] for i in y[pick]], ncols, (1.5, 1.7),
                 title or f"{n} random images with their class names", synthetic)


def plot_class_grid(images: np.ndarray, labels: np.ndarray, class_names: Sequence[str], *,
                    per_class: int = 10, seed: int = 0, classes: Sequence[str] | None = None,
                    synthetic: bool = False, title: str | None = None) -> Figure:
    """``per_class`` random images of each class (or of ``classes``, in order), a row each."""
    names, shown, y = _labelled(images, class_names, labels=labels)
    per_class = _checks.integer("per_class", per_class)
    rows = range(len(names)) if classes is None else [
        names.index(_checks.one_of("class", c, names)) for c in _class_names(classes, "classes")]
    (height, width, channels), rng = shown.shape[1:], np.random.default_rng(seed)
    gap = max(1, width // 16)
    fig, axes = plt.subplots(len(rows), 1, figsize=(0.9 * per_class + 1.6, 0.9 * len(rows) + 0.7),
                             squeeze=False, layout="constrained")
    for ax, cls in zip(axes[:, 0], rows, strict=True):
        members = np.flatnonzero(y == cls)
        pick = np.sort(rng.choice(members, size=min(per_class, len(members)), replace=False))
        strip = np.ones((height, per_class, width + gap, channels), np.float32)  # white
        strip[:, :len(pick), :width] = shown[pick].transpose(1, 0, 2, 3)  # side by side
        _show(ax, strip.reshape(height, -1, channels)[:, :-gap])
        ax.spines[:].set_visible(False)
        ax.set_ylabel(names[cls], rotation=0, ha="right", va="center", fontsize=10)
        ax.set_xlabel(f"only {len(pick)} images" if len(pick) < per_class else "", fontsize=8)
    _title(fig, title or f"{per_class} random images per class", synthetic)
    return fig


def _history_dict(history: Any) -> dict[str, np.ndarray]:
    """A Keras History, dict, run record or history.csv DataFrame -> {metric: values}."""
    source = getattr(history, "history", history)  # a Keras History or a run: its .history
    if isinstance(source, pd.DataFrame):
        source = history_of(source.select_dtypes("number").to_dict("records"))
    if not isinstance(source, Mapping):
        raise TypeError("`history` must be a Keras History, a dict of metric -> values, a run "
                        f"or a history.csv DataFrame. Received: {type(history).__name__}.")
    if not (out := {str(k): v for k, values in source.items()
                    if k != "epoch" and (v := np.asarray(values, dtype=float).ravel()).size}):
        raise ValueError("`history` is empty: it has no values per epoch. Pass the History "
                         "that model.fit returned after at least one epoch.")
    return out


def _curves(ax: Axes, curves: Sequence[tuple], ylabel: str, **settings: Any) -> None:
    """(values per epoch, line style, label) curves against epochs 1, 2, ..."""
    for values, style, label in curves:
        ax.plot(np.arange(1, len(values) + 1), values, style, label=label,
                marker="o" if len(values) <= 30 else None, markersize=3)
    ax.set(xlabel="epoch", ylabel=ylabel, **settings)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)


def plot_history(history: Any, *, metrics: Sequence[str] = ("loss", "accuracy"),
                 axes: Sequence[Axes] | None = None, title: str | None = None,
                 synthetic: bool | None = None) -> Figure:
    """Training and validation curves per metric (History, dict, run or history.csv DataFrame);
    the best epoch (lowest ``val_loss``) dashed, new learning rates dotted; ``axes``: one each."""
    hist = _history_dict(history)
    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    if not metrics:
        raise ValueError("`metrics` is empty: name at least one metric, e.g. ('loss',).")
    available = sorted({k.removeprefix("val_") for k in hist} - {"lr", "learning_rate"})
    metrics = tuple(_checks.one_of("metric", metric, available) for metric in metrics)
    if axes is None:
        axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 4), squeeze=False,
                            layout="constrained")[1][0]
        title = title or "training history"
    axes = list(np.ravel(np.asarray(axes, dtype=object)))
    if len(axes) != len(metrics) or not all(isinstance(a, Axes) for a in axes):
        raise ValueError(f"`axes` must hold one matplotlib Axes per metric: {len(metrics)} "
                         f"metrics {metrics}, received {len(axes)} axes.")
    val_loss = hist.get("val_loss", np.array([np.nan]))
    best = int(np.nanargmin(val_loss)) + 1 if np.isfinite(val_loss).any() else None
    lr = hist.get("learning_rate", hist.get("lr", np.ones(1)))
    new = ~np.isclose(lr[1:], lr[:-1], rtol=1e-6) & np.isfinite(lr[1:] + lr[:-1])
    marks = [(i + 2, np.format_float_scientific(lr[i + 1], precision=2, trim="-", exp_digits=2))
             for i in np.flatnonzero(new)]  # (epoch, its new learning rate)
    for i, (ax, metric) in enumerate(zip(axes, metrics, strict=True)):
        _curves(ax, [(hist[key], style, f"{what} {metric}") for key, what, style in (
            (metric, "training", "-"), (f"val_{metric}", "validation", "--")) if key in hist],
            metric)
        if best is not None:
            ax.axvline(best, color="gray", linestyle="--", linewidth=1, label=f"best epoch {best}")
        for epoch, rate in marks if len(marks) <= 4 else ():  # more: a curve on a twin axis
            ax.axvline(epoch, color="tab:purple", linestyle=":", linewidth=1.2,
                       label=f"learning rate -> {rate}")
        handles, texts = ax.get_legend_handles_labels()
        if len(marks) > 4 and i == 0:
            twin = ax.twinx()
            handles += twin.plot(np.arange(1, len(lr) + 1), lr, ":", color="tab:purple")
            texts += ["learning rate (right axis)"]
            twin.set(yscale="log", ylabel="learning rate")
        ax.legend(handles, texts, fontsize=8)
    synthetic = getattr(history, "synthetic", False) if synthetic is None else synthetic
    if title is not None or synthetic:
        _title(axes[0].figure, title or "training history", synthetic)
    return axes[0].figure


def _superclass_blocks(names: Sequence[str]):
    """Indices putting CIFAR-100 fine classes in superclass order; superclass ids, starts, sizes."""
    if unknown := [n for n in names if n not in _labels.FINE_LABELS]:
        raise ValueError("order='superclass' needs CIFAR-100 fine class names; these are not: "
                         f"{', '.join(map(repr, unknown[:10]))}. order='given' keeps yours.")
    coarse = np.array([_labels.FINE_TO_COARSE[_labels.FINE_LABELS.index(n)] for n in names])
    order = np.lexsort((np.array(names), coarse))
    return order, *np.unique(coarse[order], return_index=True, return_counts=True)


def _confusion_input(source: Any, class_names: Any):
    """(float matrix, names) from a count matrix or an Evaluation."""
    cm = np.asarray(getattr(source, "confusion_matrix", source))
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError("The confusion matrix must be square (rows true classes, columns "
                         f"predicted classes), or an Evaluation. Received shape {cm.shape}.")
    if not np.isfinite(cm := cm.astype(float)).all() or (cm < 0).any():
        raise ValueError("The confusion matrix must hold non-negative finite counts.")
    names = getattr(source, "class_names", None) if class_names is None else class_names
    names = tuple(map(str, range(len(cm)))) if names is None else _class_names(names)
    if len(names) != len(cm):
        raise ValueError(f"`class_names` has {len(names)} names but the confusion matrix has "
                         f"{len(cm)} classes: give one name per row.")
    return cm, names


def plot_confusion_matrix(cm_or_evaluation: Any, class_names: Sequence[str] | None = None, *,
                          normalize: str | None = None, annotate: bool | None = None,
                          order: str | None = None, ax: Axes | None = None, cmap: str = "Blues",
                          title: str | None = None, synthetic: bool | None = None) -> Axes:
    """A heatmap, rows true and columns predicted, readable at 100 classes. ``normalize``: None
    (counts), "true" (recall on the diagonal), "pred" or "all"; ``annotate``: values in cells
    (default: up to 20 classes); ``order``: "superclass" (blocks; default above 20) or "given"."""
    import seaborn as sns

    cm, names = _confusion_input(cm_or_evaluation, class_names)
    if annotate is not None and not isinstance(annotate, (bool, np.bool_)):
        raise TypeError(f"`annotate` must be True, False or None. Received: {annotate!r}.")
    k, ids = len(cm), []
    if order is None:
        order = "superclass" if k > 20 and set(names) <= set(_labels.FINE_LABELS) else "given"
    if _checks.one_of("order", order, ("superclass", "given")) == "superclass":
        perm, ids, starts, sizes = _superclass_blocks(names)
        cm, names = cm[np.ix_(perm, perm)], [names[i] for i in perm]
    fmt = ".2f" if normalize else (".0f" if np.allclose(cm, np.round(cm)) else ".3g")
    cm = cm if normalize is None else normalize_confusion_matrix(cm, normalize)
    size, ticks = float(np.clip(0.13 * k + 3.0, 5.0, 16.0)), 9 if k <= 20 else 7 if k <= 50 else 5.5
    ax = _new_axes(ax, (size + 1.2, size))
    sns.heatmap(cm, ax=ax, cmap=cmap, annot=k <= 20 if annotate is None else bool(annotate),
                fmt=fmt, annot_kws={"fontsize": 8 if k <= 10 else 6}, xticklabels=list(names),
                yticklabels=list(names), vmin=0.0, vmax=1.0 if normalize else None, square=True,
                linewidths=0.5 if k <= 20 else 0.0,
                cbar_kws={"label": NORMALIZED[normalize][0], "shrink": 0.8})
    ax.tick_params(axis="both", labelsize=ticks, length=2 if k > 20 else 3.5)
    ax.tick_params(axis="x", labelrotation=90)
    ax.tick_params(axis="y", labelrotation=0)
    ax.set(xlabel="predicted class", ylabel="true class")
    if len(ids) > 1:
        for start in starts[1:]:
            ax.axhline(start, color="black", linewidth=0.8)
            ax.axvline(start, color="black", linewidth=0.8)
        top = ax.secondary_xaxis("top")
        top.set_ticks(starts + sizes / 2, labels=[_labels.COARSE_LABELS[i] for i in ids],
                      rotation=90, fontsize=ticks + 0.5)
        top.tick_params(length=0)
        top.set_xlabel("superclass", fontsize=9)
    _title(ax, title or f"confusion matrix, {k} classes{NORMALIZED[normalize][1]}", synthetic,
           cm_or_evaluation)
    return ax


def _table(evaluation: Any, attr: str, columns: Sequence[str], compute=None, empty_ok=False):
    """A DataFrame, or ``evaluation.<attr>`` (None: ``compute(evaluation)``), with ``columns``."""
    table = evaluation if isinstance(evaluation, pd.DataFrame) else getattr(evaluation, attr, None)
    try:
        table = compute(evaluation) if table is None and compute else table
    except AttributeError:  # not an Evaluation
        table = None
    if table is None:
        raise TypeError(f"`evaluation` must be a cifarlab Evaluation (with `.{attr}`) or a "
                        f"DataFrame ({', '.join(columns)}). Received: {type(evaluation).__name__}.")
    _missing_columns(table := pd.DataFrame(table), columns, f"The {attr} table")
    if table.empty and not empty_ok:
        raise ValueError(f"The {attr} table is empty: there is nothing to plot.")
    return table


def plot_per_class(evaluation: Any, *, metric: str = "accuracy", ax: Axes | None = None,
                   title: str | None = None, synthetic: bool | None = None) -> Axes:
    """One bar per class, best on top, and the mean as a line. ``evaluation``: an Evaluation
    or its ``per_class`` table; ``metric``: one of :data:`PER_CLASS_METRICS`."""
    table = _table(evaluation, "per_class", [_checks.one_of("metric", metric, PER_CLASS_METRICS)])
    values = table[metric].astype(float).sort_index(ascending=False, key=lambda i: i.map(str))
    values = values.sort_values(kind="stable", na_position="first")  # barh: best on top
    k = len(values)
    ax = _new_axes(ax, (8, float(np.clip(0.22 * k + 1.5, 3.0, 24.0))))
    bars = ax.barh(np.arange(k), values.to_numpy(), color="tab:blue", label=f"{metric} per class")
    ax.set_yticks(np.arange(k), labels=[str(n) for n in values.index], fontsize=9 if k <= 30 else 6)
    mean = float(np.nanmean(values.to_numpy()))
    ax.axvline(mean, color="tab:red", ls="--", label=f"mean {metric} over classes = {mean:.3f}")
    if k <= 30:
        ax.bar_label(bars, fmt="%.2f", padding=2, fontsize=8)
    ax.set(xlim=(0, 1.08), ylim=(-0.6, k - 0.4), xlabel=metric, ylabel="class")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    _title(ax, title or f"{metric} per class, sorted", synthetic, evaluation)
    return ax


def plot_predictions(images: np.ndarray, true: np.ndarray, pred: np.ndarray,
                     class_names: Sequence[str], *, probs: np.ndarray | None = None,
                     n: int = 16, which: str = "all", seed: int = 0, ncols: int | None = None,
                     synthetic: bool = False, title: str | None = None) -> Figure:
    """Images titled "true: X / pred: Y (p=0.87)", mistakes in red. ``probs``: (N, classes) or
    (N,) of the prediction; ``which``: "all", "mistakes" or "correct"."""
    names, shown, y_true, y_pred = _labelled(images, class_names, true=true, pred=pred)
    n = _checks.integer("n", n)
    _checks.one_of("which", which, ("all", "mistakes", "correct"))
    p = np.full(len(shown), np.nan) if probs is None else np.asarray(probs, dtype=float)
    p = p[np.arange(len(shown)), y_pred] if p.shape == (len(shown), len(names)) else p
    if p.shape != (len(shown),):
        raise ValueError(f"`probs` must have shape ({len(shown)}, {len(names)}) (per class) or "
                         f"({len(shown)},) (of the prediction). Received shape {p.shape}.")
    wrong = y_true != y_pred
    pool = np.flatnonzero({"all": wrong | True, "mistakes": wrong, "correct": ~wrong}[which])
    if len(pool) == 0:
        raise ValueError(f"which={which!r}: there are no such predictions among the images.")
    pick = np.sort(np.random.default_rng(seed).choice(pool, size=min(n, len(pool)), replace=False))
    texts = [f"true: {names[y_true[i]]} / pred: {names[y_pred[i]]}"
             + ("" if np.isnan(p[i]) else f" (p={p[i]:.2f})") for i in pick]
    return _grid(shown[pick], texts, min(4, len(pick)) if ncols is None else ncols, (2.6, 2.3),
                 title or f"{int(wrong[pick].sum())} of {len(pick)} shown are mistakes (in red)",
                 synthetic, wrong=list(wrong[pick]), size=7.5)


def plot_most_confused(evaluation: Any, *, k: int = 10, ax: Axes | None = None,
                       title: str | None = None, synthetic: bool | None = None) -> Axes:
    """The ``k`` most frequent mistakes as bars "true -> predicted" with counts, from an
    Evaluation (or its confusion matrix) or a DataFrame with true, predicted, count."""
    k = _checks.integer("k", k)
    table = _table(evaluation, "most_confused", ("true", "predicted", "count"),
                   lambda e: most_confused_pairs(e.confusion_matrix, e.class_names), empty_ok=True)
    table = table[table["count"] > 0].sort_values("count", ascending=False, kind="stable")
    table = table.head(k).iloc[::-1]  # barh draws bottom-up: largest on top
    ax = _new_axes(ax, (7, 0.35 * max(len(table), 3) + 1.5))
    if len(table) == 0:
        ax.text(0.5, 0.5, "no mistakes", ha="center", va="center", transform=ax.transAxes)
    else:
        bars = ax.barh(np.arange(len(table)), table["count"].to_numpy(), color="tab:orange")
        ax.set_yticks(np.arange(len(table)), labels=table["true"] + " -> " + table["predicted"])
        ax.bar_label(bars, fmt="%d", padding=2, fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.margins(x=0.1)
    ax.set(xlabel="number of test images", ylabel="true class -> predicted class")
    _title(ax, title or f"the {len(table)} most frequent mistakes", synthetic, evaluation)
    return ax


def plot_highest_loss(evaluation: Any, images: np.ndarray, *, n: int = 9,
                      ncols: int | None = None, title: str | None = None,
                      synthetic: bool | None = None) -> Figure:
    """The ``n`` images with the highest loss (true class, prediction, loss): look here
    for wrong labels. ``images``: those the evaluation was computed on (``data.x_test``)."""
    n = _checks.integer("n", n)
    shown = _display_images(images)
    y_true = getattr(evaluation, "y_true", None)
    if y_true is not None and len(np.ravel(y_true)) != len(shown):
        raise ValueError(f"`images` has {len(shown)} images but the evaluation was computed on "
                         f"{len(np.ravel(y_true))}: pass the same images (e.g. data.x_test).")
    table = _table(evaluation, "highest_loss", ("index", "true", "predicted", "loss"), lambda e:
                   highest_loss_table(e.probabilities, e.y_true, e.class_names, top=None))
    rows = table.sort_values("loss", ascending=False, kind="stable").head(n).to_dict("records")
    texts = [f"true: {r['true']}\npred: {r['predicted']}\nloss {r['loss']:.2f}"
             + (f" (p_true={r['p_true']:.2g})" if "p_true" in r else "") for r in rows]
    return _grid(shown[[int(r["index"]) for r in rows]], texts, ncols, (2.3, 2.6),
                 title or f"the {len(rows)} test images with the highest loss", synthetic,
                 evaluation, wrong=[r["true"] != r["predicted"] for r in rows], size=8)


def plot_augmentations(image: np.ndarray, augment: Any, *, n: int = 9, seed: int = 0,
                       ncols: int | None = None, title: str | None = None,
                       synthetic: bool = False) -> Figure:
    """One image and ``n - 1`` versions from ``augment(batch, training=True)``; a Keras layer's
    random generators are seeded for this call and put back (training is not affected)."""
    import keras

    original = _display_images(image, "image", single=True)
    n = _checks.integer("n", n)
    if not callable(augment):
        raise TypeError(f"`augment` must be a Keras layer or a callable. Received: {augment!r}.")
    states = [v for v in getattr(augment, "variables", None) or []
              if "seed_generator_state" in str(getattr(v, "path", v.name))]
    saved = [keras.ops.convert_to_numpy(v.value) for v in states]
    try:
        for j, v in enumerate(states):
            v.assign(np.asarray([seed + 1000 * j, 0], dtype=saved[j].dtype))
        augmented = np.asarray(keras.ops.convert_to_numpy(
            augment(np.repeat(original, n - 1, axis=0), training=True)), dtype=np.float32)
    finally:
        for v, value in zip(states, saved, strict=True):
            v.assign(value)
    if augmented.ndim != 4 or len(augmented) != n - 1:
        raise ValueError(f"`augment` must return a batch of images; for a batch of {n - 1} "
                         f"it returned shape {augmented.shape}.")
    name = getattr(augment, "name", None) or getattr(augment, "__name__", "augment")
    return _grid([original[0], *augmented], ["original"] + [f"augmented {j}" for j in range(1, n)],
                 ncols, (1.7, 1.8), title or f"one image and {n - 1} random augmentations ({name})",
                 synthetic, bold=True)


def plot_run_comparison(runs: Any, *, metric: str = "val_accuracy", title: str | None = None,
                        synthetic: bool | None = None) -> Figure:
    """``metric`` per epoch per run (no histories: test accuracy bars), and test accuracy against
    training time, of ``runs.RunResult``s, dicts with their fields or a ``runs.runs_table``."""
    if isinstance(runs, (Sequence, np.ndarray)) and not isinstance(runs, (str, bytes)):
        keys = ("name", "history", "test_accuracy", "train_seconds", "synthetic")  # RunResult's
        runs = pd.DataFrame([dict(r) if isinstance(r, Mapping) else {k: getattr(r, k, None)
                             for k in keys} for r in runs], columns=keys)
    if not isinstance(runs, pd.DataFrame):
        raise TypeError("`runs` must be a list of runs or a DataFrame with columns name, "
                        f"test_accuracy, train_seconds. Received: {type(runs).__name__}.")
    _missing_columns(runs, ("name", "test_accuracy", "train_seconds"), "The runs table")
    if runs.empty:
        raise ValueError("`runs` is empty: give at least one run to compare.")
    names = [n if isinstance(n, str) and n else f"run {i + 1}" for i, n in enumerate(runs["name"])]
    accuracy = runs["test_accuracy"].to_numpy(float)
    histories = [(name, _history_dict(h)) for name, h in zip(names, runs.get(
        "history", [None] * len(runs)), strict=True) if not isinstance(h, (type(None), float))]
    curves = [(h[metric], "-", name) for name, h in histories if metric in h]
    if histories and not curves:
        _checks.one_of("metric", metric, sorted({k for _, h in histories for k in h}))
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    if curves:
        _curves(left, curves, metric, title=f"{metric} per epoch")
        left.legend(title="run", fontsize=8)
    else:
        left.barh(np.arange(len(names)), np.nan_to_num(accuracy), color="tab:blue")
        for pos in np.flatnonzero(~np.isfinite(accuracy)):
            left.text(0.01, pos, "no test accuracy recorded", va="center", fontsize=8)
        left.set_yticks(np.arange(len(names)), labels=names)
        left.set(xlabel="test accuracy", ylabel="run", xlim=(0, 1),
                 title="test accuracy per run (no histories given)")
    seconds = runs["train_seconds"].to_numpy(float)
    known = np.isfinite(accuracy) & np.isfinite(seconds)
    scale, unit = (60.0, "min") if known.any() and seconds[known].max() > 300 else (1.0, "s")
    for name, acc, t in zip(np.array(names)[known], accuracy[known], seconds[known], strict=True):
        right.scatter(t / scale, acc, s=40)  # a colour per run
        right.annotate(name, (t / scale, acc), xytext=(5, 4), textcoords="offset points", size=8)
    if left_out := ", ".join(n for n, ok in zip(names, known, strict=True) if not ok):
        right.text(0.01, 0.01, f"not shown (no test accuracy or time): {left_out}",
                   transform=right.transAxes, fontsize=7, va="bottom")
    right.set(xlabel=f"training time ({unit})", ylabel="test accuracy",
              title="test accuracy vs training time")
    right.margins(x=0.25, y=0.2)
    right.grid(alpha=0.3)
    _title(fig, title or f"comparison of {len(names)} runs", synthetic, runs)
    return fig


def plot_results(table: pd.DataFrame, *, ax: Axes | None = None, title: str | None = None,
                 synthetic: bool | None = None) -> Axes:
    """Test accuracy per group (x axis) and model (a bar colour each), the latest run (by
    ``started``) of each, from a ``runs.runs_table`` (superclass and synthetic used too)."""
    if not isinstance(table, pd.DataFrame):
        raise TypeError("`table` must be a pandas DataFrame (runs_table). Received: "
                        f"{type(table).__name__}.")
    _missing_columns(table, ("group", "model", "test_accuracy"), "`table`")
    if table.empty:
        raise ValueError("`table` is empty: there is no run to plot.")
    frame = table.assign(**{c: table[c].fillna("").astype(str).replace("", empty)
                            for c, empty in (("group", "(no group)"), ("model", "(unnamed)"))})
    models = list(dict.fromkeys(frame["model"]))  # in the order of the table
    if "started" in frame.columns:
        frame = frame.sort_values("started", kind="stable", na_position="first")
    latest = frame.groupby(["group", "model"], sort=False).tail(1)  # pivot sorts the groups
    acc = latest.pivot(index="group", columns="model", values="test_accuracy")[models]
    groups, width = list(acc.index), 0.8 / len(models)
    ax = _new_axes(ax, (float(np.clip(1.0 + 0.35 * acc.size, 6, 28)), 4.5))
    for j, model in enumerate(models):
        x = np.arange(len(groups)) + (j - (len(models) - 1) / 2) * width
        y = acc[model].to_numpy(float)
        bars = ax.bar(x[np.isfinite(y)], y[np.isfinite(y)], width=width * 0.95, label=model)
        if acc.size <= 40:
            ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    first = frame.get("superclass", pd.Series()).replace("", np.nan).groupby(frame["group"]).first()
    labels = [f"{g}\n{first[g]}" if isinstance(first.get(g), str) else g for g in groups]
    ax.set_xticks(range(len(groups)), labels=labels, fontsize=8)
    ax.set(xlabel="group (and its superclass)", ylabel="test accuracy", ylim=(0, 1.08))
    ax.grid(axis="y", alpha=0.3)
    if not ax.patches:
        ax.text(0.5, 0.5, "no run has a recorded test accuracy", ha="center", va="center",
                transform=ax.transAxes)
    else:
        ax.legend(title="model", fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _title(ax, title or "Test accuracy per group and model (latest run of each)", synthetic, table)
    return ax


def _walk_layers(model: Any) -> list:
    """All layers, nested models' layers included, in order."""
    return [x for layer in getattr(model, "layers", []) for x in [layer, *_walk_layers(layer)]]


def _feature_maps(model: Any, target: Any, x: Any) -> Any:
    """``x`` through ``model`` up to ``target``'s output, also inside nested Sequentials."""
    import keras

    if not isinstance(model, keras.Sequential) and any(lay is target for lay in model.layers):
        return keras.Model(model.input, target.output)(x, training=False)
    if not isinstance(model, keras.Sequential):
        raise ValueError(f"Layer {target.name!r} sits in a nested model of {model.name!r}, not a "
                         "Sequential: pass a layer of the outer model, or that model as `model`.")
    for layer in model.layers:
        if layer is target or any(inner is target for inner in _walk_layers(layer)):
            return layer(x, training=False) if layer is target else _feature_maps(layer, target, x)
        x = layer(x, training=False)


def plot_feature_maps(model: Any, image: np.ndarray, *, layer: str | Any | None = None,
                      n: int = 16, ncols: int | None = None, title: str | None = None,
                      synthetic: bool = False) -> Figure:
    """What a layer sees: the input image and its first ``n`` feature maps, each on its own
    colour scale. ``layer``: a name or a layer with a 4-D output (default: first conv)."""
    import keras

    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a Keras model. Received: {type(model).__name__}.")
    n = _checks.integer("n", n)
    shown = _display_images(image, "image", single=True)
    every = _walk_layers(model)
    convs = [lay for lay in every if "Conv2D" in type(lay).__name__]  # Separable, Transpose too
    by_name = {lay.name: lay for lay in reversed(every)}  # the first of a name
    layer = (convs[0] if convs else None) if layer is None else by_name.get(layer, layer)
    known = ", ".join(c.name for c in convs) or "none"
    if not any(lay is layer for lay in every):
        raise ValueError(f"Unknown layer={layer!r}.{_checks.did_you_mean(layer, by_name)} Pass a "
                         f"layer (or its name) with a 4-D output; {model.name!r} has: {known}.")
    maps = keras.ops.convert_to_numpy(_feature_maps(model, layer, shown))
    if maps.ndim != 4:
        raise ValueError(f"Layer {layer.name!r} outputs shape {maps.shape[1:]}, not feature maps "
                         f"(height, width, channels). Convolution layers: {known}.")
    count = min(n, maps.shape[-1])
    return _grid([shown[0], *np.moveaxis(maps[0, ..., :count], -1, 0)],
                 ["input"] + [f"filter {k}" for k in range(count)], ncols, (1.5, 1.6),
                 title or (f"layer {layer.name!r}: {count} of its {maps.shape[-1]} feature maps "
                           "(bright = strong activation)"), synthetic, size=8, bold=True)
