"""Runs test_dns_resolver.py in a pytest subprocess with --sockharness-netns, and checks the host's resolver
files are byte-identical before and after (the mode covers them in its own mount namespace only)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.netns.test_netns_mode import SUBPROCESS_TIMEOUT, _pytest, _require_mode_possible, _summary

pytestmark = pytest.mark.no_netns


def _digests() -> dict[str, str]:
    return {
        path: hashlib.sha256(Path(path).read_bytes()).hexdigest()
        for path in ("/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf")
        if Path(path).exists()
    }


@pytest.mark.timeout(SUBPROCESS_TIMEOUT + 30)
def test_getaddrinfo_faults_pass_inside_the_namespace_and_the_host_files_stay() -> None:
    _require_mode_possible()
    before = _digests()
    code, output = _pytest("--sockharness-netns", "-p", "no:randomly", "tests/netns/test_dns_resolver.py")
    assert "sockharness netns: active" in output, output
    assert code == 0, output
    assert " skipped" not in _summary(output), output
    assert _digests() == before
