"""Checks of notebook 08 (CIFAR-10 and reporting): one training step written with
``tf.GradientTape``, a callback, a learning-rate schedule; each checked by what it does."""

import inspect
import math
from typing import Any

import numpy as np

from cifarlab.exercises._core import Exercises, expect

exercises = Exercises("08_cifar10_and_reporting")
record_results, hint, summary = exercises.record_results, exercises.hint, exercises.summary

TOO_HIGH = 1e-2  # an Adam learning rate above this is too high to train these networks


def _tiny_network(seed: int = 0):
    """Conv -> BatchNormalization -> ReLU -> pooling -> softmax: small, seeded, with batch
    statistics (so ``training=True`` matters) and no dropout (so one step is deterministic)."""
    import keras

    layers = keras.layers
    return keras.Sequential([
        keras.Input(shape=(8, 8, 3)),
        layers.Conv2D(4, 3, kernel_initializer=keras.initializers.GlorotUniform(seed)),
        layers.BatchNormalization(),
        layers.Activation("relu"),
        layers.GlobalAveragePooling2D(),
        layers.Dense(3, activation="softmax",
                     kernel_initializer=keras.initializers.GlorotUniform(seed + 1)),
    ])


def _trainable(model) -> list[np.ndarray]:
    return [np.array(v) for v in model.trainable_variables]


def _close(a, b) -> bool:
    return all(np.allclose(x, y, rtol=1e-4, atol=1e-6) for x, y in zip(a, b, strict=True))


@exercises.check(1, "one training step by hand", missing="a function train_step(model, "
                 "optimizer, loss_fn, images, labels) that returns the loss",
                 hint="with tf.GradientTape() as tape: predictions = model(images, training=True);"
                 " loss = loss_fn(labels, predictions). Then gradients = tape.gradient(loss, "
                 "model.trainable_variables) and optimizer.apply_gradients(zip(gradients, "
                 "model.trainable_variables)).")
def check_train_step(train_step: Any, *, name: str = "train_step") -> str:
    """Check one step of ``train_step`` against ``model.train_on_batch`` on the same batch from
    the same weights (SGD, learning rate 0.1): same loss, same weights afterwards."""
    import keras

    expect(callable(train_step), f"`{name}` should be a function (def {name}(model, optimizer, "
           f"loss_fn, images, labels): ...); it is a {type(train_step).__name__}.")
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 1, (16, 8, 8, 3)).astype("float32"), rng.integers(0, 3, 16)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    reference = _tiny_network()
    start = _trainable(reference)
    reference.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss_fn)
    right = float(reference.train_on_batch(x, y, return_dict=True)["loss"])
    after, after_all = _trainable(reference), reference.get_weights()
    mine = _tiny_network()
    loss = train_step(mine, keras.optimizers.SGD(0.1), loss_fn, x, y)
    expect(loss is not None, f"{name} returns nothing: return the loss of the batch (computed "
           "before the update), as fit reports it.")
    loss, weights = float(np.asarray(loss)), _trainable(mine)
    expect(not _close(weights, start), "the weights did not change: apply the gradients with "
           "optimizer.apply_gradients(zip(gradients, model.trainable_variables)).")
    inference = float(loss_fn(y, _tiny_network()(x, training=False)))
    expect(not math.isclose(loss, inference, rel_tol=1e-4), "the model was called without "
           "training=True: batch normalization then uses its moving averages instead of the "
           "batch's statistics, and does not update them. Call model(images, training=True), "
           "as fit does.")
    expect(math.isclose(loss, right, rel_tol=1e-4, abs_tol=1e-6), f"your step's loss is "
           f"{loss:.5f}, fit's {right:.5f} on the same batch: compute loss_fn(labels, "
           "predictions) inside the GradientTape block, on the predictions for this batch.")
    backwards = [2 * s - a for s, a in zip(start, after, strict=True)]
    expect(not _close(weights, backwards), "the weights moved up the gradient, so the loss "
           "grows: the optimizer subtracts the gradient itself, give it the gradients as "
           "tape.gradient returns them.")
    expect(_close(mine.get_weights(), after_all), "the loss is right but the weights differ "
           "from fit's after one step: apply the gradients once, with the optimizer given, to "
           "model.trainable_variables.")
    return (f"one step by hand gives fit's loss ({right:.4f}) and fit's weights: forward pass "
            "with training=True, loss, gradients, update.")


def _colour_model():
    """Mean colour -> Dense -> softmax, predicting the colour channel; never learns (lr 0)."""
    import keras

    inputs = keras.Input((4, 4, 3))
    dense = keras.layers.Dense(3, activation="softmax")
    model = keras.Model(inputs, dense(keras.layers.GlobalAveragePooling2D()(inputs)))
    dense.set_weights([np.eye(3, dtype="float32") * 10, np.zeros(3, dtype="float32")])
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _epochs_run(model, callback, *, train_right: bool, val_right: bool) -> int:
    """Epochs fit runs (of 2) with ``callback`` when training / validation accuracy is 1 or 0."""
    colours = np.arange(6) % 3
    x = np.zeros((6, 4, 4, 3), dtype="float32")
    x[np.arange(6), :, :, colours] = 1.0
    y_train, y_val = (colours if right else (colours + 1) % 3 for right in (train_right, val_right))
    history = model.fit(x, y_train, validation_data=(x, y_val), epochs=2, batch_size=6,
                        callbacks=[callback], verbose=0, shuffle=False)
    return len(history.epoch)


@exercises.check(2, "a callback", missing="a class StopAtAccuracy(keras.callbacks.Callback) "
                 "whose StopAtAccuracy(target) stops training", hint="def on_epoch_end(self, "
                 "epoch, logs=None): if logs['val_accuracy'] >= self.target: "
                 "self.model.stop_training = True")
