"""Structured log events of the fault engine and its API, and the two line formats ``serve`` writes.

The engine logs through the standard ``logging`` module under ``sockharness.faults``; each event is a short
message plus fields (``proxy``, ``listen``, ``upstream``, ``client``...) carried in ``record.fields``. A
library user sees nothing unless they configure logging; ``sockharness serve`` prints them as text or as
one JSON object per line (as Toxiproxy does). Per-connection events are only built when their level is
enabled, so the relay pays one ``isEnabledFor`` check when logging is off.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

LOGGER_NAME = "sockharness.faults"
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}

engine_log = logging.getLogger(f"{LOGGER_NAME}.engine")
# A library stays quiet unless its user configures logging (no "last resort" lines on stderr).
logging.getLogger(LOGGER_NAME).addHandler(logging.NullHandler())


def log_event(logger: logging.Logger, level: int, message: str, **fields: object) -> None:
    """Log ``message`` with ``fields`` attached (skipped cheaply when ``level`` is off)."""
    if logger.isEnabledFor(level):
        logger.log(level, message, extra={"fields": fields})


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return dict(fields) if isinstance(fields, dict) else {}


def _iso_time(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"


class TextFormatter(logging.Formatter):
    """``2026-01-01T00:00:00.000Z INFO  Proxy created proxy=redis listen=127.0.0.1:4100 ...``"""

    def format(self, record: logging.LogRecord) -> str:
        parts = [_iso_time(record.created), f"{record.levelname:<7}", record.getMessage()]
        parts += [f"{key}={_text_value(value)}" for key, value in _fields(record).items()]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _text_value(value: object) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=True) if (not text or " " in text or '"' in text) else text


class JSONFormatter(logging.Formatter):
    """One JSON object per line: ``level``, ``time``, ``message``, ``logger`` and the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "level": record.levelname.lower(),
            "time": _iso_time(record.created),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _fields(record).items():
            payload.setdefault(key, value)
        if record.exc_info:
            payload["error"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=True, default=str)


__all__ = ["LEVELS", "LOGGER_NAME", "JSONFormatter", "TextFormatter", "engine_log", "log_event"]
