"""Cross-reference checks that need a whole scenario: names used before they exist.

Pure: walks a validated :class:`ScenarioFile` in run order and reports, with the key path of the
offending value, every socket used before ``socket``/``accept`` created it, every peer, proxy, packet
fault or ``$variable`` that was never declared, duplicate scenario/phase names, and ``observe``
placeholders that no step saves. The loader maps the paths to file:line:column.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from sockharness.faults._engine.toxic_types import TOXICS, InvalidAttribute
from sockharness.faults._engine.toxics import default_toxic_name
from sockharness.scenario._actions import Container, ToxicChange, Use
from sockharness.scenario._language.errors import KeyPath, did_you_mean
from sockharness.scenario._language.model_peers import PeerBase, ProxyPeer
from sockharness.scenario._language.model_toxics import ToxicBase
from sockharness.scenario._language.model_types import AddressSpec, parse_variable
from sockharness.scenario._language.model_udp import toxic_protocol_problem, toxic_target_problem
from sockharness.scenario._language.model_values import BytesMatch, MatcherOps

if TYPE_CHECKING:
    from sockharness.scenario._language.model import Scenario, ScenarioFile
    from sockharness.scenario._language.model_steps import StepBase

__all__ = [
    "BUILTIN_VARIABLES",
    "Reference",
    "check_references",
    "check_scenario_references",
    "observe_ratio",
]

#: Variables the runner provides without a ``save:`` (``$offered``: bytes the step offered to send).
BUILTIN_VARIABLES: Final = frozenset({"offered"})

_RATIO_RE: Final = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)/([A-Za-z_][A-Za-z0-9_]*)$")


def observe_ratio(field_name: str) -> tuple[str, str] | None:
    """``"lossy/clean"`` -> ``("lossy", "clean")``: the one derived value ``observe`` offers, so a scenario
    can say how many times slower a step got without an expression language. None for any other field."""
    found = _RATIO_RE.match(field_name)
    return (found[1], found[2]) if found else None


@dataclass(frozen=True)
class Reference:
    """One unresolved or conflicting name at ``path``."""

    path: KeyPath
    message: str
    at_key: bool = False


@dataclass
class _Scope:
    """Names known at the current point of a scenario's run."""

    peers: dict[str, PeerBase]
    sockets: set[str] = field(default_factory=set)
    variables: set[str] = field(default_factory=lambda: set(BUILTIN_VARIABLES))
    faults: set[str] = field(default_factory=set)
    #: (proxy, toxic name) -> the toxic as the scenario adds it, so a later update is checked against it
    toxics: dict[tuple[str, str], ToxicBase] = field(default_factory=dict)

    def add_toxic(self, proxy: str, toxic: ToxicBase) -> None:
        self.toxics[(proxy, toxic.name or default_toxic_name(toxic.type, toxic.stream))] = toxic

    @property
    def proxies(self) -> set[str]:
        return {name for name, peer in self.peers.items() if isinstance(peer, ProxyPeer)}


def _unknown(kind: str, name: str, known: Iterable[str]) -> str:
    known = sorted(known)
    hint = did_you_mean(name, known)
    listing = (
        f"; declared: {', '.join(known)}" if known and not hint else ("" if known else "; none declared")
    )
    return f"unknown {kind} {name!r}{hint}{listing}"


