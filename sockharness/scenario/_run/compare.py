"""Where a run with another socket implementation departs from the standard library's run (pure).

``sockharness run --socket-impl gevent --compare`` runs every scenario twice, standard library first, with
the same seed, and compares the two step by step. A departure is one sentence a reader can act on:

* the scenario's verdict (it passed with the standard library and fails with the implementation);
* a step that raised on one side and returned on the other;
* a different exception class, errno or message;
* a different return value (addresses are compared without their ephemeral port, which differs per run,
  and a descriptor number (:data:`DESCRIPTOR_ACTIONS`) only as open or -1: the hubs of gevent and eventlet
  hold descriptors of their own, so the same socket gets another number);
* a different duration, when the two differ by at least :data:`TIMING_FLOOR` and by a factor of
  :data:`TIMING_RATIO` (smaller differences are scheduling noise on a loaded machine, not behaviour).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from sockharness.scenario._run.report import PASSED, ScenarioResult, StepObservation

__all__ = ["DESCRIPTOR_ACTIONS", "TIMING_FLOOR", "TIMING_RATIO", "departures", "normalise"]

#: Steps whose result is a file descriptor number: compared as "open" (>= 0) or -1 only.
DESCRIPTOR_ACTIONS: Final = frozenset({"fileno"})
#: Seconds: durations closer than this are never a departure.
TIMING_FLOOR: Final = 0.05
#: And the slower side must take at least this many times as long as the faster one.
TIMING_RATIO: Final = 1.5

# A loopback address's port (127.0.0.1:40000, [::1]:40000, ('127.0.0.1', 40000)) is new in every run.
_PORTS = re.compile(r"((?:\d{1,3}\.){3}\d{1,3}|\[[0-9a-fA-F:]+\]|'[0-9a-fA-F:.]+')(?::|, )(\d{1,5})\b")


def normalise(text: str) -> str:
    """``text`` with every address's port replaced by ``PORT``, so two runs' values can be compared."""
    return _PORTS.sub(lambda found: f"{found[1]}:PORT", text)


def _exception_parts(raised: str) -> tuple[str, str]:
    """``"ConnectionResetError ECONNRESET (104): reset"`` -> (class and errno, message)."""
    head, _, message = raised.partition(": ")
    return head, message


def _comparable(step: StepObservation) -> str:
    returned = normalise(step.returned or "")
    if step.action in DESCRIPTOR_ACTIONS and returned.isdigit():
        return "a descriptor"
    return returned


def _step_departures(name: str, base: StepObservation, other: StepObservation) -> Iterator[str]:
    where = f"step {base.number} ({base.action})"
    if base.raised is not None and other.raised is None:
        yield f"{where}: stdlib raised {base.raised}; {name} returned {other.returned}"
    elif base.raised is None and other.raised is not None:
        yield f"{where}: stdlib returned {base.returned}; {name} raised {other.raised}"
    elif base.raised is not None and other.raised is not None:
        (base_kind, base_text), (other_kind, other_text) = map(_exception_parts, (base.raised, other.raised))
        if base_kind != other_kind:
            yield f"{where}: stdlib raised {base.raised}; {name} raised {other.raised}"
        elif normalise(base_text) != normalise(other_text):
            yield f"{where}: same {base_kind}, message {base_text!r} vs {name} {other_text!r}"
    elif _comparable(base) != _comparable(other):
        yield f"{where}: stdlib returned {base.returned}; {name} returned {other.returned}"
    slow, fast = max(base.elapsed, other.elapsed), min(base.elapsed, other.elapsed)
    if slow - fast >= TIMING_FLOOR and slow >= TIMING_RATIO * fast:
        took = f"took {other.elapsed * 1000:.1f} ms with {name}"
        yield f"{where}: {took}, {base.elapsed * 1000:.1f} ms with stdlib"


def departures(baseline: ScenarioResult, candidate: ScenarioResult, name: str) -> list[str]:
    """Every way ``candidate`` (run with implementation ``name``) differs from ``baseline`` (stdlib)."""
    found: list[str] = []
    if baseline.status != candidate.status:
        verdict = "passes" if candidate.status == PASSED else "fails"
        base_verdict = "passes" if baseline.status == PASSED else "fails"
        found.append(f"{verdict} with {name}, {base_verdict} with stdlib")
    others = {step.number: step for step in candidate.steps}
    first_missing = True
    for base in baseline.steps:
        other = others.pop(base.number, None)
        if other is None:
            # The first step without a result is where the run stopped: say why (a failed expectation,
            # or a call that never returned until the timeout ended the scenario).
            why = f": {candidate.observed}" if first_missing and candidate.observed else ""
            found.append(f"step {base.number} ({base.action}): no result with {name}{why}")
            first_missing = False
            continue
        found.extend(_step_departures(name, base, other))
    for extra in others.values():
        found.append(f"step {extra.number} ({extra.action}): reached only with {name}")
    return found
