"""Checks of notebook 05 (transfer learning in plain Keras). The reference is the library's
:func:`cifarlab.transfer.build_transfer_model` (and :func:`~cifarlab.transfer.unfreeze_top`);
checks run the student's model to see what the backbone receives and what a training step
changes. See :mod:`cifarlab.exercises`."""

import weakref
from typing import Any

import numpy as np

from cifarlab import transfer
from cifarlab.exercises._core import (
    Exercises,
    _layers,
    expect,
    is_model,
    model_difference,
    model_problem,
    probe_images,
)

exercises = Exercises("05_transfer_learning")
record_results, hint, summary = exercises.record_results, exercises.hint, exercises.summary
#: What replaces each TODO (number -> text) and the hints of ex.hint(n).
_MISSING = {
    1: "keras.applications.MobileNetV2(include_top=False, ...) and base.trainable = False",
    2: "a keras.Model: images -> features (Rescaling, Resizing, preprocess_input, base(x, "
       "training=False), pooling) -> head",
    3: "what fit returns: history = head.fit(features_train, lab.y_train, ...)",
    4: "a set of letters, e.g. {{'a', 'c'}}",
    5: "the optimizer you compile the model with: fine_tune_optimizer = "
       "keras.optimizers.Adam(learning_rate=1e-5)",
}
_HINTS = {
    1: "base = keras.applications.MobileNetV2(include_top=False, weights=weights, "
       "input_shape=(INPUT_SIZE, INPUT_SIZE, 3)), then base.trainable = False.",
    2: "inputs = keras.Input((32, 32, 3)); x = layers.Rescaling(255.0)(inputs); x = "
       "layers.Resizing(INPUT_SIZE, INPUT_SIZE)(x); x = keras.applications.mobilenet_v2."
       "preprocess_input(x); x = base(x, training=False); x = GlobalAveragePooling2D()(x); "
       "features = keras.Model(inputs, x, name='features'); head = keras.Sequential([keras."
       "Input((1280,)), Dropout(0.2), Dense(lab.num_classes, activation='softmax')], "
       "name='head'); model = keras.Model(inputs, head(features(inputs))).",
    3: "head.compile(optimizer=keras.optimizers.Adam(1e-3), loss='sparse_categorical_"
       "crossentropy', metrics=['accuracy']), then history = head.fit(features_train, "
       "lab.y_train, validation_data=(features_val, lab.y_val), epochs=lab.epochs).",
    4: "features computed once stay right only while the images and the backbone both stay "
       "the same.",
    5: "base.trainable = True; freeze base.layers[:-FINE_TUNE_LAYERS] and every "
       "BatchNormalization layer (layer.trainable = False); then model.compile(optimizer="
       "fine_tune_optimizer, ...) again.",
}
_weights_sum: dict[int, tuple] = {}  # id(base) -> (weak reference, sum of its weights)
#: The choices of exercise 4: which work can use features computed once?
CACHE_CHOICES = {"a": "training the new head while the backbone is frozen",
                 "b": "training the head with augmentation layers (RandomFlip, ...) first",
                 "c": "fine-tuning the top layers of the backbone",
                 "d": "measuring validation accuracy after each epoch of training the head"}
_WHY_NOT = {"a": "a frozen backbone gives the same features for an image in every epoch",
            "b": "augmentation changes the images in every epoch, so features of the original "
                 "images are not those of the augmented ones",
            "c": "fine-tuning changes the backbone at every step, so cached features go stale",
            "d": "the validation images never change and the backbone is frozen"}


def _bn_layers(model) -> list:
    import keras
    return [la for la in _layers(model) if isinstance(la, keras.layers.BatchNormalization)]


def _total(model) -> float:
    return float(sum(np.abs(np.asarray(w, dtype=np.float64)).sum() for w in model.get_weights()))


def _remember(base) -> None:  # exercise 3 checks that fit left these weights
    _weights_sum[id(base)] = (weakref.ref(base), _total(base))


