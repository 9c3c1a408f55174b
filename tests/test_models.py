"""Specifications of bnnlib.models.build_mlp: three kinds, one architecture, one start."""

import warnings

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras as keras

from bnnlib.layers import FlipoutDense
from bnnlib.models import KINDS, build_mlp

tfd = tfp.distributions
N = 200


def build(kind, **kwargs):
    arguments = {"input_dim": 3, "hidden_units": (8, 5), "num_examples": N, "seed": 7}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TFP's add_variable deprecation
        return build_mlp(kind, **{**arguments, **kwargs})


def short_names(layer):
    return {w.name.split("/")[-1].split(":")[0]: w.numpy() for w in layer.weights}


def starting_posterior(layer):
    """(kernel mean, kernel rho or None, bias) of a Dense, FlipoutDense or TFP layer."""
    weights = short_names(layer)
    if "kernel" in weights:
        return weights["kernel"], None, weights["bias"]
    if "loc" in weights:
        return weights["loc"], weights["rho"], weights["bias"]
    return (
        weights["kernel_posterior_loc"],
        weights["kernel_posterior_untransformed_scale"],
        weights["bias_posterior_loc"],
    )


def test_every_kind_starts_from_the_same_means():
    models = {kind: build(kind) for kind in KINDS}
    for position in range(3):
        dense, flipout, tfp_flipout = (
            starting_posterior(models[kind].layers[position]) for kind in KINDS
        )
        np.testing.assert_array_equal(dense[0], flipout[0])
        np.testing.assert_array_equal(tfp_flipout[0], flipout[0])
        np.testing.assert_array_equal(tfp_flipout[1], flipout[1])
        for bias in (dense[2], flipout[2], tfp_flipout[2]):
            np.testing.assert_array_equal(bias, 0.0)


def test_every_kind_has_the_same_architecture():
    x = np.zeros((2, 3), np.float32)
    for kind in KINDS:
        model = build(kind, output_dim=4, output_activation="softmax")
        assert [layer.name for layer in model.layers] == ["hidden_1", "hidden_2", "output"]
        kernels = [starting_posterior(layer)[0].shape for layer in model.layers]
        assert kernels == [(3, 8), (8, 5), (5, 4)]
        assert model.name == f"{kind}_mlp"
        np.testing.assert_allclose(model(x).numpy().sum(axis=1), 1.0, rtol=1e-6)


def test_the_seed_decides_the_start():
    same = build("flipout", seed=3), build("flipout", seed=3)
    other = build("flipout", seed=4)
    np.testing.assert_array_equal(same[0].layers[0].loc.numpy(), same[1].layers[0].loc.numpy())
    assert not np.allclose(same[0].layers[0].loc.numpy(), other.layers[0].loc.numpy())
    # Two layers of one model never start alike.
    assert not np.allclose(
        same[0].layers[0].rho.numpy()[:3, :5], same[0].layers[1].rho.numpy()[:3, :5]
    )


def expected_kl_per_example(model, prior_scale=1.0):
    """KL(q || p) / N summed over layers, from TFP's Normal KL of each layer's posterior."""
    total = 0.0
    for layer in model.layers:
        loc, rho, _ = starting_posterior(layer)
        posterior = tfd.Normal(loc, tf.nn.softplus(rho))
        total += tf.reduce_sum(tfd.kl_divergence(posterior, tfd.Normal(0.0, prior_scale)))
    return total.numpy() / N


@pytest.mark.parametrize("kind", ["flipout", "tfp_flipout"])
def test_bayesian_kinds_divide_the_kl_by_num_examples(kind):
    model = build(kind, prior_scale=0.5)
    model(np.zeros((1, 3), np.float32))
    added = sum(loss.numpy() for loss in model.losses)
    np.testing.assert_allclose(added, expected_kl_per_example(model, 0.5), rtol=1e-5)


def test_kl_weight_multiplies_the_per_example_weight():
    model = build("flipout", kl_weight=0.1)
    assert all(layer.kl_weight == pytest.approx(0.1 / N) for layer in model.layers)


def test_flipout_kind_passes_layer_arguments_on():
    model = build("flipout", bayesian_bias=True, rho_initializer_mean=-5.0)
    assert all(isinstance(layer, FlipoutDense) for layer in model.layers)
    assert all(layer.bayesian_bias for layer in model.layers)
    assert abs(model.layers[0].rho.numpy().mean() + 5.0) < 0.1


def test_dense_kind_needs_no_num_examples():
    model = build("dense", num_examples=None)
    assert all(isinstance(layer, keras.layers.Dense) for layer in model.layers)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"kind": "bayes"}, ValueError),
        ({"kind": "flipout", "num_examples": None}, ValueError),
        ({"kind": "tfp_flipout", "num_examples": None}, ValueError),
        ({"kind": "flipout", "num_examples": 0}, ValueError),
        ({"kind": "dense", "input_dim": 0}, ValueError),
        ({"kind": "dense", "output_dim": 1.5}, TypeError),
        ({"kind": "dense", "hidden_units": 32}, TypeError),
        ({"kind": "dense", "hidden_units": "32"}, TypeError),
        ({"kind": "dense", "hidden_units": (32, 0)}, ValueError),
        ({"kind": "dense", "seed": -1}, ValueError),
        ({"kind": "flipout", "units": 3}, ValueError),
        ({"kind": "flipout", "name": "mine", "seed": 1}, ValueError),
        ({"kind": "flipout", "kl_weight": -1.0}, ValueError),
        ({"kind": "flipout", "prior_scale": 0.0}, ValueError),
        ({"kind": "flipout", "no_such_argument": 1}, TypeError),
        ({"kind": "tfp_flipout", "bayesian_bias": True}, ValueError),
    ],
)
def test_bad_arguments_raise(kwargs, error):
    names = [key for key in kwargs if key != "kind"] or ["kind"]
    with pytest.raises(error, match=names[0]):
        build(**kwargs)


def test_a_misspelt_argument_is_named_with_the_real_one():
    with pytest.raises(
        TypeError, match="unexpected argument 'hidden'; did you mean 'hidden_units'"
    ):
        build("flipout", hidden=[16])


def test_a_bad_hidden_size_names_its_position():
    with pytest.raises(ValueError, match=r"hidden_units\[1\] must be an integer >= 1, got 0"):
        build("dense", hidden_units=(32, 0))
