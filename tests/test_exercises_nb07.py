"""cifarlab.exercises.nb07: each check passes on a right answer, says "Not yet" on None, and
names the typical mistake (padding, one layer repeated, seed 002's text's batch norms, the test
split used for selection, ...). Real models are built; nothing is trained."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from cifarlab import course  # noqa: E402
from cifarlab.exercises import nb07 as ex  # noqa: E402
from tests.exercise_checks import not_yet, passes  # noqa: E402

L = keras.layers


def vgg_block(filters, convs):
    return [*(L.Conv2D(filters, 3, padding="same", activation="relu") for _ in range(convs)),
            L.BatchNormalization(), L.MaxPooling2D(2)]


def make_network(block=vgg_block, *, dropout=0.5, softmax=True, scale=True):
    def vgg_network(num_classes, width=1.0, dense_units=512, activation="relu"):
        w = width if scale else 1.0
        return keras.Sequential([
            keras.Input(shape=(32, 32, 3)),
            *block(round(64 * w), 2), *block(round(128 * w), 2),
            *block(round(256 * w), 3), *block(round(512 * w), 3),
            L.Flatten(), *([L.Dropout(dropout)] if dropout else []),
            L.Dense(dense_units, activation=activation),
            L.Dense(num_classes, activation="softmax" if softmax else None)])
    return vgg_network


# --------------------------------------------------------------------------- exercise 1

def test_block_right_answer(capsys):
    out = passes(capsys, ex.check_vgg_block(vgg_block))
    assert "38,976 parameters" in out and "1,476,352" not in out  # exercise 3 stays open


def test_block_missing_and_not_a_function(capsys):
    not_yet(capsys, ex.check_vgg_block(None), "`vgg_block` is still None")
    not_yet(capsys, ex.check_vgg_block(vgg_block(64, 2)), "should be a function")


def test_block_typical_mistakes(capsys):
    def repeated(filters, convs):
        return [L.Conv2D(filters, 3, padding="same", activation="relu")] * convs + [
            L.BatchNormalization(), L.MaxPooling2D(2)]

    def valid(filters, convs):
        return [*(L.Conv2D(filters, 3, activation="relu") for _ in range(convs)),
                L.BatchNormalization(), L.MaxPooling2D(2)]

    def norm_each(filters, convs):
        out = []
        for _ in range(convs):
            out += [L.Conv2D(filters, 3, padding="same", activation="relu"),
                    L.BatchNormalization()]
        return out + [L.MaxPooling2D(2)]

    def linear(filters, convs):
        return [*(L.Conv2D(filters, 3, padding="same") for _ in range(convs)),
                L.BatchNormalization(), L.MaxPooling2D(2)]

    def fixed(filters, convs):
        return vgg_block(64, 2)

    def no_pool(filters, convs):
        return vgg_block(filters, convs)[:-1]

    def as_model(filters, convs):
        return keras.Sequential(vgg_block(filters, convs))

    not_yet(capsys, ex.check_vgg_block(repeated), "the same layer object appears twice")
    not_yet(capsys, ex.check_vgg_block(valid), "padding='same'")
    not_yet(capsys, ex.check_vgg_block(norm_each), "ONE per block")
    not_yet(capsys, ex.check_vgg_block(linear), "activation='relu'")
    not_yet(capsys, ex.check_vgg_block(fixed), "holds 2 convolutions, not 3")
    not_yet(capsys, ex.check_vgg_block(no_pool), "MaxPooling2D")
    not_yet(capsys, ex.check_vgg_block(as_model), "should return a list of layers")


# --------------------------------------------------------------------------- exercise 2

def test_network_right_answer(capsys):
    out = passes(capsys, ex.check_vgg_network(make_network(), num_classes=100))
    assert "8,739,492 parameters, 1,920 of them non-trainable" in out


def test_network_missing(capsys):
    not_yet(capsys, ex.check_vgg_network(None, num_classes=100), "`vgg_network` is still None")


def test_network_typical_mistakes(capsys):
    not_yet(capsys, ex.check_vgg_network(make_network(dropout=0), num_classes=100),
             "a Dropout")
    not_yet(capsys, ex.check_vgg_network(make_network(dropout=0.3), num_classes=100),
             "Dropout(0.5)")
    not_yet(capsys, ex.check_vgg_network(make_network(softmax=False), num_classes=100),
             "activation='softmax'")
    not_yet(capsys, ex.check_vgg_network(make_network(scale=False), num_classes=100),
             "width=0.125 should scale")

    def no_options(num_classes):
        return make_network()(num_classes)

    not_yet(capsys, ex.check_vgg_network(no_options, num_classes=100), "by keyword")


# --------------------------------------------------------------------------- exercise 3

def test_block_params(capsys):
    right = (3 * 3 * 128 * 256 + 256) + 2 * (3 * 3 * 256 * 256 + 256) + 4 * 256
    model = keras.Sequential([keras.Input((8, 8, 128)), *vgg_block(256, 3)])
    assert right == model.count_params()
    passes(capsys, ex.check_block_params(right))
    passes(capsys, ex.check_block_params(np.int64(right)))
    not_yet(capsys, ex.check_block_params(None), "`block3_params` is still None")
    not_yet(capsys, ex.check_block_params(right - 3 * 256), "the biases are missing")
    not_yet(capsys, ex.check_block_params(right - 4 * 256), "normalization is missing")
    not_yet(capsys, ex.check_block_params(right - 2 * 256), "4 numbers per channel")
    not_yet(capsys, ex.check_block_params(right + 9 * 128 * 256), "128 channels of block 2")
    not_yet(capsys, ex.check_block_params(right + 1), "is not it")
    not_yet(capsys, ex.check_block_params("1476352"), "should be a whole number")


# --------------------------------------------------------------------------- exercise 4

@pytest.fixture(scope="module")
def lab():
    """A stand-in for course.NotebookData: distinct random images in three splits."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (500, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, 500)
    return SimpleNamespace(x_train=x[:300], y_train=y[:300], x_val=x[300:400], y_val=y[300:400],
                           data=SimpleNamespace(x_test=x[400:], y_test=y[400:]))


