"""Small multilayer perceptrons built three ways, for fair side-by-side runs.

:func:`build_mlp` builds the same architecture from plain ``Dense`` layers, from bnnlib's
:class:`~bnnlib.layers.FlipoutDense`, or from TFP's ``DenseFlipout``, and gives all three the
same starting means for a given seed: the Dense kernels equal the Flipout ``loc`` at the start,
so any difference after training comes from the posterior, not from the initialisation.
:doc:`Chapter 4 </book/04_training_side_by_side>` trains them side by side.
"""

from __future__ import annotations

import difflib

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras as keras

from bnnlib._checks import MAX_SEED, check_choice, check_float, check_int, check_seed, draw_seed
from bnnlib.layers import FlipoutDense
from bnnlib.tfp_layers import tfp_dense_flipout

__all__ = ["KINDS", "build_mlp"]

tfd = tfp.distributions

#: The layer types :func:`build_mlp` can build the network from.
KINDS = ("dense", "flipout", "tfp_flipout")

# Arguments build_mlp sets itself for every layer.
_RESERVED = ("units", "activation", "seed", "name")
# build_mlp's own arguments, and the FlipoutDense arguments it passes on to every layer.
_OWN_ARGUMENTS = (
    "kind",
    "input_dim",
    "hidden_units",
    "output_dim",
    "activation",
    "output_activation",
    "num_examples",
    "seed",
)
_LAYER_ARGUMENTS = (
    "kl_weight",
    "prior_scale",
    "bayesian_bias",
    "loc_initializer_stddev",
    "rho_initializer_mean",
    "rho_initializer_stddev",
)


def _normal_prior_fn(prior_scale: float):
    """A TFP ``kernel_prior_fn`` for a fixed ``Normal(0, prior_scale)`` on every weight."""

    def normal_prior(dtype, shape, name, trainable, add_variable_fn):
        normal = tfd.Normal(loc=tf.zeros(shape, dtype), scale=tf.constant(prior_scale, dtype))
        return tfd.Independent(normal, reinterpreted_batch_ndims=len(shape))

    return normal_prior


def _tfp_layer(units, activation, num_examples, seed, name, kl_weight, prior_scale):
    """A TFP DenseFlipout whose bias starts at zero, like Dense's and FlipoutDense's."""
    # A zero bias initialiser, instead of TFP's shared unseeded random one (which also makes
    # tf_keras warn when several layers use it).
    bias_posterior_fn = tfp.layers.default_mean_field_normal_fn(
        is_singular=True, loc_initializer=keras.initializers.Zeros()
    )
    return tfp_dense_flipout(
        units,
        num_examples,
        activation=activation,
        seed=seed,
        kl_weight=kl_weight,
        name=name,
        kernel_prior_fn=_normal_prior_fn(prior_scale),
        bias_posterior_fn=bias_posterior_fn,
    )


def _weights_by_name(layer) -> dict:
    """``{"kernel_posterior_loc": variable, ...}``: a layer's weights by their short names."""
    return {weight.name.split("/")[-1].split(":")[0]: weight for weight in layer.weights}


def _copy_starting_means(layer, reference: FlipoutDense, kind: str) -> None:
    """Give ``layer`` the starting posterior (or weights) of the built ``reference``."""
    if kind == "dense":
        layer.kernel.assign(reference.loc)
        layer.bias.assign(reference.bias)
    else:
        weights = _weights_by_name(layer)
        weights["kernel_posterior_loc"].assign(reference.loc)
        # TFP's σ is softplus(untransformed_scale) + machine epsilon: equal ρ gives σ equal to
        # within 1.2e-7.
        weights["kernel_posterior_untransformed_scale"].assign(reference.rho)


