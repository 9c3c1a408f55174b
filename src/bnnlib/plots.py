"""Every figure the book draws, and the one theme they share.

Colours carry meaning across chapters: :data:`COLORS` gives Dense one colour and Flipout
another, everywhere. :doc:`Chapter 1 </book/01_anatomy>` introduces the theme.
"""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.axes import Axes

from bnnlib._checks import check_choice, check_float, check_int
from bnnlib.history import PosteriorHistory

__all__ = [
    "COLORS",
    "set_theme",
    "plot_stochastic_passes",
    "plot_weight_trajectories",
    "plot_sigma_distribution",
    "plot_snr_histograms",
    "plot_kl_vs_nll",
]

#: Fixed colours for the whole book: a reader learns them once.
COLORS = {
    "dense": "#4C72B0",  # blue: point-estimate weights
    "flipout": "#DD8452",  # orange: Bayesian (Flipout) posterior
    "tfp_flipout": "#C44E52",  # red: TFP's DenseFlipout when shown beside bnnlib's
    "prior": "#8C8C8C",  # grey: the prior
    "data": "#222222",  # near-black: observations
}


def set_theme(context: str = "notebook", font_scale: float = 1.0) -> None:
    """Apply the book's plotting theme (seaborn ``whitegrid`` and the book's palette).

    Parameters
    ----------
    context : {"paper", "notebook", "talk", "poster"}, default "notebook"
        Seaborn context: scales fonts and lines for where the figure is shown.
    font_scale : float, default 1.0
        Extra scaling of fonts, > 0.

    Raises
    ------
    ValueError
        If ``context`` is unknown or ``font_scale`` is not positive.
    """
    check_choice("context", context, {"paper", "notebook", "talk", "poster"})
    font_scale = check_float("font_scale", font_scale, positive=True)
    palette = [COLORS["dense"], COLORS["flipout"], COLORS["tfp_flipout"], COLORS["prior"]]
    sns.set_theme(context=context, style="whitegrid", palette=palette, font_scale=font_scale)
    # Figures are saved into the static site: a fixed size and resolution keep pages light.
    mpl.rcParams.update({"figure.figsize": (7.0, 4.0), "figure.dpi": 80, "savefig.dpi": 100})


def _as_passes(name: str, outputs, n_inputs: int):
    """Check ``outputs`` is (passes, inputs) or (passes, inputs, 1) and return it as 2-D."""

    outputs = np.asarray(outputs, dtype=float)
    if outputs.ndim == 3 and outputs.shape[-1] == 1:
        outputs = outputs[..., 0]
    if outputs.ndim != 2 or outputs.shape[1] != n_inputs:
        raise ValueError(
            f"{name} must have shape (passes, {n_inputs}) or (passes, {n_inputs}, 1), "
            f"got {outputs.shape}"
        )
    return outputs


def plot_stochastic_passes(x, dense_outputs, flipout_outputs, ax=None):
    """Draw repeated forward passes of a Dense and a Flipout model on the same inputs.

    A Dense model draws the same curve every time; a Flipout model draws a new weight sample
    each call, so its curves fan out. :doc:`Chapter 1 </book/01_anatomy>` uses this figure.

    Parameters
    ----------
    x : array_like, shape (n,) or (n, 1)
        The inputs, the same for every pass.
    dense_outputs, flipout_outputs : array_like, shape (passes, n) or (passes, n, 1)
        One row per forward pass.
    ax : sequence of two matplotlib Axes, optional
        Where to draw; a new figure with two panels sharing the y-axis when omitted.

    Returns
    -------
    numpy.ndarray of matplotlib.axes.Axes
        The two panels (Dense, Flipout).

    Raises
    ------
    ValueError
        If the shapes do not match.
    """
    x = np.asarray(x, dtype=float).reshape(-1)
    dense = _as_passes("dense_outputs", dense_outputs, x.size)
    flipout = _as_passes("flipout_outputs", flipout_outputs, x.size)
    if ax is None:
        _, ax = plt.subplots(1, 2, figsize=(9.0, 3.6), sharey=True)
    ax = _two_axes(ax)
    order = np.argsort(x)
    for axis, outputs, kind, title in (
        (ax[0], dense, "dense", "Dense"),
        (ax[1], flipout, "flipout", "DenseFlipout"),
    ):
        for row in outputs:
            axis.plot(x[order], row[order], color=COLORS[kind], alpha=0.6, lw=1.2)
        axis.set_title(f"{title}: {len(outputs)} passes on the same inputs")
        axis.set_xlabel("input x")
    ax[0].set_ylabel("output y")
    return ax


