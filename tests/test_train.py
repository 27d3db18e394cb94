"""Training runs: real fits of small models on the SYNTHETIC superclass data."""

from __future__ import annotations

import csv
import functools
import json
import os
from datetime import datetime

import keras
import numpy as np
import pytest

from cifarlab import _files, models, runs
from cifarlab import train as T
from cifarlab.data import make_dataset, train_val_split

EPOCHS = 4


# --------------------------------------------------------------------------- helpers


def tiny_model(num_classes: int = 5, *, dense: int = 16, activation: str = "relu") -> keras.Model:
    """A very small CNN for the mechanics tests (a few thousand parameters)."""
    return keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Conv2D(8, 3, activation=activation),
            keras.layers.MaxPooling2D(4),
            keras.layers.Flatten(),
            keras.layers.Dense(dense, activation=activation),
            keras.layers.Dense(num_classes, activation="softmax"),
        ],
        name="tiny",
    )


def baseline_model(num_classes: int = 5) -> keras.Model:
    """cifarlab's seed-000 baseline CNN (a tiny model if models.py lacks it)."""
    try:
        from cifarlab.models import build_baseline_cnn
    except ImportError:  # models.py is written by another engineer
        return tiny_model(num_classes)
    return build_baseline_cnn(num_classes)


def run_folders(root) -> list:
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.exists() else []


class Scramble(keras.callbacks.Callback):
    """Makes epochs from ``start`` (0-based) on much worse: large random weights."""

    def __init__(self, start: int) -> None:
        super().__init__()
        self.start = start

    def on_epoch_begin(self, epoch, logs=None):
        if epoch >= self.start:
            rng = np.random.default_rng(epoch)
            self.model.set_weights(
                [rng.normal(0, 3, w.shape).astype("float32") for w in self.model.get_weights()]
            )


class PoisonWeights(keras.callbacks.Callback):
    """Sets every weight to NaN at the start of epoch ``at`` (0-based)."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at:
            self.model.set_weights(
                [np.full(w.shape, np.nan, "float32") for w in self.model.get_weights()]
            )


class CtrlC(keras.callbacks.Callback):
    """Raises KeyboardInterrupt (as Ctrl-C does) when epoch ``at`` (0-based) begins."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at:
            raise KeyboardInterrupt


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def split(learnable):
    """400 train / 100 validation images of 5 SYNTHETIC classes, from the training split."""
    return train_val_split(
        learnable.x_train, learnable.y_train, val_fraction=0.2, seed=0
    )


@pytest.fixture(scope="module")
def run(split, learnable, tmp_path_factory):
    """One recorded run of the baseline CNN, shared by the tests that only read it."""
    runs_dir = tmp_path_factory.mktemp("runs")
    keras.utils.set_random_seed(0)
    result = T.train(
        baseline_model(5),
        *split,
        epochs=EPOCHS,
        name="baseline cnn",
        runs_dir=runs_dir,
        config={"superclass": "medium_mammals", "synthetic": learnable.synthetic},
        verbose=0,
    )
    return result


# --------------------------------------------------------------------------- learning


def test_training_lowers_loss_and_beats_chance(run, split):
    loss = run.history["loss"]
    assert run.epochs == EPOCHS == len(loss) == len(run.epoch_times)
    assert run.stopped == "completed"
    assert loss[-1] < loss[0]
    assert run.best_val_accuracy > 0.5  # chance is 0.2 for 5 classes
    assert run.history["learning_rate"] == pytest.approx([1e-3] * EPOCHS)
    assert all(t > 0 for t in run.epoch_times) and run.train_seconds >= sum(run.epoch_times)
    best = int(np.argmin(run.history["val_loss"])) + 1
    assert run.best_epoch == best
    assert run.best_metrics["val_loss"] == min(run.history["val_loss"])
    assert run.synthetic is True and "SYNTHETIC" in repr(run)
    json.dumps(run.to_dict(), allow_nan=False)  # serialisable as it is


