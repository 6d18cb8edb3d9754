"""Skip, or fail under CI: a prerequisite missing on a laptop is a skip; on CI it is a broken pipeline.

Every place that can skip for lack of something (a Toxiproxy server, the network namespace mode) says so
through :func:`skip_or_fail`, so the rule and its wording are the same everywhere.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def under_ci() -> bool:
    """True when the ``CI`` environment variable is set to anything non-empty (as CI services do)."""
    return bool(os.environ.get("CI"))


def skip_or_fail(what: str, reason: str) -> NoReturn:
    """Skip with ``reason``; under CI, fail instead, naming ``what`` was required."""
    if under_ci():
        pytest.fail(f"{what} required under CI: {reason}", pytrace=False)
    pytest.skip(reason)