def test_search_data_right_answer(lab, capsys):
    rows = np.random.default_rng(0).choice(300, 50, replace=False)
    search_train = (lab.x_train[rows], lab.y_train[rows])
    out = passes(capsys, ex.check_search_data(search_train, (lab.x_val, lab.y_val), lab))
    assert "50 training images and scores on 100 validation images" in out
    scaled = (lab.x_train[rows] / 255.0, lab.y_train[rows])  # scaled images are the same images
    passes(capsys, ex.check_search_data(scaled, (lab.x_val / 255.0, lab.y_val), lab))


def test_search_data_missing(lab, capsys):
    not_yet(capsys, ex.check_search_data(None, None, lab), "`search_train` is still None")
    train = (lab.x_train[:50], lab.y_train[:50])
    not_yet(capsys, ex.check_search_data(train, None, lab), "`search_val` is still None")


def test_search_data_typical_mistakes(lab, capsys):
    train, val = (lab.x_train[:50], lab.y_train[:50]), (lab.x_val, lab.y_val)
    test = (lab.data.x_test, lab.data.y_test)
    not_yet(capsys, ex.check_search_data(train, test, lab), "the test split used for selection")
    not_yet(capsys, ex.check_search_data(test, val, lab), "trains on test images")
    not_yet(capsys, ex.check_search_data(train, (lab.x_train[:50], lab.y_train[:50]), lab),
             "scores on the images it trained on")
    not_yet(capsys, ex.check_search_data(train, (lab.x_train[50:90], lab.y_train[50:90]), lab),
             "not in it")
    shuffled = (lab.x_train[:50], np.roll(lab.y_train[:50], 1))
    not_yet(capsys, ex.check_search_data(shuffled, val, lab), "labels no longer belong")
    not_yet(capsys, ex.check_search_data((lab.x_train, lab.y_train), val, lab),
             "trains on all 300 training images")
    not_yet(capsys, ex.check_search_data(lab.x_train, val, lab), "should be a pair")


# --------------------------------------------------------------------------- the notebook's data

def test_smoke_mode_keeps_fewer_images_per_class(synthetic_dir):
    lab = course.load_notebook_data(None, smoke=True, data_dir=synthetic_dir, out=io.StringIO(),
                                    smoke_train_per_class=10)
    assert len(lab.x_train) + len(lab.x_val) == 100 * 10
    assert set(np.unique(lab.y_val)) == set(range(100))  # one validation image per class
    full = course.load_notebook_data(None, smoke=False, data_dir=synthetic_dir,
                                     out=io.StringIO(), smoke_train_per_class=10)
    assert len(full.x_train) + len(full.x_val) == 100 * 25  # outside smoke mode: ignored
