"""Watch the weight posterior move during training, and summarise it afterwards.

:class:`PosteriorTracker` is a ``tf_keras`` callback: pass it to ``model.fit`` and it records,
for every dense layer it recognises, the posterior mean μ and standard deviation σ of (a fixed
subset of) the kernel weights, the bias, the layer's KL term, and the training loss split into
its data (NLL) and KL parts. After ``fit``, ``tracker.history`` is a :class:`PosteriorHistory`
with arrays of shape ``(records, weights)``, a tidy :meth:`PosteriorHistory.to_frame`, and
:meth:`~PosteriorHistory.save` / :meth:`~PosteriorHistory.load`.
:func:`posterior_summary` describes the posterior of every such layer of a model in one table.
Chapter 4 uses all three to watch a Dense and a Flipout network train side by side.

Recognised layers (by the attributes they carry, not by their class, so that your own layers
with the same attributes work too):

* bnnlib's Bayesian dense layers (``FlipoutDense``, ``ReparameterizationDense``,
  ``LocalReparameterizationDense``): variables ``loc`` and ``rho``, a ``sigma`` property and
  a ``kl_loss()`` method (the term the layer adds with ``add_loss``); the bias is ``bias`` (a
  point estimate) or ``bias_loc`` with a ``bias_sigma`` property.
* TensorFlow Probability's ``DenseFlipout``, ``DenseReparameterization`` and
  ``DenseLocalReparameterization`` (and any TFP variational layer with a ``kernel_posterior``
  whose distribution has ``loc`` and ``scale``): μ and σ are read from the posterior
  distribution, so σ is TFP's ``eps + softplus(untransformed_scale)``. The bias is a point
  estimate (σ = 0) unless its posterior has a ``scale``.
* plain ``tf_keras.layers.Dense``: μ is the weight itself, σ = 0 and the KL is 0.
"""

from __future__ import annotations

import json
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
import tf_keras as keras

from bnnlib._checks import check_every, check_float, check_int, check_seed
from bnnlib.training import _tfp_divergence

__all__ = ["PosteriorHistory", "PosteriorTracker", "posterior_summary"]

#: Written into every saved history; :meth:`PosteriorHistory.load` checks it.
FORMAT_NAME = "bnnlib.PosteriorHistory"
#: Version of the file layout; bump it when the layout changes.
FORMAT_VERSION = 1

_PER_RECORD = ("steps", "epochs", "loss", "nll", "kl")
_PER_LAYER = ("loc", "sigma", "bias_loc", "bias_sigma", "layer_kl")


# --------------------------------------------------------------------------------------------
# Reading a layer's posterior
# --------------------------------------------------------------------------------------------


def _numpy(value) -> np.ndarray:
    """One conversion to NumPy: a variable, a tensor or a TFP ``DeferredTensor``."""
    return np.asarray(tf.convert_to_tensor(value))


def _is_bnnlib_layer(layer) -> bool:
    # ``sigma`` is looked up without evaluating it: detection runs at every record.
    has_sigma = hasattr(type(layer), "sigma") or "sigma" in vars(layer)
    return has_sigma and all(
        isinstance(getattr(layer, name, None), tf.Variable) for name in ("loc", "rho")
    )


def _is_tfp_layer(layer) -> bool:
    posterior = getattr(layer, "kernel_posterior", None)
    return posterior is not None and hasattr(_base_distribution(posterior), "loc")


def _is_dense_layer(layer) -> bool:
    return isinstance(layer, keras.layers.Dense) and getattr(layer, "kernel", None) is not None


def _base_distribution(distribution):
    """The element-wise distribution inside TFP's ``Independent`` wrapper (or itself)."""
    return getattr(distribution, "distribution", distribution)


