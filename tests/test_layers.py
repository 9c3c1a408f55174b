"""Specifications of bnnlib.layers: FlipoutDense and the estimators it is compared with."""

import math
import warnings

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras as keras

import bnnlib
from bnnlib.layers import FlipoutDense, LocalReparameterizationDense, ReparameterizationDense

tfd = tfp.distributions

LAYER_CLASSES = [FlipoutDense, ReparameterizationDense, LocalReparameterizationDense]
IN, UNITS, BATCH = 4, 3, 5


def softplus(x):
    return np.log1p(np.exp(x))


def built_layer(cls=FlipoutDense, seed=0, in_features=IN, units=UNITS, **kwargs):
    """A built layer whose posterior is far from its initial values, so formulas are tested
    on non-trivial numbers: loc ~ N(0, 1), σ between about 0.3 and 1.3, a non-zero bias."""
    layer = cls(units, seed=seed, **kwargs)
    layer.build((None, in_features))
    rng = np.random.default_rng(seed + 100)
    layer.loc.assign(rng.normal(size=(in_features, units)))
    layer.rho.assign(rng.uniform(-1.0, 1.0, size=(in_features, units)))
    if layer.bayesian_bias:
        layer.bias_loc.assign(rng.normal(size=units))
        layer.bias_rho.assign(rng.uniform(-1.0, 1.0, size=units))
    else:
        layer.bias.assign(rng.normal(size=units))
    return layer


def inputs(batch=BATCH, in_features=IN, seed=1):
    return np.random.default_rng(seed).normal(size=(batch, in_features)).astype(np.float32)


def as_numpy(layer):
    """The layer's posterior as float64 arrays: loc, σ, bias (mean)."""
    loc = layer.loc.numpy().astype(np.float64)
    sigma = softplus(layer.rho.numpy().astype(np.float64))
    bias = (layer.bias if layer.bias is not None else layer.bias_loc).numpy().astype(np.float64)
    return loc, sigma, bias


# --- Flipout: the formula ------------------------------------------------------------------


def test_flipout_forward_equals_the_flipout_formula_with_injected_noise():
    layer = built_layer()
    x = inputs()
    rng = np.random.default_rng(2)
    eps = rng.normal(size=(IN, UNITS)).astype(np.float32)
    sign_in = rng.choice([-1.0, 1.0], size=(BATCH, IN)).astype(np.float32)
    sign_out = rng.choice([-1.0, 1.0], size=(BATCH, UNITS)).astype(np.float32)
    loc, sigma, bias = as_numpy(layer)

    expected = x @ loc + ((x * sign_in) @ (sigma * eps)) * sign_out + bias
    got = layer.forward(x, eps=eps, sign_in=sign_in, sign_out=sign_out).numpy()

    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


def test_flipout_forward_applies_the_activation_last():
    layer = built_layer(activation="relu")
    x = inputs()
    noise = layer.sample_noise(x)
    linear = built_layer()  # same seed, same posterior, no activation
    expected = np.maximum(linear.forward(x, **noise).numpy(), 0.0)
    np.testing.assert_allclose(layer.forward(x, **noise).numpy(), expected, rtol=0, atol=1e-6)


def test_a_call_is_forward_with_the_noise_sample_noise_draws():
    twin_a, twin_b = built_layer(seed=5), built_layer(seed=5)
    x = inputs()
    called = twin_a(x).numpy()
    by_hand = twin_b.forward(x, **twin_b.sample_noise(x)).numpy()
    np.testing.assert_array_equal(called, by_hand)


def test_flipout_noise_has_the_documented_shapes():
    layer = built_layer()
    noise = layer.sample_noise(inputs())
    assert set(noise) == {"eps", "sign_in", "sign_out"}
    assert noise["eps"].shape == (IN, UNITS)
    assert noise["sign_in"].shape == (BATCH, IN)
    assert noise["sign_out"].shape == (BATCH, UNITS)


def test_signs_are_exactly_plus_or_minus_one():
    layer = built_layer(in_features=40, units=30)
    noise = layer.sample_noise(inputs(batch=64, in_features=40))
    for name in ("sign_in", "sign_out"):
        values = np.unique(noise[name].numpy())
        np.testing.assert_array_equal(values, [-1.0, 1.0])


