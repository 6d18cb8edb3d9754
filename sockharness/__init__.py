"""sockharness: real loopback socket peers, YAML scenarios and fault injection for testing network code.

The names below are imported on first use (PEP 562), so ``import sockharness`` — which pytest does at every
start through the plugin entry point — does not load the scenario models or the fault engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sockharness._lazy import lazy_exports

__version__ = "0.3.1"

_EXPORTS: dict[str, str] = {
    # errno portability
    "assert_errno": "sockharness._errnos",
    "describe_exception": "sockharness._errnos",
    "errno_name": "sockharness._errnos",
    "is_errno": "sockharness._errnos",
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
    "steps": "sockharness.peers._steps",
    # pytest integration
    "SEED_KEY": "sockharness.fixtures._options",
    # faults
    "EmbeddedBackend": "sockharness.faults",
    "FaultBackend": "sockharness.faults",
    "FaultEngine": "sockharness.faults",
    "FaultProxy": "sockharness.faults",
    "ListenError": "sockharness.faults",
    "ToxiproxyAPIServer": "sockharness.faults",
    "ToxiproxyBackend": "sockharness.faults",
    # scenarios
    "ScenarioFailure": "sockharness.scenario",
    "ScenarioError": "sockharness.scenario",
    "ScenarioPeers": "sockharness.scenario",
    "ScenarioResult": "sockharness.scenario",
    "load_scenarios": "sockharness.scenario",
    "run_scenario": "sockharness.scenario",
    "scenario_peers": "sockharness.scenario",
    "start_scenario_peers": "sockharness.scenario",
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


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)


if TYPE_CHECKING:
    from sockharness._errnos import assert_errno, describe_exception, errno_name, is_errno
    from sockharness.faults import (
        EmbeddedBackend,
        FaultBackend,
        FaultEngine,
        FaultProxy,
        ListenError,
        ToxiproxyAPIServer,
        ToxiproxyBackend,
    )
    from sockharness.fixtures._options import SEED_KEY
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
    )
    from sockharness.peers import _steps as steps
    from sockharness.scenario import (
        ScenarioError,
        ScenarioFailure,
        ScenarioPeers,
        ScenarioResult,
        load_scenarios,
        run_scenario,
        scenario_peers,
        start_scenario_peers,
    )
