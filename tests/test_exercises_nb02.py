"""cifarlab.exercises.nb02: each check passes on a right answer, says "Not yet:" on None and
names each typical mistake. Runs are trained for real (1 epoch on 40 images)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from cifarlab import models, train  # noqa: E402
from cifarlab.exercises import nb02 as ex  # noqa: E402
from tests.exercise_checks import not_yet, passes, verdict  # noqa: E402

L = keras.layers


def _bn_network(num_classes=5, *, relu_first=False, bias=False, momentum=models.BN_MOMENTUM,
                bn=True, relu=lambda: L.Activation("relu")):
    """Seed 000's network with batch normalization, as a student writes it (or gets wrong)."""
    stack = [keras.Input((32, 32, 3))]
    for n, pool in ((32, 3), (64, 2), (128, 2)):
        if not bn:
            stack += [L.Conv2D(n, 3, activation="relu")]
        elif relu_first:
            stack += [L.Conv2D(n, 3, activation="relu"), L.BatchNormalization(momentum=momentum)]
        else:
            stack += [L.Conv2D(n, 3, use_bias=bias), L.BatchNormalization(momentum=momentum),
                      relu()]
        stack.append(L.MaxPooling2D(pool))
    stack += [L.Flatten(), L.Dense(256, activation="relu"), L.Dense(128, activation="relu"),
              L.Dense(num_classes, activation="softmax")]
    return keras.Sequential(stack)


# --------------------------------------------------------------------------- exercise 1


def test_bn_network(capsys):
    out = passes(capsys, ex.check_bn_network(_bn_network(), num_classes=5))
    assert "160,485 parameters" in out
    passes(capsys, ex.check_bn_network(_bn_network(relu=L.ReLU), num_classes=5))
    not_yet(capsys, ex.check_bn_network(None, num_classes=5), "`bn_model` is still None")
    not_yet(capsys, ex.check_bn_network(_bn_network(bn=False), num_classes=5),
             "there is no BatchNormalization")
    not_yet(capsys, ex.check_bn_network(_bn_network(relu_first=True), num_classes=5),
             "the ReLU comes before the normalization")
    not_yet(capsys, ex.check_bn_network(_bn_network(bias=True), num_classes=5),
             "keeps its bias")
    not_yet(capsys, ex.check_bn_network(_bn_network(momentum=0.99), num_classes=5),
             "momentum 0.99")
    not_yet(capsys, ex.check_bn_network(_bn_network(3), num_classes=5), "(None, 5)")


def test_bn_network_other_layout(capsys):
    dense_bn = _bn_network()
    extra = keras.Sequential([keras.Input((32, 32, 3)), *dense_bn.layers[:-1],
                              L.BatchNormalization(momentum=0.9), dense_bn.layers[-1]])
    not_yet(capsys, ex.check_bn_network(extra, num_classes=5), "follows a Dense")
    padded = models.build_cnn(5, batch_norm=True, padding="same")
    not_yet(capsys, ex.check_bn_network(padded, num_classes=5), "padding")


# --------------------------------------------------------------------------- exercise 2


def test_bn_parameters(capsys):
    channels, base = 32 + 64 + 128, 159_813
    out = passes(capsys, ex.check_bn_parameters((base + 3 * channels, 2 * channels),
                                                 num_classes=5))
    assert "448 of them" in out
    not_yet(capsys, ex.check_bn_parameters(None, num_classes=5), "`bn_parameters` is still None")
    not_yet(capsys, ex.check_bn_parameters((160_485, 896), num_classes=5),
             "all 4 numbers per channel")
    not_yet(capsys, ex.check_bn_parameters((160_485, 224), num_classes=5), "2 numbers")
    not_yet(capsys, ex.check_bn_parameters((base + 4 * channels, 448), num_classes=5),
             "lose their biases")
    not_yet(capsys, ex.check_bn_parameters((base, 448), num_classes=5), "baseline's count")
    not_yet(capsys, ex.check_bn_parameters((base + channels, 448), num_classes=5),
             "only gamma and beta")
    not_yet(capsys, ex.check_bn_parameters(160_485, num_classes=5), "should be a pair")


# --------------------------------------------------------------------------- exercises 3-5
# One run is trained for real; the others are that record with another model, seed, history
# or data (a run is a value), which keeps the file fast.


@pytest.fixture(scope="module")
def real_run():
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8), np.arange(40) % 5
    return train.train(models.build_baseline_cnn(5, seed=0), (x, y), (x[:20], y[:20]),
                       epochs=1, batch_size=20, seed=0, record=False, verbose=0,
                       early_stopping_patience=None, reduce_lr_patience=None, checkpoint=False)


def _variant(run, *, seed, model=None, loss=None, train_images=None):
    """``run`` as if trained with ``seed`` (its own fresh model, another loss unless given)."""
    settings = {**run.settings, "train": {**run.settings["train"], "seed": seed}}
    if train_images is not None:
        data = run.settings["data"]
        settings["data"] = {**data, "train": {**data["train"], "images": train_images}}
    history = {**run.history, "loss": [run.history["loss"][0] + (0.01 * seed if loss is None
                                                                  else loss)]}
    return dataclasses.replace(run, model=model or models.build_baseline_cnn(5, seed=seed),
                               settings=settings, history=history)


@pytest.fixture(scope="module")
def seed_runs(real_run):
    return [real_run, _variant(real_run, seed=1), _variant(real_run, seed=2)]


