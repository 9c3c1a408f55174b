"""Specifications of the ELBO pieces in bnnlib.training."""

import math
import warnings

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from bnnlib.data import toy_regression
from bnnlib.layers import FlipoutDense, LocalReparameterizationDense
from bnnlib.tfp_layers import tfp_dense_flipout
from bnnlib.training import (
    GaussianNLL,
    KLAnnealing,
    gaussian_nll,
    kl_weight_per_example,
    model_kl,
)


def normal_nll(y, mean, scale):
    """-log Normal(y | mean, scale), elementwise, written out."""
    return 0.5 * math.log(2 * math.pi) + np.log(scale) + (y - mean) ** 2 / (2 * scale**2)


def targets_and_predictions(shape=(8, 1), seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=shape).astype(np.float32),
        rng.normal(size=shape).astype(np.float32),
    )


# --- Gaussian NLL --------------------------------------------------------------------------


def test_gaussian_nll_equals_the_closed_form():
    y, mean = targets_and_predictions()
    expected = normal_nll(y.astype(np.float64), mean, 0.3).mean()
    np.testing.assert_allclose(gaussian_nll(y, mean, 0.3).numpy(), expected, rtol=1e-6)


def test_gaussian_nll_accepts_a_noise_scale_per_example():
    y, mean = targets_and_predictions()
    scale = np.linspace(0.1, 2.0, 8, dtype=np.float32).reshape(8, 1)
    expected = normal_nll(y.astype(np.float64), mean, scale).mean()
    np.testing.assert_allclose(
        gaussian_nll(y, mean, tf.constant(scale)).numpy(), expected, rtol=1e-6
    )


def test_gaussian_nll_sums_over_the_outputs_of_one_example():
    y, mean = targets_and_predictions(shape=(8, 3))
    expected = normal_nll(y.astype(np.float64), mean, 0.5).sum(axis=1).mean()
    np.testing.assert_allclose(gaussian_nll(y, mean, 0.5).numpy(), expected, rtol=1e-6)


def test_gaussian_nll_pairs_flat_targets_with_column_predictions_example_by_example():
    y, mean = targets_and_predictions()
    np.testing.assert_allclose(
        gaussian_nll(y[:, 0], mean, 0.3).numpy(), gaussian_nll(y, mean, 0.3).numpy()
    )


@pytest.mark.parametrize(
    ("noise_scale", "error"),
    [
        (0.0, ValueError),
        (-1.0, ValueError),
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        ("0.1", TypeError),
        (None, TypeError),
        (True, TypeError),
        (np.array([[0.1], [0.0]], np.float32), ValueError),
        (tf.constant([1, 2]), TypeError),
    ],
)
def test_gaussian_nll_rejects_bad_noise_scales(noise_scale, error):
    y, mean = targets_and_predictions(shape=(2, 1))
    with pytest.raises(error, match="noise_scale"):
        gaussian_nll(y, mean, noise_scale)


def test_gaussian_nll_with_one_scale_per_example_scores_each_example_with_its_own():
    y, mean = targets_and_predictions(shape=(4, 1))
    scales = np.array([0.1, 0.2, 0.5, 1.0], np.float32)
    # Written out example by example: example i is scored with scale i only.
    expected = np.mean([normal_nll(y[i, 0], mean[i, 0], scales[i]) for i in range(4)])
    np.testing.assert_allclose(gaussian_nll(y, mean, scales).numpy(), expected, rtol=1e-5)


