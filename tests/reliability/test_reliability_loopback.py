"""Every listener the harness opens binds the loopback unless the caller names another address.

What a peer object *says* its address is proves little; the kernel's socket tables do not lie. So each
test reads ``/proc/<pid>/fd`` for the process's socket inodes and looks them up in ``/proc/net/tcp``,
``tcp6``, ``udp`` and ``udp6`` to get the address each one is really bound to.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sockharness.faults._api.http_api import ToxiproxyAPIServer
from sockharness.faults._backends.embedded import EmbeddedBackend
from sockharness.faults._engine.engine import FaultEngine
from sockharness.fixtures._faults import FaultProxyFactory
from sockharness.fixtures._peers import TCPClientFactory, UDPClientFactory, require_ipv6
from sockharness.peers import (
    ClosedPort,
    DiscardServer,
    EchoServer,
    FullBacklog,
    HTTPHelloServer,
    PeerBase,
    ReplyServer,
    ScriptedTCPClient,
    ScriptedTCPServer,
    SilentServer,
    UDPClosedPort,
    UDPEcho,
)
from sockharness.peers._steps import Drain
from sockharness.scenario._api import start_scenario_peers

HERE = Path(__file__).resolve().parents[1] / "data"
EVERY_KIND = HERE / "reliability_scenarios" / "every_peer_kind.yaml"
TCP_LISTEN = 0x0A
UDP_UNCONNECTED = 0x07
PROC_TABLES = {"tcp": "tcp", "tcp6": "tcp", "udp": "udp", "udp6": "udp"}


@dataclass(frozen=True)
class BoundSocket:
    protocol: str  # "tcp" | "udp"
    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    port: int
    state: int
    inode: int

    @property
    def accepts_from_outside(self) -> bool:
        """A socket other hosts could reach: TCP listening, or UDP bound, to a non-loopback address."""
        receiving = self.state == TCP_LISTEN if self.protocol == "tcp" else self.state == UDP_UNCONNECTED
        return receiving and not self.address.is_loopback

    def __str__(self) -> str:
        return f"{self.protocol} {self.address} port {self.port} state {self.state:02X} inode {self.inode}"


def _address(hex_text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    raw = bytes.fromhex(hex_text)
    # The kernel prints each 32-bit word in host order (little-endian here).
    words = b"".join(raw[index : index + 4][::-1] for index in range(0, len(raw), 4))
    return ipaddress.ip_address(words)


def socket_inodes(pid: int | str = "self") -> set[int]:
    inodes: set[int] = set()
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue  # closed between listdir and readlink
        match = re.fullmatch(r"socket:\[(\d+)\]", target)
        if match:
            inodes.add(int(match.group(1)))
    return inodes


def bound_sockets(pid: int | str = "self") -> list[BoundSocket]:
    """The process's TCP/UDP sockets that have a local port, as the kernel's tables show them."""
    mine = socket_inodes(pid)
    found: list[BoundSocket] = []
    for table, protocol in PROC_TABLES.items():
        try:
            text = Path(f"/proc/{pid}/net/{table}").read_text(encoding="ascii")
        except FileNotFoundError:  # tcp6/udp6 are absent when IPv6 is disabled
            continue
        for line in text.splitlines()[1:]:
            fields = line.split()
            inode = int(fields[9])
            if inode not in mine:
                continue
            host, port = fields[1].rsplit(":", 1)
            if int(port, 16):
                found.append(BoundSocket(protocol, _address(host), int(port, 16), int(fields[3], 16), inode))
    return found


def new_sockets(before: set[int], pid: int | str = "self") -> list[BoundSocket]:
    return [entry for entry in bound_sockets(pid) if entry.inode not in before]


def assert_all_loopback(sockets: list[BoundSocket], expected_listeners: int) -> None:
    exposed = [str(entry) for entry in sockets if not entry.address.is_loopback]
    assert exposed == [], "bound beyond the loopback:\n" + "\n".join(exposed)
    receiving = [entry for entry in sockets if entry.state in (TCP_LISTEN, UDP_UNCONNECTED)]
    assert len(receiving) >= expected_listeners, [str(entry) for entry in sockets]


@pytest.fixture
def stop_after() -> Iterator[Callable[[PeerBase], PeerBase]]:
    started: list[PeerBase] = []

    def start(peer: PeerBase) -> PeerBase:
        started.append(peer)
        return peer.start()

    yield start
    for peer in reversed(started):
        peer.stop()


def every_builtin_peer(host: str | None) -> list[PeerBase]:
    where: dict[str, Any] = {} if host is None else {"host": host}  # None: the constructors' default
    return [
        EchoServer(**where),
        DiscardServer(**where),
        SilentServer(**where),
        ReplyServer(b"pong", **where),
        HTTPHelloServer(**where),
        FullBacklog(**where),
        ScriptedTCPServer([Drain()], **where),
        ClosedPort(**where),
        UDPEcho(**where),
        UDPClosedPort(**where),
    ]


def test_every_peer_kind_binds_the_loopback_by_default(stop_after: Callable[[PeerBase], PeerBase]) -> None:
    before = socket_inodes()
    peers = [stop_after(peer) for peer in every_builtin_peer(None)]
    assert {peer.address[0] for peer in peers} == {"127.0.0.1"}
    client = stop_after(ScriptedTCPClient(peers[0].address, [Drain()]))
    assert client.address[0] == "127.0.0.1"
    # 7 TCP listeners + 1 UDP echo. ClosedPort's bound, non-listening holder is in no /proc table (the
    # kernel lists only listening and connected TCP sockets): its getsockname() above is the evidence.
    assert_all_loopback(new_sockets(before), expected_listeners=8)


def test_peers_bind_the_address_the_caller_names(stop_after: Callable[[PeerBase], PeerBase]) -> None:
    require_ipv6("::1")
    before = socket_inodes()
    peers = [stop_after(peer) for peer in every_builtin_peer("::1")]
    assert {peer.address[0] for peer in peers} == {"::1"}
    sockets = new_sockets(before)
    assert {str(entry.address) for entry in sockets} == {"::1"}
    assert_all_loopback(sockets, expected_listeners=8)


def test_fixtures_bind_the_loopback(
    echo_server: EchoServer,
    discard_server: DiscardServer,
    silent_server: SilentServer,
    http_hello_server: HTTPHelloServer,
    reply_server: Callable[..., ReplyServer],
    closed_port: ClosedPort,
    full_backlog: Callable[..., FullBacklog],
    udp_echo: UDPEcho,
    udp_closed_port: UDPClosedPort,
    tcp_server: Callable[..., ScriptedTCPServer],
    tcp_client: TCPClientFactory,
    udp_client: UDPClientFactory,
    fault_proxy: FaultProxyFactory,
) -> None:
    made = [reply_server(b"pong"), full_backlog(), tcp_server([Drain()])]
    proxy = fault_proxy(echo_server)
    addresses = {
        peer.address[0]
        for peer in (echo_server, discard_server, silent_server, http_hello_server, closed_port, *made)
    }
    addresses |= {udp_echo.address[0], udp_closed_port.address[0], proxy.address[0]}
    addresses |= {tcp_client(echo_server).getsockname()[0], udp_client().getsockname()[0]}
    assert addresses == {"127.0.0.1"}
    # Whatever else this process holds, nothing it holds receives from beyond the loopback.
    exposed = [str(entry) for entry in bound_sockets() if entry.accepts_from_outside]
    assert exposed == []


def test_embedded_proxies_and_the_api_server_bind_the_loopback() -> None:
    before = socket_inodes()
    engine = FaultEngine(seed=1)
    backend = EmbeddedBackend(engine=engine)
    try:
        upstream = ("127.0.0.1", 9)  # never connected to: no client uses these proxies
        proxy = backend.create_proxy(upstream)
        with ToxiproxyAPIServer(engine) as api:
            # A Toxiproxy client that omits "listen" gets the loopback (real Toxiproxy binds every interface).
            body = json.dumps({"name": "no_listen", "upstream": "127.0.0.1:9"}).encode()
            request = urllib.request.Request(f"{api.url}/proxies", data=body, method="POST")
            direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never $HTTP_PROXY
            with direct.open(request, timeout=10) as reply:
                created = json.loads(reply.read())
            assert api.address[0] == "127.0.0.1"
            assert proxy.address[0] == "127.0.0.1"
            assert created["listen"].startswith("127.0.0.1:")
            # The API listener, the backend's proxy and the API-created proxy: all three on 127.0.0.1.
            assert_all_loopback(new_sockets(before), expected_listeners=3)
    finally:
        backend.close()
        engine.close()


def test_serve_listens_on_the_loopback_by_default() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "sockharness", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()  # printed once the API listens
        match = re.search(r"http://(\S+):(\d+)", banner)
        assert match is not None, (
            f"no URL in {banner!r}; stderr: {process.stderr.read() if process.stderr else ''}"
        )
        assert match.group(1) == "127.0.0.1"
        sockets = bound_sockets(process.pid)
        assert [entry.port for entry in sockets if entry.state == TCP_LISTEN] == [int(match.group(2))]
        assert_all_loopback(sockets, expected_listeners=1)
    finally:
        process.terminate()
        process.communicate(timeout=10)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1", "example.com"])
def test_serve_refuses_a_non_loopback_host_and_says_why(host: str) -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "sockharness", "serve", "--host", host, "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert finished.returncode == 2
    assert f"refusing --host {host}" in finished.stderr
    assert "not a loopback address" in finished.stderr
    assert "--allow-non-loopback" in finished.stderr  # the explicit flag that would permit it
    assert finished.stdout == ""  # it never started serving


def test_api_server_refuses_a_non_loopback_host_without_permission() -> None:
    engine = FaultEngine(seed=1)
    try:
        with pytest.raises(
            ValueError, match=r"host='0\.0\.0\.0' is not a loopback address.*allow_non_loopback"
        ):
            ToxiproxyAPIServer(engine, "0.0.0.0")
    finally:
        engine.close()


def test_scenario_peers_of_every_kind_bind_the_loopback() -> None:
    before = socket_inodes()
    with start_scenario_peers(EVERY_KIND, "every-kind-on-defaults", seed=1) as peers:
        hosts = {name: str(peers.address(name)[0]) for name in peers}
        assert set(hosts.values()) == {"127.0.0.1"}, hosts
        # echo discard silent reply http_hello full_backlog tcp_server udp_echo + proxy = 9 receivers
        assert_all_loopback(new_sockets(before), expected_listeners=9)
