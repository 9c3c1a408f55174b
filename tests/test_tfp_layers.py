"""bnnlib.tfp_layers.tfp_dense_flipout, and the initialisation trap it exists to fix."""

import warnings

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras as keras

import bnnlib
from bnnlib.tfp_layers import tfp_dense_flipout

tfd = tfp.distributions


def build(layers, input_dim=4):
    """Build ``layers`` in one Sequential model on ``input_dim`` inputs and return it."""
    model = keras.Sequential([keras.Input((input_dim,)), *layers])
    return model


def initial_values(layer):
    return (
        layer.kernel_posterior.distribution.loc.numpy(),
        layer.kernel_posterior.distribution.scale.numpy(),
    )


def test_default_tfp_layers_of_equal_shape_start_identical():
    """The trap: TFP's shared unseeded initialisers give every such layer the same start."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first, second = tfp.layers.DenseFlipout(4), tfp.layers.DenseFlipout(4)
        build([first, second])
    loc_a, scale_a = initial_values(first)
    loc_b, scale_b = initial_values(second)
    np.testing.assert_array_equal(loc_a, loc_b)
    np.testing.assert_array_equal(scale_a, scale_b)


def test_factory_layers_of_equal_shape_start_different():
    bnnlib.set_seed(0)
    first, second = tfp_dense_flipout(4, num_examples=10), tfp_dense_flipout(4, num_examples=10)
    build([first, second])
    loc_a, scale_a = initial_values(first)
    loc_b, scale_b = initial_values(second)
    assert not np.allclose(loc_a, loc_b)
    assert not np.allclose(scale_a, scale_b)


def test_factory_layers_of_equal_width_start_with_different_biases():
    bnnlib.set_seed(0)
    first, second = tfp_dense_flipout(4, num_examples=10), tfp_dense_flipout(4, num_examples=10)
    build([first, second])
    bias_a = first.bias_posterior.distribution.loc.numpy()
    bias_b = second.bias_posterior.distribution.loc.numpy()
    assert not np.allclose(bias_a, bias_b)


def test_factory_keeps_tfps_initial_distribution():
    layer = tfp_dense_flipout(200, num_examples=1, seed=1)
    build([layer], input_dim=100)
    loc, scale = initial_values(layer)
    rho = next(v for v in layer.variables if "untransformed_scale" in v.name).numpy()
    # 20,000 draws: the sample mean and std are within a few standard errors of TFP's defaults.
    assert abs(loc.mean()) < 0.01 and abs(loc.std() - 0.1) < 0.005
    assert abs(rho.mean() + 3.0) < 0.01 and abs(rho.std() - 0.1) < 0.005
    np.testing.assert_allclose(scale, np.finfo(np.float32).eps + np.log1p(np.exp(rho)), rtol=1e-6)


def test_same_seed_same_start_and_set_seed_makes_unseeded_layers_repeat():
    a, b = tfp_dense_flipout(3, 5, seed=42), tfp_dense_flipout(3, 5, seed=42)
    build([a])
    build([b])
    np.testing.assert_array_equal(initial_values(a)[0], initial_values(b)[0])

    bnnlib.set_seed(5)
    c = tfp_dense_flipout(3, 5)
    build([c])
    bnnlib.set_seed(5)
    d = tfp_dense_flipout(3, 5)
    build([d])
    np.testing.assert_array_equal(initial_values(c)[0], initial_values(d)[0])


@pytest.mark.parametrize("num_examples, kl_weight", [(1, 1.0), (250, 1.0), (250, 0.5)])
def test_kl_in_losses_is_scaled_by_weight_over_num_examples(num_examples, kl_weight):
    layer = tfp_dense_flipout(3, num_examples=num_examples, kl_weight=kl_weight, seed=0)
    layer(tf.ones((2, 4)))
    full_kl = tf.reduce_sum(tfd.kl_divergence(layer.kernel_posterior, layer.kernel_prior)).numpy()
    assert len(layer.losses) == 1
    np.testing.assert_allclose(
        float(layer.losses[0]), full_kl * kl_weight / num_examples, rtol=1e-5
    )


def test_bias_is_deterministic_and_adds_no_kl():
    layer = tfp_dense_flipout(3, num_examples=10, seed=0)
    layer(tf.ones((2, 4)))
    names = sorted(v.name.split("/")[-1].split(":")[0] for v in layer.trainable_variables)
    assert names == [
        "bias_posterior_loc",
        "kernel_posterior_loc",
        "kernel_posterior_untransformed_scale",
    ]


def test_factory_layer_trains_in_a_model():
    bnnlib.set_seed(0)
    x = np.linspace(-1, 1, 64, dtype=np.float32)[:, None]
    y = 2 * x
    model = keras.Sequential([keras.Input((1,)), tfp_dense_flipout(1, num_examples=64, seed=3)])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    history = model.fit(x, y, epochs=30, batch_size=64, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] / 4


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"units": 0, "num_examples": 1}, ValueError, "units must be an integer >= 1"),
        ({"units": 2.5, "num_examples": 1}, TypeError, "units must be an integer"),
        ({"units": 2, "num_examples": 0}, ValueError, "num_examples must be an integer >= 1"),
        ({"units": 2, "num_examples": 10, "seed": -1}, ValueError, "seed must be"),
        ({"units": 2, "num_examples": 10, "seed": 2**31}, ValueError, r"seed must be .* 2\*\*31"),
        ({"units": 2, "num_examples": 10, "kl_weight": -1.0}, ValueError, "kl_weight must be >= 0"),
        (
            {"units": 2, "num_examples": 10, "kl_weight": float("inf")},
            ValueError,
            "kl_weight must be finite",
        ),
        (
            {"units": 2, "num_examples": 10, "kernel_divergence_fn": None},
            ValueError,
            "kernel_divergence_fn is set by tfp_dense_flipout",
        ),
    ],
)
def test_bad_arguments_are_rejected_with_a_clear_message(kwargs, error, message):
    with pytest.raises(error, match=message):
        tfp_dense_flipout(**kwargs)
