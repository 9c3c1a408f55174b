"""bnnlib.set_seed: one call makes Python, NumPy and TensorFlow repeat themselves."""

import os
import random

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework import config as tf_config  # the public API has no getter

import bnnlib


def draw_everything():
    return (
        random.random(),
        float(np.random.rand()),  # noqa: NPY002 (set_seed seeds the global generator)
        float(tf.random.uniform(())),
    )


def test_same_seed_repeats_python_numpy_and_tensorflow_draws():
    bnnlib.set_seed(123)
    first = draw_everything()
    bnnlib.set_seed(123)
    assert draw_everything() == first


def test_different_seeds_give_different_draws():
    bnnlib.set_seed(1)
    first = draw_everything()
    bnnlib.set_seed(2)
    second = draw_everything()
    assert all(a != b for a, b in zip(first, second, strict=True))


def test_set_seed_turns_on_op_determinism():
    bnnlib.set_seed(0)
    assert tf_config.is_op_determinism_enabled()


def test_version_is_a_dotted_string():
    parts = bnnlib.__version__.split(".")
    assert len(parts) == 3 and all(p.isdigit() for p in parts)


@pytest.mark.parametrize("seed", [1.5, "3", None, True])
def test_non_integer_seed_is_a_type_error(seed):
    with pytest.raises(TypeError, match="seed must be an integer"):
        bnnlib.set_seed(seed)


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_out_of_range_seed_is_a_value_error(seed):
    with pytest.raises(ValueError, match="seed must be"):
        bnnlib.set_seed(seed)


def test_non_bool_deterministic_is_a_type_error():
    with pytest.raises(TypeError, match="deterministic must be a bool"):
        bnnlib.set_seed(0, deterministic="yes")


def test_set_seed_leaves_pythonhashseed_alone(monkeypatch):
    # Setting it from a running interpreter does nothing for that interpreter: set_seed must
    # not pretend otherwise by writing it.
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    bnnlib.set_seed(5)
    assert "PYTHONHASHSEED" not in os.environ
