"""How noisy is the gradient? The variance of the ELBO's stochastic gradient, by estimator.

A Bayesian layer's training gradient is random twice over: through the batch, and through the
weight noise the forward pass draws. The estimators of :mod:`bnnlib.layers` differ only in the
second part, so this module holds the batch fixed and measures the variance the weight noise
causes, as Wen et al. (2018, Sec. 4.1) do: for a frozen network and one batch, many
independent noise draws, each giving the gradient of the loss with respect to the variational
parameters ``loc`` (μ) and ``rho`` (ρ) of every layer; the variance over draws of each
parameter's gradient, averaged over the parameters of a layer. :doc:`Chapter 7
</book/07_gradient_variance>` explains the result.

The four estimators, for a layer with posterior ``Normal(μ, σ)``, ``σ = softplus(ρ)``:

* ``"independent"`` — every example of the batch draws its own kernel ``μ + σ ∘ ε_n``. The
  ideal, and the most expensive: one kernel per example.
* ``"shared"`` — one kernel ``μ + σ ∘ ε`` for the whole batch
  (:class:`~bnnlib.layers.ReparameterizationDense`).
* ``"flipout"`` — the shared ``ε`` with per-example sign flips
  (:class:`~bnnlib.layers.FlipoutDense`).
* ``"local"`` — the pre-activations sampled directly
  (:class:`~bnnlib.layers.LocalReparameterizationDense`).

The loss is the Gaussian negative log-likelihood per example, averaged over the batch. The KL
term of the ELBO does not depend on the noise, so it adds nothing to the variance and is left
out. All draws of one estimator are computed by one compiled function, vectorised over draws
(in chunks where the per-example kernels of ``"independent"`` would not fit in memory).

For a batch of ``N`` examples, Wen et al. (2018, Theorem 2) write the variance as

``shared:  α/N + (N-1)/N (β + γ)``   and   ``flipout:  α/N + (N-1)/N γ``

with ``α`` the variance of one example's gradient and ``β + γ`` (shared) or ``γ`` (Flipout)
the covariance between two examples' gradients; independent weights have no covariance
(``α/N``) when the batch is fixed. :func:`fit_variance_model` fits ``α``, ``β``, ``γ``;
:func:`fit_slope` fits the slope of the variance against ``N`` on log-log axes.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import pandas as pd
import tensorflow as tf

from bnnlib._checks import check_choice, check_float, check_int
from bnnlib.layers import FlipoutDense, LocalReparameterizationDense, ReparameterizationDense

__all__ = [
    "ESTIMATORS",
    "fit_slope",
    "fit_variance_model",
    "gradient_function",
    "gradient_samples",
    "gradient_variance",
]

#: The estimators this module compares, cheapest kind of noise first.
ESTIMATORS = ("shared", "flipout", "local", "independent")

_BAYESIAN_LAYERS = (FlipoutDense, ReparameterizationDense, LocalReparameterizationDense)

# Largest number of floats the per-example kernels of "independent" may take in one chunk of
# draws (2**25 floats are 128 MiB): larger requests are computed chunk by chunk.
_MAX_KERNEL_FLOATS = 2**25


def _bayesian_layers(model) -> list:
    """The model's layers, checked: built bnnlib Bayesian dense layers, deterministic bias."""
    layers = [layer for layer in getattr(model, "layers", ()) if layer.weights]
    if not layers:
        raise TypeError(
            "model must be a built tf_keras model of bnnlib Bayesian dense layers, "
            f"got {type(model).__name__} with no built layers"
        )
    for layer in layers:
        if not isinstance(layer, _BAYESIAN_LAYERS):
            raise TypeError(
                "model must consist of FlipoutDense, ReparameterizationDense or "
                f"LocalReparameterizationDense layers, got layer {layer.name!r} of type "
                f"{type(layer).__name__}"
            )
        if layer.bayesian_bias:
            raise ValueError(
                f"layer {layer.name!r} has a Bayesian bias; gradient variance is implemented "
                "for layers with a deterministic bias (bayesian_bias=False)"
            )
    return layers


