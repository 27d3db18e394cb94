"""Load, verify, select, split and feed CIFAR-100 / CIFAR-10.

The one-call path a student needs::

    from cifarlab import data
    cifar = data.load_cifar100()                       # both label levels, names
    mammals = data.select_superclass(cifar, "medium mammals")
    (x_tr, y_tr), (x_val, y_val) = data.train_val_split(mammals.x_train, mammals.y_train)
    train_ds = data.make_dataset(x_tr, y_tr, batch_size=64, training=True)

Where the data comes from, in order: the ``data_dir`` argument, the
``CIFARLAB_DATA_DIR`` environment variable, the Keras cache (a copy that
``keras.datasets.cifar100`` already downloaded is reused), then a download from
the official URL, verified against its published SHA-256.

Offline, ``write_synthetic_cifar100`` writes a small dataset in the exact official
format (``cifarlab synthetic DIR`` from a shell). Everything loaded from it is marked
``synthetic=True`` and described as SYNTHETIC, so it is never mistaken for CIFAR.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import os
import pickle
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cifarlab import labels as _labels
from cifarlab._files import atomic_write

__all__ = [
    "CIFAR10",
    "CIFAR100",
    "ChecksumError",
    "CifarData",
    "CorruptDataError",
    "DataNotFoundError",
    "DownloadError",
    "load_cifar10",
    "load_cifar100",
    "make_dataset",
    "scale_images",
    "select_classes",
    "select_superclass",
    "subsample",
    "train_val_split",
    "write_synthetic_cifar10",
    "write_synthetic_cifar100",
]

ENV_VAR = "CIFARLAB_DATA_DIR"
SYNTHETIC_MARK = b"SYNTHETIC"


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class ArchiveSpec:
    """Where an official CIFAR archive lives and what is inside it."""

    name: str  # "CIFAR-100"
    url: str
    sha256: str
    archive: str  # file name of the .tar.gz
    folder: str  # top folder inside the archive
    train_files: tuple[str, ...]
    test_file: str
    meta_file: str
    label_key: str  # "fine_labels" or "labels"
    # Where keras.datasets.* keeps its copy, relative to <KERAS_HOME>/datasets.
    keras_cache: tuple[str, ...]

    @property
    def files(self) -> tuple[str, ...]:
        return (*self.train_files, self.test_file, self.meta_file)


CIFAR100 = ArchiveSpec(
    name="CIFAR-100",
    url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
    sha256="85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
    archive="cifar-100-python.tar.gz",
    folder="cifar-100-python",
    train_files=("train",),
    test_file="test",
    meta_file="meta",
    label_key="fine_labels",
    keras_cache=(
        "cifar-100-python-target/cifar-100-python",  # Keras >= 3.6 (extracted)
        "cifar-100-python",  # Keras 2 and early Keras 3 (extracted)
        "cifar-100-python.tar.gz",  # where cifarlab downloads to
        "cifar-100-python-target_archive",  # Keras >= 3.6 (archive)
    ),
)

CIFAR10 = ArchiveSpec(
    name="CIFAR-10",
    url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    sha256="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
    archive="cifar-10-python.tar.gz",
    folder="cifar-10-batches-py",
    train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
    test_file="test_batch",
    meta_file="batches.meta",
    label_key="labels",
    keras_cache=(
        "cifar-10-batches-py-target/cifar-10-batches-py",
        "cifar-10-batches-py",
        "cifar-10-python.tar.gz",
        "cifar-10-batches-py-target_archive",
    ),
)


# --------------------------------------------------------------------------- errors


class DataNotFoundError(FileNotFoundError):
    """The data set is not where it was asked for, or lacks a file."""


class CorruptDataError(ValueError):
    """A data file exists but cannot be read as the official format."""


class ChecksumError(CorruptDataError):
    """An archive's SHA-256 is not the published one."""


class DownloadError(RuntimeError):
    """The archive could not be downloaded (for example: no network)."""


# --------------------------------------------------------------------------- the value


