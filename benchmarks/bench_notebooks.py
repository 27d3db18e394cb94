"""Benchmark 5 (part): wall time of each notebook, in smoke mode and in full mode.

Every ``notebooks/*.ipynb`` present is run as a student's Jupyter would run it:
papermill, kernel ``python3``, a fresh kernel per notebook, in a fresh process;
the time is from start-up to the last cell.

- Smoke mode (what ``make test`` runs): ``CIFARLAB_SMOKE=1`` and ``SMOKE=True``
  on the same small SYNTHETIC dataset the notebook tests use.
- Full mode (what a student runs): ``SMOKE=False`` on real CIFAR-100 when it is in
  the Keras cache, else on SYNTHETIC data of the real size. Full runs share a time
  budget (the rest of ``make bench``'s 20 minutes); a notebook that would overrun it
  is stopped and reported as not finished, and the ones after it as skipped.

Each run has its own working folder, runs folder and Keras home under a temporary
folder: nothing is written to the repository or the real Keras cache.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT

NOTEBOOKS = ROOT / "notebooks"
SMOKE_TIMEOUT_S = 600
SMOKE_TARGET_S = 60  # issue 12: each notebook's smoke mode under a minute on 2 cores
#: Images per class (train, test) of the SYNTHETIC data sets the notebooks get.
SIZES = {
    "smoke": {"cifar100": (40, 10), "cifar10": (40, 10)},  # as the notebook tests use
    "full": {"cifar100": (500, 100), "cifar10": (5000, 1000)},  # the real sizes
}


def data_folder(mode: str) -> Path:
    """SYNTHETIC CIFAR-100 and CIFAR-10 in the official format, written once, for a mode."""
    from cifarlab import data, synthetic

    folder = Path(tempfile.gettempdir()) / f"cifarlab-bench-notebook-data-{mode}"
    sizes = SIZES[mode]
    if not (folder / data.CIFAR100.folder / "meta").is_file():
        train, test = sizes["cifar100"]
        synthetic.write_synthetic_cifar100(folder, train_per_class=train, test_per_class=test)
    if not (folder / data.CIFAR10.folder / "batches.meta").is_file():
        train, test = sizes["cifar10"]
        synthetic.write_synthetic_cifar10(folder, train_per_class=train, test_per_class=test)
    return folder


def _notebooks(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).glob("*.ipynb") if not p.name.startswith("."))


def _has_parameter(path: Path, name: str) -> bool:
    """True when the notebook's ``parameters`` cell assigns ``name`` (papermill can set it)."""
    try:
        cells = json.loads(path.read_text(encoding="utf8")).get("cells", [])
    except (OSError, ValueError):
        return False
    assign = re.compile(rf"^\s*{re.escape(name)}\s*(:[^=]*)?=", re.MULTILINE)
    for cell in cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            source = cell.get("source", "")
            return bool(assign.search(source if isinstance(source, str) else "".join(source)))
    return False


def _real_data_present() -> bool:
    """True when real CIFAR-100 is where the notebooks look by default (never downloads)."""
    from cifarlab import data

    try:
        return not data.load_cifar100(download=False).synthetic
    except (data.DataNotFoundError, data.CorruptDataError):
        return False


