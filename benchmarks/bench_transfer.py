"""Benchmark 3: transfer learning time on a CPU.

Seed 001 runs the frozen backbone forward on every image in every epoch. cifarlab
extracts the frozen backbone's features once (``models.extract_features``) and
trains only the head on them; the trained head is the one inside the full model,
which then predicts from 32x32 images directly. Same data, same number of epochs,
same head, same seed.

ImageNet weights cannot be downloaded here, so the backbone has random weights
(``weights=None``): the time per image does not depend on the weights' values.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.common import cifar100
from cifarlab import data, models


def _fit(model, x, y, xv, yv, epochs, seed):
    import keras

    keras.utils.set_random_seed(seed)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    hist = model.fit(x, y, validation_data=(xv, yv), epochs=epochs, batch_size=64, verbose=0)
    return time.perf_counter() - start, hist.history["val_accuracy"][-1]


def run(tiny: bool = False, *, backbone: str = "mobilenet_v2", input_size: int = 96) -> dict:
    import keras

    cifar, source = cifar100(tiny)
    sub = data.select_superclass(cifar, "fish")  # seed 001's superclass
    (x_tr, y_tr), (x_val, y_val) = data.train_val_split(sub.x_train, sub.y_train, seed=0)
    epochs = 1 if tiny else 20  # seed 001 trained for 20 epochs
    size = 32 if tiny else input_size
    x_tr_f, x_val_f = data.scale_images(x_tr), data.scale_images(x_val)

    keras.utils.set_random_seed(0)
    model = models.build_transfer_model(
        sub.num_classes, backbone=backbone, weights=None, input_size=size, seed=0
    )
    initial = model.get_weights()
    # The seed's way: the frozen backbone runs on every image, every epoch.
    t_full, acc_full = _fit(model, x_tr_f, y_tr, x_val_f, y_val, epochs, seed=0)

    # cifarlab's way: features once, then the head alone; the full model predicts.
    model.set_weights(initial)
    start = time.perf_counter()
    f_tr = models.extract_features(model, x_tr)
    f_val = models.extract_features(model, x_val)
    t_extract = time.perf_counter() - start
    t_head, acc_head = _fit(models.get_head(model), f_tr, y_tr, f_val, y_val, epochs, seed=0)
    pred = model.predict(x_val_f, verbose=0).argmax(1)
    full_model_acc = float(np.mean(pred == y_val))
    t_cached = t_extract + t_head
    return {
        "name": f"Transfer learning: frozen {backbone} at {size} px, {epochs} epochs",
        "data": f"{source}; superclass fish, {len(x_tr):,} training and {len(x_val):,} "
        "validation images",
        "epochs": epochs,
        "end_to_end_s": t_full,
        "end_to_end_val_acc": float(acc_full),
        "extract_s": t_extract,
        "head_s": t_head,
        "cached_total_s": t_cached,
        "cached_val_acc": float(acc_head),
        "full_model_val_acc_after_head_training": full_model_acc,
        "speedup": t_full / t_cached,
        "target": "at least 10x faster at the same validation accuracy",
        "met": t_full / t_cached >= 10 and abs(acc_full - acc_head) <= 0.05,
        "same_result": bool(abs(full_model_acc - acc_head) < 1e-6),
    }


def markdown(r: dict) -> str:
    return "\n".join(
        [
            f"### {r['name']}",
            "",
            f"Data: {r['data']}. Backbone with random weights (ImageNet weights cannot be "
            "downloaded here; time per image does not depend on them). One run each.",
            "",
            "| method | time | validation accuracy |",
            "| --- | --- | --- |",
            f"| seed 001: backbone forward every epoch | {r['end_to_end_s']:.1f} s | "
            f"{r['end_to_end_val_acc']:.3f} |",
            f"| cifarlab: features once ({r['extract_s']:.1f} s) + head "
            f"({r['head_s']:.1f} s) | {r['cached_total_s']:.1f} s | {r['cached_val_acc']:.3f} |",
            "",
            f"**{r['speedup']:.1f}x faster** over {r['epochs']} epochs (target: {r['target']}; "
            f"{'met' if r['met'] else 'NOT met'}). After training the head on cached "
            "features, the full model (32x32 images in) scores "
            f"{r['full_model_val_acc_after_head_training']:.3f} on validation: the same head.",
            "",
        ]
    )