def _kernel_and_bias(layer):
    """``(kernel_loc, kernel_sigma, bias_loc, bias_sigma)`` as NumPy arrays.

    ``kernel_sigma`` is ``None`` for a point-estimate kernel and ``bias_sigma`` for a
    point-estimate bias (σ = 0); ``bias_loc`` is ``None`` for a layer without bias.
    """
    if _is_bnnlib_layer(layer):
        bias_loc, bias_sigma = None, None
        if getattr(layer, "bias_loc", None) is not None:
            bias_loc, bias_sigma = _numpy(layer.bias_loc), _numpy(layer.bias_sigma)
        elif getattr(layer, "bias", None) is not None:
            bias_loc = _numpy(layer.bias)
        return _numpy(layer.loc), _numpy(layer.sigma), bias_loc, bias_sigma
    if _is_tfp_layer(layer):
        kernel = _base_distribution(layer.kernel_posterior)
        kernel_sigma = _numpy(kernel.scale) if hasattr(kernel, "scale") else None
        bias_loc, bias_sigma = None, None
        if getattr(layer, "bias_posterior", None) is not None:
            bias = _base_distribution(layer.bias_posterior)
            bias_loc = _numpy(bias.loc)
            bias_sigma = _numpy(bias.scale) if hasattr(bias, "scale") else None
        return _numpy(kernel.loc), kernel_sigma, bias_loc, bias_sigma
    bias_loc = _numpy(layer.bias) if getattr(layer, "bias", None) is not None else None
    return _numpy(layer.kernel), None, bias_loc, None


def _kernel_shape(layer) -> tuple[int, ...]:
    """Shape of the layer's kernel, read from the variable without copying its values."""
    if _is_bnnlib_layer(layer):
        kernel = layer.loc
    elif _is_tfp_layer(layer):
        kernel = _base_distribution(layer.kernel_posterior).loc
    else:
        kernel = layer.kernel
    return tuple(int(n) for n in kernel.shape)


def _bnnlib_layer_kl(layer):
    """The KL term a bnnlib layer adds to its losses: ``kl_loss()`` (KL times ``kl_weight``),
    or ``kl_divergence()`` for a layer like it that has no weight on its KL."""
    for name in ("kl_loss", "kl_divergence"):
        method = getattr(layer, name, None)
        if callable(method):
            return method()
    return None


def _tfp_layer_kl(layer):
    """The divergence terms a TFP variational layer adds in ``call``, recomputed from its
    current variables (kernel, and bias when it has a prior); None if that is impossible."""
    # The divergence functions get None as their posterior sample, as DenseFlipout itself
    # passes: drawing one would change the random stream of the training run being watched.
    # A Monte-Carlo divergence that needs the sample fails, and is reported as NaN.
    try:
        return float(_tfp_divergence(layer))
    except Exception:  # any failure means "cannot recompute it without a sample"
        return None


def _layer_kl(layer) -> float:
    """The KL term ``layer`` adds to the model's losses, from its current variables.

    For bnnlib layers this is what their ``add_loss`` adds (with ``kl_weight``); for TFP layers
    it is the layer's own divergence function applied to its posterior and prior (so a KL
    scaled by ``1/N`` in the divergence function is reported scaled); for ``Dense`` it is 0.
    NaN when the layer's divergence cannot be recomputed without sampling.

    Parameters
    ----------
    layer : tf_keras.layers.Layer
        A built layer of a recognised type.

    Returns
    -------
    float
    """
    if _is_bnnlib_layer(layer):
        value = _bnnlib_layer_kl(layer)
    elif _is_tfp_layer(layer):
        value = _tfp_layer_kl(layer)
    else:
        value = 0.0
    return float("nan") if value is None else float(value)


def _layer_kl_function(layer, compiled: bool):
    """A function of no arguments returning ``_layer_kl(layer)``, compiled once if asked.

    Recomputing a TFP layer's KL eagerly builds its distributions anew each time (about 2 ms a
    layer); a compiled function reads the variables in one graph call, but tracing it costs
    about as much as twenty eager calls. So it pays only when there are many records.
    """
    if not compiled:
        return lambda: _layer_kl(layer)
    if _is_bnnlib_layer(layer):
        graph = tf.function(lambda: _bnnlib_layer_kl(layer))
    elif _is_tfp_layer(layer):
        graph = tf.function(lambda: _tfp_divergence(layer))
    else:
        return lambda: 0.0
    failed = False

    def layer_kl() -> float:
        nonlocal failed
        if not failed:
            try:
                return float(graph())
            except Exception:  # e.g. a divergence that needs a posterior sample
                failed = True
        return float("nan")

    return layer_kl