def _matcher_variables(value: object, path: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    """Every ``$variable`` inside a matcher, with the key path where it is written."""
    if isinstance(value, str) and value.startswith("$"):
        yield path, value
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _matcher_variables(item, (*path, index))
    elif isinstance(value, MatcherOps):
        for key, operand in value.operators():
            yield from _matcher_variables(operand, (*path, key))


def _check_variable(expression: str, scope: _Scope, path: KeyPath) -> Iterator[Reference]:
    name, _ = parse_variable(expression)
    if name not in scope.variables:
        known = ", ".join(f"${known}" for known in sorted(scope.variables))
        hint = did_you_mean(name, scope.variables)
        yield Reference(
            path, f"unknown variable {expression}{hint}: no earlier step saves {name!r} (known: {known})"
        )


def _check_address(
    address: AddressSpec, scope: _Scope, path: KeyPath, *, sockets: bool
) -> Iterator[Reference]:
    if address.variable is not None:
        yield from _check_variable(address.variable, scope, path)
    elif address.ref is not None:
        known = set(scope.peers) | (scope.sockets if sockets else set())
        if address.ref not in known:
            kind = "peer or socket" if sockets else "peer"
            yield Reference(path, _unknown(kind, address.ref, known))


def _check_toxic_protocol(toxic: ToxicBase, scope: _Scope, path: KeyPath) -> Iterator[Reference]:
    """A toxic aimed at a proxy peer of the other protocol (udp_* on TCP, a TCP toxic on UDP), or with a
    connection target on a UDP proxy."""
    peer = scope.peers.get(toxic.proxy or "")
    if isinstance(peer, ProxyPeer):
        problem = toxic_protocol_problem(peer.protocol, toxic.type)
        if problem is not None:
            yield Reference((*path, "type"), problem)
        problem = toxic_target_problem(peer.protocol, toxic.type, toxic.targeted)
        if problem is not None:
            yield Reference((*path, "target"), problem)


def _check_toxic_change(change: ToxicChange, scope: _Scope, path: KeyPath) -> Iterator[Reference]:
    """An update's attributes, in the registry's words, when the scenario added that toxic itself (one
    added by user code, or a name that does not exist, is left to the run)."""
    added = scope.toxics.get((change.proxy, change.name))
    if added is None:
        return
    peer = scope.peers.get(change.proxy)
    if isinstance(peer, ProxyPeer):
        problem = toxic_target_problem(peer.protocol, added.type, change.targeted)
        if problem is not None:
            yield Reference((*path, "target"), problem)
    toxic = TOXICS[added.type]
    for key, value in change.attributes.items():
        try:
            toxic.attribute(key).parse(value, toxic.name)
        except InvalidAttribute as error:
            unknown = key not in toxic.attribute_names
            yield Reference((*path, "attributes", key), error.message, at_key=unknown)
            return
    try:
        toxic.validate(change.attributes, base=added.attribute_values())
    except InvalidAttribute as error:
        yield Reference((*path, "attributes"), error.message)


def _check_proxy(name: str, scope: _Scope, path: KeyPath) -> Iterator[Reference]:
    if name in scope.proxies:
        return
    peer = scope.peers.get(name)
    if peer is not None:
        yield Reference(path, f"{name!r} is not a proxy peer (its kind is {peer.kind})")
    else:
        yield Reference(path, _unknown("proxy", name, scope.proxies))


def _check_use(use: Use, scope: _Scope, here: KeyPath) -> Iterator[Reference]:
    path = (*here, *use.subpath)
    target = use.target
    if isinstance(target, AddressSpec):
        yield from _check_address(target, scope, path, sockets=True)
    elif use.kind == "socket" and target not in scope.sockets:
        yield Reference(
            path,
            _unknown("socket", target, scope.sockets)
            + " (create it with socket: {as: ...} or accept: {as: ...} first)",
        )
    elif use.kind == "proxy":
        yield from _check_proxy(target, scope, path)
    elif use.kind == "peer" and target not in scope.peers:
        yield Reference(path, _unknown("peer", target, scope.peers))
    elif use.kind == "variable":
        yield from _check_variable(target, scope, path)
    elif use.kind == "fault" and target not in scope.faults:
        yield Reference(
            path, _unknown("packet fault", target, scope.faults) + " (name it with packet_fault: {as: ...})"
        )


def _check_step(step: StepBase, scope: _Scope, path: KeyPath) -> Iterator[Reference]:
    """Names used are checked before the names the step introduces are added (run order)."""
    entry = step.entry
    args = step.args
    here = (*path, step.action)
    introduced = list(entry.introduces(args))
    for use in entry.uses(args):
        yield from _check_use(use, scope, here)
    if isinstance(args, ToxicBase):
        yield from _check_toxic_protocol(args, scope, here)
        if args.proxy is not None:
            scope.add_toxic(args.proxy, args)
    change = entry.changes_toxic(args)
    if change is not None:
        yield from _check_toxic_change(change, scope, here)
    scope.faults.update(name.name for name in introduced if name.kind == "fault")
    if isinstance(entry, Container):
        for subpath, steps in entry.bodies(args):
            yield from _check_steps(steps, scope, (*here, *subpath))
    for where, expression in _matcher_variables(step.returns, (*path, "returns")):
        yield from _check_variable(expression, scope, where)
    if isinstance(step.bytes, BytesMatch):
        for where, expression in _matcher_variables(step.bytes.length, (*path, "bytes", "length")):
            yield from _check_variable(expression, scope, where)
    scope.sockets.update(name.name for name in introduced if name.kind == "socket")
    if step.save is not None:
        scope.variables.add(step.save)
    if step.save_elapsed is not None:
        scope.variables.add(step.save_elapsed)


def _check_steps(steps: Sequence[StepBase], scope: _Scope, path: KeyPath) -> Iterator[Reference]:
    for index, step in enumerate(steps):
        yield from _check_step(step, scope, (*path, index))


def _check_peers(scenario: Scenario, scope: _Scope, path: KeyPath) -> Iterator[Reference]:
    """Every address a peer points at (its kind's ``address_fields``) and each kind's own problems."""
    for name, peer in scenario.peers.items():
        here = (*path, "peers", name)
        for field_name, address in peer.references():
            if address.ref == name:
                yield Reference((*here, field_name), f"{peer.kind} {name!r} cannot be its own {field_name}")
            else:
                yield from _check_address(address, scope, (*here, field_name), sockets=False)
        for subpath, message, at_key in peer.kind_problems():
            yield Reference((*here, *subpath), message, at_key=at_key)


def _check_scenario(scenario: Scenario, path: KeyPath) -> Iterator[Reference]:
    scope = _Scope(peers=dict(scenario.peers))
    for name, peer in scenario.peers.items():
        if isinstance(peer, ProxyPeer):
            for toxic in peer.toxics:
                scope.add_toxic(name, toxic)
    yield from _check_peers(scenario, scope, path)
    if scenario.steps is not None:
        yield from _check_steps(scenario.steps, scope, (*path, "steps"))
    seen_phases: set[str] = set()
    for index, phase in enumerate(scenario.phases or ()):
        here = (*path, "phases", index)
        if phase.name in seen_phases:
            yield Reference((*here, "name"), f"duplicate phase name {phase.name!r}")
        seen_phases.add(phase.name)
        for toxic_index, toxic in enumerate(phase.toxics):
            if toxic.proxy is not None:
                yield from _check_proxy(toxic.proxy, scope, (*here, "toxics", toxic_index, "proxy"))
                yield from _check_toxic_protocol(toxic, scope, (*here, "toxics", toxic_index))
                scope.add_toxic(toxic.proxy, toxic)
        for down_index, name in enumerate(phase.down):
            yield from _check_proxy(name, scope, (*here, "down", down_index))
        yield from _check_steps(phase.steps, scope, (*here, "steps"))
    if scenario.observe is not None:
        yield from _check_observe(scenario.observe, scope, (*path, "observe"))


def _check_observe(template: str, scope: _Scope, path: KeyPath) -> Iterator[Reference]:
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as error:
        yield Reference(path, f"observe is not a valid {{variable}} template: {error}")
        return
    for name in fields:
        if "/" in name and observe_ratio(name) is None:
            yield Reference(
                path, f"observe field {{{name}}}: a ratio is written {{a/b}} with two saved variable names"
            )
            continue
        ratio = observe_ratio(name)
        for base in ratio or (name.split(".", 1)[0].split("[", 1)[0],):
            if base not in scope.variables:
                saved = sorted(scope.variables - BUILTIN_VARIABLES)
                hint = did_you_mean(base, saved)
                listing = ", ".join(saved) if saved else "nothing"
                yield Reference(
                    path, f"observe uses {{{base}}}, which no step saves{hint} (saved: {listing})"
                )


def check_scenario_references(scenario: Scenario, index: int) -> list[Reference]:
    """The unresolved names of one scenario (``index`` is its position in the file's list)."""
    return list(_check_scenario(scenario, ("scenarios", index)))


def check_references(model: ScenarioFile) -> list[Reference]:
    """Every unresolved name in the file, in document order."""
    problems: list[Reference] = []
    seen: dict[str, int] = {}
    for index, scenario in enumerate(model.scenarios):
        path: KeyPath = ("scenarios", index)
        if scenario.name in seen:
            problems.append(
                Reference(
                    (*path, "name"),
                    f"duplicate scenario name {scenario.name!r} (also scenarios[{seen[scenario.name]}])",
                )
            )
        seen.setdefault(scenario.name, index)
        problems.extend(_check_scenario(scenario, path))
    return problems
