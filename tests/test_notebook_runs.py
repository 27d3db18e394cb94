"""Notebook runs with papermill: every group's notebooks, failures recorded, results collected.

The notebooks here are tiny ones written by the tests (nbformat), not the course's: one
trains a real baseline for one epoch on the smoke SYNTHETIC data and records the run, one
only prints, one fails on purpose.
"""

import io
import json
import shutil

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from cifarlab import assign, notebook_runs, report, runs

PARAMETERS = """SUPERCLASS = "medium_mammals"
EPOCHS = 30
SEED = 0
SMOKE = False
DATA_DIR = None
RUNS_DIR = "runs"
GREETING = "hello"
"""

TRAIN = """from cifarlab import data, evaluate, models, runs, train
sub = data.select_superclass(data.load_cifar100(DATA_DIR), SUPERCLASS)
(x_tr, y_tr), (x_val, y_val) = data.train_val_split(sub.x_train, sub.y_train, seed=SEED)
run = train.train(models.build_baseline_cnn(5), (x_tr, y_tr), (x_val, y_val),
                  epochs=1 if SMOKE else EPOCHS, name="baseline", runs_dir=RUNS_DIR,
                  config={"superclass": SUPERCLASS, "data": sub.description,
                          "synthetic": sub.synthetic}, verbose=0, seed=SEED)
test = evaluate.evaluate(run.model, sub.x_test, sub.y_test, sub.class_names, top_k=(3,),
                         synthetic=sub.synthetic)
runs.record_metrics(run, {"test_accuracy": test.accuracy, "test_loss": test.loss,
                           "test_top3_accuracy": test.top_k_accuracy[3], "test": test.to_dict()})
"""

PRINT = """import os
from cifarlab import labels
print(GREETING, SUPERCLASS, labels.superclass_classes(SUPERCLASS))
with open("cwd.txt", "w") as f:  # relative: lands in the working directory
    f.write(os.environ.get("CIFARLAB_SMOKE", "-") + "|" + os.environ["CIFARLAB_RUNS_DIR"])
"""

FAIL = """print("about to fail", SUPERCLASS)
raise ValueError("broken on purpose")
"""

# a busy machine (another test run beside this one) can take minutes to start a kernel
START = {"start_timeout": 900}


def make_notebook(path, code, *, parameters=True):
    cells = [new_markdown_cell(f"# {path.stem}")]
    tags = {"tags": ["parameters"]} if parameters else {}
    cells.append(new_code_cell(PARAMETERS, metadata=tags))
    cells.append(new_code_cell(code))
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def injected(notebook_path):
    nb = nbformat.read(notebook_path, as_version=4)
    cells = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1
    return cells[0].source


# --------------------------------------------------------------------------- a smoke batch


@pytest.fixture(scope="module")
def smoke_batch(tmp_path_factory):
    """Two groups x three notebooks (one trains for real, one fails), --jobs 2, smoke mode."""
    root = tmp_path_factory.mktemp("batch")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KERAS_HOME", str(root / "keras"))
        mp.delenv("CIFARLAB_DATA_DIR", raising=False)
        make_notebook(root / "notebooks" / "01_train.ipynb", TRAIN)
        make_notebook(root / "notebooks" / "02_print.ipynb", PRINT)
        make_notebook(root / "notebooks" / "03_fail.ipynb", FAIL)
        table = assign.assign_superclasses(["Group A", "Group B"], salt="test")
        csv = assign.write_assignments(table, root).csv
        out = io.StringIO()
        result = notebook_runs.run_notebooks(
            csv,
            ["01", "02_print.ipynb", str(root / "notebooks" / "03_fail.ipynb")],
            notebooks_dir=root / "notebooks",
            runs_dir=root / "runs",
            jobs=2,
            smoke=True,
            out=out,
            **START,
        )
    return root, table, result, out.getvalue()


