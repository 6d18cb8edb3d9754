"""Peer-kind and script-step registries: every entry has a schema entry, a docs row and a built-in scenario.

Adding a kind or a step is one class; these tests are what make "one class" enough, by failing until the
class is complete (summary, traits that fit what it starts, a scenario that uses it).
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import pytest

from sockharness import peers
from sockharness.scenario._language.loader import load_file, load_text
from sockharness.scenario._language.model_peers import (
    PEER_KIND_CLASSES,
    PEER_KINDS,
    SCRIPT_BARE_WORDS,
    SCRIPT_STEPS,
    PeerBase,
    ScriptStepBase,
    peer_kinds_table,
    script_steps_table,
)
from sockharness.scenario._language.schema import build_schema as _build_schema
from sockharness.scenario._run.context import RunOptions, ScenarioContext
from sockharness.scenario._run.peers_factory import PeerRun, start_order

SCENARIO_ROOT = Path(__file__).resolve().parents[2] / "scenarios"


build_schema = functools.cache(_build_schema)


@functools.cache
def _builtin_usage() -> tuple[frozenset[str], frozenset[str]]:
    """(peer kinds, script steps) used by the built-in scenarios, read through the real loader."""
    kinds: set[str] = set()
    steps: set[str] = set()
    for path in sorted(SCENARIO_ROOT.rglob("*.yaml")):
        for scenario in load_file(path).scenarios:
            for peer in scenario.peers.values():
                kinds.add(peer.kind)
                steps.update(step.name for step in getattr(peer, "script", ()))
    return frozenset(kinds), frozenset(steps)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _kind_id(cls: type[PeerBase]) -> str:
    return cls.kind_name()


def _step_id(cls: type[ScriptStepBase]) -> str:
    return cls.key()


# -- peer kinds ---------------------------------------------------------------------------------------------
def test_kind_names_are_unique_and_listed() -> None:
    assert len(set(PEER_KINDS)) == len(PEER_KINDS) == len(PEER_KIND_CLASSES)


@pytest.mark.parametrize("cls", PEER_KIND_CLASSES, ids=_kind_id)
def test_every_kind_has_a_schema_entry(cls: type[PeerBase]) -> None:
    definition = build_schema()["definitions"][cls.__name__]
    assert definition["properties"]["kind"]["const"] == cls.kind_name()


@pytest.mark.parametrize("cls", PEER_KIND_CLASSES, ids=_kind_id)
def test_every_kind_has_a_docs_row_with_its_summary(cls: type[PeerBase]) -> None:
    assert cls.summary, f"{cls.__name__} has no summary"
    rows = [row for row in peer_kinds_table().splitlines() if row.startswith(f"| `{cls.kind_name()}` |")]
    assert len(rows) == 1 and rows[0].endswith(f"| {_cell(cls.summary)} |")


@pytest.mark.parametrize("cls", PEER_KIND_CLASSES, ids=_kind_id)
def test_every_kind_is_used_by_a_builtin_scenario(cls: type[PeerBase]) -> None:
    assert cls.kind_name() in _builtin_usage()[0]


@pytest.mark.parametrize("cls", PEER_KIND_CLASSES, ids=_kind_id)
def test_kind_traits_fit_its_fields(cls: type[PeerBase]) -> None:
    fields = cls.model_fields
    assert cls.scripted == ("script" in fields)
    for name in cls.address_fields:
        assert name in fields, f"{cls.__name__}.address_fields names {name!r}, which is not a field"
    if cls.bare_word:
        load_text(
            "scenarios:\n  - name: s\n    description: d\n"
            f"    peers: {{p: {cls.kind_name()}}}\n    steps: [{{sleep: 1ms}}]\n"
        )


def test_the_shorthand_is_refused_for_kinds_that_need_keys() -> None:
    from sockharness.scenario._language.errors import ScenarioError

    with pytest.raises(ScenarioError, match="reply"):
        load_text(
            "scenarios:\n  - name: s\n    description: d\n    peers: {p: reply}\n    steps: [{sleep: 1ms}]\n"
        )


_EVERY_KIND = Path(__file__).parents[1] / "data" / "reliability_scenarios" / "every_peer_kind.yaml"


def test_started_kinds_have_the_traits_they_declare() -> None:
    """Start every kind but external through the registry and compare each object with its traits."""
    scenario = load_file(_EVERY_KIND).scenarios[0]
    declared = {name: spec for name, spec in scenario.peers.items() if spec.kind != "external"}
    assert {spec.kind for spec in declared.values()} == set(PEER_KINDS) - {"external"}
    ctx = ScenarioContext(RunOptions(seed=1))
    run = PeerRun(ctx, lambda value: str(value).encode())
    try:
        for name in start_order(declared):
            spec = declared[name]
            started = spec.start(run, name)
            ctx.peers[name] = started
            host, port = started.address[:2]
            assert isinstance(host, str) and isinstance(port, int) and port > 0
            assert hasattr(started, "wait_done") >= type(spec).waits, name
            assert hasattr(started, "url") == type(spec).speaks_http, name
    finally:
        assert ctx.close() == []


def test_start_order_follows_each_kinds_address_fields() -> None:
    scenario = load_text(
        "scenarios:\n  - name: s\n    description: d\n    peers:\n"
        "      c: {kind: tcp_client, target: p, script: [close]}\n"
        "      p: {kind: proxy, upstream: e}\n"
        "      e: echo\n"
        "    steps: [{sleep: 1ms}]\n"
    ).scenarios[0]
    assert start_order(scenario.peers) == ["e", "p", "c"]


def test_a_peer_pointing_at_itself_is_reported_by_the_reference_checker() -> None:
    from sockharness.scenario._language.errors import ScenarioError

    with pytest.raises(ScenarioError, match=r"tcp_client 'c' cannot be its own target"):
        load_text(
            "scenarios:\n  - name: s\n    description: d\n    peers:\n"
            "      c: {kind: tcp_client, target: c, script: [close]}\n"
            "    steps: [{sleep: 1ms}]\n"
        )


# -- script steps -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", SCRIPT_STEPS, ids=_step_id)
def test_every_step_has_a_schema_entry(cls: type[ScriptStepBase]) -> None:
    definition = build_schema()["definitions"][cls.__name__]
    assert list(definition["properties"]) == [cls.key()]


@pytest.mark.parametrize("cls", SCRIPT_STEPS, ids=_step_id)
def test_every_step_has_a_docs_row(cls: type[ScriptStepBase]) -> None:
    assert cls.summary, f"{cls.__name__} has no summary"
    rows = [row for row in script_steps_table().splitlines() if row.startswith(f"| `{cls.key()}` |")]
    assert (
        len(rows) == 1
        and f"`{cls.builds.__name__}`" in rows[0]
        and rows[0].endswith(f"| {_cell(cls.summary)} |")
    )


@pytest.mark.parametrize("cls", SCRIPT_STEPS, ids=_step_id)
def test_every_step_is_used_by_a_builtin_scenario(cls: type[ScriptStepBase]) -> None:
    assert cls.key() in _builtin_usage()[1]


_SAMPLES = {
    "recv": 5,
    "recv_until": "\n",
    "expect": "ok",
    "send": "x",
    "sendall": "xy",
    "sleep": "10ms",
    "shutdown": "SHUT_WR",
    "stall": "1s",
    "set_rcvbuf": "4KiB",
    "set_sndbuf": 4096,
}


@pytest.mark.parametrize("cls", SCRIPT_STEPS, ids=_step_id)
def test_every_step_builds_the_dataclass_it_declares(cls: type[ScriptStepBase]) -> None:
    key = cls.key()
    written = key if key in SCRIPT_BARE_WORDS and key not in _SAMPLES else {key: _SAMPLES[key]}
    scenario = load_text(
        "scenarios:\n  - name: s\n    description: d\n    peers:\n      srv:\n        kind: tcp_server\n"
        f"        script: [{_flow(written)}]\n    steps: [{{sleep: 1ms}}]\n"
    ).scenarios[0]
    (step,) = scenario.peers["srv"].script  # type: ignore[attr-defined]
    built = step.build(lambda value: str(getattr(value, "text", value)).encode())
    assert isinstance(built, cls.builds)
    assert dataclasses.is_dataclass(built) and type(built).__module__ == peers._steps.__name__


def _flow(written: object) -> str:
    if isinstance(written, str):
        return written
    assert isinstance(written, dict)
    ((key, value),) = written.items()
    return f"{{{key}: {value!r}}}" if isinstance(value, str) else f"{{{key}: {value}}}"
