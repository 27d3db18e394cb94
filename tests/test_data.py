import gzip
import pickle
import shutil
import urllib.request
from dataclasses import replace

import numpy as np
import pytest

from cifarlab import data, labels, synthetic

REAL_URLOPEN = urllib.request.urlopen  # conftest blocks the network; file:// tests restore it
MAMMALS = ("fox", "porcupine", "possum", "raccoon", "skunk")


# ----------------------------------------------------------------------------- synthetic format


def test_synthetic_files_are_in_the_official_format(synthetic_dir):
    folder = synthetic_dir / "cifar-100-python"
    assert sorted(p.name for p in folder.iterdir()) == ["meta", "test", "train"]
    with open(folder / "train", "rb") as f:
        d = pickle.load(f, encoding="bytes")
    assert set(d) == {b"batch_label", b"data", b"fine_labels", b"coarse_labels", b"filenames"}
    assert d[b"data"].dtype == np.uint8 and d[b"data"].shape == (2500, 3072)
    assert d[b"batch_label"].startswith(b"SYNTHETIC")
    fine, coarse = np.array(d[b"fine_labels"]), np.array(d[b"coarse_labels"])
    assert np.array_equal(coarse, np.array(labels.FINE_TO_COARSE)[fine])
    assert np.array_equal(np.bincount(fine), [25] * 100)
    with open(folder / "meta", "rb") as f:
        meta = pickle.load(f, encoding="bytes")
    assert [n.decode() for n in meta[b"fine_label_names"]] == list(labels.FINE_LABELS)
    assert [n.decode() for n in meta[b"coarse_label_names"]] == list(labels.COARSE_LABELS)


def test_rows_are_r_g_b_planes(synthetic_dir, cifar100):
    with open(synthetic_dir / "cifar-100-python" / "train", "rb") as f:
        row = pickle.load(f, encoding="bytes")[b"data"][7]
    img = cifar100.x_train[7]
    assert row[0] == img[0, 0, 0] and row[1024] == img[0, 0, 1] and row[2048] == img[0, 0, 2]
    assert row[33] == img[1, 1, 0]  # row-major within a plane


def test_keras_own_reader_accepts_synthetic_files(synthetic_dir, cifar100):
    from keras.src.datasets.cifar import load_batch

    x, y = load_batch(str(synthetic_dir / "cifar-100-python" / "test"), label_key="fine_labels")
    assert np.array_equal(x.transpose(0, 2, 3, 1), cifar100.x_test)
    assert np.array_equal(np.asarray(y), cifar100.y_test)


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a = synthetic.write_synthetic_cifar100(tmp_path / "a", archive=True, train_per_class=2)
    b = synthetic.write_synthetic_cifar100(tmp_path / "b", archive=True, train_per_class=2)
    c = synthetic.write_synthetic_cifar100(tmp_path / "c", archive=True, train_per_class=2, seed=1)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


# ----------------------------------------------------------------------------- loading


def test_load_returns_both_label_levels_and_marks_synthetic(cifar100):
    assert cifar100.x_train.shape == (2500, 32, 32, 3) and cifar100.x_train.dtype == np.uint8
    assert cifar100.x_test.shape == (500, 32, 32, 3)
    assert cifar100.y_train.dtype == np.int64 and cifar100.y_train.shape == (2500,)
    assert np.array_equal(
        cifar100.y_train_coarse, np.array(labels.FINE_TO_COARSE)[cifar100.y_train]
    )
    assert cifar100.class_names == labels.FINE_LABELS
    assert cifar100.coarse_names == labels.COARSE_LABELS
    assert cifar100.synthetic is True
    assert "SYNTHETIC" in cifar100.description and "SYNTHETIC" in repr(cifar100)


