"""How good, and how honest, a classifier's predicted probabilities are.

A classifier that says "90 %" should be right nine times in ten when it says so. The scores
here measure that from predicted class probabilities ``probs`` of shape ``(n, classes)`` and
integer ``labels`` of shape ``(n,)``:

* :func:`accuracy`, :func:`nll` (negative log-likelihood) and :func:`brier_score`: how good the
  probabilities are, both sharp and right;
* :func:`expected_calibration_error` and :func:`reliability_curve`: how far the confidence is
  from the accuracy (Guo et al. 2017);
* :func:`auroc`: how well a score of "how unusual is this input?" separates
  out-of-distribution inputs from ordinary ones;
* :func:`fit_temperature` and :func:`temperature_scale`: the classic one-parameter repair of
  an over-confident network (Guo et al. 2017).

:doc:`Chapter 9 </book/09_digits>` compares Dense, MC dropout, deep ensembles and Flipout with
them. Everything is NumPy: the scores take the probabilities, however they were predicted.
"""

from __future__ import annotations

import numpy as np

from bnnlib._checks import check_float, check_int

__all__ = [
    "accuracy",
    "auroc",
    "brier_score",
    "expected_calibration_error",
    "fit_temperature",
    "nll",
    "reliability_curve",
    "temperature_scale",
]

#: Probabilities are clipped to at least this before their logarithm, so that a confident
#: mistake costs a large but finite NLL: ``-log(1e-12) ≈ 27.6`` nats.
MIN_PROBABILITY = 1e-12


def _check_probs_and_labels(probs, labels):
    """``probs`` as float64 ``(n, classes)`` rows summing to 1, ``labels`` as int ``(n,)``."""
    probs = np.asarray(probs)
    labels = np.asarray(labels)
    if probs.ndim != 2 or probs.shape[0] == 0 or probs.shape[1] < 2:
        raise ValueError(
            f"probs must have shape (n, classes) with n >= 1 and classes >= 2, got {probs.shape}"
        )
    if not np.issubdtype(probs.dtype, np.floating):
        raise TypeError(f"probs must hold floating-point probabilities, got dtype {probs.dtype}")
    probs = probs.astype(np.float64)
    if not np.all(np.isfinite(probs)) or probs.min() < 0 or probs.max() > 1:
        raise ValueError("probs must be finite and in [0, 1]")
    # float32 softmax outputs sum to 1 only to about 1e-6 per row.
    if np.abs(probs.sum(axis=1) - 1.0).max() > 1e-4:
        raise ValueError(
            "probs must sum to 1 over the classes (axis 1), got row sums up to "
            f"{np.abs(probs.sum(axis=1) - 1.0).max():.3g} away from 1"
        )
    if labels.shape != (probs.shape[0],):
        raise ValueError(
            f"labels must have shape ({probs.shape[0]},), one label per row of probs, "
            f"got {labels.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels must be integer class indices, got dtype {labels.dtype}")
    if labels.min() < 0 or labels.max() >= probs.shape[1]:
        raise ValueError(
            f"labels must be class indices in [0, {probs.shape[1] - 1}], got values from "
            f"{labels.min()} to {labels.max()}"
        )
    return probs, labels.astype(np.int64)


def accuracy(probs, labels) -> float:
    """Share of examples whose most probable class is the label.

    Parameters
    ----------
    probs : array_like, shape (n, classes)
        Predicted class probabilities, rows summing to 1.
    labels : array_like of int, shape (n,)
        True classes.

    Returns
    -------
    float
        In [0, 1]. Ties go to the lowest class index (``argmax``).

    Raises
    ------
    TypeError, ValueError
        If the shapes do not match, ``probs`` is not a probability table or ``labels`` holds
        something other than class indices (the same checks for every score here).
    """
    probs, labels = _check_probs_and_labels(probs, labels)
    return float(np.mean(probs.argmax(axis=1) == labels))


def nll(probs, labels) -> float:
    """Mean negative log-likelihood of the labels, ``-mean(log p[label])``, in nats.

    Probabilities are clipped to at least :data:`MIN_PROBABILITY` first, so a probability of
    exactly 0 on the label costs about 27.6 nats instead of infinity.

    Parameters
    ----------
    probs : array_like, shape (n, classes)
        Predicted class probabilities, rows summing to 1.
    labels : array_like of int, shape (n,)
        True classes.

    Returns
    -------
    float
        >= 0; 0 only for probability 1 on every label.
    """
    probs, labels = _check_probs_and_labels(probs, labels)
    label_probs = probs[np.arange(labels.size), labels]
    return float(-np.mean(np.log(np.maximum(label_probs, MIN_PROBABILITY))))


