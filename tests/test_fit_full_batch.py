"""Specifications of bnnlib.training.fit_full_batch."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from bnnlib.models import build_mlp
from bnnlib.training import fit_full_batch, gaussian_nll

X = np.linspace(-1.0, 1.0, 16, dtype=np.float32)[:, None]
Y = np.sin(3.0 * X)


def nll(y_true, y_pred):
    return gaussian_nll(y_true, y_pred, 0.1)


def dense(seed):
    return build_mlp("dense", input_dim=1, hidden_units=(8,), seed=seed)


def test_training_lowers_the_loss():
    model = dense(0)
    before = float(nll(Y, model(X)))
    after = fit_full_batch(model, X, Y, nll, steps=200, learning_rate=0.02)
    assert after.shape == (1,)
    assert after[0] < 0.5 * before


def test_side_by_side_equals_one_after_the_other():
    alone = [dense(1), dense(2)]
    for model in alone:
        fit_full_batch(model, X, Y, nll, steps=50, learning_rate=0.02)
    together = [dense(1), dense(2)]
    fit_full_batch(together, X, Y, nll, steps=50, learning_rate=0.02)
    for one, other in zip(alone, together, strict=True):
        for a, b in zip(one.get_weights(), other.get_weights(), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def keras_adam_loop(model, steps, learning_rate):
    """The reference: tf_keras's own Adam, one ``apply_gradients`` per step, in a loop."""
    optimizer = keras.optimizers.Adam(learning_rate)
    variables = model.trainable_variables
    optimizer.build(variables)

    @tf.function(autograph=False)
    def step():
        with tf.GradientTape() as tape:
            value = nll(Y, model(X, training=True)) + tf.add_n(model.losses)
        gradients = tape.gradient(value, variables)
        optimizer.apply_gradients(zip(gradients, variables, strict=True))

    for _ in range(steps):
        step()


@pytest.mark.parametrize("constant_rate", [True, False], ids=["constant", "cosine"])
def test_the_updates_are_those_of_tf_keras_adam(constant_rate):
    # A Flipout net, so that the KL terms and the noise take part; the bnnlib layers draw the
    # same noise in both loops (stateless, keyed by their counters). Same float32 expressions,
    # so the weights agree to float32 round-off (1e-6), here over 30 steps.
    def rate():
        if constant_rate:
            return 0.02
        return keras.optimizers.schedules.CosineDecay(0.02, 30, alpha=0.01)

    ours, reference = (
        build_mlp("flipout", input_dim=1, hidden_units=(8,), num_examples=16, seed=3)
        for _ in range(2)
    )
    fit_full_batch(ours, X, Y, nll, steps=30, learning_rate=rate())
    keras_adam_loop(reference, steps=30, learning_rate=rate())
    for a, b in zip(ours.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_the_kl_terms_are_part_of_the_loss():
    flipout = build_mlp("flipout", input_dim=1, hidden_units=(8,), num_examples=1, seed=0)
    # With one "example" the KL weighs as much as the whole data term: sigma stays far from
    # its start of softplus(-3) = 0.049 on the hidden layer, pulled towards the prior's 1.
    fit_full_batch(flipout, X, Y, nll, steps=300, learning_rate=0.05)
    assert float(np.median(flipout.layers[0].sigma.numpy())) > 0.2


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="model must be a tf_keras Model"):
        fit_full_batch("net", X, Y, nll, steps=1)
    with pytest.raises(ValueError, match="empty list"):
        fit_full_batch([], X, Y, nll, steps=1)
    with pytest.raises(TypeError, match="loss must be callable"):
        fit_full_batch(dense(0), X, Y, "mse", steps=1)
    with pytest.raises(ValueError, match="steps must be an integer >= 1, got 0"):
        fit_full_batch(dense(0), X, Y, nll, steps=0)
    with pytest.raises(ValueError, match="learning_rate must be > 0"):
        fit_full_batch(dense(0), X, Y, nll, steps=1, learning_rate=0.0)
