"""bnnlib: watch the weight posterior of Bayesian dense layers learn.

The library behind the book *Watching Weights Learn*. Each module holds one idea:

* :mod:`bnnlib.data` — small data sets made on the spot (:doc:`Chapter 1 </book/01_anatomy>`).
* :mod:`bnnlib.layers` — ``FlipoutDense`` from scratch, and the estimators it is compared with
  (:doc:`Chapter 2 </book/02_flipout_from_scratch>`).
* :mod:`bnnlib.tfp_layers` — correctly initialised, correctly scaled TFP ``DenseFlipout``.
* :mod:`bnnlib.models` — the same MLP from Dense, Flipout or TFP layers, same start (:doc:`Chapter
  4 </book/04_training_side_by_side>`).
* :mod:`bnnlib.training` — seeds and determinism, and the pieces of the training objective.
* :mod:`bnnlib.posterior` — read (and write) the posterior of any dense layer, and summarise a
  model's (:doc:`Chapter 4 </book/04_training_side_by_side>`).
* :mod:`bnnlib.history` — what a tracker records, and its ``.npz`` file format.
* :mod:`bnnlib.tracking` — record μ and σ of every weight while a model trains (:doc:`Chapter 4
  </book/04_training_side_by_side>`).
* :mod:`bnnlib.compare` — Dense and Flipout networks over several seeds, trained together
  (:doc:`Chapter 4 </book/04_training_side_by_side>`).
* :mod:`bnnlib.metrics` — accuracy, NLL, Brier score, calibration error, AUROC and
  temperature scaling (:doc:`Chapter 9 </book/09_digits>`).
* :mod:`bnnlib.pruning` — remove weights by signal-to-noise, size or at random
  (:doc:`Chapter 10 </book/10_pruning>`).
* :mod:`bnnlib.gradvar` — the variance of the gradient of each estimator (:doc:`Chapter 7
  </book/07_gradient_variance>`).
* :mod:`bnnlib.plots` — the book's figures and theme; :mod:`bnnlib.slider`, the epoch slider.
* :mod:`bnnlib.keras3` — ``FlipoutDense`` for Keras 3, for readers who cannot use ``tf_keras``
  (:doc:`Appendix A </book/appendix_a_keras3>`).
* :mod:`bnnlib.uncertainty` — Monte-Carlo predictions and their uncertainty
  (:doc:`Chapter 6 </book/06_predictive_uncertainty>`).
* :mod:`bnnlib.dropout` — dropout that stays on at prediction (MC dropout,
  :doc:`Chapter 6 </book/06_predictive_uncertainty>`).
* :mod:`bnnlib.hmc` — the true posterior of a small network by NUTS, a reference
  (:doc:`Chapter 8 </book/08_hmc_ground_truth>`).
"""

#: The library's version (PEP 440); ``pip`` reads it from here.
__version__ = "0.1.0"

from bnnlib.training import set_seed  # noqa: E402  (the version must be readable without TF)

__all__ = ["__version__", "set_seed"]
