"""Time NUTS on Chapter 8's network: seconds, and effective draws per second.

The problem of Chapter 8: 40 points in two clusters, a 1-30-1 tanh network (91 parameters),
prior N(0, 1), noise scale 0.1; 4 chains × (1000 warm-up + 1000 draws), trees of depth at most
6, all chains in one XLA call. The first run includes XLA's compilation; a second run with
another seed reuses the compiled sampler, so the table separates the two. ESS is the smallest
effective sample size of the predictions f(x) on a grid over [-2, 2] (the weights' ESS is low
by design: the chains sit in different, equivalent modes).

Run:  TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python benchmarks/bench_hmc.py
"""

from __future__ import annotations

import os
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tf_keras as keras  # noqa: E402

from bnnlib.hmc import sample_posterior  # noqa: E402


def problem():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-1.0, -0.5, 20), rng.uniform(0.5, 1.0, 20)])
    x = np.sort(x)[:, None].astype(np.float32)
    y = (np.sin(3 * x) + 0.1 * rng.standard_normal(x.shape)).astype(np.float32)
    model = keras.Sequential(
        [keras.Input((1,)), keras.layers.Dense(30, activation="tanh"), keras.layers.Dense(1)]
    )
    return model, x, y


def main():
    model, x, y = problem()
    grid = np.linspace(-2, 2, 161, dtype=np.float32)[:, None]
    print(f"{'run':<22}{'wall s':>8}{'CPU s':>8}{'min ESS f(x)':>14}{'ESS/wall s':>12}")
    for label, seed in (("first (compiles)", 0), ("second (compiled)", 1)):
        wall, cpu = time.perf_counter(), time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the weights' R-hat, expected
            posterior = sample_posterior(model, x, y, 0.1, seed=seed, max_tree_depth=6)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        ess = posterior.predictive_diagnostics(grid)[1].min()
        print(f"{label:<22}{wall:>8.1f}{cpu:>8.1f}{ess:>14.0f}{ess / wall:>12.0f}")


if __name__ == "__main__":
    main()
