"""The technical report of a run or of a group, generated: Markdown and self-contained HTML.

Every seed student wrote this report by hand; here it is one call (``cifarlab report``)::

    from cifarlab import report
    files = report.write_report("runs/20240301-142502-baseline")   # one run
    files = report.write_report("runs/Group_13", data_dir="data")    # every run of a group
    files.html            # one file, images embedded: mail it, upload it, print it

A run's report has: data and superclass, model summary (parameters and layers),
training curves and history, test accuracy (and top-k), per-class metrics, confusion
matrix, most confused pairs, highest-loss test images, timing, and the run's full
configuration. A group's report starts with the group's notebooks (succeeded or failed)
and a comparison of its runs, then has one such section per run.

Test-split figures come from re-evaluating the saved model on the test split of the
run's superclass when the data can be found (``data_dir``, the run's or group's recorded
data folder, ``CIFARLAB_DATA_DIR``, the Keras cache; never a download) and matches the
run (same SYNTHETIC-or-real kind, same classes and test counts as recorded). Otherwise
the report uses what ``metrics.json`` recorded (``metrics["test"]``, from
:meth:`cifarlab.evaluate.Evaluation.to_dict`) and says which parts are missing and why.
A report of SYNTHETIC runs says so in a banner at the top and in every figure.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cifarlab import labels as _labels
from cifarlab._files import atomic_write

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "STATUS_FILE",
    "Report",
    "ReportFiles",
    "build_report",
    "find_group",
    "plot_results",
    "read_group_status",
    "save_figure",
    "write_report",
]

#: The file in which ``cifarlab run-notebooks`` records a group's notebooks.
STATUS_FILE = "status.json"
FIGURES_DIR = "report_files"
SYNTHETIC_BANNER = (
    "SYNTHETIC data: these results come from a synthetic stand-in for CIFAR-100 (smoke "
    "check or offline try-out). They say nothing about real CIFAR-100."
)
_DPI = 90
_MAX_HISTORY_ROWS = 100


# --------------------------------------------------------------------------- group layout


def read_group_status(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The ``status.json`` of a group folder written by ``cifarlab run-notebooks``, or None."""
    path = Path(folder) / STATUS_FILE
    try:
        status = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return status if isinstance(status, dict) else None


def find_group(
    run_dir: str | os.PathLike, root: str | os.PathLike | None = None
) -> tuple[Path | None, dict[str, Any] | None]:
    """The group folder holding a run (the nearest parent with ``status.json``) and its status.

    Looks at most four levels up, and not above ``root`` when given.
    """
    folder = Path(run_dir)
    stop = None if root is None else Path(root).resolve()
    current = folder.resolve()
    for _ in range(4):
        status = read_group_status(current)
        if status is not None:
            return current, status
        if stop is not None and current == stop:
            break
        if current.parent == current:
            break
        current = current.parent
    return None, None


# --------------------------------------------------------------------------- figures


def save_figure(fig: Figure, path: str | os.PathLike) -> Path:
    """Save a figure as PNG atomically (temporary file, then rename)."""
    target = Path(path)
    tmp = _temp_name(target, ".png")
    try:
        fig.savefig(tmp, format="png", dpi=_DPI, bbox_inches="tight")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _png(fig: Figure) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buf.getvalue()


