"""nbval runs every notebook here in smoke mode on SYNTHETIC data (``make test``).

The notebooks read these environment variables in their ``parameters`` cell, so the
notebooks themselves are never edited for tests. Each notebook runs in its own
kernel, which inherits this environment.
"""

import os
import tempfile
from pathlib import Path

from cifarlab import course, data, synthetic

_root = Path(tempfile.mkdtemp(prefix="cifarlab-nbval-"))
synthetic.write_synthetic_cifar100(
    _root / "data",
    train_per_class=course.SMOKE_TRAIN_PER_CLASS,
    test_per_class=course.SMOKE_TEST_PER_CLASS,
)
synthetic.write_synthetic_cifar10(
    _root / "data",
    train_per_class=course.SMOKE_TRAIN_PER_CLASS,
    test_per_class=course.SMOKE_TEST_PER_CLASS,
)
os.environ.update(
    {
        course.SMOKE_ENV: "1",
        data.ENV_VAR: str(_root / "data"),
        course.RUNS_ENV: str(_root / "runs"),
        "KERAS_HOME": str(_root / "keras"),  # never touch a real cache, never download
        "MPLBACKEND": "Agg",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
)
