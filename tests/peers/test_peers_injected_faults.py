"""Faults you asked for are not failures: a scripted peer behind a proxy that cuts connections on purpose.

Injecting a reset_peer, timeout or limit_data toxic, or taking the proxy down, through ``fault_proxy`` or a
scenario makes the scripted peers at the proxy's ends tolerate the disconnect it causes, with no flag
written. A disconnect nobody injected (the client resets the connection itself, a peer no faulted proxy
stands in front of, a proxy made with the backend's own ``create_proxy``) still fails with PeerError, and
wrong bytes fail whatever the peer tolerates. The explicit ``tolerate_disconnects`` still works.
"""

from __future__ import annotations

import socket
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sockharness.faults._injected import InjectedFaults, cuts_connections
from sockharness.faults._interface import FaultProxy
from sockharness.peers import Expect, PeerError, Recv, Registry, ScriptedTCPServer, SendAll
from sockharness.peers._script import reset_socket
from sockharness.scenario._api import run_scenario
from sockharness.scenario._run.failure import ScenarioFailure

WAIT = 5.0
FAULTS = ["reset_peer", "limit_data", "timeout", "down"]


@pytest.fixture
def own_registry() -> Iterator[Registry]:
    """A registry outside the test's, so a peer failure is asserted here instead of raised at teardown."""
    registry = Registry("injected-faults test")
    yield registry
    registry.close_all()


def _cut_by(fault: str, proxy: Any) -> None:
    """Arm a toxic that cuts the connection when the client's bytes arrive (``down`` is done after)."""
    if fault == "reset_peer":
        proxy.add_toxic("reset_peer", stream="upstream", timeout=0)
    elif fault == "limit_data":
        proxy.add_toxic("limit_data", stream="upstream", bytes=2)
    elif fault == "timeout":
        proxy.add_toxic("timeout", stream="upstream", timeout=1)
    elif fault != "down":
        raise AssertionError(fault)


def _drive(fault: str, server: ScriptedTCPServer, proxy: Any, client: socket.socket) -> None:
    client.sendall(b"ping")  # a toxic cuts the connection when these bytes reach the proxy
    if fault == "down":
        server.wait_connections(1, WAIT)  # the proxy's upstream connection exists: now take it down
        with proxy.down():
            server.wait_done(WAIT)


# -- Python: no flag written ------------------------------------------------------------------------------
@pytest.mark.parametrize("fault", FAULTS)
def test_an_injected_fault_is_tolerated_without_a_flag(fault, tcp_server, fault_proxy, tcp_client):
    server = tcp_server([Recv(10), SendAll(b"never")])  # the test's registry: a failure fails teardown
    proxy = fault_proxy(server)
    _cut_by(fault, proxy)
    _drive(fault, server, proxy, tcp_client(proxy, timeout=WAIT))
    server.wait_done(WAIT)  # raises PeerError if the cut failed the script
    assert "(tolerated)" in str(server.transcripts[0])


@pytest.mark.parametrize("fault", FAULTS)
def test_a_scripted_client_aimed_at_the_proxy_tolerates_it_too(
    fault, echo_server, fault_proxy, tcp_client_peer
):
    proxy = fault_proxy(echo_server)
    if fault != "down":
        _cut_by(fault, proxy)  # before the client starts: it must learn of the fault when it starts
    client = tcp_client_peer(proxy, [SendAll(b"ping"), Recv(10)])
    if fault == "down":
        echo_server.wait_connections(1, WAIT)
        proxy.disable()
    client.wait_done(WAIT)
    assert "(tolerated)" in str(client.transcripts[0])


def test_a_fault_added_mid_connection_is_tolerated_by_the_running_script(tcp_server, fault_proxy, tcp_client):
    server = tcp_server([Expect(b"one"), SendAll(b"ack"), Recv(10)])
    proxy = fault_proxy(server)
    client = tcp_client(proxy, timeout=WAIT)
    client.sendall(b"one")
    assert client.recv(3) == b"ack"  # the server's script is running, not yet tolerating anything
    proxy.add_toxic("reset_peer", stream="upstream", timeout=0)
    client.sendall(b"two")
    server.wait_done(WAIT)
    assert "(tolerated)" in str(server.transcripts[0])


