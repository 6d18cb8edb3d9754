"""Which socket implementation a scenario's own sockets come from: the standard library's, or another one.

``sockharness run --socket-impl gevent`` runs the steps of a scenario (the client side: every ``socket``
step, and so every ``accept`` on such a socket) with sockets made by ``gevent.socket``; peers, proxies and
the harness keep the standard library's sockets and threads. Nothing is monkey-patched: the implementation's
module is imported and its socket class (or any ``module:factory``) is called where ``socket.socket``
would be.

Why no monkey-patching: patching would turn the peers' threads into greenlets and their sockets into the
implementation's too, so the harness would measure the implementation against itself. Unpatched, a gevent
or eventlet socket used from the scenario's thread runs that thread's hub while it waits (both create one
hub per thread on first use), and the peers are real OS threads, exactly as when such an application talks
to a server it does not control.

:func:`parse_socket_impl` is pure (the name -> what to import); :func:`load_socket_impl` imports it and makes
one probe socket, so a run with an implementation that cannot make a socket stops before its first scenario
with one sentence naming the implementation and what went wrong.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

__all__ = [
    "KNOWN_IMPLEMENTATIONS",
    "STDLIB",
    "SocketImplError",
    "SocketImplSpec",
    "SocketImplementation",
    "load_socket_impl",
    "parse_socket_impl",
    "socket_impl",
]

#: The implementation used when none is chosen.
STDLIB: Final = "stdlib"


@dataclass(frozen=True)
class _Known:
    target: str  # module:factory
    extra: str | None = None  # the pip extra that installs the module
    #: module:function called before and after each scenario to give the thread a fresh hub.
    reset: str | None = None


#: Short names -> what to import, the pip extra that provides it, and how to reset its hub.
KNOWN_IMPLEMENTATIONS: Final[dict[str, _Known]] = {
    STDLIB: _Known("socket:socket"),
    "gevent": _Known("gevent.socket:socket", "sockharness[impls]"),
    # A fresh hub per scenario, which lets a test's timeout through (see fresh_eventlet_hub).
    "eventlet": _Known(
        "eventlet.green.socket:socket",
        "sockharness[impls]",
        reset="sockharness._socket_impl:fresh_eventlet_hub",
    ),
}


def fresh_eventlet_hub() -> None:
    """Give this thread a new eventlet hub that lets pytest's outcome exceptions through.

    Measured with eventlet 0.41.3: (1) a timeout raised while the hub waits leaves that hub broken: the next
    blocking call raised a bogus EOFError at once, so each scenario gets a new hub. (2) The hub runs the
    callbacks of ready descriptors under a bare ``except:`` that lets only KeyboardInterrupt and SystemExit
    through. A ``recv`` that eventlet never returns spins through such callbacks, and pytest-timeout's
    exception, raised by its SIGALRM handler, landed inside one about one time in eight: the hub swallowed
    it ("Removing descriptor") and the scenario hung for good. The hub's own list of exceptions to let
    through gains pytest's ``Failed`` and ``Exit``: 200 interruptions in a row then all arrived."""
    import pytest
    from eventlet import hubs

    hubs.use_hub()
    hub = hubs.get_hub()
    hub.SYSTEM_EXCEPTIONS = (*hub.SYSTEM_EXCEPTIONS, pytest.fail.Exception, pytest.exit.Exception)


_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
#: What a scenario step calls on its sockets: an object without these is not a socket to the harness.
_SOCKET_METHODS: Final = ("fileno", "close", "connect", "recv", "send", "settimeout", "setsockopt")


class SocketImplError(ValueError):
    """A socket implementation that is misspelt, cannot be imported, or cannot make a socket."""


@dataclass(frozen=True)
class SocketImplSpec:
    """What ``--socket-impl`` named: the name shown in reports, the module and the factory inside it."""

    name: str
    module: str
    factory: str
    extra: str | None = None  # the pip extra that installs the module, for the error message
    reset: str | None = None  # module:function that replaces the thread's hub around each scenario

    @property
    def target(self) -> str:
        return f"{self.module}:{self.factory}"


