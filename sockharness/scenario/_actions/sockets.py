"""Actions that make one call on a scenario socket (``socket``, ``connect``, ``recv``, ``setsockopt``...).

Each call is a thin, honest wrapper around the real method: the runner times it and captures its return
value or exception; nothing here retries or swallows errors.
"""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Final, Literal

from pydantic import ConfigDict, Discriminator, Field, Tag, WithJsonSchema, model_validator

from sockharness._socket_impl import socket_impl
from sockharness._units import DURATION_PATTERN, parse_duration
from sockharness.scenario._actions.args import (
    Args,
    MsgFlags,
    SocketRefArgs,
    one_of_required,
    with_shorthand,
)
from sockharness.scenario._actions.base import (
    Action,
    Environment,
    Introduce,
    SockAddress,
    Use,
    register,
    socket_use,
)
from sockharness.scenario._language.model_types import (
    Address,
    Duration,
    Name,
    PositiveCount,
    RawInt,
    Size,
    check_exclusive,
    parsed_by,
    socket_constant,
)
from sockharness.scenario._language.model_values import Payload

if TYPE_CHECKING:
    from sockharness.scenario._run.context import ScenarioContext

#: ``recv_until`` reads in chunks of this many bytes unless ``bufsize`` says otherwise.
RECV_UNTIL_BUFSIZE: Final = 64 * 1024


# --- typed resolved arguments ------------------------------------------------------------------------


@dataclass(frozen=True)
class OnSocket:
    """A call that takes nothing but the socket."""

    socket: str


@dataclass(frozen=True)
class WithAddress:
    socket: str
    address: SockAddress


@dataclass(frozen=True)
class WithData:
    socket: str
    data: bytes
    flags: int


@dataclass(frozen=True)
class SendTo:
    socket: str
    data: bytes
    flags: int
    address: SockAddress


@dataclass(frozen=True)
class WithBufsize:
    socket: str
    bufsize: int
    flags: int


# --- socket / blocking / timeouts --------------------------------------------------------------------


class SocketArgs(Args):
    as_: Name = Field(alias="as")
    family: socket_constant("AF_") = "AF_INET"  # type: ignore[valid-type]
    type: socket_constant("SOCK_") = "SOCK_STREAM"  # type: ignore[valid-type]
    proto: socket_constant("IPPROTO_") = 0  # type: ignore[valid-type]


@dataclass(frozen=True)
class NewSocket:
    name: str
    family: int
    type: int
    proto: int


@register
class SocketAction(Action[SocketArgs, NewSocket]):
    name = "socket"
    summary = "create a socket (`socket.socket(family, type, proto)`) and name it"
    arguments = SocketArgs
    # The one place a scenario's own sockets are made: `sockharness run --socket-impl` swaps the maker.

    def introduces(self, args: SocketArgs) -> Iterator[Introduce]:
        yield Introduce("socket", args.as_)

    def resolve(self, args: SocketArgs, env: Environment) -> NewSocket:
        constant = env.constant
        return NewSocket(args.as_, constant(args.family), constant(args.type), constant(args.proto))

    def call(self, ctx: ScenarioContext, resolved: NewSocket) -> None:
        maker = socket_impl(ctx.options.socket_impl)
        ctx.add_socket(resolved.name, maker.socket(resolved.family, resolved.type, resolved.proto))


class _SocketOnly(Action[SocketRefArgs, OnSocket]):
    """Shared shape of the calls that take only the socket (``close: c`` shorthand)."""

    arguments = with_shorthand(SocketRefArgs, "socket")

    def uses(self, args: SocketRefArgs) -> Iterator[Use]:
        yield socket_use(args.socket)

    def resolve(self, args: SocketRefArgs, env: Environment) -> OnSocket:
        return OnSocket(args.socket)


# --- addresses and connections -----------------------------------------------------------------------


class AddressArgs(SocketRefArgs):
    address: Address


class _AddressCall(Action[AddressArgs, WithAddress]):
    arguments = AddressArgs

    def uses(self, args: AddressArgs) -> Iterator[Use]:
        yield socket_use(args.socket)
        yield Use("address", args.address, ("address",))

    def resolve(self, args: AddressArgs, env: Environment) -> WithAddress:
        return WithAddress(args.socket, env.address(args.address))


