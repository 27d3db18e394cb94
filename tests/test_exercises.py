"""cifarlab.exercises: each check on a right answer, a wrong answer and a missing one (None).

Checks print one verdict ("✓ ..." or "Not yet: ...") and return True/False; they never raise.
The evaluations they compare with are computed for real, by a model whose softmax is known.
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from cifarlab import evaluate, exercises, models, photos, train  # noqa: E402

# A model whose softmax we know: mean colour -> Dense -> softmax (as in test_evaluate).
W = np.array([[8.0, 1.0, 0.0], [2.0, 6.0, 0.0], [0.5, 0.0, 4.0]], dtype=np.float32)
B = np.array([0.0, 0.25, -0.5], dtype=np.float32)
RGB = ("red", "green", "blue")


def _colour_model():
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    dense = keras.layers.Dense(3, activation="softmax")
    model = keras.Model(inputs, dense(x))
    dense.set_weights([W, B])
    return model


def _colour_images(colours) -> np.ndarray:
    images = np.zeros((len(colours), 32, 32, 3), dtype=np.uint8)
    images[np.arange(len(colours)), :, :, colours] = 255
    return images


@pytest.fixture(scope="module")
def colour_model():
    return _colour_model()


@pytest.fixture(scope="module")
def evaluation(colour_model):
    """Confusion matrix [[2, 1, 0], [0, 1, 1], [2, 0, 2]]: blue -> red is the top mistake."""
    colours = np.array([0, 0, 1, 1, 2, 2, 2, 0, 0])  # the model predicts the colour
    truth = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    return evaluate.evaluate(colour_model, _colour_images(colours), truth, RGB, synthetic=True)


def _verdict(capsys) -> str:
    out = capsys.readouterr().out.strip()
    assert out.count("\n") == 0, f"a check prints one line: {out!r}"
    return out


def _passes(capsys, result) -> str:
    out = _verdict(capsys)
    assert result is True and out.startswith(exercises.PASSED), out
    return out


def _not_yet(capsys, result, match: str) -> str:
    out = _verdict(capsys)
    assert result is False and out.startswith(exercises.NOT_YET), out
    assert match in out, out
    return out


# --------------------------------------------------------------------------- exercise 1


@pytest.fixture(scope="module")
def runs(superclass_data):
    """A weak baseline (learning rate 1e-6) and a better run, both trained for real."""
    x, y = superclass_data.x_train[:300], superclass_data.y_train[:300]
    val = (superclass_data.x_train[300:400], superclass_data.y_train[300:400])

    def small(name):
        return models.build_cnn(
            5, filters=(8, 16), pool_sizes=(2, 2), dense_units=(32,), seed=0, name=name
        )

    common = {"epochs": 3, "record": False, "verbose": 0, "batch_size": 32}
    weak = train.train(small("weak"), (x, y), val, learning_rate=1e-6, **common)
    better = train.train(small("better"), (x, y), val, learning_rate=3e-3, **common)
    other_val = train.train(small("other"), (x, y), (val[0][:50], val[1][:50]), **common)
    return weak, better, other_val


def test_better_model_right_answer(runs, capsys):
    weak, better, _ = runs
    assert better.best_val_accuracy > weak.best_val_accuracy
    out = _passes(capsys, exercises.check_better_model(better, weak, num_classes=5))
    assert "beats the baseline's" in out


def test_better_model_wrong_answer(runs, capsys):
    weak, better, other_val = runs
    result = exercises.check_better_model(weak, better, num_classes=5)
    _not_yet(capsys, result, "it needs to be above the baseline's")
    result = exercises.check_better_model(better, weak, num_classes=3)
    _not_yet(capsys, result, "(None, 3)")
    result = exercises.check_better_model(other_val, weak, num_classes=5)
    _not_yet(capsys, result, "used 50 validation images, the baseline 100")
    result = exercises.check_better_model(better.model, weak, num_classes=5)
    _not_yet(capsys, result, "is a model, not a training run")
    result = exercises.check_better_model("my model", weak, num_classes=5)
    _not_yet(capsys, result, "should be the RunResult")


def test_better_model_margin_and_target(runs, capsys):
    weak, better, _ = runs
    result = exercises.check_better_model(weak, better, num_classes=5, margin=1.0)
    _passes(capsys, result)
    result = exercises.check_better_model(weak, better, num_classes=5, target=0.0)
    assert "reaches the target" in _passes(capsys, result)
    result = exercises.check_better_model(weak, better, num_classes=5, margin=0.01, target=1.01)
    _not_yet(capsys, result, "or at least 1.010")


def test_better_model_missing(runs, capsys):
    result = exercises.check_better_model(None, runs[0], num_classes=5)
    _not_yet(capsys, result, "`better` is still None")


def test_check_model(capsys):
    _passes(capsys, exercises.check_model(models.build_baseline_cnn(5), num_classes=5))
    _not_yet(capsys, exercises.check_model(None, num_classes=5), "`better_model` is still None")
    gray = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(5, activation="softmax"),
        ]
    )
    _not_yet(capsys, exercises.check_model(gray, num_classes=5), "CIFAR images are 32x32x3")
    logits = keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(5)]
    )
    _not_yet(capsys, exercises.check_model(logits, num_classes=5), "activation='softmax'")
    _not_yet(capsys, exercises.check_model([1, 2], num_classes=5), "a keras.Model is needed")


# --------------------------------------------------------------------------- exercise 2


def test_most_confused_right_answer(evaluation, capsys):
    out = _passes(capsys, exercises.check_most_confused(("blue", "red"), evaluation))
    assert "2 of the 4 blue images were predicted as red (50%)" in out
    _passes(capsys, exercises.check_most_confused((2, 0), evaluation))  # ids work too
    _passes(capsys, exercises.check_most_confused(np.array(["Blue", "RED"]), evaluation))


def test_most_confused_wrong_answer(evaluation, capsys):
    result = exercises.check_most_confused(("red", "blue"), evaluation)
    _not_yet(capsys, result, "the other way round")
    result = exercises.check_most_confused(("green", "blue"), evaluation)
    _not_yet(capsys, result, "another pair is confused 2 times")
    result = exercises.check_most_confused(("blue", "blue"), evaluation)
    _not_yet(capsys, result, "the diagonal holds the correct predictions")
    result = exercises.check_most_confused(("bleu", "red"), evaluation)
    _not_yet(capsys, result, "Did you mean 'blue'?")
    result = exercises.check_most_confused((7, 0), evaluation)
    _not_yet(capsys, result, "out of range")
    _not_yet(capsys, exercises.check_most_confused("blue", evaluation), "should be a pair")
    _not_yet(capsys, exercises.check_most_confused(("blue",), evaluation), "it holds 1")


def test_most_confused_missing(evaluation, capsys):
    result = exercises.check_most_confused(None, evaluation)
    _not_yet(capsys, result, "`most_confused_pair` is still None")


def test_a_check_never_raises(capsys):
    result = exercises.check_most_confused(("blue", "red"), evaluation=None)
    _not_yet(capsys, result, "the check could not use your answer (AttributeError")


def test_no_mistakes_means_no_pair(colour_model, capsys):
    perfect = evaluate.evaluate(colour_model, _colour_images([0, 1, 2]), [0, 1, 2], RGB)
    _passes(capsys, exercises.check_most_confused((0, 1), perfect))


EXPLANATION = (
    "The model sees only the mean colour, and these blue images are labelled red, so it "
    "has no way to tell them apart: the labels themselves look wrong."
)


def test_explanation(evaluation, capsys):
    assert "is written" in _passes(capsys, exercises.check_explanation(EXPLANATION, evaluation))
    wrong = EXPLANATION.replace("blue", "green")
    _not_yet(capsys, exercises.check_explanation(wrong, evaluation), "blue -> red")
    _not_yet(capsys, exercises.check_explanation("blue red", evaluation), "has 2 words")
    _not_yet(capsys, exercises.check_explanation(None, evaluation), "`explanation` is still None")
    _not_yet(capsys, exercises.check_explanation(42, evaluation), "should be a string")


# --------------------------------------------------------------------------- exercise 3


def test_highest_loss_right_answer(evaluation, capsys):
    best = evaluation.highest_loss["index"][:3]
    assert "the 3 highest-loss images" in _passes(
        capsys, exercises.check_highest_loss(best, evaluation, n=3)
    )
    reordered = list(best)[::-1]
    _passes(capsys, exercises.check_highest_loss(reordered, evaluation, n=3))
    loss = -np.log(evaluation.probabilities[np.arange(9), evaluation.y_true])
    _passes(capsys, exercises.check_highest_loss(np.argsort(-loss)[:4], evaluation, n=4))


def test_highest_loss_wrong_answer(evaluation, capsys):
    order = evaluation.highest_loss["index"].to_numpy()
    result = exercises.check_highest_loss(order[-3:], evaluation, n=3)
    _not_yet(capsys, result, "the *lowest* loss")
    result = exercises.check_highest_loss([order[0], order[1], order[-1]], evaluation, n=3)
    _not_yet(capsys, result, "some of these are not among the highest-loss images")
    result = exercises.check_highest_loss(order[:2], evaluation, n=3)
    _not_yet(capsys, result, "holds 2 positions; the exercise asks for 3")
    result = exercises.check_highest_loss([0, 1, 99], evaluation, n=3)
    _not_yet(capsys, result, "positions must lie in 0..8")
    result = exercises.check_highest_loss([7, 7, 8], evaluation, n=3)
    _not_yet(capsys, result, "repeats a position")
    result = exercises.check_highest_loss(evaluation.highest_loss, evaluation, n=3)
    _not_yet(capsys, result, "is a table")
    result = exercises.check_highest_loss([0.5, 1.5, 2.5], evaluation, n=3)
    _not_yet(capsys, result, "integer positions")


def test_highest_loss_missing(evaluation, capsys):
    result = exercises.check_highest_loss(None, evaluation, n=3)
    _not_yet(capsys, result, "`highest_loss_indices` is still None")


# --------------------------------------------------------------------------- exercise 4


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    return photos.make_sample_photo(tmp_path_factory.mktemp("photos") / "sample.png")


def test_predictions_right_answer(colour_model, photo, capsys):
    table = photos.predict_images(colour_model, [photo, photo], RGB, top_k=2)
    result = exercises.check_predictions(table, RGB, n_images=2, top_k=2)
    assert "2 photo(s) predicted, top 2 classes each" in _passes(capsys, result)


def test_predictions_wrong_answer(colour_model, photo, capsys):
    table = photos.predict_images(colour_model, [photo], RGB, top_k=2)
    result = exercises.check_predictions(table, ("cat", "dog", "cow"))
    _not_yet(capsys, result, "is not one of the model's classes")
    _not_yet(capsys, exercises.check_predictions(table, RGB, n_images=3), "1 rows for 3 photos")
    _not_yet(capsys, exercises.check_predictions(table, RGB, top_k=3), "asks for 3")
    swapped = table.assign(prob_1=table["prob_2"], prob_2=table["prob_1"])
    _not_yet(capsys, exercises.check_predictions(swapped, RGB), "most probable first")
    _not_yet(capsys, exercises.check_predictions(table[["source"]], RGB), "lacks the columns")
    _not_yet(capsys, exercises.check_predictions(np.eye(3), RGB), "received a ndarray")


def test_predictions_missing(capsys):
    _not_yet(capsys, exercises.check_predictions(None, RGB), "`my_predictions` is still None")


def test_sample_photo(tmp_path, photo):
    from PIL import Image

    with Image.open(photo) as img:
        assert img.size == (320, 240) and img.mode == "RGB"
    small = photos.load_image(photo)
    assert small.shape == (32, 32, 3) and small.std() > 10  # a picture, not a blank
    mine = tmp_path / "mine.png"
    mine.write_bytes(b"a student's own photo")
    assert photos.make_sample_photo(mine) == mine
    assert mine.read_bytes() == b"a student's own photo"  # never replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.png"]  # no temporary left


def test_sample_photo_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match=r"`size` must be \(width, height\).*size=\(10, 10\)"):
        photos.make_sample_photo(tmp_path / "x.png", size=(10, 10))
    with pytest.raises(ValueError, match="must be a file name, not a folder"):
        photos.make_sample_photo(tmp_path)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- exercise 5


@pytest.fixture(scope="module")
def saved(colour_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("saved") / "model.keras"
    colour_model.save(path)
    return path


def test_reloaded_right_answer(colour_model, saved, capsys):
    reloaded = keras.saving.load_model(saved)
    images = _colour_images([0, 1, 2, 2])
    result = exercises.check_reloaded_model(reloaded, colour_model, images, path=saved)
    assert "predicts exactly like the original on 4 images" in _passes(capsys, result)


def test_reloaded_wrong_answer(colour_model, saved, tmp_path, capsys):
    images = _colour_images([0, 1, 2])
    other = _colour_model()
    other.layers[-1].set_weights([W[::-1].copy(), B])
    result = exercises.check_reloaded_model(other, colour_model, images, path=saved)
    _not_yet(capsys, result, "predicts differently from the original")
    result = exercises.check_reloaded_model(colour_model, colour_model, images)
    _not_yet(capsys, result, "the very model in memory")
    result = exercises.check_reloaded_model(str(saved), colour_model, images)
    _not_yet(capsys, result, "is a path; load the model from it")
    result = exercises.check_reloaded_model(other, colour_model, images, path=tmp_path / "m.h5")
    _not_yet(capsys, result, "save to a file ending in .keras")
    result = exercises.check_reloaded_model(other, colour_model, images, path=tmp_path / "no.keras")
    _not_yet(capsys, result, "there is no file")


def test_reloaded_missing(colour_model, capsys):
    result = exercises.check_reloaded_model(None, colour_model, _colour_images([0]))
    _not_yet(capsys, result, "`reloaded` is still None")
