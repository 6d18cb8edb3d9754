"""``call`` steps: the user's code called by import path, its values resolved from the run, its outcome judged
like a socket call's, and every way it can go wrong reported at the step's file:line."""

from __future__ import annotations

import socket
import sys
import threading
import time
from pathlib import Path

import pytest

from sockharness.scenario._api import run_scenario
from sockharness.scenario._language.errors import ScenarioError
from sockharness.scenario._language.loader import load_text
from sockharness.scenario._run.failure import ScenarioFailure
from tests.support import call_targets

TARGETS = "tests.support.call_targets"


def _write(tmp_path: Path, steps: str, peers: str = "") -> Path:
    body = "\n".join(f"      {line}" for line in steps.strip("\n").splitlines())
    peer_block = f"    peers:\n{peers}" if peers else ""
    text = f"scenarios:\n  - name: s\n    description: d\n{peer_block}    steps:\n{body}\n"
    path = tmp_path / "calls.yaml"
    path.write_text(text)
    return path


def _run(tmp_path: Path, steps: str, peers: str = "") -> None:
    run_scenario(_write(tmp_path, steps, peers), "s", seed=1)


def _fails(tmp_path: Path, steps: str, peers: str = "") -> ScenarioFailure:
    with pytest.raises(ScenarioFailure) as caught:
        _run(tmp_path, steps, peers)
    return caught.value


def test_sync_and_async_functions_classes_and_methods(tmp_path: Path) -> None:
    _run(
        tmp_path,
        f"""
- call: {{function: "{TARGETS}:add", args: [1], kwargs: {{b: 2}}}}
  returns: 3
- call: {{function: "{TARGETS}:add_later", args: [40, 2]}}
  returns: 42
- call: {{function: "{TARGETS}:Counter", args: [10]}}
  save: counter
- call: {{object: $counter, method: bump}}
  returns: 11
- call: {{object: $counter, method: bump_later, kwargs: {{by: 5}}}}
  returns: 16
- call: {{object: $counter, get: value}}
  returns: 16
- call: {{function: "{TARGETS}.add", args: [$counter, 0]}}
  raises: {{type: TypeError}}
""",
    )


def test_values_name_peers_sockets_saved_values_payloads_and_imports(tmp_path: Path) -> None:
    _run(
        tmp_path,
        f"""
- socket: {{as: c}}
- call: {{function: "{TARGETS}:describe", args: [{{host: srv}}, {{port: srv}}, {{bytes: {{size: 3}}}}],
          kwargs: {{sock: {{socket: c}}, flag: {{import: "socket:SOCK_STREAM"}}, raw: {{value: "$x"}},
                   nested: {{dict: {{port: {{port: srv}}}}}}, listed: [{{address: srv}}]}}}}
  save: seen
- call: {{function: "{TARGETS}:echo_once", args: [{{address: srv}}, {{bytes: "ping"}}]}}
  returns: ping
- call: {{object: c, method: fileno}}
  returns: {{ge: 0}}
""",
        peers="      srv: {kind: echo}\n",
    )


def test_the_seen_values_are_the_run_time_objects(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        f"""
- socket: {{as: c}}
- call: {{function: "{TARGETS}:describe", args: [{{host: srv}}, {{port: srv}}, {{bytes: "ab"}}],
          kwargs: {{sock: {{socket: c}}, raw: {{value: "$x"}}, listed: [{{address: srv}}]}}}}
  save: seen
""",
        peers="      srv: {kind: echo}\n",
    )
    run_scenario(path, "s", seed=1)
    args, kwargs = call_targets.SEEN["args"], call_targets.SEEN["kwargs"]
    assert isinstance(args, list) and isinstance(kwargs, dict)
    host, port, data = args
    assert host == "127.0.0.1" and isinstance(port, int) and port > 0 and data == b"ab"
    assert isinstance(kwargs["sock"], socket.socket)
    assert kwargs["raw"] == "$x"
    assert kwargs["listed"] == [("127.0.0.1", port)]


