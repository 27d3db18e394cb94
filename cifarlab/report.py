"""The technical report of a run or a group: Markdown and one self-contained HTML file. Saved
models are re-evaluated on their test split when the data is found; else metrics.json is used."""

import base64
import html
import io
import json
import math
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cifarlab import data, runs
from cifarlab import labels as _labels
from cifarlab._files import atomic_write, jsonable, markdown_text, new_folder, slug

FIGURES_DIR = "report_files"
SYNTHETIC_BANNER = ("SYNTHETIC data: these results come from a synthetic stand-in for CIFAR-100 "
                    "(smoke check or offline try-out). They say nothing about real CIFAR-100.")
_PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body {{ font-family: system-ui, sans-serif; max-width: 62rem; margin: 2rem auto; }}
img {{ max-width: 100%; }} table {{ border-collapse: collapse; }} th {{ background: #eee; }}
th, td {{ border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; }}
.synthetic {{ background: #fff3cd; border: 2px solid #e0a800; padding: 0.6rem; font-weight: bold; }}
.note {{ border-left: 4px solid #999; padding-left: 0.6rem; }} pre {{ background: #f6f6f6; }}
</style></head><body>{body}</body></html>\n"""


def _inline(words: str) -> str:
    """Text escaped for HTML, then ``**bold**`` and ```code``` as tags."""
    words = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(words))
    return re.sub(r"`(.+?)`", r"<code>\1</code>", words)


_MARKDOWN = {"h": lambda n, text: f"{'#' * n} {markdown_text(text)}", "p": markdown_text,
             "note": lambda text: f"> {markdown_text(text)}", "banner": "> **{}**".format,
             "code": "```\n{}\n```".format, "table": lambda t: t.map(markdown_text).to_markdown(
                 index=False, disable_numparse=True)}  # code: JSON, no line closes the fence
_HTML = {"h": lambda n, text: f"<h{n}>{html.escape(text)}</h{n}>",
         "figure": lambda name, png, cap: (
             f'<figure><img alt="{html.escape(cap)}" src="data:image/png;base64,'
             f'{base64.b64encode(png).decode()}"><figcaption>{html.escape(cap)}</figcaption></figure>'),
         "p": lambda text: f"<p>{_inline(text)}</p>",
         "note": lambda text: f'<p class="note">{_inline(text)}</p>',
         "banner": lambda text: f'<p class="synthetic">{html.escape(text)}</p>',
         "code": lambda text: f"<pre><code>{html.escape(text)}</code></pre>",
         "table": lambda t: t.to_html(index=False, border=0, escape=True)}


@dataclass(frozen=True, eq=False)
class Report:
    """A report as blocks: ("h", level, text), ("p" | "note" | "code", text), ("table", DataFrame
    of text cells), ("figure", name, png, caption); ``missing``: the parts not made, and why."""

    title: str
    source: Path
    kind: str  # "run" or "group"
    synthetic: bool
    blocks: tuple[tuple, ...]
    missing: tuple[str, ...] = ()

    @property
    def figures(self) -> dict[str, bytes]:
        """File name -> PNG bytes of every figure."""
        return {b[1]: b[2] for b in self.blocks if b[0] == "figure"}

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"title": self.title, "source": self.source, "kind": self.kind,
                         "synthetic": self.synthetic, "missing": self.missing,
                         "headings": [b[2] for b in self.blocks if b[0] == "h"],
                         "figures": list(self.figures)})

    def _render(self, render: dict) -> list[str]:
        head = [("h", 1, self.title)] + [("banner", SYNTHETIC_BANNER)] * self.synthetic
        return [render[kind](*args) for kind, *args in head + list(self.blocks)]

    def to_markdown(self, figures_dir: str = FIGURES_DIR) -> str:
        """Markdown; figures are linked as ``<figures_dir>/<name>`` (write them there)."""
        figure = lambda name, _, cap: f"![{cap}]({figures_dir}/{name})\n\n*{cap}*"  # noqa: E731
        return "\n\n".join(self._render({**_MARKDOWN, "figure": figure})) + "\n"

    def to_html(self) -> str:
        """One HTML file with every image embedded (base64): no other file is needed."""
        return _PAGE.format(title=html.escape(self.title), body="\n".join(self._render(_HTML)))


@dataclass(frozen=True)
class ReportFiles:
    """What :func:`write_report` wrote; ``previous``: where the files it replaced went."""

    markdown: Path
    html: Path
    figures_dir: Path
    synthetic: bool
    missing: tuple[str, ...] = ()
    previous: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))


def _fmt(value: Any, spec: str = ".3f") -> str:
    """A value as text: ints with thousands separators, floats as ``spec``, NaN and None empty."""
    value = value.item() if isinstance(value, np.generic) else value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:{spec}}" if math.isfinite(value) else ""
    return "" if value is None else f"{value:,}" if isinstance(value, int) else str(value)


def _frame(rows, spec: str = ".3f"):
    """Rows (dicts or a DataFrame) as text cells, formatted alike in Markdown and HTML."""
    import pandas as pd

    return pd.DataFrame(rows, dtype=object).map(lambda v: _fmt(v, spec))


def _plural(n: Any, word: str) -> str:
    return f"{_fmt(n)} {word}" + ("" if n == 1 else "s")


class _Builder:
    """Collects a report's blocks, and the parts that could not be made."""

    def __init__(self) -> None:
        self.blocks, self.missing, self.prefix, self.label = [], [], "", ""

    def add(self, *block) -> None:
        self.blocks.append(block)

    def figure(self, name: str, fig, caption: str) -> None:
        import matplotlib.pyplot as plt

        fig, buf = getattr(fig, "figure", fig), io.BytesIO()
        fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
        plt.close(fig)
        self.add("figure", f"{self.prefix}{name}.png", buf.getvalue(), caption)

    def lack(self, part: str, why: str) -> None:
        self.missing.append(f"{self.label}{part}: {why}")
        self.add("note", f"**Not available: {part}.** {why[:1].upper()}{why[1:]}")

    def section(self, level: int, heading: str, value, why: str = "not recorded in metrics.json"
                ", and no re-evaluation (see Test results)") -> bool:
        """Add ``heading``; True when ``value`` (a test result) is there, else say why not."""
        self.add("h", level, heading)
        if value is None:
            self.lack(heading.lower(), why)
        return value is not None


def _superclass_of(run) -> str | None:
    try:
        return _labels.superclass_name(run.config.get("superclass"))
    except (TypeError, ValueError):
        return None


def _test_data(run, stored, data_dir, cache) -> tuple[Any, list[str]]:
    """The run's test split (a CifarData) from the first place holding it; why not the others."""
    status = runs.find_group(run.path)[1] or {}
    places = [("--data-dir", data_dir), ("the run's config (data_dir)", run.config.get("data_dir")),
              ("the group's status.json (data_dir)", status.get("data_dir"))]
    places = [p for p in places if p[1]] + [("CIFARLAB_DATA_DIR or the Keras cache", None)]
    notes, superclass = [], _superclass_of(run)
    for where, path in places:
        if str(path) not in cache:
            try:
                cache[str(path)] = data.load_cifar100(path, download=False, verbose=False)
            except (FileNotFoundError, ValueError, RuntimeError) as err:
                cache[str(path)] = str(err).splitlines()[0]
        if not isinstance(found := cache[str(path)], str):
            found = found if superclass is None else data.select_superclass(found, superclass)
            if (why := _why_not_the_runs(found, run, stored)) is None:
                return found, notes
        notes.append(f"{where}: {found if isinstance(found, str) else why}")
    return None, notes


def _why_not_the_runs(found, run, stored) -> str | None:
    """Why ``found`` is not the data the run was evaluated on (None when it may be)."""
    if found.synthetic != run.synthetic:
        return f"holds {('real', 'SYNTHETIC')[found.synthetic]} data, unlike the run"
    if stored.get("class_names") and tuple(stored["class_names"]) != found.class_names:
        return "other classes than the run was evaluated on"
    cm = np.asarray(stored.get("confusion_matrix") or [], dtype=int)
    counts = np.bincount(found.y_test, minlength=found.num_classes)
    if cm.ndim == 2 and len(cm) == len(counts) and not np.array_equal(cm.sum(axis=1), counts):
        return (f"its test split has {int(counts.sum())} images, the run was evaluated on "
                f"{int(cm.sum())}: not the same data")
    return None


def _reevaluate(run, stored, data_dir, cache):
    """(layer table, fresh test record, test data, why not): the saved model on its test split."""
    import keras

    from cifarlab import evaluate, models  # models: registers cifarlab's layers for loading

    try:
        model = keras.saving.load_model(run.path / runs.MODEL_FILE)
    except Exception as err:  # no model.keras, or one Keras cannot read: say so, go on
        return None, None, None, f"model.keras could not be loaded ({type(err).__name__}: {err})."
    layers = models.layer_table(model)
    if len(shape := tuple((run.settings.get("model") or {}).get("input_shape") or [0] * 3)) != 3:
        return layers, None, None, (f"the model takes inputs of shape {shape}, not 32x32 images (a "
                                   "head trained on extracted features?), so it cannot be "
                                   "re-evaluated on test images.")
    test_data, notes = _test_data(run, stored, data_dir, cache)
    if test_data is None:
        return layers, None, None, (f"the test images were not found ({'; '.join(notes)}). "
                                    "Give the data folder: cifarlab report RUN --data-dir DIR.")
    try:
        return layers, evaluate.evaluate_data(model, test_data).to_dict(), test_data, None
    except Exception as err:  # a model that does not fit the images: say so, go on
        return layers, None, None, f"re-evaluation failed ({type(err).__name__}: {err})."


def _training_section(b: _Builder, level: int, run) -> None:
    from cifarlab import plots

    best = run.best_metrics
    b.add("h", level, "Training")
    b.add("p", f"{_plural(run.epochs, 'epoch')} ({run.stopped}); best epoch "
          f"{_fmt(run.best_epoch)} (lowest validation loss): validation accuracy "
          f"{_fmt(best.get('val_accuracy'))}, validation loss {_fmt(best.get('val_loss'))}, "
          f"training accuracy {_fmt(best.get('accuracy'))}.")
    if not run.history:
        return b.lack("training curves", "history.csv holds no epoch")
    fig = plots.plot_history(run, synthetic=run.synthetic, title=f"{run.name}: training")
    b.figure("curves", fig, "Training and validation curves; dashed: best epoch.")
    history = {k: v for k, v in run.history.items() if k != "learning_rate"}
    if "learning_rate" in run.history:  # the rate last
        history["learning_rate"] = [_fmt(r, ".3g") for r in run.history["learning_rate"]]
    table = _frame(history, ".4f").head(100)
    table.insert(0, "epoch", range(1, len(table) + 1))
    b.add("table", table)


def _test_section(b: _Builder, level: int, run, fresh, test_data, stored, why_not) -> dict:
    """Test accuracy, loss and top-k, re-evaluated or recorded; returns them by column name."""
    scores = runs.scores_on_test({"test": fresh} if fresh else run.metrics)
    where = (f"re-evaluated on {fresh['num_examples']} test images of {test_data.description}"
             if fresh else "as recorded in metrics.json" + (
                 f" ({stored.get('num_examples', '?')} test images)" if stored else ""))
    why = f"not recorded in metrics.json, and no re-evaluation: {why_not}"
    if b.section(level, "Test results", scores.get("test_accuracy"), why):
        top_k = sorted((int(re.sub(r"\D", "", k)), v) for k, v in scores.items() if "top" in k)
        b.add("p", f"Test accuracy **{scores['test_accuracy']:.3f}**"
              + (f", loss {scores['test_loss']:.4f}" if "test_loss" in scores else "")
              + "".join(f", top-{k} accuracy {v:.3f}" for k, v in top_k)
              + f"; {where}.")
    return scores


def _figure_sections(b: _Builder, level: int, run, record, test_data, why_not) -> None:
    """Per-class metrics, confusion matrix, most confused and highest-loss images of a record."""
    import pandas as pd

    from cifarlab import plots

    syn, names = run.synthetic, record.get("class_names") or None
    per_class, cm, pairs = map(record.get, ("per_class", "confusion_matrix", "most_confused"))
    if b.section(level, "Per-class metrics", per_class or None):
        per_class = pd.DataFrame.from_dict(per_class, orient="index")
        b.add("table", _frame(per_class.reset_index(names="class")))
        ax = plots.plot_per_class(per_class, synthetic=syn, title="accuracy per class (test)")
        b.figure("per_class", ax, "Accuracy (recall) per class on the test split.")
    if b.section(level, "Confusion matrix", cm or None):
        ax = plots.plot_confusion_matrix(np.asarray(cm, dtype=int), names, synthetic=syn)
        b.figure("confusion", ax, "Rows: true class; columns: predicted class.")
    if b.section(level, "Most confused pairs", pairs):
        pairs = pd.DataFrame(pairs, columns=["true", "predicted", "count", "fraction"])
        b.add("table", _frame(pairs.head(10)))
        ax = plots.plot_most_confused(pairs, k=10, synthetic=syn, title="most confused")
        b.figure("most_confused", ax, "The most frequent mistakes (true -> predicted).")
    b.add("h", level, "Highest-loss test images")
    highest = pd.DataFrame(record.get("highest_loss") or [])
    if test_data is None:
        b.lack("highest-loss images", why_not)
    else:
        fig = plots.plot_highest_loss(highest, test_data.x_test, n=12, synthetic=syn)
        b.figure("highest_loss", fig, "The images the model is most wrong about: wrong labels?")
    if not highest.empty:
        b.add("table", _frame(highest.head(10), ".4f"))


def _run_section(run, b: _Builder, level: int, data_dir, cache) -> dict[str, float]:
    """Add one run's sections to ``b``; return its test results by column name."""
    stored = run.metrics.get("test") if isinstance(run.metrics.get("test"), dict) else {}
    layers, fresh, test_data, why_not = _reevaluate(run, stored, data_dir, cache)
    b.add("h", level, "Data and superclass")
    if superclass := _superclass_of(run):
        classes = ", ".join(f"{c} ({i})" for i, c in enumerate(_labels.SUPERCLASSES[superclass]))
        b.add("p", f"Superclass **{superclass}** (index {_labels.COARSE_LABELS.index(superclass)}"
              f" of 20): {classes}, labels 0 to 4 in this order.")
    else:
        b.add("p", "The run's configuration names no superclass.")
    splits = {**(run.settings.get("data") or {}),
              "test": {"images": (fresh or stored).get("num_examples")}}
    b.add("p", f"Data: {run.config.get('data') or getattr(test_data, 'description', '?')}. "
          "Validation data come from the training split; the test split is used once.")
    b.add("table", _frame([{"split": k, **{f: v for f, v in about.items() if f != "element_spec"}}
                           for k, about in splits.items()]))
    info, fit = run.settings.get("model") or {}, run.settings.get("train") or {}
    b.add("h", level, "Model")
    b.add("p", f"`{info.get('name', '?')}` ({info.get('class', 'model')}): "
          f"{_fmt(info.get('params'))} parameters, {_fmt(info.get('trainable_params'))} "
          f"trainable; input {tuple(info.get('input_shape') or ())}, "
          f"{_fmt(info.get('classes'))} classes (softmax). Compiled with "
          f"{fit.get('optimizer', '?')} (learning rate {_fmt(fit.get('learning_rate'), '.3g')}), "
          f"loss {fit.get('loss', '?')}, batch size {_fmt(fit.get('batch_size'))}, at most "
          f"{_plural(fit.get('epochs'), 'epoch')}, early stopping patience "
          f"{_fmt(fit.get('early_stopping_patience'))}, seed {_fmt(fit.get('seed'))}.")
    if layers is None:
        b.lack("layer table", why_not)
    else:
        b.add("table", _frame(layers))
    _training_section(b, level, run)
    scores = _test_section(b, level, run, fresh, test_data, stored, why_not)
    _figure_sections(b, level, run, fresh or stored, test_data, why_not)
    b.add("h", level, "Timing")
    s, times = run.train_seconds, [t for t in run.epoch_times if math.isfinite(t)]
    took = f"{s / 60:.1f} min ({s:.0f} s)" if s >= 120 else f"{s:.1f} s"
    per_epoch = (f": {sum(times) / len(times):.1f} s per epoch on average (first epoch "
                 f"{times[0]:.1f} s, including graph tracing)" if times else "")
    versions = "".join(f", {k} {v}" for k, v in (run.settings.get("versions") or {}).items())
    b.add("p", f"Training took {took} for {_plural(run.epochs, 'epoch')}{per_epoch}. Started "
          f"{run.settings.get('started', '?')}, finished {run.metrics.get('finished', '?')}"
          f"{versions}.")
    b.add("h", level, "Configuration")
    b.add("p", f"`config.json` of `{run.path}`:")
    b.add("code", json.dumps(run.settings, indent=2, default=str))
    return scores


def _group_report(folder: Path, data_dir) -> Report:
    """The group's superclass, notebooks and comparison of its runs, then one section a run."""
    from cifarlab import plots

    status, table = runs.read_status(folder) or {}, runs.runs_table(folder)
    if table.empty and not status:
        raise ValueError(f"{folder} holds no recorded run (config.json and metrics.json) and no "
                         "status.json: give a run folder, or a group folder of run-notebooks.")
    name, notebooks = status.get("group") or folder.name, status.get("notebooks") or {}
    b, part, loaded, cache = _Builder(), _Builder(), [], {}
    b.add("h", 2, "Overview")
    if superclass := status.get("superclass"):
        classes = ", ".join(_labels.SUPERCLASSES.get(superclass, ()))
        b.add("p", f"Group **{name}**, superclass **{superclass}** ({classes}).")
    b.add("p", f"Recorded runs in `{folder}`: {len(table)}.")
    if notebooks:
        b.add("h", 3, "Notebooks")
        b.add("table", _frame([{"notebook": stem, **{k: e.get(k) for k in (
            "status", "seconds", "finished")}, "output": e.get("notebook"), "error": e.get("error")}
            for stem, e in notebooks.items()], ".1f"))
    synthetic = any(e.get("synthetic") for e in notebooks.values())
    for i, row in enumerate(table.itertuples(), start=1):
        part.prefix, part.label = f"run{i}-{slug(row.name, limit=40)}-", f"run {row.name}: "
        try:
            run = runs.load_run(row.path, load_model=False)
        except (FileNotFoundError, ValueError) as err:
            part.lack("skipped", str(err))
            continue
        part.add("h", 2, f"Run {i}: {run.name}")
        part.add("p", f"Folder `{Path(row.path).relative_to(folder)}`.")
        for column, value in _run_section(run, part, 3, data_dir, cache).items():
            table.loc[row.Index, column] = value  # the re-evaluation, where there was one
        synthetic |= run.synthetic
        loaded.append(run)
    if loaded:
        b.add("h", 3, "Comparison of the runs")
        shown = [c for c in (*runs.COLUMNS[2:15], "superclass") if table[c].notna().any()]
        b.add("table", _frame(table.loc[table["name"].isin([r.name for r in loaded]), shown]))
    if len(loaded) > 1:
        fig = plots.plot_run_comparison(loaded, synthetic=synthetic, title=f"{name}: runs")
        b.figure("comparison", fig, "Validation accuracy per epoch; test accuracy vs time.")
    return Report(f"Technical report: group {name}", folder, "group", synthetic,
                  tuple(b.blocks + part.blocks), tuple(b.missing + part.missing))


def build_report(path: str | os.PathLike, *, data_dir: str | os.PathLike | None = None) -> Report:
    """The report of a run folder, or of a group folder (every run below it); ``data_dir``: the
    CIFAR-100 folder or archive to re-evaluate on. ``.missing``: what is not there, and why."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a run or group folder. Received: {path!r}.")
    if not (folder := Path(path).expanduser()).is_dir():
        raise FileNotFoundError(f"`path` {folder} does not exist or is not a folder.")
    if data_dir is not None and not (data_dir := Path(data_dir).expanduser()).exists():
        raise FileNotFoundError(f"`data_dir` {data_dir} does not exist.")
    if not (folder / runs.CONFIG_FILE).is_file():
        return _group_report(folder, data_dir)
    run, b = runs.load_run(folder, load_model=False), _Builder()
    _run_section(run, b, 2, data_dir, {})
    return Report(f"Technical report: {run.name}", folder, "run", run.synthetic,
                  tuple(b.blocks), tuple(b.missing))


def write_report(path: str | os.PathLike, *, out_dir: str | os.PathLike | None = None,
                 data_dir: str | os.PathLike | None = None) -> ReportFiles:
    """Write ``report.md`` (figures in ``report_files/``) and the self-contained ``report.html``
    into ``out_dir`` (default ``<path>/report``); the files of an earlier, different report
    (and the figures its report.md shows) are first moved into ``out_dir/previous/<time>/``."""
    if out_dir is not None and Path(out_dir).expanduser().is_file():
        raise ValueError(f"`out_dir` {out_dir} is a file, not a folder.")
    rep = build_report(path, data_dir=data_dir)
    out = rep.source / "report" if out_dir is None else Path(out_dir).expanduser()
    (figures_dir := out / FIGURES_DIR).mkdir(parents=True, exist_ok=True)
    md, page = out / "report.md", out / "report.html"
    files = {**{figures_dir / name: png for name, png in rep.figures.items()},
             md: rep.to_markdown(FIGURES_DIR).encode(), page: rep.to_html().encode()}
    aside = {p for p, payload in files.items() if p.is_file() and p.read_bytes() != payload}
    if md in aside:  # the figures the earlier report.md shows go with it
        shown = re.findall(rf"\]\({FIGURES_DIR}/([^)/]+)\)", md.read_text(errors="replace"))
        aside |= {p for name in shown if (p := figures_dir / name).is_file()}
    previous = new_folder(out / "previous") if aside else None
    for p in sorted(aside):
        (previous / p.relative_to(out)).parent.mkdir(exist_ok=True)
        os.replace(p, previous / p.relative_to(out))
    for p, payload in files.items():
        atomic_write(p, payload)
    return ReportFiles(md, page, figures_dir, rep.synthetic, rep.missing, previous)
