"""Convolution and Pooling: backward against numerical gradients, fast path against the book's."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close, assert_equal, host

from scratchdl.engines.convolution import ROWS_MIN_K, FastConvolution, batch_chunks
from scratchdl.engines.pooling import FastPooling
from scratchdl.gradient import numerical_gradient
from scratchdl.layers import Convolution, Pooling
from scratchdl.runtime.backend import asarray, on_gpu

pytestmark = pytest.mark.xp

CONV_CASES = [  # (N, C, H, W), (FN, FH, FW), stride, pad
    ((2, 3, 5, 5), (4, 3, 3), 1, 0),
    ((2, 2, 6, 5), (3, 3, 3), 1, 1),
    ((2, 2, 7, 7), (3, 3, 3), 2, 1),
    ((1, 3, 6, 6), (2, 2, 3), 2, 0),
    ((2, 1, 5, 6), (2, 3, 2), 3, 2),
    ((2, 2, 5, 5), (2, 1, 1), 1, 0),
    ((2, 4, 6, 5), (3, 3, 3), 1, 1),
    ((2, 3, 5, 6), (2, 3, 3), 1, 2),
    ((2, 3, 6, 6), (3, 2, 3), 1, 1),
]
POOL_CASES = [  # (N, C, H, W), (pool_h, pool_w), stride, pad
    ((2, 3, 6, 6), (2, 2), 2, 0),
    ((2, 2, 7, 5), (2, 2), 2, 0),
    ((2, 2, 5, 5), (3, 3), 1, 1),
    ((1, 2, 6, 7), (3, 2), 2, 1),
    ((2, 2, 4, 4), (2, 2), 1, 0),
    ((1, 1, 7, 7), (2, 3), 3, 2),
]


def check_backward(layer, x, rtol=1e-6):
    """Backward's dx and grads against central differences of sum(forward(x) * dout)."""
    rng = np.random.default_rng(7)
    dout = asarray(rng.standard_normal(layer.forward(x).shape))

    def f(_):
        return float((layer.forward(x) * dout).sum())

    expected = {name: numerical_gradient(f, p) for name, p in layer.params.items()}
    expected["x"] = numerical_gradient(f, x)
    layer.forward(x)
    got = {"x": layer.backward(dout), **layer.grads}
    for name, value in expected.items():
        assert_close(got[name], value, rtol=rtol, atol=1e-7, err_msg=name)


def make_conv(case, fast, dtype=np.float64, seed=0, **engine):
    """A FastConvolution (with `engine`'s tuning) or the book's Convolution, and an input,
    on the active device."""
    shape, (FN, FH, FW), stride, pad = case
    rng = np.random.default_rng(seed)
    W = asarray(rng.standard_normal((FN, shape[1], FH, FW)), dtype)
    b = asarray(rng.standard_normal(FN), dtype)
    x = asarray(rng.standard_normal(shape), dtype)
    if fast:
        return FastConvolution(W, b, stride, pad, **engine), x
    return Convolution(W, b, stride, pad), x


def make_pool(ph, pw, stride, pad, fast):
    return (FastPooling if fast else Pooling)(ph, pw, stride, pad)


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "book"])
@pytest.mark.parametrize("case", CONV_CASES)
def test_convolution_backward_matches_numerical_gradient(case, fast, columns):
    layer, x = make_conv(case, fast, **({"rows_min_k": columns} if fast else {}))
    check_backward(layer, x)


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "book"])
@pytest.mark.parametrize("case", POOL_CASES)
def test_pooling_backward_matches_numerical_gradient(case, fast):
    shape, (ph, pw), stride, pad = case
    x = asarray(np.random.default_rng(3).standard_normal(shape))
    check_backward(make_pool(ph, pw, stride, pad, fast), x)


def test_whole_row_columns_serve_stride_1_with_enough_filter_elements():
    for case, rows in [(((1, 16, 6, 6), (2, 3, 3), 1, 1), True),
                       (((1, 1, 6, 6), (2, 5, 5), 1, 0), False),
                       (((1, 16, 6, 6), (2, 3, 3), 2, 1), False)]:
        layer, x = make_conv(case, fast=True)
        layer.forward(x)
        assert layer.used_rows is rows


def test_convolution_forward_is_a_correlation():
    """out[n, f, y, x] = sum_c,i,j W[f, c, i, j] * x_pad[n, c, y*s + i, x*s + j] + b[f]."""
    layer, x = make_conv(((2, 2, 7, 6), (3, 3, 2), 2, 1), fast=True)
    W, b = host(layer.params["W"]), host(layer.params["b"])
    out = host(layer.forward(x))
    x_pad = np.pad(host(x), ((0, 0), (0, 0), (1, 1), (1, 1)))
    expected = np.zeros(out.shape)
    for y in range(out.shape[2]):
        for x_ in range(out.shape[3]):
            patch = x_pad[:, :, 2 * y : 2 * y + 3, 2 * x_ : 2 * x_ + 2]
            expected[:, :, y, x_] = np.einsum("ncij,fcij->nf", patch, W) + b
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CONV_CASES)
def test_convolution_fast_path_equals_book_path(case, dtype, columns):
    fast, x = make_conv(case, True, dtype, rows_min_k=columns)
    book, _ = make_conv(case, False, dtype)
    out = fast.forward(x)
    assert_close(out, book.forward(x), rtol=1e-5, atol=1e-5)
    assert out.dtype == dtype
    dout = asarray(np.random.default_rng(1).standard_normal(out.shape), dtype)
    assert_close(fast.backward(dout), book.backward(dout), rtol=1e-5, atol=1e-5)
    for name in ("W", "b"):
        assert_close(fast.grads[name], book.grads[name], rtol=1e-4, atol=1e-4)
        assert fast.grads[name].dtype == dtype


