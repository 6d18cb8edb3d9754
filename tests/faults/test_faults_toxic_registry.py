"""The toxic registry (issue 11): every surface derives from ``TOXICS`` and validates with the same words.

Python API, HTTP API and YAML give the same sentence for an unknown type or attribute and a negative value;
the HTTP API keeps Toxiproxy's exact bodies only where its clients match them ("invalid toxic type", Go's
decoder texts for a value of the wrong JSON kind), which the differential tests pin against a real server.
"""

from __future__ import annotations

import dataclasses
import json
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydantic
import pytest

from sockharness.faults._api.api_json import check_attributes
from sockharness.faults._backends.embedded import EmbeddedBackend
from sockharness.faults._backends.toxiproxy_backend import ToxiproxyBackend
from sockharness.faults._engine.toxic_types import (
    TOXICS,
    InvalidAttribute,
    UnknownToxicType,
    UnsupportedToxic,
    render_toxic_table,
)
from sockharness.faults._engine.toxics import TOXIC_TYPES, ToxicSpec
from sockharness.faults._errors import BadRequest, FaultError, InvalidToxic
from sockharness.scenario._language import model_toxics
from sockharness.scenario._language.errors import ScenarioError
from sockharness.scenario._language.loader import load_text
from sockharness.scenario._run.report import PASSED
from sockharness.scenario._run.runner import run_scenario

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
TYPO = (
    "unknown attribute 'latancy' for a latency toxic; did you mean 'latency'? "
    "known attributes: latency, jitter, distribution, correlation"
)
UNKNOWN_TYPE = (
    "unknown toxic type 'latencyy'; did you mean 'latency'? known types: "
    "latency, bandwidth, slow_close, timeout, reset_peer, slicer, limit_data, cut, corrupt, noop, "
    "udp_latency, udp_loss, udp_burst_loss, udp_duplicate, udp_reorder, udp_corrupt, udp_truncate, udp_rate, "
    "udp_blackhole"
)
NEGATIVE = "attribute latency of a latency toxic must be >= 0, got -1"


@pytest.fixture
def embedded() -> Iterator[EmbeddedBackend]:
    with EmbeddedBackend(seed=7) as backend:
        yield backend


# --- one registry, everything derived ------------------------------------------------------------------


def test_every_surface_lists_the_registry() -> None:
    assert list(TOXIC_TYPES) == list(TOXICS) == list(model_toxics.TOXIC_TYPES)
    assert {name: toxic.defaults() for name, toxic in TOXICS.items()} == TOXIC_TYPES
    schema = json.loads((ROOT / "sockharness/scenario/_language/schema.json").read_text(encoding="utf-8"))
    for name, model in model_toxics.TOXIC_MODELS.items():
        entry = schema["definitions"][model.__name__]
        assert entry["properties"]["type"]["const"] == name
        attributes = schema["definitions"][model.__name__.replace("Toxic", "Attributes")]
        assert list(attributes["properties"]) == list(TOXICS[name].attribute_names)


def test_docs_table_has_one_row_per_toxic() -> None:
    table = render_toxic_table()
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert [re.match(r"\| `(\w+)`", row)[1] for row in rows] == list(TOXICS)  # type: ignore[index]
    latency = rows[0]
    assert "`latency` (ms, required in YAML)" in latency and "`jitter` (ms, default 0)" in latency
    assert "`delay` (µs, default 0)" in rows[list(TOXICS).index("slicer")]


def test_the_toxics_that_cut_connections_are_marked_in_the_registry_and_the_table() -> None:
    cutting = [name for name, toxic in TOXICS.items() if toxic.disconnects]
    # slow_close only delays a close already made
    assert cutting == ["timeout", "reset_peer", "limit_data", "cut"]
    table = render_toxic_table()
    assert "| cuts connections |" in table.splitlines()[0]
    for row in (line for line in table.splitlines() if line.startswith("| `")):
        name = re.match(r"\| `(\w+)`", row)[1]  # type: ignore[index]
        assert ("| yes: scripted peers behind the proxy tolerate it |" in row) == (name in cutting), row


def _scenario_texts() -> str:
    files = [*ROOT.glob("scenarios/**/*.yaml"), *ROOT.glob("tests/**/*.yaml")]
    return "\n".join(path.read_text(encoding="utf-8") for path in files)


#: Toxics no scenario file uses yet; the list may only shrink (a new toxic comes with its scenario).
WITHOUT_SCENARIO: set[str] = set()


