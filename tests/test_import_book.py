"""`scratchdl import-book` then `scratchdl evaluate`: the book's published weights give the
book's accuracy from the command line; `--dtype float16` is the book's half_float_network.py."""

from __future__ import annotations

import hashlib
import pickle
import re

import numpy as np
import pytest
from helpers import arrays_of, header_of, run_cli

from scratchdl.io import read_book_pickle

BOOK = {
    "ch03_sample_weight.pkl": (["--model", "multi-layer", "--activation", "sigmoid"], 0.9352,
                               "MultiLayerNetExtend 784-50-100-10 sigmoid"),
    "ch07_simple_convnet_params.pkl": (["--model", "simple-conv"], 0.9890,
                                       "SimpleConvNet (433,890 parameters)"),
}


@pytest.mark.parametrize("name", list(BOOK))
def test_import_then_evaluate_gives_the_books_accuracy(name, book_weights, mnist, tmp_path,
                                                       capsys):
    flags, accuracy, description = BOOK[name]
    out = tmp_path / "model.npz"
    code, stdout, err = run_cli(["import-book", book_weights / name, *flags, "--out", out],
                                capsys)
    assert code == 0, err
    assert stdout == f"wrote {out}: {description} from {name}\n"
    header = header_of(out)
    assert header["imported_from"] == {
        "file": name, "sha256": hashlib.sha256((book_weights / name).read_bytes()).hexdigest()}
    assert header["dtype"] == "float64"
    book = read_book_pickle(book_weights / name)
    arrays = arrays_of(out)
    assert set(arrays) == set(book)
    for key, value in book.items():
        np.testing.assert_array_equal(arrays[key], value.astype(np.float64))
    code, stdout, err = run_cli(["evaluate", out], capsys)
    assert code == 0, err
    assert stdout == f"test acc {accuracy:.4f} (10000 mnist test images)\n"


def test_deep_convnet_in_float64_and_float16(book_weights, mnist, tmp_path, capsys):
    """The book: 0.9935 in float64, and no loss of accuracy in float16."""
    out = tmp_path / "deep.npz"
    code, _, err = run_cli(["import-book", book_weights / "ch08_deep_convnet_params.pkl",
                            "--model", "deep-conv", "--out", out], capsys)
    assert code == 0, err
    code, stdout, err = run_cli(["evaluate", out, "--dtype", "float16"], capsys)
    assert code == 0, err
    first, second = stdout.splitlines()
    assert first == "test acc 0.9935 (10000 mnist test images, float64)"
    acc16 = float(re.match(r"test acc (\d\.\d{4}) \(float16: weights and images rounded to "
                           r"float16, arithmetic in float64; [+-]\d\.\d\d points\)$", second)[1])
    assert abs(acc16 - 0.9935) <= 0.002


def test_float16_rounds_the_weights_and_the_images(book_weights, mnist, monkeypatch):
    """What the float16 evaluation sees: float16 values, held in float64 arrays."""
    from scratchdl.app.commands.evaluate import round_params_to_float16
    from scratchdl.io import load_book_params
    from scratchdl.models import MultiLayerNet

    model = load_book_params(MultiLayerNet(784, [50, 100], 10, activation="sigmoid"),
                             book_weights / "ch03_sample_weight.pkl")
    before = {k: v.copy() for k, v in model.params.items()}
    round_params_to_float16(model)
    for key, value in model.params.items():
        assert value.dtype == np.float64
        np.testing.assert_array_equal(value, before[key].astype(np.float16).astype(np.float64))
        assert not np.array_equal(value, before[key])


def test_layer_sizes_come_from_the_arrays(tmp_path, capsys):
    rng = np.random.default_rng(0)
    params = {"W1": rng.standard_normal((784, 30)), "b1": np.zeros(30),
              "W2": rng.standard_normal((30, 10)), "b2": np.zeros(10)}
    pkl = tmp_path / "mine.pkl"
    pkl.write_bytes(pickle.dumps(params, protocol=3))
    code, stdout, err = run_cli(["import-book", pkl, "--model", "two-layer", "--activation",
                                 "relu", "--out", tmp_path / "m.npz"], capsys)
    assert code == 0, err
    assert "TwoLayerNet 784-30-10 relu" in stdout
    assert header_of(tmp_path / "m.npz")["config"]["hidden_size"] == 30


def test_default_output_is_the_pickles_name(book_weights, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["import-book", book_weights / "ch03_sample_weight.pkl", "--model",
                            "multi-layer"], capsys)
    assert code == 0, err
    assert (tmp_path / "ch03_sample_weight.npz").is_file()


MISMATCHES = {
    "conv-as-dense": ("ch07_simple_convnet_params.pkl", ["--model", "multi-layer"], 1,
                      "expected W1 with 2 axes"),
    "dense-as-deep-conv": ("ch03_sample_weight.pkl", ["--model", "deep-conv"], 1,
                           "expected W7 with 2 axes"),
    "three-layers-as-two": ("ch03_sample_weight.pkl", ["--model", "two-layer"], 2,
                            "two-layer has one hidden layer"),
    "wrong-hidden": ("ch03_sample_weight.pkl", ["--model", "multi-layer", "--hidden", "50,50"], 1,
                     "b2 has shape (100,), the model needs (50,)"),
    "two-hidden-conv": ("ch08_deep_convnet_params.pkl", ["--model", "deep-conv", "--hidden",
                                                         "50,50"], 2, "one hidden affine layer"),
    "deep-as-simple": ("ch08_deep_convnet_params.pkl", ["--model", "simple-conv"], 1,
                       "expected W2 with 2 axes for this model, found {'W1': (16, 1, 3, 3), "),
}


@pytest.mark.parametrize("case", list(MISMATCHES))
def test_wrong_model_is_one_line_and_writes_nothing(case, book_weights, tmp_path, capsys):
    name, flags, status, words = MISMATCHES[case]
    out = tmp_path / "m.npz"
    code, stdout, err = run_cli(["import-book", book_weights / name, *flags, "--out", out],
                                capsys)
    assert code == status and stdout == ""
    assert len(err.strip().splitlines()) == 1 and words in err, err
    assert list(tmp_path.iterdir()) == []


def test_a_malicious_pickle_is_refused(tmp_path, capsys):
    marker = tmp_path / "PWNED"
    pkl = tmp_path / "evil.pkl"
    pkl.write_bytes(f"cos\nsystem\n(V touch {marker}\ntR.".encode())
    code, _, err = run_cli(["import-book", pkl, "--model", "two-layer", "--out",
                            tmp_path / "m.npz"], capsys)
    assert code == 1 and "refused to import os.system" in err
    assert not marker.exists() and not (tmp_path / "m.npz").exists()