def plot_results(
    table: pd.DataFrame,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    synthetic: bool | None = None,
) -> Axes:
    """Test accuracy per group (x axis) and model (one bar colour each).

    When a group has several runs of a model, the latest (by ``started``) is drawn.

    Args:
        table: the results table (:func:`cifarlab.batch.collect_results`), with at least
            the columns ``group``, ``model`` and ``test_accuracy``; ``superclass``,
            ``started`` and ``synthetic`` are used when present.
        ax: Axes to draw on (default: a new figure sized for the number of bars).
        title: Axes title.
        synthetic: the runs used SYNTHETIC data (default: any row's ``synthetic``).

    Returns:
        The Axes.

    Example:
        >>> plot_results(batch.collect_results("runs"))
    """
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    if not isinstance(table, pd.DataFrame):
        raise TypeError(
            f"`table` must be a pandas DataFrame (collect_results). Received: "
            f"{type(table).__name__}."
        )
    missing = {"group", "model", "test_accuracy"} - set(table.columns)
    if missing:
        raise ValueError(
            f"`table` lacks the column(s) {', '.join(sorted(missing))}; it has "
            f"{', '.join(map(str, table.columns))}."
        )
    if table.empty:
        raise ValueError("`table` is empty: there is no run to plot.")
    if synthetic is None:
        synthetic = bool(table["synthetic"].any()) if "synthetic" in table.columns else False
    frame = table.copy()
    frame["group"] = frame["group"].fillna("").astype(str).replace("", "(no group)")
    frame["model"] = frame["model"].fillna("").astype(str).replace("", "(unnamed)")
    models = list(dict.fromkeys(frame["model"]))  # in the order of the table
    if "started" in frame.columns:
        frame = frame.sort_values("started", kind="stable", na_position="first")
    latest = frame.groupby(["group", "model"], sort=False).tail(1)
    groups = sorted(latest["group"].unique())
    width = 0.8 / len(models)
    if ax is None:
        size = (float(np.clip(1.0 + 0.35 * len(groups) * len(models), 6, 28)), 4.5)
        _, ax = plt.subplots(figsize=size, layout="constrained")
    values = latest.set_index(["group", "model"])["test_accuracy"].astype(float)
    n_bars = 0
    for j, model in enumerate(models):
        xs, ys = [], []
        for i, group in enumerate(groups):
            v = values.get((group, model), float("nan"))
            if isinstance(v, pd.Series):
                v = v.iloc[-1]
            if math.isfinite(v):
                xs.append(i + (j - (len(models) - 1) / 2) * width)
                ys.append(v)
        bars = ax.bar(xs, ys, width=width * 0.95, label=model)
        n_bars += len(xs)
        if len(groups) * len(models) <= 40:
            ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    labels = groups
    if "superclass" in frame.columns:
        first = frame.groupby("group")["superclass"].agg(
            lambda s: next((x for x in s if isinstance(x, str) and x), "")
        )
        labels = [f"{g}\n{first.get(g, '')}" if first.get(g, "") else g for g in groups]
    ax.set_xticks(range(len(groups)), labels=labels, fontsize=8)
    ax.set_xlabel("group (and its superclass)")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.08)
    ax.grid(axis="y", alpha=0.3)
    if n_bars == 0:
        ax.text(
            0.5,
            0.5,
            "no run has a recorded test accuracy",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
    else:
        ax.legend(title="model", fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    text = title or "Test accuracy per group and model (latest run of each)"
    if synthetic and "SYNTHETIC" not in text:
        text += " (SYNTHETIC data)"
    ax.set_title(text)
    return ax


# --------------------------------------------------------------------------- the value


@dataclass(frozen=True, eq=False)
class Report:
    """A report as a list of blocks, rendered as Markdown or as self-contained HTML.

    Attributes:
        title: the report's title.
        source: the run or group folder it describes.
        kind: ``"run"`` or ``"group"``.
        synthetic: some of its runs used SYNTHETIC data (a banner says so).
        blocks: ``(kind, ...)`` tuples: ``("h", level, text)``, ``("p", text)``,
            ``("note", text)``, ``("table", DataFrame)``, ``("figure", name, png, caption)``,
            ``("code", text)``.
        missing: the parts that could not be made, each with the reason.
    """

    title: str
    source: Path
    kind: str
    synthetic: bool
    blocks: tuple[tuple, ...]
    missing: tuple[str, ...] = field(default_factory=tuple)

    @property
    def figures(self) -> dict[str, bytes]:
        """File name -> PNG bytes of every figure."""
        return {b[1]: b[2] for b in self.blocks if b[0] == "figure"}

    @property
    def headings(self) -> tuple[str, ...]:
        return tuple(b[2] for b in self.blocks if b[0] == "h")

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "source": str(self.source),
            "kind": self.kind,
            "synthetic": self.synthetic,
            "missing": list(self.missing),
            "headings": list(self.headings),
            "figures": list(self.figures),
        }

    def to_markdown(self, figures_dir: str = FIGURES_DIR) -> str:
        """Markdown; figures are linked as ``<figures_dir>/<name>`` (write them there)."""
        out = [f"# {self.title}", ""]
        if self.synthetic:
            out += [f"> **{SYNTHETIC_BANNER}**", ""]
        for block in self.blocks:
            kind = block[0]
            if kind == "h":
                out += [f"{'#' * block[1]} {block[2]}", ""]
            elif kind == "p":
                out += [block[1], ""]
            elif kind == "note":
                out += [f"> {block[1]}", ""]
            elif kind == "table":
                table = block[1].to_markdown(index=False, missingval="", disable_numparse=True)
                out += [table, ""]
            elif kind == "figure":
                out += [f"![{block[3]}]({figures_dir}/{block[1]})", "", f"*{block[3]}*", ""]
            elif kind == "code":
                out += ["```", block[1], "```", ""]
        return "\n".join(out).rstrip() + "\n"

    def to_html(self) -> str:
        """One HTML file with every image embedded (base64): no other file is needed."""
        body = [f"<h1>{html.escape(self.title)}</h1>"]
        if self.synthetic:
            body.append(f'<p class="synthetic">{html.escape(SYNTHETIC_BANNER)}</p>')
        for block in self.blocks:
            kind = block[0]
            if kind == "h":
                level = min(block[1], 6)
                body.append(f"<h{level}>{html.escape(block[2])}</h{level}>")
            elif kind == "p":
                body.append(f"<p>{_inline_html(block[1])}</p>")
            elif kind == "note":
                body.append(f'<p class="note">{_inline_html(block[1])}</p>')
            elif kind == "table":
                body.append(block[1].to_html(index=False, border=0, na_rep="", escape=True))
            elif kind == "figure":
                data = base64.b64encode(block[2]).decode("ascii")
                caption = html.escape(block[3])
                body.append(
                    f'<figure><img alt="{caption}" src="data:image/png;base64,{data}">'
                    f"<figcaption>{caption}</figcaption></figure>"
                )
            elif kind == "code":
                body.append(f"<pre><code>{html.escape(block[1])}</code></pre>")
        return _HTML_PAGE.format(title=html.escape(self.title), body="\n".join(body))


_HTML_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 62rem; margin: 2rem auto;
       padding: 0 1rem; line-height: 1.45; color: #222; }}
table {{ border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }}
th, td {{ border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; }}
th {{ background: #f3f3f3; }}
img {{ max-width: 100%; }}
figure {{ margin: 1rem 0; }}
figcaption {{ font-size: 0.85rem; color: #555; }}
pre {{ background: #f6f6f6; padding: 0.6rem; overflow-x: auto; font-size: 0.8rem; }}
.synthetic {{ background: #fff3cd; border: 2px solid #e0a800; padding: 0.6rem;
              font-weight: bold; }}
.note {{ border-left: 4px solid #999; padding-left: 0.6rem; color: #444; }}
</style>
</head>
<body>
{body}
</body>
</html>
"""


def _inline_html(text: str) -> str:
    """Escape, then the two inline Markdown forms the report uses: **bold** and `code`."""
    out = html.escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


@dataclass(frozen=True)
class ReportFiles:
    """What :func:`write_report` wrote."""

    markdown: Path
    html: Path
    figures_dir: Path
    synthetic: bool
    missing: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "markdown": str(self.markdown),
            "html": str(self.html),
            "figures_dir": str(self.figures_dir),
            "synthetic": self.synthetic,
            "missing": list(self.missing),
        }


# --------------------------------------------------------------------------- formatting


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _frame(rows: Sequence[Mapping[str, Any]] | pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """A table with every value formatted as text (the same in Markdown and HTML).

    Values are formatted one by one from the records, so an integer column with a gap
    stays integer (a DataFrame column would have turned it into floats)."""
    import numpy as np
    import pandas as pd

    if isinstance(rows, pd.DataFrame):
        columns = [str(c) for c in rows.columns]
        records = [
            dict(zip(columns, values, strict=True)) for values in rows.itertuples(index=False)
        ]
    else:
        records = [dict(r) for r in rows]
        columns = list(dict.fromkeys(k for r in records for k in r))
    return pd.DataFrame(
        [
            {
                c: _fmt(r[c].item() if isinstance(r.get(c), np.generic) else r.get(c), digits)
                for c in columns
            }
            for r in records
        ],
        columns=columns,
    )


def _plural(n: Any, word: str) -> str:
    return f"{_fmt(n)} {word}" + ("" if n == 1 else "s")


def _lr(value: Any) -> str:
    try:
        return f"{float(value):.3g}"
    except (TypeError, ValueError):
        return "?"


def _seconds(value: Any) -> str:
    try:
        s = float(value)
    except (TypeError, ValueError):
        return "not recorded"
    if not math.isfinite(s):
        return "not recorded"
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min ({s:.0f} s)"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")[:40] or "run"


# --------------------------------------------------------------------------- data


def _superclass_of(run) -> str | None:
    value = (run.config or {}).get("superclass")
    if value in (None, ""):
        return None
    try:
        return _labels.superclass_name(value)
    except (TypeError, ValueError):
        return None


def _find_test_data(run, stored, n_outputs, data_dir, cache) -> tuple[Any, list[str]]:
    """The run's test split as a CifarData, or None, with the reasons when not found."""
    import numpy as np

    from cifarlab import data

    superclass = _superclass_of(run)
    candidates: list[tuple[str, Any]] = []
    if data_dir is not None:
        candidates.append(("--data-dir", data_dir))
    if run.config.get("data_dir"):
        candidates.append(("the run's config (data_dir)", run.config["data_dir"]))
    _, status = find_group(run.path)
    if status and status.get("data_dir"):
        candidates.append(("the group's status.json (data_dir)", status["data_dir"]))
    candidates.append(("CIFARLAB_DATA_DIR or the Keras cache", None))
    notes: list[str] = []
    for where, path in candidates:
        key = str(path)
        if key not in cache:
            try:
                cache[key] = data.load_cifar100(path, download=False, verbose=False)
            except (FileNotFoundError, ValueError, RuntimeError) as err:
                cache[key] = err
        cifar = cache[key]
        if isinstance(cifar, Exception):
            notes.append(f"{where}: {str(cifar).splitlines()[0]}")
            continue
        if cifar.synthetic != run.synthetic:
            kind = "SYNTHETIC" if cifar.synthetic else "real"
            notes.append(
                f"{where}: holds {kind} data, but the run used "
                f"{'SYNTHETIC' if run.synthetic else 'real'} data"
            )
            continue
        if superclass is not None:
            sub = data.select_superclass(cifar, superclass)
        elif n_outputs == cifar.num_classes:
            sub = cifar
        else:
            notes.append(f"{where}: the run's config names no superclass")
            continue
        if n_outputs is not None and n_outputs != sub.num_classes:
            notes.append(
                f"{where}: the model has {n_outputs} outputs, the data {sub.num_classes} classes"
            )
            continue
        if stored:
            names = tuple(stored.get("class_names") or ())
            cm = np.asarray(stored.get("confusion_matrix") or [], dtype=int)
            counts = np.bincount(sub.y_test, minlength=sub.num_classes)
            if names and names != sub.class_names:
                notes.append(f"{where}: other classes than the run was evaluated on")
                continue
            if (
                cm.ndim == 2
                and cm.shape[0] == len(counts)
                and not np.array_equal(cm.sum(axis=1), counts)
            ):
                notes.append(
                    f"{where}: its test split has {int(counts.sum())} images, the run was "
                    f"evaluated on {int(cm.sum())}: not the same data"
                )
                continue
        return sub, notes
    return None, notes


def _load_model(path: Path):
    import keras

    import cifarlab.models  # noqa: F401  (registers cifarlab's custom layers for loading)

    return keras.saving.load_model(path)


def _input_shape(model) -> tuple | None:
    try:
        shape = model.input_shape
    except (AttributeError, ValueError, RuntimeError):
        return None
    if isinstance(shape, list) or not isinstance(shape, tuple) or not shape:
        return None
    return tuple(shape[1:])


def _layer_table(model) -> pd.DataFrame:
    rows = []
    for layer in model.layers:
        try:
            shape = tuple(layer.output.shape)
        except (AttributeError, ValueError, RuntimeError):
            shape = None
        rows.append(
            {
                "layer": layer.name,
                "type": type(layer).__name__,
                "output shape": "" if shape is None else str(shape).replace("None", "batch"),
                "parameters": int(layer.count_params()),
            }
        )
    return _frame(rows)


# --------------------------------------------------------------------------- sections


class _Builder:
    def __init__(self, prefix: str) -> None:
        self.blocks: list[tuple] = []
        self.missing: list[str] = []
        self.prefix = prefix

    def h(self, level: int, text: str) -> None:
        self.blocks.append(("h", level, text))

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def note(self, text: str) -> None:
        self.blocks.append(("note", text))

    def table(self, frame) -> None:
        self.blocks.append(("table", frame))

    def code(self, text: str) -> None:
        self.blocks.append(("code", text))

    def figure(self, name: str, fig, caption: str) -> None:
        self.blocks.append(("figure", f"{self.prefix}{name}.png", _png(fig), caption))

    def lack(self, part: str, why: str) -> None:
        self.missing.append(f"{part}: {why}")
        self.note(f"**Not available: {part}.** {why[:1].upper()}{why[1:]}")


def _run_section(run, b: _Builder, level: int, data_dir, cache) -> dict[str, Any]:
    """Add one run's sections to ``b``; return its row for a comparison table."""
    import matplotlib.pyplot as plt

    from cifarlab import evaluate, plots

    settings, metrics = run.settings or {}, run.metrics or {}
    synthetic = bool(run.synthetic)
    stored = metrics.get("test") if isinstance(metrics.get("test"), Mapping) else None
    superclass = _superclass_of(run)
    model_info = settings.get("model") or {}
    train_info = settings.get("train") or {}

    # ---- the model (loaded for its layers and for re-evaluation)
    model, model_error = None, None
    if (run.path / "model.keras").is_file():
        try:
            model = _load_model(run.path / "model.keras")
        except Exception as err:  # a model file Keras cannot read: say so, go on
            model_error = f"model.keras could not be loaded ({type(err).__name__}: {err})"
    else:
        model_error = "the run folder has no model.keras"
    n_outputs = model_info.get("classes")
    if model is not None:
        try:
            n_outputs = int(model.output_shape[-1])
        except (AttributeError, TypeError, ValueError):
            pass  # several outputs, or unknown: the recorded number stays

    # ---- the test evaluation: re-evaluated when the data is found, else the recorded one
    evaluation, test_data, data_notes = None, None, []
    input_shape = _input_shape(model) if model is not None else None
    takes_images = input_shape is None or (
        len(input_shape) == 3
        and input_shape[-1] in (3, None)
        and all(d in (32, None) for d in input_shape[:2])
    )
    if model is not None and not takes_images:
        model_error = (
            f"the model takes inputs of shape {input_shape}, not 32x32 images (a head "
            "trained on extracted features?), so it cannot be re-evaluated on test images"
        )
    elif model is not None:
        test_data, data_notes = _find_test_data(run, stored, n_outputs, data_dir, cache)
        if test_data is not None:
            try:
                evaluation = evaluate.evaluate(
                    model,
                    test_data.x_test,
                    test_data.y_test,
                    test_data.class_names,
                    top_k=(3, 5),
                    synthetic=test_data.synthetic,
                    name=f"{run.name} on the {test_data.name} test split",
                )
            except Exception as err:  # a model that does not fit the images: say so, go on
                model_error = f"re-evaluation failed ({type(err).__name__}: {err})"
                test_data = None

    # ---- data and superclass
    b.h(level, "Data and superclass")
    if superclass is not None:
        index = _labels.COARSE_LABELS.index(superclass)
        classes = _labels.SUPERCLASSES[superclass]
        b.p(
            f"Superclass **{superclass}** (index {index} of 20): "
            + ", ".join(f"{c} ({i})" for i, c in enumerate(classes))
            + ", labels 0 to 4 in this order."
        )
    else:
        b.p("The run's configuration names no superclass.")
    described = run.config.get("data") or (test_data.description if test_data else None)
    if described:
        b.p(f"Data: {described}.")
    rows = []
    for split, desc in (settings.get("data") or {}).items():
        if isinstance(desc, Mapping):
            rows.append({"split": split, **{k: v for k, v in desc.items() if k != "element_spec"}})
    n_test = evaluation.num_examples if evaluation else (stored or {}).get("num_examples")
    if n_test is not None:
        rows.append({"split": "test", "images": n_test})
    if rows:
        b.table(_frame(rows))
    b.p(
        "Validation data come from the training split; the test split is used once, "
        "for the final evaluation."
    )

    # ---- model
    b.h(level, "Model")
    b.p(
        f"`{model_info.get('name', '?')}` ({model_info.get('class', 'model')}): "
        f"{_fmt(model_info.get('params'))} parameters, {_fmt(model_info.get('trainable_params'))}"
        f" trainable; input {tuple(model_info.get('input_shape') or ())}, "
        f"{_fmt(model_info.get('classes'))} classes (softmax)."
    )
    b.p(
        f"Compiled with {train_info.get('optimizer', '?')} (learning rate "
        f"{_lr(train_info.get('learning_rate'))}), loss {train_info.get('loss', '?')}, "
        f"batch size {_fmt(train_info.get('batch_size'))}, at most "
        f"{_plural(train_info.get('epochs'), 'epoch')}, early stopping patience "
        f"{_fmt(train_info.get('early_stopping_patience'))}, seed {_fmt(train_info.get('seed'))}."
    )
    if model is not None:
        b.table(_layer_table(model))
    else:
        b.lack("layer table", model_error or "no model")

    # ---- training
    b.h(level, "Training")
    best = run.best_metrics or {}
    b.p(
        f"{_plural(run.epochs_run, 'epoch')} ({run.stopped}); best epoch {_fmt(run.best_epoch)} "
        f"(lowest validation loss): validation accuracy {_fmt(best.get('val_accuracy'))}, "
        f"validation loss {_fmt(best.get('val_loss'))}, training accuracy "
        f"{_fmt(best.get('accuracy'))}."
    )
    if run.history:
        try:
            fig = plots.plot_history(run, synthetic=synthetic, title=f"{run.name}: training")
            b.figure("curves", fig, "Training and validation curves; dashed: best epoch.")
        except (ValueError, TypeError) as err:
            b.lack("training curves", str(err))
        keys = [k for k in run.history if k != "learning_rate"] + (
            ["learning_rate"] if "learning_rate" in run.history else []
        )
        hist = [
            {
                "epoch": i + 1,
                **{k: run.history[k][i] for k in keys if k != "learning_rate"},
                **(
                    {"learning_rate": _lr(run.history["learning_rate"][i])}
                    if "learning_rate" in keys
                    else {}
                ),
            }
            for i in range(min(run.epochs_run, _MAX_HISTORY_ROWS))
            if all(i < len(run.history[k]) for k in keys)
        ]
        if hist:
            b.table(_frame(hist, digits=4))
    else:
        b.lack("training curves", "history.csv holds no epoch")
    plt.close("all")

    # ---- test results
    b.h(level, "Test results")
    if evaluation is not None:
        accuracy, loss = evaluation.accuracy, evaluation.loss
        top_k = {int(k): v for k, v in evaluation.top_k_accuracy.items()}
        where = f"re-evaluated on {evaluation.num_examples} test images of {test_data.description}"
        recorded = metrics.get("test_accuracy", (stored or {}).get("accuracy"))
        if recorded is not None and abs(float(recorded) - accuracy) > 1e-6:
            b.note(
                f"The recorded test accuracy ({float(recorded):.4f}) differs from this "
                f"re-evaluation ({accuracy:.4f}): the data found may not be the data the "
                "run was evaluated on."
            )
    elif stored is not None:
        accuracy, loss = stored.get("accuracy"), stored.get("loss")
        top_k = {int(k): v for k, v in (stored.get("top_k_accuracy") or {}).items()}
        where = f"as recorded in metrics.json ({stored.get('num_examples', '?')} test images)"
    else:
        accuracy, loss = metrics.get("test_accuracy"), metrics.get("test_loss")
        top_k = {
            int(m.group(1)): v
            for k, v in metrics.items()
            if (m := re.fullmatch(r"test_top(\d+)_accuracy", k)) and v is not None
        }
        where = "as recorded in metrics.json"
    if accuracy is None:
        b.lack(
            "test results",
            "the run was not evaluated on the test split and its data was not found"
            + (f" ({'; '.join(data_notes)})" if data_notes else "")
            + ". Give the data folder: cifarlab report RUN --data-dir DIR.",
        )
    else:
        parts = [f"accuracy **{float(accuracy):.3f}**"]
        if loss is not None:
            parts.append(f"loss {float(loss):.4f}")
        parts += [f"top-{k} accuracy {float(v):.3f}" for k, v in sorted(top_k.items())]
        b.p(f"Test {', '.join(parts)}; {where}.")
    if evaluation is None and data_notes:
        b.note("Test data not found for re-evaluation: " + "; ".join(data_notes) + ".")
    if evaluation is None and model_error:
        b.note(f"No re-evaluation: {model_error}.")

    no_evaluation = "not recorded in metrics.json, and no re-evaluation (see Test results)"
    source = evaluation if evaluation is not None else stored
    names = (
        evaluation.class_names
        if evaluation is not None
        else tuple((stored or {}).get("class_names") or ())
    )

    # ---- per-class metrics
    b.h(level, "Per-class metrics")
    per_class = _per_class_frame(source)
    if per_class is None:
        b.lack("per-class metrics", no_evaluation)
    else:
        b.table(_frame(per_class.reset_index(names="class")))
        fig = plots.plot_per_class(
            per_class, synthetic=synthetic, title="accuracy per class (test)"
        )
        b.figure("per_class", fig.figure, "Accuracy (recall) per class on the test split.")

    # ---- confusion matrix
    b.h(level, "Confusion matrix")
    cm = _confusion(source)
    if cm is None:
        b.lack("confusion matrix", no_evaluation)
    else:
        ax = plots.plot_confusion_matrix(
            cm, names or None, synthetic=synthetic, title="confusion matrix (test, counts)"
        )
        b.figure("confusion", ax.figure, "Rows: true class; columns: predicted class.")

    # ---- most confused pairs
    b.h(level, "Most confused pairs")
    pairs = _most_confused(source)
    if pairs is None:
        b.lack("most confused pairs", no_evaluation)
    elif pairs.empty:
        b.p("No mistakes on the test split.")
    else:
        b.table(_frame(pairs.head(10)))
        ax = plots.plot_most_confused(pairs, k=10, synthetic=synthetic, title="most confused")
        b.figure("most_confused", ax.figure, "The most frequent mistakes (true -> predicted).")

    # ---- highest-loss examples
    b.h(level, "Highest-loss test images")
    if evaluation is not None:
        fig = plots.plot_highest_loss(
            evaluation,
            test_data.x_test,
            n=12,
            synthetic=synthetic,
            title="highest-loss test images",
        )
        b.figure(
            "highest_loss",
            fig,
            "The test images the model is most wrong about: look for wrong labels here.",
        )
        b.table(_frame(evaluation.highest_loss.head(10), digits=4))
    else:
        table = _highest_loss(stored)
        if table is not None and not table.empty:
            b.table(_frame(table.head(10), digits=4))
        if model_error:
            why = model_error[0].upper() + model_error[1:] + "."
        else:
            why = (
                "The test images are needed; they were not found"
                + (f" ({'; '.join(data_notes)})" if data_notes else "")
                + ". Give the data folder: cifarlab report RUN --data-dir DIR."
            )
        b.lack("highest-loss images", why)
    plt.close("all")

    # ---- timing
    b.h(level, "Timing")
    times = [t for t in run.epoch_times if isinstance(t, float) and math.isfinite(t)]
    timing = f"Training took {_seconds(run.total_time)} for {_plural(run.epochs_run, 'epoch')}"
    if times:
        timing += (
            f": {sum(times) / len(times):.1f} s per epoch on average (first epoch "
            f"{times[0]:.1f} s, including graph tracing)"
        )
    b.p(timing + ".")
    versions = settings.get("versions") or {}
    b.p(
        f"Started {settings.get('started', '?')}, finished {metrics.get('finished', '?')}. "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
        + ("." if versions else "")
    )

    # ---- configuration
    b.h(level, "Configuration")
    b.p(f"`config.json` of `{run.path}`:")
    b.code(json.dumps(settings, indent=2, default=str))

    return {
        "run": run.name,
        "model": str(
            run.config.get("model") or run.config.get("variant") or model_info.get("name") or ""
        ),
        "superclass": superclass or "",
        "test_accuracy": None if accuracy is None else float(accuracy),
        **{f"top{k}_accuracy": float(v) for k, v in sorted(top_k.items())},
        "best_val_accuracy": best.get("val_accuracy"),
        "epochs": run.epochs_run,
        "train_seconds": run.total_time,
        "params": model_info.get("params"),
        "data": "SYNTHETIC" if synthetic else "real",
    }


def _per_class_frame(source):
    import pandas as pd

    from cifarlab import evaluate

    if source is None:
        return None
    if isinstance(source, evaluate.Evaluation):
        return source.per_class
    table = source.get("per_class")
    if not table:
        return None
    frame = pd.DataFrame.from_dict(table, orient="index")
    frame.index.name = "class"
    return frame


def _confusion(source):
    import numpy as np

    from cifarlab import evaluate

    if source is None:
        return None
    if isinstance(source, evaluate.Evaluation):
        return source.confusion_matrix
    cm = source.get("confusion_matrix")
    return None if not cm else np.asarray(cm, dtype=int)


def _most_confused(source):
    import pandas as pd

    from cifarlab import evaluate

    if source is None:
        return None
    if isinstance(source, evaluate.Evaluation):
        return source.most_confused
    rows = source.get("most_confused")
    if rows is None:
        return None
    return pd.DataFrame(rows, columns=["true", "predicted", "count", "fraction"])


def _highest_loss(stored):
    import pandas as pd

    if not stored or not stored.get("highest_loss"):
        return None
    return pd.DataFrame(stored["highest_loss"])


# --------------------------------------------------------------------------- building


def _run_dirs(folder: Path) -> list[Path]:
    found = []
    for current, dirs, files in os.walk(folder):
        if "config.json" in files and ("metrics.json" in files or "history.csv" in files):
            found.append(Path(current))
            dirs[:] = []
            continue
        dirs[:] = sorted(
            d for d in dirs if not d.startswith((".", "_")) and d not in ("previous", "report")
        )
    return sorted(found)


def build_report(path: str | os.PathLike, *, data_dir: str | os.PathLike | None = None) -> Report:
    """Build the report of a run folder, or of a group folder (every run below it).

    Args:
        path: a run folder (with ``config.json``) or a folder holding runs, such as
            ``runs/<group>/`` written by ``cifarlab run-notebooks``.
        data_dir: CIFAR-100 folder or archive for re-evaluating on the test split (see the
            module docstring for where else the report looks).

    Returns:
        A :class:`Report`; ``report.missing`` lists what could not be made.

    Raises:
        FileNotFoundError: ``path`` or ``data_dir`` does not exist, or a run folder lacks
            its files.
        ValueError: the folder holds no run and no notebook status.

    Example:
        >>> rep = build_report("runs/Group_13")
        >>> rep.missing        # () when everything could be made
    """
    from cifarlab import plots, train

    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a run or group folder. Received: {path!r}.")
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"`path` {folder} does not exist or is not a folder.")
    if data_dir is not None:
        data_dir = Path(data_dir).expanduser()
        if not data_dir.exists():
            raise FileNotFoundError(f"`data_dir` {data_dir} does not exist.")
    cache: dict[str, Any] = {}

    if (folder / "config.json").is_file():
        run = train.load_run(folder, load_model=False)
        b = _Builder(prefix="")
        _run_section(run, b, 2, data_dir, cache)
        return Report(
            title=f"Technical report: {run.name}",
            source=folder,
            kind="run",
            synthetic=bool(run.synthetic),
            blocks=tuple(b.blocks),
            missing=tuple(b.missing),
        )

    status = read_group_status(folder)
    run_dirs = _run_dirs(folder)
    if not run_dirs and status is None:
        raise ValueError(
            f"{folder} holds no recorded run (a folder with config.json and metrics.json) "
            "and no notebook status: give a run folder, or a group folder written by "
            "cifarlab run-notebooks."
        )
    name = (status or {}).get("group") or folder.name
    b = _Builder(prefix="")
    synthetic = False
    b.h(2, "Overview")
    superclass = (status or {}).get("superclass")
    if superclass:
        classes = ", ".join(_labels.SUPERCLASSES.get(superclass, ()))
        b.p(f"Group **{name}**, superclass **{superclass}** ({classes}).")
    b.p(f"Recorded runs in `{folder}`: {len(run_dirs)}.")
    if status and status.get("notebooks"):
        b.h(3, "Notebooks")
        rows = []
        for stem, entry in status["notebooks"].items():
            synthetic |= bool(entry.get("synthetic"))
            rows.append(
                {
                    "notebook": stem,
                    "status": entry.get("status"),
                    "seconds": entry.get("seconds"),
                    "finished": entry.get("finished"),
                    "output": entry.get("notebook") or "",
                    "error": entry.get("error") or "",
                }
            )
        b.table(_frame(rows, digits=1))
        failed = [r["notebook"] for r in rows if r["status"] == "failed"]
        if failed:
            b.note(
                f"{len(failed)} notebook(s) failed: {', '.join(failed)}. Their executed "
                "notebooks (*.failed.ipynb / .html) show where."
            )
    comparison = []
    runs = []
    sections: list[tuple] = []
    missing: list[str] = []
    for i, run_dir in enumerate(run_dirs, start=1):
        try:
            run = train.load_run(run_dir, load_model=False)
        except (FileNotFoundError, ValueError) as err:
            missing.append(f"run {run_dir.name}: {err}")
            sections.append(("note", f"**Run `{run_dir.name}` skipped:** {err}"))
            continue
        synthetic |= bool(run.synthetic)
        rb = _Builder(prefix=f"run{i}-{_slug(run.name)}-")
        rb.h(2, f"Run {i}: {run.name}")
        rb.p(f"Folder `{run_dir.relative_to(folder)}`.")
        row = _run_section(run, rb, 3, data_dir, cache)
        comparison.append(row)
        runs.append(run)
        sections += rb.blocks
        missing += [f"run {run.name}: {m}" for m in rb.missing]
    if comparison:
        b.h(3, "Comparison of the runs")
        b.table(_frame(comparison))
    if len(runs) > 1:
        try:
            fig = plots.plot_run_comparison(runs, synthetic=synthetic, title=f"{name}: runs")
            b.figure("comparison", fig, "Validation accuracy per epoch; test accuracy vs time.")
        except (ValueError, TypeError) as err:
            b.lack("run comparison chart", str(err))
    b.blocks.extend(sections)
    return Report(
        title=f"Technical report: group {name}",
        source=folder,
        kind="group",
        synthetic=synthetic,
        blocks=tuple(b.blocks),
        missing=tuple(b.missing + missing),
    )


def write_report(
    path: str | os.PathLike,
    *,
    out_dir: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
) -> ReportFiles:
    """Write the report of a run or group as ``report.md`` (figures in ``report_files/``)
    and ``report.html`` (one self-contained file).

    The report is made from the run records, which it never changes; writing it again
    replaces the earlier report (atomically, file by file).

    Args:
        path: a run folder or a group folder (see :func:`build_report`).
        out_dir: where to write (default: ``<path>/report``).
        data_dir: CIFAR-100 folder or archive for the test-split figures.

    Example:
        >>> files = write_report("runs/Group_13")
        >>> files.html
        PosixPath('runs/Group_13/report/report.html')
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a run or group folder. Received: {path!r}.")
    out = Path(path).expanduser() / "report" if out_dir is None else Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise ValueError(f"`out_dir` {out} is a file, not a folder.")
    rep = build_report(path, data_dir=data_dir)
    figures_dir = out / FIGURES_DIR
    figures_dir.mkdir(parents=True, exist_ok=True)
    figures = rep.figures
    for name, png in figures.items():
        atomic_write(figures_dir / name, png)
    for stale in figures_dir.glob("*.png"):
        if stale.name not in figures:
            stale.unlink()
    md, page = out / "report.md", out / "report.html"
    atomic_write(md, rep.to_markdown(FIGURES_DIR))
    atomic_write(page, rep.to_html())
    return ReportFiles(
        markdown=md,
        html=page,
        figures_dir=figures_dir,
        synthetic=rep.synthetic,
        missing=rep.missing,
    )


def _temp_name(target: Path, suffix: str = ".part") -> Path:
    return target.with_name(f".{target.stem}.{os.getpid()}-{secrets.token_hex(4)}{suffix}")
