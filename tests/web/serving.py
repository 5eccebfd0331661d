"""Helpers for the tests of `scratchdl serve` and `scratchdl lab`: optional modules, PNG
bytes, the servers."""

from __future__ import annotations

import importlib
import io
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

BOOK_ACCURACY = 0.9890
"""The test accuracy of the book's ch07 SimpleConvNet weights."""

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"]
"""Debian's Chromium, and its flags for headless tests with nothing reached outside."""


def need(module: str):
    """Import `module` (from the web extra or Playwright); fail in CI, skip elsewhere."""
    try:
        return importlib.import_module(module)
    except ImportError:
        message = f"{module} is not installed: pip install -e \".[dev,web]\""
        if os.environ.get("CI"):
            pytest.fail(f"{message} (.ci/run installs it)")
        pytest.skip(message)


def need_chromium():
    """Playwright's sync API, with Debian's Chromium there to drive; fail in CI, skip
    elsewhere."""
    sync_api = need("playwright.sync_api")
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} not found: apt-get install chromium"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (.ci/run installs it)")
        pytest.skip(message)
    return sync_api


def png(a: np.ndarray) -> bytes:
    """A uint8 image as PNG bytes."""
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def start_command(*argv: str) -> tuple[subprocess.Popen, str]:
    """`python -m scratchdl ARGV` (a web app listening on --port 0) in a child process, and
    the address its first line prints."""
    need("starlette")
    need("uvicorn")
    proc = subprocess.Popen([sys.executable, "-m", "scratchdl", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    found = re.search(r"http://\S+/", line)
    if not found:
        proc.kill()
        raise AssertionError(f"{argv[0]} printed {line!r}; stderr: {proc.stderr.read()}")
    return proc, found.group(0)


def start_server(model: Path, *args: str) -> tuple[subprocess.Popen, str]:
    """`scratchdl serve MODEL --port 0 ARGS` in a child process, and the address it prints."""
    return start_command("serve", str(model), "--port", "0", *args)


def start_lab(*args: str) -> tuple[subprocess.Popen, str]:
    """`scratchdl lab --port 0 ARGS` in a child process, and the address it prints."""
    return start_command("lab", "--port", "0", *args)


def stop_server(proc: subprocess.Popen) -> tuple[int, str, str]:
    """Ctrl-C the server; (exit status, rest of stdout, stderr)."""
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err
