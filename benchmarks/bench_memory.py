"""Benchmark 2: memory of transfer-learning input, resize first or resize in the model.

Seed 001 resizes every image to 224 px in memory before VGG16 sees it
(``x / 255.0``, then ``np.array([cv2.resize(img, (224, 224)) for img in x])``):
its memory grows with every image. cifarlab keeps the 32x32 uint8 images and
resizes inside the model, one batch at a time (``build_transfer_model`` +
``extract_features``).

Each way runs in its own fresh process, so its peak resident memory (RSS, the
kernel's ``ru_maxrss``) covers only its own work. What each process does:

1. import TensorFlow, build the frozen VGG16 at 224 px (random weights: memory
   does not depend on their values) and run it once on one image;
2. prepare N images of one superclass the way it does;
3. run the frozen backbone over them, stopped after the first batch of 32
   (``steps=1``): VGG16 at 224 px does about 15 images a second on 2 cores, so a
   full pass over 3,000 images (over 3 minutes) per size is not affordable. Each
   further batch reuses the same buffers; a full pass adds only the outputs. A
   check row runs cifarlab's full pass (every batch) to show it.

No cv2 in the project: the seed's ``cv2.resize`` (bilinear, ``INTER_LINEAR``) is
done by a NumPy equivalent, same interpolation, same dtype (float64) and shape.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import (
    cifar100,
    current_rss_mb,
    emit,
    fit_line,
    peak_rss_mb,
    run_child,
)

SIZE = 224  # seed 001's input size
BATCH = 32  # Keras' default batch size, as seed 001 used it
CHECK_N = 128  # images of the full-pass check (about 10 s of VGG16 at 224 px)

WAYS = {
    "seed001": "seed 001 as written: `x / 255.0` (float64), resize each image "
    "(`cv2.resize` equivalent), `np.array` of the list, then the model",
    "float32": "resize first, done economically: float32, `tf.image.resize` in chunks "
    "into one preallocated array, then the model",
    "cifarlab": "cifarlab: `build_transfer_model(backbone='vgg16')` + `extract_features` "
    "on the 32x32 uint8 images (resized in the model, batch by batch)",
}


# --------------------------------------------------------------------------- child side


def _bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """cv2.resize INTER_LINEAR along one axis (half-pixel centres, edges clamped)."""
    src = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
    i0 = np.floor(src).astype(int)
    i1 = np.minimum(i0 + 1, n_in - 1)
    w = src - i0
    m = np.zeros((n_out, n_in))
    m[np.arange(n_out), i0] += 1 - w
    m[np.arange(n_out), i1] += w
    return m


def cv2_like_resize(images: np.ndarray, size: int) -> list[np.ndarray]:
    """Each HxWx3 image to size x size x 3, bilinear, keeping the dtype, as a list.

    The same values and memory as ``[cv2.resize(img, (size, size)) for img in images]``
    (one contiguous array per image); computed 32 images at a time to be quick.
    """
    rows = _bilinear_matrix(images.shape[1], size).astype(images.dtype)
    cols = _bilinear_matrix(images.shape[2], size).astype(images.dtype)
    out = []
    for i in range(0, len(images), 32):
        chunk = np.einsum("Yy,nyxc->nYxc", rows, images[i : i + 32], optimize=True)
        chunk = np.einsum("nYxc,Xx->nYXc", chunk, cols, optimize=True)
        out.extend(np.array(img) for img in chunk)
    return out


def _seed_model(size: int):
    """Seed 001's model: frozen VGG16 without its top, Flatten, Dense 512, Dropout, softmax."""
    import keras

    base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(size, size, 3))
    base.trainable = False
    return keras.Sequential(
        [
            keras.Input((size, size, 3)),
            base,
            keras.layers.Flatten(),
            keras.layers.Dense(512, activation="relu"),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(5, activation="softmax"),
        ]
    )


