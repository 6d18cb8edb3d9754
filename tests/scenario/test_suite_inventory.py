"""Inventory of the built-in conformance suite (scenarios/ minus scenarios/netns/).

The suite is data, so these checks keep it honest as it grows: enough scenarios, every one documented
(description + method, which feed the conformance table), every socket method of the tutorial covered,
unique names, and nothing that could send traffic off the loopback interface.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

SCENARIO_ROOT = Path(__file__).resolve().parents[2] / "scenarios"
#: Directories owned by other areas that this inventory does not count.
FOREIGN_DIRS = frozenset({"netns", "faults"})
#: The socket methods the tutorial lists; each must have scenarios.
REQUIRED_METHODS = (
    "socket",
    "bind",
    "listen",
    "setblocking",
    "accept",
    "connect",
    "connect_ex",
    "close",
    "recv",
    "recvfrom",
    "send",
    "sendall",
    "sendto",
    "settimeout",
    "getpeername",
    "getsockname",
    "fileno",
)
#: The ssl calls the TLS suite (scenarios/ssl/) checks; ssl_recv, ssl_send, ssl_sendall are SSLSocket's.
SSL_METHODS = (
    "wrap_socket",
    "do_handshake",
    "ssl_recv",
    "ssl_send",
    "ssl_sendall",
    "pending",
    "getpeercert",
    "version",
    "cipher",
    "selected_alpn_protocol",
    "unwrap",
)
#: The asyncio calls the asyncio suite (scenarios/asyncio/) checks, as its method column names them.
ASYNCIO_METHODS = (
    "loop.sock_connect",
    "loop.sock_recv",
    "loop.sock_sendall",
    "loop.sock_accept",
    "asyncio.open_connection",
    "StreamReader.readexactly",
    "StreamReader.readuntil",
    "StreamReader.readline",
    "StreamWriter.drain",
    "StreamWriter.write",
    "StreamWriter.wait_closed",
    "loop.create_datagram_endpoint",
    "asyncio.wait_for",
)
GROUP_DIRS = frozenset(REQUIRED_METHODS) | {"examples", "tutorial", "ssl", "asyncio"}
MINIMUM_SCENARIOS = 120
#: TEST-NET-3: documentation addresses that no host owns; only bind() may name them (bind sends nothing).
BIND_ONLY_NETWORK = ipaddress.ip_network("203.0.113.0/24")
_IPV4_RE = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b")


@dataclass(frozen=True)
class Entry:
    """One scenario as written in its file (raw YAML, independent of the loader)."""

    path: Path
    index: int
    data: dict[str, Any]

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(SCENARIO_ROOT.parent)} scenarios[{self.index}]"


def suite_files() -> list[Path]:
    return sorted(
        path
        for path in SCENARIO_ROOT.rglob("*.yaml")
        if path.relative_to(SCENARIO_ROOT).parts[0] not in FOREIGN_DIRS
    )


def suite_entries() -> list[Entry]:
    entries = []
    for path in suite_files():
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for index, scenario in enumerate(document["scenarios"]):
            entries.append(Entry(path, index, scenario))
    return entries


ENTRIES = suite_entries()


def walk_strings(value: Any, trail: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    """Yield every string in a YAML value with the mapping keys leading to it."""
    if isinstance(value, str):
        yield trail, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from walk_strings(item, (*trail, str(key)))
    elif isinstance(value, list):
        for item in value:
            yield from walk_strings(item, trail)


def test_suite_has_enough_scenarios() -> None:
    assert len(ENTRIES) >= MINIMUM_SCENARIOS, f"only {len(ENTRIES)} scenarios, want >= {MINIMUM_SCENARIOS}"


def test_every_required_method_is_covered() -> None:
    counts = Counter(entry.data.get("method") for entry in ENTRIES)
    missing = [method for method in REQUIRED_METHODS if counts[method] == 0]
    assert not missing, f"methods without scenarios: {missing}"


def test_scenario_names_are_unique_across_the_suite() -> None:
    names = Counter(entry.data["name"] for entry in ENTRIES)
    duplicates = sorted(name for name, count in names.items() if count > 1)
    assert not duplicates, f"duplicate scenario names: {duplicates}"


def test_files_live_in_method_directories() -> None:
    misplaced = [
        str(path.relative_to(SCENARIO_ROOT))
        for path in suite_files()
        if len(path.relative_to(SCENARIO_ROOT).parts) != 2
        or path.relative_to(SCENARIO_ROOT).parts[0] not in GROUP_DIRS
    ]
    assert not misplaced, f"files outside scenarios/<method>/: {misplaced}"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: str(entry.data.get("name")))
def test_scenario_is_documented(entry: Entry) -> None:
    description = entry.data.get("description")
    assert isinstance(description, str) and description.strip(), f"{entry.where}: no description"
    assert "\n" not in description.strip(), f"{entry.where}: description must be one line"
    method = entry.data.get("method")
    known = REQUIRED_METHODS + SSL_METHODS + ASYNCIO_METHODS
    assert method in known, f"{entry.where}: method {method!r} is not one of {known}"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: str(entry.data.get("name")))
def test_platform_marks_give_a_reason(entry: Entry) -> None:
    for mark in entry.data.get("marks") or []:
        if isinstance(mark, dict) and "skipif" in mark:
            assert mark["skipif"].get("reason"), f"{entry.where}: skipif without a reason"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: str(entry.data.get("name")))
def test_only_loopback_addresses(entry: Entry) -> None:
    """Real sockets on loopback only; a TEST-NET-3 address may appear in bind() alone."""
    for trail, text in walk_strings(entry.data):
        if trail and trail[0] in {"description", "observe", "label", "name"}:
            continue
        for literal in _IPV4_RE.findall(text):
            address = ipaddress.ip_address(literal)
            if address in BIND_ONLY_NETWORK:
                assert "bind" in trail, f"{entry.where}: {literal} outside bind"
                continue
            assert address.is_loopback or address.is_unspecified, f"{entry.where}: non-loopback {literal}"


SUITE_PAGE = SCENARIO_ROOT.parent / "docs" / "reference" / "builtin-suite.md"
_TABLE_ROW_RE = re.compile(r"^\| `(?P<method>[\w.]+)` \| (?P<count>\d+) \|", re.MULTILINE)
_TOTALS_RE = re.compile(
    r"holds (?P<total>\d+) YAML scenarios: (?P<loopback>\d+) on the loopback"
    r".*?; (?P<proxy>\d+) that drive the embedded\s+fault proxy"
    r".*?and (?P<netns>\d+) packet-fault",
    re.DOTALL,
)


def test_suite_page_counts_match_the_suite() -> None:
    """The user-facing table and totals must not drift from the files they describe."""
    text = SUITE_PAGE.read_text(encoding="utf-8")
    documented = {match["method"]: int(match["count"]) for match in _TABLE_ROW_RE.finditer(text)}
    actual = Counter(str(entry.data.get("method")) for entry in ENTRIES)
    assert documented == dict(actual), f"suite table {documented} != suite {dict(actual)}"
    totals = _TOTALS_RE.search(text)
    assert totals is not None, f"{SUITE_PAGE.name} no longer states the totals"
    netns = sum(
        len(yaml.safe_load(path.read_text(encoding="utf-8"))["scenarios"])
        for path in SCENARIO_ROOT.glob("netns/*.yaml")
    )
    proxy_steps = sum(
        len(yaml.safe_load(path.read_text(encoding="utf-8"))["scenarios"])
        for path in SCENARIO_ROOT.glob("faults/*.yaml")
    )
    assert (int(totals["loopback"]), int(totals["netns"])) == (len(ENTRIES), netns)
    assert int(totals["proxy"]) == proxy_steps
    assert int(totals["total"]) == len(ENTRIES) + proxy_steps + netns


@pytest.mark.parametrize("path", suite_files(), ids=lambda path: str(path.relative_to(SCENARIO_ROOT)))
def test_suite_file_validates(path: Path) -> None:
    """Every file passes the real loader (types, units, errno names, constants, references)."""
    from sockharness.scenario._language.loader import load_file

    scenario_file = load_file(path)
    assert len(scenario_file.scenarios) >= 1


def saved_names(value: Any) -> Iterator[str]:
    """Every ``save:`` target anywhere in a scenario (steps, repeat bodies)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "save" and isinstance(item, str):
                yield item
            else:
                yield from saved_names(item)
    elif isinstance(value, list):
        for item in value:
            yield from saved_names(item)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: str(entry.data.get("name")))
def test_observe_uses_only_saved_values(entry: Entry) -> None:
    """A placeholder nobody saves would render as an error in the conformance table."""
    observe = entry.data.get("observe") or ""
    wanted = set(re.findall(r"\{(\w+)\}", observe))
    missing = wanted - set(saved_names(entry.data.get("steps")))
    assert not missing, f"{entry.where}: observe uses {sorted(missing)} but no step saves them"
