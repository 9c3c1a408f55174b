"""Argument checks shared by bnnlib's public functions.

Every public function validates its inputs with these helpers, so that a wrong argument fails
at once with a message that names the argument, what it got, and what it expects.
"""

from __future__ import annotations

import math
import numbers


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
