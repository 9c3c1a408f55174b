"""Flipout for Keras 3: the same estimator as :class:`bnnlib.layers.FlipoutDense`, in ``keras.ops``.

TensorFlow Probability's layers are Keras 2 (``tf_keras``) layers, and since TensorFlow 2.16
``tf.keras`` is Keras 3, which cannot host them. This module is for readers who must stay on
Keras 3: :class:`FlipoutDense` is written with ``keras.ops`` and ``keras.random`` only, so it is
not tied to one Keras 3 backend (the tests run it on TensorFlow and on JAX; PyTorch is not
tested), and :class:`PosteriorRecorder`
records its posterior during ``fit`` so the pictures of
:doc:`Chapter 4 </book/04_training_side_by_side>` can be drawn on Keras 3 too. Appendix A
(:doc:`/book/appendix_a_keras3`) shows what breaks when TFP's layers meet Keras 3 and how this
layer compares with ``tfp.layers.DenseFlipout``.

Importing this module imports the ``keras`` package (Keras 3), not ``tf_keras``; the two can
live in one process, but a model must be built from one of them only.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from bnnlib._checks import MAX_SEED, check_float, check_int, draw_seed

__all__ = ["FlipoutDense", "PosteriorRecorder"]


@keras.saving.register_keras_serializable(package="bnnlib.keras3")
class FlipoutDense(keras.layers.Layer):
    r"""Dense layer with a Normal weight posterior, sampled with Flipout, for Keras 3.

    For inputs ``x`` of shape ``(batch, in_features)`` a call computes

    .. math::

        y = a\big(x\,\mu + ((x \circ s_\text{in})(\sigma \circ \varepsilon))
        \circ s_\text{out} + b\big)

    with ``μ = loc``, ``σ = softplus(rho)``, one ``ε ~ Normal(0, 1)`` of the kernel's shape per
    call, shared by the batch, and signs ``s_in`` (shape ``(batch, in_features)``) and
    ``s_out`` (shape ``(batch, units)``), each ±1 with probability 1/2, drawn per example
    (Wen et al. 2018). This is the formula of ``tfp.layers.DenseFlipout`` and of
    :class:`bnnlib.layers.FlipoutDense`; the bias ``b`` is a point estimate, as in TFP's
    default. Every call adds ``kl_weight * kl_divergence()`` to ``layer.losses``; the layer
    samples at inference time too.

    The noise comes from a ``keras.random.SeedGenerator`` seeded by ``seed``. Its state is a
    layer variable, so it is saved with the weights and a reloaded layer continues the noise
    sequence of the original.

    Parameters
    ----------
    units : int
        Number of output units, at least 1.
    activation : str or callable, optional
        Activation applied to the outputs; ``None`` is linear.
    kl_weight : float, default 1.0
        Non-negative factor on the KL term; ``1 / N`` for a training set of ``N`` examples
        gives the ELBO per example.
    prior_scale : float, default 1.0
        Standard deviation of the prior ``Normal(0, prior_scale)`` on every kernel weight.
    seed : int, optional
        Non-negative integer below ``2**31`` fixing the initial values and every noise draw;
        ``None`` draws one from NumPy's global generator (seeded by :func:`bnnlib.set_seed`).
    loc_initializer_stddev : float, default 0.1
        Initial ``loc ~ Normal(0, loc_initializer_stddev)`` (TFP's default).
    rho_initializer_mean, rho_initializer_stddev : float, default -3.0 and 0.1
        Initial ``rho ~ Normal(mean, stddev)`` (TFP's default: σ ≈ 0.049 at the start).
    **kwargs
        Other ``keras.layers.Layer`` arguments (``name``, ``dtype``, ``trainable``).

    Raises
    ------
    TypeError
        If ``units`` or ``seed`` is not an integer or a float argument is not a real number.
    ValueError
        If ``units < 1``, ``kl_weight < 0``, ``prior_scale <= 0``, ``seed`` is out of range,
        or the inputs, when the layer is built, are not of shape ``(batch, features)``.

    Attributes
    ----------
    loc, rho : keras.Variable
        Posterior means and untransformed scales of the kernel, shape ``(in_features, units)``.
    bias : keras.Variable
        The deterministic bias, shape ``(units,)``.
    """

    def __init__(
        self,
        units: int,
        activation=None,
        kl_weight: float = 1.0,
        prior_scale: float = 1.0,
        seed: int | None = None,
        loc_initializer_stddev: float = 0.1,
        rho_initializer_mean: float = -3.0,
        rho_initializer_stddev: float = 0.1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_int("units", units, minimum=1)
        self.activation = keras.activations.get(activation)
        self.kl_weight = check_float("kl_weight", kl_weight, minimum=0.0)
        self.prior_scale = check_float("prior_scale", prior_scale, positive=True)
        seed = check_int("seed", seed, minimum=0, allow_none=True)
        if seed is not None and seed > MAX_SEED:
            raise ValueError(f"seed must be an integer <= 2**31 - 1, got {seed}")
        self.seed = draw_seed() if seed is None else seed
        self.loc_initializer_stddev = check_float(
            "loc_initializer_stddev", loc_initializer_stddev, minimum=0.0
        )
        self.rho_initializer_mean = check_float("rho_initializer_mean", rho_initializer_mean)
        self.rho_initializer_stddev = check_float(
            "rho_initializer_stddev", rho_initializer_stddev, minimum=0.0
        )
        # Two initialiser seeds and the noise seed, all descended from `seed`.
        keys = np.random.default_rng(self.seed).integers(0, MAX_SEED, size=3)
        self._loc_seed, self._rho_seed, noise_seed = (int(k) for k in keys)
        self.noise = keras.random.SeedGenerator(noise_seed)

    def build(self, input_shape):
        """Create ``loc``, ``rho`` and ``bias`` for inputs of shape ``(batch, in_features)``."""
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(
                "FlipoutDense expects inputs of shape (batch, features) with a known number "
                f"of features, got input shape {tuple(input_shape)}"
            )
        kernel_shape = (int(input_shape[-1]), self.units)
        self.loc = self.add_weight(
            name="loc",
            shape=kernel_shape,
            initializer=keras.initializers.RandomNormal(
                0.0, self.loc_initializer_stddev, seed=self._loc_seed
            ),
        )
        self.rho = self.add_weight(
            name="rho",
            shape=kernel_shape,
            initializer=keras.initializers.RandomNormal(
                self.rho_initializer_mean, self.rho_initializer_stddev, seed=self._rho_seed
            ),
        )
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    @property
    def sigma(self):
        """Posterior standard deviations of the kernel, ``softplus(rho)``."""
        return ops.softplus(self.rho)

    def kl_divergence(self):
        """``sum KL(Normal(loc, σ) || Normal(0, prior_scale))`` over the kernel, in closed form.

        Per weight ``log(p / σ) + (σ² + μ²) / (2 p²) - 1/2`` with ``p = prior_scale``.
        """
        self._check_built("kl_divergence")
        sigma, p = self.sigma, self.prior_scale
        per_weight = (
            math.log(p) - ops.log(sigma) + (ops.square(sigma) + ops.square(self.loc)) / (2 * p**2)
        )
        return ops.sum(per_weight) - 0.5 * int(np.prod(self.loc.shape))

    def sample_noise(self, inputs):
        """The noise one call uses: ``eps`` (kernel shape) and the signs for ``inputs``."""
        self._check_built("sample_noise")
        batch = ops.shape(inputs)[0]
        eps = keras.random.normal(self.loc.shape, seed=self.noise, dtype=self.compute_dtype)
        sign_in = self._signs((batch, self.loc.shape[0]))
        sign_out = self._signs((batch, self.units))
        return {"eps": eps, "sign_in": sign_in, "sign_out": sign_out}

    def _signs(self, shape):
        bits = keras.random.randint(shape, 0, 2, seed=self.noise, dtype="int32")
        return ops.cast(2 * bits - 1, self.compute_dtype)

    def forward(self, inputs, eps, sign_in, sign_out):
        """The layer's formula with the given noise (see the class docstring)."""
        self._check_built("forward")
        inputs = ops.cast(inputs, self.compute_dtype)
        perturbation = ops.matmul(inputs * sign_in, self.sigma * eps) * sign_out
        return self.activation(ops.matmul(inputs, self.loc) + perturbation + self.bias)

    def call(self, inputs):
        """Draw noise, add the weighted KL to the losses, return :meth:`forward`."""
        inputs = ops.cast(inputs, self.compute_dtype)
        self.add_loss(self.kl_weight * self.kl_divergence())
        return self.forward(inputs, **self.sample_noise(inputs))

    def _check_built(self, what: str) -> None:
        if not self.built:
            raise ValueError(
                f"FlipoutDense.{what}() needs the layer's variables: call the layer on an "
                "input (or build it with layer.build((None, in_features))) first"
            )

    def compute_output_shape(self, input_shape):
        """``(batch, units)`` for inputs of shape ``(batch, in_features)``."""
        return (*input_shape[:-1], self.units)

    # Keras 3 does not save a SeedGenerator's state with the weights; this layer does, so that
    # a reloaded model draws the same noise as the original would have.
    def save_own_variables(self, store):
        """Save the variables and the noise generator's state (``model.save``)."""
        super().save_own_variables(store)
        store["noise_state"] = ops.convert_to_numpy(self.noise.state)

    def load_own_variables(self, store):
        """Load what :meth:`save_own_variables` saved."""
        if "noise_state" not in store:
            raise ValueError(
                f"the saved weights of layer {self.name!r} have no noise state: they were not "
                "saved by bnnlib.keras3.FlipoutDense"
            )
        self.noise.state.assign(store["noise_state"])
        super().load_own_variables({k: store[k] for k in store.keys() if k != "noise_state"})

    def get_config(self):
        """The constructor arguments, with the seed actually used."""
        config = super().get_config()
        config.update(
            units=self.units,
            activation=keras.activations.serialize(self.activation),
            kl_weight=self.kl_weight,
            prior_scale=self.prior_scale,
            seed=self.seed,
            loc_initializer_stddev=self.loc_initializer_stddev,
            rho_initializer_mean=self.rho_initializer_mean,
            rho_initializer_stddev=self.rho_initializer_stddev,
        )
        return config


class PosteriorRecorder(keras.callbacks.Callback):
    """Record μ and σ of every kernel weight of a Keras 3 model, before training and per epoch.

    Layers of type :class:`FlipoutDense` give their ``loc`` and ``softplus(rho)``; plain
    ``keras.layers.Dense`` layers give their kernel with σ = 0, so a Dense and a Flipout
    network trained side by side can be compared as in
    :doc:`Chapter 4 </book/04_training_side_by_side>`.

    Attributes
    ----------
    layers : list of str
        Names of the recorded layers, in model order (known after the first record).
    """

    def __init__(self):
        super().__init__()
        self.layers: list[str] = []
        self._loc: dict[str, list] = {}
        self._sigma: dict[str, list] = {}
        self._epochs: list[int] = []

    def record(self, model, epoch: int) -> None:
        """Take one record of ``model`` (also usable outside ``fit``)."""
        recorded = [
            layer
            for layer in model.layers
            if isinstance(layer, FlipoutDense | keras.layers.Dense) and layer.built
        ]
        if not recorded:
            raise ValueError(
                "PosteriorRecorder found no built FlipoutDense or Dense layer in the model"
            )
        for layer in recorded:
            if isinstance(layer, FlipoutDense):
                loc, sigma = ops.convert_to_numpy(layer.loc), ops.convert_to_numpy(layer.sigma)
            else:
                loc = ops.convert_to_numpy(layer.kernel)
                sigma = np.zeros_like(loc)
            if layer.name not in self._loc:
                self.layers.append(layer.name)
                self._loc[layer.name], self._sigma[layer.name] = [], []
            self._loc[layer.name].append(loc.reshape(-1))
            self._sigma[layer.name].append(sigma.reshape(-1))
        self._epochs.append(int(epoch))

    def on_train_begin(self, logs=None):
        """Record the state before training (only once, for the first ``fit``)."""
        if not self._epochs:
            self.record(self.model, 0)

    def on_epoch_end(self, epoch, logs=None):
        """Record the state after each epoch."""
        self.record(self.model, epoch + 1)

    @property
    def epochs(self) -> np.ndarray:
        """The epoch of each record: 0 before training, then 1, 2, ..."""
        return np.asarray(self._epochs)

    def loc(self, layer: str) -> np.ndarray:
        """Kernel means of ``layer``, shape ``(records, weights)`` (row-major kernel order)."""
        return np.stack(self._loc[self._known(layer)])

    def sigma(self, layer: str) -> np.ndarray:
        """Kernel standard deviations of ``layer``, shape ``(records, weights)``."""
        return np.stack(self._sigma[self._known(layer)])

    def _known(self, layer: str) -> str:
        if layer not in self._loc:
            raise ValueError(
                f"layer must be one of the recorded layers {self.layers}, got {layer!r}"
            )
        return layer