def build_mlp(
    kind: str,
    input_dim: int,
    hidden_units=(32, 32),
    output_dim: int = 1,
    activation="relu",
    output_activation=None,
    num_examples: int | None = None,
    seed: int | None = 0,
    **layer_kwargs,
) -> keras.Sequential:
    """Build a multilayer perceptron from Dense, FlipoutDense or TFP DenseFlipout layers.

    The three kinds share the architecture (layers named ``hidden_1``, ``hidden_2``, ...,
    ``output``) and, for a given ``seed``, the starting means: every layer starts from the
    ``loc``, ``rho`` and (zero) bias of a :class:`~bnnlib.layers.FlipoutDense` with the same
    seed. So a Dense kernel equals the Flipout ``loc`` at the start, and TFP's
    ``kernel_posterior_loc`` and ``kernel_posterior_untransformed_scale`` equal ``loc`` and
    ``rho``. The Bayesian kinds weight their KL by ``kl_weight / num_examples``, the ELBO per
    example (:doc:`Chapter 3 </book/03_objective>`). :doc:`Chapter 4
    </book/04_training_side_by_side>` trains the kinds side by side.

    Parameters
    ----------
    kind : {"dense", "flipout", "tfp_flipout"}
        ``"dense"``: ``tf_keras.layers.Dense``; ``"flipout"``:
        :class:`bnnlib.layers.FlipoutDense`; ``"tfp_flipout"``: ``tfp.layers.DenseFlipout``
        built by :func:`bnnlib.tfp_layers.tfp_dense_flipout`.
    input_dim : int
        Number of input features, at least 1.
    hidden_units : sequence of int, default (32, 32)
        Width of each hidden layer, each at least 1; empty for a single layer.
    output_dim : int, default 1
        Number of outputs, at least 1.
    activation : str or callable, default "relu"
        Activation of the hidden layers.
    output_activation : str or callable, optional
        Activation of the output layer (``"softmax"`` for class probabilities); linear if
        ``None``.
    num_examples : int, optional
        Size ``N`` of the training set, at least 1: the KL is divided by it. Required for the
        Bayesian kinds, ignored for ``"dense"``.
    seed : int, optional, default 0
        Non-negative integer below ``2**31`` that fixes the starting values (and the noise of
        the Bayesian layers). ``None`` draws one from NumPy's global generator.
    **layer_kwargs
        Further :class:`~bnnlib.layers.FlipoutDense` arguments, for every layer:
        ``kl_weight`` (an extra factor, default 1), ``prior_scale``,
        ``loc_initializer_stddev``, ``rho_initializer_mean``, ``rho_initializer_stddev``,
        ``bayesian_bias``. For ``"dense"`` only the starting means use them (a Dense layer has
        no posterior); ``"tfp_flipout"`` does not support ``bayesian_bias=True``.

    Returns
    -------
    tf_keras.Sequential
        The built, uncompiled model, named ``"<kind>_mlp"``.

    Raises
    ------
    TypeError
        If an argument has the wrong type or ``layer_kwargs`` holds an unknown argument.
    ValueError
        If ``kind`` is unknown, a size is below 1, ``num_examples`` is missing for a Bayesian
        kind, ``layer_kwargs`` sets ``units``, ``activation``, ``seed`` or ``name``, or
        ``bayesian_bias=True`` is asked of ``"tfp_flipout"``.

    Examples
    --------
    >>> dense = build_mlp("dense", input_dim=1, seed=3)
    >>> flipout = build_mlp("flipout", input_dim=1, num_examples=64, seed=3)
    >>> bool(np.all(dense.layers[0].kernel.numpy() == flipout.layers[0].loc.numpy()))
    True
    """
    check_choice("kind", kind, KINDS)
    input_dim = check_int("input_dim", input_dim, minimum=1)
    output_dim = check_int("output_dim", output_dim, minimum=1)
    if isinstance(hidden_units, str) or not hasattr(hidden_units, "__iter__"):
        raise TypeError(
            f"hidden_units must be a sequence of integers, got {type(hidden_units).__name__}"
        )
    hidden_units = [
        check_int(f"hidden_units[{i}]", units, minimum=1) for i, units in enumerate(hidden_units)
    ]
    if kind == "dense":
        num_examples = check_int("num_examples", num_examples, minimum=1, allow_none=True)
    elif num_examples is None:
        raise ValueError(
            f"kind={kind!r} needs num_examples, the training-set size N that divides the KL"
        )
    else:
        num_examples = check_int("num_examples", num_examples, minimum=1)
    seed = check_seed("seed", seed, allow_none=True)
    for reserved in _RESERVED:
        if reserved in layer_kwargs:
            raise ValueError(f"{reserved} is set by build_mlp and may not be in layer_kwargs")
    for key in layer_kwargs:
        if key not in _LAYER_ARGUMENTS:
            # A misspelt argument (hidden=..., epochs=...) lands here: name the real one.
            close = difflib.get_close_matches(key, [*_OWN_ARGUMENTS, *_LAYER_ARGUMENTS], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TypeError(
                f"build_mlp got an unexpected argument {key!r}{hint} (its arguments: "
                f"{', '.join(_OWN_ARGUMENTS)}, and the layer arguments "
                f"{', '.join(_LAYER_ARGUMENTS)})"
            )
    kl_weight = check_float("kl_weight", layer_kwargs.pop("kl_weight", 1.0), minimum=0.0)
    if kind == "tfp_flipout" and layer_kwargs.get("bayesian_bias", False):
        raise ValueError(
            "kind='tfp_flipout' keeps TFP's deterministic bias; use kind='flipout' for "
            "bayesian_bias=True"
        )

    widths = [*hidden_units, output_dim]
    activations = [activation] * len(hidden_units) + [output_activation]
    names = [f"hidden_{i}" for i in range(1, len(hidden_units) + 1)] + ["output"]
    if seed is None:
        seed = draw_seed()
    layer_seeds = [int(s) for s in np.random.default_rng(seed).integers(0, MAX_SEED, len(widths))]
    per_example = kl_weight / (num_examples or 1)

    # FlipoutDense layers with these seeds define the starting means of every kind; building
    # them also validates layer_kwargs the same way for all kinds.
    references = [
        FlipoutDense(
            units,
            activation=act,
            kl_weight=per_example,
            seed=layer_seed,
            name=name,
            **layer_kwargs,
        )
        for units, act, layer_seed, name in zip(
            widths, activations, layer_seeds, names, strict=True
        )
    ]
    if kind == "flipout":
        layers = references
    elif kind == "dense":
        layers = [
            keras.layers.Dense(units, activation=act, name=name)
            for units, act, name in zip(widths, activations, names, strict=True)
        ]
    else:
        prior_scale = references[0].prior_scale
        layers = [
            _tfp_layer(units, act, num_examples, layer_seed, name, kl_weight, prior_scale)
            for units, act, layer_seed, name in zip(
                widths, activations, layer_seeds, names, strict=True
            )
        ]
    model = keras.Sequential([keras.Input(shape=(input_dim,)), *layers], name=f"{kind}_mlp")
    if kind != "flipout":
        in_features = input_dim
        for layer, reference in zip(layers, references, strict=True):
            reference.build((None, in_features))
            _copy_starting_means(layer, reference, kind)
            in_features = reference.units
    return model