def test_signs_are_fair_and_independent_of_their_neighbours():
    layer = built_layer(in_features=500, units=7)
    signs = layer.sample_noise(inputs(batch=400, in_features=500))["sign_in"].numpy().ravel()
    n = signs.size  # 200 000 signs
    # A fair ±1 sign has mean 0 and variance 1, so the mean of n of them has standard error
    # 1/sqrt(n); so has the mean product of neighbours if neighbouring signs are independent
    # (several signs come from one random word, so a bug there would show up as correlation).
    # 5 standard errors: a correct sampler fails with probability below 1e-6.
    assert abs(signs.mean()) < 5 / math.sqrt(n)
    assert abs(np.mean(signs[1:] * signs[:-1])) < 5 / math.sqrt(n - 1)
    assert abs(np.mean(signs[32:] * signs[:-32])) < 5 / math.sqrt(n - 32)


def test_kernel_noise_is_standard_normal():
    layer = FlipoutDense(500, seed=3)
    layer.build((None, 400))
    eps = layer.sample_noise(np.zeros((1, 400), np.float32))["eps"].numpy().ravel()
    eps = eps.astype(np.float64)
    n = eps.size  # 200 000 draws
    # Standard errors for n standard-normal draws: mean 1/sqrt(n), variance sqrt(2/n),
    # a tail fraction p: sqrt(p (1 - p) / n). Allow 5 of them.
    assert abs(eps.mean()) < 5 / math.sqrt(n)
    assert abs(eps.var() - 1.0) < 5 * math.sqrt(2 / n)
    tail = 2 * (1 - 0.5 * (1 + math.erf(2 / math.sqrt(2))))  # P(|Z| > 2) ≈ 0.0455
    assert abs(np.mean(np.abs(eps) > 2) - tail) < 5 * math.sqrt(tail * (1 - tail) / n)


def test_one_kernel_perturbation_is_shared_by_the_batch_and_only_its_sign_flips_per_example():
    layer = built_layer()
    # Six identical examples with one non-zero input: example i's perturbation of unit j is
    # s_in[i] σ[0, j] ε[0, j] s_out[i, j], so its size |σ[0, j] ε[0, j]| is the same for every
    # example, whatever the signs. A call that scaled each example's perturbation (or drew
    # its own ε per example) would break the equality.
    x = np.zeros((6, IN), np.float32)
    x[:, 0] = 1.5
    loc, _, bias = as_numpy(layer)
    deviation = layer(x).numpy().astype(np.float64) - (x @ loc + bias)
    np.testing.assert_allclose(np.abs(deviation), np.abs(deviation[:1]).repeat(6, 0), rtol=1e-5)
    # ... and the signs do flip from example to example (probability 2**-15 that they do not).
    assert len({tuple(row) for row in np.sign(deviation)}) > 1


def test_each_call_draws_new_noise():
    layer = built_layer()
    x = inputs()
    assert not np.allclose(layer(x).numpy(), layer(x).numpy())


# --- Flipout against TFP's DenseFlipout ------------------------------------------------------


