"""Repeat a Dense-beside-Flipout run over many seeds, at about the cost of one.

:doc:`Chapter 4 </book/04_training_side_by_side>` follows one Dense and one Flipout network in
detail, then checks which of its findings survive other seeds, minibatches and another
activation. Training thirty small Keras models one after the other costs mostly overhead:
building and compiling each model, and a graph of many tiny operations per model and step. A
:class:`SeedStack` instead holds the networks of several seeds as one set of tensors with a
leading seed axis, Dense and Flipout side by side, and trains them all in one compiled step.

The networks are those of :func:`bnnlib.models.build_mlp`: for each seed, the Dense kernels and
the Flipout means start at the same values, every σ starts at ``softplus(ρ)`` with the same
ρ, biases are deterministic and start at zero, the prior is ``Normal(0, prior_scale)``, and
each Flipout network minimises the Gaussian NLL plus its KL divided by the number of training
examples (the negative ELBO per example, :doc:`Chapter 3 </book/03_objective>`). The Flipout
layers compute ``a(x μ + ((x ∘ s_in)(σ ∘ ε)) ∘ s_out + b)``, as
:class:`bnnlib.layers.FlipoutDense` does, with one ε per seed and step and one sign per
example, seed and step.

:func:`silent_units` and :func:`layer_measurements` turn the recorded states into the
chapter's numbers, and :func:`median_and_range` into its table.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import tensorflow as tf
import tf_keras as keras

from bnnlib._checks import check_choice, check_float, check_int
from bnnlib.models import build_mlp

__all__ = ["SeedStack", "layer_measurements", "median_and_range", "silent_units"]

_ACTIVATIONS = {"relu": tf.nn.relu, "tanh": tf.math.tanh}
_NP_ACTIVATIONS = {"relu": lambda a: np.maximum(a, 0.0), "tanh": np.tanh}


def _matmul(h, kernel):
    """``h @ kernel`` per seed: ``h`` is ``(batch, in)`` (the inputs) or ``(seeds, batch, in)``."""
    return tf.einsum("ni,sio->sno" if h.shape.rank == 2 else "sni,sio->sno", h, kernel)


def _signs(shape, seed):
    """Exactly +1.0 or -1.0 with probability 1/2 each (a stateless draw)."""
    return tf.where(tf.random.stateless_uniform(shape, seed) < 0.5, -1.0, 1.0)


class SeedStack:
    """Dense and Flipout networks of several seeds, trained together in one compiled step.

    Parameters
    ----------
    seeds : sequence of int
        One network pair per seed (each seed >= 0), started as
        ``build_mlp(kind, input_dim, hidden_units, seed=seed)`` starts them.
    input_dim : int
        Number of input features (>= 1).
    hidden_units : sequence of int, default (32, 32)
        Widths of the hidden layers (``hidden_1``, ``hidden_2``, ...; then ``output``).
    activation : {"relu", "tanh"}, default "relu"
        Activation of the hidden layers; the output is linear, of width 1.
    prior_scale : float, default 1.0
        Scale of the Normal prior of every kernel weight (> 0).

    Attributes
    ----------
    layers : list of str
        Layer names, as ``build_mlp`` names them.
    dense_kernels, dense_biases, flipout_locs, flipout_rhos, flipout_biases : list
        One ``tf.Variable`` per layer, of shape ``(seeds, in, out)`` (kernels, means, ρ) or
        ``(seeds, out)`` (biases).

    Raises
    ------
    TypeError, ValueError
        If an argument has the wrong type or is out of range.

    Examples
    --------
    >>> stack = SeedStack([1, 2, 3], input_dim=1)  # doctest: +SKIP
    >>> states = stack.train(x, y, noise_scale=0.03, epochs=400, record_epochs=[5])
    ... # doctest: +SKIP
    """

    def __init__(
        self,
        seeds,
        input_dim: int,
        hidden_units=(32, 32),
        activation="relu",
        prior_scale: float = 1.0,
    ):
        if isinstance(seeds, str) or not hasattr(seeds, "__iter__"):
            raise TypeError(f"seeds must be a sequence of integers, got {type(seeds).__name__}")
        self.seeds = [check_int("seeds[i]", seed, minimum=0) for seed in seeds]
        if not self.seeds:
            raise ValueError("seeds must hold at least one seed, got none")
        self.activation = check_choice("activation", activation, _ACTIVATIONS)
        self.prior_scale = check_float("prior_scale", prior_scale, positive=True)
        references = [
            build_mlp("flipout", input_dim, hidden_units, num_examples=1, seed=seed)
            for seed in self.seeds
        ]
        self.layers = [layer.name for layer in references[0].layers]

        def stacked(read):
            return [
                np.stack([read(model.layers[i]).numpy() for model in references])
                for i in range(len(self.layers))
            ]

        locs, rhos = stacked(lambda layer: layer.loc), stacked(lambda layer: layer.rho)
        biases = stacked(lambda layer: layer.bias)
        self.dense_kernels = [tf.Variable(v) for v in locs]
        self.dense_biases = [tf.Variable(v) for v in biases]
        self.flipout_locs = [tf.Variable(v) for v in locs]
        self.flipout_rhos = [tf.Variable(v) for v in rhos]
        self.flipout_biases = [tf.Variable(v) for v in biases]

    @property
    def variables(self) -> list[tf.Variable]:
        """Every trained variable, Dense and Flipout."""
        return [
            *self.dense_kernels,
            *self.dense_biases,
            *self.flipout_locs,
            *self.flipout_rhos,
            *self.flipout_biases,
        ]

    def dense_forward(self, x):
        """Outputs of every seed's Dense network, shape ``(seeds, batch, 1)``."""
        h = tf.convert_to_tensor(x, tf.float32)
        for i, (kernel, bias) in enumerate(zip(self.dense_kernels, self.dense_biases, strict=True)):
            h = _matmul(h, kernel) + bias[:, None, :]
            if i < len(self.layers) - 1:
                h = _ACTIVATIONS[self.activation](h)
        return h

    def flipout_forward(self, x, noise):
        """Outputs of every seed's Flipout network for given noise, ``(seeds, batch, 1)``.

        ``noise`` holds, per layer, ``(eps, sign_in, sign_out)`` of shapes ``(seeds, in, out)``,
        ``(seeds, batch, in)`` and ``(seeds, batch, out)``: the noise of
        :meth:`bnnlib.layers.FlipoutDense.forward`, one draw per seed.
        """
        h = tf.convert_to_tensor(x, tf.float32)
        for i, (loc, rho, bias) in enumerate(
            zip(self.flipout_locs, self.flipout_rhos, self.flipout_biases, strict=True)
        ):
            eps, sign_in, sign_out = noise[i]
            mean = _matmul(h, loc)
            delta = _matmul(h * sign_in, tf.nn.softplus(rho) * eps)
            h = mean + delta * sign_out + bias[:, None, :]
            if i < len(self.layers) - 1:
                h = _ACTIVATIONS[self.activation](h)
        return h

    def sample_noise(self, batch: int, key):
        """Fresh Flipout noise for a batch, from a stateless key ``(a, b)`` of two integers."""
        noise = []
        for i, loc in enumerate(self.flipout_locs):
            seeds, n_in, n_out = loc.shape
            keys = [tf.stack([key[0] * 1_000 + 3 * i + k, key[1]]) for k in range(3)]
            noise.append(
                (
                    tf.random.stateless_normal((seeds, n_in, n_out), keys[0]),
                    _signs((seeds, batch, n_in), keys[1]),
                    _signs((seeds, batch, n_out), keys[2]),
                )
            )
        return noise

    def kl(self):
        """``KL(q || prior)`` of every seed's Flipout network, shape ``(seeds,)``."""
        p = self.prior_scale
        total = 0.0
        for loc, rho in zip(self.flipout_locs, self.flipout_rhos, strict=True):
            sigma = tf.nn.softplus(rho)
            per_weight = math.log(p) - tf.math.log(sigma) + (sigma**2 + loc**2) / (2 * p**2) - 0.5
            total += tf.reduce_sum(per_weight, axis=[1, 2])
        return total

    def state(self) -> dict:
        """The current values as NumPy arrays: per layer, Dense kernel and bias, Flipout mean,
        σ and bias, each with the seed axis first."""
        return {
            "dense_kernel": [v.numpy() for v in self.dense_kernels],
            "dense_bias": [v.numpy() for v in self.dense_biases],
            "flipout_loc": [v.numpy() for v in self.flipout_locs],
            "flipout_sigma": [tf.nn.softplus(v).numpy() for v in self.flipout_rhos],
            "flipout_bias": [v.numpy() for v in self.flipout_biases],
        }

    def train(
        self,
        x,
        y,
        noise_scale: float,
        epochs: int,
        batch_size: int | None = None,
        learning_rate: float = 0.02,
        record_epochs=(),
        seed: int = 0,
    ) -> dict:
        """Train every network with Adam; return the states at epoch 0, ``record_epochs`` and
        the end.

        Each Dense network minimises the Gaussian NLL with scale ``noise_scale``, each Flipout
        network the NLL plus its KL divided by ``len(x)``, all on the same batches: shuffled
        at every epoch (from ``seed``) when ``batch_size`` is smaller than the data, the last
        batch possibly smaller, as in ``model.fit``. One Adam updates all the variables; Adam
        works element by element, so this equals one Adam per network.

        Parameters
        ----------
        x, y : array_like
            Inputs ``(n, input_dim)`` and targets ``(n, 1)``.
        noise_scale : float
            Scale of the Gaussian likelihood (> 0).
        epochs : int
            Passes over the data (>= 1).
        batch_size : int, optional
            Examples per step (>= 1); ``None`` for full batches.
        learning_rate : float, default 0.02
            Adam's learning rate (> 0).
        record_epochs : sequence of int, default ()
            Epochs (1 to ``epochs``) after which to record the state, besides 0 and the end.
        seed : int, default 0
            Seed of the shuffling and of the Flipout noise (>= 0).

        Returns
        -------
        dict
            Epoch to :meth:`state`.

        Raises
        ------
        TypeError, ValueError
            If an argument has the wrong type or is out of range, or ``x`` and ``y`` differ in
            length.
        """
        noise_scale = check_float("noise_scale", noise_scale, positive=True)
        epochs = check_int("epochs", epochs, minimum=1)
        batch_size = check_int("batch_size", batch_size, minimum=1, allow_none=True)
        learning_rate = check_float("learning_rate", learning_rate, positive=True)
        seed = check_int("seed", seed, minimum=0)
        record_epochs = {check_int("record_epochs[i]", e, minimum=1) for e in record_epochs}
        if record_epochs and max(record_epochs) > epochs:
            raise ValueError(
                f"record_epochs must be <= epochs = {epochs}, got {max(record_epochs)}"
            )
        x = np.asarray(x, dtype=np.float32)
        y = np.asarray(y, dtype=np.float32)
        if len(x) != len(y):
            raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
        n = len(x)
        batch_size = n if batch_size is None else min(batch_size, n)
        optimizer = keras.optimizers.Adam(learning_rate)
        variables = self.variables

        def nll(y_batch, outputs):  # per seed: mean over the batch
            z = (y_batch - outputs) / noise_scale
            return tf.reduce_mean(0.5 * z**2, axis=[1, 2]) + math.log(
                noise_scale * math.sqrt(2 * math.pi)
            )

        signature = [
            tf.TensorSpec((None, x.shape[1]), tf.float32),
            tf.TensorSpec((None, y.shape[1]), tf.float32),
            tf.TensorSpec((2,), tf.int64),
        ]

        @tf.function(input_signature=signature)
        def step(x_batch, y_batch, key):
            noise = self.sample_noise(tf.shape(x_batch)[0], key)
            with tf.GradientTape() as tape:
                dense = nll(y_batch, self.dense_forward(x_batch))
                flipout = nll(y_batch, self.flipout_forward(x_batch, noise)) + self.kl() / n
                total = tf.reduce_sum(dense) + tf.reduce_sum(flipout)
            optimizer.apply_gradients(zip(tape.gradient(total, variables), variables, strict=True))

        states = {0: self.state()}
        rng = np.random.default_rng(seed)
        count = 0
        for epoch in range(1, epochs + 1):
            order = rng.permutation(n) if batch_size < n else np.arange(n)
            for start in range(0, n, batch_size):
                batch = order[start : start + batch_size]
                count += 1
                step(x[batch], y[batch], np.array([seed, count], dtype=np.int64))
            if epoch in record_epochs or epoch == epochs:
                states[epoch] = self.state()
        return states


