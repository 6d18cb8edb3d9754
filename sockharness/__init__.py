"""sockharness: real loopback socket peers, YAML scenarios and fault injection for testing network code.

The names below are imported on first use (PEP 562), so ``import sockharness`` — which pytest does at every
start through the plugin entry point — does not load the scenario models or the fault engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # errno portability
    "assert_errno": "sockharness.errnos",
    "describe_exception": "sockharness.errnos",
    "errno_name": "sockharness.errnos",
    "is_errno": "sockharness.errnos",
    # peers
    "ClosedPort": "sockharness.peers",
    "DiscardServer": "sockharness.peers",
    "EchoServer": "sockharness.peers",
    "FullBacklog": "sockharness.peers",
    "HTTPHelloServer": "sockharness.peers",
    "PeerError": "sockharness.peers",
    "Registry": "sockharness.peers",
    "ReplyServer": "sockharness.peers",
    "ScriptedTCPClient": "sockharness.peers",
    "ScriptedTCPServer": "sockharness.peers",
    "SilentServer": "sockharness.peers",
    "UDPClosedPort": "sockharness.peers",
    "UDPEcho": "sockharness.peers",
    "steps": "sockharness.peers.steps",
    # pytest integration
    "SEED_KEY": "sockharness.fixtures.options",
    # faults
    "EmbeddedBackend": "sockharness.faults.embedded",
    "FaultBackend": "sockharness.faults.interface",
    "FaultEngine": "sockharness.faults.engine",
    "FaultProxy": "sockharness.faults.interface",
    "ListenError": "sockharness.faults.errors",
    "ToxiproxyAPIServer": "sockharness.faults.http_api",
    "ToxiproxyBackend": "sockharness.faults.toxiproxy_backend",
    # scenarios
    "ScenarioFailure": "sockharness.scenario.failure",
    "ScenarioError": "sockharness.scenario.errors",
    "ScenarioPeers": "sockharness.scenario.api",
    "ScenarioResult": "sockharness.scenario.report",
    "load_scenarios": "sockharness.scenario.api",
    "run_scenario": "sockharness.scenario.api",
    "scenario_peers": "sockharness.scenario.api",
    "start_scenario_peers": "sockharness.scenario.api",
}

__all__ = [
    "SEED_KEY",
    "ClosedPort",
    "DiscardServer",
    "EchoServer",
    "EmbeddedBackend",
    "FaultBackend",
    "FaultEngine",
    "FaultProxy",
    "FullBacklog",
    "HTTPHelloServer",
    "ListenError",
    "PeerError",
    "Registry",
    "ReplyServer",
    "ScenarioError",
    "ScenarioFailure",
    "ScenarioPeers",
    "ScenarioResult",
    "ScriptedTCPClient",
    "ScriptedTCPServer",
    "SilentServer",
    "ToxiproxyAPIServer",
    "ToxiproxyBackend",
    "UDPClosedPort",
    "UDPEcho",
    "__version__",
    "assert_errno",
    "describe_exception",
    "errno_name",
    "is_errno",
    "load_scenarios",
    "run_scenario",
    "scenario_peers",
    "start_scenario_peers",
    "steps",
]


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'sockharness' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if name == "steps" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:
    from sockharness.errnos import assert_errno, describe_exception, errno_name, is_errno
    from sockharness.faults.embedded import EmbeddedBackend
    from sockharness.faults.engine import FaultEngine
    from sockharness.faults.errors import ListenError
    from sockharness.faults.http_api import ToxiproxyAPIServer
    from sockharness.faults.interface import FaultBackend, FaultProxy
    from sockharness.faults.toxiproxy_backend import ToxiproxyBackend
    from sockharness.fixtures.options import SEED_KEY
    from sockharness.peers import (
        ClosedPort,
        DiscardServer,
        EchoServer,
        FullBacklog,
        HTTPHelloServer,
        PeerError,
        Registry,
        ReplyServer,
        ScriptedTCPClient,
        ScriptedTCPServer,
        SilentServer,
        UDPClosedPort,
        UDPEcho,
        steps,
    )
    from sockharness.scenario.api import (
        ScenarioPeers,
        load_scenarios,
        run_scenario,
        scenario_peers,
        start_scenario_peers,
    )
    from sockharness.scenario.errors import ScenarioError
    from sockharness.scenario.failure import ScenarioFailure
    from sockharness.scenario.report import ScenarioResult