def brier_score(probs, labels) -> float:
    """Mean squared distance between the probabilities and the one-hot label.

    ``mean over examples of sum over classes of (p_k - [k = label])²``, the multi-class form of
    Brier (1950) that Ovadia et al. (2019) report: 0 for certainty on the right class, 2 for
    certainty on a wrong one.

    Parameters
    ----------
    probs : array_like, shape (n, classes)
        Predicted class probabilities, rows summing to 1.
    labels : array_like of int, shape (n,)
        True classes.

    Returns
    -------
    float
        In [0, 2].
    """
    probs, labels = _check_probs_and_labels(probs, labels)
    one_hot = np.eye(probs.shape[1])[labels]
    return float(np.mean(np.sum((probs - one_hot) ** 2, axis=1)))


def _confidence_bins(probs, labels, n_bins):
    """Per bin of top-class confidence: (count, mean confidence, accuracy); NaN when empty."""
    probs, labels = _check_probs_and_labels(probs, labels)
    n_bins = check_int("n_bins", n_bins, minimum=1)
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    # Bins (0, 1/B], (1/B, 2/B], ..., ((B-1)/B, 1]: confidence c goes to bin ceil(c B) - 1.
    # The top-class confidence is at least 1 / classes > 0, so no example falls on 0.
    which = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    counts = np.bincount(which, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(which, confidence, n_bins) / counts
        bin_accuracy = np.bincount(which, correct, n_bins) / counts
    return counts, mean_confidence, bin_accuracy


def expected_calibration_error(probs, labels, n_bins: int = 15) -> float:
    """Expected calibration error of the top-class confidence (Guo et al. 2017, Eq. 3).

    The examples are grouped by their confidence ``max_k p_k`` into ``n_bins`` equal-width bins
    ``(0, 1/B], (1/B, 2/B], ..., ((B-1)/B, 1]``; in each bin ``b`` the accuracy ``acc(b)`` is
    the share of examples whose top class is right and ``conf(b)`` the mean confidence. Then

    ``ECE = sum_b |B_b| / n * |acc(b) - conf(b)|``,

    the mean gap between how often the network is right and how sure it says it is, weighted
    by how many examples say so. 0 means calibrated; a network that is always 100 % sure and
    right 90 % of the time has an ECE of 0.1. :doc:`Chapter 9 </book/09_digits>` uses it.

    Parameters
    ----------
    probs : array_like, shape (n, classes)
        Predicted class probabilities, rows summing to 1.
    labels : array_like of int, shape (n,)
        True classes.
    n_bins : int, default 15
        Number of bins, >= 1 (15 as in Guo et al. 2017).

    Returns
    -------
    float
        In [0, 1].
    """
    counts, mean_confidence, bin_accuracy = _confidence_bins(probs, labels, n_bins)
    filled = counts > 0
    gaps = np.abs(bin_accuracy[filled] - mean_confidence[filled])
    return float(np.sum(counts[filled] * gaps) / counts.sum())


def reliability_curve(probs, labels, n_bins: int = 15):
    """The points of a reliability diagram: accuracy against confidence, bin by bin.

    The same equal-width bins of the top-class confidence as
    :func:`expected_calibration_error`. A calibrated classifier's points lie on the diagonal;
    points below it mean over-confidence.

    Parameters
    ----------
    probs : array_like, shape (n, classes)
        Predicted class probabilities, rows summing to 1.
    labels : array_like of int, shape (n,)
        True classes.
    n_bins : int, default 15
        Number of bins, >= 1.

    Returns
    -------
    dict of numpy.ndarray, each of shape (n_bins,)
        ``"lower"``, ``"upper"``: the bin edges; ``"count"``: examples in the bin;
        ``"confidence"``: their mean confidence; ``"accuracy"``: the share of them classified
        right. ``confidence`` and ``accuracy`` are NaN for an empty bin.
    """
    counts, mean_confidence, bin_accuracy = _confidence_bins(probs, labels, n_bins)
    edges = np.linspace(0.0, 1.0, counts.size + 1)
    return {
        "lower": edges[:-1],
        "upper": edges[1:],
        "count": counts,
        "confidence": mean_confidence,
        "accuracy": bin_accuracy,
    }


def _check_scores(name: str, scores) -> np.ndarray:
    scores = np.asarray(scores)
    if scores.ndim != 1 or scores.size == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D array of scores, got shape {scores.shape}"
        )
    if not np.issubdtype(scores.dtype, np.number) or np.issubdtype(
        scores.dtype, np.complexfloating
    ):
        raise TypeError(f"{name} must hold real numbers, got dtype {scores.dtype}")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"{name} must be finite")
    return scores.astype(np.float64)