def silent_units(kernel, bias, x, activation="relu"):
    """Units of a first hidden layer whose output is the same for every input in ``x``.

    A silent unit changes nothing the data can see, so only the KL acts on the weights that
    leave it: the way whole units are pruned in :doc:`Chapter 4
    </book/04_training_side_by_side>`. For ``"relu"`` a unit is silent when its
    pre-activation is <= 0 on every input; for ``"tanh"`` when its output varies by less than
    ``1e-3`` over the inputs (saturated at -1 or 1).

    Parameters
    ----------
    kernel : array_like, shape (inputs, units)
        The layer's kernel (for a Bayesian layer, its means).
    bias : array_like, shape (units,)
        The layer's bias.
    x : array_like, shape (n, inputs)
        The inputs, as the network sees them.
    activation : {"relu", "tanh"}, default "relu"
        The layer's activation.

    Returns
    -------
    numpy.ndarray of bool, shape (units,)
        True for every silent unit.

    Raises
    ------
    ValueError
        If ``activation`` is unknown or the shapes do not fit together.
    """
    check_choice("activation", activation, _NP_ACTIVATIONS)
    kernel, bias = np.asarray(kernel, np.float64), np.asarray(bias, np.float64)
    x = np.asarray(x, dtype=np.float64)
    if kernel.ndim != 2 or bias.shape != kernel.shape[1:]:
        raise ValueError(
            f"kernel must have shape (inputs, units) and bias (units,), got {kernel.shape} "
            f"and {bias.shape}"
        )
    if x.ndim != 2 or x.shape[1] != kernel.shape[0]:
        raise ValueError(f"x must have shape (n, {kernel.shape[0]}), got {x.shape}")
    pre_activation = x @ kernel + bias
    if activation == "relu":
        return np.all(pre_activation <= 0.0, axis=0)
    return np.ptp(np.tanh(pre_activation), axis=0) < 1e-3


