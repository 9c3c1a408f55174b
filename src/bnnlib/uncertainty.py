r"""Predictions with uncertainty: Monte-Carlo sampling, and what the spread of the samples means.

A Bayesian network (or an MC-dropout network, or an ensemble) gives a different function on
every forward pass. :func:`mc_predict` draws ``n_samples`` of them at once, in one compiled
TensorFlow function, and returns a :class:`Predictive` with the samples, their mean and their
standard deviation. The spread is then split into its two sources
(:doc:`Chapter 6 </book/06_predictive_uncertainty>`):

* **classification** — for sampled class probabilities ``p[s, i, c]``, the entropy of the mean
  prediction (:func:`predictive_entropy`) is the entropy each sample expects
  (:func:`expected_entropy`, aleatoric) plus the mutual information between the prediction
  and the weights (:func:`mutual_information`, epistemic):

  .. math::

      H\Big[\tfrac{1}{S}\textstyle\sum_s p_s\Big]
      = \tfrac{1}{S}\textstyle\sum_s H[p_s] + \mathrm{MI}, \qquad \mathrm{MI} \ge 0;

* **regression** — for sampled means ``m_s`` and noise scales ``σ_s`` (a heteroscedastic
  network, or a fixed noise scale), the predictive variance is
  ``mean_s σ_s²`` (aleatoric) ``+ var_s m_s`` (epistemic): :func:`variance_split`.

**Seeding.** bnnlib's random layers (:mod:`bnnlib.layers`, :class:`bnnlib.dropout.MCDropout`)
key their noise by a call counter, the weight ``noise_counter``. With ``seed=s``,
:func:`mc_predict` sets every counter to a value reserved for ``s`` (beyond any count a
training run reaches), draws, and puts the counters back: two calls with the same seed give
the same samples and leave the model as it was. TFP's layers draw from TensorFlow's stateful
generators, which ``seed`` cannot reach: their samples differ from call to call, except that
separately compiled functions replay the same noise (for example two fresh processes after
the same :func:`bnnlib.set_seed`).
"""

from __future__ import annotations

import dataclasses
import weakref

import numpy as np
import tensorflow as tf
import tf_keras as keras

from bnnlib._checks import check_int, check_seed

__all__ = [
    "Predictive",
    "VarianceSplit",
    "expected_entropy",
    "mc_predict",
    "mutual_information",
    "predictive_entropy",
    "variance_split",
]

# Seeded draws set the counters to (seed + 1) * 2**32 + call number: far beyond any count a
# training run reaches, and disjoint for different seeds.
_SEED_STRIDE = 2**32

# One compiled sampler per (model, transform), kept as long as the model lives, so repeated
# predictions do not trace again.
_SAMPLERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclasses.dataclass(frozen=True)
class Predictive:
    """Monte-Carlo samples of a network's outputs, and their mean and spread.

    Attributes
    ----------
    samples : numpy.ndarray
        Shape ``(n_samples, batch, outputs)``, float32: one row of outputs per forward pass.
    """

    samples: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        """Mean over the samples, shape ``(batch, outputs)``."""
        return self.samples.mean(axis=0)

    @property
    def std(self) -> np.ndarray:
        """Standard deviation over the samples (``ddof=0``), shape ``(batch, outputs)``."""
        return self.samples.std(axis=0)

    @property
    def n_samples(self) -> int:
        """Number of samples."""
        return self.samples.shape[0]


@dataclasses.dataclass(frozen=True)
class VarianceSplit:
    """The predictive mean and the two parts of the predictive variance of a regression.

    Attributes
    ----------
    mean : numpy.ndarray
        Predictive mean, shape ``(batch, outputs)``.
    aleatoric : numpy.ndarray
        Mean of the noise variance over the samples, shape ``(batch, outputs)``.
    epistemic : numpy.ndarray
        Variance of the sampled means (``ddof=0``), shape ``(batch, outputs)``.
    """

    mean: np.ndarray
    aleatoric: np.ndarray
    epistemic: np.ndarray

    @property
    def total(self) -> np.ndarray:
        """The predictive variance, ``aleatoric + epistemic``."""
        return self.aleatoric + self.epistemic


