"""Lazy package exports (PEP 562), shared by the root package and its layers.

pytest imports ``sockharness`` at every start through the plugin entry point, so a package's public names
must not import what they name (pydantic models, the epoll engine) until someone uses them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, namespace: dict[str, Any], exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``.

    ``exports`` maps a public name to ``"module"`` (the attribute of the same name there, or the module itself
    when the module is called that) or ``"module:attribute"`` (exported under another name).
    """

    def __getattr__(name: str) -> Any:
        target = exports.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module_name, _, attribute = target.partition(":")
        module = importlib.import_module(module_name)
        if attribute:
            value = getattr(module, attribute)
        elif module.__name__.rpartition(".")[2].lstrip("_") == name:
            value = module
        else:
            value = getattr(module, name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
