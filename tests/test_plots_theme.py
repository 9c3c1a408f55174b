"""bnnlib.plots: the book's theme and the Chapter 1 figure."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import seaborn as sns
from matplotlib.colors import to_hex

from bnnlib import plots


def test_set_theme_puts_dense_and_flipout_colours_first():
    plots.set_theme()
    cycle = [to_hex(c) for c in plt.rcParams["axes.prop_cycle"].by_key()["color"]]
    assert cycle[:2] == [plots.COLORS["dense"].lower(), plots.COLORS["flipout"].lower()]
    assert sns.axes_style()["axes.grid"] is True


def test_set_theme_rejects_unknown_context_and_bad_scale():
    with pytest.raises(ValueError, match="context must be one of"):
        plots.set_theme(context="poster-xl")
    with pytest.raises(ValueError, match="font_scale must be > 0"):
        plots.set_theme(font_scale=0)


def test_stochastic_passes_draws_one_line_per_pass_in_the_right_colours():
    x = np.linspace(0, 1, 11)
    axes = plots.plot_stochastic_passes(x, np.zeros((3, 11)), np.ones((5, 11, 1)))
    assert len(axes[0].lines) == 3 and len(axes[1].lines) == 5
    assert axes[1].lines[0].get_color() == plots.COLORS["flipout"]
    assert axes[0].get_xlabel() == "input x" and axes[0].get_ylabel() == "output y"
    plt.close("all")


def test_stochastic_passes_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="flipout_outputs must have shape"):
        plots.plot_stochastic_passes(np.arange(4), np.zeros((2, 4)), np.zeros((2, 5)))


def test_set_theme_saves_figures_at_twice_their_layout_resolution():
    plots.set_theme()
    assert plt.rcParams["figure.dpi"] == plots.DISPLAY_DPI
    assert plt.rcParams["savefig.dpi"] == 2 * plots.DISPLAY_DPI


def test_set_theme_in_a_notebook_sends_figures_with_twice_the_pixels_of_their_page_size():
    import base64
    import struct

    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    # A terminal shell shows text only; a notebook kernel turns the PNG formatter on.
    shell.display_formatter.formatters["image/png"].enabled = True
    try:
        plots.set_theme()
        fig = plt.figure(figsize=(2.0, 1.0))
        fig.add_axes((0, 0, 1, 1)).plot([0, 1])  # IPython shows no figure without axes
        data, metadata = shell.display_formatter.format(fig)
        plt.close(fig)
    finally:
        InteractiveShell.clear_instance()
    png = base64.b64decode(data["image/png"])
    # A PNG's IHDR chunk holds width and height as big-endian 32-bit integers at bytes 16-24.
    pixel_width, pixel_height = struct.unpack(">II", png[16:24])
    page_size = metadata["image/png"]["width"], metadata["image/png"]["height"]  # CSS px
    # IPython halves an odd pixel count downwards: at most one pixel off twice the page size.
    assert 0 <= pixel_width - 2 * page_size[0] <= 1
    assert 0 <= pixel_height - 2 * page_size[1] <= 1
    # The tight bounding box adds the tick labels to the 2-inch figure: about 2 inches wide.
    assert 1.5 * plots.DISPLAY_DPI < page_size[0] < 3 * plots.DISPLAY_DPI