@pytest.mark.parametrize("case", CONV_CASES)
def test_convolution_in_chunks_of_one_image(case, columns):
    """The fast path works through the batch in chunks; one image each must not matter.
    On a device the batch goes at once, in one chunk."""
    assert len(batch_chunks(4, 100, chunk_bytes=1)) == (1 if on_gpu() else 4)
    engine = {"chunk_bytes": 1, "rows_min_k": columns}
    check_backward(*make_conv(case, True, **engine))
    layer, x = make_conv(case, True, **engine)
    book, _ = make_conv(case, False)
    dout = asarray(np.random.default_rng(2).standard_normal(book.forward(x).shape))
    assert_close(layer.forward(x), book.forward(x), rtol=1e-12, atol=1e-12)
    assert_close(layer.backward(dout), book.backward(dout), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("data", ["normal", "ties"])
def test_pooling_fast_path_equals_book_path_including_ties(case, data):
    """Ties (ReLU zeros, repeated values) send the gradient to the first maximum."""
    shape, (ph, pw), stride, pad = case
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape)
    if data == "ties":
        x = np.maximum(np.round(x), 0)
    x = asarray(x)
    fast, book = FastPooling(ph, pw, stride, pad), Pooling(ph, pw, stride, pad)
    out = fast.forward(x)
    assert_equal(out, book.forward(x))
    dout = asarray(rng.standard_normal(out.shape))
    assert_equal(fast.backward(dout), book.backward(dout))


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "book"])
def test_pooling_2x2_picks_the_max_and_routes_the_gradient_to_it(fast):
    x = asarray(np.array([[[[1.0, 5, 2, 0], [3, 4, 2, 2], [0, 0, -1, -2], [0, 0, -3, -1]]]]))
    pool = make_pool(2, 2, 2, 0, fast)
    assert_equal(pool.forward(x), [[[[5, 2], [0, -1]]]])
    dx = pool.backward(asarray(np.array([[[[10.0, 20], [30, 40]]]])))
    assert_equal(dx, [[[[0, 10, 20, 0], [0, 0, 0, 0], [30, 0, 40, 0], [0, 0, 0, 0]]]])


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "book"])
def test_layers_leave_input_and_dout_alone(fast):
    conv, x = make_conv(CONV_CASES[2], fast)
    pool = make_pool(2, 2, 2, 0, fast)
    x_before = x.copy()
    h = conv.forward(x)
    out = pool.forward(h)
    dout = asarray(np.ones(out.shape))
    conv.backward(pool.backward(dout))
    assert_equal(x, x_before)
    assert_equal(dout, np.ones(out.shape))


@pytest.mark.parametrize("case", [CONV_CASES[1], CONV_CASES[6]], ids=["FN>C", "FN<=C"])
@pytest.mark.parametrize("fast", [True, False], ids=["fast", "book"])
def test_first_layer_can_skip_dx(case, fast, columns):
    conv, x = make_conv(case, fast, **({"rows_min_k": columns} if fast else {}))
    reference, _ = make_conv(case, fast)
    conv.input_grad = False
    dout = asarray(np.ones(conv.forward(x).shape))
    reference.forward(x)
    reference.backward(dout)
    assert conv.backward(dout) is None
    assert_close(conv.grads["W"], reference.grads["W"])
    assert_close(conv.grads["b"], reference.grads["b"])


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "book"])
def test_channel_mismatch_is_a_clear_error(fast):
    conv, _ = make_conv(CONV_CASES[0], fast)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        conv.forward(asarray(np.zeros((1, 2, 5, 5))))


W4, B2 = np.zeros((2, 1, 3, 3)), np.zeros(2)


@pytest.mark.parametrize("cls", [Convolution, FastConvolution])
@pytest.mark.parametrize("args, message", [
    ((W4, B2, 0), "Convolution needs stride to be an integer >= 1, got stride=0"),
    ((W4, B2, 1, -1), "Convolution needs pad to be an integer >= 0, got pad=-1"),
    ((W4, B2, 1.5), "Convolution needs stride to be an integer >= 1, got stride=1.5"),
    ((np.zeros((2, 3, 3)), B2), r"needs filters W \(FN, C, FH, FW\) and biases b \(FN,\), got "
                                r"W \(2, 3, 3\) and b \(2,\)"),
    ((W4, np.zeros(3)), r"got W \(2, 1, 3, 3\) and b \(3,\)"),
])
def test_convolution_refuses_bad_arguments_at_construction(cls, args, message):
    with pytest.raises(ValueError, match=message):
        cls(*args)


@pytest.mark.parametrize("cls", [Pooling, FastPooling])
@pytest.mark.parametrize("args, message", [
    ((2, 2, 0), "Pooling needs stride to be an integer >= 1, got stride=0"),
    ((0, 2), "Pooling needs pool_h to be an integer >= 1, got pool_h=0"),
    ((2, -1), "Pooling needs pool_w to be an integer >= 1, got pool_w=-1"),
    ((2, 2, 2, -1), "Pooling needs pad to be an integer >= 0, got pad=-1"),
    ((2, "2"), "Pooling needs pool_w to be an integer >= 1, got pool_w='2'"),
])
def test_pooling_refuses_bad_arguments_at_construction(cls, args, message):
    with pytest.raises(ValueError, match=message):
        cls(*args)


def test_the_default_engine_tuning_is_the_modules():
    layer, _ = make_conv(CONV_CASES[0], True)
    assert layer.rows_min_k == ROWS_MIN_K and layer.splits_batch
    assert not make_conv(CONV_CASES[0], False)[0].splits_batch
