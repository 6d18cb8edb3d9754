"""Execute one validated scenario against real sockets and peers, and say exactly what happened.

``run_scenario`` starts the scenario's peers, runs its steps (or phases) one socket call at a time,
times each call with ``perf_counter``, captures its return value or exception, checks the step's
expectations, and always cleans up: every socket closed, every peer stopped, every proxy deleted, also
when a step fails or pytest-timeout interrupts the run. A mismatch raises :class:`ScenarioFailure`;
success returns a :class:`ScenarioResult` for the conformance table.
"""

from __future__ import annotations

import contextlib
import dataclasses
import string
import time
from collections.abc import Callable, Mapping, Sequence

from sockharness._errnos import describe_exception
from sockharness._seeds import fresh_seed
from sockharness.scenario._actions import Container, Outcome
from sockharness.scenario._language import model
from sockharness.scenario._language.model_refs import observe_ratio
from sockharness.scenario._run.context import RunOptions, ScenarioContext
from sockharness.scenario._run.expectations import Mismatch, check_step, raises_problem
from sockharness.scenario._run.failure import ScenarioFailure, StepPlace
from sockharness.scenario._run.peers_factory import start_peers
from sockharness.scenario._run.phases import phase_faults
from sockharness.scenario._run.render import ErrnoCode, render
from sockharness.scenario._run.report import FAILED, PASSED, ScenarioResult, StepObservation
from sockharness.scenario._run.resolve import Resolution, Resolver

#: Maps a YAML key path (``("scenarios", 0, "steps", 3)``) to its 1-based line, when the loader knows it.
Locator = Callable[[tuple[str | int, ...]], int | None]


def _no_location(path: tuple[str | int, ...]) -> int | None:
    return None


def step_source(lines: Sequence[str], line: int | None) -> str:
    """The YAML text of the step starting at ``line``: that line plus the lines indented deeper than it."""
    if not line or line > len(lines):
        return ""
    first = lines[line - 1]
    stripped = first.lstrip()
    indent = len(first) - len(stripped)
    body_indent = indent + 2 if stripped.startswith("- ") else indent
    taken = [first.rstrip()]
    for text in lines[line : line + 40]:  # a step is short; 40 lines bounds a runaway literal
        if not text.strip() or text.lstrip().startswith("#"):
            break
        if len(text) - len(text.lstrip()) < body_indent:
            break
        taken.append(text.rstrip())
    return "\n".join(taken)


