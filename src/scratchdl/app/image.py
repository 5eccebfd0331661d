"""Reading a user's image as an MNIST digit: 28x28, light on dark, centred like MNIST."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from scratchdl.runtime.errors import ImageError

MAX_PIXELS = 50_000_000
"""Refuse images larger than this before decoding them (decompression bombs)."""


def border(gray: np.ndarray) -> np.ndarray:
    """The pixels of an image's four edges (H, W) -> (2H + 2W,)."""
    return np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])


def light_background(gray: np.ndarray) -> bool:
    """Whether a grayscale image (H, W) in [0, 255] is dark ink on light paper,
    judged by the median of its border pixels."""
    return bool(np.median(border(gray)) > 127)


def fit_within(a: np.ndarray, side: float) -> np.ndarray:
    """A float32 image (H, W) resized (Lanczos) so that its longer side is `side`."""
    scale = side / max(a.shape)
    h, w = max(1, round(a.shape[0] * scale)), max(1, round(a.shape[1] * scale))
    return np.asarray(Image.fromarray(a).resize((w, h), Image.Resampling.LANCZOS))


def to_mnist(gray: np.ndarray) -> np.ndarray:
    """A grayscale image (H, W) in [0, 255] -> (28, 28) float32 in [0, 1], like MNIST.

    Dark-on-light images are inverted (judged by the border); the digit's bounding
    box is scaled to fit 20x20 and its centre of mass placed at the centre of the
    28x28 field, as in the MNIST preprocessing.
    """
    a = gray.astype(np.float32)
    if light_background(a):
        a = 255.0 - a
    a -= np.median(border(a))
    np.clip(a, 0, 255, out=a)
    ink = a > 0.2 * a.max() if a.max() > 0 else np.ones_like(a, dtype=bool)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    a = a[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    digit = np.clip(fit_within(a, 20.0), 0, 255)
    h, w = digit.shape
    total = digit.sum()
    if total > 0:
        cy = (digit.sum(axis=1) * np.arange(h)).sum() / total
        cx = (digit.sum(axis=0) * np.arange(w)).sum() / total
    else:
        cy, cx = (h - 1) / 2, (w - 1) / 2
    top = int(np.clip(round(13.5 - cy), 0, 28 - h))
    left = int(np.clip(round(13.5 - cx), 0, 28 - w))
    field = np.zeros((28, 28), dtype=np.float32)
    field[top : top + h, left : left + w] = digit
    return field / 255.0


def _to_gray(img: Image.Image) -> np.ndarray:
    """A decoded image as grayscale (H, W) in [0, 255], any mode or bit depth.

    16-bit and 32-bit images are scaled down (PIL's own conversion would clip them
    to white); transparent images are laid on black or white, whichever contrasts
    with their ink, since the ink may be drawn in the alpha channel alone.
    """
    if img.mode.startswith("I;16"):
        return np.asarray(img, dtype=np.float64) / 257.0
    if img.mode in ("I", "F"):
        a = np.nan_to_num(np.asarray(img, dtype=np.float64), posinf=0.0, neginf=0.0)
        a = np.clip(a, 0.0, None)
        return a * (255.0 / a.max()) if a.max() > 0 else a
    if img.has_transparency_data:
        rgba = img.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float64)
        gray = np.asarray(rgba.convert("L"), dtype=np.float64)
        ink = (gray * alpha).sum() / max(alpha.sum(), 1.0)
        background = Image.new("RGBA", rgba.size, "black" if ink > 127 else "white")
        img = Image.alpha_composite(background, rgba)
    return np.asarray(img.convert("L"))


def load_digit(source: str | Path | bytes) -> np.ndarray:
    """Read an image, a file's path or its bytes, as a (28, 28) MNIST-like digit."""
    return to_mnist(load_gray(source))


def load_gray(source: str | Path | bytes) -> np.ndarray:
    """Read an image, a file's path or its bytes, as grayscale (H, W) in [0, 255].

    Any format, mode and size PIL reads; errors name the file (or "the image data" for
    bytes), on one line.
    """
    name = "the image data" if isinstance(source, bytes) else str(source)
    try:
        with warnings.catch_warnings():
            # PIL warns of decompression bombs (MAX_PIXELS refuses them anyway) and of
            # damaged metadata: lines on stderr that say nothing the user can act on.
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise ImageError(f"{name}: {img.width}x{img.height} is too large; "
                                     "crop or shrink it to the digit")
                img.load()
                # Phones store photos sideways with an EXIF tag saying how to turn them.
                gray = _to_gray(ImageOps.exif_transpose(img))
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{name}: a folder, not an image file") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name} is not an image PIL can read (not a format it knows); "
                         "use PNG or JPEG") from None
    except Image.DecompressionBombError as e:
        raise ImageError(f"{name} is not an image PIL can read ({e}); use PNG or JPEG") from None
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        raise ImageError(f"{name}: cannot decode the image ({e}); is it truncated?") from None
    except ImageError:
        raise
    except Exception as e:  # PIL's decoders raise many kinds on hostile bytes
        raise ImageError(f"{name}: cannot decode the image ({type(e).__name__}: {e})") from None
    if gray.ndim != 2 or min(gray.shape) < 1:
        raise ImageError(f"{name}: the image has no pixels")
    return gray
