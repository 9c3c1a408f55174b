"""bnnlib.data.toy_regression: the Blundell et al. (2015) curve, seeded and checked."""

import numpy as np
import pytest

from bnnlib.data import blundell_curve, toy_regression


def test_shapes_and_dtype():
    x, y = toy_regression(n=50)
    assert x.shape == (50, 1) and y.shape == (50, 1)
    assert x.dtype == np.float32 and y.dtype == np.float32


def test_inputs_lie_in_x_range_and_are_sorted():
    x, _ = toy_regression(n=200, x_range=(-1.0, 2.0))
    assert x.min() >= -1.0 and x.max() <= 2.0
    assert np.all(np.diff(x[:, 0]) >= 0)


def test_same_seed_same_data_and_other_seed_other_data():
    a = toy_regression(n=20, seed=7)
    b = toy_regression(n=20, seed=7)
    c = toy_regression(n=20, seed=8)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_without_noise_targets_lie_on_the_curve():
    x, y = toy_regression(n=100, noise=0.0)
    expected = x + 0.3 * np.sin(2 * np.pi * x) + 0.3 * np.sin(4 * np.pi * x)
    np.testing.assert_allclose(y, expected, atol=1e-6)


def test_noise_scale_sets_the_spread_of_residuals():
    x, y = toy_regression(n=20_000, noise=0.05, seed=3)
    # With ε inside the sines the residual is not exactly ε, but for small ε it is close:
    # d/dx of the curve is bounded by 1 + 0.6π + 1.2π ≈ 6.7, so std stays within a factor.
    residual = y[:, 0] - blundell_curve(x[:, 0])
    assert 0.05 < residual.std() < 0.05 * 7


def test_blundell_curve_known_values():
    np.testing.assert_allclose(blundell_curve([0.0, 0.25, 0.5]), [0.0, 0.25 + 0.3, 0.5], atol=1e-12)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"n": 0}, ValueError, "n must be an integer >= 1"),
        ({"n": 2.0}, TypeError, "n must be an integer"),
        ({"noise": -0.1}, ValueError, "noise must be >= 0"),
        ({"noise": float("nan")}, ValueError, "noise must be finite"),
        ({"seed": -3}, ValueError, "seed must be an integer >= 0"),
        ({"x_range": (1.0, 1.0)}, ValueError, "low < high"),
        ({"x_range": (0.0,)}, TypeError, "x_range must be a"),
        ({"x_range": "ab"}, TypeError, "x_range must be a"),
    ],
)
def test_bad_arguments_are_rejected_with_a_clear_message(kwargs, error, message):
    with pytest.raises(error, match=message):
        toy_regression(**kwargs)


def test_shuffled_data_are_the_same_examples_in_a_random_order():
    x, y = toy_regression(200, seed=3)
    xs, ys = toy_regression(200, seed=3, shuffle=True)
    order = np.argsort(xs[:, 0])
    np.testing.assert_array_equal(xs[order], x)
    np.testing.assert_array_equal(ys[order], y)
    assert not np.all(np.diff(xs[:, 0]) >= 0)  # not sorted: P(sorted) = 1/200!


def test_first_examples_of_shuffled_data_spread_over_the_whole_range():
    # The first 20 of 200 shuffled examples are a random subset, not the left end of x_range.
    xs, _ = toy_regression(200, seed=3, shuffle=True)
    assert xs[:20].max() > 0.25 and xs[:20].min() < 0.25


def test_shuffle_must_be_a_bool():
    with pytest.raises(TypeError, match="shuffle must be a bool"):
        toy_regression(10, shuffle="yes")
