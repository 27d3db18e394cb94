"""What every notebook does, one call each: ``load_notebook_data``, ``train_models``,
``evaluate_on_test``. Smoke mode (``CIFARLAB_SMOKE=1``, for tests) only shrinks data and epochs."""

import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cifarlab import __version__, _checks, data, set_seed
from cifarlab.runs import record_metrics, runs_table
from cifarlab.synthetic import write_synthetic_cifar10, write_synthetic_cifar100

SMOKE_ENV, RUNS_ENV = "CIFARLAB_SMOKE", "CIFARLAB_RUNS_DIR"
#: Epochs and images per class in smoke mode (the one place they are defined).
SMOKE_EPOCHS, SMOKE_TRAIN_PER_CLASS, SMOKE_TEST_PER_CLASS = 2, 40, 10
#: Where a SYNTHETIC stand-in is written when real CIFAR cannot be had (reused).
SYNTHETIC_DIR = Path("data") / "synthetic"
#: name -> (loader, SYNTHETIC writer, archive, CIFAR's images per class: train, test)
_DATASETS = {"cifar100": (data.load_cifar100, write_synthetic_cifar100, data.CIFAR100, (500, 100)),
             "cifar10": (data.load_cifar10, write_synthetic_cifar10, data.CIFAR10, (5000, 1000))}


def smoke_from_env() -> bool:
    """True when ``CIFARLAB_SMOKE`` is 1/true/yes (how tests switch smoke mode on)."""
    return os.environ.get(SMOKE_ENV, "").strip().lower() in {"1", "true", "yes"}


def runs_dir_from_env(default: str = "runs") -> str:
    """``CIFARLAB_RUNS_DIR`` when set (tests and batch runs), else ``default``."""
    return os.environ.get(RUNS_ENV) or default


