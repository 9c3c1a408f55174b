"""bnnlib.tracking: the tracker records what the layers hold, and the history keeps it."""

import json
import warnings
import zipfile
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras as keras

import bnnlib
from bnnlib.layers import FlipoutDense, LocalReparameterizationDense, ReparameterizationDense
from bnnlib.tfp_layers import tfp_dense_flipout
from bnnlib.tracking import PosteriorHistory, PosteriorTracker, posterior_summary

N_EXAMPLES, BATCH, EPOCHS = 40, 8, 3
STEPS_PER_EPOCH = N_EXAMPLES // BATCH

BNNLIB_LAYERS = ["bnn_flipout", "bnn_reparam", "bnn_local"]
TFP_LAYERS = ["tfp_flipout", "tfp_reparam", "tfp_local"]
ALL_LAYERS = [*BNNLIB_LAYERS, *TFP_LAYERS, "dense"]


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N_EXAMPLES, 3)).astype("float32")
    y = (x[:, :1] - 0.5 * x[:, 1:2]).astype("float32")
    return x, y


def every_layer_type():
    """One model holding each recognised layer type once, built and compiled."""
    bnnlib.set_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TFP's unseeded default initialisers warn
        model = keras.Sequential(
            [
                keras.Input((3,)),
                FlipoutDense(5, "tanh", kl_weight=1 / N_EXAMPLES, seed=1, name="bnn_flipout"),
                ReparameterizationDense(
                    4, "tanh", kl_weight=0.5, bayesian_bias=True, seed=2, name="bnn_reparam"
                ),
                LocalReparameterizationDense(4, "tanh", seed=3, name="bnn_local"),
                tfp_dense_flipout(4, N_EXAMPLES, activation="tanh", seed=4, name="tfp_flipout"),
                tfp.layers.DenseReparameterization(4, activation="tanh", name="tfp_reparam"),
                tfp.layers.DenseLocalReparameterization(3, activation="tanh", name="tfp_local"),
                keras.layers.Dense(1, name="dense"),
            ]
        )
    model.compile(keras.optimizers.Adam(0.01), "mse")
    return model


def read_layer(layer):
    """(kernel μ, kernel σ, bias μ, bias σ) read straight from the layer's own attributes."""
    if isinstance(layer, (FlipoutDense, ReparameterizationDense, LocalReparameterizationDense)):
        if layer.bayesian_bias:
            bias = (layer.bias_loc.numpy(), layer.bias_sigma.numpy())
        else:
            bias = (layer.bias.numpy(), np.zeros(layer.units, "float32"))
        return layer.loc.numpy(), layer.sigma.numpy(), *bias
    if isinstance(layer, keras.layers.Dense):
        kernel = layer.kernel.numpy()
        return kernel, np.zeros_like(kernel), layer.bias.numpy(), np.zeros(layer.units, "float32")
    posterior = layer.kernel_posterior.distribution
    bias = layer.bias_posterior.distribution.loc.numpy()
    return posterior.loc.numpy(), posterior.scale.numpy(), bias, np.zeros_like(bias)


def snapshot(model):
    return {layer.name: read_layer(layer) for layer in model.layers}


@pytest.fixture(scope="module")
def trained():
    """The model of every layer type, trained for a few epochs with a per-epoch tracker."""
    x, y = data()
    model = every_layer_type()
    initial = snapshot(model)
    tracker = PosteriorTracker()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, verbose=0, callbacks=[tracker])
    return SimpleNamespace(
        model=model,
        history=tracker.history,
        initial=initial,
        final=snapshot(model),
        keras_loss=np.array(fit.history["loss"]),
    )


def small_model(units=(16, 1), seed=0, kind="dense"):
    """An untrained, built model of Dense or FlipoutDense layers named layer0, layer1, ..."""
    bnnlib.set_seed(seed)
    if kind == "dense":
        layers = [keras.layers.Dense(u, name=f"layer{i}") for i, u in enumerate(units)]
    else:
        layers = [
            FlipoutDense(u, kl_weight=1 / N_EXAMPLES, name=f"layer{i}") for i, u in enumerate(units)
        ]
    model = keras.Sequential([keras.Input((3,)), *layers])
    model.compile("sgd", "mse")
    return model


def start(tracker, model):
    """Run the tracker's start of training (record 0) without training."""
    tracker.set_model(model)
    tracker.on_train_begin()
    return tracker.history


