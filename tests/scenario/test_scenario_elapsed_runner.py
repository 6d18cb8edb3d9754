"""The runner stores each ``save_elapsed`` time as a float of seconds, and ``observe`` formats it."""

from __future__ import annotations

import textwrap
import time

import pytest

from sockharness.scenario._language.loader import load_text
from sockharness.scenario._run.failure import ScenarioFailure
from sockharness.scenario._run.report import PASSED, ScenarioResult
from sockharness.scenario._run.runner import run_scenario


def _run(steps: str, observe: str, *, peers: str = "srv: echo") -> ScenarioResult:
    text = textwrap.dedent(
        """\
        scenarios:
          - name: timed
            description: times steps
            observe: {observe}
            peers:
        {peers}
            steps:
        {steps}
        """
    ).format(
        observe=f"'{observe}'",
        peers=textwrap.indent(textwrap.dedent(peers), " " * 6),
        steps=textwrap.indent(textwrap.dedent(steps), " " * 6),
    )
    result = run_scenario(load_text(text, "t.yaml").scenarios[0], file="t.yaml")
    assert result.status == PASSED
    return result


def test_the_saved_time_is_a_float_at_least_as_long_as_the_call() -> None:
    started = time.perf_counter()
    result = _run(
        """\
        - sleep: 30ms
          save_elapsed: nap
        """,
        "{nap:.9f}",
    )
    outer = time.perf_counter() - started
    saved = float(result.observed)  # a format spec with a precision only formats a float like this
    assert 0.030 <= saved <= outer
    assert saved == pytest.approx(result.steps[0].elapsed, abs=1e-9)  # the very time the table shows
    assert float(result.variables["nap"]) == pytest.approx(saved, abs=1e-9)


def test_a_repeat_times_the_whole_group_and_inner_steps_time_themselves() -> None:
    result = _run(
        """\
        - repeat:
            times: 2
            steps:
              - sleep: 20ms
                save_elapsed: one
          save_elapsed: all
        """,
        "{one:.6f} {all:.6f}",
    )
    one, whole = (float(part) for part in result.observed.split())
    assert one >= 0.020
    assert whole >= 0.040  # both iterations
    assert whole >= one


def test_a_step_that_raises_as_expected_still_saves_its_time_and_matchers_see_it() -> None:
    result = _run(
        """\
        - socket: {as: c}
        - connect: {socket: c, address: closed}
          raises: ConnectionRefusedError
          save_elapsed: refused
        - socket: {as: d}
        - connect_ex: {socket: d, address: closed}
          returns: {gt: $refused}
          save: rc
        """,
        "refused after {refused:.6f} s; rc {rc}",
        peers="closed: closed_port",
    )
    assert result.observed.startswith("refused after 0.")
    assert float(result.variables["refused"]) > 0


def test_a_time_compared_with_a_matcher_reports_it() -> None:
    text = textwrap.dedent(
        """\
        scenarios:
          - name: too-slow
            description: the second call must be faster than the first nap
            steps:
              - sleep: 1ms
                save_elapsed: nap
              - sleep: 5ms
                returns: {gt: $nap}
        """
    )
    with pytest.raises(ScenarioFailure) as caught:
        run_scenario(load_text(text, "t.yaml").scenarios[0], file="t.yaml")
    assert "($nap)" in caught.value.expected


def test_observe_shows_the_ratio_of_two_saved_times() -> None:
    result = _run(
        """\
        - sleep: 40ms
          save_elapsed: slow
        - sleep: 1ms
          save_elapsed: fast
        """,
        "{slow/fast:.6f}|{slow:.9f}|{fast:.9f}|{slow/fast}",
    )
    ratio, slow, fast, plain = result.observed.split("|")
    assert float(ratio) == pytest.approx(float(slow) / float(fast), rel=1e-5)
    assert float(ratio) > 1
    assert float(plain) == pytest.approx(float(ratio), rel=1e-6)  # without a spec: the float's repr


def test_a_ratio_that_cannot_be_computed_says_why_in_the_observed_text() -> None:
    result = _run(
        """\
        - socket: {as: c}
          save_elapsed: t
        - connect_ex: {socket: c, address: srv}
          save: rc
        - getsockname: c
          save: addr
        """,
        "{t/rc} and {t/addr}",
    )
    assert result.observed.startswith("{t/rc} and {t/addr} (cannot fill in: ZeroDivisionError")
    result = _run(
        """\
        - socket: {as: c}
          save_elapsed: t
        - getsockname: c
          save: addr
        """,
        "{t/addr}",
    )
    assert result.observed.startswith("{t/addr} (cannot fill in: TypeError {t/addr} needs two numbers, got ")