def _signs(shape, seed):
    """Random signs ±1.0 with probability 1/2 each (a stateless draw)."""
    bits = tf.random.stateless_uniform(shape, seed, minval=0, maxval=2, dtype=tf.int32)
    return tf.cast(2 * bits - 1, tf.float32)


def _preactivation(estimator, h, loc, sigma, seed):
    """``h W`` for ``D`` draws at once, with the estimator's noise.

    ``h`` has shape ``(D, N, in)``; ``loc`` and ``sigma`` have shape ``(D, in, out)`` (one copy
    per draw, so that the gradient with respect to copy ``d`` is draw ``d``'s gradient).
    """
    draws, batch, units = tf.shape(h)[0], tf.shape(h)[1], tf.shape(loc)[2]
    mean = tf.matmul(h, loc)
    if estimator == "shared":  # one kernel per draw, the same for every example
        eps = tf.random.stateless_normal(tf.shape(loc), seed)
        return mean + tf.matmul(h, sigma * eps)
    if estimator == "flipout":  # the shared ε, flipped by per-example signs
        eps = tf.random.stateless_normal(tf.shape(loc), seed)
        sign_in = _signs(tf.shape(h), tf.random.experimental.stateless_fold_in(seed, 1))
        sign_out = _signs(
            tf.stack([draws, batch, units]), tf.random.experimental.stateless_fold_in(seed, 2)
        )
        return mean + tf.matmul(h * sign_in, sigma * eps) * sign_out
    if estimator == "local":  # pre-activations Normal(h μ, h² σ²), drawn per example
        variance = tf.matmul(tf.square(h), tf.square(sigma))
        std = tf.sqrt(tf.maximum(variance, np.finfo(np.float32).tiny))
        return mean + std * tf.random.stateless_normal(tf.shape(mean), seed)
    # "independent": a kernel per example, shape (D, N, in, out)
    eps = tf.random.stateless_normal(tf.concat([[draws, batch], tf.shape(loc)[1:]], 0), seed)
    return mean + tf.einsum("dni,dnio->dno", h, sigma[:, None] * eps)


