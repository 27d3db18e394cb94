import io

import numpy as np
import pytest

from cifarlab import course, data


def test_load_notebook_data_smoke_on_synthetic(synthetic_dir, monkeypatch):
    monkeypatch.setenv("CIFARLAB_SMOKE", "1")
    monkeypatch.setenv("CIFARLAB_RUNS_DIR", "/tmp/somewhere")
    out = io.StringIO()
    lab = course.load_notebook_data(
        "Medium Mammals", epochs=30, seed=1, data_dir=synthetic_dir, out=out
    )
    assert lab.smoke and lab.epochs == course.SMOKE_EPOCHS and lab.runs_dir == "/tmp/somewhere"
    assert lab.class_names == ("fox", "porcupine", "possum", "raccoon", "skunk")
    assert lab.name == "medium_mammals" and lab.synthetic
    assert len(lab.x_train) + len(lab.x_val) == len(lab.data.x_train)
    assert np.array_equal(np.bincount(lab.y_val), np.bincount(lab.y_val, minlength=5))
    assert "SMOKE mode" in out.getvalue() and "SYNTHETIC" in out.getvalue()


def test_load_notebook_data_all_classes_and_cifar10(synthetic_dir, synthetic10_dir):
    lab = course.load_notebook_data(
        None, epochs=3, smoke=False, data_dir=synthetic_dir, out=io.StringIO()
    )
    assert lab.num_classes == 100 and lab.epochs == 3 and lab.name == "cifar100"
    ten = course.load_notebook_data(
        None, dataset="cifar10", data_dir=synthetic10_dir, out=io.StringIO()
    )
    assert ten.num_classes == 10 and ten.name == "cifar10"
    with pytest.raises(ValueError, match="CIFAR-10 has no superclasses"):
        course.load_notebook_data("fish", dataset="cifar10")
    with pytest.raises(ValueError, match=r"Expected `epochs` >= 1. Received: epochs=0"):
        course.load_notebook_data("fish", epochs=0)


def test_get_cifar_falls_back_loudly_only_when_nothing_was_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    err = io.StringIO()
    cifar = course.get_cifar("cifar10", train_per_class=4, test_per_class=2, out=err)
    assert cifar.synthetic and "WARNING: real CIFAR-10 is not available" in err.getvalue()
    monkeypatch.setenv("CIFARLAB_DATA_DIR", str(tmp_path / "typo"))
    with pytest.raises(data.DataNotFoundError, match="typo does not exist"):
        course.get_cifar("cifar100", out=err)


def test_subsample_is_balanced_seeded_and_ordered(cifar100):
    small = data.subsample(cifar100, train_per_class=3, test_per_class=1, seed=0)
    assert np.array_equal(np.bincount(small.y_train), [3] * 100)
    assert np.array_equal(np.bincount(small.y_test), [1] * 100)
    again = data.subsample(cifar100, train_per_class=3, test_per_class=1, seed=0)
    assert np.array_equal(small.x_train, again.x_train)
    other = data.subsample(cifar100, train_per_class=3, seed=1)
    assert not np.array_equal(small.x_train, other.x_train)
    assert len(other.x_test) == len(cifar100.x_test)  # None keeps a split whole
    assert np.array_equal(
        small.y_train_coarse, np.array(data._labels.FINE_TO_COARSE)[small.y_train]
    )
    with pytest.raises(ValueError, match="train_per_class"):
        data.subsample(cifar100, train_per_class=0)


def test_train_evaluate_and_tabulate_runs(superclass_data, tmp_path, monkeypatch):
    import json

    from cifarlab import models

    monkeypatch.setenv("CIFARLAB_SMOKE", "1")
    small = data.subsample(superclass_data, train_per_class=40, test_per_class=10)
    (x_tr, y_tr), (x_val, y_val) = data.train_val_split(small.x_train, small.y_train)
    lab = course.NotebookData(
        small, x_tr, y_tr, x_val, y_val, epochs=1, seed=0, smoke=True, runs_dir=str(tmp_path)
    )
    runs = course.train_models(
        lab,
        {"baseline": models.build_baseline_cnn(5, seed=0)},
        notebook="01_baseline_cnn",
        verbose=0,
    )
    run = runs["baseline"]
    assert run.name == "01-medium_mammals-baseline" and run.epochs == 1
    assert run.config["notebook"] == "01_baseline_cnn" and run.synthetic
    results = course.evaluate_on_test(lab, runs, show=False)
    recorded = json.loads((run.path / "metrics.json").read_text())
    assert recorded["test_accuracy"] == pytest.approx(results["baseline"].accuracy)
    assert recorded["test"]["confusion_matrix"] == results["baseline"].confusion_matrix.tolist()
    assert (
        "test_top3_accuracy" in recorded
        and run.metrics["test_accuracy"] == recorded["test_accuracy"]
    )
    gap = course.overfitting_table(lab, runs)
    assert gap.columns.name == "SYNTHETIC" and list(gap.index) == ["baseline"]
    row = gap.loc["baseline"]
    assert row["gap (training - validation)"] == pytest.approx(
        row["training accuracy (original images)"] - row["validation accuracy"]
    )
    table = course.results_table(lab, runs)
    assert list(table.index) == [run.name]
    assert table.loc[run.name, "test_accuracy"] == pytest.approx(recorded["test_accuracy"])


def test_layer_table():
    from cifarlab import models

    table = models.layer_table(models.build_baseline_cnn(5))
    assert table["parameters"].sum() == 159_813
    assert list(table.columns) == ["layer", "type", "output shape", "parameters"]
    assert table.iloc[0]["type"] == "InputLayer" and table.iloc[1]["output shape"] == (30, 30, 32)
    with pytest.raises(TypeError, match="must be a keras.Model"):
        models.layer_table("model")
