"""Official CIFAR-100 / CIFAR-10 class names in official order, and superclass lookup."""

import operator
import re

from cifarlab import _checks

#: The 20 CIFAR-100 superclasses in official order, each with its five fine classes.
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

#: The 20 superclass names, official order (``coarse_label_names``).
COARSE_LABELS: tuple[str, ...] = tuple(SUPERCLASSES)
#: The 100 fine class names, official order (``fine_label_names``).
FINE_LABELS: tuple[str, ...] = tuple(sorted(n for names in SUPERCLASSES.values() for n in names))
#: ``FINE_TO_COARSE[i]`` is the superclass index of fine class ``i``.
FINE_TO_COARSE: tuple[int, ...] = tuple(
    next(c for c, names in enumerate(SUPERCLASSES.values()) if fine in names)
    for fine in FINE_LABELS
)
#: The 10 CIFAR-10 class names, official order (``label_names``).
CIFAR10_LABELS: tuple[str, ...] = tuple(
    "airplane automobile bird cat deer dog frog horse ship truck".split()
)


def _normalise(name: str) -> str:
    """Lower-case, with spaces, hyphens and underscores alike."""
    return re.sub(r"[\s\-_]+", "_", name.strip().lower())


def _lookup(name: str, valid: tuple[str, ...], what: str) -> str:
    """The name in ``valid`` that ``name`` spells, or a ValueError with a close match."""
    found = {_normalise(v): v for v in valid}.get(_normalise(name))
    if found:
        return found
    shown = ", ".join(valid) if len(valid) <= 20 else f"{len(valid)} names, see cifarlab.labels"
    hint = _checks.did_you_mean(_normalise(name), valid)
    raise ValueError(f"Unknown {what} {name!r}.{hint} Valid: {shown}.")


def superclass_name(superclass: str | int) -> str:
    """Official name of a superclass: ``"Medium-Mammals"``, ``"12"`` or ``12`` -> medium_mammals."""
    if isinstance(superclass, str) and not _normalise(superclass).isdigit():
        return _lookup(superclass, COARSE_LABELS, "superclass")
    try:
        if isinstance(superclass, bool):
            raise TypeError
        index = int(superclass) if isinstance(superclass, str) else operator.index(superclass)
    except TypeError:
        raise TypeError(
            "`superclass` must be a name such as 'medium_mammals' or an index 0..19. "
            f"Received: {superclass!r} of type {type(superclass).__name__}."
        ) from None
    if not 0 <= index < len(COARSE_LABELS):
        raise ValueError(f"Superclass index {index} is out of range: valid indices are 0 to 19.")
    return COARSE_LABELS[index]


def superclass_classes(superclass: str | int) -> tuple[str, ...]:
    """The five fine class names of a superclass (a name or an index 0..19), official order.

    Example:
        >>> superclass_classes("fish")
        ('aquarium_fish', 'flatfish', 'ray', 'shark', 'trout')
    """
    return SUPERCLASSES[superclass_name(superclass)]


def fine_class_name(name: str, *, valid: tuple[str, ...] = FINE_LABELS) -> str:
    """The official spelling of a class name: ``"Aquarium fish"`` -> ``"aquarium_fish"``."""
    if not isinstance(name, str):
        raise TypeError(
            f"Class names must be strings. Received: {name!r} of type {type(name).__name__}."
        )
    return _lookup(name, tuple(valid), "class name")
