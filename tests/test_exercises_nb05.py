"""cifarlab.exercises.nb05: each check passes on a right answer, says "Not yet:" on None and
names each typical mistake. Real MobileNetV2 backbones at 32 px (random weights, offline);
the head-training check fits a tiny network for real."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from cifarlab import transfer  # noqa: E402
from cifarlab.exercises import nb05 as ex  # noqa: E402
from tests.exercise_checks import not_yet, passes  # noqa: E402

L = keras.layers
SIZE, CLASSES, TOP = 32, 5, 20  # input size, classes, layers fine-tuned


def _base(size=SIZE, *, include_top=False, frozen=True):
    base = keras.applications.MobileNetV2(include_top=include_top, weights=None,
                                          input_shape=(size, size, 3))
    base.trainable = not frozen
    return base


def _model(base, *, rescale=True, preprocess=True, training=False, head="gap", split=True):
    """The solution's model, or one with a typical mistake."""
    inputs = keras.Input((32, 32, 3))
    x = L.Rescaling(255.0)(inputs) if rescale else inputs
    x = L.Resizing(SIZE, SIZE)(x)
    x = keras.applications.mobilenet_v2.preprocess_input(x) if preprocess else x
    x = base(x) if training is None else base(x, training=training)
    pooled = L.Flatten()(x) if head == "flatten" else L.GlobalAveragePooling2D()(x)
    layers = ([L.Dense(512, activation="relu")] if head == "flatten" else []) + [
        L.Dropout(0.2), L.Dense(CLASSES, activation="softmax")]
    if not split:
        y = pooled
        for layer in layers:
            y = layer(y)
        return keras.Model(inputs, y)
    features = keras.Model(inputs, pooled, name="features")
    head_model = keras.Sequential([keras.Input(pooled.shape[1:]), *layers], name="head")
    return keras.Model(inputs, head_model(features(inputs)))


@pytest.fixture(scope="module")
def reference():
    return transfer.build_transfer_model(CLASSES, weights=None, input_size=SIZE, seed=0)


@pytest.fixture(scope="module")
def base():
    return _base()


# --------------------------------------------------------------------------- exercise 1


def test_backbone(capsys, reference, base):
    out = passes(capsys, ex.check_backbone(base, reference))
    assert "all frozen" in out and "3x3x1280" not in out  # 32 px: 1x1 feature maps


def test_backbone_none(capsys, reference):
    not_yet(capsys, ex.check_backbone(None, reference), "`base` is still None")


def test_backbone_left_trainable(capsys, reference, base):
    base.trainable = True
    try:
        not_yet(capsys, ex.check_backbone(base, reference), "backbone left trainable")
    finally:
        base.trainable = False


def test_backbone_frozen_layer_by_layer_like_seed_001(capsys, reference, base):
    base.trainable = True
    for layer in base.layers:
        layer.trainable = False
    try:
        assert "seed 001" in passes(capsys, ex.check_backbone(base, reference))
    finally:
        base.trainable = False


@pytest.mark.parametrize(("kwargs", "match"), [({"include_top": True}, "include_top=False"),
                                               ({"size": 64}, "input_shape=(32, 32, 3)")])
def test_backbone_wrong_build(capsys, reference, kwargs, match):
    not_yet(capsys, ex.check_backbone(_base(**kwargs), reference), match)


def test_backbone_reference_itself_and_random_weights(capsys, reference, base):
    not_yet(capsys, ex.check_backbone(transfer.get_backbone(reference), reference),
             "reference's own")
    not_yet(capsys, ex.check_backbone(base, reference, pretrained=True), "random weights")


# --------------------------------------------------------------------------- exercise 2


def test_transfer_model(capsys, reference, base):
    out = passes(capsys, ex.check_transfer_model(_model(base), base, reference))
    assert "6,405" in out


def test_transfer_model_none(capsys, reference, base):
    not_yet(capsys, ex.check_transfer_model(None, base, reference), "`model` is still None")


