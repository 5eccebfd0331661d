"""Every subcommand's bad inputs: the exit status, one line on stderr, nothing written.

Exit status 2 for bad arguments (argparse errors and `UsageError`), 1 for bad or
missing files; never a traceback; no file appears at the output paths given
(`--save`, `--checkpoint-dir`, `--plot`, `--out`). Most cases run `cli.main`
in-process; a few run the real entry point `python -m scratchdl`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scratchdl.app import cli
from scratchdl.io import save_model
from scratchdl.models import SimpleConvNet, TwoLayerNet

OUTPUTS = ["--save", "{out}/model.npz", "--checkpoint-dir", "{out}/ckpt", "--plot",
           "{out}/curves.png"]
"""Output flags added to every `train` case: none of them may be written."""

CASES = {
    # train: argparse's checks
    "train-unknown-model": (["train", "--model", "resnet"], 2, "invalid choice: 'resnet'"),
    "train-lr-0": (["train", "--lr", "0"], 2, "--lr: must be a positive number"),
    "train-lr-negative": (["train", "--lr", "-1"], 2, "--lr: must be a positive number"),
    "train-lr-nan": (["train", "--lr", "nan"], 2, "--lr: must be a positive number"),
    "train-lr-text": (["train", "--lr", "fast"], 2, "--lr: expected a positive number"),
    "train-batch-size-0": (["train", "--batch-size", "0"], 2, "must be a positive integer"),
    "train-iters-0": (["train", "--iters", "0"], 2, "--iters: must be a positive integer"),
    "train-epochs-negative": (["train", "--epochs", "-1"], 2, "--epochs: must be a positive"),
    "train-iters-and-epochs": (["train", "--iters", "5", "--epochs", "1"], 2,
                               "give exactly one of --epochs or --iters"),
    "train-dtype-float16": (["train", "--dtype", "float16"], 2, "invalid choice: 'float16'"),
    "train-activation-tanh": (["train", "--activation", "tanh"], 2, "invalid choice: 'tanh'"),
    "train-unknown-optimizer": (["train", "--optimizer", "lbfgs"], 2, "invalid choice"),
    "train-dropout-1.5": (["train", "--model", "multi-layer", "--dropout", "1.5"], 2,
                          "--dropout: must be in [0, 1)"),
    "train-seed-text": (["train", "--seed", "x"], 2, "--seed: expected an integer >= 0"),
    "train-seed-negative": (["train", "--seed", "-1"], 2, "--seed: must be an integer >= 0"),
    "train-unknown-flag": (["train", "--learning-rate", "0.1"], 2, "unrecognized arguments"),
    # train: the recipe's checks
    "train-batch-size-70000": (["train", "--batch-size", "70000", "--iters", "1"], 2,
                               "batch size must be between 1 and the training set size 60000"),
    "train-hidden-letters": (["train", "--hidden", "a,b", "--iters", "1"], 2,
                             "--hidden-size/--hidden: must be sizes like 100,100; got 'a,b'"),
    "train-hidden-0": (["train", "--hidden", "0", "--iters", "1"], 2,
                       "--hidden-size/--hidden: sizes must be positive"),
    "train-hidden-too-large": (["train", "--hidden", "100000000", "--iters", "1"], 1,
                               "not enough memory (Unable to allocate"),
    "train-hidden-absurd": (["train", "--hidden", "10" * 10, "--iters", "1"], 2,
                            "--hidden-size/--hidden: sizes must be at most 1,000,000,000"),
    "train-two-hidden-two-layer": (["train", "--hidden", "50,50", "--iters", "1"], 2,
                                   "two-layer takes one hidden size"),
    "train-weight-init-std-negative": (["train", "--weight-init-std", "-1", "--iters", "1"], 2,
                                       "--weight-init-std: must be positive"),
    "train-weight-init-std-word": (["train", "--weight-init-std", "big", "--iters", "1"], 2,
                                   "--weight-init-std: must be a number or one of relu, he"),
    "train-batchnorm-two-layer": (["train", "--batchnorm"], 2,
                                  "--batchnorm, --dropout and --weight-decay need --model "
                                  "multi-layer"),
    "train-hidden-conv": (["train", "--model", "simple-conv", "--hidden", "10"], 2,
                          "--hidden applies to two-layer and multi-layer"),
    "train-unknown-dataset": (["train", "--dataset", "cifar", "--iters", "1"], 2,
                              "unknown data set 'cifar'"),
    "train-resume-no-checkpoint": (["train", "--resume", "{empty}"], 2,
                                   "no checkpoint.npz there"),
    "train-resume-text-checkpoint": (["train", "--resume", "{textckpt}"], 1,
                                     "is not a scratchdl checkpoint (it is a text file)"),
    "train-data-dir-empty-offline": (["train", "--data-dir", "{empty}", "--iters", "1"], 1,
                                     "could not download"),
    # evaluate and predict: bad files
    "evaluate-no-argument": (["evaluate"], 2, "the following arguments are required"),
    "evaluate-missing-file": (["evaluate", "{tmp}/nope.npz"], 1, "nope.npz: no such file"),
    "evaluate-text-file": (["evaluate", "{text}"], 1,
                           "is not a scratchdl model file (it is a text file)"),
    "evaluate-folder": (["evaluate", "{empty}"], 1, "a folder, not a file"),
    "evaluate-image-as-model": (["evaluate", "{image}"], 1, "is not a scratchdl model file"),
    "evaluate-unknown-dataset": (["evaluate", "{model}", "--dataset", "cifar"], 2,
                                 "unknown data set 'cifar'"),
    "predict-no-image": (["predict", "{model}"], 2, "the following arguments are required"),
    "predict-missing-model": (["predict", "{tmp}/nope.npz", "{image}"], 1, "no such file"),
    "predict-text-model": (["predict", "{text}", "{image}"], 1, "is not a scratchdl model file"),
    "predict-swapped-arguments": (["predict", "{text}", "{model}"], 1,
                                  "is not a scratchdl model file (it is a text file); a model "
                                  "file is the .npz that `scratchdl train --save FILE.npz`"),
    "predict-missing-image": (["predict", "{model}", "{tmp}/nope.png"], 1,
                              "nope.png: no such file"),
    "predict-text-image": (["predict", "{model}", "{text}"], 1, "is not an image PIL can read"),
    "predict-folder-image": (["predict", "{model}", "{empty}"], 1, "a folder, not an image"),
    "predict-model-as-image": (["predict", "{model}", "{model}"], 1, "is not an image"),
    # data, and the command itself
    "data-no-action": (["data"], 2, "the following arguments are required: ACTION"),
    "data-unknown-dataset": (["data", "info", "--dataset", "cifar"], 2, "unknown data set"),
    "no-command": ([], 2, "the following arguments are required: COMMAND"),
    "unknown-command": (["frobnicate"], 2, "invalid choice: 'frobnicate'"),
    # experiment and gradcheck
    "experiment-unknown": (["experiment", "nope"], 2, "invalid choice: 'nope'"),
    "experiment-out-not-png": (["experiment", "weight-init", "--out", "{out}/x.txt"], 2,
                               "--out must name a .png file"),
    "experiment-out-folder": (["experiment", "weight-init", "--out", "{png_dir}"], 2,
                              "is a folder"),
    "gradcheck-unknown-model": (["gradcheck", "--model", "nope"], 2, "invalid choice: 'nope'"),
    "gradcheck-hidden-letters": (["gradcheck", "--hidden", "a"], 2, "--hidden: must be sizes"),
    "gradcheck-batchnorm-two-layer": (["gradcheck", "--batchnorm"], 2,
                                      "need --model multi-layer"),
    "gradcheck-batch-size-0": (["gradcheck", "--batch-size", "0"], 2,
                               "must be a positive integer"),
    "gradcheck-batch-size-70000": (["gradcheck", "--batch-size", "70000"], 2,
                                   "--batch-size must be at most 60000"),
    "gradcheck-tolerance-negative": (["gradcheck", "--tolerance", "-1"], 2,
                                     "--tolerance: must be a number >= 0"),
    # show
    "show-no-model": (["show", "filters"], 2, "the following arguments are required"),
    "show-unknown-figure": (["show", "weights", "{model}"], 2, "invalid choice: 'weights'"),
    "show-missing-model": (["show", "filters", "{tmp}/nope.npz", "--out", "{out}/f.png"], 1,
                           "nope.npz: no such file"),
    "show-text-model": (["show", "mistakes", "{text}", "--out", "{out}/f.png"], 1,
                        "is not a scratchdl model file (it is a text file)"),
    "show-max-0": (["show", "mistakes", "{model}", "--max", "0", "--out", "{out}/f.png"], 2,
                   "--max: must be a positive integer"),
    "show-functions-with-model": (["show", "functions", "{model}"], 2, "unrecognized arguments"),
    "show-applied-filters-dense": (["show", "applied-filters", "{model}", "--out", "{out}/f.png"],
                                   1, "applied-filters needs a convolutional model"),
    "show-applied-filters-text-image": (["show", "applied-filters", "{conv}", "{text}", "--out",
                                         "{out}/f.png"], 1, "is not an image PIL can read"),
    "show-applied-filters-index": (["show", "applied-filters", "{conv}", "--index", "10000",
                                    "--out", "{out}/f.png"], 2,
                                   "--index must be between 0 and 9999"),
    "show-applied-filters-tiny-image": (["show", "applied-filters", "{conv}", "{tiny}", "--out",
                                         "{out}/f.png"], 2, "smaller than the 5x5 filters"),
    # import-book, and evaluate's dtypes
    "import-book-no-model": (["import-book", "{text}"], 2,
                             "the following arguments are required: --model"),
    "import-book-text": (["import-book", "{text}", "--model", "two-layer", "--out",
                          "{out}/m.npz"], 1, "unsafe or damaged"),
    "import-book-missing": (["import-book", "{tmp}/nope.pkl", "--model", "deep-conv", "--out",
                             "{out}/m.npz"], 1, "nope.pkl: no such file"),
    "import-book-hidden-letters": (["import-book", "{text}", "--model", "multi-layer",
                                    "--hidden", "a", "--out", "{out}/m.npz"], 2,
                                   "--hidden: must be sizes"),
    "import-book-out-folder": (["import-book", "{text}", "--model", "multi-layer", "--out",
                                "{empty}"], 1, "it is a folder"),
    "evaluate-dtype-bfloat16": (["evaluate", "{model}", "--dtype", "bfloat16"], 2,
                                "invalid choice: 'bfloat16'"),
}
"""Each case: the arguments ({placeholders} are filled per test), exit status, and
words the one line on stderr must contain."""

SUBPROCESS = ["unknown-command", "train-lr-0", "train-batch-size-70000", "evaluate-text-file",
              "predict-text-image", "data-unknown-dataset"]
"""Cases also run through the real entry point, `python -m scratchdl`."""


@pytest.fixture
def places(tmp_path) -> dict[str, str]:
    """The files and folders the cases refer to, made fresh in a temporary folder."""
    empty = tmp_path / "empty"
    empty.mkdir()
    text = tmp_path / "notes.txt"
    text.write_text("not a model, not an image\n")
    textckpt = tmp_path / "textckpt"
    textckpt.mkdir()
    (textckpt / "checkpoint.npz").write_text("garbage")
    png_dir = tmp_path / "figure.png"
    png_dir.mkdir()
    image = tmp_path / "digit.png"
    a = np.zeros((28, 28), np.uint8)
    a[5:23, 13:15] = 255
    Image.fromarray(a).save(image)
    tiny = tmp_path / "tiny.png"
    Image.fromarray(a[:3, :3]).save(tiny)
    model = tmp_path / "model.npz"
    save_model(TwoLayerNet(784, 10, 10, rng=0), model)
    conv = tmp_path / "conv.npz"
    save_model(SimpleConvNet(rng=0), conv)
    return {"tmp": str(tmp_path), "out": str(tmp_path / "out"), "empty": str(empty),
            "text": str(text), "textckpt": str(textckpt), "png_dir": str(png_dir),
            "image": str(image), "tiny": str(tiny), "model": str(model), "conv": str(conv)}


def arguments(case: str, places: dict[str, str]) -> list[str]:
    """The case's command line, placeholders filled, output flags added to `train`."""
    argv, _, _ = CASES[case]
    if argv[:1] == ["train"]:
        argv = argv + OUTPUTS
    return [a.format(**places) for a in argv]


