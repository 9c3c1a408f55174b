"""The epoch slider: an animation of two trainings that plays in a static web page.

Three steps, one function each: :func:`slider_data` picks the weights and frames from two
histories; :func:`draw_slider` draws the figure once and returns a function that moves it to a
frame; :func:`slider_html` turns the frames into self-contained HTML (every frame embedded, no
kernel, no internet, a stable element id, alt text, and a width that fits a phone).
:func:`epoch_slider` runs the three; ``bnnlib.plots.epoch_slider`` is the same function.
:doc:`Chapter 4 </book/04_training_side_by_side>` ends with it.
"""

from __future__ import annotations

import hashlib
import html as html_escape
import re
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import HTML
from matplotlib.animation import FuncAnimation
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

from bnnlib._checks import check_float, check_int
from bnnlib.plots import COLORS, check_history, common_weights, layer_pair

__all__ = ["SliderData", "draw_slider", "epoch_slider", "slider_data", "slider_html"]


@dataclass
class SliderData:
    """What the slider shows: arrays of shape ``(records, weights)`` and the frames to draw."""

    layer: str
    w: np.ndarray  # Dense weights
    mu: np.ndarray  # Flipout means
    sigma: np.ndarray  # Flipout standard deviations
    epochs: np.ndarray
    frames: np.ndarray  # record numbers, one per frame
    limits: tuple[float, float]  # of both axes of the left panel
    sigma_edges: np.ndarray | None  # log-spaced bins of the σ histogram (None if σ is 0)


def slider_data(dense_history, flipout_history, layers, weights=200, max_frames=25) -> SliderData:
    """Pick the weights and the frames the slider draws, and fix the axes' limits.

    The left panel's limits cover the Dense weights and the Flipout means (with a margin), not
    the ±2σ bars: once σ has grown towards the prior the bars would otherwise set the scale
    and squeeze the points into the middle. Bars longer than the axes are cut at their edge.
    See :func:`epoch_slider` for the arguments.
    """
    check_history("dense_history", dense_history)
    check_history("flipout_history", flipout_history)
    dense_layer, flipout_layer = layer_pair(layers)
    max_frames = check_int("max_frames", max_frames, minimum=2)
    if len(dense_history) != len(flipout_history):
        raise ValueError(
            f"the histories must have the same number of records, got {len(dense_history)} "
            f"and {len(flipout_history)}"
        )
    _, dense_columns, flipout_columns = common_weights(
        dense_history, dense_layer, flipout_history, flipout_layer, weights
    )
    w = dense_history.loc(dense_layer)[:, dense_columns].astype(float)
    mu = flipout_history.loc(flipout_layer)[:, flipout_columns].astype(float)
    sigma = flipout_history.sigma(flipout_layer)[:, flipout_columns].astype(float)
    epochs = flipout_history.epochs
    n = len(epochs)
    frames = np.unique(np.linspace(0, n - 1, min(max_frames, n)).round().astype(int))
    low, high = min(w.min(), mu.min()), max(w.max(), mu.max())
    pad = 0.1 * (high - low or 1.0)
    positive = sigma[sigma > 0]
    sigma_edges = (
        np.geomspace(positive.min(), positive.max() * 1.0001, 31) if positive.size else None
    )
    return SliderData(
        flipout_layer, w, mu, sigma, epochs, frames, (low - pad, high + pad), sigma_edges
    )


