"""The loader is bounded: the size limit is checked before parsing, and the largest accepted file has a
stated cost in time and memory.

Bounds (the limits are ``DEFAULT_MAX_BYTES`` = 4 MiB and ``value_limit(4 MiB)`` = 52,428 values):

- a file over the size limit is refused from its size alone: well under a second, no memory to speak of,
  whatever its size (before: a 50 MB file was refused after 21 s and 936 MB);
- a file over the value limit is refused by the event pre-scan, before any node tree is built;
- the largest accepted file (about 1,900 realistic scenarios, 52k values, 390 KB) loads in about 2 s
  and 40 MiB on a quiet machine. The test allows 30 s and 300 MiB: it runs on a shared 2-core machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path

import pytest

from sockharness.scenario._language.errors import ScenarioError
from sockharness.scenario._language.loader import (
    DEFAULT_MAX_BYTES,
    MAX_VALUES,
    load_file,
    load_path,
    load_text,
    value_limit,
)

SCENARIO = """\
  - name: s{index}
    description: scenario {index} with a few steps
    steps:
      - socket: {{as: c}}
      - settimeout: {{socket: c, value: 5s}}
      - getblocking: c
        returns: false
      - close: c
"""
#: Values (YAML nodes) one SCENARIO adds, and the file's own root mapping, key and list.
VALUES_PER_SCENARIO = 27
ROOT_VALUES = 3


def _scenarios(count: int) -> str:
    return "scenarios:\n" + "".join(SCENARIO.format(index=index) for index in range(count))


def _largest_accepted_count() -> int:
    return (value_limit(DEFAULT_MAX_BYTES) - ROOT_VALUES) // VALUES_PER_SCENARIO


def test_values_per_scenario_is_what_the_prescan_counts() -> None:
    import yaml

    counted = sum(
        isinstance(event, yaml.NodeEvent) for event in yaml.parse(_scenarios(10), Loader=yaml.SafeLoader)
    )
    assert counted == ROOT_VALUES + 10 * VALUES_PER_SCENARIO


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as stream:  # 50 MB, sparse: the loader must not read it to refuse it
        stream.truncate(50_000_000)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ScenarioError) as caught:
            load_file(huge)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 1024 * 1024
    problem = caught.value.problems[0]
    assert (problem.line, problem.column) == (0, 0)
    assert problem.message.startswith(
        f"the file is 50000000 bytes, more than the {DEFAULT_MAX_BYTES}-byte limit"
    )
    assert "max_bytes=" in problem.message and "sockharness_scenario_max_bytes" in problem.message


def test_a_text_over_the_size_limit_is_refused_without_parsing() -> None:
    text = "# " + "x" * DEFAULT_MAX_BYTES
    started = time.perf_counter()
    with pytest.raises(ScenarioError, match="more than the 4194304-byte limit"):
        load_text(text, "big.yaml")
    assert time.perf_counter() - started < 1.0
    multibyte = "# " + "é" * (DEFAULT_MAX_BYTES // 2)  # fewer characters than the limit, more bytes
    with pytest.raises(ScenarioError, match="more than the 4194304-byte limit"):
        load_text(multibyte, "big.yaml")


def test_max_bytes_lowers_and_raises_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "small.yaml"
    path.write_text("# padding\n" * 200 + _scenarios(1), encoding="utf-8")
    with pytest.raises(ScenarioError, match="more than the 1024-byte limit"):
        load_path(path, max_bytes=1024)
    assert load_path(path, max_bytes=64 * 1024).model.scenarios[0].name == "s0"
    assert value_limit(1024) == MAX_VALUES  # a lowered size limit never lowers the value limit
    assert value_limit(64 * DEFAULT_MAX_BYTES) >= 64 * value_limit(DEFAULT_MAX_BYTES)


def test_a_file_over_the_value_limit_is_refused_by_the_prescan() -> None:
    text = _scenarios(_largest_accepted_count() + 1)
    assert len(text) < DEFAULT_MAX_BYTES  # the byte limit alone would accept it
    with pytest.raises(ScenarioError) as caught:
        load_text(text, "dense.yaml")
    assert caught.value.message.startswith(
        f"the document holds more than {value_limit(DEFAULT_MAX_BYTES)} values"
    )
    loaded = load_text(text, "dense.yaml", max_bytes=2 * DEFAULT_MAX_BYTES)  # raising the size limit helps
    assert len(loaded.scenarios) == _largest_accepted_count() + 1


_MEASURE = textwrap.dedent(
    """
    import json, resource, sys, time
    from sockharness.scenario._language.loader import load_path
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    loaded = load_path(sys.argv[1])
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"scenarios": len(loaded.model.scenarios), "seconds": elapsed, "kib": after - before}))
    """
)


def test_the_largest_accepted_file_loads_within_the_stated_bounds(tmp_path: Path) -> None:
    count = _largest_accepted_count()
    path = tmp_path / "largest.yaml"
    path.write_text(_scenarios(count), encoding="utf-8")
    # A fresh interpreter: ru_maxrss is a high-water mark, so it must not include this test run's past.
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path)], capture_output=True, text=True, timeout=120, check=True
    )
    measured = json.loads(done.stdout)
    assert measured["scenarios"] == count
    assert measured["seconds"] < 30.0, measured
    assert measured["kib"] < 300 * 1024, measured


MISTAKEN = """\
  - name: s{index}
    descripton: x
    peers: {{srv: {{kind: echo, hots: h}}}}
    steps:
      - socket: {{as: c}}
      - recv: {{socket: c, bufsize: -5}}
      - getblocking: c
        returns: {{greater: 1}}
      - close: c
"""


def test_a_large_file_full_of_mistakes_at_every_level_is_reported_in_bounded_time() -> None:
    # The one-pass report validates once per level of unknown keys; the cost must stay linear.
    count = 1400  # about 51,800 values: just under the value limit
    text = "scenarios:\n" + "".join(MISTAKEN.format(index=index) for index in range(count))
    started = time.perf_counter()
    with pytest.raises(ScenarioError) as caught:
        load_text(text, "mistaken.yaml")
    assert time.perf_counter() - started < 60.0  # about 4 s on a quiet machine
    assert len(caught.value.problems) == 5 * count  # hots: h is checked as the host it stands for