def child(way: str, n: int, size: int, images_path: str, full: bool = False) -> dict:
    """One way in this (fresh) process; returns its memory figures in MiB."""
    images = np.load(images_path)
    x = images[np.arange(n) % len(images)]  # N images of the superclass (repeated if N > 3,000)
    start = time.perf_counter()
    if way in ("seed001", "float32"):
        model = _seed_model(size)
        model.predict(np.zeros((1, size, size, 3), np.float32), verbose=0)
        before = current_rss_mb()
        n_train = n - n // 6  # seed 001 resized its training and test images: 2,500 + 500
        if way == "seed001":
            train_x, test_x = x[:n_train] / 255.0, x[n_train:] / 255.0
            train_resized = np.array(cv2_like_resize(train_x, size))
            test_resized = np.array(cv2_like_resize(test_x, size))
        else:
            import tensorflow as tf

            resized = np.empty((n, size, size, 3), np.float32)
            for i in range(0, n, 256):
                chunk = tf.cast(x[i : i + 256], tf.float32) / 255.0
                resized[i : i + 256] = tf.image.resize(chunk, (size, size)).numpy()
            train_resized, test_resized = resized[:n_train], resized[n_train:]
        prepared = current_rss_mb()
        model.predict(train_resized, batch_size=BATCH, steps=1, verbose=0)
        dtype = str(train_resized.dtype)
        del test_resized
    elif way == "cifarlab":
        from cifarlab import transfer

        model = transfer.build_transfer_model(5, backbone="vgg16", weights=None, input_size=size)
        transfer.extract_features(model, x[:1])
        before = prepared = current_rss_mb()
        if not full:  # the same call, with the backbone stopped after its first batch
            features = transfer.get_feature_extractor(model)
            predict = features.predict
            features.predict = lambda data, **kw: predict(data, steps=1, **kw)
        transfer.extract_features(model, x, batch_size=BATCH)
        dtype = str(x.dtype)
    else:
        raise ValueError(f"Unknown way {way!r}. Valid: {', '.join(WAYS)}.")
    return {
        "way": way,
        "n": n,
        "full_pass": bool(full),
        "start_mb": before,
        "prepared_mb": prepared,
        "peak_mb": peak_rss_mb(),
        "dtype": dtype,
        "seconds": time.perf_counter() - start,
    }


# --------------------------------------------------------------------------- parent side


def run(tiny: bool = False) -> dict:
    from cifarlab import data

    cifar, source = cifar100(tiny)
    sub = data.select_superclass(cifar, "fish")  # seed 001's superclass
    images = np.concatenate([sub.x_train, sub.x_test])
    sizes = [64] if tiny else [500, 1500, len(images)]
    size = 32 if tiny else SIZE
    ways = ["seed001", "cifarlab"] if tiny else list(WAYS)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "images.npy"
        np.save(path, images)
        for n in sizes:
            for way in ways:
                if way == "float32" and n != sizes[-1]:
                    continue  # the economical variant: one superclass only (time budget)
                rows.append(run_child("bench_memory", way, n, size, path))
        check = None
        if not tiny:  # cifarlab's full pass, every batch: does it peak as one batch does?
            check = run_child("bench_memory", "cifarlab", CHECK_N, size, path, "full")
    peak = {(r["way"], r["n"]): r["peak_mb"] for r in rows}
    slopes = {}  # MiB per 1,000 images
    for way in ways:
        measured = [n for n in sizes if (way, n) in peak]
        if len(measured) > 1:
            slopes[way] = fit_line(measured, [peak[(way, n)] for n in measured])[0] * 1000
    n_max = sizes[-1]
    ratio = peak[("cifarlab", n_max)] / peak[("seed001", n_max)]
    cif = [peak[("cifarlab", n)] for n in sizes]
    growth = max(cif) - min(cif)
    flat = growth <= max(50.0, 0.05 * min(cif))
    return {
        "name": "Transfer-learning input: peak memory, resize first (seed 001) or in the model",
        "data": f"{source}; superclass fish ({len(sub.x_train):,} training + "
        f"{len(sub.x_test):,} test images = one superclass, as seed 001 resized both)",
        "size": size,
        "sizes": sizes,
        "ways": ways,
        "rows": rows,
        "check": check,
        "slope_mb_per_1000": slopes,
        "ratio_at_superclass": ratio,
        "cifarlab_growth_mb": growth,
        "headline": f"{ratio * 100:.0f}% of seed 001's peak for one superclass "
        f"({peak[('cifarlab', n_max)] / 1024:.1f} vs {peak[('seed001', n_max)] / 1024:.1f} GiB); "
        + (
            f"cifarlab grows {abs(slopes['cifarlab']):.0f} MiB per 1,000 images, seed 001 "
            f"{slopes['seed001']:,.0f}"
            if len(slopes) >= 2
            else "one size only"
        ),
        "target": "cifarlab below half of the seed's peak for one superclass, and flat in "
        "the number of images",
        "met": bool(ratio < 0.5 and flat),
    }


