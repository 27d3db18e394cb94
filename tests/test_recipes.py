"""Every code block of docs/recipes.md runs, in order, on SYNTHETIC data with tiny sizes.

The page shows how each seed report's experiment is a few lines with cifarlab; this
test keeps it true, then checks what the seeds reported (parameter counts, ...).
"""

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cifarlab import synthetic, transfer

DOC = Path(__file__).resolve().parents[1] / "docs" / "recipes.md"


def _blocks():
    return re.findall(r"```python( settings)?\n(.*?)```", DOC.read_text(), flags=re.S)


@pytest.fixture(scope="module")
def recipes(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("recipes")
    synthetic.write_synthetic_cifar100(tmp / "c100", train_per_class=20, test_per_class=4)
    synthetic.write_synthetic_cifar10(tmp / "c10", train_per_class=40, test_per_class=10)
    vgg = transfer.build_transfer_model(
        5, backbone="vgg16", weights=None, input_size=32, head="seed001"
    )
    weights = tmp / "vgg16_notop.weights.h5"
    transfer.get_backbone(vgg).save_weights(weights)
    photo = tmp / "my_photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 200, 4), np.uint8)).save(photo)
    namespace = {
        "DATA_DIR": tmp / "c100",
        "DATA_DIR_10": tmp / "c10",
        "WEIGHTS": str(weights),
        "RUNS_DIR": tmp / "runs",
        "EPOCHS": 1,
        "LIMIT": 1000,  # of the 2,000 training images: 10 per class, enough to stratify
        "INPUT_SIZE": 32,
        "PHOTO": str(photo),
    }
    blocks = _blocks()
    assert blocks[0][0] == " settings" and len(blocks) == 6
    for _, code in blocks[1:]:
        exec(compile(code, str(DOC), "exec"), namespace)
    return namespace


def test_settings_block_names_everything_the_test_replaces(recipes):
    settings = {}
    exec(_blocks()[0][1], settings)
    assert {k for k in settings if k.isupper()} == {k for k in recipes if k.isupper()}


def test_seed000(recipes):
    assert recipes["model"].count_params() == 159_813
    assert recipes["mammals"].class_names == ("fox", "porcupine", "possum", "raccoon", "skunk")
    assert recipes["run"].synthetic and recipes["result"].synthetic
    assert "SYNTHETIC" in recipes["result"].summary()


def test_seed001(recipes):
    vgg, head = recipes["vgg"], recipes["head"]
    assert vgg.input_shape == (None, 32, 32, 3)  # resized inside, never in memory
    assert [type(layer).__name__ for layer in head.layers[1:]] == [
        "Flatten",
        "Dense",
        "Dropout",
        "Dense",
    ]
    assert recipes["features_tr"].shape[0] == len(recipes["f_tr"])
    assert 0 <= recipes["fish_result"].accuracy <= 1
    assert vgg.optimizer.learning_rate.numpy() == pytest.approx(1e-5)


def test_seed002(recipes):
    assert recipes["vgg_style"].count_params() == 8_739_492
    search = recipes["found"]
    assert len(search) == 2 and search["val_accuracy"].is_monotonic_decreasing
    assert {"activation", "dense_units", "optimizer"} <= set(search.columns)
    assert recipes["run_002"].epochs == 1


def test_seed003(recipes):
    assert recipes["simple"].count_params() == 831_354
    assert recipes["reloaded"].history == recipes["run_003"].history
    pred = recipes["predictions"]
    assert len(pred) == 1 and pred.loc[0, "name_1"] in recipes["cifar"].class_names


def test_seed004(recipes):
    assert recipes["cifar10"].num_classes == 10
    assert "precision" in recipes["result10"].report
    assert recipes["run_004"].settings["train"]["batch_size"] == 32
