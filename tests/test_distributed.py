"""Data-parallel training under real `mpiexec` (MPICH from the `mpi` extra).

Every test starts `mpiexec -n N` as a subprocess: N ranks reach one process's
parameters (float64, within 1e-9) and repeat their own bit for bit; a rank that
dies ends the job at once, named in one line, and the last checkpoint resumes on
any number of ranks; Ctrl-C checkpoints and stops every rank at the same iteration.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import missing
from helpers import arrays_of, header_of, run_cli

from scratchdl.runtime.checkpoint import CHECKPOINT

HERE = Path(__file__).parent
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
       "SCRATCHDL_NUM_THREADS": "1"}
"""One thread per rank: up to three ranks share these two cores."""

RECIPE = ["train", "--model", "two-layer", "--iters", "300", "--batch-size", "1000",
          "--dtype", "float64", "--seed", "0", "--evaluate-sample-num", "500", "--quiet"]
"""Five epochs of 60 iterations on all of MNIST: a couple of seconds, checkpointed."""


def find_mpiexec() -> str | None:
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


@pytest.fixture(scope="module")
def mpiexec(mnist) -> str:
    """The mpiexec of the `mpi` extra (mpi4py importable); missing in CI fails."""
    path = find_mpiexec()
    if path is None or importlib.util.find_spec("mpi4py") is None:
        missing("mpiexec and mpi4py are not installed", "pip install -e '.[mpi]'")
    return path


def command(mpiexec: str, ranks: int, *args) -> list[str]:
    """`mpiexec -n RANKS python -m scratchdl ARGS` (ranks 0: no mpiexec at all)."""
    program = [sys.executable, "-m", "scratchdl", *map(str, args)]
    return program if ranks == 0 else [mpiexec, "-n", str(ranks), *program]


def run(cmd: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=ENV)


def script(mpiexec: str, ranks: int, out: Path, *args) -> dict[str, np.ndarray]:
    """Run tests/mpi_train.py on RANKS ranks (0: alone); its arrays."""
    program = [sys.executable, str(HERE / "mpi_train.py"), str(out), *map(str, args)]
    result = run(program if ranks == 0 else [mpiexec, "-n", str(ranks), *program])
    assert result.returncode == 0, result.stderr
    return arrays_of(out)


def assert_close(a: dict, b: dict, atol: float = 1e-9) -> None:
    """The same parameters within atol (max abs difference)."""
    names = [k for k in a if k.startswith(("param/", "buffer/"))] or list(a)
    assert sorted(names) == sorted(k for k in b if k in names)
    for name in names:
        np.testing.assert_allclose(b[name], a[name], rtol=0, atol=atol, err_msg=name)


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("scratchdl: ")]


@pytest.mark.parametrize("model, args", [
    ("two-layer", ["--iters", 50]),
    ("simple-conv", ["--iters", 50]),
    ("two-layer", ["--iters", 3, "--hidden", 10, "--gradient", "numerical"]),
], ids=["two-layer", "simple-conv", "numerical"])
def test_ranks_reach_one_process_parameters_and_repeat_bit_for_bit(mpiexec, tmp_path, model,
                                                                    args):
    alone = script(mpiexec, 0, tmp_path / "1.npz", "--model", model, *args)
    counts = (2, 3) if "numerical" not in args else (2,)
    for ranks in counts:
        spread = script(mpiexec, ranks, tmp_path / f"{ranks}.npz", "--model", model, *args)
        assert_close(alone, spread)
        np.testing.assert_allclose(spread["loss"], alone["loss"], rtol=1e-12)
        np.testing.assert_array_equal(spread["accuracies"], alone["accuracies"])
    again = script(mpiexec, counts[-1], tmp_path / "again.npz", "--model", model, *args)
    for name, value in spread.items():
        np.testing.assert_array_equal(again[name], value, err_msg=name)


def test_dropout_per_rank_and_batchnorm_statistics_made_one(mpiexec, tmp_path):
    """Each rank draws its own dropout masks; batch norm's running statistics end equal
    on every rank (the run compares checksums of them at the end); same bits twice."""
    args = ["--model", "multi-layer", "--hidden", "40,40", "--iters", 30, "--dropout", 0.3,
            "--batchnorm"]
    first = script(mpiexec, 2, tmp_path / "a.npz", *args)
    second = script(mpiexec, 2, tmp_path / "b.npz", *args)
    masks = first["masks"]
    assert len(masks) == 2 and masks[0].tobytes() != masks[1].tobytes()
    assert any(k.startswith("buffer/running_mean") for k in first)
    for name, value in first.items():
        np.testing.assert_array_equal(second[name], value, err_msg=name)


def test_ranks_that_disagree_stop_at_the_checkpoint(mpiexec, tmp_path):
    """Rank 1's W1 nudged by 1e-12 after iteration 3: the checksums differ at the epoch's
    checkpoint (iteration 50), the run stops in one line and writes nothing."""
    program = [sys.executable, str(HERE / "mpi_train.py"), str(tmp_path / "out.npz"),
               "--iters", 100, "--checkpoint-dir", tmp_path / "ckpt", "--perturb", "1:3"]
    result = run([mpiexec, "-n", "2", *map(str, program)])
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        "scratchdl: error: the processes disagree: the parameters of rank 1 differ from rank "
        "0's at iteration 50; the run stops"]
    assert not (tmp_path / "ckpt" / CHECKPOINT).exists()
    assert not (tmp_path / "out.npz").exists()


@pytest.fixture(scope="module")
def reference(mpiexec, tmp_path_factory) -> dict[str, np.ndarray]:
    """RECIPE in one process, uninterrupted."""
    path = tmp_path_factory.mktemp("reference") / "final.npz"
    result = run(command(mpiexec, 0, *RECIPE, "--save", path))
    assert result.returncode == 0, result.stderr
    return arrays_of(path)


@pytest.mark.parametrize("before, after", [(2, 0), (0, 2)], ids=["2-to-1", "1-to-2"])
def test_checkpoints_resume_on_another_number_of_ranks(mpiexec, reference, tmp_path, before,
                                                       after):
    ckpt = tmp_path / "ckpt"
    first = run(command(mpiexec, before, *RECIPE, "--iters", 120, "--checkpoint-dir", ckpt))
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("final: ") == 1
    assert first.stdout.rstrip().endswith(" evaluation, 2 processes)" if before else
                                          " evaluation)")
    assert header_of(ckpt / CHECKPOINT)["iteration"] == 120
    final = tmp_path / "final.npz"
    resumed = run(command(mpiexec, after, "train", "--resume", ckpt, "--iters", 300, "--save",
                          final, "--quiet"))
    assert resumed.returncode == 0, resumed.stderr
    assert "(300 iterations" in resumed.stdout
    assert_close(reference, arrays_of(final))


def start_with_rank1_pid(mpiexec: str, tmp_path: Path, *args) -> tuple[subprocess.Popen, Path]:
    """`mpiexec` of two ranks running `scratchdl ARGS`; rank 1 writes its pid to a file."""
    pid = tmp_path / "rank1.pid"
    program = [sys.executable, "-m", "scratchdl", *map(str, args)]
    rank1 = ["sh", "-c", f'echo $$ > "{pid}"; exec "$@"', "sh", *program]
    proc = subprocess.Popen([mpiexec, "-n", "1", *program, ":", "-n", "1", *rank1],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    return proc, pid


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    """Wait until `path` exists, while `proc` still runs."""
    deadline = time.monotonic() + timeout
    while not path.exists() or path.stat().st_size == 0:
        assert proc.poll() is None, f"the run ended first: {proc.communicate()}"
        assert time.monotonic() < deadline, f"no {path.name} appeared"
        time.sleep(0.005)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_killed_rank_ends_the_job_and_its_checkpoint_resumes(mpiexec, reference, tmp_path,
                                                               sig):
    """Rank 1 killed mid-epoch: the job ends within seconds, non-zero, saying which rank
    (SIGKILL: mpiexec's own report, no process of ours outlives it); the checkpoint
    resumes on one rank to the one-process result."""
    ckpt = tmp_path / "ckpt"
    proc, pid = start_with_rank1_pid(mpiexec, tmp_path, *RECIPE, "--checkpoint-dir", ckpt,
                                     "--save", tmp_path / "never.npz")
    wait_for(ckpt / CHECKPOINT, proc)
    wait_for(pid, proc)
    killed = time.monotonic()
    os.kill(int(pid.read_text()), sig)
    out, err = proc.communicate(timeout=60)
    assert time.monotonic() - killed < 30
    assert proc.returncode != 0
    if sig == signal.SIGTERM:
        assert error_lines(err) == ["scratchdl: error: rank 1 failed: terminated (SIGTERM)"]
    else:
        assert "BAD TERMINATION" in out + err and "Killed (signal 9)" in out + err
    assert not (tmp_path / "never.npz").exists()
    done = header_of(ckpt / CHECKPOINT)["iteration"]
    assert done % 60 == 0 and 60 <= done < 300

    result = run(command(mpiexec, 0, "train", "--resume", ckpt, "--save", tmp_path / "final.npz",
                         "--quiet"))
    assert result.returncode == 0, result.stderr
    assert "(300 iterations" in result.stdout
    assert_close(reference, arrays_of(tmp_path / "final.npz"))


def test_ctrl_c_under_mpiexec_stops_every_rank_at_one_iteration(mpiexec, reference, tmp_path):
    """mpiexec passes SIGINT to each rank; they agree, rank 0 checkpoints and says how to
    resume, exit 130; the checkpoint resumes to the uninterrupted result."""
    ckpt = tmp_path / "ckpt"
    proc = subprocess.Popen(command(mpiexec, 2, *RECIPE, "--checkpoint-dir", ckpt),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    wait_for(ckpt / CHECKPOINT, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    stopped = header_of(ckpt / CHECKPOINT)["iteration"]
    assert 60 <= stopped < 300  # 60: Ctrl-C came as the first checkpoint was written
    assert error_lines(err) == [
        f"scratchdl: error: interrupted at iteration {stopped}/300; checkpoint saved, resume "
        f"with `scratchdl train --resume {ckpt}`"]
    result = run(command(mpiexec, 2, "train", "--resume", ckpt, "--save", tmp_path / "final.npz",
                         "--quiet"))
    assert result.returncode == 0, result.stderr
    assert_close(reference, arrays_of(tmp_path / "final.npz"))


def test_an_error_on_one_rank_is_named_by_rank_0(mpiexec, tmp_path):
    """Rank 1 alone meets a damaged data folder: rank 0 says so in one line, exit 1."""
    bad = tmp_path / "data" / "mnist"
    bad.mkdir(parents=True)
    (bad / "train-images-idx3-ubyte.gz").write_bytes(b"junk")
    args = [sys.executable, "-m", "scratchdl", *RECIPE]
    start = time.monotonic()
    result = run([mpiexec, "-n", "1", *args, ":", "-n", "1", *args, "--data-dir", str(bad.parent)])
    assert time.monotonic() - start < 30
    assert result.returncode == 1
    [line] = error_lines(result.stderr)
    assert line.startswith("scratchdl: error: rank 1 failed: ") and str(bad) in line


@pytest.mark.parametrize("ranks, args, message", [
    (3, ["--batch-size", 2, "--iters", 1],
     "scratchdl: error: 3 processes need a batch of at least 3 rows (one each), got 2; use a "
     "larger batch size or fewer processes"),
    (2, ["--bogus"], "scratchdl: error: unrecognized arguments: --bogus (see `scratchdl --help`)"),
], ids=["more-ranks-than-rows", "bad-flag"])
def test_bad_combinations_exit_2_in_one_line(mpiexec, ranks, args, message):
    result = run(command(mpiexec, ranks, "train", *args))
    assert result.returncode == 2
    assert error_lines(result.stderr) == [message]
    assert result.stdout == ""


def test_asking_for_mpi_without_mpi4py_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py raises ImportError
    code, _, err = run_cli(["train", "--distributed", "mpi"], capsys)
    assert code == 2
    assert err.splitlines() == ["scratchdl: error: --distributed mpi needs mpi4py; install it "
                                'with pip install -e ".[mpi]" (mpi4py and MPICH)']
    monkeypatch.setenv("PMI_RANK", "0")  # as mpiexec sets it
    code, _, err = run_cli(["train"], capsys)
    assert code == 2 and err.startswith("scratchdl: error: started by mpiexec needs mpi4py; ")