def test_flipout_matches_tfp_dense_flipout_in_distribution():
    ours = built_layer()
    loc, sigma, bias = as_numpy(ours)
    tf.random.set_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TFP's add_variable deprecation
        theirs = tfp.layers.DenseFlipout(UNITS, seed=1)
        theirs.build((None, IN))
    variables = {v.name.split("/")[-1].split(":")[0]: v for v in theirs.weights}
    variables["kernel_posterior_loc"].assign(ours.loc)
    variables["kernel_posterior_untransformed_scale"].assign(ours.rho)  # TFP's σ adds 1.2e-7
    variables["bias_posterior_loc"].assign(ours.bias)

    x = tf.constant(inputs())
    n = 3000
    draw_ours, draw_theirs = tf.function(lambda: ours(x)), tf.function(lambda: theirs(x))
    ours_draws = np.stack([draw_ours().numpy() for _ in range(n)]).astype(np.float64)
    theirs_draws = np.stack([draw_theirs().numpy() for _ in range(n)]).astype(np.float64)

    # Each output element is exactly Normal(m, v) for both layers (the signs do not change
    # the distribution of a centred Normal), with v = sum_i x_i² σ_ij². For two independent
    # samples of n draws, the difference of the means has standard error sqrt(2 v / n) and
    # the difference of the variances sqrt(2) * v * sqrt(2 / (n - 1)). 5 standard errors over
    # 2 * 15 comparisons: a false failure has probability below 2e-5, while a σ off by 10 %
    # (variance off by 21 %, about 6 standard errors at n = 3000) fails.
    v = (x.numpy().astype(np.float64) ** 2) @ sigma**2
    mean_se = np.sqrt(2 * v / n)
    var_se = np.sqrt(2) * v * np.sqrt(2 / (n - 1))
    mean_gap = np.abs(ours_draws.mean(0) - theirs_draws.mean(0))
    var_gap = np.abs(ours_draws.var(0, ddof=1) - theirs_draws.var(0, ddof=1))
    assert np.all(mean_gap < 5 * mean_se), mean_gap / mean_se
    assert np.all(var_gap < 5 * var_se), var_gap / var_se
    # And both are centred where they should be.
    assert np.all(np.abs(ours_draws.mean(0) - (x.numpy() @ loc + bias)) < 5 * np.sqrt(v / n))


# --- The KL term ---------------------------------------------------------------------------


@pytest.mark.parametrize("cls", LAYER_CLASSES)
@pytest.mark.parametrize("bayesian_bias", [False, True])
def test_kl_divergence_equals_tfp_kl_of_the_same_distributions(cls, bayesian_bias):
    layer = built_layer(cls, prior_scale=0.7, bayesian_bias=bayesian_bias)
    prior = tfd.Normal(0.0, 0.7)
    expected = tf.reduce_sum(tfd.kl_divergence(tfd.Normal(layer.loc, layer.sigma), prior))
    if bayesian_bias:
        bias_posterior = tfd.Normal(layer.bias_loc, layer.bias_sigma)
        expected += tf.reduce_sum(tfd.kl_divergence(bias_posterior, prior))
    np.testing.assert_allclose(layer.kl_divergence().numpy(), expected.numpy(), rtol=1e-5)


