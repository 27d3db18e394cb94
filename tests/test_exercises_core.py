"""The machinery of every exercise check: verdicts, records, hints, summaries, comparisons."""

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from cifarlab import models  # noqa: E402
from cifarlab.exercises import NOT_YET, PASSED, _core, collect_results  # noqa: E402


def _module():
    exercises = _core.Exercises("99_test")

    @exercises.check(1, "a positive number", missing="a number such as 3", hint="more than 0")
    def check_positive(answer, *, name="number"):
        _core.expect(answer > 0, f"{answer} is not positive: negatives are the typical mistake.")
        return f"{answer} is positive."

    @exercises.check(2, "second", missing="anything", hint="see exercise 1")
    def check_second(answer, *, name="second"):
        return "fine"

    return exercises, check_positive, check_second


def test_a_check_says_passed_not_yet_or_missing_and_never_raises(capsys):
    _, check, _ = _module()
    assert check(3) is True
    assert capsys.readouterr().out == f"{PASSED} 3 is positive.\n"
    assert check(-1) is False
    assert capsys.readouterr().out.startswith(f"{NOT_YET} -1 is not positive")
    assert check(None) is False
    out = capsys.readouterr().out
    assert out.startswith(f"{NOT_YET} `number` is still None") and "a number such as 3" in out
    assert check("three") is False  # '>' between str and int raises inside the check
    assert "could not use your answer (TypeError" in capsys.readouterr().out


def test_verdicts_are_recorded_for_the_instructor(tmp_path, capsys):
    exercises, check, second = _module()
    check(5)  # before record_results: nothing written
    assert not (tmp_path / "exercises").exists()
    path = exercises.record_results(tmp_path / "group-01")
    check(-2)
    second("x")
    record = json.loads(path.read_text())
    assert path == tmp_path / "group-01" / "exercises" / "99_test.json"
    assert record["notebook"] == "99_test"
    assert record["exercises"]["1"]["passed"] is False
    assert record["exercises"]["1"]["verdict"].startswith(NOT_YET)
    assert record["exercises"]["2"]["passed"] is True
    check(1)  # a later try replaces the earlier verdict
    table = collect_results(tmp_path)
    assert list(table["group"]) == ["group-01", "group-01"]
    assert list(table["passed"]) == [True, True]
    assert list(table["title"]) == ["a positive number", "second"]


def test_a_damaged_record_is_replaced_not_fatal(tmp_path, capsys):
    exercises, check, _ = _module()
    path = exercises.record_results(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert check(2) is True
    assert json.loads(path.read_text())["exercises"]["1"]["passed"] is True


def test_hints_and_summary(capsys):
    exercises, check, second = _module()
    exercises.hint(1)
    assert capsys.readouterr().out == "Hint for exercise 1 (a positive number): more than 0\n"
    exercises.hint(7)
    assert "there is no exercise 7" in capsys.readouterr().out
    check(None)
    capsys.readouterr()
    assert exercises.summary() is None  # nothing for a notebook to show as Out[...]
    assert exercises.passed() == {1: False, 2: False}
    assert capsys.readouterr().out == (f"99_test: 0 of 2 exercises passed. {NOT_YET} 1 (a positive "
                                       "number), 2 (second).\n")
    check(4), second(0)
    capsys.readouterr()
    exercises.summary()
    assert exercises.passed() == {1: True, 2: True}
    assert capsys.readouterr().out == f"{PASSED} 99_test: all 2 exercises passed.\n"


def test_model_difference_names_the_first_difference():
    reference = models.build_baseline_cnn(5, seed=0)
    assert _core.model_difference(models.build_baseline_cnn(5, seed=1), reference) is None
    other = models.build_baseline_cnn(10, seed=0)
    assert "outputs (10,), the reference (5,)" in _core.model_difference(other, reference)
    layers = [keras.Input((32, 32, 3)), keras.layers.Conv2D(32, 3, padding="same")]
    assert "outputs (32, 32, 32)" in _core.model_difference(keras.Sequential(layers), reference)
    short = keras.Sequential(reference.layers[:3])
    assert "next comes" in _core.model_difference(short, reference)
    assert "keras.Model is needed" in _core.model_difference("model", reference)


def test_model_problem_runs_the_model():
    assert _core.model_problem(models.build_baseline_cnn(5, seed=0), 5) is None
    assert "(None, 5)" in _core.model_problem(models.build_baseline_cnn(4, seed=0), 5)
    linear = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(),
                               keras.layers.Dense(5)])
    assert "not probabilities" in _core.model_problem(linear, 5)


def test_images_are_known_by_content_whatever_their_order_or_scale():
    x = np.random.default_rng(0).integers(0, 256, size=(6, 32, 32, 3), dtype=np.uint8)
    assert len(_core.image_hashes(x)) == 6
    assert _core.shared_images(x[::-1], x) == 6
    assert _core.shared_images(x[:2].astype("float32") / 255.0, x) == 2
    assert _core.shared_images(x[:3], x[3:]) == 0


def test_the_exercises_command_tabulates_groups(tmp_path, capsys):
    from cifarlab import cli

    assert cli.main(["exercises", str(tmp_path)]) == 0
    assert "No exercise verdicts" in capsys.readouterr().out
    exercises, check, second = _module()
    exercises.record_results(tmp_path / "group-01")
    check(1), second(2)
    exercises.record_results(tmp_path / "group-02")
    check(-1)
    assert cli.main(["exercises", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| group-01 | 2/2" in out and "| group-02 | 0/1" in out
