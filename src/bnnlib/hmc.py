"""The true weight posterior of a small network, sampled by NUTS: a reference for Chapter 8.

A mean-field posterior (Flipout, :mod:`bnnlib.layers`) is an approximation. For a network small
enough, the posterior it approximates can be sampled instead, with the No-U-Turn Sampler of
Hoffman & Gelman (2014) from ``tfp.mcmc``. :func:`sample_posterior` takes a ``tf_keras``
network of ``Dense`` layers that fixes the architecture, puts the prior
``Normal(0, prior_scale²)`` on every kernel entry and bias, the Gaussian likelihood
``Normal(y | f(x; w), noise_scale²)`` on the data, and samples

``log p(w | x, y) = Σᵢ log Normal(yᵢ | f(xᵢ; w), noise_scale²) + Σⱼ log Normal(wⱼ | 0, prior_scale²)
+ const``

over the flat vector ``w`` of all parameters, with several chains in one XLA-compiled call. It
returns :class:`PosteriorSamples`: the draws per layer, their split R-hat and effective sample
size, and :meth:`PosteriorSamples.predict`, the predictive function samples in the shape
``bnnlib.uncertainty.mc_predict`` gives, so the two plot side by side.

Hidden units can swap places and, with an odd activation such as ``tanh``, flip sign without
changing the function, so the weight posterior has many equivalent modes and chains that visit
different ones disagree on the weights while they agree on the predictions. The diagnostics are
therefore computed both per parameter and for the predictions at the training inputs, which do
not see these symmetries; a run whose predictions have not converged warns with the numbers.
:doc:`Chapter 8 </book/08_hmc_ground_truth>` uses it as the ground truth for Flipout.
"""

from __future__ import annotations

import functools
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras as keras

from bnnlib._checks import MAX_SEED, check_float, check_int

__all__ = ["RHAT_LIMIT", "ESS_LIMIT", "PosteriorSamples", "sample_posterior"]

#: Split R-hat above this means the chains disagree (Gelman et al.'s classic 1.1 rule).
RHAT_LIMIT = 1.1
#: Fewer effective draws than this (summed over chains) are too few for a mean and a std.
ESS_LIMIT = 100.0


@dataclass(frozen=True)
class _DenseSpec:
    """What the sampler needs of one ``Dense`` layer: name, shapes and activation."""

    name: str = field(compare=False)  # the compiled sampler is shared across names
    in_features: int
    units: int
    use_bias: bool
    activation: object

    @property
    def size(self) -> int:
        return self.in_features * self.units + (self.units if self.use_bias else 0)


def _dense_specs(model) -> list[_DenseSpec]:
    """Read the architecture of a built ``tf_keras`` stack of ``Dense`` layers."""
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a tf_keras Model of Dense layers, got {type(model)}")
    if not model.built:
        raise ValueError("model must be built (give it an Input or call it once) before sampling")
    specs = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if type(layer) is not keras.layers.Dense:
            raise TypeError(
                f"model must hold only tf_keras Dense layers, got layer {layer.name!r} of type "
                f"{type(layer).__name__}"
            )
        in_features, units = layer.kernel.shape
        if specs and specs[-1].units != in_features:
            raise ValueError(
                f"model must be a chain of Dense layers: layer {layer.name!r} takes "
                f"{in_features} inputs, the layer before it gives {specs[-1].units}"
            )
        specs.append(_DenseSpec(layer.name, in_features, units, layer.use_bias, layer.activation))
    if not specs:
        raise ValueError("model must hold at least one Dense layer, got none")
    return specs


