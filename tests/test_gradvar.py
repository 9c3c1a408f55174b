"""Specifications of bnnlib.gradvar: the gradient variance of each estimator.

The exact tests use one linear layer with the Gaussian loss, where the variance of every
parameter's gradient has a closed form (derived in the comments of ``exact_variances``).
"""

import numpy as np
import pandas as pd
import pytest
import tf_keras as keras

import bnnlib
from bnnlib import gradvar
from bnnlib.layers import FlipoutDense, ReparameterizationDense

K, J, N = 3, 2, 6  # inputs, outputs, batch
NOISE_SCALE = 0.5
DRAWS = 20_000


def softplus(x):
    return np.log1p(np.exp(x))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


@pytest.fixture(scope="module")
def linear():
    """A built linear layer with a non-trivial posterior, a batch, and its float64 numbers."""
    model = keras.Sequential([keras.Input((K,)), ReparameterizationDense(J, seed=0)])
    layer = model.layers[0]
    rng = np.random.default_rng(0)
    loc = rng.normal(size=(K, J))
    rho = rng.uniform(-1.0, 0.5, size=(K, J))
    bias = rng.normal(size=J)
    layer.loc.assign(loc)
    layer.rho.assign(rho)
    layer.bias.assign(bias)
    x = rng.normal(size=(N, K)).astype(np.float32)
    y = rng.normal(size=(N, J)).astype(np.float32)
    return model, x, y


def exact_moments(model, x, y):
    """Mean and variance of each gradient, per estimator, in closed form.

    Loss ``(1/N) sum_i sum_j (yhat_ij - y_ij)^2 / (2 s^2)`` with ``yhat_i = x_i W_i + b``.
    With ``m_ij = x_i mu_j + b_j - y_ij`` (the residual of the mean), ``D = x^T x / N`` and
    ``e`` the example's standard-normal kernel noise, the gradient is
    ``g_mu_kj = (1/N) sum_i r_ij x_ik / s^2`` and ``g_sigma_kj = (1/N) sum_i r_ij x_ik e_ikj / s^2``
    with ``r_ij = m_ij + sum_l x_il sigma_lj e_ilj``. Second and fourth moments of the normals
    (1 and 3) and of the signs give the variances below; ``g_rho = g_sigma * sigmoid(rho)``.
    """
    layer = model.layers[0]
    x = x.astype(np.float64)
    mu = layer.loc.numpy().astype(np.float64)
    rho = layer.rho.numpy().astype(np.float64)
    sigma = softplus(rho)
    m = x @ mu + layer.bias.numpy() - y  # (N, J)
    d = x.T @ x / N  # (K, K)
    x2 = x**2
    s4 = NOISE_SCALE**4
    eye = np.eye(K)

    mean_mu = (x.T @ m) / N / NOISE_SCALE**2
    mean_sigma = np.diag(d)[:, None] * sigma / NOISE_SCALE**2
    # Independent noise per example: examples add variance, no covariance.
    var_mu_indep = (x2.T @ (x2 @ sigma**2)) / N**2
    # Shared kernel: Var(sum_i x_ik z_i) with Cov(z_i, z_i') = sum_l x_il x_i'l sigma_l^2.
    var_mu_shared = (d**2) @ sigma**2
    # sigma: the e_k^2 term has variance 2, cross terms e_k e_l variance 1, m e_k variance 1.
    c = x.T @ m / N  # (K, J)
    var_sigma_shared = c**2 + 2 * np.diag(d)[:, None] ** 2 * sigma**2
    var_sigma_shared += ((d**2) * (1 - eye)) @ sigma**2
    pair = x2.T @ x2 / N**2  # (1/N^2) sum_i x_ik^2 x_il^2
    var_sigma_indep = (x2.T @ m**2) / N**2 + 2 * np.diag(pair)[:, None] * sigma**2
    var_sigma_indep += (pair * (1 - eye)) @ sigma**2
    # Flipout: the signs cancel every cross-example and cross-weight term except e_k^2, which
    # stays shared by the batch: its variance is that of the shared kernel. (For one linear
    # layer the input signs alone do this; the output signs change nothing here.)
    var_sigma_flipout = (x2.T @ m**2) / N**2 + 2 * np.diag(d)[:, None] ** 2 * sigma**2
    var_sigma_flipout += (pair * (1 - eye)) @ sigma**2
    # Local reparameterisation: yhat_ij = m_ij + sqrt(v_ij) eta_ij, v = x^2 sigma^2, so
    # g_sigma_kj = (1/N) sum_i (m_ij / sqrt(v_ij) eta_ij + eta_ij^2) x_ik^2 sigma_kj.
    v = x2 @ sigma**2
    var_sigma_local = (x2**2).T @ (m**2 / v + 2) * sigma**2 / N**2

    var_mu = {
        "shared": var_mu_shared,
        "flipout": var_mu_indep,
        "local": var_mu_indep,
        "independent": var_mu_indep,
    }
    var_sigma = {
        "shared": var_sigma_shared,
        "flipout": var_sigma_flipout,
        "local": var_sigma_local,
        "independent": var_sigma_indep,
    }
    slope = sigmoid(rho)
    return {
        e: {
            "loc": (mean_mu, var_mu[e] / s4),
            "rho": (mean_sigma * slope, var_sigma[e] * slope**2 / s4),
        }
        for e in gradvar.ESTIMATORS
    }


