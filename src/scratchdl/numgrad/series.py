"""Taylor series of each row's loss when one output unit of an Affine layer moves.

Perturbing `W[i, j]` (or `b[j]`) of an Affine layer by +-h moves unit j of that
layer's output, in row n, by eps = +-h * x[n, i] (x[n, i] = 1 for the bias), and
nothing else. When every layer downstream is row-local (Affine, Sigmoid, Relu,
Dropout with a fixed mask, then SoftmaxWithLoss), row n's loss changes by a smooth
function of that one number,

    F_nj(eps) = c_1 eps + c_2 eps^2 + ... + c_M eps^M + O(eps^(M+1)).

This module computes c_1..c_M for all rows n and a block of units j at once, by
pushing truncated power series ("jets") through the downstream layers: a jet is a
list [A_0, A_1, ..., A_M], A_0 the unperturbed value and A_m the coefficient of
eps^m. Affine maps and dropout masks act on each coefficient; sigmoid, exp, division
and log have exact recurrences for their coefficients (from y' = y (1 - y),
E' = E U', ...). Two layouts:

- 'unit', right after the perturbed layer: A_0, A_m are (N, J), only the units j;
- 'full', after the next Affine: A_0 is (N, 1, D), A_m is (N, J, D): every unit of
  the layer, for each perturbed unit j.

Relu is piecewise linear: its series is exact unless the perturbation crosses its
kink. `loss_series` therefore also returns a radius r[n, j]: for |eps| < r no Relu
downstream can change sides, so the series is valid; rows that reach it are
evaluated directly by the caller.
"""

from __future__ import annotations

import numpy as np

from scratchdl.backend import xp
from scratchdl.functions import DELTA
from scratchdl.layers import Affine, Dropout, Relu, Sigmoid

ORDER = 5
"""Highest power of eps kept. The central difference keeps odd powers, so the first
term left out is c_7 h^6 x^7 ~ 1e-24 c_7: far below double precision."""

TAIL = 1e-17
"""Largest |c_M| eps^M accepted: a row whose last kept term is bigger has not
converged (huge weights or unnormalized inputs) and is evaluated directly."""

ROW_LOCAL = (Affine, Sigmoid, Relu, Dropout)
"""Layers this module can push a series through (exact types)."""


