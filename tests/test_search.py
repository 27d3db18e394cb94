"""Random search (keras-tuner) on the SYNTHETIC superclass data, scored on validation."""

from __future__ import annotations

import keras
import pytest

from cifarlab.data import train_val_split
from cifarlab.search import random_search


def tiny_model(*, dense: int = 16, activation: str = "relu") -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Conv2D(8, 3, activation=activation),
            keras.layers.MaxPooling2D(4),
            keras.layers.Flatten(),
            keras.layers.Dense(dense, activation=activation),
            keras.layers.Dense(5, activation="softmax"),
        ]
    )


@pytest.fixture(scope="module")
def split(superclass_data):
    return train_val_split(
        superclass_data.x_train, superclass_data.y_train, val_fraction=0.2, seed=0
    )


def run_folders(root) -> list:
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.exists() else []


def build_for_search(dense_units: int, activation: str = "relu") -> keras.Model:
    return tiny_model(dense=dense_units, activation=activation)


def test_random_search_returns_a_sorted_table(split, tmp_path):
    space = {
        "dense_units": [8, 16],
        "activation": ["relu", "tanh"],
        "optimizer": ["adam", "sgd"],
        "learning_rate": [1e-3, 1e-2],
    }
    table = random_search(
        build_for_search,
        *split,
        space=space,
        max_trials=2,
        epochs=1,
        directory=tmp_path,
        synthetic=True,
    )
    assert list(table.columns) == [
        "trial_id",
        "dense_units",
        "activation",
        "optimizer",
        "learning_rate",
        "val_accuracy",
        "val_loss",
        "best_epoch",
        "status",
        "synthetic",
    ]
    assert len(table) == 2
    assert table["val_accuracy"].is_monotonic_decreasing
    assert table["val_loss"].notna().all() and (table["status"] == "COMPLETED").all()
    for key, values in space.items():
        assert set(table[key]) <= set(values)
    assert table["synthetic"].all() and table.attrs["synthetic"] is True
    assert len(run_folders(tmp_path)) == 1  # the tuner's files, in a new sub-folder


@pytest.mark.parametrize(
    ("space", "kwargs", "match"),
    [
        ({}, {}, r"`space` must be a non-empty dict"),
        (
            {"dense_unit": [8]},
            {},
            r"'dense_unit' is not a parameter of build_fn. Did you mean "
            r"'dense_units'",
        ),
        ({"dense_units": []}, {}, r"`space\['dense_units'\]` must be a non-empty list"),
        ({"dense_units": 8}, {}, r"must be a non-empty list"),
        ({"dense_units": [8, "16"]}, {}, r"mixes types"),
        ({"dense_units": [[8]]}, {}, r"one type per hyperparameter"),
        ({"learning_rate": [0.0]}, {}, r"Expected `space\['learning_rate'\]` in \(0"),
        ({"dense_units": [8, 8]}, {}, r"repeats a value"),
        ({"optimizer": ["adm"]}, {}, r"Did you mean 'adam'"),
        ({"dense_units": [8]}, {"objective": "accuracy"}, r"Unknown objective 'accuracy'"),
        ({"dense_units": [8]}, {"max_trials": 0}, r"Expected `max_trials` >= 1. Received: max_t"),
    ],
)
def test_random_search_rejects_a_bad_space(split, space, kwargs, match):
    with pytest.raises(ValueError, match=match):
        random_search(build_for_search, *split, space=space, **kwargs)


def test_random_search_shows_one_progress_bar_over_all_trials(split, tmp_path, capsys):
    """keras-tuner copies callbacks per trial: the bar must still count every epoch."""
    random_search(build_for_search, *split, space={"dense_units": [8, 16]}, max_trials=2,
                  epochs=2, directory=tmp_path)
    bar = capsys.readouterr().err.replace("\r", "\n").splitlines()
    assert any("random search" in line and "4/4" in line for line in bar), bar[-3:]
