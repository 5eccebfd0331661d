"""`--device gpu`, and the strict stand-in that lets CI check it without a GPU.

The stand-in (`strict_xp.py`) answers `import cupy` here (`fake_gpu`), so every
command runs its GPU path for real: data moved once, batches gathered on the
device, numbers back as Python floats, files written from host copies. Marked
`xp`, the planted-leak test also runs on the real CuPy (`pytest --xp cupy -m xp`),
which must refuse the same leaks.
"""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest
import strict_xp
from helpers import arrays_of, header_of, host, run_cli

from scratchdl.io import load_model, save_model
from scratchdl.layers import Dropout
from scratchdl.models import MultiLayerNetExtend, TwoLayerNet
from scratchdl.runtime import backend
from scratchdl.runtime.backend import asarray, to_numpy, xp
from scratchdl.runtime.errors import UsageError
from scratchdl.train import Trainer

COMMANDS = {
    "train": ["train", "--iters", "1"],
    "evaluate": ["evaluate", "MODEL"],
    "predict": ["predict", "MODEL", "IMAGE"],
    "gradcheck": ["gradcheck"],
    "experiment": ["experiment", "weight-init", "--quick"],
    "show": ["show", "filters", "MODEL"],
}
"""Each command that computes, with arguments enough to run."""

SHORT = ["--activation", "relu", "--iters", "120", "--evaluate-sample-num", "500", "--quiet"]
"""A short run of chapter 5's TwoLayerNet: two evaluations on 500 images each, then the
full sets (about 0.85 test accuracy)."""


# -- the stand-in catches each kind of leak the book's GPU users met ------------------

class HostMaskDropout(Dropout):
    """A planted leak: the mask drawn on the host and multiplied into the device array."""

    def forward(self, x, train=True):
        self.mask = self.rng.random(x.shape) > self.dropout_ratio
        return x * self.mask


def classes_of(t):
    """A planted leak: a device number where Python needs an int (the one-hot width)."""
    return np.eye(t.max() + 1)[to_numpy(t)]


def scatter_counts(rows, n):
    """A planted leak: `np.add.at` on device arrays (the book's col2im pattern)."""
    counts = xp.zeros(n)
    np.add.at(counts, rows, 1.0)
    return counts


@pytest.mark.xp
def test_the_stand_in_catches_each_kind_of_leak(xp_module):
    """Each planted leak works on NumPy and raises TypeError on a device, as on CuPy;
    the device-clean version of each runs on both."""
    rng = np.random.default_rng(0)
    x, t = asarray(rng.random((4, 6))), asarray(np.array([0, 2, 1, 2]))
    leaks = {
        "host mask": lambda: HostMaskDropout(0.5, rng).forward(x),
        "device index": lambda: classes_of(t),
        "np.add.at": lambda: scatter_counts(t, 3),
    }
    for name, leak in leaks.items():
        if xp_module in (None, "numpy"):
            leak()
        else:
            with pytest.raises(TypeError):
                leak()
            print(f"{xp_module} refused the {name}")
    counts = xp.zeros(3)
    xp.add.at(counts, t, 1.0)
    assert host(counts).tolist() == [1, 1, 2]
    assert np.eye(int(t.max()) + 1)[to_numpy(t)].shape == (4, 3)
    assert Dropout(0.5, rng).forward(x).shape == (4, 6)


def test_the_stand_in_refuses_implicit_moves_and_mixing():
    backend.use_module(strict_xp)
    a = asarray(np.arange(6.0).reshape(2, 3))
    refused = {
        "np.asarray": lambda: np.asarray(a),
        "__array__": lambda: a.__array__(),
        "float of a non-scalar": lambda: float(a),
        "a host operand": lambda: a + np.ones(3),
        "a list operand": lambda: a * [1.0, 2.0, 3.0],
        "a host index": lambda: a[np.array([0])],
        "a host value": lambda: a.__setitem__(0, np.zeros(3)),
        "a host function": lambda: np.testing.assert_allclose(a, 0),
        "an int from a device scalar": lambda: range(a.argmax()),
    }
    for name, move in refused.items():
        with pytest.raises(TypeError):
            move()
            pytest.fail(f"{name} was allowed")
    assert to_numpy(a).tolist() == [[0, 1, 2], [3, 4, 5]]
    assert isinstance(a.sum(), strict_xp.StrictArray) and float(a.sum()) == 15.0
    old = a[0, 1]
    a[0, 1] = old + 1  # an element read is a view on the device, as CuPy's: old moved too
    assert float(old) == 2.0


