"""Checks of notebook 01 (a baseline CNN): seed 000's network written out, output shapes and
parameter counts, ``compile`` and ``fit`` with callbacks, and a predictor that scales its
input. Models are built and run; the reference is :func:`cifarlab.models.build_baseline_cnn`.
See :mod:`cifarlab.exercises`."""

from collections.abc import Mapping
from typing import Any

import numpy as np

from cifarlab import models
from cifarlab.data import scale_images
from cifarlab.exercises import _core
from cifarlab.exercises._core import Exercises, NotYet, expect, is_model

exercises = Exercises("01_baseline_cnn")
record_results, hint, summary = exercises.record_results, exercises.hint, exercises.summary

#: Exercise 2: a layer (as the notebook writes it) and the shape of its input.
SHAPE_QUESTIONS = {"a": ("Conv2D(32, 3, padding='same')", (32, 32, 3)),
                   "b": ("Conv2D(16, 5, strides=2)", (32, 32, 3)),
                   "c": ("MaxPooling2D(2)", (15, 15, 64))}
#: Exercise 3: a layer and the shape of its input.
PARAM_QUESTIONS = {"conv": ("Conv2D(64, 5)", (10, 10, 32)),
                   "dense": ("Dense(10)", (4 * 4 * 64,))}


def _layer(spec: str):
    """The Keras layer a question writes, e.g. ``"Conv2D(16, 5, strides=2)"``."""
    import ast

    from keras import layers

    call = ast.parse(spec, mode="eval").body
    kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    return getattr(layers, call.func.id)(*map(ast.literal_eval, call.args), **kwargs)


@exercises.check(1, "seed 000's network", missing="keras.Sequential([keras.Input(shape=(32, "
                 "32, 3)), layers.Conv2D(32, 3, activation='relu'), ...])",
                 hint="keras.Input(shape=(32, 32, 3)), then three Conv2D (32, 64, 128 filters, "
                      "3x3, relu) each followed by MaxPooling2D (3, then 2, then 2), Flatten, "
                      "Dense(256, relu), Dense(128, relu), Dense(num_classes, softmax).")
def check_network(model: Any, *, num_classes: int, name: str = "model") -> str:
    """Check exercise 1: ``model`` has the layers, output shapes and parameters of
    :func:`cifarlab.models.build_baseline_cnn` (159,813 parameters for 5 classes)."""
    problem = _core.model_problem(model, num_classes)
    expect(problem is None, f"`{name}`: {problem}")
    reference = models.build_baseline_cnn(num_classes)
    expect(not (model.name == reference.name and [la.name for la in model.layers]
                == [la.name for la in reference.layers]), f"`{name}` is the library's network "
           "(models.build_baseline_cnn). Write the layers yourself in keras.Sequential([...]).")
    difference = _core.model_difference(model, reference)
    expect(difference is None, f"`{name}`: {difference}")
    return (f"{name} has seed 000's layers, output shapes and {model.count_params():,} "
            "parameters, like models.build_baseline_cnn.")


def _on(inputs: tuple) -> str:
    return "x".join(map(str, inputs)) if len(inputs) > 1 else f"{inputs[0]:,} inputs"


def _answers(answer: Any, keys, name: str) -> dict:
    expect(isinstance(answer, Mapping), f"`{name}` should be a dict with the keys "
           f"{', '.join(map(repr, keys))}; received a {type(answer).__name__}.")
    missing = [k for k in keys if answer.get(k) is None]
    expect(not missing, f"`{name}` still lacks an answer for {', '.join(map(repr, missing))}.")
    return answer


def _shape(value: Any) -> tuple | None:
    try:
        return tuple(int(v) for v in value if v is not None)
    except (TypeError, ValueError):
        return None


