"""Specifications of bnnlib.dropout.MCDropout and the mc_dropout kind of build_mlp."""

import numpy as np
import pytest
import tf_keras as keras

from bnnlib.dropout import MCDropout
from bnnlib.models import build_mlp


def test_dropout_stays_on_at_prediction():
    layer = MCDropout(0.5, seed=0)
    x = np.ones((4, 50), np.float32)
    first, second = layer(x, training=False).numpy(), layer(x, training=False).numpy()
    assert not np.array_equal(first, second)
    assert set(np.unique(first)) <= {0.0, 2.0}  # dropped, or scaled by 1 / (1 - rate)


def test_dropout_keeps_the_expected_value():
    out = MCDropout(0.3, seed=1)(np.ones((200, 500), np.float32)).numpy()
    # 100k Bernoulli(0.7) entries scaled by 1/0.7: standard error of the mean is
    # sqrt(0.3/0.7)/sqrt(1e5) = 0.002; 0.01 is five standard errors.
    assert abs(out.mean() - 1.0) < 0.01
    assert abs((out == 0).mean() - 0.3) < 0.01


def test_the_seed_decides_the_masks():
    x = np.ones((3, 20), np.float32)
    same = MCDropout(0.5, seed=3)(x).numpy(), MCDropout(0.5, seed=3)(x).numpy()
    np.testing.assert_array_equal(*same)
    assert not np.array_equal(same[0], MCDropout(0.5, seed=4)(x).numpy())


def test_dropout_survives_saving(tmp_path):
    model = keras.Sequential([keras.Input((5,)), MCDropout(0.4, seed=2, name="drop")])
    model(np.ones((2, 5), np.float32))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    x = np.ones((2, 5), np.float32)
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())
    assert loaded.layers[0].rate == 0.4


def test_bad_rate_is_refused():
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\), got 1.0"):
        MCDropout(1.0)
    with pytest.raises(TypeError, match="rate must be a real number"):
        MCDropout("0.5")


def test_mc_dropout_mlp_starts_like_the_dense_one():
    dense = build_mlp("dense", input_dim=2, hidden_units=(6, 4), seed=5)
    dropout = build_mlp("mc_dropout", input_dim=2, hidden_units=(6, 4), seed=5, dropout_rate=0.2)
    names = [layer.name for layer in dropout.layers]
    assert names == ["hidden_1", "dropout_1", "hidden_2", "dropout_2", "output"]
    for name in ("hidden_1", "hidden_2", "output"):
        np.testing.assert_array_equal(
            dropout.get_layer(name).kernel.numpy(), dense.get_layer(name).kernel.numpy()
        )


def test_mc_dropout_needs_a_rate_and_only_it_takes_one():
    with pytest.raises(ValueError, match="kind='mc_dropout' needs dropout_rate"):
        build_mlp("mc_dropout", input_dim=1)
    with pytest.raises(ValueError, match=r"dropout_rate must be in \(0, 1\), got 1.5"):
        build_mlp("mc_dropout", input_dim=1, dropout_rate=1.5)
    with pytest.raises(ValueError, match="dropout_rate is only used by kind='mc_dropout'"):
        build_mlp("dense", input_dim=1, dropout_rate=0.1)