# --------------------------------------------------------------------------------------------
# Watching the posterior evolve: figures drawn from PosteriorHistory records
# --------------------------------------------------------------------------------------------


def _two_axes(ax) -> np.ndarray:
    """``ax`` as a flat array of exactly two Axes (the panels of a side-by-side figure)."""
    ax = np.asarray(ax).reshape(-1)
    if ax.size != 2:
        raise ValueError(f"ax must hold two Axes, got {ax.size}")
    return ax


def check_history(name: str, history):

    if not isinstance(history, PosteriorHistory):
        raise TypeError(f"{name} must be a PosteriorHistory, got {type(history).__name__}")
    if len(history) == 0:
        raise ValueError(f"{name} holds no records")
    return history


def _check_layer(history, layer: str):
    """Return ``layer`` if ``history`` tracks it (the history raises a clear error if not)."""
    history.weight_index(layer)
    return layer


def _new_axes(ax, **subplots):

    if ax is None:
        _, ax = plt.subplots(**subplots)
        return ax
    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes, got {type(ax).__name__}")
    return ax


def common_weights(dense_history, dense_layer, flipout_history, flipout_layer, weights):
    """Flat kernel indices tracked in both layers, and their columns in each history."""

    dense_shape = dense_history.kernel_shape(dense_layer)
    flipout_shape = flipout_history.kernel_shape(flipout_layer)
    if dense_shape != flipout_shape:
        raise ValueError(
            f"the two layers must have kernels of the same shape, got {dense_shape} "
            f"({dense_layer!r}) and {flipout_shape} ({flipout_layer!r})"
        )
    common = np.intersect1d(
        dense_history.weight_index(dense_layer), flipout_history.weight_index(flipout_layer)
    )
    if common.size == 0:
        raise ValueError(
            "the two histories track no weight in common: track both models with the same "
            "PosteriorTracker seed and max_weights_per_layer"
        )
    if isinstance(weights, int) and not isinstance(weights, bool):
        if weights < 1:
            raise ValueError(f"weights must be >= 1 when an integer, got {weights}")
        # Evenly spread over the common weights rather than the first few, which all share
        # the first input.
        picks = np.unique(np.linspace(0, common.size - 1, min(weights, common.size)).round())
        chosen = common[picks.astype(int)]
    else:
        chosen = np.asarray(weights).reshape(-1)
        if chosen.size == 0 or not np.issubdtype(chosen.dtype, np.integer):
            raise TypeError("weights must be an int or a non-empty sequence of flat kernel indices")
        missing = np.setdiff1d(chosen, common)
        if missing.size:
            raise ValueError(
                f"weights {missing.tolist()} are not tracked in both layers; tracked in both: "
                f"{common[:10].tolist()}{' ...' if common.size > 10 else ''}"
            )
    dense_columns = np.searchsorted(dense_history.weight_index(dense_layer), chosen)
    flipout_columns = np.searchsorted(flipout_history.weight_index(flipout_layer), chosen)
    return chosen, dense_columns, flipout_columns


def layer_pair(layers):
    if (
        not isinstance(layers, (tuple, list))
        or len(layers) != 2
        or not all(isinstance(name, str) for name in layers)
    ):
        raise TypeError(f"layers must be a pair of layer names (dense, flipout), got {layers!r}")
    return layers


