"""Specifications of the heteroscedastic head (bnnlib.models) and its NLL (bnnlib.training)."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras as keras

from bnnlib.models import MIN_SCALE, MeanAndScale, build_mlp, split_mean_scale
from bnnlib.training import HeteroscedasticNLL, heteroscedastic_nll

tfd = tfp.distributions


def test_the_head_outputs_means_and_positive_scales():
    raw = np.array([[0.3, -50.0], [-1.0, 2.0]], np.float32)
    out = MeanAndScale()(raw).numpy()
    np.testing.assert_allclose(out[:, 0], [0.3, -1.0])
    np.testing.assert_allclose(out[:, 1], np.log1p(np.exp([-50.0, 2.0])) + MIN_SCALE, rtol=1e-6)


def test_a_heteroscedastic_mlp_ends_in_the_head():
    model = build_mlp("flipout", input_dim=1, output_dim=2, num_examples=9, heteroscedastic=True)
    assert model.layers[-1].name == "mean_and_scale"
    out = model(np.zeros((3, 1), np.float32)).numpy()
    assert out.shape == (3, 4)
    assert np.all(split_mean_scale(out)[1] > 0)


def test_split_mean_scale_refuses_an_odd_width():
    with pytest.raises(ValueError, match="even last dimension"):
        split_mean_scale(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="even last dimension"):
        MeanAndScale()(np.zeros((2, 3), np.float32))


def test_nll_equals_tfp_normal_log_prob():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(8, 2)).astype(np.float32)
    mean = rng.normal(size=(8, 2)).astype(np.float32)
    scale = rng.uniform(0.1, 2.0, size=(8, 2)).astype(np.float32)
    expected = -tf.reduce_mean(tf.reduce_sum(tfd.Normal(mean, scale).log_prob(y), axis=-1)).numpy()
    got = heteroscedastic_nll(y, np.concatenate([mean, scale], axis=-1)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_keras_loss_matches_the_function_and_survives_saving(tmp_path):
    model = build_mlp("dense", input_dim=1, hidden_units=(4,), heteroscedastic=True)
    model.compile(optimizer="sgd", loss=HeteroscedasticNLL())
    x, y = np.linspace(0, 1, 5, dtype=np.float32)[:, None], np.ones((5, 1), np.float32)
    expected = heteroscedastic_nll(y, model(x)).numpy()
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), expected, rtol=1e-5)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy())
    np.testing.assert_allclose(loaded.evaluate(x, y, verbose=0), expected, rtol=1e-5)


def test_learning_the_scale_finds_the_noise():
    # Targets 0 with noise 0.5 everywhere: the best constant scale is 0.5.
    rng = np.random.default_rng(0)
    x = np.zeros((400, 1), np.float32)
    y = rng.normal(0.0, 0.5, size=(400, 1)).astype(np.float32)
    model = build_mlp("dense", input_dim=1, hidden_units=(4,), heteroscedastic=True, seed=1)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=HeteroscedasticNLL())
    model.fit(x, y, epochs=300, batch_size=400, verbose=0)
    scale = split_mean_scale(model(x[:1]).numpy())[1][0, 0]
    # The sample std of 400 draws is within about 0.5 / sqrt(800) = 0.018 of 0.5; allow 0.05.
    assert abs(scale - y.std()) < 0.05
