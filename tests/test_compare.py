"""Specifications of bnnlib.compare: networks of many seeds trained as one, and the measurements."""

import warnings

import numpy as np
import pytest
import tf_keras as keras

from bnnlib.compare import SeedStack, layer_measurements, median_and_range, silent_units
from bnnlib.models import build_mlp
from bnnlib.training import GaussianNLL

X = np.linspace(-1, 1, 16, dtype=np.float32)[:, None]
Y = np.sin(3 * X)


def quietly(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TFP's add_variable deprecation
        return function(*args, **kwargs)


def test_dense_networks_train_like_keras_dense_with_adam():
    stack = quietly(SeedStack, [3, 4], input_dim=1, hidden_units=(4,))
    stack.train(X, Y, noise_scale=0.5, epochs=5, learning_rate=0.05)
    for s, seed in enumerate([3, 4]):
        model = quietly(build_mlp, "dense", 1, (4,), seed=seed)
        model.compile(optimizer=keras.optimizers.Adam(0.05), loss=GaussianNLL(0.5))
        model.fit(X, Y, epochs=5, batch_size=len(X), shuffle=False, verbose=0)
        for layer, kernel in zip(model.layers, stack.dense_kernels, strict=True):
            np.testing.assert_allclose(kernel.numpy()[s], layer.kernel.numpy(), atol=1e-5)


def test_flipout_forward_equals_flipout_dense_forward_with_the_same_noise():
    stack = quietly(SeedStack, [3, 4], input_dim=1, hidden_units=(4,))
    noise = stack.sample_noise(len(X), np.array([0, 1]))
    outputs = stack.flipout_forward(X, noise).numpy()
    for s, seed in enumerate([3, 4]):
        model = quietly(build_mlp, "flipout", 1, (4,), num_examples=1, seed=seed)
        h = X
        for layer, (eps, sign_in, sign_out) in zip(model.layers, noise, strict=True):
            h = layer.forward(h, eps=eps[s], sign_in=sign_in[s], sign_out=sign_out[s])
        np.testing.assert_allclose(outputs[s], h.numpy(), rtol=1e-5, atol=1e-6)


def test_kl_equals_the_flipout_dense_layers_kl():
    stack = quietly(SeedStack, [3], input_dim=2, hidden_units=(5,), prior_scale=0.5)
    model = quietly(build_mlp, "flipout", 2, (5,), num_examples=1, seed=3, prior_scale=0.5)
    expected = sum(float(layer.kl_divergence()) for layer in model.layers)
    assert float(stack.kl()[0]) == pytest.approx(expected, rel=1e-5)


def test_train_records_start_requested_epochs_and_end():
    stack = quietly(SeedStack, [0], input_dim=1, hidden_units=(2,))
    states = stack.train(X, Y, noise_scale=1.0, epochs=4, batch_size=5, record_epochs=[2])
    assert sorted(states) == [0, 2, 4]


def test_train_refuses_record_epochs_after_the_end():
    stack = quietly(SeedStack, [0], input_dim=1, hidden_units=(2,))
    with pytest.raises(ValueError, match="record_epochs must be <= epochs = 3, got 5"):
        stack.train(X, Y, noise_scale=1.0, epochs=3, record_epochs=[5])


def test_silent_units_finds_relu_units_off_on_every_input():
    # Unit 0 is on for x > 0; unit 1 (bias -2) is off on [-1, 1]; unit 2 is on for x < 0.5.
    kernel, bias = [[1.0, 1.0, -1.0]], [0.0, -2.0, 0.5]
    silent = silent_units(kernel, bias, np.linspace(-1, 1, 21)[:, None])
    np.testing.assert_array_equal(silent, [False, True, False])


def test_silent_units_finds_saturated_tanh_units():
    # On [-1, 1], tanh(x + 20) varies by about 1e-17, tanh(x) by 1.5.
    silent = silent_units([[1.0, 1.0]], [20.0, 0.0], np.linspace(-1, 1, 21)[:, None], "tanh")
    np.testing.assert_array_equal(silent, [True, False])


def test_silent_units_refuses_inputs_of_the_wrong_width():
    with pytest.raises(ValueError, match=r"x must have shape \(n, 1\), got \(5, 2\)"):
        silent_units([[1.0, 1.0]], [0.0, 0.0], np.zeros((5, 2)))


def test_layer_measurements_match_shares_and_correlations_counted_by_hand():
    stack = quietly(SeedStack, [0], input_dim=4, hidden_units=())
    w_start, w_end = [0.1, 0.2, 0.3, 0.4], [1.0, 0.0, 2.0, 1.0]
    mu_end, sigma_end = [3.0, 0.0, 1.0, 5.0], [1.0, 0.95, 0.1, 0.5]

    def state(w, mu, sigma):
        column = lambda v: np.array(v).reshape(1, 4, 1)  # noqa: E731 (seeds, in, out)
        return {
            "dense_kernel": [column(w)],
            "dense_bias": [np.zeros((1, 1))],
            "flipout_loc": [column(mu)],
            "flipout_sigma": [column(sigma)],
            "flipout_bias": [np.zeros((1, 1))],
        }

    states = {0: state(w_start, w_start, [0.05] * 4), 9: state(w_end, mu_end, sigma_end)}
    row = layer_measurements(stack, states, np.eye(4), early_epoch=0).iloc[0]
    assert row["near_prior"] == pytest.approx(2 / 4)  # σ = 1.0 and 0.95
    assert row["snr_above_2"] == pytest.approx(3 / 4)  # SNR 3, 0, 10, 10
    assert row["corr_early"] == pytest.approx(1.0)
    # Pearson correlation of (1, 0, 2, 1) and (3, 0, 1, 5), by hand: 1 / sqrt(2 * 14.75).
    assert row["corr_end"] == pytest.approx(1.0 / np.sqrt(2.0 * 14.75))


def test_median_and_range_writes_median_then_smallest_and_largest():
    assert median_and_range([0.5, np.nan, 0.1, 0.9, 0.3], "{:.1f}") == "0.4 (0.1–0.9)"


def test_median_and_range_refuses_no_values():
    with pytest.raises(ValueError, match="at least one number"):
        median_and_range([np.nan])
