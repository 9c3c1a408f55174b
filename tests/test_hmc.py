"""Specifications of bnnlib.hmc.sample_posterior: NUTS draws from the right posterior.

The check of correctness is Bayesian linear regression, a network of one Dense layer without
activation, whose posterior is Gaussian in closed form (computed here in float64 with NumPy,
independently of the sampler's TensorFlow code).
"""

import warnings

import numpy as np
import pytest
import tf_keras as keras

from bnnlib.hmc import ESS_LIMIT, PosteriorSamples, sample_posterior

NOISE, PRIOR = 1.0, 0.7
# Four standard errors: each comparison fails by chance with probability about 6e-5.
Z = 4.0


def linear_model(in_features=2, units=1):
    return keras.Sequential([keras.Input((in_features,)), keras.layers.Dense(units)])


def regression_data(n=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    y = (x @ np.array([[1.0], [-0.5]]) + 0.3 + NOISE * rng.normal(size=(n, 1))).astype(np.float32)
    return x, y


def closed_form_posterior(x, y):
    """Mean and covariance of (kernel..., bias) for y ~ N(x w + b, NOISE²), w, b ~ N(0, PRIOR²)."""
    design = np.hstack([x, np.ones((len(x), 1))]).astype(np.float64)
    precision = np.eye(design.shape[1]) / PRIOR**2 + design.T @ design / NOISE**2
    covariance = np.linalg.inv(precision)
    mean = covariance @ design.T @ y.astype(np.float64)[:, 0] / NOISE**2
    return mean, covariance


@pytest.fixture(scope="module")
def linear_run():
    x, y = regression_data()
    posterior = sample_posterior(
        linear_model(), x, y, NOISE, prior_scale=PRIOR, num_results=400, num_burnin_steps=300
    )
    (name,) = posterior.weights
    layer = posterior.weights[name]
    draws = np.hstack([layer["kernel"][:, :, 0], layer["bias"]]).astype(np.float64)
    ess = np.concatenate([posterior.ess[name]["kernel"][:, 0], posterior.ess[name]["bias"]])
    return x, y, posterior, draws, ess


def test_linear_regression_mean_matches_the_closed_form(linear_run):
    x, y, _, draws, ess = linear_run
    mean, covariance = closed_form_posterior(x, y)
    standard_error = np.sqrt(np.diag(covariance) / ess)
    assert np.all(np.abs(draws.mean(0) - mean) < Z * standard_error)


def test_linear_regression_covariance_matches_the_closed_form(linear_run):
    x, y, _, draws, ess = linear_run
    _, covariance = closed_form_posterior(x, y)
    # For Gaussian draws, an estimated covariance entry (i, j) has variance
    # (Σii Σjj + Σij²) / ESS; the smallest ESS of the pair bounds it.
    variances = np.diag(covariance)
    pair_ess = np.minimum.outer(ess, ess)
    standard_error = np.sqrt((np.outer(variances, variances) + covariance**2) / pair_ess)
    assert np.all(np.abs(np.cov(draws, rowvar=False) - covariance) < Z * standard_error)


def test_converged_linear_run_reports_good_diagnostics(linear_run):
    _, _, posterior, _, _ = linear_run
    assert posterior.max_rhat < 1.05
    assert posterior.min_ess > ESS_LIMIT
    assert np.all(posterior.predictive_rhat < 1.05)


def test_predict_gives_every_draws_function_without_noise(linear_run):
    _, _, posterior, draws, _ = linear_run
    x_new = np.linspace(-2, 2, 7, dtype=np.float32)[:, None].repeat(2, axis=1)
    samples = posterior.predict(x_new)
    assert samples.shape == (posterior.num_draws, 7, 1)
    expected = draws[:, :2] @ x_new.T.astype(np.float64) + draws[:, 2:]
    np.testing.assert_allclose(samples[..., 0], expected, rtol=1e-5, atol=1e-5)


def two_layer_model():
    return keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(4, activation="tanh", name="hidden"),
            keras.layers.Dense(2, name="out"),
        ]
    )


def short_run(seed=0):
    """Twelve steps of a small two-layer network: too short to converge, on purpose."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(10, 3)), rng.normal(size=(10, 2))
    return sample_posterior(
        two_layer_model(), x, y, 1.0, num_results=8, num_burnin_steps=4, seed=seed
    )


def test_weights_rhat_and_ess_are_laid_out_per_layer():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        posterior = short_run()
    assert isinstance(posterior, PosteriorSamples)
    assert posterior.weights["hidden"]["kernel"].shape == (32, 3, 4)
    assert posterior.weights["out"]["bias"].shape == (32, 2)
    assert posterior.rhat["hidden"]["kernel"].shape == (3, 4)
    assert posterior.ess["out"]["bias"].shape == (2,)
    assert posterior.predictive_rhat.shape == (10, 2)
    assert posterior.step_size.shape == (4,)


def test_same_seed_gives_the_same_draws_and_another_seed_does_not():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        first, again, other = (short_run(seed).weights["hidden"]["kernel"] for seed in (3, 3, 4))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_unconverged_run_warns_with_its_numbers():
    with pytest.warns(RuntimeWarning, match=r"NUTS has not converged.*R-hat \d\.\d+.*min ESS \d+"):
        short_run()


class NotDense(keras.layers.Layer):
    def call(self, inputs):
        return inputs


def dense_then(layer):
    return keras.Sequential([keras.Input((2,)), keras.layers.Dense(3), layer])


X, Y = regression_data(n=5)


@pytest.mark.parametrize(
    ("model", "x", "y", "kwargs", "error", "match"),
    [
        ("not a model", X, Y, {}, TypeError, "model must be a tf_keras Model"),
        (dense_then(NotDense()), X, Y, {}, TypeError, "only tf_keras Dense.*NotDense"),
        (dense_then(keras.layers.Dropout(0.1)), X, Y, {}, TypeError, "Dropout"),
        (keras.Sequential([keras.layers.Dense(1)]), X, Y, {}, ValueError, "must be built"),
        (linear_model(), X[:, :1], Y, {}, ValueError, r"x must have shape \(n, 2\)"),
        (linear_model(), X, Y[:3], {}, ValueError, r"y must have shape \(5, 1\)"),
        (linear_model(), X, np.hstack([Y, Y]), {}, ValueError, r"y must have shape"),
        (linear_model(), X, Y, {"noise_scale": 0.0}, ValueError, "noise_scale must be > 0"),
        (linear_model(), X, Y, {"prior_scale": -1.0}, ValueError, "prior_scale must be > 0"),
        (linear_model(), X, Y, {"num_chains": 1}, ValueError, "num_chains must be an integer >= 2"),
        (linear_model(), X, Y, {"num_results": 2}, ValueError, "num_results must be.*>= 4"),
        (linear_model(), X, Y, {"num_burnin_steps": -1}, ValueError, "num_burnin_steps"),
        (linear_model(), X, Y, {"num_results": 10.0}, TypeError, "num_results must be an integer"),
        (linear_model(), X, Y, {"seed": -1}, ValueError, "seed must be an integer >= 0"),
        (linear_model(), X, Y, {"max_tree_depth": 0}, ValueError, "max_tree_depth"),
    ],
)
def test_bad_arguments_are_named_in_the_error(model, x, y, kwargs, error, match):
    arguments = {"noise_scale": 1.0, **kwargs}
    with pytest.raises(error, match=match):
        sample_posterior(model, x, y, **arguments)


def test_predict_rejects_inputs_of_the_wrong_width(linear_run):
    _, _, posterior, _, _ = linear_run
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 2\)"):
        posterior.predict(np.zeros((4, 3)))
