"""SYNTHETIC CIFAR-100 and CIFAR-10 in the exact official on-disk format, for offline work.

Each image is drawn procedurally: an object (a body with parts and a texture) of its
class on a cluttered background, at a random position, scale, rotation and side, with
colour jitter, blur, occlusion and noise; a few percent of the labels are wrong. The five
classes of a superclass (and CIFAR-10's vehicles, its animals) are variations of one
family, so they are confused with each other, as on real photos. Everything loaded from
it is marked ``synthetic=True`` and described as SYNTHETIC. ``cifarlab synthetic DIR``
writes one from a shell.
"""

import contextlib
import gzip
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np

from cifarlab import data
from cifarlab import labels as _labels
from cifarlab._checks import integer
from cifarlab._files import atomic_write, free_name
from cifarlab.data import CIFAR10, CIFAR100, SYNTHETIC_MARK, ArchiveSpec

__all__ = ["write_synthetic_cifar10", "write_synthetic_cifar100"]

#: How far a class strays from its family (0: the family's classes look alike).
CLASS_SPREAD = 0.25
#: How much each image strays from its class (0: only pose and colour vary).
VARIATION = 0.5
#: Share of labels that are wrong, as in real datasets.
LABEL_NOISE = 0.03
#: CIFAR-10's families: 0 vehicles (airplane, automobile, ship, truck), 1 animals.
CIFAR10_FAMILIES = (0, 0, 1, 1, 1, 1, 1, 1, 0, 0)
PARTS = 4
_Y, _X = np.mgrid[0:32, 0:32].astype(np.float32) - 15.5  # pixel centres, image centre 0


