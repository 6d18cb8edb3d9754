"""Turn a step's validated arguments into the plain values a socket call takes.

Names become what they stand for at run time: a peer or socket name becomes an address, ``$var`` a saved
value, ``SO_REUSEADDR`` its number on this platform, a payload its bytes (from the scenario's seeded
generators), a list of ``MSG_*`` names one flags integer.
"""

from __future__ import annotations

import socket
from typing import Any

from sockharness.scenario.context import ScenarioContext, ScenarioSetupError
from sockharness.scenario.model_types import AddressSpec, parse_variable
from sockharness.scenario.payloads import PayloadSource

#: Argument keys holding socket-module constants (given by name or number).
_CONSTANT_KEYS = frozenset({"family", "type", "proto", "level", "option", "how"})
#: Argument keys holding payloads (bytes on the wire).
_PAYLOAD_KEYS = frozenset({"data", "delimiter"})


class Resolver:
    """The scenario's seeded payload generators (derived from run seed, file and scenario name)."""

    def __init__(self, seed: int, file: str, scenario: str) -> None:
        self.source = PayloadSource.for_scenario(seed, file, scenario)

    def payload(self, value: Any) -> bytes:
        return self.source.resolve(value)


def constant(value: str | int) -> int:
    """``"SO_REUSEADDR"`` -> its number here; integers pass through (to test invalid values)."""
    if isinstance(value, str):
        resolved = getattr(socket, value, None)
        if not isinstance(resolved, int):
            raise ScenarioSetupError(f"socket.{value} does not exist on this platform")
        return int(resolved)
    return int(value)


def flags(values: list[str | int]) -> int:
    result = 0
    for value in values:
        result |= constant(value)
    return result


def variable(ctx: ScenarioContext, text: str) -> Any:
    """The value of ``$name`` / ``$name[0][1]``; a clear error names what is known."""
    name, indexes = parse_variable(text)
    if name not in ctx.variables:
        known = ", ".join(f"${known}" for known in sorted(ctx.variables)) or "none yet"
        raise ScenarioSetupError(f"{text}: no saved value named {name!r} (saved so far: {known})")
    value = ctx.variables[name]
    for position in indexes:
        try:
            value = value[position]
        except (TypeError, IndexError) as exc:
            raise ScenarioSetupError(f"{text}: cannot index {value!r} with [{position}] ({exc})") from None
    return value


def address(ctx: ScenarioContext, spec: AddressSpec) -> Any:
    """A peer's address, a scenario socket's ``getsockname()``, a saved value, or a literal."""
    if spec.ref is not None:
        if spec.ref in ctx.peers:
            return tuple(ctx.peers[spec.ref].address)
        if spec.ref in ctx.sockets:
            return ctx.sockets[spec.ref].getsockname()
        peers = ", ".join(sorted(ctx.peers)) or "none"
        sockets = ", ".join(sorted(ctx.sockets)) or "none"
        raise ScenarioSetupError(f"address {spec.ref!r} is neither a peer ({peers}) nor a socket ({sockets})")
    if spec.variable is not None:
        value = variable(ctx, spec.variable)
        return tuple(value) if isinstance(value, list) else value
    if spec.literal is not None:
        return tuple(spec.literal)
    raise ScenarioSetupError(f"address {spec.text!r} could not be resolved")


def _port_of(ctx: ScenarioContext, args: Any) -> int:
    if args.peer is not None:
        return int(ctx.peer(args.peer).port)
    if isinstance(args.port, str):
        return int(variable(ctx, args.port))
    return int(args.port)


def resolve_args(action: str, args: Any, ctx: ScenarioContext, resolver: Resolver) -> dict[str, Any]:
    """The keyword values for ``actions.ACTIONS[action]``."""
    if action == "sleep":
        return {"seconds": float(args)}
    if action == "remove_packet_fault":
        return {"name": str(args)}
    if action == "add_toxic":
        return {
            "proxy": args.proxy,
            "type": args.type,
            "name": args.name,
            "stream": args.stream,
            "toxicity": args.toxicity,
            "attributes": args.attribute_values(),
        }
    if action == "packet_fault":
        return {
            "kind": args.kind,
            "port": _port_of(ctx, args),
            "direction": args.direction,
            "percent": args.percent,
            "reject_with": args.with_,
            "name": args.as_,
        }
    resolved: dict[str, Any] = {}
    for field_name, info in type(args).model_fields.items():
        key = info.alias or field_name
        value = getattr(args, field_name)
        if isinstance(value, AddressSpec):
            resolved[key] = address(ctx, value)
        elif key in _CONSTANT_KEYS and value is not None:
            resolved[key] = constant(value)
        elif key == "flags":
            resolved[key] = flags(value)
        elif (key in _PAYLOAD_KEYS and value is not None) or (
            action == "setsockopt" and key == "value" and not isinstance(value, int)
        ):
            resolved[key] = resolver.payload(value)
        else:
            resolved[key] = value
    return resolved
