"""The fast path: central differences for all of an Affine layer's W and b at once.

With x the layer's input (N, D_in), perturbing W[i, j] by +-h changes row n's loss
by F_nj(+-h x[n, i]) (see `series`), so

    (L+ - L-) / 2h = (1/N) sum_n (F_nj(h x_ni) - F_nj(-h x_ni)) / 2h
                   = (1/N) sum_n sum_{m odd} c_m[n, j] h^(m-1) x_ni^m,

because the even powers cancel exactly between +h and -h. For every (i, j) at once
that is one matrix product, [x, x^3, x^5].T @ [c_1, h^2 c_3, h^4 c_5], with the odd
powers stacked along the batch axis: (D_in, 3N) @ (3N, D_out); the bias, x = 1,
is the column sum of the right factor. Rows with x[n, i] = 0 drop out by
themselves, as they do in the loss, and inputs that are 0 in every row are left out
of the product (their gradient is exactly 0). Triples (n, i, j) whose perturbation
could reach a Relu kink (or whose series has not converged) are evaluated directly
instead: unit j of row n moved by +-h x[n, i], pushed through the downstream layers.
Everything is computed with `xp`, on the device where the model is.
"""

from __future__ import annotations

import numpy as np

from scratchdl.engines import activations
from scratchdl.engines.numgrad.series import ORDER, loss_series
from scratchdl.functions import DELTA, sigmoid, softmax
from scratchdl.layers import Affine, Dropout, Relu, Sigmoid
from scratchdl.runtime.backend import asarray, xp

BLOCK = 250_000
"""Most float64 numbers in one jet coefficient (N x J x widest layer after the next
Affine): units j are processed in blocks that keep the jets in cache."""

ROWS = 20_000
"""Most rows evaluated directly in one go."""


ODD = np.arange(1, ORDER + 1, 2)
"""The powers of eps that survive in F(eps) - F(-eps): 1, 3, 5."""


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
    x = x.reshape(n, -1)
    used = xp.flatnonzero(x.any(axis=0))
    powers = odd_powers(x[:, used])
    eps_max = h * xp.maximum(xp.abs(x).max(axis=1), 1.0)
    scale = asarray(h ** (ODD - 1.0)).reshape(-1, 1, 1)
    d_out = a.shape[1]
    block = max(1, BLOCK // (n * _full_width(downstream, outs, d_out)))
    G = xp.empty((used.size + 1, d_out))
    X = None
    for start in range(0, d_out, block):
        units = xp.arange(start, min(d_out, start + block))
        coeffs, radius = loss_series(downstream, outs, a, units, labels, eps_max)
        odd = (coeffs[::2] * scale).reshape(-1, units.size)
        G[:-1, start : start + units.size] = powers.reshape(odd.shape[0], used.size).T @ odd
        G[-1, start : start + units.size] = odd.sum(axis=0)
        rows, cols = xp.nonzero(radius <= eps_max[:, None])
        if rows.size:
            if X is None:
                X = xp.concatenate([powers[0], xp.ones((n, 1))], axis=1)
            reach = (h * xp.abs(X[rows]) >= radius[rows, cols, None]) & (X[rows] != 0)
            p, i = xp.nonzero(reach)
            _correct(G, X, a, downstream, outs, labels, h, rows[p], i, units[cols[p]],
                     coeffs[:, rows[p], cols[p]])
    G /= n
    gW = xp.zeros((x.shape[1], d_out))
    gW[used] = G[:-1]
    return gW, G[-1]


def odd_powers(x: np.ndarray) -> np.ndarray:
    """x^1, x^3, x^5 stacked (3, ...), by multiplications with x^2."""
    out = xp.empty((ODD.size,) + x.shape)
    out[0] = x
    x2 = x * x
    for k in range(1, ODD.size):
        xp.multiply(out[k - 1], x2, out=out[k])
    return out


def _full_width(downstream: list, outs: list, d_out: int) -> int:
    """Widest layer seen in the 'full' layout (from the next Affine on; d_out if none)."""
    kinds = [type(layer) for layer in downstream]
    if Affine not in kinds:
        return d_out
    return max(o.shape[1] for o in outs[kinds.index(Affine):])


def _correct(G, X, a, downstream, outs, labels, h, n, i, j, coeffs) -> None:
    """Replace the series terms of triples (n, i, j) in G by direct differences.

    coeffs: (M, R) the series coefficients of the R triples.
    """
    scale = asarray(h ** (ODD - 1.0)).reshape(-1, 1)
    for s in range(0, n.size, ROWS):
        sl = slice(s, s + ROWS)
        nn, ii, jj = n[sl], i[sl], j[sl]
        x = X[nn, ii]
        series = (coeffs[::2, sl] * scale * odd_powers(x)).sum(axis=0)
        direct = (unit_losses(downstream, outs, a, nn, jj, h * x, labels)
                  - unit_losses(downstream, outs, a, nn, jj, -h * x, labels)) / (2 * h)
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


def unit_losses(downstream: list, outs: list, a, rows, units, eps, labels) -> np.ndarray:
    """Losses (R,) of rows `rows` with unit `units` of a moved by eps, each (R,).

    Up to the next Affine only that unit changes, so it alone is carried; the
    Affine's output is then its cached row plus the unit's change times its row of W.
    """
    base = a[rows, units]
    u = base + eps
    for k, layer in enumerate(downstream):
        if type(layer) is Affine:
            v = outs[k][rows] + (u - base)[:, None] * layer.params["W"][units]
            return row_losses(downstream[k + 1:], v, rows, labels)
        u, base = _row_local(layer, u, (rows, units)), outs[k][rows, units]
    v = (outs[-1] if outs else a)[rows]
    v[xp.arange(rows.size), units] = u
    return row_losses([], v, rows, labels)


def row_losses(downstream: list, v: np.ndarray, rows: np.ndarray, labels: np.ndarray):
    """Loss -log(softmax(.)[t] + DELTA) of rows (R, D) pushed through `downstream`.

    rows: (R,) the batch row each comes from (for its labels and dropout mask). The
    layers' own `forward` is not called, so their caches stay as they were.
    """
    for layer in downstream:
        if type(layer) is Affine:
            v = v @ layer.params["W"] + layer.params["b"]
        else:
            v = _row_local(layer, v, rows)
    y = softmax(v)
    return -xp.log(y[xp.arange(rows.size), labels[rows]] + DELTA)


def _row_local(layer, v: np.ndarray, index) -> np.ndarray:
    """Sigmoid, Relu or (held) Dropout on v; index picks v's entries of the dropout mask."""
    kind = type(layer)
    if kind is Sigmoid:
        return sigmoid(v)
    if kind is activations.FastSigmoid:
        return activations.sigmoid(v)
    if kind is Relu:
        return v * ~(v <= 0)
    if kind is Dropout:
        return v * layer.mask.reshape(layer.mask.shape[0], -1)[index]
    raise TypeError(f"no row-wise evaluation of {kind.__name__}")
