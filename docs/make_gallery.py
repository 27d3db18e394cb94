"""Draw every cifarlab plot on SYNTHETIC data and save it to docs/gallery/*.png.

Run from the repository root (under a minute on 2 CPU cores):

    .venv/bin/python docs/make_gallery.py

Nothing here needs the real CIFAR archive: a small SYNTHETIC CIFAR-100 is written
to a temporary folder in the official format, two tiny CNNs are trained for a few
epochs, and every figure says "SYNTHETIC data". The PNGs are shown in docs/plots.md.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

import cifarlab  # noqa: E402
from cifarlab import plots  # noqa: E402
from cifarlab.augment import augmentation  # noqa: E402
from cifarlab.data import (  # noqa: E402
    load_cifar100,
    make_dataset,
    select_superclass,
    train_val_split,
)
from cifarlab.evaluate import evaluate_data  # noqa: E402
from cifarlab.models import build_baseline_cnn, build_cnn  # noqa: E402
from cifarlab.synthetic import write_synthetic_cifar100  # noqa: E402

GALLERY = Path(__file__).resolve().parent / "gallery"
DPI = 80


def save(fig: plt.Figure, name: str, *, dpi: int = DPI) -> None:
    """Write ``gallery/<name>.png`` atomically (temporary file, then rename)."""
    GALLERY.mkdir(parents=True, exist_ok=True)
    target = GALLERY / f"{name}.png"
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".png", dir=GALLERY)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=dpi)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    plt.close(fig)
    print(f"wrote {target.relative_to(GALLERY.parent.parent)}")


def train(model: keras.Model, data, *, epochs: int, name: str, lr_drop_at: int | None = None):
    """Fit on a seeded validation split; a run-like dict for plot_run_comparison."""
    (x_tr, y_tr), (x_val, y_val) = train_val_split(data.x_train, data.y_train, seed=0)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    callbacks = []
    if lr_drop_at is not None:  # halve the rate once, to show the learning-rate marks
        callbacks.append(
            keras.callbacks.LearningRateScheduler(
                lambda epoch, lr: lr / 2 if epoch == lr_drop_at else lr
            )
        )
    start = time.perf_counter()
    history = model.fit(
        make_dataset(x_tr, y_tr, batch_size=64, training=True, seed=0),
        validation_data=make_dataset(x_val, y_val, batch_size=256, training=False),
        epochs=epochs,
        callbacks=callbacks,
        verbose=0,
    )
    total_time = time.perf_counter() - start
    evaluation = evaluate_data(model, data)
    run = {
        "name": name,
        "history": history.history,
        "train_seconds": total_time,
        "test_accuracy": evaluation.accuracy,
        "synthetic": data.synthetic,
    }
    return history, evaluation, run


def main() -> int:
    # make_dataset shuffles itself; Keras warns that fit's own shuffle is ignored.
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed")
    cifarlab.set_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        write_synthetic_cifar100(tmp, train_per_class=60, test_per_class=12, seed=0)
        cifar = load_cifar100(tmp, download=False, verbose=False)
    mammals = select_superclass(cifar, "medium_mammals")
    flag = cifar.synthetic

    # Data
    save(
        plots.plot_samples(cifar.x_train, cifar.y_train, cifar.class_names, synthetic=flag),
        "samples",
    )
    save(
        plots.plot_class_grid(
            mammals.x_train, mammals.y_train, mammals.class_names, per_class=10, synthetic=flag
        ),
        "class_grid",
    )
    save(
        plots.plot_augmentations(
            mammals.x_train[0], augmentation("standard", seed=0), synthetic=flag
        ),
        "augmentations",
    )

    # One superclass: two small CNNs, compared
    baseline = build_baseline_cnn(mammals.num_classes, seed=0)
    history, _, run_a = train(baseline, mammals, epochs=6, name="baseline_cnn", lr_drop_at=3)
    _, evaluation_b, run_b = train(
        build_cnn(mammals.num_classes, batch_norm=True, dropout=0.3, seed=0, name="cnn_bn"),
        mammals,
        epochs=6,
        name="cnn + batch norm + dropout",
    )
    save(
        plots.plot_history(history, title="baseline CNN on medium_mammals", synthetic=flag),
        "history",
    )
    save(plots.plot_run_comparison([run_a, run_b]), "run_comparison")
    # the weaker of the two runs has more to show
    save(plots.plot_confusion_matrix(evaluation_b).figure, "confusion_matrix_5")
    save(plots.plot_per_class(evaluation_b, metric="precision").figure, "per_class")
    save(
        plots.plot_feature_maps(baseline, mammals.x_test[0], n=16, synthetic=flag),
        "feature_maps",
    )

    # All 100 classes, trained briefly so that it still makes mistakes worth looking at
    _, ev100, _ = train(
        build_cnn(100, filters=(32, 64), pool_sizes=(2, 2), dense_units=(128,), seed=0),
        cifar,
        epochs=2,
        name="all 100 classes",
    )
    save(
        plots.plot_confusion_matrix(ev100, normalize="true").figure,
        "confusion_matrix_100",
        dpi=100,
    )
    save(plots.plot_per_class(ev100, metric="f1").figure, "per_class_100")
    save(plots.plot_most_confused(ev100, k=10).figure, "most_confused")
    save(plots.plot_highest_loss(ev100, cifar.x_test, n=9), "highest_loss")
    save(
        plots.plot_predictions(
            cifar.x_test,
            ev100.y_true,
            ev100.y_pred,
            cifar.class_names,
            probs=ev100.probabilities,
            n=12,
            synthetic=flag,
        ),
        "predictions",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
