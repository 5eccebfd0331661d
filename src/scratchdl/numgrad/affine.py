"""The fast path: central differences for all of an Affine layer's W and b at once.

With x the layer's input (N, D_in) plus a column of ones for the bias, perturbing
W[i, j] by +-h changes row n's loss by F_nj(+-h x[n, i]) (see `series`), so

    (L+ - L-) / 2h = (1/N) sum_n (F_nj(h x_ni) - F_nj(-h x_ni)) / 2h
                   = (1/N) sum_n sum_{m odd} c_m[n, j] h^(m-1) x_ni^m,

because the even powers cancel exactly between +h and -h. For every (i, j) at once
that is one matrix product, [x, x**3, x**5].T @ [c_1, h^2 c_3, h^4 c_5], with the odd
powers stacked along the batch axis: (D_in + 1, 3N) @ (3N, D_out).
Rows with x[n, i] = 0 drop out by themselves, as they do in the loss. Triples
(n, i, j) whose perturbation could reach a Relu kink (or whose series has not
converged) are evaluated directly instead: rows n of the cached pre-activation with
unit j moved by +-h x[n, i], pushed through the downstream layers.
Everything is computed with `xp`, on the device where the model is.
"""

from __future__ import annotations

import numpy as np

from scratchdl.backend import xp
from scratchdl.functions import DELTA, sigmoid, softmax
from scratchdl.layers import Affine, Dropout, Relu, Sigmoid
from scratchdl.numgrad.series import ORDER, loss_series

BLOCK = 4_000_000
"""Most float64 numbers in one jet coefficient; units j are processed in blocks."""

ROWS = 20_000
"""Most rows evaluated directly in one go."""


def affine_gradient(
    x: np.ndarray,
    a: np.ndarray,
    downstream: list,
    outs: list[np.ndarray],
    labels: np.ndarray,
    h: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Central differences of the batch data loss for W (D_in, D_out) and b (D_out,).

    x: the layer's cached input (N, ...); a: its output (N, D_out); downstream and
    outs: the layers after it and their cached outputs; labels: (N,).
    """
    n = x.shape[0]
    X = xp.concatenate([x.reshape(n, -1), xp.ones((n, 1))], axis=1)
    odd = range(1, ORDER + 1, 2)
    powers = xp.concatenate([X**m for m in odd])
    eps_max = h * xp.abs(X).max(axis=1)
    d_out = a.shape[1]
    widest = max([d_out] + [o.shape[1] for o in outs])
    block = max(1, BLOCK // (n * widest))
    G = xp.zeros((X.shape[1], d_out))
    for start in range(0, d_out, block):
        units = xp.arange(start, min(d_out, start + block))
        coeffs, radius = loss_series(downstream, outs, a, units, labels, eps_max)
        G[:, units] = powers.T @ xp.concatenate([h ** (m - 1) * coeffs[m - 1] for m in odd])
        rows, cols = xp.nonzero(radius <= eps_max[:, None])
        if rows.size:
            reach = (h * xp.abs(X[rows]) >= radius[rows, cols, None]) & (X[rows] != 0)
            p, i = xp.nonzero(reach)
            _correct(G, X, a, downstream, labels, h, rows[p], i, units[cols[p]],
                     [c[rows[p], cols[p]] for c in coeffs])
    G /= n
    return G[:-1], G[-1]


def _correct(G, X, a, downstream, labels, h, n, i, j, coeffs) -> None:
    """Replace the series terms of triples (n, i, j) in G by direct differences."""
    for s in range(0, n.size, ROWS):
        sl = slice(s, s + ROWS)
        nn, ii, jj = n[sl], i[sl], j[sl]
        x = X[nn, ii]
        series = sum(coeffs[m - 1][sl] * h ** (m - 1) * x**m for m in range(1, ORDER + 1, 2))
        plus, minus = a[nn], a[nn]
        plus[xp.arange(nn.size), jj] += h * x
        minus[xp.arange(nn.size), jj] -= h * x
        direct = (row_losses(downstream, plus, nn, labels)
                  - row_losses(downstream, minus, nn, labels)) / (2 * h)
        add_at(G, ii * G.shape[1] + jj, direct - series)


def add_at(G, flat, values) -> None:
    """G.flat[flat] += values, repeated indices adding up, in a fixed order.

    `np.add.at`, deterministic on every device (CuPy's adds with atomics, in whatever
    order its threads meet): the values are sorted by index, stably, and each run of
    one index summed by `reduceat` before the one addition into G.
    """
    order = xp.argsort(flat, kind="stable")
    flat, values = flat[order], values[order]
    starts = xp.flatnonzero(xp.concatenate([xp.ones(1, dtype=bool), flat[1:] != flat[:-1]]))
    G.reshape(-1)[flat[starts]] += xp.add.reduceat(values, starts)


def row_losses(downstream: list, v: np.ndarray, rows: np.ndarray, labels: np.ndarray):
    """Loss -log(softmax(.)[t] + DELTA) of rows (R, D) pushed through `downstream`.

    rows: (R,) the batch row each comes from (for its labels and dropout mask). The
    layers' own `forward` is not called, so their caches stay as they were.
    """
    for layer in downstream:
        kind = type(layer)
        if kind is Affine:
            v = v @ layer.params["W"] + layer.params["b"]
        elif kind is Sigmoid:
            v = sigmoid(v)
        elif kind is Relu:
            v = v * ~(v <= 0)
        elif kind is Dropout:
            v = v * layer.mask.reshape(layer.mask.shape[0], -1)[rows]
        else:
            raise TypeError(f"no row-wise evaluation of {kind.__name__}")
    y = softmax(v)
    return -xp.log(y[xp.arange(rows.size), labels[rows]] + DELTA)
