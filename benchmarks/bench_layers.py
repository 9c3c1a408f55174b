"""Time one training step of the same MLP built from Dense, FlipoutDense and TFP DenseFlipout.

The network: 256 inputs, three hidden layers of 512 ReLU units, 10 softmax outputs; a batch
of 256 random examples; Adam; cross-entropy plus the layers' KL terms. Every variant runs the
same compiled step (``tf.function`` around forward pass, loss, gradients and update), on the
CPU. After a warm-up the variants are timed in turns (A, B, C, A, B, C, ...) so that a load
change on a shared machine hits them alike; the table reports each variant's median time per
step over the repeats, and the ratios Chapter 2 discusses
(ratio of the medians, and the median of the ratios within each round).

A fourth variant, "Two-kernel floor", shows what no Flipout layer can avoid: it does Flipout's
matrix products (two forward, four backward) and has its number of trainable weights (so Adam
updates as many), with fixed signs and no noise, softplus or KL. Its time over Dense's is the
floor for the FlipoutDense / Dense ratio in this benchmark.

profile_layers.py breaks the same step down by kind of op (matrix products, random draws,
softplus, ...), to show where the time above that floor goes.

Run:  TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python benchmarks/bench_layers.py [--repeats 7]
      [--steps 10] [--threads N] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402
from tqdm import tqdm  # noqa: E402

from bnnlib.layers import FlipoutDense  # noqa: E402
from bnnlib.tfp_layers import tfp_dense_flipout  # noqa: E402

INPUTS, HIDDEN, DEPTH, CLASSES, BATCH = 256, 512, 3, 10, 256
NUM_EXAMPLES = 50_000  # only scales the KL; any N gives the same cost
VARIANTS = ("Dense", "FlipoutDense", "TFP DenseFlipout", "Two-kernel floor")


class TwoKernelDense(keras.layers.Layer):
    """``x A + ((x ∘ s_in) B) ∘ s_out + b`` with fixed signs: Flipout's arithmetic, no noise."""

    def __init__(self, units, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        fan_in = int(input_shape[-1])
        init = keras.initializers.GlorotUniform(seed=0)
        self.mean_kernel = self.add_weight("mean_kernel", (fan_in, self.units), initializer=init)
        self.noise_kernel = self.add_weight("noise_kernel", (fan_in, self.units), initializer=init)
        self.bias = self.add_weight("bias", (self.units,), initializer="zeros")
        signs = np.random.default_rng(0).choice([-1.0, 1.0], size=(BATCH, fan_in + self.units))
        self.sign_in = tf.constant(signs[:, :fan_in], tf.float32)
        self.sign_out = tf.constant(signs[:, fan_in:], tf.float32)

    def call(self, inputs):
        perturbation = tf.matmul(inputs * self.sign_in, self.noise_kernel) * self.sign_out
        return self.activation(tf.matmul(inputs, self.mean_kernel) + perturbation + self.bias)


def make_layer(variant: str, units: int, activation: str, seed: int):
    """One layer of the benchmark network, of the given variant."""
    if variant == "Dense":
        return keras.layers.Dense(units, activation=activation)
    if variant == "Two-kernel floor":
        return TwoKernelDense(units, activation=activation)
    if variant == "FlipoutDense":
        return FlipoutDense(units, activation=activation, kl_weight=1 / NUM_EXAMPLES, seed=seed)
    return tfp_dense_flipout(units, NUM_EXAMPLES, activation=activation, seed=seed)


def make_step(variant: str):
    """A compiled training step ``step(x, y) -> loss`` for the network built from ``variant``."""
    layers = [make_layer(variant, HIDDEN, "relu", seed) for seed in range(DEPTH)]
    layers.append(make_layer(variant, CLASSES, "softmax", DEPTH))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TFP's add_variable deprecation notice
        model = keras.Sequential([keras.Input(shape=(INPUTS,)), *layers])
    optimizer = keras.optimizers.Adam(1e-3)
    cross_entropy = keras.losses.SparseCategoricalCrossentropy()

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            probabilities = model(x, training=True)
            loss = cross_entropy(y, probabilities)
            if model.losses:
                loss += tf.add_n(model.losses)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return loss

    return step


def time_steps(step, x, y, steps: int) -> float:
    """Seconds per step, over ``steps`` consecutive steps."""
    start = time.perf_counter()
    for _ in range(steps):
        loss = step(x, y)
    loss.numpy()  # wait for the last step to finish
    return (time.perf_counter() - start) / steps


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds (>= 5)")
    parser.add_argument("--steps", type=int, default=10, help="steps per variant per round")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps per variant")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="run each op on this many threads, one op at a time (0: TensorFlow's defaults)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.repeats < 5:
        parser.error("--repeats must be >= 5")
    if args.steps < 1 or args.warmup < 1:
        parser.error("--steps and --warmup must be >= 1")
    if args.threads < 0:
        parser.error("--threads must be >= 0")

    tf.config.set_visible_devices([], "GPU")
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(BATCH, INPUTS)), tf.float32)
    y = tf.constant(rng.integers(0, CLASSES, size=BATCH), tf.int64)

    steps = {variant: make_step(variant) for variant in VARIANTS}
    for step in steps.values():  # trace, build, and let the caches warm up
        time_steps(step, x, y, args.warmup)
    samples = {variant: [] for variant in VARIANTS}
    # The runs take minutes: a progress bar (on stderr, out of the printed table) says how far.
    for _ in tqdm(range(args.repeats), desc="repeats", unit="repeat", file=sys.stderr):
        for variant, step in steps.items():
            samples[variant].append(time_steps(step, x, y, args.steps))

    median_ms = {variant: 1000 * float(np.median(times)) for variant, times in samples.items()}
    flipout = np.array(samples["FlipoutDense"])
    ratios, paired_ratios = {}, {}
    for baseline in ("Dense", "TFP DenseFlipout", "Two-kernel floor"):
        name = f"FlipoutDense / {baseline}"
        ratios[name] = median_ms["FlipoutDense"] / median_ms[baseline]
        # Variants timed in the same round saw about the same machine load: their ratio,
        # taken round by round, is less sensitive to load changing between rounds.
        paired_ratios[name] = float(np.median(flipout / np.array(samples[baseline])))
    print(
        f"One training step, MLP {INPUTS}-{'-'.join([str(HIDDEN)] * DEPTH)}-{CLASSES}, "
        f"batch {BATCH}, CPU ({args.threads or 'default'} threads); "
        f"median of {args.repeats} rounds x {args.steps} steps\n"
    )
    print("| layer | median step (ms) | min step (ms) |")
    print("|---|---:|---:|")
    for variant in VARIANTS:
        print(f"| {variant} | {median_ms[variant]:.1f} | {1000 * min(samples[variant]):.1f} |")
    print("\n| ratio | of the medians | median of per-round ratios |")
    print("|---|---:|---:|")
    for name, value in ratios.items():
        print(f"| {name} | {value:.2f} | {paired_ratios[name]:.2f} |")

    results = {
        "network": {"inputs": INPUTS, "hidden": [HIDDEN] * DEPTH, "classes": CLASSES},
        "batch": BATCH,
        "repeats": args.repeats,
        "steps": args.steps,
        "threads": args.threads or "default",
        "median_ms": median_ms,
        "samples_ms": {v: [1000 * t for t in times] for v, times in samples.items()},
        "ratios": ratios,
        "per_round_ratio_medians": paired_ratios,
        "machine": {
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "cpus": os.cpu_count(),
        },
    }
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main()
