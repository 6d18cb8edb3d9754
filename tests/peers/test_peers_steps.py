"""Script steps are validated, immutable data; mistakes name the step and the argument."""

from __future__ import annotations

import socket

import pytest

from sockharness.peers import (
    Close,
    Drain,
    Echo,
    Expect,
    Recv,
    RecvSome,
    RecvUntil,
    Reset,
    Send,
    SendAll,
    SetBuf,
    Shutdown,
    Sleep,
    Stall,
    validate_script,
)


def test_steps_are_frozen():
    step = Recv(5)
    with pytest.raises(AttributeError):
        step.n = 6  # type: ignore[misc]


def test_bytes_like_payloads_become_bytes():
    assert Send(bytearray(b"ab")).data == b"ab"
    assert Expect(memoryview(b"cd")).data == b"cd"


@pytest.mark.parametrize("cls", [Send, SendAll, Expect])
def test_text_payload_is_rejected_with_a_hint(cls):
    with pytest.raises(TypeError, match=r"\(data\): expected bytes, got str 'hello'; encode it"):
        cls("hello")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Recv(-1), r"Recv\(n\): must be >= 0, got -1"),
        (lambda: Recv(True), r"Recv\(n\): expected an int"),
        (lambda: RecvUntil(b""), r"RecvUntil\(delimiter\): must not be empty"),
        (lambda: RecvSome(0), r"RecvSome\(bufsize\): must be >= 1"),
        (lambda: Sleep(-0.1), r"Sleep\(seconds\): must be a finite number"),
        (lambda: Sleep(float("nan")), r"Sleep\(seconds\): must be a finite number"),
        (lambda: Stall("1s"), r"Stall\(seconds\): expected seconds as a number"),
        (lambda: Shutdown("SHUT_BOTH"), r"Shutdown\(how\): expected one of"),
        (lambda: Shutdown(7), r"Shutdown\(how\): expected socket.SHUT_RD"),
        (lambda: SetBuf(), r"SetBuf: give rcvbuf, sndbuf or both"),
        (lambda: SetBuf(rcvbuf=0), r"SetBuf\(rcvbuf\): must be >= 1"),
        (lambda: Echo(0), r"Echo\(bufsize\)"),
        (lambda: Drain(0), r"Drain\(bufsize\)"),
    ],
)
def test_invalid_arguments_name_the_step_and_argument(build, message):
    with pytest.raises((TypeError, ValueError), match=message):
        build()


def test_shutdown_accepts_names():
    assert Shutdown("SHUT_WR").how == socket.SHUT_WR
    assert Shutdown(socket.SHUT_RDWR).how_name == "SHUT_RDWR"


def test_stall_defaults_to_until_stopped():
    assert Stall().seconds is None
    assert Stall(1).seconds == 1.0


def test_validate_script_returns_a_tuple():
    assert validate_script([Recv(1), Close()]) == (Recv(1), Close())


def test_validate_script_rejects_steps_after_the_connection_ends():
    with pytest.raises(ValueError, match=r"script\[2\]: Send\(data=b'x'\) can never run, Reset\(\) ends"):
        validate_script([Recv(1), Reset(), Send(b"x")])


def test_validate_script_rejects_non_steps_with_the_index():
    with pytest.raises(
        TypeError, match=r"script\[1\]: expected a step .* \(a step class; call it: Close\(\)\)"
    ):
        validate_script([Recv(1), Close])


def test_validate_script_rejects_a_string():
    with pytest.raises(TypeError, match="expected a sequence of steps, got str"):
        validate_script("recv")  # type: ignore[arg-type]