@register
class BindAction(_AddressCall):
    name = "bind"
    summary = "`sock.bind(address)`"

    def call(self, ctx: ScenarioContext, resolved: WithAddress) -> None:
        ctx.socket(resolved.socket).bind(resolved.address)


class ListenArgs(SocketRefArgs):
    backlog: RawInt | None = None


@dataclass(frozen=True)
class Listen:
    socket: str
    backlog: int | None


@register
class ListenAction(Action[ListenArgs, Listen]):
    name = "listen"
    summary = "`sock.listen([backlog])`"
    arguments = ListenArgs

    def uses(self, args: ListenArgs) -> Iterator[Use]:
        yield socket_use(args.socket)

    def resolve(self, args: ListenArgs, env: Environment) -> Listen:
        return Listen(args.socket, args.backlog)

    def call(self, ctx: ScenarioContext, resolved: Listen) -> None:
        sock = ctx.socket(resolved.socket)
        if resolved.backlog is None:
            sock.listen()
        else:
            sock.listen(resolved.backlog)


class SetblockingArgs(SocketRefArgs):
    flag: bool


@dataclass(frozen=True)
class Blocking:
    socket: str
    flag: bool


@register
class SetblockingAction(Action[SetblockingArgs, Blocking]):
    name = "setblocking"
    summary = "`sock.setblocking(flag)`"
    arguments = SetblockingArgs

    def uses(self, args: SetblockingArgs) -> Iterator[Use]:
        yield socket_use(args.socket)

    def resolve(self, args: SetblockingArgs, env: Environment) -> Blocking:
        return Blocking(args.socket, args.flag)

    def call(self, ctx: ScenarioContext, resolved: Blocking) -> None:
        ctx.socket(resolved.socket).setblocking(resolved.flag)


@register
class GetblockingAction(_SocketOnly):
    name = "getblocking"
    summary = "`sock.getblocking()`"
    returns = "bool"

    def call(self, ctx: ScenarioContext, resolved: OnSocket) -> bool:
        return ctx.socket(resolved.socket).getblocking()


