"""Values inside steps: payloads, matchers, and the ``raises`` / ``bytes`` / ``elapsed`` expectations.

Unions here are keyed by which key a mapping carries (``{hex: ...}`` is a hex payload), so each mistake
produces one error about the shape rather than one error per union member.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Final, Literal, Self

from pydantic import (
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
    model_validator,
)
from typing_extensions import TypeAliasType

from sockharness.scenario._language.errors import describe_value, did_you_mean
from sockharness.scenario._language.import_paths import ExceptionRef
from sockharness.scenario._language.model_types import (
    ERRNO_NAME_PATTERN,
    MAX_PAYLOAD_BYTES,
    SOCKET_CONSTANT_PATTERN,
    VARIABLE_PATTERN,
    Duration,
    PayloadSize,
    PositiveCount,
    StrictModel,
    check_errno_name,
    fail,
    parsed_by,
)

__all__ = [
    "MATCHER_TYPES",
    "BytesExpectation",
    "BytesMatch",
    "Elapsed",
    "FakerPayload",
    "HexPayload",
    "Matcher",
    "MatcherOps",
    "Payload",
    "Raises",
    "RaisesSpec",
    "SizePayload",
    "TextPayload",
]

_HEX_RE = re.compile(r"^(\s*[0-9a-fA-F]\s*[0-9a-fA-F])*\s*$")
_VARIABLE_RE = re.compile(VARIABLE_PATTERN)
_ERRNO_LOOKALIKE_RE = re.compile(ERRNO_NAME_PATTERN)
_CONSTANT_LOOKALIKE_RE = re.compile(SOCKET_CONSTANT_PATTERN)
#: Faker attributes that are not generators (calling them would reseed or reconfigure the instance).
_FAKER_DENY: Final = frozenset({"seed", "seed_instance", "seed_locale", "add_provider", "get_providers"})


def keyed_union(forms: Mapping[str, str], what: str, *, scalar_tag: str | None = None) -> Callable[..., Any]:
    """Pick a union member by the single form key a mapping holds; explain the shape otherwise.

    ``forms`` maps a key to the member's tag; ``scalar_tag`` is the tag for a bare string, if allowed.
    Returns the wrap validator; the matching discriminator is :func:`_tag_by_key`.
    """

    def validate(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if isinstance(value, str) and scalar_tag is not None:
            return handler(value)
        if not isinstance(value, dict):
            raise fail(f"expected {what}, got {describe_value(value)}")
        present = [key for key in forms if key in value]
        if not present:
            unknown = next((key for key in value if key not in forms), None)
            hint = did_you_mean(unknown, forms)
            keys = ", ".join(repr(key) for key in value) or "no keys"
            raise fail(f"expected {what}; got a mapping with {keys}{hint}")
        if len({forms[key] for key in present}) > 1:
            listed = " and ".join(repr(key) for key in present)
            raise fail(f"expected {what}: use only one of {listed}", subpath=[present[1]], at_key=True)
        return handler(value)

    return validate


def _tag_by_key(forms: Mapping[str, str], scalar_tag: str | None = None) -> Callable[[Any], str | None]:
    def tag(value: object) -> str | None:
        if isinstance(value, str):
            return scalar_tag
        if isinstance(value, dict):
            for key, member in forms.items():
                if key in value:
                    return member
            return None
        for key, member in forms.items():  # already-built model instances
            if hasattr(value, key):
                return member
        return None

    return tag


# --- payloads --------------------------------------------------------------------------------------


class TextPayload(StrictModel):
    """``{text: "ab", repeat: 1000}``: the UTF-8 bytes of ``text``, ``repeat`` times."""

    what: ClassVar[str] = "a text payload mapping"
    text: str
    repeat: PositiveCount = 1

    @model_validator(mode="after")
    def _bounded(self) -> Self:
        if len(self.text.encode()) * self.repeat > MAX_PAYLOAD_BYTES:
            raise fail("a payload is built in memory: text x repeat must be at most 1GiB", subpath=["repeat"])
        return self


def _check_hex(value: object) -> str:
    if not isinstance(value, str) or not _HEX_RE.match(value):
        raise ValueError(f'expected pairs of hex digits like "48 65 6c", got {describe_value(value)}')
    return value


class HexPayload(StrictModel):
    """``{hex: "48 65 6c 6c 6f"}``: bytes from hex digits; whitespace is ignored."""

    what: ClassVar[str] = "a hex payload mapping"
    hex: Annotated[
        str,
        parsed_by(_check_hex),
        WithJsonSchema({"type": "string", "pattern": _HEX_RE.pattern, "description": "pairs of hex digits"}),
    ]


class SizePayload(StrictModel):
    """``{size: 64KiB}`` of ``fill`` (default "x"), or of seeded random bytes with ``random: true``."""

    what: ClassVar[str] = "a size payload mapping"
    size: PayloadSize
    fill: Annotated[str, Field(min_length=1)] = "x"
    random: bool = False

    @model_validator(mode="after")
    def _fill_or_random(self) -> Self:
        if self.random and "fill" in self.model_fields_set:
            raise fail(
                "a size payload takes either fill or random: true, not both", subpath=["fill"], at_key=True
            )
        return self


def _check_faker_method(value: object) -> str:
    if (
        not isinstance(value, str)
        or not value.isidentifier()
        or value.startswith("_")
        or value in _FAKER_DENY
    ):
        raise ValueError(
            f"expected a Faker generator name like sentence or ipv4, got {describe_value(value)}"
        )
    return value


class FakerPayload(StrictModel):
    """``{faker: sentence, args: [...], kwargs: {...}}``: text from the scenario's seeded Faker."""

    what: ClassVar[str] = "a faker payload mapping"
    faker: Annotated[
        str,
        parsed_by(_check_faker_method),
        WithJsonSchema(
            {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9_]*$", "description": "Faker method"}
        ),
    ]
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)