def check_callback(callback_class: Any, *, name: str = "StopAtAccuracy") -> str:
    """Check ``callback_class(target)`` by its effect on a model whose accuracies are fixed:
    it must stop fit once the *validation* accuracy reaches ``target``, and only then."""
    import keras

    expect(isinstance(callback_class, type), f"`{name}` should be the class itself (class "
           f"{name}(keras.callbacks.Callback): ...), not a {type(callback_class).__name__}.")
    expect(issubclass(callback_class, keras.callbacks.Callback), f"`{name}` must subclass "
           "keras.callbacks.Callback, so that fit calls its on_epoch_end.")
    model = _colour_model()

    def stops(target: float, train_right: bool, val_right: bool) -> bool:
        return _epochs_run(model, callback_class(target), train_right=train_right,
                           val_right=val_right) < 2

    expect(not stops(1.01, False, True), "it stops before the validation accuracy reaches the "
           "target: stop when logs['val_accuracy'] >= self.target.")
    expect(not stops(0.5, True, False), "it stopped when the *training* accuracy reached the "
           "target, not the validation accuracy: watch logs['val_accuracy'], the accuracy on "
           "images the model does not train on.")
    expect(stops(1.0, False, True), "fit ran on although the validation accuracy (1.0) had "
           "reached the target (1.0): in on_epoch_end set self.model.stop_training = True when "
           "logs['val_accuracy'] >= self.target ('reaches' includes equal).")
    return (f"{name} stops fit at the end of the first epoch whose validation accuracy reaches "
            "the target, and never on the training accuracy.")


def _rate(schedule, step: int) -> float:
    return float(np.asarray(schedule(step)))


def _schedule_kind_problem(schedule: Any) -> str | None:
    import keras

    if isinstance(schedule, (int, float)):
        return (f"{schedule!r} is a constant learning rate, not a schedule: make one with "
                "keras.optimizers.schedules.CosineDecay(...).")
    if isinstance(schedule, keras.optimizers.Optimizer):
        return ("this is an optimizer; give the schedule, which the notebook then passes to "
                "keras.optimizers.Adam(schedule).")
    if isinstance(schedule, keras.callbacks.Callback):
        return ("this is a callback (LearningRateScheduler changes the rate once per epoch); "
                "here the optimizer follows the schedule at every step: use "
                "keras.optimizers.schedules.CosineDecay(...).")
    if not callable(schedule):
        return f"a schedule is callable with the step number; this is a {type(schedule).__name__}."
    if not isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        try:
            takes = len(inspect.signature(schedule).parameters)
        except (TypeError, ValueError):
            takes = 1
        if takes >= 2:
            return ("this looks like a LearningRateScheduler function (epoch, lr); the optimizer "
                    "calls its schedule with one argument, the step: use "
                    "keras.optimizers.schedules.CosineDecay(...).")
    return None


@exercises.check(3, "a learning-rate schedule", missing="a schedule, e.g. keras.optimizers."
                 "schedules.CosineDecay(...)", hint="CosineDecay(initial_learning_rate=1e-3, "
                 "decay_steps=total_steps, alpha=0.01): decay_steps counts batches (optimizer "
                 "steps), not epochs; alpha is the share of the rate left at the end.")
def check_schedule(schedule: Any, *, total_steps: int, initial: float = 1e-3,
                   final_fraction: float = 0.01, name: str = "cosine") -> str:
    """Check the rates of ``schedule`` per step: ``initial`` at step 0, half a cosine down to
    ``initial * final_fraction`` at ``total_steps`` (the steps of all planned epochs)."""
    problem = _schedule_kind_problem(schedule)
    expect(problem is None, f"`{name}`: {problem}")
    steps = np.linspace(0, total_steps, 9).round().astype(int)
    rates = np.array([_rate(schedule, int(s)) for s in steps])
    expect(np.isfinite(rates).all() and rates.min() >= 0, "the rates must be numbers >= 0; "
           f"yours run {rates.min():.3g} .. {rates.max():.3g}.")
    expect(rates[0] <= TOO_HIGH, f"a learning rate too high to train: {rates[0]:g} at the start. "
           f"Adam's steps that large overshoot every minimum, and the loss explodes (NaN) or "
           f"stays at chance. Start at {initial:g}.")
    expect(math.isclose(rates[0], initial, rel_tol=1e-3), f"the schedule starts at {rates[0]:g}; "
           f"start at {initial:g} (initial_learning_rate).")
    expect(np.all(np.diff(rates) <= 1e-12), "the rate should fall from step to step; yours "
           f"rises somewhere: {', '.join(f'{r:.2g}' for r in rates)}.")
    floor = initial * final_fraction
    expect(not math.isclose(rates[2], rates[-1], rel_tol=1e-3), "the rate reaches its end "
           f"value by step {steps[2]} of {total_steps}: decay_steps counts optimizer steps "
           "(batches), not epochs. Use lab.epochs * steps_per_epoch.")
    expect(not math.isclose(rates[-1], 0, abs_tol=floor / 10), "the rate falls to 0 at the end, "
           "so the last epochs learn nothing: keep alpha=0.01 (1 % of the start).")
    t = steps / total_steps
    cosine = initial * (final_fraction + (1 - final_fraction) * 0.5 * (1 + np.cos(np.pi * t)))
    expect(np.allclose(rates, cosine, rtol=1e-3), "the rates do not follow half a cosine from "
           f"{initial:g} to {floor:g} over {total_steps} steps: yours are "
           f"{', '.join(f'{r:.2g}' for r in rates)}.")
    return (f"{name} falls from {rates[0]:g} to {rates[-1]:g} along half a cosine over "
            f"{total_steps} steps ({rates[4]:.2g} halfway).")
