"""pytest collects YAML scenarios: ids, globs, marks, the timeout marker, load errors and failure reports."""

from __future__ import annotations

import errno
import re
import textwrap

import pytest

from sockharness.netns._namespace import NETNS_ENV

pytest_plugins = ["pytester"]

TWO_SCENARIOS = """
scenarios:
  - name: first-one
    description: a socket starts blocking
    method: socket
    steps:
      - socket: {as: s}
      - getblocking: s
        returns: true
  - name: second.one+v2
    description: a socket has no timeout
    method: socket
    steps:
      - socket: {as: s}
      - gettimeout: s
        returns: null
"""

REFUSED_BUT_ZERO = """
scenarios:
  - name: refused-expect-zero
    description: wrong on purpose
    method: connect_ex
    peers:
      closed: closed_port
      srv: {kind: tcp_server, script: [{expect: "hi"}, {sendall: "yo"}]}
    steps:
      - socket: {as: c}
      - settimeout: {socket: c, value: 5s}
      - connect: {socket: c, address: srv}
      - sendall: {socket: c, data: "hi"}
      - recv: {socket: c, bufsize: 2}
        bytes: "yo"
      - socket: {as: d}
      - connect_ex: {socket: d, address: closed}
        returns: 0
"""


def _write(pytester: pytest.Pytester, relative: str, text: str) -> None:
    path = pytester.path / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def test_collect_ids_are_scenario_names(pytester: pytest.Pytester) -> None:
    _write(pytester, "test_pair.sock.yaml", TWO_SCENARIOS)
    result = pytester.runpytest("--collect-only", "-q", "-p", "no:randomly")
    result.stdout.fnmatch_lines(["test_pair.sock.yaml::first-one", "test_pair.sock.yaml::second.one+v2"])
    assert result.ret == 0


def test_collect_by_default_only_files_named_sock_yaml(pytester: pytest.Pytester) -> None:
    # Opt-in by name: *.sock.yaml / *.sock.yml anywhere (no test_ prefix needed); plain .yaml never.
    _write(pytester, "scenarios/deep/er/one.yaml", TWO_SCENARIOS)
    _write(pytester, "elsewhere/test_two.sock.yaml", TWO_SCENARIOS)
    _write(pytester, "elsewhere/deep/plain.sock.yml", TWO_SCENARIOS)
    _write(pytester, "elsewhere/not_a_scenario.yaml", "just: data\n")
    result = pytester.runpytest("--collect-only", "-q", "-p", "no:randomly")
    out = result.stdout.str()
    assert "elsewhere/test_two.sock.yaml::first-one" in out
    assert "elsewhere/deep/plain.sock.yml::first-one" in out
    assert "scenarios/deep/er/one.yaml" not in out
    assert "not_a_scenario" not in out
    assert result.ret == 0


FOREIGN_PROJECT = {
    "scenarios/load.yaml": "users: 10\nspawn_rate: 2\nhost: http://localhost:8080\n",
    "scenarios/nested/steps.yaml": "scenarios:\n  - name: checkout\n    steps: [{visit: /cart}]\n",
    "docker-compose.yaml": "services:\n  web:\n    image: nginx\n    ports: ['8080:80']\n",
    "k8s/deployment.yaml": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n---\n"
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
    ),
    ".github/workflows/ci.yml": "on: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n",
    "tests/broken.yaml": "key: [unclosed\n",
}


def test_collect_a_foreign_project_collects_nothing_and_raises_nothing(pytester: pytest.Pytester) -> None:
    # A project that never asked for sockharness, with every kind of YAML a project holds.
    for relative, text in FOREIGN_PROJECT.items():
        path = pytester.path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    pytester.makepyfile(test_app="def test_app():\n    assert True\n")
    result = pytester.runpytest("-q", "-p", "no:randomly")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    out = result.stdout.str()
    assert "error" not in out.lower(), out
    for relative in FOREIGN_PROJECT:
        assert relative not in out, out


