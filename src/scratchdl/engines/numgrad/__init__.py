"""Numerical gradients of a whole network, exactly as the book defines them, fast.

The book's method: for every parameter theta_i, set theta_i + h, evaluate the batch
loss L+, set theta_i - h, evaluate L-, restore, and take (L+ - L-) / 2h with
h = 1e-4. For TwoLayerNet on MNIST that is 39,760 x 2 full forward passes per step.
This engine computes the same numbers (to about 1e-12, the rounding noise of the
naive method itself), using four facts about them:

1. A parameter of layer k changes nothing before layer k: cache the forward pass,
   recompute only downstream (`generic`, used for any layer, e.g. BatchNorm, conv).
2. Perturbing W[i, j] of an Affine layer moves only unit j of its output, in row n
   by +-h x[n, i]: nothing in rows where x[n, i] = 0 (most MNIST pixels), nothing
   at all for an input that is 0 in every row. When the layers after it are
   row-local, the batch loss changes by the sum over rows of each row's loss change
   F_nj(+-h x[n, i]).
3. eps = h x[n, i] is tiny, so F_nj(eps) equals its Taylor series to far below
   double precision once five terms are kept (`series`: the coefficients are pushed
   through the layers with the exact rules for sums, products, sigmoid, exp,
   quotients and log, including the loss's 1e-7 inside the log). In
   F(eps) - F(-eps) the even powers cancel, leaving sum_{m odd} 2 c_m eps^m: for
   every W[i, j] at once, one matrix product (`affine`). The m = 3 and m = 5 terms
   are what makes this the central difference and not the derivative (they are up
   to ~1e-8 of the gradient).
4. A unit of the last hidden layer moves the logits along one fixed direction, its
   row of the last W, by some amount s. Along that line the softmax loss depends on
   the logits only through the moments sum_c exp(U_c) W[j, c]^r, one matrix product
   for all units and powers, so the last two layers need no array with a number
   for every row, unit and class.

Every step is whole-array arithmetic over all rows, units and powers at once; the
only Python loops run over the five powers, where each coefficient needs the ones
before it.

Where a series would not be exact - a Relu whose input the perturbation could push
across 0, a series that has not converged - those rows are evaluated directly.
Weight decay 0.5 lam sum W^2 adds its own central difference, element by element.

The perturbation actually applied by the naive method is fl(w + h) - w, which
differs from h by at most half an ulp of w (~1e-18 for weights ~0.01): a relative
change of ~1e-14 in its result, which this engine does not model.
"""

from __future__ import annotations

import numpy as np

from scratchdl.engines.numgrad.engine import loss_and_numerical_gradient


def numerical_gradient(model, x, t) -> dict[str, np.ndarray]:
    """Central differences (h = 1e-4) of `model.loss(x, t, train=True)` for every parameter.

    model: a `scratchdl.models.Net` (any dtype; computed in float64); x: (N, ...);
    t: labels (N,) or one-hot (N, C). Returns {name: float64 array like params[name]}.
    """
    return loss_and_numerical_gradient(model, x, t)[1]


__all__ = ["loss_and_numerical_gradient", "numerical_gradient"]
