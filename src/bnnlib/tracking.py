"""Watch the weight posterior move during training.

:class:`PosteriorTracker` is a ``tf_keras`` callback: pass it to ``model.fit`` and it records,
for every dense layer it recognises, the posterior mean μ and standard deviation σ of (a fixed
subset of) the kernel weights, the bias, the layer's KL term, and the training loss split into
its data (NLL) and KL parts. In a training loop of your own, call
:meth:`PosteriorTracker.record` instead. Either way ``tracker.history`` is a
:class:`~bnnlib.history.PosteriorHistory` with arrays of shape ``(records, weights)``.
:doc:`Chapter 4 </book/04_training_side_by_side>` watches a Dense and a Flipout network train
side by side with it.

The layers it recognises, and how it reads them, are those of :mod:`bnnlib.posterior`: bnnlib's
Bayesian dense layers, TensorFlow Probability's variational dense layers and plain ``Dense``.

For convenience this module also exports :class:`~bnnlib.history.PosteriorHistory` and
:func:`~bnnlib.posterior.posterior_summary`, so that
``from bnnlib.tracking import PosteriorTracker, PosteriorHistory, posterior_summary`` works.

**Under** ``tf.distribute``. Inside a strategy's scope (for example
``tf.distribute.MirroredStrategy``) the tracker works unchanged: the replicas of a variable
hold the same values after every step, and a record reads them once.
"""

from __future__ import annotations

import warnings

import numpy as np
import tensorflow as tf
import tf_keras as keras

from bnnlib._checks import check_every, check_float, check_int, check_seed
from bnnlib.history import PosteriorHistory
from bnnlib.posterior import LayerPosterior, model_posteriors, posterior_summary

__all__ = ["PosteriorHistory", "PosteriorTracker", "posterior_summary"]

# Tracing a compiled KL costs about as much as twenty eager evaluations.
_RECORDS_WORTH_COMPILING = 20


def _kl_function(posterior: LayerPosterior, compiled: bool):
    """A function of no arguments returning the layer's KL as a float (NaN if impossible).

    Recomputing a TFP layer's KL eagerly builds its distributions anew each time (about 2 ms a
    layer); a compiled function reads the variables in one graph call, but tracing it costs
    about as much as twenty eager calls. So it pays only when there are many records.
    """
    if posterior.family == "dense":
        return lambda: 0.0
    kl = tf.function(posterior.kl) if compiled else posterior.kl
    failed = False

    def layer_kl() -> float:
        nonlocal failed
        if not failed:
            try:
                return float(kl())
            except Exception:  # e.g. a divergence that needs a posterior sample
                failed = True
        return float("nan")

    return layer_kl


