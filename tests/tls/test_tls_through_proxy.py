"""The fault proxy's stream toxics work on TLS bytes unchanged: they cut, dribble, delay and hold records."""

from __future__ import annotations

import ssl
import time

import pytest

from sockharness.peers import Recv, RecvEOF, ScriptedTCPServer, SendAll


def test_limit_data_cuts_a_record_in_half(tls_peer, fault_proxy, tls_client):
    server = tls_peer(ScriptedTCPServer, [Recv(1), SendAll(b"r" * 16384), RecvEOF()], session_tickets=0)
    proxy = fault_proxy(server)
    client = tls_client(proxy, suppress_ragged_eofs=False)
    proxy.add_toxic("limit_data", stream="downstream", bytes=8000)  # after the handshake: inside the record
    client.sendall(b"x")
    with pytest.raises(ssl.SSLEOFError) as caught:
        client.recv(65536)
    assert caught.value.reason == "UNEXPECTED_EOF_WHILE_READING"


def test_slicer_dribbles_the_handshake_without_breaking_it(tls_echo_server, fault_proxy, tls_client):
    proxy = fault_proxy(tls_echo_server)
    proxy.add_toxic("slicer", stream="downstream", average_size=7, size_variation=3, delay=0)
    client = tls_client(proxy)
    client.sendall(b"sliced")
    assert client.recv(100) == b"sliced"


def test_latency_delays_the_handshake(tls_echo_server, fault_proxy, tls_client):
    proxy = fault_proxy(tls_echo_server)
    proxy.add_toxic("latency", stream="downstream", latency=80)
    started = time.monotonic()
    tls_client(proxy)
    assert time.monotonic() - started >= 0.075


def test_timeout_toxic_makes_the_handshake_time_out(tls_echo_server, fault_proxy, tls_client):
    proxy = fault_proxy(tls_echo_server)
    proxy.add_toxic("timeout", stream="downstream", timeout=0)
    with pytest.raises(TimeoutError, match="handshake operation timed out"):
        tls_client(proxy, timeout=0.2)
