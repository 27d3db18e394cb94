"""Benchmark 6: time per epoch as the number of classes (and so images) grows.

Seed 000's baseline CNN and seed 002's VGG-style network, trained on the classes
of the first k/5 superclasses (official order), 500 training images per class,
from one superclass (5 classes, 2,500 images) to all 100 classes (50,000 images),
fed by ``make_dataset`` (batch 64), training only (no validation pass).

- Baseline: whole epochs are measured: one warm-up epoch (it traces the graph and
  fills the cache), then the median of the timed epochs.
- VGG-style: 100 to 200 images a second here, so a 50,000-image epoch takes several
  minutes. One superclass gets a whole epoch (after a warm-up epoch); the larger sets
  a fixed number of steps after warm-up steps, extrapolated to a whole epoch (steps
  per epoch x median seconds per step). The per-image cost at one superclass, measured
  on whole epochs, checks the extrapolated ones.
"""

from __future__ import annotations

import numpy as np

from benchmarks.common import cifar100, fit_line, summary
from cifarlab import data, labels

BATCH = 64
CLASSES = (5, 20, 50, 100)
BASELINE_EPOCHS = 2  # timed, after a warm-up epoch
VGG_STEPS = 10  # steps per timed stretch; VGG_REPEATS stretches after a warm-up one
VGG_REPEATS = 2


