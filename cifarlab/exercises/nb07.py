"""Checks of notebook 07 (all 100 classes): seed 002's VGG-style network written by the
student, compared with :func:`cifarlab.models.build_vgg_style`, and the random search's data."""

import hashlib
from typing import Any

import numpy as np

from cifarlab import models
from cifarlab.exercises._core import Exercises, expect, model_difference, model_problem

exercises = Exercises("07_all_100_classes")
record_results, hint, summary = exercises.record_results, exercises.hint, exercises.summary

#: Seed 002's blocks: (filters, convolutions).
VGG_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3))


def _reference_block(filters: int, convs: int, input_shape: tuple) -> Any:
    import keras

    layers = models._vgg_block(1, filters, convs, models.seed_stream(0))
    return keras.Sequential([keras.Input(shape=input_shape), *layers])


def _block_model(vgg_block, filters: int, convs: int, input_shape: tuple) -> Any:
    """Sequential([Input, *vgg_block(filters, convs)]), or NotYet saying why it cannot be."""
    import keras

    block = vgg_block(filters, convs)
    expect(isinstance(block, (list, tuple)), "vgg_block should return a list of layers (so that "
           f"keras.Sequential([..., *vgg_block(64, 2), ...]) can unpack it); it returned a "
           f"{type(block).__name__}.")
    for layer in block:
        expect(isinstance(layer, keras.layers.Layer), "every item of the list must be a Keras "
               f"layer (keras.layers.Conv2D(...), ...); one is a {type(layer).__name__}. Leave "
               "keras.Input out of the block: the network starts with it.")
    expect(len({id(layer) for layer in block}) == len(block), "the same layer object appears "
           "twice in the list ([Conv2D(...)] * convs repeats ONE layer, which cannot take 3 "
           "channels and then 64): create a new layer for each convolution, e.g. in a list "
           "comprehension.")
    return keras.Sequential([keras.Input(shape=input_shape), *block])


