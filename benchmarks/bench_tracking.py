"""What does watching the posterior cost? Training with and without a PosteriorTracker.

A Flipout network (TFP ``DenseFlipout`` layers built by ``bnnlib.tfp_layers``, two hidden
layers of 256 units) is trained on synthetic regression data for a few epochs, once without a
tracker and once with each tracker setting. The runs are interleaved (the order alternates
from repeat to repeat) so that a slow moment of a shared machine hits every setting alike; the
ratio of each tracked run to the untracked run of the same repeat is reported as a median.

Run ``python benchmarks/bench_tracking.py`` (``--help`` for options); the target is a ratio of
at most 1.05 for recording once per epoch.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402
from tqdm import tqdm  # noqa: E402

import bnnlib  # noqa: E402
from bnnlib.tfp_layers import tfp_dense_flipout  # noqa: E402
from bnnlib.tracking import PosteriorTracker  # noqa: E402

#: Tracker settings compared with training untracked: name -> PosteriorTracker arguments.
SETTINGS = {
    "every epoch, all weights": {"every": "epoch"},
    "every epoch, 1000 weights/layer": {"every": "epoch", "max_weights_per_layer": 1000},
    "every 8 steps, 1000 weights/layer": {"every": 8, "max_weights_per_layer": 1000},
}


def make_data(n: int, features: int, seed: int = 0):
    """A fixed random linear-plus-sine regression problem, float32."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    w = rng.normal(size=(features, 1)).astype("float32") / np.sqrt(features)
    y = (x @ w + 0.3 * np.sin(3 * x[:, :1]) + 0.1 * rng.normal(size=(n, 1))).astype("float32")
    return x, y


def build_model(features: int, hidden: int, n: int):
    """Two hidden DenseFlipout layers of ``hidden`` units and one linear output, seeded."""
    bnnlib.set_seed(0)
    model = keras.Sequential(
        [
            keras.Input((features,)),
            tfp_dense_flipout(hidden, n, activation="relu", seed=1),
            tfp_dense_flipout(hidden, n, activation="relu", seed=2),
            tfp_dense_flipout(1, n, seed=3),
        ]
    )
    model.compile(keras.optimizers.Adam(1e-3), "mse")
    return model


class TimedTracker(PosteriorTracker):
    """A PosteriorTracker that also adds up the wall time spent in its own hooks."""

    own_seconds = 0.0

    def _timed(hook):
        def timed_hook(self, *args, **kwargs):
            start = time.perf_counter()
            hook(self, *args, **kwargs)
            self.own_seconds += time.perf_counter() - start

        return timed_hook

    on_train_begin = _timed(PosteriorTracker.on_train_begin)
    on_epoch_begin = _timed(PosteriorTracker.on_epoch_begin)
    on_train_batch_end = _timed(PosteriorTracker.on_train_batch_end)
    on_epoch_end = _timed(PosteriorTracker.on_epoch_end)
    del _timed


def time_fit(x, y, args, tracker_kwargs) -> tuple[float, float, float]:
    """Wall time and CPU time of ``model.fit``, and the wall time spent inside the tracker.

    Building and compiling the model are not timed.
    """
    model = build_model(x.shape[1], args.hidden, len(x))
    tracker = None if tracker_kwargs is None else TimedTracker(**tracker_kwargs)
    callbacks = [] if tracker is None else [tracker]
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(x, y, epochs=args.epochs, batch_size=args.batch_size, verbose=0, callbacks=callbacks)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    keras.backend.clear_session()
    return wall, cpu, 0.0 if tracker is None else tracker.own_seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats (>= 1)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--examples", type=int, default=4096)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")

    x, y = make_data(args.examples, args.features)
    time_fit(x, y, args, None)  # warm-up: first-call costs of TensorFlow are paid once here
    names = [None, *SETTINGS]
    times = {name: [] for name in names}
    cpu_times = {name: [] for name in names}
    ratios = {name: [] for name in SETTINGS}
    cpu_ratios = {name: [] for name in SETTINGS}
    own_shares = {name: [] for name in SETTINGS}
    # The runs take minutes: a progress bar (on stderr, out of the printed table) says how far.
    for repeat in tqdm(range(args.repeats), desc="repeats", unit="repeat", file=sys.stderr):
        order = names if repeat % 2 == 0 else names[::-1]
        wall, cpu, own = {}, {}, {}
        for name in order:
            kwargs = None if name is None else SETTINGS[name]
            wall[name], cpu[name], own[name] = time_fit(x, y, args, kwargs)
            times[name].append(wall[name])
            cpu_times[name].append(cpu[name])
        for name in SETTINGS:
            ratios[name].append(wall[name] / wall[None])
            cpu_ratios[name].append(cpu[name] / cpu[None])
            own_shares[name].append(own[name] / wall[name])

    steps = args.epochs * -(-args.examples // args.batch_size)
    print(
        f"Training {args.features}-{args.hidden}-{args.hidden}-1 DenseFlipout, "
        f"{args.examples} examples, batch {args.batch_size}, {args.epochs} epochs "
        f"({steps} steps); {args.repeats} interleaved repeats; "
        f"TF {tf.__version__}, {platform.machine()}, {os.cpu_count()} CPUs\n"
    )
    # Wall time is what a reader waits for. On a shared machine other programs disturb it, so
    # two steadier views are shown beside it: the CPU time of the process, and the share of the
    # tracked fit's wall time spent inside the tracker's own hooks.
    print(
        "| tracker | median wall time (s) | median wall ratio | min–max wall ratio "
        "| median CPU ratio | median time in tracker |"
    )
    print("|---|---|---|---|---|---|")
    print(f"| none | {statistics.median(times[None]):.3f} | 1.000 | | 1.000 | |")
    results = {
        "untracked_seconds": times[None],
        "untracked_cpu_seconds": cpu_times[None],
        "settings": {},
    }
    for name in SETTINGS:
        median_ratio = statistics.median(ratios[name])
        median_cpu_ratio = statistics.median(cpu_ratios[name])
        median_own_share = statistics.median(own_shares[name])
        print(
            f"| {name} | {statistics.median(times[name]):.3f} | {median_ratio:.3f} | "
            f"{min(ratios[name]):.3f}–{max(ratios[name]):.3f} | {median_cpu_ratio:.3f} | "
            f"{100 * median_own_share:.1f} % |"
        )
        results["settings"][name] = {
            "tracker": SETTINGS[name],
            "seconds": times[name],
            "cpu_seconds": cpu_times[name],
            "ratios": ratios[name],
            "cpu_ratios": cpu_ratios[name],
            "median_ratio": median_ratio,
            "median_cpu_ratio": median_cpu_ratio,
            "tracker_share": own_shares[name],
            "median_tracker_share": median_own_share,
        }
    results["config"] = vars(args)
    if args.json:
        with open(args.json, "w") as file:
            json.dump(results, file, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