def test_smoke_batch_runs_every_notebook_of_every_group(smoke_batch):
    root, table, result, progress = smoke_batch
    assert result.synthetic
    assert [(r.group, r.notebook, r.status) for r in result.runs] == [
        ("Group A", "01_train", "succeeded"),
        ("Group A", "02_print", "succeeded"),
        ("Group A", "03_fail", "failed"),
        ("Group B", "01_train", "succeeded"),
        ("Group B", "02_print", "succeeded"),
        ("Group B", "03_fail", "failed"),
    ], result.summary()
    assert "Group A / 01_train: succeeded in" in progress and "notebooks" in progress
    for row in table:
        group_dir = root / "runs" / row.folder
        for stem in ("01_train", "02_print"):
            assert {f"{stem}.ipynb", f"{stem}.html", f"{stem}.log"} <= {
                p.name for p in group_dir.iterdir()
            }
            source = injected(group_dir / f"{stem}.ipynb")
            assert f'SUPERCLASS = "{row.superclass}"' in source and "SMOKE = True" in source
            assert f"records/{stem}" in source  # RUNS_DIR
        # the printing notebook: its output, its working directory, its environment
        html = (group_dir / "02_print.html").read_text()
        assert row.classes[0] in html and "<html" in html
        smoke_flag, runs_env = (group_dir / "cwd.txt").read_text().split("|")
        assert smoke_flag == "1" and runs_env == "records/02_print"  # relative to where it ran
        # the training notebook recorded a run where RUNS_DIR pointed
        records = list((group_dir / "records" / "01_train").iterdir())
        assert len(records) == 1 and (records[0] / "model.keras").is_file()
        status = json.loads((group_dir / "status.json").read_text())
        entry = status["notebooks"]["01_train"]
        assert status["group"] == row.group and status["superclass"] == row.superclass
        assert entry["status"] == "succeeded" and entry["seconds"] > 0 and entry["smoke"]
    assert not list((root / "runs").rglob(".*.part*"))  # no temporary file left behind


def test_a_failing_notebook_is_recorded_and_the_others_complete(smoke_batch):
    root, table, result, _ = smoke_batch
    assert not result.ok and len(result.failed) == 2 and len(result.succeeded) == 4
    for r in result.failed:
        assert r.error.startswith("ValueError: broken on purpose (cell [")
        assert r.output.endswith("03_fail.failed.ipynb") and r.html.endswith(".failed.html")
    assert "FAILED Group B / 03_fail: ValueError: broken on purpose" in result.summary()
    group_dir = root / "runs" / table["Group A"].folder
    entry = json.loads((group_dir / "status.json").read_text())["notebooks"]["03_fail"]
    assert entry["status"] == "failed" and "broken on purpose" in entry["traceback"]
    assert "about to fail" in (group_dir / "03_fail.failed.html").read_text()
    json.dumps(result.to_dict())
    assert list(result.to_frame()["status"]).count("failed") == 2


def test_results_table_and_chart_from_the_batch(smoke_batch):
    root, table, _, _ = smoke_batch
    files = notebook_runs.write_results(root / "runs")
    frame = pd.read_csv(files.csv)
    assert files.runs == 2 and files.synthetic
    assert list(frame["group"]) == ["Group A", "Group B"]  # names from status.json
    assert list(frame["superclass"]) == [table["Group A"].superclass, table["Group B"].superclass]
    assert set(frame["notebook"]) == {"01_train"} and frame["synthetic"].all()
    for row in frame.itertuples():
        metrics = json.loads((root / "runs" / row.path / "metrics.json").read_text())
        assert row.test_accuracy == pytest.approx(metrics["test_accuracy"])
        assert row.test_top3_accuracy == pytest.approx(metrics["test_top3_accuracy"])
        assert row.params == 159_813 and row.epochs == 1
    md = files.markdown.read_text()
    assert "**SYNTHETIC**" in md and "| Group A" in md and "path" not in md
    assert files.chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(json.dumps(files.to_dict()))["runs"] == 2


def test_group_report_from_the_batch_is_complete_and_self_contained(smoke_batch):
    root, table, _, _ = smoke_batch
    files = report.write_report(root / "runs" / table["Group A"].folder)
    assert files.missing == ()  # the smoke data was found through status.json
    page = files.html.read_text()
    assert page.count("data:image/png;base64,") == 5  # curves ... highest-loss images
    assert 'src="http' not in page and "<script" not in page and "<link" not in page
    assert "SYNTHETIC data" in page and "Highest-loss test images" in page
    assert table["Group A"].superclass in page and "03_fail" in page and "failed" in page


def test_results_skip_outputs_a_rerun_moved_aside(smoke_batch, tmp_path):
    root, table, _, _ = smoke_batch
    copy = tmp_path / "runs"
    shutil.copytree(root / "runs", copy, ignore=shutil.ignore_patterns("_smoke_data"))
    group_dir = copy / table["Group A"].folder
    shutil.copytree(group_dir / "records", group_dir / "previous" / "20240101-000000" / "records")
    assert len(runs.runs_table(copy)) == 2


