"""Faults you asked for are not failures: a scripted peer behind a proxy that cuts connections on purpose.

With ``tolerate_disconnects`` (Python keyword, YAML key) the reset / early EOF a ``reset_peer``,
``limit_data`` or ``down`` fault causes ends the peer's script quietly; without it the same disconnect still
fails the peer, and wrong bytes fail it whatever the flag says.
"""

from __future__ import annotations

import socket
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sockharness.peers import Expect, PeerError, Recv, Registry, ScriptedTCPServer, SendAll
from sockharness.scenario._api import run_scenario
from sockharness.scenario._run.failure import ScenarioFailure

WAIT = 5.0


@pytest.fixture
def own_registry() -> Iterator[Registry]:
    """A registry outside the test's, so a peer failure is asserted here instead of raised at teardown."""
    registry = Registry("injected-faults test")
    yield registry
    registry.close_all()


FAULTS = ["reset_peer", "limit_data", "timeout", "down"]


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


def _serve_through(
    fault: str,
    *,
    tolerate: bool,
    registry: Registry,
    fault_proxy: Callable[..., Any],
    tcp_client: Callable[..., socket.socket],
) -> ScriptedTCPServer:
    """A server expecting 10 bytes; the client sends 4 through a proxy whose fault cuts the connection."""
    server = ScriptedTCPServer(
        [Recv(10), SendAll(b"never")], registry=registry, tolerate_disconnects=tolerate
    )
    server.start()
    proxy = fault_proxy(server)
    _cut_by(fault, proxy)
    client = tcp_client(proxy, timeout=WAIT)
    client.sendall(b"ping")  # a toxic cuts the connection when these bytes reach the proxy
    if fault == "down":
        server.wait_connections(1, WAIT)  # the proxy's upstream connection exists: now take it down
        proxy.disable()
    return server


@pytest.mark.parametrize("fault", FAULTS)
def test_tolerated_fault_ends_the_script_quietly(fault, own_registry, fault_proxy, tcp_client):
    server = _serve_through(
        fault, tolerate=True, registry=own_registry, fault_proxy=fault_proxy, tcp_client=tcp_client
    )
    server.wait_done(WAIT)  # raises PeerError if the cut failed the script
    assert "(tolerated)" in str(server.transcripts[0])


@pytest.mark.parametrize("fault", FAULTS)
def test_the_same_cut_without_tolerance_still_fails(fault, own_registry, fault_proxy, tcp_client):
    server = _serve_through(
        fault, tolerate=False, registry=own_registry, fault_proxy=fault_proxy, tcp_client=tcp_client
    )
    with pytest.raises(PeerError, match=r"Recv\(n=10\)"):
        server.wait_done(WAIT)


def test_tolerance_never_excuses_wrong_bytes(own_registry, tcp_client):
    server = ScriptedTCPServer([Expect(b"pong")], registry=own_registry, tolerate_disconnects=True).start()
    client = tcp_client(server)
    client.sendall(b"PING")
    with pytest.raises(PeerError, match=r"expected b'pong', got b'PING'"):
        server.wait_done(WAIT)


# -- YAML ---------------------------------------------------------------------------------------------------
_YAML = """
scenarios:
  - name: reset-through-proxy
    description: a reset_peer fault cuts the connection to a scripted server
    peers:
      server: {{kind: tcp_server, {tolerate}script: [{{recv: 10}}, {{sendall: never}}]}}
      proxy:
        kind: proxy
        upstream: server
        toxics: [{{type: reset_peer, stream: upstream, attributes: {{timeout: 0}}}}]
    steps:
      - socket: {{as: client}}
      - settimeout: {{socket: client, value: 5s}}
      - connect: {{socket: client, address: proxy}}
      - sendall: {{socket: client, data: ping}}
      - recv: {{socket: client, bufsize: 1024}}
        raises: ConnectionResetError
      - peer: {{name: server, action: wait, timeout: 5s}}
"""


def _write(tmp_path: Path, tolerate: str) -> Path:
    path = tmp_path / "cut.yaml"
    path.write_text(textwrap.dedent(_YAML.format(tolerate=tolerate)), encoding="utf-8")
    return path


def test_yaml_tolerate_disconnects_lets_an_injected_reset_pass(tmp_path):
    result = run_scenario(_write(tmp_path, "tolerate_disconnects: true, "), "reset-through-proxy", seed=1)
    assert result.status == "passed"


def test_yaml_without_the_key_the_reset_still_fails_the_peer(tmp_path):
    with pytest.raises(ScenarioFailure, match=r"PeerError: peer .server.*Recv\(n=10\)"):
        run_scenario(_write(tmp_path, ""), "reset-through-proxy", seed=1)
