"""Benchmark 1: selecting a superclass from 60,000 images.

Seed 000's way (a Python loop over the coarse labels, then a hand remap of the
fine labels with one `if` per class) against ``cifarlab.data.select_superclass``
(one ``np.isin`` mask and a lookup array), on the same arrays, in the same process.
"""

from __future__ import annotations

import numpy as np

from benchmarks.common import cifar100, timed
from cifarlab import data, labels


def seed000_select(fine_train, coarse_train, fine_test, coarse_test, x_train, x_test, coarse=12):
    """Seed 000's code, kept as written (labels shaped (N, 1) as Keras returns them)."""
    fine_ids = [
        labels.FINE_LABELS.index(n) for n in labels.SUPERCLASSES[labels.COARSE_LABELS[coarse]]
    ]
    idx = []
    for i in range(len(coarse_train)):
        if coarse_train[i] == coarse:
            idx.append(i)
    idx = np.array(idx)
    train_images, train_labels = x_train[idx], fine_train[idx].copy()
    idx = []
    for i in range(len(coarse_test)):
        if coarse_test[i] == coarse:
            idx.append(i)
    idx = np.array(idx)
    test_images, test_labels = x_test[idx], fine_test[idx].copy()
    for lab in (test_labels, train_labels):
        for i in range(len(lab)):
            for new, old in enumerate(fine_ids):
                if lab[i] == old:
                    lab[i] = new
    return train_images, train_labels, test_images, test_labels


def run(tiny: bool = False) -> dict:
    cifar, source = cifar100(tiny)
    keras_style = (
        cifar.y_train[:, None],
        cifar.y_train_coarse[:, None],
        cifar.y_test[:, None],
        cifar.y_test_coarse[:, None],
        cifar.x_train,
        cifar.x_test,
    )
    ours = data.select_superclass(cifar, 12)
    theirs = seed000_select(*keras_style)
    same = (
        np.array_equal(ours.x_train, theirs[0])
        and np.array_equal(ours.y_train, theirs[1].ravel())
        and np.array_equal(ours.y_test, theirs[3].ravel())
    )
    repeats = 1 if tiny else 5
    t_seed = timed(lambda: seed000_select(*keras_style), repeats=repeats, warmup=0 if tiny else 1)
    t_ours = timed(lambda: data.select_superclass(cifar, 12), repeats=repeats * 4)
    return {
        "name": "Selecting a superclass (medium_mammals) from all images",
        "data": f"{source}: {len(cifar.x_train) + len(cifar.x_test):,} images",
        "same_result": bool(same),
        "seed000_s": t_seed,
        "cifarlab_s": t_ours,
        "speedup": t_seed["median"] / t_ours["median"],
        "headline": f"{t_seed['median'] / t_ours['median']:.0f}x faster "
        f"({t_ours['median'] * 1000:.1f} ms against {t_seed['median'] * 1000:.0f} ms)",
        "target": "at least 50x faster",
        "met": t_seed["median"] / t_ours["median"] >= 50,
    }


def markdown(r: dict) -> str:
    def cell(t):
        ms = {k: t[k] * 1000 for k in ("median", "min", "max")}
        return f"{ms['median']:.1f} ms (min {ms['min']:.1f}, max {ms['max']:.1f}, n={t['n']})"

    return "\n".join(
        [
            f"### {r['name']}",
            "",
            f"Data: {r['data']}. Both ways give identical images and labels: {r['same_result']}.",
            "",
            "| method | time (median of n runs) |",
            "| --- | --- |",
            f"| seed 000: Python loop + hand remap | {cell(r['seed000_s'])} |",
            f"| `cifarlab.data.select_superclass` | {cell(r['cifarlab_s'])} |",
            "",
            f"**{r['speedup']:.0f}x faster** (target: {r['target']}; "
            f"{'met' if r['met'] else 'NOT met'}).",
            "",
        ]
    )
