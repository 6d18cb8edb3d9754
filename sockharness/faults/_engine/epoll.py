"""What the embedded fault engine needs from the platform, checked when an engine starts, never at import.

Loading the pytest plugin must work everywhere (scenarios and peers are portable); only creating an engine
needs Linux's epoll, so that is where a missing piece is named.
"""

from __future__ import annotations

import select


class EngineUnsupported(RuntimeError):
    """The embedded engine cannot run on this platform; the message names what is missing."""


def require_epoll() -> None:
    """Raise :class:`EngineUnsupported` when ``select.epoll`` is missing (anything but Linux)."""
    if not hasattr(select, "epoll"):
        raise EngineUnsupported(
            "the embedded fault engine needs Linux's select.epoll, which this platform's Python lacks; "
            "use --sockharness-backend toxiproxy with a real Toxiproxy server instead"
        )


__all__ = ["EngineUnsupported", "require_epoll"]