def test_a_fault_in_front_of_a_chain_reaches_the_server_behind_it(tcp_server, fault_proxy, tcp_client):
    server = tcp_server([Recv(10)])
    front = fault_proxy(fault_proxy(server))  # client -> front -> back -> server
    front.add_toxic("reset_peer", stream="upstream", timeout=0)
    tcp_client(front, timeout=WAIT).sendall(b"ping")
    server.wait_done(WAIT)  # the back proxy passed the cut on: tolerated, not a failure
    assert "(tolerated)" in str(server.transcripts[0])


def test_an_updated_toxic_is_injected_again(own_registry, fault_proxy, tcp_client):
    server = ScriptedTCPServer([Recv(10)], registry=own_registry).start()
    proxy = fault_proxy(server)
    name = proxy.proxy.add_toxic("limit_data", stream="upstream", bytes=1000)  # bypassing the fixture
    assert not server.tolerate_disconnects
    proxy.update_toxic(name, bytes=2)
    assert server.tolerate_disconnects
    tcp_client(proxy, timeout=WAIT).sendall(b"ping")
    server.wait_done(WAIT)


# -- Python: what still fails -----------------------------------------------------------------------------
def test_a_reset_the_client_makes_itself_still_fails(own_registry, fault_proxy, tcp_client):
    server = ScriptedTCPServer([Recv(10)], registry=own_registry).start()
    proxy = fault_proxy(server)
    proxy.add_toxic("latency", latency=1)  # a fault that cuts nothing
    client = tcp_client(proxy, timeout=WAIT)
    client.sendall(b"ping")
    server.wait_connections(1, WAIT)
    reset_socket(client)
    with pytest.raises(PeerError, match=r"Recv\(n=10\)"):
        server.wait_done(WAIT)
    assert not server.tolerate_disconnects


def test_a_peer_no_faulted_proxy_stands_in_front_of_still_fails(own_registry, fault_proxy, tcp_client):
    behind = ScriptedTCPServer([Recv(10)], registry=own_registry, name="behind").start()
    aside = ScriptedTCPServer([Recv(10)], registry=own_registry, name="aside").start()
    fault_proxy(behind).add_toxic("reset_peer", timeout=0)
    direct = tcp_client(aside, timeout=WAIT)
    direct.sendall(b"ping")
    aside.wait_connections(1, WAIT)
    direct.close()
    with pytest.raises(PeerError, match=r"aside.*EOF after 4 of 10 bytes"):
        aside.wait_done(WAIT)
    assert behind.tolerate_disconnects and not aside.tolerate_disconnects


def test_a_proxy_made_by_the_backend_tells_nobody(own_registry, fault_backend, tcp_client):
    server = ScriptedTCPServer([Recv(10)], registry=own_registry).start()
    proxy = fault_backend.create_proxy(server)
    proxy.add_toxic("reset_peer", stream="upstream", timeout=0)
    tcp_client(proxy, timeout=WAIT).sendall(b"ping")
    with pytest.raises(PeerError, match=r"Recv\(n=10\)"):
        server.wait_done(WAIT)


def test_wrong_bytes_still_fail_behind_a_faulted_proxy(own_registry, fault_proxy, tcp_client):
    server = ScriptedTCPServer([Expect(b"pong")], registry=own_registry).start()
    proxy = fault_proxy(server)
    proxy.add_toxic("limit_data", stream="upstream", bytes=1000)
    tcp_client(proxy, timeout=WAIT).sendall(b"PING")
    with pytest.raises(PeerError, match=r"expected b'pong', got b'PING'"):
        server.wait_done(WAIT)
    assert server.tolerate_disconnects


def test_the_explicit_flag_still_tolerates_any_disconnect(own_registry, tcp_client):
    server = ScriptedTCPServer([Recv(10)], registry=own_registry, tolerate_disconnects=True).start()
    client = tcp_client(server, timeout=WAIT)
    client.sendall(b"ping")
    server.wait_connections(1, WAIT)
    client.close()
    server.wait_done(WAIT)
    assert "(tolerated)" in str(server.transcripts[0])


