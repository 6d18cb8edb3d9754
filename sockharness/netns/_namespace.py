"""Moving the current process into a private network namespace (Linux only).

Why: a fault proxy only relays streams, so it can never make the kernel time out a connect, drop a
packet or answer with ICMP "unreachable". A private network namespace gives the process its own ``lo``,
its own nftables ruleset and its own ``net.*`` sysctls, so packet-level faults can be installed without
touching anything the host sees. The namespace ends when the last process in it exits, taking every
rule with it.

How:

- ``unshare(CLONE_NEWNET)`` (``os.unshare`` on Python 3.12+, libc through ctypes before). It moves only
  the *calling thread*, so it must run on the main thread while no other Python thread exists; threads
  started later inherit the namespace. Non-Python threads that already exist (execnet's I/O thread in a
  pytest-xdist worker) stay behind; they only move bytes over the worker's pipes.
- ``lo`` is brought up with the ``SIOCGIFFLAGS``/``SIOCSIFFLAGS`` ioctls (what ``ifconfig lo up``
  does): no dependency on iproute2 and no subprocess. The kernel assigns 127.0.0.1/8 and ::1 itself.
- ``net.*`` sysctls are written under ``/proc/sys/net`` after unsharing, which resolves to the new
  namespace. Each host value is read through a file descriptor opened *before* unsharing (it stays
  bound to the host namespace); if writing the namespaced copy changed the host value the sysctl is
  not per-namespace, so the host value is written back and the mode refuses.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import shutil
import socket
import struct
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
_IFREQ = struct.Struct("16sH22x")  # struct ifreq: name[16] + short flags, padded to 40 bytes

#: Environment variable holding "<st_dev>:<st_ino>" of the private namespace. Child processes inherit
#: both the namespace and the variable, so :func:`netns_active` is also true in them.
NETNS_ENV = "SOCKHARNESS_NETNS"

#: Sysctls applied inside the namespace unless the caller passes others. With the default 6 SYN
#: retries a blocked connect takes minutes; 2 retries end it after about 7 s (measured on this kernel,
#: where tcp_syn_linear_timeouts spaces the first retransmits 1 s apart). Connections that must survive
#: packet loss should be opened before the loss is added (see the README).
DEFAULT_SYSCTLS: Mapping[str, str] = {"net.ipv4.tcp_syn_retries": "2"}

_SELF_NETNS = "/proc/thread-self/ns/net"


class NetnsUnavailable(RuntimeError):
    """The private network namespace mode cannot be used here; the message is one sentence saying why."""


@dataclass(frozen=True)
class NetnsInfo:
    """What :func:`enter_private_netns` did, for the pytest header and for reports."""

    namespace_id: str
    host_namespace_id: str
    sysctls: dict[str, str] = field(default_factory=dict)  # dotted name -> value now in effect


def _namespace_id(path: str = _SELF_NETNS) -> str:
    st = os.stat(path)
    return f"{st.st_dev}:{st.st_ino}"


def netns_active() -> bool:
    """True when the calling thread runs in a namespace created by :func:`enter_private_netns`.

    The check compares the thread's namespace with the one recorded at entry, so a process that
    merely inherited the environment variable from elsewhere is not fooled.
    """
    marker = os.environ.get(NETNS_ENV)
    if not marker or not sys.platform.startswith("linux"):
        return False
    try:
        return _namespace_id() == marker
    except OSError:
        return False


def sysctl_path(name: str) -> str:
    """``net.ipv4.tcp_syn_retries`` or ``net/ipv4/tcp_syn_retries`` -> its /proc/sys path.

    Only ``net.*`` names are accepted: everything else is global and would change the host.
    """
    slashed = name.strip().replace(".", "/")
    parts = slashed.split("/")
    if parts[0] != "net" or len(parts) < 3 or any(not part or part in {".", ".."} for part in parts):
        raise ValueError(
            f"sysctl {name!r}: only net.* sysctls (e.g. net.ipv4.tcp_syn_retries) can be set in the "
            "private network namespace"
        )
    return "/proc/sys/" + slashed


def preflight_problem(*, require_nft: bool = True) -> str | None:
    """Why the mode cannot be entered from here, as one sentence, or None if nothing is known to block it.

    Cheap checks only; whether the kernel permits ``unshare`` is known only by trying it.
    """
    if not sys.platform.startswith("linux"):
        return f"the network namespace mode needs Linux (this is {sys.platform})"
    if not os.path.exists(_SELF_NETNS):
        return "the network namespace mode needs a kernel with network namespaces (no /proc/self/ns/net)"
    if os.geteuid() != 0:
        return (
            "the network namespace mode needs root (unshare(CLONE_NEWNET) and nftables need "
            "CAP_SYS_ADMIN and CAP_NET_ADMIN); run as root or in a privileged container"
        )
    if require_nft and shutil.which("nft") is None:
        return (
            "the network namespace mode needs the nft command (Debian/Ubuntu: apt-get install -y "
            "nftables) and none is on PATH"
        )
    return None


def _unshare_netns() -> None:
    if sys.version_info >= (3, 12):
        os.unshare(os.CLONE_NEWNET)
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(ctypes.c_int(CLONE_NEWNET)) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def _setns_netns(fd: int) -> None:
    if sys.version_info >= (3, 12):
        os.setns(fd, os.CLONE_NEWNET)
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(ctypes.c_int(fd), ctypes.c_int(CLONE_NEWNET)) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def bring_loopback_up() -> None:
    """Set IFF_UP on ``lo`` of the calling thread's namespace (ioctl on a throwaway UDP socket)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        answer = fcntl.ioctl(probe.fileno(), SIOCGIFFLAGS, _IFREQ.pack(b"lo", 0))
        flags = _IFREQ.unpack(answer)[1]
        if not flags & IFF_UP:
            fcntl.ioctl(probe.fileno(), SIOCSIFFLAGS, _IFREQ.pack(b"lo", flags | IFF_UP))


