"""Taylor series of each row's loss when one output unit of an Affine layer moves.

Perturbing `W[i, j]` (or `b[j]`) of an Affine layer by +-h moves unit j of that
layer's output, in row n, by eps = +-h * x[n, i] (x[n, i] = 1 for the bias), and
nothing else. When every layer downstream is row-local (Affine, Sigmoid, Relu,
Dropout with a fixed mask, then SoftmaxWithLoss), row n's loss changes by a smooth
function of that one number,

    F_nj(eps) = c_1 eps + c_2 eps^2 + ... + c_M eps^M + O(eps^(M+1)).

This module computes c_1..c_M for all rows n and a block of units j at once, by
pushing truncated power series ("jets") through the downstream layers. A jet is a
pair: `value`, the unperturbed A_0, and `coeffs`, the coefficients A_1..A_d of
eps^1..eps^d stacked along a first axis, so that one NumPy operation acts on every
power, row and unit. The powers past d are exactly zero and are not stored: the
perturbed unit itself is a + eps (d = 1); Affine maps, Relu and dropout masks keep
d; sigmoid raises it to M (its Taylor coefficients are polynomials in y = sigmoid,
`SIGMOID`, into which the jet is substituted, `compose`). Two layouts:

- 'unit', right after the perturbed layer: value (N, J), coeffs (d, N, J), only
  the units j;
- 'full', after the next Affine: value (N, 1, D), coeffs (d, N, J, D): every unit
  of the layer, for each perturbed unit j.

At the loss, the logits U = U_0 + sum_m U_m eps^m meet softmax, exp and log. When
they move along a line, U_0 + s(eps) w - reached in the 'unit' layout through the
last Affine (w = its row j of W), or with d = 1 in the 'full' layout (w per row) -
the class sums need only the moments sum_c exp(U_0c) w_c^r (`direction_loss_series`);
otherwise exp is expanded class by class (`softmax_loss_series`). Both end in the
exact recurrences of a quotient and a log, the loss's 1e-7 included (`_loss_of`).

Relu is piecewise linear: its series is exact unless the perturbation crosses its
kink. `loss_series` therefore also returns a radius r[n, j]: for |eps| < r no Relu
downstream can change sides, so the series is valid; rows that reach it are
evaluated directly by the caller. Everything is computed with `xp`, on the device
where the model is.
"""

from __future__ import annotations

import numpy as np
from numpy.polynomial import polynomial as P

from scratchdl.engines.activations import FastSigmoid
from scratchdl.functions import DELTA
from scratchdl.layers import Affine, Dropout, Relu, Sigmoid
from scratchdl.runtime.backend import asarray, xp

ORDER = 5
"""Highest power of eps kept. The central difference keeps odd powers, so the first
term left out is c_7 h^6 x^7 ~ 1e-24 c_7: far below double precision."""

TAIL = 1e-17
"""Largest |c_M| eps^M accepted: a row whose last kept term is bigger has not
converged (huge weights or unnormalized inputs) and is evaluated directly."""

ROW_LOCAL = (Affine, Sigmoid, FastSigmoid, Relu, Dropout)
"""Layers this module can push a series through (exact types)."""

FACTORIAL = np.cumprod([1.0] + list(range(1, ORDER + 1)))
"""r! for r = 0..M."""

TINY = np.finfo(np.float64).tiny
"""The smallest positive normal float64."""


