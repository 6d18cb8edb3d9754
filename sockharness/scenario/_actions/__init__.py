"""The scenario action registry: one entry per YAML action, everything else derived from it.

Importing this package registers every built-in action (the family modules below, in docs order).
Adding an action is one class in one of them (or a new family module imported here), its tests, a
scenario under ``scenarios/`` that uses it, and the regenerated schema.
"""

from __future__ import annotations

from importlib import import_module
from typing import Final

from sockharness.scenario._actions.base import (
    REGISTRY,
    Action,
    BodyRunner,
    Container,
    Environment,
    Introduce,
    Outcome,
    ScenarioSetupError,
    ToxicChange,
    Use,
)
from sockharness.scenario._actions.docs import docs_table

#: The family modules, in the order the docs (and error messages listing actions) show their entries.
FAMILIES: Final = ("sockets", "harness", "control", "netns", "dns", "tls", "calls")
for _family in FAMILIES:
    import_module(f"{__name__}.{_family}")

__all__ = [
    "FAMILIES",
    "REGISTRY",
    "Action",
    "BodyRunner",
    "Container",
    "Environment",
    "Introduce",
    "Outcome",
    "ScenarioSetupError",
    "ToxicChange",
    "Use",
    "docs_table",
]