def test_run_folder_holds_the_four_files(run, split):
    (_, _), (x_val, _) = split
    assert sorted(os.listdir(run.path)) == sorted(runs.RUN_FILES)  # no checkpoint, no temp file
    assert run.path.parent.name.startswith("runs")
    assert run.path.name.endswith("-baseline_cnn")  # the name is sanitised

    with open(run.path / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == run.epochs
    assert [int(r["epoch"]) for r in rows] == list(range(1, EPOCHS + 1))
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "epoch_time"} <= set(
        rows[0]
    )
    assert [float(r["val_loss"]) for r in rows] == run.history["val_loss"]

    config = json.loads((run.path / "config.json").read_text())
    assert config["name"] == "baseline cnn"
    assert config["synthetic"] is True
    assert config["config"]["superclass"] == "medium_mammals"
    assert config["model"]["params"] == run.model.count_params()
    assert config["train"]["epochs"] == EPOCHS and config["train"]["optimizer"] == "Adam"
    assert config["data"]["train"]["images"] == 400 and config["data"]["val"]["images"] == 100
    assert {"tensorflow", "keras"} <= set(config["versions"])
    assert config["started"]

    metrics = json.loads((run.path / "metrics.json").read_text())
    assert metrics["best_epoch"] == run.best_epoch
    assert metrics["stopped"] == "completed" and metrics["epochs"] == EPOCHS
    assert metrics["best_metrics"]["val_accuracy"] == run.best_val_accuracy
    assert metrics["train_seconds"] > 0

    loaded = keras.saving.load_model(run.path / "model.keras")
    x = x_val[:16].astype("float32") / 255
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), run.model.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )


def test_load_run_round_trip(run, split):
    (_, _), (x_val, _) = split
    back = runs.load_run(run.path)
    assert back.history == run.history
    assert back.epoch_times == pytest.approx(run.epoch_times)
    assert (back.best_epoch, back.stopped, back.epochs, back.train_seconds) == (
        run.best_epoch,
        run.stopped,
        run.epochs,
        pytest.approx(run.train_seconds),
    )
    assert back.best_metrics == run.best_metrics
    assert back.config == run.config and back.synthetic is True
    assert back.settings["model"]["params"] == run.model.count_params()
    x = x_val[:8].astype("float32") / 255
    np.testing.assert_allclose(
        back.model.predict(x, verbose=0), run.model.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )
    assert runs.load_run(run.path, load_model=False).model is None


def test_load_run_names_what_is_missing(tmp_path, run):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        runs.load_run(tmp_path / "nope")
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "config.json").write_text((run.path / "config.json").read_text())
    with pytest.raises(FileNotFoundError, match="lacks history.csv, metrics.json, model.keras"):
        runs.load_run(partial)


def test_record_metrics_and_runs_table(run):
    merged = runs.record_metrics(run, {"test_accuracy": np.float32(0.5), "test_loss": 1.25})
    assert merged["test_accuracy"] == 0.5 and merged["best_epoch"] == run.best_epoch
    on_disk = json.loads((run.path / "metrics.json").read_text())
    assert on_disk["test_loss"] == 1.25 and on_disk["stopped"] == "completed"
    assert run.metrics == on_disk  # the run in memory is updated too
    assert run.test_accuracy == 0.5 and runs.load_run(run.path, load_model=False).test_accuracy

    table = runs.runs_table(run.path.parent)
    assert list(table.columns) == list(runs.COLUMNS)
    row = table.loc[table["path"] == str(run.path)].iloc[0]
    assert row["name"] == "baseline cnn" and row["epochs"] == EPOCHS
    assert row["test_accuracy"] == 0.5 and row["best_val_accuracy"] == run.best_val_accuracy
    assert row["test_loss"] == 1.25 and np.isnan(row["test_top3_accuracy"])
    assert row["params"] == run.model.count_params() and bool(row["synthetic"]) is True
    assert row["train_seconds"] == pytest.approx(run.train_seconds)
    assert row["superclass"] == "medium_mammals" and row["group"] == ""
    assert row["run"] == run.path.name and row["stopped"] == "completed"

    with pytest.raises(ValueError, match="may not change the training record.*best_epoch"):
        runs.record_metrics(run.path, {"best_epoch": 1})
    with pytest.raises(TypeError, match="non-empty dict"):
        runs.record_metrics(run.path, {})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        runs.record_metrics(run.path.parent / "missing", {"test_accuracy": 1.0})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        runs.runs_table(run.path.parent / "missing")


# --------------------------------------------------------------------------- run folders