def loss_series(
    downstream: list,
    outs: list[np.ndarray],
    a: np.ndarray,
    units: np.ndarray,
    labels: np.ndarray,
    eps_max: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients c_1..c_M of F_nj stacked (M, N, J), and the safe radius r (N, J).

    downstream: the layers after the perturbed Affine; outs: their cached outputs
    (N, D) from the unperturbed forward; a: the perturbed layer's output (N, D_k);
    units: the perturbed units j (J,); labels: (N,); eps_max: (N,) the largest
    |eps| any parameter of the layer applies to row n.
    """
    n, j = a.shape[0], units.size
    value, coeffs = a[:, units], xp.ones((1, n, j))
    full = False
    logits, direction = a, xp.eye(a.shape[1])[units]
    radius = xp.full((n, j), np.inf)
    for k, (layer, out) in enumerate(zip(downstream, outs, strict=True)):
        kind = type(layer)
        if kind is Affine:
            W = layer.params["W"]
            if full:
                coeffs = matmul_last(coeffs, W)
            elif k + 1 < len(downstream):
                coeffs, full = coeffs[..., None] * W[units], True
            else:
                logits, direction = out, W[units]
            value = out[:, None, :]
            continue
        base = out[:, None, :] if full else out[:, units]
        if kind in (Sigmoid, FastSigmoid):
            coeffs = sigmoid_series(coeffs, base)
        elif kind is Relu:
            radius = xp.minimum(radius, kink_radius(value, coeffs, eps_max))
            coeffs = coeffs * (value > 0)
        elif kind is Dropout:
            mask = layer.mask.reshape(n, -1)
            coeffs = coeffs * (mask[:, None, :] if full else mask[:, units])
        else:
            raise TypeError(f"no series through {kind.__name__}")
        value, logits = base, out
    if not full:
        c = direction_loss_series(logits, direction, coeffs, labels)
    elif coeffs.shape[0] == 1:
        c = direction_loss_series(value[:, 0], coeffs[0], xp.ones((1, n, j)), labels)
    else:
        c = softmax_loss_series(value, coeffs, labels)
    radius[xp.abs(c[-1]) * eps_max[:, None] ** ORDER > TAIL] = 0.0
    return c, radius


def matmul_last(coeffs: np.ndarray, W: np.ndarray) -> np.ndarray:
    """coeffs (..., D) @ W (D, D') as one matrix product over all leading axes."""
    return (coeffs.reshape(-1, W.shape[0]) @ W).reshape(coeffs.shape[:-1] + W.shape[1:])


def _times_k(coeffs: np.ndarray) -> np.ndarray:
    """k A_k for the stacked A_1..A_d (the derivative's coefficients, times eps)."""
    k = xp.arange(1, coeffs.shape[0] + 1, dtype=np.float64)
    return coeffs * k.reshape((-1,) + (1,) * (coeffs.ndim - 1))


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """sum_k a[k] b[k] over the first axis: the terms of a series product, all at once."""
    return xp.einsum("k...,k...->...", a, b)


def powers(x: np.ndarray) -> np.ndarray:
    """x^0, x^1, ..., x^M stacked (M + 1, ...), by repeated multiplication."""
    out = xp.empty((ORDER + 1,) + x.shape)
    out[0] = 1.0
    out[1] = x
    for r in range(2, ORDER + 1):
        xp.multiply(out[r - 1], x, out=out[r])
    return out


def _sigmoid_polynomials() -> np.ndarray:
    """Q_m / m! as coefficient rows (M, M): sigmoid^(m)(a) = y (1 - y) Q_m(y), y = sigmoid(a).

    From y' = y (1 - y): Q_1 = 1, Q_(m+1) = (1 - 2y) Q_m + (y - y^2) Q_m'.
    """
    q, rows = np.array([1.0]), []
    for m in range(1, ORDER + 1):
        rows.append(np.pad(q, (0, ORDER - q.size)) / FACTORIAL[m])
        q = P.polyadd(P.polymul([1.0, -2.0], q), P.polymul([0.0, 1.0, -1.0], P.polyder(q)))
    return np.array(rows)


SIGMOID = _sigmoid_polynomials()


def sigmoid_series(coeffs: np.ndarray, y0: np.ndarray) -> np.ndarray:
    """Coefficients y_1..y_M (M, ...) of sigmoid(A(eps)), A_1..A_d = coeffs, y0 = sigmoid(A_0).

    The Taylor coefficients of sigmoid at A_0 are y0 (1 - y0) Q_m(y0) / m! (`SIGMOID`),
    for every power at once; then A(eps) - A_0 is substituted (`compose`).
    """
    y = xp.tensordot(asarray(SIGMOID), powers(y0)[:ORDER], axes=1)
    y *= y0 * (1.0 - y0)
    return compose(y, coeffs)


def compose(phi: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Coefficients (M, ...) in eps of phi(sigma(eps)) = sum_r phi_r sigma(eps)^r, sigma(0) = 0.

    phi: (M, ...) coefficients of s^1..s^M; sigma: (d, ...) of eps^1..eps^d. By
    Horner's rule, H_r = phi_r + sigma H_(r+1), each kept to the order M - r that
    matters. A linear sigma = s_1 eps gives phi_m s_1^m directly.
    """
    d = sigma.shape[0]
    if d == 1:
        return phi * powers(sigma[0])[1:]
    shape = np.broadcast_shapes(phi.shape[1:], sigma.shape[1:])
    h = phi[-1:]
    for r in range(ORDER - 1, -1, -1):
        out = xp.empty((ORDER - r + 1,) + shape)
        out[0] = phi[r - 1] if r else 0.0
        for p in range(1, ORDER - r + 1):
            k = min(p, d)
            out[p] = _dot(sigma[:k], h[p - 1::-1][:k])
        h = out
    return h[1:]


def kink_radius(value: np.ndarray, coeffs: np.ndarray, eps_max: np.ndarray) -> np.ndarray:
    """Smallest |eps| that could move some Relu input A(eps) across 0, per (n, j).

    value A_0: (N, J) or (N, 1, D); coeffs A_1..A_d: (d, N, J) or (d, N, J, D).
    |A(eps) - A_0| <= |eps| K with K = sum_m |A_m| eps_max^(m-1), so no input crosses
    while |eps| < |A_0| / K; the factor 2 keeps a wide margin. Inputs that do not
    move (K = 0) never cross. Over the D inputs of a 'full' jet, the smallest radius
    is 0.5 / max(K / |A_0|); an input at 0 counts as the smallest positive float.
    """
    K = xp.abs(coeffs[0])
    if coeffs.shape[0] > 1:
        e = eps_max.reshape((-1,) + (1,) * (coeffs.ndim - 2))
        K += (xp.abs(coeffs[1:]) * powers(e)[1 : coeffs.shape[0]]).sum(axis=0)
    with np.errstate(divide="ignore", over="ignore"):
        inverse = xp.divide(K, xp.maximum(xp.abs(value), TINY), out=K)
        if coeffs.ndim == 4:
            inverse = inverse.max(axis=-1)
        return 0.5 / inverse


def softmax_loss_series(value: np.ndarray, coeffs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Coefficients c_1..c_M (M, N, J) of -log(softmax(U(eps))[t] + DELTA), U 'full'.

    value U_0: (N, 1, D); coeffs U_1..U_d: (d, N, J, D). E = exp(U - max U_0) from
    E' = E U': m E_m = sum_k k U_k E_{m-k}; then Z = sum over classes of E and
    Y = E_t, for `_loss_of`.
    """
    kU = _times_k(coeffs)
    E = xp.empty((ORDER + 1,) + coeffs.shape[1:])
    E[0] = xp.exp(value - value.max(axis=-1, keepdims=True))
    for m in range(1, ORDER + 1):
        k = min(m, kU.shape[0])
        E[m] = _dot(kU[:k], E[m - 1::-1][:k]) / m
    Y = xp.take_along_axis(E, labels.reshape(1, -1, 1, 1), axis=-1)[..., 0]
    return _loss_of(E.sum(axis=-1), Y)


def direction_loss_series(
    logits: np.ndarray, w: np.ndarray, sigma: np.ndarray, labels: np.ndarray
) -> np.ndarray:
    """Coefficients c_1..c_M (M, N, J) of -log(softmax(U_0 + sigma_nj(eps) w)[t] + DELTA).

    logits U_0: (N, C); w: the direction unit j moves the logits in, (J, C) (its row
    of the last Affine's W, or e_j when unit j is a logit itself) or (N, J, C) (one
    per row, for a Relu network's earlier layers); sigma: (d, N, J), how far, as a
    series in eps. First in s = sigma: with E = exp(U_0 - max U_0), the class sum
    Z(s) = sum_c E_c exp(s w_c) has the coefficients mu_r / r! with the moments
    mu_r = sum_c E_c w_c^r (for a shared w, one matrix product for all units and r),
    and the label's term Y(s) = E_t exp(s w_t) has E_t w_t^r / r!. Then s = sigma(eps)
    is substituted (`compose`).
    """
    rows = xp.arange(logits.shape[0])
    E = xp.exp(logits - logits.max(axis=1, keepdims=True))
    factorial = asarray(FACTORIAL).reshape(-1, 1, 1)
    if w.ndim == 2:
        Z = E @ (powers(w) / factorial).transpose(0, 2, 1)
        w_t = w.T[labels]
    else:
        Z = xp.einsum("nc,rnjc->rnj", E, powers(w)) / factorial
        w_t = xp.take_along_axis(w, labels.reshape(-1, 1, 1), axis=-1)[..., 0]
    Y = powers(w_t) * (E[rows, labels][:, None] / factorial)
    return compose(_loss_of(Z, Y), sigma)


def _loss_of(Z: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Coefficients 1..M of -log(Y / Z + DELTA), from the series Z and Y (M + 1, ...)."""
    P = _quotient(Y, Z)
    P[0] += DELTA
    return -_log(P)


def _quotient(Y: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """Series (M + 1, ...) of P = Y / Z, from Z P = Y: Z_0 P_m = Y_m - sum_{k=1..m} Z_k P_(m-k)."""
    z = Z[1:] / Z[0]
    P = Y / Z[0]
    for m in range(1, ORDER + 1):
        P[m] -= _dot(z[:m], P[m - 1::-1])
    return P


def _log(Q: np.ndarray) -> np.ndarray:
    """Coefficients 1..M (M, ...) of log Q, from Q L' = Q': with q = Q / Q_0,
    L_m = q_m - (1/m) sum_{k=1..m-1} k L_k q_(m-k)."""
    q = Q[1:] / Q[0]
    L = xp.empty_like(q)
    kL = xp.empty_like(q)
    L[0] = kL[0] = q[0]
    for m in range(2, ORDER + 1):
        L[m - 1] = q[m - 1] - _dot(kL[: m - 1], q[m - 2::-1]) / m
        kL[m - 1] = m * L[m - 1]
    return L
