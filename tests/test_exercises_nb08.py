"""cifarlab.exercises.nb08: the training step, the callback and the schedule, each checked by
what it does; every check passes on a right answer, says "Not yet" on None, and names the
typical mistake (training=False, gradient ascent, the training accuracy watched, decay_steps in
epochs, a learning rate too high to train, ...)."""

from __future__ import annotations

import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from cifarlab.exercises import nb08 as ex  # noqa: E402
from tests.exercise_checks import not_yet, passes  # noqa: E402

# --------------------------------------------------------------------------- exercise 1

def make_step(*, training=True, sign=1.0, apply=True, returns=True, twice=False):
    def train_step(model, optimizer, loss_fn, images, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(images, training=training))
        gradients = [sign * g for g in tape.gradient(loss, model.trainable_variables)]
        for _ in range(2 if twice else 1 if apply else 0):
            optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return loss if returns else None
    return train_step


def test_train_step_right_answer(capsys):
    out = passes(capsys, ex.check_train_step(make_step()))
    assert "fit's loss" in out


def test_train_step_missing(capsys):
    not_yet(capsys, ex.check_train_step(None), "`train_step` is still None")
    not_yet(capsys, ex.check_train_step("step"), "should be a function")


def test_train_step_typical_mistakes(capsys):
    not_yet(capsys, ex.check_train_step(make_step(training=False)), "without training=True")
    not_yet(capsys, ex.check_train_step(make_step(sign=-1.0)), "moved up the gradient")
    not_yet(capsys, ex.check_train_step(make_step(apply=False)), "the weights did not change")
    not_yet(capsys, ex.check_train_step(make_step(returns=False)), "returns nothing")
    not_yet(capsys, ex.check_train_step(make_step(twice=True)), "apply the gradients once")

    def loss_after(model, optimizer, loss_fn, images, labels):
        make_step()(model, optimizer, loss_fn, images, labels)
        return loss_fn(labels, model(images, training=True))

    not_yet(capsys, ex.check_train_step(loss_after), "inside the GradientTape block")

    def outside_tape(model, optimizer, loss_fn, images, labels):
        with tf.GradientTape() as tape:
            predictions = model(images, training=True)
        loss = loss_fn(labels, predictions)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return loss

    not_yet(capsys, ex.check_train_step(outside_tape), "the check could not use your answer")


# --------------------------------------------------------------------------- exercise 2

class StopAtAccuracy(keras.callbacks.Callback):
    def __init__(self, target):
        super().__init__()
        self.target = target

    def on_epoch_end(self, epoch, logs=None):
        if logs["val_accuracy"] >= self.target:
            self.model.stop_training = True


def _callback(condition, *, on_model=True):
    class Mine(StopAtAccuracy):
        def on_epoch_end(self, epoch, logs=None):
            if condition(logs, self.target):
                (self.model if on_model else self).stop_training = True
    return Mine


def test_callback_right_answer(capsys):
    out = passes(capsys, ex.check_callback(StopAtAccuracy))
    assert "never on the training accuracy" in out


def test_callback_missing_and_wrong_kinds(capsys):
    not_yet(capsys, ex.check_callback(None), "`StopAtAccuracy` is still None")
    not_yet(capsys, ex.check_callback(StopAtAccuracy(0.5)), "should be the class itself")
    not_yet(capsys, ex.check_callback(dict), "must subclass keras.callbacks.Callback")


def test_callback_typical_mistakes(capsys):
    on_train = _callback(lambda logs, t: logs["accuracy"] >= t)
    not_yet(capsys, ex.check_callback(on_train), "the *training* accuracy")
    strict = _callback(lambda logs, t: logs["val_accuracy"] > t)
    not_yet(capsys, ex.check_callback(strict), "'reaches' includes equal")
    not_model = _callback(lambda logs, t: logs["val_accuracy"] >= t, on_model=False)
    not_yet(capsys, ex.check_callback(not_model), "self.model.stop_training = True")
    reversed_ = _callback(lambda logs, t: logs["val_accuracy"] < t)
    not_yet(capsys, ex.check_callback(reversed_), "stops before the validation accuracy")


# --------------------------------------------------------------------------- exercise 3

Cosine = keras.optimizers.schedules.CosineDecay


def test_schedule_right_answer(capsys):
    out = passes(capsys, ex.check_schedule(Cosine(1e-3, 120, alpha=0.01), total_steps=120))
    assert "falls from 0.001 to 1e-05" in out


def test_schedule_missing(capsys):
    not_yet(capsys, ex.check_schedule(None, total_steps=120), "`cosine` is still None")


def test_schedule_typical_mistakes(capsys):
    def check(schedule):
        return ex.check_schedule(schedule, total_steps=120)

    not_yet(capsys, check(Cosine(0.5, 120, alpha=0.01)), "a learning rate too high to train")
    not_yet(capsys, check(Cosine(1e-4, 120, alpha=0.01)), "start at 0.001")
    not_yet(capsys, check(Cosine(1e-3, 2, alpha=0.01)), "counts optimizer steps (batches)")
    not_yet(capsys, check(Cosine(1e-3, 120)), "keep alpha=0.01")
    not_yet(capsys, check(1e-3), "a constant learning rate")
    not_yet(capsys, check(keras.optimizers.Adam(Cosine(1e-3, 120, alpha=0.01))),
             "this is an optimizer")
    not_yet(capsys, check(keras.callbacks.LearningRateScheduler(lambda e, lr: lr)),
             "this is a callback")
    not_yet(capsys, check(lambda epoch, lr: lr * 0.9), "LearningRateScheduler function")
    not_yet(capsys, check(keras.optimizers.schedules.ExponentialDecay(1e-3, 120, 0.01)),
             "do not follow half a cosine")
    rising = keras.optimizers.schedules.PolynomialDecay(1e-3, 120, end_learning_rate=2e-3)
    not_yet(capsys, check(rising), "rises somewhere")
