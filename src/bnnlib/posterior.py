"""Read (and write) the weight posterior of a dense layer, whatever library built it.

Three families of dense layers hold their weights differently:

* bnnlib's Bayesian layers (:class:`~bnnlib.layers.FlipoutDense` and the other estimators):
  variables ``loc`` and ``rho`` with σ = softplus(ρ), and a ``kl_loss()`` method; the bias is
  ``bias`` (a point estimate) or ``bias_loc``/``bias_rho``. Recognised by these attributes, so
  your own layers with the same attributes work too.
* TensorFlow Probability's variational layers (``DenseFlipout``, ``DenseReparameterization``,
  ``DenseLocalReparameterization``, or any layer with a ``kernel_posterior`` whose
  distribution has ``loc``): σ is the posterior's ``scale``, TFP's
  ``eps + softplus(untransformed_scale)``; the KL is the layer's own divergence function.
* plain ``tf_keras.layers.Dense``: μ is the kernel itself, σ = 0 and the KL is 0.

:func:`layer_posterior` answers "which family is this layer?" once and returns a small
adapter, :class:`LayerPosterior`, with the same reading methods for all three and the
underlying variables (μ and the untransformed scale ρ, or the Dense kernel) for writing, for
example to prune a weight. :func:`model_posteriors` finds every such layer in a model, and
:func:`posterior_summary` describes them in one table. :doc:`Chapter 4
</book/04_training_side_by_side>` reads the posterior this way.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras as keras

from bnnlib._checks import check_float

__all__ = [
    "BnnlibPosterior",
    "DensePosterior",
    "LayerPosterior",
    "TfpPosterior",
    "layer_posterior",
    "model_posteriors",
    "posterior_summary",
]


def _numpy(value) -> np.ndarray:
    """One conversion to NumPy: a variable, a tensor or a TFP ``DeferredTensor``."""
    return np.asarray(tf.convert_to_tensor(value))


def _element_distribution(distribution):
    """The element-wise distribution inside TFP's ``Independent`` wrapper (or itself)."""
    return getattr(distribution, "distribution", distribution)


class LayerPosterior:
    """The posterior of one dense layer, read the same way for every family.

    Use :func:`layer_posterior` to get one. Reading methods return tensors (so they work in a
    compiled function) or, through :meth:`read`, NumPy arrays. The variables behind them are
    attributes, for writing: ``posterior.loc.assign(...)``.

    Attributes
    ----------
    layer : tf_keras.layers.Layer
        The layer.
    family : str
        ``"bnnlib"``, ``"tfp"`` or ``"dense"``.
    loc : tf.Variable
        The kernel's posterior means μ (for ``Dense``, the kernel itself).
    rho : tf.Variable or None
        The kernel's untransformed scale ρ (σ = softplus(ρ), plus TFP's tiny ``eps``);
        ``None`` for ``Dense``.
    bias_loc : tf.Variable or None
        The bias (its posterior mean when it has a posterior); ``None`` without a bias.
    bias_rho : tf.Variable or None
        The bias's untransformed scale when the bias has a posterior, else ``None``.
    """

    family = ""

    def __init__(self, layer, loc, rho=None, bias_loc=None, bias_rho=None):
        self.layer = layer
        self.loc = loc
        self.rho = rho
        self.bias_loc = bias_loc
        self.bias_rho = bias_rho

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.layer.name!r}, kernel_shape={self.kernel_shape})"

    @property
    def kernel_shape(self) -> tuple[int, ...]:
        """Shape of the kernel, ``(inputs, units)``, read without copying the values."""
        return tuple(int(n) for n in self.loc.shape)

    def sigma(self):
        """The kernel's posterior standard deviations (a tensor); ``None`` for a point estimate."""
        return None

    def bias_sigma(self):
        """The bias's posterior standard deviations; ``None`` for a point-estimate bias."""
        return None

    def kl(self):
        """The KL term the layer adds to its losses on each call, from its current variables.

        Includes the layer's own factors (``kl_weight``, a ``1/N`` in a TFP divergence
        function). A scalar tensor; 0 for ``Dense``.
        """
        return tf.constant(0.0)

    def read(self):
        """``(loc, sigma, bias_loc, bias_sigma)`` as NumPy arrays.

        ``sigma`` is ``None`` for a point-estimate kernel, ``bias_sigma`` for a point-estimate
        bias (σ = 0), ``bias_loc`` for a layer without a bias.
        """
        return tuple(
            None if value is None else _numpy(value)
            for value in (self.loc, self.sigma(), self.bias_loc, self.bias_sigma())
        )


