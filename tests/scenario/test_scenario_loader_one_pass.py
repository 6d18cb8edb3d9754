"""One load reports every problem of a file, at every level, once each, in document order.

A strict model stops at its first unknown key, so a misspelt ``descripton:`` or ``timout:`` used to hide
every error in that scenario's peers and steps (one file took three rounds: 2, then 9, then 4 problems).
"""

from __future__ import annotations

import textwrap

import pytest

from sockharness.scenario._language.errors import ScenarioError, format_path
from sockharness.scenario._language.loader import load_source

Seen = tuple[int, int, str, str]


def _problems(text: str) -> list[Seen]:
    with pytest.raises(ScenarioError) as caught:
        load_source(textwrap.dedent(text), "t.yaml")
    problems = caught.value.problems
    assert len(set(problems)) == len(problems), "a problem is reported twice"
    assert [(p.line, p.column) for p in problems] == sorted((p.line, p.column) for p in problems)
    return [(p.line, p.column, format_path(p.path), p.message) for p in problems]


EVERY_LEVEL = """\
    defaults:
      timout: 5s
      marks: [netnz]
    scenarios:
      - name: first
        descripton: misspelt description
        peers:
          srv: {kind: echo, hots: 127.0.0.1}
          bad: {kind: nope}
        steps:
          - socket: {as: c}
          - recv: {socket: c, bufsize: -5}
          - connect: {socket: c, address: srv}
            retuns: 0
      - name: second
        description: fine at the top
        phases:
          - name: p1
            stepz: []
            steps:
              - close: nobody
    """


def test_mistakes_at_every_level_are_reported_in_one_load() -> None:
    # Unknown-key sentences are the loader's own and compared whole; the words of step and peer errors
    # belong to their models, so only a telling part of them is.
    expected = [
        (2, 3, "defaults.timout", "unknown key 'timout' (did you mean 'timeout'?)"),
        (3, 11, "defaults.marks[0]", "unknown mark 'netnz' (did you mean 'netns'?)"),
        (6, 5, "scenarios[0].descripton", "unknown key 'descripton' (did you mean 'description'?)"),
        (8, 25, "scenarios[0].peers.srv.hots", "unknown key 'hots' (did you mean 'host'?)"),
        (9, 19, "scenarios[0].peers.bad.kind", "unknown peer kind 'nope'"),
        (12, 36, "scenarios[0].steps[1].recv.bufsize", "-5"),
        (14, 9, "scenarios[0].steps[2].retuns", "unknown key 'retuns' (did you mean 'returns'?)"),
        (19, 9, "scenarios[1].phases[0].stepz", "unknown key 'stepz' (did you mean 'steps'?)"),
        (21, 20, "scenarios[1].phases[0].steps[0].close", "unknown socket 'nobody'"),
    ]
    problems = _problems(EVERY_LEVEL)
    assert [problem[:3] for problem in problems] == [where[:3] for where in expected]
    for (*_, message), (*_, words) in zip(problems, expected, strict=True):
        assert words in message
    assert not any(message.startswith("missing required key") for *_, message in problems)


def test_a_misspelt_key_does_not_hide_the_reference_checks_of_its_scenario() -> None:
    # Only the misspelt keys are wrong in the models, so the names the steps use are checked too.
    problems = _problems(
        """\
        scenarios:
          - name: only-typos
            descripton: the description key is misspelt
            timout: 2s
            peers:
              srv: echo
            steps:
              - socket: {as: c}
              - connect: {socket: c, address: srvv}
              - close: d
        """
    )
    assert [(line, path) for line, _, path, _ in problems] == [
        (3, "scenarios[0].descripton"),
        (4, "scenarios[0].timout"),
        (9, "scenarios[0].steps[1].connect.address"),
        (10, "scenarios[0].steps[2].close"),
    ]
    assert "unknown peer or socket 'srvv'" in problems[2][3] and "did you mean 'srv'" in problems[2][3]
    assert "unknown socket 'd'" in problems[3][3]


def test_a_missing_key_is_reported_unless_a_misspelt_key_stands_for_it() -> None:
    problems = _problems(
        """\
        scenarios:
          - name: a
            descripton: stands for description
            steps: [{socket: {as: c}}]
          - name: b
            colour: red
            steps: [{socket: {as: c}}]
        """
    )
    assert [(line, path, message) for line, _, path, message in problems] == [
        (3, "scenarios[0].descripton", "unknown key 'descripton' (did you mean 'description'?)"),
        (5, "scenarios[1]", "missing required key 'description'"),
        (
            6,
            "scenarios[1].colour",
            "unknown key 'colour' (expected one of: name, description, method, observe, timeout, marks, "
            "peers, steps, phases)",
        ),
    ]


def test_unknown_keys_nested_in_several_levels_of_one_branch() -> None:
    # Each level is only validated once the level above passes: every one is still found in one load.
    problems = _problems(
        """\
        scenarios:
          - name: nested
            description: unknown keys at the scenario, phase, step and argument levels
            owner: me
            peers:
              srv: echo
              px: {kind: proxy, upstream: srv}
            phases:
              - name: one
                lenght: 3
                toxics:
                  - {type: latency, proxy: px, attributes: {latency: 10, jiter: 1}}
                steps:
                  - socket: {as: c}
                  - settimeout: {socket: c, value: 5s, extra: 1}
                  - recv: {socket: c, bufsize: 4}
                    bytez: "x"
        """
    )
    assert [(line, path) for line, _, path, _ in problems] == [
        (4, "scenarios[0].owner"),
        (10, "scenarios[0].phases[0].lenght"),
        (12, "scenarios[0].phases[0].toxics[0].attributes.jiter"),
        (15, "scenarios[0].phases[0].steps[1].settimeout.extra"),
        (17, "scenarios[0].phases[0].steps[2].bytez"),
    ]


def test_a_valid_file_is_validated_once() -> None:
    from unittest import mock

    from sockharness.scenario._language import loader

    text = "scenarios:\n  - name: a\n    description: d\n    steps: [{socket: {as: c}}]\n"
    with mock.patch.object(
        loader.ScenarioFile, "model_validate", wraps=loader.ScenarioFile.model_validate
    ) as validate:
        loaded = load_source(text, "t.yaml")
    assert validate.call_count == 1
    assert loaded.model.scenarios[0].name == "a"