class _Run:
    """One execution of one scenario (the state that the step functions share)."""

    def __init__(
        self,
        scenario: model.Scenario,
        options: RunOptions,
        *,
        file: str,
        base_path: tuple[str | int, ...],
        locate: Locator,
        source: Sequence[str],
    ) -> None:
        self.scenario = scenario
        self.options = options
        self.file = file
        self.base_path = base_path
        self.locate = locate
        self.source = source
        self.ctx = ScenarioContext(options)
        self.resolver = Resolver(options.seed if options.seed is not None else 0, file, scenario.name)
        self.payload = self.resolver.payload
        self.environment = Resolution(self.ctx, self.resolver)
        self.ctx.scenario_seed = self.resolver.source.seed
        self.observations: list[StepObservation] = []
        self.last_checked: str | None = None
        #: the step whose call is in progress: (step, number, key path, perf_counter at its start).
        self.running: tuple[model.StepBase, str, tuple[str | int, ...], float] | None = None
        self.interrupted_in: tuple[model.StepBase, str, tuple[str | int, ...], float] | None = None

    # -- failures -----------------------------------------------------------------------------------------
    def place(self, step: model.StepBase, number: str, path: tuple[str | int, ...]) -> StepPlace:
        line = self.locate(path)
        text = step_source(self.source, line)
        if not text:
            text = render(
                step.model_dump(by_alias=True, exclude_unset=True, mode="json", warnings=False), readable=True
            )
        return StepPlace(number=number, action=step.action, line=line, text=text, label=step.label)

    def failure(
        self,
        place: StepPlace | None,
        expected: str,
        observed: str,
        elapsed: float | None,
        note: str | None = None,
        *,
        proxies_noted: bool = False,
    ) -> ScenarioFailure:
        if not proxies_noted:
            self.ctx.note_proxies()  # phases undo their toxics before the report is finished
        return ScenarioFailure(
            scenario=self.scenario.name,
            file=self.file,
            place=place,
            expected=expected,
            observed=observed,
            elapsed=elapsed,
            transcripts=self.ctx.transcripts(),
            seed=self.options.seed,
            note=note,
        )

    # -- steps --------------------------------------------------------------------------------------------
    def run_steps(self, steps: Sequence[model.StepBase], prefix: str, path: tuple[str | int, ...]) -> object:
        last: object = None
        for index, step in enumerate(steps):
            number = f"{prefix}{index + 1}"
            last = self.run_step(step, number, (*path, index))
        return last

    def call(self, step: model.StepBase, number: str, path: tuple[str | int, ...]) -> Outcome:
        """Perform the step's action: resolve its arguments, then make the one call, timed."""
        entry = step.entry
        if isinstance(entry, Container):
            return entry.run(step.args, self, number, path)
        try:
            resolved = entry.resolve(step.args, self.environment)
        except Exception as exc:
            raise self.failure(
                self.place(step, number, path),
                "arguments that can be resolved",
                f"{type(exc).__name__}: {exc}",
                None,
            ) from exc
        offered = entry.offered(resolved)
        if offered is not None:
            self.ctx.variables["offered"] = offered
        started = time.perf_counter()
        self.running = (step, number, path, started)
        try:
            value = entry.call(self.ctx, resolved)
        except Exception as exc:
            return Outcome(None, exc, time.perf_counter() - started)
        except BaseException:
            self.interrupted_in = self.running  # pytest-timeout's Failed, KeyboardInterrupt: say where
            self.ctx.note_proxies()  # before a phase undoes its toxics: the report shows what the step saw
            raise
        finally:
            self.running = None
        elapsed = time.perf_counter() - started
        if isinstance(value, int) and not isinstance(value, bool) and entry.returns_errno(step.args):
            value = ErrnoCode(value)  # compares as the number, reads as EINPROGRESS (115)
        return Outcome(value, None, elapsed)

    def raised_as(self, expected: model.RaisesSpec, error: Exception) -> bool:
        """Whether ``error`` is what a ``raises``-shaped spec (``until_raises``) describes."""
        return raises_problem(expected, error) is None

    def judge(
        self,
        step: model.StepBase,
        number: str,
        path: tuple[str | int, ...],
        outcome: Outcome,
        *,
        iteration: int | None = None,
    ) -> None:
        value, exc, elapsed = outcome.value, outcome.error, outcome.elapsed
        mismatch: Mismatch | None = check_step(step, value, exc, elapsed, self.ctx.variables, self.payload)
        if mismatch is not None:
            note = f"iteration {iteration} of the enclosing repeat" if iteration is not None else None
            if mismatch.note:
                note = f"{note}; {mismatch.note}" if note else mismatch.note
            raise self.failure(
                self.place(step, number, path), mismatch.expected, mismatch.observed, elapsed, note
            )
        if step.save is not None:
            self.ctx.variables[step.save] = exc if exc is not None else value
        if step.save_elapsed is not None:
            self.ctx.variables[step.save_elapsed] = elapsed

    def run_step(self, step: model.StepBase, number: str, path: tuple[str | int, ...]) -> object:
        outcome = self.call(step, number, path)
        value, exc, elapsed = outcome.value, outcome.error, outcome.elapsed
        self.observations.append(
            StepObservation(
                number=number,
                action=step.action,
                line=self.locate(path),
                elapsed=elapsed,
                returned=None if exc is not None else render(value, readable=True),
                raised=describe_exception(exc) if exc is not None else None,
                label=step.label,
            )
        )
        self.judge(step, number, path, outcome)
        if (
            step.raises is not None
            or step.checks_return
            or step.bytes is not None
            or step.elapsed is not None
        ):
            shown = (
                f"raised {describe_exception(exc)}"
                if exc is not None
                else f"returned {render(value, readable=True)}"
            )
            self.last_checked = f"{step.action} {shown}"
        return value

    # -- phases -------------------------------------------------------------------------------------------
    def run_phases(self, phases: Sequence[model.Phase]) -> None:
        for index, phase in enumerate(phases):
            path = (*self.base_path, "phases", index)
            started = time.perf_counter()
            with phase_faults(self.ctx, phase):
                self.run_steps(phase.steps, f"{phase.name}.", (*path, "steps"))
                if phase.duration is not None:
                    remaining = phase.duration - (time.perf_counter() - started)
                    if remaining > 0:
                        time.sleep(remaining)  # sync-ok: the phase is specified to last this long

    # -- whole scenario -----------------------------------------------------------------------------------
    def check_peers(self) -> None:
        for name, peer in list(self.ctx.peers.items()):
            check = getattr(peer, "check", None)
            if check is None:
                continue
            try:
                check()
            except AssertionError as exc:
                # The first line says what went wrong; the transcripts follow in the peers section.
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                raise self.failure(
                    None, f"peer {name!r} to follow its script", f"{type(exc).__name__}: {first}", None
                ) from exc

    def execute(self) -> ScenarioResult:
        started = time.perf_counter()
        try:
            self.run_body()
            observed = self.render_observe()
        except ScenarioFailure as failure:
            failure.result = self.result(FAILED, failure.headline(), time.perf_counter() - started)
            problems = self.ctx.close()
            failure.update_transcripts(self.ctx.final_transcripts, problems)
            raise
        except (
            BaseException
        ) as exc:  # interrupted (pytest-timeout, Ctrl-C) or a harness bug: clean up, say where
            report = self.interruption(exc)
            problems = self.ctx.close()
            report.update_transcripts(self.ctx.final_transcripts, problems)
            report.result = self.result(FAILED, report.headline(), time.perf_counter() - started)
            with contextlib.suppress(AttributeError, TypeError):  # a few builtins refuse new attributes
                exc.sockharness_failure = report  # type: ignore[attr-defined]
            raise
        finally:
            problems = self.ctx.close()  # idempotent: a no-op after the failure path above
        if problems:
            teardown = self.failure(None, "a clean teardown", "; ".join(problems), None)
            teardown.update_transcripts(self.ctx.final_transcripts)
            teardown.result = self.result(FAILED, teardown.headline(), time.perf_counter() - started)
            raise teardown
        return self.result(PASSED, observed, time.perf_counter() - started)

    def interruption(self, exc: BaseException) -> ScenarioFailure:
        """A report (not raised) for a run that an exception from outside the steps' checks ended."""
        first = (str(exc).strip().splitlines() or [""])[0]
        observed = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
        if self.interrupted_in is None:
            return self.failure(
                None, "the scenario to finish", observed, None, note="interrupted between steps"
            )
        step, number, path, step_started = self.interrupted_in
        return self.failure(
            self.place(step, number, path),
            "the call to return",
            observed,
            time.perf_counter() - step_started,
            note="interrupted while this call was running",
            proxies_noted=True,  # noted when the call was interrupted, before any phase removed its toxics
        )

    def run_body(self) -> None:
        try:
            start_peers(self.ctx, self.scenario.peers, self.resolver.payload)
        except ScenarioFailure:
            raise
        except Exception as exc:
            raise self.failure(
                None, "every peer to start", describe_exception(exc), None, note="while starting peers"
            ) from exc
        if self.scenario.phases is not None:
            self.run_phases(self.scenario.phases)
        else:
            self.run_steps(self.scenario.steps or [], "", (*self.base_path, "steps"))
        self.check_peers()

    def render_observe(self) -> str:
        """The table's "observed" text: the ``observe`` template filled in, else the last checked outcome."""
        template = self.scenario.observe
        if not template:
            return self.last_checked or "as documented"
        try:
            return fill_observe(template, self.ctx.variables)
        except (KeyError, IndexError, ValueError, TypeError, AttributeError, ZeroDivisionError) as exc:
            return f"{template} (cannot fill in: {type(exc).__name__} {exc})"

    def result(self, status: str, observed: str, duration: float) -> ScenarioResult:
        return ScenarioResult(
            scenario=self.scenario.name,
            description=self.scenario.description,
            method=self.scenario.method,
            file=self.file,
            status=status,
            observed=observed,
            duration=duration,
            seed=self.options.seed,
            steps=list(self.observations),
            variables={name: render(value, readable=True) for name, value in self.ctx.variables.items()},
        )