def test_every_way_of_pointing_at_the_data(tmp_path, cifar100, synthetic_dir, monkeypatch):
    archive = synthetic.write_synthetic_cifar100(tmp_path / "arch", archive=True)
    ways = [
        synthetic_dir,  # parent folder of cifar-100-python/
        synthetic_dir / "cifar-100-python",  # the folder itself
        archive,  # the archive
        archive.parent,  # folder holding the archive
        str(synthetic_dir),  # a string
    ]
    for way in ways:
        got = data.load_cifar100(way)
        assert np.array_equal(got.x_train, cifar100.x_train), way
        assert np.array_equal(got.y_test_coarse, cifar100.y_test_coarse), way
    monkeypatch.setenv("CIFARLAB_DATA_DIR", str(archive.parent))
    assert np.array_equal(data.load_cifar100().y_train, cifar100.y_train)


def test_reuses_the_keras_cache(tmp_path, monkeypatch, cifar100, synthetic_dir):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    target = tmp_path / "datasets" / "cifar-100-python-target" / "cifar-100-python"
    shutil.copytree(synthetic_dir / "cifar-100-python", target)
    got = data.load_cifar100(download=False)
    assert got.source == str(target)
    assert np.array_equal(got.x_test, cifar100.x_test)


def test_cached_archive_verified_against_checksum(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    archive = synthetic.write_synthetic_cifar100(tmp_path / "home" / "datasets", archive=True)
    # With the matching checksum the cached archive is used ...
    monkeypatch.setattr(data, "CIFAR100", replace(data.CIFAR100, sha256=data.sha256sum(archive)))
    assert data.load_cifar100(download=False).x_train.shape == (2500, 32, 32, 3)
    # ... with the official one it is not trusted, moved aside, and the error says why.
    monkeypatch.setattr(data, "CIFAR100", replace(data.CIFAR100, sha256="0" * 64))
    with pytest.raises(
        data.ChecksumError, match=rf"SHA-256 {data.sha256sum(archive)}, not the official 0{{64}}"
    ):
        data.load_cifar100(download=False)
    assert not archive.exists()
    assert archive.with_name(archive.name + ".corrupt").exists()


def test_cifar10(synthetic10_dir):
    c10 = data.load_cifar10(synthetic10_dir)
    assert c10.class_names == labels.CIFAR10_LABELS
    assert c10.x_train.shape == (500, 32, 32, 3) and np.array_equal(
        np.bincount(c10.y_train), [50] * 10
    )
    assert c10.coarse_names is None and c10.synthetic
    with pytest.raises(ValueError, match="has no superclasses"):
        data.select_superclass(c10, "fish")
    with pytest.raises(data.DataNotFoundError, match="lacks data_batch_1"):
        data.load_cifar10(_strip(synthetic10_dir))


def _strip(root):
    folder = root.parent / "c10_incomplete" / "cifar-10-batches-py"
    shutil.copytree(root / "cifar-10-batches-py", folder)
    (folder / "data_batch_1").unlink()
    return folder


# ----------------------------------------------------------------------------- bad data


def test_missing_dir_names_path_and_files(tmp_path):
    with pytest.raises(
        data.DataNotFoundError, match=r"nowhere does not exist\. Expected .*train, test, meta"
    ):
        data.load_cifar100(tmp_path / "nowhere")


def test_empty_dir(tmp_path):
    with pytest.raises(data.DataNotFoundError, match=r"has no CIFAR-100 data \(it is empty\)"):
        data.load_cifar100(tmp_path)


def test_folder_lacking_a_file(tmp_path, synthetic_dir):
    folder = tmp_path / "cifar-100-python"
    shutil.copytree(synthetic_dir / "cifar-100-python", folder)
    (folder / "meta").unlink()
    with pytest.raises(
        data.DataNotFoundError, match=r"lacks meta\. A CIFAR-100 folder holds: train, test, meta"
    ):
        data.load_cifar100(tmp_path)


def test_bad_env_var_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("CIFARLAB_DATA_DIR", str(tmp_path / "typo"))
    with pytest.raises(data.DataNotFoundError, match=r"\$CIFARLAB_DATA_DIR .*typo does not exist"):
        data.load_cifar100()


def test_truncated_archive_names_file_and_both_hashes(tmp_path):
    archive = synthetic.write_synthetic_cifar100(tmp_path, archive=True)
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    actual = data.sha256sum(archive)
    with pytest.raises(data.CorruptDataError) as info:
        data.load_cifar100(archive)
    msg = str(info.value)
    assert str(archive) in msg and actual in msg and data.CIFAR100.sha256 in msg
    assert "truncated or corrupt" in msg and "Remedy" in msg


def test_not_an_archive(tmp_path):
    bad = tmp_path / "cifar-100-python.tar.gz"
    bad.write_bytes(gzip.compress(b"hello"))
    with pytest.raises(data.CorruptDataError, match="truncated or corrupt archive"):
        data.load_cifar100(bad)


@pytest.mark.parametrize("member", ["../cifar-100-python/meta", "/cifar-100-python/meta", "link"])
def test_unsafe_archive_member_is_refused(tmp_path, synthetic_dir, member):
    import io
    import tarfile

    archive = tmp_path / "cifar-100-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ("train", "test"):
            tar.add(synthetic_dir / "cifar-100-python" / name, f"cifar-100-python/{name}")
        if member == "link":
            info = tarfile.TarInfo("cifar-100-python/meta")
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
        else:
            raw = (synthetic_dir / "cifar-100-python" / "meta").read_bytes()
            info = tarfile.TarInfo(member)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    with pytest.raises(data.CorruptDataError, match="a link, an absolute path or a path with"):
        data.load_cifar100(archive)


def test_malicious_pickle_is_refused(tmp_path, synthetic_dir):
    folder = tmp_path / "cifar-100-python"
    shutil.copytree(synthetic_dir / "cifar-100-python", folder)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (folder / "test").write_bytes(pickle.dumps({b"data": Evil()}))
    with pytest.raises(data.CorruptDataError, match=r"refusing to load builtins\.print"):
        data.load_cifar100(tmp_path)


def test_wrong_shape_in_file(tmp_path, synthetic_dir):
    folder = tmp_path / "cifar-100-python"
    shutil.copytree(synthetic_dir / "cifar-100-python", folder)
    d = {
        b"data": np.zeros((3, 100), np.uint8),
        b"fine_labels": [0, 1, 2],
        b"coarse_labels": [0, 0, 0],
    }
    (folder / "test").write_bytes(pickle.dumps(d, protocol=4))
    with pytest.raises(
        data.CorruptDataError, match=r"'data' has shape \(3, 100\); expected \(N, 3072\)"
    ):
        data.load_cifar100(tmp_path)


# ----------------------------------------------------------------------------- download


def _use_file_url(monkeypatch, archive, sha):
    monkeypatch.setattr(urllib.request, "urlopen", REAL_URLOPEN)
    monkeypatch.setattr(data, "CIFAR100", replace(data.CIFAR100, url=archive.as_uri(), sha256=sha))


def test_download_into_keras_cache_then_reuse(tmp_path, monkeypatch):
    src = synthetic.write_synthetic_cifar100(tmp_path / "server", archive=True)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    _use_file_url(monkeypatch, src, data.sha256sum(src))
    first = data.load_cifar100(verbose=False)
    cached = tmp_path / "home" / "datasets" / "cifar-100-python.tar.gz"
    assert cached.read_bytes() == src.read_bytes()
    src.unlink()  # the second load must not need the server
    second = data.load_cifar100(verbose=False)
    assert second.source == str(cached) and np.array_equal(first.x_train, second.x_train)
    assert [p.name for p in cached.parent.iterdir()] == [cached.name]  # no temp files left


def test_download_checksum_mismatch_keeps_nothing(tmp_path, monkeypatch):
    src = synthetic.write_synthetic_cifar100(tmp_path / "server", archive=True)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    _use_file_url(monkeypatch, src, "f" * 64)
    with pytest.raises(
        data.ChecksumError, match=rf"has SHA-256 {data.sha256sum(src)}; expected f{{64}}"
    ):
        data.load_cifar100(verbose=False)
    assert list((tmp_path / "home" / "datasets").iterdir()) == []


def test_interrupted_download_leaves_no_partial_file(tmp_path, monkeypatch):
    class Broken:
        headers = {"Content-Length": "1000000"}

        def __init__(self):
            self.calls = 0

        def read(self, n):
            self.calls += 1
            if self.calls > 2:
                raise ConnectionResetError("connection lost")
            return b"x" * 1000

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: Broken())
    monkeypatch.setattr(data, "_sleep", lambda seconds: None)  # retried: see test_data_probes
    target = tmp_path / "cache" / "cifar-100-python.tar.gz"
    with pytest.raises(data.DownloadError, match="connection lost; attempt 3 of 3"):
        data.download_archive("http://example.invalid/x", target, sha256="0" * 64, progress=False)
    assert list(target.parent.iterdir()) == []


