"""The shared input checks: each names the argument, the value received and what is valid."""

import numpy as np
import pytest

from cifarlab import _checks


def test_integer_refuses_bools_floats_and_small_values():
    assert _checks.integer("epochs", np.int64(3)) == 3
    with pytest.raises(TypeError, match=r"`epochs` must be an integer >= 1. Received: epochs=True"):
        _checks.integer("epochs", True)
    with pytest.raises(TypeError, match=r"Received: epochs=2.5"):
        _checks.integer("epochs", 2.5)
    with pytest.raises(ValueError, match=r"Expected `seed` >= 0. Received: seed=-1"):
        _checks.integer("seed", -1, minimum=0)
    assert _checks.integers("filters", [32, 64]) == (32, 64)
    with pytest.raises(ValueError, match="at least one value"):
        _checks.integers("filters", [])
    with pytest.raises(TypeError, match="sequence of integers"):
        _checks.integers("filters", "32")


def test_number_ranges():
    assert _checks.number("lr", 1e-3, low=0, low_open=True) == 1e-3
    with pytest.raises(ValueError, match=r"Expected `lr` in \(0, inf\]. Received: lr=0.0"):
        _checks.number("lr", 0.0, low=0, low_open=True)
    with pytest.raises(ValueError, match="Received: fraction=nan"):
        _checks.number("fraction", float("nan"), low=0, high=1)
    with pytest.raises(TypeError, match="must be a number"):
        _checks.number("lr", "0.1")


def test_one_of_suggests_a_close_match():
    assert _checks.one_of("preset", "seed002", ["seed002", "light"]) == "seed002"
    with pytest.raises(ValueError, match=r"Unknown preset 'seed02'. Did you mean 'seed002'\? "
                                         r"Valid: seed002, light."):
        _checks.one_of("preset", "seed02", ["seed002", "light"])
    assert _checks.did_you_mean("mammals", ["medium_mammals", "fish"]) == (
        " Did you mean 'medium_mammals'?")
    assert _checks.did_you_mean(3, ["fish"]) == ""


def test_images_and_labels():
    x = np.zeros((2, 32, 32, 3), np.uint8)
    _, y = _checks.images_and_labels(x, np.array([[1], [0]]))
    assert y.tolist() == [1, 0] and y.dtype == np.int64
    with pytest.raises(ValueError, match=r"\(N, height, width, 3\). Received shape \(2, 32\)"):
        _checks.images_and_labels(np.zeros((2, 32)), [0, 1])
    with pytest.raises(ValueError, match="is empty"):
        _checks.images(np.zeros((0, 32, 32, 3)))
    with pytest.raises(ValueError, match=r"one integer per image: 2 images, labels of shape"):
        _checks.images_and_labels(x, [0, 1, 2])
    with pytest.raises(TypeError, match="must be integers. Received dtype float64"):
        _checks.images_and_labels(x, [0.0, 1.0])
    with pytest.raises(ValueError, match=r"must be 0..4. Received a label 5"):
        _checks.images_and_labels(x, [0, 5], num_classes=5)
    with pytest.raises(ValueError, match=r"must be 0 or more. Received a label -1"):
        _checks.images_and_labels(x, [0, -1])
