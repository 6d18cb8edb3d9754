"""An external target: a program the scenario starts and talks to over loopback.

The program runs from an argv list (never through a shell) in its own process group, so teardown can
kill it together with anything it spawned. It counts as ready once a TCP connect to its address
succeeds; both the wait and the teardown are bounded. Its address is loopback unless the caller passes
``allow_non_loopback=True`` on purpose (YAML: ``allow_non_loopback: true``), so a scenario never makes a
program listen on every interface by accident.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from typing import IO, Any, Self

from sockharness.peers._addresses import family_for_host, format_address, is_loopback

_POLL_INTERVAL = 0.02
_OUTPUT_TAIL = 4000


def _exit_status(pid: int) -> int | None:
    """The exit status of child ``pid`` if it has exited, without reaping it: the zombie keeps holding the
    PID (= the process group's ID) until :meth:`ExternalTarget.stop` has killed the group."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return -1  # already reaped elsewhere
    if info is None:
        return None
    return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status


class ExternalTargetError(AssertionError):
    """The external program did not start, exited early, or never accepted a connection."""


def pick_free_port(host: str) -> int:
    """A port that was free a moment ago (bind port 0, read it, close): the program binds it next.

    A race with another process taking the port in between is possible in principle; the readiness
    check then fails with a clear message instead of talking to the wrong program.
    """
    with socket.socket(family_for_host(host), socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
    return port


def substitute(argv: Sequence[str], host: str, port: int) -> list[str]:
    """Replace ``{host}``, ``{port}`` and ``{python}`` in each argument (plain replacement, no format spec).

    ``{python}`` is the interpreter running the tests (``sys.executable``), so ``argv: ["{python}", ...]``
    runs the program with the same Python and packages instead of whatever ``python`` is first on PATH.
    """
    return [
        arg.replace("{host}", host).replace("{port}", str(port)).replace("{python}", sys.executable)
        for arg in argv
    ]


class ExternalTarget:
    """A started program plus the address where it listens; a Peer for the runner's purposes."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        env: Mapping[str, str] | None = None,
        ready_timeout: float = 10.0,
        name: str = "external",
        cwd: str | None = None,
        allow_non_loopback: bool = False,
    ) -> None:
        if isinstance(argv, str | bytes):
            # A string is a Sequence[str] of characters: refuse it instead of running "p" "y" "t" ...
            raise TypeError(
                f"external peer {name!r}: argv must be a list of strings (no shell is used), "
                f"got the string {argv!r}; split it, e.g. {str(argv).split()!r}"
            )
        if not argv or not all(isinstance(arg, str) for arg in argv):
            raise TypeError(f"external peer {name!r}: argv must be a non-empty list of strings, got {argv!r}")
        if not allow_non_loopback and not is_loopback(host):
            raise ValueError(
                f"external peer {name!r}: host {host!r} is not loopback (127.0.0.1, ::1, localhost); pass "
                "allow_non_loopback=True (YAML: allow_non_loopback: true) if the program may listen beyond "
                "this machine on purpose"
            )
        self.name = name
        self._host = host
        self._requested_port = port
        self._port = port
        self._argv_template = list(argv)
        self._env = dict(env or {})
        self._ready_timeout = ready_timeout
        self._cwd = cwd
        self._process: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None
        self.argv: list[str] = []
        self.transcripts: list[Any] = []

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        return self._port

    @property
    def address(self) -> tuple[str, int]:
        return (self._host, self._port)

    def start(self) -> Self:
        self._port = self._requested_port or pick_free_port(self._host)
        self.argv = substitute(self._argv_template, self._host, self._port)
        environment = {**os.environ, **self._env}
        # A file, not a pipe: a chatty program never blocks on a full pipe. Closed in close().
        self._output = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            self._process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=self._output,
                stderr=subprocess.STDOUT,
                env=environment,
                cwd=self._cwd,
                start_new_session=True,  # own process group: killed as a group at stop()
            )
        except OSError as exc:
            self._close_output()
            raise ExternalTargetError(
                f"external peer {self.name!r}: cannot start {self.argv!r}: {exc}"
            ) from exc
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._ready_timeout
        family = family_for_host(self._host)
        last_error = "no attempt"
        while True:
            assert self._process is not None
            code = _exit_status(self._process.pid)
            if code is not None:
                raise ExternalTargetError(
                    f"external peer {self.name!r} exited with status {code} before accepting on "
                    f"{format_address((self._host, self._port))}; argv {self.argv!r}\n{self.output_tail()}"
                )
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.settimeout(max(0.05, min(0.5, deadline - time.monotonic())))
                try:
                    probe.connect((self._host, self._port))
                    return
                except OSError as exc:
                    last_error = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                raise ExternalTargetError(
                    f"external peer {self.name!r} did not accept a TCP connection on "
                    f"{format_address((self._host, self._port))} within {self._ready_timeout:g}s "
                    f"(last: {last_error}); argv {self.argv!r}\n{self.output_tail()}"
                )
            time.sleep(_POLL_INTERVAL)  # sync-ok: polling an external process with a bounded deadline

    def check(self) -> None:
        """Raise if the program has exited with a failure status (it is not reaped here; see stop())."""
        code = (
            None
            if self._process is None or self._process.returncode is not None
            else _exit_status(self._process.pid)
        )
        if code not in (None, 0):
            raise ExternalTargetError(
                f"external peer {self.name!r} exited with status {code}\n{self.output_tail()}"
            )

    def output_tail(self) -> str:
        """The program's last output (stdout and stderr merged), for failure messages."""
        if self._output is None or self._output.closed:
            return "(no output captured)"
        self._output.flush()
        size = self._output.seek(0, os.SEEK_END)
        self._output.seek(max(0, size - _OUTPUT_TAIL))
        text = self._output.read().decode("utf-8", "replace")
        return f"--- output of {self.name} (last {_OUTPUT_TAIL} bytes) ---\n{text}" if text else "(no output)"

    def stop(self, timeout: float = 2.0) -> None:
        """TERM the process group, wait (bounded), then KILL whatever is left of the group, then reap.

        The leader is reaped only after the group was killed: until then its PID, which is also the group's
        ID, cannot be reused, so the KILL can never reach an unrelated process group.
        """
        process = self._process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _exit_status(process.pid) is None and time.monotonic() < deadline:
            time.sleep(_POLL_INTERVAL)  # sync-ok: bounded wait for a process to exit; nothing to await
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # children that ignored TERM, or a stubborn leader
        with contextlib.suppress(subprocess.TimeoutExpired):  # unkillable (stuck in the kernel): the OS's
            process.wait(timeout)

    def close(self) -> None:
        self.stop()
        self._close_output()

    def _close_output(self) -> None:
        if self._output is not None and not self._output.closed:
            self._output.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
