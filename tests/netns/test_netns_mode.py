"""The network namespace mode driven from the normal suite: each test starts a separate pytest (or
Python) process, because entering the mode moves the whole process and must not happen to this one.

These run on the host (marked ``no_netns``); when the machine cannot enter the mode (not root, no nft)
they skip with the reason, and fail instead under CI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sockharness._ci import skip_or_fail
from sockharness.netns import preflight_problem

pytestmark = pytest.mark.no_netns

ROOT = Path(__file__).resolve().parents[2]
INNER_TESTS = "tests/netns/test_netns_faults.py"
SUBPROCESS_TIMEOUT = 240.0
_KERNEL_TIMEOUT_TESTS = "etimedout or syn_retries or reject_fails"


def _require_mode_possible() -> None:
    problem = preflight_problem()
    if problem is None:
        return
    skip_or_fail("the network namespace mode", problem)


def _pytest(*args: str, env: dict[str, str] | None = None, prefix: tuple[str, ...] = ()) -> tuple[int, str]:
    command = [*prefix, sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *args]
    completed = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        env=env if env is not None else _env(),
        check=False,
    )
    return completed.returncode, completed.stdout + completed.stderr


def _summary(output: str) -> str:
    """pytest's final "== 3 passed, 1 skipped in 2.0s ==" line (stderr may follow it in ``output``)."""
    lines = [line for line in output.splitlines() if re.fullmatch(r"=+ .* in [\d.]+s(?: \(.*\))? =+", line)]
    assert lines, output
    return lines[-1]


def _env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "SOCKHARNESS_NETNS"))}
    env.pop("CI", None)
    env.update(overrides)
    return env


@pytest.mark.timeout(SUBPROCESS_TIMEOUT + 30)
@pytest.mark.parametrize(
    "selection",
    [_KERNEL_TIMEOUT_TESTS, f"not ({_KERNEL_TIMEOUT_TESTS})"],
    ids=["kernel-timeouts-and-rejects", "cuts-loss-api"],
)
def test_packet_fault_tests_pass_inside_the_namespace(selection: str) -> None:
    _require_mode_possible()
    code, output = _pytest("--sockharness-netns", "-k", selection, INNER_TESTS)
    assert "sockharness netns: active" in output, output
    assert code == 0, output
    assert " skipped" not in _summary(output), output


@pytest.mark.timeout(SUBPROCESS_TIMEOUT + 30)
def test_packet_fault_scenarios_pass_inside_the_namespace() -> None:
    _require_mode_possible()
    code, output = _pytest("--sockharness-netns", "scenarios/netns")
    assert "sockharness netns: active" in output, output
    assert code == 0, output
    last = _summary(output)
    assert " passed" in last and " skipped" not in last, output


@pytest.mark.timeout(SUBPROCESS_TIMEOUT + 30)
def test_each_xdist_worker_enters_its_own_namespace() -> None:
    _require_mode_possible()
    selection = "namespace_is_private or scoped_to_its_port or removing_a_fault or entering_again"
    code, output = _pytest("--sockharness-netns", "-p", "xdist", "-n", "2", "-k", selection, INNER_TESTS)
    assert "each xdist worker enters its own private network namespace" in output, output
    assert code == 0, output
    assert "4 passed" in _summary(output), output


@pytest.mark.timeout(SUBPROCESS_TIMEOUT + 30)
def test_netns_tests_skip_with_the_reason_when_the_mode_is_off() -> None:
    code, output = _pytest("-k", "namespace_is_private", INNER_TESTS)
    assert code == 0, output
    assert "needs the private network namespace mode: run pytest with --sockharness-netns" in output, output


def _refused_run(ci: bool) -> tuple[int, str]:
    """--sockharness-netns on a machine where nft is missing (PATH without it)."""
    venv_bin = str(Path(sys.executable).parent)
    env = _env(PATH=venv_bin, **({"CI": "1"} if ci else {}))
    if shutil.which("nft", path=venv_bin) is not None:  # pragma: no cover - nft inside the venv
        pytest.skip("nft is on the virtualenv's PATH, so a missing nft cannot be simulated")
    return _pytest("--sockharness-netns", "-k", "namespace_is_private", INNER_TESTS, env=env)


