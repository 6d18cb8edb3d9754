"""The Registry: tracks, describes and releases sockets, threads and peers, bounded in time."""

from __future__ import annotations

import socket
import threading
import time

from sockharness.peers import EchoServer, Registry, default_registry


def test_open_sockets_describes_where_they_came_from():
    registry = Registry()
    sock = registry.track_socket(socket.socket(), "unit test socket")
    sock.bind(("127.0.0.1", 0))
    [record] = registry.open_sockets()
    assert record.origin == "unit test socket"
    assert record.family == "AF_INET" and record.type == "SOCK_STREAM"
    assert record.laddr == sock.getsockname()
    assert "test_peers_registry.py" in record.created_at
    assert "unit test socket" in str(record)
    registry.close_all()
    assert sock.fileno() == -1
    assert registry.open_sockets() == []


def test_close_all_wakes_a_thread_blocked_in_accept():
    registry = Registry()
    listener = registry.track_socket(socket.socket(), "listener")
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    stop = threading.Event()
    outcome: list[object] = []

    def blocked_accept() -> None:
        try:
            outcome.append(listener.accept())
        except OSError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=blocked_accept, name="sockharness:test:accept", daemon=True)
    registry.track_thread(thread, stop, "test thread")
    thread.start()
    started = time.perf_counter()
    assert registry.close_all(join_timeout=2.0) == []
    assert time.perf_counter() - started < 1.0
    assert stop.is_set()
    assert isinstance(outcome[0], OSError)
    assert registry.live_threads() == []


def test_a_thread_that_will_not_stop_is_reported_not_waited_on():
    registry = Registry()
    release = threading.Event()
    thread = threading.Thread(target=lambda: release.wait(10), name="sockharness:test:stubborn", daemon=True)
    registry.track_thread(thread, None, "stubborn thread")
    thread.start()
    try:
        started = time.perf_counter()
        stuck = registry.close_all(join_timeout=0.1)
        assert time.perf_counter() - started < 1.0
        assert len(stuck) == 1 and "stubborn thread: thread 'sockharness:test:stubborn'" in stuck[0]
        assert [t.name for t in registry.live_threads()] == ["sockharness:test:stubborn"]
    finally:
        release.set()
        thread.join(2)


def test_close_all_stops_registered_peers_and_is_repeatable():
    registry = Registry()
    peer = EchoServer(registry=registry).start()
    assert registry.peers() == [peer]
    assert registry.close_all() == []
    assert peer.stopped
    assert registry.close_all() == []
    assert "sockets=0" in repr(registry)


def test_closed_sockets_are_pruned_from_long_lived_registries():
    registry = Registry()
    for _ in range(200):
        registry.track_socket(socket.socket(), "churn").close()
    assert "sockets=" in repr(registry)
    assert int(repr(registry).split("sockets=")[1].split()[0]) < 70


def test_default_registry_is_one_per_process():
    assert default_registry() is default_registry()


def test_a_registry_without_teardown_checks_forgets_stopped_peers():
    registry = Registry("process-wide", keep_stopped_peers=False)
    first = EchoServer(registry=registry).start()
    first.stop()
    second = EchoServer(registry=registry).start()
    assert registry.peers() == [second]
    registry.close_all()


def test_peers_offer_the_peer_protocol_members():
    from sockharness.peers import ClosedPort, Peer, ScriptedTCPServer, UDPEcho

    registry = Registry()
    members = [name for name in dir(Peer) if not name.startswith("_")] + ["name", "address", "transcripts"]
    for peer in (EchoServer(registry=registry), ClosedPort(registry=registry), UDPEcho(registry=registry)):
        peer.start()
        assert all(hasattr(peer, member) for member in members), peer
    assert ScriptedTCPServer(registry=registry).start().port > 0
    assert registry.close_all() == []
