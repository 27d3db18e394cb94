"""cifarlab.exercises.nb06: each check on a right answer, a wrong answer and a missing one (None).

Checks print one verdict ("✓ ..." or "Not yet: ...") and return True/False; they never raise.
The evaluations they compare with are computed for real, by a model whose softmax is known.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from cifarlab import evaluate, models, photos, train  # noqa: E402
from cifarlab.exercises import nb06  # noqa: E402
from tests.exercise_checks import not_yet, passes  # noqa: E402

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


# --------------------------------------------------------------------------- exercise 1


@pytest.fixture(scope="module")
def lab(superclass_data):
    """A notebook's splits in miniature: 300 training, 100 validation, 100 test images."""
    x, y = superclass_data.x_train, superclass_data.y_train
    test = SimpleNamespace(x_test=superclass_data.x_test, y_test=superclass_data.y_test)
    return SimpleNamespace(x_train=x[:300], y_train=y[:300], x_val=x[300:400], y_val=y[300:400],
                           data=test, num_classes=5)


@pytest.fixture(scope="module")
def runs(lab):
    """A weak baseline (learning rate 1e-6), a better run, and one validated on other images."""
    def small(name):
        return models.build_cnn(
            5, filters=(8, 16), pool_sizes=(2, 2), dense_units=(32,), seed=0, name=name
        )

    common = {"epochs": 3, "record": False, "verbose": 0, "batch_size": 32}
    train_data, val_data = (lab.x_train, lab.y_train), (lab.x_val, lab.y_val)
    weak = train.train(small("weak"), train_data, val_data, learning_rate=1e-6, **common)
    better = train.train(small("better"), train_data, val_data, learning_rate=3e-3, **common)
    other = train.train(small("other"), train_data, (lab.x_val[:50], lab.y_val[:50]), **common)
    return weak, better, other


def _check_run(run, baseline, lab, *, train_data=None, val_data=None, **kwargs):
    train_data = (lab.x_train, lab.y_train) if train_data is None else train_data
    val_data = (lab.x_val, lab.y_val) if val_data is None else val_data
    return nb06.check_better_model(run, baseline, lab, train_data=train_data,
                                   val_data=val_data, **kwargs)


def test_better_model_right_answer(runs, lab, capsys):
    weak, better, _ = runs
    assert better.best_val_accuracy > weak.best_val_accuracy
    assert "beats the baseline's" in passes(capsys, _check_run(better, weak, lab))
    scaled = (lab.x_val.astype("float32") / 255, lab.y_val)  # the same images, scaled
    passes(capsys, _check_run(better, weak, lab, val_data=scaled))


def test_better_model_wrong_splits(runs, lab, capsys):
    weak, better, other = runs
    x, y, x_val, y_val = lab.x_train, lab.y_train, lab.x_val, lab.y_val
    on_test = (lab.data.x_test, lab.data.y_test)
    result = _check_run(better, weak, lab, val_data=on_test)
    not_yet(capsys, result, "the test split used for validation: 100 of your 100")
    result = _check_run(better, weak, lab, val_data=(x[:100], y[:100]))  # issue 12's example
    not_yet(capsys, result, "validation images taken from the training images: 100 of your")
    result = _check_run(better, weak, lab, val_data=(x_val[:50], y_val[:50]))
    not_yet(capsys, result, "50 of the 100 in lab.x_val")
    both = (np.concatenate([x, x_val]), np.concatenate([y, y_val]))
    result = _check_run(better, weak, lab, train_data=both)
    not_yet(capsys, result, "validation images in the training data: 100 of your 400")
    with_test = (np.concatenate([x, on_test[0]]), np.concatenate([y, on_test[1]]))
    result = _check_run(better, weak, lab, train_data=with_test)
    not_yet(capsys, result, "the test split used for training")
    result = _check_run(other, weak, lab)  # validated on 50 images, claims all 100
    not_yet(capsys, result, "it was not validated on val_data")
    result = nb06.check_better_model(better, weak, lab, train_data=None, val_data=None)
    not_yet(capsys, result, "`val_data` should be the (images, labels) pair")


def test_better_model_wrong_answer(runs, lab, capsys):
    weak, better, _ = runs
    not_yet(capsys, _check_run(weak, better, lab), "it needs to be above the baseline's")
    three = SimpleNamespace(**{**vars(lab), "num_classes": 3})
    not_yet(capsys, _check_run(better, weak, three), "(None, 3)")
    not_yet(capsys, _check_run(better.model, weak, lab), "is a model, not a training run")
    not_yet(capsys, _check_run("my model", weak, lab), "should be the RunResult")