def _noise_counters(model) -> list:
    """The ``noise_counter`` weights of bnnlib's random layers in ``model``."""
    return [
        weight
        for weight in model.non_trainable_weights
        if weight.name.split("/")[-1].split(":")[0] == "noise_counter"
    ]


def _transform_function(transform):
    """``transform`` as a callable on tensors (``None``: the identity)."""
    if transform is None:
        return None
    if isinstance(transform, str):
        try:
            return keras.activations.get(transform)
        except ValueError:
            raise ValueError(
                f"transform must be None, a callable or a Keras activation name such as "
                f"'softmax', got {transform!r}"
            ) from None
    if callable(transform):
        return transform
    raise TypeError(
        f"transform must be None, a callable or an activation name, got {type(transform).__name__}"
    )


def _sampler(model, transform):
    """The compiled ``draw(x, n) -> (n, batch, outputs)`` for ``model`` and ``transform``."""
    per_model = _SAMPLERS.setdefault(model, {})
    if transform in per_model:
        return per_model[transform]
    function = _transform_function(transform)

    @tf.function(reduce_retracing=True, autograph=False)
    def draw(x, n_samples):
        def body(i, samples):
            outputs = model(x, training=False)
            if function is not None:
                outputs = function(outputs)
            return i + 1, samples.write(i, tf.cast(outputs, tf.float32))

        samples = tf.TensorArray(tf.float32, size=n_samples)
        # One pass after the other: each pass advances the layers' noise counters, and the
        # order of the samples must not depend on the scheduler.
        _, samples = tf.while_loop(
            lambda i, _: i < n_samples, body, (tf.constant(0), samples), parallel_iterations=1
        )
        return samples.stack()

    per_model[transform] = draw
    return draw


def _check_models(model) -> list:
    """``model`` as a non-empty list of tf_keras models or layers."""
    members = list(model) if isinstance(model, list | tuple) else [model]
    if not members:
        raise ValueError("model is an empty list: an ensemble needs at least one member")
    for member in members:
        if not isinstance(member, keras.layers.Layer):
            raise TypeError(
                f"model must be a tf_keras Model or a list of them, got {type(member).__name__}"
            )
    return members


def _check_inputs(x) -> np.ndarray:
    """``x`` as a float32 array of shape ``(batch, features...)`` with batch >= 1."""
    try:
        x = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError):
        raise TypeError(f"x must be an array of numbers, got {type(x).__name__}") from None
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"x must have shape (batch, features) with batch >= 1, got {x.shape}")
    return x


