"""ScriptedTCPServer / ScriptedTCPClient: every step on real loopback connections, failures as PeerError."""

from __future__ import annotations

import socket
import struct
import time

import pytest

from sockharness.peers import (
    Close,
    Drain,
    Echo,
    Expect,
    PeerError,
    Recv,
    RecvEOF,
    RecvSome,
    RecvUntil,
    Registry,
    Reset,
    ScriptedTCPClient,
    ScriptedTCPServer,
    Send,
    SendAll,
    SetBuf,
    Shutdown,
    Sleep,
    Stall,
)

WAIT = 5.0


def read_until_eof(sock: socket.socket) -> bytes:
    received = bytearray()
    while chunk := sock.recv(65536):  # bounded: every script here ends by closing
        received += chunk
    return bytes(received)


def test_recv_expect_send_and_transcript(tcp_server, tcp_client):
    server = tcp_server([Expect(b"ping"), Recv(3), SendAll(b"pong")])
    client = tcp_client(server, timeout=WAIT)
    client.sendall(b"ping123")
    assert read_until_eof(client) == b"pong"
    server.wait_done(WAIT)
    transcript = server.transcripts[0]
    assert transcript.received() == b"ping123"
    assert transcript.sent() == b"pong"
    assert transcript.texts()[0].startswith("accepted from 127.0.0.1:")
    assert transcript.texts()[-1] == "closed (end of script)"


def test_recv_until_leaves_the_rest_for_the_next_step(tcp_server, tcp_client):
    server = tcp_server([RecvUntil(b"\r\n\r\n"), SendAll(b"got headers"), Expect(b"BODY")])
    client = tcp_client(server, timeout=WAIT)
    client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nBODY")
    assert client.recv(1024) == b"got headers"
    server.wait_done(WAIT)
    assert server.transcripts[0].received() == b"GET / HTTP/1.1\r\nHost: x\r\n\r\nBODY"


def test_recv_until_across_chunks(tcp_server, tcp_client):
    server = tcp_server([RecvUntil(b"END"), SendAll(b"ok")])
    client = tcp_client(server, timeout=WAIT)
    client.sendall(b"abcE")
    client.sendall(b"N")
    client.sendall(b"D")
    assert read_until_eof(client) == b"ok"
    server.wait_done(WAIT)


def test_recv_eof_reads_everything(tcp_server, tcp_client):
    server = tcp_server([RecvEOF(), SendAll(b"bye")])
    client = tcp_client(server, timeout=WAIT)
    client.sendall(b"a" * 10000)
    client.shutdown(socket.SHUT_WR)
    assert read_until_eof(client) == b"bye"
    server.wait_done(WAIT)
    assert server.transcripts[0].bytes_received() == 10000


def test_send_records_what_the_kernel_took(tcp_server, tcp_client):
    server = tcp_server([Send(b"hello")])
    client = tcp_client(server, timeout=WAIT)
    assert read_until_eof(client) == b"hello"
    server.wait_done(WAIT)
    assert server.transcripts[0].sent() == b"hello"


def test_shutdown_write_gives_eof_while_reading_still_works(tcp_server, tcp_client):
    server = tcp_server([Shutdown("SHUT_WR"), Expect(b"still here")])
    client = tcp_client(server, timeout=WAIT)
    assert client.recv(1024) == b""
    client.sendall(b"still here")
    server.wait_done(WAIT)
    assert "shutdown(SHUT_WR)" in server.transcripts[0].texts()


def test_reset_makes_the_client_see_econnreset_after_queued_data(tcp_server, tcp_client):
    # The client speaks first: a reset racing the client's connect() would make connect itself fail.
    server = tcp_server([Expect(b"go"), SendAll(b"partial"), Reset()])
    client = tcp_client(server, timeout=WAIT)
    client.sendall(b"go")
    server.wait_done(WAIT)
    assert client.recv(1024) == b"partial"
    with pytest.raises(ConnectionResetError):
        client.recv(1024)


def test_close_with_unread_request_bytes_resets(tcp_server, tcp_client):
    server = tcp_server([RecvSome(4), SendAll(b"reply"), Close()])
    client = tcp_client(server, timeout=WAIT)
    client.sendall(b"more than four bytes")
    server.wait_done(WAIT)
    assert client.recv(1024) == b"reply"
    with pytest.raises(ConnectionResetError):
        client.recv(1024)


def test_stall_holds_the_connection_until_stop(tcp_server, tcp_client):
    server = tcp_server([Stall()])
    client = tcp_client(server, timeout=0.05)
    with pytest.raises(TimeoutError):
        client.recv(1)
    server.stop()
    assert client.recv(1) == b""


def test_timed_stall_then_close(tcp_server, tcp_client):
    server = tcp_server([Stall(0.05), Close()])  # sync-ok: the stall is the behaviour under test
    client = tcp_client(server, timeout=WAIT)
    started = time.perf_counter()
    assert client.recv(1) == b""
    assert time.perf_counter() - started >= 0.05 - 0.002


