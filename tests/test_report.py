"""Technical reports of real (tiny) runs: complete with data, honest without it."""

import json
import re
import shutil

import pytest

from cifarlab import data, evaluate, models, report, synthetic, train
from cifarlab.runs import record_metrics


@pytest.fixture(scope="module")
def runs(tmp_path_factory, synthetic_dir):
    """Two runs of one group, trained for real (1 epoch) and evaluated as the demo does."""
    root = tmp_path_factory.mktemp("report") / "runs" / "team-1"
    fish = data.select_superclass(data.load_cifar100(synthetic_dir), "fish")
    split = data.train_val_split(fish.x_train, fish.y_train, seed=0)
    paths = []
    for name, build in (
        ("baseline", lambda: models.build_baseline_cnn(5)),
        ("dropout", lambda: models.build_cnn(5, dropout=0.5, name="dropout_cnn")),
    ):
        run = train.train(
            build(),
            *split,
            epochs=1,
            name=name,
            runs_dir=root,
            config={"superclass": "fish", "data": fish.description, "synthetic": True},
            verbose=0,
            seed=0,
        )
        test = evaluate.evaluate(
            run.model, fish.x_test, fish.y_test, fish.class_names, top_k=(3,), synthetic=True
        )
        record_metrics(
            run,
            {
                "test_accuracy": test.accuracy,
                "test_loss": test.loss,
                "test_top3_accuracy": test.top_k_accuracy[3],
                "test": test.to_dict(),
            },
        )
        paths.append(run.path)
    return root, paths


SECTIONS = (
    "Data and superclass",
    "Model",
    "Training",
    "Test results",
    "Per-class metrics",
    "Confusion matrix",
    "Most confused pairs",
    "Highest-loss test images",
    "Timing",
    "Configuration",
)


def test_run_report_with_its_data_is_complete(runs, synthetic_dir, tmp_path):
    run_dir = runs[1][0]
    files = report.write_report(run_dir, out_dir=tmp_path / "rep", data_dir=synthetic_dir)
    assert files.missing == () and files.synthetic
    md = files.markdown.read_text()
    page = files.html.read_text()
    for heading in SECTIONS:
        assert f"## {heading}\n" in md and f"<h2>{heading}</h2>" in page
    assert md.startswith("# Technical report: baseline\n\n> **SYNTHETIC data")
    assert 'class="synthetic"' in page
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert f"accuracy **{metrics['test_accuracy']:.3f}**" in md  # re-evaluation agrees
    assert "re-evaluated on 25 test images" in md and "differs" not in md
    assert "aquarium_fish (0), flatfish (1)" in md and "159,813 parameters" in md
    assert "| Conv2D " in md or "Conv2D" in md.split("## Training")[0]
    assert "| split " in md.split("## Model")[0] and "| test " in md  # the split sizes
    history = md.split("## Training")[1].split("## Test results")[0]
    assert "| epoch " in history and "val_accuracy" in history  # the history table
    figures = sorted(p.name for p in files.figures_dir.iterdir())
    assert figures == sorted(
        f"{n}.png" for n in ("curves", "per_class", "confusion", "most_confused", "highest_loss")
    )
    for name in figures:
        assert f"](report_files/{name})" in md
    assert page.count("data:image/png;base64,") == 5 and "report_files/" not in page
    assert not list((tmp_path / "rep").rglob(".*"))  # no temporary file left behind
    assert json.loads(json.dumps(files.to_dict()))["synthetic"] is True
    # written again without the data: replaced, and the figure that is gone is removed
    again = report.write_report(run_dir, out_dir=tmp_path / "rep")
    assert [m.split(":")[0] for m in again.missing] == ["highest-loss images"]
    assert "highest_loss.png" not in {p.name for p in again.figures_dir.iterdir()}
    assert "## Highest-loss test images" in again.markdown.read_text()


def test_without_data_the_report_uses_what_was_recorded_and_says_what_is_missing(runs, tmp_path):
    rep = report.build_report(runs[1][0])  # no data_dir; none in the environment either
    assert rep.kind == "run" and rep.synthetic
    assert [m.split(":")[0] for m in rep.missing] == ["highest-loss images"]
    md = rep.to_markdown()
    assert "as recorded in metrics.json (25 test images)" in md
    assert "**Not available: highest-loss images.**" in md and "--data-dir" in md
    assert set(rep.figures) == {"curves.png", "per_class.png", "confusion.png", "most_confused.png"}
    json.dumps(rep.to_dict())


def test_data_that_is_not_the_runs_is_not_used(runs, tmp_path):
    other = tmp_path / "other"
    synthetic.write_synthetic_cifar100(other, train_per_class=4, test_per_class=3, seed=5)
    rep = report.build_report(runs[1][0], data_dir=other)
    (missing,) = rep.missing
    assert "highest-loss images" in missing
    assert "its test split has 15 images, the run was evaluated on 25" in missing


def test_a_features_head_or_other_classes_are_not_re_evaluated(runs, synthetic_dir, tmp_path):
    head = tmp_path / "head"
    shutil.copytree(runs[1][0], head)
    config = json.loads((head / "config.json").read_text())
    config["model"]["input_shape"] = [1280]
    (head / "config.json").write_text(json.dumps(config))
    (missing,) = report.build_report(head, data_dir=synthetic_dir).missing
    assert "takes inputs of shape (1280,), not 32x32 images" in missing
    other = tmp_path / "other"
    shutil.copytree(runs[1][0], other)
    metrics = json.loads((other / "metrics.json").read_text())
    metrics["test"]["class_names"] = metrics["test"]["class_names"][::-1]
    (other / "metrics.json").write_text(json.dumps(metrics))
    (missing,) = report.build_report(other, data_dir=synthetic_dir).missing
    assert "--data-dir: other classes than the run was evaluated on" in missing