_PAYLOAD_FORMS: Final = {"text": "§text", "hex": "§hex", "size": "§size", "faker": "§faker"}
_PAYLOAD_WHAT: Final = "a payload: a string, {text: ...}, {hex: ...}, {size: ...} or {faker: ...}"

#: A payload as written; ``payloads.resolve_payload`` turns it into bytes.
Payload = Annotated[
    Annotated[str, Tag("§literal")]
    | Annotated[TextPayload, Tag("§text")]
    | Annotated[HexPayload, Tag("§hex")]
    | Annotated[SizePayload, Tag("§size")]
    | Annotated[FakerPayload, Tag("§faker")],
    Discriminator(_tag_by_key(_PAYLOAD_FORMS, "§literal")),
    WrapValidator(keyed_union(_PAYLOAD_FORMS, _PAYLOAD_WHAT, scalar_tag="§literal")),
]


# --- matchers --------------------------------------------------------------------------------------

#: Names accepted by the ``type`` operator.
MATCHER_TYPES: Final = ("int", "float", "str", "bytes", "bool", "none", "tuple", "list")


def _check_matcher_scalar(value: object) -> object:
    if value is not None and not isinstance(value, bool | int | float | str):
        raise ValueError(
            f"expected a matcher (a scalar, a list or a mapping of operators), got {describe_value(value)}"
        )
    if isinstance(value, str):
        if value.startswith("$") and not _VARIABLE_RE.match(value):
            raise ValueError(f"expected a variable like $rc or $addr[0], got {value!r}")
        if _ERRNO_LOOKALIKE_RE.match(value) and len(value) > 2:
            check_errno_name(value)
        if _CONSTANT_LOOKALIKE_RE.match(value) and not isinstance(getattr(socket, value, None), int):
            # It would be compared as text with an integer result and could never match.
            known = [name for name in dir(socket) if _CONSTANT_LOOKALIKE_RE.match(name)]
            hint = did_you_mean(value, known)
            raise ValueError(f"unknown socket constant {value!r} on this platform{hint}")
    return value


#: A scalar matcher: equality; errno names compare as numbers; ``$name`` is a saved value.
MatcherScalar = Annotated[
    bool | int | float | str | None,
    parsed_by(_check_matcher_scalar),
    WithJsonSchema({"type": ["null", "boolean", "integer", "number", "string"]}),
]


