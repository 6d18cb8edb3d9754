"""The pytest plugin, loaded through the ``pytest11`` entry point.

It only wires the layers together: each layer keeps its fixtures and hooks in its own module under
``sockharness.fixtures`` so that the layers stay independent and this file stays thin.
"""

from __future__ import annotations

pytest_plugins = [
    "sockharness.fixtures._options",
    "sockharness.fixtures._peers",
    "sockharness.fixtures._tls",
    "sockharness.fixtures._faults",
    "sockharness.fixtures._udp_faults",
    "sockharness.fixtures._scenarios",
    "sockharness.fixtures._netns",
    "sockharness.fixtures._leaks",
]
