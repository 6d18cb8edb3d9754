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


def test_fds_kept_through_detach_or_dup_are_caught_and_traced(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_hidden="""
        import os
        import socket

        KEEP = []

        def test_detaches():
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            KEEP.append(s.detach())

        def test_dups_then_closes():
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                KEEP.append(os.dup(s.fileno()))

        def test_closes_its_dup():
            with socket.socket() as s:
                os.close(os.dup(s.fileno()))
        """
    )
    result = pytester.runpytest_subprocess("--sockharness-leaks", "-p", "no:randomly")
    result.assert_outcomes(passed=3, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_detaches*",
            "*socket AF_INET/SOCK_STREAM ('127.0.0.1', *), created at *test_hidden.py:7 in test_detaches"
            "*fd=*; no socket object holds this fd any more (kept through detach() or os.dup())*",
            "*ERROR at teardown of test_dups_then_closes*",
            "*created at *test_hidden.py:12 in test_dups_then_closes*kept through detach() or os.dup()*",
        ]
    )


def test_threads_are_checked_by_identity_and_excused_only_by_registration(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_threads="""
        import threading
        from sockharness._leaks import register_harness_thread

        STOP = threading.Event()

        def test_plain_user_thread():
            threading.Thread(target=STOP.wait, name="worker").start()

        def test_thread_with_a_harness_like_name():
            threading.Thread(target=STOP.wait, name="sockharness-x", daemon=True).start()

        def test_registered_service_thread():
            thread = threading.Thread(target=STOP.wait, name="service", daemon=True)
            register_harness_thread(thread, "a process-wide service", outlives_tests=True)
            thread.start()

        def test_thread_that_finishes():
            threading.Thread(target=lambda: None).start()

        def test_zz_release():
            STOP.set()
        """
    )
    result = pytester.runpytest_subprocess("--sockharness-leaks", "-p", "no:randomly")
    result.assert_outcomes(passed=5, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_plain_user_thread*",
            "*0 socket(s), 1 thread(s) left open*",
            "*thread 'worker' still running, started at *test_threads.py:7 in test_plain_user_thread*",
            "*ERROR at teardown of test_thread_with_a_harness_like_name*",
            "*thread 'sockharness-x' still running*",
        ]
    )
    assert "'service'" not in result.stdout.str()


def test_a_peer_left_running_is_reported_with_its_owner(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_peer="""
        from sockharness.peers import EchoServer

        KEEP = []

        def test_starts_and_forgets():
            peer = EchoServer(name="forgotten")
            peer.start()
            KEEP.append(peer)
        """
    )
    result = pytester.runpytest_subprocess("--sockharness-leaks", "-p", "no:randomly")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*harness thread 'sockharness:forgotten:*' of EchoServer 'forgotten' "
            "(created at *test_peer.py:7 in test_starts_and_forgets) still running*"
        ]
    )


def test_a_wider_fixture_excuses_only_what_it_opened(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_order="""
        import socket
        import threading
        import pytest

        KEEP = []
        STOP = threading.Event()

        @pytest.fixture
        def function_leak():
            KEEP.append(socket.socket())  # opened by the test's own fixture, before the session one

        @pytest.fixture(scope="session")
        def shared():
            s = socket.socket()
            t = threading.Thread(target=STOP.wait, daemon=True)
            t.start()
            yield s
            STOP.set()
            s.close()

        def test_uses_both(function_leak, shared):
            pass
        """
    )
    result = pytester.runpytest_subprocess("--sockharness-leaks", "-p", "no:randomly")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*1 socket(s), 0 thread(s) left open*", "*created at *test_order.py:10 in function_leak*"]
    )