def test_no_network_says_how_to_work_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(data.DownloadError) as info:
        data.load_cifar100(verbose=False)
    msg = str(info.value)
    assert "network disabled in tests" in msg and "CIFARLAB_DATA_DIR" in msg
    assert str(tmp_path / "datasets" / "cifar-100-python.tar.gz") in msg
    assert "cifarlab synthetic" in msg


def test_download_false_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(
        data.DataNotFoundError, match=r"download=False\. Remedy: put cifar-100-python\.tar\.gz"
    ):
        data.load_cifar100(download=False)


# ----------------------------------------------------------------------------- selection


def _loop_select(x, y, names):
    """The seed 000 way, as a reference: a Python loop and a hand remap."""
    ids = [labels.FINE_LABELS.index(n) for n in names]
    xs, ys = [], []
    for img, lab in zip(x, y, strict=True):
        if lab in ids:
            xs.append(img)
            ys.append(ids.index(lab))
    return np.array(xs), np.array(ys)


def test_select_superclass_matches_the_loop(cifar100):
    for spelling in ("medium mammals", "Medium-Mammals", 12):
        m = data.select_superclass(cifar100, spelling)
        assert m.class_names == MAMMALS
        assert m.name == "CIFAR-100 / medium_mammals" and m.synthetic
        x_ref, y_ref = _loop_select(cifar100.x_train, cifar100.y_train, MAMMALS)
        assert np.array_equal(m.x_train, x_ref) and np.array_equal(m.y_train, y_ref)
        assert np.array_equal(np.bincount(m.y_train), [25] * 5)
        assert np.array_equal(np.bincount(m.y_test), [5] * 5)
        assert set(m.y_train_coarse) == {12}


