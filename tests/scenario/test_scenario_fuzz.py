"""Property-based fuzzing of the loader: 10,400 generated documents per run.

Whatever the input (random structures, wrong types, huge numbers, deep nesting, binary junk, mutated
real scenario files, plausible scenarios assembled from the grammar with wrong pieces), ``load_text`` /
``load_file`` either returns a model or raises ScenarioError whose every problem has a location inside
the file. Any other exception, or a hang, is a bug. Examples are split over several tests so each stays
short (and xdist can spread them); the deadline is off because per-example timing is noisy on a loaded
CI machine.
"""

from __future__ import annotations

import os
import random
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, find, given, seed, settings
from hypothesis import strategies as st

from sockharness.scenario._language.errors import ScenarioError
from sockharness.scenario._language.loader import load_file, load_text
from sockharness.scenario._language.model import ACTIONS, EXPECTATION_KEYS, PEER_KINDS, ScenarioFile

REPO = Path(__file__).resolve().parents[2]
#: Shipped files small enough that thousands of mutated copies stay quick to validate.
SHIPPED_TEXTS = [
    text
    for path in sorted((REPO / "scenarios").rglob("*.yaml"))
    if len(text := path.read_text(encoding="utf-8")) <= 6000
]
#: Small seed corpus so the mutation test has material even before scenarios/ is populated.
BASELINE = """\
scenarios:
  - name: base
    description: a valid scenario to mutate
    peers:
      srv: echo
      px: {kind: proxy, upstream: srv, toxics: [{type: latency, attributes: {latency: 5}}]}
    steps:
      - socket: {as: c}
      - connect: {socket: c, address: px}
      - sendall: {socket: c, data: {text: ab, repeat: 2}}
      - recv: {socket: c, bufsize: 4KiB}
        bytes: {prefix: ab}
        elapsed: {max: 2s}
      - close: c
"""
TEXTS = [BASELINE, *SHIPPED_TEXTS]


# Generation of big recursive structures can be slower than Hypothesis' default budget; that is the point
# of the test (deep nesting and huge documents), not a flaw in the strategy.
def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def check(text: str, name: str = "fuzz.yaml") -> None:
    """The property: a model, or a ScenarioError whose problems are all located in the file."""
    try:
        result = load_text(text, name)
    except ScenarioError as error:
        line_count = max(len(text.splitlines()), 1)
        for problem in error.problems:
            assert problem.file == name
            assert 1 <= problem.line <= line_count + 1, problem
            assert problem.column >= 1, problem
            assert problem.message and "Input should" not in problem.message, problem
            if (
                "§" not in text and "\\xA7" not in text
            ):  # union tags are internal and must never leak into a report
                assert "§" not in problem.message and "§" not in str(problem.path), problem
        assert str(error)
    else:
        assert isinstance(result, ScenarioFile)


#: Examples per test item: big runs are split into batches so no single item nears pytest-timeout on a
#: loaded machine, and xdist can spread them.
BATCH = 500


def in_batch(batch: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Settings plus a seed that differs per batch (pytest-randomly reseeds ``random`` identically for each
    parametrized item, which would otherwise make every batch generate the same examples)."""
    batch_seed = random.getrandbits(32) ^ (batch * 0x9E3779B9)

    def apply(function: Callable[..., None]) -> Callable[..., None]:
        return fuzz(BATCH)(seed(batch_seed)(function))

    return apply


def dump(data: Any) -> str:
    """YAML text for generated data (libyaml's emitter when present: generation is the slow part)."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(data, Dumper=dumper, allow_unicode=True, default_flow_style=None)


# --- random structures -----------------------------------------------------------------------------

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["", "$", "$x[0]", "ECONNREFUSED", "EFOO", "SO_REUSEADDR", "64KiB", "-1s", "1e999s"]),
)
_KEYS = st.one_of(
    st.sampled_from(["scenarios", "defaults", "name", "description", "steps", "phases", "peers", "kind"]),
    st.sampled_from([*ACTIONS, *EXPECTATION_KEYS]),
    st.text(max_size=10),
)


