"""Pieces the actions' argument models share: the strict base, the ``socket:`` reference, shorthands."""

from __future__ import annotations

from typing import Annotated, ClassVar, Final

from pydantic import BeforeValidator
from pydantic.config import JsonDict

from sockharness.scenario._language.model_types import Name, StrictModel, socket_constant

__all__ = ["Args", "MsgFlags", "SocketRefArgs", "one_of_required", "with_shorthand"]

_MsgFlag: Final = socket_constant("MSG_")
#: ``flags: [MSG_PEEK, MSG_DONTWAIT]``: ORed together when the step runs.
MsgFlags = list[_MsgFlag]  # type: ignore[valid-type]


class Args(StrictModel):
    """Arguments of one action."""

    what: ClassVar[str] = "a mapping of arguments"


class SocketRefArgs(Args):
    # No docstring: pydantic would publish it as the schema description of every socket action.
    socket: Name


def with_shorthand(model: type[Args], key: str) -> object:
    """``close: c`` means ``close: {socket: c}``; the schema admits both forms."""

    def expand(value: object) -> object:
        return {key: value} if isinstance(value, str) else value

    return Annotated[model, BeforeValidator(expand, json_schema_input_type=Name | model)]


def one_of_required(*keys: str) -> JsonDict:
    """JSON Schema: exactly one of ``keys`` must be present."""
    return {"oneOf": [{"required": [key]} for key in keys]}