def test_raises_by_import_path_with_a_message_pattern(tmp_path: Path) -> None:
    _run(
        tmp_path,
        f"""
- call: {{function: "{TARGETS}:fails", args: [3]}}
  raises: {{type: "{TARGETS}:ProtocolError", match: "after \\\\d+ attempts"}}
- call: {{function: "{TARGETS}:fails", args: [3]}}
  raises: "{TARGETS}.ProtocolError"
- call: {{function: "{TARGETS}:fails", args: [3]}}
  raises: Exception
""",
    )


def test_a_message_pattern_that_does_not_match_fails_the_step(tmp_path: Path) -> None:
    failure = _fails(
        tmp_path,
        f"""
- call: {{function: "{TARGETS}:fails", args: [3]}}
  raises: {{type: "{TARGETS}:ProtocolError", match: "^retry"}}
""",
    )
    assert "whose message matches /^retry/" in failure.expected
    assert "does not match" in str(failure)


def test_an_awaitable_where_a_value_was_expected_is_named(tmp_path: Path) -> None:
    failure = _fails(tmp_path, f'- call: {{function: "{TARGETS}:returns_coroutine"}}\n  returns: 3')
    assert failure.place is not None and failure.place.line == 5
    assert "returned an awaitable (coroutine add_later)" in failure.observed
    assert "await: true" in failure.observed
    _run(tmp_path, f'- call: {{function: "{TARGETS}:returns_coroutine", await: true}}\n  returns: 3')


@pytest.mark.parametrize(
    ("function", "words"),
    [
        ("tests.support.no_such_module:add", "cannot import module 'tests.support.no_such_module'"),
        (f"{TARGETS}:ad", "has no attribute 'ad' (did you mean 'add'?)"),
        (f"{TARGETS}:NOT_CALLABLE", "is int 42, not callable"),
        (f"{TARGETS}:Counter.bmup", "has no attribute 'bmup' (did you mean 'bump'?)"),
    ],
)
def test_an_import_path_that_does_not_resolve_is_reported_at_the_step(
    tmp_path: Path, function: str, words: str
) -> None:
    failure = _fails(tmp_path, f'- call: {{function: "{function}"}}\n  raises: Exception')
    assert failure.place is not None and failure.place.line == 5
    assert failure.expected == "arguments that can be resolved"
    assert words in failure.observed, failure.observed


def test_a_harness_error_is_never_an_expected_exception(tmp_path: Path) -> None:
    failure = _fails(tmp_path, "- socket: {as: c}\n- call: {object: c, method: detahc}\n  raises: Exception")
    assert "did you mean 'detach'" in str(failure)
    assert "a harness error" in str(failure)


def test_a_hanging_sync_call_is_ended_by_the_step_timeout(tmp_path: Path) -> None:
    call_targets.RELEASE.clear()
    started = time.perf_counter()
    failure = _fails(tmp_path, f'- call: {{function: "{TARGETS}:block_until_released", timeout: 200ms}}')
    assert time.perf_counter() - started < 5
    assert failure.place is not None and failure.place.number == "1" and failure.place.line == 5
    assert "did not return within the step timeout (0.2s)" in failure.observed
    assert "left running as a daemon thread" in failure.observed
    stuck = [t for t in threading.enumerate() if t.name.startswith("sockharness call")]
    assert stuck, "the stuck call's thread should still be there until released"
    call_targets.RELEASE.set()
    for thread in stuck:
        thread.join(5)
        assert not thread.is_alive()


def test_a_hanging_await_is_cancelled_at_the_step_timeout(tmp_path: Path) -> None:
    started = time.perf_counter()
    failure = _fails(tmp_path, f'- call: {{function: "{TARGETS}:sleep_forever", timeout: 200ms}}')
    assert time.perf_counter() - started < 5
    assert "was still awaiting after the step timeout (0.2s): it was cancelled" in failure.observed


def test_wait_for_makes_the_timeout_an_expected_outcome(tmp_path: Path) -> None:
    _run(
        tmp_path,
        f"""
- call: {{function: "{TARGETS}:sleep_forever", wait_for: 50ms}}
  raises: {{type: TimeoutError, errno: null}}
  elapsed: {{min: 45ms, max: 2s}}
""",
    )