def _changed(base) -> bool:
    ref, total = _weights_sum.get(id(base), (lambda: None, 0.0))
    return ref() is base and not np.isclose(total, _total(base), rtol=1e-6)


def _call_of(model, layer):
    """(the model whose graph calls ``layer``, that call's node), searching nested models."""
    for nodes in getattr(model, "_nodes_by_depth", {}).values():
        for node in nodes:
            if node.operation is layer:
                return model, node
    for inner in model.layers:
        if is_model(inner) and inner is not layer and (found := _call_of(inner, layer)):
            return found
    return None


def _backbone_input(model, base, images: np.ndarray) -> np.ndarray:
    """What ``base`` receives inside ``model`` when ``model`` gets ``images``."""
    import keras
    owner, node = _call_of(model, base)
    probe = keras.Model(owner.inputs[0], node.input_tensors[0])
    return np.asarray(probe(images, training=False), dtype=np.float64)


def _preprocessing_problem(got: np.ndarray, expected: np.ndarray) -> str | None:
    """Why the backbone's input ``got`` is not ``expected`` (its preprocess_input of 0..255
    pixels), named by the range it has."""
    if got.shape != expected.shape:
        return (f"the backbone receives images of shape {got.shape[1:]}, but it was built for "
                f"{expected.shape[1:]}: resize inside the model with layers.Resizing"
                f"({expected.shape[1]}, {expected.shape[2]}).")
    if np.allclose(got, expected, atol=2e-3 * max(1.0, np.abs(expected).max())):
        return None
    low, high = got.min(), got.max()
    fix = ("Scale to 0..255 (layers.Rescaling(255.0)) and apply the backbone's own "
           "preprocess_input inside the model.")
    if low >= -1e-3 and high <= 1 + 1e-3:
        return ("no preprocess_input: the backbone receives pixels in [0, 1], not the range it "
                "was trained on (seed 001 fed VGG16 [0, 1] pixels this way). " + fix)
    if low >= -1e-3 and high <= 255.5:
        return (f"no preprocess_input: the backbone receives raw 0..255 pixels, but it expects "
                f"values in [{expected.min():.3g}, {expected.max():.3g}]. " + fix)
    if high - low < 0.05 * (expected.max() - expected.min()):
        return ("preprocess_input was given [0, 1] images: it expects 0..255 pixels, so all "
                f"inputs land in [{low:.3g}, {high:.3g}]. Put layers.Rescaling(255.0) before it.")
    return (f"the backbone receives values in [{low:.3g}, {high:.3g}], but its preprocess_input "
            f"of the same images gives [{expected.min():.3g}, {expected.max():.3g}]. " + fix)


@exercises.check(1, "a frozen backbone", missing=_MISSING[1], hint=_HINTS[1])
def check_backbone(base: Any, reference: Any, *, pretrained: bool = False,
                   name: str = "base") -> str:
    """``base``: a keras.applications backbone like ``reference``'s (a build_transfer_model
    model), without its top, frozen; with ImageNet weights when ``pretrained``."""
    expect(is_model(base), f"`{name}` should be a keras.Model from keras.applications; this is "
           f"a {type(base).__name__}.")
    ref = transfer.get_backbone(reference)
    shape = tuple(base.output_shape)
    expect(len(shape) == 4, f"`{name}` outputs {shape}: it still has its ImageNet classifier on "
           "top. Pass include_top=False to get the feature maps.")
    expect(base is not ref, f"`{name}` is the reference's own backbone: build yours with "
           "keras.applications.")
    size = ref.input_shape[1:]
    expect(tuple(base.input_shape[1:]) == size, f"`{name}` takes {base.input_shape[1:]} "
           f"images: build it with input_shape={size}.")
    problem = model_difference(base, ref)
    expect(problem is None, f"`{name}` differs from {ref.name}: {problem}")
    expect(not base.trainable_weights, f"backbone left trainable: {len(base.trainable_weights)} "
           f"of its weights would change while the head trains. Freeze it: {name}.trainable = "
           "False.")
    if pretrained:
        same = all(np.array_equal(a, b) for a, b in zip(base.get_weights()[:2],
                                                         ref.get_weights()[:2], strict=True))
        expect(same, f"`{name}` has random weights, but ImageNet weights are available: build "
               "it with weights=weights.")
    _remember(base)
    how = "" if not base.trainable else (" (each layer frozen one by one, like seed 001; "
                                         "base.trainable = False does it in one line)")
    return (f"{base.name}: {base.count_params():,} parameters, all frozen{how}; it turns "
            f"{size[0]}x{size[1]} images into {shape[1]}x{shape[2]}x{shape[3]} feature maps.")


