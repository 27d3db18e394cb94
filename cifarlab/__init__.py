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
    # Keras before 3.13 keeps the generator that keras.random uses without a seed: reset it
    # (what 3.13 does), so keras.random calls repeat too (make test-lowest checks it on 3.8).
    from keras.src.backend.common import global_state

    global_state.set_global_attribute("global_seed_generator", None)
