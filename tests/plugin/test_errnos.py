"""sockharness._errnos: names resolve through the errno module, aliases compare equal, messages read well."""

from __future__ import annotations

import errno
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sockharness import _errnos as errnos
from sockharness._errnos import (
    WSA_CODES,
    UnknownErrnoError,
    assert_errno,
    describe_errno,
    describe_exception,
    errno_aliases,
    errno_name,
    exception_class_for,
    is_errno,
    resolve_errno,
    wsa_name,
)


def test_resolve_uses_the_errno_module():
    assert resolve_errno("ECONNREFUSED") == errno.ECONNREFUSED
    assert resolve_errno("EWOULDBLOCK") == errno.EWOULDBLOCK


def test_resolve_accepts_winsock_names():
    assert resolve_errno("WSAECONNREFUSED") == 10061


def test_unknown_name_suggests_the_closest_and_names_the_argument():
    with pytest.raises(
        UnknownErrnoError, match=r"returns: unknown errno name 'ECONNREFUSD' \(did you mean ECONNREFUSED\?\)"
    ):
        resolve_errno("ECONNREFUSD", argument="returns")


def test_unknown_name_is_a_value_error():
    with pytest.raises(ValueError):
        resolve_errno("NOT_AN_ERRNO")


def test_non_string_name_is_a_type_error():
    with pytest.raises(TypeError, match="expected an errno name"):
        resolve_errno(111)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("EAGAIN", {"EAGAIN", "EWOULDBLOCK"}),
        ("EWOULDBLOCK", {"EAGAIN", "EWOULDBLOCK"}),
        ("EOPNOTSUPP", {"EOPNOTSUPP", "ENOTSUP"}),
        ("ENOTSUP", {"EOPNOTSUPP", "ENOTSUP"}),
        ("ECONNREFUSED", {"ECONNREFUSED"}),
    ],
)
def test_alias_sets(name, expected):
    assert errno_aliases(name) == expected


def test_portable_equivalents_are_opt_in():
    assert "ENOTSOCK" not in errno_aliases("EBADF")
    assert errno_aliases("EBADF", portable=True) == {"EBADF", "ENOTSOCK"}
    assert {"EINPROGRESS", "EWOULDBLOCK", "EAGAIN"} <= errno_aliases("EINPROGRESS", portable=True)


def test_is_errno_is_alias_aware():
    assert is_errno(errno.EAGAIN, "EWOULDBLOCK")
    assert is_errno(errno.EOPNOTSUPP, "ENOTSUP")
    assert not is_errno(errno.ETIMEDOUT, "ECONNREFUSED")


def test_is_errno_reads_exceptions_and_accepts_several_names():
    refused = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
    assert is_errno(refused, "ECONNREFUSED")
    assert is_errno(refused, ["ETIMEDOUT", "ECONNREFUSED"])
    assert not is_errno(TimeoutError("timed out"), "ETIMEDOUT"), "a Python-level timeout has no errno"
    assert not is_errno(None, "ETIMEDOUT")


def test_is_errno_portable_mode():
    assert not is_errno(errno.ENOTSOCK, "EBADF")
    assert is_errno(errno.ENOTSOCK, "EBADF", portable=True)


def test_errno_name_prefers_the_documented_names_not_errorcode():
    assert errno_name(errno.EOPNOTSUPP) == "EOPNOTSUPP"
    assert errno_name(errno.EAGAIN) == "EAGAIN"
    assert errno_name(errno.ECONNREFUSED) == "ECONNREFUSED"


def test_errno_name_falls_back_to_winsock_then_the_number():
    if 10061 not in errno.errorcode:  # on Windows 10061 is errno.ECONNREFUSED itself
        assert errno_name(10061) == "WSAECONNREFUSED"
    assert errno_name(987654) == "987654"


def test_wsa_table_matches_the_howto():
    assert WSA_CODES["WSAECONNREFUSED"] == 10061
    assert WSA_CODES["WSAEWOULDBLOCK"] == 10035
    assert wsa_name("ECONNREFUSED") == "WSAECONNREFUSED"
    assert wsa_name("EAGAIN") is None
    assert all(10000 < number < 11000 for number in WSA_CODES.values())