def _class_looks(families: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Each class's look: its family's parameters moved by ``CLASS_SPREAD`` of its own."""
    fam, own = np.random.default_rng([seed, 1]), np.random.default_rng([seed, 2])
    n_fam, n = families.max() + 1, len(families)

    def look(size, low, high, spread=CLASS_SPREAD):
        base = fam.uniform(low, high, (n_fam, *size))[families]
        return base + spread * (high - low) * own.uniform(-0.5, 0.5, (n, *size))

    p = {
        "body": np.clip(look((2,), 0.35, 0.8), 0.25, 0.9),  # half width, half height
        "boxy": np.clip(look((), -0.3, 1.3), 0, 1),  # 0: an ellipse, 1: a box
        "part_at": look((PARTS, 2), -0.9, 0.9),  # centres relative to the body
        "part_r": np.clip(look((PARTS, 2), 0.12, 0.4), 0.08, 0.5),
        "part_on": (look((PARTS,), 0.1, 1.4) > 0.5).astype(np.float32),
        "part_col": np.clip(look((PARTS,), -0.3, 1.3), 0, 1),  # body .. second colour
        "colour": np.clip(look((3,), 20, 235), 0, 255),
        "second": np.clip(look((3,), 0, 255, 2 * CLASS_SPREAD), 0, 255),
        "tex_f": np.clip(look((), 1.0, 9.0), 0.5, 12),
        "tex_a": np.clip(look((), -0.2, 0.9), 0, 1),
        "tex_angle": look((), 0, np.pi),
        "spots": np.clip(look((), -0.5, 1.5), 0, 1),
        "tint": fam.uniform(30, 225, (n_fam, 3))[families],  # the family's usual scenery
    }
    return {k: v.astype(np.float32) for k, v in p.items()}


def _uniform(rng, low, high, *shape) -> np.ndarray:
    return rng.uniform(low, high, shape).astype(np.float32)


def _soft(dist: np.ndarray, px) -> np.ndarray:
    """A mask from a distance (1 inside, 0 outside), antialiased over one pixel."""
    return np.clip(0.5 - dist * px, 0.0, 1.0)


def _ellipses(u, v, at, r, px) -> np.ndarray:
    """Masks (n, k, 32, 32) of ellipses centred ``at`` (n, k, 2), radii ``r``, in (u, v)."""
    du = (u[:, None] - at[:, :, 0, None, None]) / r[:, :, 0, None, None]
    dv = (v[:, None] - at[:, :, 1, None, None]) / r[:, :, 1, None, None]
    scale = (px[:, None] * r.min(-1))[..., None, None]
    return _soft(np.sqrt(du * du + dv * dv) - 1.0, scale)


def _background(tint: np.ndarray, rng) -> np.ndarray:
    """Gradients, waves and blobs, in colours near the family's usual scenery."""
    n = len(tint)
    a = 0.5 * tint + _uniform(rng, 0, 128, n, 3)
    b = _uniform(rng, 0, 255, n, 3)
    angle = _uniform(rng, 0, 2 * np.pi, n, 1, 1)
    ramp = np.clip(0.5 + (np.cos(angle) * _X + np.sin(angle) * _Y) / 32, 0, 1)
    freq = _uniform(rng, -1.2, 1.2, n, 2, 1, 1)
    wave = np.sin(freq[:, 0] * _X + freq[:, 1] * _Y + _uniform(rng, 0, 6.3, n, 1, 1))
    ramp, wave = ramp[..., None], wave[..., None] * _uniform(rng, 0, 30, n, 1, 1, 1)
    img = a[:, None, None] + ramp * (b - a)[:, None, None] + wave
    at, r = _uniform(rng, -16, 16, n, 2, 2), _uniform(rng, 2, 9, n, 2, 2)
    blobs = _ellipses(_X[None], _Y[None], at, r, np.ones(n, np.float32))
    blobs *= rng.random((n, 2, 1, 1)) < 0.6
    for k in range(2):
        img += blobs[:, k, ..., None] * (_uniform(rng, 0, 255, n, 1, 1, 3) - img)
    return img


def _draw_objects(p: dict[str, np.ndarray], rng) -> tuple[np.ndarray, np.ndarray]:
    """Colour (n, 32, 32, 3) and coverage (n, 32, 32, 1) of each image's object."""
    n = len(p["tint"])
    px = 10.0 * _uniform(rng, 0.75, 1.3, n)  # pixels per object unit
    turn = (rng.standard_normal((n, 1, 1), np.float32) * 0.3)
    flip = rng.choice(np.array([-1, 1], np.float32), (n, 1, 1))
    cx, cy = np.clip(rng.standard_normal((2, n, 1, 1), np.float32) * 3.5, -8, 8)
    x, y, s = _X - cx, _Y - cy, px[:, None, None]
    u = flip * (np.cos(turn) * x + np.sin(turn) * y) / s
    v = (np.cos(turn) * y - np.sin(turn) * x) / s
    a, b = p["body"][:, 0, None, None], p["body"][:, 1, None, None]
    ua, vb, boxy = np.abs(u / a), np.abs(v / b), p["boxy"][:, None, None]
    r = (1 - boxy) * np.sqrt(ua * ua + vb * vb) + boxy * np.maximum(ua, vb)
    cover = _soft(r - 1.0, s * np.minimum(a, b))
    t, f = p["tex_angle"][:, None, None], p["tex_f"][:, None, None]
    stripes = np.sin(f * (np.cos(t) * u + np.sin(t) * v) + _uniform(rng, 0, 6.3, n, 1, 1))
    sp = p["spots"][:, None, None]
    tex = (1 - sp) * stripes + sp * np.sin(f * u) * np.sin(f * v)
    mix = p["tex_a"][:, None, None] * (0.5 + 0.5 * tex)  # 0: main colour, 1: second
    shade = np.clip(1.0 - 0.3 * v / b, 0.6, 1.4)
    parts = _ellipses(u, v, p["part_at"] * p["body"][:, None], p["part_r"], px)
    parts *= p["part_on"][..., None, None]
    for k in range(PARTS):
        m = parts[:, k]
        mix += m * (p["part_col"][:, k, None, None] - mix)
        shade += m * (0.85 - shade)
        cover = np.maximum(cover, m)
    colour = p["colour"] * _uniform(rng, 0.7, 1.3, n, 1) + _uniform(rng, -25, 25, n, 3)
    second = p["second"] + _uniform(rng, -25, 25, n, 3)
    img = colour[:, None, None] + mix[..., None] * (second - colour)[:, None, None]
    return img * shade[..., None], cover[..., None]


def _degrade(img: np.ndarray, rng) -> np.ndarray:
    """Occlusion, colour and brightness jitter, blur and pixel noise."""
    n = len(img)
    angle = _uniform(rng, 0, 2 * np.pi, n, 1, 1)
    edge = np.cos(angle) * _X + np.sin(angle) * _Y - _uniform(rng, 6, 14, n, 1, 1)
    hidden = _soft(-edge, 1.0) * (rng.random((n, 1, 1)) < 0.25)
    img += hidden[..., None] * (_uniform(rng, 0, 255, n, 1, 1, 3) - img)
    mean = img.mean((1, 2, 3), keepdims=True)
    gain = _uniform(rng, 0.6, 1.3, n, 1, 1, 1) * _uniform(rng, 0.9, 1.1, n, 1, 1, 3)
    img = ((img - mean) * _uniform(rng, 0.7, 1.2, n, 1, 1, 1) + mean) * gain
    pad = np.pad(img, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    rows = pad[:, :-2] + pad[:, 1:-1] + pad[:, 2:]
    box = (rows[:, :, :-2] + rows[:, :, 1:-1] + rows[:, :, 2:]) / 9
    w = _uniform(rng, 0, 0.8, n, 1, 1, 1)
    img += w * (box - img)
    img += rng.standard_normal(img.shape, np.float32) * _uniform(rng, 2, 10, n, 1, 1, 1)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def _vary(q: dict[str, np.ndarray], rng) -> dict[str, np.ndarray]:
    """Each image's own variation of its class: proportions, parts, texture."""
    n, j = len(q["tint"]), VARIATION
    q["body"] = q["body"] * _uniform(rng, 1 - 0.3 * j, 1 + 0.3 * j, n, 2)
    q["part_at"] = q["part_at"] + j * 0.3 * rng.standard_normal((n, PARTS, 2), np.float32)
    q["part_r"] = q["part_r"] * _uniform(rng, 1 - 0.4 * j, 1 + 0.5 * j, n, PARTS, 2)
    q["part_on"] = q["part_on"] * (rng.random((n, PARTS)) > 0.3 * j)
    q["tex_f"] = q["tex_f"] * _uniform(rng, 1 - 0.4 * j, 1 + 0.5 * j, n)
    q["tex_angle"] = q["tex_angle"] + j * 0.6 * rng.standard_normal(n, np.float32)
    return q


def _render(p: dict[str, np.ndarray], y: np.ndarray, rng, chunk: int = 500) -> np.ndarray:
    """Images of classes ``y``, drawn ``chunk`` at a time (the float arrays stay small)."""
    out = np.empty((len(y), 32, 32, 3), np.uint8)
    for start in range(0, len(y), chunk):
        q = _vary({k: v[y[start : start + chunk]] for k, v in p.items()}, rng)
        img = _background(q["tint"], rng)
        obj, cover = _draw_objects(q, rng)
        out[start : start + len(img)] = _degrade(img + cover * (obj - img), rng)
    return out


def _synthetic_split(families, per_class: int, seed: int, split: int):
    """Shuffled images and (partly wrong) labels of one split."""
    rng = np.random.default_rng([seed, split])
    num_classes = len(families)
    y = rng.permutation(np.repeat(np.arange(num_classes), per_class))
    images = _render(_class_looks(np.asarray(families), seed), y, rng)
    wrong = np.flatnonzero(rng.random(len(y)) < LABEL_NOISE)
    y[wrong] = y[rng.permutation(wrong)]  # swaps among themselves: counts stay exact
    return images, y


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


def _make_room(target: Path, spec: ArchiveSpec, overwrite: bool) -> None:
    """Refuse to replace what is at ``target`` unless it is SYNTHETIC (or move it aside)."""
    with contextlib.suppress(OSError, ValueError, TypeError):  # unreadable: not SYNTHETIC
        raw = data._read_archive(target, spec) if target.is_file() else {
            f: (target / f).read_bytes() for f in spec.files if (target / f).exists()}
        if all(data._parse_batch(b, f, {})[1] for f, b in raw.items() if f != spec.meta_file):
            return  # nothing there, or SYNTHETIC (each batch file says so): regenerable
    aside = free_name(target.with_name(target.name + ".kept"))
    if not overwrite:
        raise FileExistsError(f"{target} holds data that is not SYNTHETIC: kept. overwrite=True "
                              f"(CLI: --overwrite) moves it aside to {aside.name}.")
    os.replace(target, aside)


def _write(files: dict, spec: ArchiveSpec, path, archive: bool, overwrite: bool) -> Path:
    path = Path(path).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    blobs = {name: pickle.dumps(d, protocol=4) for name, d in files.items()}
    _make_room(target := path / (spec.archive if archive else spec.folder), spec, overwrite)
    if archive:
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
    target.mkdir(exist_ok=True)
    for name in spec.files:
        atomic_write(target / name, blobs[name])
    return target


def write_synthetic_cifar100(
    path: str | os.PathLike,
    *,
    train_per_class: int = 25,
    test_per_class: int = 5,
    seed: int = 0,
    archive: bool = False,
    overwrite: bool = False,
) -> Path:
    """Write a SYNTHETIC CIFAR-100 in the exact official on-disk format.

    Files ``train``, ``test`` and ``meta`` are pickled dicts with byte-string keys,
    ``data`` as uint8 rows of 3,072 values (R, G, B planes), ``fine_labels``,
    ``coarse_labels`` (the real mapping), ``filenames`` and ``batch_label``; ``meta``
    holds the real class names. Each superclass is a family of look-alike objects (see
    the module's docstring). The same seed gives the same bytes. ``batch_label`` starts
    with ``SYNTHETIC``, so loaders mark the data.

    Args:
        path: folder to write into (``cifar-100-python/`` or the ``.tar.gz`` goes there).
        train_per_class, test_per_class: images per class (real CIFAR-100: 500, 100).
        seed: the classes' looks and every image.
        archive: write ``cifar-100-python.tar.gz`` instead of the folder.
        overwrite: move what is in the way and not SYNTHETIC aside (``<name>.kept``).

    Returns:
        The folder or archive written; pass it (or ``path``) to :func:`load_cifar100`.
    """
    counts = {"train": integer("train_per_class", train_per_class)}
    counts["test"] = integer("test_per_class", test_per_class)
    coarse = np.asarray(_labels.FINE_TO_COARSE)
    files = {}
    for split, (name, per_class) in enumerate(counts.items()):
        x, y = _synthetic_split(coarse, per_class, seed, split)
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
    return _write(files, CIFAR100, path, archive, overwrite)


def write_synthetic_cifar10(
    path: str | os.PathLike,
    *,
    train_per_class: int = 50,
    test_per_class: int = 10,
    seed: int = 0,
    archive: bool = False,
    overwrite: bool = False,
) -> Path:
    """Write a SYNTHETIC CIFAR-10 in the official format (``data_batch_1..5``,
    ``test_batch``, ``batches.meta``); vehicles and animals are two families.
    See :func:`write_synthetic_cifar100` (``overwrite`` too)."""
    train_per_class = integer("train_per_class", train_per_class)
    test_per_class = integer("test_per_class", test_per_class)
    x, y = _synthetic_split(CIFAR10_FAMILIES, train_per_class, seed, 0)
    files = {}
    parts = zip(np.array_split(x, 5), np.array_split(y, 5), strict=True)
    for i, (xb, yb) in enumerate(parts, start=1):
        files[f"data_batch_{i}"] = _batch_dict(
            xb, {"labels": yb}, f"training batch {i} of 5", f"synthetic_train{i}"
        )
    x, y = _synthetic_split(CIFAR10_FAMILIES, test_per_class, seed, 1)
    files["test_batch"] = _batch_dict(x, {"labels": y}, "testing batch 1 of 1", "synthetic_test")
    files["batches.meta"] = {
        b"label_names": [n.encode() for n in _labels.CIFAR10_LABELS],
        b"num_cases_per_batch": len(files["data_batch_1"][b"data"]),
        b"num_vis": 3072,
    }
    return _write(files, CIFAR10, path, archive, overwrite)