def run_notebook(path: Path, *, smoke: bool, data_dir: Path | None, timeout: float) -> dict:
    """Run one notebook with papermill in a fresh process; its wall time and status.

    ``data_dir`` None: the notebook finds the data itself (real CIFAR in the Keras cache).
    """
    with tempfile.TemporaryDirectory(prefix="cifarlab-bench-nb-") as tmp:
        work = Path(tmp) / "work"  # the notebook's working folder: runs/, data/ go here
        work.mkdir()
        cmd = [
            sys.executable,
            "-m",
            "papermill",
            str(path.resolve()),
            str(Path(tmp) / "out.ipynb"),
            "--kernel",
            "python3",
            "--language",
            "python",
            "--cwd",
            str(work),
            "--no-progress-bar",
        ]
        if _has_parameter(path, "SMOKE"):
            cmd += ["-p", "SMOKE", str(smoke)]
        env = dict(
            os.environ,
            CIFARLAB_RUNS_DIR=str(Path(tmp) / "runs"),
            MPLBACKEND="Agg",
            TF_CPP_MIN_LOG_LEVEL="2",
        )
        for key in ("CIFARLAB_SMOKE", "CIFARLAB_DATA_DIR"):
            env.pop(key, None)
        if smoke:
            env["CIFARLAB_SMOKE"] = "1"
        if data_dir is not None:  # SYNTHETIC data: never touch the real Keras cache
            env["CIFARLAB_DATA_DIR"] = str(data_dir)
            env["KERAS_HOME"] = str(Path(tmp) / "keras")
        start = time.perf_counter()
        try:
            proc = subprocess.run(
                cmd, cwd=work, env=env, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            return {
                "status": "not finished",
                "wall_s": time.perf_counter() - start,
                "error": "stopped when its share of the time budget ran out",
            }
        wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = [line for line in proc.stderr.strip().splitlines() if line.strip()][-1:]
        return {"status": "failed", "wall_s": wall, "error": " ".join(tail)[:300]}
    return {"status": "ok", "wall_s": wall, "error": None}


def _skipped(reason: str) -> dict:
    return {"status": "skipped", "wall_s": None, "error": reason}


def run(
    tiny: bool = False, *, folder: str | os.PathLike | None = None, budget_s: float | None = None
) -> dict:
    """Time every notebook in ``folder``: smoke runs first, then full runs, within ``budget_s``.

    ``tiny`` runs smoke mode only (the tests give it a folder of their own notebooks).
    """
    folder = Path(folder) if folder is not None else NOTEBOOKS
    students = _notebooks(folder / "student") if (folder / "student").is_dir() else []
    paths = _notebooks(folder) + students  # student versions: smoke mode only
    deadline = None if budget_s is None else time.perf_counter() + budget_s

    def left() -> float:
        return 3600.0 if deadline is None else deadline - time.perf_counter()

    smoke_dir = data_folder("smoke") if paths else None
    real = False if tiny else _real_data_present()
    full_dir = None if real or tiny or not paths else data_folder("full")
    rows = [{"notebook": path.relative_to(folder).as_posix()} for path in paths]
    # Smoke runs first, each with a fair share of the time left, so one slow notebook
    # cannot starve the others; one stopped early gets a second try on what is left.
    for i, (row, path) in enumerate(zip(rows, paths, strict=True)):
        share = min(SMOKE_TIMEOUT_S, left() / (len(paths) - i))
        if share < 10:
            row["smoke"] = _skipped("the time budget was spent before it")
        else:
            row["smoke"] = run_notebook(path, smoke=True, data_dir=smoke_dir, timeout=share)
    for row, path in zip(rows, paths, strict=True):
        first = row["smoke"]
        if first["status"] == "not finished" and left() > first["wall_s"] + 10:
            row["smoke"] = run_notebook(
                path, smoke=True, data_dir=smoke_dir, timeout=min(SMOKE_TIMEOUT_S, left())
            )
    for row, path in zip(rows, paths, strict=True):
        if tiny:
            row["full"] = _skipped("tiny run: smoke only")
        elif path in students:
            row["full"] = _skipped("student version: smoke mode only")
        elif left() < 10:
            row["full"] = _skipped("the time budget was spent before it")
        else:
            row["full"] = run_notebook(path, smoke=False, data_dir=full_dir, timeout=left())
    runs = [row[mode] for row in rows for mode in ("smoke", "full")]
    smoke_done = [row["smoke"]["wall_s"] for row in rows if row["smoke"]["status"] == "ok"]
    smoke_total = sum(smoke_done)
    full_done = [row for row in rows if row["full"]["status"] == "ok"]
    if not rows:
        headline = "no notebooks yet"
    else:
        headline = (
            f"{len(smoke_done)} of {len(rows)} notebooks run in smoke mode "
            f"({smoke_total:.0f} s in all), {len(full_done)} in full mode"
        )
    return {
        "name": "The notebooks: wall time of each, smoke mode and full mode",
        "folder": str(folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder),
        "data_smoke": "SYNTHETIC CIFAR-100 and CIFAR-10, 40 training and 10 test images per "
        "class (as the notebook tests use)",
        "data_full": "real CIFAR (from the Keras cache)"
        if real
        else "SYNTHETIC CIFAR-100 and CIFAR-10 of the real size (500 and 5,000 training images "
        "per class); real data absent",
        "budget_s": budget_s,
        "rows": rows,
        "smoke_total_s": smoke_total,
        "headline": headline,
        "target": "every notebook runs start to end on 2 cores, in smoke and in full mode, and "
        f"each smoke run (student versions too) within {SMOKE_TARGET_S} s",
        "met": _met(runs, [row["smoke"] for row in rows]),
        "same_result": True,
    }


def _met(runs: list[dict], smoke: list[dict]) -> bool | str:
    """False if a notebook failed or a smoke run took over SMOKE_TARGET_S; True if every run
    finished; else only partly measured."""
    if not runs or any(run["status"] == "failed" for run in runs):
        return False
    if any(run["status"] == "ok" and run["wall_s"] > SMOKE_TARGET_S for run in smoke):
        return False
    if all(run["status"] == "ok" for run in runs):
        return True
    return "no failure; not all measured in the time budget"


def _cell(run: dict) -> str:
    if run["status"] == "ok":
        return f"{run['wall_s']:.0f} s"
    if run["wall_s"] is None:
        return f"{run['status']} ({run['error']})"
    return f"{run['status']} after {run['wall_s']:.0f} s ({run['error']})"


def markdown(r: dict) -> str:
    lines = [f"### {r['name']}", ""]
    if not r["rows"]:
        lines += [f"No notebooks in `{r['folder']}/` yet: nothing was timed.", ""]
        return "\n".join(lines)
    budget = (
        f"the notebooks had the {r['budget_s']:.0f} s that the other benchmarks left of "
        "the 20 minutes, smoke runs first"
        if r["budget_s"] is not None
        else "no time limit"
    )
    lines += [
        f"Smoke mode on {r['data_smoke']}; full mode on {r['data_full']}. One run each, "
        f"papermill with kernel `python3`, a fresh process per notebook, from start-up to "
        f"the last cell; {budget}.",
        "",
        "| notebook | smoke mode | full mode |",
        "| --- | --- | --- |",
    ]
    for row in r["rows"]:
        lines.append(f"| `{row['notebook']}` | {_cell(row['smoke'])} | {_cell(row['full'])} |")
    skipped = [row["notebook"] for row in r["rows"] if row["full"]["status"] == "skipped"
               and not row["notebook"].startswith("student/")]
    lines += [
        "",
        f"Smoke runs measured: {r['smoke_total_s']:.0f} s in all, one after the other."
        + (
            f" Not run in full mode: {', '.join(f'`{n}`' for n in skipped)}: `make bench` "
            "must end within 20 minutes, so full runs get only the time the other "
            "benchmarks and the smoke runs leave; run one in full with "
            "`python -m benchmarks.run_all --only bench_notebooks` (no time limit) or "
            "`papermill NOTEBOOK out.ipynb -p SMOKE False`."
            if skipped and r["budget_s"] is not None
            else ""
        ),
        "",
    ]
    return "\n".join(lines)


# --- Full mode of every notebook, without make bench's budget (issue 15) ---------------

FULL_TARGET_S = 45 * 60  # each notebook within a 45-minute class hour on 2 cores
FULL_DOC = ROOT / "docs" / "notebook_times.md"
#: Every measurement kept, one per notebook and kind of machine: the table is made from it.
FULL_RECORD = ROOT / "docs" / "notebook_times.json"


def machine_label() -> str:
    """This kind of machine in a few words: cores, CPU, and its bfloat16 instructions."""
    from benchmarks.common import cpu_model
    from cifarlab.train import _cpu_flags

    cpu = re.sub(r"\((R|TM)\)|\b(Processor|CPU)\b", "", cpu_model() or "")
    flags = _cpu_flags()
    bf16 = ("AMX-BF16" if "amx_bf16" in flags else "AVX512-BF16" if "avx512_bf16" in flags
            else "no bfloat16 instructions")
    return f"{os.cpu_count()} cores, {' '.join(cpu.split()) or 'unknown CPU'}, {bf16}"


def _read_record(path: Path | None) -> list[dict]:
    if path is None or not path.is_file():
        return []
    try:
        rows = json.loads(path.read_text(encoding="utf8"))
        assert isinstance(rows, list) and all({"notebook", "machine", "full"} <= set(r)
                                              for r in rows)
    except (ValueError, AssertionError, TypeError) as err:
        raise ValueError(f"{path} is not a record of notebook times ({err or 'wrong layout'}): "
                         "move it away to start a new one.") from None
    return rows


def time_full_mode(names=None, *, folder: Path = NOTEBOOKS, limit_s: float = FULL_TARGET_S,
                   doc: Path | None = FULL_DOC, record: Path | None = FULL_RECORD,
                   data_dir: Path | None = None) -> dict:
    """Run each course notebook (or those whose names start with one of ``names``) in full
    mode, one after the other, each stopped at ``limit_s``. After each one, write its time
    into ``record`` (replacing an earlier time of the same notebook on the same kind of
    machine, keeping the others) and rewrite ``doc`` from it, so that what was measured
    survives an interruption. ``data_dir``: the data folder (default: real CIFAR if present,
    else SYNTHETIC data of the real size)."""
    from benchmarks.common import load_average, machine
    from cifarlab import train
    from cifarlab._files import atomic_write

    everything = _notebooks(folder)
    paths = [p for p in everything if not names or any(p.name.startswith(n) for n in names)]
    if not paths:
        raise ValueError(f"No notebook in {folder} starts with {' or '.join(names)}: give "
                         "prefixes such as 01 or 07_all, or none for all of them.")
    earlier = _read_record(record)
    real = data_dir is None and _real_data_present()
    if data_dir is None and not real:
        data_dir = data_folder("full")
    policy, why = train.best_precision()
    about = {"machine": machine_label(), "details": machine(), "precision": f"{policy} ({why})",
             "data": "real CIFAR (from the Keras cache)" if real else
             "SYNTHETIC CIFAR-100 and CIFAR-10 of the real size (500 and 5,000 training "
             "images per class); real data absent", "limit_s": limit_s,
             "date": time.strftime("%Y-%m-%d"), "started": time.strftime("%Y-%m-%d %H:%M"),
             "load_start": load_average()}
    result = {**about, "rows": [], "notebooks": [p.name for p in everything], "record": earlier}
    for path in paths:
        print(f"{time.strftime('%H:%M:%S')} {path.name} in full mode ...", flush=True)
        run = run_notebook(path, smoke=False, data_dir=data_dir, timeout=limit_s)
        if run["status"] == "not finished":
            run["error"] = f"stopped at its limit of {_duration(limit_s)}"
        result["rows"].append({**about, "notebook": path.name, "full": run})
        for row in result["rows"]:  # the load at the end of this run so far
            row["load_end"] = load_average()
        print(f"  {_cell(run)}", flush=True)
        done = {(row["notebook"], row["machine"]) for row in result["rows"]}
        result["record"] = [row for row in earlier if (row["notebook"], row["machine"])
                            not in done] + result["rows"]
        if record is not None:
            atomic_write(record, json.dumps(result["record"], indent=1) + "\n")
        if doc is not None:
            atomic_write(doc, full_markdown(result))
    return result


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} minutes" if seconds >= 60 else f"{seconds:.0f} s"