def _check_data(specs, x, y):
    """``x`` and ``y`` as float32 arrays of shapes ``(n, in_features)`` and ``(n, outputs)``."""
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 1 and specs[-1].units == 1:
        y = y[:, None]
    if x.ndim != 2 or x.shape[1] != specs[0].in_features or x.shape[0] < 1:
        raise ValueError(
            f"x must have shape (n, {specs[0].in_features}) with n >= 1, got {x.shape}"
        )
    if y.shape != (x.shape[0], specs[-1].units):
        raise ValueError(
            f"y must have shape ({x.shape[0]}, {specs[-1].units}) to match x and the model's "
            f"outputs, got {y.shape}"
        )
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("x and y must be finite")
    return x, y


def _unflatten(specs, params):
    """Split parameters of shape ``(..., P)`` into ``[(kernel, bias or None), ...]``."""
    batch = tf.shape(params)[:-1]
    layers, start = [], 0
    for spec in specs:
        end = start + spec.in_features * spec.units
        kernel_shape = tf.concat([batch, [spec.in_features, spec.units]], axis=0)
        kernel = tf.reshape(params[..., start:end], kernel_shape)
        bias = None
        if spec.use_bias:
            bias = params[..., end : end + spec.units]
            end += spec.units
        layers.append((kernel, bias))
        start = end
    return layers


def _forward(specs, params, x):
    """The network's outputs, shape ``(..., n, outputs)``, for parameters ``(..., P)``."""
    hidden = x
    for spec, (kernel, bias) in zip(specs, _unflatten(specs, params), strict=True):
        hidden = tf.matmul(hidden, kernel)  # (n, in) @ (..., in, out) broadcasts over chains
        if bias is not None:
            hidden = hidden + bias[..., None, :]
        hidden = spec.activation(hidden)
    return hidden


def _log_joint(specs, x, y, noise_scale, prior_scale):
    """``params (chains, P) -> log p(y | x, w) + log p(w)`` per chain, up to a constant."""

    def log_joint(params):
        residual = (y - _forward(specs, params, x)) / noise_scale
        log_likelihood = -0.5 * tf.reduce_sum(tf.square(residual), axis=[-2, -1])
        log_prior = -0.5 * tf.reduce_sum(tf.square(params / prior_scale), axis=-1)
        return log_likelihood + log_prior

    return log_joint


def _diagnostics(chains):
    """Split R-hat and ESS (summed over chains) of draws ``(results, chains, ...)``."""
    chains = tf.convert_to_tensor(chains)
    rhat = tfp.mcmc.potential_scale_reduction(chains, independent_chain_ndims=1, split_chains=True)
    # TFP's autocorrelation casts its FFT's complex result to float on purpose (the imaginary
    # part is zero), and TensorFlow logs a warning each time: keep it out of the reader's way.
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        # The cross-chain ESS (Vehtari et al. 2021, as TFP implements it): one total per
        # parameter, summed over chains.
        ess = tfp.mcmc.effective_sample_size(chains, cross_chain_dims=1)
    finally:
        logger.setLevel(level)
    return rhat.numpy(), ess.numpy()