def test_select_classes_uses_the_given_order(cifar100):
    sel = data.select_classes(cifar100, ["Skunk", "apple"])
    assert sel.class_names == ("skunk", "apple")
    skunk = labels.FINE_LABELS.index("skunk")
    assert np.array_equal(
        sel.y_train == 0, cifar100.y_train[np.isin(cifar100.y_train, [skunk, 0])] == skunk
    )


@pytest.mark.parametrize(
    ("names", "error", "match"),
    [
        ([], ValueError, "`names` is empty"),
        (["fox", "racoon"], ValueError, "Unknown class name 'racoon'. Did you mean 'raccoon'"),
        (["fox", "Fox"], ValueError, "Repeated class names in `names`: fox"),
        ("fox", TypeError, "not one string"),
    ],
)
def test_select_classes_bad_names(cifar100, names, error, match):
    with pytest.raises(error, match=match):
        data.select_classes(cifar100, names)


def test_select_superclass_unknown(cifar100):
    with pytest.raises(ValueError, match="Did you mean 'fish'"):
        data.select_superclass(cifar100, "fishes")


# ----------------------------------------------------------------------------- split


def test_train_val_split_is_stratified_and_seeded(superclass_data):
    x, y = superclass_data.x_train, superclass_data.y_train
    (xt, yt), (xv, yv) = data.train_val_split(x, y, val_fraction=0.2, seed=3)
    assert len(xv) == 100 and len(xt) == 400
    assert np.array_equal(np.bincount(yv), [20] * 5)
    (xt2, _), (xv2, _) = data.train_val_split(x, y, val_fraction=0.2, seed=3)
    assert np.array_equal(xv, xv2)
    (_, _), (xv3, _) = data.train_val_split(x, y, val_fraction=0.2, seed=4)
    assert not np.array_equal(xv, xv3)
    # every image lands in exactly one part
    flat = lambda a: {r.tobytes() for r in a}  # noqa: E731
    assert flat(xt) | flat(xv) == flat(x) and not flat(xt) & flat(xv)


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.1, "0.1", True])
def test_val_fraction_outside_open_interval(superclass_data, fraction):
    with pytest.raises(
        ValueError, match="`val_fraction` must be a number strictly between 0 and 1"
    ):
        data.train_val_split(
            superclass_data.x_train, superclass_data.y_train, val_fraction=fraction
        )


