"""Monte-Carlo dropout: a dropout layer that stays on at prediction time.

Gal and Ghahramani (2016) read a network trained with dropout as an approximate Bayesian
network: keeping dropout switched on when predicting, and averaging many forward passes, gives
a predictive mean and spread. :class:`MCDropout` is that layer. Like bnnlib's Bayesian layers
it draws its masks with stateless random ops keyed by ``(seed, call number)``, the call number
being a saved non-trainable weight named ``noise_counter``; so its noise is reproducible, and
:func:`bnnlib.uncertainty.mc_predict` can seed it. :doc:`Chapter 6
</book/06_predictive_uncertainty>` compares MC dropout with Flipout and a deep ensemble.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras as keras

from bnnlib._checks import MAX_SEED, check_float, check_seed, draw_seed

__all__ = ["MCDropout"]


@keras.saving.register_keras_serializable(package="bnnlib")
class MCDropout(keras.layers.Layer):
    """Dropout that is active in training *and* at prediction time.

    Each call zeroes every input entry independently with probability ``rate`` and scales the
    others by ``1 / (1 - rate)``, so the expected output equals the input. Unlike
    ``tf_keras.layers.Dropout`` the ``training`` flag is ignored: every call draws a fresh mask.
    The masks are stateless draws keyed by the layer's seed and a call counter, the
    non-trainable weight ``noise_counter``, which is saved with the model.

    Parameters
    ----------
    rate : float
        Probability of dropping an entry, in ``[0, 1)``.
    seed : int, optional
        Non-negative integer below ``2**31`` that fixes the masks. ``None`` draws one from
        NumPy's global generator (seeded by :func:`bnnlib.set_seed`).
    **kwargs
        Other ``tf_keras.layers.Layer`` arguments (``name``, ``dtype``).

    Raises
    ------
    TypeError
        If ``rate`` is not a real number or ``seed`` not an integer.
    ValueError
        If ``rate`` is outside ``[0, 1)`` or ``seed`` outside ``[0, 2**31)``.
    """

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_float("rate", rate, minimum=0.0)
        if self.rate >= 1.0:
            raise ValueError(f"rate must be in [0, 1), got {self.rate}")
        seed = check_seed("seed", seed, allow_none=True)
        self.seed = draw_seed() if seed is None else seed
        self._mask_key = int(np.random.default_rng(self.seed).integers(0, MAX_SEED))

    def build(self, input_shape):
        """Create the call counter ``noise_counter``."""
        self._noise_counter = self.add_weight(
            name="noise_counter", shape=(), dtype=tf.int64, initializer="zeros", trainable=False
        )
        super().build(input_shape)

    @tf.autograph.experimental.do_not_convert
    def call(self, inputs, training=None):
        """Drop entries of ``inputs`` with probability ``rate``; ``training`` is ignored."""
        inputs = tf.convert_to_tensor(inputs, dtype=self.compute_dtype)
        count = tf.convert_to_tensor(self._noise_counter.assign_add(1))
        if self.rate == 0.0:
            return inputs
        seed = tf.stack([tf.constant(self._mask_key, dtype=tf.int64), count])
        keep = tf.random.stateless_uniform(tf.shape(inputs), seed) >= self.rate
        return tf.where(keep, inputs / (1.0 - self.rate), tf.zeros_like(inputs))

    def compute_output_shape(self, input_shape):
        """The input shape."""
        return tf.TensorShape(input_shape)

    def get_config(self):
        """The constructor arguments, with the seed actually used."""
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
