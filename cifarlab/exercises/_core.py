"""What every notebook's checks share: verdicts, hints, records, and model comparisons.

A notebook's module makes one ``Exercises`` and registers its checks with it::

    exercises = Exercises("01_baseline_cnn")
    record_results, hint, summary = exercises.record_results, exercises.hint, exercises.summary

    @exercises.check(1, "the output shape", missing="a tuple such as (30, 30, 32)",
                     hint="'valid' padding loses kernel_size - 1 pixels per side pair.")
    def check_output_shape(answer, *, name="output_shape"):
        expect(answer == (30, 30, 32), "...why it is wrong and how to fix it...")
        return "...what the right answer shows..."

The wrapper turns the check into a verdict: None (the TODO left as it is) and every failed
``expect`` become "Not yet: ...", an unexpected error in the student's code too; it prints the
verdict, records it, and returns whether it passed.
"""

import functools
import hashlib
import inspect
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from cifarlab._files import read_json, write_json

PASSED = "✓"  # first word of a passing verdict
NOT_YET = "Not yet:"  # first words of a verdict that asks for more work
RESULTS_FOLDER = "exercises"  # RUNS_DIR/exercises/<notebook>.json


class NotYet(Exception):
    """Ends a check with a 'Not yet' verdict (raise it, or use :func:`expect`)."""


def expect(ok: object, why: str) -> None:
    """The one way a check fails: ``why`` becomes the 'Not yet' verdict unless ``ok``."""
    if not ok:
        raise NotYet(why)