def test_every_toxic_has_a_scenario_or_is_a_known_gap() -> None:
    texts = _scenario_texts()
    used = {name for name in TOXICS if re.search(rf"type: {name}\b", texts)}
    assert set(TOXICS) - used == WITHOUT_SCENARIO


def test_stage_factories_cover_every_toxic() -> None:
    import random

    from sockharness.faults._engine.chain import Stage, make_stage

    for name in TOXICS:
        spec = ToxicSpec.build(name)
        assert isinstance(make_stage(spec, random.Random(1), 0.0), Stage)


# --- the Python API validates at once -----------------------------------------------------------------


def test_a_typo_in_add_toxic_raises_and_adds_nothing(embedded: EmbeddedBackend) -> None:
    proxy = embedded.create_proxy(("127.0.0.1", 9))
    with pytest.raises(InvalidAttribute) as typo:
        proxy.add_toxic("latency", latancy=300)
    assert str(typo.value) == TYPO
    assert isinstance(typo.value, BadRequest) and isinstance(typo.value, ValueError)
    with pytest.raises(UnknownToxicType) as unknown:
        proxy.add_toxic("latencyy")
    assert str(unknown.value) == UNKNOWN_TYPE and isinstance(unknown.value, InvalidToxic)
    assert proxy.toxics() == []


def test_a_typo_in_update_toxic_raises_and_changes_nothing(embedded: EmbeddedBackend) -> None:
    proxy = embedded.create_proxy(("127.0.0.1", 9))
    name = proxy.add_toxic("latency", latency=300)
    with pytest.raises(InvalidAttribute, match=re.escape(TYPO)):
        proxy.update_toxic(name, latancy=1)
    with pytest.raises(InvalidAttribute, match=re.escape(NEGATIVE)):
        proxy.update_toxic(name, latency=-1, toxicity=0.5)
    assert proxy.toxics()[0].attributes == {"latency": 300, "jitter": 0}
    assert proxy.toxics()[0].toxicity == 1.0


@pytest.mark.parametrize(
    ("toxic", "attributes", "message"),
    [
        ("latency", {"latency": -1}, NEGATIVE),
        (
            "latency",
            {"latency": "fast"},
            "attribute latency of a latency toxic must be a whole number of milliseconds or a duration "
            "like '100ms', got 'fast'",
        ),
        (
            "latency",
            {"latency": 1.5},
            "attribute latency of a latency toxic must be a whole number of milliseconds or a duration "
            "like '100ms', got 1.5",
        ),
        (
            "latency",
            {"jitter": True},
            "attribute jitter of a latency toxic must be a whole number of milliseconds or a duration "
            "like '100ms', got true",
        ),
        (
            "latency",
            {"latency": "1.5ms"},
            "attribute latency of a latency toxic counts whole milliseconds, got '1.5ms' (1.5 ms)",
        ),
        (
            "latency",
            {"latency": "1.0000001ms"},  # exact arithmetic: refused, never rounded
            "attribute latency of a latency toxic counts whole milliseconds, "
            "got '1.0000001ms' (1.0000001 ms)",
        ),
        (
            "bandwidth",
            {"rate": "1MB"},
            "attribute rate of a bandwidth toxic must be a whole number of KB/s (1000 bytes per second), "
            "got '1MB'",
        ),
        ("limit_data", {"bytes": "-1KiB"}, "attribute bytes of a limit_data toxic must be >= 0, got -1KiB"),
        (
            "noop",
            {"latency": 1},
            "unknown attribute 'latency' for a noop toxic; known attributes: none",
        ),
        (
            "slicer",
            {"average": 1},
            "unknown attribute 'average' for a slicer toxic; did you mean 'average_size'? "
            "known attributes: average_size, size_variation, delay",
        ),
    ],
)
def test_python_errors_name_the_attribute(toxic: str, attributes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidAttribute) as error:
        ToxicSpec.build(toxic, **attributes)
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("toxic", "given", "expected"),
    [
        ("latency", {"latency": "100ms", "jitter": "1s"}, {"latency": 100, "jitter": 1000}),
        ("latency", {"latency": 100, "jitter": 5.0}, {"latency": 100, "jitter": 5}),
        ("timeout", {"timeout": "2.5s"}, {"timeout": 2500}),
        ("reset_peer", {"timeout": "1min"}, {"timeout": 60000}),
        ("slow_close", {"delay": "1e3us"}, {"delay": 1}),
        (
            "slicer",
            {"average_size": "1KiB", "delay": "1ms"},
            {"average_size": 1024, "size_variation": 0, "delay": 1000},
        ),
        (
            "slicer",
            {"average_size": 10, "delay": "250us"},
            {"average_size": 10, "size_variation": 0, "delay": 250},
        ),
        (
            "slicer",
            {"average_size": 10, "delay": 250},
            {"average_size": 10, "size_variation": 0, "delay": 250},
        ),
        ("limit_data", {"bytes": "64KiB"}, {"bytes": 65536}),
        ("limit_data", {"bytes": "1.5KB"}, {"bytes": 1500}),
    ],
)
def test_units_convert_to_toxiproxys(toxic: str, given: dict[str, Any], expected: dict[str, int]) -> None:
    assert ToxicSpec.build(toxic, **given).attributes == expected
    yaml_toxic = pydantic.TypeAdapter(model_toxics.Toxic).validate_python(
        {"type": toxic, "attributes": given}
    )
    assert yaml_toxic.attribute_values() == expected