def test_gaussian_nll_with_a_column_of_scales_scores_each_example_with_its_own():
    y, mean = targets_and_predictions(shape=(4, 2))
    scales = np.array([[0.1], [0.2], [0.5], [1.0]], np.float32)
    expected = np.mean(
        [sum(normal_nll(y[i, j], mean[i, j], scales[i, 0]) for j in range(2)) for i in range(4)]
    )
    np.testing.assert_allclose(gaussian_nll(y, mean, scales).numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("shape", [(3,), (4, 2), (2, 2), (4, 1, 1)])
def test_gaussian_nll_refuses_a_scale_not_aligned_with_the_examples(shape):
    y, mean = targets_and_predictions(shape=(4, 1))
    with pytest.raises(ValueError, match=r"noise_scale must have shape \(\), \(4,\)"):
        gaussian_nll(y, mean, np.full(shape, 0.5, np.float32))


def test_gaussian_nll_refuses_an_empty_batch():
    with pytest.raises(ValueError, match="empty batch"):
        gaussian_nll(np.zeros((0, 1)), np.zeros((0, 1), np.float32), 0.5)


def test_gaussian_nll_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        gaussian_nll(np.zeros((4, 2)), np.zeros((4, 3), np.float32), 1.0)


def test_gaussian_nll_loss_averages_the_same_nll_over_the_batch():
    y, mean = targets_and_predictions()
    loss = GaussianNLL(0.3)
    np.testing.assert_allclose(loss(y, mean).numpy(), gaussian_nll(y, mean, 0.3).numpy(), rtol=1e-6)


def test_gaussian_nll_loss_round_trips_through_keras_serialization():
    restored = keras.losses.deserialize(keras.losses.serialize(GaussianNLL(0.25)))
    assert isinstance(restored, GaussianNLL)
    assert restored.noise_scale == 0.25


@pytest.mark.parametrize("noise_scale", [0.0, -0.5, float("nan")])
def test_gaussian_nll_loss_rejects_bad_noise_scales(noise_scale):
    with pytest.raises(ValueError, match="noise_scale"):
        GaussianNLL(noise_scale)


# --- KL scaling ----------------------------------------------------------------------------


def test_kl_weight_per_example_is_one_over_n():
    assert kl_weight_per_example(250) == 1 / 250
    assert kl_weight_per_example(1) == 1.0


@pytest.mark.parametrize(("value", "error"), [(0, ValueError), (-5, ValueError), (2.0, TypeError)])
def test_kl_weight_per_example_rejects_bad_sizes(value, error):
    with pytest.raises(error, match="num_examples"):
        kl_weight_per_example(value)


def small_flipout_model(kl_weights=(0.5, 0.1), **kwargs):
    return keras.Sequential(
        [
            keras.Input(shape=(2,)),
            FlipoutDense(4, activation="relu", kl_weight=kl_weights[0], seed=1, **kwargs),
            LocalReparameterizationDense(1, kl_weight=kl_weights[1], seed=2, **kwargs),
        ]
    )


def test_model_kl_sums_the_weighted_kl_of_every_bayesian_layer():
    model = small_flipout_model()
    expected = sum(layer.kl_weight * layer.kl_divergence().numpy() for layer in model.layers)
    np.testing.assert_allclose(model_kl(model).numpy(), expected, rtol=1e-6)


def test_model_kl_equals_what_a_tfp_model_adds_to_its_losses():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TFP's add_variable deprecation
        model = keras.Sequential(
            [keras.Input(shape=(2,)), tfp_dense_flipout(3, num_examples=10, seed=0)]
        )
    model(np.zeros((1, 2), np.float32))
    np.testing.assert_allclose(model_kl(model).numpy(), sum(model.losses).numpy(), rtol=1e-6)


def test_model_kl_is_zero_without_bayesian_layers():
    model = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(3)])
    assert model_kl(model).numpy() == 0.0


def test_model_kl_rejects_unbuilt_layers_and_non_layers():
    with pytest.raises(ValueError, match="not built"):
        model_kl(FlipoutDense(3, seed=0))
    with pytest.raises(TypeError, match="tf_keras"):
        model_kl("model")


# --- KL annealing --------------------------------------------------------------------------


def test_kl_annealing_ramps_each_layers_kl_weight_linearly_per_epoch():
    model = small_flipout_model(kl_weights=(0.5, 0.1))
    model.compile(keras.optimizers.SGD(0.0), GaussianNLL(1.0))
    seen = []

    def record_at_epoch_start(batch, logs):
        if batch == 0:
            seen.append([layer.kl_weight for layer in model.layers])

    record = keras.callbacks.LambdaCallback(on_train_batch_begin=record_at_epoch_start)
    x, y = np.zeros((4, 2), np.float32), np.zeros((4, 1), np.float32)
    annealing = KLAnnealing(model, epochs=4, start=0.0, end=1.0)
    model.fit(x, y, epochs=6, batch_size=4, verbose=0, callbacks=[annealing, record])

    # By the definition: factor = start + (end - start) * min(epoch / epochs, 1).
    factors = np.array([0.0, 0.25, 0.5, 0.75, 1.0, 1.0])
    np.testing.assert_allclose(seen, np.outer(factors, [0.5, 0.1]), rtol=1e-6)