def _timeout_value(value: object) -> float | int | bool | None:
    """A duration string, null, or a raw number passed as-is (so -1 and 1e10 can test the errors)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    return parse_duration(value)  # explains any other type


class SettimeoutArgs(SocketRefArgs):
    value: Annotated[
        float | int | bool | None,
        parsed_by(_timeout_value),
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": ["null", "number", "boolean"]},
                    {"type": "string", "pattern": DURATION_PATTERN},
                ],
                "description": "a duration, null (blocking), or a raw number passed as-is",
            }
        ),
    ]


@dataclass(frozen=True)
class Timeout:
    socket: str
    value: float | None


@register
class SettimeoutAction(Action[SettimeoutArgs, Timeout]):
    name = "settimeout"
    summary = "`sock.settimeout(value)`: a duration, null (blocking), or a raw number to test the errors"
    arguments = SettimeoutArgs

    def uses(self, args: SettimeoutArgs) -> Iterator[Use]:
        yield socket_use(args.socket)

    def resolve(self, args: SettimeoutArgs, env: Environment) -> Timeout:
        return Timeout(args.socket, args.value)

    def call(self, ctx: ScenarioContext, resolved: Timeout) -> None:
        ctx.socket(resolved.socket).settimeout(resolved.value)


@register
class GettimeoutAction(_SocketOnly):
    name = "gettimeout"
    summary = "`sock.gettimeout()`"
    returns = "float or None"

    def call(self, ctx: ScenarioContext, resolved: OnSocket) -> float | None:
        return ctx.socket(resolved.socket).gettimeout()


class AcceptArgs(SocketRefArgs):
    as_: Name | None = Field(default=None, alias="as")


@dataclass(frozen=True)
class Accept:
    socket: str
    name: str | None


@register
class AcceptAction(Action[AcceptArgs, Accept]):
    name = "accept"
    summary = "`sock.accept()`; the new connection is named by `as` (else closed at the end)"
    arguments = AcceptArgs
    returns = "the peer address"

    def uses(self, args: AcceptArgs) -> Iterator[Use]:
        yield socket_use(args.socket)

    def introduces(self, args: AcceptArgs) -> Iterator[Introduce]:
        if args.as_ is not None:
            yield Introduce("socket", args.as_)

    def resolve(self, args: AcceptArgs, env: Environment) -> Accept:
        return Accept(args.socket, args.as_)

    def call(self, ctx: ScenarioContext, resolved: Accept) -> object:
        conn, address = ctx.socket(resolved.socket).accept()
        # Without a name nobody can refer to it, but it must not leak: track it for closing at the end.
        ctx.add_socket(resolved.name or f"accepted#{len(ctx.sockets)}", conn)
        return address


@register
class ConnectAction(_AddressCall):
    name = "connect"
    summary = "`sock.connect(address)`"

    def call(self, ctx: ScenarioContext, resolved: WithAddress) -> None:
        ctx.socket(resolved.socket).connect(resolved.address)


@register
class ConnectExAction(_AddressCall):
    name = "connect_ex"
    summary = "`sock.connect_ex(address)`: the errno as the result instead of an exception"
    returns = "errno (0 on success)"
    result_is_errno = True

    def call(self, ctx: ScenarioContext, resolved: WithAddress) -> int:
        return ctx.socket(resolved.socket).connect_ex(resolved.address)


# --- sending -----------------------------------------------------------------------------------------


class SendArgs(SocketRefArgs):
    data: Payload
    flags: MsgFlags = Field(default_factory=list)


class SendtoArgs(SendArgs):
    address: Address


class _Sending(Action[SendArgs, WithData]):
    arguments = SendArgs

    def uses(self, args: SendArgs) -> Iterator[Use]:
        yield socket_use(args.socket)

    def resolve(self, args: SendArgs, env: Environment) -> WithData:
        return WithData(args.socket, env.payload(args.data), env.flags(args.flags))

    def offered(self, resolved: WithData) -> int:
        return len(resolved.data)


@register
class SendAction(_Sending):
    name = "send"
    summary = "`sock.send(data, flags)`; sets `$offered` to the payload's length"
    returns = "bytes sent"

    def call(self, ctx: ScenarioContext, resolved: WithData) -> int:
        return ctx.socket(resolved.socket).send(resolved.data, resolved.flags)


@register
class SendallAction(_Sending):
    name = "sendall"
    summary = "`sock.sendall(data, flags)`; sets `$offered`"

    def call(self, ctx: ScenarioContext, resolved: WithData) -> None:
        ctx.socket(resolved.socket).sendall(resolved.data, resolved.flags)


@register
class SendtoAction(Action[SendtoArgs, SendTo]):
    name = "sendto"
    summary = "`sock.sendto(data, [flags,] address)`; sets `$offered`"
    arguments = SendtoArgs
    returns = "bytes sent"

    def uses(self, args: SendtoArgs) -> Iterator[Use]:
        yield socket_use(args.socket)
        yield Use("address", args.address, ("address",))

    def resolve(self, args: SendtoArgs, env: Environment) -> SendTo:
        return SendTo(args.socket, env.payload(args.data), env.flags(args.flags), env.address(args.address))

    def offered(self, resolved: SendTo) -> int:
        return len(resolved.data)

    def call(self, ctx: ScenarioContext, resolved: SendTo) -> int:
        sock = ctx.socket(resolved.socket)
        if resolved.flags:
            return sock.sendto(resolved.data, resolved.flags, resolved.address)
        return sock.sendto(resolved.data, resolved.address)


# --- receiving ---------------------------------------------------------------------------------------


class RecvArgs(SocketRefArgs):
    bufsize: Size
    flags: MsgFlags = Field(default_factory=list)


class _Receiving(Action[RecvArgs, WithBufsize]):
    arguments = RecvArgs
    yields_bytes = True

    def uses(self, args: RecvArgs) -> Iterator[Use]:
        yield socket_use(args.socket)

    def resolve(self, args: RecvArgs, env: Environment) -> WithBufsize:
        return WithBufsize(args.socket, args.bufsize, env.flags(args.flags))


@register
class RecvAction(_Receiving):
    name = "recv"
    summary = "`sock.recv(bufsize, flags)`: one call, whatever it returns"
    returns = "bytes"

    def call(self, ctx: ScenarioContext, resolved: WithBufsize) -> bytes:
        return ctx.socket(resolved.socket).recv(resolved.bufsize, resolved.flags)


@register
class RecvfromAction(_Receiving):
    name = "recvfrom"
    summary = "`sock.recvfrom(bufsize, flags)`"
    returns = "[bytes, address]"

    def call(self, ctx: ScenarioContext, resolved: WithBufsize) -> list[object]:
        data, address = ctx.socket(resolved.socket).recvfrom(resolved.bufsize, resolved.flags)
        return [data, address]

    def bytes_of(self, value: object) -> object:
        if isinstance(value, list | tuple) and value:
            return value[0]
        return value


class RecvUntilArgs(SocketRefArgs):
    model_config = ConfigDict(json_schema_extra=one_of_required("size", "delimiter", "eof"))

    size: Size | None = None
    delimiter: Payload | None = None
    eof: Literal[True] | None = None
    bufsize: Size = RECV_UNTIL_BUFSIZE

    @model_validator(mode="before")
    @classmethod
    def _one_stop_condition(cls, data: object) -> object:
        check_exclusive(data, ("size", "delimiter", "eof"), "recv_until", required=True)
        return data


@dataclass(frozen=True)
class RecvUntil:
    socket: str
    bufsize: int
    size: int | None
    delimiter: bytes | None


@register
class RecvUntilAction(Action[RecvUntilArgs, RecvUntil]):
    name = "recv_until"
    summary = "loop `recv` until `size` bytes, the `delimiter` (included) or EOF"
    arguments = RecvUntilArgs
    returns = "bytes"
    yields_bytes = True

    def uses(self, args: RecvUntilArgs) -> Iterator[Use]:
        yield socket_use(args.socket)

    def resolve(self, args: RecvUntilArgs, env: Environment) -> RecvUntil:
        delimiter = env.payload(args.delimiter) if args.delimiter is not None else None
        return RecvUntil(args.socket, args.bufsize or RECV_UNTIL_BUFSIZE, args.size, delimiter)

    def call(self, ctx: ScenarioContext, resolved: RecvUntil) -> bytes:
        """Each ``recv`` obeys the socket's own timeout; an exception propagates with the bytes received
        so far attached as ``partial`` so a failure can show them. EOF before the goal is not an error:
        the expectation on the returned bytes decides."""
        sock = ctx.socket(resolved.socket)
        size, delimiter = resolved.size, resolved.delimiter
        received = bytearray()
        while True:
            want = resolved.bufsize if size is None else min(resolved.bufsize, size - len(received))
            if size is not None and want <= 0:
                return bytes(received)
            try:
                chunk = sock.recv(want)
            except OSError as exc:
                exc.partial = bytes(received)  # type: ignore[attr-defined]
                raise
            if not chunk:
                return bytes(received)
            received += chunk
            if delimiter is not None and delimiter in received:
                return bytes(received)


# --- closing -----------------------------------------------------------------------------------------


@register
class CloseAction(_SocketOnly):
    name = "close"
    summary = "`sock.close()`"

    def call(self, ctx: ScenarioContext, resolved: OnSocket) -> None:
        ctx.socket(resolved.socket).close()


class ShutdownArgs(SocketRefArgs):
    how: socket_constant("SHUT_")  # type: ignore[valid-type]


@dataclass(frozen=True)
class Shutdown:
    socket: str
    how: int


@register
class ShutdownAction(Action[ShutdownArgs, Shutdown]):
    name = "shutdown"
    summary = "`sock.shutdown(how)`"
    arguments = ShutdownArgs

    def uses(self, args: ShutdownArgs) -> Iterator[Use]:
        yield socket_use(args.socket)

    def resolve(self, args: ShutdownArgs, env: Environment) -> Shutdown:
        return Shutdown(args.socket, env.constant(args.how))

    def call(self, ctx: ScenarioContext, resolved: Shutdown) -> None:
        ctx.socket(resolved.socket).shutdown(resolved.how)


@register
class GetpeernameAction(_SocketOnly):
    name = "getpeername"
    summary = "`sock.getpeername()`"
    returns = "the peer address"

    def call(self, ctx: ScenarioContext, resolved: OnSocket) -> object:
        return ctx.socket(resolved.socket).getpeername()


@register
class GetsocknameAction(_SocketOnly):
    name = "getsockname"
    summary = "`sock.getsockname()`"
    returns = "the local address"

    def call(self, ctx: ScenarioContext, resolved: OnSocket) -> object:
        return ctx.socket(resolved.socket).getsockname()


@register
class FilenoAction(_SocketOnly):
    name = "fileno"
    summary = "`sock.fileno()` (-1 once closed)"
    returns = "int"

    def call(self, ctx: ScenarioContext, resolved: OnSocket) -> int:
        return ctx.socket(resolved.socket).fileno()


# --- options -----------------------------------------------------------------------------------------


def _option_value_tag(value: object) -> str:
    return "§int" if isinstance(value, int) else "§payload"


class SetsockoptArgs(SocketRefArgs):
    level: socket_constant("SOL_", "IPPROTO_")  # type: ignore[valid-type]
    option: socket_constant()  # type: ignore[valid-type]
    value: Annotated[
        Annotated[RawInt, Tag("§int")] | Annotated[Payload, Tag("§payload")], Discriminator(_option_value_tag)
    ]


@dataclass(frozen=True)
class SetOption:
    socket: str
    level: int
    option: int
    value: int | bytes


@register
class SetsockoptAction(Action[SetsockoptArgs, SetOption]):
    name = "setsockopt"
    summary = "`sock.setsockopt(level, option, value)`: an integer, or a payload for the bytes form"
    arguments = SetsockoptArgs

    def uses(self, args: SetsockoptArgs) -> Iterator[Use]:
        yield socket_use(args.socket)

    def resolve(self, args: SetsockoptArgs, env: Environment) -> SetOption:
        value = args.value if isinstance(args.value, int) else env.payload(args.value)
        return SetOption(args.socket, env.constant(args.level), env.constant(args.option), value)

    def call(self, ctx: ScenarioContext, resolved: SetOption) -> None:
        ctx.socket(resolved.socket).setsockopt(resolved.level, resolved.option, resolved.value)


class GetsockoptArgs(SocketRefArgs):
    level: socket_constant("SOL_", "IPPROTO_")  # type: ignore[valid-type]
    option: socket_constant()  # type: ignore[valid-type]
    buflen: PositiveCount | None = None


@dataclass(frozen=True)
class GetOption:
    socket: str
    level: int
    option: int
    buflen: int | None


@register
class GetsockoptAction(Action[GetsockoptArgs, GetOption]):
    name = "getsockopt"
    summary = "`sock.getsockopt(level, option[, buflen])`; `SO_ERROR` results read as errnos"
    arguments = GetsockoptArgs
    returns = "int, or bytes with buflen"

    def uses(self, args: GetsockoptArgs) -> Iterator[Use]:
        yield socket_use(args.socket)

    def resolve(self, args: GetsockoptArgs, env: Environment) -> GetOption:
        return GetOption(args.socket, env.constant(args.level), env.constant(args.option), args.buflen)

    def call(self, ctx: ScenarioContext, resolved: GetOption) -> int | bytes:
        sock = ctx.socket(resolved.socket)
        if resolved.buflen is not None:
            return sock.getsockopt(resolved.level, resolved.option, resolved.buflen)
        return sock.getsockopt(resolved.level, resolved.option)

    def returns_errno(self, args: GetsockoptArgs) -> bool:
        return args.option in ("SO_ERROR", getattr(socket, "SO_ERROR", None))


# --- readiness ---------------------------------------------------------------------------------------


class WaitArgs(SocketRefArgs):
    for_: Literal["readable", "writable"] = Field(alias="for")
    timeout: Duration


@dataclass(frozen=True)
class Wait:
    socket: str
    writable: bool
    timeout: float


@register
class WaitAction(Action[WaitArgs, Wait]):
    name = "wait"
    summary = "`select.select` for readable or writable, bounded by `timeout`"
    arguments = WaitArgs
    returns = "bool (ready)"

    def uses(self, args: WaitArgs) -> Iterator[Use]:
        yield socket_use(args.socket)

    def resolve(self, args: WaitArgs, env: Environment) -> Wait:
        return Wait(args.socket, args.for_ == "writable", args.timeout)

    def call(self, ctx: ScenarioContext, resolved: Wait) -> bool:
        sock = ctx.socket(resolved.socket)
        if resolved.writable:
            _, ready, _ = select.select([], [sock], [], resolved.timeout)
        else:
            ready, _, _ = select.select([sock], [], [], resolved.timeout)
        return bool(ready)