@dataclass(frozen=True, eq=False)
class CifarData:
    """Train and test images with their labels and class names.

    Images are ``uint8`` arrays of shape ``(N, 32, 32, 3)``; labels are ``int64``
    arrays of shape ``(N,)`` indexing ``class_names``. CIFAR-100 data also carries
    the coarse (superclass) labels and names. ``synthetic`` is True when the data
    came from :func:`write_synthetic_cifar100` and not from the real archive.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    name: str
    synthetic: bool
    source: str
    y_train_coarse: np.ndarray | None = None
    y_test_coarse: np.ndarray | None = None
    coarse_names: tuple[str, ...] | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def description(self) -> str:
        """A one-line name that says SYNTHETIC when the data is not real CIFAR."""
        if self.synthetic:
            return f"{self.name} (SYNTHETIC data, not real CIFAR)"
        return self.name

    def __repr__(self) -> str:
        return (
            f"CifarData({self.description}: {len(self.x_train):,} train / "
            f"{len(self.x_test):,} test images, {self.num_classes} classes, "
            f"from {self.source})"
        )


# --------------------------------------------------------------------------- reading


class _SafeUnpickler(pickle.Unpickler):
    """Unpickles only what the official CIFAR files contain.

    A pickle can run arbitrary code, and an archive from a download folder is
    untrusted input: dicts, lists, bytes, ints and NumPy arrays are allowed,
    anything else is refused.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refusing to load {module}.{name}: not part of the official CIFAR format"
        )


def _unpickle(raw: bytes, where: str) -> dict[str, object]:
    try:
        obj = _SafeUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as err:
        raise CorruptDataError(
            f"{where} is not a valid CIFAR batch file ({err}). Remedy: delete it and "
            "download the archive again, or write a fresh synthetic copy."
        ) from err
    if not isinstance(obj, dict):
        raise CorruptDataError(f"{where} does not hold a dict as CIFAR batch files do.")
    return {k.decode("utf8") if isinstance(k, bytes) else str(k): v for k, v in obj.items()}


def _decode(names: Sequence[bytes | str]) -> tuple[str, ...]:
    return tuple(n.decode("utf8") if isinstance(n, bytes) else str(n) for n in names)


def _parse_batch(d: dict[str, object], where: str, label_keys: Sequence[str]):
    for key in ("data", *label_keys):
        if key not in d:
            raise CorruptDataError(
                f"{where} lacks the key {key!r}; found {sorted(d)}. It is not an official "
                "CIFAR batch file (or belongs to the other CIFAR data set)."
            )
    flat = np.asarray(d["data"], dtype=np.uint8)
    if flat.ndim != 2 or flat.shape[1] != 3072:
        raise CorruptDataError(
            f"{where}: 'data' has shape {flat.shape}; expected (N, 3072) rows of R, G, B planes."
        )
    images = flat.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    out = [np.ascontiguousarray(images)]
    for key in label_keys:
        y = np.asarray(d[key], dtype=np.int64)
        if y.shape != (len(images),):
            raise CorruptDataError(
                f"{where}: {len(y)} {key!r} for {len(images)} images; expected one label each."
            )
        out.append(y)
    synthetic = bytes(d.get("batch_label", b"")).startswith(SYNTHETIC_MARK)
    return out, synthetic


def _read_files(source: Path, spec: ArchiveSpec) -> dict[str, bytes]:
    """Read the raw bytes of every file of ``spec`` from a folder or a .tar.gz, one pass."""
    wanted = set(spec.files)
    if source.is_dir():
        missing = [f for f in spec.files if not (source / f).is_file()]
        if missing:
            raise DataNotFoundError(
                f"{source} lacks {', '.join(missing)}. A {spec.name} folder holds: "
                f"{', '.join(spec.files)}."
            )
        return {f: (source / f).read_bytes() for f in spec.files}
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(source, "r:*") as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and base in wanted and base not in found:
                    found[base] = tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, OSError, gzip.BadGzipFile, ValueError) as err:
        raise CorruptDataError(_corrupt_archive_message(source, spec, err)) from err
    missing = [f for f in spec.files if f not in found]
    if missing:
        raise CorruptDataError(
            _corrupt_archive_message(source, spec, f"it lacks {', '.join(missing)}")
        )
    return found