class Exercises:
    """The checks of one notebook: registers them, keeps their verdicts, prints hints."""

    def __init__(self, notebook: str):
        self.notebook = notebook
        self.titles: dict[int, str] = {}
        self.hints: dict[int, str] = {}
        self.verdicts: dict[int, str] = {}
        self.results_path: Path | None = None

    def check(self, number: int, title: str, *, missing: str, hint: str):
        """Register ``check`` as exercise ``number``. ``missing``: what replaces the TODO
        when the answer is None (formatted with the check's arguments)."""
        self.titles[number], self.hints[number] = title, hint

        def decorate(check):
            @functools.wraps(check)
            def wrapper(*args: Any, **kwargs: Any) -> bool:
                verdict = self._verdict(check, missing, args, kwargs)
                print(verdict)
                self._record(number, check.__name__, verdict)
                return verdict.startswith(PASSED)
            wrapper.exercise = number
            return wrapper
        return decorate

    @staticmethod
    def _verdict(check, missing: str, args: tuple, kwargs: dict) -> str:
        try:
            bound = inspect.signature(check).bind(*args, **kwargs)
            bound.apply_defaults()
            answer, name = next(iter(bound.arguments.values())), bound.arguments.get("name")
            expect(answer is not None, f"`{name}` is still None. Replace the TODO in the cell "
                   f"above with {missing.format(**bound.arguments)}, run that cell, then run "
                   "this check again.")
            return f"{PASSED} {check(*args, **kwargs)}"
        except NotYet as why:
            return f"{NOT_YET} {why}"
        except Exception as err:  # a check must never stop the notebook
            return (f"{NOT_YET} the check could not use your answer ({type(err).__name__}: "
                    f"{err}). Look at the cell above, fix it, and run this check again.")

    def record_results(self, runs_dir: str | os.PathLike) -> Path:
        """From now on save every verdict in ``runs_dir/exercises/<notebook>.json``."""
        self.results_path = Path(runs_dir) / RESULTS_FOLDER / f"{self.notebook}.json"
        return self.results_path

    def _record(self, number: int, check: str, verdict: str) -> None:
        self.verdicts[number] = verdict
        if self.results_path is None:
            return
        try:
            record = read_json(self.results_path) if self.results_path.is_file() else {}
        except (OSError, ValueError):
            record = {}  # a damaged record is replaced by this one (write_json is atomic)
        record.setdefault("notebook", self.notebook)
        record.setdefault("exercises", {})[str(number)] = {
            "title": self.titles[number], "check": check, "passed": verdict.startswith(PASSED),
            "verdict": verdict,
            "checked_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        try:
            self.results_path.parent.mkdir(parents=True, exist_ok=True)
            write_json(self.results_path, record)
        except OSError as err:
            print(f"(The verdict could not be saved in {self.results_path}: {err}.)")

    def hint(self, number: int) -> None:
        """Print the hint of exercise ``number``."""
        if number not in self.hints:
            print(f"Notebook {self.notebook} has exercises {sorted(self.hints)}; there is no "
                  f"exercise {number}.")
            return
        print(f"Hint for exercise {number} ({self.titles[number]}): {self.hints[number]}")

    def passed(self) -> dict[int, bool]:
        """``{number: passed}`` for every exercise; one not checked has not passed."""
        return {n: self.verdicts.get(n, "").startswith(PASSED) for n in sorted(self.titles)}

    def summary(self) -> None:
        """Print which exercises passed, in one line that is the same every time for the same
        results (nbval compares it: all passed in the solution, none in the student version)."""
        passed = self.passed()
        todo = [f"{n} ({self.titles[n]})" for n, ok in passed.items() if not ok]
        if not todo:
            print(f"{PASSED} {self.notebook}: all {len(passed)} exercises passed.")
        else:
            print(f"{self.notebook}: {sum(passed.values())} of {len(passed)} exercises passed. "
                  f"{NOT_YET} {', '.join(todo)}.")


def collect_results(runs_dir: str | os.PathLike):
    """Every recorded verdict under ``runs_dir`` (a group's folder, or a folder of groups),
    one row per notebook and exercise: group, notebook, exercise, title, passed, checked_at."""
    import pandas as pd

    rows = []
    for path in sorted(Path(runs_dir).rglob(f"{RESULTS_FOLDER}/*.json")):
        try:
            record = read_json(path)
        except (OSError, ValueError) as err:
            print(f"Skipped {path}: {err}")
            continue
        group = path.parent.parent.relative_to(runs_dir).as_posix()
        for number, result in sorted((record.get("exercises") or {}).items()):
            rows.append({"group": "" if group == "." else group,
                         "notebook": record.get("notebook", path.stem), "exercise": int(number),
                         **{k: result.get(k) for k in ("title", "passed", "checked_at")}})
    return pd.DataFrame(rows, columns=["group", "notebook", "exercise", "title", "passed",
                                       "checked_at"])


# --- what checks of models and data share ------------------------------------------------

def is_model(obj: Any) -> bool:
    import keras  # late: checks that need no model do not load Keras
    return isinstance(obj, keras.Model)


def probe_images(n: int = 4, *, seed: int = 0) -> np.ndarray:
    """``n`` random images in [0, 1], float32, for running a model."""
    return np.random.default_rng(seed).uniform(0, 1, size=(n, 32, 32, 3)).astype("float32")


def model_problem(model: Any, num_classes: int, *, input_shape=(32, 32, 3)) -> str | None:
    """Why ``model`` is not a classifier of ``input_shape`` images into ``num_classes``
    classes (built, run on probe images, softmax outputs), or None."""
    if not is_model(model):
        return f"a keras.Model is needed; this is a {type(model).__name__}."
    try:
        inputs, outputs = tuple(model.input_shape), tuple(model.output_shape)
    except (AttributeError, ValueError, TypeError):
        inputs = outputs = None
    if inputs is None or inputs[1:] != tuple(input_shape):
        return (f"the model takes inputs of shape {inputs and inputs[1:]}, but the images are "
                f"{'x'.join(map(str, input_shape))}: start it with "
                f"keras.Input(shape={tuple(input_shape)}).")
    if outputs is None or len(outputs) != 2 or outputs[-1] != num_classes:
        return (f"the model outputs shape {outputs}, but it must give one probability per class: "
                f"(None, {num_classes}). End it with Dense({num_classes}, activation='softmax').")
    p = np.asarray(model(probe_images(), training=False), dtype=np.float64)
    if not np.isfinite(p).all() or p.min() < -1e-6 or not np.allclose(p.sum(axis=1), 1, atol=1e-3):
        return ("the model's outputs are not probabilities (each row should be >= 0 and sum "
                "to 1): end it with a Dense layer with activation='softmax'.")
    return None


def _layers(model) -> list:
    """The layers that compute something (no InputLayer), nested models flattened."""
    import keras

    out = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out += _layers(layer)
        elif not isinstance(layer, keras.layers.InputLayer):
            out.append(layer)
    return out


def model_difference(mine: Any, reference: Any) -> str | None:
    """The first way ``mine`` differs from ``reference`` (layer types in order, each layer's
    output shape and parameter count), said as a fix, or None when they agree."""
    if not is_model(mine):
        return f"a keras.Model is needed; this is a {type(mine).__name__}."
    ours, theirs = _layers(mine), _layers(reference)
    for i, (a, b) in enumerate(zip(ours, theirs, strict=False)):  # lengths compared below
        where = f"layer {i + 1} ({a.name})"
        if type(a) is not type(b):
            return (f"{where} is a {type(a).__name__}, the reference has a "
                    f"{type(b).__name__} there ({b.name}).")
        if tuple(a.output.shape) != tuple(b.output.shape):
            return (f"{where} outputs {tuple(a.output.shape)[1:]}, the reference "
                    f"{tuple(b.output.shape)[1:]}: check its filters or units, kernel size, "
                    "padding and strides.")
        if a.count_params() != b.count_params():
            return (f"{where} has {a.count_params():,} parameters, the reference "
                    f"{b.count_params():,}.")
    if len(ours) != len(theirs):
        more = theirs[len(ours)] if len(theirs) > len(ours) else None
        return (f"the model has {len(ours)} layers, the reference {len(theirs)}: "
                + (f"next comes a {type(more).__name__} ({more.name})." if more else
                   f"remove the extra {type(ours[len(theirs)]).__name__} at the end."))
    return None


def image_hash_list(images: Any) -> list[str]:
    """One hash per image, in order (its bytes as uint8; images scaled to [0, 1] give the
    same hashes as the uint8 originals)."""
    x = np.asarray(images)
    if x.dtype != np.uint8:
        x = np.clip(np.rint(x * 255.0 if x.max(initial=0) <= 1.0 else x), 0, 255).astype(np.uint8)
    return [hashlib.sha1(image.tobytes()).hexdigest() for image in x.reshape(len(x), -1)]


def image_hashes(images: Any) -> set[str]:
    """Which images, whatever their order or scaling to [0, 1]."""
    return set(image_hash_list(images))


def shared_images(a: Any, b: Any) -> int:
    """How many images of ``a`` are also in ``b`` (by content)."""
    return len(image_hashes(a) & image_hashes(b))