def test_the_event_loop_is_closed_with_the_run_and_leftover_tasks_cancelled(tmp_path: Path) -> None:
    _run(
        tmp_path,
        """
- call: {function: "asyncio:sleep", args: [0]}
- call: {function: "asyncio:ensure_future", args: [{value: null}], await: false}
  raises: TypeError
""",
    )


@pytest.mark.parametrize(
    ("call", "words"),
    [
        ("{}", "call needs one of function, object"),
        ('{function: "a:b", object: $x}', "call takes only one of function, object"),
        ('{function: "not a path"}', "expected an import path"),
        ("{object: c}", "call on an object needs one of method, get"),
        ('{function: "a:b", method: m}', "method goes with object:"),
        ("{object: c, get: x, args: [1]}", "get reads an attribute: it takes no args"),
        ('{function: "a:b", wait_for: 1s, await: false}', "wait_for awaits the call"),
        ('{function: "a:b", wait_for: 5s}', "wait_for (5s) must be shorter than the step timeout (5s)"),
        ('{function: "a:b", args: ["$"]}', "expected a variable like $name"),
        ('{function: "a:b", args: [{host: srv, port: srv}]}', "mapping with these keys write {dict"),
        ('{function: "a:b", args: [{bytes: {sise: 3}}]}', "sise"),
    ],
)
def test_validate_checks_the_shape_without_importing(call: str, words: str) -> None:
    text = (
        "scenarios:\n  - name: s\n    description: d\n    steps:\n"
        f"      - socket: {{as: c}}\n      - call: {call}\n"
    )
    with pytest.raises(ScenarioError) as caught:
        load_text(text)
    assert words in str(caught.value)


def test_validate_checks_references_but_never_imports() -> None:
    text = (
        "scenarios:\n  - name: s\n    description: d\n    steps:\n"
        '      - call: {function: "surely_not_installed_pkg.mod:f", args: [$nothing, {port: nopeer}]}\n'
    )
    with pytest.raises(ScenarioError) as caught:
        load_text(text)
    message = str(caught.value)
    assert "unknown variable $nothing" in message and "unknown peer or socket 'nopeer'" in message
    assert "2 problems" in message and "cannot import" not in message  # spelled, never imported


def test_raises_type_accepts_builtins_and_import_paths_only() -> None:
    base = "scenarios:\n  - name: s\n    description: d\n    steps:\n      - sleep: 0\n        raises: "
    load_text(base + "EOFError\n")
    load_text(base + '"asyncio:IncompleteReadError"\n')
    with pytest.raises(ScenarioError) as caught:
        load_text(base + "IncompleteReadErorr\n")
    assert "or its import path like 'asyncio:IncompleteReadError'" in str(caught.value)
    with pytest.raises(ScenarioError) as caught:
        load_text(base + '{type: OSError, match: "(unclosed"}\n')
    assert "not a regular expression" in str(caught.value)


def test_validate_never_imports_the_code_a_call_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Validating is reading: a module whose import has a side effect is not imported by load/validate."""
    (tmp_path / "explodes_on_import.py").write_text("raise RuntimeError('imported!')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    text = (
        "scenarios:\n  - name: s\n    description: d\n    steps:\n"
        '      - call: {function: "explodes_on_import:f"}\n'
        '        raises: {type: "explodes_on_import:Boom", match: "x"}\n'
    )
    load_text(text)
    assert "explodes_on_import" not in sys.modules


def test_a_sync_call_runs_beside_an_await_but_two_awaits_do_not_overlap(tmp_path: Path) -> None:
    failure = _fails(
        tmp_path,
        f"""
- concurrently:
    background:
      - call: {{function: "asyncio:sleep", args: [0.5]}}
    steps:
      - sleep: 100ms
      - call: {{function: "{TARGETS}:add", args: [1, 1]}}
        returns: 2
      - call: {{function: "{TARGETS}:add_later", args: [1, 1]}}
""",
    )
    assert failure.place is not None and failure.place.number == "1.3"
    assert "the scenario's event loop is still busy with call asyncio:sleep" in failure.observed