class BnnlibPosterior(LayerPosterior):
    """A bnnlib Bayesian dense layer (or a layer with the same attributes)."""

    family = "bnnlib"

    def __init__(self, layer):
        bias_loc = getattr(layer, "bias_loc", None)
        if bias_loc is None:
            bias_loc = getattr(layer, "bias", None)
        super().__init__(layer, layer.loc, layer.rho, bias_loc, getattr(layer, "bias_rho", None))

    @staticmethod
    def matches(layer) -> bool:
        """Whether ``layer`` has ``loc`` and ``rho`` variables and a ``sigma`` property."""
        # ``sigma`` is looked up without evaluating it: detection runs at every record.
        has_sigma = hasattr(type(layer), "sigma") or "sigma" in vars(layer)
        return has_sigma and all(
            isinstance(getattr(layer, name, None), tf.Variable) for name in ("loc", "rho")
        )

    def sigma(self):
        return self.layer.sigma

    def bias_sigma(self):
        return getattr(self.layer, "bias_sigma", None) if self.bias_rho is not None else None

    def kl(self):
        # kl_loss() is kl_weight * kl_divergence(); a look-alike layer may only have the latter.
        for name in ("kl_loss", "kl_divergence"):
            method = getattr(self.layer, name, None)
            if callable(method):
                return method()
        return tf.constant(float("nan"))


class TfpPosterior(LayerPosterior):
    """A TensorFlow Probability variational dense layer."""

    family = "tfp"

    def __init__(self, layer):
        kernel = _element_distribution(layer.kernel_posterior)
        bias_loc = bias_rho = None
        self._bias = None
        if getattr(layer, "bias_posterior", None) is not None:
            self._bias = _element_distribution(layer.bias_posterior)
            bias_loc = self._bias.loc
            bias_rho = _untransformed(getattr(self._bias, "scale", None))
        self._kernel = kernel
        super().__init__(
            layer, kernel.loc, _untransformed(getattr(kernel, "scale", None)), bias_loc, bias_rho
        )

    @staticmethod
    def matches(layer) -> bool:
        """Whether ``layer`` has a ``kernel_posterior`` whose distribution has a ``loc``."""
        posterior = getattr(layer, "kernel_posterior", None)
        return posterior is not None and hasattr(_element_distribution(posterior), "loc")

    def sigma(self):
        scale = getattr(self._kernel, "scale", None)
        return None if scale is None else tf.convert_to_tensor(scale)

    def bias_sigma(self):
        scale = getattr(self._bias, "scale", None)
        return None if scale is None else tf.convert_to_tensor(scale)

    def kl(self):
        # The divergence functions get None as their posterior sample, as DenseFlipout itself
        # passes: drawing one would change the random stream of the training being watched.
        # A Monte-Carlo divergence that needs a sample raises; callers report it as NaN.
        total = tf.constant(0.0)
        for part in ("kernel", "bias"):
            divergence_fn = getattr(self.layer, f"{part}_divergence_fn", None)
            posterior = getattr(self.layer, f"{part}_posterior", None)
            prior = getattr(self.layer, f"{part}_prior", None)
            if divergence_fn is not None and posterior is not None and prior is not None:
                total += tf.cast(divergence_fn(posterior, prior, None), tf.float32)
        return total