def _matcher_tag(value: object) -> str:
    if isinstance(value, dict | MatcherOps):
        return "§ops"
    if isinstance(value, list):
        return "§list"
    return "§scalar"


if TYPE_CHECKING:  # mypy cannot follow the recursive alias; the runner treats matchers structurally
    Matcher = Any
else:
    #: A matcher: a scalar (equality), a list (element-wise) or a mapping of operators; recursive.
    Matcher = TypeAliasType(
        "Matcher",
        Annotated[
            Annotated["MatcherOps", Tag("§ops")]
            | Annotated[list["Matcher"], Tag("§list")]
            | Annotated[MatcherScalar, Tag("§scalar")],
            Discriminator(_matcher_tag),
        ],
    )


class MatcherOps(StrictModel):
    """A mapping of operators, all of which must hold (``{gt: 0, lt: $offered}``)."""

    what: ClassVar[str] = "a mapping of matcher operators"
    eq: Matcher = None
    ne: Matcher = None
    lt: MatcherScalar = None
    le: MatcherScalar = None
    gt: MatcherScalar = None
    ge: MatcherScalar = None
    in_: Annotated[list[Matcher], Field(alias="in", min_length=1)] = Field(default_factory=list, alias="in")
    between: Annotated[list[MatcherScalar], Field(min_length=2, max_length=2)] = Field(default_factory=list)
    type: Literal["int", "float", "str", "bytes", "bool", "none", "tuple", "list"] | None = None
    len: Matcher = None

    @model_validator(mode="after")
    def _has_operator(self) -> Self:
        if not self.model_fields_set:
            raise fail(f"a matcher mapping needs at least one operator ({', '.join(self.yaml_keys())})")
        return self

    def operators(self) -> list[tuple[str, object]]:
        """The operators that were written, as (YAML key, operand), in declaration order."""
        fields = type(self).model_fields
        return [
            (fields[name].alias or name, getattr(self, name))
            for name in fields
            if name in self.model_fields_set
        ]


# --- expectations ----------------------------------------------------------------------------------


def _check_errno_spec(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, list):
        if not value:
            raise ValueError("expected at least one errno name in the list")
        return tuple(check_errno_name(item) for item in value)
    return (check_errno_name(value),)


_SSL_REASON_PATTERN: Final = r"^[A-Z][A-Z0-9_]*$"
_SSL_REASON_RE: Final = re.compile(_SSL_REASON_PATTERN)


def _check_ssl_reasons(value: object) -> tuple[str, ...]:
    values = list(value) if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) and _SSL_REASON_RE.match(v) for v in values):
        raise ValueError(
            "expected an SSL reason name like CERTIFICATE_VERIFY_FAILED (or a list), "
            f"got {describe_value(value)}"
        )
    return tuple(str(v) for v in values)


def _check_verify_code(value: object) -> int:
    from sockharness._ssl_reasons import VERIFY_CODES, verify_code_number

    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(
            f"expected a verify code name like X509_V_ERR_CERT_HAS_EXPIRED, got {describe_value(value)}"
        )
    try:
        return verify_code_number(value)
    except ValueError:
        raise ValueError(
            f"unknown verify code {value!r}{did_you_mean(value, VERIFY_CODES)}; "
            f"known: {', '.join(VERIFY_CODES)}"
        ) from None