# -- what is recorded ----------------------------------------------------------------------


def test_tracks_every_recognised_layer_in_model_order(trained):
    assert trained.history.layers == ALL_LAYERS


@pytest.mark.parametrize(
    ("layer", "type_name"),
    [
        ("bnn_flipout", "FlipoutDense"),
        ("bnn_reparam", "ReparameterizationDense"),
        ("bnn_local", "LocalReparameterizationDense"),
        ("tfp_flipout", "DenseFlipout"),
        ("tfp_reparam", "DenseReparameterization"),
        ("tfp_local", "DenseLocalReparameterization"),
        ("dense", "Dense"),
    ],
)
def test_records_the_layer_type(trained, layer, type_name):
    assert trained.history.layer_type(layer) == type_name


def test_one_record_per_epoch_plus_the_initial_state(trained):
    history = trained.history
    assert len(history) == EPOCHS + 1
    np.testing.assert_array_equal(history.epochs, np.arange(EPOCHS + 1))
    np.testing.assert_array_equal(history.steps, np.arange(EPOCHS + 1) * STEPS_PER_EPOCH)


@pytest.mark.parametrize("layer", ALL_LAYERS)
def test_first_record_equals_the_initial_variables(trained, layer):
    history = trained.history
    loc, sigma, bias_loc, bias_sigma = trained.initial[layer]
    np.testing.assert_array_equal(history.loc(layer)[0], loc.reshape(-1))
    np.testing.assert_array_equal(history.sigma(layer)[0], sigma.reshape(-1))
    np.testing.assert_array_equal(history.bias_loc(layer)[0], bias_loc)
    np.testing.assert_array_equal(history.bias_sigma(layer)[0], bias_sigma)


@pytest.mark.parametrize("layer", ALL_LAYERS)
def test_last_record_equals_the_final_variables(trained, layer):
    history = trained.history
    loc, sigma, bias_loc, bias_sigma = trained.final[layer]
    np.testing.assert_array_equal(history.loc(layer)[-1], loc.reshape(-1))
    np.testing.assert_array_equal(history.sigma(layer)[-1], sigma.reshape(-1))
    np.testing.assert_array_equal(history.bias_loc(layer)[-1], bias_loc)
    np.testing.assert_array_equal(history.bias_sigma(layer)[-1], bias_sigma)


def test_records_change_while_training(trained):
    loc = trained.history.loc("bnn_flipout")
    assert not np.array_equal(loc[0], loc[-1])


def test_tfp_sigma_is_eps_plus_softplus_of_the_untransformed_scale(trained):
    layer = trained.model.get_layer("tfp_flipout")
    rho = layer.kernel_posterior.distribution.scale.pretransformed_input.numpy().astype(float)
    expected = np.finfo(np.float32).eps + np.log1p(np.exp(rho))
    np.testing.assert_allclose(
        trained.history.sigma("tfp_flipout")[-1], expected.reshape(-1), rtol=1e-6
    )


def test_dense_layer_has_zero_sigma_and_zero_kl(trained):
    history = trained.history
    assert np.all(history.sigma("dense") == 0)
    assert np.all(history.layer_kl("dense") == 0)


def test_bayesian_bias_sigma_is_recorded_and_point_estimate_bias_has_zero_sigma(trained):
    history = trained.history
    assert np.all(history.bias_sigma("bnn_reparam") > 0)
    assert np.all(history.bias_sigma("bnn_flipout") == 0)
    assert np.all(history.bias_sigma("tfp_flipout") == 0)


@pytest.mark.parametrize("layer", [*BNNLIB_LAYERS, *TFP_LAYERS])
def test_layer_kl_is_what_the_layer_adds_to_its_losses(trained, layer):
    model = trained.model
    model(data()[0][:2])  # an eager call: each layer's losses now hold this call's KL
    added = float(sum(model.get_layer(layer).losses))
    np.testing.assert_allclose(trained.history.layer_kl(layer)[-1], added, rtol=1e-6)


def test_kl_part_is_the_sum_of_the_models_losses(trained):
    model = trained.model
    model(data()[0][:2])
    np.testing.assert_allclose(trained.history.kl[-1], float(sum(model.losses)), rtol=1e-6)


# The KL factor each layer of every_layer_type() applies, and whether its bias has a posterior.
KL_FACTORS = {
    "bnn_flipout": 1 / N_EXAMPLES,
    "bnn_reparam": 0.5,
    "bnn_local": 1.0,
    "tfp_flipout": 1 / N_EXAMPLES,
    "tfp_reparam": 1.0,
    "tfp_local": 1.0,
}