def test_units_reach_the_engine(embedded: EmbeddedBackend) -> None:
    proxy = embedded.create_proxy(("127.0.0.1", 9))
    name = proxy.add_toxic("latency", latency="1s")
    proxy.update_toxic(name, jitter="20ms")
    assert proxy.toxics()[0].attributes == {"latency": 1000, "jitter": 20}


def test_the_constructor_validates_too() -> None:
    with pytest.raises(InvalidAttribute, match=re.escape(TYPO)):
        ToxicSpec("t", "latency", attributes={"latancy": 3})
    with pytest.raises(UnknownToxicType, match=re.escape(UNKNOWN_TYPE)):
        ToxicSpec("t", "latencyy")
    with pytest.raises(BadRequest, match="toxicity must be a number between 0 and 1, got 'x'"):
        ToxicSpec.build("latency", toxicity="x")  # type: ignore[arg-type]


# --- the same words from the three surfaces ---------------------------------------------------------


def _yaml_error(attributes: str) -> str:
    text = textwrap.dedent(
        f"""\
        scenarios:
          - name: one
            description: a toxic in a proxy peer
            peers:
              srv: echo
              px: {{kind: proxy, upstream: srv, toxics: [{{type: latency, attributes: {attributes}}}]}}
            steps:
              - sleep: 0
        """
    )
    with pytest.raises(ScenarioError) as error:
        load_text(text, "toxic.yaml")
    assert len(error.value.problems) == 1
    return str(error.value)


@pytest.mark.parametrize(
    ("attributes", "yaml", "message"),
    [({"latancy": 300}, "{latancy: 300}", TYPO), ({"latency": -1}, "{latency: -1}", NEGATIVE)],
)
def test_yaml_http_and_python_use_the_same_words(attributes: dict[str, Any], yaml: str, message: str) -> None:
    with pytest.raises(InvalidAttribute) as python:
        ToxicSpec.build("latency", **attributes)
    assert str(python.value) == message
    with pytest.raises(BadRequest) as http:
        check_attributes("latency", attributes)
        ToxicSpec.from_json({"type": "latency", "attributes": attributes})
    assert http.value.message == f"bad request body: {message}"
    shown = _yaml_error(yaml)
    assert message in shown and "toxic.yaml:6" in shown


def test_yaml_durations_accept_units_and_bare_integers_stay_milliseconds() -> None:
    text = textwrap.dedent(
        """\
        scenarios:
          - name: one
            description: a toxic in a proxy peer
            peers:
              srv: echo
              px:
                kind: proxy
                upstream: srv
                toxics:
                  - {type: latency, attributes: {latency: 100ms, jitter: 5}}
                  - {type: slicer, attributes: {average_size: 1KiB, delay: 1ms}}
                  - {type: slicer, name: raw, attributes: {average_size: 8, delay: 20}}
                  - {type: slow_close, attributes: {delay: 1s}}
                  - {type: limit_data, attributes: {bytes: 64KiB}}
            steps:
              - sleep: 0
        """
    )
    proxy = load_text(text).scenarios[0].peers["px"]
    values = [toxic.attribute_values() for toxic in proxy.toxics]  # type: ignore[union-attr]
    assert values == [
        {"latency": 100, "jitter": 5},
        {"average_size": 1024, "size_variation": 0, "delay": 1000},
        {"average_size": 8, "size_variation": 0, "delay": 20},
        {"delay": 1000},
        {"bytes": 65536},
    ]