def parse_socket_impl(text: str) -> SocketImplSpec:
    """``stdlib``, ``gevent``, ``eventlet`` or ``package.module:factory`` (pure: imports nothing)."""
    name = text.strip()
    known = KNOWN_IMPLEMENTATIONS.get(name)
    if known is not None:
        module, _, factory = known.target.partition(":")
        return SocketImplSpec(name, module, factory, known.extra, known.reset)
    module, sep, factory = name.partition(":")
    if sep and _DOTTED.fullmatch(module) and _DOTTED.fullmatch(factory):
        return SocketImplSpec(name, module, factory)
    names = ", ".join(KNOWN_IMPLEMENTATIONS)
    close = difflib.get_close_matches(name, list(KNOWN_IMPLEMENTATIONS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise SocketImplError(
        f"--socket-impl {text!r}: not a known implementation{hint}; use one of {names}, "
        "or package.module:factory for a callable that returns socket objects"
    )


@dataclass(frozen=True)
class SocketImplementation:
    """The chosen implementation: ``socket(family, type, proto)`` makes one of its sockets."""

    spec: SocketImplSpec
    factory: Callable[..., object]
    reset: Callable[[], object] | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def is_stdlib(self) -> bool:
        return self.spec.name == STDLIB

    def fresh_hub(self) -> None:
        """Give this thread a fresh hub (eventlet); a no-op for the others. Called before a scenario, so a
        test's timeout can interrupt it, and after, so a scenario a timeout interrupted inside the hub
        cannot hand the next scenario (or the next test in this thread) a broken one."""
        if self.reset is not None:
            self.reset()

    def socket(self, family: int, type: int, proto: int) -> socket.socket:
        """One socket from the implementation; anything that is not socket-like is refused by name."""
        made = self.factory(family, type, proto)
        missing = [method for method in _SOCKET_METHODS if not callable(getattr(made, method, None))]
        if missing:
            close = getattr(made, "close", None)
            if callable(close):
                close()
            raise SocketImplError(
                f"socket implementation {self.name!r} ({self.spec.target}) returned "
                f"{type_name(made)}, not a socket: it has no {', '.join(missing)}"
            )
        return made  # type: ignore[return-value]  # socket-like by the check above; the steps duck-type it


def type_name(value: object) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


def _attribute(spec: SocketImplSpec, module: object, dotted: str) -> Callable[..., object]:
    """``module.<dotted>``, which must exist and be callable (the error names the implementation)."""
    where = getattr(module, "__name__", str(module))
    found: object = module
    for part in dotted.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise SocketImplError(f"socket implementation {spec.name!r}: {where} has no {dotted!r}") from None
    if not callable(found):
        raise SocketImplError(
            f"socket implementation {spec.name!r}: {where}:{dotted} is a {type_name(found)}, not callable"
        )
    return found


def load_socket_impl(text: str) -> SocketImplementation:
    """Import the implementation and make (and close) one TCP socket with it, so every problem shows now."""
    spec = parse_socket_impl(text)
    try:
        module = importlib.import_module(spec.module)
    except ImportError as error:
        install = f"; install it with pip install '{spec.extra}'" if spec.extra else ""
        raise SocketImplError(
            f"socket implementation {spec.name!r}: cannot import {spec.module} ({error}){install}"
        ) from None
    factory = _attribute(spec, module, spec.factory)
    reset = None
    if spec.reset is not None:
        reset_module, _, reset_name = spec.reset.partition(":")
        reset = _attribute(spec, importlib.import_module(reset_module), reset_name)
    chosen = SocketImplementation(spec, factory, reset)
    try:
        probe = chosen.socket(socket.AF_INET, socket.SOCK_STREAM, 0)
    except SocketImplError:
        raise
    except Exception as error:
        raise SocketImplError(
            f"socket implementation {spec.name!r}: {spec.target}(AF_INET, SOCK_STREAM, 0) cannot make a "
            f"socket: {type(error).__name__}: {error}"
        ) from error
    probe.close()
    return chosen


@functools.cache
def socket_impl(text: str) -> SocketImplementation:
    """The implementation named ``text``, loaded once per process (every ``socket`` step asks for it)."""
    return load_socket_impl(text)