def test_refusal_is_one_sentence_and_skips_locally() -> None:
    if os.geteuid() != 0:
        pytest.skip("the refusal for a missing nft is only reached as root")
    code, output = _refused_run(ci=False)
    assert code == 0, output
    assert "sockharness netns: REFUSED: the network namespace mode needs the nft command" in output, output
    assert "SKIPPED" in output and "network namespace mode refused" in output, output


def test_refusal_fails_netns_tests_under_ci() -> None:
    if os.geteuid() != 0:
        pytest.skip("the refusal for a missing nft is only reached as root")
    code, output = _refused_run(ci=True)
    assert code == 1, output
    assert "the network namespace mode required under CI" in output, output


def test_refusal_without_cap_sys_admin_names_the_capability() -> None:
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv (util-linux) to drop capabilities")
    code, output = _pytest(
        "--sockharness-netns",
        "-k",
        "namespace_is_private",
        INNER_TESTS,
        prefix=(setpriv, "--bounding-set", "-all", "--inh-caps", "-all"),
    )
    assert code == 0, output
    assert "REFUSED: unshare(CLONE_NEWNET) was refused with EPERM: the process lacks CAP_SYS_ADMIN" in output


_THREAD_SCRIPT = """
import threading
from sockharness.netns import NetnsUnavailable, enter_private_netns, netns_active
stop = threading.Event()
helper = threading.Thread(target=stop.wait, name="early-helper")
helper.start()
try:
    enter_private_netns()
except NetnsUnavailable as exc:
    print("REFUSED:", exc)
finally:
    stop.set()
    helper.join(5)
print("ACTIVE:", netns_active())
"""


def test_entering_refuses_while_another_thread_exists() -> None:
    _require_mode_possible()
    completed = subprocess.run(
        [sys.executable, "-c", _THREAD_SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "REFUSED: enter_private_netns() must run before any other thread exists (found: early-helper)" in (
        completed.stdout
    )
    assert "ACTIVE: False" in completed.stdout


def test_sockharness_netns_ini_option_enters_the_mode(pytester: pytest.Pytester) -> None:
    _require_mode_possible()
    pytester.makeini(
        "[pytest]\nsockharness_netns = true\nsockharness_netns_sysctls = net.ipv4.tcp_syn_retries=3\n"
    )
    pytester.makepyfile(
        test_inside="""
        import pytest
        from sockharness.netns import netns_active

        @pytest.mark.netns
        def test_inside():
            assert netns_active()
            with open("/proc/sys/net/ipv4/tcp_syn_retries") as handle:
                assert handle.read().strip() == "3"

        @pytest.mark.no_netns
        def test_needs_host():
            raise AssertionError("must be skipped in netns mode")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*sockharness netns: active*net.ipv4.tcp_syn_retries=3*", "*host network*"])


def test_a_non_net_sysctl_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nsockharness_netns_sysctls = kernel.panic=1\n")
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess("--sockharness-netns")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*sockharness_netns_sysctls*only net.* sysctls*"])


_GLOBAL_SYSCTL_SCRIPT = """
import os
from sockharness.netns import NetnsUnavailable, enter_private_netns, netns_active
before = os.stat("/proc/thread-self/ns/net").st_ino
try:
    enter_private_netns({"net.core.netdev_max_backlog": "7"})
except NetnsUnavailable as exc:
    print("REFUSED:", exc)
print("BACK ON THE HOST:", os.stat("/proc/thread-self/ns/net").st_ino == before and not netns_active())
"""


def test_a_sysctl_that_is_not_per_namespace_is_refused_and_the_process_returns_to_the_host() -> None:
    _require_mode_possible()
    host_value = Path("/proc/sys/net/core/netdev_max_backlog").read_text(encoding="ascii")
    completed = subprocess.run(
        [sys.executable, "-c", _GLOBAL_SYSCTL_SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "REFUSED: sysctl 'net.core.netdev_max_backlog' is not per-namespace on this kernel" in (
        completed.stdout
    ), completed.stdout
    assert "BACK ON THE HOST: True" in completed.stdout
    assert Path("/proc/sys/net/core/netdev_max_backlog").read_text(encoding="ascii") == host_value
