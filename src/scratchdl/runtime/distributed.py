"""Data-parallel training over MPI: `mpiexec -n N scratchdl train ...`.

The only module that imports mpi4py. `communicator(mode)` gives the run's
communicator: `SingleProcess` (scratchdl.train) in one process, an
`MPICommunicator` when started under `mpiexec` (as MPI itself reports) or asked for
with `--distributed mpi`. The Trainer hands each process its share of the rows of
every batch and sums one flat buffer of weighted gradients per step through it;
`DataParallel` is what else a run needs across processes: per-rank dropout, batch
norm's running statistics made one, and a checksum of the parameters compared at
the start, at every checkpoint and at the end.

Faults: every collective is non-blocking and polled, so rank 0 hears while it
waits that another rank failed (a note on a communicator of its own), says so in
one line and ends the job with a non-zero status (mpiexec then stops the other
ranks). A rank killed outright (SIGKILL, the kernel's OOM killer) has mpiexec end
the job at once, with its own report naming the process.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import numpy as np

from scratchdl.io import model_arrays
from scratchdl.layers import Dropout
from scratchdl.runtime.backend import asarray, to_numpy
from scratchdl.runtime.callbacks import Callback
from scratchdl.runtime.errors import ScratchdlError, UsageError, one_line
from scratchdl.runtime.threads import controller, workers

if TYPE_CHECKING:
    from scratchdl.train import SingleProcess, Trainer

MODES = ("auto", "mpi", "none")
"""The modes: auto (MPI when started under mpiexec), mpi (always), none (never)."""


RANK_VARIABLES = ("PMI_RANK", "PMIX_RANK", "OMPI_COMM_WORLD_RANK")
"""Set by the launchers of MPICH and Intel MPI (Hydra), PMIx (Open MPI, Slurm), Open MPI."""

FAULT_TAG = 15
FAULT_WAIT_S = 10.0
"""How long a failed rank waits for rank 0 to report it and end the job before it
reports itself and exits (which also ends the job)."""

FORWARD_S = 0.2
"""Time left to mpiexec to pass on the job's last line before MPI_Abort ends it (an
Abort at once loses it one time in ten)."""

SPIN_S = 0.05
"""How long a wait polls without pause; a longer one sleeps POLL_S between polls."""
POLL_S = 0.0005


def launcher_rank() -> int | None:
    """This process's rank as the MPI launcher's environment says, if it started one.

    A cheap look before MPI itself is asked: outside mpiexec, nothing is imported.
    """
    for name in RANK_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return None


class RankFailed(ScratchdlError):
    """Another process of the run failed; the message names it and says why."""


class Terminated(ScratchdlError):
    """This process was sent SIGTERM."""

    exit_code = 143


class MPICommunicator:
    """The seam of `scratchdl.train.SingleProcess` over MPI: rank, size, and the sum of
    one buffer over every process (an Allreduce in place).

    Every collective is started non-blocking and polled: while rank 0 waits it also
    looks for a note from a rank that failed, and raises `RankFailed` naming it.
    """

    def __init__(self, comm=None) -> None:
        from mpi4py import MPI

        self.MPI = MPI
        self.comm = (comm or MPI.COMM_WORLD).Dup()
        self.notes = self.comm.Dup()
        """A communicator of its own for fault notes, apart from the collectives."""
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.local_size = self.comm.Split_type(MPI.COMM_TYPE_SHARED).Get_size()
        """Processes of the run on this machine."""

    def sum(self, buffer):
        """The element-wise sum of `buffer` over all processes, in place."""
        if isinstance(buffer, np.ndarray):
            self.wait(self.comm.Iallreduce(self.MPI.IN_PLACE, buffer))
            return buffer
        host = to_numpy(buffer)  # a GPU array: MPICH from PyPI reduces host memory only
        self.wait(self.comm.Iallreduce(self.MPI.IN_PLACE, host))
        buffer[...] = asarray(host)
        return buffer

    def allgather(self, data: bytes) -> list[bytes]:
        """`data` (the same length on every process) from every process, in rank order."""
        sent = np.frombuffer(data, np.uint8)
        received = np.empty((self.size, sent.size), np.uint8)
        self.wait(self.comm.Iallgather(sent, received))
        return [row.tobytes() for row in received]

    def barrier(self) -> None:
        """Wait until every process has come here."""
        self.wait(self.comm.Ibarrier())

    def wait(self, request) -> None:
        """Poll `request` until it completes; on rank 0, raise RankFailed on a fault note."""
        start = time.perf_counter()
        while not request.Test():
            if self.rank == 0:
                self.check_notes()
            if time.perf_counter() - start < SPIN_S:
                os.sched_yield()
            else:
                time.sleep(POLL_S)

    def check_notes(self) -> None:
        status = self.MPI.Status()
        if self.notes.iprobe(source=self.MPI.ANY_SOURCE, tag=FAULT_TAG, status=status):
            message = self.notes.recv(source=status.Get_source(), tag=FAULT_TAG)
            raise RankFailed(f"rank {status.Get_source()} failed: {message}")

    def fail(self, error: BaseException) -> NoReturn:
        """End this process over `error`, so that the job ends with one line naming it.

        Rank 0 prints the line and exits, and mpiexec stops the others. Another rank
        sends rank 0 a note and waits: rank 0 reports it at its next collective; if
        the error is one every rank met (a bad setting), rank 0 reports its own.
        """
        message, status = describe(error)
        if self.rank == 0:
            if isinstance(error, Terminated) or not isinstance(error, ScratchdlError
                                                               | KeyboardInterrupt):
                message = f"rank 0 failed: {message}"
            leave(message, status, self.abort)
        deadline = time.monotonic() + FAULT_WAIT_S
        with contextlib.suppress(Exception):
            note = self.notes.isend(message, dest=0, tag=FAULT_TAG)
            while time.monotonic() < deadline and not note.Test():  # MPI moves it meanwhile
                time.sleep(POLL_S)
        time.sleep(max(0.0, deadline - time.monotonic()))  # rank 0 ends the job meanwhile
        leave(f"rank {self.rank} failed: {message}", status, self.abort)

    def abort(self, status: int) -> NoReturn:
        """End every process of the job with `status` (MPI_Abort), MPICH's own report of
        it silenced: the job's one line has been said."""
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        time.sleep(FORWARD_S)
        self.MPI.COMM_WORLD.Abort(status)
        os._exit(status)


