"""bnnlib.metrics: each score against values computed by hand or by an independent method."""

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from bnnlib.metrics import (
    accuracy,
    auroc,
    brier_score,
    expected_calibration_error,
    fit_temperature,
    nll,
    reliability_curve,
    temperature_scale,
)

# Three examples, three classes: right and sure, right and unsure, wrong.
PROBS = np.array([[0.8, 0.1, 0.1], [0.4, 0.35, 0.25], [0.3, 0.6, 0.1]])
LABELS = np.array([0, 0, 2])


def random_predictions(rng, n=500, classes=5):
    logits = rng.normal(0.0, 2.0, size=(n, classes))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = rng.integers(0, classes, size=n)
    return probs, labels


def test_accuracy_by_hand():
    assert accuracy(PROBS, LABELS) == pytest.approx(2 / 3)


def test_nll_by_hand():
    expected = -(math.log(0.8) + math.log(0.4) + math.log(0.1)) / 3
    assert nll(PROBS, LABELS) == pytest.approx(expected)


def test_nll_of_a_zero_probability_is_large_but_finite():
    assert nll(np.array([[1.0, 0.0]]), np.array([1])) == pytest.approx(-math.log(1e-12))


def test_brier_score_by_hand():
    per_example = [
        0.2**2 + 0.1**2 + 0.1**2,
        0.6**2 + 0.35**2 + 0.25**2,
        0.3**2 + 0.6**2 + 0.9**2,
    ]
    assert brier_score(PROBS, LABELS) == pytest.approx(np.mean(per_example))


def test_ece_by_hand_with_five_bins():
    # Bins of width 0.2: confidences 0.8 -> (0.6, 0.8], 0.4 -> (0.2, 0.4], 0.6 -> (0.4, 0.6].
    # One example per bin: gaps |1 - 0.8|, |1 - 0.4|, |0 - 0.6|, weighted 1/3 each.
    expected = (0.2 + 0.6 + 0.6) / 3
    assert expected_calibration_error(PROBS, LABELS, n_bins=5) == pytest.approx(expected)


def test_ece_of_an_always_sure_classifier_is_its_error_rate():
    probs = np.tile([1.0, 0.0], (10, 1))
    labels = np.array([0] * 9 + [1])
    assert expected_calibration_error(probs, labels) == pytest.approx(0.1)


