"""Where a training step's time goes: CPU time per kind of TensorFlow op, for each layer variant.

bench_layers.py says how long a step takes; this script says what the time is spent on. It
builds the same network and compiled step as bench_layers.py for each variant, runs it under
TensorFlow's profiler, and sums the time of every executed op by op type (``MatMul``,
``Softplus``, ``StatelessRandomUniformV2``, ...) over the threads that ran it. Because both
cores run ops at once, the sums are CPU time, not wall time, and an op slowed down by another
running beside it counts longer; the table is for comparing variants, not for adding up to a
step's wall time. The profiler's own overhead makes every number a little larger than in
bench_layers.py.

Run:  TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python benchmarks/profile_layers.py [--steps 20]
      [--top 15]
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.tsl.profiler.protobuf import xplane_pb2  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from bench_layers import BATCH, CLASSES, INPUTS, VARIANTS, make_step  # noqa: E402


def op_times(step, x, y, steps: int) -> collections.Counter:
    """Milliseconds of CPU time per step, by op type, over ``steps`` profiled steps."""
    for _ in range(5):  # trace, build and warm up outside the profile
        step(x, y)
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        for _ in range(steps):
            loss = step(x, y)
        loss.numpy()
        tf.profiler.experimental.stop()
        (trace,) = Path(logdir).rglob("*.xplane.pb")
        space = xplane_pb2.XSpace.FromString(trace.read_bytes())
    totals = collections.Counter()
    for plane in space.planes:
        names = plane.event_metadata
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):  # the executor's worker threads
                continue
            for event in line.events:
                name = names[event.metadata_id].name  # "scope/op_name:OpType" for an op
                if ":" in name and "::" not in name:  # not the executor's own events
                    totals[name.rsplit(":", 1)[1]] += event.duration_ps / 1e9 / steps
    return totals


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="profiled steps per variant")
    parser.add_argument("--top", type=int, default=15, help="op types shown")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.top < 1:
        parser.error("--steps and --top must be >= 1")

    tf.config.set_visible_devices([], "GPU")
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(BATCH, INPUTS)), tf.float32)
    y = tf.constant(rng.integers(0, CLASSES, size=BATCH), tf.int64)
    times = {variant: op_times(make_step(variant), x, y, args.steps) for variant in VARIANTS}

    flipout = times["FlipoutDense"]
    shown = [op for op, _ in flipout.most_common(args.top)]
    print(f"CPU time per training step by op type (ms), {args.steps} profiled steps")
    print()
    print("| op type | " + " | ".join(VARIANTS) + " |")
    print("|---|" + "---:|" * len(VARIANTS))
    for op in shown:
        print(f"| {op} | " + " | ".join(f"{times[v][op]:.1f}" for v in VARIANTS) + " |")
    print("| (all ops) | " + " | ".join(f"{sum(times[v].values()):.1f}" for v in VARIANTS) + " |")


if __name__ == "__main__":
    main()