def _untransformed(scale):
    """The variable behind a TFP scale (a ``DeferredTensor`` of ρ), or None."""
    variable = getattr(scale, "pretransformed_input", None)
    return variable if isinstance(variable, tf.Variable) else None


class DensePosterior(LayerPosterior):
    """A plain ``tf_keras.layers.Dense``: a point estimate, σ = 0, no KL."""

    family = "dense"

    def __init__(self, layer):
        super().__init__(layer, layer.kernel, None, getattr(layer, "bias", None), None)

    @staticmethod
    def matches(layer) -> bool:
        """Whether ``layer`` is a built ``tf_keras.layers.Dense``."""
        return isinstance(layer, keras.layers.Dense) and getattr(layer, "kernel", None) is not None


_FAMILIES = (BnnlibPosterior, TfpPosterior, DensePosterior)


def layer_posterior(layer) -> LayerPosterior | None:
    """The posterior adapter of a built dense layer, or ``None`` if it is not one.

    Parameters
    ----------
    layer : tf_keras.layers.Layer
        Any layer.

    Returns
    -------
    LayerPosterior or None
        A :class:`BnnlibPosterior`, :class:`TfpPosterior` or :class:`DensePosterior`; ``None``
        for a layer of none of these families or one not built yet.

    Examples
    --------
    >>> posterior = layer_posterior(model.get_layer("hidden_1"))  # doctest: +SKIP
    >>> posterior.sigma()  # doctest: +SKIP
    >>> posterior.loc[0, 3].assign(0.0)  # prune one weight  # doctest: +SKIP
    """
    for family in _FAMILIES:
        if family.matches(layer):
            return family(layer)
    return None


def model_posteriors(model) -> list[tuple[str, LayerPosterior]]:
    """Every recognised dense layer of ``model`` (nested models included), in model order.

    Layers inside a nested model are named ``"outer/inner"`` so names stay unique.

    Parameters
    ----------
    model : tf_keras.Model or tf_keras.layers.Layer
        A built model (or a single layer).

    Returns
    -------
    list of (str, LayerPosterior)
    """
    found = []

    def walk(container, prefix):
        for layer in getattr(container, "layers", []):
            posterior = layer_posterior(layer)
            if posterior is not None:
                found.append((prefix + layer.name, posterior))
            elif getattr(layer, "layers", None):
                walk(layer, f"{prefix}{layer.name}/")

    own = layer_posterior(model)
    if own is not None:
        return [(model.name, own)]
    walk(model, "")
    return found


def _quantiles(values: np.ndarray, quantiles) -> np.ndarray:
    """NumPy's linear quantiles, ignoring NaN, with ``inf`` where the quantile is infinite."""
    values = values[~np.isnan(values)]
    if values.size == 0:
        return np.full(len(quantiles), np.nan)
    with np.errstate(invalid="ignore"):
        result = np.quantile(values, quantiles)
    # Interpolating between two infinite values gives inf - inf = nan; the values here are
    # never negative, so such a quantile is +inf.
    result[np.isnan(result)] = np.inf
    return result


def _kl_or_nan(posterior: LayerPosterior) -> float:
    try:
        return float(posterior.kl())
    except Exception:  # a divergence that needs a posterior sample cannot be recomputed
        return float("nan")


_SUMMARY_COLUMNS = (
    "layer",
    "type",
    "weights",
    "mean_abs_loc",
    "sigma_q05",
    "sigma_q50",
    "sigma_q95",
    "snr_q05",
    "snr_q50",
    "snr_q95",
    "kl",
    "near_prior",
)

#: The ``layer`` of :func:`posterior_summary`'s last row, which describes the whole model.
WHOLE_MODEL = "(all layers)"


