"""Exercise checks, one module per notebook: ``from cifarlab.exercises import nb01 as ex``.

Each check, ``ex.check_<what>(answer, ...)``, prints one verdict, ``✓ ...`` or ``Not yet: ...``
with what is wrong and how to fix it, returns True or False, and never raises; ``ex.hint(n)``
prints the hint of exercise ``n``; ``ex.summary()`` says which exercises passed. After
``ex.record_results(RUNS_DIR)`` every verdict is also saved in
``RUNS_DIR/exercises/<notebook>.json`` for the instructor (``collect_results`` reads them).
The machinery is in :mod:`cifarlab.exercises._core`.
"""

from cifarlab.exercises._core import NOT_YET, PASSED, collect_results

__all__ = ["NOT_YET", "PASSED", "collect_results"]