def normal_kl_to_standard_normal(loc, sigma):
    """KL(Normal(loc, sigma) || Normal(0, 1)) summed over the last axis, in float64."""
    loc, sigma = loc.astype(np.float64), sigma.astype(np.float64)
    return np.sum(-np.log(sigma) + (sigma**2 + loc**2) / 2 - 0.5, axis=-1)


def test_loss_is_what_keras_reports_and_its_kl_part_is_the_closed_form_kl(trained):
    history = trained.history
    np.testing.assert_allclose(history.loss[1:], trained.keras_loss, rtol=1e-6)
    # The KL of every layer at every record, from the recorded μ and σ by the closed form.
    kl = sum(
        factor * normal_kl_to_standard_normal(history.loc(name), history.sigma(name))
        for name, factor in KL_FACTORS.items()
    )
    kl += 0.5 * normal_kl_to_standard_normal(
        history.bias_loc("bnn_reparam"), history.bias_sigma("bnn_reparam")
    )
    np.testing.assert_allclose(history.kl, kl, rtol=1e-5)
    np.testing.assert_allclose(history.nll[1:], history.loss[1:] - kl[1:], rtol=1e-5, atol=1e-6)


def test_record_zero_has_a_kl_but_no_loss(trained):
    history = trained.history
    assert np.isnan(history.loss[0]) and np.isnan(history.nll[0])
    assert history.kl[0] > 0


def seeded_bnnlib_model():
    """bnnlib layers only: their noise is a function of their seeds, so a fit repeats exactly
    (TFP layers draw unseeded noise whose sequence depends on what ran before)."""
    bnnlib.set_seed(0)
    model = keras.Sequential(
        [
            keras.Input((3,)),
            FlipoutDense(5, "tanh", kl_weight=1 / N_EXAMPLES, seed=1),
            ReparameterizationDense(4, "tanh", bayesian_bias=True, seed=2),
            LocalReparameterizationDense(4, "tanh", seed=3),
            keras.layers.Dense(1),
        ]
    )
    model.compile(keras.optimizers.Adam(0.01), "mse")
    return model


def fit_seeded_bnnlib_model(callbacks):
    model = seeded_bnnlib_model()
    model.fit(*data(), epochs=2, batch_size=BATCH, verbose=0, callbacks=callbacks)
    return model.get_weights()


@pytest.fixture(scope="module")
def untracked_weights():
    return fit_seeded_bnnlib_model([])


@pytest.mark.parametrize("every", ["epoch", 2])
def test_tracking_does_not_change_the_training(untracked_weights, every):
    tracked_weights = fit_seeded_bnnlib_model([PosteriorTracker(every=every)])
    for untracked, tracked in zip(untracked_weights, tracked_weights, strict=True):
        np.testing.assert_array_equal(untracked, tracked)


def test_every_n_steps_gives_one_plus_total_steps_over_n_records():
    x, y = data()
    model = small_model(kind="flipout")
    tracker = PosteriorTracker(every=3)
    model.fit(x, y, epochs=2, batch_size=BATCH, verbose=0, callbacks=[tracker])
    total_steps = 2 * STEPS_PER_EPOCH
    history = tracker.history
    assert len(history) == 1 + total_steps // 3
    np.testing.assert_array_equal(history.steps, [0, 3, 6, 9])
    np.testing.assert_allclose(history.epochs, np.array([0, 3, 6, 9]) / STEPS_PER_EPOCH)


def test_step_record_after_the_last_step_equals_the_final_variables():
    x, y = data()
    model = small_model(kind="flipout")
    tracker = PosteriorTracker(every=STEPS_PER_EPOCH)
    model.fit(x, y, epochs=2, batch_size=BATCH, verbose=0, callbacks=[tracker])
    history = tracker.history
    assert history.steps[-1] == 2 * STEPS_PER_EPOCH
    for layer in model.layers:
        np.testing.assert_array_equal(history.loc(layer.name)[-1], layer.loc.numpy().reshape(-1))
        np.testing.assert_array_equal(
            history.sigma(layer.name)[-1], layer.sigma.numpy().reshape(-1)
        )


