"""Child processes of the benchmark (test servers, proxy hosts) and what /proc says about them."""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Self

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ChildError(RuntimeError):
    """A child process failed to start or answered something unexpected."""


def read_line(stream: IO[str], timeout: float, what: str) -> str:
    """One line from a child's pipe, bounded in time so a wedged child cannot hang the benchmark."""
    ready, _, _ = select.select([stream], [], [], timeout)
    if not ready:
        raise ChildError(f"{what}: no answer within {timeout:.0f} s")
    line = stream.readline()
    if not line:
        raise ChildError(f"{what}: exited before answering")
    return line.rstrip("\n")


class Child:
    """A child that prints one READY line and lives until its stdin closes."""

    def __init__(self, argv: list[str], what: str, ready_timeout: float = 20.0) -> None:
        self.what = what
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,
            text=True,
            bufsize=1,
            cwd=str(Path(__file__).resolve().parent.parent),
        )
        assert self.process.stdout is not None and self.process.stdin is not None
        self.stdin = self.process.stdin
        self.stdout = self.process.stdout
        try:
            self.ready_line = read_line(self.stdout, ready_timeout, what)
        except BaseException:
            self.close()
            raise

    @property
    def pid(self) -> int:
        return self.process.pid

    def close(self, timeout: float = 5.0) -> None:
        """Close stdin (the child's signal to exit), then wait; kill only if it does not go."""
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                self.stdin.close()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        for stream in (self.stdin, self.stdout):
            if not stream.closed:
                stream.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class PeerProcess(Child):
    """One :mod:`bench.peerproc` server; ``address`` is where it listens."""

    def __init__(self, kind: str) -> None:
        super().__init__([sys.executable, "-m", "bench.peerproc", kind], f"{kind} server")
        word, _, port = self.ready_line.partition(" ")
        if word != "READY" or not port.isdigit():
            self.close()
            raise ChildError(f"{kind} server: unexpected first line {self.ready_line!r}")
        self.address = ("127.0.0.1", int(port))


def rss_bytes(pid: int) -> int:
    """Resident set size of ``pid`` (VmRSS in /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise ChildError(f"/proc/{pid}/status has no VmRSS line")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` (fields 14 and 15 of /proc/<pid>/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def thread_cpu_seconds(pid: int) -> float:
    """CPU time of ``pid``'s live threads, to the nanosecond (the first field of each thread's
    /proc schedstat): ``cpu_seconds`` counts whole clock ticks (10 ms), too coarse for an idle second."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            total += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
    return total / 1e9


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until true or ``timeout``; only for waiting on another process's state
    (e.g. a server binding its port), which offers nothing to block on."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