def _summary_row(name, type_name, loc, sigma, kl, prior_scale) -> dict:
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.abs(loc) / sigma
    sigma_q = _quantiles(sigma, [0.05, 0.5, 0.95])
    snr_q = _quantiles(snr, [0.05, 0.5, 0.95])
    values = [
        name,
        type_name,
        loc.size,
        float(np.mean(np.abs(loc))) if loc.size else float("nan"),
        *sigma_q,
        *snr_q,
        kl,
        float(np.mean(np.abs(sigma - prior_scale) <= 0.1 * prior_scale))
        if loc.size
        else float("nan"),
    ]
    return dict(zip(_SUMMARY_COLUMNS, values, strict=True))


def posterior_summary(model, prior_scale: float = 1.0, whole_model: bool = True):
    """Describe the weight posterior of every recognised layer of a built model.

    Works on any built ``tf_keras`` model holding bnnlib Bayesian dense layers, TFP variational
    dense layers or plain ``Dense`` layers (see the module documentation), so you can run it on
    your own model. All kernel weights are used (no subset). :doc:`Chapter 4
    </book/04_training_side_by_side>` reads it after training.

    Parameters
    ----------
    model : tf_keras.Model
        A built model.
    prior_scale : float, default 1.0
        σ of the prior (> 0), for the ``near_prior`` column.
    whole_model : bool, default True
        Add a last row, ``layer == "(all layers)"``, over the kernel weights of every layer
        together (its ``kl`` is the sum of the layers', its ``type`` is ``"model"``).

    Returns
    -------
    pandas.DataFrame
        One row per layer (then the whole-model row), columns:

        - ``layer``, ``type``: layer name and class name;
        - ``weights``: number of kernel weights;
        - ``mean_abs_loc``: mean of ``|μ|`` over the kernel;
        - ``sigma_q05``, ``sigma_q50``, ``sigma_q95``: 5 %, 50 %, 95 % quantiles of σ;
        - ``snr_q05``, ``snr_q50``, ``snr_q95``: the same quantiles of ``|μ| / σ`` (weights
          with μ = σ = 0 left out; ``inf`` for a point-estimate layer);
        - ``kl``: the KL term the layer adds to its losses with ``add_loss`` (including any
          ``kl_weight`` or ``1/N`` factor), recomputed from its current variables (NaN if it
          cannot be recomputed without sampling);
        - ``near_prior``: share of kernel weights whose σ is within 10 % of ``prior_scale``,
          ``|σ - prior_scale| <= 0.1 prior_scale`` (weights the data did not move away from
          the prior).

        Quantiles are NumPy's default (linear interpolation).

    Raises
    ------
    TypeError
        If ``model`` is not a ``tf_keras`` model or ``whole_model`` is not a bool.
    ValueError
        If the model is not built or ``prior_scale`` is not positive.
    """
    import pandas as pd

    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a tf_keras Model, got {type(model).__name__}")
    prior_scale = check_float("prior_scale", prior_scale, positive=True)
    if not isinstance(whole_model, bool):
        raise TypeError(f"whole_model must be a bool, got {type(whole_model).__name__}")
    if not model.built:
        raise ValueError("model must be built (give it an Input or call model.build first)")
    rows, all_loc, all_sigma, all_kl = [], [], [], 0.0
    for name, posterior in model_posteriors(model):
        loc, sigma, _, _ = posterior.read()
        loc = loc.reshape(-1).astype(np.float64)
        sigma = np.zeros_like(loc) if sigma is None else sigma.reshape(-1).astype(np.float64)
        kl = _kl_or_nan(posterior)
        rows.append(_summary_row(name, type(posterior.layer).__name__, loc, sigma, kl, prior_scale))
        all_loc.append(loc)
        all_sigma.append(sigma)
        all_kl += kl
    if whole_model and rows:
        loc, sigma = np.concatenate(all_loc), np.concatenate(all_sigma)
        rows.append(_summary_row(WHOLE_MODEL, "model", loc, sigma, all_kl, prior_scale))
    return pd.DataFrame(rows, columns=list(_SUMMARY_COLUMNS))
