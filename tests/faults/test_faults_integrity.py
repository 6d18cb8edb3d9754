"""Bytes survive the proxy exactly: 1 GiB through latency+slicer chains, and 200 connections at once."""

from __future__ import annotations

import random
import selectors
import socket
import threading
import time
import zlib
from collections.abc import Callable

import pytest

from sockharness.faults._engine import relay
from sockharness.faults._interface import FaultProxy
from sockharness.fixtures._faults import FaultProxyFactory
from sockharness.fixtures._peers import TCPClientFactory
from sockharness.peers import EchoServer, PeerBase

BLOCK = 1 << 20


def add_chains(proxy: FaultProxy, **slicer: int) -> None:
    for stream in ("upstream", "downstream"):
        proxy.add_toxic("latency", name=f"lat_{stream}", stream=stream, latency=1, jitter=1)
        proxy.add_toxic("slicer", name=f"slice_{stream}", stream=stream, **slicer)


def test_one_gib_through_latency_and_slicer_arrives_byte_identical(
    fault_proxy: FaultProxyFactory,
    start_peer: Callable[[PeerBase], PeerBase],
    tcp_client: TCPClientFactory,
) -> None:
    # 512 MiB up to an echo server and the same 512 MiB back down: 1 GiB crosses the toxic chains.
    echo = start_peer(EchoServer(bufsize=256 * 1024))
    proxy = fault_proxy(echo)
    add_chains(proxy, average_size=32 * 1024, size_variation=8 * 1024, delay=0)
    rng = random.Random(20240611)
    blocks = [rng.randbytes(BLOCK) for _ in range(8)]
    total_blocks = 512
    sock = tcp_client(proxy.address, timeout=60)
    sent_crc = 0
    failure: list[BaseException] = []

    def send() -> None:
        nonlocal sent_crc
        try:
            for index in range(total_blocks):
                block = blocks[(index * 5 + index // 8) % len(blocks)]
                sent_crc = zlib.crc32(block, sent_crc)
                sock.sendall(block)
            sock.shutdown(socket.SHUT_WR)
        except BaseException as error:
            failure.append(error)

    sender = threading.Thread(target=send, name="integrity sender", daemon=True)
    started = time.monotonic()
    sender.start()
    received = 0
    received_crc = 0
    buffer = bytearray(BLOCK)
    view = memoryview(buffer)
    try:
        while True:
            n = sock.recv_into(buffer)
            if n == 0:
                break
            received_crc = zlib.crc32(view[:n], received_crc)
            received += n
    finally:
        sender.join(60)
    assert not sender.is_alive() and not failure, failure
    assert received == total_blocks * BLOCK
    assert received_crc == sent_crc
    assert time.monotonic() - started < 90


def test_200_concurrent_connections_complete_intact(
    fault_proxy: FaultProxyFactory,
    start_peer: Callable[[PeerBase], PeerBase],
    tcp_client: TCPClientFactory,
) -> None:
    echo = start_peer(EchoServer(backlog=256, bufsize=65536))
    proxy = fault_proxy(echo)
    add_chains(proxy, average_size=1000, size_variation=500, delay=50)
    rng = random.Random(7)
    payloads: dict[socket.socket, bytes] = {}
    received: dict[socket.socket, bytearray] = {}
    selector = selectors.DefaultSelector()
    try:
        for index in range(200):
            sock = tcp_client(proxy.address, timeout=30)
            payload = rng.randbytes(16 * 1024 + index)
            sock.sendall(payload)
            sock.setblocking(False)
            payloads[sock] = payload
            received[sock] = bytearray()
            selector.register(sock, selectors.EVENT_READ)
        deadline = time.monotonic() + 60
        pending = len(payloads)
        while pending and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=1):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                data = sock.recv(65536)
                assert data, "EOF before the echo was complete"
                received[sock] += data
                if len(received[sock]) >= len(payloads[sock]):
                    selector.unregister(sock)
                    pending -= 1
        assert pending == 0, f"{pending} of 200 connections incomplete after 60 s"
        mismatched = [i for i, sock in enumerate(payloads) if bytes(received[sock]) != payloads[sock]]
        assert mismatched == []  # each echo is its own payload: no loss, reordering or cross-talk
    finally:
        selector.close()


def test_portable_copy_path_without_splice_is_intact(
    fault_proxy: FaultProxyFactory,
    start_peer: Callable[[PeerBase], PeerBase],
    tcp_client: TCPClientFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Where os.splice is missing (not Linux) every direction copies through recv_into/send.
    monkeypatch.setattr(relay, "HAVE_SPLICE", False)
    echo = start_peer(EchoServer(bufsize=256 * 1024))
    proxy = fault_proxy(echo)
    payload = random.Random(5).randbytes(8 * BLOCK)
    sock = tcp_client(proxy.address, timeout=30)
    sender = threading.Thread(target=sock.sendall, args=(payload,), name="copy-path sender", daemon=True)
    sender.start()
    received = bytearray()
    try:
        while len(received) < len(payload):
            chunk = sock.recv(BLOCK)
            assert chunk, "EOF before the whole payload came back"
            received += chunk
    finally:
        sender.join(30)
    assert bytes(received) == payload