def test_kl_annealing_can_ramp_down_and_accepts_a_list_of_layers():
    layer = FlipoutDense(2, kl_weight=2.0, seed=0)
    annealing = KLAnnealing([layer], epochs=2, start=1.0, end=0.5)
    annealing.on_epoch_begin(1)
    assert layer.kl_weight == pytest.approx(2.0 * 0.75)
    annealing.on_epoch_begin(5)
    assert layer.kl_weight == pytest.approx(2.0 * 0.5)


def test_a_changed_kl_weight_changes_the_compiled_loss():
    # σ ≈ 1e-13 makes the outputs deterministic, so the loss difference is exactly the KL term.
    model = small_flipout_model(rho_initializer_mean=-30.0, rho_initializer_stddev=0.0)
    model.compile(keras.optimizers.SGD(0.0), GaussianNLL(1.0))
    x, y = np.ones((4, 2), np.float32), np.zeros((4, 1), np.float32)
    for layer in model.layers:
        layer.kl_weight = 0.0
    without_kl = model.evaluate(x, y, verbose=0)
    for layer in model.layers:
        layer.kl_weight = 1.0
    with_kl = model.evaluate(x, y, verbose=0)
    expected = sum(layer.kl_divergence().numpy() for layer in model.layers)
    np.testing.assert_allclose(with_kl - without_kl, expected, rtol=1e-4)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"epochs": 0}, ValueError),
        ({"epochs": 2.5}, TypeError),
        ({"epochs": 3, "start": -0.1}, ValueError),
        ({"epochs": 3, "end": float("nan")}, ValueError),
    ],
)
def test_kl_annealing_rejects_bad_arguments(kwargs, error):
    name = [key for key in kwargs if key != "epochs" or len(kwargs) == 1][0]
    with pytest.raises(error, match=name):
        KLAnnealing(small_flipout_model(), **kwargs)


def test_kl_annealing_needs_bnnlib_bayesian_layers():
    dense_model = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="no bnnlib Bayesian layer"):
        KLAnnealing(dense_model, epochs=3)
    with pytest.raises(TypeError, match="bnnlib Bayesian layer"):
        KLAnnealing([keras.layers.Dense(1)], epochs=3)
    with pytest.raises(ValueError, match="empty"):
        KLAnnealing([], epochs=3)
    with pytest.raises(TypeError, match="layers_or_model"):
        KLAnnealing(3, epochs=3)


def test_creating_kl_annealing_again_after_a_ramp_keeps_the_base_weight():
    model = small_flipout_model(kl_weights=(0.5, 0.1))
    x, y = np.ones((4, 2), np.float32), np.ones((4, 1), np.float32)
    model.compile("sgd", "mse")
    # A ramp cut short (2 of 10 epochs) leaves the weights low, as an interrupted cell does.
    model.fit(x, y, epochs=2, verbose=0, callbacks=[KLAnnealing(model, epochs=10)])
    assert model.layers[0].kl_weight < 0.5
    again = KLAnnealing(model, epochs=10)  # the cell run a second time
    bases = {
        layer.name: base for layer, base in zip(again.layers, again.base_kl_weights, strict=True)
    }
    np.testing.assert_allclose([bases[layer.name] for layer in model.layers], [0.5, 0.1], rtol=1e-6)


def test_kl_annealing_takes_a_weight_set_by_hand_after_a_ramp_as_the_new_base():
    model = small_flipout_model(kl_weights=(0.5, 0.1))
    KLAnnealing(model, epochs=10).on_epoch_begin(1)
    model.layers[0].kl_weight = 0.25
    again = KLAnnealing(model, epochs=10)
    bases = {
        layer.name: base for layer, base in zip(again.layers, again.base_kl_weights, strict=True)
    }
    assert bases[model.layers[0].name] == 0.25


# --- Putting it together -------------------------------------------------------------------


def test_a_small_flipout_network_trains_with_model_fit():
    x, y = toy_regression(n=64, noise=0.02, seed=0)
    model = keras.Sequential(
        [
            keras.Input(shape=(1,)),
            FlipoutDense(16, activation="relu", kl_weight=kl_weight_per_example(64), seed=0),
            FlipoutDense(1, kl_weight=kl_weight_per_example(64), seed=1),
        ]
    )
    model.compile(keras.optimizers.Adam(0.02), GaussianNLL(0.1))
    losses = model.fit(x, y, epochs=25, batch_size=32, verbose=0).history["loss"]
    assert np.all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3])