def test_the_fixture_proxy_is_a_fault_proxy(fault_proxy, echo_server):
    proxy = fault_proxy(echo_server)
    assert isinstance(proxy, FaultProxy)
    assert (proxy.host, proxy.port) == proxy.address == proxy.proxy.address
    assert proxy.upstream == echo_server.address[:2]


# -- the bookkeeping alone --------------------------------------------------------------------------------
class _Ends:
    def __init__(self, address: tuple[str, int], upstream: tuple[str, int]) -> None:
        self.address, self.upstream = address, upstream


def test_which_toxics_cut_connections():
    assert [name for name in ("reset_peer", "timeout", "limit_data", None) if cuts_connections(name)] == [
        "reset_peer",
        "timeout",
        "limit_data",
        None,
    ]
    assert not any(
        cuts_connections(name) for name in ("latency", "bandwidth", "slow_close", "slicer", "noop")
    )
    with pytest.raises(ValueError, match=r"unknown toxic type 'reset_per'.*did you mean 'reset_peer'"):
        cuts_connections("reset_per")


def test_a_cut_passes_through_a_chain_of_proxies():
    server, front, back = ("127.0.0.1", 1), _Ends(("127.0.0.1", 3), ("127.0.0.1", 2)), None
    back = _Ends(("127.0.0.1", 2), server)  # client -> front (3) -> back (2) -> server (1)
    injected = InjectedFaults()
    injected.inject(front, "reset_peer", proxies=[front, back])
    assert injected.client_targets == {("127.0.0.1", 3)}
    assert injected.server_addresses == {("127.0.0.1", 2), server}
    injected = InjectedFaults()
    injected.inject(back, None, proxies=[front, back])
    assert injected.client_targets == {("127.0.0.1", 2), ("127.0.0.1", 3)}
    assert injected.server_addresses == {server}
    injected = InjectedFaults()
    injected.inject(back, "latency", proxies=[front, back])
    assert not injected.client_targets and not injected.server_addresses


# -- YAML -------------------------------------------------------------------------------------------------
_HEAD = """
scenarios:
  - name: cut
    description: a fault cuts the connection to a scripted server
    peers:
      server: {{kind: tcp_server, {tolerate}script: [{{sendall: hi}}, {{recv: 10}}, {{sendall: never}}]}}
      aside: {{kind: tcp_server, script: [{{recv: 10}}]}}
      proxy:
        kind: proxy
        upstream: server
{toxics}
"""

_CLIENT_STEPS = """
      - socket: {as: client}
      - settimeout: {socket: client, value: 5s}
      - connect: {socket: client, address: proxy}
      - recv: {socket: client, bufsize: 2}
      - sendall: {socket: client, data: ping}
"""

_WAIT = """
      - peer: {name: server, action: wait, timeout: 5s}
"""

#: How each fault is injected in YAML: (the proxy peer's extra lines, the steps).
_YAML_FAULTS: dict[str, tuple[str, str]] = {
    "proxy peer toxics (reset_peer)": (
        "        toxics: [{type: reset_peer, stream: upstream, attributes: {timeout: 0}}]",
        "    steps:" + _CLIENT_STEPS + _WAIT,
    ),
    "add_toxic step (timeout)": (
        "",
        "    steps:\n      - add_toxic: {proxy: proxy, type: timeout, stream: upstream, "
        "attributes: {timeout: 1}}" + _CLIENT_STEPS + _WAIT,
    ),
    "phase toxics (limit_data)": (
        "",
        "    phases:\n      - name: cut\n        toxics: [{proxy: proxy, type: limit_data, stream: upstream, "
        "attributes: {bytes: 2}}]\n        steps:" + textwrap.indent(_CLIENT_STEPS + _WAIT, "    "),
    ),
    "proxy_down step": (
        "",
        "    steps:"
        + _CLIENT_STEPS  # the server's "hi" came through: its connection exists before the proxy goes down
        + "      - proxy_down: proxy\n"
        + _WAIT,
    ),
    "phase down": (
        "",
        "    phases:\n      - name: up\n        steps:"
        + textwrap.indent(_CLIENT_STEPS, "    ")
        + "      - name: down\n        down: [proxy]\n        steps:"
        + textwrap.indent(_WAIT, "    "),
    ),
}