def test_two_runs_in_the_same_second_get_two_folders(split, tmp_path, monkeypatch):
    fixed = functools.partial(_files.new_folder, when=datetime(2024, 1, 1, 12, 0, 0))
    monkeypatch.setattr(T, "new_folder", fixed)
    first = T.train(tiny_model(), *split, epochs=1, name="same", runs_dir=tmp_path, verbose=0)
    config_before = (first.path / "config.json").read_bytes()
    model_before = (first.path / "model.keras").read_bytes()
    second = T.train(tiny_model(), *split, epochs=1, name="same", runs_dir=tmp_path, verbose=0)
    assert [p.name for p in run_folders(tmp_path)] == [
        "20240101-120000-same",
        "20240101-120000-same-2",
    ]
    assert second.path != first.path
    assert (first.path / "config.json").read_bytes() == config_before
    assert (first.path / "model.keras").read_bytes() == model_before
    odd = T.train(
        tiny_model(),
        *split,
        epochs=1,
        name="../my run: v2?",
        runs_dir=tmp_path,
        record=True,
        verbose=0,
    )
    assert odd.path.parent == tmp_path and odd.path.name == "20240101-120000-my_run_v2"
    assert len(runs.runs_table(tmp_path)) == 3


def test_record_false_writes_nothing(split, tmp_path):
    result = T.train(
        tiny_model(), *split, epochs=1, runs_dir=tmp_path / "runs", record=False, verbose=0
    )
    assert result.path is None and not (tmp_path / "runs").exists()
    with pytest.raises(ValueError, match="was not recorded"):
        runs.record_metrics(result, {"test_accuracy": 0.1})


# --------------------------------------------------------------------------- stopping


def test_early_stopping_restores_the_best_weights(split, tmp_path):
    (_, _), (x_val, y_val) = split
    keras.utils.set_random_seed(1)
    result = T.train(
        tiny_model(),
        *split,
        epochs=8,
        early_stopping_patience=2,
        reduce_lr_patience=1,
        callbacks=[Scramble(start=2)],  # epochs 3, 4, ... are much worse
        runs_dir=tmp_path,
        verbose=0,
    )
    best = result.best_epoch
    assert result.stopped == "early_stopping"
    assert best in (1, 2)  # epochs from 3 on are scrambled
    assert result.epochs == best + 2  # two epochs without improvement, then stop
    best_loss = result.history["val_loss"][best - 1]
    assert best_loss < min(result.history["val_loss"][best:])
    # The rate each epoch was trained with: halved after every epoch without improvement.
    expected = [1e-3 * 0.5 ** max(0, e - best - 1) for e in range(1, result.epochs + 1)]
    assert result.history["learning_rate"] == pytest.approx(expected)
    assert result.final_learning_rate == pytest.approx(1e-3 * 0.5**2)
    val_ds = make_dataset(x_val, y_val, batch_size=64, training=False)
    saved = keras.saving.load_model(result.path / "model.keras")
    assert saved.evaluate(val_ds, verbose=0)[0] == pytest.approx(best_loss, rel=1e-4)
    assert result.model.evaluate(val_ds, verbose=0)[0] == pytest.approx(best_loss, rel=1e-4)
    metrics = json.loads((result.path / "metrics.json").read_text())
    assert metrics["stopped"] == "early_stopping" and metrics["best_epoch"] == result.best_epoch


