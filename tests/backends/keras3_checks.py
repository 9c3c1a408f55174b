"""Checks of bnnlib.keras3 that need no TensorFlow, run under whichever Keras backend is set.

tests/test_keras3_backends.py runs this file in a fresh process with ``KERAS_BACKEND`` set, since
Keras picks its backend once, at import. Everything is compared with NumPy, never with the
backend's own arithmetic. It prints ``ok <backend>`` at the end; any failed check raises.
"""

import os
import tempfile
from pathlib import Path

import keras
import numpy as np
from keras import ops

from bnnlib.keras3 import FlipoutDense, PosteriorRecorder

BATCH, IN, UNITS = 5, 4, 3


def softplus(x):
    return np.logaddexp(0.0, x)


def check_forward_is_the_flipout_formula(layer, x):
    rng = np.random.default_rng(1)
    eps = rng.normal(size=(IN, UNITS)).astype(np.float32)
    sign_in = rng.choice([-1.0, 1.0], size=(BATCH, IN)).astype(np.float32)
    sign_out = rng.choice([-1.0, 1.0], size=(BATCH, UNITS)).astype(np.float32)
    loc = np.asarray(ops.convert_to_numpy(layer.loc), np.float64)
    sigma = softplus(np.asarray(ops.convert_to_numpy(layer.rho), np.float64))
    bias = np.asarray(ops.convert_to_numpy(layer.bias), np.float64)
    expected = x @ loc + ((x * sign_in) @ (sigma * eps)) * sign_out + bias
    got = ops.convert_to_numpy(layer.forward(x, eps, sign_in, sign_out))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def check_noise_has_the_right_shapes_and_values(layer, x):
    noise = layer.sample_noise(x)
    eps = ops.convert_to_numpy(noise["eps"])
    assert eps.shape == (IN, UNITS), eps.shape
    for name, shape in (("sign_in", (BATCH, IN)), ("sign_out", (BATCH, UNITS))):
        signs = ops.convert_to_numpy(noise[name])
        assert signs.shape == shape, (name, signs.shape)
        assert set(np.unique(signs)) <= {-1.0, 1.0}, (name, np.unique(signs))


def check_kl_is_the_closed_form(layer):
    loc = np.asarray(ops.convert_to_numpy(layer.loc), np.float64)
    sigma = softplus(np.asarray(ops.convert_to_numpy(layer.rho), np.float64))
    p = layer.prior_scale
    expected = np.sum(np.log(p / sigma) + (sigma**2 + loc**2) / (2 * p**2) - 0.5)
    got = float(ops.convert_to_numpy(layer.kl_divergence()))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def check_calls_draw_new_noise_and_seeds_repeat(x):
    first, again = FlipoutDense(UNITS, seed=3), FlipoutDense(UNITS, seed=3)
    outputs = [ops.convert_to_numpy(first(x)) for _ in range(2)]
    np.testing.assert_array_equal(outputs[0], ops.convert_to_numpy(again(x)))
    assert not np.allclose(outputs[0], outputs[1])


def check_fit_lowers_the_loss_and_the_recorder_records():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, IN)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5], [0.0]], dtype=np.float32)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((IN,)), FlipoutDense(1, kl_weight=1 / 256, seed=0)])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    recorder = PosteriorRecorder()
    history = model.fit(x, y, epochs=30, batch_size=64, verbose=0, callbacks=[recorder])
    assert history.history["loss"][-1] < 0.2 * history.history["loss"][0], history.history
    name = model.layers[0].name
    assert recorder.loc(name).shape == (31, IN), recorder.loc(name).shape  # start + 30 epochs
    final_loc = ops.convert_to_numpy(model.layers[0].loc).reshape(-1)
    np.testing.assert_array_equal(recorder.loc(name)[-1], final_loc)


def check_a_saved_model_loads_with_the_same_variables_and_next_outputs(x):
    model = keras.Sequential(
        [keras.Input((IN,)), FlipoutDense(8, activation="tanh", seed=5), FlipoutDense(1, seed=6)]
    )
    model(x)  # advance the noise state, so the check sees it saved
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        model.save(path)
        loaded = keras.models.load_model(path)
    for ours, theirs in zip(model.variables, loaded.variables, strict=True):
        np.testing.assert_array_equal(ops.convert_to_numpy(ours), ops.convert_to_numpy(theirs))
    np.testing.assert_array_equal(ops.convert_to_numpy(model(x)), ops.convert_to_numpy(loaded(x)))


def main() -> None:
    x = np.random.default_rng(0).normal(size=(BATCH, IN)).astype(np.float32)
    layer = FlipoutDense(UNITS, seed=0)
    layer.build((None, IN))
    check_forward_is_the_flipout_formula(layer, x)
    check_noise_has_the_right_shapes_and_values(layer, x)
    check_kl_is_the_closed_form(layer)
    check_calls_draw_new_noise_and_seeds_repeat(x)
    check_fit_lowers_the_loss_and_the_recorder_records()
    check_a_saved_model_loads_with_the_same_variables_and_next_outputs(x)
    # Keras reads KERAS_BACKEND once, at import: the checks above ran on that backend.
    assert keras.backend.backend() == os.environ["KERAS_BACKEND"], keras.backend.backend()
    print("ok", keras.backend.backend())


if __name__ == "__main__":
    main()