def sha256sum(path: str | os.PathLike) -> str:
    """The SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _corrupt_archive_message(source: Path, spec: ArchiveSpec, reason: object) -> str:
    return (
        f"Cannot read {source}: truncated or corrupt archive ({reason}). "
        f"Its SHA-256 is {sha256sum(source)}; the official {spec.archive} has "
        f"{spec.sha256}. Remedy: delete {source} and download it again "
        f"({spec.url}), or write a synthetic copy with `cifarlab synthetic DIR`."
    )


def _load_from(source: Path, spec: ArchiveSpec) -> CifarData:
    raw = _read_files(source, spec)
    label_keys = ["fine_labels", "coarse_labels"] if spec is CIFAR100 else [spec.label_key]
    train_parts, synthetic = [], False
    for f in spec.train_files:
        arrays, synth = _parse_batch(
            _unpickle(raw[f], f"{source}/{f}"), f"{source}/{f}", label_keys
        )
        train_parts.append(arrays)
        synthetic |= synth
    test, synth = _parse_batch(
        _unpickle(raw[spec.test_file], f"{source}/{spec.test_file}"),
        f"{source}/{spec.test_file}",
        label_keys,
    )
    synthetic |= synth
    meta = _unpickle(raw[spec.meta_file], f"{source}/{spec.meta_file}")
    train = [np.concatenate(parts) for parts in zip(*train_parts, strict=True)]
    if spec is CIFAR100:
        class_names = _decode(meta.get("fine_label_names", _labels.FINE_LABELS))
        coarse = _decode(meta.get("coarse_label_names", _labels.COARSE_LABELS))
        return CifarData(
            x_train=train[0],
            y_train=train[1],
            x_test=test[0],
            y_test=test[1],
            class_names=class_names,
            name=spec.name,
            synthetic=synthetic,
            source=str(source),
            y_train_coarse=train[2],
            y_test_coarse=test[2],
            coarse_names=coarse,
        )
    return CifarData(
        x_train=train[0],
        y_train=train[1],
        x_test=test[0],
        y_test=test[1],
        class_names=_decode(meta.get("label_names", _labels.CIFAR10_LABELS)),
        name=spec.name,
        synthetic=synthetic,
        source=str(source),
    )


# --------------------------------------------------------------------------- locating


def keras_cache_dir() -> Path:
    """``<KERAS_HOME>/datasets``, where ``keras.datasets`` keeps its downloads."""
    home = Path(os.environ.get("KERAS_HOME", Path("~") / ".keras")).expanduser()
    if home.exists() and not os.access(home, os.W_OK):
        home = Path(tempfile.gettempdir()) / ".keras"  # as Keras does
    return home / "datasets"


def _resolve_given(path: Path, spec: ArchiveSpec, what: str) -> Path:
    """Turn a user-given path into a folder with the files, or an archive."""
    expected = (
        f"a folder with {spec.folder}/ (holding {', '.join(spec.files)}), or with "
        f"{spec.archive}, or those files directly, or the path of {spec.archive} itself"
    )
    if not path.exists():
        raise DataNotFoundError(f"{what} {path} does not exist. Expected {expected}.")
    if path.is_file():
        return path
    for candidate in (path / spec.folder, path):
        if candidate.is_dir() and any((candidate / f).exists() for f in spec.files):
            return candidate  # _read_files names any missing file
    if (path / spec.archive).is_file():
        return path / spec.archive
    contents = sorted(p.name for p in path.iterdir())[:10]
    raise DataNotFoundError(
        f"{what} {path} has no {spec.name} data "
        f"({'it is empty' if not contents else 'it holds ' + ', '.join(contents)}). "
        f"Expected {expected}."
    )


def _load(spec: ArchiveSpec, data_dir, download: bool, verbose: bool) -> CifarData:
    if data_dir is not None:
        return _load_from(_resolve_given(Path(data_dir).expanduser(), spec, "data_dir"), spec)
    if os.environ.get(ENV_VAR):
        path = Path(os.environ[ENV_VAR]).expanduser()
        return _load_from(_resolve_given(path, spec, f"${ENV_VAR}"), spec)

    cache = keras_cache_dir()
    for rel in spec.keras_cache:
        candidate = cache / rel
        if candidate.is_dir() and all((candidate / f).is_file() for f in spec.files):
            return _load_from(candidate, spec)
        if candidate.is_file():
            actual = sha256sum(candidate)
            if actual == spec.sha256:
                return _load_from(candidate, spec)
            # Never keep a bad file in the cache as if it were good.
            aside = candidate.with_name(candidate.name + ".corrupt")
            os.replace(candidate, aside)
            if not download:
                raise ChecksumError(
                    f"{candidate} has SHA-256 {actual}, not the official {spec.sha256}. "
                    f"It was moved to {aside}. Remedy: load with download=True, or put the "
                    f"official {spec.archive} at {cache / spec.archive}."
                )
    if not download:
        raise DataNotFoundError(
            f"{spec.name} was not found (looked in data_dir, ${ENV_VAR} and the Keras "
            f"cache {cache}) and download=False. Remedy: put {spec.archive} in {cache}, "
            f"set {ENV_VAR} to the folder that holds it, or pass data_dir=... . For an "
            "offline try-out, `cifarlab synthetic DIR` writes a small SYNTHETIC copy."
        )
    target = cache / spec.archive
    download_archive(spec.url, target, sha256=spec.sha256, progress=verbose)
    return _load_from(target, spec)


def download_archive(
    url: str, target: str | os.PathLike, *, sha256: str, progress: bool = True, timeout: float = 60
) -> Path:
    """Download ``url`` to ``target`` atomically, verified against ``sha256``.

    The bytes go to a temporary file beside ``target`` and are renamed into
    place only when complete and verified, so an interrupted or corrupt download
    never leaves a file under the final name.

    Raises:
        DownloadError: the URL could not be fetched (no network, ...), with the
            way to place the archive by hand.
        ChecksumError: the bytes do not have the published SHA-256.
    """
    from tqdm.auto import tqdm

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                response = urllib.request.urlopen(url, timeout=timeout)
            except (urllib.error.URLError, OSError) as err:
                raise DownloadError(
                    f"Could not download {url} ({getattr(err, 'reason', err)}). To work "
                    f"offline: download {target.name} on a machine with internet and put it "
                    f"at {target}, or set {ENV_VAR} to the folder that holds it, or pass "
                    "data_dir=... . `cifarlab synthetic DIR` writes a small SYNTHETIC "
                    "dataset for trying things out."
                ) from err
            with (
                response,
                tqdm(
                    total=int(response.headers.get("Content-Length") or 0) or None,
                    unit="B",
                    unit_scale=True,
                    desc=f"Downloading {target.name}",
                    disable=not progress,
                ) as bar,
            ):
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
                    h.update(chunk)
                    bar.update(len(chunk))
        actual = h.hexdigest()
        if actual != sha256:
            raise ChecksumError(
                f"The download of {url} has SHA-256 {actual}; expected {sha256}. "
                "It was discarded. Remedy: try again later, or download by hand and "
                "check the file."
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def load_cifar100(
    data_dir: str | os.PathLike | None = None, *, download: bool = True, verbose: bool = True
) -> CifarData:
    """Load CIFAR-100 with fine and coarse labels, in one pass over the files.

    Args:
        data_dir: a folder holding ``cifar-100-python/`` or
            ``cifar-100-python.tar.gz`` (or the archive's path). When None,
            ``$CIFARLAB_DATA_DIR``, then the Keras cache, then a download.
        download: allow downloading the official archive (169 MB) when no copy
            is found. The download is verified against its published SHA-256.
        verbose: show a progress bar while downloading.

    Returns:
        A :class:`CifarData` with 50,000 train and 10,000 test images (fewer for
        synthetic data) and ``y_*_coarse`` / ``coarse_names``.

    Example:
        >>> cifar = load_cifar100()
        >>> cifar.x_train.shape, cifar.class_names[:2]
        ((50000, 32, 32, 3), ('apple', 'aquarium_fish'))
    """
    return _load(CIFAR100, data_dir, download, verbose)


def load_cifar10(
    data_dir: str | os.PathLike | None = None, *, download: bool = True, verbose: bool = True
) -> CifarData:
    """Load CIFAR-10 (10 classes) the same way as :func:`load_cifar100`."""
    return _load(CIFAR10, data_dir, download, verbose)


# --------------------------------------------------------------------------- selecting


def select_classes(data: CifarData, names: Sequence[str], *, name: str | None = None) -> CifarData:
    """Keep the images of some fine classes, labels remapped to ``0..k-1``.

    The new label ``i`` is ``names[i]``, in the order given. Vectorised: one
    lookup array (old label -> new label, -1 for classes not kept) gives both the
    mask and the remapped labels; no loop over images, no hand-written remap.

    Example:
        >>> pets = select_classes(cifar, ["fox", "raccoon"])
        >>> pets.class_names, set(pets.y_train)
        (('fox', 'raccoon'), {0, 1})
    """
    if isinstance(names, str):
        raise TypeError(f"`names` must be a list of class names, not one string: {names!r}.")
    names = list(names)
    if not names:
        raise ValueError(f"`names` is empty: give at least one of {len(data.class_names)} classes.")
    official = tuple(_labels.fine_class_name(n, valid=data.class_names) for n in names)
    repeated = sorted({n for n in official if official.count(n) > 1})
    if repeated:
        raise ValueError(f"Repeated class names in `names`: {', '.join(repeated)}.")
    ids = np.array([data.class_names.index(n) for n in official], dtype=np.int64)
    lookup = np.full(len(data.class_names), -1, dtype=np.int64)
    lookup[ids] = np.arange(len(ids))

    def take(x, y, y_coarse):
        new = lookup[y]  # one gather gives both the mask and the new labels
        rows = np.flatnonzero(new >= 0)
        coarse = None if y_coarse is None else y_coarse.take(rows)
        return x.take(rows, axis=0), new.take(rows), coarse

    x_train, y_train, yc_train = take(data.x_train, data.y_train, data.y_train_coarse)
    x_test, y_test, yc_test = take(data.x_test, data.y_test, data.y_test_coarse)
    return dataclasses.replace(
        data,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        y_train_coarse=yc_train,
        y_test_coarse=yc_test,
        class_names=official,
        name=name or f"{data.name} [{', '.join(official)}]",
    )


def select_superclass(data: CifarData, superclass: str | int) -> CifarData:
    """The five fine classes of a CIFAR-100 superclass, labels ``0..4`` in official order.

    Args:
        data: CIFAR-100 from :func:`load_cifar100`.
        superclass: a name (``"medium mammals"``, ``"Medium-Mammals"``) or index 0..19.

    Example:
        >>> mammals = select_superclass(cifar, 12)
        >>> mammals.class_names
        ('fox', 'porcupine', 'possum', 'raccoon', 'skunk')
        >>> mammals.x_train.shape   # real CIFAR-100
        (2500, 32, 32, 3)
    """
    if data.coarse_names is None:
        raise ValueError(
            f"{data.name} has no superclasses: select_superclass needs CIFAR-100 from "
            "load_cifar100(). Use select_classes(data, names) instead."
        )
    official = _labels.superclass_name(superclass)
    return select_classes(
        data, _labels.SUPERCLASSES[official], name=f"{data.name.split(' [')[0]} / {official}"
    )


def subsample(
    data: CifarData,
    *,
    train_per_class: int | None = None,
    test_per_class: int | None = None,
    seed: int = 0,
) -> CifarData:
    """At most ``n`` images per class from each split, picked at random (seeded).

    For smoke runs and quick experiments: the classes stay balanced and the
    images keep their original order. None keeps a split whole.

    Example:
        >>> small = subsample(mammals, train_per_class=100, test_per_class=20)
    """
    for arg, value in (("train_per_class", train_per_class), ("test_per_class", test_per_class)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ValueError(f"`{arg}` must be a positive integer or None. Received: {value!r}.")
    rng = np.random.default_rng(seed)

    def keep(y, n):
        if n is None:
            return np.arange(len(y))
        order = rng.permutation(len(y))
        by_class = order[np.argsort(y[order], kind="stable")]  # random order within a class
        labels_sorted = y[by_class]
        rank = np.arange(len(y)) - np.searchsorted(labels_sorted, labels_sorted, side="left")
        return np.sort(by_class[rank < n])

    tr, te = keep(data.y_train, train_per_class), keep(data.y_test, test_per_class)
    coarse = lambda y, rows: None if y is None else y[rows]  # noqa: E731
    return dataclasses.replace(
        data,
        x_train=data.x_train[tr],
        y_train=data.y_train[tr],
        x_test=data.x_test[te],
        y_test=data.y_test[te],
        y_train_coarse=coarse(data.y_train_coarse, tr),
        y_test_coarse=coarse(data.y_test_coarse, te),
    )


# --------------------------------------------------------------------------- splitting


def _check_images_labels(images, labels, *, what: str = "images"):
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            f"`{what}` must have shape (N, height, width, 3). Received shape {images.shape}."
        )
    if len(images) == 0:
        raise ValueError(f"`{what}` is empty: there is nothing to train or evaluate on.")
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]  # Keras-style (N, 1) labels
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(
            f"`labels` must have one integer per image: {len(images)} {what}, labels of "
            f"shape {labels.shape}."
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"`labels` must be integers. Received dtype {labels.dtype}.")
    if labels.min() < 0:
        raise ValueError(f"`labels` must be >= 0. Received a label {labels.min()}.")
    return images, labels.astype(np.int64, copy=False)


def train_val_split(
    images: np.ndarray, labels: np.ndarray, *, val_fraction: float = 0.1, seed: int = 0
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Split training data into train and validation parts, stratified and seeded.

    Validation always comes from the training split: the test split is kept for
    the final evaluation only. Every class keeps its share in both parts.

    Returns:
        ``(x_train, y_train), (x_val, y_val)``.

    Example:
        >>> (x_tr, y_tr), (x_val, y_val) = train_val_split(mammals.x_train, mammals.y_train)
        >>> len(x_val)    # 10 % of 2,500, 50 per class
        250
    """
    from sklearn.model_selection import train_test_split

    images, labels = _check_images_labels(images, labels)
    if (
        isinstance(val_fraction, bool)
        or not isinstance(val_fraction, (int, float))
        or not (0 < val_fraction < 1)
    ):
        raise ValueError(
            f"`val_fraction` must be a number strictly between 0 and 1. "
            f"Received: val_fraction={val_fraction!r}."
        )
    counts = np.bincount(labels)
    present = counts[counts > 0]
    n_val = int(np.ceil(val_fraction * len(labels)))
    if present.min() < 2 or n_val < len(present) or len(labels) - n_val < len(present):
        raise ValueError(
            f"Cannot stratify {len(labels)} images of {len(present)} classes with "
            f"val_fraction={val_fraction}: each class needs at least 2 images and each part "
            f"at least one image per class (smallest class: {present.min()} images)."
        )
    x_tr, x_val, y_tr, y_val = train_test_split(
        images, labels, test_size=val_fraction, random_state=seed, stratify=labels
    )
    return (x_tr, y_tr), (x_val, y_val)


# --------------------------------------------------------------------------- tf.data


def scale_images(images: np.ndarray) -> np.ndarray:
    """uint8 images in 0..255 -> float32 in [0, 1], the input every cifarlab model takes.

    Float images are taken as already scaled and checked to lie in [0, 1].
    """
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.astype(np.float32) / np.float32(255)
    if np.issubdtype(images.dtype, np.floating):
        if images.size and (images.min() < 0 or images.max() > 1):
            raise ValueError(
                f"Float images must be scaled to [0, 1]; these range from {images.min():g} "
                f"to {images.max():g}. Pass the uint8 images (0..255) instead, or divide by 255."
            )
        return images.astype(np.float32, copy=False)
    raise TypeError(
        f"Images must be uint8 (0..255) or float in [0, 1]. Received dtype {images.dtype}."
    )


def make_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    batch_size: int = 64,
    training: bool,
    seed: int = 0,
    augment=None,
    cache: bool = True,
):
    """A ``tf.data`` pipeline that feeds ``model.fit`` / ``evaluate`` directly.

    Scales uint8 images to float32 in [0, 1], caches them, and when ``training``
    shuffles with ``seed`` (a new order every epoch) and applies ``augment`` (a
    Keras layer such as :func:`cifarlab.augment.augmentation`) batch by batch.
    Batches are prefetched so the CPU prepares the next one while the model trains.
    Without ``training`` the order is kept and nothing is augmented.

    Example:
        >>> train_ds = make_dataset(x_tr, y_tr, batch_size=64, training=True, seed=0)
        >>> val_ds = make_dataset(x_val, y_val, batch_size=256, training=False)
        >>> model.fit(train_ds, validation_data=val_ds, epochs=10)
    """
    import tensorflow as tf

    images, labels = _check_images_labels(images, labels)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer. Received: {batch_size!r}.")
    if augment is not None and not callable(augment):
        raise TypeError(f"`augment` must be a Keras layer or None. Received: {augment!r}.")
    scaled = scale_images(images)  # validates dtype/range; float32 in [0, 1]
    ds = tf.data.Dataset.from_tensor_slices((scaled, labels.astype(np.int32)))
    if cache:
        ds = ds.cache()
    if training:
        ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if training and augment is not None:
        ds = ds.map(
            lambda x, y: (augment(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE
        )
    return ds.prefetch(tf.data.AUTOTUNE)


# --------------------------------------------------------------------------- synthetic


def _class_images(cls: int, n: int, seed: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` images of one synthetic class: its own striped pattern, shifted, with noise."""
    look = np.random.default_rng([seed, cls, 7919])  # the class's look, fixed by (seed, class)
    fg, bg = look.uniform(0, 255, size=(2, 3))
    angle = look.uniform(0, np.pi)
    freq = look.uniform(0.25, 0.9)
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32)
    wave = freq * (xx * np.cos(angle) + yy * np.sin(angle))
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1, 1))
    t = 0.5 + 0.5 * np.sin(wave[None] + phase)  # (n, 32, 32) in [0, 1]
    img = bg + t[..., None] * (fg - bg)
    img += rng.normal(0, 24, size=img.shape) + rng.uniform(-20, 20, size=(n, 1, 1, 1))
    return np.clip(img, 0, 255).astype(np.uint8)


def _synthetic_split(num_classes: int, per_class: int, seed: int, split: int):
    rng = np.random.default_rng([seed, split])
    images = np.concatenate([_class_images(c, per_class, seed, rng) for c in range(num_classes)])
    y = np.repeat(np.arange(num_classes), per_class)
    order = rng.permutation(len(y))  # the official files are in random order too
    return images[order], y[order]


def _batch_dict(images, y_keys: dict[str, np.ndarray], label: str, prefix: str) -> dict:
    rows = images.transpose(0, 3, 1, 2).reshape(len(images), 3072)  # R, G, B planes
    d = {
        b"batch_label": SYNTHETIC_MARK + b" " + label.encode(),
        b"data": np.ascontiguousarray(rows),
    }
    for key, y in y_keys.items():
        d[key.encode()] = [int(v) for v in y]
    d[b"filenames"] = [f"{prefix}_{i:06d}.png".encode() for i in range(len(images))]
    return d


def _write(files: dict[str, dict], spec: ArchiveSpec, path, archive: bool) -> Path:
    path = Path(path).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    blobs = {name: pickle.dumps(d, protocol=4) for name, d in files.items()}
    if archive:
        target = path / spec.archive
        buf = io.BytesIO()
        # mtime=0 everywhere: the same seed gives the same bytes.
        with (
            gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz,
            tarfile.open(fileobj=gz, mode="w") as tar,
        ):
            for name in spec.files:
                info = tarfile.TarInfo(f"{spec.folder}/{name}")
                info.size, info.mtime, info.mode = len(blobs[name]), 0, 0o644
                tar.addfile(info, io.BytesIO(blobs[name]))
        atomic_write(target, buf.getvalue())
        return target
    folder = path / spec.folder
    folder.mkdir(exist_ok=True)
    for name in spec.files:
        atomic_write(folder / name, blobs[name])
    return folder


def _check_counts(train_per_class: int, test_per_class: int) -> None:
    for arg, value in (("train_per_class", train_per_class), ("test_per_class", test_per_class)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`{arg}` must be a positive integer. Received: {arg}={value!r}.")


def write_synthetic_cifar100(
    path: str | os.PathLike,
    *,
    train_per_class: int = 25,
    test_per_class: int = 5,
    seed: int = 0,
    archive: bool = False,
) -> Path:
    """Write a SYNTHETIC CIFAR-100 in the exact official on-disk format.

    Files ``train``, ``test`` and ``meta`` are pickled dicts with byte-string keys,
    ``data`` as uint8 rows of 3,072 values (R, G, B planes), ``fine_labels``,
    ``coarse_labels`` (the real mapping), ``filenames`` and ``batch_label``;
    ``meta`` holds the real class names. Each fine class has its own learnable
    striped pattern, with random shifts and noise. The same seed gives the same
    bytes. ``batch_label`` starts with ``SYNTHETIC``, so loaders mark the data.

    Args:
        path: folder to write into (``cifar-100-python/`` or the ``.tar.gz`` goes there).
        train_per_class, test_per_class: images per class (real CIFAR-100: 500, 100).
        seed: the patterns and noise.
        archive: write ``cifar-100-python.tar.gz`` instead of the folder.

    Returns:
        The folder or archive written; pass it (or ``path``) to :func:`load_cifar100`.
    """
    _check_counts(train_per_class, test_per_class)
    coarse = np.asarray(_labels.FINE_TO_COARSE)
    files = {}
    for name, per_class, split in (("train", train_per_class, 0), ("test", test_per_class, 1)):
        x, y = _synthetic_split(100, per_class, seed, split)
        files[name] = _batch_dict(
            x,
            {"fine_labels": y, "coarse_labels": coarse[y]},
            "training batch 1 of 1" if name == "train" else "testing batch 1 of 1",
            f"synthetic_{name}",
        )
    files["meta"] = {
        b"fine_label_names": [n.encode() for n in _labels.FINE_LABELS],
        b"coarse_label_names": [n.encode() for n in _labels.COARSE_LABELS],
    }
    return _write(files, CIFAR100, path, archive)


def write_synthetic_cifar10(
    path: str | os.PathLike,
    *,
    train_per_class: int = 50,
    test_per_class: int = 10,
    seed: int = 0,
    archive: bool = False,
) -> Path:
    """Write a SYNTHETIC CIFAR-10 in the official format (``data_batch_1..5``,
    ``test_batch``, ``batches.meta``). See :func:`write_synthetic_cifar100`."""
    _check_counts(train_per_class, test_per_class)
    x, y = _synthetic_split(10, train_per_class, seed, 0)
    files = {}
    parts = zip(np.array_split(x, 5), np.array_split(y, 5), strict=True)
    for i, (xb, yb) in enumerate(parts, start=1):
        files[f"data_batch_{i}"] = _batch_dict(
            xb, {"labels": yb}, f"training batch {i} of 5", f"synthetic_train{i}"
        )
    x, y = _synthetic_split(10, test_per_class, seed, 1)
    files["test_batch"] = _batch_dict(x, {"labels": y}, "testing batch 1 of 1", "synthetic_test")
    files["batches.meta"] = {
        b"label_names": [n.encode() for n in _labels.CIFAR10_LABELS],
        b"num_cases_per_batch": len(files["data_batch_1"][b"data"]),
        b"num_vis": 3072,
    }
    return _write(files, CIFAR10, path, archive)
