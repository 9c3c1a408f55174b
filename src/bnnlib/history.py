"""What a :class:`~bnnlib.tracking.PosteriorTracker` records, and its ``.npz`` file format.

A :class:`PosteriorHistory` holds, per *record* (a snapshot taken before training and then
every epoch or every few steps), the posterior mean μ and standard deviation σ of the tracked
kernel weights of each layer, its bias, its KL term, and the training loss split into its data
(NLL) and KL parts. :meth:`PosteriorHistory.save` writes it to one ``.npz`` file without
pickle; :meth:`PosteriorHistory.load` reads it back, checking every array.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bnnlib._checks import check_every

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "PosteriorHistory"]

#: Written into every saved history; :meth:`PosteriorHistory.load` checks it.
FORMAT_NAME = "bnnlib.PosteriorHistory"
#: Version of the file layout; bump it when the layout changes.
FORMAT_VERSION = 1

_PER_RECORD = ("steps", "epochs", "loss", "nll", "kl")
_PER_LAYER = ("loc", "sigma", "bias_loc", "bias_sigma", "layer_kl")


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
    (:meth:`weight_index` says which). :doc:`Chapter 4 </book/04_training_side_by_side>` reads
    histories of a Dense and a Flipout
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

    def append(self, step, epoch, loss, kl, layers) -> None:
        """Add one record (what :class:`~bnnlib.tracking.PosteriorTracker` calls).

        Parameters
        ----------
        step : int
            Optimizer steps taken so far in this training.
        epoch : float
            Training progress in epochs.
        loss : float
            The training loss (NaN before training).
        kl : float
            The KL part of the loss, summed over every layer of the model.
        layers : dict
            Layer name -> ``(loc, sigma, bias_loc, bias_sigma, layer_kl)``: the tracked kernel
            weights' μ and σ (1-D, one value per tracked weight), the bias μ and σ (1-D), and
            the layer's KL term. Every tracked layer must be present.
        """
        if set(layers) != set(self._layers):
            raise ValueError(
                f"layers must hold every tracked layer {self.layers}, got {sorted(layers)}"
            )
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
        are 0. Pruning by SNR removes the weights with the smallest (Blundell et al. 2015).
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
