"""`scratchdl show functions|gradient|applied-filters`: the book's figures of chapters 3, 4
and 7, drawn from the package's own functions, written as PNGs."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import run_cli
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image
from test_plots import assert_png

from scratchdl.app.commands import show
from scratchdl.app.plots import plot_functions, plot_gradients
from scratchdl.io import load_book_params, save_model
from scratchdl.models import DeepConvNet, SimpleConvNet


@pytest.mark.parametrize("figure", ["functions", "gradient"])
def test_show_writes_the_figure(figure, tmp_path, capsys, monkeypatch):
    out = tmp_path / f"{figure}.png"
    code, stdout, err = run_cli(["show", figure, "--out", out], capsys)
    assert code == 0, err
    assert stdout.startswith(f"wrote {out} (")
    assert_png(out, min_size=(800, 600))
    monkeypatch.chdir(tmp_path)
    out.unlink()
    assert run_cli(["show", figure], capsys)[0] == 0
    assert_png(out)


def test_functions_figure_draws_the_books_curves():
    fig = plot_functions()
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["step function", "sigmoid", "step function and sigmoid", "ReLU"]
    step, sig, both, relu = fig.axes
    x, y = sig.lines[0].get_data()
    np.testing.assert_allclose(x, np.arange(-5.0, 5.0, 0.1))
    np.testing.assert_allclose(y, 1 / (1 + np.exp(-x)), rtol=1e-12)
    np.testing.assert_array_equal(step.lines[0].get_ydata(), (x > 0).astype(int))
    np.testing.assert_array_equal(relu.lines[0].get_ydata(), np.maximum(0, x))
    assert both.lines[1].get_linestyle() == "--"  # the book's 'k--' step against sigmoid


def test_gradient_figure_tangents_field_and_path():
    fig = plot_gradients()
    ax5, ax10, field, path = fig.axes
    for ax, x0, slope in [(ax5, 5.0, 0.2), (ax10, 10.0, 0.3)]:
        x, y = ax.lines[1].get_data()
        assert np.polyfit(x, y, 1)[0] == pytest.approx(slope, abs=1e-8)
        assert np.interp(x0, x, y) == pytest.approx(0.01 * x0**2 + 0.1 * x0, abs=1e-8)
    arrows = field.collections[0]
    np.testing.assert_allclose(arrows.U, -2 * arrows.get_offsets()[:, 0], atol=1e-6)
    xs, ys = path.lines[-1].get_data()
    np.testing.assert_allclose(np.stack([xs, ys], axis=1),
                               [[-3 * 0.8**k, 4 * 0.8**k] for k in range(20)], rtol=1e-6)


def book_convnet(book_weights, tmp_path):
    path = tmp_path / "simple.npz"
    model = load_book_params(SimpleConvNet(), book_weights / "ch07_simple_convnet_params.pkl")
    save_model(model, path)
    return model, path


def captured_figure(monkeypatch) -> dict:
    """What `show applied-filters` hands to the plot function."""
    seen = {}

    def capture(image, filters, outputs, path, title=""):
        seen.update(image=image, filters=filters, outputs=outputs, title=title)
        Image.new("L", (400, 300)).save(path)

    monkeypatch.setattr("scratchdl.app.plots.plot_filter_outputs", capture)
    return seen


def test_applied_filters_are_the_filters_correlated_with_the_digit(book_weights, mnist_nchw,
                                                                   tmp_path, capsys, monkeypatch):
    """Each output is the book's convolution (no bias) of test image 0 with one filter,
    checked against a sliding-window sum written independently."""
    model, path = book_convnet(book_weights, tmp_path)
    seen = captured_figure(monkeypatch)
    code, stdout, err = run_cli(["show", "applied-filters", path, "--out", tmp_path / "a.png"],
                                capsys)
    assert code == 0, err
    assert "16 filters applied to test image 0 (a 7)" in stdout
    (_, _), (x_test, _) = mnist_nchw
    digit = x_test[0, 0].astype(np.float64)
    W = model.params["W1"][:16, 0]
    expected = np.einsum("ijkl,fkl->fij", sliding_window_view(digit, (5, 5)), W)
    np.testing.assert_allclose(seen["outputs"], expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(seen["image"], digit)
    assert seen["outputs"].shape == (16, 24, 24)


def test_applied_filters_figure_of_the_books_deep_convnet(book_weights, mnist, tmp_path, capsys):
    path = tmp_path / "deep.npz"
    save_model(load_book_params(DeepConvNet(), book_weights / "ch08_deep_convnet_params.pkl"),
               path)
    out = tmp_path / "applied.png"
    code, stdout, err = run_cli(["show", "applied-filters", path, "--index", "3", "--max", "8",
                                 "--out", out], capsys)
    assert code == 0, err
    assert "8 filters applied to test image 3 (a 0)" in stdout
    assert_png(out, min_size=(600, 200))


def test_applied_filters_on_an_image_file(tmp_path, capsys, monkeypatch):
    """A large dark-on-light image is scaled down to 256 pixels and inverted (ink high)."""
    path = tmp_path / "conv.npz"
    save_model(SimpleConvNet(rng=0), path)
    picture = np.full((400, 600), 255, np.uint8)
    picture[100:300, 200:220] = 0
    Image.fromarray(picture).save(tmp_path / "bar.png")
    seen = captured_figure(monkeypatch)
    code, _, err = run_cli(["show", "applied-filters", path, tmp_path / "bar.png", "--max", "3",
                            "--out", tmp_path / "a.png"], capsys)
    assert code == 0, err
    image = seen["image"]
    assert image.shape == (171, 256) and image.min() >= 0 and image.max() <= 1
    assert image[0, 0] == pytest.approx(0) and image[85, 90] == pytest.approx(1, abs=0.02)
    assert seen["outputs"].shape == (3, 167, 252)


def test_max_side_is_the_documented_one():
    assert show.MAX_SIDE == 256
