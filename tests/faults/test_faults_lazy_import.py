"""Loading the plugin must not load the Linux-only epoll engine (issue 11, point 5).

The pytester run simulates a platform without epoll: a plugin given with ``-p`` (imported before the
``pytest11`` entry points) removes ``select.epoll`` and the ``EPOLL*`` constants, so any use of them would
fail; the run's tests then check that no engine module was imported.
"""

from __future__ import annotations

import select

import pytest

from sockharness.faults._engine.epoll import EngineUnsupported
from sockharness.faults._engine.reactor import Reactor

pytest_plugins = ["pytester"]

ENGINE_MODULES = (
    "sockharness.faults._engine.reactor",
    "sockharness.faults._engine.engine",
    "sockharness.faults._backends.embedded",
    "sockharness.faults._engine.connection",
    "sockharness.faults._engine.relay",
    "sockharness.faults._engine.timerfd",
)

NO_EPOLL_PLUGIN = """
import select

for name in [name for name in dir(select) if name == "epoll" or name.startswith("EPOLL")]:
    delattr(select, name)
"""

TESTS = f"""
import socket
import sys

ENGINE_MODULES = {ENGINE_MODULES!r}


def test_echo_without_faults(echo_server):
    with socket.create_connection(echo_server.address, timeout=5) as client:
        client.sendall(b"ping")
        assert client.recv(4) == b"ping"


def test_no_engine_module_was_imported():
    import select

    assert not hasattr(select, "epoll")  # the simulation is in force
    loaded = [name for name in ENGINE_MODULES if name in sys.modules]
    assert loaded == []
"""


#: A YAML scenario without proxy peers, collected (and run) before the Python tests above.
SCENARIO = """\
scenarios:
  - name: echo-without-faults
    description: a scenario with no proxy peer needs no fault engine
    peers:
      srv: echo
    steps:
      - socket: {as: c}
      - settimeout: {socket: c, value: 5s}
      - connect: {socket: c, address: srv}
      - sendall: {socket: c, data: "ping"}
      - recv_until: {socket: c, size: 4}
        bytes: "ping"
"""


def test_a_run_without_fault_fixtures_never_loads_the_engine(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(no_epoll_plugin=NO_EPOLL_PLUGIN, test_portable=TESTS)
    (pytester.path / "test_a_scenario.sock.yaml").write_text(SCENARIO, encoding="utf-8")
    pytester.syspathinsert()
    result = pytester.runpytest_subprocess(
        "-p", "no_epoll_plugin", "-p", "no:randomly", "-p", "no:cacheprovider", "-v"
    )
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*test_a_scenario.sock.yaml::echo-without-faults PASSED*"])


def test_the_engine_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(select, "epoll", raising=False)
    with pytest.raises(EngineUnsupported) as refused:
        Reactor()
    assert str(refused.value) == (
        "the embedded fault engine needs Linux's select.epoll, which this platform's Python lacks; "
        "use --sockharness-backend toxiproxy with a real Toxiproxy server instead"
    )
