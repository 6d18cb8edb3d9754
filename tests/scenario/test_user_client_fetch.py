"""How a user tests their own client code against misbehaving peers described in YAML.

``fetch`` below stands for the code under test: a small line-protocol client with a timeout and retries.
The peers it talks to (a good server, one that resets, one that is slow, a flaky proxy) are declared in
tests/data/user_scenarios/fetch_peers.yaml and started with the ``scenario_peers`` fixture or context manager.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sockharness.scenario._api import ScenarioPeers, scenario_peers

PEERS = Path(__file__).parents[1] / "data" / "user_scenarios" / "fetch_peers.yaml"


class FetchError(Exception):
    """Every attempt failed; ``causes`` holds each attempt's exception."""

    def __init__(self, causes: list[BaseException]) -> None:
        super().__init__(f"fetch failed after {len(causes)} attempt(s): {causes[-1]!r}")
        self.causes = causes


def fetch(
    address: tuple[Any, ...],
    request: bytes,
    *,
    timeout: float,
    retries: int,
    on_retry: Callable[[int, BaseException], None] | None = None,
) -> bytes:
    """Send ``request``, read the reply until EOF; retry on resets and timeouts."""
    causes: list[BaseException] = []
    for attempt in range(retries + 1):
        try:
            with socket.create_connection(address[:2], timeout=timeout) as sock:
                sock.sendall(request)
                chunks: list[bytes] = []
                while chunk := sock.recv(4096):
                    chunks.append(chunk)
                return b"".join(chunks)
        except (ConnectionError, TimeoutError) as exc:
            causes.append(exc)
            if on_retry is not None and attempt < retries:
                on_retry(attempt + 1, exc)
    raise FetchError(causes)


def test_user_client_gets_the_reply(scenario_peers: Callable[[Path, str], ScenarioPeers]) -> None:
    peers = scenario_peers(PEERS, "good-server")
    assert fetch(peers.address("srv"), b"ping\n", timeout=5, retries=0) == b"pong\n"


def test_user_client_gives_up_on_a_resetting_server(
    scenario_peers: Callable[[Path, str], ScenarioPeers],
) -> None:
    peers = scenario_peers(PEERS, "resetting-server")
    with pytest.raises(FetchError) as caught:
        fetch(peers.address("srv"), b"ping\n", timeout=5, retries=2)
    assert len(caught.value.causes) == 3
    assert all(isinstance(cause, ConnectionResetError) for cause in caught.value.causes)
    server = peers["srv"]
    server.wait_connections(3, timeout=5)
    assert len(server.transcripts) == 3  # one connection per attempt, each reset by the server


def test_user_client_times_out_on_a_slow_server(scenario_peers: Callable[[Path, str], ScenarioPeers]) -> None:
    peers = scenario_peers(PEERS, "slow-server")
    started = time.perf_counter()
    with pytest.raises(FetchError) as caught:
        fetch(peers.address("srv"), b"ping\n", timeout=0.1, retries=1)
    elapsed = time.perf_counter() - started
    assert [type(cause) for cause in caught.value.causes] == [TimeoutError, TimeoutError]
    assert 0.19 <= elapsed < 2.0  # two attempts of 100 ms each, with room for a loaded machine


def test_user_client_waits_long_enough_for_a_slow_server(
    scenario_peers: Callable[[Path, str], ScenarioPeers],
) -> None:
    peers = scenario_peers(PEERS, "slow-server")
    assert fetch(peers.address("srv"), b"ping\n", timeout=5, retries=0) == b"pong\n"


def test_user_client_recovers_when_the_fault_goes_away() -> None:
    with scenario_peers(PEERS, "flaky-through-proxy", seed=1) as peers:
        retries_seen: list[int] = []

        def heal(attempt: int, cause: BaseException) -> None:
            retries_seen.append(attempt)
            if attempt == 2:  # the fault lasts for two attempts, then the network heals
                peers.proxy("px").remove_toxic("resets")

        reply = fetch(peers.address("px"), b"ping\n", timeout=5, retries=5, on_retry=heal)
    assert reply == b"pong\n"
    assert retries_seen == [1, 2]


def test_user_client_scenario_peers_are_stopped_after_the_block() -> None:
    with scenario_peers(PEERS, "good-server", seed=1) as peers:
        address = peers.address("srv")
    with socket.socket() as probe:
        assert probe.connect_ex(address[:2]) != 0  # nothing listens there any more


def test_user_client_unknown_scenario_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="good-server"), scenario_peers(PEERS, "no-such-scenario"):
        pass
