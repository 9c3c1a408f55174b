"""Bayesian dense layers written from scratch: Flipout and the estimators it is compared with.

All three layers hold the same mean-field Normal posterior over the kernel,
``W ~ Normal(loc, σ)`` with ``σ = softplus(ρ)``, the same fixed prior ``Normal(0, prior_scale)``
and the same analytic KL term. They differ only in how a forward pass turns that posterior into
noisy outputs:

* :class:`FlipoutDense` — one kernel perturbation per call, decorrelated across the examples
  of a batch by random sign flips (Wen et al. 2018). :doc:`Chapter 2
  </book/02_flipout_from_scratch>` derives it.
* :class:`ReparameterizationDense` — one kernel sample per call, shared by the whole batch.
* :class:`LocalReparameterizationDense` — samples the pre-activations instead of the weights
  (Kingma et al. 2015).

Their gradients differ in variance, which is why Flipout exists (Wen et al. 2018);
:doc:`Chapter 7 </book/07_gradient_variance>` measures it with :mod:`bnnlib.gradvar`.

**Reproducible noise.** ``tfp.layers.DenseFlipout`` seeds only its sign flips. These layers
make *all* their randomness a function of ``seed``: the initial values, and every noise draw.
Each draw uses TensorFlow's stateless random ops with the seed pair
``(stream key, call number)``, where the stream keys are derived from ``seed`` (one for each
kind of noise) and the call number is a non-trainable ``int64`` weight, ``noise_counter``,
that every draw increments. A counter rather than a ``tf.random.Generator`` because it is an
ordinary layer weight: it works inside ``model.fit``'s compiled step, and it is saved and
loaded with the other weights, so a reloaded model continues exactly the noise sequence of the
original.

**Under** ``tf.distribute``. Built inside a strategy's scope (for example
``tf.distribute.MirroredStrategy``), the layers train on every replica. All replicas share the
call counter, and each folds its replica id into the seed (call ``c`` of replica ``r`` of ``R``
uses ``c R + r``), so the replicas draw *different* noise, as the examples of one undivided
batch would; without a strategy the seed is the counter itself, so nothing changes for one
device. The noise then depends on the number of replicas: a run on two devices does not repeat
a run on one.

**Saving and loading.** The layers are registered with Keras under the package name
``bnnlib`` (``bnnlib>FlipoutDense``). Keras can only rebuild them after ``import bnnlib`` (any
bnnlib module will do) in the process that calls ``tf_keras.models.load_model``; without it
Keras stops with a ``TypeError`` about ``FlipoutDense``.
"""

from __future__ import annotations

import inspect
import math

import numpy as np
import tensorflow as tf
import tf_keras as keras

from bnnlib._checks import MAX_SEED, check_float, check_int, check_seed, draw_seed

__all__ = [
    "BayesianDense",
    "FlipoutDense",
    "LocalReparameterizationDense",
    "ReparameterizationDense",
]


# Each kind of noise gets its own random stream, keyed from the layer's seed.
_NOISE_STREAMS = ("eps", "sign_in", "sign_out", "bias_eps")


_SIGN_BIT = -(2**31)  # 0x80000000 as an int32: the sign bit of a float32
_FLOAT32_ONE = 0x3F800000  # the bit pattern of the float32 1.0


