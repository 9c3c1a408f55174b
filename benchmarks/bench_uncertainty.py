"""Time Monte-Carlo prediction: ``mc_predict``'s compiled sampler against a Python loop.

The network: a FlipoutDense MLP with one input, two hidden layers of 32 ReLU units and one
output (the book's toy-curve network); 200 inputs; 100 samples. Two ways to draw them:

* "eager loop": ``np.stack([model(x).numpy() for _ in range(100)])``, what most tutorials do;
* "mc_predict": :func:`bnnlib.uncertainty.mc_predict`, one ``tf.function`` call drawing all
  samples in a ``tf.while_loop`` (compiled once, on a warm-up call, and reused).

After a warm-up the two are timed in turns (A, B, A, B, ...) so that a load change on a shared
machine hits both alike; the table gives each one's median time over the repeats, the ratio of
the medians and the median of the per-round ratios.

Run:  TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python benchmarks/bench_uncertainty.py [--repeats 7]
      [--samples 100] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bnnlib.models import build_mlp  # noqa: E402
from bnnlib.uncertainty import mc_predict  # noqa: E402

BATCH = 200


def eager_loop(model, x, n_samples):
    """The samples drawn by a Python loop of eager calls."""
    return np.stack([model(x).numpy() for _ in range(n_samples)])


def compiled(model, x, n_samples):
    """The samples drawn by mc_predict."""
    return mc_predict(model, x, n_samples).samples


def seconds(function, *args):
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    model = build_mlp("flipout", input_dim=1, hidden_units=(32, 32), num_examples=BATCH, seed=0)
    x = np.linspace(-1.0, 1.0, BATCH, dtype=np.float32)[:, None]
    variants = {"eager loop": eager_loop, "mc_predict": compiled}
    for function in variants.values():  # warm-up: build, trace, compile
        function(model, x, args.samples)
    times = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, function in variants.items():
            times[name].append(seconds(function, model, x, args.samples))

    eager, fast = np.array(times["eager loop"]), np.array(times["mc_predict"])
    print(
        f"{args.samples} samples of a 1-32-32-1 FlipoutDense MLP on {BATCH} inputs; "
        f"{args.repeats} rounds; TF {tf.__version__}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs"
    )
    print(f"{'variant':<12} {'median (ms)':>12} {'min (ms)':>10}")
    for name, values in times.items():
        print(f"{name:<12} {1e3 * np.median(values):>12.1f} {1e3 * np.min(values):>10.1f}")
    print(f"speed-up, ratio of medians:   {np.median(eager) / np.median(fast):.1f}x")
    print(f"speed-up, median of ratios:   {np.median(eager / fast):.1f}x")


if __name__ == "__main__":
    main()
