"""Each benchmark runs once in a tiny size so it cannot rot (timings are never asserted)."""

import importlib
import json

import pytest

from benchmarks import bench_memory, bench_notebooks, run_all


@pytest.mark.parametrize("name", [n for n in run_all.BENCHMARKS if n != "bench_notebooks"])
def test_benchmark_runs_tiny_and_agrees(name):
    module = importlib.import_module(f"benchmarks.{name}")
    result = module.run(tiny=True)
    assert result.get("same_result", True) is True
    assert {"name", "headline", "target", "met"} <= set(result)
    json.dumps(result)  # what run_all writes to benchmarks/out/
    text = module.markdown(result)
    assert text.startswith("### ") and "|" in text
    if name == "bench_synthetic":  # every target of issue 13, measured in the tiny size too
        targets = [t for t in result["targets"] if t["met"] is not None]  # the rest: info
        assert len(targets) == 8 and len(result["targets"]) == 14
        # batch norm at both learning rates, each beside the baseline at the same rate
        assert set(result["superclass"]) == {
            "baseline", "augmented", "batch_norm_1e-3", "baseline_3e-3", "batch_norm"}
        assert all("epochs_to_baseline_best" in r for r in result["superclass"]["batch_norm"])
        assert result["write_images"] == 1200
        # accuracies, gaps and gains lie in [-1, 1]; "epochs to reach" is at most 2 + 1 (never)
        assert all(-1 <= t["mean"] <= 3 for t in result["targets"])
        assert "| CIFAR-10: best validation accuracy |" in text


def test_every_issue_benchmark_is_run():
    assert sorted(run_all.BENCHMARKS) == sorted(run_all.DOC_ORDER)
    assert len(run_all.DOC_ORDER) == 9  # 1-8, the fifth in two parts (demo, notebooks)


def test_resize_matches_bilinear_of_tensorflow():
    import numpy as np
    import tensorflow as tf

    images = np.random.default_rng(0).uniform(0, 1, size=(3, 32, 32, 3))
    ours = np.array(bench_memory.cv2_like_resize(images, 224))
    theirs = tf.image.resize(images, (224, 224), method="bilinear").numpy()
    assert ours.dtype == np.float64 and ours.shape == (3, 224, 224, 3)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_notebooks_benchmark_with_no_notebooks(tmp_path):
    result = bench_notebooks.run(tiny=True, folder=tmp_path)
    assert result["rows"] == [] and result["met"] is False
    assert "No notebooks" in bench_notebooks.markdown(result)


def test_notebooks_benchmark_runs_one_notebook_in_smoke_mode(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("SMOKE = False")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        params,
        nbformat.v4.new_code_cell(
            "import os\n"
            "assert SMOKE is True and os.environ['CIFARLAB_SMOKE'] == '1'\n"
            "from cifarlab import data\n"
            "assert data.load_cifar100().synthetic"
        ),
    ]
    nbformat.write(nb, tmp_path / "01_check.ipynb")
    (tmp_path / "student").mkdir()
    nbformat.write(nb, tmp_path / "student" / "01_check.ipynb")  # timed too, smoke mode only
    broken = nbformat.v4.new_notebook()
    broken.cells = [nbformat.v4.new_code_cell("raise ValueError('boom')")]
    nbformat.write(broken, tmp_path / "02_broken.ipynb")

    result = bench_notebooks.run(tiny=True, folder=tmp_path)
    rows = {row["notebook"]: row for row in result["rows"]}
    assert rows["01_check.ipynb"]["smoke"]["status"] == "ok"
    assert rows["student/01_check.ipynb"]["smoke"]["status"] == "ok"
    assert rows["student/01_check.ipynb"]["full"]["status"] == "skipped"
    assert rows["02_broken.ipynb"]["smoke"]["status"] == "failed"
    assert "boom" in rows["02_broken.ipynb"]["smoke"]["error"]
    assert result["met"] is False
    text = bench_notebooks.markdown(result)
    assert "`01_check.ipynb`" in text and "failed" in text


def test_full_mode_times_each_notebook_and_writes_the_table(tmp_path):
    import nbformat

    params = nbformat.v4.new_code_cell("SMOKE = True")
    params.metadata["tags"] = ["parameters"]
    quick, slow = nbformat.v4.new_notebook(), nbformat.v4.new_notebook()
    quick.cells = [params, nbformat.v4.new_code_cell(
        "import os\nassert SMOKE is False and 'CIFARLAB_SMOKE' not in os.environ")]
    slow.cells = [nbformat.v4.new_code_cell("import time\ntime.sleep(60)")]
    nbformat.write(quick, tmp_path / "01_quick.ipynb")
    nbformat.write(slow, tmp_path / "02_slow.ipynb")
    nbformat.write(slow, tmp_path / "03_other.ipynb")
    doc, record = tmp_path / "times.md", tmp_path / "times.json"
    here = bench_notebooks.machine_label()
    other = {"machine": "2 cores, Other CPU, AMX-BF16", "details": "elsewhere",
             "date": "2026-01-01", "precision": "mixed_bfloat16", "data": "SYNTHETIC",
             "limit_s": 60, "load_start": "0.1", "load_end": "0.3"}
    earlier = [{**other, "notebook": "01_quick.ipynb", "full": {"status": "ok", "wall_s": 7.0}},
               {**other, "machine": here, "notebook": "02_slow.ipynb",  # replaced below
                "full": {"status": "ok", "wall_s": 5.0}}]
    record.write_text(json.dumps(earlier))

    result = bench_notebooks.time_full_mode(["01", "02"], folder=tmp_path, limit_s=20,
                                            doc=doc, record=record, data_dir=tmp_path)
    rows = {row["notebook"]: row["full"] for row in result["rows"]}
    assert list(rows) == ["01_quick.ipynb", "02_slow.ipynb"]  # 03 was not asked for
    assert rows["01_quick.ipynb"]["status"] == "ok"
    assert rows["02_slow.ipynb"]["status"] == "not finished"
    kept = {(row["notebook"], row["machine"]): row["full"]
            for row in json.loads(record.read_text())}
    assert len(kept) == 3 and kept["01_quick.ipynb", other["machine"]]["wall_s"] == 7.0
    assert kept["02_slow.ipynb", here]["status"] == "not finished"  # the new time replaced it
    text = doc.read_text()
    assert f"| notebook | 2 cores, Other CPU, AMX-BF16 | {here} |" in text
    assert "| `01_quick.ipynb` | 7 s (0.1 min) | " in text
    assert "stopped at its limit of 20 s" in text
    assert "| `03_other.ipynb` | not measured | not measured |" in text
    assert "1 of 2 notebooks measured ran within 45 minutes" in text
    assert f"Not measured on this kind of machine ({here}): `03_other.ipynb`" in text
    assert 'ARGS="03"' in text


def test_full_mode_refuses_a_record_it_cannot_read(tmp_path):
    import nbformat

    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "01_empty.ipynb")
    record = tmp_path / "times.json"
    record.write_text('{"not": "a list"}')
    with pytest.raises(ValueError, match="is not a record of notebook times.*move it away"):
        bench_notebooks.time_full_mode(folder=tmp_path, doc=None, record=record,
                                       data_dir=tmp_path)
    assert record.read_text() == '{"not": "a list"}'  # left as it was


@pytest.mark.parametrize("argv, message", [(["99"], "No notebook in"),
                                           (["--limit", "0"], "--limit must be")])
def test_full_mode_refuses_bad_arguments_before_running_anything(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        bench_notebooks.main(argv)
    assert stop.value.code == 2 and message in capsys.readouterr().err