@pytest.mark.parametrize("patience", [5, None], ids=["early-stopping", "checkpoint-only"])
def test_nan_loss_stops_the_run_with_a_warning(split, tmp_path, patience):
    with pytest.warns(RuntimeWarning, match=r"NaN .*in epoch 2.*lower learning rate"):
        result = T.train(
            tiny_model(),
            *split,
            epochs=5,
            early_stopping_patience=patience,
            callbacks=[PoisonWeights(at=1)],
            runs_dir=tmp_path,
            verbose=0,
        )
    assert result.stopped == "nan"
    assert result.epochs == 2 and np.isnan(result.history["loss"][1])
    assert result.best_epoch == 1
    # The best weights (epoch 1) are back, in memory and on disk.
    assert all(np.isfinite(w).all() for w in result.model.get_weights())
    saved = keras.saving.load_model(result.path / "model.keras")
    assert all(np.isfinite(w).all() for w in saved.get_weights())
    metrics = json.loads((result.path / "metrics.json").read_text())
    assert metrics["stopped"] == "nan"
    with open(result.path / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and rows[1]["loss"] == "nan"


def test_keyboard_interrupt_keeps_what_was_trained(split, tmp_path):
    (_, _), (x_val, y_val) = split
    with pytest.warns(RuntimeWarning, match="interrupted during epoch 3.*2 epochs"):
        result = T.train(
            tiny_model(), *split, epochs=6, callbacks=[CtrlC(at=2)], runs_dir=tmp_path, verbose=0
        )
    assert result.stopped == "interrupted" and result.epochs == 2
    assert all(len(v) == 2 for v in result.history.values())
    assert sorted(os.listdir(result.path)) == sorted(runs.RUN_FILES)
    assert json.loads((result.path / "metrics.json").read_text())["stopped"] == "interrupted"
    best_loss = result.history["val_loss"][result.best_epoch - 1]
    saved = keras.saving.load_model(result.path / "model.keras")
    val_ds = make_dataset(x_val, y_val, batch_size=64, training=False)
    assert saved.evaluate(val_ds, verbose=0)[0] == pytest.approx(best_loss, rel=1e-4)
    assert runs.load_run(result.path).stopped == "interrupted"


def test_a_time_limit_ends_the_run_with_the_best_weights(split, tmp_path):
    (_, _), (x_val, y_val) = split
    result = T.train(tiny_model(), *split, epochs=5, max_minutes=1e-6, runs_dir=tmp_path,
                     verbose=0)
    assert result.stopped == "time_limit" and result.epochs == 1  # no second epoch fits
    metrics = json.loads((result.path / "metrics.json").read_text())
    config = json.loads((result.path / "config.json").read_text())
    assert metrics["stopped"] == "time_limit" and config["train"]["max_minutes"] == 1e-6
    assert runs.load_run(result.path).stopped == "time_limit"
    val_ds = make_dataset(x_val, y_val, batch_size=64, training=False)
    saved = keras.saving.load_model(result.path / "model.keras")
    assert saved.evaluate(val_ds, verbose=0)[0] == pytest.approx(result.history["val_loss"][0],
                                                                 rel=1e-4)
    roomy = T.train(tiny_model(), *split, epochs=2, max_minutes=60, record=False, verbose=0)
    assert roomy.stopped == "completed" and roomy.epochs == 2


def test_time_limit_stops_before_an_epoch_that_would_overrun(monkeypatch):
    # perf_counter's answers: fit starts; then per epoch its start, its end, the check.
    clock = iter([0.0,
                  0.0, 100.0, 100.0,  # epoch 1 takes 100 s: 100 + 100 <= 300, go on
                  100.0, 220.0, 220.0])  # epoch 2, 120 s: 220 + 120 > 300, stop before 3
    monkeypatch.setattr(T.time, "perf_counter", lambda: next(clock))
    limit = T.TimeLimit(minutes=5)
    limit.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    limit.on_train_begin()
    for epoch in range(2):
        limit.on_epoch_begin(epoch)
        limit.on_epoch_end(epoch)
        assert getattr(limit.model, "stop_training", False) == (epoch == 1)
    assert limit.stopped_epoch == 2 and limit.times == [100.0, 120.0]


# --------------------------------------------------------------------------- compiling


def test_a_compiled_model_keeps_its_settings(split):
    model = tiny_model()
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.05),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    with pytest.warns(UserWarning, match="already compiled.*SGD"):
        result = T.train(model, *split, epochs=1, learning_rate=0.1, record=False, verbose=0)
    assert result.settings["train"]["optimizer"] == "SGD"
    assert result.settings["train"]["compiled_by"] == "caller"
    assert result.history["learning_rate"] == pytest.approx([0.05])


def test_compile_model_and_make_optimizer():
    model = T.compile_model(tiny_model(20), optimizer="adamax", learning_rate=1e-4)
    assert isinstance(model.optimizer, keras.optimizers.Adamax)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-4)
    assert isinstance(T.make_optimizer("SGD"), keras.optimizers.SGD)
    with pytest.raises(ValueError, match="Unknown optimizer 'adm'. Did you mean 'adam'"):
        T.make_optimizer("adm")
    with pytest.raises(ValueError, match=r"Expected `learning_rate` in \(0, .*=-1.*Typical"):
        T.make_optimizer("sgd", learning_rate=-1)
    with pytest.raises(ValueError, match=r"Expected `top_k` >= 1. Received: top_k=0"):
        T.compile_model(tiny_model(), top_k=0)


