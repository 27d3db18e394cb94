"""The main job (`cifarlab demo`), in smoke mode on SYNTHETIC data."""

import io
import json

import numpy as np
import pandas as pd
import pytest

from cifarlab import cli, data, demo, runs


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # data/synthetic and runs/ go here
    return tmp_path


def test_demo_without_real_data_warns_then_trains_on_synthetic(in_tmp, capsys):
    out = io.StringIO()
    table = demo.run_demo(smoke=True, variants=("baseline", "augmentation"), out=out)
    err = capsys.readouterr().err
    assert "WARNING: real CIFAR-100 is not available" in err and "network disabled" in err
    text = out.getvalue()
    assert "medium_mammals (SYNTHETIC data, not real CIFAR)" in text
    assert "say nothing about real CIFAR-100" in text
    assert list(table["variant"]) == ["baseline", "augmentation"]
    assert table.loc[0, "params"] == 159_813  # seed 000's network

    for row in table.itertuples():
        run = runs.load_run(row.path)
        assert run.synthetic and run.config["variant"] == row.variant
        assert {"curves.png", "confusion_matrix.png", "model.keras"} <= {
            p.name for p in run.path.iterdir()
        }
        metrics = json.loads((run.path / "metrics.json").read_text())
        assert metrics["test_accuracy"] == pytest.approx(row.test_accuracy)
        # the recorded test accuracy is what the saved model really scores
        cifar = data.load_cifar100(in_tmp / "data" / "synthetic" / "cifar100-40-10")
        sub = data.select_superclass(cifar, "medium_mammals")
        pred = run.model.predict(data.scale_images(sub.x_test), verbose=0).argmax(1)
        assert np.mean(pred == sub.y_test) == pytest.approx(row.test_accuracy)
        assert len(pd.read_csv(run.path / "history.csv")) == row.epochs
    assert (in_tmp / "runs" / "demo-medium_mammals.md").read_text().startswith("# cifarlab demo")


def test_demo_twice_never_overwrites(in_tmp):
    args = dict(synthetic=True, smoke=True, epochs=1, variants=("dropout",), out=io.StringIO())
    first = demo.run_demo(**args)
    table = (in_tmp / "runs" / "demo-medium_mammals.md").read_text()
    second = demo.run_demo(**args)
    assert first.loc[0, "path"] != second.loc[0, "path"]
    assert len(list((in_tmp / "runs").glob("*-demo-medium_mammals-dropout"))) == 2
    # the first table is kept; the second goes beside it
    assert (in_tmp / "runs" / "demo-medium_mammals.md").read_text() == table
    again = (in_tmp / "runs" / "demo-medium_mammals-2.md").read_text()
    assert str(second.loc[0, "path"]) in again and str(first.loc[0, "path"]) in table


def test_demo_command_line(in_tmp, capsys):
    code = cli.main(
        ["demo", "--synthetic", "--smoke", "--variants", "batch_norm", "--superclass", "fish"]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "aquarium_fish, flatfish, ray, shark, trout" in out and "batch_norm" in out


def test_explicit_bad_data_dir_is_an_error_not_a_fallback(in_tmp, capsys):
    assert cli.main(["demo", "--data-dir", str(in_tmp / "nope"), "--smoke"]) == 2
    assert "data_dir" in capsys.readouterr().err
    assert not (in_tmp / "runs").exists()


def test_unknown_variant():
    with pytest.raises(ValueError, match="Unknown variant 'vgg'"):
        demo.build_variant("vgg", 5)
