"""The public Python API for YAML scenarios: load them, run them, or start just their peers.

``scenario_peers`` is the piece for testing *your own* client code: describe a misbehaving server in YAML
(resets after the request, answers slowly, stalls) and point your function at it::

    with scenario_peers("tests/peers.yaml", "resetting-server") as peers:
        assert fetch(peers["srv"].address, retries=2) == b"pong"
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sockharness._seeds import fresh_seed
from sockharness.peers import PeerBase, PeerError
from sockharness.scenario._language.loader import DEFAULT_MAX_BYTES, LoadedFile, load_path
from sockharness.scenario._language.model import Scenario
from sockharness.scenario._run.context import RunOptions, ScenarioContext
from sockharness.scenario._run.peers_factory import start_peers
from sockharness.scenario._run.report import ScenarioResult
from sockharness.scenario._run.resolve import Resolver
from sockharness.scenario._run.runner import run_scenario as _run_model

__all__ = [
    "LoadedFile",
    "ScenarioPeers",
    "load_path",
    "load_scenarios",
    "run_scenario",
    "scenario_peers",
    "start_scenario_peers",
]


def load_scenarios(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> list[Scenario]:
    """Every scenario of one YAML file (validated; raises ScenarioError with file:line on mistakes)."""
    return load_path(path, max_bytes=max_bytes).scenarios


def _source(path: str | Path | LoadedFile) -> LoadedFile:
    """A file already loaded is used as it is; a path is loaded once here."""
    return path if isinstance(path, LoadedFile) else load_path(path)


def _options(
    options: RunOptions | None, seed: int | None, backend: str | None, toxiproxy_url: str | None
) -> RunOptions:
    chosen = options or RunOptions()
    changes: dict[str, Any] = {}
    if seed is not None:
        changes["seed"] = seed
    if backend is not None:
        changes["backend"] = backend
    if toxiproxy_url is not None:
        changes["toxiproxy_url"] = toxiproxy_url
    if chosen.seed is None and "seed" not in changes:
        changes["seed"] = fresh_seed()
    return dataclasses.replace(chosen, **changes) if changes else chosen


def run_scenario(
    path: str | Path | LoadedFile,
    name: str,
    *,
    seed: int | None = None,
    backend: str | None = None,
    toxiproxy_url: str | None = None,
    options: RunOptions | None = None,
) -> ScenarioResult:
    """Run scenario ``name`` of the file ``path`` (or of a :class:`LoadedFile`, to load a file once and
    run several of its scenarios); raises ScenarioFailure (an AssertionError) on mismatch."""
    loaded = _source(path)
    index, scenario = loaded.scenario(name)
    return _run_model(
        scenario,
        _options(options, seed, backend, toxiproxy_url),
        file=loaded.path,
        index=index,
        locate=loaded.locate,
        source=loaded.lines,
    )


class ScenarioPeers:
    """The started peers of one scenario, by name; ``close()`` stops them all (idempotent)."""

    def __init__(self, scenario: Scenario, ctx: ScenarioContext) -> None:
        self.scenario = scenario
        self._ctx = ctx
        self._closed = False

    def __getitem__(self, name: str) -> Any:
        return self._ctx.peer(name)

    def __contains__(self, name: object) -> bool:
        return name in self._ctx.peers

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._ctx.peers))

    def address(self, name: str) -> tuple[Any, ...]:
        """Where to connect to the peer ``name`` (for a proxy peer: the proxy's listen address)."""
        return tuple(self._ctx.peer(name).address)

    def proxy(self, name: str) -> Any:
        """The FaultProxy of a ``kind: proxy`` peer, to add/remove toxics from Python."""
        return self._ctx.proxy(name)

    def transcripts(self) -> str:
        return self._ctx.transcripts()

    def check(self) -> None:
        """Raise the first failure of any peer thread (a PeerError with transcripts)."""
        for peer in list(self._ctx.peers.values()):
            check = getattr(peer, "check", None)
            if check is not None:
                check()

    def close(self, *, check: bool = True) -> None:
        """Stop every peer and delete the proxies, then (with ``check``) raise what went wrong as the peer
        fixtures do at teardown: a peer failure the test did not already see through :meth:`check` (its
        PeerError alone, or every problem in one AssertionError), and teardown problems."""
        __tracebackhide__ = True
        if self._closed:
            return
        self._closed = True
        started = [peer for peer in self._ctx.peers.values() if isinstance(peer, PeerBase)]
        problems = [f"scenario {self.scenario.name!r}: teardown problem: {p}" for p in self._ctx.close()]
        if not check:
            return
        first_error: PeerError | None = None
        for peer in started:
            try:
                peer.check_unreported()
            except PeerError as error:
                first_error = first_error or error
                problems.insert(0, str(error))
        if first_error is not None and len(problems) == 1:
            raise first_error
        if problems:
            raise AssertionError("\n\n".join(problems))

    def __enter__(self) -> ScenarioPeers:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        # A failure inside the block is the one to see: the peers' own is raised only when it ended well.
        self.close(check=exc_type is None)


def start_scenario_peers(
    path: str | Path | LoadedFile, name: str, *, seed: int | None = None, options: RunOptions | None = None
) -> ScenarioPeers:
    """Start the peers of scenario ``name`` in ``path`` (its steps are not run). Close the result."""
    loaded = _source(path)
    _, scenario = loaded.scenario(name)
    chosen = _options(options, seed, None, None)
    ctx = ScenarioContext(chosen)
    resolver = Resolver(chosen.seed if chosen.seed is not None else 0, loaded.path, scenario.name)
    ctx.scenario_seed = resolver.source.seed
    try:
        start_peers(ctx, scenario.peers, resolver.payload)
    except BaseException:
        ctx.close()
        raise
    return ScenarioPeers(scenario, ctx)


@contextlib.contextmanager
def scenario_peers(
    path: str | Path | LoadedFile, name: str, *, seed: int | None = None
) -> Iterator[ScenarioPeers]:
    """Context manager form of :func:`start_scenario_peers`: the peers stop when the block ends."""
    with start_scenario_peers(path, name, seed=seed) as handle:
        yield handle