def check_environment(*, out=None) -> dict[str, object]:
    """Print and return the versions, CPU cores, GPUs and whether this is Colab."""
    import keras
    import tensorflow as tf

    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    info = {"python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "cifarlab": __version__, "cpu_cores": os.cpu_count(),
            "gpus": gpus,
            "colab": "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ}
    device = f"GPU: {', '.join(gpus)}" if gpus else "no GPU: training runs on the CPU"
    print(f"Python {info['python']}, TensorFlow {info['tensorflow']}, Keras {info['keras']}, "
          f"cifarlab {info['cifarlab']}\n{'Google Colab' if info['colab'] else platform.system()}"
          f", {info['cpu_cores']} CPU cores, {device}", file=out)
    return info


def get_cifar(name: str = "cifar100", data_dir=None, *, synthetic: bool = False,
              synthetic_dir: str | os.PathLike = SYNTHETIC_DIR, train_per_class: int | None = None,
              test_per_class: int | None = None, out=None) -> data.CifarData:
    """Real CIFAR when it can be had, else (warning on ``out``) SYNTHETIC data written once in
    ``synthetic_dir``; a ``data_dir`` that is wrong is an error; ``synthetic=True``: no real."""
    load, write, spec, full = _DATASETS[_checks.one_of("dataset", name, _DATASETS)]
    if not synthetic:
        try:
            return load(data_dir)
        except (data.DataNotFoundError, data.DownloadError) as err:
            if data_dir is not None or os.environ.get(data.ENV_VAR):
                raise  # a folder the user named that is wrong is an error
            print(f"WARNING: real {spec.name} is not available here:\n  {err}\nContinuing with "
                  "SYNTHETIC data: its results say nothing about CIFAR.", file=out or sys.stderr)
    train_n, test_n = train_per_class or full[0], test_per_class or full[1]
    folder = Path(synthetic_dir) / f"{name}-{train_n}-{test_n}"
    if not (folder / spec.folder / spec.meta_file).is_file():
        write(folder, train_per_class=train_n, test_per_class=test_n)
    return load(folder)


@dataclass(frozen=True, eq=False)
class NotebookData:
    """A notebook's data and settings: the training split cut into ``x_train``/``x_val``
    (stratified, seeded); ``data.x_test`` is for the final evaluation only."""

    data: data.CifarData
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    epochs: int
    seed: int
    smoke: bool
    runs_dir: str

    class_names = property(lambda self: self.data.class_names)
    num_classes = property(lambda self: self.data.num_classes)
    synthetic = property(lambda self: self.data.synthetic)

    @property
    def name(self) -> str:
        """Short name of the task, for run names: ``medium_mammals``, ``cifar100``, ..."""
        tail = self.data.name.split(" / ")[-1]
        return tail.lower().replace("-", "") if tail.startswith("CIFAR") else tail

    def __repr__(self) -> str:
        return (f"NotebookData({self.data.description}{', SMOKE mode' if self.smoke else ''}: "
                f"{len(self.x_train):,} train / {len(self.x_val):,} validation / "
                f"{len(self.data.x_test):,} test images, {self.num_classes} classes, "
                f"{self.epochs} epochs at most)")


def load_notebook_data(superclass: str | int | None = "medium_mammals", *,
                       dataset: str = "cifar100", epochs: int = 30, seed: int = 0,
                       smoke: bool | None = None, synthetic: bool = False, data_dir=None,
                       runs_dir: str | None = None, val_fraction=0.1,
                       smoke_train_per_class: int = SMOKE_TRAIN_PER_CLASS,
                       out=None) -> NotebookData:
    """Seed everything, load the data, keep ``superclass`` (None: all classes of ``dataset``),
    split off validation: ``load_notebook_data("fish")``. ``smoke`` (None: ``CIFARLAB_SMOKE``)
    shrinks data (``smoke_train_per_class`` training images a class, at most
    ``SMOKE_TRAIN_PER_CLASS``) and epochs; ``runs_dir`` None: ``CIFARLAB_RUNS_DIR`` or ``runs``."""
    if dataset == "cifar10" and superclass is not None:
        raise ValueError("CIFAR-10 has no superclasses: call load_notebook_data(None, dataset="
                         f"'cifar10'). Received: superclass={superclass!r}.")
    epochs = _checks.integer("epochs", epochs)
    smoke = smoke_from_env() if smoke is None else bool(smoke)
    set_seed(seed)
    sizes = dict(train_per_class=SMOKE_TRAIN_PER_CLASS, test_per_class=SMOKE_TEST_PER_CLASS)
    cifar = get_cifar(dataset, data_dir, synthetic=synthetic, **(sizes if smoke else {}))
    chosen = cifar if superclass is None else data.select_superclass(cifar, superclass)
    if smoke:
        per_class = min(_checks.integer("smoke_train_per_class", smoke_train_per_class, minimum=2),
                        SMOKE_TRAIN_PER_CLASS)
        chosen = data.subsample(chosen, **(sizes | {"train_per_class": per_class}), seed=seed)
    (x_tr, y_tr), (x_val, y_val) = data.train_val_split(
        chosen.x_train, chosen.y_train, val_fraction=val_fraction, seed=seed)
    nb = NotebookData(chosen, x_tr, y_tr, x_val, y_val, min(epochs, SMOKE_EPOCHS) if smoke
                      else epochs, seed, smoke, runs_dir or runs_dir_from_env())
    print(nb, file=out)
    if nb.synthetic:
        print("NOTE: this is SYNTHETIC data in the official format, not real CIFAR: every "
              "number below is a smoke test of the code, not a result.", file=out)
    return nb


def train_models(nb: NotebookData, candidates, *, notebook: str, verbose: int = 2, config=None,
                 **train_kwargs) -> dict:
    """Train each ``{variant: model or builder}`` on ``nb``'s splits; ``{variant: RunResult}``,
    recorded in ``nb.runs_dir`` as ``<NN>-<task>-<variant>`` (``NN`` from ``notebook``)."""
    from cifarlab.train import train

    prefix, results = notebook.split("_", 1)[0], {}
    for variant, model in candidates.items():
        if verbose:
            print(f"--- {variant}")
        results[variant] = train(
            model, (nb.x_train, nb.y_train), (nb.x_val, nb.y_val), epochs=nb.epochs,
            runs_dir=nb.runs_dir, name=f"{prefix}-{nb.name}-{variant}", seed=nb.seed,
            config={"notebook": notebook, "variant": variant, "superclass": nb.name,
                    "data": nb.data.description, "synthetic": nb.synthetic, **(config or {})},
            verbose=verbose, **train_kwargs)
    return results


def evaluate_on_test(nb: NotebookData, runs, *, top_k=(3,), show: bool = True) -> dict:
    """Evaluate each run's model once on the test split, record test_accuracy, test_loss,
    test_top<k>_accuracy and the evaluation (``test``); ``{variant: Evaluation}``."""
    from cifarlab import evaluate

    results = {}
    for variant, run in runs.items():
        result = evaluate.evaluate(run.model, nb.data.x_test, nb.data.y_test, nb.class_names,
                                   top_k=top_k, synthetic=nb.synthetic,
                                   name=f"{run.name}, test split")
        tops = {f"test_top{k}_accuracy": v for k, v in result.top_k_accuracy.items()}
        record_metrics(run, {"test_accuracy": result.accuracy, "test_loss": result.loss, **tops,
                             "test": result.to_dict()})
        if show:
            print(result.summary(), end="\n\n")
        results[variant] = result
    return results


def overfitting_table(nb: NotebookData, runs):
    """Training against validation accuracy of each run: the gap shows overfitting. Training
    accuracy is measured again on the original images (fit's saw augmentation and dropout)."""
    import pandas as pd

    from cifarlab import evaluate

    rows = {}
    for variant, run in runs.items():
        on_train = evaluate.evaluate(run.model, nb.x_train, nb.y_train, nb.class_names,
                                     synthetic=nb.synthetic).accuracy
        rows[variant] = {"training accuracy (as fit reports it)": run.best_metrics.get("accuracy"),
                         "training accuracy (original images)": on_train,
                         "validation accuracy": run.best_val_accuracy,
                         "gap (training - validation)": on_train - (run.best_val_accuracy or 0.0)}
    table = pd.DataFrame.from_dict(rows, orient="index")
    return table.rename_axis(columns="SYNTHETIC" if nb.synthetic else None)


def results_table(nb: NotebookData, runs):
    """These runs as :func:`cifarlab.runs.runs_table` lists them, by name, SYNTHETIC marked."""
    table = runs_table(nb.runs_dir)
    table = table[table["path"].isin([str(r.path) for r in runs.values()])]
    return table.set_index("name")[["params", "epochs", "best_epoch", "best_val_accuracy",
                                    "test_accuracy", "train_seconds", "synthetic"]].rename_axis(
        columns="SYNTHETIC" if nb.synthetic else None)
