"""Specifications of bnnlib.uncertainty: Monte-Carlo prediction and the uncertainty split."""

import warnings

import numpy as np
import pytest
import tf_keras as keras

from bnnlib.layers import ReparameterizationDense
from bnnlib.models import build_ensemble, build_mlp
from bnnlib.uncertainty import (
    Predictive,
    expected_entropy,
    mc_predict,
    mutual_information,
    predictive_entropy,
    variance_split,
)

X = np.linspace(-1.0, 1.0, 6, dtype=np.float32)[:, None]


def flipout_net(**kwargs):
    return build_mlp("flipout", input_dim=1, hidden_units=(8,), num_examples=10, seed=0, **kwargs)


def counters(model):
    return [int(w.numpy()) for w in model.non_trainable_weights if "noise_counter" in w.name]


# --- mc_predict: shapes ---------------------------------------------------------------------


def test_samples_have_shape_samples_batch_outputs():
    predictive = mc_predict(flipout_net(output_dim=3), X, n_samples=7, seed=0)
    assert isinstance(predictive, Predictive)
    assert predictive.samples.shape == (7, 6, 3)
    assert predictive.mean.shape == predictive.std.shape == (6, 3)
    assert predictive.n_samples == 7


def test_mean_and_std_are_those_of_the_samples():
    predictive = mc_predict(flipout_net(), X, n_samples=20, seed=0)
    samples = predictive.samples.astype(np.float64)
    np.testing.assert_allclose(predictive.mean, samples.sum(0) / 20, rtol=1e-5)
    spread = np.sqrt(((samples - samples.sum(0) / 20) ** 2).sum(0) / 20)
    np.testing.assert_allclose(predictive.std, spread, rtol=1e-4)
    assert np.all(predictive.std > 0)  # a Flipout net's passes differ


def test_the_predictive_is_frozen():
    predictive = mc_predict(flipout_net(), X, n_samples=2, seed=0)
    with pytest.raises(AttributeError):
        predictive.samples = None


# --- mc_predict: seeding ----------------------------------------------------------------------


def test_the_same_seed_gives_the_same_samples():
    net = flipout_net()
    first = mc_predict(net, X, n_samples=5, seed=4).samples
    np.testing.assert_array_equal(first, mc_predict(net, X, n_samples=5, seed=4).samples)
    assert not np.allclose(first, mc_predict(net, X, n_samples=5, seed=5).samples)


def test_a_seeded_call_leaves_the_noise_counters_as_they_were():
    net = flipout_net()
    net(X)
    before = counters(net)
    mc_predict(net, X, n_samples=5, seed=1)
    assert counters(net) == before


def test_unseeded_calls_continue_the_noise_sequence():
    net = flipout_net()
    first = mc_predict(net, X, n_samples=3).samples
    second = mc_predict(net, X, n_samples=3).samples
    assert not np.allclose(first, second)
    assert counters(net) == [6, 6]


def test_compiled_samples_equal_an_eager_loop_with_the_same_counters():
    net = flipout_net()
    compiled = mc_predict(net, X, n_samples=4, seed=2).samples
    for weight in net.non_trainable_weights:
        if "noise_counter" in weight.name:
            weight.assign(3 * 2**32)  # the counter value mc_predict reserves for seed 2
    eager = np.stack([net(X).numpy() for _ in range(4)])
    np.testing.assert_allclose(compiled, eager, rtol=1e-6, atol=1e-7)


def test_chunks_share_the_weight_draw_of_each_sample():
    # A shared-perturbation layer's output at a row depends only on the kernel drawn, so
    # chunked and unchunked calls agree exactly when chunks reuse the counters.
    net = keras.Sequential([keras.Input((1,)), ReparameterizationDense(3, seed=1)])
    whole = mc_predict(net, X, n_samples=4, seed=0).samples
    chunked = mc_predict(net, X, n_samples=4, seed=0, batch_size=4).samples
    np.testing.assert_allclose(chunked, whole, rtol=1e-6)


