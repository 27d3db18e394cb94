"""Find, verify, download and read CIFAR-100 / CIFAR-10; select classes, split, feed ``tf.data``.
Data comes from ``data_dir``, else ``$CIFARLAB_DATA_DIR``, else the Keras cache, else a download
checked against the published SHA-256. Data from :mod:`cifarlab.synthetic` says SYNTHETIC."""

import dataclasses
import hashlib
import http.client
import io
import os
import pickle
import shutil
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cifarlab import _checks, _files
from cifarlab import labels as _labels

ENV_VAR = "CIFARLAB_DATA_DIR"
SYNTHETIC_MARK = b"SYNTHETIC"
_OFFLINE = "`cifarlab synthetic DIR` writes a small SYNTHETIC copy for trying things out."
_BY_HAND = f"set {ENV_VAR} to the folder that holds it, or pass data_dir=... . {_OFFLINE}"
_REFETCH = "delete it and download again, or write a fresh synthetic copy."
MAX_MEMBER = 256 << 20  # bytes: no CIFAR file is larger (CIFAR-100's train is 155 MB)
RETRIES, _sleep = 3, time.sleep  # download attempts, 1 s, 2 s ... apart
_TRANSIENT = (ConnectionError, TimeoutError, http.client.HTTPException)  # worth a retry


@dataclasses.dataclass(frozen=True)
class ArchiveSpec:
    """Where an official CIFAR archive lives and what is inside it."""

    name: str
    url: str
    sha256: str
    archive: str  # file name of the .tar.gz
    folder: str  # top folder inside the archive
    train_files: tuple[str, ...]
    test_file: str
    meta_file: str
    label_key: str  # "fine_labels" (CIFAR-100, with "coarse_labels") or "labels"

    @property
    def files(self) -> tuple[str, ...]:
        return (*self.train_files, self.test_file, self.meta_file)

    @property
    def keras_cache(self) -> tuple[str, ...]:
        """Under ``<KERAS_HOME>/datasets``: Keras >= 3.6, older Keras, ours, Keras's archive."""
        f = self.folder
        return f"{f}-target/{f}", f, self.archive, f"{f}-target_archive"


CIFAR100 = ArchiveSpec(
    name="CIFAR-100", url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
    sha256="85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
    archive="cifar-100-python.tar.gz", folder="cifar-100-python",
    train_files=("train",), test_file="test", meta_file="meta", label_key="fine_labels")
CIFAR10 = ArchiveSpec(
    name="CIFAR-10", url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    sha256="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
    archive="cifar-10-python.tar.gz", folder="cifar-10-batches-py",
    train_files=tuple(f"data_batch_{i}" for i in range(1, 6)), test_file="test_batch",
    meta_file="batches.meta", label_key="labels")


class DataNotFoundError(FileNotFoundError):
    """The data set is not where it was asked for, or lacks a file."""


class CorruptDataError(ValueError):
    """A data file exists but cannot be read as the official format."""


class ChecksumError(CorruptDataError):
    """An archive's SHA-256 is not the published one."""


class DownloadError(RuntimeError):
    """The archive could not be downloaded (for example: no network)."""


@dataclasses.dataclass(frozen=True, eq=False)
class CifarData:
    """Both splits: uint8 images (N, 32, 32, 3), int64 labels (N,), class names; CIFAR-100
    also coarse labels and names. ``synthetic``: from :mod:`cifarlab.synthetic`, not CIFAR."""

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
        return f"{self.name} (SYNTHETIC data, not real CIFAR)" if self.synthetic else self.name

    def __repr__(self) -> str:
        return (f"CifarData({self.description}: {len(self.x_train):,} train / {len(self.x_test):,} "
                f"test images, {self.num_classes} classes, from {self.source})")


class _SafeUnpickler(pickle.Unpickler):
    """Unpickles only what CIFAR files hold: a pickle is code, and a download is untrusted."""

    _ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")} | {
        (module, name) for module in ("numpy.core.multiarray", "numpy._core.multiarray")
        for name in ("_reconstruct", "scalar")}  # fmt: skip

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: not in CIFAR files")


def _text(value: bytes | str) -> str:
    return value.decode("utf8", "replace") if isinstance(value, bytes) else str(value)