def describe(error: BaseException) -> tuple[str, int]:
    """One line for any error, and the exit status: ours as the command line gives them;
    anything else (a bug) by its type, message and the line that raised it."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted", 130
    if isinstance(error, ScratchdlError | MemoryError):
        return one_line(error)
    frames = traceback.extract_tb(error.__traceback__)
    where = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(error).__name__}: {error}{where}", 1


def leave(message: str, status: int, abort) -> NoReturn:
    """Print `scratchdl: error: MESSAGE`, then `abort(status)`: end the job."""
    sys.stdout.flush()
    print(f"scratchdl: error: {message}", file=sys.__stderr__, flush=True)
    abort(status)
    os._exit(status)


def mpi() -> MPICommunicator | None:
    """The communicator over every process mpiexec started; None without mpi4py."""
    try:
        import mpi4py
    except ImportError:
        return None
    mpi4py.rc.thread_level = "funneled"  # only the main thread calls MPI
    return MPICommunicator()


def fail_at_start(message: str, status: int = UsageError.exit_code) -> None:
    """Under mpiexec, end the job over a failure that comes before the run's
    communicator (a bad command line), in one line (`MPICommunicator.fail`).

    mpiexec stops a job only for processes that have set up MPI, so every rank does
    so first. Returns outside mpiexec, and on rank 0 without mpi4py, for the caller
    to report it; the other ranks then leave quietly.
    """
    rank = launcher_rank()
    if rank is None:
        return
    comm = mpi()
    if comm is not None:
        comm.fail(UsageError(message))
    if rank:
        os._exit(status)


def communicator(mode: str = "auto") -> SingleProcess | MPICommunicator:
    """The run's communicator for `--distributed MODE`; see MODES."""
    from scratchdl.train import SingleProcess

    if mode not in MODES:
        raise UsageError(f"${{distributed}} must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "none" or (mode == "auto" and launcher_rank() is None):
        return SingleProcess()
    comm = mpi()
    if comm is None:
        message = (f"{'started by mpiexec' if mode == 'auto' else '${distributed:mpi}'} "
                   "needs mpi4py; install it with ${extra:mpi}")
        fail_at_start(message)
        raise UsageError(message)
    if comm.size == 1:
        return SingleProcess()
    share_cores(comm.local_size)
    return comm


def share_cores(processes: int) -> None:
    """Give each of `processes` on this machine its share of the CPUs, for its worker
    threads (unless SCRATCHDL_NUM_THREADS says how many) and for BLAS."""
    share = max(1, workers() // processes)
    if not os.environ.get("SCRATCHDL_NUM_THREADS", "").strip():
        os.environ["SCRATCHDL_NUM_THREADS"] = str(share)
    controller().limit(limits=share, user_api="blas")  # for the rest of the process


@contextlib.contextmanager
def guarded(comm) -> Iterator[None]:
    """Run the block so that a failure on any rank ends the whole job in one line
    (`MPICommunicator.fail`); SIGTERM is such a failure. No-op in one process."""
    if not isinstance(comm, MPICommunicator):
        yield
        return

    def terminated(signum, frame):
        raise Terminated("terminated (SIGTERM)")

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    except BaseException as e:
        comm.fail(e)
    finally:
        signal.signal(signal.SIGTERM, previous)


def checksum(arrays: dict) -> bytes:
    """A 16-byte digest of named arrays: their names, shapes, dtypes and bytes."""
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(arrays):
        a = np.ascontiguousarray(to_numpy(arrays[name]))
        digest.update(f"{name}{a.shape}{a.dtype}".encode())
        digest.update(a.tobytes())
    return digest.digest()


class DataParallel(Callback):
    """What a data-parallel run needs besides the summed gradients (`Trainer.combine`).

    - Dropout: each rank draws its rows' masks from a generator of its own, derived
      from (seed, rank, iteration), so a run resumes bit for bit without its state.
    - Batch norm normalises each rank's rows by their own statistics (as PyTorch's
      DDP does); before every evaluation and checkpoint the running mean and
      variance are averaged over the ranks, weighted by rows (the running mean is
      then one process's exactly: it is linear in the batch means).
    - The ranks compare a checksum of their parameters and running statistics at
      the start, at every checkpoint and at the end; a mismatch stops the run.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_begin(self, trainer: Trainer) -> None:
        self.dropouts = [la for la in trainer.network.layers if isinstance(la, Dropout)]
        self.compare(trainer)

    def on_step_begin(self, trainer: Trainer, i: int) -> None:
        if self.dropouts:
            rng = np.random.default_rng([self.seed, trainer.comm.rank, i])
            for layer in self.dropouts:
                layer.rng = rng

    def on_evaluation_begin(self, trainer: Trainer, total: int) -> None:
        self.average_buffers(trainer)

    def on_sync(self, trainer: Trainer) -> None:
        self.average_buffers(trainer)
        self.compare(trainer)

    def average_buffers(self, trainer: Trainer) -> None:
        """Batch norm's running statistics, averaged over the ranks by their rows."""
        net = trainer.network
        buffers = net.buffers()
        if not buffers:
            return
        rows = len(range(trainer.batch_size)[trainer.share(trainer.batch_size)])
        averaged, _ = trainer.combine(buffers, 0.0, rows / trainer.batch_size)
        for name, value in averaged.items():
            net.set_buffer(name, value)

    def compare(self, trainer: Trainer) -> None:
        """Stop the run if some rank's parameters differ from rank 0's."""
        comm, net = trainer.comm, trainer.network
        sums = comm.allgather(checksum(model_arrays(net)))
        differ = [r for r, s in enumerate(sums) if s != sums[0]]
        if differ:
            kept = ""
            if trainer.last_checkpoint is not None:
                kept = f"; the last good checkpoint is in {trainer.last_checkpoint.parent}"
            ranks = ", ".join(map(str, differ))
            raise ScratchdlError(
                f"the processes disagree: the parameters of rank {ranks} differ from rank "
                f"0's at iteration {trainer.current_iter}; the run stops{kept}")
