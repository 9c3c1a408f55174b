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
import tensorflow as tf
import tf_keras as keras

from bnnlib._checks import check_choice, check_float, check_int

__all__ = ["PRUNE_BY", "prune", "prunable_layers"]

#: The orders :func:`prune` can remove weights in.
PRUNE_BY = ("snr", "magnitude", "random")


# --------------------------------------------------------------------------------------------
# The kernel of each layer family: its mean (or weight) variable, and σ where there is one
# --------------------------------------------------------------------------------------------


def _bnnlib_kernel(layer):
    """bnnlib's Bayesian layers: ``(loc, rho)`` variables, σ = softplus(ρ); else None."""
    loc, rho = getattr(layer, "loc", None), getattr(layer, "rho", None)
    if isinstance(loc, tf.Variable) and isinstance(rho, tf.Variable):
        return loc, rho
    return None


def _tfp_kernel(layer):
    """TFP's variational layers: ``(loc, untransformed_scale)`` variables; else None."""
    posterior = getattr(layer, "kernel_posterior", None)
    distribution = getattr(posterior, "distribution", posterior)
    loc = getattr(distribution, "loc", None)
    # σ = eps + softplus(untransformed_scale), held as a DeferredTensor over the variable.
    scale = getattr(getattr(distribution, "scale", None), "pretransformed_input", None)
    if isinstance(loc, tf.Variable) and isinstance(scale, tf.Variable):
        return loc, scale
    return None


def _kernel_variables(layer):
    """``(mean variable, unconstrained-σ variable or None)`` of a prunable layer, else None."""
    for reader in (_bnnlib_kernel, _tfp_kernel):
        variables = reader(layer)
        if variables is not None:
            return variables
    if isinstance(layer, keras.layers.Dense) and getattr(layer, "kernel", None) is not None:
        return layer.kernel, None
    return None


def _sigma(layer) -> np.ndarray:
    """The kernel's posterior σ, read as the layer computes it."""
    if _bnnlib_kernel(layer) is not None:
        return np.asarray(layer.sigma)
    return np.asarray(tf.convert_to_tensor(layer.kernel_posterior.distribution.scale))


def _layers_of(model):
    """Every layer of ``model``, looking inside nested models, in order."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _layers_of(layer)
        else:
            yield layer


def prunable_layers(model) -> list:
    """The layers :func:`prune` prunes: bnnlib's Bayesian dense layers, TFP's variational
    dense layers (such as ``DenseFlipout``) and ``tf_keras.layers.Dense``, in model order.

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
    return [layer for layer in _layers_of(model) if _kernel_variables(layer) is not None]


# --------------------------------------------------------------------------------------------
# Pruning
# --------------------------------------------------------------------------------------------


def _scores(layer, by: str, rng: np.random.Generator) -> np.ndarray:
    """One score per kernel weight; the lowest are removed first."""
    mean, scale = _kernel_variables(layer)
    if by == "random":
        return rng.random(mean.shape)
    if by == "magnitude":
        return np.abs(mean.numpy())
    return np.abs(mean.numpy()) / _sigma(layer)


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
    layers = prunable_layers(model)
    if not layers:
        raise ValueError(
            "model has no prunable layer: expected bnnlib Bayesian dense layers, TFP "
            "variational dense layers or tf_keras Dense layers"
        )
    if by == "snr":
        for layer in layers:
            if _kernel_variables(layer)[1] is None:
                raise ValueError(
                    f"by='snr' needs a posterior σ, but layer {layer.name!r} is a point-estimate "
                    f"{type(layer).__name__}: use by='magnitude' or by='random'"
                )

    pruned = keras.models.clone_model(model)
    pruned.set_weights(model.get_weights())
    rng = np.random.default_rng(seed)
    for layer in prunable_layers(pruned):
        mean, scale = _kernel_variables(layer)
        scores = _scores(layer, by, rng).ravel()
        removed = np.argsort(scores, kind="stable")[: int(round(fraction * scores.size))]
        keep = np.ones(scores.size, dtype=bool)
        keep[removed] = False
        keep = keep.reshape(mean.shape)
        mean.assign(np.where(keep, mean.numpy(), 0.0))
        if scale is not None:
            scale.assign(np.where(keep, scale.numpy(), -np.inf))
    return pruned