@pytest.mark.parametrize(("mistake", "match"), [
    ({"rescale": False, "preprocess": False}, "seed 001"),  # [0, 1] pixels, no preprocess_input
    ({"preprocess": False}, "raw 0..255"),
    ({"rescale": False}, "preprocess_input was given [0, 1] images"),
    ({"training": True}, "training=True"),
    ({"training": None}, "training=False"),
    ({"head": "flatten"}, "Flatten is seed 001's head"),
    ({"split": False}, "named 'features'"),
])
def test_transfer_model_mistakes(capsys, reference, base, mistake, match):
    not_yet(capsys, ex.check_transfer_model(_model(base, **mistake), base, reference), match)


def test_transfer_model_backbone_left_trainable_or_unused(capsys, reference, base):
    model = _model(base)
    base.trainable = True
    try:
        not_yet(capsys, ex.check_transfer_model(model, base, reference), "left trainable")
    finally:
        base.trainable = False
    other = _model(_base())
    not_yet(capsys, ex.check_transfer_model(other, base, reference), "does not use `base`")


# --------------------------------------------------------------------------- exercise 3


def _tiny(*, frozen=True):
    """(model, its backbone): a small convolutional 'backbone' with batch norm, the head
    apart, as in exercise 2; trained for real in a fraction of a second."""
    small = keras.Sequential([keras.Input((32, 32, 3)), L.Conv2D(4, 3, strides=4),
                              L.BatchNormalization(), L.ReLU()], name="small_backbone")
    small.trainable = not frozen
    inputs = keras.Input((32, 32, 3))
    features = keras.Model(inputs, L.GlobalAveragePooling2D()(small(inputs, training=False)),
                           name="features")
    head = keras.Sequential([keras.Input((4,)), L.Dropout(0.2),
                             L.Dense(CLASSES, activation="softmax")], name="head")
    model = keras.Model(inputs, head(features(inputs)))
    ex._remember(small)  # what exercises 1 and 2 record
    return model, small, head


def _fit(net, x, y, *, rate=1e-3, validation=True, epochs=2):
    net.compile(optimizer=keras.optimizers.Adam(rate), loss="sparse_categorical_crossentropy",
                metrics=["accuracy"])
    return net.fit(x, y, epochs=epochs, batch_size=8, verbose=0,
                   validation_data=(x[:8], y[:8]) if validation else None)


FEATURES = np.random.default_rng(0).normal(size=(24, 4)).astype("float32")
LABELS = np.arange(24) % CLASSES
IMAGES = np.random.default_rng(1).uniform(size=(24, 32, 32, 3)).astype("float32")


def test_head_training(capsys):
    model, small, head = _tiny()
    out = passes(capsys, ex.check_head_training(_fit(head, FEATURES, LABELS), model, small))
    assert "2 epochs on cached features" in out


def test_head_training_none_and_not_a_history(capsys):
    model, small, head = _tiny()
    not_yet(capsys, ex.check_head_training(None, model, small), "`history` is still None")
    not_yet(capsys, ex.check_head_training(head, model, small), "= head.fit(...)")


def test_head_training_the_slow_way(capsys):
    model, small, _ = _tiny()
    not_yet(capsys, ex.check_head_training(_fit(model, IMAGES, LABELS, epochs=1), model, small),
             "the slow way")


def test_head_training_no_validation_or_rate_too_high(capsys):
    model, small, head = _tiny()
    history = _fit(head, FEATURES, LABELS, validation=False)
    not_yet(capsys, ex.check_head_training(history, model, small), "no validation data")
    history = _fit(head, FEATURES, LABELS, rate=10.0, epochs=1)
    not_yet(capsys, ex.check_head_training(history, model, small), "too high to train")


def test_head_training_other_model(capsys):
    model, small, _ = _tiny()
    _, _, other_head = _tiny()
    not_yet(capsys, ex.check_head_training(_fit(other_head, FEATURES, LABELS), model, small),
             "not the head inside")


def test_head_training_backbone_trained(capsys):
    model, small, head = _tiny(frozen=False)
    history = _fit(model, IMAGES, LABELS, epochs=1)  # the whole model, backbone trainable
    _fit(head, FEATURES, LABELS)
    history = head.history
    not_yet(capsys, ex.check_head_training(history, model, small), "backbone left trainable")
    small.trainable = False
    not_yet(capsys, ex.check_head_training(history, model, small), "weights changed")


