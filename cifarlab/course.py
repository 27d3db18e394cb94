"""What every notebook of the course does first, in one call each.

A notebook's ``parameters`` cell (papermill) sets ``SUPERCLASS``, ``EPOCHS``,
``SEED``, ``SMOKE``, ``DATA_DIR`` and ``RUNS_DIR``; then::

    from cifarlab import course
    course.check_environment()
    lab = course.setup(SUPERCLASS, epochs=EPOCHS, seed=SEED, smoke=SMOKE,
                       data_dir=DATA_DIR, runs_dir=RUNS_DIR)
    lab.x_train, lab.y_train, lab.x_val, lab.y_val, lab.data.x_test, lab.class_names

Smoke mode (tests, CI, a quick check) only shrinks the data and the epochs: the
code path is the same. Tests switch it on with the environment variable
``CIFARLAB_SMOKE=1`` and point ``CIFARLAB_DATA_DIR`` at a SYNTHETIC dataset, so the
notebooks themselves are never edited.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cifarlab import data

SMOKE_ENV = "CIFARLAB_SMOKE"
RUNS_ENV = "CIFARLAB_RUNS_DIR"

#: Epochs and images per class in smoke mode.
SMOKE_EPOCHS = 2
SMOKE_TRAIN_PER_CLASS = 40
SMOKE_TEST_PER_CLASS = 10

#: Where a SYNTHETIC stand-in is written when real CIFAR cannot be had (reused).
SYNTHETIC_DIR = Path("data") / "synthetic"


def smoke_from_env() -> bool:
    """True when ``CIFARLAB_SMOKE`` is set to 1/true/yes (how tests switch smoke mode on)."""
    return os.environ.get(SMOKE_ENV, "").strip().lower() in {"1", "true", "yes"}


def runs_dir_from_env(default: str = "runs") -> str:
    """``CIFARLAB_RUNS_DIR`` when set (tests and batch runs), else ``default``."""
    return os.environ.get(RUNS_ENV) or default


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def check_environment(*, out=None) -> dict[str, object]:
    """Print and return what a student needs to know about their machine.

    Versions of Python, TensorFlow, Keras and cifarlab, the number of CPU cores,
    any GPU, and whether this is Colab. Raises nothing: a notebook shows it first.
    """
    import keras
    import tensorflow as tf

    import cifarlab

    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    info = {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "cifarlab": cifarlab.__version__,
        "cpu_cores": os.cpu_count(),
        "gpus": gpus,
        "colab": in_colab(),
    }
    out = sys.stdout if out is None else out
    print(
        f"Python {info['python']}, TensorFlow {info['tensorflow']}, Keras {info['keras']}, "
        f"cifarlab {info['cifarlab']}",
        file=out,
    )
    where = "Google Colab" if info["colab"] else platform.system()
    device = f"GPU: {', '.join(gpus)}" if gpus else "no GPU: training runs on the CPU"
    print(f"{where}, {info['cpu_cores']} CPU cores, {device}", file=out)
    return info


def get_cifar(
    name: str = "cifar100",
    data_dir=None,
    *,
    synthetic: bool = False,
    synthetic_dir: str | os.PathLike = SYNTHETIC_DIR,
    train_per_class: int | None = None,
    test_per_class: int | None = None,
    out=None,
) -> data.CifarData:
    """Real CIFAR when it can be had; otherwise, loudly, a SYNTHETIC stand-in.

    Args:
        name: ``"cifar100"`` or ``"cifar10"``.
        data_dir: as for :func:`cifarlab.data.load_cifar100`. An explicit folder
            that is wrong is an error, never a silent fallback.
        synthetic: skip the real data and use the synthetic set straight away.
        synthetic_dir: where the synthetic set is written (and reused).
        train_per_class, test_per_class: size of the synthetic set (default:
            CIFAR's own: 500/100 for CIFAR-100, 5,000/1,000 for CIFAR-10).
    """
    if name not in ("cifar100", "cifar10"):
        raise ValueError(f"`name` must be 'cifar100' or 'cifar10'. Received: name={name!r}.")
    out = sys.stderr if out is None else out
    load, write = (
        (data.load_cifar100, data.write_synthetic_cifar100)
        if name == "cifar100"
        else (data.load_cifar10, data.write_synthetic_cifar10)
    )
    if not synthetic:
        try:
            return load(data_dir)
        except (data.DataNotFoundError, data.DownloadError) as err:
            if data_dir is not None or os.environ.get(data.ENV_VAR):
                raise  # a folder the user named that is wrong is an error
            print(
                f"WARNING: real {name.upper().replace('CIFAR', 'CIFAR-')} is not available "
                f"here:\n  {err}\nContinuing with SYNTHETIC data in the official format. "
                "Its results say nothing about real CIFAR.",
                file=out,
            )
    full = (500, 100) if name == "cifar100" else (5000, 1000)
    train_n = train_per_class or full[0]
    test_n = test_per_class or full[1]
    folder = Path(synthetic_dir) / f"{name}-{train_n}-{test_n}"
    spec = data.CIFAR100 if name == "cifar100" else data.CIFAR10
    if not (folder / spec.folder / spec.meta_file).is_file():
        write(folder, train_per_class=train_n, test_per_class=test_n)
    return load(folder)


@dataclass(frozen=True, eq=False)
class Lab:
    """What a notebook works with: the data, the splits and its settings.

    ``x_val``/``y_val`` come from a stratified, seeded split of the training
    images; the test images (``data.x_test``) are for the final evaluation only.
    """

    data: data.CifarData
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    epochs: int
    seed: int
    smoke: bool
    runs_dir: str

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.data.class_names

    @property
    def num_classes(self) -> int:
        return self.data.num_classes

    @property
    def synthetic(self) -> bool:
        return self.data.synthetic

    @property
    def name(self) -> str:
        """Short name of the task, for run names: ``medium_mammals``, ``cifar100``, ..."""
        tail = self.data.name.split(" / ")[-1]
        return tail.lower().replace("-", "") if tail.startswith("CIFAR") else tail

    def __repr__(self) -> str:
        mode = ", SMOKE mode" if self.smoke else ""
        return (
            f"Lab({self.data.description}{mode}: {len(self.x_train):,} train / "
            f"{len(self.x_val):,} validation / {len(self.data.x_test):,} test images, "
            f"{self.num_classes} classes, {self.epochs} epochs at most)"
        )


def setup(
    superclass: str | int | None = "medium_mammals",
    *,
    dataset: str = "cifar100",
    epochs: int = 30,
    seed: int = 0,
    smoke: bool | None = None,
    data_dir=None,
    runs_dir: str | None = None,
    val_fraction: float = 0.1,
    out=None,
) -> Lab:
    """Seed everything, load the data, pick the classes, split off validation.

    Args:
        superclass: a CIFAR-100 superclass (name or index 0..19), or None for all
            classes of ``dataset``.
        dataset: ``"cifar100"`` or ``"cifar10"`` (no superclasses).
        epochs: the most epochs a training run may take (early stopping ends
            sooner). Smoke mode caps it at ``SMOKE_EPOCHS``.
        seed: for :func:`cifarlab.set_seed` and the split.
        smoke: tiny data and few epochs, the same code; None reads ``CIFARLAB_SMOKE``.
        data_dir: where the data is (None: ``CIFARLAB_DATA_DIR``, the Keras cache,
            a download, and, failing all, SYNTHETIC data with a warning).
        runs_dir: where runs are recorded (None: ``CIFARLAB_RUNS_DIR`` or ``runs``).
        val_fraction: share of the training images kept for validation.

    Example:
        >>> lab = setup("fish", epochs=20)
        >>> lab
        Lab(CIFAR-100 / fish: 2,250 train / 250 validation / 500 test images, ...)
    """
    import cifarlab

    if dataset == "cifar10" and superclass is not None:
        raise ValueError(
            "CIFAR-10 has no superclasses: call setup(None, dataset='cifar10'). "
            f"Received: superclass={superclass!r}."
        )
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"`epochs` must be a positive integer. Received: epochs={epochs!r}.")
    smoke = smoke_from_env() if smoke is None else bool(smoke)
    cifarlab.set_seed(seed)
    cifar = get_cifar(
        dataset,
        data_dir,
        train_per_class=SMOKE_TRAIN_PER_CLASS if smoke else None,
        test_per_class=SMOKE_TEST_PER_CLASS if smoke else None,
        out=out,
    )
    chosen = cifar if superclass is None else data.select_superclass(cifar, superclass)
    if smoke:
        chosen = data.subsample(
            chosen,
            train_per_class=SMOKE_TRAIN_PER_CLASS,
            test_per_class=SMOKE_TEST_PER_CLASS,
            seed=seed,
        )
    (x_tr, y_tr), (x_val, y_val) = data.train_val_split(
        chosen.x_train, chosen.y_train, val_fraction=val_fraction, seed=seed
    )
    lab = Lab(
        data=chosen,
        x_train=x_tr,
        y_train=y_tr,
        x_val=x_val,
        y_val=y_val,
        epochs=min(epochs, SMOKE_EPOCHS) if smoke else epochs,
        seed=seed,
        smoke=smoke,
        runs_dir=runs_dir or runs_dir_from_env(),
    )
    print(lab, file=sys.stdout if out is None else out)
    if lab.synthetic:
        print(
            "NOTE: this is SYNTHETIC data in the official format, not real CIFAR: every "
            "number below is a smoke test of the code, not a result.",
            file=sys.stdout if out is None else out,
        )
    return lab


# --------------------------------------------------------------------------- runs


def train_models(
    lab: Lab,
    candidates,
    *,
    notebook: str,
    verbose: int = 2,
    config=None,
    **train_kwargs,
) -> dict:
    """Train each model on the lab's training split, validating on its validation split.

    Every run is recorded in ``lab.runs_dir`` as ``<NN>-<task>-<variant>`` (``NN``
    from the notebook's name) with the notebook, variant, task and SYNTHETIC flag
    in its config, so instructors' tools can find and compare them.

    Args:
        lab: from :func:`setup`.
        candidates: ``{variant: keras.Model}`` (or a builder function), in order.
        notebook: the notebook's name, e.g. ``"02_batch_norm"``.
        verbose: Keras' progress output (2: one line per epoch).
        config: extra settings to record with every run.
        **train_kwargs: passed on to :func:`cifarlab.train.train`.

    Returns:
        ``{variant: RunResult}``.
    """
    from cifarlab import train

    prefix = notebook.split("_", 1)[0]
    runs = {}
    for variant, model in candidates.items():
        print(f"--- {variant}")
        runs[variant] = train.train(
            model,
            (lab.x_train, lab.y_train),
            (lab.x_val, lab.y_val),
            epochs=lab.epochs,
            runs_dir=lab.runs_dir,
            name=f"{prefix}-{lab.name}-{variant}",
            config={
                "notebook": notebook,
                "variant": variant,
                "superclass": lab.name,
                "data": lab.data.description,
                "synthetic": lab.synthetic,
                **(config or {}),
            },
            seed=lab.seed,
            verbose=verbose,
            **train_kwargs,
        )
    return runs


def evaluate_on_test(lab: Lab, runs, *, top_k=(3,), show: bool = True) -> dict:
    """Evaluate each run's model once on the test split, and record the results.

    The test split is used here and only here. ``metrics.json`` of each run gets
    ``test_accuracy``, ``test_loss``, ``test_top<k>_accuracy`` and the whole
    evaluation (``test``: per-class metrics, confusion matrix, ...).

    Returns:
        ``{variant: Evaluation}``.
    """
    from cifarlab import evaluate, train

    results = {}
    for variant, run in runs.items():
        result = evaluate.evaluate(
            run.model,
            lab.data.x_test,
            lab.data.y_test,
            lab.class_names,
            top_k=top_k,
            synthetic=lab.synthetic,
            name=f"{run.name}, test split",
        )
        metrics = {"test_accuracy": result.accuracy, "test_loss": result.loss}
        metrics.update({f"test_top{k}_accuracy": v for k, v in result.top_k_accuracy.items()})
        train.record_metrics(run, {**metrics, "test": result.to_dict()})
        if show:
            print(result.summary(), end="\n\n")
        results[variant] = result
    return results


def overfitting_table(lab: Lab, runs):
    """Training against validation accuracy of each run: the gap shows overfitting.

    Training accuracy is measured again on the original training images: the one
    ``fit`` reports was taken on augmented images and with dropout active.
    """
    import pandas as pd

    from cifarlab import evaluate

    rows = {}
    for variant, run in runs.items():
        on_train = evaluate.evaluate(
            run.model, lab.x_train, lab.y_train, lab.class_names, synthetic=lab.synthetic
        )
        rows[variant] = {
            "training accuracy (as fit reports it)": run.best_metrics.get("accuracy"),
            "training accuracy (original images)": on_train.accuracy,
            "validation accuracy": run.best_val_accuracy,
            "gap (training - validation)": on_train.accuracy - (run.best_val_accuracy or 0.0),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    return table.rename_axis(columns="SYNTHETIC" if lab.synthetic else None)


def results_table(lab: Lab, runs):
    """The recorded runs as one table (as instructors will see them), SYNTHETIC marked."""
    from cifarlab import train

    table = train.list_runs(lab.runs_dir)
    table = table[table["path"].isin([str(run.path) for run in runs.values()])]
    columns = [
        "params",
        "epochs_run",
        "best_epoch",
        "best_val_accuracy",
        "test_accuracy",
        "total_time",
        "synthetic",
    ]
    table = table.set_index("name")[columns]
    return table.rename_axis(columns="SYNTHETIC" if lab.synthetic else None)
