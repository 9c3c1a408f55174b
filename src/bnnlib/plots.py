"""Every figure the book draws, and the one theme they share.

Colours carry meaning across chapters: :data:`COLORS` gives Dense one colour and Flipout
another, everywhere. Chapter 1 introduces the theme.
"""

from __future__ import annotations

import matplotlib as mpl
import seaborn as sns

__all__ = ["COLORS", "set_theme"]

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
