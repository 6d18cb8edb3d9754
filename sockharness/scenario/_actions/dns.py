"""Name resolution: ``getaddrinfo`` as a step, so a scenario asserts the ``socket.gaierror`` codes
(EAI_NONAME, EAI_AGAIN, ...) a DNS peer's faults produce (netns mode: see ``netns/_resolver.py``)."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from sockharness.scenario._actions.args import Args
from sockharness.scenario._actions.base import Action, Environment, register
from sockharness.scenario._language.model_types import socket_constant

if TYPE_CHECKING:
    from sockharness.scenario._run.context import ScenarioContext


class GetaddrinfoArgs(Args):
    host: Annotated[str, Field(min_length=1)]
    port: Annotated[int, Field(ge=0, le=65535)] = 0
    family: socket_constant("AF_") = "AF_UNSPEC"  # type: ignore[valid-type]
    type: socket_constant("SOCK_") = 0  # type: ignore[valid-type]


@dataclass(frozen=True)
class Lookup:
    host: str
    port: int
    family: int
    type: int


@register
class GetaddrinfoAction(Action[GetaddrinfoArgs, Lookup]):
    name = "getaddrinfo"
    summary = "`socket.getaddrinfo(host, port, family, type)`: the system resolver (DNS peers: netns mode)"
    arguments = GetaddrinfoArgs
    returns = "the (family, type, proto, canonname, sockaddr) tuples"

    def resolve(self, args: GetaddrinfoArgs, env: Environment) -> Lookup:
        return Lookup(args.host, args.port, env.constant(args.family), env.constant(args.type))

    def call(self, ctx: ScenarioContext, resolved: Lookup) -> object:
        return socket.getaddrinfo(resolved.host, resolved.port, resolved.family, resolved.type)