def test_compiled_and_eager_samples_agree_in_distribution_for_tfp_layers():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = build_mlp("tfp_flipout", input_dim=1, hidden_units=(8,), num_examples=10, seed=0)
    compiled = mc_predict(net, X, n_samples=400).std
    eager = np.stack([net(X).numpy() for _ in range(400)]).std(axis=0)
    # The std of 400 normal-ish draws has a relative standard error of about 1/sqrt(800)
    # = 3.5 %; 25 % is over 5 standard errors of the difference.
    np.testing.assert_allclose(compiled, eager, rtol=0.25)


# --- mc_predict: MC dropout, ensembles, transforms --------------------------------------------


def test_mc_dropout_samples_differ_and_repeat_with_the_seed():
    net = build_mlp("mc_dropout", input_dim=1, hidden_units=(16, 16), dropout_rate=0.3, seed=0)
    first = mc_predict(net, X, n_samples=6, seed=1).samples
    assert np.all(first.std(axis=0) > 0)
    np.testing.assert_array_equal(first, mc_predict(net, X, n_samples=6, seed=1).samples)


def test_an_ensembles_samples_are_its_members_outputs():
    members = build_ensemble(3, input_dim=1, hidden_units=(8,), seed=0)
    samples = mc_predict(members, X, n_samples=1).samples
    assert samples.shape == (3, 6, 1)
    for sample, member in zip(samples, members, strict=True):
        np.testing.assert_allclose(sample, member(X).numpy(), rtol=1e-6)
    assert not np.allclose(samples[0], samples[1])  # different seeds, different functions


def test_ensemble_samples_are_stacked_member_after_member():
    members = [flipout_net(), build_mlp("dense", input_dim=1, hidden_units=(8,), seed=1)]
    samples = mc_predict(members, X, n_samples=3, seed=0).samples
    assert samples.shape == (6, 6, 1)
    np.testing.assert_array_equal(samples[:3], mc_predict(members[0], X, 3, seed=0).samples)
    np.testing.assert_allclose(samples[3:], np.broadcast_to(members[1](X).numpy(), (3, 6, 1)))


def test_softmax_transform_gives_probabilities():
    net = flipout_net(output_dim=4)
    predictive = mc_predict(net, X, n_samples=5, seed=0, transform="softmax")
    np.testing.assert_allclose(predictive.samples.sum(axis=-1), 1.0, rtol=1e-5)
    logits = mc_predict(net, X, n_samples=5, seed=0).samples
    expected = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(predictive.samples, expected, rtol=1e-5)


# --- mc_predict: bad input ----------------------------------------------------------------------


def test_bad_arguments_are_named():
    net = flipout_net()
    with pytest.raises(TypeError, match="model must be a tf_keras Model"):
        mc_predict("net", X, 2)
    with pytest.raises(ValueError, match="empty list"):
        mc_predict([], X, 2)
    with pytest.raises(ValueError, match=r"x must have shape \(batch, features\)"):
        mc_predict(net, np.zeros(3), 2)
    with pytest.raises(ValueError, match="n_samples must be an integer >= 1, got 0"):
        mc_predict(net, X, 0)
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        mc_predict(net, X, 2, batch_size=2.5)
    with pytest.raises(ValueError, match="seed must be an integer >= 0, got -1"):
        mc_predict(net, X, 2, seed=-1)
    with pytest.raises(ValueError, match="transform must be None, a callable"):
        mc_predict(net, X, 2, transform="no_such_activation")
    with pytest.raises(TypeError, match="transform must be None, a callable"):
        mc_predict(net, X, 2, transform=3)


# --- entropies --------------------------------------------------------------------------------