def test_rerun_skips_what_succeeded_and_moves_what_it_replaces_aside(smoke_batch):
    root, table, _, _ = smoke_batch
    args = dict(notebooks_dir=root / "notebooks", runs_dir=root / "runs", smoke=True, **START)
    csv = root / "assignments.csv"
    again = notebook_runs.run_notebooks(csv, ["01", "02"], verbose=False, **args)
    assert [r.status for r in again.runs] == ["skipped"] * 4 and again.ok
    group_dir = root / "runs" / table["Group B"].folder
    before = (group_dir / "02_print.ipynb").read_text()
    forced = notebook_runs.run_notebooks(
        csv, ["03", "02"], groups=["Group B"], force=True, verbose=False, **args
    )
    assert [(r.notebook, r.status, r.reason) for r in forced.runs] == [
        ("03_fail", "failed", "failed before"),
        ("02_print", "succeeded", "forced"),
    ]
    moved = group_dir / forced.runs[1].previous
    assert (moved / "02_print.ipynb").read_text() == before  # kept, not overwritten
    assert (moved / "03_fail.failed.ipynb").is_file() and (moved / "status.json").is_file()
    assert (group_dir / "02_print.ipynb").is_file()
    status = json.loads((group_dir / "status.json").read_text())
    assert status["notebooks"]["02_print"]["previous"] == forced.runs[1].previous
    assert status["notebooks"]["01_train"]["status"] == "succeeded"  # untouched


def test_outputs_that_cannot_be_written_are_a_failure_that_says_so(tmp_path, monkeypatch):
    make_notebook(tmp_path / "notebooks" / "02_print.ipynb", PRINT)
    table = assign.assign_superclasses(["Group A"], salt="test")
    csv = assign.write_assignments(table, tmp_path).csv

    def disk_full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(notebook_runs, "_write_outputs", disk_full)
    result = notebook_runs.run_notebooks(csv, ["02"], notebooks_dir=tmp_path / "notebooks",
                                         runs_dir=tmp_path / "runs", jobs=1, smoke=True,
                                         out=io.StringIO(), **START)
    (run,) = result.runs
    assert run.status == "failed"
    assert "OSError while writing its outputs into" in run.error
    assert "No space left on device" in run.error and "worker ended" not in run.error


def test_why_a_notebook_runs_again(tmp_path):
    (tmp_path / "01_x.ipynb").write_text("{}")
    params = {"SUPERCLASS": "fish", "SMOKE": False, "RUNS_DIR": "/a"}
    done = {"status": "succeeded", "notebook": "01_x.ipynb", "parameters": params}
    done["source_sha256"] = "abc"
    reason = notebook_runs._rerun_reason
    assert reason(done, tmp_path, "01_x", {**params, "RUNS_DIR": "/b"}, "abc", False) is None
    assert reason(done, tmp_path, "01_x", params, "abc", True) == "forced"
    assert reason(done, tmp_path, "01_x", {**params, "EPOCHS": 3}, "abc", False) == (
        "parameters changed"
    )
    assert reason(done, tmp_path, "01_x", params, "def", False) == "the notebook changed"
    assert reason({}, tmp_path, "01_x", params, "abc", False) == "no status recorded"
    assert reason({}, tmp_path, "02_y", params, "abc", False) == "first run"
    for status in ("interrupted", "running"):  # Ctrl-C, or a batch killed outright
        assert reason({**done, "status": status}, tmp_path, "01_x", params, "abc", False) == (
            "interrupted before"
        )


# --------------------------------------------------------------------------- bad input


