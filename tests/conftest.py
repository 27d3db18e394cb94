"""Shared fixtures: no network, no GPU, no real CIFAR download.

Tests run on SYNTHETIC data written in the official on-disk format by
``cifarlab.synthetic.write_synthetic_cifar100`` / ``write_synthetic_cifar10``.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolate(monkeypatch, tmp_path_factory):
    """Never read a real data folder or Keras cache, never download, close figures."""
    monkeypatch.delenv("CIFARLAB_DATA_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path_factory.mktemp("keras_home")))
    import urllib.request

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory):
    """A folder holding a small SYNTHETIC ``cifar-100-python/`` (25 train, 5 test per class)."""
    from cifarlab.synthetic import write_synthetic_cifar100

    root = tmp_path_factory.mktemp("synthetic100")
    write_synthetic_cifar100(root, train_per_class=25, test_per_class=5, seed=0)
    return root


@pytest.fixture(scope="session")
def cifar100(synthetic_dir):
    """SYNTHETIC CIFAR-100 loaded with cifarlab (2,500 train / 500 test images)."""
    from cifarlab.data import load_cifar100

    return load_cifar100(synthetic_dir)


@pytest.fixture(scope="session")
def superclass_data(tmp_path_factory):
    """SYNTHETIC medium_mammals with enough images to learn from (100 train, 20 test per class)."""
    from cifarlab.data import load_cifar100, select_superclass
    from cifarlab.synthetic import write_synthetic_cifar100

    root = tmp_path_factory.mktemp("synthetic_superclass")
    write_synthetic_cifar100(root, train_per_class=100, test_per_class=20, seed=1)
    return select_superclass(load_cifar100(root), "medium_mammals")


@pytest.fixture(scope="session")
def synthetic10_dir(tmp_path_factory):
    """A folder holding a small SYNTHETIC ``cifar-10-batches-py/``."""
    from cifarlab.synthetic import write_synthetic_cifar10

    root = tmp_path_factory.mktemp("synthetic10")
    write_synthetic_cifar10(root, train_per_class=50, test_per_class=10, seed=0)
    return root


#: One colour per class, blended into each image by ``learnable``.
PALETTE = np.array([[230, 40, 40], [40, 200, 40], [40, 40, 230], [220, 220, 30], [200, 40, 200]])


@pytest.fixture(scope="session")
def learnable(superclass_data):
    """``superclass_data`` with each image tinted by its class's colour.

    For tests of mechanics (training, evaluation) that need a model to become confident in
    a few epochs: the CIFAR-like synthetic images take a real network many epochs to learn,
    as real photos do.
    """
    import dataclasses

    def tint(x, y):
        return (0.4 * x + 0.6 * PALETTE[y][:, None, None, :]).astype(np.uint8)

    d = superclass_data
    return dataclasses.replace(d, x_train=tint(d.x_train, d.y_train),
                               x_test=tint(d.x_test, d.y_test))