def _shape_mistake(spec: str, given: tuple, true: tuple, inputs: tuple) -> str:
    formula = ("'valid' (the default): out = (in - kernel) // stride + 1; 'same': out = "
               "ceil(in / stride); pooling: out = in // pool_size.")
    if len(given) != 3:
        return f"give three numbers (height, width, channels); received {given}."
    if given[2] != true[2]:
        return (f"the channels: a pooling layer keeps them ({true[2]})." if "Pool" in spec else
                f"the channels: a convolution outputs one map per filter ({true[2]}).")
    if "same" in spec and given[:2] == (inputs[0] - 2, inputs[1] - 2):
        return "'same' padding pads the borders, so the size stays 32x32."
    if "strides=2" in spec and given[:2] == (inputs[0] - 4, inputs[1] - 4):
        return "you forgot the stride: the filter moves 2 pixels at a time."
    if "strides=2" in spec and given[:2] == (16, 16):
        return "that is what 'same' padding would give; this one has 'valid' (the default)."
    if "Pool" in spec and given[:2] == (-(-inputs[0] // 2),) * 2:
        return "pooling rounds down: the last row and column that fill no window are dropped."
    return f"not {given}. {formula}"


@exercises.check(2, "output shapes", missing="a dict {{'a': (height, width, channels), 'b': ..., "
                 "'c': ...}}",
                 hint="'valid' padding: out = (in - kernel) // stride + 1; 'same' padding: out = "
                      "ceil(in / stride); MaxPooling2D(p): out = in // p; channels: the filters "
                      "of a convolution, unchanged by pooling.")
def check_output_shapes(shapes: Any, *, name: str = "output_shapes") -> str:
    """Check exercise 2: the output shape (height, width, channels) of each layer of
    :data:`SHAPE_QUESTIONS` on its input, as Keras computes it."""
    shapes = _answers(shapes, SHAPE_QUESTIONS, name)
    for key, (spec, inputs) in SHAPE_QUESTIONS.items():
        true = tuple(_layer(spec).compute_output_shape((None, *inputs))[1:])
        given = _shape(shapes[key])
        expect(given is not None, f"{name}[{key!r}] should be a tuple of numbers such as "
               f"(30, 30, 32); received {shapes[key]!r}.")
        if given != true:
            raise NotYet(f"{name}[{key!r}] ({spec} on {_on(inputs)}): "
                         f"{_shape_mistake(spec, given, true, inputs)}")
    return "all three shapes are right: " + ", ".join(
        f"{spec} -> {tuple(_layer(spec).compute_output_shape((None, *i))[1:])}"
        for spec, i in SHAPE_QUESTIONS.values()) + "."


def _count_mistake(key: str, given: int, inputs: tuple, units: int) -> str:
    if key == "conv":
        kernel, channels = 25, inputs[-1]
        if given == kernel * channels * units:
            return "you forgot the biases: one per filter."
        if given == (kernel + 1) * units:
            return f"each filter spans all {channels} input channels: 5 x 5 x {channels} weights."
        if given > 2 * (kernel * channels + 1) * units:
            return "the weights are shared across positions: the image size does not count."
        return "a convolution has (kernel height x kernel width x input channels + 1) x filters."
    if given == inputs[0] * units:
        return "you forgot the biases: one per unit."
    if given == (64 + 1) * units:
        return f"Flatten turns 4x4x64 into {inputs[0]} inputs, every one connected to each unit."
    return "a dense layer has (inputs + 1) x units: one weight per input and a bias, per unit."


@exercises.check(3, "parameter counts", missing="a dict {{'conv': number, 'dense': number}}",
                 hint="Conv2D: (kernel_h x kernel_w x input channels + 1) x filters; Dense: "
                      "(inputs + 1) x units. The +1 is the bias.")
def check_param_counts(counts: Any, *, name: str = "param_counts") -> str:
    """Check exercise 3: the parameters of each layer of :data:`PARAM_QUESTIONS`, counted by
    building the layer in Keras."""
    counts = _answers(counts, PARAM_QUESTIONS, name)
    for key, (spec, inputs) in PARAM_QUESTIONS.items():
        layer = _layer(spec)
        layer.build((None, *inputs))
        true, given = layer.count_params(), counts[key]
        expect(isinstance(given, (int, float, np.number)) and not isinstance(given, bool)
               and float(given).is_integer(), f"{name}[{key!r}] should be a whole number; "
               f"received {given!r}.")
        units = getattr(layer, "filters", None) or layer.units
        expect(given == true, f"{name}[{key!r}] ({spec} on {_on(inputs)}) is not "
               f"{int(given):,}: {_count_mistake(key, int(given), inputs, units)}")
    return ("both counts are right: Conv2D(64, 5) on 32 channels has (5 x 5 x 32 + 1) x 64 = "
            "51,264 parameters, Dense(10) on 1,024 inputs (1,024 + 1) x 10 = 10,250.")


def _outputs(model, images: np.ndarray, batch: int = 256):
    """``(start, images, outputs)`` per batch, the model called directly (no tracing: quick)."""
    for start in range(0, len(images), batch):
        x = np.asarray(images[start:start + batch], dtype=np.float32)
        yield start, x, model(x, training=False)


def _predict(model, images: np.ndarray) -> np.ndarray:
    return np.concatenate([np.asarray(p) for _, _, p in _outputs(model, images)])


def _loss(model, images: np.ndarray, y: np.ndarray) -> float:
    """The model's compiled loss on (images, y), as fit reports val_loss."""
    total = sum(float(model.compute_loss(x=x, y=y[i:i + len(x)], y_pred=p, training=False))
                * len(x) for i, x, p in _outputs(model, images))
    return total / len(y)


def _callbacks_used(callbacks: Any, model, history):
    import keras

    expect(isinstance(callbacks, (list, tuple)), "`callbacks` should be the list you passed to "
           "fit: [keras.callbacks.EarlyStopping(...), keras.callbacks.ReduceLROnPlateau(...)].")
    for kind in (keras.callbacks.EarlyStopping, keras.callbacks.ReduceLROnPlateau):
        found = [cb for cb in callbacks if isinstance(cb, kind)]
        expect(found, f"`callbacks` has no {kind.__name__}: add keras.callbacks.{kind.__name__}"
               "(monitor='val_loss', ...).")
        cb = found[0]
        expect(cb.model is model, f"the {kind.__name__} was not used by this fit: pass "
               "callbacks=callbacks to model.fit.")
        expect(cb.monitor.startswith("val_"), f"the {kind.__name__} watches {cb.monitor!r}, "
               "the training images: watch the validation loss, monitor='val_loss'.")
    early = next(cb for cb in callbacks if isinstance(cb, keras.callbacks.EarlyStopping))
    expect(early.restore_best_weights, "EarlyStopping without restore_best_weights=True keeps "
           "the last epoch's weights, not the best one's.")
    expect("learning_rate" in history.history, "the history has no learning_rate: did "
           "ReduceLROnPlateau run in this fit?")
    return early


def _validation_mistake(model, lab, val_losses: list) -> str:
    """Which data the history's validation loss was measured on, said as the mistake."""
    tol = dict(rtol=1e-4, atol=1e-6)
    n = len(lab.y_val)
    guesses = [
        ("test split used for validation: the history was measured on the test images. "
         "Validate on (lab.x_val, lab.y_val); the test split is for the very end.",
         scale_images(lab.data.x_test), lab.data.y_test),
        ("unscaled pixels: the model was trained and validated on 0-255 values. Scale them "
         "first: lab.x_train.astype('float32') / 255, and the same for lab.x_val.",
         lab.x_val.astype("float32"), lab.y_val),
        ("validation_split: the last rows of the training images, unshuffled (seed 000). Pass "
         "validation_data=(x_val, lab.y_val) instead.",
         scale_images(lab.x_train[-n:]), lab.y_train[-n:]),
    ]
    for why, x, y in guesses:
        if any(np.isclose(_loss(model, x, y), v, **tol) for v in val_losses):
            return why
    return ("the model's loss on (lab.x_val, lab.y_val) matches no epoch of the history: "
            "validate on validation_data=(x_val, lab.y_val), scaled like the training images. "
            "Did you train the model again after this fit?")


@exercises.check(4, "compile and fit", missing="what model.fit(...) returns (model.compile "
                 "returns None)",
                 hint="model.compile(optimizer=keras.optimizers.Adam(1e-3), loss='sparse_"
                      "categorical_crossentropy', metrics=['accuracy']); history = model.fit("
                      "x_train, lab.y_train, validation_data=(x_val, lab.y_val), epochs="
                      "lab.epochs, batch_size=64, callbacks=callbacks).")
def check_training(history: Any, lab: Any, *, callbacks: Any, name: str = "history") -> str:
    """Check exercise 4: ``history`` (from ``model.fit``) trained with ``callbacks``
    (EarlyStopping restoring the best weights, ReduceLROnPlateau) and validated on
    ``lab.x_val`` scaled to [0, 1]; the model holds the best epoch's weights."""
    import keras

    expect(not is_model(history), f"`{name}` is the model; keep what fit returns: {name} = "
           "model.fit(...).")
    expect(isinstance(history, keras.callbacks.History), f"`{name}` should be what model.fit "
           f"returns (a History); received a {type(history).__name__}.")
    model, logs = history.model, history.history
    expect(is_model(model) and logs.get("loss"), f"`{name}` holds no training: run model.fit.")
    expect("val_loss" in logs, "no validation: the history has no val_loss. Pass validation_"
           "data=(x_val, lab.y_val) to fit.")
    early = _callbacks_used(callbacks, model, history)
    val_losses = [float(v) for v in logs["val_loss"]]
    mine = _loss(model, scale_images(lab.x_val), lab.y_val)
    matches = [i for i, v in enumerate(val_losses) if np.isclose(mine, v, rtol=1e-4, atol=1e-6)]
    expect(matches, _validation_mistake(model, lab, val_losses))
    watched = np.asarray(logs.get(early.monitor, val_losses), dtype=np.float64)
    best = int(np.argmin(watched) if "loss" in early.monitor else np.argmax(watched))
    expect(best in matches, f"the model holds epoch {matches[-1] + 1}'s weights, not the best "
           f"epoch's ({best + 1}): EarlyStopping(restore_best_weights=True).")
    return (f"{len(val_losses)} epochs on scaled images, validated on lab.x_val; the model holds "
            f"the weights of epoch {best + 1}, the best {early.monitor} ({watched[best]:.3f}).")


@exercises.check(5, "a predictor that scales", missing="a function predict_photo(model, image) "
                 "that returns the class probabilities of one uint8 image",
                 hint="x = image.astype('float32') / 255; return model.predict(x[None], "
                      "verbose=0)[0]  (x[None] adds the batch axis; [0] takes it away).")
def check_predictor(predict: Any, model: Any, images: np.ndarray, *,
                    name: str = "predict_photo") -> str:
    """Check exercise 5: ``predict(model, image)`` gives, for each uint8 ``image`` (32x32x3),
    the probabilities the model gives that image scaled to [0, 1]."""
    expect(callable(predict), f"`{name}` should be a function (def {name}(model, image): ...);"
           f" received a {type(predict).__name__}.")
    images = np.asarray(images)
    expect(images.dtype == np.uint8, "give the check uint8 images (0..255), as photos are.")
    truth, raw, twice = (_predict(model, x) for x in (
        scale_images(images), images.astype("float32"), scale_images(images) / 255))
    for i, image in enumerate(images):
        p = np.asarray(predict(model, image.copy()), dtype=np.float64)
        expect(p.size == truth.shape[1], f"`{name}` returned shape {p.shape} for one image; "
               f"return its {truth.shape[1]} class probabilities (take [0] of predict's batch).")
        p = p.reshape(-1)
        if np.allclose(p, truth[i], atol=1e-5):
            continue
        expect(not np.allclose(p, raw[i], atol=1e-5), "unscaled pixels: your predictor feeds "
               "0-255 values to a model trained on [0, 1], as seed 003's image_predictor did "
               "(its 'Likelihood: 1.0'). Divide by 255 first.")
        expect(not np.allclose(p, twice[i], atol=1e-5), "scaled twice: the pixels are divided "
               "by 255 two times.")
        raise NotYet(f"for image {i} your predictor gives {np.round(p, 3)}, the model on the "
                     f"scaled image {np.round(truth[i], 3)}.")
    top, bad = truth.max(axis=1), raw.max(axis=1)
    return (f"{len(images)} uint8 images predicted as the model sees them scaled (top "
            f"probability {top.min():.2f} to {top.max():.2f}); unscaled, they would get "
            f"{bad.min():.2f} to {bad.max():.2f}.")