def _scenario(tmp_path: Path, fault: str, *, tolerate: str = "", extra_steps: str = "") -> Path:
    toxics, steps = _YAML_FAULTS[fault]
    text = _HEAD.format(tolerate=tolerate, toxics=toxics) + steps + extra_steps
    path = tmp_path / "cut.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("fault", list(_YAML_FAULTS))
def test_yaml_an_injected_fault_passes_without_a_key(tmp_path, fault):
    result = run_scenario(_scenario(tmp_path, fault), "cut", seed=1)
    assert result.status == "passed"


@pytest.mark.parametrize("fault", ["proxy peer toxics (reset_peer)", "add_toxic step (timeout)"])
def test_yaml_the_explicit_key_still_works(tmp_path, fault):
    path = _scenario(tmp_path, fault, tolerate="tolerate_disconnects: true, ")
    assert run_scenario(path, "cut", seed=1).status == "passed"


def test_yaml_a_peer_no_faulted_proxy_stands_in_front_of_still_fails(tmp_path):
    aside = """
      - socket: {as: direct}
      - connect: {socket: direct, address: aside}
      - sendall: {socket: direct, data: ping}
      - close: direct
      - peer: {name: aside, action: wait, timeout: 5s}
"""
    path = _scenario(tmp_path, "proxy peer toxics (reset_peer)", extra_steps=aside)
    with pytest.raises(ScenarioFailure, match=r"PeerError: peer .aside.*EOF after 4 of 10 bytes"):
        run_scenario(path, "cut", seed=1)


def test_yaml_a_close_nobody_injected_still_fails(tmp_path):
    text = """
scenarios:
  - name: cut
    description: the client hangs up early behind a proxy that only delays
    peers:
      server: {kind: tcp_server, script: [{recv: 10}]}
      proxy: {kind: proxy, upstream: server, toxics: [{type: latency, attributes: {latency: 1}}]}
    steps:
      - socket: {as: client}
      - connect: {socket: client, address: proxy}
      - sendall: {socket: client, data: ping}
      - close: client
      - peer: {name: server, action: wait, timeout: 5s}
"""
    path = tmp_path / "cut.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioFailure, match=r"PeerError: peer .server.*Recv\(n=10\)"):
        run_scenario(path, "cut", seed=1)


def test_yaml_wrong_bytes_still_fail_behind_a_faulted_proxy(tmp_path):
    text = """
scenarios:
  - name: cut
    description: a tolerating server still checks the bytes it gets
    peers:
      server: {kind: tcp_server, script: [{expect: pong}]}
      proxy: {kind: proxy, upstream: server, toxics: [{type: limit_data, attributes: {bytes: 1000}}]}
    steps:
      - socket: {as: client}
      - connect: {socket: client, address: proxy}
      - sendall: {socket: client, data: PING}
      - peer: {name: server, action: wait, timeout: 5s}
"""
    path = tmp_path / "cut.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioFailure, match=r"expected b'pong', got b'PING'"):
        run_scenario(path, "cut", seed=1)


def test_yaml_a_tcp_client_peer_aimed_at_the_faulted_proxy_tolerates_it(tmp_path):
    text = """
scenarios:
  - name: cut
    description: a scripted client behind a reset_peer proxy
    peers:
      server: echo
      proxy: {kind: proxy, upstream: server, toxics: [{type: reset_peer, attributes: {timeout: 0}}]}
      client: {kind: tcp_client, target: proxy, script: [{sendall: ping}, {recv: 10}]}
    steps:
      - peer: {name: client, action: wait, timeout: 5s}
"""
    path = tmp_path / "cut.yaml"
    path.write_text(text, encoding="utf-8")
    assert run_scenario(path, "cut", seed=1).status == "passed"