@pytest.fixture
def setup(tmp_path):
    nbs = tmp_path / "notebooks"
    make_notebook(nbs / "01_print.ipynb", PRINT)
    make_notebook(nbs / "02_plain.ipynb", PRINT, parameters=False)
    table = assign.assign_superclasses(["Group 1", "Group 2"])
    return tmp_path, nbs, table


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(notebooks=["01_prnit"]), ValueError, "Unknown notebook '01_prnit'. Did you mean"),
        (dict(notebooks=["02"]), ValueError, "no cell tagged 'parameters'"),
        (dict(notebooks=["01", "01_print"]), ValueError, "'01_print' is selected twice"),
        (dict(notebooks=[]), ValueError, "`notebooks` is empty"),
        (dict(notebooks=["x/09_none.ipynb"]), FileNotFoundError, "09_none.ipynb does not exist"),
        (dict(jobs=0), ValueError, "Expected `jobs` >= 1. Received: jobs=0"),
        (dict(timeout=-1), ValueError, r"Expected `timeout` in \(0, inf\]. Received: timeout=-1"),
        (dict(smoke="yes"), TypeError, "`smoke` must be True or False"),
        (dict(parameters={"SUPERCLASS": "fish"}), ValueError, "'SUPERCLASS' is set by"),
        (dict(parameters={"SMOKE": True}), ValueError, r"use smoke=True \(--smoke\)"),
        (dict(parameters={"2X": 1}), ValueError, "Python identifiers.*'2X'"),
        (dict(parameters={"X": object()}), TypeError, "must be a plain value"),
        (dict(groups=["Group 3"]), ValueError, "No group 'Group 3'.*Did you mean"),
        (dict(kernel_name="python4"), ValueError, "Unknown Jupyter kernel 'python4'"),
        (dict(smoke=True, data_dir="."), ValueError, "cannot be combined with smoke"),
        (dict(data_dir="missing"), FileNotFoundError, "`data_dir` missing does not exist"),
    ],
)
def test_bad_arguments_fail_before_anything_runs(setup, kwargs, error, match):
    tmp_path, nbs, table = setup
    kwargs = {"notebooks": ["01"], **kwargs}
    with pytest.raises(error, match=match):
        notebook_runs.run_notebooks(table, notebooks_dir=nbs, runs_dir=tmp_path / "runs",
                                    **kwargs)
    assert not (tmp_path / "runs").exists()


def test_bad_assignments_notebooks_dir_and_runs_dir(setup):
    tmp_path, nbs, table = setup
    with pytest.raises(FileNotFoundError, match="`assignments` file .*nope.csv does not exist"):
        notebook_runs.run_notebooks(tmp_path / "nope.csv", notebooks_dir=nbs,
                                    runs_dir=tmp_path / "runs")
    with pytest.raises(FileNotFoundError, match="`notebooks_dir` .*missing does not exist"):
        notebook_runs.run_notebooks(table, notebooks_dir=tmp_path / "missing",
                                    runs_dir=tmp_path / "runs")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="No numbered notebooks"):
        notebook_runs.find_notebooks(notebooks_dir=tmp_path / "empty")
    (tmp_path / "runs.txt").write_text("")
    with pytest.raises(ValueError, match="`runs_dir` .*runs.txt is a file"):
        notebook_runs.run_notebooks(table, ["01"], notebooks_dir=nbs,
                                    runs_dir=tmp_path / "runs.txt")
    (nbs / "03_broken.ipynb").write_text("{not json")
    with pytest.raises(ValueError, match="cannot be read as a notebook"):
        notebook_runs.find_notebooks(["03"], notebooks_dir=nbs)


def test_parse_parameter():
    assert notebook_runs.parse_parameter("EPOCHS", "30") == ("EPOCHS", 30)
    assert notebook_runs.parse_parameter("LR", "1e-3") == ("LR", 0.001)
    assert notebook_runs.parse_parameter("AUG", "True") == ("AUG", True)
    assert notebook_runs.parse_parameter("UNITS", "[128, 64]") == ("UNITS", [128, 64])
    assert notebook_runs.parse_parameter("MODEL", "vgg16") == ("MODEL", "vgg16")
    with pytest.raises(ValueError, match="'RUNS_DIR' is set by run_notebooks"):
        notebook_runs.parse_parameter("RUNS_DIR", "x")


def test_results_of_an_empty_or_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="`runs_dir` .*nothing does not exist"):
        runs.runs_table(tmp_path / "nothing")
    assert runs.runs_table(tmp_path).empty
    with pytest.raises(ValueError, match="No recorded runs under"):
        notebook_runs.write_results(tmp_path)
    assert not list(tmp_path.iterdir())


def test_missing_papermill_is_a_clear_error(setup, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "papermill" else real(name)
    )
    tmp_path, nbs, table = setup
    with pytest.raises(RuntimeError, match="needs papermill.*cifarlab\\[instructor\\]"):
        notebook_runs.run_notebooks(table, ["01"], notebooks_dir=nbs, runs_dir=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()
