"""Building blocks of the scenario model: the strict base class and the validated scalar types.

Every scalar type is an ``Annotated`` alias with one plain validator (so a wrong value yields exactly one
error with a sentence a person can act on) and an explicit JSON Schema (so the published schema checks
the same shape). Errors carry ``ctx["detail"]`` (the sentence) and optionally ``ctx["subpath"]`` (keys
below the validated value) and ``ctx["at_key"]`` (point at the key rather than its value); the loader
turns them into file:line:column diagnostics.
"""

from __future__ import annotations

import errno
import keyword
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Final

from pydantic import BaseModel, ConfigDict, PlainValidator, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from sockharness._errnos import GAI_CODES
from sockharness._units import DURATION_PATTERN, SIZE_PATTERN, parse_duration, parse_size
from sockharness.peers._addresses import parse_host_port
from sockharness.scenario._language.errors import closest, describe_value, did_you_mean

__all__ = [
    "ALLOWED_EXCEPTIONS",
    "NAME_PATTERN",
    "SOCKET_CONSTANT_PATTERN",
    "VARIABLE_PATTERN",
    "Address",
    "AddressSpec",
    "Count",
    "Duration",
    "ErrnoName",
    "ExceptionName",
    "Name",
    "PayloadSize",
    "PositiveCount",
    "RawInt",
    "Size",
    "StrictModel",
    "VarName",
    "check_errno_name",
    "check_exclusive",
    "fail",
    "parse_variable",
    "parsed_by",
    "socket_constant",
]

#: Exceptions a step may expect (``raises:``): the builtin OSError family plus what socket calls raise.
ALLOWED_EXCEPTIONS: Final[tuple[str, ...]] = (
    "OSError",
    "TimeoutError",
    "BlockingIOError",
    "ConnectionError",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "BrokenPipeError",
    "ConnectionAbortedError",
    "InterruptedError",
    "ValueError",
    "TypeError",
    "OverflowError",
    "socket.gaierror",
    "ssl.SSLError",
    "ssl.SSLCertVerificationError",
    "ssl.SSLEOFError",
    "ssl.SSLZeroReturnError",
    "ssl.SSLWantReadError",
    "ssl.SSLWantWriteError",
    "ssl.SSLSyscallError",
)
#: Peer and socket names: the dict key / ``as:`` value. No ``:`` so they never look like "host:port".
NAME_PATTERN: Final = r"^[A-Za-z_][A-Za-z0-9_-]*$"
#: ``$name``, ``$name[0]``, ``$name[0][1]``: a saved value, optionally indexed.
VARIABLE_PATTERN: Final = r"^\$[A-Za-z_][A-Za-z0-9_]*(\[-?[0-9]+\])*$"
ERRNO_NAME_PATTERN: Final = r"^(E[A-Z0-9]+|EAI_[A-Z0-9]+)$"  # EAI_*: socket.gaierror's codes
#: A socket module constant as a matcher value (``returns: SOCK_STREAM``): compared as its number.
SOCKET_CONSTANT_PATTERN: Final = r"^(AF|SOCK|SOL|SO|IPPROTO|IP|IPV6|TCP|MSG|SHUT|SCM)_[A-Z0-9_]+$"
#: 1 GiB: a payload is built in memory, so bigger ones would only exhaust it.
MAX_PAYLOAD_BYTES: Final = 1024**3

_NAME_RE = re.compile(NAME_PATTERN)
_VARIABLE_RE = re.compile(VARIABLE_PATTERN)
_VARIABLE_PARTS_RE = re.compile(r"\[(-?[0-9]+)\]")
_ERRNO_RE = re.compile(ERRNO_NAME_PATTERN)


def fail(
    detail: str,
    *,
    subpath: Sequence[str | int] = (),
    at_key: bool = False,
    unknown_key: bool = False,
    meant: str | None = None,
) -> PydanticCustomError:
    """Build the one error type the loader renders verbatim (``detail`` is the whole sentence).

    ``unknown_key`` marks a key the model does not know (``meant``: the key it was probably meant as), as
    data the loader acts on, so it never has to read the sentence back."""
    context: dict[str, Any] = {"detail": detail}
    if subpath:
        context["subpath"] = list(subpath)
    if at_key:
        context["at_key"] = True
    if unknown_key:
        context["unknown_key"] = True
        if meant is not None:
            context["meant"] = meant
    return PydanticCustomError("sockharness", "{detail}", context)


