"""Every figure the book draws, and the one theme they share.

Colours carry meaning across chapters: :data:`COLORS` gives Dense one colour and Flipout
another, everywhere. Chapter 1 introduces the theme.
"""

from __future__ import annotations

import matplotlib as mpl
import seaborn as sns

__all__ = [
    "COLORS",
    "set_theme",
    "plot_stochastic_passes",
    "plot_weight_trajectories",
    "plot_sigma_distribution",
    "plot_snr_histograms",
    "plot_kl_vs_nll",
    "epoch_slider",
]

#: Fixed colours for the whole book: a reader learns them once.
COLORS = {
    "dense": "#4C72B0",  # blue: point-estimate weights
    "flipout": "#DD8452",  # orange: Bayesian (Flipout) posterior
    "tfp_flipout": "#C44E52",  # red: TFP's DenseFlipout when shown beside bnnlib's
    "prior": "#8C8C8C",  # grey: the prior
    "data": "#222222",  # near-black: observations
    "mc_dropout": "#55A868",  # green: MC dropout (Chapter 6)
    "ensemble": "#8172B3",  # purple: a deep ensemble of Dense nets (Chapter 6)
    "nuts": "#937860",  # brown: the reference posterior sampled by NUTS (Chapter 8)
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
    from bnnlib._checks import check_choice, check_float

    check_choice("context", context, {"paper", "notebook", "talk", "poster"})
    font_scale = check_float("font_scale", font_scale, positive=True)
    palette = [COLORS["dense"], COLORS["flipout"], COLORS["tfp_flipout"], COLORS["prior"]]
    sns.set_theme(context=context, style="whitegrid", palette=palette, font_scale=font_scale)
    # Figures are saved into the static site: a fixed size and resolution keep pages light.
    mpl.rcParams.update({"figure.figsize": (7.0, 4.0), "figure.dpi": 80, "savefig.dpi": 100})


def _as_passes(name: str, outputs, n_inputs: int):
    """Check ``outputs`` is (passes, inputs) or (passes, inputs, 1) and return it as 2-D."""
    import numpy as np

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
    each call, so its curves fan out. Chapter 1 uses this figure.

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
    import matplotlib.pyplot as plt
    import numpy as np

    x = np.asarray(x, dtype=float).reshape(-1)
    dense = _as_passes("dense_outputs", dense_outputs, x.size)
    flipout = _as_passes("flipout_outputs", flipout_outputs, x.size)
    if ax is None:
        _, ax = plt.subplots(1, 2, figsize=(9.0, 3.6), sharey=True)
    ax = np.asarray(ax).reshape(-1)
    if ax.size != 2:
        raise ValueError(f"ax must hold two Axes, got {ax.size}")
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
# Watching the posterior evolve (Chapter 4): figures drawn from PosteriorHistory records
# --------------------------------------------------------------------------------------------


def _check_history(name: str, history):
    from bnnlib.tracking import PosteriorHistory

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
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    if ax is None:
        _, ax = plt.subplots(**subplots)
        return ax
    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes, got {type(ax).__name__}")
    return ax


def _common_weights(dense_history, dense_layer, flipout_history, flipout_layer, weights):
    """Flat kernel indices tracked in both layers, and their columns in each history."""
    import numpy as np

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


def _layer_pair(layers):
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

    The heart of Chapter 4: the same kernel positions of two networks trained side by side,
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
    import matplotlib.pyplot as plt
    import numpy as np

    _check_history("dense_history", dense_history)
    _check_history("flipout_history", flipout_history)
    dense_layer, flipout_layer = _layer_pair(layers)
    chosen, dense_columns, flipout_columns = _common_weights(
        dense_history, dense_layer, flipout_history, flipout_layer, weights
    )
    if ax is None:
        _, ax = plt.subplots(1, 2, figsize=(9.0, 3.6), sharex=True, sharey=True)
    ax = np.asarray(ax).reshape(-1)
    if ax.size != 2:
        raise ValueError(f"ax must hold two Axes, got {ax.size}")
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
    reference lines mark the prior's scale and the initial σ. Chapter 4 uses it to show σ
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
    import numpy as np

    from bnnlib._checks import check_float

    _check_history("history", history)
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


def plot_snr_histograms(history, layer, records=None, bins=30, ax=None):
    """Histograms of the signal-to-noise ratio ``|μ| / σ`` of a layer at a few records.

    One outline histogram per record on log-spaced bins, darker for later records: a weight
    whose SNR grows is one the data pin down. Chapter 4 draws it; Chapter 9 prunes by SNR.

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

    Returns
    -------
    matplotlib.axes.Axes
        One histogram patch and one legend entry per record.

    Raises
    ------
    TypeError, ValueError
        If ``history`` is not a non-empty PosteriorHistory, ``layer`` is unknown or has no
        finite positive SNR, or a record is out of range.
    """
    import numpy as np
    import seaborn as sns

    from bnnlib._checks import check_int

    _check_history("history", history)
    _check_layer(history, layer)
    bins = check_int("bins", bins, minimum=1)
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
    chosen = [snr[r] for r in records]
    finite = np.concatenate([values[np.isfinite(values) & (values > 0)] for values in chosen])
    if finite.size == 0:
        raise ValueError(
            f"layer {layer!r} has no finite positive SNR at these records (σ = 0 everywhere?)"
        )
    low, high = finite.min(), finite.max()
    if low == high:
        low, high = low / 2, high * 2
    edges = np.geomspace(low, high, bins + 1)
    ax = _new_axes(ax)
    shades = sns.light_palette(COLORS["flipout"], n_colors=len(records) + 1)[1:]
    for record, values, color in zip(records, chosen, shades, strict=True):
        values = values[np.isfinite(values) & (values > 0)]
        ax.hist(
            values,
            bins=edges,
            histtype="step",
            lw=1.8,
            color=color,
            label=f"epoch {history.epochs[record]:g}",
        )
    ax.set_xscale("log")
    ax.set_xlabel("signal-to-noise ratio |μ| / σ (log scale)")
    ax.set_ylabel("number of weights")
    ax.set_title(f"SNR of {snr.shape[1]} weights of {layer}")
    ax.legend(fontsize="small", loc="best")
    return ax


def plot_kl_vs_nll(history, ax=None):
    """The two parts of the training loss over training: data fit (NLL) and KL.

    Chapter 3 explains the objective ``loss = NLL + KL``; Chapter 4 watches the parts trade
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
    import numpy as np

    _check_history("history", history)
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


# matplotlib draws the slider's buttons with icons from a web font it links from a CDN: with no
# internet the buttons would be blank. Plain characters need nothing from outside the page.
_BUTTON_LABELS = {
    "fa fa-minus": "−",
    "fa fa-fast-backward": "|◁",
    "fa fa-step-backward": "◁",
    "fa fa-play fa-flip-horizontal": "◀",
    "fa fa-pause": "‖",
    "fa fa-play": "▶",
    "fa fa-step-forward": "▷",
    "fa fa-fast-forward": "▷|",
    "fa fa-plus": "+",
}


def _offline_buttons(html: str) -> str:
    """Drop the icon font link of matplotlib's animation HTML and label its buttons in text."""
    import re

    html = re.sub(r'<link rel="stylesheet"\s*href="[^"]*font-awesome[^"]*">', "", html)
    return re.sub(
        r'<i class="(fa [^"]*)"></i>',
        lambda match: _BUTTON_LABELS.get(match.group(1), "·"),
        html,
    )


def epoch_slider(
    dense_history,
    flipout_history,
    layers,
    weights=200,
    max_frames=25,
    dpi=72,
    figsize=(8.0, 3.6),
    max_bytes=2_000_000,
):
    """An animation with a slider, one frame per record, that plays in a static web page.

    Left: each tracked weight as a point, its Dense value against its Flipout mean μ, with a
    ±2σ bar (on the diagonal, the two networks agree). Right: the histogram of the Flipout σ.
    The HTML embeds every frame as an image and needs no kernel and no internet: the book's
    pages show it as it is. Chapter 4 ends with it.

    Parameters
    ----------
    dense_history, flipout_history : PosteriorHistory
        Records of the two trainings, with the same number of records (track both with the
        same ``every``, seed and ``max_weights_per_layer``).
    layers : tuple of two str
        ``(dense_layer, flipout_layer)``; the kernels must have the same shape.
    weights : int or sequence of int, default 200
        Flat kernel indices to draw, tracked in both; or how many to pick, evenly spread.
    max_frames : int, default 25
        At most this many frames (>= 2), evenly spread over the records, first and last
        included: the page weight grows with it.
    dpi : int, default 72
        Resolution of each frame (>= 20).
    figsize : tuple of two floats, default (8.0, 3.6)
        Size of the figure in inches.
    max_bytes : int, default 2_000_000
        Refuse to return more HTML than this (>= 1).

    Returns
    -------
    IPython.display.HTML
        Displays as the animation in a notebook; its ``data`` attribute is the HTML string.
        The element ids are derived from the content, so the same histories give the same
        HTML (an executed notebook's output does not change between runs).

    Raises
    ------
    TypeError, ValueError
        If an argument is wrong (see :func:`plot_weight_trajectories`), the histories have a
        different number of records, or the HTML would exceed ``max_bytes``: then lower
        ``max_frames``, ``dpi``, ``figsize`` or ``weights``.
    """
    import hashlib
    import re

    import matplotlib.pyplot as plt
    import numpy as np
    from IPython.display import HTML
    from matplotlib.animation import FuncAnimation
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    from bnnlib._checks import check_float, check_int

    _check_history("dense_history", dense_history)
    _check_history("flipout_history", flipout_history)
    dense_layer, flipout_layer = _layer_pair(layers)
    max_frames = check_int("max_frames", max_frames, minimum=2)
    dpi = check_int("dpi", dpi, minimum=20)
    max_bytes = check_int("max_bytes", max_bytes, minimum=1)
    if not isinstance(figsize, (tuple, list)) or len(figsize) != 2:
        raise TypeError(f"figsize must be (width, height) in inches, got {figsize!r}")
    figsize = tuple(check_float("figsize", size, positive=True) for size in figsize)
    if len(dense_history) != len(flipout_history):
        raise ValueError(
            f"the histories must have the same number of records, got {len(dense_history)} "
            f"and {len(flipout_history)}"
        )
    _, dense_columns, flipout_columns = _common_weights(
        dense_history, dense_layer, flipout_history, flipout_layer, weights
    )
    w = dense_history.loc(dense_layer)[:, dense_columns].astype(float)
    mu = flipout_history.loc(flipout_layer)[:, flipout_columns].astype(float)
    sigma = flipout_history.sigma(flipout_layer)[:, flipout_columns].astype(float)
    epochs = flipout_history.epochs
    n = len(epochs)
    frames = np.unique(np.linspace(0, n - 1, min(max_frames, n)).round().astype(int))

    # Fixed limits for every frame, so that the eye sees the weights move, not the axes.
    low = min(w.min(), (mu - 2 * sigma).min())
    high = max(w.max(), (mu + 2 * sigma).max())
    pad = 0.05 * (high - low or 1.0)
    positive = sigma[sigma > 0]
    sigma_edges = (
        np.geomspace(positive.min(), positive.max() * 1.0001, 31) if positive.size else None
    )

    with plt.rc_context({"figure.dpi": dpi, "savefig.dpi": dpi}):
        fig, (left, right) = plt.subplots(1, 2, figsize=figsize)
        # Artists are drawn once and only their data change from frame to frame: redrawing
        # the axes for every frame would cost several times more.
        left.plot([low, high], [low, high], color=COLORS["prior"], lw=1, ls="--")
        bars = left.vlines(
            w[0], mu[0] - 2 * sigma[0], mu[0] + 2 * sigma[0], color=COLORS["flipout"], lw=0.8
        )
        points = left.scatter(w[0], mu[0], s=9, color=COLORS["flipout"], zorder=3)
        left.set_xlim(low - pad, high + pad)
        left.set_ylim(low - pad, high + pad)
        left.set_xlabel("Dense weight w")
        left.set_ylabel("Flipout μ ± 2σ")
        right.set_xlabel("Flipout σ (log scale)")
        right.set_ylabel("number of weights")
        histogram = None
        if sigma_edges is not None:
            counts = [np.histogram(sigma[r], sigma_edges)[0] for r in frames]
            histogram = right.bar(
                sigma_edges[:-1],
                counts[0],
                width=np.diff(sigma_edges),
                align="edge",
                color=COLORS["flipout"],
                alpha=0.8,
            )
            right.set_xscale("log")
            # Plain numbers at 1, 2, 5 × 10^k: readable on a log axis spanning one decade.
            right.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            right.xaxis.set_major_formatter(FormatStrFormatter("%g"))
            right.xaxis.set_minor_formatter(NullFormatter())
            right.set_ylim(0, max(c.max() for c in counts) * 1.05 + 1)

        def draw(frame):
            record = frames[frame]
            points.set_offsets(np.column_stack([w[record], mu[record]]))
            low_ends, high_ends = mu[record] - 2 * sigma[record], mu[record] + 2 * sigma[record]
            bars.set_segments(
                [[(x, a), (x, b)] for x, a, b in zip(w[record], low_ends, high_ends, strict=True)]
            )
            left.set_title(f"{w.shape[1]} weights, epoch {epochs[record]:g}")
            right.set_title(f"σ at epoch {epochs[record]:g}")
            if histogram is not None:
                for patch, count in zip(histogram, counts[frame], strict=True):
                    patch.set_height(count)

        draw(0)  # titles first, so that tight_layout leaves room for them
        fig.tight_layout()

        animation = FuncAnimation(fig, draw, frames=len(frames), interval=400, repeat=False)
        html = animation.to_jshtml(default_mode="once")
        plt.close(fig)

    html = _offline_buttons(html)
    # matplotlib names the elements with a random uuid; a content hash keeps the HTML the
    # same from run to run (and distinct for different animations on one page).
    ids = set(re.findall(r"_anim_img([0-9a-f]{32})", html))
    if len(ids) == 1:
        random_id = ids.pop()
        stable_id = hashlib.sha256(html.replace(random_id, "").encode()).hexdigest()[:32]
        html = html.replace(random_id, stable_id)
    size = len(html.encode())
    if size > max_bytes:
        raise ValueError(
            f"the animation is {size} bytes, more than max_bytes={max_bytes}: lower max_frames, "
            "dpi, figsize or weights"
        )
    return HTML(html)