def layer_measurements(stack: SeedStack, states: dict, x, early_epoch: int) -> pd.DataFrame:
    """The measurements of :doc:`Chapter 4 </book/04_training_side_by_side>`, per seed and
    layer, from the states of a trained stack.

    Parameters
    ----------
    stack : SeedStack
        The stack the states come from (for its seeds, layers, activation and prior).
    states : dict
        Epoch to state, as :meth:`SeedStack.train` returns.
    x : array_like
        The training inputs, to find the silent units of the first hidden layer.
    early_epoch : int
        The recorded epoch of the early correlation.

    Returns
    -------
    pandas.DataFrame
        One row per seed and layer: ``near_prior`` (share of final σ within 10 % of the
        prior's scale), ``snr_above_2`` (share of final ``|μ| / σ`` above 2), ``corr_early`` and
        ``corr_end`` (correlation over the layer's weights of Flipout means and Dense weights
        at ``early_epoch`` and at the end), and the silent units of the first hidden layer at
        the end, ``silent_dense`` and ``silent_flipout``.

    Raises
    ------
    TypeError, ValueError
        If ``stack`` is not a SeedStack or ``early_epoch`` was not recorded.
    """
    if not isinstance(stack, SeedStack):
        raise TypeError(f"stack must be a SeedStack, got {type(stack).__name__}")
    if early_epoch not in states:
        raise ValueError(
            f"early_epoch must be a recorded epoch {sorted(states)}, got {early_epoch}"
        )
    early, end = states[early_epoch], states[max(states)]
    p = stack.prior_scale
    rows = []
    for s, seed in enumerate(stack.seeds):
        silent = {
            kind: int(
                silent_units(
                    end[f"{kind}_{'kernel' if kind == 'dense' else 'loc'}"][0][s],
                    end[f"{kind}_bias"][0][s],
                    x,
                    stack.activation,
                ).sum()
            )
            for kind in ("dense", "flipout")
        }
        for i, layer in enumerate(stack.layers):
            sigma, mu = end["flipout_sigma"][i][s].ravel(), end["flipout_loc"][i][s].ravel()
            rows.append(
                {
                    "seed": seed,
                    "layer": layer,
                    "near_prior": np.mean(np.abs(sigma - p) <= 0.1 * p),
                    "snr_above_2": np.mean(np.abs(mu) / sigma > 2),
                    "corr_early": np.corrcoef(
                        early["flipout_loc"][i][s].ravel(), early["dense_kernel"][i][s].ravel()
                    )[0, 1],
                    "corr_end": np.corrcoef(mu, end["dense_kernel"][i][s].ravel())[0, 1],
                    "silent_dense": silent["dense"],
                    "silent_flipout": silent["flipout"],
                }
            )
    return pd.DataFrame(rows)


def median_and_range(values, fmt: str = "{:.2f}") -> str:
    """``"median (min–max)"`` of some values, each written with ``fmt``.

    Parameters
    ----------
    values : array_like
        The values, for example one per seed; NaN is ignored.
    fmt : str, default "{:.2f}"
        Format of each of the three numbers.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        If there is no value that is not NaN.

    Examples
    --------
    >>> median_and_range([3, 1, 2], "{:.0f}")
    '2 (1–3)'
    """
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if values.size == 0:
        raise ValueError("values must hold at least one number that is not NaN")
    low, middle, high = np.min(values), np.median(values), np.max(values)
    return f"{fmt.format(middle)} ({fmt.format(low)}–{fmt.format(high)})"