def test_mixed_precision_applies_to_the_build_only(split):
    before = keras.mixed_precision.global_policy().name
    result = T.train(
        lambda: tiny_model(), *split, epochs=1, mixed_precision="mixed_float16", record=False,
        verbose=0,
    )
    assert result.model.dtype_policy.name == "mixed_float16"
    assert keras.mixed_precision.global_policy().name == before
    assert np.isfinite(result.history["loss"]).all()
    assert result.settings["model"]["dtype_policy"] == "mixed_float16"


@pytest.mark.parametrize(("flags", "gpu_cc", "expected"), [
    ({"avx512f", "amx_bf16", "avx512_bf16"}, None, "mixed_bfloat16"),
    ({"avx2", "avx512_bf16"}, None, "mixed_bfloat16"),
    ({"avx2", "fma"}, None, "float32"),
    ({"amx_bf16"}, (8, 0), "mixed_float16"),  # the GPU trains, not the CPU
    ({"amx_bf16"}, (6, 1), "float32"),
])
def test_best_precision_follows_the_hardware(monkeypatch, flags, gpu_cc, expected):
    monkeypatch.setattr(T, "_cpu_flags", lambda: flags)
    gpus = ["GPU:0"] if gpu_cc else []
    monkeypatch.setattr(T.tf.config, "list_physical_devices", lambda kind=None: gpus)
    monkeypatch.setattr(T.tf.config.experimental, "get_device_details",
                        lambda gpu: {"compute_capability": gpu_cc})
    policy, why = T.best_precision()
    assert policy == expected and why


def test_a_bfloat16_run_trains_saves_and_reloads(split, tmp_path, monkeypatch):
    """mixed_precision=True on a bfloat16 CPU: bfloat16 layers, a float32 softmax, and a
    .keras file that loads back with the same predictions."""
    monkeypatch.setattr(T, "best_precision", lambda: ("mixed_bfloat16", "test"))
    result = T.train(lambda: models.build_baseline_cnn(5, seed=0), *split, epochs=1,
                     mixed_precision=True, runs_dir=tmp_path, verbose=0)
    model = result.model
    assert model.dtype_policy.name == "mixed_bfloat16"
    assert model.get_layer("block1_conv").compute_dtype == "bfloat16"
    probabilities = model.predict(split[1][0][:8] / 255.0, verbose=0)
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert np.isfinite(result.history["loss"]).all()
    loaded = keras.saving.load_model(result.path / "model.keras")
    assert loaded.get_layer("block1_conv").compute_dtype == "bfloat16"  # kept in the file
    np.testing.assert_allclose(loaded.predict(split[1][0][:8] / 255.0, verbose=0),
                               probabilities, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- bad input


def _shape16(split):
    (x, y), _ = split
    return (x[:, :16, :16], y)


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"epochs": 0}, ValueError, r"Expected `epochs` >= 1. Received: epochs=0"),
        ({"epochs": 2.5}, TypeError, r"`epochs` must be an integer >= 1. Received: epochs=2.5"),
        ({"epochs": True}, TypeError, r"`epochs` must be an integer >= 1. Received: epochs=True"),
        ({"optimizer": "adm"}, ValueError, r"Unknown optimizer 'adm'. Did you mean 'adam'"),
        ({"learning_rate": 0}, ValueError, r"Expected `learning_rate` in \(0, .*learning_rate=0"),
        ({"reduce_lr_factor": 1.5}, ValueError, r"Expected `reduce_lr_factor` in \(0, 1\]"),
        ({"reduce_lr_factor": 0}, ValueError, r"Expected `reduce_lr_factor` in \(0, 1\]"),
        ({"reduce_lr_factor": 1.0}, ValueError, r"factor >= 1.0. Received factor=1.0"),
        ({"early_stopping_patience": -1}, ValueError, r"`early_stopping_patience` >= 0"),
        ({"max_minutes": 0}, ValueError, r"Expected `max_minutes` in \(0, inf\]"),
        ({"max_minutes": "20"}, TypeError, r"`max_minutes` must be a number"),
        ({"verbose": 3}, ValueError, r"`verbose` must be 0, 1 or 2"),
        ({"callbacks": ["stop"]}, TypeError, r"keras.callbacks.Callback"),
        ({"config": ["superclass"]}, TypeError, r"`config` must be a dict"),
        ({"strategy": "mirrored"}, TypeError, r"`strategy` must be a tf.distribute.Strategy"),
        ({"mixed_precision": "mixed_float16"}, ValueError,
         r"`mixed_precision='mixed_float16'` needs `model` to be"),
        ({"mixed_precision": "bfloat16"}, ValueError, r"mixed_precision.*mixed_bfloat16"),
        ({"val_data": None}, TypeError, r"`val_data` must be a tf.data.Dataset.*never test data"),
        ({"train_data": {"x": 1}}, TypeError, r"`train_data` must be a tf.data.Dataset"),
        ({"train_data": "data"}, TypeError, r"`train_data` must be a tf.data.Dataset"),
    ],
)
def test_bad_arguments_fail_before_training(split, tmp_path, change, error, match):
    kwargs = {
        "train_data": split[0],
        "val_data": split[1],
        "epochs": 1,
        "runs_dir": tmp_path / "runs",
        "verbose": 0,
    }
    kwargs.update(change)
    with pytest.raises(error, match=match):
        T.train(tiny_model(), kwargs.pop("train_data"), kwargs.pop("val_data"), **kwargs)
    assert run_folders(tmp_path / "runs") == []