def _block_problem(mine, reference, filters: int, convs: int) -> str | None:
    """Seed 002's usual mistakes in a block, said as a fix; None when it matches."""
    import keras

    convs_mine = [layer for layer in mine.layers if isinstance(layer, keras.layers.Conv2D)]
    norms = [layer for layer in mine.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if len(convs_mine) != convs:
        return f"vgg_block({filters}, {convs}) holds {len(convs_mine)} convolutions, not {convs}."
    if len(norms) > 1:
        return (f"the block has {len(norms)} BatchNormalization layers. Seed 002's text puts one "
                "after each convolution, but its code (and its 8,739,492 parameters) has ONE per "
                "block, after the last convolution, before the pooling.")
    side = mine.input_shape[1]
    if any(conv.output.shape[1] != side for conv in convs_mine):
        return ("the convolutions shrink the image: with the default padding='valid' a 3x3 "
                "kernel loses a pixel on each side. Use padding='same', as VGG does.")
    if any(conv.activation.__name__ != "relu" for conv in convs_mine):
        return ("give every convolution activation='relu': without it a stack of convolutions is "
                "one linear filter.")
    difference = model_difference(mine, reference)
    return None if difference is None else f"vgg_block({filters}, {convs}): {difference}"


@exercises.check(1, "the VGG block", missing="a function vgg_block(filters, convs) that returns "
                 "a list of layers", hint="return [*(keras.layers.Conv2D(filters, 3, padding="
                 "'same', activation='relu') for _ in range(convs)), "
                 "keras.layers.BatchNormalization(), keras.layers.MaxPooling2D(2)]")
def check_vgg_block(vgg_block: Any, *, name: str = "vgg_block") -> str:
    """Check that ``vgg_block(filters, convs)`` returns seed 002's block as a list of layers."""
    expect(callable(vgg_block), f"`{name}` should be a function (def {name}(filters, convs): "
           f"...); it is a {type(vgg_block).__name__}.")
    built = []
    for filters, convs, shape in ((64, 2, (32, 32, 3)), (256, 3, (8, 8, 128))):
        built.append(_block_model(vgg_block, filters, convs, shape))
        reference = _reference_block(filters, convs, shape)
        problem = _block_problem(built[-1], reference, filters, convs)
        expect(problem is None, problem)
    return (f"{name}(64, 2) takes 32x32x3 images to {tuple(built[0].output_shape[1:])} with "
            f"{built[0].count_params():,} parameters, and {name}(256, 3) 8x8x128 maps to "
            f"{tuple(built[1].output_shape[1:])}: the convolutions keep the size, the pooling "
            "halves it.")


def _filters(model) -> list[int]:
    import keras

    return [layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def _network_problem(vgg_network, num_classes: int) -> str | None:
    """Why ``vgg_network``'s options (width, dense_units, activation) do not work, or None."""
    import keras

    try:
        narrow = vgg_network(num_classes, width=0.125, dense_units=256, activation="sigmoid")
    except TypeError as err:
        return (f"vgg_network must take width, dense_units and activation by keyword (the search "
                f"and the training below set them): {err}.")
    problem = model_problem(narrow, num_classes)
    if problem:
        return f"vgg_network(..., width=0.125): {problem}"
    wanted = [round(f * 0.125) for f, convs in VGG_BLOCKS for _ in range(convs)]
    if _filters(narrow) != wanted:
        return (f"width=0.125 should scale every block's filters to {wanted[0]}, {wanted[2]}, "
                f"{wanted[4]} and {wanted[-1]}; the convolutions have {_filters(narrow)}. Pass "
                "round(64 * width), round(128 * width), ... to vgg_block.")
    dense = [layer for layer in narrow.layers if isinstance(layer, keras.layers.Dense)][:-1]
    if [(d.units, d.activation.__name__) for d in dense] != [(256, "sigmoid")]:
        return ("dense_units=256, activation='sigmoid' should give one hidden Dense layer of 256 "
                f"units with that activation; yours: "
                f"{[(d.units, d.activation.__name__) for d in dense]}.")
    return None


@exercises.check(2, "seed 002's network", missing="a function vgg_network(num_classes, width=1.0, "
                 "dense_units=512, activation='relu') that returns a keras.Sequential",
                 hint="keras.Sequential([keras.Input(shape=(32, 32, 3)), *vgg_block(round(64 * "
                 "width), 2), ... four blocks ..., Flatten(), Dropout(0.5), Dense(dense_units, "
                 "activation=activation), Dense(num_classes, activation='softmax')])")
def check_vgg_network(vgg_network: Any, *, num_classes: int, name: str = "vgg_network") -> str:
    """Check that ``vgg_network(num_classes)`` is seed 002's network (layer by layer as
    ``models.build_vgg_style``) and that its width, dense_units and activation work."""
    import keras

    expect(callable(vgg_network), f"`{name}` should be a function (def {name}(num_classes, "
           f"width=1.0, dense_units=512, activation='relu'): ...); it is a "
           f"{type(vgg_network).__name__}.")
    mine = vgg_network(num_classes)
    problem = model_problem(mine, num_classes)
    expect(problem is None, f"{name}({num_classes}): {problem}")
    difference = model_difference(mine, models.build_vgg_style(num_classes, seed=0))
    expect(difference is None, f"{name}({num_classes}) differs from seed 002's network: "
           f"{difference}")
    rates = [layer.rate for layer in mine.layers if isinstance(layer, keras.layers.Dropout)]
    expect(rates == [0.5], f"seed 002 put Dropout(0.5) after Flatten; yours has rate {rates}.")
    problem = _network_problem(vgg_network, num_classes)
    expect(problem is None, problem)
    frozen = sum(int(np.prod(w.shape)) for w in mine.non_trainable_weights)
    return (f"{name}({num_classes}) is seed 002's network: {mine.count_params():,} parameters, "
            f"{frozen:,} of them non-trainable (the normalizations' moving means and variances).")


def _block3_params(biases: bool = True, norm: int = 4, first_in: int = 128) -> int:
    convs = [(first_in, 256), (256, 256), (256, 256)]
    weights = sum(3 * 3 * c_in * c_out + (c_out if biases else 0) for c_in, c_out in convs)
    return weights + norm * 256


@exercises.check(3, "parameters of a block", missing="a whole number, e.g. block3_params = 123456",
                 hint="a 3x3 convolution from C_in to C_out channels holds 3*3*C_in*C_out weights "
                 "and C_out biases; batch normalization holds 4 numbers per channel.")
def check_block_params(count: Any, *, name: str = "block3_params") -> str:
    """Check the parameter count of seed 002's block 3 (256 filters, 3 convolutions, 8x8x128 in)."""
    expect(isinstance(count, (int, np.integer)) and not isinstance(count, bool), f"`{name}` "
           f"should be a whole number; received {count!r}.")
    right = _block3_params()
    mistakes = {_block3_params(biases=False): "the biases are missing: each convolution adds one "
                "per filter (256).",
                _block3_params(norm=0): "the batch normalization is missing: it holds gamma, beta, "
                "a moving mean and a moving variance per channel.",
                _block3_params(norm=2): "batch normalization holds 4 numbers per channel: gamma "
                "and beta (trained) and the moving mean and variance (non-trainable, but "
                "parameters of the model all the same).",
                _block3_params(first_in=256): "the first convolution takes the 128 channels of "
                "block 2, not 256."}
    expect(count not in mistakes, f"{int(count):,}: {mistakes.get(int(count))}")
    expect(count == right, f"{int(count):,} is not it. Count each of the three convolutions "
           "(3*3*C_in*C_out + C_out) and the normalization (4 * 256).")
    return (f"{right:,}: 295,168 + 590,080 + 590,080 in the convolutions and 1,024 in the "
            "normalization (512 of them non-trainable).")


def _pair(value: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    expect(value is not None, f"`{what}` is still None: give it as a pair (images, labels).")
    expect(isinstance(value, (tuple, list)) and len(value) == 2, f"`{what}` should be a pair "
           f"(images, labels); received a {type(value).__name__}.")
    x, y = np.asarray(value[0]), np.asarray(value[1]).reshape(-1)
    expect(x.ndim == 4 and x.shape[1:] == (32, 32, 3), f"`{what}`'s images should have shape "
           f"(n, 32, 32, 3); they have {x.shape}.")
    expect(len(x) == len(y) and len(x), f"`{what}` holds {len(x)} images and {len(y)} labels.")
    return x, y


def _hash_list(images: Any) -> list[str]:
    """One hash per image, in order, as :func:`image_hashes` makes them."""
    x = np.asarray(images)
    if x.dtype != np.uint8:
        x = np.clip(np.rint(x * 255.0 if x.max(initial=0) <= 1.0 else x), 0, 255).astype(np.uint8)
    return [hashlib.sha1(image.tobytes()).hexdigest() for image in x.reshape(len(x), -1)]


def _splits(lab) -> dict[str, dict[str, int]]:
    """``{split: {image hash: label}}`` for lab's train, val and test splits."""
    pairs = {"train": (lab.x_train, lab.y_train), "val": (lab.x_val, lab.y_val),
             "test": (lab.data.x_test, lab.data.y_test)}
    return {split: dict(zip(_hash_list(x), np.asarray(y).reshape(-1).tolist(), strict=True))
            for split, (x, y) in pairs.items()}


@exercises.check(4, "data for the random search", missing="two pairs: search_train = (images, "
                 "labels) and search_val = (images, labels)",
                 hint="draw search_train from lab.x_train / lab.y_train (a random subset of rows, "
                 "the same rows for both) and score on lab.x_val / lab.y_val.")
def check_search_data(search_train: Any, search_val: Any, lab: Any, *,
                      name: str = "search_train") -> str:
    """Check the search's data: images of the training split only, scored on the validation
    split (never the test split, never the search's own training images), labels kept."""
    (x_tr, y_tr), (x_val, y_val) = _pair(search_train, name), _pair(search_val, "search_val")
    mine = {"train": dict(zip(_hash_list(x_tr), y_tr.tolist(), strict=True)),
            "val": dict(zip(_hash_list(x_val), y_val.tolist(), strict=True))}
    lab_splits = _splits(lab)

    def shared(a: dict, b: dict) -> int:
        return len(a.keys() & b.keys())

    val, test = mine["val"], lab_splits["test"]
    expect(shared(val, test) <= len(val) // 20, "the test split used for selection: "
           f"{shared(val, test):,} of the images the search scores on are test images, so the "
           "test accuracy reported at the end would have helped choose the settings. Score on "
           "the validation split, lab.x_val.")
    expect(shared(mine["train"], test) <= len(mine["train"]) // 20, "the search trains on test "
           "images: take its training images from lab.x_train.")
    expect(shared(val, mine["train"]) <= len(val) // 20, "the search scores on the images it "
           "trained on, which rewards memorising them: score on lab.x_val.")
    expect(shared(val, lab_splits["val"]) >= len(val) * 0.95, "score on the validation split "
           "(lab.x_val): most of search_val's images are not in it.")
    known = {**lab_splits["test"], **lab_splits["val"], **lab_splits["train"]}
    for split, what in (("train", name), ("val", "search_val")):
        wrong = sum(known.get(h, label) != label for h, label in mine[split].items())
        expect(wrong <= len(mine[split]) // 20, f"`{what}`: {wrong:,} labels no longer belong to "
               "their images: take the same rows of the images and of the labels.")
    expect(len(mine["train"]) < len(lab_splits["train"]), f"the search trains on all "
           f"{len(x_tr):,} training images: every trial then costs a full training. Draw a "
           "subset (SEARCH_PER_CLASS images per class on average).")
    return (f"the search trains on {len(x_tr):,} training images and scores on {len(x_val):,} "
            "validation images; the test split waits for the final evaluation.")
