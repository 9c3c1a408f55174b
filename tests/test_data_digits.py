"""bnnlib.data.digits and its shifted versions: splits, scaling, and the transformations."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from bnnlib.data import digits, invert_digits, noisy_digits, rotate_digits


@pytest.fixture(scope="module")
def data():
    return digits(seed=0)


def test_splits_hold_every_example_once(data):
    pixels = np.concatenate([data.x_train, data.x_val, data.x_test])
    original = load_digits().data / 16.0
    # Every image of the bundled set appears exactly once across the three splits.
    ours = np.sort(pixels.astype(np.float64).round(6).view([("", np.float64)] * 64), axis=0)
    theirs = np.sort(original.round(6).view([("", np.float64)] * 64), axis=0)
    np.testing.assert_array_equal(ours, theirs)


def test_pixels_are_scaled_to_the_unit_interval(data):
    assert data.x_train.dtype == np.float32
    assert data.x_train.min() == 0.0 and data.x_train.max() == 1.0


def test_split_sizes_follow_the_fractions(data):
    n = 1797
    assert abs(data.x_val.shape[0] - 0.2 * n) <= 10
    assert abs(data.x_test.shape[0] - 0.2 * n) <= 10
    assert data.x_train.shape[0] + data.x_val.shape[0] + data.x_test.shape[0] == n


def test_splits_are_stratified(data):
    # Each class gets 20 % of its examples, rounded: at most one off per class.
    per_class = np.bincount(load_digits().target)
    np.testing.assert_allclose(np.bincount(data.y_test, minlength=10), 0.2 * per_class, atol=1)


def test_same_seed_same_split_other_seed_other_split():
    a, b, c = digits(seed=3), digits(seed=3), digits(seed=4)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, c.x_train)


def test_held_out_class_is_absent_from_every_split_and_returned_apart():
    data = digits(seed=0, held_out_class=7)
    for labels in (data.y_train, data.y_val, data.y_test):
        assert 7 not in labels
    assert np.all(data.y_held_out == 7)
    assert data.x_held_out.shape == (np.sum(load_digits().target == 7), 64)


def test_without_held_out_class_the_held_out_set_is_empty(data):
    assert data.x_held_out.shape == (0, 64) and data.held_out_class is None


def test_rotation_by_zero_changes_nothing(data):
    np.testing.assert_allclose(rotate_digits(data.x_test, 0.0), data.x_test, atol=1e-6)


def test_rotation_by_90_degrees_turns_the_top_row_into_the_left_column():
    image = np.zeros((8, 8), dtype=np.float32)
    image[0, 2:6] = 1.0  # a bar along the top
    turned = rotate_digits(image.reshape(1, 64), 90.0).reshape(8, 8)
    # Anticlockwise: the top row goes to the left column, same rows as the bar's columns.
    expected = np.zeros((8, 8), dtype=np.float32)
    expected[2:6, 0] = 1.0
    np.testing.assert_allclose(turned, expected, atol=1e-5)


def test_rotation_four_quarter_turns_give_the_image_back(data):
    x = data.x_test[:5]
    for _ in range(4):
        x = rotate_digits(x, 90.0)
    np.testing.assert_allclose(x, data.x_test[:5], atol=1e-5)


def test_rotated_pixels_stay_in_the_unit_interval(data):
    rotated = rotate_digits(data.x_test, 33.0)
    assert rotated.min() >= 0.0 and rotated.max() <= 1.0 and rotated.dtype == np.float32


def test_inverted_images_are_one_minus_the_pixels(data):
    np.testing.assert_array_equal(invert_digits(data.x_test[:3]), 1.0 - data.x_test[:3])


def test_noise_has_the_requested_spread_before_clipping():
    # On mid-grey pixels clipping at 0 and 1 is 3.3 standard deviations away for noise 0.15:
    # it removes 0.1 % of the draws and the spread is 0.15 to within 1 % (n = 64,000).
    x = np.full((1000, 64), 0.5, dtype=np.float32)
    noisy = noisy_digits(x, 0.15, seed=1)
    assert noisy.std() == pytest.approx(0.15, rel=0.01)
    assert noisy.min() >= 0.0 and noisy.max() <= 1.0


def test_noise_is_seeded(data):
    a = noisy_digits(data.x_test, 0.1, seed=2)
    np.testing.assert_array_equal(a, noisy_digits(data.x_test, 0.1, seed=2))
    assert not np.array_equal(a, noisy_digits(data.x_test, 0.1, seed=3))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"seed": -1}, ValueError, "seed must be an integer >= 0"),
        ({"seed": 1.5}, TypeError, "seed must be an integer"),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, ValueError, "must be below 1"),
        ({"test_fraction": 0.0}, ValueError, "test_fraction must be > 0"),
        ({"held_out_class": 10}, ValueError, "held_out_class must be a digit from 0 to 9"),
    ],
)
def test_digits_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        digits(**kwargs)


def test_transformations_reject_images_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"x must have shape \(n, 64\)"):
        rotate_digits(np.zeros((3, 8, 8)), 10.0)
    with pytest.raises(ValueError, match="noise must be >= 0"):
        noisy_digits(np.zeros((3, 64)), -0.1)