@dataclass
class PosteriorSamples:
    """Draws from the posterior of a Dense network, with their diagnostics.

    Returned by :func:`sample_posterior`; :doc:`Chapter 8 </book/08_hmc_ground_truth>` reads
    it. Draws from all chains are pooled, chain after chain: draw ``d`` comes from chain
    ``d // num_results``.

    Attributes
    ----------
    weights : dict of dict of numpy.ndarray
        ``weights[layer]["kernel"]`` of shape ``(draws, in_features, units)`` and
        ``weights[layer]["bias"]`` of shape ``(draws, units)``, per layer name.
    rhat, ess : dict of dict of numpy.ndarray
        Split R-hat and effective sample size (summed over chains) of every parameter, in the
        layout of ``weights`` without the draws axis.
    predictive_rhat, predictive_ess : numpy.ndarray
        The same diagnostics for the network's outputs at the training inputs, shape
        ``(n, outputs)``: unlike the weights', they do not see the symmetries of hidden units.
    num_chains, num_results : int
        Chains run, and draws kept per chain after the warm-up.
    step_size : numpy.ndarray
        The adapted step size of each chain, shape ``(num_chains,)``.
    acceptance : float
        Mean acceptance probability of the kept draws.
    divergences : int
        Number of kept transitions that diverged (energy error too large).
    seconds : float
        Wall time of the sampling, compilation included.
    """

    weights: dict
    rhat: dict
    ess: dict
    predictive_rhat: np.ndarray
    predictive_ess: np.ndarray
    num_chains: int
    num_results: int
    step_size: np.ndarray
    acceptance: float
    divergences: int
    leapfrogs: float
    seconds: float
    _specs: list = field(repr=False)
    _chains: np.ndarray = field(repr=False)  # (results, chains, P)

    @property
    def num_draws(self) -> int:
        """Pooled draws, ``num_chains * num_results``."""
        return self.num_chains * self.num_results

    @property
    def max_rhat(self) -> float:
        """Largest split R-hat over all parameters."""
        return float(max(np.max(part) for layer in self.rhat.values() for part in layer.values()))

    @property
    def min_ess(self) -> float:
        """Smallest effective sample size over all parameters."""
        return float(min(np.min(part) for layer in self.ess.values() for part in layer.values()))

    def _chain_outputs(self, x):
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self._specs[0].in_features:
            raise ValueError(
                f"x must have shape (batch, {self._specs[0].in_features}), got {x.shape}"
            )
        return _compiled_forward(self._specs)(tf.constant(self._chains), tf.constant(x)).numpy()

    def predict(self, x) -> np.ndarray:
        """Predictive function samples at ``x``, without the observation noise.

        Parameters
        ----------
        x : array_like
            Inputs of shape ``(batch, in_features)``.

        Returns
        -------
        numpy.ndarray
            ``f(x; w)`` for every pooled draw ``w``, shape ``(draws, batch, outputs)``: the
            shape of ``bnnlib.uncertainty.mc_predict(...).samples``.

        Raises
        ------
        ValueError
            If ``x`` does not have shape ``(batch, in_features)``.
        """
        outputs = self._chain_outputs(x)  # (results, chains, batch, outputs)
        outputs = np.swapaxes(outputs, 0, 1)
        return outputs.reshape(self.num_draws, *outputs.shape[2:])

    def predictive_diagnostics(self, x):
        """Split R-hat and ESS of the network's outputs at ``x``.

        Parameters
        ----------
        x : array_like
            Inputs of shape ``(batch, in_features)``.

        Returns
        -------
        rhat, ess : numpy.ndarray
            Each of shape ``(batch, outputs)``.
        """
        return _diagnostics(self._chain_outputs(x))


def _per_layer(specs, flat):
    """Flat parameters ``(..., P)`` as ``{layer: {"kernel": ..., "bias": ...}}`` arrays."""
    layers = _unflatten(specs, tf.constant(flat))
    out = {}
    for spec, (kernel, bias) in zip(specs, layers, strict=True):
        out[spec.name] = {"kernel": kernel.numpy()}
        if bias is not None:
            out[spec.name]["bias"] = bias.numpy()
    return out


@functools.lru_cache(maxsize=8)
def _nuts_sampler(specs, num_results, num_burnin_steps, max_tree_depth):
    """NUTS with dual-averaging step sizes, one per chain, all chains in one XLA call.

    The data, scales and seed are arguments of the compiled function, so runs of the same
    architecture and lengths (other seeds, other data of the same size) compile once.
    """

    @tf.function(jit_compile=True)
    def run(initial_state, x, y, noise_scale, prior_scale, seed):
        num_chains = initial_state.shape[0]
        nuts = tfp.mcmc.NoUTurnSampler(
            _log_joint(specs, x, y, noise_scale, prior_scale),
            step_size=tf.fill([num_chains, 1], 0.01),
            max_tree_depth=max_tree_depth,
        )
        kernel = tfp.mcmc.DualAveragingStepSizeAdaptation(
            nuts,
            # Adapt for 80 % of the warm-up and let the last 20 % run at the final step size.
            num_adaptation_steps=int(0.8 * num_burnin_steps),
            target_accept_prob=0.8,
        )
        return tfp.mcmc.sample_chain(
            num_results=num_results,
            num_burnin_steps=num_burnin_steps,
            current_state=initial_state,
            kernel=kernel,
            trace_fn=lambda _, results: (
                results.inner_results.has_divergence,
                tf.exp(tf.minimum(results.inner_results.log_accept_ratio, 0.0)),
                results.new_step_size[:, 0],
                results.inner_results.leapfrogs_taken,
            ),
            seed=seed,
        )

    return run


