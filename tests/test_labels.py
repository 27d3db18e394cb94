import numpy as np
import pytest

from cifarlab import labels

# The official fine -> coarse mapping, as published with CIFAR-100.
OFFICIAL_FINE_TO_COARSE = [
    4, 1, 14, 8, 0, 6, 7, 7, 18, 3, 3, 14, 9, 18, 7, 11, 3, 9, 7, 11, 6, 11, 5, 10, 7, 6,
    13, 15, 3, 15, 0, 11, 1, 10, 12, 14, 16, 9, 11, 5, 5, 19, 8, 8, 15, 13, 14, 17, 18, 10,
    16, 4, 17, 4, 2, 0, 17, 4, 18, 17, 10, 3, 2, 12, 12, 16, 12, 1, 9, 19, 2, 10, 0, 1, 16,
    12, 9, 13, 15, 13, 16, 19, 2, 4, 6, 19, 5, 5, 8, 19, 18, 1, 2, 15, 6, 0, 17, 8, 14, 13,
]  # fmt: skip


def test_official_lists():
    assert len(labels.FINE_LABELS) == 100 and len(set(labels.FINE_LABELS)) == 100
    assert labels.FINE_LABELS[:3] == ("apple", "aquarium_fish", "baby")
    assert labels.FINE_LABELS[-1] == "worm"
    assert len(labels.COARSE_LABELS) == 20
    assert labels.COARSE_LABELS[12] == "medium_mammals"
    assert list(labels.FINE_TO_COARSE) == OFFICIAL_FINE_TO_COARSE
    assert labels.CIFAR10_LABELS[0] == "airplane" and len(labels.CIFAR10_LABELS) == 10


def test_every_superclass_has_five_classes_matching_the_map():
    for c, name in enumerate(labels.COARSE_LABELS):
        members = labels.superclass_classes(name)
        assert len(members) == 5
        assert [labels.FINE_TO_COARSE[labels.FINE_LABELS.index(m)] for m in members] == [c] * 5


@pytest.mark.parametrize(
    "spelling",
    [
        "medium mammals",
        "Medium-Mammals",
        "medium_mammals",
        " MEDIUM  mammals ",
        12,
        np.int64(12),
        "12",
    ],
)
def test_forgiving_names(spelling):
    assert labels.superclass_classes(spelling) == ("fox", "porcupine", "possum", "raccoon", "skunk")


def test_unknown_name_suggests_closest():
    with pytest.raises(ValueError, match=r"Unknown superclass 'fishes'\. Did you mean 'fish'\?"):
        labels.superclass_classes("fishes")
    with pytest.raises(ValueError, match="Valid: aquatic_mammals, fish, flowers"):
        labels.superclass_classes("zzz")


@pytest.mark.parametrize("index", [20, -1, 100])
def test_index_out_of_range_names_the_range(index):
    with pytest.raises(ValueError, match=r"valid indices are 0 to 19"):
        labels.superclass_classes(index)


@pytest.mark.parametrize("bad", [1.5, None, True, ["fish"]])
def test_wrong_type(bad):
    with pytest.raises(TypeError, match="`superclass` must be a name"):
        labels.superclass_classes(bad)


def test_fine_class_name():
    assert labels.fine_class_name("Aquarium Fish") == "aquarium_fish"
    with pytest.raises(ValueError, match="Did you mean 'raccoon'"):
        labels.fine_class_name("racoon")
    assert labels.fine_class_name("CAT", valid=labels.CIFAR10_LABELS) == "cat"
