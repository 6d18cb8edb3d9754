"""The step actions. Each one is an entry of :data:`sockharness.scenario._actions.REGISTRY` (one class
that owns its arguments, their resolution, the call and its result traits); this module keeps the
names that used to live here."""

from __future__ import annotations

from sockharness.scenario._actions import REGISTRY, Action
from sockharness.scenario._actions.sockets import RECV_UNTIL_BUFSIZE

__all__ = ["ACTIONS", "RECV_UNTIL_BUFSIZE", "Action"]

#: action name -> registry entry.
ACTIONS = REGISTRY
