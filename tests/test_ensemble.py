"""Specifications of bnnlib.models.build_ensemble."""

import numpy as np
import pytest

from bnnlib.models import build_ensemble


def test_ensemble_members_are_distinct_and_reproducible():
    first = build_ensemble(3, input_dim=1, hidden_units=(4,), seed=2)
    again = build_ensemble(3, input_dim=1, hidden_units=(4,), seed=2)
    kernels = [member.layers[0].kernel.numpy() for member in first]
    assert not np.allclose(kernels[0], kernels[1])
    for member, twin in zip(first, again, strict=True):
        np.testing.assert_array_equal(
            member.layers[0].kernel.numpy(), twin.layers[0].kernel.numpy()
        )


def test_ensemble_refuses_bad_sizes():
    with pytest.raises(ValueError, match="n_members must be an integer >= 1, got 0"):
        build_ensemble(0, input_dim=1)
    with pytest.raises(ValueError, match="kind must be one of"):
        build_ensemble(2, kind="bagging", input_dim=1)