def _head_problem(model, base, reference) -> str | None:
    """How the layers after the backbone differ from the reference's head, or None."""
    def after(m, b):
        flat = _layers(m)
        last = next(i for i, layer in enumerate(flat) if layer is b.layers[-1])
        return flat[last + 1:]
    mine, theirs = after(model, base), after(reference, transfer.get_backbone(reference))
    want = ", ".join(type(layer).__name__ for layer in theirs)
    got = ", ".join(type(layer).__name__ for layer in mine)
    if [type(a) for a in mine] != [type(b) for b in theirs]:
        seed = " (Flatten is seed 001's head)" if "Flatten" in got else ""
        return f"after the backbone come {got or 'no layers'}{seed}; the head should be {want}."
    for a, b in zip(mine, theirs, strict=True):
        if a.count_params() != b.count_params() or a.output.shape[1:] != b.output.shape[1:]:
            return (f"{a.name} has {a.count_params():,} parameters and outputs "
                    f"{tuple(a.output.shape[1:])}; the reference's {b.count_params():,} and "
                    f"{tuple(b.output.shape[1:])}.")
    return None


@exercises.check(2, "the transfer model", missing=_MISSING[2], hint=_HINTS[2])
def check_transfer_model(model: Any, base: Any, reference: Any, *, name: str = "model") -> str:
    """``model``: 32x32 images in [0, 1] -> ``base`` (frozen, called with training=False, fed
    its preprocess_input of 0..255 pixels) -> the reference's head (pooling, dropout, softmax)."""
    classes = reference.output_shape[-1]
    problem = model_problem(model, classes)
    expect(problem is None, f"`{name}`: {problem}")
    expect(is_model(base), "`base` (exercise 1) is missing: build it first.")
    found = _call_of(model, base)
    expect(found is not None, f"`{name}` does not use `base`: call x = base(x, training=False) "
           "on the preprocessed images (the functional API, as in keras.Input(...)).")
    training = found[1].arguments.kwargs.get("training")
    expect(training is not True, "base called with training=True: once the backbone is "
           "unfrozen, its batch norm would use each batch's statistics and overwrite ImageNet's. "
           "Call base(x, training=False).")
    expect(training is False, "call base(x, training=False): it says the backbone runs in "
           "inference mode (batch norm keeps ImageNet's statistics).")
    expect(not base.trainable_weights, "backbone left trainable: base.trainable = False before "
           "you build and compile the model.")
    x = probe_images()
    ref = transfer.get_backbone(reference)
    why = _preprocessing_problem(_backbone_input(model, base, x),
                                 _backbone_input(reference, ref, x))
    expect(why is None, why)
    why = _head_problem(model, base, reference)
    expect(why is None, why)
    for part, what in (("features", "images -> pooled features"), ("head", "the head")):
        expect(any(is_model(m) and m.name == part for m in model.layers), f"`{name}` needs "
               f"its {what} as a sub-model named {part!r} (name='{part}'), so that "
               "transfer.extract_features and transfer.get_head find them.")
    _remember(base)
    head = model.count_params() - base.count_params()
    return (f"the backbone gets preprocess_input's values and runs frozen; the head has "
            f"{head:,} trainable parameters, like the library's build_transfer_model.")