def test_better_model_margin(runs, lab, capsys):
    weak, better, _ = runs
    out = passes(capsys, _check_run(weak, better, lab, margin=1.0))
    assert "within the allowed margin" in out
    not_yet(capsys, _check_run(weak, better, lab, margin=1e-9), "it needs to be above")


def test_better_model_missing(runs, lab, capsys):
    not_yet(capsys, _check_run(None, runs[0], lab), "`better` is still None")


# --------------------------------------------------------------------------- exercise 2


def test_most_confused_right_answer(evaluation, capsys):
    out = passes(capsys, nb06.check_most_confused(("blue", "red"), evaluation))
    assert "2 of the 4 blue images were predicted as red (50%)" in out
    passes(capsys, nb06.check_most_confused((2, 0), evaluation))  # ids work too
    passes(capsys, nb06.check_most_confused(np.array(["Blue", "RED"]), evaluation))


def test_most_confused_wrong_answer(evaluation, capsys):
    result = nb06.check_most_confused(("red", "blue"), evaluation)
    not_yet(capsys, result, "the other way round")
    result = nb06.check_most_confused(("green", "blue"), evaluation)
    not_yet(capsys, result, "another pair is confused 2 times")
    result = nb06.check_most_confused(("blue", "blue"), evaluation)
    not_yet(capsys, result, "the diagonal holds the correct predictions")
    result = nb06.check_most_confused(("bleu", "red"), evaluation)
    not_yet(capsys, result, "Did you mean 'blue'?")
    result = nb06.check_most_confused((7, 0), evaluation)
    not_yet(capsys, result, "out of range")
    not_yet(capsys, nb06.check_most_confused("blue", evaluation), "should be a pair")
    not_yet(capsys, nb06.check_most_confused(("blue",), evaluation), "it holds 1")


def test_most_confused_missing(evaluation, capsys):
    result = nb06.check_most_confused(None, evaluation)
    not_yet(capsys, result, "`most_confused_pair` is still None")


def test_a_check_never_raises(capsys):
    result = nb06.check_most_confused(("blue", "red"), evaluation=None)
    not_yet(capsys, result, "the check could not use your answer (AttributeError")


def test_no_mistakes_means_no_pair(colour_model, capsys):
    perfect = evaluate.evaluate(colour_model, _colour_images([0, 1, 2]), [0, 1, 2], RGB)
    passes(capsys, nb06.check_most_confused((0, 1), perfect))


# --------------------------------------------------------------------------- exercise 3


EXPLANATION = (
    "The model sees only the mean colour, and these blue images are labelled red, so it "
    "has no way to tell them apart: the labels themselves look wrong."
)


def test_explanation(evaluation, capsys):
    assert "is written" in passes(capsys, nb06.check_explanation(EXPLANATION, evaluation))
    wrong = EXPLANATION.replace("blue", "green")
    not_yet(capsys, nb06.check_explanation(wrong, evaluation), "blue -> red")
    not_yet(capsys, nb06.check_explanation("blue red", evaluation), "has 2 words")
    not_yet(capsys, nb06.check_explanation(None, evaluation), "`explanation` is still None")
    not_yet(capsys, nb06.check_explanation(42, evaluation), "should be a string")


# --------------------------------------------------------------------------- exercise 4


def test_highest_loss_right_answer(evaluation, capsys):
    best = evaluation.highest_loss["index"][:3]
    assert "the 3 highest-loss images" in passes(
        capsys, nb06.check_highest_loss(best, evaluation, n=3)
    )
    reordered = list(best)[::-1]
    passes(capsys, nb06.check_highest_loss(reordered, evaluation, n=3))
    loss = -np.log(evaluation.probabilities[np.arange(9), evaluation.y_true])
    passes(capsys, nb06.check_highest_loss(np.argsort(-loss)[:4], evaluation, n=4))


