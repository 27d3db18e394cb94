"""Checks of notebook 00 (set-up and data): your superclass selected with NumPy masks, a
validation split taken from the training images, pixels scaled to [0, 1]. Images are
compared by content (hashes), never by count. See :mod:`cifarlab.exercises`."""

from collections import Counter
from typing import Any

import numpy as np

from cifarlab import data, labels
from cifarlab.exercises._core import Exercises, NotYet, expect, image_hash_list

exercises = Exercises("00_setup_and_data")
record_results, hint, summary = exercises.record_results, exercises.hint, exercises.summary

LOOP_READS = 100  # more single-label reads or writes than this: a Python loop over the labels


class _CountedLabels(np.ndarray):
    """Labels that count reads and writes of single elements (what a Python loop does)."""

    touches = 0

    def __getitem__(self, key):
        if _single(key):
            _CountedLabels.touches += 1
        return super().__getitem__(key)

    def __setitem__(self, key, value):
        if _single(key):
            _CountedLabels.touches += 1
        super().__setitem__(key, value)

    def __iter__(self):
        _CountedLabels.touches += len(self)
        return super().__iter__()


def _single(key) -> bool:
    keys = key if isinstance(key, tuple) else (key,)
    return all(isinstance(k, (int, np.integer)) for k in keys)


