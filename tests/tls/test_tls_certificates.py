"""Certificates made in the test process: each kind fails verification exactly as its name says."""

from __future__ import annotations

import ssl

import pytest

from sockharness.peers import CERT_KINDS, TLSCertificates, TLSOptions

#: kind -> (verify_code, its X509_V_ERR name), measured here (OpenSSL 3.0) and in tls-facts 1.
FAILURES = {
    "expired": (10, "X509_V_ERR_CERT_HAS_EXPIRED"),
    "not_yet_valid": (9, "X509_V_ERR_CERT_NOT_YET_VALID"),
    "wrong_host": (64, "X509_V_ERR_IP_ADDRESS_MISMATCH"),
    "self_signed": (18, "X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT"),
    "untrusted_ca": (20, "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY"),
}


def test_every_failing_kind_is_listed():
    assert set(CERT_KINDS) == {"valid", *FAILURES}


@pytest.mark.parametrize("kind", sorted(FAILURES))
def test_each_kind_fails_verification_with_its_code(kind, tls_peer, tls_client):
    from sockharness.peers import EchoServer

    server = tls_peer(EchoServer, cert=kind)
    with pytest.raises(ssl.SSLCertVerificationError) as caught:
        tls_client(server)
    assert caught.value.verify_code == FAILURES[kind][0]
    assert caught.value.reason == "CERTIFICATE_VERIFY_FAILED"


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_valid_certificate_carries_ip_sans_for_both_loopbacks(host, tls_peer, tls_client, ipv6_loopback):
    from sockharness.peers import EchoServer

    server = tls_peer(EchoServer, host=host)
    client = tls_client(server)
    client.sendall(b"ping")
    assert client.recv(4) == b"ping"
    sans = dict(client.getpeercert())["subjectAltName"]
    assert ("IP Address", "127.0.0.1") in sans
    assert ("IP Address", "0:0:0:0:0:0:0:1") in sans


def test_wrong_host_by_name_is_code_62(tls_peer, tls_client):
    from sockharness.peers import EchoServer

    server = tls_peer(EchoServer, cert="wrong_host")
    with pytest.raises(ssl.SSLCertVerificationError) as caught:
        tls_client(server, server_hostname="localhost")
    assert caught.value.verify_code == 62


def test_requests_trusts_the_ca_bundle_path(tls_http_server, tls_certificates):
    requests = pytest.importorskip("requests")
    response = requests.get(tls_http_server.url, verify=tls_certificates.ca_path, timeout=5)
    assert response.text == "Hello, World"


def test_pem_bytes_build_a_context(tls_echo_server, tls_certificates, tls_client):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=tls_certificates.ca_pem.decode())
    client = tls_client(tls_echo_server, context=context)
    assert client.version() in ("TLSv1.2", "TLSv1.3")


def test_leaves_are_cached(tls_certificates: TLSCertificates):
    assert tls_certificates.cert("expired") is tls_certificates.cert("expired")


def test_unknown_kind_names_the_known_kinds_and_a_guess(tls_certificates):
    with pytest.raises(
        ValueError, match=r"unknown certificate kind 'expird'; did you mean 'expired'\?"
    ) as caught:
        tls_certificates.cert("expird")
    assert "known kinds: valid, expired" in str(caught.value)
    with pytest.raises(ValueError, match=r"tls\.cert: unknown certificate kind"):
        TLSOptions(cert="nope")


def test_unknown_options_are_errors_not_no_ops():
    with pytest.raises(ValueError, match=r"tls.minimum_version: expected one of TLSv1_2, TLSv1_3"):
        TLSOptions(minimum_version="TLSv1.3")
    with pytest.raises(ValueError, match=r"did you mean 'stall'"):
        TLSOptions(handshake_fault="stal")
    with pytest.raises(ValueError, match="apply only to a TLS server, not to this client"):
        TLSOptions(cert="expired").check_role("client", "c")
    with pytest.raises(ValueError, match="apply only to a TLS client, not to this server"):
        TLSOptions(client_cert="valid").check_role("server", "s")


def test_tls_peer_refuses_a_peer_that_cannot_speak_tls(tls_peer):
    from sockharness.peers import UDPEcho

    with pytest.raises(TypeError, match="UDPEcho cannot speak TLS"):
        tls_peer(UDPEcho)


def test_client_context_loads_no_system_store(tls_certificates):
    context = tls_certificates.client_context()
    assert context.cert_store_stats()["x509_ca"] == 1
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_client_certificate_without_the_ca_is_refused(tls_certificates):
    with pytest.raises(ValueError, match="client_cert without trust"):
        tls_certificates.client_context(client_cert="valid", trust=False)


def test_plain_reply_on_a_client_is_refused():
    with pytest.raises(ValueError, match="plain_reply apply only to a TLS server"):
        TLSOptions(plain_reply=b"x").check_role("client", "c")
