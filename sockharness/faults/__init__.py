"""Fault injection: the embedded Toxiproxy-compatible engine, its HTTP API, and the backends.

Internals live in ``_engine`` (toxic registry, chains, reactor), ``_api`` (the HTTP API and ``serve``) and
``_backends`` (embedded and real Toxiproxy). The names below are the public surface; they are imported
on first use, so importing this package never loads the Linux-only epoll engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sockharness._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "DOWNSTREAM": "sockharness.faults._engine.toxics",
    "UPSTREAM": "sockharness.faults._engine.toxics",
    "ToxicSpec": "sockharness.faults._engine.toxics",
    "Target": "sockharness.faults._engine.targeting",
    "InvalidTarget": "sockharness.faults._engine.targeting",
    "render_target_table": "sockharness.faults._engine.targeting",
    "ConnectionRecord": "sockharness.faults._engine.connection_log",
    "TOXICS": "sockharness.faults._engine.toxic_types",
    "Attribute": "sockharness.faults._engine.toxic_types",
    "ToxicType": "sockharness.faults._engine.toxic_types",
    "Unit": "sockharness.faults._engine.toxic_types",
    "render_toxic_table": "sockharness.faults._engine.toxic_types",
    "InvalidAttribute": "sockharness.faults._engine.toxic_types",
    "UnknownToxicType": "sockharness.faults._engine.toxic_types",
    "UnsupportedToxic": "sockharness.faults._engine.toxic_types",
    "FaultEngine": "sockharness.faults._engine.engine",
    "BadRequest": "sockharness.faults._errors",
    "FaultError": "sockharness.faults._errors",
    "ListenError": "sockharness.faults._errors",
    "FaultBackend": "sockharness.faults._interface",
    "FaultProxy": "sockharness.faults._interface",
    "EmbeddedBackend": "sockharness.faults._backends.embedded",
    "ToxiproxyBackend": "sockharness.faults._backends.toxiproxy_backend",
    "ToxiproxyAPI": "sockharness.faults._api.api_routes",
    "ToxiproxyAPIServer": "sockharness.faults._api.http_api",
}
__all__ = [
    "DOWNSTREAM",
    "TOXICS",
    "UPSTREAM",
    "Attribute",
    "BadRequest",
    "ConnectionRecord",
    "EmbeddedBackend",
    "FaultBackend",
    "FaultEngine",
    "FaultError",
    "FaultProxy",
    "InvalidAttribute",
    "InvalidTarget",
    "ListenError",
    "Target",
    "ToxicSpec",
    "ToxicType",
    "ToxiproxyAPI",
    "ToxiproxyAPIServer",
    "ToxiproxyBackend",
    "Unit",
    "UnknownToxicType",
    "UnsupportedToxic",
    "render_target_table",
    "render_toxic_table",
]

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)

if TYPE_CHECKING:
    from sockharness.faults._api.api_routes import ToxiproxyAPI
    from sockharness.faults._api.http_api import ToxiproxyAPIServer
    from sockharness.faults._backends.embedded import EmbeddedBackend
    from sockharness.faults._backends.toxiproxy_backend import ToxiproxyBackend
    from sockharness.faults._engine.connection_log import ConnectionRecord
    from sockharness.faults._engine.engine import FaultEngine
    from sockharness.faults._engine.targeting import InvalidTarget, Target, render_target_table
    from sockharness.faults._engine.toxic_types import (
        TOXICS,
        Attribute,
        InvalidAttribute,
        ToxicType,
        Unit,
        UnknownToxicType,
        UnsupportedToxic,
        render_toxic_table,
    )
    from sockharness.faults._engine.toxics import DOWNSTREAM, UPSTREAM, ToxicSpec
    from sockharness.faults._errors import BadRequest, FaultError, ListenError
    from sockharness.faults._interface import FaultBackend, FaultProxy
