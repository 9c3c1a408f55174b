"""bnnlib: watch the weight posterior of Bayesian dense layers learn.

The library behind the book *Watching Weights Learn*. Each module holds one idea:

* :mod:`bnnlib.data` — small data sets made on the spot (Chapter 1).
* :mod:`bnnlib.layers` — ``FlipoutDense`` from scratch, and the estimators it is compared with
  (Chapters 2 and 7).
* :mod:`bnnlib.tfp_layers` — correctly initialised, correctly scaled TFP ``DenseFlipout``.
* :mod:`bnnlib.models` — the same MLP from Dense, Flipout or TFP layers, same start (Chapter 4).
* :mod:`bnnlib.training` — seeds and determinism, and the pieces of the training objective.
* :mod:`bnnlib.tracking` — record μ and σ of every weight while a model trains (Chapter 4).
* :mod:`bnnlib.gradvar` — the variance of the gradient of each estimator (Chapter 7).
* :mod:`bnnlib.plots` — the book's figures and theme.
"""

__version__ = "0.1.0"

from bnnlib.training import set_seed  # noqa: E402  (the version must be readable without TF)

__all__ = ["__version__", "set_seed"]