def standard_error_of_variance(samples):
    """Monte-Carlo standard error of the sample variance: sqrt((m4 - s^4) / n)."""
    centred = samples - samples.mean(axis=0)
    m4 = np.mean(centred**4, axis=0)
    s2 = np.var(samples, axis=0, ddof=1)
    return np.sqrt((m4 - s2**2) / len(samples))


@pytest.fixture(scope="module")
def samples(linear):
    model, x, y = linear
    return {
        e: gradvar.gradient_samples(model, x, y, e, draws=DRAWS, seed=1, noise_scale=NOISE_SCALE)[
            model.layers[0].name
        ]
        for e in gradvar.ESTIMATORS
    }


@pytest.mark.parametrize("estimator", gradvar.ESTIMATORS)
@pytest.mark.parametrize("parameter", ["loc", "rho"])
def test_gradient_variance_of_a_linear_layer_matches_the_closed_form(
    linear, samples, estimator, parameter
):
    # Tolerance: 5 Monte-Carlo standard errors per parameter (12 parameters per case), a
    # false failure has probability below 1e-5 per case under the normal approximation.
    model, x, y = linear
    _, exact = exact_moments(model, x, y)[estimator][parameter]
    draws = samples[estimator][parameter].astype(np.float64)
    measured = np.var(draws, axis=0, ddof=1)
    np.testing.assert_array_less(np.abs(measured - exact), 5 * standard_error_of_variance(draws))


@pytest.mark.parametrize("estimator", gradvar.ESTIMATORS)
@pytest.mark.parametrize("parameter", ["loc", "rho"])
def test_every_estimator_is_unbiased_for_a_linear_layer(linear, samples, estimator, parameter):
    # Tolerance: 5 standard errors of the mean of DRAWS draws.
    model, x, y = linear
    mean, _ = exact_moments(model, x, y)[estimator][parameter]
    draws = samples[estimator][parameter].astype(np.float64)
    error = np.abs(draws.mean(axis=0) - mean)
    np.testing.assert_array_less(error, 5 * draws.std(axis=0) / np.sqrt(DRAWS))


