"""Issue 14's probes on the data layer: each gets a named error (or the right result), and
nothing the user had is lost or overwritten."""

import gzip
import io
import pickle
import shutil
import tarfile
import urllib.error
import urllib.request
from dataclasses import replace

import numpy as np
import pytest

from cifarlab import course, data, labels, synthetic


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A tiny SYNTHETIC CIFAR-100 folder and CIFAR-10 folder, copied by each test."""
    root = tmp_path_factory.mktemp("small")
    synthetic.write_synthetic_cifar100(root, train_per_class=2, test_per_class=1)
    synthetic.write_synthetic_cifar10(root, train_per_class=2, test_per_class=1)
    return root


def _copy(small, tmp_path, folder="cifar-100-python"):
    shutil.copytree(small / folder, tmp_path / folder)
    return tmp_path / folder


def _tamper(path, **changes):
    """Rewrite a pickled CIFAR file with some keys changed (or removed: None)."""
    d = pickle.loads(path.read_bytes(), encoding="bytes")
    for key, value in changes.items():
        d.pop(key.encode(), None) if value is None else d.__setitem__(key.encode(), value)
    path.write_bytes(pickle.dumps(d, protocol=4))


def _sums(root):
    return {p.relative_to(root): data.sha256sum(p) for p in sorted(root.rglob("*")) if p.is_file()}


def _as_real(folder, files):
    """Make SYNTHETIC files look like real CIFAR (their batch_label loses SYNTHETIC)."""
    for name in files:
        _tamper(folder / name, batch_label=b"training batch 1 of 1")


# ----------------------------------------------------------------- 1: never replace real data


def test_synthetic_writer_refuses_real_data_then_moves_it_aside(tmp_path, small):
    folder = _copy(small, tmp_path)
    _as_real(folder, ["train", "test"])
    before = _sums(tmp_path)
    with pytest.raises(FileExistsError, match="not SYNTHETIC") as info:
        synthetic.write_synthetic_cifar100(tmp_path, train_per_class=2, test_per_class=1)
    assert str(folder) in str(info.value) and "overwrite=True" in str(info.value)
    assert "--overwrite" in str(info.value) and "cifar-100-python.kept" in str(info.value)
    assert _sums(tmp_path) == before  # nothing touched
    assert not data.load_cifar100(tmp_path).synthetic

    written = synthetic.write_synthetic_cifar100(tmp_path, train_per_class=2, test_per_class=1,
                                                 overwrite=True)
    assert written == folder and data.load_cifar100(tmp_path).synthetic
    kept = tmp_path / "cifar-100-python.kept"
    assert _sums(kept) == {p.relative_to("cifar-100-python"): s for p, s in before.items()}
    # A second real folder moved aside does not overwrite the first one kept.
    _as_real(folder, ["train"])
    second = _sums(folder)
    synthetic.write_synthetic_cifar100(tmp_path, train_per_class=2, test_per_class=1,
                                       overwrite=True)
    assert _sums(tmp_path / "cifar-100-python-2.kept") == second
    assert _sums(kept) == {p.relative_to("cifar-100-python"): s for p, s in before.items()}


@pytest.mark.parametrize("writer", [synthetic.write_synthetic_cifar100,
                                    synthetic.write_synthetic_cifar10])
def test_an_archive_that_is_not_synthetic_is_kept(tmp_path, writer):
    name = "cifar-100-python.tar.gz" if writer is synthetic.write_synthetic_cifar100 else (
        "cifar-10-python.tar.gz")
    (archive := tmp_path / name).write_bytes(b"my download, half done")
    with pytest.raises(FileExistsError, match="not SYNTHETIC.*overwrite=True") as info:
        writer(tmp_path, train_per_class=1, test_per_class=1, archive=True)
    assert str(archive) in str(info.value)
    assert archive.read_bytes() == b"my download, half done"
    writer(tmp_path, train_per_class=1, test_per_class=1, archive=True, overwrite=True)
    assert (tmp_path / f"{name}.kept").read_bytes() == b"my download, half done"
    assert data.load_cifar100(archive).synthetic if "100" in name else (
        data.load_cifar10(archive).synthetic)


def test_a_real_looking_archive_is_kept(tmp_path, small):
    folder = _copy(small, tmp_path / "src")
    _as_real(folder, ["train", "test"])
    archive = tmp_path / "cifar-100-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, "cifar-100-python")
    before = data.sha256sum(archive)
    assert not data.load_cifar100(archive).synthetic
    with pytest.raises(FileExistsError, match="not SYNTHETIC: kept. overwrite=True"):
        synthetic.write_synthetic_cifar100(tmp_path, train_per_class=1, archive=True)
    assert data.sha256sum(archive) == before


def test_real_cifar10_folder_is_refused(tmp_path, small):
    folder = _copy(small, tmp_path, "cifar-10-batches-py")
    _as_real(folder, ["data_batch_3"])
    before = _sums(tmp_path)
    with pytest.raises(FileExistsError, match="cifar-10-batches-py holds data that is not SYN"):
        synthetic.write_synthetic_cifar10(tmp_path, train_per_class=2, test_per_class=1)
    assert _sums(tmp_path) == before


def test_synthetic_data_is_replaced_freely(tmp_path, small):
    """Notebooks, course.get_cifar and tests rewrite their SYNTHETIC data (even a half one)."""
    for archive in (False, True):
        a = synthetic.write_synthetic_cifar100(tmp_path, train_per_class=1, test_per_class=1,
                                               archive=archive)
        first = data.sha256sum(a) if archive else data.sha256sum(a / "train")
        b = synthetic.write_synthetic_cifar100(tmp_path, train_per_class=1, test_per_class=1,
                                               archive=archive, seed=1)
        assert (data.sha256sum(b) if archive else data.sha256sum(b / "train")) != first
    (tmp_path / "cifar-100-python" / "meta").unlink()  # an interrupted earlier write
    synthetic.write_synthetic_cifar100(tmp_path, train_per_class=1, test_per_class=1)
    assert data.load_cifar100(tmp_path).synthetic
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar-100-python",
                                                          "cifar-100-python.tar.gz"]


# ----------------------------------------------------------------- 2: labels and pixels checked


def _rows(small):
    return pickle.loads((small / "cifar-100-python" / "test").read_bytes(), encoding="bytes")


def _with(value, at, array):
    array = np.array(array)
    array.flat[at] = value
    return array


BAD_BATCHES = [  # (what to change in `test`, words of the message)
    (lambda d: {"fine_labels": _with(-1, 3, d[b"fine_labels"]).tolist()},
     "'fine_labels' holds 1 out of range: -1; expected integers 0..99"),
    (lambda d: {"fine_labels": _with(150, 0, d[b"fine_labels"]).tolist()},
     "'fine_labels' holds 1 out of range: 150"),
    (lambda d: {"coarse_labels": _with(25, 1, d[b"coarse_labels"]).tolist()},
     "'coarse_labels' holds 1 out of range: 25; expected integers 0..19"),
    (lambda d: {"coarse_labels": [(c + 1) % 20 if i == 7 else c
                                  for i, c in enumerate(d[b"coarse_labels"])]},
     "'coarse_labels' contradict the official fine->coarse map for 1 images .image 7"),
    (lambda d: {"data": _with(257, 5, d[b"data"].astype(np.int64))},
     "'data' holds 1 out of range: 257; expected integers 0..255"),
    (lambda d: {"data": _with(-1, 5, d[b"data"].astype(np.int64))}, "'data' holds 1 out of "),
    (lambda d: {"data": _with(300.7, 5, d[b"data"].astype(np.float64))},
     "'data' holds float64 values"),
    (lambda d: {"data": d[b"data"].astype(object)}, "'data' holds object values"),
    (lambda d: {"data": d[b"data"].astype("S3")}, "'data' holds |S3 values"),
    (lambda d: {"fine_labels": [str(v).encode() for v in d[b"fine_labels"]]},
     "'fine_labels' holds |S2 values"),
    (lambda d: {"fine_labels": [[1, 2], [3]] + d[b"fine_labels"][2:]},
     "'fine_labels' holds object values"),
]


@pytest.mark.parametrize(("change", "words"), BAD_BATCHES)
def test_bad_labels_or_pixels_are_named(tmp_path, small, change, words):
    folder = _copy(small, tmp_path)
    _tamper(folder / "test", **change(_rows(small)))
    before = _sums(tmp_path)
    with pytest.raises(data.CorruptDataError, match=words) as info:
        data.load_cifar100(tmp_path)
    assert str(folder / "test") in str(info.value) and "Remedy" in str(info.value)
    assert _sums(tmp_path) == before


def test_integer_pixels_in_range_load_as_uint8(tmp_path, small):
    folder = _copy(small, tmp_path)
    _tamper(folder / "test", data=_rows(small)[b"data"].astype(np.int64))
    got = data.load_cifar100(tmp_path)
    assert got.x_test.dtype == np.uint8
    assert np.array_equal(got.x_test, data.load_cifar100(small).x_test)


BAD_META = [
    ({"fine_label_names": [b"apple", b"bear", b"fox"]}, "'fine_label_names' holds 3 names"),
    ({"fine_label_names": [n.encode() for n in labels.FINE_LABELS[:99]] + [b"apple"]},
     "'fine_label_names' holds 100 names, 99 distinct; expected 100 distinct"),
    ({"coarse_label_names": [b"fish"] * 20}, "'coarse_label_names' holds 20 names, 1 distinct"),
    ({"coarse_label_names": 7}, "'coarse_label_names' holds 0 names"),
]


@pytest.mark.parametrize(("change", "words"), BAD_META)
def test_meta_must_name_every_class_once(tmp_path, small, change, words):
    folder = _copy(small, tmp_path)
    _tamper(folder / "meta", **change)
    with pytest.raises(data.CorruptDataError, match=words) as info:
        data.load_cifar100(tmp_path)
    assert str(folder / "meta") in str(info.value)


def test_cifar10_labels_and_meta_are_checked(tmp_path, small):
    folder = _copy(small, tmp_path, "cifar-10-batches-py")
    _tamper(folder / "data_batch_2", labels=[10] + [0] * 19)
    with pytest.raises(data.CorruptDataError, match=r"data_batch_2: 'labels' holds 1 out of "
                                                    r"range: 10; expected integers 0\.\.9"):
        data.load_cifar10(tmp_path)
    shutil.copy(small / "cifar-10-batches-py" / "data_batch_2", folder / "data_batch_2")
    _tamper(folder / "batches.meta", label_names=[b"cat", b"dog", b"cat"])
    with pytest.raises(data.CorruptDataError, match="'label_names' holds 3 names, 2 distinct"):
        data.load_cifar10(tmp_path)


# ----------------------------------------------------------------- 6: a download cut short


class _Stream:
    """A response that sends ``payload``, or raises ``error`` after ``cut`` bytes."""

    def __init__(self, payload, cut=None, error=None):
        self.body, self.cut = io.BytesIO(payload), cut
        self.error = error or ConnectionResetError("connection reset by peer")
        self.headers = {"Content-Length": str(len(payload))}

    def read(self, n=-1):
        if self.cut is not None and self.body.tell() >= self.cut:
            raise self.error
        return self.body.read(n if self.cut is None else min(n, self.cut - self.body.tell()))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.fixture
def net(monkeypatch):
    """``net(responses)``: urlopen answers them in turn; returns the sleeps taken."""
    sleeps = []
    monkeypatch.setattr(data, "_sleep", sleeps.append)

    def serve(responses):
        answers = iter(responses)

        def urlopen(url, timeout=None):
            answer = next(answers)
            if isinstance(answer, BaseException):
                raise answer
            return answer

        monkeypatch.setattr(urllib.request, "urlopen", urlopen)
        return sleeps

    return serve


PAYLOAD = bytes(range(256)) * 8192  # 2 MiB: more than one chunk


def test_a_reset_every_time_gives_the_offline_advice(tmp_path, net):
    sleeps = net([_Stream(PAYLOAD, cut=1_500_000) for _ in range(3)])
    target = tmp_path / "cache" / "cifar-100-python.tar.gz"
    with pytest.raises(data.DownloadError) as info:
        data.download_archive("http://x/c.tar.gz", target, sha256="0" * 64, progress=False)
    msg = str(info.value)
    assert "connection reset by peer" in msg and "attempt 3 of 3" in msg
    assert "cifarlab synthetic" in msg and "CIFARLAB_DATA_DIR" in msg and str(target) in msg
    assert sleeps == [1, 2]
    assert list(target.parent.iterdir()) == []  # no half file, under any name


@pytest.mark.parametrize("first", [
    _Stream(PAYLOAD, cut=1_000), _Stream(PAYLOAD, cut=0, error=TimeoutError("timed out")),
    urllib.error.URLError(TimeoutError("timed out"))])
def test_a_second_attempt_that_works_is_kept(tmp_path, net, first):
    import hashlib

    sleeps = net([first, _Stream(PAYLOAD)])
    target = tmp_path / "cifar-100-python.tar.gz"
    got = data.download_archive("http://x/c.tar.gz", target,
                                sha256=hashlib.sha256(PAYLOAD).hexdigest(), progress=False)
    assert got == target and target.read_bytes() == PAYLOAD and sleeps == [1]
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_no_network_is_not_retried(tmp_path, net):
    sleeps = net([urllib.error.URLError("Name or service not known")])
    with pytest.raises(data.DownloadError, match="Name or service not known; attempt 1 of 3"):
        data.download_archive("http://x/c.tar.gz", tmp_path / "a.tar.gz", sha256="0" * 64)
    assert sleeps == []


def test_notebooks_fall_back_to_synthetic_when_the_download_breaks(tmp_path, net):
    net([_Stream(PAYLOAD, cut=10) for _ in range(3)])
    out = io.StringIO()
    got = course.get_cifar("cifar100", synthetic_dir=tmp_path, train_per_class=1,
                           test_per_class=1, out=out)
    assert got.synthetic and "connection reset by peer" in out.getvalue()


# ----------------------------------------------------------------- 9: size limits


def test_a_member_whose_header_says_huge_is_refused_unread(tmp_path, small):
    header = tarfile.TarInfo("cifar-100-python/train")
    header.size = 1 << 30  # 1 GiB claimed; a few bytes follow
    archive = tmp_path / "cifar-100-python.tar.gz"
    archive.write_bytes(gzip.compress(header.tobuf() + b"\0" * 4096))
    before = data.sha256sum(archive)
    with pytest.raises(data.CorruptDataError, match=r"'cifar-100-python/train' of 1,073,741,824 "
                                                    r"bytes, more than a CIFAR-100 file"):
        data.load_cifar100(archive)
    assert data.sha256sum(archive) == before


def test_the_bound_is_checked_before_reading(tmp_path, monkeypatch):
    archive = synthetic.write_synthetic_cifar100(tmp_path, train_per_class=1, archive=True)
    read = []
    real = tarfile.TarFile.extractfile
    monkeypatch.setattr(tarfile.TarFile, "extractfile",
                        lambda self, m: read.append(m.name) or real(self, m))
    monkeypatch.setattr(data, "MAX_MEMBER", 50_000)  # train is 307 kB, test 1.5 MB, meta 1.5 kB
    with pytest.raises(data.CorruptDataError, match="'cifar-100-python/train' of .* refused unr"):
        data.load_cifar100(archive)
    assert "cifar-100-python/train" not in read


# ----------------------------------------------------------------- 11: moved aside twice


def test_a_second_corrupt_archive_does_not_replace_the_first(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(data, "CIFAR100", replace(data.CIFAR100, sha256="0" * 64))
    cache = tmp_path / "home" / "datasets"
    sums = []
    for seed in (1, 2):
        archive = synthetic.write_synthetic_cifar100(cache, train_per_class=1, test_per_class=1,
                                                     archive=True, seed=seed)
        sums.append(data.sha256sum(archive))
        with pytest.raises(data.ChecksumError, match="moved to"):
            data.load_cifar100(download=False)
    assert data.sha256sum(cache / "cifar-100-python.tar.gz.corrupt") == sums[0]
    assert data.sha256sum(cache / "cifar-100-python.tar.gz-2.corrupt") == sums[1]
