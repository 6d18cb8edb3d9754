"""Container actions: steps that hold steps (``repeat``, ``concurrently``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Final

from pydantic import Field, WithJsonSchema

from sockharness.scenario._actions.args import Args
from sockharness.scenario._actions.base import (
    BodyRunner,
    Container,
    KeyPath,
    Outcome,
    ScenarioSetupError,
    register,
)
from sockharness.scenario._language.errors import describe_value
from sockharness.scenario._language.model_types import Duration, parsed_by
from sockharness.scenario._language.model_values import Raises

if TYPE_CHECKING:
    from sockharness.scenario._language.model_steps import Step, StepBase

#: Upper bound of ``repeat.times``: enough to fill any buffer, small enough to stay a unit test.
MAX_REPEAT: Final = 10000


def _check_times(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_REPEAT:
        raise ValueError(f"expected repeat times between 1 and {MAX_REPEAT}, got {describe_value(value)}")
    return value


class RepeatArgs(Args):
    times: Annotated[
        int, parsed_by(_check_times), WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_REPEAT})
    ]
    steps: Annotated[list[Step], Field(min_length=1)]
    until_raises: Raises | None = None


@register
class RepeatAction(Container[RepeatArgs]):
    name = "repeat"
    summary = "run `steps` `times` times (step numbers 3.1, 3.2...); stop early at `until_raises`"
    arguments = RepeatArgs
    returns = "the last step's value of each iteration"

    def bodies(self, args: RepeatArgs) -> Sequence[tuple[KeyPath, Sequence[StepBase]]]:
        return [(("steps",), args.steps)]

    def run(self, args: RepeatArgs, body: BodyRunner, number: str, path: KeyPath) -> Outcome:
        """Each nested step is judged like any other; an exception that ``until_raises`` describes (on a
        step that does not expect one itself) ends the loop as a success."""
        results: list[object] = []
        started = time.perf_counter()
        body_path = (*path, self.name, "steps")
        for iteration in range(1, args.times + 1):
            last: object = None
            for index, inner in enumerate(args.steps):
                inner_number = f"{number}.{index + 1}"
                inner_path = (*body_path, index)
                outcome = body.call(inner, inner_number, inner_path)
                if (
                    outcome.error is not None
                    and args.until_raises is not None
                    and inner.raises is None
                    and body.raised_as(args.until_raises, outcome.error)
                ):
                    return Outcome(results, None, time.perf_counter() - started)
                body.judge(inner, inner_number, inner_path, outcome, iteration=iteration)
                last = outcome.value
            results.append(last)
        return Outcome(results, None, time.perf_counter() - started)


#: How long the end of a ``concurrently`` block waits for its background steps when ``join`` is not given.
JOIN_TIMEOUT: Final = 5.0


class BackgroundStillRunning(ScenarioSetupError):
    """The background steps of a ``concurrently`` block did not finish within its ``join`` bound."""


class ConcurrentlyArgs(Args):
    background: Annotated[list[Step], Field(min_length=1)]
    steps: Annotated[list[Step], Field(min_length=1)]
    join: Duration | None = None


@dataclass
class _Background:
    """What the background thread leaves for the block: the failure that ended it, if any."""

    failure: BaseException | None = None
    current: str | None = None  # the step number running now, for the join-timeout report


def _call_and_judge(body: BodyRunner, step: StepBase, number: str, path: KeyPath) -> None:
    body.judge(step, number, path, body.call(step, number, path), iteration=None)


@register
class ConcurrentlyAction(Container[ConcurrentlyArgs]):
    name = "concurrently"
    summary = (
        "run `background` steps on a second thread while `steps` run here (numbers 3.b1, 3.1...); "
        "then join it within `join` (default 5s)"
    )
    arguments = ConcurrentlyArgs
    returns = "None"

    def bodies(self, args: ConcurrentlyArgs) -> Sequence[tuple[KeyPath, Sequence[StepBase]]]:
        # The checker walks them in this order: names the background introduces are known to the main steps
        # (a socket the background accepts is used after the join, never racing it in well-formed files).
        return [(("background",), args.background), (("steps",), args.steps)]

    def run(self, args: ConcurrentlyArgs, body: BodyRunner, number: str, path: KeyPath) -> Outcome:
        """The background steps are called and judged on their own thread exactly as in the main list; a
        failure there is raised here after the join (with its own step's file:line). The main steps run
        meanwhile; the block ends by joining the thread within ``join``, also when a main step failed."""
        started = time.perf_counter()
        block = (*path, self.name)
        state = _Background()

        def background() -> None:
            try:
                for index, inner in enumerate(args.background):
                    inner_number = f"{number}.b{index + 1}"
                    state.current = inner_number
                    _call_and_judge(body, inner, inner_number, (*block, "background", index))
                state.current = None
            except BaseException as failure:  # handed to the scenario's thread, raised there after the join
                state.failure = failure

        thread = threading.Thread(
            target=background, name=f"sockharness concurrently step {number}", daemon=True
        )
        thread.start()
        bound = args.join if args.join is not None else JOIN_TIMEOUT
        try:
            for index, inner in enumerate(args.steps):
                _call_and_judge(body, inner, f"{number}.{index + 1}", (*block, "steps", index))
        finally:
            thread.join(bound)
        elapsed = time.perf_counter() - started
        if thread.is_alive():
            where = f"step {state.current}" if state.current else "its steps"
            error = BackgroundStillRunning(
                f"the background steps were still running ({where}) {bound:g}s after the main steps ended; "
                "their thread is left running as a daemon thread (write a larger join:, or give the blocking "
                "call a timeout)"
            )
            return Outcome(None, error, elapsed)
        if state.failure is not None:
            raise state.failure
        return Outcome(None, None, elapsed)
