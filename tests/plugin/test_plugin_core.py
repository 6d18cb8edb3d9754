"""The plugin as users meet it: loads in a bare project, prints the seed, cleans up after failures."""

from __future__ import annotations

import os
import re
import threading

import pytest

pytest_plugins = ["pytester"]

ECHO_TEST = """
def test_echo(echo_server, tcp_client):
    client = tcp_client(echo_server, timeout=5)
    client.sendall(b"hi")
    assert client.recv(2) == b"hi"
"""


def _harness_threads() -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("sockharness:"))


def _open_socket_fds() -> int | None:
    """Sockets this process holds, from /proc (Linux); None elsewhere."""
    if not os.path.isdir("/proc/self/fd"):
        return None
    count = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                count += 1
        except OSError:
            continue  # the fd listing itself, closed in between
    return count


def test_plugin_loads_in_a_bare_project(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bare=ECHO_TEST)
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.re_match_lines([r"sockharness: seed \d+ \(replay with --sockharness-seed \d+\)"])


def test_seed_option_is_in_header_fixture_getoption_and_stash(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_seed="""
        from sockharness.fixtures._options import SEED_KEY

        def test_seed(sockharness_seed, pytestconfig):
            assert sockharness_seed == 1234
            assert pytestconfig.getoption("sockharness_seed") == 1234
            assert pytestconfig.stash[SEED_KEY] == 1234
        """
    )
    result = pytester.runpytest("-p", "no:randomly", "--sockharness-seed", "1234")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["sockharness: seed 1234 (replay with --sockharness-seed 1234)"])


def test_invalid_seed_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--sockharness-seed", "abc")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sockharness-seed: expected a non-negative integer seed, got 'abc'*"])


def test_random_seed_differs_between_runs_and_is_printed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_one="def test_one(sockharness_seed):\n    print('SEED', sockharness_seed)\n")
    seeds = set()
    for _ in range(2):
        result = pytester.runpytest("-p", "no:randomly", "-s")
        header = re.search(r"sockharness: seed (\d+)", result.stdout.str())
        printed = re.search(r"SEED (\d+)", result.stdout.str())
        assert header and printed and header.group(1) == printed.group(1)
        seeds.add(header.group(1))
    assert len(seeds) == 2


def test_xdist_workers_share_the_controllers_seed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_workers="""
        import pytest

        @pytest.mark.parametrize("n", range(4))
        def test_seed(n, sockharness_seed, worker_id, tmp_path_factory):
            out = tmp_path_factory.getbasetemp().parent / f"seed-{worker_id}-{n}"
            out.write_text(str(sockharness_seed))
        """
    )
    result = pytester.runpytest_subprocess("-p", "xdist", "-n", "2", "-p", "no:randomly")
    result.assert_outcomes(passed=4)
    header = re.search(r"sockharness: seed (\d+)", result.stdout.str())
    assert header
    written = {p.read_text() for p in pytester.path.parent.rglob("seed-gw*")}
    assert written == {header.group(1)}


def test_failure_report_names_the_seed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_fail="def test_fail():\n    assert False\n")
    result = pytester.runpytest("-p", "no:randomly", "--sockharness-seed", "77")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*sockharness: seed 77 (replay with --sockharness-seed 77)*"])


def test_peer_error_surfaces_at_teardown_with_the_transcript(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_peer_error="""
        from sockharness.peers import Expect

        def test_wrong_bytes(tcp_server, tcp_client):
            server = tcp_server([Expect(b"ping")], name="strict")
            client = tcp_client(server, timeout=5)
            client.sendall(b"pong")
            assert client.recv(10) == b""   # the failing script closes the connection
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_wrong_bytes*",
            "*peer 'strict' (strict#1 *), step[[]0[]] Expect(data=b'ping'): expected b'ping', got b'pong'*",
            "*transcript strict#1 *",
            "*in     b'pong' (4 bytes)*",
        ]
    )


def test_peer_error_already_raised_in_the_test_is_not_repeated(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_once="""
        from sockharness.peers import Expect

        def test_wrong_bytes(tcp_server, tcp_client):
            server = tcp_server([Expect(b"ping")])
            tcp_client(server).sendall(b"pong")
            server.wait_done(5)
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=1)


def test_cleanup_after_a_failing_test_leaves_no_thread_or_socket(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_failing="""
        from sockharness.peers import Stall, Recv

        def test_fails_with_everything_open(echo_server, silent_server, tcp_server, tcp_client, udp_echo,
                                            full_backlog, closed_port, udp_client, tcp_client_peer):
            tcp_client(echo_server, timeout=5).sendall(b"unread")
            tcp_client(silent_server)
            server = tcp_server([Recv(100)])
            tcp_client(server)
            tcp_client_peer(tcp_server([Stall()]), [Recv(1)])
            full_backlog(backlog=2)
            udp_client(udp_echo, connect=True)
            assert False, "deliberate failure with peers running"
        """
    )
    threads_before = set(threading.enumerate())
    sockets_before = _open_socket_fds()
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=1)
    assert _harness_threads() == []
    assert set(threading.enumerate()) - threads_before == set()
    if sockets_before is not None:
        assert _open_socket_fds() == sockets_before


def test_cleanup_after_pytest_timeout_fires(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_hangs="""
        import pytest

        @pytest.mark.timeout(0.5, method="signal")
        def test_blocks_forever(silent_server, tcp_client):
            client = tcp_client(silent_server)   # blocking, no timeout
            client.recv(1)                       # the silent peer never answers
        """
    )
    threads_before = set(threading.enumerate())
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Timeout*"])
    assert _harness_threads() == []
    assert set(threading.enumerate()) - threads_before == set()


def test_ipv6_fixture_skips_with_a_reason_when_unavailable(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_six="""
        import sockharness.fixtures._peers as fixtures

        def test_six(monkeypatch, request):
            monkeypatch.setattr(fixtures, "ipv6_unavailable_reason", lambda: "no ::1 in this sandbox")
            request.getfixturevalue("ipv6_loopback")
        """
    )
    result = pytester.runpytest("-p", "no:randomly", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*IPv6 test skipped: no ::1 in this sandbox*"])