class PosteriorTracker(keras.callbacks.Callback):
    """Record the weight posterior of every recognised layer while a model trains.

    Pass it to ``model.fit(..., callbacks=[tracker])``; afterwards ``tracker.history`` is a
    :class:`~bnnlib.history.PosteriorHistory`. In a training loop of your own, call
    :meth:`record` instead of passing it to ``fit``. Record 0 is taken in ``on_train_begin``,
    before the first step; then one record at the end of every epoch (``every="epoch"``) or
    after every ``every`` optimizer steps (so ``1 + total_steps // every`` records). Each
    ``fit`` call starts a new history, as Keras's own ``History`` does.
    :doc:`Chapter 4 </book/04_training_side_by_side>` uses it.

    A record costs one conversion to NumPy per variable and one compiled KL computation per
    layer, about a millisecond for a small network: a few percent of an epoch of many steps
    (``benchmarks/bench_tracking.py`` measures it), but comparable to a full-batch epoch of a
    tiny model, where ``every=10`` or so keeps it cheap.

    Parameters
    ----------
    every : "epoch" or int, default "epoch"
        When to record: at each epoch end, or every ``every`` (>= 1) optimizer steps.
    max_weights_per_layer : int, optional
        Follow at most this many kernel weights per layer (>= 1): a fixed random subset,
        chosen once when training starts from ``seed`` and the layer's position among the
        tracked layers, so two models of the same architecture tracked with the same seed
        follow the same weights. ``None`` follows every weight. Biases are always tracked whole.
    seed : int, default 0
        Seed of the subset choice (>= 0). Does not touch TensorFlow's random state.
    layers : sequence of str, optional
        Names of the layers to track; by default every recognised layer (see the module
        documentation). The KL part of the loss always sums over every recognised layer.

    Attributes
    ----------
    history : bnnlib.history.PosteriorHistory or None
        The records of the latest ``fit``; ``None`` before training.

    Raises
    ------
    TypeError, ValueError
        If an argument is out of range; at the start of training, if the model is not built
        (give it an ``Input`` or call ``model.build``: the initial state must exist before the
        first step) or if a named layer is missing or not of a recognised type.

    Examples
    --------
    >>> tracker = PosteriorTracker(max_weights_per_layer=200)  # doctest: +SKIP
    >>> model.fit(x, y, epochs=20, callbacks=[tracker], verbose=0)  # doctest: +SKIP
    >>> tracker.history.sigma("dense_flipout").shape  # doctest: +SKIP
    (21, 200)
    """

    def __init__(
        self,
        every: str | int = "epoch",
        max_weights_per_layer: int | None = None,
        seed: int = 0,
        layers=None,
    ):
        super().__init__()
        self.every = check_every("every", every)
        self.max_weights_per_layer = check_int(
            "max_weights_per_layer", max_weights_per_layer, minimum=1, allow_none=True
        )
        self.seed = check_seed("seed", seed)
        if layers is not None:
            if isinstance(layers, str) or not hasattr(layers, "__iter__"):
                raise TypeError(
                    f"layers must be a sequence of layer names (str), got "
                    f"{type(layers).__name__} {layers!r}"
                )
            layers = list(layers)
            if not all(isinstance(n, str) for n in layers):
                raise TypeError(f"layers must be a sequence of layer names (str), got {layers!r}")
            if not layers:
                raise ValueError(
                    "layers is empty: name at least one layer, or pass None to track every "
                    "recognised layer"
                )
        self.layers = layers
        self.history: PosteriorHistory | None = None
        # Logs may stay tensors: the loss is read (one sync) only when a record is taken.
        self._supports_tf_logs = True
        self._tracked: list[tuple[str, LayerPosterior, np.ndarray]] = []
        self._all_layers: list = []  # (posterior, its KL function) for every layer
        self._warned_nan_kl = False

    # -- set-up --------------------------------------------------------------------------

    def _choose_weights(self, position: int, size: int) -> np.ndarray:
        if self.max_weights_per_layer is None or size <= self.max_weights_per_layer:
            return np.arange(size, dtype=np.int64)
        rng = np.random.default_rng([self.seed, position])
        chosen = rng.choice(size, size=self.max_weights_per_layer, replace=False)
        return np.sort(chosen).astype(np.int64)

    def on_train_begin(self, logs=None):
        """Keras hook: choose the tracked weights and take record 0, the state before training."""
        self._start(self.model)
        self._iterations_at_start = self._optimizer_iterations()
        self._record(epoch=0.0, loss=float("nan"))

    def record(
        self,
        model,
        *,
        epoch: float | None = None,
        loss: float | None = None,
        step: int | None = None,
    ) -> None:
        """Take one record of ``model`` now: for a training loop of your own instead of ``fit``.

        The first call (or the first with another model) starts a new :attr:`history`, whose
        record 0 is this call. Call it again after each epoch (or whenever you like).

        Parameters
        ----------
        model : tf_keras.Model
            The built model being trained.
        epoch : float, optional
            Training progress to store with the record; by default the number of records
            taken before this one (0, 1, 2, ...).
        loss : float, optional
            The training loss to store with it (its ``nll`` is ``loss`` minus the KL part);
            NaN by default.
        step : int, optional
            Optimizer steps taken so far (>= 0); by default the number of records taken
            before this one, like ``epoch``.

        Raises
        ------
        TypeError, ValueError
            As for ``fit``: the model is not a built ``tf_keras`` model, has nothing to track,
            or lacks a layer named in ``layers``.

        Examples
        --------
        >>> tracker = PosteriorTracker()  # doctest: +SKIP
        >>> tracker.record(model)  # record 0, before training  # doctest: +SKIP
        >>> for epoch in range(epochs):  # doctest: +SKIP
        ...     loss = train_one_epoch(model)
        ...     tracker.record(model, loss=float(loss))
        >>> tracker.history.sigma("hidden_1").shape  # doctest: +SKIP
        (1 + epochs, 1024)
        """
        if not isinstance(model, keras.Model):
            raise TypeError(f"model must be a tf_keras Model, got {type(model).__name__}")
        if self.history is None or self.model is not model:
            self.set_model(model)
            self._start(model)
        done = len(self.history)
        self._steps = done if step is None else check_int("step", step, minimum=0)
        epoch = float(done) if epoch is None else check_float("epoch", epoch)
        loss = float("nan") if loss is None else float(loss)
        self._record(epoch=epoch, loss=loss)

    def _start(self, model) -> None:
        """Find the layers, choose the tracked weights and start an empty history."""
        if not model.built:
            raise ValueError(
                "PosteriorTracker needs a built model to record the state before training: "
                "start the model with keras.Input(...) or call model.build(input_shape) "
                "before fit"
            )
        found = model_posteriors(model)
        if not found:
            raise ValueError(
                f"model {model.name!r} has no layer PosteriorTracker can read (bnnlib or TFP "
                "variational dense layers, or tf_keras Dense): there is nothing to track"
            )
        compiled = self._expected_records() >= _RECORDS_WORTH_COMPILING
        self._all_layers = [
            (posterior, _kl_function(posterior, compiled)) for _, posterior in found
        ]
        if self.layers is not None:
            by_name = dict(found)
            for name in self.layers:
                if name not in by_name:
                    raise ValueError(
                        f"layer {name!r} is not a recognised dense layer of this model "
                        f"(recognised: {list(by_name)})"
                    )
            found = [(name, by_name[name]) for name in self.layers]
        self._tracked = []
        specs = {}
        for position, (name, posterior) in enumerate(found):
            shape = posterior.kernel_shape
            index = self._choose_weights(position, int(np.prod(shape)))
            self._tracked.append((name, posterior, index))
            specs[name] = (type(posterior.layer).__name__, shape, index)
        self.history = PosteriorHistory(specs, every=self.every)
        self._steps = 0
        self._epoch_start_step = 0

    def _expected_records(self) -> int:
        """How many records this ``fit`` will take, from the parameters Keras passes."""
        params = getattr(self, "params", None) or {}  # unset when used outside fit
        epochs = params.get("epochs") or 1
        if self.every == "epoch":
            return 1 + epochs
        steps = params.get("steps") or 1
        return 1 + (epochs * steps) // self.every

    def _optimizer_iterations(self) -> int:
        # Recording per epoch asks for no batch hooks, so the steps come from the optimizer.
        optimizer = getattr(self.model, "optimizer", None)
        iterations = getattr(optimizer, "iterations", None)
        return 0 if iterations is None else int(iterations.numpy())

    # -- recording -----------------------------------------------------------------------

    def _record(self, epoch, loss):
        kl_of = {id(posterior): kl() for posterior, kl in self._all_layers}
        layers = {}
        for name, posterior, index in self._tracked:
            kernel_loc, kernel_sigma, bias_loc, bias_sigma = posterior.read()
            loc = kernel_loc.reshape(-1)[index]
            sigma = np.zeros_like(loc) if kernel_sigma is None else kernel_sigma.reshape(-1)[index]
            bias_loc = np.zeros(0, loc.dtype) if bias_loc is None else bias_loc.reshape(-1)
            bias_sigma = np.zeros_like(bias_loc) if bias_sigma is None else bias_sigma.reshape(-1)
            layers[name] = (loc, sigma, bias_loc, bias_sigma, kl_of[id(posterior)])
        total_kl = float(sum(kl_of.values()))
        if np.isnan(total_kl) and not self._warned_nan_kl:
            self._warned_nan_kl = True
            warnings.warn(
                "a layer's KL could not be recomputed without sampling; its KL (and the kl/nll "
                "split) is recorded as NaN",
                RuntimeWarning,
                stacklevel=3,
            )
        self.history.append(self._steps, epoch, loss, total_kl, layers)

    def _loss(self, logs) -> float:
        value = (logs or {}).get("loss")
        return float("nan") if value is None else float(value)

    def _implements_train_batch_hooks(self) -> bool:
        # Keras calls batch hooks (and waits for every step to finish) only for callbacks that
        # ask for them, as its own progress bar does: recording per epoch must not ask.
        return self.every != "epoch"

    def on_epoch_begin(self, epoch, logs=None):
        """Keras hook: note where the epoch starts."""
        self._epoch = epoch
        self._epoch_start_step = self._steps

    def on_train_batch_end(self, batch, logs=None):
        """Keras hook: count optimizer steps; record when ``every`` steps have passed."""
        previous = self._steps
        # With steps_per_execution > 1 Keras reports the last step of the execution.
        self._steps = self._epoch_start_step + int(batch) + 1
        if self.every == "epoch" or self._steps // self.every == previous // self.every:
            return
        steps_per_epoch = (self.params or {}).get("steps")
        done_in_epoch = self._steps - self._epoch_start_step
        if steps_per_epoch:
            epoch = self._epoch + done_in_epoch / steps_per_epoch
        else:
            epoch = float(self._epoch)
        self._record(epoch=epoch, loss=self._loss(logs))

    def on_epoch_end(self, epoch, logs=None):
        """Keras hook: record at the end of each epoch when ``every="epoch"``."""
        if self.every == "epoch":
            self._steps = self._optimizer_iterations() - self._iterations_at_start
            self._record(epoch=float(epoch + 1), loss=self._loss(logs))
