"""The step actions: each one performs exactly one socket call (or one harness helper) on resolved values.

Arguments arrive already resolved (addresses as tuples, payloads as bytes, durations as seconds, socket
constants as ints), so every function here is a thin, honest wrapper around the real call: the runner
times the call and captures its return value or exception; nothing here retries or swallows errors.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any

from sockharness.scenario.context import ScenarioContext, ScenarioSetupError

Args = Mapping[str, Any]
Action = Callable[[ScenarioContext, Args], Any]

_DEFAULT_RECV_UNTIL_BUFSIZE = 64 * 1024


def _sock(ctx: ScenarioContext, args: Args) -> socket.socket:
    return ctx.socket(str(args["socket"]))


def do_socket(ctx: ScenarioContext, args: Args) -> None:
    sock = socket.socket(
        int(args.get("family", socket.AF_INET)),
        int(args.get("type", socket.SOCK_STREAM)),
        int(args.get("proto", 0)),
    )
    ctx.add_socket(str(args["as"]), sock)


def do_bind(ctx: ScenarioContext, args: Args) -> None:
    _sock(ctx, args).bind(args["address"])


def do_listen(ctx: ScenarioContext, args: Args) -> None:
    backlog = args.get("backlog")
    if backlog is None:
        _sock(ctx, args).listen()
    else:
        _sock(ctx, args).listen(int(backlog))


def do_setblocking(ctx: ScenarioContext, args: Args) -> None:
    _sock(ctx, args).setblocking(bool(args["flag"]))


def do_getblocking(ctx: ScenarioContext, args: Args) -> bool:
    return _sock(ctx, args).getblocking()


def do_settimeout(ctx: ScenarioContext, args: Args) -> None:
    _sock(ctx, args).settimeout(args.get("value"))


def do_gettimeout(ctx: ScenarioContext, args: Args) -> float | None:
    return _sock(ctx, args).gettimeout()


def do_accept(ctx: ScenarioContext, args: Args) -> Any:
    conn, address = _sock(ctx, args).accept()
    name = args.get("as")
    if name is None:
        # Nobody can refer to it, but it must not leak: track it for closing at the end.
        ctx.add_socket(f"accepted#{len(ctx.sockets)}", conn)
    else:
        ctx.add_socket(str(name), conn)
    return address


def do_connect(ctx: ScenarioContext, args: Args) -> None:
    _sock(ctx, args).connect(args["address"])


def do_connect_ex(ctx: ScenarioContext, args: Args) -> int:
    return _sock(ctx, args).connect_ex(args["address"])


def do_send(ctx: ScenarioContext, args: Args) -> int:
    return _sock(ctx, args).send(args["data"], int(args.get("flags", 0)))


def do_sendall(ctx: ScenarioContext, args: Args) -> None:
    _sock(ctx, args).sendall(args["data"], int(args.get("flags", 0)))


def do_sendto(ctx: ScenarioContext, args: Args) -> int:
    flags = int(args.get("flags", 0))
    if flags:
        return _sock(ctx, args).sendto(args["data"], flags, args["address"])
    return _sock(ctx, args).sendto(args["data"], args["address"])


def do_recv(ctx: ScenarioContext, args: Args) -> bytes:
    return _sock(ctx, args).recv(int(args["bufsize"]), int(args.get("flags", 0)))


def do_recvfrom(ctx: ScenarioContext, args: Args) -> list[Any]:
    data, address = _sock(ctx, args).recvfrom(int(args["bufsize"]), int(args.get("flags", 0)))
    return [data, address]


def do_recv_until(ctx: ScenarioContext, args: Args) -> bytes:
    """Loop ``recv`` until ``size`` bytes, the ``delimiter`` (included), or EOF.

    Each ``recv`` obeys the socket's own timeout; an exception propagates and the bytes received so far
    are attached to it as ``partial`` so a failure can show them. EOF before the goal is not an error:
    the expectation on the returned bytes decides.
    """
    sock = _sock(ctx, args)
    bufsize = int(args.get("bufsize") or _DEFAULT_RECV_UNTIL_BUFSIZE)
    size = args.get("size")
    delimiter: bytes | None = args.get("delimiter")
    received = bytearray()
    while True:
        want = bufsize if size is None else min(bufsize, int(size) - len(received))
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


def do_close(ctx: ScenarioContext, args: Args) -> None:
    _sock(ctx, args).close()


def do_shutdown(ctx: ScenarioContext, args: Args) -> None:
    _sock(ctx, args).shutdown(int(args["how"]))


def do_getpeername(ctx: ScenarioContext, args: Args) -> Any:
    return _sock(ctx, args).getpeername()


def do_getsockname(ctx: ScenarioContext, args: Args) -> Any:
    return _sock(ctx, args).getsockname()


def do_fileno(ctx: ScenarioContext, args: Args) -> int:
    return _sock(ctx, args).fileno()


def do_setsockopt(ctx: ScenarioContext, args: Args) -> None:
    _sock(ctx, args).setsockopt(int(args["level"]), int(args["option"]), args["value"])


def do_getsockopt(ctx: ScenarioContext, args: Args) -> int | bytes:
    buflen = args.get("buflen")
    if buflen is not None:
        return _sock(ctx, args).getsockopt(int(args["level"]), int(args["option"]), int(buflen))
    return _sock(ctx, args).getsockopt(int(args["level"]), int(args["option"]))


def do_wait(ctx: ScenarioContext, args: Args) -> bool:
    sock = _sock(ctx, args)
    timeout = args.get("timeout")
    want = str(args.get("for", "readable"))
    if want == "readable":
        ready, _, _ = select.select([sock], [], [], timeout)
    elif want == "writable":
        _, ready, _ = select.select([], [sock], [], timeout)
    else:
        raise ScenarioSetupError(f"wait: `for` must be readable or writable, not {want!r}")
    return bool(ready)


def do_sleep(ctx: ScenarioContext, args: Args) -> None:
    time.sleep(float(args["seconds"]))  # sync-ok: the scenario asked for this pause


def do_peer(ctx: ScenarioContext, args: Args) -> None:
    peer = ctx.peer(str(args["name"]))
    action = str(args.get("action", "wait"))
    timeout = float(args.get("timeout") or 5.0)
    if action == "wait":
        wait_done = getattr(peer, "wait_done", None)
        if wait_done is None:
            raise ScenarioSetupError(
                f"peer {args['name']!r} has no script to wait for (only tcp_server/tcp_client)"
            )
        wait_done(timeout)
        peer.check()
    elif action == "check":
        peer.check()
    elif action == "stop":
        peer.stop(timeout)
    else:
        raise ScenarioSetupError(f"peer action must be wait, check or stop, not {action!r}")


def do_add_toxic(ctx: ScenarioContext, args: Args) -> str:
    proxy = ctx.proxy(str(args["proxy"]))
    name: str = proxy.add_toxic(
        str(args["type"]),
        name=args.get("name"),
        stream=str(args.get("stream") or "downstream"),
        toxicity=float(args["toxicity"]) if args.get("toxicity") is not None else 1.0,
        **dict(args.get("attributes") or {}),
    )
    return name


def do_update_toxic(ctx: ScenarioContext, args: Args) -> None:
    ctx.proxy(str(args["proxy"])).update_toxic(str(args["name"]), **dict(args.get("attributes") or {}))


def do_remove_toxic(ctx: ScenarioContext, args: Args) -> None:
    ctx.proxy(str(args["proxy"])).remove_toxic(str(args["name"]))


def do_proxy_down(ctx: ScenarioContext, args: Args) -> None:
    ctx.proxy(str(args["proxy"])).disable()


def do_proxy_up(ctx: ScenarioContext, args: Args) -> None:
    ctx.proxy(str(args["proxy"])).enable()


def _packet_faults(ctx: ScenarioContext) -> Any:
    if not ctx.options.netns:
        raise ScenarioSetupError(
            "packet faults need the private network namespace mode: run with --sockharness-netns "
            "(`sockharness run --netns`) and mark the scenario `netns`"
        )
    if ctx.packet_faults is None:
        from sockharness.netns import PacketFaults  # type: ignore[attr-defined,unused-ignore]

        faults = PacketFaults()
        ctx.packet_faults = faults
        ctx.on_close("packet faults", faults.clear)
    return ctx.packet_faults


def do_packet_fault(ctx: ScenarioContext, args: Args) -> Any:
    spec = dict(args)
    return _packet_faults(ctx).add(**spec)


def do_remove_packet_fault(ctx: ScenarioContext, args: Args) -> None:
    _packet_faults(ctx).remove(args["name"])


ACTIONS: dict[str, Action] = {
    "socket": do_socket,
    "bind": do_bind,
    "listen": do_listen,
    "setblocking": do_setblocking,
    "getblocking": do_getblocking,
    "settimeout": do_settimeout,
    "gettimeout": do_gettimeout,
    "accept": do_accept,
    "connect": do_connect,
    "connect_ex": do_connect_ex,
    "send": do_send,
    "sendall": do_sendall,
    "sendto": do_sendto,
    "recv": do_recv,
    "recvfrom": do_recvfrom,
    "recv_until": do_recv_until,
    "close": do_close,
    "shutdown": do_shutdown,
    "getpeername": do_getpeername,
    "getsockname": do_getsockname,
    "fileno": do_fileno,
    "setsockopt": do_setsockopt,
    "getsockopt": do_getsockopt,
    "wait": do_wait,
    "sleep": do_sleep,
    "peer": do_peer,
    "add_toxic": do_add_toxic,
    "update_toxic": do_update_toxic,
    "remove_toxic": do_remove_toxic,
    "proxy_down": do_proxy_down,
    "proxy_up": do_proxy_up,
    "packet_fault": do_packet_fault,
    "remove_packet_fault": do_remove_packet_fault,
}

#: actions whose ``$offered`` is the length of their ``data`` argument.
OFFERING_ACTIONS = frozenset({"send", "sendall", "sendto"})
