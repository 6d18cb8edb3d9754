"""Where each part of a scenario file was written: key path -> 1-based line, for failure messages.

The runner reports a failed step as ``file:line`` and quotes it. The loader keeps these positions from
its one parse (:class:`~sockharness.scenario.LoadedFile` ``.locate``); :func:`line_index` remains
for text that is not loaded as a scenario file, e.g. ``("scenarios", 0, "steps", 3) -> 27``.
"""

from __future__ import annotations

from collections.abc import Callable

import yaml

KeyPath = tuple[str | int, ...]

_MAX_DEPTH = 64  # the loader refuses deeper files; this only bounds the walk


def line_index(text: str) -> dict[KeyPath, int]:
    """Every container and scalar value's line under its key path; empty if the text is not YAML."""
    try:
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return {}
    index: dict[KeyPath, int] = {}
    if root is None:
        return index
    pending: list[tuple[yaml.Node, KeyPath]] = [(root, ())]
    while pending:
        node, path = pending.pop()
        index[path] = node.start_mark.line + 1
        if len(path) >= _MAX_DEPTH:
            continue
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    pending.append((value, (*path, key.value)))
        elif isinstance(node, yaml.SequenceNode):
            for position, item in enumerate(node.value):
                pending.append((item, (*path, position)))
    return index


def locator(index: dict[KeyPath, int]) -> Callable[[KeyPath], int | None]:
    """A function giving the line of a path, falling back to its nearest recorded ancestor."""

    def locate(path: KeyPath) -> int | None:
        probe = path
        while True:
            if probe in index:
                return index[probe]
            if not probe:
                return None
            probe = probe[:-1]

    return locate