def independent_ece(probs, labels, n_bins):
    """A loop over explicit bin edges, written from Guo et al. (2017), Eq. 3."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0, 1, n_bins + 1)
    total = 0.0
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        members = (confidence > low) & (confidence <= high)
        if members.any():
            gap = abs(correct[members].mean() - confidence[members].mean())
            total += members.sum() / len(labels) * gap
    return total


@pytest.mark.parametrize("n_bins", [1, 10, 15])
def test_ece_matches_an_independent_implementation_on_random_inputs(n_bins):
    rng = np.random.default_rng(n_bins)
    for _ in range(5):
        probs, labels = random_predictions(rng)
        assert expected_calibration_error(probs, labels, n_bins) == pytest.approx(
            independent_ece(probs, labels, n_bins), abs=1e-12
        )


def test_reliability_curve_bins_match_the_ece():
    rng = np.random.default_rng(0)
    probs, labels = random_predictions(rng)
    curve = reliability_curve(probs, labels, n_bins=15)
    filled = curve["count"] > 0
    weighted_gap = np.sum(
        curve["count"][filled] * np.abs(curve["accuracy"][filled] - curve["confidence"][filled])
    ) / len(labels)
    assert weighted_gap == pytest.approx(expected_calibration_error(probs, labels))
    assert curve["count"].sum() == len(labels)
    assert np.all(np.isnan(curve["accuracy"][~filled]))


def test_reliability_curve_by_hand():
    curve = reliability_curve(PROBS, LABELS, n_bins=5)
    np.testing.assert_array_equal(curve["count"], [0, 1, 1, 1, 0])
    np.testing.assert_allclose(curve["confidence"][1:4], [0.4, 0.6, 0.8])
    np.testing.assert_allclose(curve["accuracy"][1:4], [1.0, 0.0, 1.0])
    np.testing.assert_allclose(curve["lower"], [0, 0.2, 0.4, 0.6, 0.8])


def test_auroc_by_hand_with_a_tie():
    # Pairs (out, in): 3>1, 3>2, 2=2 (half), 2>1, out of 4 pairs -> 3.5 / 4.
    assert auroc([1.0, 2.0], [3.0, 2.0]) == pytest.approx(3.5 / 4)


def test_auroc_matches_scikit_learn_on_random_scores():
    rng = np.random.default_rng(1)
    scores_in = rng.normal(0.0, 1.0, 300).round(1)  # rounded: many ties
    scores_out = rng.normal(0.7, 1.0, 200).round(1)
    labels = np.r_[np.zeros(300), np.ones(200)]
    expected = roc_auc_score(labels, np.r_[scores_in, scores_out])
    assert auroc(scores_in, scores_out) == pytest.approx(expected, abs=1e-12)


def test_auroc_is_one_for_separated_and_half_for_equal_scores():
    assert auroc([0.0, 0.1], [0.5, 0.9]) == 1.0
    assert auroc([1.0, 1.0], [1.0]) == 0.5


def test_temperature_scale_by_hand():
    logits = np.array([[0.0, math.log(3.0)]])
    # T = 1: probabilities 1/4 and 3/4; T = 2: exp(log 3 / 2) = sqrt 3.
    np.testing.assert_allclose(temperature_scale(logits, 1.0), [[0.25, 0.75]])
    s = math.sqrt(3.0)
    np.testing.assert_allclose(temperature_scale(logits, 2.0), [[1 / (1 + s), s / (1 + s)]])


def test_temperature_scaling_keeps_the_top_class():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(100, 4))
    np.testing.assert_array_equal(
        temperature_scale(logits, 3.0).argmax(axis=1), logits.argmax(axis=1)
    )


def test_fit_temperature_recovers_the_temperature_that_made_the_labels():
    # Labels drawn from softmax(z); the network reports 2.5 z, over-confident by T = 2.5. With
    # n = 20,000 the fitted T is within 5 % of 2.5 (its standard error here is about 1 %).
    rng = np.random.default_rng(3)
    z = rng.normal(0.0, 1.5, size=(20_000, 4))
    probs = temperature_scale(z, 1.0)
    labels = np.array([rng.choice(4, p=p) for p in probs])
    assert fit_temperature(2.5 * z, labels) == pytest.approx(2.5, rel=0.05)


def test_fit_temperature_lowers_the_validation_nll():
    rng = np.random.default_rng(4)
    probs, labels = random_predictions(rng, n=300)
    logits = 3.0 * np.log(probs)
    fitted = fit_temperature(logits, labels)
    assert nll(temperature_scale(logits, fitted), labels) < nll(
        temperature_scale(logits, 1.0), labels
    )


@pytest.mark.parametrize(
    ("probs", "labels", "error", "match"),
    [
        (np.array([0.5, 0.5]), np.array([0]), ValueError, r"probs must have shape \(n, classes\)"),
        (np.array([[0.5, 0.6]]), np.array([0]), ValueError, "must sum to 1"),
        (np.array([[0.5, 0.5]]), np.array([0, 1]), ValueError, r"labels must have shape \(1,\)"),
        (np.array([[0.5, 0.5]]), np.array([2]), ValueError, r"class indices in \[0, 1\]"),
        (np.array([[0.5, 0.5]]), np.array([0.0]), TypeError, "labels must be integer"),
        (np.array([[1, 0]]), np.array([0]), TypeError, "probs must hold floating-point"),
    ],
)
def test_scores_reject_bad_probabilities_and_labels(probs, labels, error, match):
    with pytest.raises(error, match=match):
        expected_calibration_error(probs, labels)


def test_ece_rejects_zero_bins():
    with pytest.raises(ValueError, match="n_bins must be an integer >= 1"):
        expected_calibration_error(PROBS, LABELS, n_bins=0)


def test_auroc_rejects_empty_or_non_finite_scores():
    with pytest.raises(ValueError, match="scores_out must be a non-empty 1-D array"):
        auroc([1.0], [])
    with pytest.raises(ValueError, match="scores_in must be finite"):
        auroc([np.nan], [1.0])


def test_temperature_rejects_a_non_positive_temperature():
    with pytest.raises(ValueError, match="temperature must be > 0"):
        temperature_scale(np.zeros((2, 3)), 0.0)
