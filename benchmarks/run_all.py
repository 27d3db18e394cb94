"""Run every benchmark and rewrite docs/benchmarks.md (``make bench``).

python -m benchmarks.run_all           # full size, writes docs/benchmarks.md
python -m benchmarks.run_all --tiny    # a quick check that nothing has rotted (no doc)
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import machine  # noqa: E402

BENCHMARKS = ["bench_select", "bench_transfer", "bench_demo"]

HEADER = """# Benchmarks

Written by `make bench` (`python -m benchmarks.run_all`); do not edit by hand.
Each benchmark runs the seeds' way and cifarlab's way on the same data in the same
process; times are wall-clock medians of several runs (min and max shown), after one
warm-up run. Speed and memory are measured here, never asserted in tests.

Machine: {machine}.
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tiny", action="store_true", help="tiny sizes, do not write the doc")
    parser.add_argument("--only", nargs="*", help="benchmark module names to run")
    args = parser.parse_args(argv)
    sections, results = [], {}
    for name in args.only or BENCHMARKS:
        module = importlib.import_module(f"benchmarks.{name}")
        result = module.run(tiny=args.tiny)
        results[name] = result
        sections.append(module.markdown(result))
        print(module.markdown(result))
    if not args.tiny:
        doc = HEADER.format(machine=machine()) + "\n" + "\n".join(sections)
        (ROOT / "docs").mkdir(exist_ok=True)
        (ROOT / "docs" / "benchmarks.md").write_text(doc)
        out = ROOT / "benchmarks" / "out"
        out.mkdir(exist_ok=True)
        (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
