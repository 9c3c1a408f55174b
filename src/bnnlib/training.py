"""Training helpers: reproducibility switches and the pieces of the ELBO.

:doc:`Chapter 1 </book/01_anatomy>` explains why every chapter starts with :func:`set_seed`.
:doc:`Chapter 3 </book/03_objective>` builds the
training objective of a Bayesian network, the negative ELBO per example,

``loss = NLL(y | x, w) + kl_weight * KL(q(w) || p(w))``  with  ``kl_weight = 1 / N``,

from the pieces here: :func:`gaussian_nll` (and its Keras loss :class:`GaussianNLL`),
:func:`kl_weight_per_example`, :func:`model_kl`, and the :class:`KLAnnealing` callback.
"""

from __future__ import annotations

import math
import numbers
import random
import weakref

import numpy as np
import tensorflow as tf
import tf_keras as keras

from bnnlib._checks import check_float, check_int, check_seed
from bnnlib.layers import BayesianDense
from bnnlib.models import split_mean_scale
from bnnlib.posterior import layer_posterior

__all__ = [
    "GaussianNLL",
    "HeteroscedasticNLL",
    "KLAnnealing",
    "gaussian_nll",
    "fit_full_batch",
    "heteroscedastic_nll",
    "kl_weight_per_example",
    "model_kl",
    "set_seed",
]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def set_seed(seed: int = 0, *, deterministic: bool = True) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's ops deterministic.

    After ``set_seed(s)``, building and training the same model twice gives the same numbers,
    which is what lets the book's executed outputs be checked by CI.

    Parameters
    ----------
    seed : int
        A non-negative integer used for Python's ``random``, ``numpy.random`` and
        ``tf.random.set_seed``.
    deterministic : bool, default True
        Also call ``tf.config.experimental.enable_op_determinism()``, so that ops with
        non-deterministic kernels either run deterministically or raise.

    Raises
    ------
    TypeError
        If ``seed`` is not an integer or ``deterministic`` is not a bool.
    ValueError
        If ``seed`` is negative or does not fit in 32 bits.

    Notes
    -----
    Python's hash randomisation (the order of sets of strings) is fixed only by the
    ``PYTHONHASHSEED`` environment variable *before* the interpreter starts; setting it from a
    running program changes nothing, so this function does not try. The Makefile exports
    ``PYTHONHASHSEED=0`` for the notebooks; nothing in bnnlib depends on hash order.
    """
    seed = check_seed("seed", seed, maximum=2**32 - 1)
    if not isinstance(deterministic, bool):
        raise TypeError(f"deterministic must be a bool, got {type(deterministic).__name__}")
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (code that uses the global generator needs it)
    tf.random.set_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def _checked_noise_scale(noise_scale):
    """A positive float as is; anything else as a tensor, checked when its values are known."""
    if isinstance(noise_scale, numbers.Real) and not isinstance(noise_scale, bool):
        return check_float("noise_scale", noise_scale, positive=True)
    if isinstance(noise_scale, bool) or noise_scale is None or isinstance(noise_scale, str):
        raise TypeError(
            f"noise_scale must be a positive number or a tensor, got {type(noise_scale).__name__}"
        )
    noise_scale = tf.convert_to_tensor(noise_scale)
    if not noise_scale.dtype.is_floating:
        raise TypeError(f"noise_scale must be a floating-point tensor, got {noise_scale.dtype}")
    if tf.executing_eagerly():  # inside a compiled step the values are not known yet
        values = noise_scale.numpy()
        if not np.all(np.isfinite(values) & (values > 0)):
            raise ValueError("noise_scale must be finite and > 0 everywhere")
    return noise_scale


def _aligned_noise_scale(scale, pred_shape):
    """``scale`` shaped to broadcast example by example against predictions of ``pred_shape``.

    A scalar applies to everything; a scale of shape ``(batch,)`` holds one value per example
    and becomes ``(batch, 1, ...)``, so that it is not broadcast against the outputs (which
    would compare every example with every scale: an ``(n, n)`` result). A scale of the
    predictions' rank must broadcast against them, as ``(batch, 1)`` does for ``(batch, k)``.
    """
    rank = pred_shape.rank
    if scale.shape.rank == 0 or rank is None or scale.shape.rank is None:
        return scale
    expected = f"(), ({pred_shape[0]},) or a shape that broadcasts against y_pred {pred_shape}"
    if scale.shape.rank == 1 and rank >= 1:
        if not scale.shape.is_compatible_with(pred_shape[:1]):
            raise ValueError(
                f"noise_scale must have shape {expected}, got {scale.shape}: a scale of shape "
                "(n,) needs one value per example"
            )
        return tf.reshape(scale, [-1] + [1] * (rank - 1))
    broadcastable = scale.shape.rank == rank and all(
        s is None or p is None or s in (1, p) for s, p in zip(scale.shape, pred_shape, strict=True)
    )
    if not broadcastable:
        raise ValueError(f"noise_scale must have shape {expected}, got {scale.shape}")
    return scale


def _gaussian_nll_per_example(y_true, y_pred, noise_scale):
    """``-log Normal(y_true | y_pred, noise_scale)``, summed over all but the first axis."""
    y_pred = tf.convert_to_tensor(y_pred)
    if not y_pred.dtype.is_floating:
        raise TypeError(f"y_pred must be a floating-point tensor, got {y_pred.dtype}")
    y_true = tf.cast(y_true, y_pred.dtype)
    # Targets of shape (batch,) against predictions (batch, 1): compare them example by
    # example, not as a (batch, batch) broadcast.
    if y_true.shape.rank == y_pred.shape.rank - 1 and y_pred.shape[-1] == 1:
        y_true = tf.expand_dims(y_true, -1)
    if not y_true.shape.is_compatible_with(y_pred.shape):
        raise ValueError(
            f"y_true and y_pred must have the same shape, got {y_true.shape} and {y_pred.shape}"
        )
    if y_pred.shape.rank is not None and y_pred.shape.rank >= 1 and y_pred.shape[0] == 0:
        raise ValueError("y_pred is an empty batch (0 examples): its mean NLL is not defined")
    scale = _aligned_noise_scale(tf.cast(noise_scale, y_pred.dtype), y_pred.shape)
    z = (y_true - y_pred) / scale
    nll = 0.5 * tf.square(z) + tf.math.log(scale) + _HALF_LOG_2PI
    if nll.shape.rank is not None and nll.shape.rank > 1:
        nll = tf.reduce_sum(nll, axis=list(range(1, nll.shape.rank)))
    return nll


def gaussian_nll(y_true, y_pred, noise_scale):
    r"""Mean negative log-likelihood per example under ``Normal(y_pred, noise_scale)``.

    Per example ``i`` with outputs ``j`` (:doc:`Chapter 3 </book/03_objective>`):

    .. math::

        \text{NLL}_i = \sum_j \Big[\tfrac{1}{2}\log(2\pi) + \log s_{ij}
        + \frac{(y_{ij} - \hat y_{ij})^2}{2 s_{ij}^2}\Big]

    and the result is the mean of ``NLL_i`` over the batch. Unlike the mean squared error, the
    noise scale ``s`` sets how much the data weigh against the KL term: MSE is this loss with
    ``s = 1/√2`` minus a constant, usually far too weak a likelihood.

    Parameters
    ----------
    y_true : array_like
        Targets, shape ``(batch, ...)``, or ``(batch,)`` when ``y_pred`` has shape
        ``(batch, 1)``.
    y_pred : array_like
        Predicted means, shape ``(batch, ...)``, floating point.
    noise_scale : float or tf.Tensor
        Standard deviation of the observation noise, > 0: a number; a tensor of shape
        ``(batch,)``, one scale per example; or a tensor of the rank of ``y_pred`` that
        broadcasts against it, such as ``(batch, 1)`` or the shape of ``y_pred`` itself (for
        example a learned scale per example and output). Tensor values are checked when
        running eagerly.

    Returns
    -------
    tf.Tensor
        A scalar.

    Raises
    ------
    TypeError
        If ``noise_scale`` is neither a number nor a floating-point tensor, or ``y_pred`` is
        not floating point.
    ValueError
        If ``noise_scale`` is not positive and finite or has a shape other than those above,
        the shapes of ``y_true`` and ``y_pred`` differ, or the batch is empty.
    """
    noise_scale = _checked_noise_scale(noise_scale)
    return tf.reduce_mean(_gaussian_nll_per_example(y_true, y_pred, noise_scale))


@keras.saving.register_keras_serializable(package="bnnlib")
class GaussianNLL(keras.losses.Loss):
    """:func:`gaussian_nll` as a Keras loss, for ``model.compile(loss=GaussianNLL(0.1))``.

    Keras averages the per-example NLL over the batch (weighting by ``sample_weight`` if
    given), so the loss ``fit`` reports is :func:`gaussian_nll` plus the KL terms the layers
    add. Serializable: a model compiled with it saves and loads with its ``noise_scale``.

    Parameters
    ----------
    noise_scale : float, default 1.0
        Standard deviation of the observation noise, > 0.
    name : str, default "gaussian_nll"
        Name of the loss.
    **kwargs
        Other ``tf_keras.losses.Loss`` arguments (``reduction``).

    Raises
    ------
    TypeError, ValueError
        If ``noise_scale`` is not a positive finite number.
    """

    def __init__(self, noise_scale: float = 1.0, name: str = "gaussian_nll", **kwargs):
        super().__init__(name=name, **kwargs)
        self.noise_scale = check_float("noise_scale", noise_scale, positive=True)

    def call(self, y_true, y_pred):
        """Negative log-likelihood of each example, shape ``(batch,)``."""
        return _gaussian_nll_per_example(y_true, y_pred, self.noise_scale)

    def get_config(self):
        """The constructor arguments."""
        return {**super().get_config(), "noise_scale": self.noise_scale}


def _heteroscedastic_nll_per_example(y_true, y_pred):
    """The NLL of each example under the ``Normal(mean, scale)`` that ``y_pred`` holds."""
    y_pred = tf.convert_to_tensor(y_pred)
    if not y_pred.dtype.is_floating:
        raise TypeError(f"y_pred must be a floating-point tensor, got {y_pred.dtype}")
    mean, scale = split_mean_scale(y_pred)
    return _gaussian_nll_per_example(y_true, mean, scale)


def heteroscedastic_nll(y_true, y_pred):
    """Mean negative log-likelihood per example when the network predicts the noise scale.

    ``y_pred`` holds ``[mean, scale]`` along its last axis, as output by a network ending in
    :class:`bnnlib.models.MeanAndScale` (``build_mlp(..., heteroscedastic=True)``); the loss is
    :func:`gaussian_nll` with ``noise_scale=scale``, so a network can lower it by predicting a
    larger scale where the data are noisier (:doc:`Chapter 6
    </book/06_predictive_uncertainty>`).

    Parameters
    ----------
    y_true : array_like
        Targets, shape ``(batch, k)``, or ``(batch,)`` when ``k == 1``.
    y_pred : array_like
        Predicted means and scales, shape ``(batch, 2k)``, floating point, scales > 0.

    Returns
    -------
    tf.Tensor
        A scalar.

    Raises
    ------
    TypeError
        If ``y_pred`` is not floating point.
    ValueError
        If ``y_pred``'s last axis is odd, or the shapes of ``y_true`` and the means differ.
    """
    return tf.reduce_mean(_heteroscedastic_nll_per_example(y_true, y_pred))


@keras.saving.register_keras_serializable(package="bnnlib")
class HeteroscedasticNLL(keras.losses.Loss):
    """:func:`heteroscedastic_nll` as a Keras loss: ``model.compile(loss=HeteroscedasticNLL())``.

    For networks built with ``build_mlp(..., heteroscedastic=True)``. Serializable.

    Parameters
    ----------
    name : str, default "heteroscedastic_nll"
        Name of the loss.
    **kwargs
        Other ``tf_keras.losses.Loss`` arguments (``reduction``).
    """

    def __init__(self, name: str = "heteroscedastic_nll", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        """Negative log-likelihood of each example, shape ``(batch,)``."""
        return _heteroscedastic_nll_per_example(y_true, y_pred)


def kl_weight_per_example(num_examples: int) -> float:
    """The ELBO's weight on the KL term per example, ``1 / num_examples``.

    The ELBO of a data set of ``N`` examples has one KL term; a loss averaged per example
    therefore carries ``KL / N`` (:doc:`Chapter 3 </book/03_objective>` shows what goes wrong
    without it).

    Parameters
    ----------
    num_examples : int
        Number ``N`` of training examples, at least 1.

    Returns
    -------
    float
        ``1 / num_examples``.

    Raises
    ------
    TypeError
        If ``num_examples`` is not an integer.
    ValueError
        If ``num_examples < 1``.
    """
    return 1.0 / check_int("num_examples", num_examples, minimum=1)


def model_kl(model):
    """The KL part of a model's loss, computed now from its current weights.

    Sums ``kl_loss()`` (that is ``kl_weight * kl_divergence()``) over the :mod:`bnnlib.layers`
    layers in ``model``, and the divergence terms of its ``tfp.layers`` variational layers (for
    example :func:`bnnlib.tfp_layers.tfp_dense_flipout`, whose terms are already divided by
    ``N``). This is what the layers add to ``model.losses`` on a forward pass, without
    running one (after ``fit``, ``model.losses`` holds only graph tensors). :doc:`Chapter 3
    </book/03_objective>` plots it
    next to the NLL.

    Parameters
    ----------
    model : tf_keras.layers.Layer
        A built model or layer; layers without a posterior contribute nothing.

    Returns
    -------
    tf.Tensor
        A float32 scalar, 0 if the model has no Bayesian layers.

    Raises
    ------
    TypeError
        If ``model`` is not a ``tf_keras`` layer or model.
    ValueError
        If a Bayesian layer in it is not built yet.
    """
    if not isinstance(model, keras.layers.Layer):
        raise TypeError(f"model must be a tf_keras Model or Layer, got {type(model).__name__}")
    total = tf.constant(0.0)
    for layer in (model, *model.submodules):
        if not _has_posterior_attributes(layer):
            continue
        if not layer.built:
            raise ValueError(f"layer {layer.name!r} is not built yet: call the model once first")
        posterior = layer_posterior(layer)
        if posterior is not None:
            total += tf.cast(posterior.kl(), tf.float32)
    return total


def _has_posterior_attributes(layer) -> bool:
    """Whether ``layer`` is a Bayesian layer, built or not (an unbuilt one has no variables)."""
    return isinstance(layer, BayesianDense) or hasattr(layer, "kernel_posterior_fn")


def _bnnlib_bayesian_layers(layers_or_model) -> list:
    """The :mod:`bnnlib.layers` layers in a model, or a list of them checked one by one."""
    if isinstance(layers_or_model, keras.layers.Layer):
        candidates = (layers_or_model, *layers_or_model.submodules)
        layers = [layer for layer in candidates if isinstance(layer, BayesianDense)]
        if not layers:
            raise ValueError(
                f"{layers_or_model.name!r} contains no bnnlib Bayesian layer (FlipoutDense, "
                "ReparameterizationDense or LocalReparameterizationDense) whose kl_weight "
                "could be annealed"
            )
        return layers
    try:
        layers = list(layers_or_model)
    except TypeError:
        raise TypeError(
            "layers_or_model must be a tf_keras Model or an iterable of bnnlib Bayesian "
            f"layers, got {type(layers_or_model).__name__}"
        ) from None
    if not layers:
        raise ValueError("layers_or_model is empty: give at least one layer")
    for layer in layers:
        if not isinstance(layer, BayesianDense):
            raise TypeError(
                "every layer must be a bnnlib Bayesian layer (FlipoutDense, "
                f"ReparameterizationDense or LocalReparameterizationDense), got "
                f"{type(layer).__name__}"
            )
    return layers


class KLAnnealing(keras.callbacks.Callback):
    """Ramp the KL weight of bnnlib Bayesian layers linearly over the first epochs.

    At the start of epoch ``e`` (counted from 0, as ``fit`` counts them) every layer's
    ``kl_weight`` is set to ``base * factor(e)`` with

    ``factor(e) = start + (end - start) * min(e / epochs, 1)``

    where ``base`` is the layer's ``kl_weight`` when the callback is created (typically
    ``1 / N``). With ``epochs=4``, ``start=0`` and ``end=1`` the factors of epochs 0, 1, 2, 3,
    4, 5, ... are 0, 0.25, 0.5, 0.75, 1, 1, ...: the likelihood shapes the weights first, and
    the prior's pull is switched on gradually. :doc:`Chapter 3 </book/03_objective>` shows its
    effect. Because
    ``kl_weight`` is a variable, no retracing of the compiled training step is needed.

    ``tfp.layers`` layers are not affected: their KL weight is fixed in their divergence
    function.

    Parameters
    ----------
    layers_or_model : tf_keras.Model or iterable of layers
        A model (all its :mod:`bnnlib.layers` layers are annealed) or the layers themselves.
    epochs : int
        Number of epochs the ramp takes, at least 1.
    start, end : float, default 0.0 and 1.0
        Factors on the base weight at epoch 0 and from epoch ``epochs`` on; finite, >= 0.

    Raises
    ------
    TypeError
        If an argument has the wrong type, or a listed layer is not a bnnlib Bayesian layer.
    ValueError
        If ``epochs < 1``, ``start`` or ``end`` is negative or not finite, or the model has no
        bnnlib Bayesian layer.

    Attributes
    ----------
    layers : list
        The annealed layers.
    base_kl_weights : list of float
        Their ``kl_weight`` when the callback was created; if an earlier ``KLAnnealing`` of
        the same layers left a ramped value there, the weight it ramped from (so creating the
        callback again, for example by re-running a notebook cell, does not lower the base).
    """

    def __init__(self, layers_or_model, epochs: int, start: float = 0.0, end: float = 1.0):
        super().__init__()
        self.layers = _bnnlib_bayesian_layers(layers_or_model)
        self.epochs = check_int("epochs", epochs, minimum=1)
        self.start = check_float("start", start, minimum=0.0)
        self.end = check_float("end", end, minimum=0.0)
        self.base_kl_weights = [_annealing_base(layer) for layer in self.layers]

    def factor(self, epoch: int) -> float:
        """The factor on the base KL weight during ``epoch`` (counted from 0).

        Parameters
        ----------
        epoch : int
            Epoch index, >= 0.

        Returns
        -------
        float
            ``start + (end - start) * min(epoch / epochs, 1)``.
        """
        epoch = check_int("epoch", epoch, minimum=0)
        return self.start + (self.end - self.start) * min(epoch / self.epochs, 1.0)

    def on_epoch_begin(self, epoch, logs=None):
        """Set every layer's ``kl_weight`` to ``base * factor(epoch)``."""
        factor = self.factor(epoch)
        for layer, base in zip(self.layers, self.base_kl_weights, strict=True):
            layer.kl_weight = base * factor
            _ANNEALED[layer] = (base, layer.kl_weight)