def markdown(r: dict) -> str:
    n_max = r["sizes"][-1]
    peak = {(row["way"], row["n"]): row for row in r["rows"]}
    head = "| way | " + " | ".join(f"{n:,} images" for n in r["sizes"]) + " | growth |"
    lines = [
        f"### {r['name']}",
        "",
        f"Data: {r['data']}. Frozen VGG16 at {r['size']} px, batch {BATCH}, random weights. "
        "Peak RSS (MiB) of a fresh process per cell: TensorFlow, the model, preparing all N "
        "images the way shown, and the backbone on the first batch (`steps=1`). "
        "Memory before the data was prepared (TensorFlow + model) is in brackets.",
        "",
        head,
        "| --- |" + " --- |" * (len(r["sizes"]) + 1),
    ]
    for way in r["ways"]:
        cells = [
            f"{peak[(way, n)]['peak_mb']:,.0f} ({peak[(way, n)]['start_mb']:,.0f})"
            if (way, n) in peak
            else "not run"
            for n in r["sizes"]
        ]
        slope = r["slope_mb_per_1000"].get(way)
        growth = f"{slope:+,.0f} MiB per 1,000 images" if slope is not None else "-"
        lines.append(f"| {WAYS[way]} | {' | '.join(cells)} | {growth} |")
    lines.append("")
    if r["check"]:
        full = r["check"]
        first = peak[("cifarlab", r["sizes"][0])]["peak_mb"]
        lines += [
            f"Check, cifarlab's full pass: `extract_features` over every batch of "
            f"{full['n']} images (no `steps=1`; {full['seconds']:.0f} s) peaks at "
            f"{full['peak_mb']:,.0f} MiB, {full['peak_mb'] - first:+,.0f} MiB against the "
            f"first batch alone ({first:,.0f} MiB for {r['sizes'][0]:,} images): later "
            "batches add the pipeline's buffers and the outputs (2 KB of features per "
            "image), not a copy of the images.",
            "",
        ]
    ratio = r["ratio_at_superclass"]
    mb64 = r["size"] ** 2 * 3 * 8 / 1e6  # one resized image as float64
    f32 = peak.get(("float32", n_max))
    economical = (
        f"done economically (float32, in chunks) it still peaks at "
        f"{f32['peak_mb'] / 1024:.1f} GiB for one superclass"
        if f32
        else "done economically (float32, in chunks) it still grows with every image"
    )
    seed_slope = r["slope_mb_per_1000"].get("seed001")
    projection = (
        f" At {seed_slope:,.0f} MiB per 1,000 images, seed 001's way would need about "
        f"{seed_slope * 60 / 1024:,.0f} GiB for all 60,000 images; cifarlab's stays at one "
        "batch's worth."
        if seed_slope
        else ""
    )
    lines += [
        f"For one superclass ({n_max:,} images) cifarlab peaks at **{ratio * 100:.0f}% of "
        f"seed 001's memory** and grows by {r['cifarlab_growth_mb']:.0f} MiB from "
        f"{r['sizes'][0]:,} to {n_max:,} images (target: {r['target']}; "
        f"{'met' if r['met'] else 'NOT met'}). Seed 001's way holds every image at "
        f"{r['size']} px as float64 ({mb64:.1f} MB each), briefly twice (the list and the "
        "array), and Keras copies the whole array again when `predict`/`fit` gets it; "
        f"{economical}.{projection}",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__" and sys.argv[1:2] == ["--child"]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    way_, n_, size_, path_ = sys.argv[2:6]
    emit(child(way_, int(n_), int(size_), path_, full=sys.argv[6:7] == ["full"]))