def gradient_function(model, estimator: str, noise_scale: float = 1.0):
    """A compiled function that draws many gradients of the loss at once.

    Parameters
    ----------
    model : tf_keras.Model
        A built model whose layers are :class:`~bnnlib.layers.FlipoutDense`,
        :class:`~bnnlib.layers.ReparameterizationDense` or
        :class:`~bnnlib.layers.LocalReparameterizationDense` layers with a deterministic bias.
        Only their posterior (``loc``, ``rho``, ``bias``) and activation are used: the layer
        class does not matter, ``estimator`` chooses the noise.
    estimator : {"shared", "flipout", "local", "independent"}
        How the forward pass turns the posterior into noise (see the module docstring).
    noise_scale : float, default 1.0
        Standard deviation of the Gaussian likelihood, > 0.

    Returns
    -------
    callable
        ``f(x, y, seed, draws, batches_per_chunk)``: for ``B`` batches, float32 inputs ``x``
        of shape ``(B, N, in)`` and targets ``y`` of shape ``(B, N, out)``, an int64 ``seed``
        of shape ``(2,)``, and int32 scalars ``draws`` (per batch) and ``batches_per_chunk``
        (a divisor of ``B``: how many batches' draws are vectorised together), a list with,
        for each layer, the gradients with respect to ``loc`` and to ``rho`` (in that order),
        each of shape ``(B * draws, in, out)``: batch ``b``'s draws are rows
        ``b * draws`` to ``(b + 1) * draws - 1``. A ``tf.function``, traced once: all draws
        come from one compiled call.

    Raises
    ------
    TypeError, ValueError
        If the model has other layers, or an argument is out of range.
    """
    layers = _bayesian_layers(model)
    check_choice("estimator", estimator, ESTIMATORS)
    noise_scale = check_float("noise_scale", noise_scale, positive=True)
    in_features = int(layers[0].loc.shape[0])
    out_features = int(layers[-1].loc.shape[1])

    def chunk_gradients(x, y, seed):
        # x: (D, N, in), one row of batches per draw.
        draws = tf.shape(x)[0]
        copies = []  # (loc, rho) of each layer, one copy per draw
        with tf.GradientTape() as tape:
            for layer in layers:
                loc = tf.tile(layer.loc[None], [draws, 1, 1])
                rho = tf.tile(layer.rho[None], [draws, 1, 1])
                tape.watch([loc, rho])
                copies.append((loc, rho))
            h = x
            for index, (layer, (loc, rho)) in enumerate(zip(layers, copies, strict=True)):
                layer_seed = tf.random.experimental.stateless_fold_in(seed, index)
                z = _preactivation(estimator, h, loc, tf.nn.softplus(rho), layer_seed)
                h = layer.activation(z + layer.bias)
            # Gaussian NLL per example (up to a constant), mean over the batch, sum over
            # draws: draw d's loss depends only on copy d, so the gradient with respect to
            # copy d is draw d's own gradient.
            nll = 0.5 * tf.reduce_sum(tf.square((h - y) / noise_scale), axis=-1)
            loss = tf.reduce_sum(tf.reduce_mean(nll, axis=1))
        return tape.gradient(loss, [v for pair in copies for v in pair])

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None, in_features], tf.float32),
            tf.TensorSpec([None, None, out_features], tf.float32),
            tf.TensorSpec([2], tf.int64),
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.int32),
        ]
    )
    def gradients(x, y, seed, draws, batches_per_chunk):
        chunks = tf.shape(x)[0] // batches_per_chunk

        def body(chunk, arrays):
            rows = tf.range(chunk * batches_per_chunk, (chunk + 1) * batches_per_chunk)
            # Each batch repeated `draws` times, batch-major.
            x_chunk = tf.repeat(tf.gather(x, rows), draws, axis=0)
            y_chunk = tf.repeat(tf.gather(y, rows), draws, axis=0)
            chunk_seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(chunk, tf.int64))
            grads = chunk_gradients(x_chunk, y_chunk, chunk_seed)
            return chunk + 1, [a.write(chunk, g) for a, g in zip(arrays, grads, strict=True)]

        arrays = [
            tf.TensorArray(tf.float32, size=chunks, infer_shape=False)
            for _ in range(2 * len(layers))
        ]
        _, arrays = tf.while_loop(lambda chunk, _: chunk < chunks, body, [0, arrays])
        return [array.concat() for array in arrays]

    return gradients


def _as_arrays(model, x, y):
    """``x`` and ``y`` as float32 2-D arrays of equal length that fit the model."""
    layers = _bayesian_layers(model)
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 1:
        y = y[:, None]
    in_features, out_features = layers[0].loc.shape[0], layers[-1].loc.shape[1]
    if x.ndim != 2 or x.shape[1] != in_features:
        raise ValueError(f"x must have shape (examples, {in_features}), got shape {x.shape}")
    if y.ndim != 2 or y.shape[1] != out_features:
        raise ValueError(f"y must have shape (examples, {out_features}), got shape {y.shape}")
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    return layers, x, y