@pytest.fixture(scope="module")
def bn_run(real_run):
    return _variant(real_run, seed=0, model=models.build_cnn(5, batch_norm=True, seed=0))


def test_seed_runs(seed_runs, real_run, capsys):
    out = passes(capsys, ex.check_seed_runs(seed_runs, num_classes=5))
    assert "seeds 0, 1, 2" in out
    not_yet(capsys, ex.check_seed_runs(None, num_classes=5), "`seed_runs` is still None")
    not_yet(capsys, ex.check_seed_runs(seed_runs[:2], num_classes=5), "holds 2 runs")
    not_yet(capsys, ex.check_seed_runs([r.model for r in seed_runs], num_classes=5),
             "is a model, not a training run")
    twice = _variant(real_run, seed=0, loss=0.0)  # same seed: same numbers
    not_yet(capsys, ex.check_seed_runs([real_run, twice, seed_runs[2]], num_classes=5),
             "same run twice")
    same_model = _variant(real_run, seed=1, model=real_run.model)
    not_yet(capsys, ex.check_seed_runs([real_run, same_model, seed_runs[2]], num_classes=5),
             "same model object")
    wide = _variant(real_run, seed=3, model=models.build_cnn(5, filters=(16, 64, 128)))
    not_yet(capsys, ex.check_seed_runs([*seed_runs[:2], wide], num_classes=5),
             "run 3 is not seed 000's network")
    fewer = _variant(real_run, seed=3, train_images=20)
    not_yet(capsys, ex.check_seed_runs([*seed_runs[:2], fewer], num_classes=5),
             "different data")


def test_seed_runs_global_seed(real_run, capsys):
    """keras.utils.set_random_seed before building, train.train's default seed 0: other
    initial weights, so other numbers, and it passes."""
    runs = [real_run] + [_variant(real_run, seed=0, loss=0.01 * s) for s in (1, 2)]
    passes(capsys, ex.check_seed_runs(runs, num_classes=5))


def test_spread(seed_runs, capsys):
    best = [r.best_val_accuracy for r in seed_runs]
    out = passes(capsys, ex.check_spread((min(best), max(best)), seed_runs))
    assert "may be chance" in out
    not_yet(capsys, ex.check_spread(None, seed_runs), "`spread` is still None")
    not_yet(capsys, ex.check_spread((0.1, 0.2), None), "first finish exercise 3")


def test_spread_mistakes(seed_runs, capsys):
    def fake(run, val, acc):  # the same run with other recorded accuracies
        return dataclasses.replace(run, history={**run.history, "val_accuracy": [0.0, val]},
                                   best_metrics={**run.best_metrics, "val_accuracy": val,
                                                 "accuracy": acc})

    pairs = zip((0.5, 0.6, 0.7), (0.9, 0.95, 0.99), strict=True)
    runs = [fake(r, v, a) for r, (v, a) in zip(seed_runs, pairs, strict=True)]
    passes(capsys, ex.check_spread((0.5, 0.7), runs))
    not_yet(capsys, ex.check_spread((0.7, 0.5), runs), "the other way round")
    not_yet(capsys, ex.check_spread((50, 70), runs), "percentages")
    not_yet(capsys, ex.check_spread((0.9, 0.99), runs), "training accuracies")
    last = [dataclasses.replace(r, history={**r.history, "val_accuracy": [r.best_val_accuracy,
                                                                          0.1 + i / 10]})
            for i, r in enumerate(runs)]
    not_yet(capsys, ex.check_spread((0.1, 0.3), last), "last epochs")
    not_yet(capsys, ex.check_spread((0.55, 0.7), runs), "is not the range")
    not_yet(capsys, ex.check_spread("0.5-0.7", runs), "should be a pair")


def test_verdict(seed_runs, bn_run, capsys):
    def with_acc(run, acc):
        return dataclasses.replace(run, best_metrics={**run.best_metrics, "val_accuracy": acc})

    runs = [with_acc(r, a) for r, a in zip(seed_runs, (0.6, 0.5, 0.7), strict=True)]
    passes(capsys, ex.check_verdict("better", with_acc(bn_run, 0.75), runs))
    passes(capsys, ex.check_verdict("worse", with_acc(bn_run, 0.45), runs))
    out = passes(capsys, ex.check_verdict("within the spread", with_acc(bn_run, 0.65), runs))
    assert "no evidence" in out
    not_yet(capsys, ex.check_verdict("better", with_acc(bn_run, 0.65), runs),
             "you compared with one baseline run")
    not_yet(capsys, ex.check_verdict("worse", with_acc(bn_run, 0.65), runs), "Compute it")
    not_yet(capsys, ex.check_verdict("yes", with_acc(bn_run, 0.65), runs), "should be one of")
    not_yet(capsys, ex.check_verdict(None, bn_run, runs), "`verdict` is still None")
    not_yet(capsys, ex.check_verdict("better", runs[0], runs), "no BatchNormalization")
    not_yet(capsys, ex.check_verdict("better", bn_run.model, runs), "is a model")
    not_yet(capsys, ex.check_verdict("better", bn_run, None), "first finish exercise 3")


def test_every_exercise_has_a_hint(capsys):
    for number in range(1, 6):
        ex.hint(number)
        assert f"Hint for exercise {number}" in verdict(capsys)
    assert np.all([n in ex.exercises.titles for n in range(1, 6)])
