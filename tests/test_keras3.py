"""Specifications of bnnlib.keras3: Flipout for Keras 3, checked against TFP's DenseFlipout."""

import warnings
from unittest import mock

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from bnnlib.keras3 import FlipoutDense, PosteriorRecorder

tfd = tfp.distributions
IN, UNITS, BATCH = 4, 3, 5


def softplus(x):
    return np.log1p(np.exp(x))


def built_layer(seed=0, **kwargs):
    """A built layer with a posterior far from its initial values (non-trivial numbers)."""
    layer = FlipoutDense(UNITS, seed=seed, **kwargs)
    layer.build((None, IN))
    rng = np.random.default_rng(seed + 100)
    layer.loc.assign(rng.normal(size=(IN, UNITS)).astype(np.float32))
    layer.rho.assign(rng.uniform(-1.0, 1.0, size=(IN, UNITS)).astype(np.float32))
    layer.bias.assign(rng.normal(size=UNITS).astype(np.float32))
    return layer


def inputs(batch=BATCH, seed=1):
    return np.random.default_rng(seed).normal(size=(batch, IN)).astype(np.float32)


def injected_noise(seed=2):
    rng = np.random.default_rng(seed)
    return {
        "eps": rng.normal(size=(IN, UNITS)).astype(np.float32),
        "sign_in": rng.choice([-1.0, 1.0], size=(BATCH, IN)).astype(np.float32),
        "sign_out": rng.choice([-1.0, 1.0], size=(BATCH, UNITS)).astype(np.float32),
    }


def numpy_posterior(layer):
    loc = np.asarray(layer.loc, dtype=np.float64)
    return loc, softplus(np.asarray(layer.rho, dtype=np.float64)), np.asarray(layer.bias)