def _rademacher(shape, seed, dtype):
    """Random signs, exactly +1.0 or -1.0 with probability 1/2 each (a stateless draw).

    Each random 32-bit word gives 32 signs: every bit becomes the sign bit of a float32 whose
    other bits are those of 1.0. Drawing one word per sign instead costs about eight times
    more on a CPU, which matters because a Flipout layer needs ``batch * (in + out)`` signs
    per call (see benchmarks/bench_layers.py).
    """
    size = tf.reduce_prod(shape)
    words = tf.random.stateless_uniform(
        [(size + 31) // 32], seed, minval=None, maxval=None, dtype=tf.int32
    )
    # Shifting a word left by k moves its bit 31 - k into the sign position.
    shifted = tf.bitwise.left_shift(words[:, None], tf.range(32, dtype=tf.int32))
    sign_bits = tf.bitwise.bitwise_and(shifted, _SIGN_BIT)
    signs = tf.bitcast(tf.bitwise.bitwise_or(sign_bits, _FLOAT32_ONE), tf.float32)
    return tf.cast(tf.reshape(tf.reshape(signs, [-1])[:size], shape), dtype)


def _standard_normal(shape, seed, dtype):
    """``Normal(0, 1)`` draws by the Box-Muller transform of stateless uniform draws.

    ``sqrt(-2 log u1) cos(2π u2)`` and ``sqrt(-2 log u1) sin(2π u2)`` are independent standard
    normals for independent uniforms ``u1`` in (0, 1] and ``u2`` in [0, 1). Written with
    TensorFlow's vectorised elementwise ops this costs about 40 % less on a CPU than
    ``tf.random.stateless_normal``, and a Flipout layer draws one value per kernel weight per
    call.
    """
    size = tf.reduce_prod(shape)
    uniform = tf.random.stateless_uniform(tf.stack([2, (size + 1) // 2]), seed)
    radius = tf.sqrt(-2.0 * tf.math.log(1.0 - uniform[0]))  # 1 - u is in (0, 1]: log is finite
    angle = (2.0 * np.pi) * uniform[1]
    normals = tf.concat([radius * tf.cos(angle), radius * tf.sin(angle)], axis=0)
    return tf.cast(tf.reshape(normals[:size], shape), dtype)


def _replica():
    """``(replica id, number of replicas)`` of the running ``tf.distribute`` step, or (0, 1)."""
    context = tf.distribute.get_replica_context()
    if context is None:  # in a strategy's cross-replica context: one draw, as without it
        return 0, 1
    return context.replica_id_in_sync_group, context.num_replicas_in_sync


def _normal_kl_to_prior(loc, scale, prior_scale: float):
    """``sum KL(Normal(loc, scale) || Normal(0, prior_scale))`` over all elements.

    Per element ``log(p / σ) + (σ² + μ²) / (2 p²) - 1/2``; summed, the constant and the
    squares become whole-tensor sums, which saves elementwise passes over the kernel.
    """
    size = loc.shape.num_elements()
    sum_of_squares = tf.reduce_sum(tf.square(scale)) + tf.reduce_sum(tf.square(loc))
    return (
        sum_of_squares / (2.0 * prior_scale**2)
        - tf.reduce_sum(tf.math.log(scale))
        + size * (math.log(prior_scale) - 0.5)
    )


def _softplus_and_kl(rho, loc, prior_scale: float):
    """``σ = softplus(ρ)`` and ``_normal_kl_to_prior(loc, σ, prior_scale)``, in one step.

    The same numbers as computing them apart, with a gradient written by hand: automatic
    differentiation of the KL adds several passes over the kernel (a broadcast, a square's
    gradient, a reciprocal, the sums of the partial gradients), and on a CPU these
    memory-bound passes are a large share of a Flipout layer's step (see
    benchmarks/bench_layers.py). By the chain rule, with ``dσ/dρ = sigmoid(ρ)``,

    ``dL/dρ = (dL/dσ + dL/dKL (σ / p² - 1 / σ)) sigmoid(ρ)`` and ``dL/dμ = dL/dKL μ / p²``,

    where ``dL/dσ`` is what reaches σ through the layer's output.
    """
    inverse_prior_variance = 1.0 / prior_scale**2
    constant = loc.shape.num_elements() * (math.log(prior_scale) - 0.5)

    @tf.custom_gradient
    def softplus_and_kl(rho, loc):
        sigma = tf.nn.softplus(rho)
        # tf.nn.l2_loss(t) is sum(t²) / 2 in a single pass.
        kl = (
            (tf.nn.l2_loss(sigma) + tf.nn.l2_loss(loc)) * inverse_prior_variance
            - tf.reduce_sum(tf.math.log(sigma))
            + constant
        )

        def gradient(d_sigma, d_kl):
            d_kl_d_sigma = sigma * inverse_prior_variance - tf.math.reciprocal(sigma)
            d_rho = (d_sigma + d_kl * d_kl_d_sigma) * tf.math.sigmoid(rho)
            return d_rho, (d_kl * inverse_prior_variance) * loc

        return (sigma, kl), gradient

    return softplus_and_kl(tf.convert_to_tensor(rho), tf.convert_to_tensor(loc))


class BayesianDense(keras.layers.Layer):
    """What the three estimators share: arguments, variables, KL term, config.

    Not a layer to use on its own (it has no forward pass): ``isinstance(layer,
    BayesianDense)`` asks whether a layer is one of bnnlib's three.

    A subclass provides ``sample_noise(inputs)``, returning a dict of noise tensors, and
    ``forward(inputs, **noise)``, the layer's equation with that noise plugged in.
    """

    def __init__(
        self,
        units: int,
        activation=None,
        kl_weight: float = 1.0,
        prior_scale: float = 1.0,
        bayesian_bias: bool = False,
        seed: int | None = None,
        loc_initializer_stddev: float = 0.1,
        rho_initializer_mean: float = -3.0,
        rho_initializer_stddev: float = 0.1,
        name: str | None = None,
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.units = check_int("units", units, minimum=1)
        self.activation = keras.activations.get(activation)
        self._kl_weight_value = check_float("kl_weight", kl_weight, minimum=0.0)
        self.prior_scale = check_float("prior_scale", prior_scale, positive=True)
        if not isinstance(bayesian_bias, bool):
            raise TypeError(f"bayesian_bias must be a bool, got {type(bayesian_bias).__name__}")
        self.bayesian_bias = bayesian_bias
        seed = check_seed("seed", seed, allow_none=True)
        self.seed = draw_seed() if seed is None else seed
        self.loc_initializer_stddev = check_float(
            "loc_initializer_stddev", loc_initializer_stddev, minimum=0.0
        )
        self.rho_initializer_mean = check_float("rho_initializer_mean", rho_initializer_mean)
        self.rho_initializer_stddev = check_float(
            "rho_initializer_stddev", rho_initializer_stddev, minimum=0.0
        )
        # Every random number the layer uses descends from `seed`: three initialiser seeds and
        # one key per noise stream, so two layers with different seeds never start identical.
        keys = np.random.default_rng(self.seed).integers(0, MAX_SEED, size=3 + len(_NOISE_STREAMS))
        self._initializer_seeds = [int(k) for k in keys[:3]]
        self._noise_keys = {s: int(k) for s, k in zip(_NOISE_STREAMS, keys[3:], strict=True)}
        self.input_spec = keras.layers.InputSpec(min_ndim=2)

    def build(self, input_shape):
        """Create the variables for inputs of shape ``(batch, in_features)``.

        Raises
        ------
        ValueError
            If the inputs have rank below 2 or an unknown last dimension.
        """
        input_shape = tf.TensorShape(input_shape)
        if input_shape.rank is not None and input_shape.rank < 2:
            raise ValueError(
                f"{type(self).__name__} expects inputs of shape (batch, features), "
                f"got shape {input_shape}"
            )
        in_features = None if input_shape.rank is None else input_shape[-1]
        if in_features is None:
            raise ValueError(
                f"{type(self).__name__} needs the last input dimension (the number of "
                f"features) when it is built, got input shape {input_shape}"
            )
        loc_seed, rho_seed, bias_rho_seed = self._initializer_seeds
        kernel_shape = (in_features, self.units)
        self.loc = self.add_weight(
            name="loc",
            shape=kernel_shape,
            initializer=keras.initializers.RandomNormal(
                0.0, self.loc_initializer_stddev, seed=loc_seed
            ),
        )
        self.rho = self.add_weight(
            name="rho",
            shape=kernel_shape,
            initializer=self._rho_initializer(rho_seed),
        )
        if self.bayesian_bias:
            self.bias = None
            self.bias_loc = self.add_weight(
                name="bias_loc", shape=(self.units,), initializer="zeros"
            )
            self.bias_rho = self.add_weight(
                name="bias_rho",
                shape=(self.units,),
                initializer=self._rho_initializer(bias_rho_seed),
            )
        else:
            self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
            self.bias_loc = self.bias_rho = None
        # A variable, so that changing it (KL annealing) needs no retracing of a compiled step.
        self._kl_weight = self.add_weight(
            name="kl_weight",
            shape=(),
            initializer=keras.initializers.Constant(self._kl_weight_value),
            trainable=False,
        )
        self._noise_counter = self.add_weight(
            name="noise_counter",
            shape=(),
            dtype=tf.int64,
            initializer="zeros",
            trainable=False,
            # Under tf.distribute every replica advances it alike; keep the first's value.
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
        )
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: in_features})
        super().build(input_shape)

    def _as_inputs(self, inputs):
        """``inputs`` as a tensor of the layer's dtype: integers are cast, as ``Dense`` does."""
        inputs = tf.convert_to_tensor(inputs)
        if inputs.dtype != self.compute_dtype:
            inputs = tf.cast(inputs, self.compute_dtype)
        return inputs

    def _require_built(self, what: str) -> None:
        """Refuse ``what`` before the variables exist, saying how to create them."""
        if not self.built:
            raise ValueError(
                f"{type(self).__name__} {self.name!r} has no variables yet, so {what} is not "
                "defined: call the layer on an input first (or call layer.build(input_shape))"
            )

    def _check_noise_shape(self, name: str, noise, expected) -> None:
        """Refuse noise whose shape is not ``expected`` (a tuple; None where any size goes)."""
        shape = tf.TensorShape(getattr(noise, "shape", np.shape(noise)))
        if not shape.is_compatible_with(tf.TensorShape(expected)):
            shown = "(" + ", ".join("batch" if n is None else str(n) for n in expected) + ")"
            raise ValueError(f"{name} must have shape {shown}, got {tuple(shape.as_list())}")

    def _rho_initializer(self, seed: int):
        return keras.initializers.RandomNormal(
            self.rho_initializer_mean, self.rho_initializer_stddev, seed=seed
        )

    @property
    def sigma(self):
        """Posterior standard deviations of the kernel, ``softplus(rho)`` (read-only tensor)."""
        return tf.nn.softplus(self.rho)

    @property
    def bias_sigma(self):
        """Posterior standard deviations of the bias, ``softplus(bias_rho)``.

        ``None`` when the bias is deterministic (``bayesian_bias=False``).
        """
        return None if self.bias_rho is None else tf.nn.softplus(self.bias_rho)

    @property
    def kl_weight(self) -> float:
        """Factor on the KL term the layer adds to its losses (settable, >= 0).

        Setting it assigns a non-trainable variable, so a model compiled for ``fit`` picks up
        the new value at its next step (this is how :class:`bnnlib.training.KLAnnealing`
        works).
        """
        if self.built and tf.executing_eagerly():
            return float(self._kl_weight.numpy())
        return self._kl_weight_value

    @kl_weight.setter
    def kl_weight(self, value: float) -> None:
        value = check_float("kl_weight", value, minimum=0.0)
        self._kl_weight_value = value
        if self.built:
            self._kl_weight.assign(value)

    def kl_divergence(self):
        """KL divergence from the prior to the posterior, summed over all weights.

        ``sum KL(Normal(loc, σ) || Normal(0, prior_scale))`` over the kernel, plus the bias
        when ``bayesian_bias=True``, computed in closed form. This is *not* multiplied by
        ``kl_weight``; the term added to the layer's losses on every call is
        :meth:`kl_loss`, ``kl_weight * kl_divergence()``. :doc:`Chapter 3 </book/03_objective>`
        explains the term.

        Returns
        -------
        tf.Tensor
            A scalar.
        """
        self._require_built("kl_divergence()")
        return self._kl_divergence(self.sigma)

    def _kl_divergence(self, sigma):
        kl = _normal_kl_to_prior(self.loc, sigma, self.prior_scale)
        if self.bayesian_bias:
            kl += _normal_kl_to_prior(self.bias_loc, self.bias_sigma, self.prior_scale)
        return kl

    def kl_loss(self):
        """The term this layer adds to its losses on every call, ``kl_weight * kl_divergence()``.

        Returns
        -------
        tf.Tensor
            A scalar.
        """
        return self._kl_weight * self.kl_divergence()

    # The call has no Python control flow on tensors, so AutoGraph's conversion (which slows
    # down building models and tracing ``fit``) is skipped. ``training`` is accepted for Keras
    # and ignored: the layer samples at inference time too.
    @tf.autograph.experimental.do_not_convert
    def call(self, inputs, training=None):
        """Draw noise, add ``kl_loss()`` to the losses, return :meth:`forward` of ``inputs``."""
        inputs = self._as_inputs(inputs)
        # σ = softplus(ρ) once per call, for both the KL and the outputs, and computed with
        # the kernel's KL in one step with a hand-written gradient: on a CPU the elementwise
        # passes over the kernel are one of the costlier parts of a training step.
        sigma, kl = _softplus_and_kl(self.rho, self.loc, self.prior_scale)
        if self.bayesian_bias:
            kl += _normal_kl_to_prior(self.bias_loc, self.bias_sigma, self.prior_scale)
        self.add_loss(self._kl_weight * kl)
        return self.forward(inputs, **self.sample_noise(inputs), sigma=sigma)

    def _next_seeds(self) -> dict:
        """Advance the call counter; return a stateless seed pair for each noise stream."""
        count = tf.convert_to_tensor(self._noise_counter.assign_add(1))
        # Under tf.distribute every replica runs this with the same counter: fold the replica
        # id into the seed, so that the replicas draw different noise, as different examples
        # of one batch do. Call c of replica r of R uses c R + r: with one replica (no
        # strategy), exactly the counter.
        replica_id, replicas = _replica()
        if replicas > 1:
            count = count * replicas + tf.cast(replica_id, tf.int64)
        return {
            stream: tf.stack([tf.constant(key, dtype=tf.int64), count])
            for stream, key in self._noise_keys.items()
        }

    def _standard_normal(self, shape, seed):
        return _standard_normal(shape, seed, self.compute_dtype)

    def _bias_noise(self, seeds) -> dict:
        """The bias's share of ``sample_noise``: one draw per call when the bias is Bayesian."""
        if not self.bayesian_bias:
            return {}
        return {"bias_eps": self._standard_normal((self.units,), seeds["bias_eps"])}

    def _bias(self, bias_eps):
        """The bias of this call: the point estimate, or ``bias_loc + bias_sigma * bias_eps``."""
        if not self.bayesian_bias:
            if bias_eps is not None:
                raise ValueError("bias_eps was given, but this layer's bias is deterministic")
            return self.bias
        if bias_eps is None:
            raise ValueError("bias_eps is needed: this layer's bias is Bayesian")
        self._check_noise_shape("bias_eps", bias_eps, (self.units,))
        return self.bias_loc + self.bias_sigma * bias_eps

    def compute_output_shape(self, input_shape):
        """``(batch, units)`` for inputs of shape ``(batch, in_features)``."""
        return tf.TensorShape(input_shape)[:-1].concatenate([self.units])

    def get_config(self):
        """The constructor arguments, with the seed actually used and the current ``kl_weight``."""
        config = super().get_config()
        config.update(
            units=self.units,
            activation=keras.activations.serialize(self.activation),
            kl_weight=self.kl_weight,
            prior_scale=self.prior_scale,
            bayesian_bias=self.bayesian_bias,
            seed=self.seed,
            loc_initializer_stddev=self.loc_initializer_stddev,
            rho_initializer_mean=self.rho_initializer_mean,
            rho_initializer_stddev=self.rho_initializer_stddev,
        )
        return config


_SHARED_PARAMETERS = """
    Parameters
    ----------
    units : int
        Number of output units, at least 1.
    activation : str or callable, optional
        Activation applied to the outputs, as for ``tf_keras.layers.Dense``; ``None`` is linear.
    kl_weight : float, default 1.0
        Non-negative factor on the KL term added to the layer's losses. For the ELBO per
        example use ``1 / N`` for a training set of ``N`` examples
        (:func:`bnnlib.training.kl_weight_per_example`). Settable later through the
        ``kl_weight`` property.
    prior_scale : float, default 1.0
        Standard deviation of the prior ``Normal(0, prior_scale)`` on every weight, > 0.
    bayesian_bias : bool, default False
        ``False``: the bias is a point estimate (variable ``bias``, no KL), as in TFP's
        default. ``True``: the bias has its own posterior (``bias_loc``, ``bias_rho``) and
        KL term.
    seed : int, optional
        Non-negative integer below ``2**31`` that fixes the initial values and every noise
        draw. ``None`` draws one from NumPy's global generator (seeded by
        :func:`bnnlib.set_seed`), so runs stay reproducible and no two layers start alike.
        The seed used is stored in ``layer.seed`` and in the config.
    loc_initializer_stddev : float, default 0.1
        Initial ``loc ~ Normal(0, loc_initializer_stddev)`` (TFP's default), >= 0.
    rho_initializer_mean : float, default -3.0
        Mean of the initial ``rho`` of the kernel (and of a Bayesian bias): TFP's default,
        σ ≈ 0.049 at the start.
    rho_initializer_stddev : float, default 0.1
        Standard deviation of the initial ``rho``, >= 0.
    name : str, optional
        Layer name.
    **kwargs
        Other ``tf_keras.layers.Layer`` arguments (``trainable``, ``dtype``).

    Raises
    ------
    TypeError
        If ``units`` or ``seed`` is not an integer, a float argument is not a real number,
        or ``bayesian_bias`` is not a bool.
    ValueError
        If ``units < 1``, ``kl_weight`` is negative or not finite, ``prior_scale <= 0``, or,
        when the layer is built, the inputs have rank below 2 or an unknown last dimension.

    Attributes
    ----------
    loc, rho : tf.Variable
        Posterior means and untransformed scales of the kernel, shape ``(in_features, units)``.
    bias : tf.Variable or None
        The deterministic bias, shape ``(units,)``; ``None`` when ``bayesian_bias=True``.
    bias_loc, bias_rho : tf.Variable or None
        Posterior of a Bayesian bias, shape ``(units,)``; ``None`` otherwise.
    seed : int
        The seed in use.

"""


@keras.saving.register_keras_serializable(package="bnnlib")
class FlipoutDense(BayesianDense):
    r"""Dense layer with a Normal weight posterior, sampled with Flipout (Wen et al. 2018).

    For inputs ``x`` of shape ``(batch, in_features)`` a call computes

    .. math::

        y = a\big(x\,\mu + ((x \circ s_\text{in})(\sigma \circ \varepsilon))
        \circ s_\text{out} + b\big)

    with ``μ = loc``, ``σ = softplus(rho)``, one ``ε ~ Normal(0, 1)`` of the kernel's shape
    drawn per call and shared by the batch, and random signs ``s_in`` (shape
    ``(batch, in_features)``) and ``s_out`` (shape ``(batch, units)``), each entry ±1 with
    probability 1/2, drawn per example. Each example therefore sees its own kernel
    ``μ + (σ ∘ ε) ∘ (s_in s_outᵀ)`` (its signs' outer product flips entries of the shared
    perturbation): marginally ``Normal(μ, σ)`` and nearly uncorrelated with the other examples'
    kernels, for the price of a second matrix product. :doc:`Chapter 2
    </book/02_flipout_from_scratch>` derives
    the formula and checks it against ``tfp.layers.DenseFlipout``.

    With ``bayesian_bias=True``, ``b = bias_loc + softplus(bias_rho) ∘ ε_b`` with one
    ``ε_b ~ Normal(0, 1)`` per call, shared by the batch (as in TFP).

    Every call also adds ``kl_weight * kl_divergence()`` to ``layer.losses``. The layer samples
    at inference time too. To evaluate the formula with noise of your own, call
    :meth:`forward`; :meth:`sample_noise` returns the noise a call would use.
    {parameters}
    Examples
    --------
    >>> layer = FlipoutDense(3, kl_weight=1 / 1000, seed=0)
    >>> x = tf.ones((4, 2))
    >>> y = layer(x)  # shape (4, 3); a new noise draw on every call
    >>> y = layer.forward(x, **layer.sample_noise(x))  # what a call computes, without the KL
    """

    def sample_noise(self, inputs) -> dict:
        """Draw the noise of one call (and advance the layer's noise counter).

        Parameters
        ----------
        inputs : array_like
            The inputs the noise is for, shape ``(batch, in_features)``.

        Returns
        -------
        dict of tf.Tensor
            ``eps`` (shape of the kernel), ``sign_in`` (shape of ``inputs``), ``sign_out``
            (shape ``(batch, units)``), and ``bias_eps`` (shape ``(units,)``) if the bias is
            Bayesian: the keyword arguments of :meth:`forward`.
        """
        self._require_built("sample_noise()")
        inputs = self._as_inputs(inputs)
        seeds = self._next_seeds()
        input_shape = tf.shape(inputs)
        output_shape = tf.concat([input_shape[:-1], [self.units]], axis=0)
        return {
            "eps": self._standard_normal(tf.shape(self.loc), seeds["eps"]),
            "sign_in": _rademacher(input_shape, seeds["sign_in"], self.compute_dtype),
            "sign_out": _rademacher(output_shape, seeds["sign_out"], self.compute_dtype),
            **self._bias_noise(seeds),
        }

    def forward(self, inputs, eps, sign_in, sign_out, bias_eps=None, *, sigma=None):
        """The Flipout forward pass with given noise (see the class docstring).

        Parameters
        ----------
        inputs : tf.Tensor
            Shape ``(batch, in_features)``.
        eps : tf.Tensor
            Standard-normal noise of the kernel's shape ``(in_features, units)``.
        sign_in, sign_out : tf.Tensor
            Signs ±1 of shapes ``(batch, in_features)`` and ``(batch, units)``.
        bias_eps : tf.Tensor, optional
            Standard-normal noise of shape ``(units,)``; required if and only if the bias is
            Bayesian.
        sigma : tf.Tensor, optional
            The kernel's σ if already computed (``call`` passes it so that softplus runs once
            per call); by default ``self.sigma``.

        Returns
        -------
        tf.Tensor
            ``activation(x μ + ((x ∘ s_in)(σ ∘ ε)) ∘ s_out + b)``, shape ``(batch, units)``.
        """
        self._require_built("forward()")
        inputs = self._as_inputs(inputs)
        batch = inputs.shape[0]
        self._check_noise_shape("eps", eps, tuple(self.loc.shape))
        self._check_noise_shape("sign_in", sign_in, (batch, self.loc.shape[0]))
        self._check_noise_shape("sign_out", sign_out, (batch, self.units))
        sigma = self.sigma if sigma is None else sigma
        mean = tf.matmul(inputs, self.loc)
        perturbation = tf.matmul(inputs * sign_in, sigma * eps) * sign_out
        return self.activation(mean + perturbation + self._bias(bias_eps))


@keras.saving.register_keras_serializable(package="bnnlib")
class ReparameterizationDense(BayesianDense):
    r"""Dense layer with a Normal weight posterior and one weight sample per call.

    A call draws a single kernel ``W = μ + σ ∘ ε`` (``ε ~ Normal(0, 1)``, shape of the kernel)
    and uses it for every example in the batch:

    .. math::

        y = a\big(x\,(\mu + \sigma \circ \varepsilon) + b\big)

    The examples of a batch share one perturbation, so their gradients are correlated and
    averaging over a bigger batch stops reducing the gradient's variance: the baseline
    Flipout improves on (Wen et al. 2018, Theorem 2). Variables, KL term and
    arguments are those of :class:`FlipoutDense`.
    {parameters}
    """

    def sample_noise(self, inputs) -> dict:
        """Draw the noise of one call (and advance the layer's noise counter).

        Parameters
        ----------
        inputs : array_like
            The inputs the noise is for (only their dtype matters here).

        Returns
        -------
        dict of tf.Tensor
            ``eps`` (shape of the kernel), and ``bias_eps`` (shape ``(units,)``) if the bias is
            Bayesian: the keyword arguments of :meth:`forward`.
        """
        self._require_built("sample_noise()")
        seeds = self._next_seeds()
        return {
            "eps": self._standard_normal(tf.shape(self.loc), seeds["eps"]),
            **self._bias_noise(seeds),
        }

    def forward(self, inputs, eps, bias_eps=None, *, sigma=None):
        """The forward pass with a given kernel noise ``eps`` (see the class docstring).

        Parameters
        ----------
        inputs : tf.Tensor
            Shape ``(batch, in_features)``.
        eps : tf.Tensor
            Standard-normal noise of the kernel's shape ``(in_features, units)``.
        bias_eps : tf.Tensor, optional
            Standard-normal noise of shape ``(units,)``; required if and only if the bias is
            Bayesian.
        sigma : tf.Tensor, optional
            The kernel's σ if already computed (``call`` passes it so that softplus runs once
            per call); by default ``self.sigma``.

        Returns
        -------
        tf.Tensor
            ``activation(x (μ + σ ∘ ε) + b)``, shape ``(batch, units)``.
        """
        self._require_built("forward()")
        inputs = self._as_inputs(inputs)
        self._check_noise_shape("eps", eps, tuple(self.loc.shape))
        sigma = self.sigma if sigma is None else sigma
        kernel = self.loc + sigma * eps
        return self.activation(tf.matmul(inputs, kernel) + self._bias(bias_eps))


@keras.saving.register_keras_serializable(package="bnnlib")
class LocalReparameterizationDense(BayesianDense):
    r"""Dense layer with a Normal weight posterior, sampled by local reparameterization.

    With independent Normal weights, each pre-activation ``z = x W + b`` is itself Normal, so
    the layer samples ``z`` directly (Kingma, Salimans and Welling 2015):

    .. math::

        m = x\,\mu + \mu_b, \qquad v = x^2 \sigma^2 + \sigma_b^2, \qquad
        y = a\big(m + \sqrt{v} \circ \varepsilon\big)

    with squares taken elementwise and ``ε ~ Normal(0, 1)`` of shape ``(batch, units)``, a
    fresh draw for every example and unit. ``μ_b`` is the bias (or ``bias_loc``) and
    ``σ_b = softplus(bias_rho)`` if the bias is Bayesian, else 0. Each example gets
    independent noise, which is what Flipout approximates at the cost of one matrix product,
    but the output is not a function of a sampled kernel.
    Variables, KL term and arguments are those of :class:`FlipoutDense`.
    {parameters}
    """

    def sample_noise(self, inputs) -> dict:
        """Draw the noise of one call (and advance the layer's noise counter).

        Parameters
        ----------
        inputs : array_like
            The inputs the noise is for, shape ``(batch, in_features)``.

        Returns
        -------
        dict of tf.Tensor
            ``eps`` of shape ``(batch, units)``: the keyword argument of :meth:`forward`.
        """
        self._require_built("sample_noise()")
        inputs = self._as_inputs(inputs)
        seeds = self._next_seeds()
        output_shape = tf.concat([tf.shape(inputs)[:-1], [self.units]], axis=0)
        return {"eps": self._standard_normal(output_shape, seeds["eps"])}

    def forward(self, inputs, eps, *, sigma=None):
        """The forward pass with given pre-activation noise ``eps`` (see the class docstring).

        Parameters
        ----------
        inputs : tf.Tensor
            Shape ``(batch, in_features)``.
        eps : tf.Tensor
            Standard-normal noise of shape ``(batch, units)``.
        sigma : tf.Tensor, optional
            The kernel's σ if already computed (``call`` passes it so that softplus runs once
            per call); by default ``self.sigma``.

        Returns
        -------
        tf.Tensor
            ``activation(m + sqrt(v) ∘ ε)``, shape ``(batch, units)``.
        """
        self._require_built("forward()")
        inputs = self._as_inputs(inputs)
        self._check_noise_shape("eps", eps, (inputs.shape[0], self.units))
        sigma = self.sigma if sigma is None else sigma
        if self.bayesian_bias:
            bias_mean, bias_variance = self.bias_loc, tf.square(self.bias_sigma)
        else:
            bias_mean, bias_variance = self.bias, 0.0
        mean = tf.matmul(inputs, self.loc) + bias_mean
        variance = tf.matmul(tf.square(inputs), tf.square(sigma)) + bias_variance
        # An all-zero input row (common after a ReLU) has variance 0, where the square root's
        # gradient is infinite; the floor gives it a zero gradient instead of NaN.
        std = tf.sqrt(tf.maximum(variance, np.finfo(variance.dtype.as_numpy_dtype).tiny))
        return self.activation(mean + std * eps)


# The three estimators take the same arguments: write them down once. tf_keras layers report
# their signature as (*args, **kwargs); give documentation tools the real one.
_CONSTRUCTOR = inspect.signature(BayesianDense.__init__)
for _layer_class in (FlipoutDense, ReparameterizationDense, LocalReparameterizationDense):
    _layer_class.__doc__ = _layer_class.__doc__.replace("{parameters}", _SHARED_PARAMETERS)
    _layer_class.__signature__ = _CONSTRUCTOR.replace(
        parameters=list(_CONSTRUCTOR.parameters.values())[1:]  # without self
    )
del _layer_class, _CONSTRUCTOR
