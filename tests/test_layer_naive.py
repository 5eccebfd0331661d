"""Chapter 5.4's naive layers on the book's shopping examples (buy_apple.py,
buy_apple_orange.py), forward and backward, against the book's printed numbers."""

import pytest

from scratchdl.layers import AddLayer, MulLayer


def test_buy_apple():
    apple, apple_num, tax = 100, 2, 1.1
    mul_apple_layer, mul_tax_layer = MulLayer(), MulLayer()
    apple_price = mul_apple_layer.forward(apple, apple_num)
    price = mul_tax_layer.forward(apple_price, tax)
    dprice = 1
    dapple_price, dtax = mul_tax_layer.backward(dprice)
    dapple, dapple_num = mul_apple_layer.backward(dapple_price)
    assert price == pytest.approx(220)
    assert dapple == pytest.approx(2.2)
    assert dapple_num == pytest.approx(110)
    assert dtax == pytest.approx(200)


def test_buy_apple_orange():
    apple, apple_num, orange, orange_num, tax = 100, 2, 150, 3, 1.1
    mul_apple_layer, mul_orange_layer = MulLayer(), MulLayer()
    add_apple_orange_layer, mul_tax_layer = AddLayer(), MulLayer()
    apple_price = mul_apple_layer.forward(apple, apple_num)
    orange_price = mul_orange_layer.forward(orange, orange_num)
    all_price = add_apple_orange_layer.forward(apple_price, orange_price)
    price = mul_tax_layer.forward(all_price, tax)
    dprice = 1
    dall_price, dtax = mul_tax_layer.backward(dprice)
    dapple_price, dorange_price = add_apple_orange_layer.backward(dall_price)
    dorange, dorange_num = mul_orange_layer.backward(dorange_price)
    dapple, dapple_num = mul_apple_layer.backward(dapple_price)
    assert price == pytest.approx(715)
    assert dapple_num == pytest.approx(110)
    assert dapple == pytest.approx(2.2)
    assert dorange == pytest.approx(3.3)
    assert dorange_num == pytest.approx(165)
    assert dtax == pytest.approx(650)


def test_add_layer_passes_dout_to_both_inputs():
    assert AddLayer().backward(2.5) == (2.5, 2.5)