class _ObserveFormatter(string.Formatter):
    """Fills ``observe`` with the saved values themselves, so ``{x!r}``, ``{x!a}``, ``{x[0]}``, ``{x:.3f}``
    and ``{x.attr}`` act on the value; a field without conversion or spec reads like the report
    (a string as itself, an address as host:port, an errno by name). ``{a/b}`` is the ratio of two
    saved numbers (e.g. lossy/clean times)."""

    def get_value(self, key: int | str, args: Sequence[object], kwargs: Mapping[str, object]) -> object:
        if isinstance(key, int) or key in kwargs:
            return super().get_value(key, args, kwargs)
        ratio = observe_ratio(key)
        if ratio is None:
            raise KeyError(key)
        numerator, denominator = (kwargs[name] for name in ratio)
        if not all(_is_number(value) for value in (numerator, denominator)):
            raise TypeError(
                f"{{{key}}} needs two numbers, got {render(numerator, readable=True)} and "
                f"{render(denominator, readable=True)}"
            )
        return numerator / denominator  # type: ignore[operator]  # both checked to be numbers

    def format_field(self, value: object, format_spec: str) -> str:
        if format_spec and _is_number(value):
            return format(value, format_spec)
        return format(render(value, readable=True), format_spec)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def fill_observe(template: str, variables: Mapping[str, object]) -> str:
    """The ``observe`` template with the saved values filled in (pure, so it can be tested alone)."""
    return _ObserveFormatter().vformat(template, (), variables)


def run_scenario(
    scenario: model.Scenario,
    options: RunOptions | None = None,
    *,
    file: str = "<scenario>",
    index: int = 0,
    locate: Locator | None = None,
    source: Sequence[str] = (),
) -> ScenarioResult:
    """Run one scenario; raise :class:`ScenarioFailure` (with ``.result``) if it does not behave as written.

    ``index`` is the scenario's position in its file and ``locate``/``source`` give YAML lines, so failures
    can point at ``file:line`` and quote the step.
    """
    chosen = options or RunOptions()
    if chosen.seed is None:
        # Every run has a seed (shown in failures) so random payloads can be replayed.
        chosen = dataclasses.replace(chosen, seed=fresh_seed())
    run = _Run(
        scenario,
        chosen,
        file=file,
        base_path=("scenarios", index),
        locate=locate or _no_location,
        source=source,
    )
    return run.execute()
