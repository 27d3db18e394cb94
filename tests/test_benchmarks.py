"""Each benchmark runs once in a tiny size so it cannot rot (timings are not asserted)."""

import pytest

from benchmarks import run_all


@pytest.mark.parametrize("name", run_all.BENCHMARKS)
def test_benchmark_runs_tiny_and_agrees(name):
    import importlib

    module = importlib.import_module(f"benchmarks.{name}")
    result = module.run(tiny=True)
    assert result.get("same_result", True) is True
    text = module.markdown(result)
    assert text.startswith("### ") and "|" in text
