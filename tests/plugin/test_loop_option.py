"""``--sockharness-loop`` chooses the event loop that awaited ``call`` steps run on."""

from __future__ import annotations

import pytest

SCENARIO = """
scenarios:
  - name: which-loop
    description: awaited call steps run on the loop --sockharness-loop names
    steps:
      - call: {function: "asyncio:get_event_loop"}
        save: loop
      - call: {function: "builtins:isinstance", args: [$loop, {import: "uvloop:Loop"}]}
        returns: true
"""


def test_uvloop_runs_the_call_steps_only_when_asked(pytester: pytest.Pytester) -> None:
    pytest.importorskip("uvloop")
    pytester.makefile(".sock.yaml", test_loop=SCENARIO)
    pytester.runpytest("-p", "no:randomly", "--sockharness-loop", "uvloop").assert_outcomes(passed=1)
    pytester.runpytest("-p", "no:randomly").assert_outcomes(failed=1)


def test_a_loop_that_is_neither_a_name_nor_an_import_path_stops_the_run(pytester: pytest.Pytester) -> None:
    pytester.makefile(".sock.yaml", test_loop=SCENARIO)
    result = pytester.runpytest("-p", "no:randomly", "--sockharness-loop", "uvlop")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--sockharness-loop 'uvlop': expected asyncio, uvloop or package.module:factory*"]
    )
