"""Issue 14's probes of the instructor tools (assign, report, the CLI): each a clear error or
the correct result, with nothing the user made lost or overwritten."""

import csv
import hashlib
import io
import json
import os
import tempfile
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from cifarlab import assign, cli, notebook_runs, report

INJECTED = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>",
            '=HYPERLINK("http://evil.example","click")', "+1 team", "@SUM(A1)", "-2 | x")


def checksums(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` -> SHA-256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def one_line_error(capsys, command: str) -> str:
    err = capsys.readouterr().err
    assert err.startswith(f"cifarlab {command}: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


# ----------------------------------------------------------------- 4. reserved group names


@pytest.mark.parametrize("name", ["report", "Previous", "records", "exercises", "report_files"])
def test_a_group_named_like_a_tools_folder_is_refused_with_its_line(tmp_path, capsys, name):
    roster = tmp_path / "roster.csv"
    roster.write_text(f"group,member\nGroup 1,Ana\n{name},Ben\n")
    before = checksums(tmp_path)
    with pytest.raises(ValueError, match=rf"Line 3 of the roster .*'{name}' is reserved.*Rename"):
        assign.read_roster(roster)
    with pytest.raises(ValueError, match=rf"'{name}' is reserved"):
        assign.assign_superclasses(["Group 1", name])
    assert cli.main(["assign", str(roster), "--out", str(tmp_path)]) == 2
    assert "Line 3" in one_line_error(capsys, "assign")
    assert checksums(tmp_path) == before  # nothing written, the roster unchanged


def test_a_hand_edited_assignments_csv_with_a_reserved_group_names_the_line(tmp_path):
    path = tmp_path / "assignments.csv"
    path.write_text("group,superclass\nG1,fish\nreport,trees\n")
    with pytest.raises(ValueError, match="Line 3 of .*assignments.csv: Group name 'report'"):
        assign.read_assignments(path)


# ----------------------------------------------------------------- 5. rosters parsed as CSV


def test_a_quoted_member_with_a_line_break_stays_one_member(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text('group,member\nGroup 1,"Ana\nReyes"\nGroup 1,Ben\nGroup 2,Chen\n')
    assert assign.read_roster(roster) == {"Group 1": ("Ana Reyes", "Ben"), "Group 2": ("Chen",)}


def test_a_semicolon_roster_with_quoted_commas(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text('Group 1;"Reyes, Ana";"Cruz, Ben"\nGroup 2;Chen\n')
    assert assign.read_roster(roster) == {"Group 1": ("Reyes, Ana", "Cruz, Ben"),
                                          "Group 2": ("Chen",)}
    lone = tmp_path / "lone.csv"  # the first line names no separator
    lone.write_text("Group 1\nGroup 2;Ana;Ben\n")
    assert assign.read_roster(lone) == {"Group 1": (), "Group 2": ("Ana", "Ben")}
    tabs = tmp_path / "tabs.csv"
    tabs.write_text('team\tmember\nGroup 1\t"Reyes, Ana"\n')
    assert assign.read_roster(tabs) == {"Group 1": ("Reyes, Ana",)}


def test_a_member_holding_a_semicolon_survives_assignments_csv(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text('Group 1,"Smith; John",Ana,"Bo ""B"" Li"\nGroup 2,Chen\n')
    members = ("Smith; John", "Ana", 'Bo "B" Li')
    assert assign.read_roster(roster)["Group 1"] == members
    files = assign.write_assignments(assign.assign_superclasses(roster, salt="s"), tmp_path / "o")
    back = assign.read_assignments(files.csv)
    assert back["Group 1"].members == members and back["Group 2"].members == ("Chen",)


@pytest.mark.parametrize(
    ("text", "line"),
    [('group,member\nG1,Ana\nG2,"Ben\nG3,Cy\n', 3),  # a quote never closed
     ('group,member\nG1,Ana\nG2,"Ben" Cruz\n', 3)],  # a quote inside a cell
)
def test_a_bad_roster_line_is_named(tmp_path, text, line):
    roster = tmp_path / "roster.csv"
    roster.write_text(text)
    with pytest.raises(ValueError, match=rf"Line {line} of the roster file .* not valid CSV"):
        assign.read_roster(roster)
    assert roster.read_text() == text


# ----------------------------------------------------------------- 8. Markdown and CSV outputs


def test_assignments_md_and_csv_carry_no_markup_or_formula(tmp_path):
    roster = {INJECTED[0]: [INJECTED[1], "Ana"], INJECTED[2]: [INJECTED[4]],
              INJECTED[3]: ["Cy"], INJECTED[5]: ["Ana|Ben"]}
    table = assign.assign_superclasses(roster, salt="<b>`x`")
    files = assign.write_assignments(table, tmp_path)
    md = files.markdown.read_text()
    assert "<script" not in md and "<img" not in md and "<b>" not in md
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in md and "&lt;img src=x" in md
    assert all(line.count(" | ") == 4 for line in md.splitlines() if line.startswith("| "))
    cells = [c for row in csv.reader(io.StringIO(files.csv.read_text())) for c in row]
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@"))]
    text = files.csv.read_text()
    assert "'=HYPERLINK" in text and "'+1 team" in text and "'@SUM(A1)" in text
    back = assign.read_assignments(files.csv)  # the names come back exactly
    assert {g.group: g.members for g in back} == {k: tuple(v) for k, v in roster.items()}


def test_report_md_escapes_every_injected_name(tmp_path):
    table = pd.DataFrame({"run": [INJECTED[0]], "model": ["a|b"], "error": [INJECTED[1]]})
    rep = report.Report(f"Technical report: group {INJECTED[0]}", tmp_path, "group", False,
                        (("h", 2, f"Run 1: {INJECTED[1]}"), ("p", f"Group **{INJECTED[0]}**."),
                         ("note", INJECTED[1]), ("table", table)))
    md = rep.to_markdown()
    assert "<script" not in md and "<img" not in md
    assert md.startswith("# Technical report: group &lt;script&gt;alert(1)&lt;/script&gt;\n")
    assert "## Run 1: &lt;img" in md and "Group **&lt;script&gt;" in md and "a\\|b" in md


# ----------------------------------------------------------------- 10. OSError, Ctrl-C in the CLI


@pytest.fixture
def read_only(monkeypatch):
    """Make writes into a folder fail as they do when it is chmod 0o555 (root included):
    nothing can be created in it or below it."""
    folders = []
    real_mkstemp, real_mkdir = tempfile.mkstemp, Path.mkdir

    def refuse(path) -> None:
        path = Path(path).resolve()
        if any(path.is_relative_to(f) for f in folders):
            raise PermissionError(13, "Permission denied", str(path))

    def mkstemp(*args, dir=None, **kwargs):
        refuse(Path(dir or ".") / "new")
        return real_mkstemp(*args, dir=dir, **kwargs)

    def mkdir(self, mode=0o777, parents=False, exist_ok=False):
        if not (exist_ok and self.is_dir()):
            refuse(self)
        return real_mkdir(self, mode, parents, exist_ok)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(Path, "mkdir", mkdir)
    return lambda folder: folders.append(Path(folder).resolve())


def make_runs(root: Path) -> Path:
    """A runs folder with one group (status.json) and one recorded run (config, metrics)."""
    run = root / "group-01" / "records" / "01_hello" / "20240101-000000-baseline"
    run.mkdir(parents=True)
    (root / "group-01" / "status.json").write_text(json.dumps(
        {"group": "group-01", "superclass": "fish", "notebooks": {}}))
    (run / "config.json").write_text(json.dumps(
        {"name": "baseline", "config": {"superclass": "fish", "synthetic": True}}))
    (run / "metrics.json").write_text(json.dumps({"test_accuracy": 0.5, "epochs": 1}))
    return root


def notebooks(folder: Path) -> Path:
    nb = new_notebook(cells=[new_code_cell('SUPERCLASS = "fish"', metadata={"tags": [
        "parameters"]}), new_code_cell("print(SUPERCLASS)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / "01_hello.ipynb")
    return folder


def test_a_read_only_runs_folder_is_one_line_naming_the_path(tmp_path, capsys, read_only):
    runs_dir = make_runs(tmp_path / "runs")
    assert cli.main(["assign", "--groups", "1", "--out", str(tmp_path)]) == 0
    nbs, before = notebooks(tmp_path / "nbs"), checksums(tmp_path)
    capsys.readouterr()
    read_only(tmp_path)
    for command, *args in (
        ["results", str(runs_dir)],
        ["report", str(runs_dir / "group-01")],
        ["assign", "--groups", "2", "--out", str(tmp_path), "--fresh"],
        ["run-notebooks", str(tmp_path / "assignments.csv"), "--notebooks-dir", str(nbs),
         "--runs-dir", str(tmp_path / "new_runs")],
    ):
        assert cli.main([command, *args]) == 2, command
        err = one_line_error(capsys, command)
        assert f"error: Permission denied: {tmp_path}" in err and "permissions" in err
        assert "free space" in err
    assert checksums(tmp_path) == before  # nothing lost, nothing half-written


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root can write to a read-only folder")
def test_a_chmod_read_only_runs_folder(tmp_path, capsys):
    runs_dir = make_runs(tmp_path / "runs")
    assert cli.main(["assign", "--groups", "1", "--out", str(tmp_path)]) == 0
    nbs, before = notebooks(tmp_path / "nbs"), checksums(tmp_path)
    capsys.readouterr()
    folders = [tmp_path, runs_dir, runs_dir / "group-01"]
    for folder in folders:
        folder.chmod(0o555)
    try:
        for command, *args in (
            ["results", str(runs_dir)],
            ["report", str(runs_dir / "group-01")],
            ["assign", "--groups", "2", "--out", str(tmp_path), "--fresh"],
            ["run-notebooks", str(tmp_path / "assignments.csv"), "--notebooks-dir", str(nbs),
             "--runs-dir", str(runs_dir)],
        ):
            assert cli.main([command, *args]) == 2, command
            err = capsys.readouterr().err  # run-notebooks: its progress bar, then the error
            assert "Traceback" not in err and err.endswith("then run it again.\n"), err
            assert f"{command}: error: Permission denied: {tmp_path}" in err.splitlines()[-1]
    finally:
        for folder in folders:
            folder.chmod(0o755)
    assert checksums(tmp_path) == before


def test_ctrl_c_is_a_line_and_exit_130(tmp_path, capsys, monkeypatch):
    done = notebook_runs.BatchResult((), tmp_path, False, 1.0)
    stopped = notebook_runs.BatchInterrupted(done)  # what run_notebooks raises on Ctrl-C
    for raised, summary in ((stopped, done.summary()), (KeyboardInterrupt(), None)):
        def interrupt(*args, raised=raised, **kwargs):
            raise raised

        monkeypatch.setattr(notebook_runs, "run_notebooks", interrupt)
        assert cli.main(["run-notebooks", "assignments.csv"]) == 130
        out, err = capsys.readouterr()
        again = ": run the same command again to finish (what succeeded is skipped)"
        assert err == f"cifarlab run-notebooks: interrupted{again if summary else ''}\n"
        assert (summary in out) if summary else out == ""