def offline_without_data(monkeypatch, places: dict[str, str]) -> None:
    """No data anywhere, and every mirror refuses connections at once."""
    monkeypatch.setenv("SCRATCHDL_DATA", places["empty"])
    monkeypatch.setenv("SCRATCHDL_CACHE", f"{places['tmp']}/cache")
    monkeypatch.setenv("SCRATCHDL_MIRRORS", "http://127.0.0.1:9/")


def check(case: str, code, out: str, err: str, places: dict[str, str]) -> None:
    """Exit status, one line on stderr with the expected words, no output file."""
    _, status, words = CASES[case]
    assert code == status, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("scratchdl"), err
    assert words in err, err
    assert out == ""
    assert not Path(places["out"]).exists()


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_in_process(case, places, monkeypatch, capsys, mnist):
    """`cli.main(ARGV)`: the status, one line on stderr, no output files."""
    if case.endswith("offline"):
        offline_without_data(monkeypatch, places)
    argv = arguments(case, places)
    try:
        code = cli.main(argv)
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    check(case, code, out, err, places)


@pytest.mark.parametrize("case", SUBPROCESS)
def test_bad_input_real_entry_point(case, places, mnist):
    """`python -m scratchdl ARGV`: the same, through the real entry point."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "scratchdl", *arguments(case, places)],
                            capture_output=True, text=True, timeout=120, env=env)
    check(case, result.returncode, result.stdout, result.stderr, places)


FIGURES = {
    "train-plot-under-file": ["train", "--iters", "1", "--quiet", "--evaluate-sample-num", "10",
                              "--plot", "{text}/curves.png"],
    "show-out-under-file": ["show", "filters", "{model}", "--out", "{text}/filters.png"],
    "show-out-folder": ["show", "filters", "{model}", "--out", "{empty}"],
    "experiment-out-under-file": ["experiment", "weight-init", "--quick", "--out",
                                  "{text}/figure.png"],
}
"""Figures written where no file can be: a path under a regular file, or a folder."""


@pytest.mark.parametrize("case", list(FIGURES))
def test_figure_that_cannot_be_written(case, places, capsys, mnist):
    """Exit 1 and a last line naming the path, like model files and checkpoints
    (experiments log their progress to stderr before it)."""
    code = cli.main([a.format(**places) for a in FIGURES[case]])
    _, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("scratchdl: error: cannot write ")


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path):
    """`scratchdl ... | head`: when the pipe closes, no traceback, exit status 1."""
    proc = subprocess.Popen([sys.executable, "-m", "scratchdl", "data", "info"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # before the child writes its first line
    _, err = proc.communicate(timeout=60)
    assert err.decode() == "" and proc.returncode == 1