def test_kl_matches_tfp_independent_normal_kl():
    layer = built_layer(in_features=20, units=10, prior_scale=2.0)
    posterior = tfd.Independent(tfd.Normal(layer.loc, layer.sigma), reinterpreted_batch_ndims=2)
    prior = tfd.Independent(tfd.Normal(tf.zeros((20, 10)), 2.0), reinterpreted_batch_ndims=2)
    expected = tfd.kl_divergence(posterior, prior).numpy()
    np.testing.assert_allclose(layer.kl_divergence().numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("cls", LAYER_CLASSES)
def test_every_call_adds_kl_weight_times_the_kl_to_the_losses(cls):
    layer = built_layer(cls, kl_weight=0.25)
    for _ in range(2):  # the losses are replaced, not accumulated, on each call
        layer(inputs())
        assert len(layer.losses) == 1
        np.testing.assert_allclose(
            layer.losses[0].numpy(), 0.25 * layer.kl_divergence().numpy(), rtol=1e-6
        )
    np.testing.assert_allclose(layer.kl_loss().numpy(), layer.losses[0].numpy(), rtol=1e-6)


def test_kl_weight_can_be_changed_before_and_after_building():
    layer = FlipoutDense(UNITS, kl_weight=0.5, seed=0)
    layer.kl_weight = 0.2
    layer.build((None, IN))
    assert layer.kl_weight == pytest.approx(0.2)
    layer.kl_weight = 3.0
    layer(inputs())
    np.testing.assert_allclose(layer.losses[0].numpy(), 3.0 * layer.kl_divergence().numpy())


def test_a_new_kl_weight_reaches_a_compiled_function_without_retracing():
    layer = built_layer()
    compiled = tf.function(lambda: layer.kl_loss())
    first = compiled().numpy()
    layer.kl_weight = 2.0 * layer.kl_weight
    np.testing.assert_allclose(compiled().numpy(), 2.0 * first, rtol=1e-6)
    assert compiled.experimental_get_tracing_count() == 1


def test_sigma_is_softplus_of_rho_and_read_only():
    layer = built_layer()
    np.testing.assert_allclose(layer.sigma.numpy(), softplus(layer.rho.numpy()), rtol=1e-6)
    with pytest.raises(AttributeError):
        layer.sigma = tf.ones((IN, UNITS))


# --- Variables, initial values, bias -------------------------------------------------------


def test_variables_and_default_initial_values():
    layer = FlipoutDense(200, seed=0)
    layer.build((None, 100))
    names = [w.name.split("/")[-1].split(":")[0] for w in layer.weights]
    assert names == ["loc", "rho", "bias", "kl_weight", "noise_counter"]
    assert [w.name.split("/")[-1].split(":")[0] for w in layer.trainable_weights] == [
        "loc",
        "rho",
        "bias",
    ]
    assert layer.loc.shape == layer.rho.shape == (100, 200)
    # TFP's defaults: loc ~ N(0, 0.1), rho ~ N(-3, 0.1); 20 000 draws pin the moments down.
    assert abs(layer.loc.numpy().mean()) < 0.005
    assert abs(layer.loc.numpy().std() - 0.1) < 0.005
    assert abs(layer.rho.numpy().mean() + 3.0) < 0.005
    assert abs(layer.rho.numpy().std() - 0.1) < 0.005
    np.testing.assert_array_equal(layer.bias.numpy(), 0.0)
    assert layer.bias_loc is None and layer.bias_rho is None and layer.bias_sigma is None


def test_bayesian_bias_has_its_own_posterior_noise_and_kl():
    layer = built_layer(bayesian_bias=True)
    assert layer.bias is None
    names = [w.name.split("/")[-1].split(":")[0] for w in layer.trainable_weights]
    assert names == ["loc", "rho", "bias_loc", "bias_rho"]
    x = inputs()
    noise = layer.sample_noise(x)
    assert noise["bias_eps"].shape == (UNITS,)
    loc, sigma, _ = as_numpy(layer)
    bias = layer.bias_loc.numpy() + softplus(layer.bias_rho.numpy()) * noise["bias_eps"].numpy()
    expected = x @ loc + ((x * noise["sign_in"]) @ (sigma * noise["eps"])) * noise["sign_out"]
    np.testing.assert_allclose(layer.forward(x, **noise).numpy(), expected + bias, atol=1e-5)


def test_forward_insists_on_bias_noise_exactly_when_the_bias_is_bayesian():
    bayesian, point = built_layer(bayesian_bias=True), built_layer()
    x = inputs()
    noise = bayesian.sample_noise(x)
    with pytest.raises(ValueError, match="bias_eps"):
        bayesian.forward(x, **{k: v for k, v in noise.items() if k != "bias_eps"})
    with pytest.raises(ValueError, match="bias_eps"):
        point.forward(x, **noise)


# --- Seeds, config, saving -----------------------------------------------------------------


@pytest.mark.parametrize("cls", LAYER_CLASSES)
def test_the_same_seed_gives_the_same_layer_and_the_same_outputs(cls):
    x = inputs()
    first, second = cls(UNITS, seed=11), cls(UNITS, seed=11)
    outputs_first = [first(x).numpy() for _ in range(3)]
    outputs_second = [second(x).numpy() for _ in range(3)]
    np.testing.assert_array_equal(first.loc.numpy(), second.loc.numpy())
    np.testing.assert_array_equal(first.rho.numpy(), second.rho.numpy())
    np.testing.assert_array_equal(outputs_first, outputs_second)


@pytest.mark.parametrize("cls", LAYER_CLASSES)
def test_different_seeds_give_different_layers_and_noise(cls):
    x = inputs()
    first, second = cls(UNITS, seed=11), cls(UNITS, seed=12)
    first.build((None, IN))
    second.build((None, IN))
    assert not np.allclose(first.loc.numpy(), second.loc.numpy())
    second.set_weights(first.get_weights())  # same posterior: only the noise differs
    assert not np.allclose(first(x).numpy(), second(x).numpy())


def test_unseeded_layers_differ_and_follow_bnnlib_set_seed():
    bnnlib.set_seed(3, deterministic=False)
    first, second = FlipoutDense(UNITS), FlipoutDense(UNITS)
    bnnlib.set_seed(3, deterministic=False)
    again = FlipoutDense(UNITS)
    for layer in (first, second, again):
        layer.build((None, IN))
    assert not np.allclose(first.loc.numpy(), second.loc.numpy())
    assert first.seed == again.seed
    np.testing.assert_array_equal(first.loc.numpy(), again.loc.numpy())


@pytest.mark.parametrize("cls", LAYER_CLASSES)
def test_config_round_trip_rebuilds_the_same_layer(cls):
    layer = cls(
        UNITS,
        activation="tanh",
        kl_weight=0.125,
        prior_scale=0.5,
        bayesian_bias=True,
        loc_initializer_stddev=0.2,
        rho_initializer_mean=-4.0,
        rho_initializer_stddev=0.05,
        name="probe",
    )
    clone = cls.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert clone.seed == layer.seed
    x = inputs()
    np.testing.assert_array_equal(layer(x).numpy(), clone(x).numpy())


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_saved_model_loads_with_identical_variables_and_outputs(tmp_path, suffix):
    model = keras.Sequential(
        [
            keras.Input(shape=(IN,)),
            FlipoutDense(6, activation="relu", kl_weight=0.01, seed=1),
            LocalReparameterizationDense(5, activation="relu", bayesian_bias=True, seed=2),
            ReparameterizationDense(2, seed=3),
        ]
    )
    x = inputs()
    model(x)  # move the noise counters on, so the test also covers them
    path = tmp_path / f"model{suffix}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf_keras calls .h5 a legacy format
        model.save(path)
    loaded = keras.models.load_model(path)

    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    for saved, restored in zip(model.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(saved.numpy(), restored.numpy())
    assert loaded.layers[0].kl_weight == pytest.approx(0.01)
    np.testing.assert_array_equal(model(x).numpy(), loaded(x).numpy())


# --- Bad arguments -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"units": 0}, ValueError),
        ({"units": -3}, ValueError),
        ({"units": 2.5}, TypeError),
        ({"units": "8"}, TypeError),
        ({"kl_weight": -0.1}, ValueError),
        ({"kl_weight": float("nan")}, ValueError),
        ({"kl_weight": float("inf")}, ValueError),
        ({"prior_scale": 0.0}, ValueError),
        ({"prior_scale": -1.0}, ValueError),
        ({"prior_scale": float("inf")}, ValueError),
        ({"bayesian_bias": "yes"}, TypeError),
        ({"seed": -1}, ValueError),
        ({"seed": 2**40}, ValueError),
        ({"seed": 1.5}, TypeError),
        ({"loc_initializer_stddev": -0.1}, ValueError),
        ({"activation": "no_such_activation"}, ValueError),
    ],
)
@pytest.mark.parametrize("cls", LAYER_CLASSES)
def test_bad_arguments_raise(cls, kwargs, error):
    arguments = {"units": UNITS, **kwargs}
    name = next(iter(kwargs))
    with pytest.raises(error, match=name if name != "activation" else "no_such_activation"):
        cls(**arguments)


