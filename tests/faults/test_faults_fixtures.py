"""The fault fixtures and options as a user's test suite sees them (pytester runs an inner session)."""

from __future__ import annotations

import pytest

BOTH_BACKENDS = """
def test_uses(any_fault_backend):
    assert any_fault_backend.name in ("embedded", "toxiproxy")
"""


def test_toxiproxy_half_skips_with_the_reason_locally(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TOXIPROXY_URL", raising=False)
    monkeypatch.delenv("CI", raising=False)
    pytester.makepyfile(BOTH_BACKENDS)
    result = pytester.runpytest("-p", "no:randomly", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*TOXIPROXY_URL is not set*"])


def test_toxiproxy_half_fails_under_ci(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOXIPROXY_URL", raising=False)
    monkeypatch.setenv("CI", "true")
    pytester.makepyfile(BOTH_BACKENDS)
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*toxiproxy backend required under CI*TOXIPROXY_URL is not set*"])


def test_fault_proxy_takes_peers_tuples_and_strings_and_cleans_up(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import socket

        made = []

        def test_forms(fault_proxy, fault_backend, echo_server):
            assert fault_backend.name == "embedded"
            for upstream in (echo_server, echo_server.address[:2], f"127.0.0.1:{echo_server.port}"):
                proxy = fault_proxy(upstream)
                made.append(proxy)
                with socket.create_connection(proxy.address, timeout=5) as sock:
                    sock.sendall(b"x")
                    assert sock.recv(1) == b"x"
            assert len({proxy.name for proxy in made}) == 3

        def test_after():
            for proxy in made:
                try:
                    socket.create_connection(proxy.address, timeout=1).close()
                except ConnectionRefusedError:
                    continue
                raise AssertionError(f"{proxy!r} still listens after its test")

        def test_bad_upstream(fault_proxy):
            try:
                fault_proxy(object())
            except TypeError as error:
                assert "fault_proxy(upstream=...)" in str(error)
            else:
                raise AssertionError("no TypeError")
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=3)


def test_backend_option_rejects_unknown_names(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("--sockharness-backend", "nope")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*--sockharness-backend*invalid choice*"])
