"""Benchmark 8: the precision this machine does best, and how close each network gets to
its peak (a roofline table), plus accuracy parity of bfloat16 with float32.

- Peak: the faster of a 1024 and a 2048 square matmul in TensorFlow, float32 and
  bfloat16, median of 10 after a warm-up; 2 n^3 floating-point operations each.
- FLOPs per image, counted from the model: 2 x multiply-adds of every Conv2D,
  DepthwiseConv2D and Dense layer (nested models too; the rest is small); a training
  step counted as 3x the forward pass (forward, and backward for inputs and weights).
- Speed: images a second after a warm-up call (tracing), for at least 3 calls and 10 s,
  in float32 and in the low precision this machine could use (bfloat16 on a CPU, float16
  on a GPU), the policy set before the model is built, as ``train(mixed_precision=...)``
  does. Training: each seed network (and notebook 08's), ``train_on_batch`` on batches of
  64. Feature extraction: each transfer backbone at its default size, ``predict_on_batch``
  on batches of 8, random weights (the same FLOPs as ImageNet's).
- Parity: the same network, data and epochs (no early stopping) through
  ``train.train(..., mixed_precision=...)``: best validation accuracy in float32 and in
  the low precision; seed 000's baseline over 2 seeds, and seed 002's VGG-style over 1
  where the low precision is the automatic one (without bfloat16 hardware it would take
  hours).
"""

from __future__ import annotations

import statistics
import tempfile
import time

import numpy as np

from benchmarks.common import cifar100, summary

BATCH = 64
MATMUL_SIZES = (1024, 2048)  # the peak: the faster of the two
NETWORKS = ("seed000 baseline", "seed003 simple_cnn", "notebook 08 cifar10_cnn",
            "seed002 vgg_style")
BACKBONES = ("mobilenet_v2", "efficientnet_b0", "vgg16")
PARITY = {"seed000 baseline": ((0, 1), 10), "seed002 vgg_style": ((0,), 8)}  # seeds, epochs


def _build(network: str, num_classes: int):
    from cifarlab import models

    build = {"seed000 baseline": models.build_baseline_cnn,
             "seed003 simple_cnn": models.build_simple_cnn,
             "notebook 08 cifar10_cnn": lambda n: models.build_cnn(
                 n, filters=(32, 64, 128), pool_sizes=(2, 2, 2), padding="same",
                 batch_norm=True, dropout=0.3),
             "seed002 vgg_style": models.build_vgg_style}[network]
    return build(num_classes)


