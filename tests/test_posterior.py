"""bnnlib.posterior: one adapter per layer family reads (and writes) the posterior."""

import warnings

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from bnnlib.layers import FlipoutDense
from bnnlib.posterior import (
    BnnlibPosterior,
    DensePosterior,
    TfpPosterior,
    layer_posterior,
    model_posteriors,
)
from bnnlib.tfp_layers import tfp_dense_flipout


def softplus(x):
    return np.log1p(np.exp(x.astype(np.float64)))


@pytest.fixture(scope="module")
def layers():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TFP's add_variable deprecation
        model = keras.Sequential(
            [
                keras.Input((3,)),
                FlipoutDense(4, seed=1, bayesian_bias=True, name="ours"),
                tfp_dense_flipout(5, num_examples=10, seed=2, name="tfp"),
                keras.layers.Dense(2, name="dense"),
                keras.layers.Dropout(0.1, name="dropout"),
            ]
        )
    return model


def test_each_family_gets_its_adapter(layers):
    assert isinstance(layer_posterior(layers.get_layer("ours")), BnnlibPosterior)
    assert isinstance(layer_posterior(layers.get_layer("tfp")), TfpPosterior)
    assert isinstance(layer_posterior(layers.get_layer("dense")), DensePosterior)
    assert layer_posterior(layers.get_layer("dropout")) is None


def test_model_posteriors_lists_the_recognised_layers_in_order(layers):
    assert [name for name, _ in model_posteriors(layers)] == ["ours", "tfp", "dense"]


def test_bnnlib_adapter_reads_softplus_of_rho_and_the_bias_posterior(layers):
    layer = layers.get_layer("ours")
    loc, sigma, bias_loc, bias_sigma = layer_posterior(layer).read()
    np.testing.assert_array_equal(loc, layer.loc.numpy())
    np.testing.assert_allclose(sigma, softplus(layer.rho.numpy()), rtol=1e-6)
    np.testing.assert_array_equal(bias_loc, layer.bias_loc.numpy())
    np.testing.assert_allclose(bias_sigma, softplus(layer.bias_rho.numpy()), rtol=1e-6)


def test_tfp_adapter_exposes_the_untransformed_scale_variable(layers):
    layer = layers.get_layer("tfp")
    posterior = layer_posterior(layer)
    names = {v.name.split("/")[-1].split(":")[0]: v for v in layer.weights}
    assert posterior.loc is names["kernel_posterior_loc"]
    assert posterior.rho is names["kernel_posterior_untransformed_scale"]
    assert posterior.bias_rho is None and posterior.bias_sigma() is None  # TFP's point bias
    # TFP's σ is eps + softplus(ρ): equal to softplus(ρ) within float32 rounding.
    np.testing.assert_allclose(posterior.read()[1], softplus(posterior.rho.numpy()), rtol=1e-5)


def test_dense_adapter_has_the_kernel_no_sigma_and_no_kl(layers):
    layer = layers.get_layer("dense")
    posterior = layer_posterior(layer)
    assert posterior.loc is layer.kernel and posterior.rho is None
    assert posterior.sigma() is None and float(posterior.kl()) == 0.0


def test_kl_is_what_each_layer_adds_to_its_losses(layers):
    layers(tf.ones((2, 3)))
    for name in ("ours", "tfp"):
        layer = layers.get_layer(name)
        np.testing.assert_allclose(
            float(layer_posterior(layer).kl()), float(layer.losses[0]), rtol=1e-6
        )


@pytest.mark.parametrize("name", ["ours", "tfp", "dense"])
def test_writing_through_the_adapter_prunes_a_weight(layers, name):
    posterior = layer_posterior(layers.get_layer(name))
    posterior.loc.assign(tf.tensor_scatter_nd_update(posterior.loc, [[0, 1]], [0.0]))
    assert posterior.read()[0][0, 1] == 0.0
    assert posterior.kernel_shape == tuple(posterior.loc.shape)