def mc_predict(
    model,
    x,
    n_samples: int,
    batch_size: int | None = None,
    seed: int | None = None,
    transform=None,
) -> Predictive:
    """Draw ``n_samples`` forward passes of a random network, in one compiled call.

    Each sample is one call ``model(x, training=False)``: a fresh weight sample for Flipout
    layers, fresh masks for :class:`~bnnlib.dropout.MCDropout`. All samples of a chunk of
    inputs are drawn by one ``tf.function`` (a ``tf.while_loop`` over the samples), compiled
    once per model and reused, which is much faster than a Python loop of eager calls
    (``benchmarks/bench_uncertainty.py``). :doc:`Chapter 6 </book/06_predictive_uncertainty>`
    uses it throughout.

    Parameters
    ----------
    model : tf_keras.Model or list of tf_keras.Model
        The network. A list is an ensemble: ``n_samples`` passes of each member, stacked
        member after member, so ``samples[i * n_samples + s]`` is pass ``s`` of member ``i``.
        For deterministic members (Dense nets) use ``n_samples=1``: one sample per member.
    x : array_like
        Inputs, shape ``(batch, features)``.
    n_samples : int
        Forward passes per member, at least 1.
    batch_size : int, optional
        If given, the inputs are fed in chunks of at most this many rows (one compiled call
        per chunk). When seeding is possible (bnnlib layers), every chunk uses the same noise
        counters, so sample ``s`` of each chunk comes from the same shared weight draw.
    seed : int, optional
        Non-negative integer below ``2**31``. Two calls with the same seed give the same
        samples for bnnlib's layers, and the layers' noise counters are restored afterwards;
        ``None`` continues each layer's noise sequence. TFP layers are not seeded by it (see
        the module docstring).
    transform : None, str or callable, optional
        Applied to each pass's outputs inside the compiled function: ``"softmax"`` (or
        ``tf.nn.softmax``) turns logits into probabilities; ``None`` keeps the outputs as they
        are (a network ending in ``softmax`` already gives probabilities).

    Returns
    -------
    Predictive
        ``samples`` of shape ``(n_members * n_samples, batch, outputs)``, and their ``mean``
        and ``std``.

    Raises
    ------
    TypeError
        If ``model`` is not a tf_keras model (or list of them), ``x`` is not numeric, an
        integer argument is not an integer, or ``transform`` is not a callable or a name.
    ValueError
        If the list of models is empty, ``x`` is not at least 2-D with a row, an integer is
        below 1 (``seed`` below 0 or above ``2**31 - 1``), or ``transform`` is an unknown name.

    Examples
    --------
    >>> from bnnlib.models import build_mlp
    >>> net = build_mlp("flipout", input_dim=1, num_examples=10, seed=0)
    >>> predictive = mc_predict(net, np.zeros((4, 1)), n_samples=50, seed=1)
    >>> predictive.samples.shape, predictive.mean.shape
    ((50, 4, 1), (4, 1))
    """
    members = _check_models(model)
    x = _check_inputs(x)
    n_samples = check_int("n_samples", n_samples, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1, allow_none=True)
    seed = check_seed("seed", seed, allow_none=True)
    _transform_function(transform)  # check it before any work is done
    chunk = batch_size or x.shape[0]
    per_member = []
    for member in members:
        draw = _sampler(member, transform)
        counters = _noise_counters(member)
        saved = [int(counter.numpy()) for counter in counters]
        starts = [(seed + 1) * _SEED_STRIDE for _ in counters] if seed is not None else saved
        parts = []
        for begin in range(0, x.shape[0], chunk):
            for counter, start in zip(counters, starts, strict=True):
                counter.assign(start)
            parts.append(draw(tf.constant(x[begin : begin + chunk]), tf.constant(n_samples)))
        ends = saved if seed is not None else [start + n_samples for start in starts]
        for counter, end in zip(counters, ends, strict=True):
            counter.assign(end)
        per_member.append(np.concatenate([part.numpy() for part in parts], axis=1))
    return Predictive(np.concatenate(per_member, axis=0))


def _check_probs(probs) -> np.ndarray:
    """``probs`` as a float64 array of shape ``(samples, batch, classes)`` of distributions."""
    try:
        probs = np.asarray(probs, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"probs must be an array of numbers, got {type(probs).__name__}") from None
    if probs.ndim != 3 or 0 in probs.shape:
        raise ValueError(
            f"probs must have shape (samples, batch, classes), none empty, got {probs.shape}"
        )
    if not np.all(np.isfinite(probs) & (probs >= 0)):
        raise ValueError("probs must be finite and >= 0")
    sums = probs.sum(axis=-1)
    if not np.allclose(sums, 1.0, atol=1e-4):
        worst = sums.flat[np.argmax(np.abs(sums - 1.0))]
        raise ValueError(
            f"probs must sum to 1 over the classes (last axis), got a sum of {worst:.6g}"
        )
    return probs


def _entropy(probs) -> np.ndarray:
    """Entropy in nats over the last axis, with ``0 log 0 = 0``."""
    logs = np.log(np.where(probs > 0, probs, 1.0))
    return -np.sum(probs * logs, axis=-1)