def _unpickle(raw: bytes, where: str) -> dict[str, object]:
    try:
        obj = _SafeUnpickler(io.BytesIO(raw), encoding="bytes").load()
        return {_text(k): v for k, v in obj.items()}
    except Exception as err:
        raise CorruptDataError(f"{where} is not a valid CIFAR batch file ({err}). Remedy: "
                               f"{_REFETCH}") from err


def _integers(d: dict, key: str, top: int, where: str) -> np.ndarray:
    """``d[key]`` as integers in 0..top-1, else a CorruptDataError naming the bad values."""
    try:
        a = np.asarray(d[key])
    except ValueError:  # ragged lists
        a = np.array(None)
    if a.dtype.kind not in "iu":
        what = f"{a.dtype} values"
    elif (top < 256 or a.dtype != np.uint8) and (bad := a[(a < 0) | (a >= top)]).size:
        what = f"{bad.size} out of range: {', '.join(map(str, np.unique(bad)[:5]))}"
    else:
        return a
    raise CorruptDataError(f"{where}: {key!r} holds {what}; expected integers 0..{top - 1}. "
                           f"Remedy: {_REFETCH}")


def _parse_batch(raw: bytes, where: str, label_keys: dict[str, int]):
    """``([images, labels, ...], synthetic)`` from one pickled batch file, every value checked."""
    d = _unpickle(raw, where)
    if missing := [key for key in ("data", *label_keys) if key not in d]:
        raise CorruptDataError(f"{where} lacks {', '.join(missing)}; found {sorted(d)}. It is not "
                               "an official CIFAR batch file (or is one of the other data set).")
    flat = _integers(d, "data", 256, where).astype(np.uint8, copy=False)
    if flat.ndim != 2 or flat.shape[1] != 3072:
        raise CorruptDataError(f"{where}: 'data' has shape {flat.shape}; expected (N, 3072).")
    y = [_integers(d, key, top, where).astype(np.int64) for key, top in label_keys.items()]
    if any(labels.shape != (len(flat),) for labels in y):
        raise CorruptDataError(f"{where}: labels of shape {[labels.shape for labels in y]} for "
                               f"{len(flat)} images; expected one label each.")
    if len(y) == 2 and (bad := np.flatnonzero(np.take(_labels.FINE_TO_COARSE, y[0]) != y[1])).size:
        raise CorruptDataError(f"{where}: 'coarse_labels' contradict the official fine->coarse map "
                               f"for {bad.size} images (image {bad[0]}: fine {y[0][bad[0]]}, "
                               f"coarse {y[1][bad[0]]}). Remedy: {_REFETCH}")
    images = np.ascontiguousarray(flat.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return [images, *y], bytes(d.get("batch_label", b"")).startswith(SYNTHETIC_MARK)


def sha256sum(path: str | os.PathLike) -> str:
    """The SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_archive(source: Path, spec: ArchiveSpec) -> dict[str, bytes]:
    """The files of ``spec`` from a .tar.gz in one pass; links, '..' and '/...' refused."""
    found, reason = {}, None
    try:
        with tarfile.open(source, "r:*") as tar:
            for member in tar:
                parts = member.name.split("/")
                if parts[-1] not in spec.files or parts[-1] in found:
                    continue
                if not member.isfile() or parts[0] == "" or ".." in parts:
                    raise CorruptDataError(f"{source} holds {member.name!r}: a link, an absolute "
                                           "path or a path with '..' is refused.")
                if member.size > MAX_MEMBER:
                    raise CorruptDataError(f"{source} holds {member.name!r} of {member.size:,} "
                                           f"bytes, more than a {spec.name} file: refused unread.")
                found[parts[-1]] = tar.extractfile(member).read(MAX_MEMBER)
    except CorruptDataError:
        raise
    except (tarfile.TarError, EOFError, OSError, ValueError) as err:
        reason = err
    missing = [f for f in spec.files if f not in found]
    if reason is None and not missing:
        return found
    raise CorruptDataError(
        f"Cannot read {source}: truncated or corrupt archive "
        f"({reason or 'it lacks ' + ', '.join(missing)}). Its SHA-256 is {sha256sum(source)}; the "
        f"official {spec.archive} has {spec.sha256}. Remedy: delete {source} and download it again "
        f"({spec.url}). {_OFFLINE}") from reason


def _names(meta: dict, key: str, official: tuple[str, ...], where: str) -> tuple[str, ...]:
    """The class names under ``key`` (absent: the official ones), as many and distinct."""
    names = tuple(map(_text, n)) if isinstance(n := meta.get(key, official), (list, tuple)) else ()
    if len(names) != len(official) or len(set(names)) != len(names):
        raise CorruptDataError(f"{where}: {key!r} holds {len(names)} names, {len(set(names))} "
                               f"distinct; expected {len(official)} distinct. Remedy: {_REFETCH}")
    return names


def _load_from(source: Path, spec: ArchiveSpec) -> CifarData:
    """A :class:`CifarData` from a folder holding the files of ``spec``, or its archive."""
    if source.is_dir() and (missing := [f for f in spec.files if not (source / f).is_file()]):
        raise DataNotFoundError(f"{source} lacks {', '.join(missing)}. A {spec.name} folder "
                                f"holds: {', '.join(spec.files)}.")
    raw = ({f: (source / f).read_bytes() for f in spec.files} if source.is_dir()
           else _read_archive(source, spec))
    cifar100 = spec.label_key == "fine_labels"
    keys = {"fine_labels": 100, "coarse_labels": 20} if cifar100 else {spec.label_key: 10}
    parsed = [_parse_batch(raw[f], f"{source}/{f}", keys) for f in spec.files[:-1]]
    train = [np.concatenate(arrays) for arrays in zip(*(p[0] for p in parsed[:-1]), strict=True)]
    test = parsed[-1][0]
    meta = _unpickle(raw[spec.meta_file], where := f"{source}/{spec.meta_file}")
    coarse, names = {}, _names(meta, "label_names", _labels.CIFAR10_LABELS, where)
    if cifar100:
        names = _names(meta, "fine_label_names", _labels.FINE_LABELS, where)
        coarse_names = _names(meta, "coarse_label_names", _labels.COARSE_LABELS, where)
        coarse = dict(y_train_coarse=train[2], y_test_coarse=test[2], coarse_names=coarse_names)
    return CifarData(x_train=train[0], y_train=train[1], x_test=test[0], y_test=test[1],
                     class_names=names, name=spec.name, source=str(source),
                     synthetic=any(p[1] for p in parsed), **coarse)


def keras_cache_dir() -> Path:
    """``<KERAS_HOME>/datasets``, where ``keras.datasets`` keeps its downloads."""
    home = Path(os.environ.get("KERAS_HOME", Path("~") / ".keras")).expanduser()
    if home.exists() and not os.access(home, os.W_OK):
        home = Path(tempfile.gettempdir()) / ".keras"  # as Keras does
    return home / "datasets"


def _resolve_given(path: Path, spec: ArchiveSpec, what: str) -> Path:
    expected = (f"a folder with {spec.folder}/ (holding {', '.join(spec.files)}), or with "
                f"{spec.archive}, or those files directly, or the path of {spec.archive} itself")
    if not path.exists():
        raise DataNotFoundError(f"{what} {path} does not exist. Expected {expected}.")
    for candidate in (path / spec.folder, path):
        if candidate.is_dir() and any((candidate / f).exists() for f in spec.files):
            return candidate  # _load_from names any missing file
    for candidate in (path, path / spec.archive):
        if candidate.is_file():
            return candidate
    contents = sorted(p.name for p in path.iterdir())[:10]
    held = "it holds " + ", ".join(contents) if contents else "it is empty"
    raise DataNotFoundError(f"{what} {path} has no {spec.name} data ({held}). Expected {expected}.")


def _load(spec: ArchiveSpec, data_dir, download: bool, verbose: bool) -> CifarData:
    """Argument, then $CIFARLAB_DATA_DIR, then the Keras cache, then a verified download."""
    if data_dir is not None or os.environ.get(ENV_VAR):
        what = "data_dir" if data_dir is not None else f"${ENV_VAR}"
        path = Path(data_dir if data_dir is not None else os.environ[ENV_VAR]).expanduser()
        return _load_from(_resolve_given(path, spec, what), spec)
    cache = keras_cache_dir()
    for candidate in (cache / rel for rel in spec.keras_cache):
        if candidate.is_dir() and all((candidate / f).is_file() for f in spec.files):
            return _load_from(candidate, spec)
        if candidate.is_file():
            if (actual := sha256sum(candidate)) == spec.sha256:
                return _load_from(candidate, spec)
            aside = _files.free_name(candidate.with_name(candidate.name + ".corrupt"))
            os.replace(candidate, aside)  # never keep a bad file in the cache as if it were good
            if not download:
                raise ChecksumError(f"{candidate} has SHA-256 {actual}, not the official "
                                    f"{spec.sha256}; moved to {aside}. Remedy: download=True, or "
                                    f"put the official archive at {cache / spec.archive}.")
    if not download:
        raise DataNotFoundError(f"{spec.name} was not found (looked in data_dir, ${ENV_VAR} and "
                                f"the Keras cache {cache}) and download=False. Remedy: put "
                                f"{spec.archive} in {cache}, {_BY_HAND}")
    target = download_archive(spec.url, cache / spec.archive, sha256=spec.sha256, progress=verbose)
    return _load_from(target, spec)


def download_archive(url: str, target: str | os.PathLike, *, sha256: str, progress: bool = True,
                     timeout: float = 60) -> Path:
    """Download ``url`` to ``target`` (tqdm bar), renamed into place once ``sha256`` matches; a
    reset, timeout or cut-short stream is tried ``RETRIES`` times in all (1 s, 2 s ... apart)."""
    from tqdm.auto import tqdm
    (target := Path(target)).parent.mkdir(parents=True, exist_ok=True)
    tmp = _files.temp_name(target)
    try:
        for attempt in range(1, RETRIES + 1):
            try:  # each attempt starts the part file afresh
                with urllib.request.urlopen(url, timeout=timeout) as got, open(tmp, "wb") as out:
                    size = int(got.headers.get("Content-Length") or 0) or None
                    with tqdm.wrapattr(out, "write", total=size, desc=f"Downloading {target.name}",
                                       disable=not progress) as counted:
                        shutil.copyfileobj(got, counted, 1 << 20)
                break
            except (OSError, http.client.HTTPException) as err:  # URLError included
                reason = getattr(err, "reason", err)  # no network: no use trying again
                if attempt == RETRIES or not isinstance(reason, _TRANSIENT):
                    raise DownloadError(f"Could not download {url} ({reason}; attempt {attempt}"
                                        f" of {RETRIES}). To work offline, put {target.name} at "
                                        f"{target}, or {_BY_HAND}") from err
                _sleep(2 ** (attempt - 1))
        if (digest := sha256sum(tmp)) != sha256:
            raise ChecksumError(f"The download of {url} has SHA-256 {digest}; expected "
                                f"{sha256}. It was discarded: try again, or download it by hand.")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def load_cifar100(data_dir: str | os.PathLike | None = None, *, download: bool = True,
                  verbose: bool = True) -> CifarData:
    """CIFAR-100, fine and coarse labels: ``load_cifar100().x_train.shape == (50000, 32, 32, 3)``.
    ``data_dir``: a folder with ``cifar-100-python/`` or its ``.tar.gz``, or the archive (None:
    see the module); ``download``: allow fetching it (169 MB); ``verbose``: a progress bar."""
    return _load(CIFAR100, data_dir, download, verbose)


def load_cifar10(data_dir: str | os.PathLike | None = None, *, download: bool = True,
                 verbose: bool = True) -> CifarData:
    """CIFAR-10 (10 classes), found and read like :func:`load_cifar100`."""
    return _load(CIFAR10, data_dir, download, verbose)


def _take(data: CifarData, train_rows: np.ndarray, test_rows: np.ndarray, **changes) -> CifarData:
    """Only the given rows of each split (coarse labels too), then ``changes``."""
    taken = {}
    for split, rows in (("train", train_rows), ("test", test_rows)):
        for field in (f"x_{split}", f"y_{split}", f"y_{split}_coarse"):
            value = getattr(data, field)
            taken[field] = None if value is None else value[rows]
    return dataclasses.replace(data, **(taken | changes))


def select_classes(data: CifarData, names: Sequence[str], *, name: str | None = None) -> CifarData:
    """The images of some fine classes, new label ``i`` for ``names[i]``."""
    if isinstance(names, str):
        raise TypeError(f"`names` must be a list of class names, not one string: {names!r}.")
    official = tuple(_labels.fine_class_name(n, valid=data.class_names) for n in names)
    if not official:
        raise ValueError(f"`names` is empty: give at least one of {len(data.class_names)} classes.")
    if repeated := sorted({n for n in official if official.count(n) > 1}):
        raise ValueError(f"Repeated class names in `names`: {', '.join(repeated)}.")
    lookup = np.full(len(data.class_names), -1, dtype=np.int64)  # old label -> new, -1: dropped
    lookup[[data.class_names.index(n) for n in official]] = np.arange(len(official))
    y_train, y_test = lookup[data.y_train], lookup[data.y_test]
    tr, te = np.flatnonzero(y_train >= 0), np.flatnonzero(y_test >= 0)
    return _take(data, tr, te, y_train=y_train[tr], y_test=y_test[te], class_names=official,
                 name=name or f"{data.name} [{', '.join(official)}]")


def select_superclass(data: CifarData, superclass: str | int) -> CifarData:
    """The five classes of a CIFAR-100 superclass (``"medium mammals"``, 12, ...), labels 0..4."""
    if data.coarse_names is None:
        raise ValueError(f"{data.name} has no superclasses: select_superclass needs CIFAR-100 from "
                         "load_cifar100(). Use select_classes(data, names) instead.")
    official = _labels.superclass_name(superclass)
    title = f"{data.name.split(' [')[0]} / {official}"
    return select_classes(data, _labels.SUPERCLASSES[official], name=title)


def subsample(data: CifarData, *, train_per_class: int | None = None,
              test_per_class: int | None = None, seed: int = 0) -> CifarData:
    """At most ``n`` random images per class of each split, in their order (None: all)."""
    rng = np.random.default_rng(seed)

    def keep(y: np.ndarray, n: int | None, arg: str) -> np.ndarray:
        if n is None:
            return np.arange(len(y))
        n, order = _checks.integer(arg, n), rng.permutation(len(y))
        picked = [order[y[order] == c][:n] for c in np.unique(y)]
        return np.sort(np.concatenate([order[:0], *picked]))  # an empty split stays empty

    return _take(data, keep(data.y_train, train_per_class, "train_per_class"),
                 keep(data.y_test, test_per_class, "test_per_class"))


def train_val_split(
    images: np.ndarray, labels: np.ndarray, *, val_fraction: float = 0.1, seed: int = 0
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(x_train, y_train), (x_val, y_val)`` from training data, stratified and seeded."""
    from sklearn.model_selection import train_test_split
    images, labels = _checks.images_and_labels(images, labels)
    number = isinstance(val_fraction, (int, float)) and not isinstance(val_fraction, bool)
    if not (number and 0 < val_fraction < 1):
        raise ValueError("`val_fraction` must be a number strictly between 0 and 1. "
                         f"Received: val_fraction={val_fraction!r}.")
    try:
        x_tr, x_val, y_tr, y_val = train_test_split(images, labels, test_size=val_fraction,
                                                    random_state=seed, stratify=labels)
    except ValueError as err:  # too few images of a class for both parts
        raise ValueError(f"Cannot stratify {len(labels)} images of {len(np.unique(labels))} "
                         f"classes with val_fraction={val_fraction}: {err}") from None
    return (x_tr, y_tr), (x_val, y_val)


def scale_images(images: np.ndarray) -> np.ndarray:
    """uint8 images (0..255) -> float32 in [0, 1]; float images are checked to lie in [0, 1]."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.astype(np.float32) / np.float32(255)
    if not np.issubdtype(images.dtype, np.floating):
        raise TypeError(f"Images must be uint8 (0..255) or float in [0, 1], not {images.dtype}.")
    if images.size and (images.min() < 0 or images.max() > 1):
        raise ValueError(f"Float images must be scaled to [0, 1]; these range from "
                         f"{images.min():g} to {images.max():g}. Pass uint8 images (0..255).")
    return images.astype(np.float32, copy=False)


def make_dataset(images: np.ndarray, labels: np.ndarray, *, batch_size: int = 64, training: bool,
                 seed: int = 0, augment=None, cache: bool = True):
    """A scaled, cached, prefetched ``tf.data`` pipeline for ``fit``/``evaluate``; ``training``:
    reshuffled every epoch (``seed``) and ``augment`` (a Keras layer) applied per batch."""
    import tensorflow as tf
    images, labels = _checks.images_and_labels(images, labels)
    batch_size = _checks.integer("batch_size", batch_size)
    if augment is not None and not callable(augment):
        raise TypeError(f"`augment` must be a Keras layer or None. Received: {augment!r}.")
    ds = tf.data.Dataset.from_tensor_slices((scale_images(images), labels.astype(np.int32)))
    ds = ds.cache() if cache else ds
    if training:
        ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if training and augment is not None:
        ds = ds.map(lambda x, y: (augment(x, training=True), y),
                    num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