def _batches_per_chunk(layers, estimator, batches, batch_size, draws) -> int:
    """How many batches' draws fit in one vectorised chunk: a divisor of ``batches``."""
    if estimator != "independent":
        return batches
    # "independent" holds a kernel per example and draw.
    kernel_floats = draws * batch_size * max(int(np.prod(layer.loc.shape)) for layer in layers)
    most = max(1, _MAX_KERNEL_FLOATS // kernel_floats)
    return max(d for d in range(1, batches + 1) if batches % d == 0 and d <= most)


def _draw(function, layers, estimator, x_batches, y_batches, draws, seed):
    """Gradients for every batch: ``{layer: {"loc": (B, draws, in, out), "rho": ...}}``."""
    batches, batch_size = x_batches.shape[:2]
    per_chunk = _batches_per_chunk(layers, estimator, batches, batch_size, draws)
    gradients = function(
        tf.constant(x_batches),
        tf.constant(y_batches),
        tf.constant([seed, 0], tf.int64),
        draws,
        per_chunk,
    )
    return {
        layer.name: {
            "loc": loc.numpy().reshape(batches, draws, *loc.shape[1:]),
            "rho": rho.numpy().reshape(batches, draws, *rho.shape[1:]),
        }
        for layer, loc, rho in zip(layers, gradients[0::2], gradients[1::2], strict=True)
    }


def gradient_samples(model, x, y, estimator: str, draws: int, seed: int = 0, noise_scale=1.0):
    """Draw the loss's gradient ``draws`` times on one fixed batch.

    Parameters
    ----------
    model : tf_keras.Model
        A built model of bnnlib Bayesian dense layers (see :func:`gradient_function`).
    x, y : array_like
        The batch: inputs of shape ``(batch, in)`` and targets of shape ``(batch, out)`` (or
        ``(batch,)`` for one output).
    estimator : {"shared", "flipout", "local", "independent"}
        The kind of weight noise (see the module docstring).
    draws : int
        Number of independent noise draws, at least 2.
    seed : int, default 0
        Non-negative seed of the noise: the same seed gives the same gradients.
    noise_scale : float, default 1.0
        Standard deviation of the Gaussian likelihood, > 0.

    Returns
    -------
    dict
        ``{layer name: {"loc": array, "rho": array}}``, each a float32 array of shape
        ``(draws, in, out)``: one gradient per draw.

    Raises
    ------
    TypeError, ValueError
        If the model has other layers, the shapes do not fit it, or an argument is out of
        range.
    """
    layers, x, y = _as_arrays(model, x, y)
    draws = check_int("draws", draws, minimum=2)
    seed = check_int("seed", seed, minimum=0)
    function = gradient_function(model, estimator, noise_scale)
    if estimator == "independent":
        # One batch, its draws in chunks that fit in memory: the same batch several times.
        kernel_floats = len(x) * max(int(np.prod(layer.loc.shape)) for layer in layers)
        per_chunk = max(1, min(draws, _MAX_KERNEL_FLOATS // kernel_floats))
        copies = math.ceil(draws / per_chunk)
        samples = _draw(
            function,
            layers,
            estimator,
            np.stack([x] * copies),
            np.stack([y] * copies),
            per_chunk,
            seed,
        )
        return {
            name: {k: v.reshape(-1, *v.shape[2:])[:draws] for k, v in grads.items()}
            for name, grads in samples.items()
        }
    samples = _draw(function, layers, estimator, x[None], y[None], draws, seed)
    return {name: {k: v[0] for k, v in grads.items()} for name, grads in samples.items()}


def _check_batch_sizes(batch_sizes, examples: int) -> list[int]:
    if isinstance(batch_sizes, numbers.Integral):
        batch_sizes = [batch_sizes]
    batch_sizes = [check_int("batch_sizes[i]", size, minimum=1) for size in batch_sizes]
    if not batch_sizes:
        raise ValueError("batch_sizes must hold at least one batch size, got none")
    if max(batch_sizes) > examples:
        raise ValueError(
            f"batch_sizes must be <= the number of examples ({examples}), got {max(batch_sizes)}"
        )
    return batch_sizes


def gradient_variance(
    model,
    x,
    y,
    batch_sizes,
    *,
    estimators=ESTIMATORS,
    draws: int = 16,
    batches: int = 8,
    min_examples: int = 0,
    repeats: int = 3,
    seed: int = 0,
    noise_scale: float = 1.0,
) -> pd.DataFrame:
    """Variance of the gradient over weight noise, per layer, estimator and batch size.

    For each repeat and batch size ``N``, ``batches`` batches of ``N`` examples are drawn from
    ``(x, y)`` (without replacement within a batch) and held fixed; each estimator draws the
    gradient ``draws`` times on each batch, all in one compiled call
    (:func:`gradient_function`). The variance over draws of each parameter's gradient
    (unbiased, in float64) is averaged over the batches and over the ``loc`` or the ``rho`` of
    a layer. Averaging over batches matters: one example's gradient variance can be far from
    another's, so a single fixed batch gives a jagged curve over ``N``. Repeats use new
    batches and new noise, so their spread is the interval :doc:`Chapter 7
    </book/07_gradient_variance>` reports.

    Parameters
    ----------
    model : tf_keras.Model
        A built, trained model of bnnlib Bayesian dense layers with deterministic biases; it
        is not changed.
    x, y : array_like
        Data to draw the batches from: ``(examples, in)`` and ``(examples, out)``.
    batch_sizes : int or sequence of int
        Batch sizes, each between 1 and the number of examples.
    estimators : sequence of str, default ESTIMATORS
        Any of ``"shared"``, ``"flipout"``, ``"local"``, ``"independent"``.
    draws : int, default 16
        Noise draws per batch, at least 2.
    batches : int, default 8
        Batches per batch size and repeat, at least 1.
    min_examples : int, default 0
        Use at least ``ceil(min_examples / N)`` batches of size ``N``, so that small batches,
        which are cheap, still cover many examples (one example's gradient variance can be far
        from another's).
    repeats : int, default 3
        Independent repetitions of the whole measurement, at least 1.
    seed : int, default 0
        Non-negative seed of the batches and the noise.
    noise_scale : float, default 1.0
        Standard deviation of the Gaussian likelihood, > 0.

    Returns
    -------
    pandas.DataFrame
        One row per estimator, layer, parameter (``"loc"`` or ``"rho"``), batch size and
        repeat, with the mean per-parameter variance in column ``variance``.

    Raises
    ------
    TypeError, ValueError
        If the model has other layers, the data do not fit it, or an argument is out of range.
    """
    layers, x, y = _as_arrays(model, x, y)
    batch_sizes = _check_batch_sizes(batch_sizes, len(x))
    if isinstance(estimators, str):
        estimators = [estimators]
    estimators = [check_choice("estimators[i]", e, ESTIMATORS) for e in estimators]
    draws = check_int("draws", draws, minimum=2)
    batches = check_int("batches", batches, minimum=1)
    min_examples = check_int("min_examples", min_examples, minimum=0)
    repeats = check_int("repeats", repeats, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    functions = {e: gradient_function(model, e, noise_scale) for e in estimators}

    rows = []
    for repeat in range(repeats):
        rng = np.random.default_rng([seed, repeat])
        for batch_size in batch_sizes:
            count = max(batches, math.ceil(min_examples / batch_size))
            chosen = np.stack(
                [rng.choice(len(x), size=batch_size, replace=False) for _ in range(count)]
            )
            noise_seed = int(rng.integers(0, 2**31 - 1))
            for estimator, function in functions.items():
                samples = _draw(
                    function, layers, estimator, x[chosen], y[chosen], draws, noise_seed
                )
                for layer_name, gradients in samples.items():
                    for parameter, values in gradients.items():
                        variance = np.var(values.astype(np.float64), axis=1, ddof=1)
                        row = (estimator, layer_name, parameter, batch_size, repeat)
                        rows.append((*row, float(variance.mean())))
    return pd.DataFrame(
        rows, columns=["estimator", "layer", "parameter", "batch_size", "repeat", "variance"]
    )


def _check_table(table, needed) -> None:
    if not isinstance(table, pd.DataFrame):
        raise TypeError(
            f"table must be the DataFrame gradient_variance returns, got {type(table).__name__}"
        )
    missing = sorted(set(needed) - set(table.columns))
    if missing:
        raise ValueError(f"table must have the columns {sorted(needed)}, missing {missing}")


def fit_variance_model(table: pd.DataFrame) -> pd.DataFrame:
    """Fit ``α``, ``β``, ``γ`` of Wen et al.'s variance decomposition (2018, Theorem 2).

    The model, for a batch of ``N`` examples::

        independent:  α/N
        shared:       α/N + (N-1)/N (β + γ)
        flipout:      α/N + (N-1)/N γ

    ``α`` is the variance of one example's gradient, ``β + γ`` the covariance between two
    examples' gradients when they share the weight noise, ``γ`` what is left of it under
    Flipout. The model is linear in ``(α, β, γ)``; the fit is least squares on relative
    errors (each row divided by its measured variance), because the variances span decades.
    Rows of ``"local"`` are not used: local reparameterisation is a different gradient
    estimator, not a way of sharing a kernel. :doc:`Chapter 7 </book/07_gradient_variance>`
    uses it.

    Parameters
    ----------
    table : pandas.DataFrame
        The result of :func:`gradient_variance`, with ``"shared"`` and ``"flipout"`` rows
        (``"independent"`` rows are used if present).

    Returns
    -------
    pandas.DataFrame
        One row per layer, parameter and repeat with columns ``alpha``, ``beta``, ``gamma``
        and ``plateau`` ``= α / (β + γ)``: the batch size at which the shared estimator's
        per-example term ``α/N`` has fallen to its shared term, beyond which a larger batch
        hardly lowers its variance.

    Raises
    ------
    TypeError, ValueError
        If ``table`` is not such a table or lacks the ``"shared"`` or ``"flipout"`` rows.
    """
    _check_table(table, ["estimator", "layer", "parameter", "batch_size", "repeat", "variance"])
    used = table[table["estimator"].isin(["independent", "shared", "flipout"])]
    for estimator in ("shared", "flipout"):
        if not (used["estimator"] == estimator).any():
            raise ValueError(f"table must have rows of estimator {estimator!r}, got none")
    results = []
    for (layer, parameter, repeat), group in used.groupby(
        ["layer", "parameter", "repeat"], sort=False
    ):
        n = group["batch_size"].to_numpy(dtype=np.float64)
        shared = (group["estimator"] == "shared").to_numpy(dtype=np.float64)
        correlated = (group["estimator"] != "independent").to_numpy(dtype=np.float64)
        design = np.stack([1.0 / n, shared * (n - 1) / n, correlated * (n - 1) / n], axis=1)
        variance = group["variance"].to_numpy(dtype=np.float64)
        (alpha, beta, gamma), *_ = np.linalg.lstsq(
            design / variance[:, None], np.ones_like(variance), rcond=None
        )
        results.append((layer, parameter, repeat, alpha, beta, gamma, alpha / (beta + gamma)))
    return pd.DataFrame(
        results, columns=["layer", "parameter", "repeat", "alpha", "beta", "gamma", "plateau"]
    )


def fit_slope(table: pd.DataFrame, min_batch_size: int = 1, max_batch_size=None):
    """Slope of ``log(variance)`` against ``log(batch size)``, per estimator and repeat.

    A slope of -1 is the ideal ``1/N`` reduction of independent examples; a slope near 0
    means a larger batch no longer helps. :doc:`Chapter 7 </book/07_gradient_variance>` uses
    it.

    Parameters
    ----------
    table : pandas.DataFrame
        The result of :func:`gradient_variance`.
    min_batch_size, max_batch_size : int, optional
        Fit only the batch sizes in this range (inclusive); at least two must remain.

    Returns
    -------
    pandas.DataFrame
        One row per estimator, layer, parameter and repeat, with the least-squares slope in
        column ``slope``.

    Raises
    ------
    TypeError, ValueError
        If ``table`` is not such a table, or fewer than two batch sizes are in the range.
    """
    _check_table(table, ["estimator", "layer", "parameter", "batch_size", "repeat", "variance"])
    min_batch_size = check_int("min_batch_size", min_batch_size, minimum=1)
    max_batch_size = check_int("max_batch_size", max_batch_size, minimum=1, allow_none=True)
    upper = np.inf if max_batch_size is None else max_batch_size
    used = table[table["batch_size"].between(min_batch_size, upper)]
    results = []
    keys = ["estimator", "layer", "parameter", "repeat"]
    for key, group in used.groupby(keys, sort=False):
        if group["batch_size"].nunique() < 2:
            raise ValueError(
                f"fit_slope needs at least two batch sizes between {min_batch_size} and "
                f"{max_batch_size}, got {group['batch_size'].nunique()} for {key}"
            )
        slope, _ = np.polyfit(np.log(group["batch_size"]), np.log(group["variance"]), 1)
        results.append((*key, float(slope)))
    if not results:
        raise ValueError(
            f"fit_slope needs at least two batch sizes between {min_batch_size} and "
            f"{max_batch_size}, got none"
        )
    return pd.DataFrame(results, columns=[*keys, "slope"])
