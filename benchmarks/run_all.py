"""Run every benchmark and rewrite docs/benchmarks.md (``make bench``).

python -m benchmarks.run_all                          # full size, writes docs/benchmarks.md
python -m benchmarks.run_all --tiny                   # a quick check that nothing has rotted
python -m benchmarks.run_all --only bench_select ...  # some of them (writes no doc)

The results of each full run are also kept, never overwritten, in
``benchmarks/out/<date-time>/`` (results.json and the Markdown).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import sys
import time
import traceback
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import load_average, machine  # noqa: E402
from cifarlab._files import atomic_write  # noqa: E402

#: The order they run in: the notebooks last, on the time that is left.
BENCHMARKS = [
    "bench_select",
    "bench_memory",
    "bench_transfer",
    "bench_pipeline",
    "bench_scaling",
    "bench_demo",
    "bench_synthetic",
    "bench_precision",
    "bench_notebooks",
]
#: The order of the doc: the issue's numbering.
DOC_ORDER = [
    "bench_select",  # 1
    "bench_memory",  # 2
    "bench_transfer",  # 3
    "bench_pipeline",  # 4
    "bench_demo",  # 5, the main job
    "bench_notebooks",  # 5, the notebooks
    "bench_scaling",  # 6
    "bench_synthetic",  # 7: SYNTHETIC data that behaves like CIFAR (issue 13)
    "bench_precision",  # 8: precision and the roofline (issue 15)
]
NUMBERS = {name: n for n, name in zip([1, 2, 3, 4, 5, 5, 6, 7, 8], DOC_ORDER, strict=True)}

#: ``make bench`` must finish in 20 minutes on 2 cores; the notebooks' full runs get
#: what the others leave of this (with a margin for writing the doc).
BUDGET_S = 19 * 60

HEADER = """# Benchmarks

Written by `make bench` (`python -m benchmarks.run_all`) on {date}; do not edit by hand.
The whole run took {total:.0f} s (budget: 20 minutes).

**Machine:** {machine}. Load average (1 min) {load_start} when the run started and
{load_end} when it ended (2.0 means both cores busy): other work shared the machine, so
absolute times are noisy; ratios are measured in the same process (or in processes run
one after the other) and are steadier.

**Data:** {data}.

**Method:** each benchmark runs the seeds' way and cifarlab's way on the same data, in
the same run, one after the other. Times are wall-clock (`time.perf_counter`); where a
table gives a median, it is over the repeats or epochs stated, with min and max. Memory
is the peak resident set size (`ru_maxrss`) of a fresh process per measurement. Where
both ways must give the same result, the benchmark checks it. Speed and memory are
measured here, never asserted in tests (`tests/test_benchmarks.py` runs each benchmark
in a tiny size so that it cannot rot). Re-run with `make bench`;
`python -m benchmarks.run_all --only bench_select` runs one.

## Headline numbers

| # | benchmark | result | target | met |
| --- | --- | --- | --- | --- |
{summary}
"""


def _run_one(name: str, *, tiny: bool, deadline: float | None) -> dict:
    """Run one benchmark; one that takes ``budget_s`` gets the time left before ``deadline``."""
    module = importlib.import_module(f"benchmarks.{name}")
    kwargs = {}
    if deadline is not None and "budget_s" in inspect.signature(module.run).parameters:
        kwargs["budget_s"] = max(0.0, deadline - time.perf_counter())
    start = time.perf_counter()
    try:
        result = module.run(tiny=tiny, **kwargs)
        text = module.markdown(result)
    except Exception:  # one broken benchmark must not hide the others' numbers
        result = {
            "name": name,
            "error": traceback.format_exc(limit=5),
            "headline": "FAILED",
            "target": "",
            "met": False,
        }
        text = f"### {name}\n\nFAILED:\n\n```\n{result['error']}\n```\n"
    result["wall_s"] = time.perf_counter() - start
    result["markdown"] = text
    return result


def _met(value) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "**no**"
    return "(no target)" if value is None else str(value)


def _data_used(results: dict) -> str:
    sources = {r.get("data", "").split(";")[0].split(":")[0] for r in results.values()}
    sources.discard("")
    if any("SYNTHETIC" in s for s in sources):
        return (
            "SYNTHETIC CIFAR-100 of the real size (500 training and 100 test images per "
            "class, 60,000 images) in the official format, written by "
            "`cifarlab.synthetic.write_synthetic_cifar100`: real CIFAR-100 was not in the Keras "
            "cache. Times and memory depend on the data's size and format only, so they hold "
            "for real CIFAR-100; accuracies on synthetic data say nothing about real CIFAR-100"
        )
    return "real CIFAR-100 (from the Keras cache)"


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text)


def document(results: dict, *, total: float, load_start: str, load_end: str) -> str:
    order = [n for n in DOC_ORDER if n in results]
    summary = "\n".join(
        f"| {NUMBERS[n]} | {results[n]['name']} | {results[n]['headline']} | "
        f"{results[n]['target']} | {_met(results[n]['met'])} |"
        for n in order
    )
    header = HEADER.format(
        date=datetime.now().strftime("%Y-%m-%d %H:%M"),
        total=total,
        machine=machine(),
        load_start=load_start,
        load_end=load_end,
        data=_data_used(results),
        summary=summary,
    )
    sections = [
        f"## {NUMBERS[n]}. {results[n]['markdown'].removeprefix('### ').rstrip()}\n\n"
        f"_This benchmark took {results[n]['wall_s']:.0f} s._\n"
        for n in order
    ]
    return header + "\n" + "\n".join(sections)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tiny", action="store_true", help="tiny sizes, do not write the doc")
    parser.add_argument("--only", nargs="*", choices=BENCHMARKS, help="benchmarks to run")
    args = parser.parse_args(argv)
    names = args.only or BENCHMARKS
    start = time.perf_counter()
    deadline = start + BUDGET_S if args.only is None else None  # --only: no time limit
    load_start = load_average()
    results = {}
    for name in names:
        print(f"[{time.perf_counter() - start:5.0f} s] {name} ...", flush=True)
        results[name] = _run_one(name, tiny=args.tiny, deadline=deadline)
        print(results[name]["markdown"], flush=True)
    total = time.perf_counter() - start
    print(f"All done in {total:.0f} s.")
    failed = [n for n, r in results.items() if "error" in r]
    if not args.tiny:
        doc = document(results, total=total, load_start=load_start, load_end=load_average())
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        out = ROOT / "benchmarks" / "out" / stamp
        _atomic_write(out / "results.json", json.dumps(results, indent=2, default=str))
        _atomic_write(out / "benchmarks.md", doc)
        if args.only is None:  # the published doc always holds all six
            _atomic_write(ROOT / "docs" / "benchmarks.md", doc)
            print(f"Wrote docs/benchmarks.md and {out.relative_to(ROOT)}/")
        else:
            print(f"Wrote {out.relative_to(ROOT)}/ (docs/benchmarks.md needs a run of all)")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
