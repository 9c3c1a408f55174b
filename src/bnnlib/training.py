"""Training helpers: reproducibility switches (and, later, the pieces of the ELBO).

Chapter 1 explains why every chapter starts with :func:`set_seed`.
"""

from __future__ import annotations

import os
import random

import numpy as np
import tensorflow as tf

from bnnlib._checks import check_int

__all__ = ["set_seed"]


def set_seed(seed: int = 0, *, deterministic: bool = True) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's ops deterministic.

    After ``set_seed(s)``, building and training the same model twice gives the same numbers,
    which is what lets the book's executed outputs be checked by CI.

    Parameters
    ----------
    seed : int
        A non-negative integer used for :mod:`random`, :mod:`numpy.random` and
        :func:`tf.random.set_seed`.
    deterministic : bool, default True
        Also call :func:`tf.config.experimental.enable_op_determinism`, so that ops with
        non-deterministic kernels either run deterministically or raise.

    Raises
    ------
    TypeError
        If ``seed`` is not an integer or ``deterministic`` is not a bool.
    ValueError
        If ``seed`` is negative or does not fit in 32 bits.
    """
    seed = check_int("seed", seed, minimum=0)
    if seed >= 2**32:
        raise ValueError(f"seed must be < 2**32, got {seed}")
    if not isinstance(deterministic, bool):
        raise TypeError(f"deterministic must be a bool, got {type(deterministic).__name__}")
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (code that uses the global generator needs it)
    tf.random.set_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