@exercises.check(3, "train the head", missing=_MISSING[3], hint=_HINTS[3])
def check_head_training(history: Any, model: Any, base: Any, *, name: str = "history") -> str:
    """``history``: what ``head.fit`` returned, ``head`` being the head inside ``model``
    trained on cached features, with validation data, finite losses, a learning rate that
    trains, and the backbone ``base`` unchanged."""
    import keras
    expect(isinstance(history, keras.callbacks.History), f"`{name}` should be what fit returns "
           f"(a History); this is a {type(history).__name__}: {name} = head.fit(...).")
    expect(history.model is not model, "you trained the whole model on the images: the slow "
           "way, running the backbone in every epoch. Fit `head` on the cached features.")
    expect(any(history.model is layer for layer in model.layers), f"`{name}` is the history of "
           "a model that is not the head inside `model`: fit `head`.")
    logs = history.history
    expect(logs.get("loss"), f"`{name}` holds no epoch: fit for at least one epoch.")
    expect("val_loss" in logs, "no validation data: pass validation_data=(features_val, "
           "lab.y_val), features of the validation split (never the test split).")
    expect(np.isfinite(logs["loss"]).all(), f"the loss became {logs['loss'][-1]}: a learning "
           "rate too high to train. Use Adam's default, 1e-3.")
    rate = float(keras.ops.convert_to_numpy(history.model.optimizer.learning_rate))
    expect(rate <= 1e-2, f"a learning rate of {rate:g} is too high to train: Adam's default "
           "1e-3 suits a new head.")
    expect(not base.trainable_weights, "backbone left trainable: set base.trainable = False.")
    expect(not _changed(base), "the backbone's weights changed since exercise 2: it was "
           "trained. Build base again, freeze it, rebuild the model, train the head again.")
    acc = max(logs.get("val_accuracy", [float("nan")]))
    return (f"{len(logs['loss'])} epochs on cached features, the backbone unchanged; best "
            f"validation accuracy {acc:.3f}.")


def _letters(answer: Any) -> set[str]:
    text = answer if isinstance(answer, str) else " ".join(map(str, answer))
    chosen = {c for c in text.lower() if c.isalnum()}
    unknown = sorted(chosen - set(CACHE_CHOICES))
    expect(not unknown, f"{unknown[0] if unknown else ''!r} is not a choice: give letters among "
           f"{', '.join(CACHE_CHOICES)}, e.g. {{'a'}}.")
    return chosen


@exercises.check(4, "when can features be cached?", missing=_MISSING[4], hint=_HINTS[4])
def check_cacheable(answer: Any, *, name: str = "can_cache") -> str:
    """``answer``: the letters of :data:`CACHE_CHOICES` whose work can use features computed
    once (a set, a list or a string such as "a, d")."""
    expect(isinstance(answer, (str, set, frozenset, list, tuple)), f"`{name}` should be a set "
           f"of letters such as {{'a', 'c'}}; received {answer!r}.")
    chosen = _letters(answer)
    for letter in ("b", "c"):
        expect(letter not in chosen, f"not {letter} ({CACHE_CHOICES[letter]}): "
               f"{_WHY_NOT[letter]}.")
    for letter in ("a", "d"):
        expect(letter in chosen, f"{letter} ({CACHE_CHOICES[letter]}) can: {_WHY_NOT[letter]}.")
    return ("a and d: features stay right while the images and the backbone stay the same; "
            "augmentation (b) and fine-tuning (c) need the backbone in every step.")


def _trainable_layers(backbone) -> set[str]:
    return {layer.name for layer in backbone.layers if layer.trainable_weights}


