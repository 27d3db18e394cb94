"""cifarlab: image classification with CNNs on CIFAR-100 and CIFAR-10, for teaching.

The package is small on purpose; each module owns one concern:

- ``cifarlab.labels``: official class names, superclass lookup (no download needed)
- ``cifarlab.data``: loading, verifying, selecting, splitting, tf.data pipelines,
  and a synthetic dataset in the official on-disk format for offline work

Importing ``cifarlab`` does not import TensorFlow; the modules that need it do.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "set_seed"]


def set_seed(seed: int = 0) -> None:
    """Make a notebook reproducible: seeds Python, NumPy and the Keras backend.

    Wraps ``keras.utils.set_random_seed``. Every cifarlab function that shuffles,
    splits, augments or initialises also takes its own ``seed`` argument.

    Example:
        >>> import cifarlab
        >>> cifarlab.set_seed(42)
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer. Received: seed={seed!r}.")
    import keras

    keras.utils.set_random_seed(seed)
