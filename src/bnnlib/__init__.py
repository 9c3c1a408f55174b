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
* :mod:`bnnlib.gradvar` — the variance of the gradient of each estimator (:doc:`Chapter 7
  </book/07_gradient_variance>`).
* :mod:`bnnlib.plots` — the book's figures and theme; :mod:`bnnlib.slider`, the epoch slider.
"""

__version__ = "0.1.0"

from bnnlib.training import set_seed  # noqa: E402  (the version must be readable without TF)

__all__ = ["__version__", "set_seed"]
