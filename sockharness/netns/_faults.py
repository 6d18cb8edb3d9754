"""Packet faults installed with nftables inside the private network namespace.

Why the ``nft`` command: it is the maintained front end of nftables (Debian package ``nftables``), it
applies a script as one atomic transaction (``nft -f -``) and reports errors with the offending line.
The Python bindings (``python3-nftables``) wrap the same libnftables but ship only for the system
interpreter, not for virtualenvs, and would add nothing but a dependency.

Safety: every call first checks that the calling thread is in the namespace :func:`enter_private_netns`
created, so these rules can never land in the host's ruleset. The namespace's ruleset dies with the
last process in it, so even a crash cannot leave rules behind.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import threading
from types import TracebackType

from sockharness.netns._flows import open_flow_peer_ports
from sockharness.netns._namespace import NetnsUnavailable, netns_active
from sockharness.netns._rules import (
    Direction,
    FaultKind,
    PacketFault,
    RejectWith,
    make_fault,
    render_add,
    render_drop_table,
    render_remove,
    render_table,
)

NFT_TIMEOUT = 10.0  # seconds; nft answers in milliseconds, this only bounds a wedged process
_instances = itertools.count(1)


class PacketFaultError(RuntimeError):
    """nft refused a script, or a fault name is unknown/duplicate; the message says which and why."""


class PacketFaults:
    """Add and remove packet faults, each scoped to one port and direction.

    >>> faults = PacketFaults()
    >>> name = faults.add("reject", server_port, reject_with="host-unreachable")
    >>> faults.remove(name)
    >>> faults.close()          # removes whatever is left; also what the pytest fixture does

    One object owns one nftables table (``sockharness_<pid>_<n>``), so fixtures and scenarios can each
    use their own without seeing each other's faults.
    """

    def __init__(self) -> None:
        _require_namespace()
        self._nft = shutil.which("nft")
        if self._nft is None:
            raise NetnsUnavailable("packet faults need the nft command (apt-get install -y nftables)")
        self.table = f"sockharness_{os.getpid()}_{next(_instances)}"
        self._faults: dict[str, tuple[str, PacketFault]] = {}  # name -> (chain, fault)
        self._chain_numbers = itertools.count(1)
        self._names = itertools.count(1)
        self._lock = threading.Lock()
        self._table_exists = False
        self._closed = False

    def add(
        self,
        kind: str | FaultKind,
        port: int,
        *,
        direction: str | Direction = "both",
        percent: float | None = None,
        reject_with: str | RejectWith | None = None,
        name: str | None = None,
    ) -> str:
        """Install a fault now and return its name (``name`` or a generated ``<kind>-<port>-<n>``).

        ``kind``: blackhole | loss (needs ``percent``) | reject (``reject_with`` defaults to
        port-unreachable) | cut (the TCP connections on ``port`` open at this moment).
        ``direction``: out = packets to ``port``, in = packets from it, both.
        """
        with self._lock:
            self._check_open()
            fault_name = name if name is not None else f"{str(kind).lower()}-{port}-{next(self._names)}"
            if fault_name in self._faults:
                raise PacketFaultError(f"a packet fault named {fault_name!r} already exists; remove it first")
            peer_ports: set[int] = set()
            if str(kind).lower() == FaultKind.CUT.value and isinstance(port, int):
                peer_ports = open_flow_peer_ports(port)
            fault = make_fault(
                kind,
                port,
                name=fault_name,
                direction=direction,
                percent=percent,
                reject_with=reject_with,
                peer_ports=peer_ports,
            )
            chain = f"fault_{next(self._chain_numbers)}"
            script = render_add(self.table, chain, fault)
            if not self._table_exists:
                script = render_table(self.table) + script
            self._run(script, f"add packet fault {fault.describe()}")
            self._table_exists = True
            self._faults[fault_name] = (chain, fault)
            return fault_name

    def remove(self, name: str) -> None:
        """Remove one fault by name; packets flow again at once."""
        with self._lock:
            self._check_open()
            try:
                chain, fault = self._faults[name]
            except KeyError:
                known = ", ".join(sorted(self._faults)) or "none"
                raise PacketFaultError(f"no packet fault named {name!r} (installed: {known})") from None
            self._run(render_remove(self.table, chain), f"remove packet fault {fault.describe()}")
            del self._faults[name]

    def faults(self) -> list[PacketFault]:
        """The faults installed now, oldest first."""
        with self._lock:
            return [fault for _chain, fault in self._faults.values()]

    def clear(self) -> None:
        """Remove every fault this object installed (the table goes too)."""
        with self._lock:
            self._check_open()
            self._drop_table()

    def close(self) -> None:
        """Remove everything; idempotent. Later calls other than close() raise."""
        with self._lock:
            if self._closed:
                return
            try:
                if netns_active():
                    self._drop_table()
            finally:
                self._closed = True

    def ruleset(self) -> str:
        """``nft list table`` of this object's table, for failure messages ("" when no fault was added)."""
        with self._lock:
            if not self._table_exists:
                return ""
            return self._run(f"list table inet {self.table}\n", "list packet faults")

    def __enter__(self) -> PacketFaults:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _drop_table(self) -> None:
        if self._table_exists:
            self._run(render_drop_table(self.table), "remove all packet faults")
        self._table_exists = False
        self._faults.clear()

    def _check_open(self) -> None:
        if self._closed:
            raise PacketFaultError("this PacketFaults object is closed")

    def _run(self, script: str, what: str) -> str:
        _require_namespace()  # re-checked on every call: rules must never reach the host's ruleset
        assert self._nft is not None
        try:
            completed = subprocess.run(
                [self._nft, "-f", "-"],
                input=script,
                capture_output=True,
                text=True,
                timeout=NFT_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise PacketFaultError(f"{what}: nft did not answer within {NFT_TIMEOUT:g} s") from None
        if completed.returncode != 0:
            raise PacketFaultError(
                f"{what}: nft refused the script (exit {completed.returncode}): "
                f"{completed.stderr.strip()}\nscript:\n{script}"
            )
        return completed.stdout


def _require_namespace() -> None:
    if not netns_active():
        raise NetnsUnavailable(
            "packet faults only work inside the private network namespace (pytest --sockharness-netns or "
            "enter_private_netns()), so that no rule can reach the host's ruleset"
        )
