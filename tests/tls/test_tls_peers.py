"""TLS peers: every TCP peer kind over TLS, scripted TLS steps, versions, ALPN, client certificates."""

from __future__ import annotations

import socket
import ssl

import pytest

from sockharness.peers import (
    Close,
    DiscardServer,
    Expect,
    HTTPHelloServer,
    PeerError,
    RecvEOF,
    RecvUntil,
    ReplyServer,
    SendAll,
    SilentServer,
    TlsCloseNotify,
    TlsHandshake,
)


def test_tls_echo_server_echoes(tls_echo_server, tls_client):
    client = tls_client(tls_echo_server)
    client.sendall(b"over tls")
    assert client.recv(100) == b"over tls"
    assert "TLS handshake done: TLSv1.3" in str(tls_echo_server.transcripts[0])


def test_reply_server_over_tls_replies_then_ragged_close(tls_peer, tls_client):
    server = tls_peer(ReplyServer, b"pong")
    client = tls_client(server, suppress_ragged_eofs=False)
    client.sendall(b"ping")
    assert client.recv(100) == b"pong"
    with pytest.raises(ssl.SSLEOFError):
        client.recv(100)


def test_http_hello_over_tls_with_http_client(tls_http_server, tls_certificates):
    import http.client

    assert tls_http_server.url.startswith("https://127.0.0.1:")
    connection = http.client.HTTPSConnection(
        tls_http_server.host, tls_http_server.port, context=tls_certificates.client_context(), timeout=5
    )
    connection.request("GET", "/")
    response = connection.getresponse()
    assert (response.status, response.read()) == (200, b"Hello, World")
    connection.close()


def test_silent_tls_server_completes_the_handshake_then_says_nothing(tls_peer, tls_client):
    server = tls_peer(SilentServer)
    client = tls_client(server, timeout=0.2)
    assert client.version() is not None
    with pytest.raises(TimeoutError, match="The read operation timed out"):
        client.recv(1)


def test_discard_server_over_tls(tls_peer, tls_client):
    server = tls_peer(DiscardServer)
    client = tls_client(server)
    client.sendall(b"x" * 100_000)
    client.close()
    server.wait_done()
    assert "100000" in str(server.transcripts[0]) or server.transcripts[0]


def test_scripted_server_expects_and_sends_records(tls_server, tls_client):
    server = tls_server([RecvUntil(b"\n"), SendAll(b"ok\n"), TlsCloseNotify()], max_connections=1)
    client = tls_client(server, suppress_ragged_eofs=False)
    client.sendall(b"hello\n")
    assert client.recv(10) == b"ok\n"
    # close_notify: b'' even with suppress_ragged_eofs=False (tls-facts 4.2)
    assert client.recv(10) == b""
    server.wait_done()


def test_starttls_upgrade_in_the_script(tls_server, tls_certificates):
    server = tls_server([Expect(b"STARTTLS\n"), SendAll(b"GO\n"), TlsHandshake(), Expect(b"secret")])
    raw = socket.create_connection(server.address, timeout=5)
    raw.sendall(b"STARTTLS\n")
    assert raw.recv(3) == b"GO\n"
    client = tls_certificates.client_context().wrap_socket(raw, server_hostname="127.0.0.1")
    client.sendall(b"secret")
    client.close()
    server.wait_done()


def test_scripted_tls_client_against_a_tls_server(tls_server, tcp_client_peer):
    from sockharness.peers import ScriptedTCPClient, TLSOptions

    server = tls_server([Expect(b"hi"), SendAll(b"yo"), TlsCloseNotify()], max_connections=1)
    client = ScriptedTCPClient(server, [SendAll(b"hi"), Expect(b"yo"), RecvEOF()], tls=TLSOptions())
    client.registry = server.registry
    client.start()
    client.wait_done()
    server.wait_done()


def test_scripted_tls_client_fails_loudly_on_a_bad_certificate(tls_server):
    from sockharness.peers import ScriptedTCPClient, TLSOptions

    server = tls_server([Expect(b"hi")], cert="expired", tolerate_disconnects=True)
    client = ScriptedTCPClient(server, [SendAll(b"hi")], tls=TLSOptions(), registry=server.registry).start()
    with pytest.raises(PeerError, match=r"TLS handshake failed: .*certificate has expired"):
        client.wait_done()


def test_scripted_server_without_tolerance_reports_a_refused_handshake(tls_server, tls_client):
    server = tls_server([Close()], cert="expired", max_connections=1)
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_client(server)
    with pytest.raises(PeerError, match="SSLV3_ALERT_CERTIFICATE_EXPIRED"):
        server.wait_done()


def test_tls_close_notify_needs_a_tls_connection(tcp_server):
    with pytest.raises(PeerError, match="TlsHandshake in the script of a peer without tls options"):
        server = tcp_server([TlsHandshake()], max_connections=1)
        socket.create_connection(server.address, timeout=5).close()
        server.wait_done()


def test_close_notify_must_be_last():
    from sockharness.peers import validate_script

    with pytest.raises(ValueError, match="can never run"):
        validate_script([TlsCloseNotify(), SendAll(b"x")])


def test_alpn_is_negotiated(tls_peer, tls_client):
    from sockharness.peers import EchoServer

    server = tls_peer(EchoServer, alpn=["h2", "http/1.1"])
    client = tls_client(server, alpn=["http/1.1"])
    assert client.selected_alpn_protocol() == "http/1.1"


def test_http_hello_url_is_https_over_ipv6(tls_peer, ipv6_loopback):
    server = tls_peer(HTTPHelloServer, host=ipv6_loopback)
    assert server.url.startswith("https://[::1]:")


def test_tls_server_takes_options_or_fields_not_both(tls_server):
    from sockharness.peers import TLSOptions

    with pytest.raises(TypeError, match="either tls=TLSOptions"):
        tls_server([Close()], tls=TLSOptions(), cert="expired")