def test_sleep_then_send(tcp_server, tcp_client):
    server = tcp_server([Sleep(0.05), SendAll(b"late")])
    client = tcp_client(server, timeout=WAIT)
    started = time.perf_counter()
    assert client.recv(10) == b"late"
    assert time.perf_counter() - started >= 0.05 - 0.002


def test_setbuf_is_recorded_with_the_kernel_value(tcp_server, tcp_client):
    server = tcp_server([SetBuf(rcvbuf=4096, sndbuf=4096)])
    tcp_client(server, timeout=WAIT)
    server.wait_done(WAIT)
    text = " ".join(server.transcripts[0].texts())
    assert "SO_RCVBUF 4096 (kernel reports" in text and "SO_SNDBUF 4096" in text


def test_echo_and_drain(tcp_server, tcp_client):
    server = tcp_server([Echo()])
    client = tcp_client(server, timeout=WAIT)
    client.sendall(b"abc")
    assert client.recv(3) == b"abc"
    client.shutdown(socket.SHUT_WR)
    assert read_until_eof(client) == b""
    drain = tcp_server([Drain(), SendAll(b"drained")])
    other = tcp_client(drain, timeout=WAIT)
    other.sendall(b"x" * 50000)
    other.shutdown(socket.SHUT_WR)
    assert read_until_eof(other) == b"drained"
    server.wait_done(WAIT)
    drain.wait_done(WAIT)


def test_every_connection_runs_the_script(tcp_server, tcp_client):
    server = tcp_server([Expect(b"hi"), SendAll(b"ok")])
    clients = [tcp_client(server, timeout=WAIT) for _ in range(5)]
    for client in clients:
        client.sendall(b"hi")
    assert [read_until_eof(c) for c in clients] == [b"ok"] * 5
    server.wait_done(WAIT, connections=5)
    assert server.connection_count == 5
    assert len(server.transcripts) == 5


def test_max_connections_stops_accepting(tcp_server, tcp_client):
    server = tcp_server([Close()], max_connections=1)
    first = tcp_client(server, timeout=WAIT)
    server.wait_done(WAIT)
    assert first.recv(1) == b""
    second = tcp_client(server, timeout=0.05)  # completes in the backlog but is never accepted
    with pytest.raises(TimeoutError):
        second.recv(1)
    assert server.connection_count == 1


def test_wait_connections(tcp_server, tcp_client):
    server = tcp_server([Stall()])
    tcp_client(server)
    tcp_client(server)
    server.wait_connections(2, WAIT)
    with pytest.raises(PeerError, match=r"expected 3 connection\(s\) within 0.05 s, 2 accepted"):
        server.wait_connections(3, 0.05)


def test_failed_expectation_is_a_peer_error_with_the_transcript(tcp_server, tcp_client):
    server = tcp_server([Expect(b"ping")], name="pinger")
    client = tcp_client(server, timeout=WAIT)
    client.sendall(b"pong")
    with pytest.raises(PeerError) as info:
        server.wait_done(WAIT)
    message = str(info.value)
    assert "peer 'pinger'" in message
    assert "step[0] Expect(data=b'ping')" in message
    assert "expected b'ping', got b'pong' (first difference at byte 1)" in message
    assert "transcript pinger#1" in message and "in     b'pong' (4 bytes)" in message
    assert isinstance(info.value, AssertionError)
    server.check_unreported()  # already raised by wait_done: teardown stays quiet


def test_eof_before_enough_bytes_fails_the_step(tcp_server, tcp_client):
    server = tcp_server([Recv(10)])
    client = tcp_client(server)
    client.sendall(b"abc")
    client.close()
    with pytest.raises(PeerError, match=r"EOF after 3 of 10 bytes: b'abc'"):
        server.wait_done(WAIT)


def test_client_reset_during_a_step_is_reported_with_the_errno(tcp_server, tcp_client):
    server = tcp_server([Expect(b"0123456789")])
    client = tcp_client(server)
    server.wait_connections(1, WAIT)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()
    with pytest.raises(PeerError, match=r"raised ConnectionResetError ECONNRESET"):
        server.wait_done(WAIT)


def test_a_large_expectation_stays_a_short_message_when_the_connection_resets(tcp_server, tcp_client):
    # A peer expecting 1 MiB whose client resets it: every line about the step (the failure, the transcript
    # event) shows a preview and the size, never the megabyte itself, which once buried which scenario failed.
    payload = b"The quick brown fox jumps over the lazy dog 0123456789!" * 19065
    server = tcp_server([Expect(payload)], name="sink")
    client = tcp_client(server)
    server.wait_connections(1, WAIT)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()
    with pytest.raises(PeerError) as info:
        server.wait_done(WAIT)
    message = str(info.value)
    assert "raised ConnectionResetError ECONNRESET" in message
    assert f"... ({len(payload)} bytes))" in message
    assert len(message) < 4000, message[:4000]
    assert repr(Expect(b"ping")) == "Expect(data=b'ping')"