def test_the_closed_forms_tell_the_estimators_apart(linear):
    # The variance test could not catch an estimator swapped for another if their exact
    # variances were equal: for rho every pair differs by > 10 % somewhere, for loc the shared
    # kernel differs from the other three (which are equal for a linear layer).
    model, x, y = linear
    exact = exact_moments(model, x, y)
    rho = [exact[e]["rho"][1] for e in gradvar.ESTIMATORS]
    for i, first in enumerate(rho):
        for second in rho[i + 1 :]:
            assert np.max(np.abs(first / second - 1)) > 0.1
    shared_loc = exact["shared"]["loc"][1]
    assert np.max(np.abs(exact["flipout"]["loc"][1] / shared_loc - 1)) > 0.1


def test_gradient_samples_are_reproducible_from_the_seed(linear):
    model, x, y = linear
    first = gradvar.gradient_samples(model, x, y, "flipout", draws=4, seed=3)
    again = gradvar.gradient_samples(model, x, y, "flipout", draws=4, seed=3)
    other = gradvar.gradient_samples(model, x, y, "flipout", draws=4, seed=4)
    name = model.layers[0].name
    np.testing.assert_array_equal(first[name]["rho"], again[name]["rho"])
    assert not np.array_equal(first[name]["rho"], other[name]["rho"])


def test_independent_draws_in_chunks_give_the_requested_number_of_draws(linear, monkeypatch):
    # Force chunks of a few draws: the chunked loop must still return exactly `draws`
    # gradients, all different.
    model, x, y = linear
    monkeypatch.setattr(gradvar, "_MAX_KERNEL_FLOATS", 3 * N * K * J)
    draws = gradvar.gradient_samples(model, x, y, "independent", draws=10, seed=0)
    loc = draws[model.layers[0].name]["loc"]
    assert loc.shape == (10, K, J)
    assert len(np.unique(loc[:, 0, 0])) == 10


# --- the qualitative result on a small network -----------------------------------------------


@pytest.fixture(scope="module")
def small_network_table():
    bnnlib.set_seed(0)
    x = np.random.default_rng(0).uniform(-1, 1, size=(128, 2)).astype(np.float32)
    y = np.sin(3 * x[:, :1]) * x[:, 1:]
    layers = [FlipoutDense(16, activation="relu", seed=s) for s in (1, 2)]
    model = keras.Sequential([keras.Input((2,)), *layers, FlipoutDense(1, seed=3)])
    return gradvar.gradient_variance(
        model, x, y, [1, 64], draws=16, batches=8, repeats=3, seed=0, noise_scale=0.1
    )


def test_flipout_has_lower_variance_than_a_shared_kernel_at_batch_64(small_network_table):
    # Three repeats (batches and noise seeds); the margin is a factor 2, the measured one is
    # larger (the shared kernel's covariance term does not shrink with the batch).
    table = small_network_table[small_network_table["batch_size"] == 64]
    wide = table.pivot_table(
        index=["layer", "parameter", "repeat"], columns="estimator", values="variance"
    )
    assert np.all(wide["flipout"] < wide["shared"] / 2)


def test_flipout_variance_is_close_to_independent_weights_at_batch_64(small_network_table):
    # Within a factor 1.5 either way, for every layer, parameter and repeat.
    table = small_network_table[small_network_table["batch_size"] == 64]
    wide = table.pivot_table(
        index=["layer", "parameter", "repeat"], columns="estimator", values="variance"
    )
    ratio = wide["flipout"] / wide["independent"]
    assert np.all((ratio > 1 / 1.5) & (ratio < 1.5))


def test_fit_variance_model_recovers_alpha_beta_gamma_from_exact_curves():
    sizes = np.array([1, 2, 4, 8, 16, 64, 256])
    alpha, beta, gamma = 2.0, 0.3, 0.01
    rows = []
    for n in sizes:
        rows.append(("independent", "a", "loc", n, 0, alpha / n))
        rows.append(("shared", "a", "loc", n, 0, alpha / n + (n - 1) / n * (beta + gamma)))
        rows.append(("flipout", "a", "loc", n, 0, alpha / n + (n - 1) / n * gamma))
    table = pd.DataFrame(
        rows, columns=["estimator", "layer", "parameter", "batch_size", "repeat", "variance"]
    )
    fit = gradvar.fit_variance_model(table).iloc[0]
    np.testing.assert_allclose(
        [fit["alpha"], fit["beta"], fit["gamma"], fit["plateau"]],
        [alpha, beta, gamma, alpha / (beta + gamma)],
        rtol=1e-9,
    )