def test_xp_forgets_the_names_it_kept_when_the_module_changes():
    assert xp.exp is np.exp  # kept after the first look-up
    backend.use_module(strict_xp)
    assert xp.exp is strict_xp.exp and xp.asarray is strict_xp.asarray
    backend.use_cpu()
    assert xp.exp is np.exp and xp.asarray is np.asarray and not backend.on_gpu()


@pytest.mark.xp
def test_device_random_numbers_follow_the_seed_and_look_uniform(xp_module):
    u = host(backend.random(np.random.default_rng(5), (200, 500)))
    again = host(backend.random(np.random.default_rng(5), (200, 500)))
    assert u.shape == (200, 500) and u.dtype == np.float64
    assert np.array_equal(u, again)
    assert 0 <= u.min() and u.max() < 1
    counts = np.histogram(u, bins=20, range=(0, 1))[0]
    expected = u.size / 20
    assert ((counts - expected) ** 2 / expected).sum() < 45  # chi-square, 19 dof: p ~ 0.001
    assert abs(np.corrcoef(u.ravel()[:-1], u.ravel()[1:])[0, 1]) < 0.01
    if xp_module in (None, "numpy"):
        assert np.array_equal(u, np.random.default_rng(5).random((200, 500)))


# -- --device gpu without a usable GPU: one line, exit 2 ------------------------------