@pytest.mark.parametrize("cls", LAYER_CLASSES)
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_integer_inputs_are_cast_to_float_like_dense(cls, dtype):
    layer, twin = built_layer(cls), built_layer(cls)  # same seed: the same noise on each call
    x = np.arange(BATCH * IN).reshape(BATCH, IN) % 3
    got = layer(x.astype(dtype))
    assert got.dtype == tf.float32
    np.testing.assert_allclose(got.numpy(), twin(x.astype(np.float32)).numpy(), rtol=1e-6)


@pytest.mark.parametrize("cls", LAYER_CLASSES)
@pytest.mark.parametrize("method", ["sample_noise", "kl_divergence"])
def test_using_an_unbuilt_layer_says_to_call_it_first(cls, method):
    layer = cls(UNITS, seed=0)
    arguments = (inputs(),) if method == "sample_noise" else ()
    with pytest.raises(ValueError, match="call the layer on an input first"):
        getattr(layer, method)(*arguments)


@pytest.mark.parametrize(
    ("name", "shape", "expected"),
    [
        ("eps", (IN + 1, UNITS), rf"\({IN}, {UNITS}\)"),
        ("sign_in", (BATCH, IN + 1), rf"\({BATCH}, {IN}\)"),
        ("sign_out", (BATCH - 1, UNITS), rf"\({BATCH}, {UNITS}\)"),
    ],
)
def test_flipout_forward_names_the_expected_shape_of_wrong_noise(name, shape, expected):
    layer = built_layer()
    x = inputs()
    noise = layer.sample_noise(x)
    noise[name] = tf.ones(shape)
    with pytest.raises(ValueError, match=rf"{name} must have shape {expected}, got"):
        layer.forward(x, **noise)


