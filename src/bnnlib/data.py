"""Small data sets made on the spot, so that nothing is downloaded at run time.

:doc:`Chapter 1 </book/01_anatomy>` introduces :func:`toy_regression`; later chapters train on it.
:doc:`Chapter 9 </book/09_digits>` trains on :func:`digits`, scikit-learn's bundled 8×8
handwritten digits, and tests the networks on shifted and out-of-distribution versions of them
made by :func:`rotate_digits`, :func:`invert_digits` and :func:`noisy_digits`.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from bnnlib._checks import check_float, check_int, check_seed

__all__ = [
    "DIGITS_SHAPE",
    "Digits",
    "blundell_curve",
    "digits",
    "invert_digits",
    "noisy_digits",
    "rotate_digits",
    "toy_regression",
]

#: Height and width of one digit image; a flat example has ``8 * 8 = 64`` pixels.
DIGITS_SHAPE = (8, 8)


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


# --------------------------------------------------------------------------------------------
# Handwritten digits
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Digits:
    """The digits, split three ways, as returned by :func:`digits`.

    Every ``x_*`` is a float32 array of shape ``(n, 64)`` with pixels in ``[0, 1]`` (row-major
    8×8 images); every ``y_*`` an int64 array of shape ``(n,)`` with the digit, 0 to 9.

    Attributes
    ----------
    x_train, y_train : numpy.ndarray
        Training examples.
    x_val, y_val : numpy.ndarray
        Validation examples (for choices such as the temperature of temperature scaling).
    x_test, y_test : numpy.ndarray
        Test examples.
    held_out_class : int or None
        The digit kept out of the three splits, if any.
    x_held_out, y_held_out : numpy.ndarray
        Every example of ``held_out_class`` (empty arrays when there is none): inputs of a kind
        the network never saw.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    held_out_class: int | None
    x_held_out: np.ndarray
    y_held_out: np.ndarray


def _stratified_split(labels: np.ndarray, fractions, rng: np.random.Generator):
    """Index arrays, one per fraction, that split every class in the same proportions."""
    parts = [[] for _ in fractions]
    bounds = np.cumsum(fractions)[:-1]
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        cuts = np.round(bounds * members.size).astype(int)
        for part, chunk in zip(parts, np.split(members, cuts), strict=True):
            part.append(chunk)
    # Shuffled, so that the examples of one class do not come in a block.
    return [rng.permutation(np.concatenate(part)) for part in parts]


def digits(
    seed: int = 0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    held_out_class: int | None = None,
) -> Digits:
    """scikit-learn's 8×8 handwritten digits, scaled to [0, 1] and split three ways.

    The 1,797 images of ``sklearn.datasets.load_digits`` (bundled with scikit-learn, nothing is
    downloaded) have integer pixels from 0 to 16; they are divided by 16. The examples are split
    into training, validation and test sets *stratified* by class, so every split holds the
    ten digits in the proportions of the whole. :doc:`Chapter 9 </book/09_digits>` uses them.

    Parameters
    ----------
    seed : int, default 0
        Seed of the split (>= 0); the same seed gives the same split.
    val_fraction, test_fraction : float, default 0.2
        Shares of each class for validation and test, each in (0, 1), together below 1; the
        rest is for training.
    held_out_class : int, optional
        A digit (0 to 9) to keep out of all three splits: its examples are returned apart, as
        ``x_held_out``, for out-of-distribution tests. ``None`` keeps all ten.

    Returns
    -------
    Digits
        The splits, and the held-out examples.

    Raises
    ------
    TypeError, ValueError
        If an argument has the wrong type or is out of range.

    Examples
    --------
    >>> data = digits(seed=0)
    >>> data.x_train.shape, data.x_test.shape
    ((1078, 64), (359, 64))
    """
    # Imported here, not at the top: scikit-learn takes about 2 s to import, and only the
    # digits chapters need it (the toy-curve chapters import this module too).
    from sklearn.datasets import load_digits

    seed = check_int("seed", seed, minimum=0)
    val_fraction = check_float("val_fraction", val_fraction, positive=True)
    test_fraction = check_float("test_fraction", test_fraction, positive=True)
    if val_fraction + test_fraction >= 1:
        raise ValueError(
            "val_fraction + test_fraction must be below 1 (the rest is for training), got "
            f"{val_fraction} + {test_fraction}"
        )
    held_out_class = check_int("held_out_class", held_out_class, minimum=0, allow_none=True)
    if held_out_class is not None and held_out_class > 9:
        raise ValueError(f"held_out_class must be a digit from 0 to 9, got {held_out_class}")

    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int64)
    held_out = np.zeros(y.size, dtype=bool) if held_out_class is None else y == held_out_class
    x_in, y_in = x[~held_out], y[~held_out]
    rng = np.random.default_rng(seed)
    train_fraction = 1.0 - val_fraction - test_fraction
    train, val, test = _stratified_split(y_in, (train_fraction, val_fraction, test_fraction), rng)
    return Digits(
        x_train=x_in[train],
        y_train=y_in[train],
        x_val=x_in[val],
        y_val=y_in[val],
        x_test=x_in[test],
        y_test=y_in[test],
        held_out_class=held_out_class,
        x_held_out=x[held_out],
        y_held_out=y[held_out],
    )