def flops_per_image(model) -> int:
    """Forward FLOPs of one image: 2 x multiply-adds of the convolutions and dense layers."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += flops_per_image(layer)
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            h, w = layer.output.shape[1:3]  # kernel: (kh, kw, inputs, outputs or multiplier)
            total += 2 * h * w * int(np.prod(layer.kernel.shape))
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * int(np.prod(layer.kernel.shape))
    return int(total)


def matmul_peak(dtype: str, n: int, repeats: int = 10) -> float:
    """GFLOP/s of an ``n`` x ``n`` matmul in ``dtype`` (median of ``repeats``)."""
    import tensorflow as tf

    a = tf.random.uniform((n, n), dtype=tf.float32)
    a = tf.cast(a, dtype)
    tf.matmul(a, a).numpy()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        tf.matmul(a, a).numpy()
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times) / 1e9


def _with_policy(policy: str, fn):
    import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        return fn()
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _rate(step, images_per_step: int, budget_s: float, min_steps: int) -> float:
    """Images a second of ``step`` after one warm-up call (tracing), timed for at least
    ``min_steps`` calls and ``budget_s`` seconds (slow precisions get fewer calls)."""
    step()
    n, start = 0, time.perf_counter()
    while n < min_steps or time.perf_counter() - start < budget_s:
        step()
        n += 1
    return n * images_per_step / (time.perf_counter() - start)


def train_speed(network: str, policy: str, *, budget_s: float, min_steps: int) -> dict:
    """Training images a second of ``network`` (``train_on_batch``, batches of 64)."""
    from cifarlab import data

    classes = {"seed000 baseline": 5, "notebook 08 cifar10_cnn": 10}.get(network, 100)
    rng = np.random.default_rng(0)
    x = data.scale_images(rng.integers(0, 256, size=(BATCH, 32, 32, 3), dtype=np.uint8))
    y = rng.integers(0, classes, size=BATCH)

    def measure():
        model = _build(network, classes)
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        rate = _rate(lambda: model.train_on_batch(x, y), BATCH, budget_s, min_steps)
        return {"images_per_s": rate, "flops": 3 * flops_per_image(model),
                "params": model.count_params()}

    return _with_policy(policy, measure)


def extract_speed(backbone: str, policy: str, *, size: int | None, budget_s: float,
                  min_steps: int) -> dict:
    """Feature-extraction images a second of a transfer ``backbone`` (random weights)."""
    from cifarlab import transfer

    x = np.random.default_rng(0).uniform(0, 1, size=(8, 32, 32, 3)).astype("float32")

    def measure():
        model = transfer.build_transfer_model(5, backbone=backbone, weights=None,
                                              input_size=size)
        features = transfer.get_feature_extractor(model)
        rate = _rate(lambda: features.predict_on_batch(x), len(x), budget_s, min_steps)
        return {"images_per_s": rate, "flops": flops_per_image(features),
                "params": features.count_params(),
                "size": transfer.BACKBONES[backbone].default_size if size is None else size}

    return _with_policy(policy, measure)


def parity(cifar, network: str, policy: str, seeds, epochs: int) -> list[dict]:
    """Best validation accuracy in float32 and in ``policy``, per seed, the same run else."""
    from cifarlab import data, train

    sub = data.select_superclass(cifar, "medium_mammals")
    (x_tr, y_tr), (x_val, y_val) = data.train_val_split(sub.x_train, sub.y_train, seed=0)
    rows = []
    with tempfile.TemporaryDirectory() as runs_dir:
        for seed in seeds:
            best = {}
            for precision in ("float32", policy):
                run = train.train(lambda: _build(network, 5), (x_tr, y_tr), (x_val, y_val),
                                  epochs=epochs, runs_dir=runs_dir, seed=seed, verbose=0,
                                  early_stopping_patience=None, reduce_lr_patience=None,
                                  mixed_precision=precision, name=f"{network}-{precision}")
                best[precision] = max(run.history["val_accuracy"])
            rows.append({"network": network, "seed": seed, "epochs": epochs,
                         "float32": best["float32"], policy: best[policy],
                         "difference": best[policy] - best["float32"]})
    return rows


def run(tiny: bool = False) -> dict:
    from cifarlab import train

    policy, why = train.best_precision()
    low = "mixed_float16" if policy == "mixed_float16" else "mixed_bfloat16"  # compared
    sizes = (256,) if tiny else MATMUL_SIZES
    dtype = {"mixed_bfloat16": "bfloat16"}.get(low, "float16")
    peak = {p: max(matmul_peak(d, n) for n in sizes) for p, d in (("float32", "float32"),
                                                                  (low, dtype))}
    timing = {"budget_s": 0.2, "min_steps": 1} if tiny else {"budget_s": 10.0, "min_steps": 3}
    rows = []
    for network in NETWORKS[:1] if tiny else NETWORKS:  # tiny: the baseline only
        speeds = {p: train_speed(network, p, **timing) for p in peak}
        rows.append({"model": network, "work": "training", **_roofline(speeds, peak)})
    for backbone in BACKBONES[:1] if tiny else BACKBONES:
        speeds = {p: extract_speed(backbone, p, size=32 if tiny else None, **timing)
                  for p in peak}
        rows.append({"model": f"{backbone} ({speeds['float32']['size']} px)",
                     "work": "feature extraction", **_roofline(speeds, peak)})
    cifar, source = cifar100(tiny)
    checks = []
    for network, (seeds, epochs) in PARITY.items():
        if network == "seed002 vgg_style" and (tiny or policy == "float32"):
            continue  # bfloat16 without hardware support: hours for this one, so not here
        checks += parity(cifar, network, low, seeds[:1] if tiny else seeds,
                         1 if tiny else epochs)
    vgg = next((r for r in rows if r["model"] == "seed002 vgg_style"), rows[0])
    worst = max(abs(c["difference"]) for c in checks)
    faster = vgg["speedup"] > 1
    met = worst <= 0.02 and (vgg["speedup"] >= 2 if policy != "float32" else not faster)
    choice = (f"VGG-style trains {vgg['speedup']:.1f}x faster than in float32" if policy !=
              "float32" else f"{low} would train the VGG-style network at "
              f"{vgg['speedup']:.2f}x float32's speed, so float32 is right")
    return {"name": "Precision and the roofline: float32 and the automatic precision",
            "policy": policy, "why": why, "low": low, "peak": peak, "matmul_sizes": sizes,
            "rows": rows, "parity": checks, "data": source,
            "parity_summary": summary([c["difference"] for c in checks]),
            "headline": f"automatic precision here: {policy} ({why}); {choice}; float32 "
                        f"VGG-style at {vgg['float32']['gflops']:.0f} GFLOP/s "
                        f"({vgg['float32']['share']:.0%} of the matmul peak); {low} within "
                        f"{worst:.3f} of float32's best validation accuracy",
            "target": "the automatic precision is the faster one here (on AMX-BF16 CPUs: "
                      "VGG-style at least 2x float32); validation accuracy within 0.02",
            "met": met}


def _roofline(speeds: dict, peak: dict) -> dict:
    out = {"flops": speeds["float32"]["flops"], "params": speeds["float32"]["params"]}
    for p, s in speeds.items():
        gflops = s["flops"] * s["images_per_s"] / 1e9
        out[p] = {"images_per_s": s["images_per_s"], "gflops": gflops, "share": gflops / peak[p]}
    low = next(p for p in speeds if p != "float32")
    out["speedup"] = out[low]["images_per_s"] / out["float32"]["images_per_s"]
    return out


def markdown(r: dict) -> str:
    p, auto = r["low"], r["policy"]
    lines = [
        f"### {r['name']}",
        "",
        f"`train.best_precision()` here: **{auto}** ({r['why']}). Peak: the faster of "
        f"square matmuls of sides {', '.join(map(str, r['matmul_sizes']))} in TensorFlow in "
        f"this run (median of 10 each): float32 {r['peak']['float32']:.0f} GFLOP/s, "
        f"{p.removeprefix('mixed_')} {r['peak'][p]:.0f} GFLOP/s. A share above 100 % means "
        "the model's kernels (oneDNN convolutions) beat TensorFlow's matmul on this CPU: "
        "the matmul is then a lower bound of the machine's peak.",
        "FLOPs per image are counted from the model (convolutions and dense layers, 2 per "
        "multiply-add; a training image is 3 forward passes). Images/s are measured after "
        "a warm-up call (tracing), for at least 3 calls and 10 s: training with "
        "`train_on_batch` (batches of 64), feature extraction with `predict_on_batch` "
        "(batches of 8), random weights (the same FLOPs as ImageNet's).",
        "",
        "| model | work | parameters | GFLOP per image | float32 images/s | "
        f"float32 GFLOP/s (share of peak) | {p} images/s | {p} GFLOP/s (share of peak) | "
        f"{p} speed-up |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in r["rows"]:
        f32, low = row["float32"], row[p]
        lines.append(
            f"| {row['model']} | {row['work']} | {row['params']:,} | {row['flops'] / 1e9:.3f} "
            f"| {f32['images_per_s']:,.1f} | {f32['gflops']:.1f} ({f32['share']:.0%}) | "
            f"{low['images_per_s']:,.1f} | {low['gflops']:.1f} ({low['share']:.0%}) | "
            f"{row['speedup']:.2f}x |")
    lines += ["", f"Parity ({r['data']}, medium mammals, 2,250 training and 250 validation "
              "images, `train.train(..., mixed_precision=...)`, no early stopping): best "
              "validation accuracy.", "",
              f"| network | seed | epochs | float32 | {p} | difference |",
              "| --- | --- | --- | --- | --- | --- |"]
    for c in r["parity"]:
        lines.append(f"| {c['network']} | {c['seed']} | {c['epochs']} | {c['float32']:.3f} | "
                     f"{c[p]:.3f} | {c['difference']:+.3f} |")
    lines.append("")
    return "\n".join(lines)
