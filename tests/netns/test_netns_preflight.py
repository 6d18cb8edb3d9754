"""Refusals that can be checked in this process without entering the mode (nothing here unshares)."""

from __future__ import annotations

import os
import sys

import pytest

from sockharness.netns import NetnsUnavailable, PacketFaults, netns_active, preflight_problem
from sockharness.netns import _namespace as namespace_module
from sockharness.netns._namespace import NETNS_ENV

pytestmark = [
    pytest.mark.no_netns,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="network namespaces are Linux-only"),
]


def test_not_root_is_refused_in_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    problem = preflight_problem()
    assert problem is not None
    assert problem.startswith("the network namespace mode needs root")
    assert problem.count(". ") == 0 and not problem.endswith(".")


def test_missing_nft_is_refused_with_the_package_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(namespace_module.shutil, "which", lambda name: None)
    assert preflight_problem() == (
        "the network namespace mode needs the nft command (Debian/Ubuntu: apt-get install -y nftables) "
        "and none is on PATH"
    )
    assert preflight_problem(require_nft=False) is None


def test_enter_refuses_before_unsharing_when_preflight_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)

    def must_not_run() -> None:
        raise AssertionError("unshare must not be attempted")

    monkeypatch.setattr(namespace_module, "_unshare_netns", must_not_run)
    with pytest.raises(NetnsUnavailable, match="needs root"):
        namespace_module.enter_private_netns()
    assert not netns_active()


def test_an_inherited_marker_from_another_namespace_does_not_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NETNS_ENV, "4:1")
    assert not netns_active()


def test_packet_faults_refuse_on_the_host() -> None:
    with pytest.raises(NetnsUnavailable, match="only work inside the private network namespace"):
        PacketFaults()