def _within_target(run: dict) -> bool:
    return run["status"] == "ok" and run["wall_s"] <= FULL_TARGET_S


def _time_cell(run: dict) -> str:
    if run["status"] != "ok":
        return f"**{_cell(run)}**"
    text = f"{run['wall_s']:.0f} s ({run['wall_s'] / 60:.1f} min)"
    return text if _within_target(run) else f"**{text}: over 45 minutes**"


def full_markdown(r: dict) -> str:
    """The table of every notebook's full-mode time, a column per kind of machine."""
    record = r.get("record") or r["rows"]
    machines = list(dict.fromkeys(row["machine"] for row in record))
    times = {(row["notebook"], row["machine"]): row for row in record}
    notebooks = list(dict.fromkeys([*r.get("notebooks", ()), *(row["notebook"] for row in record)]))
    lines = [
        "# Notebooks in full mode: how long each takes",
        "",
        f"Written by `make bench-notebooks` (`python -m benchmarks.bench_notebooks`) on "
        f"{time.strftime('%Y-%m-%d %H:%M')} from `docs/notebook_times.json`, which keeps every "
        "measurement (a new one replaces only the same notebook's on the same kind of machine); "
        "do not edit by hand.",
        "",
        "Each notebook as a student runs it with its defaults (`SMOKE = False`): papermill, "
        "kernel `python3`, a fresh process, from start-up to the last cell, one after the "
        "other. The target: each within 45 minutes, a class hour on 2 cores. A Colab GPU is "
        "not measured (none is reachable from here).",
        "",
        "| notebook | " + " | ".join(machines) + " |",
        "| --- |" + " --- |" * len(machines),
    ]
    for name in notebooks:
        cells = [_time_cell(times[name, m]["full"]) if (name, m) in times else "not measured"
                 for m in machines]
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    lines += ["", "**How each column was measured**", ""]
    for m in machines:
        rows = [row for row in record if row["machine"] == m]
        within = sum(_within_target(row["full"]) for row in rows)
        runs = {}  # the rows of each run, by its start
        for row in rows:
            runs.setdefault(row.get("started", row["date"]), []).append(row)
        when = "; ".join(
            f"{start} (notebooks {', '.join(row['notebook'][:2] for row in run)}), load average "
            f"(1 min) {run[-1]['load_start']} at the start and {run[-1]['load_end']} at the end "
            f"(2.0: both cores busy), each notebook stopped at {_duration(run[-1]['limit_s'])}"
            for start, run in sorted(runs.items()))
        lines += [f"- **{m}**: {rows[-1]['details']}. `PRECISION = \"auto\"` (notebooks 05 "
                  f"and 07) means {rows[-1]['precision']}. Data: {rows[-1]['data']}. Runs: "
                  f"{when}. {within} of {len(rows)} notebooks measured ran within 45 minutes."]
    lines += ["", "Times depend on the data's size and on when early stopping ends each run; "
              "the SYNTHETIC data learns like CIFAR (docs/benchmarks.md section 7), but real "
              "CIFAR may stop at other epochs: take the times as a guide."]
    missing = [n for n in notebooks if not all((n, m) in times for m in machines)]
    here = r.get("machine")
    if here and (todo := [n for n in notebooks if (n, here) not in times]):
        lines += ["", f"Not measured on this kind of machine ({here}): "
                  + ", ".join(f"`{n}`" for n in todo)
                  + f" (`make bench-notebooks ARGS=\"{' '.join(n[:2] for n in todo)}\"` "
                  "runs them)."]
    elif missing:
        lines += ["", "\"not measured\": that kind of machine was not at hand."]
    lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        description="Time the course notebooks in full mode (no time budget); writes "
                    f"{FULL_DOC.relative_to(ROOT)}.")
    parser.add_argument("names", nargs="*", help="notebook name prefixes (default: all)")
    parser.add_argument("--limit", type=float, default=FULL_TARGET_S / 60,
                        help="minutes each notebook may take (default: 45)")
    args = parser.parse_args(argv)
    if not args.limit > 0:
        parser.error(f"--limit must be a number of minutes above 0. Received: {args.limit}.")
    try:
        result = time_full_mode(args.names, limit_s=args.limit * 60)  # bad names or record
    except ValueError as err:
        parser.error(str(err))
    print(full_markdown(result))
    return 0 if all(row["full"]["status"] == "ok" for row in result["rows"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
