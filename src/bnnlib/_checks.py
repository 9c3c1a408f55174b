"""Argument checks, and the seed drawing, shared by bnnlib's modules.

Every public function validates its inputs with these helpers, so that a wrong argument fails
at once with a message that names the argument, what it got, and what it expects.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

#: Largest seed bnnlib draws or accepts (``tf_keras`` initialisers take 31-bit integers).
MAX_SEED = 2**31 - 1


def check_int(name: str, value, *, minimum: int | None = None, allow_none: bool = False):
    """Return ``value`` if it is an integer (not a bool) of at least ``minimum``."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def check_float(
    name: str,
    value,
    *,
    minimum: float | None = None,
    positive: bool = False,
    allow_none: bool = False,
):
    """Return ``value`` as a finite float, optionally ``> 0`` or ``>= minimum``."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_choice(name: str, value, choices):
    """Return ``value`` if it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def draw_seed(rng: np.random.Generator | None = None) -> int:
    """A new 31-bit seed: from ``rng`` if given, else from NumPy's global generator.

    Drawing from NumPy's global generator, which :func:`bnnlib.set_seed` seeds, makes layers
    built after ``set_seed(s)`` reproducible and still different from one another.
    """
    if rng is None:
        return int(np.random.randint(0, MAX_SEED))  # noqa: NPY002 (the global one, on purpose)
    return int(rng.integers(0, MAX_SEED))


def check_seed(name: str, value, *, maximum: int = MAX_SEED, allow_none: bool = False):
    """Return ``value`` if it is an integer seed in ``[0, maximum]`` (or ``None`` if allowed)."""
    value = check_int(name, value, minimum=0, allow_none=allow_none)
    if value is not None and value > maximum:
        bound = "2**31 - 1" if maximum == MAX_SEED else str(maximum)
        raise ValueError(f"{name} must be an integer in [0, {bound}], got {value}")
    return value


def check_every(name: str, value):
    """Return ``value`` if it is ``"epoch"`` or an integer number of steps >= 1."""
    if isinstance(value, str):
        if value != "epoch":
            raise ValueError(f'{name} must be "epoch" or an integer >= 1, got {value!r}')
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f'{name} must be "epoch" or an integer >= 1, got {type(value).__name__} {value!r}'
        )
    return check_int(name, value, minimum=1)
