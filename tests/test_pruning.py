"""bnnlib.pruning.prune: which weights go, how a removed one is represented, original kept."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from bnnlib.models import build_mlp
from bnnlib.pruning import prunable_layers, prune

X = np.random.default_rng(0).normal(size=(8, 6)).astype(np.float32)


def model_of(kind, seed=0):
    return build_mlp(
        kind, input_dim=6, hidden_units=(10,), output_dim=3, num_examples=50, seed=seed
    )


def kernel_mean_and_sigma(layer):
    """μ (or w) and σ (0 for Dense) of a layer's kernel, read through each family's public API."""
    if hasattr(layer, "kernel_posterior"):
        posterior = layer.kernel_posterior.distribution
        return posterior.loc.numpy(), tf.convert_to_tensor(posterior.scale).numpy()
    if hasattr(layer, "rho"):
        return layer.loc.numpy(), layer.sigma.numpy()
    return layer.kernel.numpy(), np.zeros(layer.kernel.shape)


@pytest.mark.parametrize("kind", ["flipout", "tfp_flipout", "dense"])
@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.75, 1.0])
def test_the_fraction_of_each_kernel_is_zero(kind, fraction):
    pruned = prune(model_of(kind), fraction, by="random", seed=1)
    for layer in prunable_layers(pruned):
        mean, _ = kernel_mean_and_sigma(layer)
        assert np.sum(mean == 0) == round(fraction * mean.size)


def test_snr_removes_the_weights_of_lowest_mu_over_sigma():
    model = model_of("flipout")
    layer = model.layers[0]
    rng = np.random.default_rng(2)
    # Means and σ chosen so that the order by |μ|/σ differs from the order by |μ|.
    layer.loc.assign(rng.normal(size=layer.loc.shape))
    layer.rho.assign(rng.normal(-1.0, 1.5, size=layer.rho.shape))
    snr = np.abs(layer.loc.numpy()) / layer.sigma.numpy()
    pruned = prune(model, 0.5, by="snr").layers[0]
    removed = pruned.loc.numpy() == 0
    assert snr[removed].max() < snr[~removed].min()
    magnitude_removed = prune(model, 0.5, by="magnitude").layers[0].loc.numpy() == 0
    assert not np.array_equal(removed, magnitude_removed)


def test_magnitude_removes_the_smallest_dense_weights():
    model = model_of("dense")
    w = model.layers[0].kernel.numpy()
    pruned = prune(model, 0.4, by="magnitude").layers[0].kernel.numpy()
    removed = pruned == 0
    assert np.abs(w[removed]).max() < np.abs(w[~removed]).min()
    np.testing.assert_array_equal(pruned[~removed], w[~removed])


def test_magnitude_on_tfp_layers_uses_the_posterior_mean():
    model = model_of("tfp_flipout")
    mean, _ = kernel_mean_and_sigma(model.layers[1])
    pruned_mean, _ = kernel_mean_and_sigma(prune(model, 0.5, by="magnitude").layers[1])
    removed = pruned_mean == 0
    assert np.abs(mean[removed]).max() < np.abs(mean[~removed]).min()


def test_a_removed_bnnlib_weight_has_sigma_exactly_zero_and_infinite_kl():
    pruned = prune(model_of("flipout"), 0.5, by="snr")
    layer = pruned.layers[0]
    removed = layer.loc.numpy() == 0
    assert np.all(layer.sigma.numpy()[removed] == 0.0)
    assert np.all(layer.sigma.numpy()[~removed] > 0.0)
    assert np.isposinf(layer.kl_divergence().numpy())


def test_a_removed_tfp_weight_has_sigma_of_machine_epsilon_and_finite_kl():
    pruned = prune(model_of("tfp_flipout"), 0.5, by="snr")
    _, sigma = kernel_mean_and_sigma(pruned.layers[0])
    _, kept_sigma = kernel_mean_and_sigma(model_of("tfp_flipout").layers[0])
    eps = np.finfo(np.float32).eps
    assert np.sum(sigma == eps) == sigma.size // 2
    pruned(X)
    assert np.all(np.isfinite([loss.numpy() for loss in pruned.losses]))
    assert kept_sigma.min() > 100 * eps


def test_fully_pruned_bayesian_layer_gives_deterministic_outputs_from_the_biases():
    pruned = prune(model_of("flipout"), 1.0, by="snr")
    first, second = pruned(X).numpy(), pruned(X).numpy()
    np.testing.assert_array_equal(first, second)
    # With every kernel weight zero, the output is the output bias for every input.
    np.testing.assert_allclose(first, np.tile(pruned.layers[-1].bias.numpy(), (len(X), 1)))


@pytest.mark.parametrize("kind", ["flipout", "tfp_flipout", "dense"])
def test_the_original_model_is_untouched(kind):
    model = model_of(kind)
    before = [w.copy() for w in model.get_weights()]
    pruned = prune(model, 0.9, by="random", seed=0)
    for old, now in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, now)
    assert pruned is not model


def test_pruning_nothing_keeps_the_predictions_of_a_bnnlib_model():
    # The copy carries the noise counter, so it continues the original's noise sequence.
    model = model_of("flipout")
    copy = prune(model, 0.0, by="snr")
    np.testing.assert_array_equal(copy(X).numpy(), model(X).numpy())


def test_random_pruning_is_seeded():
    model = model_of("dense")
    a = prune(model, 0.5, by="random", seed=3).layers[0].kernel.numpy()
    b = prune(model, 0.5, by="random", seed=3).layers[0].kernel.numpy()
    c = prune(model, 0.5, by="random", seed=4).layers[0].kernel.numpy()
    np.testing.assert_array_equal(a == 0, b == 0)
    assert not np.array_equal(a == 0, c == 0)


def test_biases_are_not_pruned():
    model = model_of("dense")
    model.layers[0].bias.assign(np.full(10, 0.01, dtype=np.float32))
    pruned = prune(model, 1.0, by="magnitude")
    np.testing.assert_array_equal(pruned.layers[0].bias.numpy(), model.layers[0].bias.numpy())


def test_snr_on_a_dense_model_is_refused():
    with pytest.raises(ValueError, match="by='snr' needs a posterior σ, but layer 'hidden_1'"):
        prune(model_of("dense"), 0.5, by="snr")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"fraction": 1.5}, ValueError, r"fraction must be in \[0, 1\], got 1.5"),
        ({"fraction": -0.1}, ValueError, "fraction must be >= 0.0"),
        ({"fraction": "half"}, TypeError, "fraction must be a real number"),
        ({"fraction": 0.5, "by": "size"}, ValueError, "by must be one of"),
        ({"fraction": 0.5, "by": "random", "seed": -2}, ValueError, "seed must be an integer"),
    ],
)
def test_prune_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        prune(model_of("dense"), **kwargs)


def test_prune_rejects_what_is_not_a_model():
    with pytest.raises(TypeError, match="model must be a tf_keras Model, got Dense"):
        prune(keras.layers.Dense(3), 0.5)


def test_prune_rejects_a_model_without_prunable_layers():
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Activation("relu")])
    with pytest.raises(ValueError, match="model has no prunable layer"):
        prune(model, 0.5)


def test_prune_rejects_an_unbuilt_model():
    model = keras.Sequential([keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="model must be built"):
        prune(model, 0.5, by="magnitude")