def test_fit_slope_is_minus_one_for_a_one_over_n_curve():
    sizes = [1, 4, 16, 64]
    table = pd.DataFrame(
        {
            "estimator": "flipout",
            "layer": "a",
            "parameter": "loc",
            "batch_size": sizes,
            "repeat": 0,
            "variance": [3.0 / n for n in sizes],
        }
    )
    assert gradvar.fit_slope(table)["slope"].iloc[0] == pytest.approx(-1.0, abs=1e-12)


# --- bad input -------------------------------------------------------------------------------


def test_an_unknown_estimator_is_rejected(linear):
    model, x, y = linear
    with pytest.raises(ValueError, match="estimator must be one of .* got 'dropout'"):
        gradvar.gradient_samples(model, x, y, "dropout", draws=4)


def test_a_batch_larger_than_the_data_is_rejected(linear):
    model, x, y = linear
    with pytest.raises(ValueError, match=r"batch_sizes must be <= the number of examples \(6\)"):
        gradvar.gradient_variance(model, x, y, [2, 7])


def test_a_model_with_a_dense_layer_is_rejected():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    with pytest.raises(TypeError, match="layer 'dense.*' of type Dense"):
        gradvar.gradient_variance(model, np.zeros((4, 2)), np.zeros((4, 3)), [2])


def test_a_bayesian_bias_is_rejected():
    model = keras.Sequential([keras.Input((2,)), FlipoutDense(1, bayesian_bias=True, seed=0)])
    with pytest.raises(ValueError, match="has a Bayesian bias"):
        gradvar.gradient_function(model, "flipout")


def test_inputs_of_the_wrong_width_are_rejected(linear):
    model, x, y = linear
    with pytest.raises(ValueError, match=r"x must have shape \(examples, 3\), got shape \(6, 2\)"):
        gradvar.gradient_samples(model, x[:, :2], y, "shared", draws=4)


def test_x_and_y_of_different_lengths_are_rejected(linear):
    model, x, y = linear
    with pytest.raises(ValueError, match="x and y must have the same length, got 6 and 5"):
        gradvar.gradient_samples(model, x, y[:5], "shared", draws=4)


def test_fewer_than_two_draws_are_rejected(linear):
    model, x, y = linear
    with pytest.raises(ValueError, match="draws must be an integer >= 2, got 1"):
        gradvar.gradient_samples(model, x, y, "shared", draws=1)


def test_fit_variance_model_needs_flipout_rows():
    table = pd.DataFrame(
        {
            "estimator": ["shared"] * 2,
            "layer": "a",
            "parameter": "loc",
            "batch_size": [1, 2],
            "repeat": 0,
            "variance": [1.0, 0.9],
        }
    )
    with pytest.raises(ValueError, match="rows of estimator 'flipout', got none"):
        gradvar.fit_variance_model(table)


def test_fit_slope_needs_two_batch_sizes():
    table = pd.DataFrame(
        {
            "estimator": ["flipout"],
            "layer": "a",
            "parameter": "loc",
            "batch_size": [4],
            "repeat": 0,
            "variance": [1.0],
        }
    )
    with pytest.raises(ValueError, match="at least two batch sizes"):
        gradvar.fit_slope(table)


def test_fit_functions_reject_something_that_is_not_a_table():
    with pytest.raises(TypeError, match="table must be the DataFrame gradient_variance returns"):
        gradvar.fit_slope([1, 2, 3])