# Two samples, two inputs, two classes. Input 0: the samples agree on (0.5, 0.5). Input 1: they
# are sure and disagree, (1, 0) and (0, 1).
PROBS = np.array([[[0.5, 0.5], [1.0, 0.0]], [[0.5, 0.5], [0.0, 1.0]]])
LOG2 = np.log(2.0)


def test_predictive_entropy_by_hand():
    np.testing.assert_allclose(predictive_entropy(PROBS), [LOG2, LOG2])


def test_expected_entropy_by_hand():
    np.testing.assert_allclose(expected_entropy(PROBS), [LOG2, 0.0])


def test_mutual_information_by_hand():
    np.testing.assert_allclose(mutual_information(PROBS), [0.0, LOG2], atol=1e-12)


def test_mutual_information_is_predictive_minus_expected_and_not_negative():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(5), size=(30, 40))  # (samples, batch, classes)
    mi = mutual_information(probs)
    assert mi.shape == (40,)
    np.testing.assert_allclose(mi, predictive_entropy(probs) - expected_entropy(probs))
    assert np.all(mi >= 0)


def test_entropy_of_a_three_class_distribution_by_hand():
    probs = np.array([[[0.2, 0.3, 0.5]]])
    by_hand = -(0.2 * np.log(0.2) + 0.3 * np.log(0.3) + 0.5 * np.log(0.5))
    np.testing.assert_allclose(predictive_entropy(probs), [by_hand])


def test_bad_probabilities_are_refused():
    with pytest.raises(ValueError, match=r"shape \(samples, batch, classes\)"):
        predictive_entropy(np.ones((2, 3)) / 3)
    with pytest.raises(ValueError, match="sum to 1"):
        expected_entropy(np.ones((1, 2, 3)))
    with pytest.raises(ValueError, match=">= 0"):
        mutual_information(np.array([[[1.5, -0.5]]]))
    with pytest.raises(TypeError, match="probs must be an array of numbers"):
        predictive_entropy([["a"]])


# --- regression split -------------------------------------------------------------------------


def test_variance_split_by_hand():
    means = np.array([[[1.0]], [[3.0]]])  # two samples, one input
    scales = np.array([[[1.0]], [[2.0]]])
    split = variance_split(means, scales)
    np.testing.assert_allclose(split.mean, [[2.0]])
    np.testing.assert_allclose(split.aleatoric, [[2.5]])  # (1 + 4) / 2
    np.testing.assert_allclose(split.epistemic, [[1.0]])  # ((1-2)^2 + (3-2)^2) / 2
    np.testing.assert_allclose(split.total, [[3.5]])


def test_variance_split_matches_the_mixture_variance():
    # The mixture of Normal(m_s, σ_s) with equal weights has this variance; draw from it.
    rng = np.random.default_rng(1)
    means, scales = rng.normal(size=(4, 1, 1)), rng.uniform(0.5, 2.0, size=(4, 1, 1))
    components = rng.integers(0, 4, 400_000)
    draws = rng.normal(means[components, 0, 0], scales[components, 0, 0])
    # Relative standard error of a variance from 400k draws is about 0.3 %; 2 % is > 6 of them.
    np.testing.assert_allclose(variance_split(means, scales).total[0, 0], draws.var(), rtol=0.02)


def test_variance_split_takes_a_fixed_noise_scale():
    split = variance_split(np.zeros((3, 2, 1)), 0.5)
    np.testing.assert_allclose(split.aleatoric, 0.25)
    np.testing.assert_allclose(split.epistemic, 0.0)


def test_variance_split_refuses_bad_scales():
    with pytest.raises(ValueError, match="scales must be finite and > 0"):
        variance_split(np.zeros((3, 2, 1)), 0.0)
    with pytest.raises(ValueError, match="scales must broadcast"):
        variance_split(np.zeros((3, 2, 1)), np.ones((4,)))
    with pytest.raises(ValueError, match=r"means must have shape \(samples, batch, outputs\)"):
        variance_split(np.zeros((3, 2)), 1.0)
