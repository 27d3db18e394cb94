"""The instructor commands: assign, run-notebooks, results, report."""

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from cifarlab import assign, cli, data, evaluate, models, runs, train

PARAMETERS = (
    'SUPERCLASS = "fish"\nSMOKE = False\nDATA_DIR = None\nRUNS_DIR = "runs"\nGREETING = "hi"'
)


def make_notebook(path, code):
    nb = new_notebook(
        cells=[new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}), new_code_cell(code)]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def one_line_error(capsys, command):
    err = capsys.readouterr().err
    assert err.startswith(f"cifarlab {command}: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def test_assign_writes_tables_and_keeps_groups_when_the_roster_grows(tmp_path, capsys):
    roster = tmp_path / "roster.csv"
    roster.write_text("group,member\nTeam A,Ana\nTeam B,Ben\nTeam A,Abe\n")
    out = tmp_path / "assignments"
    assert cli.main(["assign", str(roster), "--salt", "AI-2024", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| Team A |" in text and "Ana, Abe" in text and "Wrote" in text
    first = assign.read_assignments(out / "assignments.csv")

    # a new team inserted before the others: the earlier assignments.csv pins A and B
    roster.write_text("group,member\nTeam C,Cy\nTeam A,Ana\nTeam B,Ben\n")
    assert cli.main(["assign", str(roster), "--salt", "AI-2024", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "2 of 3 groups kept their superclass from the earlier" in text
    assert "earlier assignment files were moved to" in text
    second = assign.read_assignments(out / "assignments.csv")
    for team in ("Team A", "Team B"):
        assert second[team].superclass == first[team].superclass
    assert len(list((out / "previous").iterdir())) == 1

    # the same command again changes nothing
    assert cli.main(["assign", str(roster), "--salt", "AI-2024", "--out", str(out)]) == 0
    assert "unchanged" in capsys.readouterr().out

    assert cli.main(["assign", "--groups", "25", "--out", str(tmp_path / "g"), "--fresh"]) == 0
    table = assign.read_assignments(tmp_path / "g" / "assignments.csv")
    assert len(table) == 25 and len(set(g.superclass for g in table)) == 20


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--groups", "3", "roster.csv"], "give a roster CSV or --groups N"),
        ([], "give a roster CSV or --groups N"),
        (["--groups", "3", "--exclude", "fishes"], "Did you mean 'fish'"),
        (["--groups", "3", "--exclude", *map(str, range(20))], "all 20 superclasses"),
        (["missing.csv"], "missing.csv does not exist"),
    ],
)
def test_assign_errors_are_one_line(tmp_path, capsys, monkeypatch, args, match):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "roster.csv").write_text("G1\n")
    assert cli.main(["assign", *args]) == 2
    assert match in one_line_error(capsys, "assign")
    assert not (tmp_path / "assignments.csv").exists()


def test_parser_rejects_bad_counts(capsys):
    with pytest.raises(SystemExit):
        cli.main(["assign", "--groups", "0"])
    assert "expected a positive integer" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["run-notebooks", "a.csv", "--jobs", "0"])
    assert "expected a positive integer" in capsys.readouterr().err


def test_run_notebooks_then_results_and_report(tmp_path, capsys, monkeypatch, synthetic_dir):
    monkeypatch.chdir(tmp_path)
    make_notebook(tmp_path / "notebooks" / "01_hello.ipynb", "print(GREETING, SUPERCLASS)")
    make_notebook(tmp_path / "notebooks" / "02_fail.ipynb", "raise RuntimeError('oops')")
    assert cli.main(["assign", "--groups", "1", "--salt", "t"]) == 0
    capsys.readouterr()

    # user errors first: one line, exit status 2, nothing run
    assert cli.main(["run-notebooks", "assignments.csv", "--notebooks", "07"]) == 2
    assert "Unknown notebook '07'" in one_line_error(capsys, "run-notebooks")
    assert cli.main(["run-notebooks", "assignments.csv", "-p", "SUPERCLASS", "fish"]) == 2
    assert "'SUPERCLASS' is set by run_notebooks" in one_line_error(capsys, "run-notebooks")
    assert not (tmp_path / "runs").exists()

    # a failing notebook: recorded, exit status 1
    code = cli.main(["run-notebooks", "assignments.csv", "-p", "GREETING", "'hi there'"])
    assert code == 1
    out = capsys.readouterr().out
    assert "1 succeeded, 1 failed" in out and "RuntimeError: oops" in out
    assert "hi there" in (tmp_path / "runs" / "group-01" / "01_hello.html").read_text()

    # no training run was recorded yet
    assert cli.main(["results", "runs"]) == 2
    assert "No recorded runs under runs" in one_line_error(capsys, "results")

    # a real (tiny) run in the group's records, as a notebook would write it
    fish = data.select_superclass(data.load_cifar100(synthetic_dir), "fish")
    run = train.train(
        models.build_baseline_cnn(5),
        *data.train_val_split(fish.x_train, fish.y_train),
        epochs=1,
        name="baseline",
        runs_dir=tmp_path / "runs" / "group-01" / "records" / "01_hello",
        config={"superclass": "fish", "synthetic": True},
        verbose=0,
    )
    test = evaluate.evaluate(run.model, fish.x_test, fish.y_test, fish.class_names)
    runs.record_metrics(run, {"test_accuracy": test.accuracy, "test": test.to_dict()})

    assert cli.main(["results", "runs", "--out", "summary"]) == 0
    out = capsys.readouterr().out
    assert "| group-01 | fish" in out and "SYNTHETIC" in out
    assert {p.name for p in (tmp_path / "summary").iterdir()} == {
        "results.csv",
        "results.md",
        "results.png",
    }

    assert cli.main(["report", "runs/group-01", "--data-dir", str(synthetic_dir)]) == 0
    out = capsys.readouterr().out
    assert "runs/group-01/report/report.html (self-contained)" in out and "SYNTHETIC" in out
    assert "could not be made" not in out
    assert cli.main(["report", str(run.path)]) == 0  # no data: says what is missing
    assert "highest-loss images" in capsys.readouterr().out
    assert cli.main(["report", "runs/group-01"]) == 0  # again, other: the first is kept
    assert "files were moved to runs/group-01/report/previous/" in capsys.readouterr().out
    assert cli.main(["report", "runs/nobody"]) == 2
    assert "runs/nobody does not exist" in one_line_error(capsys, "report")