_LINESTYLES = ("-", "--", ":", "-.")


def plot_weight_trajectories(dense_history, flipout_history, layers, weights=4, ax=None):
    """Dense weights w(t) beside the Flipout posterior μ(t) ± 2σ(t) of the same positions.

    The heart of :doc:`Chapter 4 </book/04_training_side_by_side>`: the same kernel positions of
    two networks trained side by side,
    a Dense one (a single number per weight) and a Flipout one (a mean and a band of two
    standard deviations), on shared axes, against the epoch.

    Parameters
    ----------
    dense_history, flipout_history : PosteriorHistory
        Records of the two trainings (see :class:`bnnlib.tracking.PosteriorTracker`).
    layers : tuple of two str
        ``(dense_layer, flipout_layer)``: the layer names in each history. The kernels must
        have the same shape.
    weights : int or sequence of int, default 4
        Flat kernel indices to draw, tracked in both histories; or how many to pick, evenly
        spread over the weights both histories track.
    ax : sequence of two matplotlib Axes, optional
        Where to draw (Dense, Flipout); a new figure with two panels sharing both axes when
        omitted.

    Returns
    -------
    numpy.ndarray of matplotlib.axes.Axes
        The two panels (Dense, Flipout); one line per weight in each, and in the Flipout panel
        one ±2σ band per weight.

    Raises
    ------
    TypeError, ValueError
        If a history is not a non-empty PosteriorHistory, a layer is unknown, the kernels
        differ in shape, or a weight is not tracked in both.
    """
    check_history("dense_history", dense_history)
    check_history("flipout_history", flipout_history)
    dense_layer, flipout_layer = layer_pair(layers)
    chosen, dense_columns, flipout_columns = common_weights(
        dense_history, dense_layer, flipout_history, flipout_layer, weights
    )
    if ax is None:
        _, ax = plt.subplots(1, 2, figsize=(9.0, 3.6), sharex=True, sharey=True)
    ax = _two_axes(ax)
    shape = dense_history.kernel_shape(dense_layer)
    dense_loc = dense_history.loc(dense_layer)
    mu = flipout_history.loc(flipout_layer)
    sigma = flipout_history.sigma(flipout_layer)
    for k, (weight, dc, fc) in enumerate(zip(chosen, dense_columns, flipout_columns, strict=True)):
        position = np.unravel_index(int(weight), shape)
        label = "w" + str(tuple(int(i) for i in position)).replace(" ", "")
        style = _LINESTYLES[k % len(_LINESTYLES)]
        ax[0].plot(
            dense_history.epochs, dense_loc[:, dc], color=COLORS["dense"], ls=style, label=label
        )
        ax[1].plot(
            flipout_history.epochs, mu[:, fc], color=COLORS["flipout"], ls=style, label=label
        )
        ax[1].fill_between(
            flipout_history.epochs,
            mu[:, fc] - 2 * sigma[:, fc],
            mu[:, fc] + 2 * sigma[:, fc],
            color=COLORS["flipout"],
            alpha=0.2,
            lw=0,
        )
    ax[0].set_title(f"Dense: weight w ({dense_layer})")
    ax[1].set_title(f"Flipout: μ ± 2σ ({flipout_layer})")
    for axis in ax:
        axis.set_xlabel("epoch")
        axis.legend(title="weight (input, unit)", fontsize="small", loc="best")
    ax[0].set_ylabel("weight value")
    return ax