def predictive_entropy(probs) -> np.ndarray:
    """Entropy of the mean predicted distribution, in nats: the total uncertainty.

    ``H[mean_s p_s] = -Σ_c p̄_c log p̄_c`` with ``p̄ = mean_s p_s`` (:doc:`Chapter 6
    </book/06_predictive_uncertainty>`).

    Parameters
    ----------
    probs : array_like
        Sampled class probabilities, shape ``(samples, batch, classes)``, each row summing to 1
        (to within 1e-4).

    Returns
    -------
    numpy.ndarray
        Shape ``(batch,)``, between 0 and ``log(classes)``.

    Raises
    ------
    TypeError
        If ``probs`` is not numeric.
    ValueError
        If ``probs`` is not 3-D, is empty, has negative or non-finite entries, or rows that
        do not sum to 1.
    """
    return _entropy(_check_probs(probs).mean(axis=0))


def expected_entropy(probs) -> np.ndarray:
    """Mean over the samples of each sample's entropy, in nats: the aleatoric part.

    ``mean_s H[p_s]``: what each sampled network thinks the label's own randomness is.
    Parameters, returns and errors as for :func:`predictive_entropy`.
    """
    return _entropy(_check_probs(probs)).mean(axis=0)


def mutual_information(probs) -> np.ndarray:
    """Mutual information between the label and the weights, in nats: the epistemic part.

    ``predictive_entropy(probs) - expected_entropy(probs)``, which is >= 0 (entropy is
    concave) and 0 exactly when all samples agree. Tiny negative values from rounding are
    clipped to 0. Parameters, returns and errors as for :func:`predictive_entropy`.
    """
    probs = _check_probs(probs)
    return np.maximum(_entropy(probs.mean(axis=0)) - _entropy(probs).mean(axis=0), 0.0)


def variance_split(means, scales) -> VarianceSplit:
    """Split a regression's predictive variance into aleatoric and epistemic parts.

    With ``S`` sampled means ``m_s`` and noise scales ``σ_s`` at each input, the predictive
    distribution is a mixture of ``Normal(m_s, σ_s)``, whose variance is

    ``mean_s σ_s²`` (aleatoric: the noise the network expects) ``+ var_s m_s`` (epistemic: how
    much the sampled functions disagree).

    For a heteroscedastic network (``build_mlp(..., heteroscedastic=True)``) take ``means,
    scales = bnnlib.models.split_mean_scale(mc_predict(...).samples)``; for a network with a
    fixed noise scale pass that number. :doc:`Chapter 6 </book/06_predictive_uncertainty>`
    plots both parts.

    Parameters
    ----------
    means : array_like
        Sampled means, shape ``(samples, batch, outputs)``.
    scales : array_like or float
        Noise standard deviations, > 0, broadcastable to ``means``.

    Returns
    -------
    VarianceSplit
        ``mean``, ``aleatoric`` and ``epistemic`` (and ``total``), each ``(batch, outputs)``.

    Raises
    ------
    TypeError
        If ``means`` or ``scales`` is not numeric.
    ValueError
        If ``means`` is not 3-D or is empty, or ``scales`` does not broadcast to it or has
        entries that are not finite and > 0.
    """
    try:
        means = np.asarray(means, dtype=np.float64)
        scales = np.asarray(scales, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError("means and scales must be arrays of numbers") from None
    if means.ndim != 3 or 0 in means.shape:
        raise ValueError(
            f"means must have shape (samples, batch, outputs), none empty, got {means.shape}"
        )
    try:
        scales = np.broadcast_to(scales, means.shape)
    except ValueError:
        raise ValueError(
            f"scales must broadcast to the shape of means {means.shape}, got {scales.shape}"
        ) from None
    if not np.all(np.isfinite(scales) & (scales > 0)):
        raise ValueError("scales must be finite and > 0 everywhere")
    return VarianceSplit(
        mean=means.mean(axis=0),
        aleatoric=np.mean(np.square(scales), axis=0),
        epistemic=means.var(axis=0),
    )
