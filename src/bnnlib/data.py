"""Small data sets made on the spot, so that nothing is downloaded at run time.

:doc:`Chapter 1 </book/01_anatomy>` introduces :func:`toy_regression`; later chapters train on it.
"""

from __future__ import annotations

import numbers

import numpy as np

from bnnlib._checks import check_float, check_int, check_seed

__all__ = ["blundell_curve", "toy_regression"]


def blundell_curve(x):
    """The noise-free curve of Blundell et al. (2015), Sec. 5.2.

    ``f(x) = x + 0.3 sin(2π x) + 0.3 sin(4π x)``.

    Parameters
    ----------
    x : array_like
        Inputs.

    Returns
    -------
    numpy.ndarray
        ``f(x)``, with the shape of ``x``.
    """
    x = np.asarray(x, dtype=np.float64)
    return x + 0.3 * np.sin(2 * np.pi * x) + 0.3 * np.sin(4 * np.pi * x)


def toy_regression(
    n: int = 64,
    noise: float = 0.02,
    seed: int = 0,
    x_range: tuple[float, float] = (0.0, 0.5),
    shuffle: bool = False,
):
    """Draw the 1-D regression problem of Blundell et al. (2015), Sec. 5.2.

    ``y = x + 0.3 sin(2π(x + ε)) + 0.3 sin(4π(x + ε)) + ε`` with ``ε ~ Normal(0, noise)`` and
    ``x`` uniform on ``x_range``. Outside ``x_range`` there is no data, which is where a
    Bayesian network's predictive uncertainty should grow.

    Parameters
    ----------
    n : int, default 64
        Number of examples, at least 1.
    noise : float, default 0.02
        Standard deviation of ε, non-negative.
    seed : int, default 0
        Seed of the NumPy generator that draws ``x`` and ε; the same seed gives the same data.
    x_range : tuple of two floats, default (0.0, 0.5)
        ``(low, high)`` with ``low < high``: where the inputs are drawn.
    shuffle : bool, default False
        Return the examples in a random order (fixed by ``seed``) instead of sorted by ``x``:
        the same examples, so the first ``m`` of them are a random subset of size ``m``, and
        subsets of growing size are nested (data-set size experiments).

    Returns
    -------
    x, y : numpy.ndarray
        Two float32 arrays of shape ``(n, 1)``, sorted by ``x`` unless ``shuffle=True``.

    Raises
    ------
    TypeError, ValueError
        If an argument has the wrong type or is out of range.
    """
    n = check_int("n", n, minimum=1)
    noise = check_float("noise", noise, minimum=0.0)
    seed = check_seed("seed", seed)
    if not isinstance(shuffle, bool):
        raise TypeError(f"shuffle must be a bool, got {type(shuffle).__name__} {shuffle!r}")
    if (
        not isinstance(x_range, tuple | list)
        or len(x_range) != 2
        or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in x_range)
    ):
        raise TypeError(f"x_range must be a (low, high) pair of numbers, got {x_range!r}")
    low = check_float("x_range[0]", x_range[0])
    high = check_float("x_range[1]", x_range[1])
    if not low < high:
        raise ValueError(f"x_range must have low < high, got {x_range!r}")

    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(low, high, size=n))
    eps = rng.normal(0.0, noise, size=n)
    # x + 0.3 sin(2π(x+ε)) + 0.3 sin(4π(x+ε)) + ε is exactly the noise-free curve at x + ε.
    y = blundell_curve(x + eps)
    if shuffle:  # drawn after the data, so the examples are those of shuffle=False
        order = rng.permutation(n)
        x, y = x[order], y[order]
    return x.astype(np.float32)[:, None], y.astype(np.float32)[:, None]