def test_a_yaml_latency_with_a_unit_delays_the_data() -> None:
    """End to end: ``latency: 0.2s`` reaches the engine as 200 ms (not 0, not 0.2)."""
    text = textwrap.dedent(
        """\
        scenarios:
          - name: slow
            description: a latency written with a unit
            peers:
              srv: echo
              px:
                kind: proxy
                upstream: srv
                backend: embedded
                toxics: [{type: latency, attributes: {latency: 0.2s}}]
            steps:
              - socket: {as: c}
              - settimeout: {socket: c, value: 5s}
              - connect: {socket: c, address: px}
              - sendall: {socket: c, data: "x"}
              - recv: {socket: c, bufsize: 1}
                bytes: "x"
                elapsed: {min: 195ms}
        """
    )
    result = run_scenario(load_text(text, "slow.yaml").scenarios[0], file="slow.yaml")
    assert result.status == PASSED


# --- backends ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("client_backend", ["embedded", "toxiproxy"], indirect=True)
def test_toxiproxy_backend_validates_before_sending(client_backend: ToxiproxyBackend) -> None:
    proxy = client_backend.create_proxy(("127.0.0.1", 9))
    with pytest.raises(InvalidAttribute, match=re.escape(TYPO)):
        proxy.add_toxic("latency", latancy=300)
    with pytest.raises(UnknownToxicType, match=re.escape(UNKNOWN_TYPE)):
        proxy.add_toxic("latencyy")
    assert proxy.toxics() == []
    name = proxy.add_toxic("latency", latency="50ms")
    with pytest.raises(InvalidAttribute, match=re.escape(TYPO)):
        proxy.update_toxic(name, latancy=1)
    proxy.update_toxic(name, jitter="2ms")
    assert [toxic.attributes for toxic in proxy.toxics()] == [{"latency": 50, "jitter": 2}]


@pytest.mark.parametrize("client_backend", ["embedded", "toxiproxy"], indirect=True)
def test_an_embedded_only_toxic_is_refused_by_the_toxiproxy_backend(
    client_backend: ToxiproxyBackend, embedded: EmbeddedBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    cut = dataclasses.replace(TOXICS["noop"], name="cut", embedded_only=True)
    monkeypatch.setitem(TOXICS, "cut", cut)
    proxy = client_backend.create_proxy(("127.0.0.1", 9))
    with pytest.raises(UnsupportedToxic) as refused:
        proxy.add_toxic("cut")
    assert str(refused.value) == (
        "the cut toxic is embedded-only: a real Toxiproxy server has no such toxic; "
        "use the embedded backend (--sockharness-backend embedded)"
    )
    assert proxy.toxics() == []
    assert embedded.create_proxy(("127.0.0.1", 9)).add_toxic("cut") == "cut_downstream"


def test_a_toxic_for_another_protocol_is_refused(
    embedded: EmbeddedBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    datagram = dataclasses.replace(TOXICS["noop"], name="loss", protocols=frozenset({"udp"}))
    monkeypatch.setitem(TOXICS, "loss", datagram)
    proxy = embedded.create_proxy(("127.0.0.1", 9))
    with pytest.raises(
        UnsupportedToxic, match=r"^the loss toxic applies to UDP proxies only, not to a TCP proxy$"
    ):
        proxy.add_toxic("loss")
    assert proxy.toxics() == []


def test_fault_errors_stay_fault_errors() -> None:
    """Code catching FaultError (the scenario runner, the HTTP API) still sees these errors."""
    assert issubclass(InvalidAttribute, FaultError) and issubclass(UnknownToxicType, FaultError)
    assert InvalidAttribute("x").status == UnknownToxicType("x").status == 400


# --- what a new user meets, through the fixtures ------------------------------------------------------

USER_TEST = """
import pytest


def test_typo_raises(fault_proxy, echo_server):
    proxy = fault_proxy(echo_server)
    with pytest.raises(ValueError) as typo:
        proxy.add_toxic("latency", latancy=300)
    assert "latancy" in str(typo.value) and "did you mean 'latency'" in str(typo.value)
    name = proxy.add_toxic("latency", latency=300)
    with pytest.raises(ValueError) as update:
        proxy.update_toxic(name, latancy=1)
    assert "latancy" in str(update.value) and "'latency'" in str(update.value)
    with pytest.raises(ValueError, match="unknown toxic type 'latencyy'; did you mean 'latency'"):
        proxy.add_toxic("latencyy")
"""


def test_fixture_users_get_the_error_at_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TEST)
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=1)
