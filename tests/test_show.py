"""`scratchdl show`: filter grids and misclassified digits written as PNGs."""

import numpy as np
from PIL import Image

from scratchdl.app.cli import main
from scratchdl.io import save_model
from scratchdl.models import SimpleConvNet, TwoLayerNet


def test_show_filters_of_conv_and_dense_models(tmp_path, capsys):
    for name, model in [("conv", SimpleConvNet(rng=0)), ("dense", TwoLayerNet(784, 12, 10, rng=0))]:
        path, out = tmp_path / f"{name}.npz", tmp_path / f"{name}.png"
        save_model(model, path)
        assert main(["show", "filters", str(path), "--out", str(out)]) == 0
        assert Image.open(out).format == "PNG"
    printed = capsys.readouterr().out
    assert "(30 filters)" in printed and "(12 filters)" in printed


def test_show_mistakes_counts_the_misclassified(tmp_path, capsys, mnist):
    model = TwoLayerNet(784, 5, 10, rng=0)
    path, out = tmp_path / "m.npz", tmp_path / "mistakes.png"
    save_model(model, path)
    assert main(["show", "mistakes", str(path), "--out", str(out), "--max", "12"]) == 0
    _, (x_test, t_test) = mnist
    wrong = int((model.predict(x_test.astype(np.float64)).argmax(axis=1) != t_test).sum())
    assert capsys.readouterr().out.startswith(f"{wrong} of 10000 test images misclassified")
    assert Image.open(out).size[0] > 100


def test_show_rejects_a_bad_file(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_text("not a model")
    assert main(["show", "filters", str(bad)]) == 1
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