def _images_and_labels(pair: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    expect(isinstance(pair, (tuple, list)) and len(pair) == 2, f"{what} should be a pair "
           f"(images, labels); received {type(pair).__name__}"
           f"{f' of length {len(pair)}' if isinstance(pair, (tuple, list)) else ''}.")
    x, y = np.asarray(pair[0]), np.asarray(pair[1]).view(np.ndarray).reshape(-1)
    expect(x.ndim == 4 and x.shape[1:] == (32, 32, 3), f"{what}: the images should have the "
           f"shape (N, 32, 32, 3); they have {x.shape}.")
    expect(len(x) == len(y), f"{what}: images and labels out of step: {len(x)} images but "
           f"{len(y)} labels. Select both with the same mask.")
    return x, y


def _pairing(mine: list, y: np.ndarray, reference: dict[str, int], what: str) -> None:
    """Fail with the mistake when the same images carry other labels than ``reference``."""
    truth = np.array([reference[h] for h in mine])
    if np.array_equal(truth, y):
        return
    if Counter(y.tolist()) == Counter(truth.tolist()):
        seen = {int(a): set(truth[y == a].tolist()) for a in np.unique(y)}
        if all(len(v) == 1 for v in seen.values()):
            raise NotYet(f"{what}: the classes are numbered in another order. Label i must be "
                         "the i-th name of labels.superclass_classes(superclass).")
        raise NotYet(f"{what}: images and labels out of step: the right images and the right "
                     "labels, but not paired (did you sort or shuffle one of them alone?).")
    raise NotYet(f"{what}: {int((truth != y).sum())} of {len(y)} labels are wrong.")


def _select_one(select, cifar: data.CifarData, superclass) -> str:
    official = labels.superclass_name(superclass)
    ref = data.select_superclass(cifar, official)
    _CountedLabels.touches = 0
    out = select(cifar.x_train, cifar.y_train.copy().view(_CountedLabels), official)
    expect(_CountedLabels.touches <= LOOP_READS, f"a loop over labels: your function read or "
           f"wrote {_CountedLabels.touches:,} labels one at a time, as seed 000's two loops "
           "and ten ifs did. Use one mask for all of them: np.isin(fine_labels, ids), and a "
           "lookup array for the new labels.")
    x, y = _images_and_labels(out, f"{official}: what it returns")
    ids = [cifar.class_names.index(n) for n in ref.class_names]
    expect(not (set(y.tolist()) - set(range(5))) or not set(y.tolist()) <= set(ids),
           f"{official}: labels not remapped: they are still the fine ids {sorted(set(ids))}; "
           "make them 0..4 (lookup = np.full(100, -1); lookup[ids] = np.arange(5)).")
    mine, theirs = image_hash_list(x), image_hash_list(ref.x_train)
    reference = dict(zip(theirs, ref.y_train.tolist(), strict=True))
    if Counter(mine) != Counter(theirs):
        _wrong_images(mine, theirs, cifar, official)
    _pairing(mine, y, reference, official)
    return official


def _wrong_images(mine: list, theirs: list, cifar: data.CifarData, official: str) -> None:
    common, wanted = len(set(mine) & set(theirs)), len(theirs)
    if not common:
        coarse = dict(zip(image_hash_list(cifar.x_train), cifar.y_train_coarse.tolist(),
                          strict=True))
        found = Counter(coarse[h] for h in mine if h in coarse).most_common(1)
        if found:
            raise NotYet(f"another superclass: these are images of "
                         f"{labels.COARSE_LABELS[found[0][0]]}, the exercise asks for {official} "
                         f"({', '.join(labels.superclass_classes(official))}).")
        raise NotYet(f"none of the {len(mine)} images is a training image of {official}.")
    wanted_set = set(theirs)
    extra = sum(h not in wanted_set for h in mine)
    expect(not extra, f"{official}: {extra} of your {len(mine)} images "
           "belong to other classes: keep only the five classes of the superclass.")
    raise NotYet(f"{official}: {wanted - common} of its {wanted} training images are missing: "
                 "keep all five classes (labels.superclass_classes gives their names).")


@exercises.check(1, "your superclass with NumPy masks",
                 missing="a function select_superclass_images(images, fine_labels, superclass) "
                         "that returns (images, labels)",
                 hint="names = labels.superclass_classes(superclass); ids = "
                      "[labels.FINE_LABELS.index(n) for n in names]; keep = np.isin(fine_labels, "
                      "ids); lookup = np.full(100, -1); lookup[ids] = np.arange(5); return "
                      "images[keep], lookup[fine_labels[keep]].")
def check_selection(select: Any, cifar: data.CifarData, superclass: str | int, *,
                    name: str = "select_superclass_images") -> str:
    """Check exercise 1: ``select(images, fine_labels, superclass)`` gives the training images
    of ``superclass`` with labels 0..4 (as :func:`cifarlab.data.select_superclass`), without a
    loop over the labels, and for another superclass too."""
    expect(callable(select), f"`{name}` should be a function (def {name}(images, fine_labels, "
           f"superclass): ...); received a {type(select).__name__}.")
    mine = _select_one(select, cifar, superclass)
    other = labels.COARSE_LABELS[(labels.COARSE_LABELS.index(mine) + 1) % 20]
    try:
        _select_one(select, cifar, other)
    except NotYet as why:
        raise NotYet(f"right for {mine}, but not for {other}: are the class ids written into "
                     f"your code? Work from the argument `superclass`. ({why})") from None
    n = int(np.isin(cifar.y_train, [cifar.class_names.index(c)
                                    for c in labels.superclass_classes(mine)]).sum())
    return (f"{n:,} images of {mine} with labels 0..4, the same images and labels as "
            "cifarlab.data.select_superclass, one mask and no loop (any superclass works).")


def _split_parts(split: Any, name: str):
    if isinstance(split, (tuple, list)) and len(split) == 4:
        raise NotYet(f"`{name}` has 4 parts: train_test_split returns x_train, x_val, y_train, "
                     f"y_val; arrange them as {name} = ((x_train, y_train), (x_val, y_val)).")
    expect(isinstance(split, (tuple, list)) and len(split) == 2, f"`{name}` should be "
           "((x_train, y_train), (x_val, y_val)).")
    return _images_and_labels(split[0], "the training part"), _images_and_labels(
        split[1], "the validation part")


@exercises.check(2, "a validation split from the training images",
                 missing="((x_train, y_train), (x_val, y_val)) taken from the training images",
                 hint="from sklearn.model_selection import train_test_split; x_tr, x_va, y_tr, "
                      "y_va = train_test_split(x, y, test_size=0.1, stratify=y, "
                      "random_state=SEED) (it shuffles, and stratify keeps every class at 10%).")
def check_validation_split(split: Any, pool: tuple, test_images: Any, *,
                           val_fraction: float = 0.1, name: str = "my_split") -> str:
    """Check exercise 2: ``split`` cuts the training images ``pool`` (images, labels) into
    training and validation parts: no test image, no overlap, nothing lost, labels kept,
    ``val_fraction`` of every class, a random sample."""
    (x_tr, y_tr), (x_va, y_va) = _split_parts(split, name)
    x_pool, y_pool = _images_and_labels(pool, "pool")
    tr, va, everything = image_hash_list(x_tr), image_hash_list(x_va), image_hash_list(x_pool)
    unique, known = {h for h, n in Counter(everything).items() if n == 1}, set(everything)
    test = set(image_hash_list(test_images)) - known
    expect(sum(h in test for h in va) <= len(va) // 2, "test split used for validation: your "
           "validation images are test images. The test split is looked at once, at the end; "
           "validation must come from the training images.")
    outside = sum(h not in known for h in tr + va)
    expect(not outside, f"{outside} images are not training images of your superclass"
           f"{' (test images among them)' if any(h in test for h in tr + va) else ''}.")
    both = len(set(tr) & set(va) & unique)
    expect(not both, f"{both} images are in both parts: the network would be validated on "
           "images it trained on. Each image goes to one part only.")
    lost = len(everything) - len(tr) - len(va)
    expect(lost <= 0, f"{lost} training images are in neither part: use all of them.")
    reference = dict(zip(everything, y_pool.tolist(), strict=True))
    _pairing(tr, y_tr, reference, "the training part")
    _pairing(va, y_va, reference, "the validation part")
    n, classes = len(va), len(np.unique(y_pool))
    expect(abs(n - val_fraction * len(everything)) <= classes, f"the validation part holds {n} "
           f"of {len(everything)} images ({n / len(everything):.0%}); the exercise asks for "
           f"{val_fraction:.0%}.")
    for where, rows in (("last", everything[-n:]), ("first", everything[:n])):
        expect(set(va) != set(rows), f"unshuffled: your validation images are the {where} "
               f"{val_fraction:.0%} of the arrays, as Keras's validation_split takes them (seed "
               "000). Take a random, stratified sample instead.")
    want = np.bincount(y_pool, minlength=classes) * val_fraction
    got = np.bincount(y_va, minlength=classes)
    expect(np.all(np.abs(got - want) <= 1), "unbalanced: the validation part holds "
           f"{got.min()} to {got.max()} images per class, not {val_fraction:.0%} of each: "
           "stratify by the labels (stratify=y).")
    return (f"{len(tr):,} training and {n:,} validation images, all from the training split, "
            f"none in both, {val_fraction:.0%} of every class, drawn at random.")


@exercises.check(3, "pixels scaled to [0, 1]", missing="the images as float32 in [0, 1]",
                 hint="images.astype('float32') / 255: divide by 255, the largest value a uint8 "
                      "pixel can take.")
def check_scaled(scaled: Any, images: np.ndarray, *, name: str = "x_train_scaled") -> str:
    """Check exercise 3: ``scaled`` is ``images`` (uint8) as float32 in [0, 1], ``/ 255``."""
    x, raw = np.asarray(scaled), np.asarray(images)
    expect(x.shape == raw.shape, f"`{name}` has the shape {x.shape}; the images have "
           f"{raw.shape}. Scale every pixel, keep the shape.")
    if not np.issubdtype(x.dtype, np.floating):
        expect(x.max(initial=0) > 1, "integer division: `// 255` turns every pixel into 0 or "
               "1. Divide with `/` after .astype('float32').")
        raise NotYet(f"unscaled pixels: `{name}` still holds integers 0..255 ({x.dtype}). "
                     "Use images.astype('float32') / 255.")
    ref = raw.astype(np.float32) / np.float32(255)
    expect(not np.allclose(x, raw), f"unscaled pixels: `{name}` runs from 0 to 255; the "
           "network expects [0, 1]. Divide by 255.")
    expect(not np.allclose(x, ref / 255, atol=1e-7), "scaled twice: the pixels were divided "
           "by 255 two times and now lie in [0, 0.004].")
    expect(x.min() >= 0 and x.max() <= 1, f"the values run from {x.min():.3g} to "
           f"{x.max():.3g}: every model in this course takes pixels in [0, 1], not "
           "standardised ones.")
    expect(np.allclose(x, ref, atol=1e-6), "these are not images / 255: did you divide by each "
           "image's largest value? Divide every image by 255, the largest value a pixel can take.")
    expect(x.dtype == np.float32, f"the values are right but {x.dtype}: use float32 "
           "(images.astype('float32') / 255), half the memory and what Keras computes in.")
    return (f"{len(x):,} images as float32 from {x.min():.3f} to {x.max():.3f}: what "
            "cifarlab.data.scale_images gives.")
