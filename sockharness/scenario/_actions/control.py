"""Container actions: steps that hold steps (``repeat``; a ``concurrently`` block would sit here too)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Final

from pydantic import Field, WithJsonSchema

from sockharness.scenario._actions.args import Args
from sockharness.scenario._actions.base import BodyRunner, Container, KeyPath, Outcome, register
from sockharness.scenario._language.errors import describe_value
from sockharness.scenario._language.model_types import parsed_by
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
