"""bnnlib.keras3 on a second Keras 3 backend, JAX (pinned in requirements.txt).

Keras chooses its backend once, at import, from ``KERAS_BACKEND``; the rest of the test suite
runs the TensorFlow backend, so JAX gets a process of its own here. The checks themselves,
compared with NumPy, are in tests/backends/keras3_checks.py.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

CHECKS = Path(__file__).parent / "backends" / "keras3_checks.py"


# TensorFlow is covered in-process by tests/test_keras3.py.
@pytest.mark.parametrize("backend", ["jax"])
def test_flipout_layer_passes_its_checks_on_the_backend(backend):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, str(CHECKS)], env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == f"ok {backend}"
