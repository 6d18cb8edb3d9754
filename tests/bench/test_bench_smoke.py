"""The benchmark machinery runs end to end at a tiny size (``--quick``). No performance assertions:
figures on a shared 2-core machine say nothing in a test; only that every section produced rows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = {"throughput", "roundtrip", "toxic accuracy", "concurrency", "harness", "udp", "tls"}


def run_bench(tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    result_json, chart = tmp_path / "bench.json", tmp_path / "bench.png"
    command = [sys.executable, "-m", "bench", "--quick", "--json", str(result_json), "--png", str(chart)]
    command += extra
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=150, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    document: dict[str, Any] = json.loads(result_json.read_text())
    assert chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    return done, document


@pytest.mark.timeout(180)
def test_quick_run_prints_one_table_and_writes_json_and_png(tmp_path: Path) -> None:
    done, document = run_bench(tmp_path)
    rows = document["rows"]
    assert {row["section"] for row in rows} == SECTIONS
    assert not [row for row in rows if row["figure"] == "section"], "a section crashed"
    direct = [row for row in rows if row["mode"] == "direct"]
    assert direct and all(row["value"] is not None for row in direct), direct
    for row in rows:
        # every row either has a measured value or says why not; never a silent blank
        assert row["value"] is not None or row["note"], row
    assert done.stdout.count("figure ") == 1  # one table
    assert "[throughput]" in done.stdout and "target" in done.stdout
    assert document["config"]["quick"] is True


@pytest.mark.timeout(120)
def test_absent_toxiproxy_is_reported_and_the_rest_still_runs(tmp_path: Path) -> None:
    absent = tmp_path / "no-such-toxiproxy"
    done, document = run_bench(tmp_path, "--only", "throughput", "--toxiproxy", str(absent))
    assert "toxiproxy" in document["meta"]["missing"]
    rows = {(row["figure"], row["mode"]): row for row in document["rows"]}
    toxiproxy_rows = [row for (_, mode), row in rows.items() if mode == "toxiproxy"]
    assert toxiproxy_rows and all(row["value"] is None for row in toxiproxy_rows)
    assert all(row["note"] == "toxiproxy absent" for row in toxiproxy_rows)
    assert any(mode == "direct" and row["value"] is not None for (_, mode), row in rows.items())
    assert f"Toxiproxy server not found ({absent})" in done.stdout


def test_unknown_section_is_refused_with_the_choices(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "bench", "--only", "nope"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "invalid choice: 'nope'" in done.stderr and "throughput" in done.stderr
