"""cifarlab: image classification with CNNs on CIFAR-100 and CIFAR-10, for teaching.

One module per job (map: docs/architecture.md). Importing ``cifarlab`` does not import
TensorFlow; the modules that need it do.
"""

__version__ = "0.1.0"
__all__ = ["__version__", "set_seed"]


def set_seed(seed: int = 0) -> None:
    """Seed Python, NumPy and the Keras backend (``keras.utils.set_random_seed``).

    >>> import cifarlab; cifarlab.set_seed(42)
    """
    import keras

    from cifarlab import _checks

    keras.utils.set_random_seed(_checks.integer("seed", seed, minimum=0))