def test_wait_done_times_out_with_a_peer_error(tcp_server, tcp_client):
    server = tcp_server([Recv(1)])
    tcp_client(server)
    with pytest.raises(PeerError, match=r"scripts not done within 0.05 s: 1 connection\(s\) accepted"):
        server.wait_done(0.05)


def test_stop_is_idempotent_and_quiet_for_blocked_steps():
    registry = Registry()
    server = ScriptedTCPServer([Recv(100)], registry=registry).start()
    client = registry.track_socket(socket.create_connection(server.address, timeout=WAIT), "test")
    server.wait_connections(1, WAIT)
    started = time.perf_counter()
    server.stop()
    server.stop()
    assert time.perf_counter() - started < 1.0
    server.check()  # a step interrupted by stop is not a failure
    # "before" when stop won the race with the connection thread reaching recv(), "during" otherwise
    assert any(text.startswith("stopped") for text in server.transcripts[0].texts())
    assert registry.close_all() == []
    assert client.fileno() == -1


def test_context_manager_stops_and_checks():
    registry = Registry()
    with (
        pytest.raises(PeerError, match="expected b'a', got b'b'"),
        ScriptedTCPServer([Expect(b"a")], registry=registry) as server,
        socket.create_connection(server.address, timeout=WAIT) as client,
    ):
        client.sendall(b"b")
        with pytest.raises(PeerError):
            server.wait_done(WAIT)
        # leaving the block stops the server and check() raises the failure again
    assert server.stopped
    assert registry.close_all() == []


def test_server_on_ipv6(ipv6_loopback, tcp_server, tcp_client):
    server = tcp_server([Expect(b"six"), SendAll(b"ok")], host=ipv6_loopback)
    assert server.host == "::1" and len(server.address) == 4
    client = tcp_client(server, timeout=WAIT)
    assert client.family == socket.AF_INET6
    client.sendall(b"six")
    assert read_until_eof(client) == b"ok"


def test_invalid_server_arguments_name_the_argument():
    with pytest.raises(ValueError, match=r"port: expected 0..65535"):
        ScriptedTCPServer(port=70000)
    with pytest.raises(ValueError, match=r"backlog: expected an int >= 0"):
        ScriptedTCPServer(backlog=-1)
    with pytest.raises(ValueError, match=r"max_connections"):
        ScriptedTCPServer(max_connections=0)
    with pytest.raises(ValueError, match=r"rcvbuf"):
        ScriptedTCPServer(rcvbuf=0)


def test_start_twice_is_an_error(tcp_server):
    server = tcp_server()
    with pytest.raises(RuntimeError, match="already started"):
        server.start()


def test_address_before_start_is_a_clear_error():
    with pytest.raises(RuntimeError, match="call start\\(\\) first"):
        _ = ScriptedTCPServer().port


# -- scripted client ----------------------------------------------------------------------------------------
def test_scripted_client_drives_a_users_server(sockharness_registry, tcp_client_peer):
    listener = sockharness_registry.track_socket(socket.socket(), "user server")
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(WAIT)
    client = tcp_client_peer(listener.getsockname(), [SendAll(b"hello"), Expect(b"HELLO")])
    conn, _ = listener.accept()
    with conn:
        conn.settimeout(WAIT)
        conn.sendall(conn.recv(5).upper())
        client.wait_done(WAIT)
    assert client.transcripts[0].sent() == b"hello"
    assert client.peer_address == listener.getsockname()
    assert client.address[0] == "127.0.0.1" and client.address[1] > 0


def test_scripted_client_against_a_scripted_server(tcp_server, tcp_client_peer):
    server = tcp_server([Expect(b"ping"), SendAll(b"pong")])
    client = tcp_client_peer(server, [SendAll(b"ping"), Expect(b"pong"), RecvEOF()])
    client.wait_done(WAIT)
    server.wait_done(WAIT)


def test_scripted_client_connect_failure_is_immediate(closed_port, tcp_client_peer):
    with pytest.raises(
        PeerError, match=r"connect to 127.0.0.1:\d+ failed: ConnectionRefusedError ECONNREFUSED"
    ):
        tcp_client_peer(closed_port, [SendAll(b"x")])


def test_scripted_client_failure_surfaces(tcp_server, tcp_client_peer):
    server = tcp_server([SendAll(b"nope")])
    client = tcp_client_peer(server, [Expect(b"yes!")], name="checker")
    with pytest.raises(PeerError, match=r"peer 'checker'.*expected b'yes!', got b'nope'"):
        client.wait_done(WAIT)


def test_scripted_client_rejects_a_bad_target():
    with pytest.raises(TypeError, match=r"target: expected a peer, a \(host, port\) tuple or 'host:port'"):
        ScriptedTCPClient(80, [])
    with pytest.raises(ValueError, match=r"target: 'example.invalid:80' names the host 'example.invalid'"):
        ScriptedTCPClient("example.invalid:80", [])