# Layer -> (its base kl_weight, the value an annealing callback last set). A callback created
# again for the same layers (a notebook cell run twice) must start from the base, not from the
# ramped-down weight it finds; a value the user set since is the new base.
_ANNEALED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _annealing_base(layer) -> float:
    """The ``kl_weight`` an annealing of ``layer`` ramps from."""
    base, last_set = _ANNEALED.get(layer, (None, None))
    current = layer.kl_weight
    return base if last_set is not None and current == last_set else current


class _Adam:
    """``tf_keras.optimizers.Adam`` with its default settings, for :func:`fit_full_batch`.

    The update is tf_keras's, expression for expression, so the trained weights are the same
    to the last bit; but the step size ``lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)`` is computed
    once per step rather than once per variable. In a loop that trains many small networks,
    that halves the operations the optimizer adds to the graph, and with them the time to
    trace the loop and to run each step.
    """

    BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-7

    def __init__(self, variables, learning_rate):
        self.variables = variables
        self.learning_rate = learning_rate
        self.momenta = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
        self.velocities = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False)

    def apply(self, gradients):
        rate = self.learning_rate
        if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
            rate = rate(self.iterations)
        lr = tf.cast(rate, tf.float32)
        local_step = tf.cast(self.iterations + 1, tf.float32)
        beta_1_power = tf.pow(tf.cast(self.BETA_1, tf.float32), local_step)
        beta_2_power = tf.pow(tf.cast(self.BETA_2, tf.float32), local_step)
        alpha = lr * tf.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        for gradient, variable, m, v in zip(
            gradients, self.variables, self.momenta, self.velocities, strict=True
        ):
            if gradient is None:  # tf_keras skips a variable the loss does not reach
                continue
            m.assign_add((gradient - m) * (1 - self.BETA_1))
            v.assign_add((tf.square(gradient) - v) * (1 - self.BETA_2))
            variable.assign_sub((m * alpha) / (tf.sqrt(v) + self.EPSILON))
        self.iterations.assign_add(1)