def plot_sigma_distribution(history, layer, prior_scale=None, initial_sigma=None, ax=None):
    """The distribution of σ over a layer's tracked weights, record by record (log scale).

    Draws the median of σ and two bands, 25–75 % and 5–95 %, against the epoch; optional
    reference lines mark the prior's scale and the initial σ. :doc:`Chapter 4
    </book/04_training_side_by_side>` uses it to show σ
    shrinking where the data constrain a weight and staying put where they do not.

    Parameters
    ----------
    history : PosteriorHistory
        Records of a training.
    layer : str
        A layer of ``history`` with σ > 0 (not a ``Dense`` layer).
    prior_scale : float, optional
        σ of the prior (> 0); drawn as a dashed grey line.
    initial_sigma : float, optional
        σ the posterior starts from (> 0, for example softplus(-3) ≈ 0.0486 for TFP's
        default); drawn as a dotted grey line.
    ax : matplotlib Axes, optional
        Where to draw; a new figure when omitted.

    Returns
    -------
    matplotlib.axes.Axes
        Lines: the median, then the prior and initial-σ lines when given.

    Raises
    ------
    TypeError, ValueError
        If ``history`` is not a non-empty PosteriorHistory, ``layer`` is unknown or has no
        positive σ, or a reference value is not positive.
    """
    check_history("history", history)
    _check_layer(history, layer)
    prior_scale = check_float("prior_scale", prior_scale, positive=True, allow_none=True)
    initial_sigma = check_float("initial_sigma", initial_sigma, positive=True, allow_none=True)
    sigma = history.sigma(layer).astype(float)
    if sigma.size == 0 or not np.all(sigma > 0):
        raise ValueError(
            f"layer {layer!r} has σ = 0 for some weights (a point-estimate layer such as "
            "Dense?): a log-scale σ distribution needs σ > 0"
        )
    ax = _new_axes(ax)
    q05, q25, q50, q75, q95 = np.quantile(sigma, [0.05, 0.25, 0.5, 0.75, 0.95], axis=1)
    epochs = history.epochs
    color = COLORS["flipout"]
    ax.fill_between(epochs, q05, q95, color=color, alpha=0.18, lw=0, label="5–95 %")
    ax.fill_between(epochs, q25, q75, color=color, alpha=0.35, lw=0, label="25–75 %")
    ax.plot(epochs, q50, color=color, lw=2, label="median")
    if prior_scale is not None:
        ax.axhline(prior_scale, color=COLORS["prior"], ls="--", lw=1.2, label="prior scale")
    if initial_sigma is not None:
        ax.axhline(initial_sigma, color=COLORS["prior"], ls=":", lw=1.2, label="initial σ")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("posterior σ (weight units, log scale)")
    ax.set_title(f"σ of {sigma.shape[1]} weights of {layer}")
    ax.legend(fontsize="small", loc="best")
    return ax


