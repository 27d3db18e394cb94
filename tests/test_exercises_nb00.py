"""cifarlab.exercises.nb00: every check passes on a right answer, says "Not yet:" on None and
names each typical mistake (on SYNTHETIC CIFAR-100 from conftest: 25 train, 5 test per class)."""

from __future__ import annotations

import numpy as np
import pytest

from cifarlab import data, exercises, labels
from cifarlab.exercises import nb00 as ex

SUPERCLASS = "medium_mammals"


def _verdict(capsys, result, *, passed: bool) -> str:
    out = capsys.readouterr().out.strip()
    assert out.count("\n") == 0, f"a check prints one line: {out!r}"
    assert result is passed and out.startswith(exercises.PASSED if passed else exercises.NOT_YET)
    return out


def _fails(capsys, result, *words: str) -> str:
    out = _verdict(capsys, result, passed=False)
    for word in words:
        assert word in out, out
    return out


# --- exercise 1: select the superclass with masks -----------------------------------------

def _ids(superclass):
    return [labels.FINE_LABELS.index(n) for n in labels.superclass_classes(superclass)]


def select_right(images, fine_labels, superclass):
    ids = _ids(superclass)
    keep = np.isin(fine_labels, ids)
    lookup = np.full(100, -1)
    lookup[ids] = np.arange(5)
    return images[keep], lookup[fine_labels[keep]]


def select_with_loops(images, fine_labels, superclass):  # seed 000's way
    ids = _ids(superclass)
    idx = [i for i in range(len(fine_labels)) if fine_labels[i] in ids]
    y = fine_labels[idx].copy()
    for i in range(len(y)):
        y[i] = ids.index(y[i])
    return images[idx], y


def select_not_remapped(images, fine_labels, superclass):
    keep = np.isin(fine_labels, _ids(superclass))
    return images[keep], fine_labels[keep]


def select_out_of_step(images, fine_labels, superclass):
    x, y = select_right(images, fine_labels, superclass)
    return x, np.sort(y)


def select_other_order(images, fine_labels, superclass):
    x, y = select_right(images, fine_labels, superclass)
    return x, 4 - y


def select_hard_coded(images, fine_labels, superclass):
    return select_right(images, fine_labels, SUPERCLASS)


def select_four_classes(images, fine_labels, superclass):
    x, y = select_right(images, fine_labels, superclass)
    return x[y < 4], y[y < 4]


def select_another(images, fine_labels, superclass):
    return select_right(images, fine_labels, "fish")


def test_selection_passes_on_masks_and_a_lookup(capsys, cifar100):
    out = _verdict(capsys, ex.check_selection(select_right, cifar100, SUPERCLASS), passed=True)
    assert "125 images of medium_mammals" in out


def test_selection_is_not_yet_on_none_or_not_a_function(capsys, cifar100):
    _fails(capsys, ex.check_selection(None, cifar100, SUPERCLASS), "still None")
    _fails(capsys, ex.check_selection((1, 2), cifar100, SUPERCLASS), "should be a function")


@pytest.mark.parametrize("select, words", [
    (select_with_loops, ("loop over labels", "seed 000")),
    (select_not_remapped, ("not remapped",)),
    (select_out_of_step, ("out of step",)),
    (select_other_order, ("another order",)),
    (select_hard_coded, ("written into your code",)),
    (select_four_classes, ("missing",)),
    (select_another, ("another superclass", "fish")),
])
def test_selection_names_the_mistake(capsys, cifar100, select, words):
    _fails(capsys, ex.check_selection(select, cifar100, SUPERCLASS), *words)


# --- exercise 2: a validation split from the training images ------------------------------

@pytest.fixture(scope="module")
def chosen(cifar100):
    return data.select_superclass(cifar100, SUPERCLASS)


def _split(chosen):
    (x_tr, y_tr), (x_va, y_va) = data.train_val_split(chosen.x_train, chosen.y_train, seed=0)
    return (x_tr, y_tr), (x_va, y_va)


def _check_split(split, chosen):
    pool = (chosen.x_train, chosen.y_train)
    return ex.check_validation_split(split, pool, chosen.x_test)


def test_split_passes_on_a_stratified_random_split(capsys, chosen):
    out = _verdict(capsys, _check_split(_split(chosen), chosen), passed=True)
    assert "112 training and 13 validation images" in out or "validation images" in out


def test_split_is_not_yet_on_none(capsys, chosen):
    _fails(capsys, _check_split(None, chosen), "still None")


def test_split_names_the_test_split_used_for_validation(capsys, chosen):
    split = ((chosen.x_train, chosen.y_train), (chosen.x_test, chosen.y_test))
    _fails(capsys, _check_split(split, chosen), "test split used for validation")


def test_split_names_images_in_both_parts(capsys, chosen):
    (x_tr, y_tr), _ = _split(chosen)
    split = ((chosen.x_train, chosen.y_train), (x_tr[:13], y_tr[:13]))
    _fails(capsys, _check_split(split, chosen), "in both parts")


def test_split_names_the_unshuffled_last_ten_percent(capsys, chosen):
    x, y, n = chosen.x_train, chosen.y_train, len(chosen.y_train) // 10
    split = ((x[:-n], y[:-n]), (x[-n:], y[-n:]))  # Keras's validation_split=0.1
    _fails(capsys, _check_split(split, chosen), "unshuffled", "validation_split")


def test_split_names_an_unbalanced_split(capsys, chosen):
    x, y = chosen.x_train, chosen.y_train
    rng = np.random.default_rng(0)
    val = rng.permutation(np.flatnonzero(y < 2))[:12]  # two classes only, shuffled
    rest = np.setdiff1d(np.arange(len(y)), val)
    _fails(capsys, _check_split(((x[rest], y[rest]), (x[val], y[val])), chosen), "unbalanced")


def test_split_names_labels_out_of_step_lost_images_and_the_wrong_shape(capsys, chosen):
    (x_tr, y_tr), (x_va, y_va) = _split(chosen)
    _fails(capsys, _check_split(((x_tr, np.sort(y_tr)), (x_va, y_va)), chosen), "out of step")
    _fails(capsys, _check_split(((x_tr[:50], y_tr[:50]), (x_va, y_va)), chosen), "neither part")
    _fails(capsys, _check_split((x_tr, x_va, y_tr, y_va), chosen), "4 parts")
    _fails(capsys, _check_split(((x_tr, y_tr[:-1]), (x_va, y_va)), chosen), "out of step")


# --- exercise 3: pixels in [0, 1] ----------------------------------------------------------

@pytest.fixture(scope="module")
def images(chosen):
    return chosen.x_train[:40]


def test_scaled_passes_on_float32_over_255(capsys, images):
    _verdict(capsys, ex.check_scaled(images.astype("float32") / 255, images), passed=True)


@pytest.mark.parametrize("make, words", [
    (lambda x: None, ("still None",)),
    (lambda x: x, ("unscaled pixels", "integers")),
    (lambda x: x.astype("float32"), ("unscaled pixels",)),
    (lambda x: x // 255, ("integer division",)),
    (lambda x: x.astype("float32") / 255 / 255, ("scaled twice",)),
    (lambda x: x / 255, ("float64",)),
    (lambda x: (x - x.mean()) / x.std(), ("standardised",)),
    (lambda x: x / x.max(axis=(1, 2, 3), keepdims=True).astype("float32"), ("largest value",)),
    (lambda x: x[:10].astype("float32") / 255, ("shape",)),
])
def test_scaled_names_the_mistake(capsys, images, make, words):
    _fails(capsys, ex.check_scaled(make(images), images), *words)