def test_describe_errno():
    assert describe_errno(errno.ECONNREFUSED) == f"ECONNREFUSED ({errno.ECONNREFUSED})"
    assert describe_errno(None) == "no errno (None)"
    assert describe_errno(987654) == "unknown errno 987654"


def test_describe_exception_with_errno():
    exc = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
    assert (
        describe_exception(exc)
        == f"ConnectionRefusedError ECONNREFUSED ({errno.ECONNREFUSED}): Connection refused"
    )


def test_describe_exception_for_a_python_level_timeout():
    assert describe_exception(TimeoutError("timed out")) == "TimeoutError (no errno): timed out"


def test_describe_exception_for_a_resolver_error():
    exc = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert describe_exception(exc) == f"gaierror EAI_NONAME ({socket.EAI_NONAME}): Name or service not known"


def test_describe_exception_for_a_non_os_error():
    assert (
        describe_exception(ValueError("negative buffersize in recv"))
        == "ValueError: negative buffersize in recv"
    )


def test_describe_exception_for_a_real_refusal(closed_port, tcp_client):
    with pytest.raises(ConnectionRefusedError) as info:
        tcp_client(closed_port)
    assert describe_exception(info.value).startswith(
        f"ConnectionRefusedError ECONNREFUSED ({errno.ECONNREFUSED}): "
    )


def test_assert_errno_passes_on_a_match_and_an_alias():
    assert_errno(errno.ECONNREFUSED, "ECONNREFUSED", source="connect_ex")
    assert_errno(errno.EAGAIN, "EWOULDBLOCK")
    assert_errno(errno.EAGAIN, ["EINPROGRESS", "EAGAIN"])


def test_assert_errno_failure_reads_like_the_issue():
    with pytest.raises(AssertionError) as info:
        assert_errno(errno.ETIMEDOUT, "ECONNREFUSED", source="connect_ex")
    assert str(info.value) == (
        f"expected ECONNREFUSED ({errno.ECONNREFUSED}), got ETIMEDOUT ({errno.ETIMEDOUT}) from connect_ex"
    )


def test_assert_errno_describes_an_exception_it_got():
    with pytest.raises(AssertionError, match=r"got TimeoutError \(no errno\): timed out from recv"):
        assert_errno(TimeoutError("timed out"), "ETIMEDOUT", source="recv")


def test_assert_errno_lists_every_accepted_name():
    with pytest.raises(AssertionError, match=r"expected EINPROGRESS \(\d+\) or EALREADY \(\d+\), got"):
        assert_errno(0, ["EINPROGRESS", "EALREADY"])


def test_assert_errno_rejects_a_typo_instead_of_failing_as_unequal():
    with pytest.raises(UnknownErrnoError, match="expected: unknown errno name"):
        assert_errno(errno.ECONNREFUSED, "ECONNREFUSD")


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("ECONNREFUSED", ConnectionRefusedError),
        ("ECONNRESET", ConnectionResetError),
        ("ECONNABORTED", ConnectionAbortedError),
        ("EPIPE", BrokenPipeError),
        ("ESHUTDOWN", BrokenPipeError),
        ("ETIMEDOUT", TimeoutError),
        ("EAGAIN", BlockingIOError),
        ("EINPROGRESS", BlockingIOError),
        ("EADDRINUSE", OSError),
    ],
)
def test_exception_class_for(name, cls):
    assert exception_class_for(name) is cls


def test_known_names_exclude_nothing_the_errno_module_has():
    names = errnos.known_errno_names()
    assert "ECONNREFUSED" in names and names == sorted(names)


@given(st.sampled_from(errnos.known_errno_names()))
def test_every_known_name_round_trips_through_its_number(name):
    number = resolve_errno(name)
    assert is_errno(number, name)
    assert is_errno(number, errno_name(number))
    assert resolve_errno(errno_name(number)) == number
