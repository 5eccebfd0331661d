"""im2col / col2im: the book's layouts, against direct loops, and their transposes."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close, assert_equal, host
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchdl.engines.im2col import col2im_t, im2col_t
from scratchdl.layers.im2col import col2im, conv_output_size, im2col
from scratchdl.runtime.backend import asarray

pytestmark = pytest.mark.xp


def im2col_loop(x, FH, FW, stride, pad):
    """The definition, one output position at a time."""
    N, C, H, W = x.shape
    out_h = (H + 2 * pad - FH) // stride + 1
    out_w = (W + 2 * pad - FW) // stride + 1
    img = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    rows = []
    for n in range(N):
        for y in range(out_h):
            for x_ in range(out_w):
                patch = img[n, :, y * stride : y * stride + FH, x_ * stride : x_ * stride + FW]
                rows.append(patch.reshape(-1))
    return np.array(rows)


def overlap_count(shape, FH, FW, stride, pad):
    """How many filter windows cover each pixel, by a direct loop."""
    N, C, H, W = shape
    out_h = (H + 2 * pad - FH) // stride + 1
    out_w = (W + 2 * pad - FW) // stride + 1
    count = np.zeros((N, C, H + 2 * pad, W + 2 * pad))
    for y in range(out_h):
        for x in range(out_w):
            count[:, :, y * stride : y * stride + FH, x * stride : x * stride + FW] += 1
    return count[:, :, pad : H + pad, pad : W + pad]


@st.composite
def conv_case(draw):
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H, W = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    pad = draw(st.integers(0, 2))
    FH = draw(st.integers(1, H + 2 * pad))
    FW = draw(st.integers(1, W + 2 * pad))
    stride = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    x = np.random.default_rng(seed).standard_normal((N, C, H, W))
    return x, FH, FW, stride, pad


@settings(max_examples=60, deadline=None)
@given(conv_case())
def test_im2col_matches_direct_loop(case):
    x, FH, FW, stride, pad = case
    col = im2col(asarray(x), FH, FW, stride, pad)
    assert_equal(col, im2col_loop(x, FH, FW, stride, pad))
    assert_equal(im2col_t(asarray(x), FH, FW, stride, pad), col.T)


@settings(max_examples=60, deadline=None)
@given(conv_case())
def test_col2im_of_ones_counts_overlaps(case):
    x, FH, FW, stride, pad = case
    col = asarray(np.ones(im2col(asarray(x), FH, FW, stride, pad).shape))
    expected = overlap_count(x.shape, FH, FW, stride, pad)
    assert_equal(col2im(col, x.shape, FH, FW, stride, pad), expected)
    assert_equal(col2im_t(col.T, x.shape, FH, FW, stride, pad), expected)


@settings(max_examples=60, deadline=None)
@given(conv_case())
def test_col2im_is_the_adjoint_of_im2col(case):
    """<im2col(x), c> == <x, col2im(c)>: what makes col2im right for backprop."""
    x, FH, FW, stride, pad = case
    x = asarray(x)
    c = asarray(np.random.default_rng(0).standard_normal(im2col(x, FH, FW, stride, pad).shape))
    lhs = float((im2col(x, FH, FW, stride, pad) * c).sum())
    dx = col2im(c, x.shape, FH, FW, stride, pad)
    assert_close(lhs, float((x * dx).sum()), rtol=1e-10, atol=1e-10)
    assert_close(col2im_t(c.T.copy(), x.shape, FH, FW, stride, pad), dx, rtol=1e-12, atol=1e-12)


def test_book_shapes():
    x = asarray(np.zeros((10, 3, 7, 7)))
    assert im2col(x, 5, 5).shape == (90, 75)
    assert im2col(x, 5, 5, stride=1, pad=0).shape == (90, 75)
    assert im2col(x, 3, 3, stride=2, pad=1).shape == (10 * 4 * 4, 27)
    assert col2im(im2col(x, 3, 3, 2, 1), x.shape, 3, 3, 2, 1).shape == x.shape


def test_inputs_are_not_modified_and_layouts_do_not_matter():
    rng = np.random.default_rng(1)
    x = asarray(rng.standard_normal((3, 2, 6, 5)), np.float32)
    x_cm = x.transpose(1, 0, 2, 3).copy().transpose(1, 0, 2, 3)
    before = host(x)
    col = im2col(x, 3, 2, 1, 1)
    assert_equal(im2col(x_cm, 3, 2, 1, 1), col)
    assert_equal(im2col_t(x_cm, 3, 2, 1, 1), col.T)
    assert_equal(x, before)
    assert col.dtype == np.float32
    assert im2col_t(x, 3, 2, 1, 1, dtype=np.float64).dtype == np.float64


def test_filter_larger_than_input_is_an_error():
    with pytest.raises(ValueError, match="does not fit"):
        im2col(asarray(np.zeros((1, 1, 3, 3))), 5, 5)
    with pytest.raises(ValueError, match="stride"):
        im2col(asarray(np.zeros((1, 1, 3, 3))), 2, 2, stride=0)
    assert conv_output_size(28, 5) == 24
    assert conv_output_size(28, 3, 1, 1) == 28
    assert conv_output_size(14, 3, 1, 2) == 16