# --------------------------------------------------------------------------- exercise 4


@pytest.mark.parametrize("answer", [{"a", "d"}, "a, d", ["d", "a"], "AD"])
def test_cacheable(capsys, answer):
    passes(capsys, ex.check_cacheable(answer))


@pytest.mark.parametrize(("answer", "match"), [
    (None, "still None"), ({"a", "b", "d"}, "augmentation changes the images"),
    ({"a", "c", "d"}, "cached features go stale"), ({"a"}, "validation images never change"),
    ({"d"}, "frozen backbone gives the same features"), ({"a", "e"}, "not a choice"),
    (3, "set of letters")])
def test_cacheable_mistakes(capsys, answer, match):
    not_yet(capsys, ex.check_cacheable(answer), match)


# --------------------------------------------------------------------------- exercise 5


@pytest.fixture(scope="module")
def tuned_reference(reference):
    return transfer.unfreeze_top(reference, TOP)  # exercises 1-2 only compare its architecture


@pytest.fixture(scope="module")
def student():
    base = _base()
    return _model(base), base


def _fine_tune(model, base, *, top=TOP, freeze_bn=True, rate=1e-5, compile_=True):
    """The solution of exercise 5, or one with a typical mistake; returns the optimizer."""
    base.trainable = False  # (Keras 3.15: setting True again on a trainable model does not
    base.trainable = True   # reset its layers, so start from the frozen backbone)
    for layer in base.layers[:len(base.layers) - top]:
        layer.trainable = False
    for layer in base.layers:
        if freeze_bn and isinstance(layer, L.BatchNormalization):
            layer.trainable = False
    optimizer = keras.optimizers.Adam(learning_rate=rate)
    if compile_:
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    return optimizer


def test_fine_tuning(capsys, tuned_reference, student):
    model, base = student
    optimizer = _fine_tune(model, base)
    bn = [layer.moving_mean.numpy().copy() for layer in ex._bn_layers(base)]
    out = passes(capsys, ex.check_fine_tuning(optimizer, model, base, tuned_reference))
    assert "batch norm frozen" in out
    for before, layer in zip(bn, ex._bn_layers(base), strict=True):  # the check restores them
        np.testing.assert_array_equal(before, layer.moving_mean.numpy())


def test_fine_tuning_none(capsys, tuned_reference, student):
    not_yet(capsys, ex.check_fine_tuning(None, *student, tuned_reference),
             "`fine_tune_optimizer` is still None")


@pytest.mark.parametrize(("mistake", "match"), [
    ({"freeze_bn": False}, "batch norm unfrozen while fine-tuning: one training step changed"),
    ({"rate": 1e-3}, "too high for fine-tuning"),
    ({"top": 60}, "more than transfer.unfreeze_top's"),
    ({"top": 5}, "still frozen"),
    ({"top": 0}, "nothing in the backbone is trainable"),
    ({"compile_": False}, "compile again after changing trainable"),
])
def test_fine_tuning_mistakes(capsys, tuned_reference, student, mistake, match):
    model, base = student
    optimizer = _fine_tune(model, base, **mistake)
    not_yet(capsys, ex.check_fine_tuning(optimizer, model, base, tuned_reference), match)


def test_fine_tuning_not_recompiled_since_fit(capsys, tuned_reference, student):
    model, base = student
    optimizer = _fine_tune(model, base)
    model.make_train_function()  # what fit leaves behind: its training step
    not_yet(capsys, ex.check_fine_tuning(optimizer, model, base, tuned_reference),
             "not recompiled since the last fit")


def test_fine_tuning_head_frozen(capsys, tuned_reference, student):
    model, base = student
    optimizer = _fine_tune(model, base)
    head = transfer.get_head(model)
    head.trainable = False
    try:
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
        not_yet(capsys, ex.check_fine_tuning(optimizer, model, base, tuned_reference),
                 "the head is frozen")
    finally:
        head.trainable = True
