"""Turn a step's validated arguments into the plain values a socket call takes.

Names become what they stand for at run time: a peer or socket name becomes an address, ``$var`` a saved
value, ``SO_REUSEADDR`` its number on this platform, a payload its bytes (from the scenario's seeded
generators), a list of ``MSG_*`` names one flags integer.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

from sockharness.scenario._actions.base import SockAddress
from sockharness.scenario._language.model_types import AddressSpec
from sockharness.scenario._language.model_values import Payload
from sockharness.scenario._language.payloads import PayloadSource
from sockharness.scenario._run.context import ScenarioContext, ScenarioSetupError
from sockharness.scenario._run.matchers import UnknownVariableError, resolve_variable


class Resolver:
    """The scenario's seeded payload generators (derived from run seed, file and scenario name)."""

    def __init__(self, seed: int, file: str, scenario: str) -> None:
        self.source = PayloadSource.for_scenario(seed, file, scenario)

    def payload(self, value: Payload) -> bytes:
        return self.source.resolve(value)


def constant(value: str | int) -> int:
    """``"SO_REUSEADDR"`` -> its number here; integers pass through (to test invalid values)."""
    if isinstance(value, str):
        resolved = getattr(socket, value, None)
        if not isinstance(resolved, int):
            raise ScenarioSetupError(f"socket.{value} does not exist on this platform")
        return int(resolved)
    return int(value)


def flags(values: Sequence[str | int]) -> int:
    result = 0
    for value in values:
        result |= constant(value)
    return result


def variable(ctx: ScenarioContext, text: str) -> object:
    """The value of ``$name`` / ``$name[0][1]`` (the matchers' lookup); a clear error names what is known."""
    try:
        return resolve_variable(text, ctx.variables)
    except UnknownVariableError as error:
        raise ScenarioSetupError(str(error)) from None


def address(ctx: ScenarioContext, spec: AddressSpec) -> SockAddress:
    """A peer's address, a scenario socket's ``getsockname()``, a saved value, or a literal."""
    if spec.ref is not None:
        if spec.ref in ctx.peers:
            peer_address: tuple[object, ...] = tuple(ctx.peers[spec.ref].address)
            return peer_address
        if spec.ref in ctx.sockets:
            local: SockAddress = ctx.sockets[spec.ref].getsockname()
            return local
        peers = ", ".join(sorted(ctx.peers)) or "none"
        sockets = ", ".join(sorted(ctx.sockets)) or "none"
        raise ScenarioSetupError(f"address {spec.ref!r} is neither a peer ({peers}) nor a socket ({sockets})")
    if spec.variable is not None:
        value = variable(ctx, spec.variable)
        if isinstance(value, list | tuple):
            return tuple(value)
        if isinstance(value, str | bytes):
            return value
        raise ScenarioSetupError(f"address {spec.text}: {value!r} is not an address")
    if spec.literal is not None:
        return tuple(spec.literal)
    raise ScenarioSetupError(f"address {spec.text!r} could not be resolved")


class Resolution:
    """The :class:`~sockharness.scenario._actions.Environment` of one run: what actions resolve against."""

    def __init__(self, ctx: ScenarioContext, resolver: Resolver) -> None:
        self.ctx = ctx
        self.resolver = resolver

    def payload(self, value: Payload) -> bytes:
        return self.resolver.payload(value)

    def address(self, spec: AddressSpec) -> SockAddress:
        return address(self.ctx, spec)

    def variable(self, text: str) -> object:
        return variable(self.ctx, text)

    def port_of(self, peer: str) -> int:
        return int(self.ctx.peer(peer).port)

    def constant(self, value: str | int) -> int:
        return constant(value)

    def flags(self, values: Sequence[str | int]) -> int:
        return flags(values)
