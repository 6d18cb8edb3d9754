"""External peers: loopback only unless ``allow_non_loopback`` says otherwise; ``{python}`` in argv."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from sockharness.scenario._api import run_scenario
from sockharness.scenario._language.errors import ScenarioError
from sockharness.scenario._language.loader import load_text
from sockharness.scenario._run.external import ExternalTarget, substitute

_DECLARATION = """
scenarios:
  - name: ext
    description: an external peer
    peers:
      ext:
        kind: external
        address: "{address}"
        argv: ["{{python}}", "-c", "pass"]
{extra}
    steps:
      - sleep: 1ms
"""


def _load(address: str, extra: str = "") -> object:
    return load_text(textwrap.dedent(_DECLARATION.format(address=address, extra=extra)), "ext.yaml")


@pytest.mark.parametrize("address", ["0.0.0.0:0", "[::]:0", "192.0.2.7:80"])
def test_a_non_loopback_external_address_is_refused_at_validate_time(address):
    with pytest.raises(ScenarioError) as caught:
        _load(address)
    message = str(caught.value)
    assert "ext.yaml:8" in message  # the address line
    assert "must be loopback" in message and "allow_non_loopback: true" in message


@pytest.mark.parametrize("address", ["127.0.0.1:0", "[::1]:0", "localhost:0"])
def test_loopback_external_addresses_validate(address):
    _load(address)


def test_allow_non_loopback_is_the_documented_way_out():
    _load("0.0.0.0:0", "        allow_non_loopback: true")


def test_a_non_loopback_external_address_is_refused_at_run_time_too():
    with pytest.raises(ValueError, match=r"host '0.0.0.0' is not loopback.*allow_non_loopback=True"):
        ExternalTarget(["true"], host="0.0.0.0", name="ext")
    ExternalTarget(["true"], host="0.0.0.0", name="ext", allow_non_loopback=True)  # allowed: not started


def test_python_placeholder_is_the_running_interpreter():
    assert substitute(["{python}", "-m", "srv", "{host}:{port}"], "127.0.0.1", 9) == [
        sys.executable,
        "-m",
        "srv",
        "127.0.0.1:9",
    ]


def test_python_placeholder_runs_the_external_program(tmp_path: Path):
    server = tmp_path / "upper.py"
    server.write_text(
        "import socket, sys\n"
        "listener = socket.create_server(('127.0.0.1', int(sys.argv[1])))\n"
        "conn, _ = listener.accept()\n"  # the readiness probe
        "conn.close()\n"
        "conn, _ = listener.accept()\n"
        "conn.sendall(sys.executable.encode())\n"
        "conn.close()\n"
    )
    scenario = tmp_path / "python.yaml"
    scenario.write_text(
        textwrap.dedent(
            f"""
            scenarios:
              - name: python-placeholder
                description: argv's {{python}} is the interpreter running the tests
                peers:
                  ext:
                    kind: external
                    address: "127.0.0.1:0"
                    argv: ["{{python}}", {str(server)!r}, "{{port}}"]
                steps:
                  - socket: {{as: c}}
                  - settimeout: {{socket: c, value: 10s}}
                  - connect: {{socket: c, address: ext}}
                  - recv_until: {{socket: c, size: {len(sys.executable.encode())}}}
                    bytes: {sys.executable!r}
            """
        )
    )
    assert run_scenario(scenario, "python-placeholder", seed=1).status == "passed"