@functools.lru_cache(maxsize=8)
def _compiled_forward(specs):
    """``(chains (..., P), x (batch, in)) -> outputs (..., batch, outputs)``, compiled."""

    @tf.function(jit_compile=True)
    def forward(chains, x):
        return _forward(specs, chains, x)

    return forward


def sample_posterior(
    model,
    x,
    y,
    noise_scale,
    prior_scale=1.0,
    num_chains=4,
    num_results=1000,
    num_burnin_steps=1000,
    seed=0,
    *,
    max_tree_depth=10,
) -> PosteriorSamples:
    """Sample the weight posterior of a network of ``Dense`` layers with NUTS.

    The prior puts ``Normal(0, prior_scale²)`` on every kernel entry and bias, the likelihood
    ``Normal(y | f(x; w), noise_scale²)`` on every output, so the posterior is the one a
    Flipout network with ``prior_scale``, a Bayesian bias and the Gaussian likelihood of the
    same ``noise_scale`` approximates. Chains start from the prior scaled down by 10 (a start
    near zero, as a trained network's), run ``num_burnin_steps`` steps of warm-up (step size
    adapted by dual averaging towards an acceptance of 0.8, warm-up discarded), then keep
    ``num_results`` draws each. All chains run in one XLA-compiled call, in float32.
    :doc:`Chapter 8 </book/08_hmc_ground_truth>` explains the use and the diagnostics.

    Parameters
    ----------
    model : tf_keras.Model
        A built ``Sequential`` (or chain) of ``tf_keras.layers.Dense`` layers: only its
        architecture (shapes, biases, activations) is used, not its weights.
    x : array_like
        Training inputs, shape ``(n, in_features)``.
    y : array_like
        Training targets, shape ``(n, outputs)`` (or ``(n,)`` for one output).
    noise_scale : float
        Standard deviation of the Gaussian observation noise, > 0.
    prior_scale : float, default 1.0
        Standard deviation of the prior on every parameter, > 0.
    num_chains : int, default 4
        Independent chains, at least 2 (R-hat compares them).
    num_results : int, default 1000
        Draws kept per chain after the warm-up, at least 4 (split R-hat halves each chain).
    num_burnin_steps : int, default 1000
        Warm-up steps per chain, discarded, at least 0.
    seed : int, default 0
        Non-negative integer below ``2**31``: the same seed gives the same draws.
    max_tree_depth : int, default 10
        NUTS doubles each trajectory at most this many times (at most ``2**max_tree_depth``
        leapfrog steps per draw), at least 1. A smaller depth makes each draw cheaper and the
        draws more correlated; the ESS says whether enough is left.

    Returns
    -------
    PosteriorSamples
        The pooled draws per layer, R-hat and ESS per parameter and for the predictions at
        ``x``, and :meth:`PosteriorSamples.predict`.

    Raises
    ------
    TypeError
        If ``model`` is not a ``tf_keras`` model of ``Dense`` layers, or a number has the
        wrong type.
    ValueError
        If the model is not built, ``x`` or ``y`` has the wrong shape, a scale is not
        positive, or a count or the seed is out of range.

    Warns
    -----
    RuntimeWarning
        If the predictions at ``x`` have not converged: split R-hat above :data:`RHAT_LIMIT`
        or ESS below :data:`ESS_LIMIT` anywhere; or if the weights' R-hat is above the limit
        (then the chains may sit in different, possibly equivalent, modes).

    Examples
    --------
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> x = np.linspace(-1, 1, 20)[:, None]
    >>> posterior = sample_posterior(model, x, 2 * x, noise_scale=0.1, num_results=200)
    >>> posterior.predict(x).shape
    (800, 20, 1)
    """
    specs = tuple(_dense_specs(model))
    x, y = _check_data(specs, x, y)
    noise_scale = check_float("noise_scale", noise_scale, positive=True)
    prior_scale = check_float("prior_scale", prior_scale, positive=True)
    num_chains = check_int("num_chains", num_chains, minimum=2)
    num_results = check_int("num_results", num_results, minimum=4)
    num_burnin_steps = check_int("num_burnin_steps", num_burnin_steps, minimum=0)
    max_tree_depth = check_int("max_tree_depth", max_tree_depth, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    if seed > MAX_SEED:
        raise ValueError(f"seed must be <= 2**31 - 1, got {seed}")

    num_params = sum(spec.size for spec in specs)
    rng = np.random.default_rng(seed)
    initial_state = 0.1 * prior_scale * rng.standard_normal((num_chains, num_params))

    start = time.perf_counter()
    sampler = _nuts_sampler(specs, num_results, num_burnin_steps, max_tree_depth)
    chains, (divergent, accept, step_size, leapfrogs) = sampler(
        tf.constant(initial_state, tf.float32),
        tf.constant(x),
        tf.constant(y),
        tf.constant(noise_scale, tf.float32),
        tf.constant(prior_scale, tf.float32),
        tf.constant([seed, 1], tf.int32),
    )
    chains = chains.numpy()  # (results, chains, P)
    seconds = time.perf_counter() - start

    rhat, ess = _diagnostics(chains)
    predictive_rhat, predictive_ess = _diagnostics(
        _compiled_forward(specs)(tf.constant(chains), tf.constant(x))
    )
    pooled = np.swapaxes(chains, 0, 1).reshape(num_chains * num_results, num_params)
    posterior = PosteriorSamples(
        weights=_per_layer(specs, pooled),
        rhat=_per_layer(specs, rhat),
        ess=_per_layer(specs, ess),
        predictive_rhat=predictive_rhat,
        predictive_ess=predictive_ess,
        num_chains=num_chains,
        num_results=num_results,
        step_size=step_size.numpy()[-1],
        acceptance=float(np.mean(accept.numpy())),
        divergences=int(np.sum(divergent.numpy())),
        leapfrogs=float(np.mean(leapfrogs.numpy())),
        seconds=seconds,
        _specs=specs,
        _chains=chains,
    )
    _warn_if_unconverged(posterior)
    return posterior


def _warn_if_unconverged(posterior: PosteriorSamples) -> None:
    """Say loudly, with the numbers, when the chains cannot be trusted."""
    problems = []
    rhat, ess = float(np.max(posterior.predictive_rhat)), float(np.min(posterior.predictive_ess))
    if rhat > RHAT_LIMIT or ess < ESS_LIMIT:
        problems.append(
            f"predictions at the training inputs: max R-hat {rhat:.3f} (limit {RHAT_LIMIT}), "
            f"min ESS {ess:.0f} (limit {ESS_LIMIT:.0f})"
        )
    if posterior.max_rhat > RHAT_LIMIT:
        problems.append(
            f"weights: max R-hat {posterior.max_rhat:.3f} (limit {RHAT_LIMIT}), min ESS "
            f"{posterior.min_ess:.0f}; chains may sit in different modes"
        )
    if problems:
        warnings.warn(
            "NUTS has not converged: "
            + "; ".join(problems)
            + f". {posterior.divergences} divergent transitions. Run longer chains "
            "(num_burnin_steps, num_results) before trusting these draws.",
            RuntimeWarning,
            stacklevel=3,
        )