def test_highest_loss_wrong_answer(evaluation, capsys):
    order = evaluation.highest_loss["index"].to_numpy()
    result = nb06.check_highest_loss(order[-3:], evaluation, n=3)
    not_yet(capsys, result, "the *lowest* loss")
    result = nb06.check_highest_loss([order[0], order[1], order[-1]], evaluation, n=3)
    not_yet(capsys, result, "some of these are not among the highest-loss images")
    result = nb06.check_highest_loss(order[:2], evaluation, n=3)
    not_yet(capsys, result, "holds 2 positions; the exercise asks for 3")
    result = nb06.check_highest_loss([0, 1, 99], evaluation, n=3)
    not_yet(capsys, result, "positions must lie in 0..8")
    result = nb06.check_highest_loss([7, 7, 8], evaluation, n=3)
    not_yet(capsys, result, "repeats a position")
    result = nb06.check_highest_loss(evaluation.highest_loss, evaluation, n=3)
    not_yet(capsys, result, "received a DataFrame")
    result = nb06.check_highest_loss([0.5, 1.5, 2.5], evaluation, n=3)
    not_yet(capsys, result, "integer positions")


def test_highest_loss_missing(evaluation, capsys):
    result = nb06.check_highest_loss(None, evaluation, n=3)
    not_yet(capsys, result, "`highest_loss_indices` is still None")


# --------------------------------------------------------------------------- exercise 5


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    return photos.make_sample_photo(tmp_path_factory.mktemp("photos") / "sample.png")


def _probabilities(model, photo_paths, **prepare):
    return model.predict(photos.load_images(photo_paths, **prepare) / 255, verbose=0)


def test_predictions_right_answer(colour_model, photo, capsys):
    p = _probabilities(colour_model, [photo, photo])
    result = nb06.check_predictions(p, colour_model, [photo, photo])
    assert "2 photo(s) predicted from pixels scaled like the training images" in passes(
        capsys, result)


def test_predictions_wrong_answer(colour_model, photo, capsys):
    check = nb06.check_predictions
    unscaled = colour_model.predict(photos.load_images([photo]), verbose=0)  # seed 003
    not_yet(capsys, check(unscaled, colour_model, [photo]), "unscaled pixels: these are")
    squashed = _probabilities(colour_model, [photo], crop=None, resample="nearest")
    not_yet(capsys, check(squashed, colour_model, [photo]), "load_img(path, target_size")
    table = photos.predict_images(colour_model, [photo], RGB, top_k=2)
    not_yet(capsys, check(table, colour_model, [photo]), "is a table")
    p = _probabilities(colour_model, [photo])
    not_yet(capsys, check(p.argmax(axis=1), colour_model, [photo]), "has shape (1,)")
    not_yet(capsys, check(p, colour_model, [photo, photo]), "per photo: (2, 3)")
    not_yet(capsys, check(p[:, ::-1], colour_model, [photo]), "is not what the model predicts")


def test_predictions_missing(colour_model, photo, capsys):
    result = nb06.check_predictions(None, colour_model, [photo])
    not_yet(capsys, result, "`my_probabilities` is still None")


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


# --------------------------------------------------------------------------- exercise 6


@pytest.fixture(scope="module")
def saved(colour_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("saved") / "model.keras"
    colour_model.save(path)
    return path


def test_reloaded_right_answer(colour_model, saved, capsys):
    reloaded = keras.saving.load_model(saved)
    images = _colour_images([0, 1, 2, 2])
    result = nb06.check_reloaded_model(reloaded, colour_model, images, path=saved)
    assert "predicts exactly like the original on 4 images" in passes(capsys, result)


def test_reloaded_wrong_answer(colour_model, saved, tmp_path, capsys):
    images = _colour_images([0, 1, 2])
    other = _colour_model()
    other.layers[-1].set_weights([W[::-1].copy(), B])
    result = nb06.check_reloaded_model(other, colour_model, images, path=saved)
    not_yet(capsys, result, "predicts differently from the original")
    result = nb06.check_reloaded_model(colour_model, colour_model, images)
    not_yet(capsys, result, "the very model in memory")
    result = nb06.check_reloaded_model(str(saved), colour_model, images)
    not_yet(capsys, result, "is a path; load the model from it")
    result = nb06.check_reloaded_model(other, colour_model, images, path=tmp_path / "m.h5")
    not_yet(capsys, result, "save to a file ending in .keras")
    result = nb06.check_reloaded_model(other, colour_model, images, path=tmp_path / "no.keras")
    not_yet(capsys, result, "there is no file")


def test_reloaded_missing(colour_model, capsys):
    result = nb06.check_reloaded_model(None, colour_model, _colour_images([0]))
    not_yet(capsys, result, "`reloaded` is still None")
