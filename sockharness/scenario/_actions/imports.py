"""Import what a scenario names by import path (``call`` targets, ``raises`` classes) when the step runs.

The language only checked the spelling (``_language/import_paths.py``); here the module is imported and the
attributes are walked. Every way this can fail becomes one :class:`ImportPathError` sentence that names the
path, the part that did not resolve and, where a near spelling exists, what was probably meant. The runner
reports it at the step's file:line.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from typing import Final

from sockharness.scenario._actions.base import ScenarioSetupError
from sockharness.scenario._language.errors import did_you_mean

__all__ = ["ImportPathError", "attribute", "import_object"]

#: Names listed in a "has no attribute" message at most (a module can hold hundreds).
_LISTED: Final = 12


class ImportPathError(ScenarioSetupError):
    """An import path or attribute name that does not resolve; a harness error, never an expected outcome."""


def _public_names(owner: object) -> list[str]:
    return sorted(name for name in dir(owner) if not name.startswith("_"))


def _missing_attribute(owner: object, name: str, shown: str) -> ImportPathError:
    names = _public_names(owner)
    hint = did_you_mean(name, names)
    listing = (
        "" if hint else f" (it has: {', '.join(names[:_LISTED])}{', ...' if len(names) > _LISTED else ''})"
    )
    return ImportPathError(f"{shown} has no attribute {name!r}{hint}{listing}")


def attribute(owner: object, dotted: str, shown: str) -> object:
    """``owner.a.b`` for ``dotted == "a.b"``; ``shown`` is how ``owner`` reads in a message."""
    value = owner
    for name in dotted.split("."):
        try:
            value = getattr(value, name)
        except AttributeError:
            raise _missing_attribute(value, name, shown) from None
        shown = f"{shown}.{name}"
    return value


def _sibling_modules(module: str) -> list[str]:
    """Module names next to ``module`` (for a did-you-mean), without importing them."""
    parent, _, _ = module.rpartition(".")
    if not parent:
        return sorted({info.name for info in pkgutil.iter_modules()} | set(sys.builtin_module_names))
    package = sys.modules.get(parent)
    paths = getattr(package, "__path__", None)
    if paths is None:
        return []
    return sorted(f"{parent}.{info.name}" for info in pkgutil.iter_modules(paths))


def _import_module(module: str, path: str) -> object:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        missing = error.name or module
        hint = did_you_mean(missing, _sibling_modules(missing)) if module.startswith(missing) else ""
        raise ImportPathError(
            f"{path}: cannot import module {module!r} (no module named {missing!r}){hint}; "
            "is the project installed, or its folder on sys.path?"
        ) from None
    except Exception as error:  # the module itself failed while importing: show where
        raise ImportPathError(
            f"{path}: importing module {module!r} raised {type(error).__name__}: {error}"
        ) from error


def import_object(path: str) -> object:
    """The object ``path`` names: ``pkg.mod:Class.attr`` (explicit), or ``pkg.mod.name`` (the longest
    prefix that imports is the module)."""
    if ":" in path:
        module, _, qualname = path.partition(":")
        return attribute(_import_module(module, path), qualname, module)
    parts = path.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module = ".".join(parts[:split])
        try:
            found = importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name is not None and module.startswith(error.name):
                continue  # this prefix is not a module: try a shorter one
            raise ImportPathError(
                f"{path}: importing module {module!r} failed: no module named {error.name!r}"
            ) from None
        except Exception as error:
            raise ImportPathError(
                f"{path}: importing module {module!r} raised {type(error).__name__}: {error}"
            ) from error
        return attribute(found, ".".join(parts[split:]), module)
    _import_module(parts[0], path)  # raises the clear "no module named" error
    raise ImportPathError(f"{path}: write it as 'module:name'")  # pragma: no cover - the line above raised