@pytest.mark.parametrize("cls", [ReparameterizationDense, LocalReparameterizationDense])
def test_other_estimators_name_the_expected_shape_of_wrong_noise(cls):
    layer = built_layer(cls)
    with pytest.raises(ValueError, match="eps must have shape"):
        layer.forward(inputs(), eps=tf.ones((BATCH + IN + 1, UNITS + 2)))


def test_kl_weight_setter_validates():
    layer = FlipoutDense(UNITS, seed=0)
    with pytest.raises(ValueError, match="kl_weight"):
        layer.kl_weight = -1.0


@pytest.mark.parametrize("cls", LAYER_CLASSES)
def test_unknown_last_input_dimension_raises_when_building(cls):
    with pytest.raises(ValueError, match="last input dimension"):
        cls(UNITS, seed=0).build((None, None))
    with pytest.raises(ValueError, match="last input dimension"):
        keras.Sequential([keras.Input(shape=(None,)), cls(UNITS, seed=0)])


def test_rank_one_inputs_raise_when_building():
    with pytest.raises(ValueError, match="batch, features"):
        FlipoutDense(UNITS, seed=0).build((IN,))


# --- The other estimators ------------------------------------------------------------------


def test_reparameterization_forward_equals_its_formula_with_injected_noise():
    layer = built_layer(ReparameterizationDense)
    x = inputs()
    eps = np.random.default_rng(4).normal(size=(IN, UNITS)).astype(np.float32)
    loc, sigma, bias = as_numpy(layer)
    expected = x @ (loc + sigma * eps) + bias
    np.testing.assert_allclose(layer.forward(x, eps=eps).numpy(), expected, rtol=0, atol=1e-6)


def test_reparameterization_gives_every_example_of_a_batch_the_same_weights():
    layer = built_layer(ReparameterizationDense)
    x = np.repeat(inputs(batch=1), 6, axis=0)  # six identical examples
    outputs = layer(x).numpy()
    np.testing.assert_array_equal(outputs, np.repeat(outputs[:1], 6, axis=0))
    assert not np.allclose(outputs, layer(x).numpy())  # but a new sample on the next call


def test_local_reparameterization_forward_equals_its_formula_with_injected_noise():
    layer = built_layer(LocalReparameterizationDense)
    x = inputs()
    eps = np.random.default_rng(4).normal(size=(BATCH, UNITS)).astype(np.float32)
    loc, sigma, bias = as_numpy(layer)
    expected = x @ loc + bias + np.sqrt((x**2) @ sigma**2) * eps
    np.testing.assert_allclose(layer.forward(x, eps=eps).numpy(), expected, rtol=0, atol=1e-5)


def test_local_reparameterization_with_bayesian_bias_adds_the_bias_variance():
    layer = built_layer(LocalReparameterizationDense, bayesian_bias=True)
    x = inputs()
    eps = np.random.default_rng(4).normal(size=(BATCH, UNITS)).astype(np.float32)
    loc, sigma, bias_loc = as_numpy(layer)
    bias_sigma = softplus(layer.bias_rho.numpy().astype(np.float64))
    variance = (x**2) @ sigma**2 + bias_sigma**2
    expected = x @ loc + bias_loc + np.sqrt(variance) * eps
    np.testing.assert_allclose(layer.forward(x, eps=eps).numpy(), expected, rtol=0, atol=1e-5)


