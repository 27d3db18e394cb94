"""Checks of user input, shared by every module: one message style everywhere.

Each check names the argument, the value received and what would be valid, and returns
the value in a normal form. Keras's own arguments (rates, activations, paddings) are left
to Keras, which raises for them itself.
"""

import difflib
import operator
from collections.abc import Iterable

import numpy as np


def integer(name: str, value: object, *, minimum: int | None = 1) -> int:
    """``value`` as an int (bools refused), at least ``minimum`` unless that is None."""
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        kind = "an integer" if minimum is None else f"an integer >= {minimum}"
        raise TypeError(f"`{name}` must be {kind}. Received: {name}={value!r}.") from None
    if minimum is not None and number < minimum:
        raise ValueError(f"Expected `{name}` >= {minimum}. Received: {name}={number}.")
    return number


def integers(name: str, values: object, *, minimum: int = 1) -> tuple[int, ...]:
    """A non-empty sequence of ints, each at least ``minimum``, e.g. ``filters=(32, 64)``."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(
            f"`{name}` must be a sequence of integers, e.g. (32, 64). Received: {name}={values!r}."
        )
    values = tuple(values)
    if not values:
        raise ValueError(f"`{name}` needs at least one value. Received: {name}={values}.")
    return tuple(integer(name, v, minimum=minimum) for v in values)


def number(name: str, value: object, *, low: float | None = None, high: float | None = None,
           low_open: bool = False) -> float:
    """``value`` as a float in [low, high] (``low_open``: low excluded)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"`{name}` must be a number. Received: {name}={value!r}.")
    value = float(value)
    too_low = low is not None and (value <= low if low_open else value < low)
    if not np.isfinite(value) or too_low or (high is not None and value > high):
        lo = "(" if low_open else "["
        raise ValueError(
            f"Expected `{name}` in {lo}{low if low is not None else '-inf'}, "
            f"{high if high is not None else 'inf'}]. Received: {name}={value}."
        )
    return value


def did_you_mean(value: object, choices: Iterable[str]) -> str:
    """`` Did you mean 'x'?`` for the closest choice (also a substring match), or ''."""
    choices = list(choices)
    if not isinstance(value, str) or not value:
        return ""
    key = value.lower()
    close = difflib.get_close_matches(key, choices, n=1, cutoff=0.5)
    if not close:  # 'mammals' is a fair guess at 'medium_mammals'
        close = [c for c in choices if key in c.lower()][:1]
    return f" Did you mean {close[0]!r}?" if close else ""


def one_of(name: str, value: object, choices: Iterable[str]) -> str:
    """``value`` if it is one of ``choices``, else a ValueError with a close match."""
    choices = list(choices)
    if isinstance(value, str) and value in choices:
        return value
    raise ValueError(
        f"Unknown {name} {value!r}.{did_you_mean(value, choices)} Valid: {', '.join(choices)}."
    )


def images(value: object, *, name: str = "images") -> np.ndarray:
    """An array of shape (N, height, width, 3) with at least one image."""
    array = np.asarray(value)
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(
            f"`{name}` must have shape (N, height, width, 3). Received shape {array.shape}."
        )
    if len(array) == 0:
        raise ValueError(f"`{name}` is empty: there is nothing to train or evaluate on.")
    return array


def images_and_labels(x: object, y: object, *, name: str = "images",
                      num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, H, W, 3) and one integer label per image, as (x, y) with y int64 (N,).

    Keras-style (N, 1) labels are flattened. With ``num_classes``, labels must be below it.
    """
    x = images(x, name=name)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(
            f"`labels` must have one integer per image: {len(x)} {name}, labels of "
            f"shape {y.shape}."
        )
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"`labels` must be integers. Received dtype {y.dtype}.")
    if y.min() < 0 or (num_classes is not None and y.max() >= num_classes):
        bad = y.min() if y.min() < 0 else y.max()
        valid = "0 or more" if num_classes is None else f"0..{num_classes - 1}"
        raise ValueError(f"`labels` must be {valid}. Received a label {bad}.")
    return x, y.astype(np.int64, copy=False)
