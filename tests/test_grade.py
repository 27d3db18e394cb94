"""Grading submissions: every group's notebooks run in a copy of its folder on a LocalCluster
(the same engine as run-notebooks), checks and accuracies tabulated; a submission that
crashes, hangs or deletes its own files is recorded as such, and no submission is written.

The submissions are tiny notebooks written here: one records two exercise checks (one
passes) and a run with its test accuracy, as the course notebooks do."""

import hashlib

import pandas as pd
import pytest

from cifarlab import assign, cli, grade, notebook_runs
from tests.notebook_files import write_notebook

PARAMETERS = """SUPERCLASS = "fish"
SMOKE = False
DATA_DIR = None
RUNS_DIR = "runs"
"""

CHECKS = """import json, pathlib
from cifarlab.exercises._core import Exercises, expect
ex = Exercises("01_checks")
ex.record_results(RUNS_DIR)

@ex.check(1, "the answer", missing="1", hint="one")
def check_one(answer, *, name="answer"):
    expect(answer == 1, "it is 1")
    return "right"

@ex.check(2, "the <b>next</b> | answer", missing="2", hint="two")
def check_two(answer, *, name="next_answer"):
    expect(answer == 2, "it is 2")
    return "right"

check_one(1), check_two(3)
run = pathlib.Path(RUNS_DIR, "20260101-000000-baseline")
run.mkdir(parents=True)
(run / "config.json").write_text(json.dumps({"name": "baseline", "synthetic": SMOKE,
                                             "config": {"superclass": SUPERCLASS}}))
(run / "metrics.json").write_text(json.dumps({"test_accuracy": 0.625, "epochs": 1}))
pathlib.Path("answers.txt").write_text(SUPERCLASS)
"""

CRASH = "print(open('notes.txt').read())\nraise RuntimeError('our model does not compile')"
HANG = "import time\ntime.sleep(600)"
DELETE = "import os\nfor name in os.listdir('.'):\n    os.remove(name)\nprint('all gone')"


def make_notebook(path, code):
    return write_notebook(path, code, PARAMETERS)


def digests(folder):
    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("grading")
    subs = root / "submissions"
    make_notebook(subs / "Group A" / "01_checks.ipynb", CHECKS)
    make_notebook(subs / "Group B" / "01_checks.ipynb", CRASH)
    (subs / "Group B" / "notes.txt").write_text("our notes")
    make_notebook(subs / "Group B" / "02_hang.ipynb", HANG)
    make_notebook(subs / "Group B" / "03_delete.ipynb", DELETE)
    (subs / "Group B" / "README.txt").write_text("please grade us")
    before = digests(subs)
    table = assign.assign_superclasses(["Group A", "Group B"], salt="test")
    csv = assign.write_assignments(table, root).csv
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KERAS_HOME", str(root / "keras"))
        files = grade.grade(subs, out_dir=root / "grading", assignments=csv, smoke=True, jobs=2,
                            timeout=12, start_timeout=900, verbose=False)
    return root, table, files, before


def test_each_notebook_is_graded_with_its_checks_accuracy_time_and_error(graded):
    root, table, files, _ = graded
    rows = {(r.group, r.notebook): r for r in files.table.itertuples()}
    assert set(rows) == {("Group A", "01_checks"), ("Group B", "01_checks"),
                         ("Group B", "02_hang"), ("Group B", "03_delete")}
    ok = rows["Group A", "01_checks"]
    assert (ok.status, ok.exercises, ok.ex1, ok.ex2) == ("succeeded", "1/2", "✓", "✗")
    assert ok.test_accuracy == pytest.approx(0.625) and ok.runs == 1 and ok.seconds > 0
    crash = rows["Group B", "01_checks"]
    assert crash.status == "failed" and "RuntimeError: our model does not compile" in crash.error
    hang = rows["Group B", "02_hang"]
    assert hang.status == "failed" and "timed out" in hang.error.lower()
    gone = rows["Group B", "03_delete"]
    assert gone.status == "succeeded" and "deleted its own files" in gone.error
    assert "README.txt" in gone.error
    # the group's SUPERCLASS came from the assignments; what the notebook wrote came back
    group_a = root / "grading" / table["Group A"].folder
    assert (group_a / "answers.txt").read_text() == table["Group A"].superclass
    assert (group_a / "01_checks.ipynb").is_file() and (group_a / "01_checks.html").is_file()


def test_the_grades_are_written_as_csv_markdown_and_html(graded):
    root, _, files, _ = graded
    frame = pd.read_csv(files.csv)
    assert len(frame) == 4 and set(frame["status"]) == {"succeeded", "failed"}
    md = files.markdown.read_text()
    assert "**SYNTHETIC**" in md and "| Group A" in md and "1/2" in md
    page = files.html.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<table" in page and "SYNTHETIC" in page
    assert "<b>next</b>" not in page  # nothing a submission wrote is markup
    # cifarlab results over the graded folder: the run, with its notebook's checks
    results = pd.read_csv(notebook_runs.write_results(root / "grading", out_dir=root / "res").csv)
    assert list(results["exercises"]) == ["1/2"] and list(results["test_accuracy"]) == [0.625]


def test_submissions_are_never_written_and_outputs_stay_in_the_output_folder(graded):
    root, _, _, before = graded
    assert digests(root / "submissions") == before  # the deleting one deleted a copy
    assert not list(root.glob("*.ipynb")) and not (root / "answers.txt").exists()
    assert {p.name for p in root.iterdir()} <= {
        "assignments.csv", "assignments.md", "grading", "keras", "submissions", "res"}


def test_a_second_grading_runs_only_what_changed(graded, tmp_path, monkeypatch):
    root, _, _, _ = graded
    monkeypatch.setenv("KERAS_HOME", str(root / "keras"))
    again = grade.grade(root / "submissions", out_dir=root / "grading",
                        assignments=root / "assignments.csv", smoke=True, timeout=12,
                        start_timeout=900, verbose=False)
    # what succeeded is kept as graded; what failed runs again (and fails again)
    assert set(again.table["status"]) == {"succeeded", "failed"} and len(again.table) == 4
    assert again.table.loc[0, "exercises"] == "1/2"


def test_bad_submission_folders_are_clear_errors(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        grade.find_submissions(tmp_path / "nothing")
    (tmp_path / "empty" / "group").mkdir(parents=True)
    with pytest.raises(ValueError, match="No submissions in"):
        grade.find_submissions(tmp_path / "empty")
    make_notebook(tmp_path / "subs" / "Stranger" / "01_x.ipynb", "print(1)")
    csv = assign.write_assignments(assign.assign_superclasses(["Group A"]), tmp_path).csv
    assert cli.main(["grade", str(tmp_path / "subs"), "--assignments", str(csv),
                     "--out", str(tmp_path / "out")]) == 2
    assert "'Stranger' matches no group" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