def _check_single_thread() -> None:
    if threading.current_thread() is not threading.main_thread():
        raise NetnsUnavailable(
            "enter_private_netns() must run on the main thread, because unshare moves only the "
            "calling thread into the new namespace"
        )
    if threading.active_count() != 1:
        names = ", ".join(sorted(t.name for t in threading.enumerate() if t is not threading.main_thread()))
        raise NetnsUnavailable(
            f"enter_private_netns() must run before any other thread exists (found: {names}), because "
            "threads started earlier would stay in the host's network namespace"
        )


def _open_host_sysctls(names: Mapping[str, str]) -> dict[str, tuple[str, int, bytes]]:
    """name -> (path, fd bound to the host namespace, host value), opened before unsharing."""
    opened: dict[str, tuple[str, int, bytes]] = {}
    try:
        for name in names:
            path = sysctl_path(name)
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                raise NetnsUnavailable(f"sysctl {name!r} does not exist on this kernel ({path})") from None
            except OSError as exc:
                raise NetnsUnavailable(f"sysctl {name!r} cannot be written here: {exc.strerror}") from None
            opened[name] = (path, fd, b"")
            opened[name] = (path, fd, os.pread(fd, 4096, 0))
    except BaseException:
        for _path, fd, _value in opened.values():
            os.close(fd)
        raise
    return opened


def _apply_sysctls(host: Mapping[str, tuple[str, int, bytes]], wanted: Mapping[str, str]) -> dict[str, str]:
    applied: dict[str, str] = {}
    for name, value in wanted.items():
        path, host_fd, host_value = host[name]
        try:
            with open(path, "w", encoding="ascii") as handle:
                handle.write(f"{value}\n")
        except FileNotFoundError:
            raise NetnsUnavailable(
                f"sysctl {name!r} is not per-namespace on this kernel (absent inside the namespace), so "
                "the mode will not set it"
            ) from None
        except OSError as exc:
            raise NetnsUnavailable(f"sysctl {name!r} could not be set to {value!r}: {exc.strerror}") from None
        if os.pread(host_fd, 4096, 0) != host_value:
            os.pwrite(host_fd, host_value, 0)
            raise NetnsUnavailable(
                f"sysctl {name!r} is not per-namespace on this kernel: writing it changed the host's value, "
                "which was restored"
            )
        with open(path, encoding="ascii") as handle:
            applied[name] = handle.read().strip()
    return applied


def _set_up_namespace(host_id: str, own_id: str) -> None:
    if own_id == host_id:  # pragma: no cover - the kernel promised a new namespace
        raise NetnsUnavailable("unshare(CLONE_NEWNET) returned but the thread is still in the host namespace")
    try:
        bring_loopback_up()
    except OSError as exc:
        raise NetnsUnavailable(f"lo could not be brought up in the new namespace: {exc.strerror}") from None


def enter_private_netns(sysctls: Mapping[str, str] | None = None, *, require_nft: bool = True) -> NetnsInfo:
    """Move this process into a fresh network namespace with ``lo`` up and ``sysctls`` applied.

    ``sysctls`` defaults to :data:`DEFAULT_SYSCTLS` (dotted or slashed ``net.*`` names). Calling it again
    once inside is a no-op that reports the current namespace. Raises :class:`NetnsUnavailable` with
    one sentence when the mode cannot be used (not Linux, not root, no nft, unshare refused, threads).
    """
    wanted = dict(DEFAULT_SYSCTLS if sysctls is None else sysctls)
    for name in wanted:
        sysctl_path(name)  # reject non-net names before doing anything
    if netns_active():
        return NetnsInfo(_namespace_id(), "unknown (entered earlier)", {})
    problem = preflight_problem(require_nft=require_nft)
    if problem is not None:
        raise NetnsUnavailable(problem)
    _check_single_thread()
    host_id = _namespace_id()
    host_sysctls = _open_host_sysctls(wanted)
    host_ns_fd = os.open(_SELF_NETNS, os.O_RDONLY)
    try:
        try:
            _unshare_netns()
        except OSError as exc:
            if exc.errno == errno.EPERM:
                raise NetnsUnavailable(
                    "unshare(CLONE_NEWNET) was refused with EPERM: the process lacks CAP_SYS_ADMIN (run as "
                    "root, or in a container started with --privileged or --cap-add SYS_ADMIN,NET_ADMIN)"
                ) from None
            raise NetnsUnavailable(f"unshare(CLONE_NEWNET) was refused: {exc.strerror}") from None
        own_id = _namespace_id()
        try:
            _set_up_namespace(host_id, own_id)
            applied = _apply_sysctls(host_sysctls, wanted)
        except BaseException:
            # Half set up is worse than not at all (lo may be down): go back to the host namespace.
            _setns_netns(host_ns_fd)
            raise
    finally:
        os.close(host_ns_fd)
        for _path, fd, _value in host_sysctls.values():
            os.close(fd)
    os.environ[NETNS_ENV] = own_id
    # A private mount namespace too, so DNS faults can cover /etc/resolv.conf without touching the host's
    # (netns/_resolver.py); still single-threaded here, as unshare(CLONE_NEWNS) needs.
    from sockharness.netns._resolver import enter_private_mounts

    enter_private_mounts()
    return NetnsInfo(own_id, host_id, applied)
