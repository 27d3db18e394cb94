"""train(..., strategy=...) with a real tf.distribute.MirroredStrategy on two CPU replicas.

Logical devices must be configured before TensorFlow initialises them, which the
test process has already done, so the distributed run happens in a fresh
subprocess that prints its findings as one JSON line.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2
    )
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])

    import keras
    from cifarlab.data import load_cifar100, select_superclass, train_val_split
    from cifarlab.synthetic import write_synthetic_cifar100
    from cifarlab.train import train

    root = sys.argv[1]
    write_synthetic_cifar100(root, train_per_class=40, test_per_class=1, seed=0)
    fish = select_superclass(load_cifar100(root), "fish")
    train_part, val_part = train_val_split(fish.x_train, fish.y_train, val_fraction=0.25)

    def build():
        return keras.Sequential([
            keras.Input((32, 32, 3)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.MaxPooling2D(4),
            keras.layers.Flatten(),
            keras.layers.Dense(5, activation="softmax"),
        ])

    out = {"replicas": strategy.num_replicas_in_sync}
    # A builder: the model is built and compiled inside strategy.scope().
    run = train(build, train_part, val_part, epochs=2, strategy=strategy, batch_size=32,
                runs_dir=os.path.join(root, "runs"), name="mirrored", verbose=0,
                config={"synthetic": fish.synthetic})
    out["builder"] = {
        "history": run.history,
        "epochs": run.epochs,
        "stopped": run.stopped,
        "recorded": run.settings["train"]["strategy"],
        "variable": type(run.model.trainable_weights[0].value).__name__,
        "files": sorted(os.listdir(run.path)),
    }
    # An already built model: cloned inside the scope, weights copied.
    given = build()
    before = [w.copy() for w in given.get_weights()]
    cloned = train(given, train_part, val_part, epochs=1, strategy=strategy, record=False,
                   verbose=0)
    out["clone"] = {
        "history": cloned.history,
        "is_given_object": cloned.model is given,
        "given_unchanged": all((a == b).all() for a, b in zip(before, given.get_weights())),
        "variable": type(cloned.model.trainable_weights[0].value).__name__,
    }
    print("RESULT " + json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path_factory.mktemp("mirrored"))],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(lines[-1][len("RESULT ") :])


def test_mirrored_strategy_trains_on_two_replicas(mirrored):
    assert mirrored["replicas"] == 2
    run = mirrored["builder"]
    assert run["recorded"] == {"type": "MirroredStrategy", "replicas": 2}
    assert run["variable"] == "MirroredVariable"  # built inside the scope
    assert run["epochs"] == 2 and run["stopped"] == "completed"
    losses = run["history"]["loss"]
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses)
    assert losses[1] < losses[0]
    assert run["files"] == ["config.json", "history.csv", "metrics.json", "model.keras"]


def test_a_built_model_is_cloned_into_the_scope(mirrored):
    clone = mirrored["clone"]
    assert clone["is_given_object"] is False and clone["given_unchanged"] is True
    assert clone["variable"] == "MirroredVariable"
    assert len(clone["history"]["loss"]) == 1 and math.isfinite(clone["history"]["loss"][0])


def test_strategy_must_be_a_tf_distribute_strategy(tmp_path):
    import numpy as np

    from cifarlab.train import train

    x = np.zeros((4, 32, 32, 3), np.uint8)
    y = np.zeros(4, np.int64)
    with pytest.raises(TypeError, match=r"`strategy` must be a tf.distribute.Strategy"):
        train(
            lambda: None,
            (x, y),
            (x, y),
            epochs=1,
            strategy="mirrored",
            runs_dir=tmp_path,
            verbose=0,
        )
    assert list(tmp_path.iterdir()) == []


def test_a_compiled_model_keeps_its_compile_settings_in_the_scope(tmp_path):
    import keras
    import numpy as np
    import tensorflow as tf

    from cifarlab.train import train

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (32, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 3, 32)
    model = keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.Flatten(),
         keras.layers.Dense(3, activation="softmax")]
    )
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    result = train(model, (x, y), (x, y), epochs=1, strategy=tf.distribute.OneDeviceStrategy(
        "/cpu:0"), record=False, verbose=0)
    assert result.model is not model
    assert isinstance(result.model.optimizer, keras.optimizers.SGD)
    assert result.history["learning_rate"] == [np.float32(0.05)]
    assert result.settings["train"]["compiled_by"] == "caller"
    assert result.settings["train"]["strategy"] == {"type": "OneDeviceStrategy", "replicas": 1}
