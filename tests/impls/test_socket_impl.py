"""Choosing the socket implementation of a run (pure parts, and the errors of the loading part).

Nothing here imports gevent or eventlet into the test process: those run in subprocesses
(tests/impls/test_run_socket_impl.py).
"""

from __future__ import annotations

import socket
import sys
import types
from collections.abc import Iterator

import pytest

from sockharness._socket_impl import (
    STDLIB,
    SocketImplError,
    SocketImplSpec,
    load_socket_impl,
    parse_socket_impl,
)


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("stdlib", "socket:socket"),
        ("gevent", "gevent.socket:socket"),
        ("eventlet", "eventlet.green.socket:socket"),
        ("my_pkg.net:make_socket", "my_pkg.net:make_socket"),
        ("pkg:Factory.create", "pkg:Factory.create"),
    ],
)
def test_names_and_import_paths_parse_without_importing(text: str, target: str) -> None:
    spec = parse_socket_impl(text)
    assert spec.target == target
    assert spec.name == text


def test_only_eventlet_gets_a_fresh_hub_per_scenario() -> None:
    assert parse_socket_impl("eventlet").reset == "sockharness._socket_impl:fresh_eventlet_hub"
    assert parse_socket_impl("gevent").reset is None
    assert parse_socket_impl("pkg:make").reset is None


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("gevnet", "did you mean 'gevent'?"),
        ("eventlett", "did you mean 'eventlet'?"),
        ("pkg:", "package.module:factory"),
        ("pkg.:make", "package.module:factory"),
        ("", "use one of stdlib, gevent, eventlet"),
    ],
)
def test_a_bad_name_is_refused_with_the_known_ones(text: str, hint: str) -> None:
    with pytest.raises(SocketImplError) as caught:
        parse_socket_impl(text)
    assert hint in str(caught.value)
    assert f"--socket-impl {text!r}" in str(caught.value)


@pytest.fixture
def fake_module() -> Iterator[types.ModuleType]:
    """A module with factories of every kind, importable as ``sockharness_fake_impl``."""
    module = types.ModuleType("sockharness_fake_impl")

    def real(family: int, type: int, proto: int) -> socket.socket:
        return socket.socket(family, type, proto)

    def not_a_socket(family: int, type: int, proto: int) -> object:
        return object()

    def refusing(family: int, type: int, proto: int) -> socket.socket:
        raise OSError(97, "Address family not supported by protocol")

    module.real = real  # type: ignore[attr-defined]
    module.not_a_socket = not_a_socket  # type: ignore[attr-defined]
    module.refusing = refusing  # type: ignore[attr-defined]
    module.constant = 42  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    yield module
    del sys.modules[module.__name__]


def test_a_working_factory_makes_sockets(fake_module: types.ModuleType) -> None:
    chosen = load_socket_impl("sockharness_fake_impl:real")
    with chosen.socket(socket.AF_INET, socket.SOCK_DGRAM, 0) as made:
        assert made.type == socket.SOCK_DGRAM
    assert not chosen.is_stdlib
    chosen.fresh_hub()  # no hub to reset: a no-op


def test_stdlib_is_the_socket_class() -> None:
    chosen = load_socket_impl(STDLIB)
    assert chosen.factory is socket.socket and chosen.is_stdlib


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("sockharness_no_such_module:make", "cannot import sockharness_no_such_module"),
        ("sockharness_fake_impl:missing", "sockharness_fake_impl has no 'missing'"),
        ("sockharness_fake_impl:constant", "is a builtins.int, not callable"),
        ("sockharness_fake_impl:not_a_socket", "returned builtins.object, not a socket: it has no fileno"),
        (
            "sockharness_fake_impl:refusing",
            "(AF_INET, SOCK_STREAM, 0) cannot make a socket: OSError: [Errno 97]",
        ),
    ],
)
def test_an_implementation_that_cannot_make_a_socket_is_named(
    fake_module: types.ModuleType, text: str, words: str
) -> None:
    with pytest.raises(SocketImplError) as caught:
        load_socket_impl(text)
    assert f"socket implementation {text!r}" in str(caught.value)
    assert words in str(caught.value)


def test_a_known_implementation_that_is_not_installed_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sockharness._socket_impl as impl

    missing = SocketImplSpec("gevent", "sockharness_gevent_not_installed", "socket", "sockharness[impls]")
    monkeypatch.setattr(impl, "parse_socket_impl", lambda text: missing)
    with pytest.raises(SocketImplError) as caught:
        impl.load_socket_impl("gevent")
    assert "cannot import sockharness_gevent_not_installed" in str(caught.value)
    assert "pip install 'sockharness[impls]'" in str(caught.value)


def test_run_passes_the_implementation_and_compare_to_pytest() -> None:
    from sockharness._cli import build_parser
    from sockharness.scenario._commands import build_pytest_args, split_run_arguments

    options, paths, extra = split_run_arguments(
        build_parser().parse_args(["run", "scenarios", "--socket-impl", "gevent", "--compare"])
    )
    args, problem = build_pytest_args(options, paths, extra)
    assert problem is None
    assert args[args.index("--sockharness-socket-impl") + 1] == "gevent"
    assert "--sockharness-compare" in args
    options, paths, extra = split_run_arguments(build_parser().parse_args(["run", "scenarios", "--compare"]))
    assert build_pytest_args(options, paths, extra) == (
        [],
        "sockharness run: --compare compares a --socket-impl with the standard library: name one",
    )


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ([], 3.0),
        (["--sockharness-compare"], 6.0),  # two runs in one item: each gets the scenario's whole budget
    ],
)
def test_a_compared_scenario_gets_its_timeout_twice(
    pytester: pytest.Pytester, options: list[str], expected: float
) -> None:
    pytester.makepyfile(
        stdlib_again="import socket\n\n\ndef make(family, type, proto):\n"
        "    return socket.socket(family, type, proto)\n"
    )
    pytester.syspathinsert()
    pytester.makefile(
        ".sock.yaml",
        timed="""
scenarios:
  - name: timed
    description: a new socket is blocking
    timeout: 3s
    steps:
      - socket: {as: s}
      - getblocking: s
        returns: true
""",
    )
    items, _ = pytester.inline_genitems(
        "timed.sock.yaml", "--sockharness-socket-impl", "stdlib_again:make", *options
    )
    [item] = items
    marker = item.get_closest_marker("timeout")
    assert marker is not None and marker.args[0] == expected
