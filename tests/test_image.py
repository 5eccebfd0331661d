"""Images for `scratchdl predict`: any format, mode, bit depth, size and polarity.

Real MNIST test digits are scaled up and written as PNG, JPEG, BMP, GIF, TIFF in
grayscale, colour, palette, alpha, 1-bit and 16-bit, dark-on-light and
light-on-dark; `load_digit` must turn each back into an MNIST-like 28x28 digit
that a model trained on MNIST classifies as the original's label. Files that are
not images give `ImageError`, exit status 1, one line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from helpers import UNREADABLE, write_unreadable
from PIL import ExifTags, Image

from scratchdl.app import cli
from scratchdl.app.image import load_digit
from scratchdl.io import load_model
from scratchdl.runtime.errors import ImageError

ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
"""One BLAS thread for the training child: threads contending for a busy machine's
cores make small products many times slower."""


@pytest.fixture(scope="module")
def digit_model(tmp_path_factory, mnist) -> Path:
    """A two-layer ReLU net trained for 1,000 Adam steps (about 0.95 test accuracy)."""
    path = tmp_path_factory.mktemp("model") / "digits.npz"
    result = subprocess.run(
        [sys.executable, "-m", "scratchdl", "train", "--activation", "relu", "--hidden", "100",
         "--iters", "1000", "--optimizer", "adam", "--lr", "0.002", "--evaluate-sample-num",
         "100", "--save", str(path), "--quiet"],
        capture_output=True, text=True, timeout=300, env=ENV)
    assert result.returncode == 0, result.stderr
    return path


@pytest.fixture(scope="module")
def digits(digit_model, mnist) -> list[tuple[int, np.ndarray]]:
    """The first test image of each class that the model gets right: (label, uint8 28x28)."""
    _, (x_test, t_test) = mnist
    net, _ = load_model(digit_model)
    predicted = net.predict(x_test[:500].astype(net.dtype)).argmax(axis=1)
    chosen = {}
    for i in range(500):
        label = int(t_test[i])
        if label not in chosen and predicted[i] == label:
            chosen[label] = (x_test[i].reshape(28, 28) * 255).round().astype(np.uint8)
    return sorted(chosen.items())


def scaled(a: np.ndarray, size: int = 280) -> np.ndarray:
    """The digit scaled up to size x size (bicubic), light on dark, uint8."""
    return np.asarray(Image.fromarray(a).resize((size, size), Image.Resampling.BICUBIC))


def inked(a: np.ndarray, ink: tuple, paper: tuple) -> Image.Image:
    """An RGB image: `ink` colour where the digit is, `paper` colour elsewhere."""
    w = (scaled(a) / 255.0)[..., None]
    rgb = w * np.array(ink, float) + (1 - w) * np.array(paper, float)
    return Image.fromarray(rgb.round().astype(np.uint8), "RGB")


def alpha_only(a: np.ndarray, ink: int) -> Image.Image:
    """RGBA with constant colour `ink` everywhere: the digit lives in the alpha channel."""
    s = scaled(a)
    rgba = np.stack([np.full_like(s, ink)] * 3 + [s], axis=-1)
    return Image.fromarray(rgba, "RGBA")


def sixteen_bit(a: np.ndarray) -> Image.Image:
    """16-bit grayscale, dark on light (full 0..65535 range)."""
    return Image.fromarray((255 - scaled(a)).astype(np.uint16) * 257)


FORMATS: dict[str, tuple[str, Callable[[np.ndarray], Image.Image]]] = {
    "png-gray-light-on-dark": ("png", lambda a: Image.fromarray(scaled(a))),
    "png-gray-dark-on-light": ("png", lambda a: Image.fromarray(255 - scaled(a))),
    "jpeg-rgb-blue-pen-on-paper": ("jpg", lambda a: inked(a, (20, 30, 140), (245, 240, 225))),
    "jpeg-gray-dark-on-light": ("jpg", lambda a: Image.fromarray(255 - scaled(a))),
    "bmp-rgb-white-on-black": ("bmp", lambda a: inked(a, (255, 255, 255), (0, 0, 0))),
    "gif-palette": ("gif", lambda a: inked(a, (0, 0, 0), (255, 255, 255)).convert("P")),
    "png-palette-adaptive": ("png", lambda a: inked(a, (200, 0, 0), (255, 255, 255)).convert(
        "P", palette=Image.Palette.ADAPTIVE, colors=16)),
    "png-rgba-black-ink-transparent": ("png", lambda a: alpha_only(a, 0)),
    "png-rgba-white-ink-transparent": ("png", lambda a: alpha_only(a, 255)),
    "png-la-black-ink-transparent": ("png", lambda a: alpha_only(a, 0).convert("LA")),
    "png-1-bit": ("png", lambda a: Image.fromarray(255 - scaled(a)).convert("1")),
    "png-16-bit-dark-on-light": ("png", sixteen_bit),
    "tiff-32-bit-int": ("tif", lambda a: Image.fromarray(scaled(a).astype(np.int32) * 1000)),
    "tiff-float": ("tif", lambda a: Image.fromarray(scaled(a).astype(np.float32) / 255)),
    "png-large-3000px": ("png", lambda a: Image.fromarray(scaled(a, 3000))),
    "png-mnist-size": ("png", lambda a: Image.fromarray(a)),
}
"""Each way to write a digit: file suffix and a function of the 28x28 uint8 digit."""


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_digit_in_any_format_is_recognised(fmt, digits, digit_model, tmp_path):
    """Every chosen digit, written this way, is predicted as its label."""
    net, _ = load_model(digit_model)
    suffix, render = FORMATS[fmt]
    wrong = []
    for label, a in digits:
        path = tmp_path / f"{label}.{suffix}"
        render(a).save(path)
        x = load_digit(path)
        assert x.shape == (28, 28) and x.dtype == np.float32
        assert 0.0 <= x.min() and x.max() <= 1.0
        guess = int(net.predict(x.reshape(1, 784).astype(net.dtype)).argmax())
        if guess != label:
            wrong.append((label, guess))
    assert not wrong, f"{fmt}: (label, predicted) {wrong}"


@pytest.mark.parametrize("fmt", ["png-gray-dark-on-light", "png-rgba-black-ink-transparent",
                                 "png-rgba-white-ink-transparent", "png-16-bit-dark-on-light",
                                 "tiff-32-bit-int", "bmp-rgb-white-on-black"])
def test_lossless_variants_read_alike(fmt, digits, tmp_path):
    """Polarity, alpha and bit depth do not change what is read (within rounding)."""
    label, a = digits[0]
    reference, other = tmp_path / "ref.png", tmp_path / f"other.{FORMATS[fmt][0]}"
    FORMATS["png-gray-light-on-dark"][1](a).save(reference)
    FORMATS[fmt][1](a).save(other)
    assert np.abs(load_digit(other) - load_digit(reference)).max() <= 2 / 255


@pytest.mark.parametrize("suffix", ["png", "jpg"])
def test_exif_orientation_turns_a_sideways_photo_upright(suffix, digits, tmp_path):
    """Phones store photos sideways with an EXIF tag (6: turn 90 degrees clockwise)."""
    label, a = digits[7]
    upright = inked(a, (20, 30, 140), (245, 240, 225))
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    stored.save(tmp_path / f"photo.{suffix}", exif=exif, quality=95)
    stored.save(tmp_path / f"untagged.{suffix}", quality=95)
    upright.save(tmp_path / f"upright.{suffix}", quality=95)
    photo, reference = load_digit(tmp_path / f"photo.{suffix}"), load_digit(
        tmp_path / f"upright.{suffix}")
    assert np.abs(photo - reference).max() <= 8 / 255
    assert np.abs(load_digit(tmp_path / f"untagged.{suffix}") - reference).max() > 0.5


@pytest.mark.parametrize("size", [(1, 1), (1, 40), (3, 2)])
def test_tiny_images_do_not_crash(size, tmp_path):
    """A 1x1 (or 1-pixel-wide) image gives a 28x28 array, not an exception."""
    path = tmp_path / "tiny.png"
    Image.new("L", size, 255).save(path)
    x = load_digit(path)
    assert x.shape == (28, 28) and np.isfinite(x).all()


TIFF_RATIONAL_OFFSET = bytes.fromhex(
    "49492a0028000000800020503824160d07966aa659000000000985c321d1288c22270f8c41a02000"
    "090000010300010000000c00000001010300010000000a0000000201030001000000080000001"
    "0ca4a00010000000500000006010300010000000100000011010a000100000008000000160103"
    "00010000000a003a0037010400010000001f0000001c010300010103000100000001000000")
"""A 154-byte TIFF found by fuzzing: its strip offset is a RATIONAL, and PIL raises
TypeError instead of one of its usual decoding errors."""


def write_bad_image(kind: str, path: Path) -> Path:
    """One file of each kind that is not a readable image."""
    if kind in UNREADABLE:
        return write_unreadable(kind, path, "a digit, honestly\n")
    if kind == "tiff-rational-offset":
        path.write_bytes(TIFF_RATIONAL_OFFSET)
    elif kind == "model-file":
        with open(path, "wb") as f:
            np.savez(f, W1=np.zeros(3))
    else:
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 300), np.uint8)).save(
            path, format="PNG" if kind == "truncated-png" else "JPEG")
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    return path


BAD_IMAGES = {
    "missing": "no such file",
    "folder": "a folder, not an image file",
    "empty": "is not an image PIL can read",
    "text": "is not an image PIL can read",
    "model-file": "is not an image PIL can read",
    "truncated-png": "cannot decode the image",
    "truncated-jpeg": "cannot decode the image",
    "tiff-rational-offset": "cannot decode the image (TypeError: ",
}
"""Each kind of unreadable image file, and the words its error must contain."""


@pytest.mark.parametrize("kind", list(BAD_IMAGES))
def test_unreadable_image(kind, tmp_path):
    """ImageError naming the file, on one line."""
    path = write_bad_image(kind, tmp_path / f"{kind}.png")
    with pytest.raises(ImageError) as info:
        load_digit(path)
    message = str(info.value)
    assert str(path) in message and BAD_IMAGES[kind] in message and "\n" not in message


@pytest.mark.parametrize("kind", list(BAD_IMAGES))
def test_predict_unreadable_image(kind, digit_model, tmp_path, capsys):
    """`scratchdl predict MODEL BAD`: exit 1, one line on stderr, nothing on stdout."""
    path = write_bad_image(kind, tmp_path / f"{kind}.png")
    code = cli.main(["predict", str(digit_model), str(path)])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == "" and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith(f"scratchdl: error: {path}") and BAD_IMAGES[kind] in err


def test_predict_prints_the_digit(digits, digit_model, tmp_path):
    """The real entry point on a dark-on-light JPEG names the right digit."""
    label, a = digits[3]
    path = tmp_path / "digit.jpg"
    FORMATS["jpeg-rgb-blue-pen-on-paper"][1](a).save(path)
    result = subprocess.run([sys.executable, "-m", "scratchdl", "predict", str(digit_model),
                             str(path)], capture_output=True, text=True, timeout=120, env=ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"predicted: {label} (probability ")
    assert len(result.stdout.splitlines()) == 11


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_bytes_read_like_the_file(fmt, digits, tmp_path):
    """`load_digit(bytes)` (what `scratchdl serve` receives) gives the file's very array."""
    path = tmp_path / f"digit.{FORMATS[fmt][0]}"
    FORMATS[fmt][1](digits[5][1]).save(path)
    assert np.array_equal(load_digit(path.read_bytes()), load_digit(path))


@pytest.mark.parametrize("kind", [k for k in BAD_IMAGES if k not in ("missing", "folder")])
def test_unreadable_bytes(kind, tmp_path):
    """Bytes that are no readable image: ImageError about "the image data", on one line."""
    data = write_bad_image(kind, tmp_path / f"{kind}.png").read_bytes()
    with pytest.raises(ImageError) as info:
        load_digit(data)
    message = str(info.value)
    assert message.startswith("the image data") and BAD_IMAGES[kind] in message
    assert "\n" not in message and "BytesIO" not in message