def tfp_twin(layer, eps):
    """A tfp.layers.DenseFlipout with the layer's posterior whose ΔW is σ ∘ eps."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TFP's add_variable deprecation, unseeded initialisers
        twin = tfp.layers.DenseFlipout(UNITS, kernel_posterior_tensor_fn=lambda q: q.scale * eps)
        twin.build((None, IN))
    values = {
        "kernel_posterior_loc": np.asarray(layer.loc),
        "kernel_posterior_untransformed_scale": np.asarray(layer.rho),
        "bias_posterior_loc": np.asarray(layer.bias),
    }
    for variable in twin.variables:
        variable.assign(values[variable.name.split("/")[-1].split(":")[0]])
    return twin


def test_forward_equals_the_flipout_formula_with_injected_noise():
    layer = built_layer()
    x, noise = inputs(), injected_noise()
    loc, sigma, bias = numpy_posterior(layer)

    expected = x @ loc + ((x * noise["sign_in"]) @ (sigma * noise["eps"])) * noise["sign_out"]
    got = np.asarray(layer.forward(x, **noise))

    np.testing.assert_allclose(got, expected + bias, rtol=0, atol=1e-5)


def test_forward_equals_tfp_dense_flipout_given_the_same_noise():
    layer = built_layer()
    x, noise = inputs(), injected_noise()
    twin = tfp_twin(layer, noise["eps"])
    signs = iter([noise["sign_in"], noise["sign_out"]])
    rademacher = "tensorflow_probability.python.layers.dense_variational.tfp_random.rademacher"
    with mock.patch(rademacher, lambda *args, **kwargs: next(signs)):
        theirs = twin(tf.constant(x)).numpy()
    ours = np.asarray(layer.forward(x, **noise))

    # TFP's σ is softplus(ρ) + 1.2e-7 (its eps): the outputs agree to float32 round-off.
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)


def test_matches_tfp_dense_flipout_in_distribution():
    layer = built_layer()
    x = inputs()
    loc, sigma, bias = numpy_posterior(layer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = tfp.layers.DenseFlipout(UNITS, seed=1)
        theirs.build((None, IN))
    twin_values = {
        "kernel_posterior_loc": loc,
        "kernel_posterior_untransformed_scale": np.asarray(layer.rho),
        "bias_posterior_loc": bias,
    }
    for variable in theirs.variables:
        variable.assign(twin_values[variable.name.split("/")[-1].split(":")[0]])

    n = 2000
    draw_ours = tf.function(lambda: layer(tf.constant(x)))
    draw_theirs = tf.function(lambda: theirs(tf.constant(x)))
    ours_draws = np.stack([draw_ours().numpy() for _ in range(n)]).astype(np.float64)
    theirs_draws = np.stack([draw_theirs().numpy() for _ in range(n)]).astype(np.float64)

    # Every output is exactly Normal(x μ + b, x² σ²) for both layers. Differences of means and
    # of variances of two independent samples of n, in standard errors: 5 SE over 2 * 15
    # comparisons gives a false failure below 2e-5; a σ off by 10 % (about 5 SE at n = 2000 for
    # the variance) fails with high probability.
    v = (x.astype(np.float64) ** 2) @ sigma**2
    mean_se = np.sqrt(2 * v / n)
    var_se = np.sqrt(2) * v * np.sqrt(2 / (n - 1))
    assert np.all(np.abs(ours_draws.mean(0) - theirs_draws.mean(0)) < 5 * mean_se)
    assert np.all(np.abs(ours_draws.var(0, ddof=1) - theirs_draws.var(0, ddof=1)) < 5 * var_se)
    assert np.all(np.abs(ours_draws.mean(0) - (x @ loc + bias)) < 5 * np.sqrt(v / n))


def test_signs_are_exactly_plus_or_minus_one_and_eps_has_the_kernel_shape():
    layer = built_layer()
    noise = layer.sample_noise(inputs(batch=200))
    signs = np.concatenate([np.ravel(noise["sign_in"]), np.ravel(noise["sign_out"])])
    assert set(np.unique(signs)) == {-1.0, 1.0}
    assert 0.4 < np.mean(signs > 0) < 0.6  # 1,400 fair signs: 0.5 ± 0.013 (1 SE)
    assert tuple(noise["eps"].shape) == (IN, UNITS)


def test_kl_divergence_equals_tfp_kl_of_the_same_distributions():
    layer = built_layer(prior_scale=0.7)
    loc, sigma, _ = numpy_posterior(layer)
    expected = tf.reduce_sum(
        tfd.kl_divergence(tfd.Normal(loc, sigma), tfd.Normal(np.float64(0.0), np.float64(0.7)))
    )
    np.testing.assert_allclose(float(layer.kl_divergence()), float(expected), rtol=1e-5)


def test_a_call_adds_kl_weight_times_the_kl_to_the_losses():
    layer = built_layer(kl_weight=0.25)
    layer(inputs())
    assert len(layer.losses) == 1
    np.testing.assert_allclose(
        float(layer.losses[0]), 0.25 * float(layer.kl_divergence()), rtol=1e-6
    )


def test_the_same_seed_gives_the_same_layer_and_outputs_and_another_seed_does_not():
    x = inputs()
    first, second = FlipoutDense(UNITS, seed=3), FlipoutDense(UNITS, seed=3)
    other = FlipoutDense(UNITS, seed=4)
    outputs = [np.asarray(layer(x)) for layer in (first, second, other)]
    np.testing.assert_array_equal(np.asarray(first.loc), np.asarray(second.loc))
    np.testing.assert_array_equal(outputs[0], outputs[1])
    assert not np.allclose(np.asarray(first.loc), np.asarray(other.loc))
    assert not np.allclose(np.asarray(first(x)), outputs[0])  # each call draws new noise


def test_saved_model_loads_with_identical_variables_and_next_outputs(tmp_path):
    x = inputs()
    model = keras.Sequential(
        [keras.Input((IN,)), FlipoutDense(8, activation="tanh", seed=5), FlipoutDense(1, seed=6)]
    )
    model(x)  # advance the noise state, so the test sees it saved
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)

    for ours, theirs in zip(model.variables, loaded.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(loaded(x)))
    assert loaded.layers[0].get_config()["seed"] == 5


def test_trains_inside_fit_and_lowers_the_loss():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, IN)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5], [0.0]], dtype=np.float32)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((IN,)), FlipoutDense(1, kl_weight=1 / 256, seed=0)])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    history = model.fit(x, y, epochs=30, batch_size=64, verbose=0)
    assert history.history["loss"][-1] < 0.2 * history.history["loss"][0]


def test_recorder_records_the_start_and_every_epoch_with_dense_sigma_zero():
    x = inputs(batch=32)
    model = keras.Sequential(
        [
            keras.Input((IN,)),
            FlipoutDense(6, activation="relu", seed=0, name="flipout"),
            keras.layers.Dense(1, name="dense"),
        ]
    )
    model.compile(optimizer="adam", loss="mse")
    recorder = PosteriorRecorder()
    model.fit(x, x[:, :1], epochs=3, verbose=0, callbacks=[recorder])

    assert recorder.layers == ["flipout", "dense"]
    np.testing.assert_array_equal(recorder.epochs, [0, 1, 2, 3])
    assert recorder.loc("flipout").shape == (4, IN * 6)
    np.testing.assert_array_equal(recorder.loc("flipout")[-1], np.ravel(model.layers[0].loc))
    np.testing.assert_allclose(
        recorder.sigma("flipout")[-1], softplus(np.ravel(model.layers[0].rho)), rtol=1e-5
    )
    np.testing.assert_array_equal(recorder.sigma("dense"), 0.0)
    assert not np.array_equal(recorder.loc("flipout")[0], recorder.loc("flipout")[-1])


def test_recorder_refuses_a_model_without_layers_to_record_and_unknown_names():
    model = keras.Sequential([keras.Input((IN,)), keras.layers.Activation("relu")])
    recorder = PosteriorRecorder()
    with pytest.raises(ValueError, match="no built FlipoutDense or Dense layer"):
        recorder.record(model, 0)
    with pytest.raises(ValueError, match="recorded layers"):
        recorder.loc("missing")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"units": 0}, ValueError, "units"),
        ({"units": 2.5}, TypeError, "units"),
        ({"units": 2, "kl_weight": -1.0}, ValueError, "kl_weight"),
        ({"units": 2, "prior_scale": 0.0}, ValueError, "prior_scale"),
        ({"units": 2, "seed": -1}, ValueError, "seed"),
        ({"units": 2, "seed": 2**31}, ValueError, "seed"),
    ],
)
def test_bad_arguments_raise_a_message_naming_them(kwargs, error, match):
    with pytest.raises(error, match=match):
        FlipoutDense(**kwargs)


def test_using_the_layer_before_it_is_built_says_how_to_build_it():
    layer = FlipoutDense(UNITS, seed=0)
    with pytest.raises(ValueError, match="call the layer on an input"):
        layer.kl_divergence()
    with pytest.raises(ValueError, match="call the layer on an input"):
        layer.sample_noise(inputs())


def test_rank_one_inputs_raise_when_building():
    with pytest.raises(ValueError, match=r"\(batch, features\)"):
        FlipoutDense(UNITS, seed=0).build((IN,))


def test_integer_inputs_are_cast_like_dense():
    layer = FlipoutDense(UNITS, seed=0)
    out = layer(np.ones((2, IN), dtype=np.int64))
    assert np.asarray(out).dtype == np.float32
