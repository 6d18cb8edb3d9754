"""The opt-in leak check fails a test that leaves sockets open, names them, and excuses wider fixtures."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_leaked_socket_is_named_with_its_creation_site(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_leaky="""
        import socket

        KEEP = []

        def test_forgets_to_close():
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            KEEP.append(s)

        def test_closes():
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
        """
    )
    result = pytester.runpytest_subprocess("--sockharness-leaks", "-p", "no:randomly")
    result.assert_outcomes(passed=2, errors=1)
    site = "created at *test_leaky.py:6 in test_forgets_to_close"
    result.stdout.fnmatch_lines(
        [
            "*sockharness leak check: 1 socket(s), 0 thread(s) left open*",
            f"*socket AF_INET/SOCK_STREAM ('127.0.0.1', *), {site}*",
        ]
    )


def test_marker_enables_the_check_for_one_test_only(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_marked="""
        import socket
        import pytest

        KEEP = []

        @pytest.mark.sockharness_leaks
        def test_checked():
            KEEP.append(socket.socket())

        def test_unchecked():
            KEEP.append(socket.socket())
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_checked*"])


def test_session_fixture_sockets_and_closed_peers_are_not_leaks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_scoped="""
        import socket
        import pytest

        @pytest.fixture(scope="session")
        def shared_listener():
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.listen()
            yield s
            s.close()

        def test_uses_session_socket(shared_listener):
            assert shared_listener.fileno() != -1

        def test_echo_peer_and_client_are_cleaned(echo_server, tcp_client):
            client = tcp_client(echo_server.address)
            client.sendall(b"ping")
            assert client.recv(4) == b"ping"
        """
    )
    result = pytester.runpytest_subprocess("--sockharness-leaks", "-p", "no:randomly")
    result.assert_outcomes(passed=2)