def test_each_fit_starts_a_new_history():
    x, y = data()
    model = small_model()
    tracker = PosteriorTracker()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[tracker])
    first = tracker.history
    model.fit(x, y, epochs=1, verbose=0, callbacks=[tracker])
    assert len(first) == 3 and len(tracker.history) == 2


# -- which weights ---------------------------------------------------------------------------


def test_max_weights_per_layer_follows_that_many_weights():
    history = start(PosteriorTracker(max_weights_per_layer=20), small_model(units=(16, 1)))
    assert history.loc("layer0").shape == (1, 20)
    assert history.loc("layer1").shape == (1, 16)  # smaller than the limit: every weight


def test_tracked_weights_are_the_kernel_entries_at_weight_index():
    model = small_model(units=(16, 1))
    history = start(PosteriorTracker(max_weights_per_layer=10), model)
    index = history.weight_index("layer0")
    assert np.all(np.diff(index) > 0) and index.min() >= 0 and index.max() < 48
    kernel = model.get_layer("layer0").kernel.numpy()
    np.testing.assert_array_equal(history.loc("layer0")[0], kernel.reshape(-1)[index])


def test_weight_subset_is_fixed_by_the_seed():
    def index(seed):
        tracker = PosteriorTracker(max_weights_per_layer=10, seed=seed)
        return start(tracker, small_model(units=(16, 1))).weight_index("layer0")

    np.testing.assert_array_equal(index(3), index(3))
    assert not np.array_equal(index(3), index(4))


def test_weight_subset_stays_fixed_during_training():
    x, y = data()
    model = small_model(units=(16, 1))
    tracker = PosteriorTracker(max_weights_per_layer=10)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[tracker])
    index = tracker.history.weight_index("layer0")
    kernel = model.get_layer("layer0").kernel.numpy()
    np.testing.assert_array_equal(tracker.history.loc("layer0")[-1], kernel.reshape(-1)[index])


def test_same_architecture_and_seed_track_the_same_weights_in_dense_and_flipout():
    dense = start(PosteriorTracker(max_weights_per_layer=10), small_model(kind="dense"))
    flipout = start(PosteriorTracker(max_weights_per_layer=10), small_model(kind="flipout"))
    np.testing.assert_array_equal(dense.weight_index("layer0"), flipout.weight_index("layer0"))


def test_layers_argument_limits_tracking_but_kl_sums_every_layer():
    model = small_model(units=(4, 2), kind="flipout")
    history = start(PosteriorTracker(layers=["layer1"]), model)
    assert history.layers == ["layer1"]
    total = sum(float(layer.kl_loss()) for layer in model.layers)
    np.testing.assert_allclose(history.kl[0], total, rtol=1e-6)


def test_layers_of_a_nested_model_are_named_with_its_prefix():
    inner = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(2, name="hidden")], name="inner"
    )
    outer = keras.Sequential([keras.Input((3,)), inner, keras.layers.Dense(1, name="out")])
    assert start(PosteriorTracker(), outer).layers == ["inner/hidden", "out"]


def test_kl_that_needs_a_posterior_sample_is_recorded_as_nan_with_a_warning():
    def monte_carlo_kl(posterior, prior, sample):
        return tf.reduce_sum(posterior.log_prob(sample) - prior.log_prob(sample))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layer = tfp.layers.DenseReparameterization(
            2, kernel_divergence_fn=monte_carlo_kl, name="mc"
        )
        model = keras.Sequential([keras.Input((3,)), layer])
    with pytest.warns(RuntimeWarning, match="could not be recomputed without sampling"):
        history = start(PosteriorTracker(), model)
    assert np.isnan(history.layer_kl("mc")[0]) and np.isnan(history.kl[0])


def test_record_in_a_custom_loop_equals_the_variables_after_each_step():
    model = small_model(kind="flipout")
    x, y = data()
    optimizer = keras.optimizers.Adam(0.05)
    tracker = PosteriorTracker()
    tracker.record(model)  # record 0
    expected = [model.layers[0].sigma.numpy().reshape(-1)]
    for _ in range(3):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(x) - y) ** 2) + tf.add_n(model.losses)
        optimizer.apply_gradients(
            zip(
                tape.gradient(loss, model.trainable_variables),
                model.trainable_variables,
                strict=True,
            )
        )
        tracker.record(model, loss=float(loss))
        expected.append(model.layers[0].sigma.numpy().reshape(-1))
    history = tracker.history
    np.testing.assert_array_equal(history.sigma("layer0"), np.stack(expected))
    np.testing.assert_array_equal(history.epochs, [0, 1, 2, 3])
    np.testing.assert_array_equal(history.steps, [0, 1, 2, 3])
    assert np.isnan(history.loss[0]) and np.all(np.isfinite(history.loss[1:]))