def fit_full_batch(model, x, y, loss, steps: int, learning_rate: float = 0.01):
    """Train ``model`` on all of ``(x, y)`` for ``steps`` Adam steps, in one compiled loop.

    Each step minimises ``loss(y, model(x)) + sum(model.losses)`` (the KL terms of Bayesian
    layers) on the full data set. The whole loop is one ``tf.function`` (a ``tf.while_loop``),
    so a small network on a toy data set trains in a fraction of ``model.fit``'s time.

    ``model`` may be a list of models (an ensemble, or networks to compare on the same data):
    they are trained side by side in the same compiled loop, each on its own loss. The result
    equals training them one after the other, because every weight's gradient and Adam update
    depend on its own network's loss only; but the loop is traced once, not once per network.
    :doc:`Chapter 6 </book/06_predictive_uncertainty>` trains its networks this way.

    Parameters
    ----------
    model : tf_keras.Model or list of tf_keras.Model
        The network(s); weights are updated in place.
    x, y : array_like
        Inputs and targets, converted to float32.
    loss : callable
        ``loss(y_true, y_pred) -> scalar``, for example :func:`gaussian_nll` with a fixed
        noise scale, :func:`heteroscedastic_nll`, or a ``tf_keras`` loss object.
    steps : int
        Number of gradient steps, at least 1.
    learning_rate : float or tf_keras.optimizers.schedules.LearningRateSchedule, default 0.01
        Adam's learning rate, > 0, or a schedule of it (for example ``CosineDecay``).

    Returns
    -------
    numpy.ndarray
        The loss of each network (data term plus its ``losses``) at the last step, shape
        ``(n_models,)`` (``(1,)`` for a single model).

    Raises
    ------
    TypeError
        If a model is not a tf_keras model, ``loss`` is not callable, or a number has the
        wrong type.
    ValueError
        If the list of models is empty, ``steps < 1`` or ``learning_rate <= 0``.
    """
    models = list(model) if isinstance(model, list | tuple) else [model]
    if not models:
        raise ValueError("model is an empty list: give at least one model")
    for member in models:
        if not isinstance(member, keras.layers.Layer):
            raise TypeError(f"model must be a tf_keras Model, got {type(member).__name__}")
    if not callable(loss):
        raise TypeError(f"loss must be callable, got {type(loss).__name__}")
    steps = check_int("steps", steps, minimum=1)
    if not isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        learning_rate = check_float("learning_rate", learning_rate, positive=True)
    x = tf.constant(np.asarray(x, dtype=np.float32))
    y = tf.constant(np.asarray(y, dtype=np.float32))
    variables = [variable for member in models for variable in member.trainable_variables]
    adam = _Adam(variables, learning_rate)

    def objectives():
        values = []
        for member in models:
            value = loss(y, member(x, training=True))
            values.append(value + tf.add_n(member.losses) if member.losses else value)
        return tf.stack(values)

    @tf.function(autograph=False)
    def train():
        def step(i, _):
            with tf.GradientTape() as tape:
                values = objectives()
                total = tf.reduce_sum(values)
            adam.apply(tape.gradient(total, variables))
            return i + 1, values

        start = (tf.constant(0), tf.zeros([len(models)]))
        return tf.while_loop(lambda i, _: i < steps, step, start, parallel_iterations=1)[1]

    return train().numpy()