@pytest.mark.parametrize(
    ("which", "make", "error", "match"),
    [
        (
            "train",
            lambda s: (s[0][0], s[0][1] + 5),
            ValueError,
            r"`train_data` labels range from 5 to 9, but the model has 5 outputs",
        ),
        (
            "val",
            lambda s: (s[1][0], s[1][1] - 1),
            ValueError,
            r"`val_data`: `labels` must be 0 or more. Received a label -1",
        ),
        (
            "train",
            _shape16,
            ValueError,
            r"`train_data` yields images of shape \(None, 16, 16, 3\); the model takes "
            r"batches of shape \(None, 32, 32, 3\)",
        ),
        ("train", lambda s: (s[0][0][:0], s[0][1][:0]), ValueError, r"`train_data`: .* is empty"),
        (
            "train",
            lambda s: (s[0][0], s[0][1][:10]),
            ValueError,
            r"`train_data`: `labels` must have one integer per image",
        ),
        (
            "train",
            lambda s: (s[0][0], s[0][1].astype(float)),
            TypeError,
            r"`train_data`: `labels` must be integers",
        ),
        (
            "train",
            lambda s: make_dataset(*s[0], training=True).take(0),
            ValueError,
            r"`train_data` is an empty dataset",
        ),
        (
            "val",
            lambda s: make_dataset(*s[1], training=False).unbatch(),
            ValueError,
            r"`val_data` yields images of shape \(32, 32, 3\); .*\(None, 32, 32, 3\)\. Batch",
        ),
        (
            "val",
            lambda s: make_dataset(s[1][0][:, :16, :16], s[1][1], training=False),
            ValueError,
            r"`val_data` yields images of shape \(None, 16, 16, 3\)",
        ),
    ],
)
def test_data_that_does_not_fit_fails_before_training(split, tmp_path, which, make, error, match):
    data = {"train": split[0], "val": split[1]}
    data[which] = make(split)
    with pytest.raises(error, match=match):
        T.train(
            tiny_model(),
            data["train"],
            data["val"],
            epochs=1,
            runs_dir=tmp_path / "runs",
            verbose=0,
        )
    assert run_folders(tmp_path / "runs") == []


def test_runs_dir_that_cannot_be_written(split, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    with pytest.raises(ValueError, match=r"`runs_dir` .*afile/runs cannot be created: .*afile is"):
        T.train(tiny_model(), *split, epochs=1, runs_dir=afile / "runs", verbose=0)
    with pytest.raises(ValueError, match=r"`runs_dir` .*afile is a file, not a folder"):
        T.train(tiny_model(), *split, epochs=1, runs_dir=afile, verbose=0)
    assert afile.read_text() == "not a folder"


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0, reason="root can write to a read-only folder"
)
def test_read_only_runs_dir(split, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        with pytest.raises(PermissionError, match=r"`runs_dir` .*locked is not writable"):
            T.train(tiny_model(), *split, epochs=1, runs_dir=locked, verbose=0)
    finally:
        locked.chmod(0o700)