def test_record_with_another_model_starts_a_new_history():
    tracker = PosteriorTracker()
    tracker.record(small_model(kind="flipout"))
    tracker.record(small_model(units=(4,), kind="dense"))
    assert len(tracker.history) == 1 and tracker.history.kernel_shape("layer0") == (3, 4)


# -- wrong use -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"every": "step"}, ValueError, "every must be"),
        ({"every": 0}, ValueError, "every must be an integer >= 1"),
        ({"every": 2.5}, TypeError, "every must be .* an integer >= 1, got float"),
        ({"max_weights_per_layer": 0}, ValueError, "max_weights_per_layer must be"),
        ({"seed": -1}, ValueError, "seed must be"),
        ({"layers": "dense"}, TypeError, "layers must be a sequence"),
        ({"layers": 5}, TypeError, "layers must be a sequence of layer names .*got int 5"),
        ({"layers": [1, 2]}, TypeError, "layers must be a sequence of layer names"),
        ({"layers": []}, ValueError, "layers is empty"),
    ],
)
def test_tracker_rejects_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        PosteriorTracker(**kwargs)


def test_tracker_rejects_an_unbuilt_model():
    model = keras.Sequential([keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x, y = data()
    with pytest.raises(ValueError, match="needs a built model"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[PosteriorTracker()])


def test_tracker_refuses_a_model_with_nothing_to_track():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dropout(0.1)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="nothing to track"):
        start(PosteriorTracker(), model)


@pytest.mark.parametrize(
    ("every", "error"), [("week", ValueError), (0, ValueError), (1.5, TypeError)]
)
def test_history_refuses_an_unknown_every(every, error):
    with pytest.raises(error, match="every must be"):
        PosteriorHistory({}, every=every)


def test_load_of_a_history_with_an_unknown_every_raises_value_error(trained, tmp_path):
    path = trained.history.save(tmp_path / "history.npz")
    rewrite(path, lambda metadata, arrays: metadata.update(every="week"))
    with pytest.raises(ValueError, match="every must be"):
        PosteriorHistory.load(path)


def test_load_of_a_member_that_is_not_an_array_names_the_file_and_member(trained, tmp_path):
    path = trained.history.save(tmp_path / "history.npz")
    damaged = tmp_path / "damaged.npz"
    # A member that is not in NumPy's format: np.load hands back its raw bytes, not an array.
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(damaged, "w") as target:
        for item in source.infolist():
            if item.filename == "loc_0.npy":
                target.writestr("loc_0", b"not an array")
            else:
                target.writestr(item, source.read(item))
    with pytest.raises(ValueError, match=r"damaged\.npz.*member 'loc_0' is not"):
        PosteriorHistory.load(damaged)


def test_tracker_rejects_an_unknown_layer_name():
    with pytest.raises(ValueError, match="'nope' is not a recognised"):
        start(PosteriorTracker(layers=["nope"]), small_model())


def test_history_rejects_an_unknown_layer(trained):
    with pytest.raises(ValueError, match="unknown layer 'nope'"):
        trained.history.loc("nope")
    with pytest.raises(TypeError, match="layer must be a layer name"):
        trained.history.sigma(0)


# -- derived values --------------------------------------------------------------------------


@pytest.mark.parametrize("layer", ["bnn_flipout", "tfp_flipout"])
def test_snr_at_the_end_is_abs_mean_over_sigma_of_the_trained_layer(trained, layer):
    loc, sigma, _, _ = trained.final[layer]  # read from the layer's own variables
    expected = np.abs(loc.astype(np.float64)) / sigma.astype(np.float64)
    np.testing.assert_allclose(trained.history.snr(layer)[-1], expected.reshape(-1), rtol=1e-6)


def test_snr_is_infinite_for_dense_weights(trained):
    assert np.all(np.isinf(trained.history.snr("dense")))


def test_history_arrays_are_read_only(trained):
    with pytest.raises(ValueError, match="read-only"):
        trained.history.loc("dense")[0, 0] = 1.0


def test_to_frame_has_a_row_per_record_layer_and_weight(trained):
    history = trained.history
    frame = history.to_frame()
    assert list(frame.columns) == [
        "record", "step", "epoch", "layer", "weight", "loc", "sigma", "snr",
    ]  # fmt: skip
    n_weights = sum(history.loc(name).shape[1] for name in history.layers)
    assert len(frame) == len(history) * n_weights
    rows = frame[(frame.layer == "bnn_local") & (frame.record == 2)]
    np.testing.assert_array_equal(rows.weight, history.weight_index("bnn_local"))
    np.testing.assert_array_equal(rows["loc"], history.loc("bnn_local")[2])
    np.testing.assert_array_equal(rows.sigma, history.sigma("bnn_local")[2])
    assert set(rows.step) == {history.steps[2]}


# -- files -----------------------------------------------------------------------------------


def assert_same_history(a, b):
    assert a.layers == b.layers and a.every == b.every and len(a) == len(b)
    for key in ("steps", "epochs", "loss", "nll", "kl"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
        assert getattr(a, key).dtype == getattr(b, key).dtype
    for name in a.layers:
        assert a.layer_type(name) == b.layer_type(name)
        assert a.kernel_shape(name) == b.kernel_shape(name)
        np.testing.assert_array_equal(a.weight_index(name), b.weight_index(name))
        for key in ("loc", "sigma", "bias_loc", "bias_sigma", "layer_kl"):
            np.testing.assert_array_equal(getattr(a, key)(name), getattr(b, key)(name))
            assert getattr(a, key)(name).dtype == getattr(b, key)(name).dtype


def test_save_then_load_gives_back_the_same_history(trained, tmp_path):
    path = trained.history.save(tmp_path / "history.npz")
    assert_same_history(PosteriorHistory.load(path), trained.history)


def test_round_trip_keeps_every_n_steps_and_a_subset(tmp_path):
    history = start(PosteriorTracker(every=7, max_weights_per_layer=5), small_model())
    assert_same_history(PosteriorHistory.load(history.save(tmp_path / "h.npz")), history)


def test_save_adds_the_npz_suffix(trained, tmp_path):
    assert trained.history.save(tmp_path / "history").name == "history.npz"


def test_saved_file_is_readable_without_pickle(trained, tmp_path):
    path = trained.history.save(tmp_path / "history.npz")
    with np.load(path, allow_pickle=False) as npz:
        metadata = json.loads(str(npz["metadata"]))
    assert metadata["format"] == "bnnlib.PosteriorHistory" and metadata["version"] == 1


def test_load_of_a_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="no PosteriorHistory file"):
        PosteriorHistory.load(tmp_path / "missing.npz")


def test_load_of_a_truncated_file_raises_value_error(trained, tmp_path):
    path = trained.history.save(tmp_path / "history.npz")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        PosteriorHistory.load(path)


def test_load_of_a_foreign_npz_raises_value_error(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, weights=np.ones(3))
    with pytest.raises(ValueError, match="not a bnnlib PosteriorHistory file"):
        PosteriorHistory.load(path)


def test_load_of_a_text_file_raises_value_error(tmp_path):
    path = tmp_path / "notes.npz"
    path.write_text("epoch,loss\n1,0.5\n")
    with pytest.raises(ValueError, match="not a bnnlib PosteriorHistory file"):
        PosteriorHistory.load(path)


def rewrite(path, change):
    """Rewrite a saved history with ``change(metadata, arrays)`` applied."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    metadata = json.loads(str(arrays.pop("metadata")))
    change(metadata, arrays)
    np.savez(path, metadata=np.array(json.dumps(metadata)), **arrays)


def test_load_of_a_newer_format_version_raises_value_error(trained, tmp_path):
    path = trained.history.save(tmp_path / "history.npz")
    rewrite(path, lambda metadata, arrays: metadata.update(version=99))
    with pytest.raises(ValueError, match="format version 99"):
        PosteriorHistory.load(path)


def test_load_of_inconsistent_arrays_raises_value_error(trained, tmp_path):
    path = trained.history.save(tmp_path / "history.npz")
    rewrite(path, lambda metadata, arrays: arrays.update(loc_0=arrays["loc_0"][:, :2]))
    with pytest.raises(ValueError, match="'loc' of layer 'bnn_flipout' has shape"):
        PosteriorHistory.load(path)


def test_load_of_a_file_missing_an_array_raises_value_error(trained, tmp_path):
    path = trained.history.save(tmp_path / "history.npz")
    rewrite(path, lambda metadata, arrays: arrays.pop("sigma_1"))
    with pytest.raises(ValueError, match="missing or malformed entry"):
        PosteriorHistory.load(path)


def test_load_of_a_damaged_member_raises_value_error(trained, tmp_path):
    path = trained.history.save(tmp_path / "history.npz")
    damaged = tmp_path / "damaged.npz"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(damaged, "w") as target:
        for item in source.infolist():
            content = source.read(item)
            target.writestr(item, content[:20] if item.filename == "loss.npy" else content)
    with pytest.raises(ValueError, match=r"damaged\.npz.*member 'loss'"):
        PosteriorHistory.load(damaged)


# -- posterior_summary -----------------------------------------------------------------------


def test_summary_has_one_row_per_recognised_layer_then_the_whole_model(trained):
    summary = posterior_summary(trained.model)
    assert list(summary.layer) == [*ALL_LAYERS, "(all layers)"]
    assert list(posterior_summary(trained.model, whole_model=False).layer) == ALL_LAYERS
    assert (
        summary.loc[summary.layer == "tfp_local", "type"].item() == "DenseLocalReparameterization"
    )


@pytest.mark.parametrize("layer", ["bnn_flipout", "tfp_flipout"])
def test_summary_values_match_a_direct_computation(trained, layer):
    row = posterior_summary(trained.model).set_index("layer").loc[layer]
    loc, sigma, _, _ = read_layer(trained.model.get_layer(layer))
    loc, sigma = loc.reshape(-1).astype(float), sigma.reshape(-1).astype(float)
    assert row.weights == loc.size
    np.testing.assert_allclose(row.mean_abs_loc, np.abs(loc).mean())
    np.testing.assert_allclose(
        row[["sigma_q05", "sigma_q50", "sigma_q95"]].astype(float),
        np.quantile(sigma, [0.05, 0.5, 0.95]),
    )
    np.testing.assert_allclose(
        row[["snr_q05", "snr_q50", "snr_q95"]].astype(float),
        np.quantile(np.abs(loc) / sigma, [0.05, 0.5, 0.95]),
    )
    np.testing.assert_allclose(row.kl, trained.history.layer_kl(layer)[-1], rtol=1e-6)


def test_whole_model_row_pools_the_kernel_weights_of_every_layer(trained):
    summary = posterior_summary(trained.model).set_index("layer")
    whole = summary.loc["(all layers)"]
    sigmas = np.concatenate(
        [read_layer(trained.model.get_layer(name))[1].reshape(-1) for name in ALL_LAYERS]
    ).astype(float)
    assert whole.weights == sigmas.size == summary.weights.iloc[:-1].sum()
    np.testing.assert_allclose(whole.sigma_q50, np.median(sigmas))
    np.testing.assert_allclose(whole.kl, trained.history.kl[-1], rtol=1e-6)


def test_summary_of_a_dense_layer_has_zero_sigma_infinite_snr_and_no_kl(trained):
    row = posterior_summary(trained.model).set_index("layer").loc["dense"]
    assert row.sigma_q50 == 0 and np.isinf(row.snr_q50) and row.kl == 0


def test_summary_counts_weights_whose_sigma_is_near_the_prior():
    model = small_model(units=(4,), kind="flipout")
    layer = model.layers[0]
    softplus_inverse = np.log(np.expm1(np.array([2.0, 2.15, 2.25, 0.05])))  # σ of each row
    layer.rho.assign(np.repeat(softplus_inverse[:3, None], 4, axis=1).astype("float32"))
    summary = posterior_summary(model, prior_scale=2.0, whole_model=False)
    assert summary.near_prior.item() == pytest.approx(2 / 3)  # σ = 2 and 2.15, not 2.25


def test_summary_is_a_dataframe_even_without_recognised_layers():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dropout(0.1)])
    summary = posterior_summary(model)
    assert isinstance(summary, pd.DataFrame) and summary.empty and "near_prior" in summary


def test_summary_rejects_bad_arguments():
    with pytest.raises(TypeError, match="model must be a tf_keras Model"):
        posterior_summary(tf.Module())
    with pytest.raises(ValueError, match="model must be built"):
        posterior_summary(keras.Sequential([keras.layers.Dense(1)]))
    with pytest.raises(ValueError, match="prior_scale must be > 0"):
        posterior_summary(small_model(), prior_scale=0.0)
