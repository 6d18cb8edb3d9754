"""Running the installed ``sockharness`` command the way a user does, for the command-line tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def run_sockharness(*args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """``python -m sockharness ARGS`` in ``cwd`` with this interpreter; output captured, status unchecked.

    A run past ``timeout`` fails the test with the end of what the command printed (which test it was in,
    and the random order's seed), rather than with subprocess's bare TimeoutExpired."""
    try:
        return subprocess.run(
            [sys.executable, "-m", "sockharness", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as expired:
        printed = "".join(_text(part) for part in (expired.stdout, expired.stderr))
        pytest.fail(f"sockharness {' '.join(args)} ran past {timeout:g}s; it printed:\n{printed[-4000:]}")


def _text(part: bytes | str | None) -> str:
    if part is None:
        return ""
    return part.decode(errors="replace") if isinstance(part, bytes) else part
