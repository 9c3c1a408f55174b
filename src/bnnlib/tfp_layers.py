"""Correctly initialised and correctly scaled ``tfp.layers.DenseFlipout`` layers.

Two defaults of ``tfp.layers.DenseFlipout`` surprise people (:doc:`Chapter 1 </book/01_anatomy>`
shows both):

* **Identical initialisation.** The default posterior is built by
  ``tfp.layers.default_mean_field_normal_fn()``, whose initialisers are single unseeded
  ``tf_keras`` initializer objects created once, when TFP is imported. ``tf_keras`` makes an
  unseeded initializer return the *same* values on every call, so every default DenseFlipout
  layer with the same kernel shape starts with identical ``loc`` and ``untransformed_scale``.
* **Unscaled KL.** The layer adds ``KL(q || p)`` summed over all weights to ``layer.losses``.
  The ELBO per example needs ``KL / N`` for a data set of ``N`` examples; without it the
  prior dominates the likelihood.

:func:`tfp_dense_flipout` gives each layer freshly seeded initialisers and divides the KL by
``num_examples``.

**Under** ``tf.distribute``. The layers train inside a ``tf.distribute.MirroredStrategy``
scope, and the replicas draw different noise, but TFP draws it with stateful random ops: TFP
warns that such a run is not reproducible, and it is not. bnnlib's own layers
(:mod:`bnnlib.layers`) draw stateless noise and stay reproducible under a strategy.
"""

from __future__ import annotations

import numpy as np
import tensorflow_probability as tfp
import tf_keras as keras

from bnnlib._checks import check_float, check_int, check_seed, draw_seed

__all__ = ["tfp_dense_flipout", "TFP_LOC_STDDEV", "TFP_RHO_MEAN", "TFP_RHO_STDDEV"]

tfd = tfp.distributions

#: TFP's default initial spread of the posterior means, ``loc ~ Normal(0, 0.1)``.
TFP_LOC_STDDEV = 0.1
#: TFP's default initial untransformed scale ``ρ ~ Normal(-3, 0.1)``: σ = softplus(ρ) ≈ 0.0486.
TFP_RHO_MEAN = -3.0
TFP_RHO_STDDEV = 0.1


def _scaled_kl(num_examples: int, kl_weight: float):
    """``(q, p, sample) -> kl_weight * KL(q || p) / num_examples``, TFP's divergence signature."""
    factor = kl_weight / num_examples

    def scaled_kl_divergence(posterior, prior, _sample):
        return tfd.kl_divergence(posterior, prior) * factor

    return scaled_kl_divergence


def tfp_dense_flipout(
    units: int,
    num_examples: int,
    activation=None,
    seed: int | None = None,
    kl_weight: float = 1.0,
    name: str | None = None,
    **kwargs,
):
    """Build a ``tfp.layers.DenseFlipout`` with its own initial values and a KL scaled by ``1/N``.

    The posterior, prior and initial distributions are TFP's defaults
    (``loc ~ Normal(0, 0.1)``, ``ρ ~ Normal(-3, 0.1)``, σ = softplus(ρ), prior Normal(0, 1),
    deterministic bias); only two things change. Each call creates freshly seeded initialisers
    (for the kernel's ``loc`` and ``ρ`` and for the bias), so no two layers start the same. And
    the kernel KL added to ``layer.losses`` is ``kl_weight * KL(q || p) / num_examples``, the
    per-example share of the ELBO's KL term.

    Parameters
    ----------
    units : int
        Number of output units, at least 1.
    num_examples : int
        Size ``N`` of the training set, at least 1: the KL is divided by it.
    activation : str or callable, optional
        Activation, as for ``tf_keras.layers.Dense``.
    seed : int, optional
        Seeds the initial ``loc`` and ``ρ`` and TFP's sign flips. ``None`` draws the seeds from
        NumPy's global generator, which :func:`bnnlib.set_seed` seeds.
    kl_weight : float, default 1.0
        Extra non-negative factor on the KL (for annealing or tempering).
    name : str, optional
        Layer name.
    **kwargs
        Passed on to ``tfp.layers.DenseFlipout`` (for example ``bias_posterior_fn``).
        ``kernel_posterior_fn`` and ``kernel_divergence_fn`` are set here and may not be given.

    Returns
    -------
    tfp.layers.DenseFlipout
        The layer, not yet built.

    Raises
    ------
    TypeError, ValueError
        If an argument has the wrong type or is out of range, or if ``kwargs`` tries to replace
        the posterior or the divergence this factory sets.
    """
    units = check_int("units", units, minimum=1)
    num_examples = check_int("num_examples", num_examples, minimum=1)
    seed = check_seed("seed", seed, allow_none=True)
    kl_weight = check_float("kl_weight", kl_weight, minimum=0.0)
    for reserved in ("kernel_posterior_fn", "kernel_divergence_fn"):
        if reserved in kwargs:
            raise ValueError(
                f"{reserved} is set by tfp_dense_flipout; build tfp.layers.DenseFlipout "
                "directly to choose your own"
            )

    rng = None if seed is None else np.random.default_rng(seed)
    posterior_fn = tfp.layers.default_mean_field_normal_fn(
        loc_initializer=keras.initializers.RandomNormal(
            mean=0.0, stddev=TFP_LOC_STDDEV, seed=draw_seed(rng)
        ),
        untransformed_scale_initializer=keras.initializers.RandomNormal(
            mean=TFP_RHO_MEAN, stddev=TFP_RHO_STDDEV, seed=draw_seed(rng)
        ),
    )
    if "bias_posterior_fn" not in kwargs:
        # TFP's default bias is a point estimate whose initialiser is shared and unseeded too:
        # keep the point estimate, give it its own seed.
        kwargs["bias_posterior_fn"] = tfp.layers.default_mean_field_normal_fn(
            is_singular=True,
            loc_initializer=keras.initializers.RandomNormal(
                mean=0.0, stddev=TFP_LOC_STDDEV, seed=draw_seed(rng)
            ),
        )
    return tfp.layers.DenseFlipout(
        units,
        activation=activation,
        kernel_posterior_fn=posterior_fn,
        kernel_divergence_fn=_scaled_kl(num_examples, kl_weight),
        seed=draw_seed(rng),
        name=name,
        **kwargs,
    )
