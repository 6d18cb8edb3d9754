"""Phases of a fault scenario: the faults that hold while a phase's steps run.

A phase's toxics are added and its ``down`` proxies disabled when the phase starts, and both are undone
when it ends, in reverse order, also when a step of the phase failed. The next phase therefore starts
from the state the scenario declared, which is what lets a client be observed *recovering*.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING

from sockharness.scenario._run.context import ScenarioContext

if TYPE_CHECKING:
    from sockharness.scenario._language.model import Phase


@contextlib.contextmanager
def phase_faults(ctx: ScenarioContext, phase: Phase) -> Iterator[None]:
    """Apply ``phase.toxics`` and ``phase.down`` for the duration of the ``with`` block."""
    undo: list[tuple[str, Callable[[], None]]] = []
    try:
        for toxic in phase.toxics:
            proxy = ctx.proxy(str(toxic.proxy))
            ctx.before_fault(proxy, toxic.type)
            added = proxy.add_toxic(
                toxic.type,
                name=toxic.name,
                stream=toxic.stream,
                toxicity=toxic.toxicity,
                target=toxic.target_values(),
                **toxic.attribute_values(),
            )
            undo.append(
                (f"remove toxic {added!r} of proxy {toxic.proxy!r}", partial(proxy.remove_toxic, added))
            )
        for name in phase.down:
            proxy = ctx.proxy(str(name))
            ctx.before_fault(proxy, None)
            proxy.disable()
            undo.append((f"re-enable proxy {name!r}", proxy.enable))
        yield
    finally:
        errors: list[str] = []
        for what, action in reversed(undo):
            try:
                action()
            except Exception as exc:  # keep undoing the rest; the scenario's close() deletes the proxies
                errors.append(f"{what}: {type(exc).__name__}: {exc}")
        if errors:
            ctx.on_close(f"phase {phase.name!r} cleanup", _raiser(errors))


def _raiser(errors: list[str]) -> Callable[[], None]:
    def report() -> None:
        raise RuntimeError("; ".join(errors))

    return report
