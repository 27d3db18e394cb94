"""Official CIFAR-100 and CIFAR-10 class names, and superclass lookup.

Everything here is available without downloading anything: the names are the
ones stored in the official ``meta`` / ``batches.meta`` files, in the official
order, so label ``i`` of the data set is ``FINE_LABELS[i]``.

Example:
    >>> from cifarlab.labels import superclass_classes
    >>> superclass_classes("Medium-Mammals")
    ('fox', 'porcupine', 'possum', 'raccoon', 'skunk')
"""

from __future__ import annotations

import difflib
import functools
import operator
import re

# The 20 CIFAR-100 superclasses in official order, each with its five fine
# classes in official (alphabetical) order.
SUPERCLASSES: dict[str, tuple[str, ...]] = {
    "aquatic_mammals": ("beaver", "dolphin", "otter", "seal", "whale"),
    "fish": ("aquarium_fish", "flatfish", "ray", "shark", "trout"),
    "flowers": ("orchid", "poppy", "rose", "sunflower", "tulip"),
    "food_containers": ("bottle", "bowl", "can", "cup", "plate"),
    "fruit_and_vegetables": ("apple", "mushroom", "orange", "pear", "sweet_pepper"),
    "household_electrical_devices": ("clock", "keyboard", "lamp", "telephone", "television"),
    "household_furniture": ("bed", "chair", "couch", "table", "wardrobe"),
    "insects": ("bee", "beetle", "butterfly", "caterpillar", "cockroach"),
    "large_carnivores": ("bear", "leopard", "lion", "tiger", "wolf"),
    "large_man-made_outdoor_things": ("bridge", "castle", "house", "road", "skyscraper"),
    "large_natural_outdoor_scenes": ("cloud", "forest", "mountain", "plain", "sea"),
    "large_omnivores_and_herbivores": ("camel", "cattle", "chimpanzee", "elephant", "kangaroo"),
    "medium_mammals": ("fox", "porcupine", "possum", "raccoon", "skunk"),
    "non-insect_invertebrates": ("crab", "lobster", "snail", "spider", "worm"),
    "people": ("baby", "boy", "girl", "man", "woman"),
    "reptiles": ("crocodile", "dinosaur", "lizard", "snake", "turtle"),
    "small_mammals": ("hamster", "mouse", "rabbit", "shrew", "squirrel"),
    "trees": ("maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree"),
    "vehicles_1": ("bicycle", "bus", "motorcycle", "pickup_truck", "train"),
    "vehicles_2": ("lawn_mower", "rocket", "streetcar", "tank", "tractor"),
}

#: The 20 superclass names, official order (``coarse_label_names`` in ``meta``).
COARSE_LABELS: tuple[str, ...] = tuple(SUPERCLASSES)

#: The 100 fine class names, official order (``fine_label_names`` in ``meta``).
FINE_LABELS: tuple[str, ...] = tuple(
    sorted(name for names in SUPERCLASSES.values() for name in names)
)

#: ``FINE_TO_COARSE[i]`` is the superclass index of fine class ``i``.
FINE_TO_COARSE: tuple[int, ...] = tuple(
    next(c for c, names in enumerate(SUPERCLASSES.values()) if fine in names)
    for fine in FINE_LABELS
)

#: The 10 CIFAR-10 class names, official order (``label_names`` in ``batches.meta``).
CIFAR10_LABELS: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


def _normalise(name: str) -> str:
    """Lower-case, and treat spaces, hyphens and underscores alike."""
    return re.sub(r"[\s\-_]+", "_", name.strip().lower())


_BY_KEY = {_normalise(name): name for name in COARSE_LABELS}


@functools.lru_cache(maxsize=8)
def _keys_for(valid: tuple[str, ...]) -> dict[str, str]:
    return {_normalise(name): name for name in valid}


def superclass_name(superclass: str | int) -> str:
    """Return the official name of a superclass given as a name or an index.

    Names are forgiving about case, spaces, hyphens and underscores:
    ``"medium mammals"``, ``"Medium-Mammals"``, ``"medium_mammals"`` and ``12``
    all give ``"medium_mammals"``.

    Raises:
        ValueError: for an unknown name (with the closest valid name and the
            full list) or an index outside 0..19.
        TypeError: for anything that is neither a string nor an integer.
    """
    if not isinstance(superclass, str):
        try:
            if isinstance(superclass, bool):
                raise TypeError
            index = operator.index(superclass)  # int or numpy integer
        except TypeError:
            raise TypeError(
                "`superclass` must be a name such as 'medium_mammals' or an index "
                f"0..{len(COARSE_LABELS) - 1}. Received: {superclass!r} "
                f"of type {type(superclass).__name__}."
            ) from None
        if not 0 <= index < len(COARSE_LABELS):
            raise ValueError(
                f"Superclass index {index} is out of range: valid indices are "
                f"0 to {len(COARSE_LABELS) - 1}."
            )
        return COARSE_LABELS[index]
    key = _normalise(superclass)
    if key.isdigit():
        return superclass_name(int(key))
    if key in _BY_KEY:
        return _BY_KEY[key]
    raise ValueError(
        f"Unknown superclass {superclass!r}.{_did_you_mean(key, _BY_KEY)} "
        f"Valid: {', '.join(COARSE_LABELS)}."
    )


def superclass_classes(superclass: str | int) -> tuple[str, ...]:
    """Return the five fine class names of a superclass, official order.

    Args:
        superclass: a name (forgiving about case, spaces, hyphens and
            underscores) or an index 0..19.

    Example:
        >>> superclass_classes(12)
        ('fox', 'porcupine', 'possum', 'raccoon', 'skunk')
        >>> superclass_classes("fish")
        ('aquarium_fish', 'flatfish', 'ray', 'shark', 'trout')
    """
    return SUPERCLASSES[superclass_name(superclass)]


def fine_class_name(name: str, *, valid: tuple[str, ...] = FINE_LABELS) -> str:
    """Return the official spelling of a fine class name, or raise a clear error.

    ``"Aquarium fish"`` gives ``"aquarium_fish"``. ``valid`` defaults to the
    CIFAR-100 names; pass ``CIFAR10_LABELS`` for CIFAR-10.
    """
    if not isinstance(name, str):
        raise TypeError(
            f"Class names must be strings. Received: {name!r} of type {type(name).__name__}."
        )
    keys = _keys_for(tuple(valid))
    key = _normalise(name)
    if key in keys:
        return keys[key]
    shown = ", ".join(valid) if len(valid) <= 20 else f"{len(valid)} names, see cifarlab.labels"
    raise ValueError(f"Unknown class name {name!r}.{_did_you_mean(key, keys)} Valid: {shown}.")


def _did_you_mean(key: str, choices: dict[str, str]) -> str:
    close = difflib.get_close_matches(key, list(choices), n=1, cutoff=0.5)
    if not close:
        # 'mammals' is a fair guess at 'medium_mammals': try substrings too
        close = [k for k in choices if key and key in k][:1]
    return f" Did you mean {choices[close[0]]!r}?" if close else ""
