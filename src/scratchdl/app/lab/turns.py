"""Turns at computing: at most n runs' threads step at once, the others wait in line.

Twenty threads stepping small networks hold Python's GIL nearly all the time; the event
loop, which needs it for every request, would wait behind a crowd of them. With turns, it
waits behind n (the CPU count), and the runs share the cores first come, first served.
"""

from __future__ import annotations

import threading
import time
from collections import deque

SLICE_SECONDS = 0.02
"""How long a run keeps its turn before it lets the next in line step."""


class Turns:
    """n turns, handed directly to the longest-waiting thread (FIFO: no thread starves)."""

    def __init__(self, n: int) -> None:
        self.free = n
        self.lock = threading.Lock()
        self.line: deque[threading.Lock] = deque()

    def take(self) -> None:
        """Wait for a turn."""
        with self.lock:
            if self.free and not self.line:
                self.free -= 1
                return
            gate = threading.Lock()
            gate.acquire()
            self.line.append(gate)
        gate.acquire()  # `give` releases it: the turn passes straight to this thread

    def give(self) -> None:
        """Pass a turn to the next in line, or free it."""
        with self.lock:
            if self.line:
                self.line.popleft().release()
            else:
                self.free += 1


class Turn:
    """One thread's use of the turns: take one before a step, keep it for a time slice."""

    def __init__(self, turns: Turns) -> None:
        self.turns = turns
        self.since: float | None = None

    def take(self) -> None:
        if self.since is None:
            self.turns.take()
            self.since = time.monotonic()

    def give(self) -> None:
        if self.since is not None:
            self.since = None
            self.turns.give()

    def done_step(self) -> None:
        """After a step: let the next in line go once the slice is used up."""
        if self.since is not None and time.monotonic() - self.since > SLICE_SECONDS:
            self.give()