def _check_message_pattern(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a regular expression, got {describe_value(value)}")
    try:
        re.compile(value)
    except re.error as error:
        raise ValueError(f"not a regular expression ({error}): {value!r}") from None
    return value


class RaisesSpec(StrictModel):
    """``{type: OSError, errno: EBADF | [EBADF, ENOTSOCK] | null, message: "substring", match: "regex"}``;
    ``type`` may be an import path (``asyncio:IncompleteReadError``)."""

    what: ClassVar[str] = "an exception class name or {type, errno, message, match, reason, verify_code}"
    type: ExceptionRef
    errno: Annotated[
        tuple[str, ...] | None,
        parsed_by(_check_errno_spec),
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "null"},
                    {"type": "string", "pattern": ERRNO_NAME_PATTERN},
                    {
                        "type": "array",
                        "items": {"type": "string", "pattern": ERRNO_NAME_PATTERN},
                        "minItems": 1,
                    },
                ],
                "description": "errno name(s), any of which may match; null = a Python-level timeout",
            }
        ),
    ] = None
    message: str | None = None
    reason: Annotated[
        tuple[str, ...] | None,
        parsed_by(_check_ssl_reasons),
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "string", "pattern": _SSL_REASON_PATTERN},
                    {
                        "type": "array",
                        "items": {"type": "string", "pattern": _SSL_REASON_PATTERN},
                        "minItems": 1,
                    },
                ],
                "description": "SSLError.reason (e.g. CERTIFICATE_VERIFY_FAILED), any of which may match; "
                "matched with the known aliases other OpenSSL versions report for the same failure",
            }
        ),
    ] = None
    verify_code: Annotated[
        int | None,
        parsed_by(_check_verify_code),
        WithJsonSchema(
            {
                "anyOf": [{"type": "string", "pattern": "^X509_V_[A-Z0-9_]+$"}, {"type": "integer"}],
                "description": "SSLCertVerificationError.verify_code, by name "
                "(X509_V_ERR_CERT_HAS_EXPIRED) or number",
            }
        ),
    ] = None
    #: a regular expression searched in ``str(exception)``
    match: Annotated[
        str | None,
        parsed_by(_check_message_pattern),
        WithJsonSchema({"type": "string", "description": "a regular expression searched in the message"}),
    ] = None

    @property
    def checks_errno(self) -> bool:
        """True when ``errno`` was written (``errno: null`` demands errno None; absent means "any")."""
        return "errno" in self.model_fields_set


def _raises_shorthand(value: object) -> object:
    return {"type": value} if isinstance(value, str) else value


#: ``raises:`` (and ``until_raises:`` of repeat): an exception class name or the full mapping.
Raises = Annotated[
    RaisesSpec, BeforeValidator(_raises_shorthand, json_schema_input_type=ExceptionRef | RaisesSpec)
]


class BytesMatch(StrictModel):
    """``{exact|prefix|suffix|contains: <payload>, length: <matcher>}``; all given parts must hold."""

    what: ClassVar[str] = "a bytes expectation mapping"
    exact: Payload | None = None
    prefix: Payload | None = None
    suffix: Payload | None = None
    contains: Payload | None = None
    length: Matcher = None

    @model_validator(mode="after")
    def _has_part(self) -> Self:
        if not self.model_fields_set:
            raise fail("a bytes expectation needs exact, prefix, suffix, contains or length")
        return self


_BYTES_FORMS: Final = {
    "exact": "§match",
    "prefix": "§match",
    "suffix": "§match",
    "contains": "§match",
    "length": "§match",
    "text": "§payload",
    "hex": "§payload",
    "size": "§payload",
    "faker": "§payload",
}


def _bytes_tag(value: object) -> str | None:
    if isinstance(value, str):
        return "§payload"
    if isinstance(value, BytesMatch):
        return "§match"
    if isinstance(value, dict):
        if any(_BYTES_FORMS.get(key) == "§match" for key in value):
            return "§match"
        return "§payload" if any(key in value for key in _BYTES_FORMS) else None
    return "§payload"


BytesExpectation = Annotated[
    Annotated[Payload, Tag("§payload")] | Annotated[BytesMatch, Tag("§match")],
    Discriminator(_bytes_tag),
    WrapValidator(
        keyed_union(
            _BYTES_FORMS,
            "a payload (exact bytes) or {exact|prefix|suffix|contains: <payload>, length: <matcher>}",
            scalar_tag="§payload",
        )
    ),
]


class Elapsed(StrictModel):
    """``{min: 100ms, max: 2s}``: bounds on the wall time of the call."""

    what: ClassVar[str] = "{min: <duration>, max: <duration>}"
    min: Duration | None = None
    max: Duration | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min is None and self.max is None:
            raise fail("elapsed needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise fail(f"elapsed min ({self.min:g}s) is greater than max ({self.max:g}s)", subpath=["min"])
        return self
