"""bnnlib.plots, Chapter 4's figures: drawn from PosteriorHistory records, checked inputs."""

import base64
import re

import matplotlib.pyplot as plt
import numpy as np
import pytest
from IPython.display import HTML

from bnnlib import plots, slider
from bnnlib.tracking import PosteriorHistory

KERNEL = (6, 5)
RECORDS = 6


def make_history(layer, layer_type, sigma0, weight_index=None, records=RECORDS, seed=0):
    """A history of one layer with made-up values: μ drifts, σ shrinks from ``sigma0``."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(KERNEL))
    index = np.arange(size) if weight_index is None else np.asarray(weight_index)
    history = PosteriorHistory({layer: (layer_type, KERNEL, index)}, every="epoch")
    loc = rng.normal(0, 0.1, index.size).astype("float32")
    sigma = np.full(index.size, sigma0, dtype="float32") * rng.uniform(0.5, 1.5, index.size)
    for record in range(records):
        loc = loc + rng.normal(0, 0.02, index.size).astype("float32")
        sigma_now = (sigma * 0.8**record).astype("float32")
        loss = np.nan if record == 0 else 2.0 / (record + 1) + 1.0
        layer_values = (loc, sigma_now, np.zeros(5, "float32"), np.zeros(5, "float32"), 0.5)
        # Records are appended the way PosteriorTracker does after each epoch.
        history.append(record * 10, record, loss, 1.0 - 0.1 * record, {layer: layer_values})
    return history


@pytest.fixture
def dense_history():
    return make_history("dense", "Dense", sigma0=0.0)


@pytest.fixture
def flipout_history():
    return make_history("flipout", "FlipoutDense", sigma0=0.05, seed=1)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# -- plot_weight_trajectories ----------------------------------------------------------------


def test_trajectories_draw_one_line_per_weight_in_each_panel(dense_history, flipout_history):
    axes = plots.plot_weight_trajectories(
        dense_history, flipout_history, ("dense", "flipout"), weights=3
    )
    assert len(axes) == 2
    assert len(axes[0].lines) == 3 and len(axes[1].lines) == 3
    assert len(axes[1].collections) == 3  # one ±2σ band per weight
    assert axes[0].lines[0].get_color() == plots.COLORS["dense"]
    assert axes[1].lines[0].get_color() == plots.COLORS["flipout"]


def test_trajectories_follow_the_requested_weights(dense_history, flipout_history):
    axes = plots.plot_weight_trajectories(
        dense_history, flipout_history, ("dense", "flipout"), weights=[7]
    )
    np.testing.assert_array_equal(axes[0].lines[0].get_ydata(), dense_history.loc("dense")[:, 7])
    np.testing.assert_array_equal(axes[1].lines[0].get_xdata(), flipout_history.epochs)
    assert axes[0].get_legend().get_texts()[0].get_text() == "w(1,2)"  # index 7 in a 6×5 kernel


def test_trajectories_share_axes_and_label_them(dense_history, flipout_history):
    axes = plots.plot_weight_trajectories(dense_history, flipout_history, ("dense", "flipout"))
    assert axes[0].get_ylim() == axes[1].get_ylim()
    assert axes[0].get_xlabel() == "epoch" and axes[0].get_ylabel() == "weight value"
    assert "Flipout" in axes[1].get_title()


def test_trajectories_reject_weights_not_tracked_in_both(flipout_history):
    dense = make_history("dense", "Dense", sigma0=0.0, weight_index=[0, 1, 2])
    with pytest.raises(ValueError, match=r"weights \[5\] are not tracked in both"):
        plots.plot_weight_trajectories(dense, flipout_history, ("dense", "flipout"), weights=[5])


def test_trajectories_reject_bad_inputs(dense_history, flipout_history):
    with pytest.raises(TypeError, match="dense_history must be a PosteriorHistory"):
        plots.plot_weight_trajectories({}, flipout_history, ("dense", "flipout"))
    with pytest.raises(TypeError, match="layers must be a pair"):
        plots.plot_weight_trajectories(dense_history, flipout_history, "dense")
    with pytest.raises(ValueError, match="unknown layer 'flip'"):
        plots.plot_weight_trajectories(dense_history, flipout_history, ("dense", "flip"))
    with pytest.raises(ValueError, match="weights must be >= 1"):
        plots.plot_weight_trajectories(dense_history, flipout_history, ("dense", "flipout"), 0)


# -- plot_sigma_distribution -----------------------------------------------------------------


def test_sigma_distribution_draws_median_bands_and_reference_lines(flipout_history):
    ax = plots.plot_sigma_distribution(
        flipout_history, "flipout", prior_scale=1.0, initial_sigma=0.05
    )
    assert len(ax.lines) == 3  # median, prior, initial σ
    assert len(ax.collections) == 2  # 5–95 % and 25–75 % bands
    np.testing.assert_allclose(
        ax.lines[0].get_ydata(), np.median(flipout_history.sigma("flipout"), axis=1)
    )
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "epoch"
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "prior scale" in labels and "initial σ" in labels


def test_sigma_distribution_without_references_draws_only_the_median(flipout_history):
    assert len(plots.plot_sigma_distribution(flipout_history, "flipout").lines) == 1


def test_sigma_distribution_rejects_a_point_estimate_layer(dense_history):
    with pytest.raises(ValueError, match="σ = 0"):
        plots.plot_sigma_distribution(dense_history, "dense")


def test_sigma_distribution_rejects_bad_reference_values(flipout_history):
    with pytest.raises(ValueError, match="prior_scale must be > 0"):
        plots.plot_sigma_distribution(flipout_history, "flipout", prior_scale=-1.0)
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        plots.plot_sigma_distribution(flipout_history, "flipout", ax="left")


# -- plot_snr_histograms ---------------------------------------------------------------------


def test_snr_histograms_draw_one_histogram_per_record(flipout_history):
    ax = plots.plot_snr_histograms(flipout_history, "flipout", records=[0, 2, -1])
    assert len(ax.patches) == 3
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["epoch 0", "epoch 2", "epoch 5"]
    assert ax.get_xscale() == "log"


def test_snr_histograms_give_each_record_its_own_colour_and_line_style(flipout_history):
    ax = plots.plot_snr_histograms(flipout_history, "flipout", records=[0, 2, 4, -1])
    styles = {(patch.get_edgecolor(), patch.get_linestyle()) for patch in ax.patches}
    colours = {patch.get_edgecolor() for patch in ax.patches}
    assert len(styles) == 4 and len(colours) == 4


def test_snr_histograms_count_tiny_ratios_in_the_first_bin(flipout_history):
    history = make_history("flipout", "FlipoutDense", sigma0=0.05, seed=1)
    history.append(60, 6, 1.0, 0.5, {"flipout": (
        np.full(30, 1e-9, "float32"), np.full(30, 0.5, "float32"),
        np.zeros(5, "float32"), np.zeros(5, "float32"), 0.5,
    )})  # fmt: skip
    ax = plots.plot_snr_histograms(history, "flipout", records=[-1], min_snr=1e-3)
    assert ax.get_xlim()[0] == pytest.approx(1e-3)  # not 1e-9
    heights = [patch for patch in ax.patches][0].get_path().vertices[:, 1]
    assert heights.max() == 30  # all thirty SNRs of 2e-9 are in the first bin
    assert "below 0.001 in the first bin" in ax.get_xlabel()


def test_snr_histograms_default_to_first_and_last_records(flipout_history):
    ax = plots.plot_snr_histograms(flipout_history, "flipout")
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert len(labels) == 4 and labels[0] == "epoch 0" and labels[-1] == "epoch 5"


def test_snr_histograms_reject_out_of_range_records_and_dense_layers(
    dense_history, flipout_history
):
    with pytest.raises(ValueError, match="record 6 is out of range"):
        plots.plot_snr_histograms(flipout_history, "flipout", records=[6])
    with pytest.raises(TypeError, match="records must be a sequence"):
        plots.plot_snr_histograms(flipout_history, "flipout", records=2)
    with pytest.raises(ValueError, match="no finite positive SNR"):
        plots.plot_snr_histograms(dense_history, "dense")


# -- plot_kl_vs_nll --------------------------------------------------------------------------


def test_kl_vs_nll_draws_the_two_parts_against_the_epoch(flipout_history):
    ax = plots.plot_kl_vs_nll(flipout_history)
    assert [line.get_label() for line in ax.lines] == ["NLL (data term)", "KL (prior term)"]
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), flipout_history.nll)
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), flipout_history.kl)
    assert ax.get_xlabel() == "epoch"


def test_kl_vs_nll_needs_a_record_after_training_started():
    history = make_history("flipout", "FlipoutDense", sigma0=0.05, records=1)
    with pytest.raises(ValueError, match="no loss recorded yet"):
        plots.plot_kl_vs_nll(history)


# -- epoch_slider ----------------------------------------------------------------------------


def test_epoch_slider_is_self_contained_html_under_two_megabytes(dense_history, flipout_history):
    slider = plots.epoch_slider(dense_history, flipout_history, ("dense", "flipout"))
    assert isinstance(slider, HTML)
    assert len(slider.data.encode()) < 2_000_000
    assert slider.data.count("data:image/png;base64") == RECORDS  # every frame embedded
    assert "http://" not in slider.data and "https://" not in slider.data
    assert 'class="fa' not in slider.data  # buttons labelled without the web icon font
    assert plt.get_fignums() == []  # no stray static copy of the figure


def test_epoch_slider_image_has_alt_text_and_the_widget_shrinks_to_the_screen(
    dense_history, flipout_history
):
    slider = plots.epoch_slider(dense_history, flipout_history, ("dense", "flipout"), max_frames=2)
    assert re.search(
        r'<img id="_anim_img\w+" alt="Animation with a slider[^"]+" width="576">', slider.data
    )
    assert ".animation img{max-width:100%;height:auto}" in slider.data
    assert "anim-slider{max-width:100%}" in slider.data
    mine = plots.epoch_slider(
        dense_history, flipout_history, ("dense", "flipout"), max_frames=2, alt='μ & "σ"'
    )
    assert 'alt="μ &amp; &quot;σ&quot;"' in mine.data


def test_epoch_slider_frames_have_two_pixels_per_displayed_pixel(dense_history, flipout_history):
    slider = plots.epoch_slider(
        dense_history, flipout_history, ("dense", "flipout"), max_frames=2, dpi=50
    )
    frame = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", slider.data).group(1)
    png = base64.b64decode(frame)
    frame_width = int.from_bytes(png[16:20], "big")  # the PNG header's IHDR width
    shown = int(re.search(r'<img id="_anim_img\w+"[^>]* width="(\d+)"', slider.data).group(1))
    assert shown == 8 * 50  # figsize (8.0, 3.6) inches at dpi=50
    assert frame_width == 2 * shown


def test_epoch_slider_axes_cover_the_points_not_the_two_sigma_bars(dense_history):
    wide = make_history("flipout", "FlipoutDense", sigma0=5.0, seed=1)  # bars of ±10
    data = slider.slider_data(dense_history, wide, ("dense", "flipout"))
    low, high = data.limits
    points = np.concatenate([data.w.ravel(), data.mu.ravel()])
    assert low <= points.min() and high >= points.max()
    assert high - low < 2 * np.ptp(points)  # not stretched to the ±2σ bars


def test_epoch_slider_gives_the_same_html_for_the_same_histories(dense_history, flipout_history):
    first = plots.epoch_slider(dense_history, flipout_history, ("dense", "flipout"), max_frames=3)
    second = plots.epoch_slider(dense_history, flipout_history, ("dense", "flipout"), max_frames=3)
    assert first.data == second.data


def test_epoch_slider_keeps_at_most_max_frames(dense_history, flipout_history):
    slider = plots.epoch_slider(dense_history, flipout_history, ("dense", "flipout"), max_frames=3)
    assert slider.data.count("data:image/png;base64") == 3


def test_epoch_slider_refuses_html_over_max_bytes(dense_history, flipout_history):
    with pytest.raises(ValueError, match="more than max_bytes=1000"):
        plots.epoch_slider(dense_history, flipout_history, ("dense", "flipout"), max_bytes=1000)


def test_epoch_slider_needs_histories_of_equal_length(dense_history):
    flipout = make_history("flipout", "FlipoutDense", sigma0=0.05, records=3)
    with pytest.raises(ValueError, match="same number of records"):
        plots.epoch_slider(dense_history, flipout, ("dense", "flipout"))
