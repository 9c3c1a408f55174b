"""Remove the weights a network can do without: by signal-to-noise, by size, or at random.

A Bayesian weight with a mean near zero *relative to its own uncertainty* is one the network
does not rely on. Blundell et al. (2015, Sec. 5.1) removed the weights of lowest
signal-to-noise ratio ``|μ| / σ`` and kept their test error with 75 % of the weights gone.
:func:`prune` does the same to a copy of a model, and also by size (``|μ|``, or ``|w|`` for a
plain Dense layer) and at random, the two baselines. :doc:`Chapter 10 </book/10_pruning>`
compares them.
"""

from __future__ import annotations

import numpy as np
import tf_keras as keras

from bnnlib._checks import check_choice, check_float, check_int
from bnnlib.posterior import model_posteriors

__all__ = ["PRUNE_BY", "prune", "prunable_layers"]

#: The orders :func:`prune` can remove weights in.
PRUNE_BY = ("snr", "magnitude", "random")


def prunable_layers(model) -> list:
    """The layers :func:`prune` prunes: bnnlib's Bayesian dense layers, TFP's variational
    dense layers (such as ``DenseFlipout``) and ``tf_keras.layers.Dense``, in model order.

    They are the layers :func:`bnnlib.posterior.model_posteriors` recognises.

    Parameters
    ----------
    model : tf_keras.Model
        A built model.

    Returns
    -------
    list of tf_keras.layers.Layer
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a tf_keras Model, got {type(model).__name__}")
    return [posterior.layer for _, posterior in model_posteriors(model)]


# --------------------------------------------------------------------------------------------
# Pruning
# --------------------------------------------------------------------------------------------


def _scores(posterior, by: str, rng: np.random.Generator) -> np.ndarray:
    """One score per kernel weight; the lowest are removed first."""
    if by == "random":
        return rng.random(posterior.kernel_shape)
    if by == "magnitude":
        return np.abs(posterior.loc.numpy())
    return np.abs(posterior.loc.numpy()) / np.asarray(posterior.sigma())


def prune(model, fraction: float, by: str = "snr", seed: int | None = None):
    """A copy of ``model`` with ``fraction`` of every kernel's weights set to zero.

    In each prunable layer (see :func:`prunable_layers`) the ``round(fraction * size)`` kernel
    weights of lowest score are removed, the same share in every layer:

    * ``by="snr"``: lowest signal-to-noise ratio ``|μ| / σ`` (Blundell et al. 2015); Bayesian
      layers only;
    * ``by="magnitude"``: lowest ``|μ|`` for a Bayesian layer, lowest ``|w|`` for ``Dense``;
    * ``by="random"``: a uniformly random choice, drawn from ``seed``.

    A removed **Dense** weight becomes ``w = 0``. A removed **Bayesian** weight becomes the
    point mass at zero, μ = 0 and σ = 0, which is represented by setting its unconstrained scale
    to ``-inf``:

    * bnnlib's layers: ``ρ = -inf``, so ``σ = softplus(ρ) = 0`` exactly and the weight never
      adds noise. Its KL to the prior is infinite (``-log σ``; a point mass has no density
      against a Normal prior), so the layer's KL term, and a loss that includes it, are ``inf``:
      the pruned model is for prediction, not for further training with the ELBO.
    * TFP's layers: ``untransformed_scale = -inf``, so ``σ = eps + softplus(-inf) = eps``,
      float32 machine epsilon (about 1.2e-7), the smallest σ TFP's parameterisation allows; its
      noise on an output is at most about ``1.2e-7 * |x|``. Its KL stays finite, about 15.4 nats
      per removed weight against a ``Normal(0, 1)`` prior, more than a kept weight costs.

    Biases are never pruned. The original model is not touched: the copy is made with
    ``tf_keras.models.clone_model`` and the original's weights (bnnlib's layers also copy their
    noise counter, so the copy continues the same noise sequence).
    :doc:`Chapter 10 </book/10_pruning>` compares the three orders.

    Parameters
    ----------
    model : tf_keras.Model
        A built model with at least one prunable layer.
    fraction : float
        Share of each kernel to remove, in [0, 1].
    by : {"snr", "magnitude", "random"}, default "snr"
        Which weights go first.
    seed : int, optional
        Seed (>= 0) of the random choice for ``by="random"``; ``None`` draws a fresh one.
        Ignored otherwise.

    Returns
    -------
    tf_keras.Model
        The pruned copy.

    Raises
    ------
    TypeError
        If ``model`` is not a tf_keras Model or an argument has the wrong type.
    ValueError
        If ``fraction`` is outside [0, 1], ``by`` is unknown, the model is not built or has no
        prunable layer, or ``by="snr"`` meets a layer without a posterior σ (a ``Dense``).

    Examples
    --------
    >>> from bnnlib.models import build_mlp
    >>> model = build_mlp("flipout", input_dim=4, hidden_units=(8,), num_examples=100)
    >>> pruned = prune(model, 0.5, by="snr")
    >>> float(np.mean(pruned.layers[0].loc.numpy() == 0))
    0.5
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a tf_keras Model, got {type(model).__name__}")
    fraction = check_float("fraction", fraction, minimum=0.0)
    if fraction > 1:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    check_choice("by", by, PRUNE_BY)
    seed = check_int("seed", seed, minimum=0, allow_none=True)
    if not model.built:
        raise ValueError("model must be built (give it an Input or call it once) before pruning")
    posteriors = [posterior for _, posterior in model_posteriors(model)]
    if not posteriors:
        raise ValueError(
            "model has no prunable layer: expected bnnlib Bayesian dense layers, TFP "
            "variational dense layers or tf_keras Dense layers"
        )
    if by == "snr":
        for posterior in posteriors:
            if posterior.rho is None:
                layer = posterior.layer
                raise ValueError(
                    f"by='snr' needs a posterior σ, but layer {layer.name!r} is a point-estimate "
                    f"{type(layer).__name__}: use by='magnitude' or by='random'"
                )

    pruned = keras.models.clone_model(model)
    pruned.set_weights(model.get_weights())
    rng = np.random.default_rng(seed)
    # Each family's adapter gives the kernel's μ variable and its unconstrained scale ρ.
    for _, posterior in model_posteriors(pruned):
        mean, scale = posterior.loc, posterior.rho
        scores = _scores(posterior, by, rng).ravel()
        removed = np.argsort(scores, kind="stable")[: int(round(fraction * scores.size))]
        keep = np.ones(scores.size, dtype=bool)
        keep[removed] = False
        keep = keep.reshape(mean.shape)
        mean.assign(np.where(keep, mean.numpy(), 0.0))
        if scale is not None:
            scale.assign(np.where(keep, scale.numpy(), -np.inf))
    return pruned
