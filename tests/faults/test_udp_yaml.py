"""UDP proxies and DNS peers in YAML: the refusals at file:line, in the registries' own words."""

from __future__ import annotations

import textwrap

import pytest

from sockharness.scenario._language.errors import ScenarioError, format_path
from sockharness.scenario._language.loader import load_source

PROBLEMS = """\
    scenarios:
      - name: bad
        description: every UDP/DNS mistake at once
        peers:
          echo: udp_echo
          tcp_px: {kind: proxy, upstream: echo, toxics: [{type: udp_loss, toxicity: 0.5}]}
          udp_px:
            kind: proxy
            protocol: udp
            upstream: echo
            toxics: [{type: latency, attributes: {latency: 5}}]
          remote: {kind: proxy, protocol: udp, backend: toxiproxy, upstream: echo}
        steps:
          - socket: {as: c, type: SOCK_DGRAM}
    """

#: Model errors (a bad value) come before the checks of a whole declaration, so they get their own file.
BAD_VALUES = """    scenarios:
      - name: bad
        description: every bad value at once
        peers:
          echo: udp_echo
          ns: {kind: dns, table: {db.internal: 127.0.0.300}}
          ns2: {kind: dns, table: {"db..internal": 127.0.0.1}}
          lossy: {kind: proxy, protocol: udp, upstream: echo, toxics: [{type: udp_loss, toxicity: 1.5}]}
        steps:
          - socket: {as: c, type: SOCK_DGRAM}
    """


def _problems(text: str) -> list[tuple[int, str, str]]:
    with pytest.raises(ScenarioError) as caught:
        load_source(textwrap.dedent(text), "t.yaml")
    return [(p.line, format_path(p.path), p.message) for p in caught.value.problems]


def _lines_and_words(text: str) -> list[tuple[int, str]]:
    return [(line, message) for line, _, message in _problems(text)]


def _has(problems: list[tuple[int, str]], line: int, words: str) -> bool:
    return any(seen == line and words in message for seen, message in problems)


def test_a_toxic_of_the_other_protocol_and_udp_on_toxiproxy_are_reported_at_their_lines() -> None:
    problems = _lines_and_words(PROBLEMS)
    assert len(problems) == 3, problems
    assert _has(problems, 6, "the udp_loss toxic applies to UDP proxies only, not to a TCP proxy")
    assert _has(problems, 11, "the latency toxic applies to TCP proxies only, not to a UDP proxy")
    assert _has(problems, 12, "a real Toxiproxy server proxies TCP only, so it cannot make a UDP proxy")


def test_bad_dns_entries_and_a_loss_probability_over_1_are_reported_at_their_lines() -> None:
    problems = _lines_and_words(BAD_VALUES)
    assert len(problems) == 3, problems
    assert _has(problems, 6, "DNS table entry 'db.internal': '127.0.0.300' is not an IPv4 or IPv6 address")
    assert _has(problems, 7, "'db..internal' is not a DNS name")
    assert _has(problems, 8, "toxicity must be a number between 0 and 1, got 1.5")


def test_an_unknown_protocol_lists_the_two() -> None:
    text = """\
        scenarios:
          - name: bad
            description: x
            peers:
              echo: udp_echo
              px: {kind: proxy, protocol: sctp, upstream: echo}
            steps:
              - socket: {as: c, type: SOCK_DGRAM}
        """
    [(line, path, message)] = _problems(text)
    assert line == 6 and path.endswith("protocol") and "expected one of tcp, udp, got 'sctp'" in message


def test_steps_and_phases_aimed_at_a_proxy_of_the_other_protocol_are_reported_at_their_lines() -> None:
    text = """\
        scenarios:
          - name: bad
            description: x
            peers:
              echo: udp_echo
              px: {kind: proxy, protocol: udp, upstream: echo}
            phases:
              - name: slow
                toxics: [{proxy: px, type: latency, attributes: {latency: 5}}]
                steps:
                  - socket: {as: c, type: SOCK_DGRAM}
                  - add_toxic: {proxy: px, type: udp_loss, toxicity: 0.5}
                  - add_toxic: {proxy: px, type: slicer, attributes: {average_size: 1}}
        """
    problems = _lines_and_words(text)
    assert len(problems) == 2, problems
    assert _has(problems, 9, "the latency toxic applies to TCP proxies only, not to a UDP proxy")
    assert _has(problems, 13, "the slicer toxic applies to TCP proxies only, not to a UDP proxy")


def test_a_connection_target_on_a_udp_proxy_is_refused_at_its_line_wherever_it_is_written() -> None:
    """On a peer's toxic, a phase's, an add_toxic step and an update: never applied to every datagram."""
    text = """\
        scenarios:
          - name: bad
            description: x
            peers:
              echo: udp_echo
              px:
                kind: proxy
                protocol: udp
                upstream: echo
                toxics: [{type: udp_loss, name: lossy, toxicity: 0.5, target: {first: 1}}]
            phases:
              - name: dup
                toxics: [{proxy: px, type: udp_duplicate, attributes: {copies: 1}, target: {nth: 2}}]
                steps:
                  - socket: {as: c, type: SOCK_DGRAM}
                  - add_toxic: {proxy: px, type: udp_corrupt, attributes: {bits: 1}, target: {every: 2}}
                  - update_toxic: {proxy: px, name: lossy, target: {starting_at: 3}}
                  - update_toxic: {proxy: px, name: lossy, target: {}}
        """
    problems = _lines_and_words(text)
    words = "a target applies to toxics on TCP proxies only; on a UDP proxy the {} toxic is aimed with"
    assert len(problems) == 4, problems
    assert _has(problems, 10, words.format("udp_loss"))
    assert _has(problems, 13, words.format("udp_duplicate"))
    assert _has(problems, 16, words.format("udp_corrupt"))
    assert _has(problems, 17, words.format("udp_loss"))