def test_split_too_small_to_stratify(superclass_data):
    with pytest.raises(ValueError, match="Cannot stratify 10 images of 5 classes"):
        data.train_val_split(superclass_data.x_train[:10], np.arange(10) % 5, val_fraction=0.1)


def test_split_mismatched_lengths(superclass_data):
    with pytest.raises(ValueError, match="one integer per image: 500 images"):
        data.train_val_split(superclass_data.x_train, superclass_data.y_train[:-1])


# ----------------------------------------------------------------------------- tf.data


def _collect(ds):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds], strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def test_make_dataset_scales_and_keeps_order_for_evaluation(superclass_data):
    x, y = superclass_data.x_test, superclass_data.y_test
    xs, ys = _collect(data.make_dataset(x, y, batch_size=32, training=False))
    assert xs.dtype == np.float32 and xs.min() >= 0 and xs.max() <= 1
    np.testing.assert_allclose(xs, x / 255.0, atol=1e-6)
    assert np.array_equal(ys, y)


def test_make_dataset_shuffles_with_seed_every_epoch(superclass_data):
    x, y = superclass_data.x_train, superclass_data.y_train
    ds = data.make_dataset(x, y, batch_size=64, training=True, seed=1)
    epoch1, epoch2 = _collect(ds)[1], _collect(ds)[1]
    again = _collect(data.make_dataset(x, y, batch_size=64, training=True, seed=1))[1]
    assert np.array_equal(epoch1, again)  # same seed, same order
    assert not np.array_equal(epoch1, epoch2)  # a new order every epoch
    assert not np.array_equal(epoch1, y)
    assert np.array_equal(np.sort(epoch1), np.sort(y))


def test_augmentation_only_when_training(superclass_data):
    calls = []

    def augment(x, training=False):
        calls.append(training)
        return 1.0 - x

    x, y = superclass_data.x_test[:8], superclass_data.y_test[:8]
    xs, _ = _collect(data.make_dataset(x, y, batch_size=8, training=False, augment=augment))
    np.testing.assert_allclose(xs, x / 255.0, atol=1e-6)
    xs, _ = _collect(data.make_dataset(x, y, batch_size=8, training=True, augment=augment, seed=0))
    assert calls == [True]
    np.testing.assert_allclose(np.sort(xs.ravel()), np.sort(1.0 - x.ravel() / 255.0), atol=1e-6)


@pytest.mark.parametrize(
    ("images", "labels_", "kwargs", "match"),
    [
        (np.zeros((4, 32, 32), np.uint8), np.zeros(4, int), {}, r"shape \(N, height, width, 3\)"),
        (np.zeros((0, 32, 32, 3), np.uint8), np.zeros(0, int), {}, "is empty"),
        (np.zeros((4, 32, 32, 3), np.uint8), np.zeros(3, int), {}, "one integer per image"),
        (np.zeros((4, 32, 32, 3), np.uint8), -np.ones(4, int), {}, "must be 0 or more"),
        (np.full((4, 32, 32, 3), 200.0, np.float32), np.zeros(4, int), {}, r"scaled to \[0, 1\]"),
        (np.zeros((4, 32, 32, 3), np.uint8), np.zeros(4, int), {"batch_size": 0}, "batch_size"),
    ],
)
def test_make_dataset_bad_input(images, labels_, kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.make_dataset(images, labels_, training=True, **kwargs)


def test_set_seed_makes_keras_reproducible():
    import keras

    import cifarlab

    cifarlab.set_seed(7)
    a = keras.random.uniform((3,)).numpy()
    cifarlab.set_seed(7)
    assert np.array_equal(a, keras.random.uniform((3,)).numpy())
    with pytest.raises(ValueError, match=r"Expected `seed` >= 0. Received: seed=-1"):
        cifarlab.set_seed(-1)
