"""Peer failures surface the same way from every entry point (issue 12.3): ``scenario_peers`` raises a
peer's failure when its peers close, as the peer fixtures do at teardown, not only when ``check()`` is
called; and the scenario layer reads and writes addresses with the one parser/formatter."""

from __future__ import annotations

import contextlib
import socket
import textwrap
from pathlib import Path

import pytest

from sockharness.peers import PeerError
from sockharness.scenario._api import scenario_peers, start_scenario_peers
from sockharness.scenario._language.errors import ScenarioError
from sockharness.scenario._language.loader import load_path
from sockharness.scenario._run.context import _describe_proxy
from sockharness.scenario._run.render import render

WAIT = 5.0

PEERS = """
scenarios:
  - name: strict
    description: a server that wants pong
    peers:
      server: {kind: tcp_server, script: [{expect: pong}]}
    steps:
      - peer: {name: server, action: wait, timeout: 5s}
"""


@pytest.fixture
def peers_file(tmp_path: Path) -> Path:
    path = tmp_path / "peers.yaml"
    path.write_text(PEERS, encoding="utf-8")
    return path


def _send_wrong_bytes(address: tuple[object, ...]) -> None:
    """Send what the server does not want, and see it hang up: its failure is recorded by then."""
    with socket.create_connection(address[:2], timeout=WAIT) as sock:  # type: ignore[arg-type]
        sock.sendall(b"PING")
        with contextlib.suppress(ConnectionResetError):
            assert sock.recv(1) == b""


def test_close_raises_the_failure_nobody_checked(peers_file: Path) -> None:
    peers = start_scenario_peers(peers_file, "strict", seed=1)
    _send_wrong_bytes(peers.address("server"))
    with pytest.raises(PeerError, match=r"expected b'pong', got b'PING'"):
        peers.close()
    peers.close()  # idempotent: nothing more to say


def test_the_context_manager_raises_it_at_the_end_of_the_block(peers_file: Path) -> None:
    with (
        pytest.raises(PeerError, match=r"expected b'pong', got b'PING'"),
        scenario_peers(peers_file, "strict") as peers,
    ):
        _send_wrong_bytes(peers.address("server"))


def test_a_failure_already_seen_through_check_is_not_raised_twice(peers_file: Path) -> None:
    with scenario_peers(peers_file, "strict", seed=1) as peers:
        _send_wrong_bytes(peers.address("server"))
        with pytest.raises(PeerError):
            peers["server"].wait_done(WAIT)
        with pytest.raises(PeerError):
            peers.check()


def test_an_error_in_the_block_is_the_one_raised(peers_file: Path) -> None:
    with (
        pytest.raises(KeyError, match="the test's own"),
        scenario_peers(peers_file, "strict", seed=1) as peers,
    ):
        _send_wrong_bytes(peers.address("server"))
        raise KeyError("the test's own")


def test_the_fixture_raises_at_teardown(pytester: pytest.Pytester, peers_file: Path) -> None:
    pytester.makepyfile(
        f"""
        import socket

        def test_unchecked(scenario_peers):
            peers = scenario_peers({str(peers_file)!r}, "strict")
            with socket.create_connection(peers.address("server")[:2], timeout=5) as sock:
                sock.sendall(b"PING")
                try:
                    assert sock.recv(1) == b""  # the server hung up: its failure is recorded
                except ConnectionResetError:
                    pass
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_unchecked*", "*expected b'pong', got b'PING'*"])


# -- addresses ----------------------------------------------------------------------------------------------
def _load_connect(tmp_path: Path, address: str) -> Path:
    text = f"""
        scenarios:
          - name: c
            description: connect somewhere
            steps:
              - socket: {{as: s}}
              - connect: {{socket: s, address: "{address}"}}
                raises: ConnectionRefusedError
    """
    path = tmp_path / "c.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1:99999", r"port 99999 is out of range \(0..65535\)"),
        ("[::1:80", r"an IPv6 literal is written \[::1\]:80"),
        ("[]:80", "the host is empty"),
    ],
)
def test_a_yaml_address_that_cannot_work_fails_at_load_with_the_reason(
    tmp_path: Path, address: str, reason: str
) -> None:
    with pytest.raises(ScenarioError, match=reason):
        load_path(_load_connect(tmp_path, address))


def test_yaml_literals_read_as_before(tmp_path: Path) -> None:
    for address in ("127.0.0.1:9", "[::1]:9", "localhost:9"):
        load_path(_load_connect(tmp_path, address))


class _Proxy:
    address = ("::1", 8474)
    upstream = ("::1", 6379)
    enabled = True

    def toxics(self) -> list[object]:
        return []


def test_a_proxy_note_writes_ipv6_in_brackets() -> None:
    assert (
        _describe_proxy("px", _Proxy()) == "--- proxy px: [::1]:8474 -> [::1]:6379, enabled, toxics: none ---"
    )


def test_readable_addresses_use_the_one_formatter() -> None:
    assert render(("::1", 80, 0, 0), readable=True) == "[::1]:80"
    assert render(("127.0.0.1", 80), readable=True) == "127.0.0.1:80"
