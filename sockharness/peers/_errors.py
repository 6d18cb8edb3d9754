"""PeerError: a failure that happened inside a peer thread, carried to the test that owns the peer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sockharness._errnos import describe_exception

if TYPE_CHECKING:
    from sockharness.peers._steps import Step
    from sockharness.peers._transcript import Transcript

__all__ = ["PeerError"]

_MAX_RENDERED = 8


class PeerError(AssertionError):
    """A peer's script failed, or the peer hit an unexpected exception, or it did not finish in time.

    It is an AssertionError so pytest reports it as a test failure, not an internal error. The message names
    the peer, the failing step and the cause, then renders every transcript of the peer so the conversation
    that led to the failure is in the report.
    """

    def __init__(
        self,
        peer_name: str,
        problem: str,
        *,
        step: Step | None = None,
        step_index: int | None = None,
        cause: BaseException | None = None,
        transcripts: Sequence[Transcript] = (),
        connection: str | None = None,
    ) -> None:
        self.peer_name = peer_name
        self.problem = problem
        self.step = step
        self.step_index = step_index
        self.cause = cause
        self.transcripts = list(transcripts)
        self.connection = connection
        super().__init__(self._render())

    def _render(self) -> str:
        where = f"peer {self.peer_name!r}"
        if self.connection:
            where += f" ({self.connection})"
        if self.step is not None:
            index = f"[{self.step_index}]" if self.step_index is not None else ""
            where += f", step{index} {self.step!r}"
        lines = [f"{where}: {self.problem}"]
        if self.cause is not None and describe_exception(self.cause) not in self.problem:
            lines.append(f"  caused by {describe_exception(self.cause)}")
        if self.transcripts:
            shown = self._transcripts_to_show()
            lines.extend(transcript.render() for transcript in shown)
            if len(shown) < len(self.transcripts):
                lines.append(f"({len(self.transcripts) - len(shown)} more transcript(s) not shown)")
        else:
            lines.append("(no transcript: no connection was made)")
        return "\n".join(lines)

    def _transcripts_to_show(self) -> list[Transcript]:
        """All of them when few; else the failing connection's plus the most recent ones."""
        if len(self.transcripts) <= _MAX_RENDERED:
            return self.transcripts
        failing = [t for t in self.transcripts if t.label == self.connection]
        recent = [t for t in self.transcripts[-_MAX_RENDERED:] if t not in failing]
        return failing + recent[len(failing) :]

    def __reduce__(self) -> tuple[type[AssertionError], tuple[str]]:
        # Transcripts hold locks; pickling (xdist ships exceptions between processes) keeps only the text.
        return (AssertionError, (str(self),))
