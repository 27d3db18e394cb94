"""Benchmark 4: the input pipeline, and CPU threading, for the baseline CNN.

The seeds call ``model.fit`` on NumPy arrays scaled by hand (``x / 255.0``, float64,
seed 001; ``x.astype('float32') / 255``, seeds 002 and 003). cifarlab feeds a
``tf.data`` pipeline from ``make_dataset`` (scaled once to float32, cached,
shuffled each epoch, prefetched). Same model (seed 000's network), same data, same
batch size, same seed; only the input differs.

TensorFlow's thread pools (``tf.config.threading``: intra-op threads work inside
one operation, inter-op threads run independent operations side by side) must
be set before TensorFlow starts, so each setting runs in its own process, all
three ways in it, one after the other.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import cifar100, emit, run_child, spread, summary

BATCH = 64  # the demo's batch size, for both ways
EPOCHS = 8  # timed epochs per way, after one warm-up epoch

#: (intra-op threads, inter-op threads); 0 lets TensorFlow choose (the default).
THREADS = [(0, 0), (1, 1), (2, 1), (1, 2)]

WAYS = {
    "numpy64": "seed 001: `model.fit(x / 255.0, y)`, float64 NumPy arrays",
    "numpy32": "seeds 002/003: `model.fit(x.astype('float32') / 255, y)`",
    "dataset": "cifarlab: `model.fit(make_dataset(x, y, training=True))` (cache, prefetch)",
}


def _threads_name(intra: int, inter: int) -> str:
    if (intra, inter) == (0, 0):
        return "TensorFlow's default (0, 0: it chooses)"
    return f"intra-op {intra}, inter-op {inter}"


# --------------------------------------------------------------------------- child side


def child(path: str, intra: int, inter: int, epochs: int) -> dict:
    """Time every way in this process, with the given thread pools; seconds per epoch.

    The ways take turns, one epoch each per round (one ``fit(epochs=1)`` call each), so
    that a change in the machine's load falls on all of them alike; round 0 (tracing,
    filling the cache) is left out.
    """
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)
    import keras

    from cifarlab import data, models
    from cifarlab.train import EpochTimer

    arrays = np.load(path)
    x_tr, y_tr, x_val, y_val = (arrays[k] for k in ("x_tr", "y_tr", "x_val", "y_val"))
    inputs = {  # what each way hands to model.fit
        "numpy64": ((x_tr / 255.0, y_tr), {"validation_data": (x_val / 255.0, y_val)}),
        "numpy32": (
            (x_tr.astype("float32") / 255, y_tr),
            {"validation_data": (x_val.astype("float32") / 255, y_val)},
        ),
        "dataset": (
            (data.make_dataset(x_tr, y_tr, batch_size=BATCH, training=True, seed=0),),
            {"validation_data": data.make_dataset(x_val, y_val, batch_size=BATCH, training=False)},
        ),
    }
    fitted = {}
    for way in WAYS:
        keras.utils.set_random_seed(0)
        model = models.build_baseline_cnn(int(y_tr.max()) + 1, seed=0)
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        fitted[way] = model
    times: dict[str, list[float]] = {way: [] for way in WAYS}
    accuracy = {}
    for _ in range(1 + epochs):
        for way, model in fitted.items():
            args, kwargs = inputs[way]
            if way != "dataset":
                kwargs = {**kwargs, "batch_size": BATCH}
            timer = EpochTimer()
            hist = model.fit(*args, epochs=1, verbose=0, callbacks=[timer], **kwargs)
            times[way].append(timer.times[0])
            accuracy[way] = float(hist.history["val_accuracy"][-1])
    return {
        "intra": intra,
        "inter": inter,
        "epochs": {way: t[1:] for way, t in times.items()},
        "first_epoch": {way: t[0] for way, t in times.items()},
        "val_accuracy": accuracy,
    }


# --------------------------------------------------------------------------- parent side


def run(tiny: bool = False) -> dict:
    from cifarlab import data

    cifar, source = cifar100(tiny)
    sub = data.select_superclass(cifar, "medium_mammals")  # seed 000's superclass
    (x_tr, y_tr), (x_val, y_val) = data.train_val_split(sub.x_train, sub.y_train, seed=0)
    configs = THREADS[:1] if tiny else THREADS
    epochs = 1 if tiny else EPOCHS
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "superclass.npz"
        np.savez(path, x_tr=x_tr, y_tr=y_tr, x_val=x_val, y_val=y_val)
        for intra, inter in configs:
            rows.append(run_child("bench_pipeline", path, intra, inter, epochs))
    for row in rows:
        row["name"] = _threads_name(row["intra"], row["inter"])
        row["epoch_s"] = {way: summary(t) for way, t in row["epochs"].items()}
        # Paired: the two ways' epochs of the same round, then the median of the ratios.
        pairs = zip(row["epochs"]["numpy64"], row["epochs"]["dataset"], strict=True)
        row["speedup"] = statistics.median(a / b for a, b in pairs)
    default = rows[0]
    best = min(rows, key=lambda r: r["epoch_s"]["dataset"]["median"])
    gain = 1 - best["epoch_s"]["dataset"]["median"] / default["epoch_s"]["dataset"]["median"]
    return {
        "name": "Input pipeline: `fit` on NumPy arrays or on `make_dataset`, baseline CNN",
        "data": f"{source}; superclass medium_mammals, {len(x_tr):,} training and "
        f"{len(x_val):,} validation images",
        "epochs": epochs,
        "rows": rows,
        "speedup_default": default["speedup"],
        "best_threads": best["name"],
        "best_gain": gain,
        "headline": f"epoch time of `fit` on `x / 255.0` arrays / on `make_dataset`: "
        f"{default['speedup']:.2f} (TensorFlow's default threads); threads: "
        + ("no setting beat the default" if gain <= _noise(rows) / 2 else best["name"]),
        "target": "none set: measure, and say what helped",
        "met": None,
    }


def markdown(r: dict) -> str:
    lines = [
        f"### {r['name']}",
        "",
        f"Data: {r['data']}. Seed 000's network, Adam, batch {BATCH}, validation every "
        f"epoch. Seconds per epoch (training + validation): median of {r['epochs']} epochs "
        "after a warm-up epoch (which traces the graph and fills the cache); the three ways "
        "take turns, one epoch each, so that changes in the machine's load fall on all "
        "alike; each thread setting in a fresh process.",
        "",
        "| threads (`tf.config.threading`) | "
        + " | ".join(WAYS[w] for w in WAYS)
        + " | `x / 255.0` time / `make_dataset` time |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in r["rows"]:
        cells = [spread(row["epoch_s"][w], digits=2) for w in WAYS]
        lines.append(f"| {row['name']} | {' | '.join(cells)} | {row['speedup']:.2f}x |")
    noise = _noise(r["rows"])
    verdict = (
        "within the typical spread between epochs, so no real difference: for one "
        "superclass and this small network the model's own work dominates an epoch, and "
        "the input pipeline matters little"
        if abs(r["speedup_default"] - 1) <= noise / 2
        else ("faster with `make_dataset`" if r["speedup_default"] > 1 else "slower with it")
    )
    lines += [
        "",
        f"With TensorFlow's default threads, an epoch on `x / 255.0` arrays takes "
        f"**{r['speedup_default']:.2f}x** the time of one on `make_dataset` (median of the "
        f"ratios of epochs run side by side): {verdict}. " + _threading_advice(r),
        "",
    ]
    return "\n".join(lines)


def _noise(rows: list[dict]) -> float:
    """The typical spread between epochs of one setting, (max - min) / median."""
    return statistics.median(
        (row["epoch_s"][way]["max"] - row["epoch_s"][way]["min"]) / row["epoch_s"][way]["median"]
        for row in rows
        for way in WAYS
    )


def _threading_advice(r: dict) -> str:
    """What helped, in words, from the measured rows, against the epochs' own spread."""
    rows = r["rows"]
    default = rows[0]["epoch_s"]["dataset"]["median"]
    noise = _noise(rows)
    parts = [
        f"{row['name']}: {row['epoch_s']['dataset']['median'] / default:.2f}x the default's "
        "epoch time"
        for row in rows[1:]
    ]
    text = "With `make_dataset`, " + "; ".join(parts) + ". " if parts else ""
    if r["best_gain"] <= noise / 2:
        return text + (
            f"No setting beats TensorFlow's default by more than half the typical spread "
            f"between epochs ({noise * 100:.0f}% here, from other work on the machine): leave "
            "the threads at the default."
        )
    return text + (
        f"{r['best_threads']} saved {r['best_gain'] * 100:.0f}% against the default, more "
        f"than half the spread between epochs ({noise * 100:.0f}%); on a busy machine "
        "fewer threads can win because they compete less with other work."
    )


if __name__ == "__main__" and sys.argv[1:2] == ["--child"]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    path_, intra_, inter_, epochs_ = sys.argv[2:6]
    emit(child(path_, int(intra_), int(inter_), int(epochs_)))