def loss_series(
    downstream: list,
    outs: list[np.ndarray],
    a: np.ndarray,
    units: np.ndarray,
    labels: np.ndarray,
    eps_max: np.ndarray,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Coefficients c_1..c_M of F_nj, each (N, J), and the safe radius r (N, J).

    downstream: the layers after the perturbed Affine; outs: their cached outputs
    (N, D) from the unperturbed forward; a: the perturbed layer's output (N, D_k);
    units: the perturbed units j (J,); labels: (N,); eps_max: (N,) the largest
    |eps| any parameter of the layer applies to row n.
    """
    n, j = a.shape[0], units.size
    jet = [a[:, units], xp.ones((n, j))] + [xp.zeros((n, j)) for _ in range(ORDER - 1)]
    full = False
    radius = xp.full((n, j), np.inf)
    for layer, out in zip(downstream, outs, strict=True):
        kind = type(layer)
        if kind is Affine:
            W = layer.params["W"]
            coeffs = [A @ W if full else A[:, :, None] * W[units] for A in jet[1:]]
            jet, full = [out[:, None, :]] + coeffs, True
            continue
        base = out[:, None, :] if full else out[:, units]
        if kind is Sigmoid:
            jet = sigmoid_series(jet, base)
        elif kind is Relu:
            radius = xp.minimum(radius, kink_radius(jet, eps_max, full))
            on = jet[0] > 0
            jet = [base] + [A * on for A in jet[1:]]
        elif kind is Dropout:
            mask = layer.mask.reshape(n, -1)
            mask = mask[:, None, :] if full else mask[:, units]
            jet = [base] + [A * mask for A in jet[1:]]
        else:
            raise TypeError(f"no series through {kind.__name__}")
    if not full:
        jet = unit_to_full(jet, outs[-1] if outs else a, units)
    coeffs = softmax_loss_series(jet, labels)
    radius[xp.abs(coeffs[-1]) * eps_max[:, None] ** ORDER > TAIL] = 0.0
    return coeffs, radius


def unit_to_full(jet: list[np.ndarray], out: np.ndarray, units: np.ndarray) -> list[np.ndarray]:
    """The 'unit' layout spelled out over all D units (A_m[n, j, units[j]] = A_m[n, j])."""
    n, j = jet[1].shape
    coeffs = []
    for A in jet[1:]:
        F = xp.zeros((n, j, out.shape[1]))
        F[:, xp.arange(j), units] = A
        coeffs.append(F)
    return [out[:, None, :]] + coeffs


def sigmoid_series(jet: list[np.ndarray], y0: np.ndarray) -> list[np.ndarray]:
    """Series of sigmoid(A(eps)) with y0 = sigmoid(A_0), from y' = g A', g = y - y^2.

    Matching powers: m y_m = sum_{k=1..m} k A_k g_{m-k}.
    """
    y = [y0]
    g = [y0 * (1.0 - y0)]
    for m in range(1, ORDER + 1):
        y.append(sum(k * jet[k] * g[m - k] for k in range(1, m + 1)) / m)
        if m < ORDER:
            g.append(y[m] - sum(y[i] * y[m - i] for i in range(m + 1)))
    return y


def kink_radius(jet: list[np.ndarray], eps_max: np.ndarray, full: bool) -> np.ndarray:
    """Smallest |eps| that could move some Relu input A(eps) across 0, per (n, j).

    |A(eps) - A_0| <= |eps| K with K = sum_m |A_m| eps_max^(m-1), so no input crosses
    while |eps| < |A_0| / K; the factor 2 keeps a wide margin. Inputs that do not
    move (K = 0) never cross.
    """
    e = eps_max[:, None, None] if full else eps_max[:, None]
    K = sum(xp.abs(jet[m]) * e ** (m - 1) for m in range(1, ORDER + 1))
    moves = K > 0
    r = xp.where(moves, xp.abs(jet[0]) / (2.0 * xp.where(moves, K, 1.0)), np.inf)
    return r.min(axis=-1) if full else r


def softmax_loss_series(jet: list[np.ndarray], labels: np.ndarray) -> list[np.ndarray]:
    """Coefficients c_1..c_M (N, J) of -log(softmax(U(eps))[t] + DELTA), U in 'full' layout.

    E = exp(U - max U_0): m E_m = sum k U_k E_{m-k}; S = sum over classes of E;
    P = E_t / S: P_m = (E_t,m - sum_{k>=1} S_k P_{m-k}) / S_0; Q = P + DELTA (the
    loss's 1e-7, exactly); log Q: m Q_0 L_m = m Q_m - sum_{k=1..m-1} k L_k Q_{m-k}.
    """
    rows = xp.arange(jet[0].shape[0])
    E = [xp.exp(jet[0] - jet[0].max(axis=-1, keepdims=True))]
    for m in range(1, ORDER + 1):
        E.append(sum(k * jet[k] * E[m - k] for k in range(1, m + 1)) / m)
    S = [e.sum(axis=-1) for e in E]
    P = [E[0][rows, :, labels] / S[0]]
    for m in range(1, ORDER + 1):
        Et = E[m][rows, :, labels]
        P.append((Et - sum(S[k] * P[m - k] for k in range(1, m + 1))) / S[0])
    Q0 = P[0] + DELTA
    L = [xp.log(Q0)]
    for m in range(1, ORDER + 1):
        L.append((m * P[m] - sum(k * L[k] * P[m - k] for k in range(1, m))) / (m * Q0))
    return [-c for c in L[1:]]
