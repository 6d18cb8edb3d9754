"""TLS in the scenario language: failures say which part differed, bad input is a load-time error with
file:line, and reasons match across OpenSSL versions through written-out alias sets."""

from __future__ import annotations

from pathlib import Path

import pytest

from sockharness._ssl_reasons import REASON_ALIASES, reason_matches, verify_code_name, verify_code_number
from sockharness.scenario._api import run_scenario
from sockharness.scenario._language.errors import ScenarioError
from sockharness.scenario._language.loader import load_text
from sockharness.scenario._run.failure import ScenarioFailure

FAILING = Path(__file__).parents[1] / "data" / "tls" / "tls_failing.yaml"


def _fail(name: str) -> ScenarioFailure:
    with pytest.raises(ScenarioFailure) as caught:
        run_scenario(FAILING, name, seed=7)
    return caught.value


def test_wrong_verify_code_names_both_codes():
    failure = _fail("wrong-verify-code")
    assert "X509_V_ERR_HOSTNAME_MISMATCH (62)" in failure.expected
    assert "verify_code is X509_V_ERR_CERT_HAS_EXPIRED (10)" in str(failure)


def test_wrong_reason_is_reported_by_reason_not_as_an_errno():
    failure = _fail("wrong-reason")
    assert "reason CERTIFICATE_VERIFY_FAILED" in failure.expected
    assert failure.observed.startswith("SSLError reason WRONG_VERSION_NUMBER")
    assert "EPERM" not in failure.observed


def test_tls_step_on_a_plain_socket_says_so():
    failure = _fail("tls-step-on-plain-socket")
    assert "socket 'c' is a plain socket, not TLS; wrap it first" in failure.observed


def test_a_fault_that_did_not_happen_fails():
    failure = _fail("no-fault-no-pass")
    assert "no exception" in failure.observed


def _problems(text: str) -> str:
    with pytest.raises(ScenarioError) as caught:
        load_text(text, "bad.yaml")
    return str(caught.value)


SCENARIO = """\
scenarios:
  - name: s
    description: d
    method: do_handshake
    peers:
{peers}
    steps:
{steps}
"""


def test_tls_on_a_udp_peer_is_a_load_error_with_the_line():
    text = _problems(
        SCENARIO.format(peers="      u: {kind: udp_echo, tls: true}", steps="      - sleep: 1ms")
    )
    assert "bad.yaml:6:" in text
    assert "peer kind 'udp_echo' (udp) cannot speak TLS" in text


def test_unknown_certificate_kind_in_yaml_has_did_you_mean():
    text = _problems(
        SCENARIO.format(peers="      e: {kind: echo, tls: wrong_hots}", steps="      - sleep: 1ms")
    )
    assert "unknown certificate kind 'wrong_hots'; did you mean 'wrong_host'?" in text


def test_role_options_are_checked():
    peers = (
        "      s: {kind: tcp_server, tls: {client_cert: valid}}\n"
        "      c: {kind: tcp_client, target: s, tls: {cert: expired}}"
    )
    text = _problems(SCENARIO.format(peers=peers, steps="      - sleep: 1ms"))
    assert "tls.client_cert applies to a TLS client; this peer is a server" in text
    assert "tls.cert applies to a TLS server; this peer is a client" in text


def test_wrap_socket_side_options_are_checked():
    steps = "      - socket: {as: c}\n      - wrap_socket: {socket: c, server_side: true, client_cert: valid}"
    text = _problems(SCENARIO.format(peers="      e: echo", steps=steps))
    assert "client_cert do not apply to a server-side wrap" in text


def test_client_cert_without_a_trusted_ca_is_refused():
    steps = "      - socket: {as: c}\n      - wrap_socket: {socket: c, client_cert: valid, trust: false}"
    text = _problems(SCENARIO.format(peers="      e: echo", steps=steps))
    assert "client_cert without trust" in text


def test_unknown_verify_code_has_did_you_mean():
    steps = (
        "      - sleep: 1ms\n        raises: {type: ssl.SSLError, verify_code: X509_V_ERR_CERT_HAS_EXPRED}"
    )
    text = _problems(SCENARIO.format(peers="      e: echo", steps=steps))
    assert "did you mean 'X509_V_ERR_CERT_HAS_EXPIRED'?" in text


def test_reason_aliases_cover_the_openssl_versions_measured():
    # 3.0 / 4.0 report WRONG_VERSION_NUMBER, 3.2-3.5 RECORD_LAYER_FAILURE (tls-facts 7)
    assert reason_matches("WRONG_VERSION_NUMBER", "WRONG_VERSION_NUMBER")
    assert reason_matches("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE")
    assert reason_matches("UNEXPECTED_EOF_WHILE_READING", None)  # OpenSSL 1.1.1 queues no reason
    assert not reason_matches("WRONG_VERSION_NUMBER", "CERTIFICATE_VERIFY_FAILED")
    assert not reason_matches("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", portable=False)
    assert not reason_matches("CERTIFICATE_VERIFY_FAILED", None)
    assert all(expected not in aliases for expected, aliases in REASON_ALIASES.items())


def test_verify_codes_by_name_short_name_and_number():
    assert verify_code_number("X509_V_ERR_CERT_HAS_EXPIRED") == 10
    assert verify_code_number("CERT_HAS_EXPIRED") == 10
    assert verify_code_number(64) == 64
    assert verify_code_name(18) == "X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT (18)"
    assert verify_code_name(999) == "999"
    with pytest.raises(ValueError, match="unknown verify code 'NOPE'"):
        verify_code_number("NOPE")


def test_tls_shorthands_load_as_the_mapping():
    from sockharness.scenario._language.model_peers import EchoPeer

    loaded = load_text(
        SCENARIO.format(
            peers="      a: {kind: echo, tls: true}\n      b: {kind: echo, tls: expired}\n      c: echo",
            steps="      - sleep: 1ms",
        ),
        "ok.yaml",
    )
    peers = loaded.scenarios[0].peers
    assert isinstance(peers["a"], EchoPeer) and peers["a"].tls is not None and peers["a"].tls.cert == "valid"
    assert peers["b"].tls is not None and peers["b"].tls.cert == "expired"
    assert peers["c"].tls is None
