"""The shape of an import path (``package.module:qualname`` or ``package.module.name``), checked without
importing anything.

``sockharness validate`` must be able to check a file whose ``call`` steps name the user's code without
running that code (importing a module runs it), so the language only checks the spelling here; the run
imports (``sockharness.scenario._actions.imports``) and reports what does not resolve at file:line.
"""

from __future__ import annotations

import builtins
import re
from typing import Annotated, Final

from pydantic import WithJsonSchema

from sockharness.scenario._language.errors import describe_value, did_you_mean
from sockharness.scenario._language.model_types import ALLOWED_EXCEPTIONS, parsed_by

__all__ = [
    "ATTRIBUTE_PATH_PATTERN",
    "IMPORT_PATH_PATTERN",
    "AttributePath",
    "ExceptionRef",
    "ImportPath",
    "builtin_exception_names",
    "is_import_path",
]

_IDENTIFIER: Final = r"[A-Za-z_][A-Za-z0-9_]*"
_DOTTED: Final = rf"{_IDENTIFIER}(\.{_IDENTIFIER})*"
#: ``pkg.mod:Class.method`` (explicit split) or ``pkg.mod.name`` (at least one dot; the longest importable
#: prefix is the module).
IMPORT_PATH_PATTERN: Final = rf"^({_DOTTED}:{_DOTTED}|{_IDENTIFIER}(\.{_IDENTIFIER})+)$"
#: ``method`` or ``transport.get_write_buffer_size``: attribute names below an object.
ATTRIBUTE_PATH_PATTERN: Final = rf"^{_DOTTED}$"
#: The shape of every builtin exception's name (the loader checks the name itself).
BUILTIN_EXCEPTION_PATTERN: Final = (
    r"^([A-Z][A-Za-z0-9]*)?(Error|Exception|Warning|Exit|Interrupt|Iteration|Group)$"
)
_IMPORT_PATH_RE: Final = re.compile(IMPORT_PATH_PATTERN)
_ATTRIBUTE_PATH_RE: Final = re.compile(ATTRIBUTE_PATH_PATTERN)


def is_import_path(text: str) -> bool:
    return bool(_IMPORT_PATH_RE.match(text))


def builtin_exception_names() -> tuple[str, ...]:
    """The exception classes of :mod:`builtins` (``EOFError``, ``RuntimeError``...), sorted."""
    return tuple(
        sorted(
            name
            for name, value in vars(builtins).items()
            if isinstance(value, type) and issubclass(value, BaseException) and not name.startswith("_")
        )
    )


def _check_import_path(value: object) -> str:
    if not isinstance(value, str) or not _IMPORT_PATH_RE.match(value):
        raise ValueError(
            "expected an import path like 'package.module:function' or 'package.module:Class.method', "
            f"got {describe_value(value)}"
        )
    return value


def _check_attribute_path(value: object) -> str:
    if not isinstance(value, str) or not _ATTRIBUTE_PATH_RE.match(value):
        raise ValueError(
            f"expected an attribute name like 'close' or 'transport.abort', got {describe_value(value)}"
        )
    return value


def _check_exception_ref(value: object) -> str:
    """A builtin exception class by name (``OSError``, ``EOFError``), or any class by import path."""
    if isinstance(value, str) and (value in ALLOWED_EXCEPTIONS or value in builtin_exception_names()):
        return value
    if isinstance(value, str) and _IMPORT_PATH_RE.match(value):
        return value
    known = (*ALLOWED_EXCEPTIONS, *builtin_exception_names())
    hint = did_you_mean(value, known)
    raise ValueError(
        f"expected an exception class ({', '.join(ALLOWED_EXCEPTIONS)}, any other builtin exception), "
        f"or its import path like 'asyncio:IncompleteReadError', got {describe_value(value)}{hint}"
    )


#: A callable (or any object) of the user's project, by import path; imported only when the step runs.
ImportPath = Annotated[
    str,
    parsed_by(_check_import_path),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": IMPORT_PATH_PATTERN,
            "description": "an import path: 'package.module:qualname' (or 'package.module.name')",
        }
    ),
]
#: Attribute names below an object (``method: transport.abort``).
AttributePath = Annotated[
    str,
    parsed_by(_check_attribute_path),
    WithJsonSchema({"type": "string", "pattern": ATTRIBUTE_PATH_PATTERN, "description": "attribute name(s)"}),
]
#: ``raises: {type: ...}``: a builtin exception class name, or a class by import path.
ExceptionRef = Annotated[
    str,
    parsed_by(_check_exception_ref),
    WithJsonSchema(
        {
            "anyOf": [
                {"enum": list(ALLOWED_EXCEPTIONS)},
                {"type": "string", "pattern": BUILTIN_EXCEPTION_PATTERN},  # another builtin: checked on load
                {"type": "string", "pattern": IMPORT_PATH_PATTERN},
            ],
            "description": "a builtin exception class, or an import path ('asyncio:IncompleteReadError')",
        }
    ),
]