class StrictModel(BaseModel):
    """Immutable, rejects unknown keys with a did-you-mean hint, accepts both field names and aliases."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True, strict=True
    )
    #: Name shown in "expected ..." messages when a non-mapping is given.
    what: ClassVar[str] = "a mapping"

    @classmethod
    def yaml_keys(cls) -> list[str]:
        """The keys a YAML author writes (aliases where a field name is a Python keyword)."""
        return [info.alias or name for name, info in cls.model_fields.items()]

    @model_validator(mode="before")
    @classmethod
    def _check_keys(cls, data: object) -> object:
        if isinstance(data, cls):
            return data
        if not isinstance(data, dict):
            raise fail(f"expected {cls.what}, got {describe_value(data)}")
        allowed = cls.yaml_keys()
        for key in data:
            if key not in allowed:
                if not isinstance(key, str):
                    raise fail(
                        f"expected a text key, got {describe_value(key)}",
                        subpath=[key],
                        at_key=True,
                        unknown_key=True,
                    )
                meant = closest(key, allowed)
                hint = f" (did you mean {meant!r}?)" if meant else f" (expected one of: {', '.join(allowed)})"
                raise fail(
                    f"unknown key {key!r}{hint}", subpath=[key], at_key=True, unknown_key=True, meant=meant
                )
        return data


def parsed_by(function: Callable[[Any], object]) -> PlainValidator:
    """Wrap a ``ValueError``-raising parser so its message becomes the rendered error."""

    def validate(value: object) -> object:
        try:
            return function(value)
        except ValueError as error:
            raise fail(str(error)) from None

    return PlainValidator(validate)


def choice_parser(choices: type[StrEnum]) -> PlainValidator:
    """Validate a field holding one member of ``choices``, written as its value: the enum stays the one list
    of the allowed words (the layer that acts on them defines it), and the message names them as a Literal
    would (in the loader's words for a Literal). Pair it with :func:`choice_schema`."""
    values = [member.value for member in choices]

    def parse(value: object) -> StrEnum:
        if isinstance(value, str) and value in values:
            return choices(value)
        hint = did_you_mean(value, values)
        raise ValueError(f"expected one of {', '.join(values)}, got {describe_value(value)}{hint}")

    return parsed_by(parse)


def choice_schema(choices: type[StrEnum]) -> WithJsonSchema:
    """The JSON Schema of a :func:`choice_parser` field: the enum's values."""
    return WithJsonSchema({"enum": [member.value for member in choices], "type": "string"})


def _check_int(value: object, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {describe_value(value)}")
    if minimum is not None and value < minimum:
        raise ValueError(f"expected an integer >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"expected an integer <= {maximum}, got {value}")
    return value


def _check_name(value: object) -> str:
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise ValueError(f"expected a name (letters, digits, '_' or '-'), got {describe_value(value)}")
    return value


def _check_var_name(value: object) -> str:
    if not isinstance(value, str) or not value.isidentifier() or keyword.iskeyword(value):
        raise ValueError(f"expected a variable name (a Python identifier), got {describe_value(value)}")
    return value


def check_errno_name(value: object) -> str:
    if not isinstance(value, str) or not _ERRNO_RE.match(value):
        raise ValueError(f"expected an errno name like ECONNREFUSED, got {describe_value(value)}")
    if not isinstance(getattr(errno, value, None), int) and value not in GAI_CODES:
        hint = did_you_mean(value, [*(name for name in dir(errno) if _ERRNO_RE.match(name)), *GAI_CODES])
        raise ValueError(f"unknown errno name {value!r}{hint}")
    return value


def _check_exception(value: object) -> str:
    if value not in ALLOWED_EXCEPTIONS:
        hint = did_you_mean(value, ALLOWED_EXCEPTIONS)
        raise ValueError(
            f"expected an exception class ({', '.join(ALLOWED_EXCEPTIONS)}), "
            f"got {describe_value(value)}{hint}"
        )
    return str(value)


def _check_payload_size(value: object) -> int:
    size = parse_size(value)
    if size > MAX_PAYLOAD_BYTES:
        raise ValueError(f"a payload is built in memory: expected at most 1GiB, got {describe_value(value)}")
    return size


def _constant_names(prefixes: Sequence[str]) -> list[str]:
    return sorted(
        name
        for name in dir(socket)
        if name.startswith(tuple(prefixes)) and isinstance(getattr(socket, name), int)
    )


_PORTABLE_CONSTANTS: Final[dict[tuple[str, ...], tuple[str, ...]]] = {
    ("SHUT_",): ("SHUT_RD", "SHUT_WR", "SHUT_RDWR"),
    ("AF_",): ("AF_INET", "AF_INET6", "AF_UNIX", "AF_UNSPEC"),
    ("SOCK_",): ("SOCK_STREAM", "SOCK_DGRAM", "SOCK_RAW", "SOCK_SEQPACKET", "SOCK_RDM"),
}


def socket_constant(*prefixes: str) -> Any:
    """A socket-module constant written by name (``SO_REUSEADDR``) or as a plain integer.

    ``prefixes`` says which family of names fits the argument; an empty tuple admits any constant.
    The name is kept as written (resolved with ``getattr(socket, name)`` when the step runs).
    """
    shown = "/".join(f"{prefix}*" for prefix in prefixes) or "socket"

    def validate(value: object) -> str | int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if not isinstance(value, str):
            raise ValueError(f"expected a {shown} constant name or an integer, got {describe_value(value)}")
        known = _constant_names(prefixes) if prefixes else _constant_names(("",))
        if value not in known or (prefixes and not value.startswith(prefixes)):
            if isinstance(getattr(socket, value, None), int):
                raise ValueError(f"{value!r} is the wrong kind of constant here: expected {shown}")
            hint = did_you_mean(value, known)
            raise ValueError(f"unknown {shown} constant {value!r}{hint}")
        return value

    pattern = (
        "^(" + "|".join(re.escape(prefix) for prefix in prefixes) + ")[A-Z0-9_]+$"
        if prefixes
        else ("^[A-Z][A-Z0-9_]*$")
    )
    # Names that exist on every platform can be listed; the rest differ per OS, so only their shape is
    # published and the loader checks them against the running platform's socket module.
    portable = _PORTABLE_CONSTANTS.get(prefixes)
    names: dict[str, Any] = {"enum": list(portable)} if portable else {"type": "string", "pattern": pattern}
    schema = {
        "anyOf": [{"type": "integer"}, names],
        "description": f"a socket module constant ({shown}) by name, or an integer",
    }
    return Annotated[str | int, parsed_by(validate), WithJsonSchema(schema)]


@dataclass(frozen=True)
class AddressSpec:
    """Where a step or peer points: exactly one of ``ref`` / ``variable`` / ``literal`` is set."""

    text: str
    ref: str | None = None  # a peer name or a scenario socket name
    variable: str | None = None  # "$name" or "$name[0]" (a saved value)
    literal: tuple[str | int, ...] | None = None  # ("127.0.0.1", 0) or ("::1", 0, 0, 0)


def _parse_address(value: object) -> AddressSpec:
    expected = 'a peer or socket name, "127.0.0.1:0", "[::1]:0", ["127.0.0.1", 0] or $variable'
    if isinstance(value, list):
        if not 2 <= len(value) <= 4:
            raise ValueError(f"expected [host, port] (up to 4 items for IPv6), got a list of {len(value)}")
        if not isinstance(value[0], str):
            raise ValueError(f"expected the host as text in [host, port], got {describe_value(value[0])}")
        for item in value[1:]:
            if isinstance(item, bool) or not isinstance(item, int):
                raise ValueError(
                    f"expected integers after the host in [host, port], got {describe_value(item)}"
                )
        return AddressSpec(text=repr(value), literal=tuple(value))
    if not isinstance(value, str):
        raise ValueError(f"expected {expected}, got {describe_value(value)}")
    if value.startswith("$"):
        if not _VARIABLE_RE.match(value):
            raise ValueError(f"expected a variable like $addr or $addr[0], got {value!r}")
        return AddressSpec(text=value, variable=value)
    if _NAME_RE.match(value):
        return AddressSpec(text=value, ref=value)
    try:
        host, port = parse_host_port(value)  # the one parser every entry point uses
    except ValueError as error:
        raise ValueError(f"expected {expected}, got {value!r}: {error}") from None
    return AddressSpec(text=value, literal=(host, port))


def parse_variable(text: str) -> tuple[str, tuple[int, ...]]:
    """Split ``"$addr[0]"`` into ``("addr", (0,))``; raises ValueError for anything else."""
    if not _VARIABLE_RE.match(text):
        raise ValueError(f"expected a variable like $name or $name[0], got {text!r}")
    name = text[1:].split("[", 1)[0]
    return name, tuple(int(index) for index in _VARIABLE_PARTS_RE.findall(text))


def _string_schema(pattern: str, description: str) -> dict[str, Any]:
    return {"type": "string", "pattern": pattern, "description": description}


def _number_or_pattern(pattern: str, description: str, *, integer: bool) -> dict[str, Any]:
    number: dict[str, Any] = {"type": "integer" if integer else "number", "minimum": 0}
    return {"anyOf": [number, {"type": "string", "pattern": pattern}], "description": description}


#: Seconds: a non-negative number, or a string with a unit ("250us", "300ms", "2s", "1min").
Duration = Annotated[
    float,
    parsed_by(parse_duration),
    WithJsonSchema(_number_or_pattern(DURATION_PATTERN, "seconds, or a string with a unit", integer=False)),
]
#: Bytes: a non-negative integer, or a string with a unit (B, KB, KiB, MB, MiB, GB, GiB).
Size = Annotated[
    int,
    parsed_by(parse_size),
    WithJsonSchema(_number_or_pattern(SIZE_PATTERN, "bytes, or a string with a unit", integer=True)),
]
PayloadSize = Annotated[
    int,
    parsed_by(_check_payload_size),
    WithJsonSchema(
        _number_or_pattern(SIZE_PATTERN, "bytes (at most 1GiB), or a string with a unit", integer=True)
    ),
]
Count = Annotated[
    int, parsed_by(lambda value: _check_int(value, 0)), WithJsonSchema({"type": "integer", "minimum": 0})
]
PositiveCount = Annotated[
    int, parsed_by(lambda value: _check_int(value, 1)), WithJsonSchema({"type": "integer", "minimum": 1})
]
#: Any integer, passed as-is (e.g. ``listen: {backlog: -5}`` to observe the kernel clamping it).
RawInt = Annotated[int, parsed_by(_check_int), WithJsonSchema({"type": "integer"})]
Name = Annotated[
    str, parsed_by(_check_name), WithJsonSchema(_string_schema(NAME_PATTERN, "a peer or socket name"))
]
VarName = Annotated[
    str,
    parsed_by(_check_var_name),
    WithJsonSchema(_string_schema(r"^[A-Za-z_][A-Za-z0-9_]*$", "a variable name")),
]
ErrnoName = Annotated[
    str,
    parsed_by(check_errno_name),
    WithJsonSchema(_string_schema(ERRNO_NAME_PATTERN, "an errno name from the errno module")),
]
ExceptionName = Annotated[
    str,
    parsed_by(_check_exception),
    WithJsonSchema({"enum": list(ALLOWED_EXCEPTIONS), "description": "exception"}),
]
Address = Annotated[
    AddressSpec,
    parsed_by(_parse_address),
    WithJsonSchema(
        {
            "anyOf": [
                {
                    "type": "string",
                    "pattern": r"^(\$.+|[A-Za-z_][A-Za-z0-9_-]*|\[[^\]]*\]:[0-9]+|[^:\[\]]+:[0-9]+)$",
                },
                {
                    "type": "array",
                    "items": [{"type": "string"}],
                    "additionalItems": {"type": "integer"},
                    "minItems": 2,
                    "maxItems": 4,
                },
            ],
            "description": 'a peer/socket name, "host:port", "[v6]:port", [host, port] or $variable',
        }
    ),
]


def check_exclusive(data: object, keys: Iterable[str], what: str, *, required: bool) -> None:
    """Raise when a mapping has more than one (or, if ``required``, none) of ``keys``."""
    if not isinstance(data, dict):
        return
    names = list(keys)
    present = [key for key in names if key in data]
    if len(present) > 1:
        listed = " and ".join(repr(key) for key in present)
        raise fail(
            f"{what} takes only one of {', '.join(names)}; got {listed}", subpath=[present[1]], at_key=True
        )
    if required and not present:
        raise fail(f"{what} needs one of {', '.join(names)}")
