"""The error a failed scenario raises, and how it reads in a pytest report.

A socket test fails for reasons that are invisible in a traceback: which call, on which line of which YAML
file, what came back (errno *name and number*), how long it took, and what the peers saw. This object
carries all of that and renders it in a few lines; the traceback is an opt-in.
"""

from __future__ import annotations

from dataclasses import dataclass

from sockharness.scenario._run.report import ScenarioResult


@dataclass(frozen=True)
class StepPlace:
    """Where a step is: its number ("3", "2.1" inside repeat, "recover.2" inside a phase) and YAML line."""

    number: str
    action: str
    line: int | None
    text: str
    label: str | None = None


class ScenarioFailure(AssertionError):
    """A scenario did not behave as written. ``str()`` is the full, self-contained explanation."""

    def __init__(
        self,
        *,
        scenario: str,
        file: str,
        place: StepPlace | None,
        expected: str,
        observed: str,
        elapsed: float | None,
        transcripts: str,
        seed: int | None,
        result: ScenarioResult | None = None,
        note: str | None = None,
    ) -> None:
        self.scenario = scenario
        self.file = file
        self.place = place
        self.expected = expected
        self.observed = observed
        self.elapsed = elapsed
        self.transcripts = transcripts
        self.seed = seed
        self.result = result
        self.note = note
        super().__init__(self.render())

    def update_transcripts(self, transcripts: str, teardown_problems: list[str] | None = None) -> None:
        """Replace the transcripts with the final ones (taken after the peers stopped)."""
        if transcripts:
            self.transcripts = transcripts
        if teardown_problems:
            extra = f"teardown: {'; '.join(teardown_problems)}"
            self.note = f"{self.note}; {extra}" if self.note else extra
        self.args = (self.render(),)

    @property
    def location(self) -> str:
        if self.place is not None and self.place.line:
            return f"{self.file}:{self.place.line}"
        return self.file

    def headline(self) -> str:
        """One line for the conformance table's "observed" column."""
        where = f"step {self.place.number} ({self.place.action})" if self.place else "scenario"
        return f"{where}: expected {self.expected}; observed {self.observed}"

    def render(self) -> str:
        lines = [f"scenario {self.scenario!r} failed"]
        if self.place is not None:
            label = f" [{self.place.label}]" if self.place.label else ""
            lines.append(f"  step {self.place.number} ({self.place.action}) @ {self.location}{label}")
            if self.place.text:
                lines += [f"    | {text}" for text in self.place.text.splitlines()]
        else:
            lines.append(f"  in {self.location}")
        lines.append(f"  expected: {self.expected}")
        lines.append(f"  observed: {self.observed}")
        if self.elapsed is not None:
            lines.append(f"  elapsed:  {self.elapsed * 1000:.3f} ms")
        if self.note:
            lines.append(f"  note:     {self.note}")
        seed = "unknown" if self.seed is None else str(self.seed)
        replay = f" (replay: --sockharness-seed {self.seed})" if self.seed is not None else ""
        lines.append(f"  seed:     {seed}{replay}")
        if self.transcripts.strip():
            lines.append("  peers:")
            lines += [f"    {text}" for text in self.transcripts.splitlines()]
        return "\n".join(lines)

    def __reduce__(self) -> tuple[type[AssertionError], tuple[str]]:
        # Keep the rendered text when pickled (xdist, multiprocessing): the fields are not needed there.
        return (AssertionError, (str(self),))


def proxy_connections_text(name: str, proxy: object) -> str:
    """A proxy's connection log (which connections it accepted, which toxics acted on each, where a cut or a
    corruption fell, how each ended), shown in a failure report next to the peers' transcripts."""
    connections = getattr(proxy, "connections", None)
    if connections is None:
        return ""
    from sockharness.faults._engine.connection_log import render_connection_log
    from sockharness.faults._engine.toxic_types import UnsupportedToxic

    try:
        records = connections()
    except UnsupportedToxic:
        return f"--- proxy {name} connections: a real Toxiproxy server keeps no connection log ---"
    except Exception as exc:  # a proxy already gone must not hide the real failure
        return f"--- proxy {name} connections: unavailable ({type(exc).__name__}: {exc}) ---"
    return render_connection_log(name, records)
