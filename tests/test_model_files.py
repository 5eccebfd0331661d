"""Model files: the save/load round trip, and every kind of bad or hostile file.

A model file is an `.npz` with a JSON `__header__`, loaded with `allow_pickle=False`.
`scratchdl evaluate` and `scratchdl predict` must refuse anything else with exit
status 1 and one line naming the problem, never a traceback, never running code.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import UNREADABLE, arrays_of, header_of, run_cli, write_unreadable
from PIL import Image

from scratchdl.app.commands.common import flat_input
from scratchdl.io import HEADER, load_model, model_arrays, save_model
from scratchdl.models import MODELS, build_model
from scratchdl.runtime.backend import to_numpy
from scratchdl.runtime.errors import ModelFileError

SRC = Path(__file__).resolve().parents[1] / "src"

CONFIGS = {
    "two-layer": {"input_size": 784, "hidden_size": 20, "output_size": 10,
                  "activation": "relu"},
    "multi-layer": {"input_size": 784, "hidden_size_list": [20, 15], "output_size": 10,
                    "use_batchnorm": True, "use_dropout": True, "dropout_ration": 0.3,
                    "weight_decay_lambda": 0.1},
}
"""Small configurations; models not listed are built with their constructor's defaults."""


class Marker:
    """Unpickling this would run a shell command that creates a marker file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return os.system, (f"touch {self.path}",)


def assert_one_line_error(code: int, err: str, status: int, fragment: str = "") -> None:
    """Exit `status`, exactly one line on stderr containing `fragment`, no traceback."""
    assert code == status, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert fragment.lower() in err.lower(), err


def rewrite(src: Path, dst: Path, *, header=None, arrays=None, raw_header: str | None = None):
    """Copy model file `src` to `dst` with its header and/or arrays replaced."""
    with np.load(src, allow_pickle=False) as npz:
        old_header = json.loads(str(npz[HEADER]))
        old_arrays = {k: npz[k] for k in npz.files if k != HEADER}
    payload = dict(old_arrays if arrays is None else arrays)
    if raw_header is not None:
        payload[HEADER] = np.array(raw_header)
    else:
        payload[HEADER] = np.array(json.dumps(old_header if header is None else header))
    np.savez(dst, **payload)
    return dst


@pytest.fixture
def model_file(tmp_path) -> Path:
    """A valid two-layer model file (float32) in a temporary folder."""
    net = build_model({"model": "two-layer", **CONFIGS["two-layer"]}, rng=0, dtype="float32")
    path = tmp_path / "good.npz"
    save_model(net, path)
    return path


@pytest.fixture
def digit_png(tmp_path) -> Path:
    """A small image that `predict` can read."""
    path = tmp_path / "digit.png"
    a = np.zeros((28, 28), np.uint8)
    a[6:22, 12:16] = 255
    Image.fromarray(a).save(path)
    return path


@pytest.mark.xp
@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_every_model(name, dtype, tmp_path):
    """Parameters, batch norm running stats, dtype and predictions survive save/load."""
    net = build_model({"model": name, **CONFIGS.get(name, {})}, rng=1, dtype=dtype)
    rng = np.random.default_rng(2)
    for buffer in net.buffers():
        net.set_buffer(buffer, rng.uniform(0.1, 2.0, net.buffers()[buffer].shape).astype(dtype))
    path = tmp_path / f"{name}.npz"
    save_model(net, path, seed=7, metrics={"test_acc": 0.5})
    loaded, header = load_model(path)
    assert type(loaded) is type(net)
    assert loaded.config == net.config
    assert loaded.dtype == net.dtype
    assert header["seed"] == 7 and header["metrics"] == {"test_acc": 0.5}
    before, after = model_arrays(net), model_arrays(loaded)
    assert sorted(before) == sorted(after)
    for key, array in before.items():
        assert after[key].dtype == array.dtype, key
        assert np.array_equal(after[key], array), key
    shape = (3, 784) if flat_input(net.config) else (3, 1, 28, 28)
    x = rng.random(shape).astype(dtype)
    assert np.array_equal(to_numpy(loaded.predict(x)), to_numpy(net.predict(x)))


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    """A zip file holding `members` verbatim."""
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def npy_bytes(array: np.ndarray | None = None, *, shape=None) -> bytes:
    """The `.npy` encoding of `array`, or just a header declaring `shape` (no data)."""
    buf = io.BytesIO()
    if array is not None:
        np.save(buf, array)
    else:
        np.lib.format.write_array_header_1_0(
            buf, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return buf.getvalue()


def make_bad_file(kind: str, good: Path, tmp: Path) -> Path:
    """One bad model file of each kind, built from the valid file `good`."""
    path = tmp / f"{kind}.npz"
    header = header_of(good)
    arrays = arrays_of(good)
    if kind in UNREADABLE:
        return write_unreadable(kind, path, "this is not a model\n")
    if kind == "truncated":
        path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif kind == "zip-not-npz":
        write_zip(path, {"readme.txt": b"hello"})
    elif kind == "raw-members":
        hdr = npy_bytes(np.array(json.dumps(header)))
        write_zip(path, {f"{HEADER}.npy": hdr, **{f"{k}.npy": b"junk" for k in arrays}})
    elif kind == "huge-member":
        hdr = npy_bytes(np.array(json.dumps(header)))
        write_zip(path, {f"{HEADER}.npy": hdr, "W1.npy": npy_bytes(shape=(10**7, 10**7))})
    elif kind == "npy-header-unclosed":
        text = b"{'descr': '<f8', 'fortran_order': False, 'shape': (3,\n"
        bad = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text
        hdr = npy_bytes(np.array(json.dumps(header)))
        write_zip(path, {f"{HEADER}.npy": hdr, "W1.npy": bad})
    elif kind == "zip-version-10.4":
        data = bytearray(good.read_bytes())
        entry = data.index(b"PK\x01\x02")
        data[entry + 6 : entry + 8] = struct.pack("<H", 104)
        path.write_bytes(bytes(data))
    elif kind == "no-header":
        np.savez(path, **arrays)
    elif kind == "header-not-json":
        rewrite(good, path, raw_header="{format: model")
    elif kind == "deep-json-header":
        rewrite(good, path, raw_header="[" * 100_000)
    elif kind == "header-invalid-code-point":
        config = {**header["config"], "weight_init_std": "\U0010ffff"}
        text = np.array(json.dumps({**header, "config": config}, ensure_ascii=False))
        ucs4 = text.tobytes().replace(b"\xff\xff\x10\x00", b"\x00\x00\x11\x00")
        payload = {**arrays, HEADER: np.frombuffer(ucs4, dtype=text.dtype).reshape(())}
        np.savez(path, **payload)
    elif kind == "header-is-list":
        rewrite(good, path, header=[1, 2, 3])
    elif kind == "wrong-format":
        rewrite(good, path, header={**header, "format": "scratchdl-checkpoint"})
    elif kind == "unknown-model":
        rewrite(good, path, header={**header, "config": {"model": "resnet-50"}})
    elif kind == "bad-config":
        rewrite(good, path, header={**header, "config": {**header["config"], "bogus": 1}})
    elif kind == "huge-architecture":
        config = {**header["config"], "hidden_size": 10**12}
        rewrite(good, path, header={**header, "config": config})
    elif kind == "wrong-names":
        rewrite(good, path, arrays={("Wx" if k == "W1" else k): v for k, v in arrays.items()})
    elif kind == "wrong-shape":
        rewrite(good, path, arrays={**arrays, "W1": arrays["W1"].T.copy()})
    elif kind == "int-dtype":
        rewrite(good, path, arrays={**arrays, "W1": arrays["W1"].astype(np.int32)})
    elif kind == "object-array":
        marker = tmp / "PWNED"
        evil = np.array([Marker(marker)], dtype=object)
        rewrite(good, path, arrays={**arrays, "W1": evil})
    else:
        raise AssertionError(kind)
    return path


BAD_FILES = {
    "missing": "no such file",
    "folder": "a folder, not a file",
    "empty": "is not a scratchdl model file (it is empty)",
    "text": "is not a scratchdl model file (it is a text file)",
    "truncated": "(it is a zip archive that is damaged or not an .npz: BadZipFile)",
    "zip-not-npz": "has no __header__",
    "raw-members": "not NumPy arrays",
    "huge-member": "is not a scratchdl model file (it is a zip archive that is damaged",
    "npy-header-unclosed": "is not a scratchdl model file (it is a zip archive that is damaged",
    "zip-version-10.4": "damaged or not an .npz: NotImplementedError",
    "no-header": "has no __header__",
    "header-not-json": "not valid JSON",
    "deep-json-header": "not valid JSON",
    "header-invalid-code-point": "its header is not valid JSON (it holds characters other",
    "header-is-list": "is not a scratchdl-model file",
    "wrong-format": "is not a scratchdl-model file",
    "unknown-model": "cannot be rebuilt",
    "bad-config": "cannot be rebuilt",
    "huge-architecture": "declares a size",
    "wrong-names": "missing ['W1'], unexpected ['Wx']",
    "wrong-shape": "W1 has shape (20, 784), expected (784, 20)",
    "int-dtype": "expected floating point",
    "object-array": "its members hold pickled Python objects, which scratchdl never loads",
}
"""Each kind of bad model file, and the words its error must contain."""


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_load_model_refuses(kind, model_file, tmp_path):
    """`load_model` raises ModelFileError naming the file and the problem."""
    path = make_bad_file(kind, model_file, tmp_path)
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    message = str(info.value)
    assert str(path) in message
    assert BAD_FILES[kind].lower() in message.lower()
    assert "\n" not in message
    assert "allow_pickle" not in message and "trust" not in message  # NumPy's advice stays out


@pytest.mark.parametrize("command", ["evaluate", "predict"])
@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_commands_refuse_bad_model_file(command, kind, model_file, digit_png, tmp_path, capsys):
    """`evaluate`/`predict` on a bad file: exit 1, one line naming the problem."""
    path = make_bad_file(kind, model_file, tmp_path)
    argv = [command, path] + ([digit_png] if command == "predict" else [])
    code, out, err = run_cli(argv, capsys)
    assert_one_line_error(code, err, 1, BAD_FILES[kind])
    assert out == ""


def test_object_array_is_never_unpickled(model_file, tmp_path):
    """An object array whose unpickling would run a command is refused unexecuted.

    The control proves the file is a real attack: NumPy with `allow_pickle=True`, in a
    child process, does run the command.
    """
    path = make_bad_file("object-array", model_file, tmp_path)
    marker = tmp_path / "PWNED"
    with pytest.raises(ModelFileError):
        load_model(path)
    assert not marker.exists()
    subprocess.run([sys.executable, "-c", "import sys, numpy; "
                    "numpy.load(sys.argv[1], allow_pickle=True)['W1']", str(path)], check=True)
    assert marker.exists()


def test_good_model_evaluates_and_predicts(model_file, digit_png, capsys, mnist):
    """The same commands accept the valid file (so the refusals above are specific)."""
    code, out, err = run_cli(["evaluate", model_file], capsys)
    assert code == 0, err
    assert out.startswith("test acc ")
    code, out, err = run_cli(["predict", model_file, digit_png], capsys)
    assert code == 0, err
    assert out.startswith("predicted: ")


def test_no_unpickling_anywhere_in_src():
    """Only io.py's restricted unpickler unpickles; every np.load refuses pickles."""
    forbidden = [r"\bpickle\.loads?\(", r"\bpickle\.Unpickler\(", r"allow_pickle\s*=\s*True",
                 r"\bmarshal\.loads?\(", r"\b(?:dill|cloudpickle|joblib|shelve)\b"]
    np_load = re.compile(r"\bnp\.load\(((?:[^()]|\([^()]*\))*)\)")
    unpicklers = []
    for path in sorted((SRC / "scratchdl").rglob("*.py")):
        text = path.read_text()
        for pattern in forbidden:
            assert not re.search(pattern, text), f"{path}: {pattern}"
        for call in np_load.finditer(text):
            assert "allow_pickle=False" in call.group(1), f"{path}: {call.group(0)}"
        unpicklers += [(path.name, m) for m in
                       re.findall(r"class (\w+)\(pickle\.Unpickler\)", text)]
    assert unpicklers == [("io.py", "_NumpyOnlyUnpickler")]


def test_save_under_a_regular_file(tmp_path, capsys, mnist):
    """`--save` into a folder that cannot be created: exit 1, one line, nothing written."""
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    target = blocker / "sub" / "model.npz"
    code, out, err = run_cli(["train", "--iters", "1", "--batch-size", "100", "--quiet",
                              "--evaluate-sample-num", "10", "--save", target], capsys)
    assert_one_line_error(code, err, 1, f"cannot write {target}")
    assert blocker.read_text() == "not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_full_disk_while_saving(model_file, tmp_path, monkeypatch):
    """ENOSPC in the middle of the write: a clear error, old file intact, no temp files."""
    old = model_file.read_bytes()
    real_savez = np.savez

    def savez_then_disk_full(f, **arrays):
        real_savez(io.BytesIO(), **arrays)
        f.write(b"PK\x03\x04 half a file")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "savez", savez_then_disk_full)
    net, _ = load_model(model_file)
    with pytest.raises(ModelFileError, match="No space left on device") as info:
        save_model(net, model_file)
    assert str(model_file) in str(info.value)
    assert model_file.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == [model_file.name]
