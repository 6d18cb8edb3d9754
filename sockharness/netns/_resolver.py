"""The system resolver pointed at a DNS peer, inside the private network *and mount* namespaces.

Why: ``socket.getaddrinfo`` reads ``/etc/resolv.conf``, ``/etc/hosts`` and ``/etc/nsswitch.conf``; to make it
ask a DNS peer, those files must say so, and the host's must never change. The namespace mode therefore
also enters a private mount namespace (with every mount made private first, so no bind mount can
propagate back to the host), and :func:`system_resolver` bind-mounts temporary copies over the three files
for as long as a test needs them. Measured in ../shared/dns-facts.md: glibc re-reads a resolv.conf whose
inode changed, so each activation also resets its sticky per-thread single-request mode (P10); only names
in the sandbox hosts file (``localhost``) are answered locally; ``options timeout:1 attempts:1`` makes a lost
answer an ``EAI_AGAIN`` after about one second instead of ten.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from sockharness.netns._namespace import NetnsUnavailable, netns_active

CLONE_NEWNS = 0x00020000
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
#: "<st_dev>:<st_ino>" of the private mount namespace, recorded when the mode entered it.
MOUNTS_ENV = "SOCKHARNESS_NETNS_MOUNTS"
_SELF_MNTNS = "/proc/thread-self/ns/mnt"
#: The files the resolver reads, in the order they are covered.
RESOLVER_FILES = ("/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf")

_mounts_problem: str | None = "the network namespace mode was not entered"


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
    return libc


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def _mount_namespace_id() -> str:
    st = os.stat(_SELF_MNTNS)
    return f"{st.st_dev}:{st.st_ino}"


def enter_private_mounts() -> str | None:
    """Move the (single-threaded) process into a private mount namespace with every mount private.

    Called by ``enter_private_netns`` right after the network namespace; returns None, or one sentence
    saying why not (the network mode still works without it; only :func:`system_resolver` refuses)."""
    global _mounts_problem
    try:
        libc = _libc()
        before = _mount_namespace_id()
        if sys.version_info >= (3, 12):
            os.unshare(os.CLONE_NEWNS)
        else:
            _check(libc.unshare(ctypes.c_int(CLONE_NEWNS)), "unshare(CLONE_NEWNS)")
        # Private first (dns-facts P3): on systemd hosts "/" is shared, and a bind mount would reach the host.
        _check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "making / private")
        own = _mount_namespace_id()
        if own == before:  # pragma: no cover - the kernel promised a new namespace
            raise OSError(0, "unshare(CLONE_NEWNS) returned but the mount namespace did not change")
    except OSError as error:
        _mounts_problem = f"the private mount namespace could not be entered ({error.strerror or error})"
        return _mounts_problem
    os.environ[MOUNTS_ENV] = own
    _mounts_problem = None
    return None


def private_mounts_active() -> bool:
    """True when this process runs in the private mount namespace the mode entered."""
    marker = os.environ.get(MOUNTS_ENV)
    try:
        return marker is not None and marker == _mount_namespace_id()
    except OSError:
        return False


def resolver_problem() -> str | None:
    """Why :func:`system_resolver` cannot be used here, as one sentence, or None."""
    if not netns_active():
        return (
            "pointing getaddrinfo at a DNS peer needs the private network namespace mode "
            "(--sockharness-netns, "
            "sockharness run --netns), so the host's /etc/resolv.conf and /etc/hosts are never touched; "
            "outside it, point a resolver library (dnspython) at the peer's address instead"
        )
    if not private_mounts_active():
        return (
            f"pointing getaddrinfo at a DNS peer needs a private mount namespace: {_mounts_problem or 'none'}"
        )
    return None


def resolver_files(
    nameserver: str, hosts: Mapping[str, str] | None = None, *, timeout: int = 1, attempts: int = 1
) -> dict[str, str]:
    """The text of each covered file (pure): one nameserver, short timeouts, localhost in hosts (P5)."""
    lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback"]
    lines += [f"{address} {name}" for name, address in (hosts or {}).items()]
    return {
        "/etc/resolv.conf": f"nameserver {nameserver}\noptions timeout:{timeout} attempts:{attempts}\n",
        "/etc/hosts": "\n".join(lines) + "\n",
        # files then dns only: no nss-resolve, mdns or nscd that would bypass the peer (P11)
        "/etc/nsswitch.conf": "hosts: files dns\n",
    }


@contextlib.contextmanager
def system_resolver(
    nameserver: str = "127.0.0.1",
    hosts: Mapping[str, str] | None = None,
    *,
    timeout: int = 1,
    attempts: int = 1,
) -> Iterator[None]:
    """Inside the block, ``getaddrinfo`` asks ``nameserver`` (port 53: glibc has no other) and reads
    ``hosts``; the files are bind-mounted in this process's private mount namespace and unmounted after.
    Raises :class:`NetnsUnavailable` with one sentence outside the namespace mode."""
    problem = resolver_problem()
    if problem is not None:
        raise NetnsUnavailable(problem)
    libc = _libc()
    folder = Path(tempfile.mkdtemp(prefix="sockharness-resolver-"))
    mounted: list[str] = []
    try:
        for target, text in resolver_files(nameserver, hosts, timeout=timeout, attempts=attempts).items():
            if not os.path.exists(target):
                continue  # nothing to cover: glibc's defaults for a missing file are what we want
            source = folder / Path(target).name
            source.write_text(text, encoding="ascii")
            _check(
                libc.mount(os.fsencode(source), os.fsencode(target), None, MS_BIND, None), f"bind {target}"
            )
            mounted.append(target)
        yield
    finally:
        for target in reversed(mounted):
            with contextlib.suppress(OSError):
                _check(libc.umount2(os.fsencode(target), MNT_DETACH), f"unmount {target}")
        shutil.rmtree(folder, ignore_errors=True)


__all__ = [
    "RESOLVER_FILES",
    "enter_private_mounts",
    "private_mounts_active",
    "resolver_files",
    "resolver_problem",
    "system_resolver",
]
