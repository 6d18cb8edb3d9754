"""The reference table of actions, rendered from the registry (the docs are checked against it)."""

from __future__ import annotations

import typing
from typing import Final

from pydantic import BaseModel

from sockharness.scenario._actions.base import REGISTRY, Action, Container

__all__ = ["argument_keys", "docs_table", "traits_of"]

#: Arguments that are one scalar, not a mapping (``sleep: 100ms``, ``remove_packet_fault: f``).
_SCALAR_WORDS: Final = {"sleep": "a duration", "remove_packet_fault": "a fault name"}


def _models(arguments: object) -> list[type[BaseModel]]:
    """The argument models inside an argument type (``Annotated[...]``, unions of toxics)."""
    if isinstance(arguments, type) and issubclass(arguments, BaseModel):
        return [arguments]
    found: list[type[BaseModel]] = []
    for inner in typing.get_args(arguments):
        found.extend(_models(inner))
    return found


def argument_keys(action: Action[object, object]) -> str:
    """The YAML keys of an action's arguments; required ones first, optional ones in brackets."""
    models = _models(action.arguments)
    if not models:
        return _SCALAR_WORDS.get(action.name, "a scalar")
    required: list[str] = []
    optional: list[str] = []
    for model in models:
        for field_name, info in model.model_fields.items():
            key = info.alias or field_name
            target = required if info.is_required() else optional
            if key not in required and key not in optional:
                target.append(key)
    keys = [f"`{key}`" for key in required] + [f"[`{key}`]" for key in optional]
    return ", ".join(keys)


def traits_of(action: Action[object, object]) -> str:
    """The result traits the expectations and the runner rely on, in words."""
    traits = []
    if action.yields_bytes:
        traits.append("bytes")
    if action.result_is_errno:
        traits.append("errno")
    elif type(action).returns_errno is not Action.returns_errno:
        traits.append("errno (per call)")
    if type(action).offered is not Action.offered:
        traits.append("sets `$offered`")
    if isinstance(action, Container):
        traits.append("contains steps")
    if action.needs_netns:
        traits.append("netns only")
    return ", ".join(traits)


def docs_table() -> str:
    """The markdown table of every action: arguments, what it returns, traits, one-line summary."""
    lines = [
        "| action | arguments | returns | traits | summary |",
        "|---|---|---|---|---|",
    ]
    for name, action in REGISTRY.items():
        cells = (f"`{name}`", argument_keys(action), action.returns, traits_of(action), action.summary)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
