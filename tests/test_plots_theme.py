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