def _moving_statistics_changed(model, base, images) -> int:
    """How many batch norm layers of ``base`` one training-mode pass of ``model`` updates (as
    fit's first step would); every variable is restored afterwards."""
    saved = [(v, np.array(v.numpy())) for v in model.non_trainable_variables]
    bns = _bn_layers(base)

    def stats():
        return [np.concatenate([np.ravel(layer.moving_mean), np.ravel(layer.moving_variance)])
                for layer in bns]
    before = stats()
    try:
        model(images, training=True)
        return sum(not np.allclose(b, a) for b, a in zip(before, stats(), strict=True))
    finally:
        for variable, value in saved:
            variable.assign(value)


@exercises.check(5, "fine-tuning", missing=_MISSING[5], hint=_HINTS[5])
def check_fine_tuning(optimizer: Any, model: Any, base: Any, reference: Any, *,
                      name: str = "fine_tune_optimizer") -> str:
    """``model`` ready to fine-tune: the same layers of ``base`` trainable as in ``reference``
    after ``transfer.unfreeze_top``, batch norm frozen (a training step leaves its statistics),
    compiled again with ``optimizer``, a low learning rate."""
    import keras
    expect(isinstance(optimizer, keras.optimizers.Optimizer), f"`{name}` should be a Keras "
           f"optimizer, e.g. keras.optimizers.Adam(learning_rate=1e-5); this is a "
           f"{type(optimizer).__name__}.")
    expect(is_model(model) and is_model(base), "`model` and `base` (exercises 1-3) are needed.")
    mine, theirs = _trainable_layers(base), _trainable_layers(transfer.get_backbone(reference))
    expect(mine, "nothing in the backbone is trainable: set base.trainable = True first, then "
           "freeze all but its top layers.")
    expect(getattr(model, "optimizer", None) is optimizer, f"`model` is not compiled with "
           f"`{name}`: compile again after changing trainable: model.compile(optimizer={name}, "
           "loss=..., metrics=...).")
    expect(getattr(model, "train_function", None) is None, "not recompiled since the last fit: "
           "that fit's training step keeps the trainable weights it had (only the head). Call "
           "model.compile(...) after changing trainable (and run this check before fitting).")
    changed = _moving_statistics_changed(model, base, probe_images(8))
    expect(not changed, f"batch norm unfrozen while fine-tuning: one training step changed the "
           f"moving statistics of {changed} BatchNormalization layers, which would replace "
           "ImageNet's with those of small batches. In Keras 3, fit's training=True reaches the "
           "backbone even through base(x, training=False): set layer.trainable = False on "
           "every BatchNormalization layer.")
    bn = [layer.name for layer in _bn_layers(base) if layer.trainable_weights]
    expect(not bn, f"batch norm unfrozen while fine-tuning: {len(bn)} BatchNormalization layers "
           f"are trainable (e.g. {bn[0] if bn else ''}). Set layer.trainable = False on each.")
    extra, missing = sorted(mine - theirs), sorted(theirs - mine)
    expect(not extra, f"{len(mine)} backbone layers are trainable, {len(extra)} more than "
           f"transfer.unfreeze_top's {len(theirs)} (e.g. {extra[0] if extra else ''}): freeze "
           "base.layers[:-FINE_TUNE_LAYERS].")
    expect(not missing, f"{len(missing)} of the top layers are still frozen (e.g. "
           f"{missing[0] if missing else ''}): unfreeze base.layers[-FINE_TUNE_LAYERS:].")
    head = [w for w in model.trainable_weights if not any(w is v for v in base.weights)]
    expect(head, "the head is frozen: keep its layers trainable; they fine-tune too.")
    rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    expect(rate <= 1e-4, f"a learning rate of {rate:g} is too high for fine-tuning: large steps "
           "wreck the pretrained weights. Use 1e-5 (transfer.unfreeze_top's default).")
    return (f"{len(mine)} backbone layers train (as with transfer.unfreeze_top), batch norm "
            f"frozen, recompiled with learning rate {rate:g}.")