def test_collect_sock_yaml_and_an_ini_named_folder(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nsockharness_scenario_globs =\n    behaviours/**/*.yaml\n")
    _write(pytester, "behaviours/socket/basics.yaml", TWO_SCENARIOS)
    _write(pytester, "tests/test_more.sock.yaml", TWO_SCENARIOS.replace("first-one", "third"))
    _write(pytester, "scenarios/load.yaml", "users: 10\n")  # not named by the ini: left alone
    result = pytester.runpytest("--collect-only", "-q", "-p", "no:randomly")
    out = result.stdout.str()
    assert "behaviours/socket/basics.yaml::first-one" in out
    assert "tests/test_more.sock.yaml::third" in out  # the name opts it in, whatever the ini says
    assert "scenarios/load.yaml" not in out
    assert result.ret == 0


def test_collect_file_size_limit_comes_from_the_ini(pytester: pytest.Pytester) -> None:
    padding = "# padding\n" * 500  # ~5 KB of comments
    _write(pytester, "test_big.sock.yaml", padding + TWO_SCENARIOS)
    pytester.makeini("[pytest]\nsockharness_scenario_max_bytes = 1KiB\n")
    refused = pytester.runpytest("--collect-only", "-q", "-p", "no:randomly")
    assert refused.ret == pytest.ExitCode.INTERRUPTED
    refused.stdout.fnmatch_lines(["*test_big.sock.yaml: the file is * bytes, more than the 1024-byte limit*"])
    pytester.makeini("[pytest]\nsockharness_scenario_max_bytes = 64KiB\n")
    accepted = pytester.runpytest("--collect-only", "-q", "-p", "no:randomly")
    accepted.stdout.fnmatch_lines(["test_big.sock.yaml::first-one"])
    assert accepted.ret == 0


def test_collect_repository_suite_opts_in_through_its_own_ini() -> None:
    import tomllib
    from pathlib import Path

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    ini = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    assert ini["sockharness_scenario_globs"] == ["scenarios/**/*.yaml"]


def test_collect_ini_globs_replace_the_defaults(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nsockharness_scenario_globs =\n    behaviours/*.yml\n")
    _write(pytester, "behaviours/a.yml", TWO_SCENARIOS)
    _write(pytester, "scenarios/b.yaml", TWO_SCENARIOS)
    result = pytester.runpytest("--collect-only", "-q", "-p", "no:randomly")
    out = result.stdout.str()
    assert "behaviours/a.yml::first-one" in out
    assert "scenarios/b.yaml" not in out


def test_collect_any_yaml_under_sockharness_scenarios_path(pytester: pytest.Pytester) -> None:
    _write(pytester, "suite/x/plain_name.yaml", TWO_SCENARIOS)
    result = pytester.runpytest(
        "--collect-only", "-q", "-p", "no:randomly", "--sockharness-scenarios", "suite", "suite"
    )
    result.stdout.fnmatch_lines(["suite/x/plain_name.yaml::first-one"])


def test_collect_scenario_error_is_one_clean_collection_error(pytester: pytest.Pytester) -> None:
    _write(
        pytester,
        "test_broken.sock.yaml",
        """
        scenarios:
          - name: broken
            description: bufsize is negative
            steps:
              - socket: {as: c}
              - recv: {socket: c, bufsize: -5}
        """,
    )
    result = pytester.runpytest("-p", "no:randomly")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    out = result.stdout.str()
    pattern = r"^test_broken\.sock\.yaml:7:\d+: scenarios\[0\]\.steps\[1\]\.recv\.bufsize"
    assert re.search(pattern, out, re.MULTILINE), out  # rootdir-relative, like the rest of pytest's output
    assert "Traceback" not in out
    assert "pydantic" not in out


def test_collect_marks_skip_skipif_xfail_netns(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The in-process pytester run shares this process: under --sockharness-netns it would find the
    # namespace marker and run the netns scenario. Without the marker the inner run is the plain mode
    # this test is about (its own option is not given, so it does not enter a namespace either).
    monkeypatch.delenv(NETNS_ENV, raising=False)
    _write(
        pytester,
        "test_marks.sock.yaml",
        """
        scenarios:
          - name: skipped
            description: always skipped
            marks: [{skip: "not today"}]
            steps: [{socket: {as: s}}]
          - name: skipped-here
            description: skipped on this platform
            marks: [{skipif: {platform: linux, reason: "linux says no"}}]
            steps: [{socket: {as: s}}]
          - name: runs-here
            description: skipped only on a platform this is not
            marks: [{skipif: {platform: plan9, reason: "never"}}]
            steps: [{socket: {as: s}}]
          - name: expected-failure
            description: known wrong expectation
            marks: [{xfail: {reason: "documented difference", strict: true}}]
            steps:
              - socket: {as: s}
              - getblocking: s
                returns: false
          - name: unexpected-pass
            description: strict xfail that passes is a failure
            marks: [{xfail: {reason: "should fail", strict: true}}]
            steps: [{socket: {as: s}}]
          - name: needs-netns
            description: packet faults need the namespace
            marks: [netns]
            steps: [{socket: {as: s}}]
        """,
    )
    result = pytester.runpytest("-rsxX", "-p", "no:randomly")
    result.assert_outcomes(passed=1, skipped=3, xfailed=1, failed=1)
    out = result.stdout.str()
    assert "not today" in out
    assert "linux says no" in out
    assert "--sockharness-netns" in out
    assert "XPASS(strict)" in out or "[XPASS(strict)]" in out


def test_collect_timeout_becomes_the_pytest_timeout_marker(pytester: pytest.Pytester) -> None:
    _write(
        pytester,
        "test_slow.sock.yaml",
        """
        scenarios:
          - name: too-slow
            description: the timeout marker interrupts a step
            timeout: 1s
            peers:
              quiet: silent
            steps:
              - socket: {as: c}
              - connect: {socket: c, address: quiet}
              - recv: {socket: c, bufsize: 1}
        """,
    )
    pytester.makeconftest(
        """
        def pytest_collection_modifyitems(items):
            for item in items:
                print("TIMEOUT-MARK", item.name, item.get_closest_marker("timeout").args)
        """
    )
    result = pytester.runpytest_subprocess("-s", "-p", "no:randomly", "--timeout-method=signal")
    result.stdout.fnmatch_lines(["*TIMEOUT-MARK too-slow (1.0,)*"])
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    # The interrupted step is named like any failed step, instead of pytest's internal traceback.
    lines = (pytester.path / "test_slow.sock.yaml").read_text().splitlines()
    step_line = next(number for number, line in enumerate(lines, 1) if "- recv:" in line)
    assert "Failed: Timeout (>1.0s) from pytest-timeout" in out
    assert f"step 3 (recv) @ test_slow.sock.yaml:{step_line}" in out
    assert "interrupted while this call was running" in out
    assert "--- peer quiet (transcript) ---" in out
    assert "_pytest" not in out.split("FAILURES")[1].split("Captured")[0]  # no pytest-internal traceback


def test_collect_failure_report_is_concise(pytester: pytest.Pytester) -> None:
    _write(pytester, "test_wrong.sock.yaml", REFUSED_BUT_ZERO)
    result = pytester.runpytest("-p", "no:randomly", "--sockharness-seed", "1234")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "step 7 (connect_ex) @ test_wrong.sock.yaml:17" in out  # the text starts with a blank line
    assert "- connect_ex: {socket: d, address: closed}" in out
    assert "expected: returns 0" in out
    assert f"observed: ECONNREFUSED ({errno.ECONNREFUSED})" in out
    assert "elapsed:" in out
    assert "--- peer srv (transcript) ---" in out and "b'hi'" in out
    assert "seed:     1234 (replay: --sockharness-seed 1234)" in out
    assert "runner.py" not in out  # no traceback by default


@pytest.mark.parametrize("flag", ["-v", "--sockharness-full-trace"])
def test_collect_failure_traceback_on_request(pytester: pytest.Pytester, flag: str) -> None:
    _write(pytester, "test_wrong.sock.yaml", REFUSED_BUT_ZERO)
    result = pytester.runpytest("-p", "no:randomly", flag)
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "runner.py" in out
    assert f"ECONNREFUSED ({errno.ECONNREFUSED})" in out


PROXY_SCENARIO = """
scenarios:
  - name: through-a-proxy
    description: echo through a proxy peer on the run's default backend
    peers:
      srv: echo
      px: {kind: proxy, upstream: srv}
    steps:
      - socket: {as: c}
      - settimeout: {socket: c, value: 5s}
      - connect: {socket: c, address: px}
      - sendall: {socket: c, data: "hi"}
      - recv: {socket: c, bufsize: 2}
        bytes: "hi"
"""


def test_collect_backend_option_picks_the_proxy_backend(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(pytester, "test_proxy.sock.yaml", PROXY_SCENARIO)
    monkeypatch.delenv("TOXIPROXY_URL", raising=False)
    monkeypatch.delenv("CI", raising=False)
    embedded = pytester.runpytest("-p", "no:randomly", "--sockharness-backend", "embedded")
    embedded.assert_outcomes(passed=1)
    missing = pytester.runpytest(
        "-p",
        "no:randomly",
        "-rs",
        "--sockharness-backend",
        "toxiproxy",
        "--sockharness-toxiproxy-url",
        "http://127.0.0.1:1",
    )
    missing.assert_outcomes(skipped=1)  # no server there: skipped with the reason...
    monkeypatch.setenv("CI", "true")
    under_ci = pytester.runpytest(
        "-p",
        "no:randomly",
        "--sockharness-backend",
        "toxiproxy",
        "--sockharness-toxiproxy-url",
        "http://127.0.0.1:1",
    )
    under_ci.assert_outcomes(failed=1)  # ...but CI must not lose the real-Toxiproxy half silently
    assert "toxiproxy backend required under CI" in under_ci.stdout.str()


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("scenarios/**/*.yaml", "scenarios/a.yaml", True),
        ("scenarios/**/*.yaml", "scenarios/x/y/a.yaml", True),
        ("scenarios/**/*.yaml", "tests/scenarios/a.yaml", False),
        ("scenarios/**/*.yaml", "scenarios/a.yml", False),
        ("**/test_*.sock.yaml", "test_a.sock.yaml", True),
        ("**/test_*.sock.yaml", "deep/er/test_a.sock.yaml", True),
        ("**/test_*.sock.yaml", "deep/test_a.yaml", False),
        ("behaviours/*.yml", "behaviours/x/a.yml", False),
        ("behaviours/?.yml", "behaviours/a.yml", True),
        ("a+b/[x].yaml", "a+b/[x].yaml", True),
    ],
)
def test_collect_glob_semantics(pattern: str, path: str, matches: bool) -> None:
    from sockharness.fixtures._scenarios import glob_regex

    assert bool(glob_regex(pattern).match(path)) is matches
