"""Running the installed ``sockharness`` command the way a user does, for the command-line tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run_sockharness(*args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """``python -m sockharness ARGS`` in ``cwd`` with this interpreter; output captured, status unchecked."""
    return subprocess.run(
        [sys.executable, "-m", "sockharness", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
