"""The state one scenario run carries: its sockets, peers, proxies, saved variables and options.

Every socket a step creates and every peer/proxy/process the scenario starts is recorded here (and in
the run's :class:`~sockharness.peers._registry.Registry`) so :meth:`ScenarioContext.close` can release
all of it, in reverse order of creation, whether the scenario passed, failed or timed out.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sockharness.faults._injected import InjectedFaults
from sockharness.peers._addresses import format_address
from sockharness.peers._registry import Registry

if TYPE_CHECKING:
    from sockharness.netns import PacketFaults
from sockharness.scenario._actions.base import ScenarioSetupError
from sockharness.scenario._run.failure import proxy_connections_text

__all__ = ["RunOptions", "ScenarioContext", "ScenarioSetupError"]


@dataclass(frozen=True)
class RunOptions:
    """How the scenarios of one run are executed (from pytest options or the Python API)."""

    seed: int | None = None
    backend: str = "embedded"  # default fault backend for proxy peers: "embedded" | "toxiproxy"
    toxiproxy_url: str | None = None  # needed when a proxy uses the toxiproxy backend
    netns: bool = False  # the process runs inside the private network namespace (packet faults allowed)
    #: makes the event loop that awaits the ``call`` steps' coroutines ("module:callable"; None: asyncio's)
    loop_factory: str | None = None
    cwd: str | None = None  # working directory for external targets (None: this process's, like subprocess)
    socket_impl: str = "stdlib"  # where `socket` steps get their sockets (sockharness._socket_impl)


@dataclass
class ScenarioContext:
    """Mutable state of one run; owned by exactly one thread (the one executing the steps)."""

    options: RunOptions
    registry: Registry = field(default_factory=Registry)
    sockets: dict[str, socket.socket] = field(default_factory=dict)
    peers: dict[str, Any] = field(default_factory=dict)  # name -> Peer / ExternalTarget / FaultProxy
    proxies: dict[str, Any] = field(default_factory=dict)  # name -> FaultProxy (also in peers)
    variables: dict[str, object] = field(default_factory=dict)
    backends: dict[str, Any] = field(default_factory=dict)  # backend name -> FaultBackend
    packet_faults: PacketFaults | None = None  # created on first use in netns mode
    scenario_seed: int | None = None  # derived from (run seed, file, scenario): seeds the embedded engine
    final_transcripts: str = ""  # every peer's transcript as it was when close() had stopped them
    injected: InjectedFaults = field(default_factory=InjectedFaults)  # faults that cut connections
    #: helpers an action makes on first use and closes through on_close (the ``call`` steps' event loop)
    services: dict[str, Any] = field(default_factory=dict)
    _proxy_notes: dict[str, str] = field(default_factory=dict)
    _closed: bool = False
    _cleanups: list[tuple[str, Callable[[], None]]] = field(default_factory=list)

    def on_close(self, what: str, action: Callable[[], None]) -> None:
        """Run ``action`` at close time (last registered runs first)."""
        self._cleanups.append((what, action))

    def add_socket(self, name: str, sock: socket.socket) -> socket.socket:
        previous = self.sockets.get(name)
        if previous is not None and previous.fileno() != -1:
            # Rebinding a name must not leak the earlier socket: it stays tracked and is closed at the end.
            self.on_close(f"socket {name!r} (replaced)", previous.close)
        self.registry.track_socket(sock, f"scenario socket {name!r}")
        self.sockets[name] = sock
        return sock

    def socket(self, name: str) -> socket.socket:
        try:
            return self.sockets[name]
        except KeyError:
            known = ", ".join(sorted(self.sockets)) or "none yet"
            raise ScenarioSetupError(
                f"no socket named {name!r} (sockets so far: {known}); create it with `socket: {{as: {name}}}`"
            ) from None

    def peer(self, name: str) -> Any:
        try:
            return self.peers[name]
        except KeyError:
            known = ", ".join(sorted(self.peers)) or "none"
            raise ScenarioSetupError(f"no peer named {name!r} (peers: {known})") from None

    def proxy(self, name: str) -> Any:
        try:
            return self.proxies[name]
        except KeyError:
            known = ", ".join(sorted(self.proxies)) or "none"
            raise ScenarioSetupError(f"no proxy peer named {name!r} (proxy peers: {known})") from None

    def before_fault(self, proxy: Any, toxic: str | None) -> None:
        """Say that ``toxic`` (a toxic type; None: the proxy goes down) is about to be injected on ``proxy``:
        if it cuts connections, the scripted peers at the proxy's ends (its upstream server, the tcp_client
        peers aimed at it, through chained proxies) tolerate disconnects from now on. Every place that
        injects a fault (a proxy peer's toxics, add_toxic, update_toxic, proxy_down, a phase) calls this."""
        self.injected.inject(proxy, toxic, peers=self.peers.values(), proxies=self.proxies.values())

    def transcripts(self) -> str:
        """Every peer's transcript, rendered, for failure messages."""
        parts: list[str] = []
        for name, peer in self.peers.items():
            transcripts = getattr(peer, "transcripts", None) or []
            rendered = [str(t) for t in transcripts if str(t).strip()]
            tail = getattr(peer, "output_tail", None)
            if name in self.proxies:
                parts.append(self._proxy_notes.get(name) or _describe_proxy(name, peer))
            elif rendered:
                for index, text in enumerate(rendered, 1):
                    label = f"connection {index}" if len(rendered) > 1 else "transcript"
                    parts.append(f"--- peer {name} ({label}) ---\n{text}")
            elif tail is not None:
                parts.append(tail())
            else:
                parts.append(f"--- peer {name}: no traffic ---")
        return "\n".join(parts)

    def note_proxies(self) -> None:
        """Record every proxy's state now (toxics, enabled) for the transcripts shown later."""
        self._proxy_notes = {name: _describe_proxy(name, proxy) for name, proxy in self.proxies.items()}

    def close(self) -> list[str]:
        """Close sockets, stop peers, delete proxies; returns problems that could not be fixed."""
        if self._closed:
            return []
        self._closed = True
        problems: list[str] = []
        # Proxies are deleted below; remember their state so the final transcripts can still show it
        # (a state noted when a step failed is kept: that is the state the failing step saw).
        for name, proxy in self.proxies.items():
            self._proxy_notes.setdefault(name, _describe_proxy(name, proxy))
        for sock in reversed(list(self.sockets.values())):
            with contextlib.suppress(OSError):
                sock.close()
        while self._cleanups:
            what, action = self._cleanups.pop()
            try:
                action()
            except Exception as exc:  # teardown must go on; report what failed
                problems.append(f"{what}: {type(exc).__name__}: {exc}")
        problems.extend(self.registry.close_all())
        # Rendered after every peer thread has stopped, so no event is still in flight.
        self.final_transcripts = self.transcripts()
        self.sockets.clear()
        self.peers.clear()
        self.proxies.clear()
        return problems


def _describe_proxy(name: str, proxy: Any) -> str:
    """A proxy has no transcript of its own: show where it listens, its upstream, state and toxics."""
    try:
        toxics = ", ".join(
            f"{t.name}={t.type}/{t.stream} {t.attributes} toxicity={t.toxicity:g}"
            + ("" if t.target.is_everything else f" target {t.target.describe()}")
            for t in proxy.toxics()
        )
        state = "enabled" if proxy.enabled else "disabled"
        listen, upstream = format_address(proxy.address), format_address(proxy.upstream)
        described = f"--- proxy {name}: {listen} -> {upstream}, {state}, toxics: {toxics or 'none'} ---"
        log = proxy_connections_text(name, proxy)
        return f"{described}\n{log}" if log else described
    except Exception as exc:  # a proxy that is already gone still must not hide the real failure
        return f"--- proxy {name}: state unavailable ({type(exc).__name__}: {exc}) ---"