def _classes(k: int) -> list[str]:
    names = []
    for coarse in labels.COARSE_LABELS[: max(1, k // 5)]:
        names.extend(labels.SUPERCLASSES[coarse])
    return names[:k]


def _time_epochs(model, ds, *, epochs: int, steps: int | None = None) -> list[float]:
    from cifarlab.train import EpochTimer

    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    timer = EpochTimer()
    model.fit(ds, epochs=epochs, steps_per_epoch=steps, verbose=0, callbacks=[timer])
    return timer.times


def run(tiny: bool = False) -> dict:
    import keras

    from cifarlab import models

    cifar, source = cifar100(tiny)
    classes = (5,) if tiny else CLASSES
    rows = []
    for k in classes:
        sub = data.select_classes(cifar, _classes(k))
        n = len(sub.x_train)
        steps_per_epoch = int(np.ceil(n / BATCH))
        ds = data.make_dataset(sub.x_train, sub.y_train, batch_size=BATCH, training=True, seed=0)

        keras.utils.set_random_seed(0)
        model = models.build_baseline_cnn(k, seed=0)
        epochs = 1 if tiny else BASELINE_EPOCHS
        times = _time_epochs(model, ds, epochs=1 + epochs)[1:]
        rows.append(
            {
                "model": "baseline",
                "classes": k,
                "images": n,
                "epoch_s": summary(times),
                "method": f"{epochs} whole epochs after a warm-up epoch",
                "params": model.count_params(),
            }
        )

        keras.utils.set_random_seed(0)
        model = models.build_vgg_style(k, seed=0)
        if k == classes[0] and not tiny:  # one superclass: a whole epoch checks the steps
            times = _time_epochs(model, ds, epochs=2)[1:]
            rows.append(
                {
                    "model": "vgg_style",
                    "classes": k,
                    "images": n,
                    "epoch_s": summary(times),
                    "method": "check: 1 whole epoch after a warm-up epoch",
                    "params": model.count_params(),
                    "check": True,
                }
            )
        steps = 2 if tiny else VGG_STEPS
        step_times = [
            t / steps
            for t in _time_epochs(model, ds.repeat(), epochs=1 + VGG_REPEATS, steps=steps)[1:]
        ]
        per_step = summary(step_times)
        epoch = {key: per_step[key] * steps_per_epoch for key in ("median", "min", "max")}
        epoch["n"] = per_step["n"]
        method = (
            f"{VGG_REPEATS} x {steps} steps after {steps} warm-up steps, "
            f"times {steps_per_epoch} steps"
        )
        rows.append(
            {
                "model": "vgg_style",
                "classes": k,
                "images": n,
                "epoch_s": epoch,
                "method": method,
                "params": model.count_params(),
            }
        )

    fits = {}
    for name in ("baseline", "vgg_style"):
        mine = [r for r in rows if r["model"] == name and not r.get("check")]
        slope, intercept = fit_line(
            [r["images"] for r in mine], [r["epoch_s"]["median"] for r in mine]
        )
        if len(mine) < 2:  # one size: the cost per image is all there is
            slope, intercept = mine[0]["epoch_s"]["median"] / mine[0]["images"], 0.0
        ys = np.array([r["epoch_s"]["median"] for r in mine])
        xs = np.array([r["images"] for r in mine], float)
        residual = ys - (intercept + slope * xs)
        spread_ = float(((ys - ys.mean()) ** 2).sum())
        fits[name] = {
            "r2": 1 - float((residual**2).sum()) / spread_ if spread_ > 0 else 1.0,
            "ms_per_image": slope * 1000,
            "intercept_s": intercept,
            "ratio_last_first": mine[-1]["epoch_s"]["median"] / mine[0]["epoch_s"]["median"],
            "images_ratio": mine[-1]["images"] / mine[0]["images"],
        }
    full = {
        r["model"]: r["epoch_s"]["median"]
        for r in rows
        if r["classes"] == classes[-1] and not r.get("check")
    }
    return {
        "name": "Scaling: time per epoch from one superclass to all 100 classes",
        "data": f"{source}; the classes of the first k/5 superclasses, every training image",
        "rows": rows,
        "fits": fits,
        "headline": f"linear in the number of images: baseline "
        f"{fits['baseline']['ms_per_image']:.2f} ms, VGG-style "
        f"{fits['vgg_style']['ms_per_image']:.1f} ms per image and epoch; all 100 classes: "
        f"{full['baseline']:.0f} s and {full['vgg_style'] / 60:.1f} min per epoch",
        "target": "none set: state how cost grows",
        "met": None,
    }


def markdown(r: dict) -> str:
    lines = [
        f"### {r['name']}",
        "",
        f"Data: {r['data']}. Batch {BATCH}, `make_dataset`, training only (no validation "
        "pass). Baseline: whole epochs, median after a warm-up epoch (which traces the graph "
        "and fills the cache). VGG-style (about 100 to 200 images a second here; a 50,000-"
        "image epoch takes several minutes): the seconds per step of a fixed number of "
        "steps, times the steps of a whole epoch, which leaves out the epoch's start-up and "
        "its last, partial batch; for one superclass a whole epoch is also timed as a check "
        "(method column).",
        "",
        "| model | classes | training images | parameters | seconds per epoch | "
        "ms per image | method |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in r["rows"]:
        t = row["epoch_s"]
        lines.append(
            f"| {row['model']} | {row['classes']} | {row['images']:,} | {row['params']:,} | "
            f"{t['median']:.1f} (min {t['min']:.1f}, max {t['max']:.1f}) | "
            f"{t['median'] / row['images'] * 1000:.2f} | {row['method']} |"
        )
    lines.append("")
    checks = [row for row in r["rows"] if row.get("check")]
    for check in checks:
        steps = next(
            row
            for row in r["rows"]
            if row["model"] == check["model"]
            and row["classes"] == check["classes"]
            and not row.get("check")
        )
        whole, guess = check["epoch_s"]["median"], steps["epoch_s"]["median"]
        lines += [
            f"Check: a whole VGG-style epoch on {check['classes']} classes took {whole:.1f} s, "
            f"{whole / guess:.2f}x the {guess:.1f} s extrapolated from steps"
            + (
                " (a whole epoch also starts its iterator and runs a last, partial batch, and "
                "other work shared the machine): read the extrapolated times as lower bounds."
                if whole > 1.1 * guess
                else "."
            ),
            "",
        ]
    b, v = r["fits"]["baseline"], r["fits"]["vgg_style"]
    lines += [
        f"How cost grows: with the number of images, along a straight line (least squares "
        f"through the medians: {b['ms_per_image']:.2f} ms per image for the baseline, "
        f"R\u00b2 {b['r2']:.2f}; {v['ms_per_image']:.1f} ms per image for the VGG-style "
        f"network, R\u00b2 {v['r2']:.2f}, {v['ms_per_image'] / b['ms_per_image']:.0f}x the "
        "baseline's cost). The number of classes itself only changes the last layer, which "
        "costs next to nothing. From one superclass to all 100 classes the images grow "
        f"{b['images_ratio']:.0f}x and the epoch time {b['ratio_last_first']:.1f}x "
        + (
            "(baseline: a short epoch carries a fixed start-up cost) "
            if b["ratio_last_first"] < 0.8 * b["images_ratio"]
            else "(baseline) "
        )
        + f"and {v['ratio_last_first']:.1f}x (VGG-style). "
        + _class_hour(r["rows"]),
        "",
    ]
    return "\n".join(lines)


def _class_hour(rows: list[dict]) -> str:
    """Epochs that fit in 45 minutes of a class hour, smallest and largest set, per model."""
    parts = []
    for name, label in (("baseline", "the baseline"), ("vgg_style", "the VGG-style network")):
        mine = [r for r in rows if r["model"] == name and not r.get("check")]
        small, large = mine[0], mine[-1]
        per = [45 * 60 / r["epoch_s"]["median"] for r in (small, large)]
        parts.append(
            f"{label} about {per[0]:,.0f} epochs on {small['classes']} classes and "
            f"{per[1]:,.{0 if per[1] >= 10 else 1}f} on {large['classes']}"
        )
    return "In 45 minutes of a class hour on 2 cores: " + "; ".join(parts) + "."