def test_a_run_never_evaluated_is_evaluated_for_the_report(runs, synthetic_dir, tmp_path):
    run_dir = tmp_path / "20240101-000000-bare"
    shutil.copytree(runs[1][0], run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in ("test_accuracy", "test_loss", "test_top3_accuracy", "test"):
        del metrics[key]
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    bare = report.build_report(run_dir)
    assert {m.split(":")[0] for m in bare.missing} == {
        "test results",
        "per-class metrics",
        "confusion matrix",
        "most confused pairs",
        "highest-loss images",
    }
    full = report.build_report(run_dir, data_dir=synthetic_dir)
    assert full.missing == () and "confusion.png" in full.figures


def test_group_report_compares_its_runs(runs, synthetic_dir):
    root, paths = runs
    files = report.write_report(root, data_dir=synthetic_dir)
    assert files.markdown == root / "report" / "report.md" and files.missing == ()
    md = files.markdown.read_text()
    assert md.startswith("# Technical report: group team-1")
    assert "### Comparison of the runs" in md
    assert "## Run 1: baseline" in md and "## Run 2: dropout" in md
    comparison = md.split("### Comparison of the runs")[1].split("## Run 1")[0]
    assert "baseline_cnn" in comparison and "dropout_cnn" in comparison
    names = {p.name for p in files.figures_dir.iterdir()}
    assert "comparison.png" in names and "run1-baseline-curves.png" in names
    assert "run2-dropout-highest_loss.png" in names


def test_bad_paths(runs, tmp_path):
    with pytest.raises(FileNotFoundError, match="`path` .*missing does not exist"):
        report.build_report(tmp_path / "missing")
    with pytest.raises(TypeError, match="`path` must be a run or group folder"):
        report.build_report(3)
    with pytest.raises(FileNotFoundError, match="`data_dir` .*nodata does not exist"):
        report.build_report(runs[1][0], data_dir=tmp_path / "nodata")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no recorded run"):
        report.write_report(tmp_path / "empty")
    assert not (tmp_path / "empty" / "report").exists()
    broken = tmp_path / "broken"
    shutil.copytree(runs[1][0], broken)
    (broken / "metrics.json").unlink()
    with pytest.raises(FileNotFoundError, match="lacks metrics.json"):
        report.build_report(broken)
    (tmp_path / "file.txt").write_text("")
    with pytest.raises(ValueError, match="`out_dir` .*file.txt is a file"):
        report.write_report(runs[1][0], out_dir=tmp_path / "file.txt")


def test_html_escapes_every_injected_name(tmp_path):
    rep = report.Report("<G&1>", tmp_path, "group", False,
                        (("h", 2, "Run <x>"), ("p", "Group **<script>** in `a<b`"),
                         ("note", "<i>"), ("code", "</pre>")))
    page = rep.to_html()
    assert "<title>&lt;G&amp;1&gt;</title>" in page and "<h2>Run &lt;x&gt;</h2>" in page
    assert "<strong>&lt;script&gt;</strong>" in page and "<code>a&lt;b</code>" in page
    assert "&lt;i&gt;" in page and "&lt;/pre&gt;" in page and "<script" not in page


def test_rewriting_a_report_keeps_files_it_did_not_write(runs, tmp_path):
    out = tmp_path / "out"
    (out / "report_files").mkdir(parents=True)
    (out / "report_files" / "my_notes.txt").write_text("mine")
    for _ in range(2):
        files = report.write_report(runs[1][0], out_dir=out)
    assert (out / "report_files" / "my_notes.txt").read_text() == "mine"
    assert any(files.figures_dir.glob("*.png"))  # its own figures are there too


def test_rewriting_a_report_keeps_the_earlier_one_and_every_file_it_did_not_write(
    runs, synthetic_dir, tmp_path
):
    out = tmp_path / "out"
    (out / "report_files").mkdir(parents=True)
    mine = {
        "report.md": "# My notes\n\n![plot](report_files/my_plot.png)\n",
        "report.html": "<p>my page</p>",
        "report_files/my_plot.png": "my plot",
        "report_files/curves.png": "my curves",  # a name the report uses for its own figure
        "report_files/notes.txt": "my notes",
    }
    for name, text in mine.items():
        (out / name).write_text(text)
    first = report.write_report(runs[1][0], out_dir=out)
    assert first.previous is not None and first.previous.parent == out / "previous"
    for name, text in mine.items():  # nothing deleted or overwritten: moved aside, or left
        where = out if name == "report_files/notes.txt" else first.previous
        assert (where / name).read_text() == text
    assert "## Test results" in first.markdown.read_text()
    again = report.write_report(runs[1][0], out_dir=out)  # the same report: nothing to move
    assert again.previous is None and len(list((out / "previous").iterdir())) == 1
    earlier = first.markdown.read_text()
    third = report.write_report(runs[1][0], out_dir=out, data_dir=synthetic_dir)
    assert third.previous != first.previous
    assert (third.previous / "report.md").read_text() == earlier
    for name in re.findall(r"\]\(report_files/([^)]+)\)", earlier):  # its figures went with it
        assert (third.previous / "report_files" / name).is_file()
    assert (out / "report_files" / "notes.txt").read_text() == "my notes"
