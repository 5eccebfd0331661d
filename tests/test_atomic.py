"""Atomic writes: all or nothing under the final name, and no dead writers' leftovers."""

from __future__ import annotations

import os
import time

import pytest

from scratchdl.runtime.atomic import STALE_AFTER_S, atomic_path


def age(path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_success_replaces_and_a_failure_leaves_the_old_file(tmp_path):
    target = tmp_path / "model.npz"
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"one")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]


def test_a_dead_writers_leftover_goes_with_the_next_write(tmp_path):
    """A SIGKILL mid-write leaves `.NAME.*.tmp`; the next write removes it once stale."""
    dead = tmp_path / ".model.npz.k1ll3d.tmp"
    busy = tmp_path / ".model.npz.wr1t1ng.tmp"
    other = tmp_path / ".other.npz.k1ll3d.tmp"
    for leftover in (dead, busy, other):
        leftover.write_bytes(b"partial")
    age(dead, STALE_AFTER_S + 60)
    age(other, STALE_AFTER_S + 60)
    with atomic_path(tmp_path / "model.npz") as tmp:
        tmp.write_bytes(b"whole")
    assert not dead.exists()
    assert busy.exists() and other.exists()  # maybe still being written; another file's