def plot_snr_histograms(history, layer, records=None, bins=30, ax=None, min_snr=1e-3):
    """Histograms of the signal-to-noise ratio ``|μ| / σ`` of a layer at a few records.

    One outline histogram per record on log-spaced bins, each record in its own colour and
    line style (from light to dark as training goes on): a weight whose SNR grows is one the
    data pin down. The x axis starts at ``min_snr``; smaller ratios (weights whose mean the
    prior has pulled to about 0) are counted in the first bin, as the axis label says.
    :doc:`Chapter 4 </book/04_training_side_by_side>` draws it, one panel per layer.

    Parameters
    ----------
    history : PosteriorHistory
        Records of a training.
    layer : str
        A layer of ``history`` with σ > 0.
    records : sequence of int, optional
        Record numbers to draw (0 is before training; negative numbers count from the end).
        By default up to four, evenly spread from the first record to the last.
    bins : int, default 30
        Number of log-spaced bins (>= 1).
    ax : matplotlib Axes, optional
        Where to draw; a new figure when omitted.
    min_snr : float, default 1e-3
        Left end of the x axis (> 0); smaller ratios are counted in the first bin.

    Returns
    -------
    matplotlib.axes.Axes
        One histogram patch and one legend entry per record.

    Raises
    ------
    TypeError, ValueError
        If ``history`` is not a non-empty PosteriorHistory, ``layer`` is unknown or has no
        finite positive SNR, a record is out of range, or ``min_snr`` is not positive.
    """
    check_history("history", history)
    _check_layer(history, layer)
    bins = check_int("bins", bins, minimum=1)
    min_snr = check_float("min_snr", min_snr, positive=True)
    n = len(history)
    if records is None:
        records = np.unique(np.linspace(0, n - 1, min(4, n)).round().astype(int)).tolist()
    elif isinstance(records, int) or not all(isinstance(r, int) for r in records):
        raise TypeError("records must be a sequence of record numbers (int)")
    records = list(records)
    if not records:
        raise ValueError("records must name at least one record")
    for record in records:
        if not -n <= record < n:
            raise ValueError(f"record {record} is out of range for a history of {n} records")
    snr = history.snr(layer)
    chosen = [snr[r][np.isfinite(snr[r]) & (snr[r] > 0)] for r in records]
    finite = np.concatenate(chosen)
    if finite.size == 0:
        raise ValueError(
            f"layer {layer!r} has no finite positive SNR at these records (σ = 0 everywhere?)"
        )
    high = max(finite.max(), 10 * min_snr)
    edges = np.geomspace(min_snr, high * 1.0001, bins + 1)
    ax = _new_axes(ax)
    # Light to dark for early to late, and a line style each, so records differ in print too.
    shades = sns.blend_palette(
        ["#F3C6A5", COLORS["flipout"], "#6B2E0A"], n_colors=max(len(records), 2)
    )
    if len(records) == 1:
        shades = [COLORS["flipout"]]
    for k, (record, values) in enumerate(zip(records, chosen, strict=True)):
        ax.hist(
            np.clip(values, min_snr, None),
            bins=edges,
            histtype="step",
            lw=1.8,
            ls=_LINESTYLES[(len(records) - 1 - k) % len(_LINESTYLES)],
            color=shades[k],
            label=f"epoch {history.epochs[record]:g}",
        )
    ax.set_xscale("log")
    ax.set_xlim(min_snr, edges[-1])
    ax.set_xlabel(f"SNR |μ| / σ (log scale; below {min_snr:g} in the first bin)")
    ax.set_ylabel("number of weights")
    ax.set_title(f"SNR of {snr.shape[1]} weights of {layer}")
    ax.legend(fontsize="small", loc="best")
    return ax


def plot_kl_vs_nll(history, ax=None):
    """The two parts of the training loss over training: data fit (NLL) and KL.

    :doc:`Chapter 3 </book/03_objective>` explains the objective ``loss = NLL + KL``; :doc:`Chapter
    4 </book/04_training_side_by_side>` watches the parts trade
    off. See :attr:`bnnlib.tracking.PosteriorHistory.nll` for how the loss is split.

    Parameters
    ----------
    history : PosteriorHistory
        Records of a training (record 0 has a KL but no loss yet).
    ax : matplotlib Axes, optional
        Where to draw; a new figure when omitted.

    Returns
    -------
    matplotlib.axes.Axes
        Two lines: NLL (data colour) and KL (prior colour).

    Raises
    ------
    TypeError, ValueError
        If ``history`` is not a PosteriorHistory with at least one record after training
        started.
    """
    check_history("history", history)
    if not np.any(np.isfinite(history.nll)):
        raise ValueError("history has no loss recorded yet (only the state before training)")
    ax = _new_axes(ax)
    ax.plot(history.epochs, history.nll, color=COLORS["data"], marker=".", label="NLL (data term)")
    ax.plot(history.epochs, history.kl, color=COLORS["prior"], marker=".", label="KL (prior term)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("part of the training loss")
    ax.set_title("The two parts of the training loss")
    ax.legend(fontsize="small", loc="best")
    return ax


def __getattr__(name: str):
    # The slider lives in its own module (bnnlib.slider), which draws with this module's
    # colours; looking it up on first use keeps ``bnnlib.plots.epoch_slider`` working without
    # the two modules importing each other at load time.
    if name == "epoch_slider":
        from bnnlib.slider import epoch_slider

        return epoch_slider
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
