"""cifarlab.exercises.nb01: every check passes on a right answer, says "Not yet:" on None and
names each typical mistake. Models are built and trained for real, tiny and on random images."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from keras import layers  # noqa: E402

from cifarlab import exercises, models  # noqa: E402
from cifarlab.exercises import nb01 as ex  # noqa: E402


def _verdict(capsys, result, *, passed: bool) -> str:
    out = capsys.readouterr().out.strip()
    assert out.count("\n") == 0, f"a check prints one line: {out!r}"
    assert result is passed, out
    assert out.startswith(exercises.PASSED if passed else exercises.NOT_YET), out
    return out


def _fails(capsys, result, *words: str) -> str:
    out = _verdict(capsys, result, passed=False)
    for word in words:
        assert word in out, out
    return out


# --- exercise 1: the network -----------------------------------------------------------

def seed_000(num_classes=5, *, first_pool=3, padding="valid", head="softmax", inputs=True):
    return keras.Sequential([
        *([keras.Input(shape=(32, 32, 3))] if inputs else []),
        layers.Conv2D(32, 3, padding=padding, activation="relu"),
        layers.MaxPooling2D(first_pool),
        layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(128, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(256, activation="relu"),
        layers.Dense(128, activation="relu"),
        layers.Dense(num_classes, activation=head),
    ])


def test_network_passes_on_seed_000_written_out(capsys):
    out = _verdict(capsys, ex.check_network(seed_000(), num_classes=5), passed=True)
    assert "159,813 parameters" in out


@pytest.mark.parametrize("model, words", [
    (None, ("still None",)),
    (lambda: models.build_baseline_cnn(5), ("library's network",)),
    (lambda: seed_000(inputs=False), ("keras.Input",)),
    (lambda: seed_000(first_pool=2), ("layer 2", "outputs")),
    (lambda: seed_000(padding="same"), ("layer 1", "padding")),
    (lambda: seed_000(head=None), ("probabilities", "softmax")),
    (lambda: seed_000(num_classes=100), ("(None, 5)",)),
])
def test_network_names_the_mistake(capsys, model, words):
    _fails(capsys, ex.check_network(model and model(), num_classes=5), *words)


# --- exercises 2 and 3: shapes and parameters ------------------------------------------

SHAPES = {"a": (32, 32, 32), "b": (14, 14, 16), "c": (7, 7, 64)}
COUNTS = {"conv": 51_264, "dense": 10_250}


def test_shapes_pass_on_the_right_answers_batch_axis_allowed(capsys):
    _verdict(capsys, ex.check_output_shapes(SHAPES), passed=True)
    _verdict(capsys, ex.check_output_shapes({**SHAPES, "a": (None, 32, 32, 32)}), passed=True)


@pytest.mark.parametrize("change, words", [
    (None, ("still None",)),
    ({"a": (30, 30, 32)}, ("'same' padding",)),
    ({"a": (32, 32, 3)}, ("channels", "one map per filter")),
    ({"b": (28, 28, 16)}, ("stride",)),
    ({"b": (16, 16, 16)}, ("'same' padding would give",)),
    ({"b": (13, 13, 16)}, ("(in - kernel) // stride + 1",)),
    ({"c": (8, 8, 64)}, ("rounds down",)),
    ({"c": (7, 7, 32)}, ("pooling layer keeps them",)),
    ({"c": None}, ("lacks an answer", "'c'")),
    ({"c": "7x7"}, ("tuple of numbers",)),
])
def test_shapes_name_the_mistake(capsys, change, words):
    _fails(capsys, ex.check_output_shapes(change and {**SHAPES, **change}), *words)
    if change is None:
        _fails(capsys, ex.check_output_shapes([(32, 32, 32)]), "should be a dict")


def test_counts_pass_on_the_right_answers(capsys):
    _verdict(capsys, ex.check_param_counts(COUNTS), passed=True)
    _verdict(capsys, ex.check_param_counts({"conv": 51264.0, "dense": np.int64(10250)}),
             passed=True)


@pytest.mark.parametrize("change, words", [
    (None, ("still None",)),
    ({"conv": 51_200}, ("biases", "filter")),
    ({"conv": 1_664}, ("all 32 input channels",)),
    ({"conv": 51_264 * 36}, ("shared across positions",)),
    ({"conv": 18_496}, ("kernel height x kernel width",)),
    ({"dense": 10_240}, ("biases", "unit")),
    ({"dense": 650}, ("Flatten",)),
    ({"dense": 10_000}, ("(inputs + 1) x units",)),
    ({"dense": "10250"}, ("whole number",)),
])
def test_counts_name_the_mistake(capsys, change, words):
    _fails(capsys, ex.check_param_counts(change and {**COUNTS, **change}), *words)


# --- exercise 4: compile and fit -------------------------------------------------------

@pytest.fixture(scope="module")
def lab():
    rng = np.random.default_rng(0)

    def split(n):
        return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 3, n)

    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = split(60), split(20), split(20)
    return SimpleNamespace(x_train=x_tr, y_train=y_tr, x_val=x_va, y_val=y_va,
                           data=SimpleNamespace(x_test=x_te, y_test=y_te))


def tiny_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((32, 32, 3)), layers.Conv2D(4, 3, strides=4),
                              layers.GlobalAveragePooling2D(), layers.Dense(3, "softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def callbacks(*, restore=True, monitor="val_loss", reduce=True):
    return [keras.callbacks.EarlyStopping(monitor=monitor, patience=5,
                                          restore_best_weights=restore),
            *([keras.callbacks.ReduceLROnPlateau(monitor="val_loss", patience=3)] if reduce
              else [])]


@pytest.fixture(scope="module")
def scratch():
    """One model for the wrong fits, reset before each (a new model would trace again)."""
    model = tiny_model()
    return model, model.get_weights()


def fit(lab, cbs, *, scale=True, validation="val", model=None):
    if model is None:
        model = tiny_model()
    else:
        model, weights = model
        model.set_weights(weights)
    s = 255.0 if scale else 1.0
    x = lab.x_train.astype("float32") / s
    kwargs = {"validation_data": (lab.x_val.astype("float32") / s, lab.y_val)}
    if validation == "test":
        kwargs = {"validation_data": (lab.data.x_test.astype("float32") / s, lab.data.y_test)}
    elif validation == "split":
        kwargs = {"validation_split": len(lab.y_val) / len(lab.y_train)}
    elif validation is None:
        kwargs = {}
    return model.fit(x, lab.y_train, epochs=2, batch_size=16, callbacks=cbs, verbose=0, **kwargs)


@pytest.fixture(scope="module")
def right(lab):
    cbs = callbacks()
    return fit(lab, cbs), cbs


def test_training_passes_on_fit_with_both_callbacks(capsys, lab, right):
    history, cbs = right
    out = _verdict(capsys, ex.check_training(history, lab, callbacks=cbs), passed=True)
    assert "validated on lab.x_val" in out


def test_training_is_not_yet_on_none_on_the_model_and_on_other_callbacks(capsys, lab, right):
    history, cbs = right
    _fails(capsys, ex.check_training(None, lab, callbacks=cbs), "still None", "compile")
    _fails(capsys, ex.check_training(history.model, lab, callbacks=cbs), "is the model")
    _fails(capsys, ex.check_training(history, lab, callbacks=cbs[:1]), "no ReduceLROnPlateau")
    _fails(capsys, ex.check_training(history, lab, callbacks=callbacks()), "not used by this fit")


@pytest.mark.parametrize("options, words", [
    ({"validation": "test"}, ("test split used for validation",)),
    ({"scale": False}, ("unscaled pixels",)),
    ({"validation": "split"}, ("validation_split", "seed 000")),
    ({"validation": None}, ("no validation",)),
])
def test_training_names_the_wrong_validation(capsys, lab, scratch, options, words):
    cbs = callbacks() if options.get("validation", "val") else []
    history = fit(lab, cbs, model=scratch, **options)
    _fails(capsys, ex.check_training(history, lab, callbacks=cbs), *words)


@pytest.mark.parametrize("options, words", [
    ({"restore": False}, ("restore_best_weights",)),
    ({"monitor": "loss"}, ("watches 'loss'", "val_loss")),
])
def test_training_names_wrong_callbacks(capsys, lab, scratch, options, words):
    cbs = callbacks(**options)
    history = fit(lab, cbs, model=scratch)
    _fails(capsys, ex.check_training(history, lab, callbacks=cbs), *words)


def test_training_notices_a_model_trained_again(capsys, lab, scratch):
    cbs = callbacks()
    history = fit(lab, cbs, model=scratch)
    model = history.model  # trained on afterwards: other weights, the same history
    model.set_weights([w + 0.05 for w in model.get_weights()])
    _fails(capsys, ex.check_training(history, lab, callbacks=cbs), "train the model again")


# --- exercise 5: a predictor that scales -----------------------------------------------

def predict_right(model, image):
    return model.predict(image.astype("float32")[None] / 255, verbose=0)[0]


@pytest.fixture(scope="module")
def trained(right):
    return right[0].model


def test_predictor_passes_when_it_scales(capsys, lab, trained):
    _verdict(capsys, ex.check_predictor(predict_right, trained, lab.x_val[:4]), passed=True)


@pytest.mark.parametrize("predict, words", [
    (None, ("still None",)),
    ("not a function", ("should be a function",)),
    (lambda m, im: m.predict(im[None].astype("float32"), verbose=0)[0],
     ("unscaled pixels", "seed 003")),
    (lambda m, im: m.predict(im[None] / 255 / 255, verbose=0)[0], ("scaled twice",)),
    (lambda m, im: int(np.argmax(predict_right(m, im))), ("returned shape",)),
    (lambda m, im: predict_right(m, im)[::-1], ("for image 0",)),
])
def test_predictor_names_the_mistake(capsys, lab, trained, predict, words):
    _fails(capsys, ex.check_predictor(predict, trained, lab.x_val[:4]), *words)
