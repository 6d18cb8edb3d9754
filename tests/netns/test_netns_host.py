"""From OUTSIDE the namespace: a netns run leaves the host's ruleset, routes and sysctls exactly as they were.

A helper process enters the mode with non-default sysctls, installs one fault of every kind and then
waits; the host is compared while its rules are live and again after it exited without cleaning up
(the namespace, and every rule in it, dies with its last process).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sockharness._ci import skip_or_fail
from sockharness.netns import preflight_problem

pytestmark = pytest.mark.no_netns

HELPER_SYSCTLS = {
    "net.ipv4.tcp_syn_retries": "1",
    "net.ipv4.tcp_retries2": "5",
    "net.ipv4.tcp_keepalive_time": "17",
    "net.core.somaxconn": "77",
    "net.ipv4.ip_local_port_range": "40000\t40100",
}

_HELPER = """
import json, socket, subprocess, sys
from sockharness.netns import PacketFaults, RejectWith, enter_private_netns

info = enter_private_netns(json.loads(sys.argv[1]))
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(4)
port = listener.getsockname()[1]
client = socket.create_connection(("127.0.0.1", port), timeout=5)
faults = PacketFaults()
faults.add("cut", port)
faults.add("blackhole", port, direction="in")
faults.add("loss", 9, percent=30)
for reject_with in RejectWith:
    faults.add("reject", 10, reject_with=reject_with, direction="out")
ruleset = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True, check=True).stdout
print(json.dumps({"sysctls": info.sysctls, "rules": ruleset.count(" drop") + ruleset.count(" reject")}))
sys.stdout.flush()
sys.stdin.readline()  # hold the rules until the test has looked at the host; then exit without cleanup
"""


def _host_state() -> dict[str, object]:
    nft = shutil.which("nft")
    assert nft is not None
    ruleset = subprocess.run([nft, "list", "ruleset"], capture_output=True, text=True, check=True, timeout=10)
    sysctls: dict[str, str] = {}
    for name in HELPER_SYSCTLS:
        sysctls[name] = Path("/proc/sys/" + name.replace(".", "/")).read_text(encoding="ascii")
    return {
        "ruleset": ruleset.stdout,
        "sysctls": sysctls,
        "routes": _routes("/proc/net/route", skip_columns={4, 5}),  # RefCnt, Use change with traffic
        "routes6": _routes("/proc/net/ipv6_route", skip_columns={6, 7}),
        "links": sorted(os.listdir("/sys/class/net")),
    }


def _routes(path: str, skip_columns: set[int]) -> list[list[str]]:
    rows = []
    for line in Path(path).read_text(encoding="ascii").splitlines():
        fields = line.split()
        rows.append([field for index, field in enumerate(fields) if index not in skip_columns])
    return sorted(rows)


def test_netns_run_leaves_the_host_ruleset_routes_and_sysctls_unchanged() -> None:
    problem = preflight_problem()
    if problem is not None:
        skip_or_fail("the network namespace mode", problem)
    before = _host_state()
    env = {k: v for k, v in os.environ.items() if k != "SOCKHARNESS_NETNS"}
    helper = subprocess.Popen(
        [sys.executable, "-c", _HELPER, json.dumps(HELPER_SYSCTLS)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert helper.stdout is not None and helper.stdin is not None
        line = helper.stdout.readline()
        assert line, helper.communicate(timeout=30)[1]
        report = json.loads(line)
        # Inside: every sysctl took its new value and all the rules exist ...
        assert report["sysctls"] == HELPER_SYSCTLS
        assert report["rules"] >= 10
        # ... while the host, looked at right now, has none of it.
        assert _host_state() == before
        helper.stdin.write("done\n")
        helper.stdin.flush()
        _out, err = helper.communicate(timeout=30)
        assert helper.returncode == 0, err
    finally:
        if helper.poll() is None:
            helper.kill()
            helper.communicate(timeout=30)
    assert _host_state() == before
