import io

import numpy as np
import pytest

from cifarlab import course, data


def test_setup_smoke_on_synthetic(synthetic_dir, monkeypatch):
    monkeypatch.setenv("CIFARLAB_SMOKE", "1")
    monkeypatch.setenv("CIFARLAB_RUNS_DIR", "/tmp/somewhere")
    out = io.StringIO()
    lab = course.setup("Medium Mammals", epochs=30, seed=1, data_dir=synthetic_dir, out=out)
    assert lab.smoke and lab.epochs == course.SMOKE_EPOCHS and lab.runs_dir == "/tmp/somewhere"
    assert lab.class_names == ("fox", "porcupine", "possum", "raccoon", "skunk")
    assert lab.name == "medium_mammals" and lab.synthetic
    assert len(lab.x_train) + len(lab.x_val) == len(lab.data.x_train)
    assert np.array_equal(np.bincount(lab.y_val), np.bincount(lab.y_val, minlength=5))
    assert "SMOKE mode" in out.getvalue() and "SYNTHETIC" in out.getvalue()


def test_setup_all_classes_and_cifar10(synthetic_dir, synthetic10_dir):
    lab = course.setup(None, epochs=3, smoke=False, data_dir=synthetic_dir, out=io.StringIO())
    assert lab.num_classes == 100 and lab.epochs == 3 and lab.name == "cifar100"
    ten = course.setup(None, dataset="cifar10", data_dir=synthetic10_dir, out=io.StringIO())
    assert ten.num_classes == 10 and ten.name == "cifar10"
    with pytest.raises(ValueError, match="CIFAR-10 has no superclasses"):
        course.setup("fish", dataset="cifar10")
    with pytest.raises(ValueError, match="`epochs` must be a positive integer"):
        course.setup("fish", epochs=0)


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