def test_local_reparameterization_output_has_the_predicted_mean_and_variance():
    layer = built_layer(LocalReparameterizationDense)
    loc, sigma, bias = as_numpy(layer)
    x = tf.constant(inputs())
    draw = tf.function(lambda: layer(x))
    n = 3000
    draws = np.stack([draw().numpy() for _ in range(n)]).astype(np.float64)
    mean = x.numpy() @ loc + bias
    variance = (x.numpy() ** 2) @ sigma**2
    # Standard errors of the sample mean and variance of n Normal draws: sqrt(v / n) and
    # v sqrt(2 / (n - 1)); allow 5 of them (a correct layer fails with probability ~1e-5).
    assert np.all(np.abs(draws.mean(0) - mean) < 5 * np.sqrt(variance / n))
    assert np.all(np.abs(draws.var(0, ddof=1) - variance) < 5 * variance * np.sqrt(2 / (n - 1)))


def test_local_reparameterization_draws_independent_noise_per_example():
    layer = built_layer(LocalReparameterizationDense)
    x = np.repeat(inputs(batch=1), 6, axis=0)
    outputs = layer(x).numpy()
    assert len(np.unique(outputs[:, 0])) == 6


def test_local_reparameterization_gradient_is_finite_for_an_all_zero_input_row():
    layer = built_layer(LocalReparameterizationDense)
    x = inputs()
    x[0] = 0.0  # as after a ReLU that switched every unit off
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x))
    gradients = tape.gradient(loss, layer.trainable_weights)
    assert all(np.all(np.isfinite(g.numpy())) for g in gradients)


@pytest.mark.parametrize("cls", LAYER_CLASSES)
def test_layer_trains_inside_model_fit(cls):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, IN)).astype(np.float32)
    y = x @ rng.normal(size=(IN, 1)).astype(np.float32)
    model = keras.Sequential([keras.Input(shape=(IN,)), cls(1, kl_weight=1 / 64, seed=0)])
    model.compile(keras.optimizers.Adam(0.05), "mse")
    history = model.fit(x, y, epochs=10, batch_size=32, verbose=0).history["loss"]
    assert np.all(np.isfinite(history))
    assert history[-1] < 0.5 * history[0]


# --- the training gradient: a call's hand-written KL gradient equals automatic differentiation


def gradients_of_a_call(layer, x, weights, compiled):
    """Gradients of sum(weights * output) + losses with respect to the trainable variables."""

    def loss_and_gradients():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(weights * layer(x)) + tf.add_n(layer.losses)
        return tape.gradient(loss, layer.trainable_variables)

    return (tf.function(loss_and_gradients) if compiled else loss_and_gradients)()


def gradients_by_automatic_differentiation(layer, x, weights):
    """The same gradients, from forward() and kl_loss(), differentiated by TensorFlow."""
    noise = layer.sample_noise(x)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(weights * layer.forward(x, **noise)) + layer.kl_loss()
    return tape.gradient(loss, layer.trainable_variables)


@pytest.mark.parametrize("cls", LAYER_CLASSES)
@pytest.mark.parametrize("bayesian_bias", [False, True])
@pytest.mark.parametrize("compiled", [False, True])
def test_a_call_has_the_gradient_of_forward_plus_kl_loss(cls, bayesian_bias, compiled):
    # Twins draw the same noise; a call computes σ and the kernel's KL with a hand-written
    # gradient, forward() and kl_loss() let TensorFlow differentiate. kl_weight is large so
    # that the KL's share of the gradient is not lost in rounding (tolerance: float32).
    twin_a = built_layer(cls, seed=7, bayesian_bias=bayesian_bias, kl_weight=3.0)
    twin_b = built_layer(cls, seed=7, bayesian_bias=bayesian_bias, kl_weight=3.0)
    x = tf.constant(inputs())
    weights = tf.constant(np.random.default_rng(3).normal(size=(BATCH, UNITS)), tf.float32)
    called = gradients_of_a_call(twin_a, x, weights, compiled)
    expected = gradients_by_automatic_differentiation(twin_b, x, weights)
    assert [v.name for v in twin_a.trainable_variables] == [
        v.name for v in twin_b.trainable_variables
    ]
    for got, want in zip(called, expected, strict=True):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)


def test_the_kl_a_call_adds_is_kl_loss():
    layer = built_layer(kl_weight=0.25)
    layer(inputs())
    np.testing.assert_allclose(float(layer.losses[0]), float(layer.kl_loss()), rtol=1e-6)