@pytest.mark.parametrize("command", list(COMMANDS))
def test_gpu_without_cupy_says_so_in_one_line(command, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` raises ImportError
    code, out, err = run_cli([*COMMANDS[command], "--device", "gpu"], capsys)
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        'scratchdl: error: --device gpu needs CuPy, which is not installed: pip install -e '
        '".[gpu]" (CuPy for CUDA 13; for CUDA 12: pip install "cupy-cuda12x[ctk]")']
    assert not backend.on_gpu()


def test_gpu_without_cupy_from_python_names_packages_not_flags(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(UsageError) as info:
        backend.use_device("gpu")
    assert str(info.value) == ('device=gpu needs CuPy, which is not installed: pip install '
                               '"cupy-cuda13x[ctk]" (for CUDA 12: "cupy-cuda12x[ctk]")')
    assert "--" not in str(info.value)


def test_gpu_without_a_cuda_device_says_so_in_one_line(fake_gpu, monkeypatch, capsys):
    monkeypatch.setattr(fake_gpu, "DEVICES", 0)
    code, out, err = run_cli(["train", "--device", "gpu"], capsys)
    assert (code, out) == (2, "")
    assert err.strip().splitlines() == [
        "scratchdl: error: --device gpu: CuPy finds no CUDA device; use --device cpu"]
    assert not backend.on_gpu()


def test_gpu_whose_cuda_libraries_fail_says_so_in_one_line(fake_gpu, monkeypatch, capsys):
    def no_nvrtc(*args, **kwargs):
        raise RuntimeError("CuPy failed to load libnvrtc.so.13\nmore detail")

    monkeypatch.setattr(fake_gpu, "arange", no_nvrtc)
    code, out, err = run_cli(["evaluate", "MODEL", "--device", "gpu"], capsys)
    assert (code, out) == (2, "")
    assert err.strip().splitlines() == [
        "scratchdl: error: --device gpu: CuPy cannot run on the GPU (RuntimeError: CuPy "
        'failed to load libnvrtc.so.13); check the CUDA version against pip install -e '
        '".[gpu]" (CuPy for CUDA 13; for CUDA 12: pip install "cupy-cuda12x[ctk]")']


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_computing_command_takes_device(command, capsys):
    words = COMMANDS[command][:2] if command == "show" else COMMANDS[command][:1]
    code, out, _ = run_cli([*words, "--help"], capsys)
    assert code == 0 and "--device {cpu,gpu}" in out


# -- --device gpu on the stand-in: the GPU path, end to end ---------------------------

def final_accuracy(out: str) -> str:
    """The test accuracy of `scratchdl train`'s final line, as printed."""
    return out.strip().splitlines()[-1].split("test acc ")[1][:6]


def test_a_model_trained_on_the_device_evaluates_alike_on_both(fake_gpu, mnist, tmp_path,
                                                                 capsys):
    model = tmp_path / "gpu.npz"
    code, out, err = run_cli(["train", *SHORT, "--save", model, "--device", "gpu"], capsys)
    assert (code, err) == (0, "")
    assert header_of(model)["device"] == "gpu"
    for device in ("cpu", "gpu"):
        code, out, err = run_cli(["evaluate", model, "--device", device], capsys)
        assert (code, err) == (0, "")
        assert out.startswith(f"test acc {final_accuracy(out)} ")
    code, on_cpu, _ = run_cli(["evaluate", model], capsys)
    code, on_gpu, _ = run_cli(["evaluate", model, "--device", "gpu"], capsys)
    assert on_cpu == on_gpu


def test_same_seed_same_device_same_bits_and_devices_agree(fake_gpu, mnist, tmp_path, capsys):
    runs = {}
    for name, device in [("gpu-a", "gpu"), ("gpu-b", "gpu"), ("cpu", "cpu")]:
        path = tmp_path / f"{name}.npz"
        code, out, err = run_cli(["train", *SHORT, "--save", path, "--device", device], capsys)
        assert (code, err) == (0, ""), err
        runs[name] = arrays_of(path)
    for key, value in runs["gpu-a"].items():
        assert np.array_equal(value, runs["gpu-b"][key]), key
        np.testing.assert_allclose(value, runs["cpu"][key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_checkpoints_resume_on_the_other_device(fake_gpu, mnist, tmp_path, capsys):
    """Written from host copies: a GPU run resumes on the CPU and the other way round,
    agreeing with one uninterrupted run to float tolerance."""
    common = ["--activation", "relu", "--batch-size", "1000", "--evaluate-sample-num", "100",
              "--quiet"]
    straight = tmp_path / "straight.npz"
    assert run_cli(["train", "--iters", "120", "--save", straight, *common], capsys)[0] == 0
    for first, then in [("gpu", "cpu"), ("cpu", "gpu")]:
        ckpt, out = tmp_path / f"{first}-{then}", tmp_path / f"{first}-{then}.npz"
        code, _, err = run_cli(["train", "--iters", "60", "--checkpoint-dir", ckpt, *common,
                                "--device", first], capsys)
        assert (code, err) == (0, ""), err
        code, _, err = run_cli(["train", "--resume", ckpt, "--iters", "120", "--save", out,
                                "--quiet", "--device", then], capsys)
        assert (code, err) == (0, ""), err
        resumed, reference = arrays_of(out), arrays_of(straight)
        for key in reference:
            np.testing.assert_allclose(resumed[key], reference[key], rtol=1e-5, atol=1e-6)


def test_predict_and_show_on_the_device(fake_gpu, tmp_path, capsys, mnist):
    from PIL import Image

    model, image = tmp_path / "m.npz", tmp_path / "digit.png"
    save_model(TwoLayerNet(784, 12, 10, rng=0, weight_init_std=0.5), model)
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255
    Image.fromarray(digit).save(image)
    outputs = [run_cli(["predict", model, image, "--device", d], capsys) for d in ("cpu", "gpu")]
    assert outputs[0][0] == outputs[1][0] == 0
    assert outputs[0][1] == outputs[1][1]
    for figure in ("filters", "mistakes"):
        code, out, err = run_cli(["show", figure, model, "--out", tmp_path / f"{figure}.png",
                                  "--device", "gpu"], capsys)
        assert (code, err) == (0, "") and "wrote" in out


@pytest.mark.parametrize("name", ["activation-histogram", "weight-init"])
def test_experiments_on_the_device(name, fake_gpu, tmp_path, capsys, mnist):
    code, out, err = run_cli(["experiment", name, "--quick", "--out", tmp_path / "e.png",
                              "--device", "gpu"], capsys)
    assert code == 0, err
    code, on_cpu, _ = run_cli(["experiment", name, "--quick", "--out", tmp_path / "c.png"],
                              capsys)
    def numbers(printed: str) -> list[str]:  # the table without the times
        return [re.sub(r" +[0-9.]+ s$", "", line) for line in printed.splitlines()
                if not line.startswith("wrote")]

    assert numbers(out) == numbers(on_cpu)


def test_the_trainer_moves_the_data_once_and_returns_python_numbers(mnist, monkeypatch):
    """After the data's one move, each step moves only its batch's indices to the device
    (the batch is drawn by the run's host generator and gathered there); dropout's masks
    are drawn on the device; losses and accuracies come back as Python floats."""
    (x_train, t_train), (x_test, t_test) = mnist
    backend.use_module(strict_xp)
    moved, to_device = [], strict_xp.asarray

    def counted(a, dtype=None):
        if not isinstance(a, strict_xp.StrictArray):
            moved.append(np.size(a))
        return to_device(a, dtype)

    monkeypatch.setattr(strict_xp, "asarray", counted)
    rng = np.random.default_rng(0)
    net = MultiLayerNetExtend(784, [20], 10, use_dropout=True, use_batchnorm=True, rng=rng,
                              dtype=np.float32)
    trainer = Trainer(net, x_train[:2000], t_train[:2000], x_test[:500], t_test[:500],
                      iters=40, mini_batch_size=100, optimizer="adam",
                      optimizer_param={"lr": 0.01}, rng=rng, verbose=False)
    assert moved[-4:] == [2000 * 784, 500 * 784, 2000, 500]
    moved.clear()
    train_acc, test_acc = trainer.train()
    assert moved == [100] * 40
    assert type(train_acc) is float and type(test_acc) is float
    assert all(type(loss) is float for loss in trainer.history.train_loss)


@pytest.mark.xp
def test_a_model_made_on_the_device_loads_on_the_cpu(tmp_path, mnist, xp_module):
    (x_train, t_train), (x_test, t_test) = mnist
    net = TwoLayerNet(784, 30, 10, rng=0, dtype=np.float32)
    Trainer(net, x_train[:3000], t_train[:3000], x_test, t_test, iters=60,
            optimizer_param={"lr": 0.1}, rng=0, verbose=False).train()
    accuracy = net.accuracy(x_test, t_test)
    save_model(net, tmp_path / "m.npz")
    backend.use_cpu()
    loaded, _ = load_model(tmp_path / "m.npz")
    assert isinstance(loaded.params["W1"], np.ndarray)
    assert loaded.accuracy(x_test, t_test) == accuracy


def test_numerical_gradients_on_the_device(fake_gpu, mnist, tmp_path, capsys):
    """The numerical engine runs on the device: the numerical seed recipe's first steps
    agree with the CPU's, and the book's gradient check passes there."""
    runs = {}
    for device in ("cpu", "gpu"):
        path = tmp_path / f"{device}.npz"
        code, _, err = run_cli(["train", "--gradient", "numerical", "--iters", "5",
                                "--evaluate-sample-num", "100", "--quiet", "--save", path,
                                "--device", device], capsys)
        assert code == 0 and "error" not in err, err  # 5 steps: a warning of chance level
        runs[device] = arrays_of(path)
    for key, value in runs["cpu"].items():
        np.testing.assert_allclose(runs["gpu"][key], value, rtol=1e-9, atol=1e-12)
    for model in ("multi-layer", "simple-conv"):
        code, out, err = run_cli(["gradcheck", "--model", model, "--device", "gpu"], capsys)
        assert (code, err) == (0, ""), err
        assert "gradient check passed" in out