def _check_images(name: str, x) -> np.ndarray:
    """``x`` as a float32 array of flat 8×8 images, shape ``(n, 64)``."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != DIGITS_SHAPE[0] * DIGITS_SHAPE[1]:
        raise ValueError(f"{name} must have shape (n, 64), flat 8×8 images, got {x.shape}")
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}")
    return x.astype(np.float32)


def rotate_digits(x, angle: float) -> np.ndarray:
    """Rotate flat 8×8 digit images by ``angle`` degrees, anticlockwise, about their centre.

    Bilinear interpolation (``scipy.ndimage.rotate`` with ``order=1``); pixels that come from
    outside the image are 0 (background) and the result is clipped to [0, 1]. The rotated
    digits are the shifted test sets of :doc:`Chapter 9 </book/09_digits>`, the setting of
    Ovadia et al. (2019).

    Parameters
    ----------
    x : array_like, shape (n, 64)
        Flat images with pixels in [0, 1], as :func:`digits` returns them.
    angle : float
        Angle in degrees; 0 returns the images unchanged.

    Returns
    -------
    numpy.ndarray
        float32, shape ``(n, 64)``.

    Raises
    ------
    TypeError, ValueError
        If ``x`` is not of shape ``(n, 64)`` or ``angle`` is not a finite number.
    """
    from scipy import ndimage  # here for the same reason as scikit-learn in digits()

    x = _check_images("x", x)
    angle = check_float("angle", angle)
    images = x.reshape(-1, *DIGITS_SHAPE)
    # axes=(2, 1): rotate in the plane of each image, the first axis indexes the images.
    rotated = ndimage.rotate(images, angle, axes=(2, 1), reshape=False, order=1, cval=0.0)
    return np.clip(rotated, 0.0, 1.0).reshape(x.shape).astype(np.float32)


def invert_digits(x) -> np.ndarray:
    """Negative images, ``1 - x``: light digits on a dark background.

    Every pixel statistic the network learned is turned upside down, so these are
    out-of-distribution inputs (:doc:`Chapter 9 </book/09_digits>`).

    Parameters
    ----------
    x : array_like, shape (n, 64)
        Flat images with pixels in [0, 1].

    Returns
    -------
    numpy.ndarray
        float32, shape ``(n, 64)``.
    """
    return 1.0 - _check_images("x", x)


def noisy_digits(x, noise: float, seed: int = 0) -> np.ndarray:
    """Add independent ``Normal(0, noise)`` noise to every pixel, then clip to [0, 1].

    Parameters
    ----------
    x : array_like, shape (n, 64)
        Flat images with pixels in [0, 1].
    noise : float
        Standard deviation of the pixel noise, >= 0.
    seed : int, default 0
        Seed of the noise (>= 0).

    Returns
    -------
    numpy.ndarray
        float32, shape ``(n, 64)``.

    Raises
    ------
    TypeError, ValueError
        If ``x`` is not of shape ``(n, 64)`` or an argument is out of range.
    """
    x = _check_images("x", x)
    noise = check_float("noise", noise, minimum=0.0)
    seed = check_int("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    return np.clip(x + rng.normal(0.0, noise, size=x.shape), 0.0, 1.0).astype(np.float32)
