"""Private network namespace mode and nftables packet faults (Linux, root).

``enter_private_netns()`` moves the process into its own network namespace (own ``lo``, own ruleset,
own ``net.*`` sysctls); ``PacketFaults`` then drops, loses, rejects or cuts packets on one port there.
Nothing here can touch the host: faults refuse to run outside the namespace. ``system_resolver()`` points
``getaddrinfo`` at a DNS peer, through files bind-mounted in the mode's private mount namespace.
"""

from sockharness.netns._faults import PacketFaultError, PacketFaults
from sockharness.netns._namespace import (
    DEFAULT_SYSCTLS,
    NetnsInfo,
    NetnsUnavailable,
    enter_private_netns,
    netns_active,
    preflight_problem,
)
from sockharness.netns._resolver import resolver_problem, system_resolver
from sockharness.netns._rules import Direction, FaultKind, PacketFault, RejectWith

__all__ = [
    "DEFAULT_SYSCTLS",
    "Direction",
    "FaultKind",
    "NetnsInfo",
    "NetnsUnavailable",
    "PacketFault",
    "PacketFaultError",
    "PacketFaults",
    "RejectWith",
    "enter_private_netns",
    "netns_active",
    "preflight_problem",
    "resolver_problem",
    "system_resolver",
]
