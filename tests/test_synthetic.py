"""The SYNTHETIC generator: official format, determinism, class and family structure."""

import pickle

import numpy as np
import pytest

from cifarlab import data, labels, synthetic

COARSE = np.asarray(labels.FINE_TO_COARSE)


@pytest.fixture(scope="module")
def c100_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn100")
    synthetic.write_synthetic_cifar100(root, train_per_class=20, test_per_class=4, seed=3)
    return root


@pytest.fixture(scope="module")
def c100(c100_dir):
    return data.load_cifar100(c100_dir)


def _read(path):
    with open(path, "rb") as f:
        return pickle.load(f, encoding="bytes")


def test_cifar100_files_are_official_and_marked(c100_dir):
    folder = c100_dir / "cifar-100-python"
    assert sorted(p.name for p in folder.iterdir()) == ["meta", "test", "train"]
    for name, n in (("train", 2000), ("test", 400)):
        d = _read(folder / name)
        assert set(d) == {b"batch_label", b"data", b"fine_labels", b"coarse_labels", b"filenames"}
        assert d[b"batch_label"].startswith(data.SYNTHETIC_MARK)
        assert d[b"data"].dtype == np.uint8 and d[b"data"].shape == (n, 3072)
        fine, coarse = np.array(d[b"fine_labels"]), np.array(d[b"coarse_labels"])
        assert np.array_equal(coarse, COARSE[fine])
        assert np.array_equal(np.bincount(fine, minlength=100), [n // 100] * 100)
    meta = _read(folder / "meta")
    assert [n.decode() for n in meta[b"fine_label_names"]] == list(labels.FINE_LABELS)
    assert [n.decode() for n in meta[b"coarse_label_names"]] == list(labels.COARSE_LABELS)


def test_loaders_read_it(c100_dir, c100):
    from keras.src.datasets.cifar import load_batch

    assert c100.synthetic and "SYNTHETIC" in c100.description
    assert np.array_equal(c100.y_train_coarse, COARSE[c100.y_train])
    x, y = load_batch(str(c100_dir / "cifar-100-python" / "test"), label_key="fine_labels")
    assert np.array_equal(x.transpose(0, 2, 3, 1), c100.x_test)
    assert np.array_equal(np.asarray(y), c100.y_test)


def test_cifar10_folder_and_archive(tmp_path):
    from keras.src.datasets.cifar import load_batch

    folder = synthetic.write_synthetic_cifar10(tmp_path / "f", train_per_class=5, test_per_class=2)
    archive = synthetic.write_synthetic_cifar10(
        tmp_path / "a", train_per_class=5, test_per_class=2, archive=True
    )
    assert archive.name == "cifar-10-python.tar.gz"
    a, b = data.load_cifar10(folder), data.load_cifar10(archive)
    assert a.synthetic and a.class_names == labels.CIFAR10_LABELS
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)
    assert np.array_equal(np.bincount(a.y_train), [5] * 10) and len(a.x_test) == 20
    x, y = load_batch(str(folder / "data_batch_1"), label_key="labels")
    assert np.array_equal(x.transpose(0, 2, 3, 1), a.x_train[:10])
    assert _read(folder / "test_batch")[b"batch_label"].startswith(b"SYNTHETIC")


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    def write(name, seed):
        return synthetic.write_synthetic_cifar100(
            tmp_path / name, train_per_class=2, test_per_class=1, seed=seed, archive=True
        ).read_bytes()

    assert write("a", 0) == write("b", 0) != write("c", 1)
    folder = synthetic.write_synthetic_cifar100(tmp_path / "f", train_per_class=2, test_per_class=1)
    arch = data.load_cifar100(tmp_path / "a")
    assert np.array_equal(data.load_cifar100(folder).x_train, arch.x_train)


def _class_means(x, y, n):
    """Mean image of each class, 8 x 8 pixels in colour: a crude class 'look'."""
    small = x.reshape(len(x), 8, 4, 8, 4, 3).mean((2, 4)).reshape(len(x), -1)
    return np.stack([small[y == c].mean(0) for c in range(n)])


def test_classes_differ_and_images_vary(c100):
    means = _class_means(c100.x_train, c100.y_train, 100)
    dist = np.linalg.norm(means[:, None] - means[None], axis=-1)
    assert dist[~np.eye(100, dtype=bool)].min() > 0  # no two classes alike
    x = c100.x_train.astype(np.float32)
    assert x.std(0).mean() > 40  # pose, background and colour vary a lot within the data
    assert len(np.unique(c100.x_train.reshape(len(x), -1), axis=0)) == len(x)


def test_family_resemblance_within_a_superclass(c100):
    """Class looks are closer to their superclass siblings than to other classes."""
    means = _class_means(c100.x_train, c100.y_train, 100)
    dist = np.linalg.norm(means[:, None] - means[None], axis=-1)
    same = COARSE[:, None] == COARSE[None]
    within = dist[same & ~np.eye(100, dtype=bool)].mean()
    assert within < 0.8 * dist[~same].mean()


def test_cifar10_has_vehicles_and_animals_as_families(tmp_path):
    c10 = data.load_cifar10(synthetic.write_synthetic_cifar10(tmp_path, train_per_class=40))
    means = _class_means(c10.x_train, c10.y_train, 10)
    dist = np.linalg.norm(means[:, None] - means[None], axis=-1)
    fam = np.asarray(synthetic.CIFAR10_FAMILIES)
    same = (fam[:, None] == fam[None]) & ~np.eye(10, dtype=bool)
    assert dist[same].mean() < dist[fam[:, None] != fam[None]].mean()
    assert [labels.CIFAR10_LABELS[i] for i in np.flatnonzero(fam == 0)] == [
        "airplane", "automobile", "ship", "truck"
    ]


BAD_COUNTS = [
    ("train_per_class", 0, ValueError, "Expected `train_per_class` >= 1. Received: .*=0"),
    ("test_per_class", -3, ValueError, "Expected `test_per_class` >= 1. Received: .*=-3"),
    ("train_per_class", 2.5, TypeError, "`train_per_class` must be an integer >= 1. .*=2.5"),
    ("test_per_class", True, TypeError, "`test_per_class` must be an integer >= 1. .*=True"),
]
WRITERS = [synthetic.write_synthetic_cifar100, synthetic.write_synthetic_cifar10]


@pytest.mark.parametrize(("arg", "bad", "error", "match"), BAD_COUNTS)
@pytest.mark.parametrize("writer", WRITERS)
def test_bad_counts_rejected_and_nothing_written(tmp_path, writer, arg, bad, error, match):
    with pytest.raises(error, match=match):
        writer(tmp_path, **{arg: bad})
    assert not any(tmp_path.iterdir())
