"""The pytest plugin, loaded through the ``pytest11`` entry point.

It only wires the layers together: each layer keeps its fixtures and hooks in its own module under
``sockharness.fixtures`` so that the layers stay independent and this file stays thin.
"""

from __future__ import annotations

pytest_plugins = [
    "sockharness.fixtures.options",
    "sockharness.fixtures.peers",
    "sockharness.fixtures.faults",
    "sockharness.fixtures.scenarios",
    "sockharness.fixtures.netns",
    "sockharness.fixtures.leaks",
]