def auroc(scores_in, scores_out) -> float:
    """Area under the ROC curve of a score that should be higher for unusual inputs.

    The probability that an out-of-distribution input scores higher than an in-distribution
    one, ties counting one half (the Mann–Whitney statistic): 1 separates them perfectly, 0.5
    is chance. Scores are, for example, the predictive entropy or the mutual information
    (:doc:`Chapter 9 </book/09_digits>`).

    Parameters
    ----------
    scores_in : array_like, shape (n_in,)
        Scores of in-distribution inputs.
    scores_out : array_like, shape (n_out,)
        Scores of out-of-distribution inputs.

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    TypeError, ValueError
        If either array is empty, not 1-D, or holds non-finite or non-real values.
    """
    from scipy.stats import rankdata

    scores_in = _check_scores("scores_in", scores_in)
    scores_out = _check_scores("scores_out", scores_out)
    # Rank all scores together (ties share their mean rank); the out-scores' rank sum minus
    # its smallest possible value counts the (out, in) pairs the out-score wins.
    ranks = rankdata(np.concatenate([scores_out, scores_in]))
    n_out, n_in = scores_out.size, scores_in.size
    wins = ranks[:n_out].sum() - n_out * (n_out + 1) / 2
    return float(wins / (n_out * n_in))


def _check_logits(logits) -> np.ndarray:
    logits = np.asarray(logits)
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise ValueError(
            f"logits must have shape (n, classes) with classes >= 2, got {logits.shape}"
        )
    if not np.issubdtype(logits.dtype, np.floating):
        raise TypeError(f"logits must be floating-point, got dtype {logits.dtype}")
    if not np.all(np.isfinite(logits)):
        raise ValueError("logits must be finite")
    return logits.astype(np.float64)


def temperature_scale(logits, temperature: float) -> np.ndarray:
    """Class probabilities ``softmax(logits / T)``.

    ``T > 1`` softens over-confident probabilities, ``T < 1`` sharpens them; the most probable
    class, and so the accuracy, never changes. For a network with a softmax output,
    ``log(probs)`` serves as the logits: it differs from them by a constant per row, which the
    softmax ignores.

    Parameters
    ----------
    logits : array_like, shape (n, classes)
        Unnormalised log-probabilities.
    temperature : float
        ``T > 0``.

    Returns
    -------
    numpy.ndarray
        float64 probabilities, shape ``(n, classes)``.
    """
    logits = _check_logits(logits)
    temperature = check_float("temperature", temperature, positive=True)
    scaled = logits / temperature
    scaled -= scaled.max(axis=1, keepdims=True)  # the softmax is unchanged; exp cannot overflow
    weights = np.exp(scaled)
    return weights / weights.sum(axis=1, keepdims=True)


def fit_temperature(logits, labels, bounds=(0.05, 20.0)) -> float:
    """The temperature ``T`` that minimises the NLL of ``softmax(logits / T)`` (Guo et al. 2017).

    Fit it on a validation set, never on the test set, then apply :func:`temperature_scale` to
    the test logits with it. One parameter for the whole network: it cannot change the
    ranking of the classes, only how sure the network sounds.

    Parameters
    ----------
    logits : array_like, shape (n, classes)
        Validation logits (or log-probabilities).
    labels : array_like of int, shape (n,)
        Validation labels.
    bounds : (float, float), default (0.05, 20.0)
        The interval of ``T`` searched, ``0 < low < high``.

    Returns
    -------
    float
        The fitted temperature.
    """
    from scipy.optimize import minimize_scalar

    logits = _check_logits(logits)
    uniform = np.full(logits.shape, 1.0 / logits.shape[1])
    _, labels = _check_probs_and_labels(uniform, labels)
    low = check_float("bounds[0]", bounds[0], positive=True)
    high = check_float("bounds[1]", bounds[1], positive=True)
    if not low < high:
        raise ValueError(f"bounds must be (low, high) with low < high, got {bounds!r}")

    def nll_at(log_temperature):
        scaled = logits / np.exp(log_temperature)
        log_norm = np.log(np.sum(np.exp(scaled - scaled.max(axis=1, keepdims=True)), axis=1))
        log_probs = scaled[np.arange(labels.size), labels] - scaled.max(axis=1) - log_norm
        return -np.mean(log_probs)

    # Searched on log T: the NLL is smoother there, and T stays positive.
    result = minimize_scalar(
        nll_at, bounds=(np.log(low), np.log(high)), method="bounded", options={"xatol": 1e-6}
    )
    return float(np.exp(result.x))
