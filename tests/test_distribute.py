"""bnnlib under tf.distribute.MirroredStrategy, on a CPU split into two logical devices.

Logical devices must be configured before TensorFlow initialises, so the training runs in a
fresh Python process that prints its findings as JSON.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import json
    import warnings

    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    import tf_keras as keras

    import bnnlib
    from bnnlib.layers import FlipoutDense, LocalReparameterizationDense, ReparameterizationDense
    from bnnlib.posterior import layer_posterior
    from bnnlib.tfp_layers import tfp_dense_flipout
    from bnnlib.tracking import PosteriorTracker

    warnings.simplefilter("ignore")  # TFP warns about stateful seeds in a replica context
    bnnlib.set_seed(0)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    N = 64
    with strategy.scope():
        model = keras.Sequential(
            [
                keras.Input((3,)),
                FlipoutDense(8, "tanh", kl_weight=1 / N, seed=1, name="flipout"),
                ReparameterizationDense(6, "tanh", kl_weight=1 / N, seed=2, name="reparam"),
                LocalReparameterizationDense(5, "tanh", kl_weight=1 / N, seed=3, name="local"),
                tfp_dense_flipout(4, N, activation="tanh", seed=4, name="tfp"),
                keras.layers.Dense(1, name="dense"),
            ]
        )
        model.compile(keras.optimizers.Adam(0.01), "mse")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, 3)).astype("float32")
    y = (x[:, :1] - 0.5 * x[:, 1:2]).astype("float32")
    tracker = PosteriorTracker(every=2)
    fit = model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[tracker])
    results = {"replicas": strategy.num_replicas_in_sync, "loss": fit.history["loss"]}

    # The tracker's last record holds the trained variables, layer by layer.
    history = tracker.history
    for name in history.layers:
        loc, sigma, bias_loc, _ = layer_posterior(model.get_layer(name)).read()
        results[f"record_equals_{name}"] = bool(
            np.array_equal(history.loc(name)[-1], loc.reshape(-1))
            and (sigma is None or np.array_equal(history.sigma(name)[-1], sigma.reshape(-1)))
            and np.array_equal(history.bias_loc(name)[-1], bias_loc.reshape(-1))
        )
    results["records"] = len(history)

    # The same inputs on both replicas: bnnlib's layers must draw different noise on each.
    same = tf.constant(x[:4])
    for name in ("flipout", "reparam", "local"):
        layer = model.get_layer(name)
        inputs = same if name == "flipout" else model.layers[0](same)
        if name == "local":
            inputs = model.layers[1](inputs)

        @tf.function
        def noise(v, layer=layer):
            return layer.sample_noise(v)["eps"]

        first, second = strategy.experimental_local_results(strategy.run(noise, args=(inputs,)))
        results[f"noise_differs_{name}"] = bool(not np.allclose(first, second))
        counter = next(w for w in layer.weights if "noise_counter" in w.name)
        counters = [int(v.numpy()) for v in counter.values]
        results[f"counters_agree_{name}"] = len(set(counters)) == 1
    print("RESULTS " + json.dumps(results))
    """
)


@pytest.fixture(scope="module")
def results():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600, env=env
    )
    assert run.returncode == 0, run.stderr[-3000:]
    line = next(line for line in run.stdout.splitlines() if line.startswith("RESULTS "))
    return json.loads(line.removeprefix("RESULTS "))


def test_trains_on_two_replicas_with_finite_losses(results):
    assert results["replicas"] == 2
    assert all(abs(loss) < float("inf") for loss in results["loss"])


@pytest.mark.parametrize("name", ["flipout", "reparam", "local", "tfp", "dense"])
def test_tracker_records_equal_the_models_variables(results, name):
    assert results["records"] == 1 + 3 * 2  # every 2 of the 4 global steps per epoch
    assert results[f"record_equals_{name}"]


@pytest.mark.parametrize("name", ["flipout", "reparam", "local"])
def test_the_two_replicas_draw_different_noise(results, name):
    assert results[f"noise_differs_{name}"]


@pytest.mark.parametrize("name", ["flipout", "reparam", "local"])
def test_the_replicas_keep_one_noise_counter(results, name):
    assert results[f"counters_agree_{name}"]