def _nest(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """One more level: a list or a mapping of ``children``.

    A named function, not a lambda: Hypothesis checks that ``extend`` uses its argument by reading its
    source, and a lambda inside a multi-line call is not always found, which made it warn that the
    strategy "can't actually recurse".
    """
    return st.one_of(st.lists(children, max_size=5), st.dictionaries(_KEYS, children, max_size=5))


_TREES = st.recursive(_SCALARS, _nest, max_leaves=40)


def _depth(tree: Any) -> int:
    if isinstance(tree, list):
        return 1 + max(map(_depth, tree), default=0)
    if isinstance(tree, dict):
        return 1 + max(map(_depth, tree.values()), default=0)
    return 0


def test_random_structures_strategy_recurses() -> None:
    """The tree strategy validates without a Hypothesis warning and really nests several levels."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        st.recursive(_SCALARS, _nest, max_leaves=40).validate()
    no_shrinking = settings(fuzz(500), phases=[Phase.generate])
    assert _depth(find(_TREES, lambda tree: _depth(tree) >= 4, settings=no_shrinking)) >= 4


@pytest.mark.parametrize("batch", range(4))
def test_random_structures(batch: int) -> None:
    @in_batch(batch)
    @given(_TREES)
    def property(tree: Any) -> None:
        check(dump(tree))
        check(dump({"scenarios": [tree]}))

    property()


# --- plausible scenarios with wrong pieces ---------------------------------------------------------

_PLAUSIBLE_VALUES = st.one_of(
    _SCALARS,
    st.sampled_from(
        [
            "c",
            "srv",
            "px",
            "127.0.0.1:0",
            "[::1]:0",
            ["127.0.0.1", 0],
            "SHUT_WR",
            "MSG_PEEK",
            "AF_INET6",
            "300ms",
            {"hex": "zz"},
            {"size": "1MiB", "random": True},
            {"text": "a", "repeat": 0},
            {"faker": "_private"},
            {"gt": 0},
            {"between": [1]},
            [{"in": []}],
        ]
    ),
)
_ARGUMENTS = st.dictionaries(
    st.sampled_from(
        [
            "socket",
            "as",
            "address",
            "data",
            "bufsize",
            "flags",
            "how",
            "value",
            "flag",
            "backlog",
            "level",
            "option",
            "times",
            "steps",
            "proxy",
            "type",
            "attributes",
            "name",
            "kind",
            "for",
            "timeout",
            "size",
            "delimiter",
            "eof",
            "peer",
            "port",
            "percent",
            "with",
            "direction",
        ]
    ),
    _PLAUSIBLE_VALUES,
    max_size=4,
)
_STEP = st.builds(
    lambda action, arguments, expectations: {action: arguments, **expectations},
    st.sampled_from([*ACTIONS, "recieve", "sleep"]),
    st.one_of(_ARGUMENTS, _PLAUSIBLE_VALUES),
    st.dictionaries(st.sampled_from(list(EXPECTATION_KEYS)), _PLAUSIBLE_VALUES, max_size=2),
)
_PEER = st.one_of(
    st.sampled_from([*PEER_KINDS, "echoo"]),
    st.builds(
        lambda kind, extra: {"kind": kind, **extra},
        st.sampled_from(list(PEER_KINDS)),
        st.dictionaries(
            st.sampled_from(["host", "reply", "script", "target", "upstream", "toxics", "backlog", "argv"]),
            _PLAUSIBLE_VALUES,
            max_size=3,
        ),
    ),
)
_SCENARIO = st.fixed_dictionaries(
    {
        "name": st.one_of(st.sampled_from(["a", "b", "a b"]), st.text(max_size=8)),
        "description": st.one_of(st.just("d"), _SCALARS),
    },
    optional={
        "peers": st.dictionaries(st.sampled_from(["srv", "px", "t", "bad name"]), _PEER, max_size=3),
        "steps": st.lists(_STEP, max_size=4),
        "phases": st.lists(
            st.fixed_dictionaries(
                {"name": st.text(max_size=5)}, optional={"steps": st.lists(_STEP, max_size=3)}
            ),
            max_size=2,
        ),
        "marks": st.lists(st.one_of(st.just("netns"), _PLAUSIBLE_VALUES), max_size=2),
        "timeout": _PLAUSIBLE_VALUES,
    },
)


@pytest.mark.parametrize("batch", range(5))
def test_plausible_scenarios_from_the_grammar(batch: int) -> None:
    @in_batch(batch)
    @given(st.lists(_SCENARIO, min_size=0, max_size=2))
    def property(scenarios: list[dict[str, Any]]) -> None:
        check(dump({"scenarios": scenarios}))

    property()


# --- mutated real files ----------------------------------------------------------------------------

_MUTATION = st.tuples(
    st.sampled_from(["delete", "insert", "replace", "duplicate_line", "drop_line", "indent"]),
    st.floats(min_value=0, max_value=1),
    st.integers(min_value=0, max_value=40),
    st.text(alphabet=st.sampled_from(list(" \t\n:-{}[],'\"&*!|>#%@`?$0123456789abcxyzKiBms")), max_size=8),
)


def mutate(text: str, mutations: list[tuple[str, float, int, str]]) -> str:
    for kind, where, length, junk in mutations:
        if not text:
            return junk
        position = int(where * (len(text) - 1))
        lines = text.split("\n")
        line = int(where * (len(lines) - 1))
        if kind == "delete":
            text = text[:position] + text[position + length :]
        elif kind == "insert":
            text = text[:position] + junk + text[position:]
        elif kind == "replace":
            text = text[:position] + junk + text[position + len(junk) :]
        elif kind == "duplicate_line":
            text = "\n".join([*lines[: line + 1], lines[line], *lines[line + 1 :]])
        elif kind == "drop_line":
            text = "\n".join(lines[:line] + lines[line + 1 :])
        else:
            text = "\n".join([*lines[:line], " " * (length % 5) + lines[line], *lines[line + 1 :]])
    return text


@pytest.mark.parametrize("batch", range(4))
def test_mutated_scenario_files(batch: int) -> None:
    @in_batch(batch)
    @given(st.sampled_from(TEXTS), st.lists(_MUTATION, min_size=1, max_size=4))
    def property(text: str, mutations: list[tuple[str, float, int, str]]) -> None:
        check(mutate(text, mutations))

    property()


# --- junk, huge numbers, deep nesting --------------------------------------------------------------


@pytest.mark.parametrize("batch", range(2))
def test_arbitrary_text(batch: int) -> None:
    @in_batch(batch)
    @given(st.text(max_size=200))
    def property(text: str) -> None:
        check(text)

    property()


@fuzz(300)
@given(st.binary(max_size=300))
def test_binary_junk_files(data: bytes) -> None:
    descriptor, name = tempfile.mkstemp(suffix=".yaml")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        try:
            load_file(name)
        except ScenarioError as error:
            assert all(problem.file == name and problem.message for problem in error.problems)
    finally:
        os.unlink(name)


@fuzz(300)
@given(
    st.integers(min_value=1, max_value=400),
    st.sampled_from(["[", "{a: ", "- "]),
    st.sampled_from(
        [2**64, -(2**64), 10**400, "1e400", ".inf", "-.nan", "1e400GiB", "99999999999999999999s"]
    ),
)
def test_deep_nesting_and_huge_numbers(depth: int, opener: str, number: Any) -> None:
    closer = {"[": "]", "{a: ": "}", "- ": ""}[opener]
    if opener == "- ":
        body = "\n".join("  " * level + "- " for level in range(depth)) + f"{number}"
    else:
        body = opener * depth + str(number) + closer * depth
    check(
        f"scenarios:\n  - name: n\n    description: d\n    steps:\n      - sleep: {number}\n"
        f"      - recv: {{socket: c, bufsize: {number}}}\n"
    )
    check(f"scenarios: {body}\n" if opener != "- " else f"scenarios:\n{body}\n")