# Tracing a compiled KL costs about as much as twenty eager evaluations.
_RECORDS_WORTH_COMPILING = 20


def _tracked_layers(model) -> list[tuple[str, keras.layers.Layer]]:
    """Every recognised layer of ``model`` (nested models included), in model order.

    Layers inside a nested model are named ``"outer/inner"`` so names stay unique.
    """
    found = []

    def walk(container, prefix):
        for layer in getattr(container, "layers", []):
            if _is_bnnlib_layer(layer) or _is_tfp_layer(layer) or _is_dense_layer(layer):
                found.append((prefix + layer.name, layer))
            elif getattr(layer, "layers", None):
                walk(layer, f"{prefix}{layer.name}/")

    walk(model, "")
    return found


# --------------------------------------------------------------------------------------------
# The history
# --------------------------------------------------------------------------------------------


@dataclass
class _LayerRecords:
    """What is known about one tracked layer, and its per-record arrays (as lists)."""

    layer_type: str
    kernel_shape: tuple[int, ...]
    weight_index: np.ndarray
    loc: list
    sigma: list
    bias_loc: list
    bias_sigma: list
    layer_kl: list


class PosteriorHistory:
    """What a :class:`PosteriorTracker` recorded: μ, σ, KL and loss terms per record.

    A *record* is one snapshot of the tracked layers: record 0 is the state before training,
    then one per epoch (or per ``every`` optimizer steps). Per-layer arrays have shape
    ``(records, weights)``, where ``weights`` are the tracked kernel weights of that layer
    (:meth:`weight_index` says which). Chapter 4 reads histories of a Dense and a Flipout
    network trained side by side.

    You do not usually build one yourself: ``PosteriorTracker.history`` and
    :meth:`PosteriorHistory.load` return them.

    Parameters
    ----------
    layers : dict
        Layer name to ``(layer_type, kernel_shape, weight_index)``: the class name of the layer,
        the shape of its kernel, and the flat (row-major) kernel indices that are tracked.
    every : "epoch" or int, default "epoch"
        How often records were taken (kept as information; saved with the history).

    Raises
    ------
    TypeError, ValueError
        If ``layers`` is not such a mapping.
    """

    def __init__(self, layers: dict, every: str | int = "epoch"):
        if not isinstance(layers, dict):
            raise TypeError(f"layers must be a dict, got {type(layers).__name__}")
        self.every = check_every("every", every)
        self._layers: dict[str, _LayerRecords] = {}
        for name, spec in layers.items():
            if not isinstance(name, str):
                raise TypeError(f"layer names must be str, got {type(name).__name__}")
            try:
                layer_type, kernel_shape, weight_index = spec
            except (TypeError, ValueError):
                raise ValueError(
                    f"layers[{name!r}] must be (layer_type, kernel_shape, weight_index)"
                ) from None
            kernel_shape = tuple(int(n) for n in kernel_shape)
            weight_index = np.asarray(weight_index, dtype=np.int64).reshape(-1)
            size = int(np.prod(kernel_shape))
            if weight_index.size and (weight_index.min() < 0 or weight_index.max() >= size):
                raise ValueError(
                    f"weight_index of {name!r} must lie in [0, {size}) for a kernel of "
                    f"shape {kernel_shape}"
                )
            self._layers[name] = _LayerRecords(
                str(layer_type), kernel_shape, weight_index, [], [], [], [], []
            )
        self._records: dict[str, list] = {key: [] for key in _PER_RECORD}
        self._cache: dict = {}

    # -- building ------------------------------------------------------------------------

    def _append(self, step, epoch, loss, kl, layers):
        """Add one record; ``layers`` maps name -> (loc, sigma, bias_loc, bias_sigma, kl)."""
        self._records["steps"].append(int(step))
        self._records["epochs"].append(float(epoch))
        self._records["loss"].append(float(loss))
        self._records["kl"].append(float(kl))
        self._records["nll"].append(float(loss) - float(kl))
        for name, values in layers.items():
            records = self._layers[name]
            for key, value in zip(_PER_LAYER, values, strict=True):
                getattr(records, key).append(value)
        self._cache.clear()

    # -- reading -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._records["steps"])

    def __repr__(self) -> str:
        return f"PosteriorHistory({len(self)} records, every={self.every!r}, layers={self.layers})"

    @property
    def layers(self) -> list[str]:
        """Names of the tracked layers, in model order."""
        return list(self._layers)

    def _layer(self, layer) -> _LayerRecords:
        if not isinstance(layer, str):
            raise TypeError(f"layer must be a layer name (str), got {type(layer).__name__}")
        if layer not in self._layers:
            raise ValueError(f"unknown layer {layer!r}; this history tracks {self.layers}")
        return self._layers[layer]

    def _per_record(self, key) -> np.ndarray:
        if key not in self._cache:
            dtype = np.int64 if key == "steps" else np.float64
            self._cache[key] = np.asarray(self._records[key], dtype=dtype)
        return self._cache[key]

    def _per_layer(self, layer, key) -> np.ndarray:
        records = self._layer(layer)
        if (layer, key) not in self._cache:
            values = getattr(records, key)
            if key == "layer_kl":
                stacked = np.asarray(values, dtype=np.float64)
            elif values:
                stacked = np.stack(values)
            else:  # no record yet: keep the number of columns
                width = records.weight_index.size if key in ("loc", "sigma") else 0
                stacked = np.zeros((0, width), dtype=np.float32)
            stacked.setflags(write=False)  # a cached view: editing it would corrupt the history
            self._cache[(layer, key)] = stacked
        return self._cache[(layer, key)]

    @property
    def steps(self) -> np.ndarray:
        """Optimizer steps taken in this ``fit`` at each record (0 for record 0), int."""
        return self._per_record("steps")

    @property
    def epochs(self) -> np.ndarray:
        """Training progress in epochs at each record, float.

        Whole numbers for epoch records; fractional for step records (whole epochs done if
        Keras does not know the number of steps per epoch).
        """
        return self._per_record("epochs")

    @property
    def loss(self) -> np.ndarray:
        """The training loss Keras reported at each record (NaN for record 0).

        Keras reports the mean over the batches of the current epoch so far: at an epoch
        record, the epoch's mean loss.
        """
        return self._per_record("loss")

    @property
    def kl(self) -> np.ndarray:
        """The KL part of the loss at each record: the sum of the KL terms of every
        recognised layer of the model (tracked or not), from the variables at record time."""
        return self._per_record("kl")

    @property
    def nll(self) -> np.ndarray:
        """The data part of the loss at each record, ``loss - kl`` (NaN for record 0).

        ``loss`` is a mean over the epoch while ``kl`` is taken at the record, so the split is
        exact only up to how much the KL moved within the epoch. Penalties that are not a KL
        (for example an L2 ``kernel_regularizer``) are counted in this part.
        """
        return self._per_record("nll")

    def layer_type(self, layer: str) -> str:
        """Class name of ``layer`` (for example ``"DenseFlipout"`` or ``"Dense"``)."""
        return self._layer(layer).layer_type

    def kernel_shape(self, layer: str) -> tuple[int, ...]:
        """Shape of the full kernel of ``layer``, ``(inputs, units)`` for a dense layer."""
        return self._layer(layer).kernel_shape

    def weight_index(self, layer: str) -> np.ndarray:
        """Flat (row-major) kernel indices of the tracked weights of ``layer``, sorted.

        ``numpy.unravel_index(history.weight_index(name), history.kernel_shape(name))`` gives
        (input, unit) pairs.
        """
        index = self._layer(layer).weight_index.copy()
        return index

    def loc(self, layer: str) -> np.ndarray:
        """Posterior means μ of the tracked kernel weights, shape ``(records, weights)``.

        For a ``Dense`` layer, the weights themselves.
        """
        return self._per_layer(layer, "loc")

    def sigma(self, layer: str) -> np.ndarray:
        """Posterior standard deviations σ of the tracked kernel weights,
        shape ``(records, weights)``; zeros for a ``Dense`` layer."""
        return self._per_layer(layer, "sigma")

    def bias_loc(self, layer: str) -> np.ndarray:
        """Bias (posterior mean), shape ``(records, units)``; ``(records, 0)`` without bias."""
        return self._per_layer(layer, "bias_loc")

    def bias_sigma(self, layer: str) -> np.ndarray:
        """Bias posterior σ, shape ``(records, units)``: zeros for a point-estimate bias
        (the default of TFP and bnnlib layers)."""
        return self._per_layer(layer, "bias_sigma")

    def layer_kl(self, layer: str) -> np.ndarray:
        """The KL term ``layer`` adds to the loss at each record, shape ``(records,)``.

        Exactly what the layer adds with ``add_loss`` (so it includes a ``1/N`` or
        ``kl_weight`` factor if the layer applies one); 0 for ``Dense``.
        """
        return self._per_layer(layer, "layer_kl")

    def snr(self, layer: str) -> np.ndarray:
        """Signal-to-noise ratio ``|μ| / σ`` of the tracked weights, shape ``(records, weights)``.

        ``inf`` where σ = 0 and μ ≠ 0 (every weight of a ``Dense`` layer), ``nan`` where both
        are 0. Chapter 9 prunes weights by it.
        """
        loc, sigma = self.loc(layer), self.sigma(layer)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.abs(loc.astype(np.float64)) / sigma.astype(np.float64)

    def to_frame(self):
        """One tidy table: a row per record × layer × tracked kernel weight.

        Returns
        -------
        pandas.DataFrame
            Columns ``record``, ``step``, ``epoch``, ``layer``, ``weight`` (flat kernel index),
            ``loc``, ``sigma`` and ``snr``. Biases and loss terms are not in it: read them
            with :meth:`bias_loc`, :meth:`loss` etc.
        """
        import pandas as pd

        frames = []
        records = np.arange(len(self))
        for name in self.layers:
            index = self._layers[name].weight_index
            n_weights = index.size
            frames.append(
                pd.DataFrame(
                    {
                        "record": np.repeat(records, n_weights),
                        "step": np.repeat(self.steps, n_weights),
                        "epoch": np.repeat(self.epochs, n_weights),
                        "layer": name,
                        "weight": np.tile(index, len(self)),
                        "loc": self.loc(name).reshape(-1).astype(np.float64),
                        "sigma": self.sigma(name).reshape(-1).astype(np.float64),
                        "snr": self.snr(name).reshape(-1),
                    }
                )
            )
        if not frames:
            columns = ["record", "step", "epoch", "layer", "weight", "loc", "sigma", "snr"]
            return pd.DataFrame(columns=columns)
        return pd.concat(frames, ignore_index=True)

    # -- files ---------------------------------------------------------------------------

    def save(self, path) -> Path:
        """Write the history to one ``.npz`` file (no pickle); :meth:`load` reads it back.

        The file holds a ``metadata`` entry (JSON: format name, format version, ``every``,
        layer names, types and kernel shapes), the per-record arrays ``steps``, ``epochs``,
        ``loss``, ``nll``, ``kl``, and for the i-th layer ``loc_i``, ``sigma_i``,
        ``bias_loc_i``, ``bias_sigma_i``, ``layer_kl_i`` and ``weight_index_i``, in the dtypes
        they were recorded in.

        Parameters
        ----------
        path : str or os.PathLike
            Where to write. ``.npz`` is appended if the name does not end with it.

        Returns
        -------
        pathlib.Path
            The path written.
        """
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        names = self.layers
        metadata = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "every": self.every,
            "records": len(self),
            "layers": names,
            "layer_types": [self._layers[n].layer_type for n in names],
            "kernel_shapes": [list(self._layers[n].kernel_shape) for n in names],
        }
        arrays = {"metadata": np.array(json.dumps(metadata))}
        for key in _PER_RECORD:
            arrays[key] = self._per_record(key)
        for i, name in enumerate(names):
            for key in _PER_LAYER:
                arrays[f"{key}_{i}"] = self._per_layer(name, key)
            arrays[f"weight_index_{i}"] = self._layers[name].weight_index
        with open(path, "wb") as file:
            np.savez(file, **arrays)
        return path

    @classmethod
    def load(cls, path) -> PosteriorHistory:
        """Read a history written by :meth:`save`.

        Parameters
        ----------
        path : str or os.PathLike
            The ``.npz`` file.

        Returns
        -------
        PosteriorHistory
            Equal, array by array, to the one saved.

        Raises
        ------
        FileNotFoundError
            If there is no such file.
        ValueError
            If the file is not a complete history saved by bnnlib (truncated or corrupt, another
            program's ``.npz``, a newer format version, or arrays of inconsistent shapes).
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no PosteriorHistory file at {str(path)!r}")
        what = f"{str(path)!r} is not a bnnlib PosteriorHistory file"
        try:
            with np.load(path, allow_pickle=False) as npz:
                files = set(npz.files)
                metadata = json.loads(str(npz["metadata"])) if "metadata" in files else None
                arrays = {key: _member(npz, key, path) for key in files if key != "metadata"}
        except (zipfile.BadZipFile, EOFError, OSError, KeyError, ValueError) as error:
            if isinstance(error, _CorruptMember):
                raise

            # np.load raises these for a text file, a cut-off zip or a damaged member.
            raise ValueError(f"{what}, or it is truncated or corrupt ({error})") from error
        if not isinstance(metadata, dict) or metadata.get("format") != FORMAT_NAME:
            raise ValueError(f"{what}: it has no bnnlib metadata entry")
        if metadata.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"{str(path)!r} uses PosteriorHistory format version "
                f"{metadata.get('version')!r}; this bnnlib reads version {FORMAT_VERSION}"
            )
        return cls._from_arrays(metadata, arrays, what)

    @classmethod
    def _from_arrays(cls, metadata, arrays, what) -> PosteriorHistory:
        """Rebuild a history from the metadata and arrays of a file, checking every shape."""
        try:
            names = list(metadata["layers"])
            types = list(metadata["layer_types"])
            shapes = [tuple(shape) for shape in metadata["kernel_shapes"]]
            n_records = int(metadata["records"])
            every = metadata["every"]
            layers = {
                name: (types[i], shapes[i], arrays[f"weight_index_{i}"])
                for i, name in enumerate(names)
            }
            history = cls(layers, every=every)
            per_record = {key: arrays[key] for key in _PER_RECORD}
            per_layer = {
                name: {key: arrays[f"{key}_{i}"] for key in _PER_LAYER}
                for i, name in enumerate(names)
            }
        except (KeyError, IndexError, TypeError, ValueError) as error:
            raise ValueError(f"{what}: missing or malformed entry {error}") from None
        for key, values in per_record.items():
            if values.shape != (n_records,):
                raise ValueError(f"{what}: {key!r} has shape {values.shape}, not ({n_records},)")
        for name, values in per_layer.items():
            n_weights = history._layers[name].weight_index.size
            for key, value in values.items():
                ok = value.shape[:1] == (n_records,) and (
                    value.ndim == 1 if key == "layer_kl" else value.ndim == 2
                )
                if key in ("loc", "sigma"):
                    ok = ok and value.shape[1] == n_weights
                if not ok:
                    raise ValueError(f"{what}: {key!r} of layer {name!r} has shape {value.shape}")
        history._records = {key: list(values) for key, values in per_record.items()}
        history._records["steps"] = [int(s) for s in per_record["steps"]]
        for name, values in per_layer.items():
            records = history._layers[name]
            for key, value in values.items():
                setattr(records, key, list(value))
        # The stacked arrays are exactly what was saved: cache them instead of re-stacking.
        for key, values in per_record.items():
            history._cache[key] = values.astype(np.int64 if key == "steps" else np.float64)
        for name, values in per_layer.items():
            for key, value in values.items():
                value.setflags(write=False)
                history._cache[(name, key)] = value
        return history


class _CorruptMember(ValueError):
    """A member of a history file that is not a readable array."""


def _member(npz, key: str, path: Path) -> np.ndarray:
    """The array ``key`` of an open ``.npz`` file, or a ValueError naming the file and member."""
    try:
        value = npz[key]
    except Exception as error:  # NumPy raises several types for a damaged member
        raise _CorruptMember(
            f"{str(path)!r}: member {key!r} is not a valid array, the file is corrupt ({error})"
        ) from error
    if not isinstance(value, np.ndarray):
        raise _CorruptMember(f"{str(path)!r}: member {key!r} is not an array")
    return value


# --------------------------------------------------------------------------------------------
# The callback
# --------------------------------------------------------------------------------------------


class PosteriorTracker(keras.callbacks.Callback):
    """Record the weight posterior of every recognised layer while a model trains.

    Pass it to ``model.fit(..., callbacks=[tracker])``; afterwards ``tracker.history`` is a
    :class:`PosteriorHistory`. Record 0 is taken in ``on_train_begin``, before the first step;
    then one record at the end of every epoch (``every="epoch"``) or after every ``every``
    optimizer steps (so ``1 + total_steps // every`` records). Each ``fit`` call starts a new
    history, as Keras's own ``History`` does. Chapter 4 uses it.

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
    history : PosteriorHistory or None
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
        self._tracked: list[tuple[str, keras.layers.Layer, np.ndarray]] = []
        self._all_layers: list[keras.layers.Layer] = []
        self._kl_functions: dict = {}
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
        model = self.model
        if not model.built:
            raise ValueError(
                "PosteriorTracker needs a built model to record the state before training: "
                "start the model with keras.Input(...) or call model.build(input_shape) "
                "before fit"
            )
        found = _tracked_layers(model)
        if not found:
            raise ValueError(
                f"model {model.name!r} has no layer PosteriorTracker can read (bnnlib or TFP "
                "variational dense layers, or tf_keras Dense): there is nothing to track"
            )
        self._all_layers = [layer for _, layer in found]
        compiled = self._expected_records() >= _RECORDS_WORTH_COMPILING
        self._kl_functions = {
            id(layer): _layer_kl_function(layer, compiled) for layer in self._all_layers
        }
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
        for position, (name, layer) in enumerate(found):
            shape = _kernel_shape(layer)
            index = self._choose_weights(position, int(np.prod(shape)))
            self._tracked.append((name, layer, index))
            specs[name] = (type(layer).__name__, shape, index)
        self.history = PosteriorHistory(specs, every=self.every)
        self._steps = 0
        self._epoch_start_step = 0
        self._iterations_at_start = self._optimizer_iterations()
        self._record(epoch=0.0, loss=float("nan"))

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
        layers = {}
        kl_of = {}
        for name, layer, index in self._tracked:
            kernel_loc, kernel_sigma, bias_loc, bias_sigma = _kernel_and_bias(layer)
            loc = kernel_loc.reshape(-1)[index]
            if kernel_sigma is None:
                sigma = np.zeros_like(loc)
            else:
                sigma = kernel_sigma.reshape(-1)[index]
            if bias_loc is None:
                bias_loc = np.zeros(0, dtype=loc.dtype)
            bias_loc = bias_loc.reshape(-1)
            bias_sigma = np.zeros_like(bias_loc) if bias_sigma is None else bias_sigma.reshape(-1)
            kl_of[id(layer)] = self._kl_functions[id(layer)]()
            layers[name] = (loc, sigma, bias_loc, bias_sigma, kl_of[id(layer)])
        total_kl = 0.0
        for layer in self._all_layers:
            value = kl_of[id(layer)] if id(layer) in kl_of else self._kl_functions[id(layer)]()
            total_kl += value
        if np.isnan(total_kl) and not self._warned_nan_kl:
            self._warned_nan_kl = True
            warnings.warn(
                "a layer's KL could not be recomputed without sampling; its KL (and the kl/nll "
                "split) is recorded as NaN",
                RuntimeWarning,
                stacklevel=2,
            )
        self.history._append(self._steps, epoch, loss, total_kl, layers)

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


# --------------------------------------------------------------------------------------------
# One table for a whole model
# --------------------------------------------------------------------------------------------


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


def posterior_summary(model, prior_scale: float = 1.0):
    """Describe the weight posterior of every recognised layer of a built model.

    Works on any built ``tf_keras`` model holding bnnlib Bayesian dense layers, TFP variational
    dense layers or plain ``Dense`` layers (see the module documentation), so you can run it on
    your own model. All kernel weights are used (no subset). Chapter 4 reads it after training.

    Parameters
    ----------
    model : tf_keras.Model
        A built model.
    prior_scale : float, default 1.0
        σ of the prior (> 0), for the ``near_prior`` column.

    Returns
    -------
    pandas.DataFrame
        One row per layer, columns:

        - ``layer``, ``type``: layer name and class name;
        - ``weights``: number of kernel weights;
        - ``mean_abs_loc``: mean of ``|μ|`` over the kernel;
        - ``sigma_q05``, ``sigma_q50``, ``sigma_q95``: 5 %, 50 %, 95 % quantiles of σ;
        - ``snr_q05``, ``snr_q50``, ``snr_q95``: the same quantiles of ``|μ| / σ`` (weights
          with μ = σ = 0 left out; ``inf`` for a point-estimate layer);
        - ``kl``: the KL term the layer adds to its losses with ``add_loss`` (including any
          ``kl_weight`` or ``1/N`` factor), recomputed from its current variables;
        - ``near_prior``: share of kernel weights whose σ is within 10 % of ``prior_scale``,
          ``|σ - prior_scale| <= 0.1 prior_scale`` (weights the data did not move away from
          the prior).

        Quantiles are NumPy's default (linear interpolation).

    Raises
    ------
    TypeError
        If ``model`` is not a ``tf_keras`` model.
    ValueError
        If the model is not built or ``prior_scale`` is not positive.
    """
    import pandas as pd

    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a tf_keras Model, got {type(model).__name__}")
    prior_scale = check_float("prior_scale", prior_scale, positive=True)
    if not model.built:
        raise ValueError("model must be built (give it an Input or call model.build first)")
    rows = []
    quantiles = [0.05, 0.5, 0.95]
    for name, layer in _tracked_layers(model):
        loc, sigma, _, _ = _kernel_and_bias(layer)
        loc = loc.reshape(-1).astype(np.float64)
        sigma = np.zeros_like(loc) if sigma is None else sigma.reshape(-1).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            snr = np.abs(loc) / sigma
        sigma_q = _quantiles(sigma, quantiles)
        snr_q = _quantiles(snr, quantiles)
        rows.append(
            {
                "layer": name,
                "type": type(layer).__name__,
                "weights": loc.size,
                "mean_abs_loc": float(np.mean(np.abs(loc))),
                "sigma_q05": sigma_q[0],
                "sigma_q50": sigma_q[1],
                "sigma_q95": sigma_q[2],
                "snr_q05": snr_q[0],
                "snr_q50": snr_q[1],
                "snr_q95": snr_q[2],
                "kl": _layer_kl(layer),
                "near_prior": float(np.mean(np.abs(sigma - prior_scale) <= 0.1 * prior_scale)),
            }
        )
    columns = [
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
    ]
    return pd.DataFrame(rows, columns=columns)