def draw_slider(data: SliderData, figsize=(8.0, 3.6)):
    """Draw the slider's figure at its first frame.

    Left: each weight as a point, its Dense value against its Flipout mean μ, with a ±2σ bar
    (on the dashed diagonal the two networks agree). Right: the histogram of the Flipout σ.

    Returns
    -------
    fig : matplotlib.figure.Figure
    draw : callable
        ``draw(frame)`` moves the figure to frame ``frame`` (an index into ``data.frames``).
    """
    w, mu, sigma, epochs, frames = data.w, data.mu, data.sigma, data.epochs, data.frames
    low, high = data.limits
    fig, (left, right) = plt.subplots(1, 2, figsize=figsize)
    # Artists are drawn once and only their data change from frame to frame: redrawing the
    # axes for every frame would cost several times more.
    left.plot([low, high], [low, high], color=COLORS["prior"], lw=1, ls="--")
    # Translucent bars: where σ has returned to the prior they span the axes, and opaque ones
    # would hide the points.
    bars = left.vlines(
        w[0],
        mu[0] - 2 * sigma[0],
        mu[0] + 2 * sigma[0],
        color=COLORS["flipout"],
        lw=0.8,
        alpha=0.35,
    )
    points = left.scatter(w[0], mu[0], s=9, color=COLORS["flipout"], zorder=3)
    left.set_xlim(low, high)
    left.set_ylim(low, high)
    left.set_xlabel("Dense weight w")
    left.set_ylabel("Flipout μ (bars ±2σ, cut at the edge)")
    right.set_xlabel("Flipout σ (log scale)")
    right.set_ylabel("number of weights")
    histogram, counts = None, None
    if data.sigma_edges is not None:
        edges = data.sigma_edges
        counts = [np.histogram(sigma[r], edges)[0] for r in frames]
        histogram = right.bar(
            edges[:-1],
            counts[0],
            width=np.diff(edges),
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
    return fig, draw


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

# matplotlib's widget is as wide as its frames and has a 374-pixel slider: on a phone
# (about 390 pixels) it would overflow. These rules let image, slider and buttons shrink.
_FIT_TO_SCREEN = (
    "<style>.animation{max-width:100%}"
    ".animation img{max-width:100%;height:auto}"
    "input[type=range].anim-slider{max-width:100%}"
    ".anim-buttons button{width:32px}</style>"
)


def slider_html(
    fig, draw, n_frames: int, alt: str, max_bytes: int = 2_000_000, width: int | None = None
) -> str:
    """The animation of ``draw`` over ``n_frames`` frames as self-contained HTML.

    The icon font link is dropped and the buttons are labelled with plain characters; the
    frame image gets ``alt`` as its alternative text and, if given, a display ``width`` in
    pixels (frames drawn at twice that stay sharp on high-resolution screens); the element ids
    are a hash of the content (matplotlib draws them at random), so the same figure gives the
    same HTML.

    Raises
    ------
    ValueError
        If the HTML is longer than ``max_bytes``.
    """
    animation = FuncAnimation(fig, draw, frames=n_frames, interval=400, repeat=False)
    html = animation.to_jshtml(default_mode="once")
    html = re.sub(r'<link rel="stylesheet"\s*href="[^"]*font-awesome[^"]*">', "", html)
    html = re.sub(
        r'<i class="(fa [^"]*)"></i>',
        lambda match: _BUTTON_LABELS.get(match.group(1), "·"),
        html,
    )
    alt_attribute = html_escape.escape(alt, quote=True)
    width_attribute = "" if width is None else f' width="{int(width)}"'
    html = re.sub(
        r'(<img id="_anim_img[0-9a-f]+")>', rf'\1 alt="{alt_attribute}"{width_attribute}>', html
    )
    html = _FIT_TO_SCREEN + html
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
    return html


def _default_alt(data: SliderData) -> str:
    first, last = data.epochs[data.frames[0]], data.epochs[data.frames[-1]]
    return (
        f"Animation with a slider, {len(data.frames)} frames from epoch {first:g} to {last:g}. "
        f"Left: for {data.w.shape[1]} weights of {data.layer}, the Dense weight against the "
        "Flipout mean, each with a bar of plus and minus two posterior standard deviations, "
        "and a dashed diagonal where the two agree. Right: the histogram of the Flipout "
        "standard deviations on a log scale."
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
    alt=None,
):
    """An animation with a slider, one frame per record, that plays in a static web page.

    Left: each tracked weight as a point, its Dense value against its Flipout mean μ, with a
    ±2σ bar (on the diagonal, the two networks agree); the axes cover the points, and bars
    longer than that are cut at the edge. Right: the histogram of the Flipout σ. The HTML
    embeds every frame as an image and needs no kernel and no internet: the book's pages show
    it as it is, and it shrinks to fit a narrow screen. :doc:`Chapter 4
    </book/04_training_side_by_side>` ends with it.

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
        Pixels per inch of the frame as shown (>= 20); the frames are drawn at twice that, so
        they stay sharp on high-resolution screens.
    figsize : tuple of two floats, default (8.0, 3.6)
        Size of the figure in inches.
    max_bytes : int, default 2_000_000
        Refuse to return more HTML than this (>= 1).
    alt : str, optional
        Alternative text of the frame image, for screen readers; by default a description of
        what the panels show.

    Returns
    -------
    IPython.display.HTML
        Displays as the animation in a notebook; its ``data`` attribute is the HTML string.
        The element ids are derived from the content, so the same histories give the same
        HTML (an executed notebook's output does not change between runs).

    Raises
    ------
    TypeError, ValueError
        If an argument is wrong (see :func:`bnnlib.plots.plot_weight_trajectories`), the
        histories have a different number of records, or the HTML would exceed
        ``max_bytes``: then lower ``max_frames``, ``dpi``, ``figsize`` or ``weights``.
    """
    data = slider_data(dense_history, flipout_history, layers, weights, max_frames)
    dpi = check_int("dpi", dpi, minimum=20)
    max_bytes = check_int("max_bytes", max_bytes, minimum=1)
    if not isinstance(figsize, (tuple, list)) or len(figsize) != 2:
        raise TypeError(f"figsize must be (width, height) in inches, got {figsize!r}")
    figsize = tuple(check_float("figsize", size, positive=True) for size in figsize)
    if alt is None:
        alt = _default_alt(data)
    elif not isinstance(alt, str) or not alt.strip():
        raise TypeError(f"alt must be a non-empty str, got {alt!r}")
    # Laid out at `dpi`, saved at twice that: two image pixels per screen pixel.
    with plt.rc_context({"figure.dpi": dpi, "savefig.dpi": 2 * dpi}):
        fig, draw = draw_slider(data, figsize)
        try:
            width = round(figsize[0] * dpi)
            html = slider_html(fig, draw, len(data.frames), alt, max_bytes, width=width)
        finally:
            plt.close(fig)
    return HTML(html)
