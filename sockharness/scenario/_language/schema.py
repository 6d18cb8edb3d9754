"""The published JSON Schema (draft-07) of scenario files, and linting without running.

The schema is generated from the pydantic models, converted to draft-07 (``definitions`` instead of
``$defs``, array ``items`` instead of ``prefixItems``) because that is what YAML editors
(yaml-language-server, PyCharm) understand, and then arranged for what editors show (see "what editors
show" below; tests/scenario/test_editor_lsp.py checks it in the real yaml-language-server). It checks
structure; names that must refer to something declared elsewhere (sockets, peers, variables), errno and
constant names, and duplicates are checked only by the loader (:func:`validate_paths`).
``sockharness/scenario/_language/schema.json`` is the generated file, shipped.

Regenerate after changing the model: ``python -m sockharness.scenario._language.schema --write``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

from sockharness._errnos import known_errno_names
from sockharness._units import DURATION_PATTERN, SIZE_PATTERN
from sockharness.faults._engine.toxic_types import TOXICS
from sockharness.scenario._actions import REGISTRY
from sockharness.scenario._language.errors import Problem, ScenarioError
from sockharness.scenario._language.loader import load_file
from sockharness.scenario._language.model import ScenarioFile
from sockharness.scenario._language.model_peers import PEER_KIND_CLASSES
from sockharness.scenario._language.model_steps import EXPECTATION_KEYS, STEP_CLASSES
from sockharness.scenario._language.model_toxics import TOXIC_MODELS
from sockharness.scenario._language.model_types import ERRNO_NAME_PATTERN
from sockharness.scenario._language.script_steps import SCRIPT_STEPS

__all__ = ["SCHEMA_ID", "SCHEMA_PATH", "build_schema", "main", "schema_text", "validate_paths"]

SCHEMA_PATH: Final = Path(__file__).with_name("schema.json")
SCHEMA_ID: Final = "https://sockharness.invalid/schema/scenario-file.json"
_DRAFT_07: Final = "http://json-schema.org/draft-07/schema#"


def _to_draft_07(node: Any) -> Any:
    """Rewrite pydantic's 2020-12 flavoured output into draft-07 keywords, recursively."""
    if isinstance(node, list):
        return [_to_draft_07(item) for item in node]
    if not isinstance(node, dict):
        return node
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            result[key] = value.replace("#/$defs/", "#/definitions/")
        elif key == "prefixItems":
            result["items"] = _to_draft_07(value)
            if "items" in node and node["items"] is not False:
                result["additionalItems"] = _to_draft_07(node["items"])
            else:
                result["additionalItems"] = False
        elif key == "items" and "prefixItems" in node:
            continue
        elif key == "discriminator":
            continue  # an OpenAPI keyword; draft-07 would ignore it, editors may misread it
        elif key in ("properties", "$defs", "definitions"):
            result["definitions" if key == "$defs" else key] = {
                name: _to_draft_07(item) for name, item in value.items()
            }
        else:
            result[key] = _to_draft_07(value)
    if "$ref" in result and len(result) > 1:
        # draft-07 ignores siblings of $ref; keep them by moving the reference into allOf.
        reference = result.pop("$ref")
        result = {"allOf": [{"$ref": reference}], **result}
    return result


# --- what editors show ------------------------------------------------------------------------------
#
# yaml-language-server (VS Code's YAML extension and most other editors) reports every branch of a failed
# union and reads only the first matching type of a value. The pydantic output is therefore rearranged for
# it, from the same registries the models are built from: each step, script step, peer and toxic dispatches
# on its key (``if``/``then`` per entry) so one mistake gives one message; unions are ``anyOf`` (the loader
# checks exclusivity, with better words); strings with units come first, with the strings they accept;
# errno names are completed from an enum beside the pattern; descriptions are also given as Markdown.

_DEFINITIONS: Final = "#/definitions/"
_DURATION_STRINGS: Final = '"5s", "100ms", "250us", "1.5min"'
_SIZE_STRINGS: Final = '"512B", "64KiB", "1MB", "2GiB"'
_UNIT_STRINGS: Final = {
    DURATION_PATTERN: ("a duration", _DURATION_STRINGS),
    SIZE_PATTERN: ("a size", _SIZE_STRINGS),
}


def _ref(definition: str) -> dict[str, Any]:
    return {"$ref": _DEFINITIONS + definition}


def _described(text: str) -> dict[str, str]:
    """A description for validators and its Markdown twin for hovers (RST ````code```` becomes `code`)."""
    return {"description": text, "markdownDescription": text.replace("``", "`")}


def _one_of_list(words: Iterable[str]) -> str:
    return ", ".join(words)


def _key_dispatch(
    what: str, entries: dict[str, tuple[str, str]], optional_keys: Sequence[str], description: str
) -> dict[str, Any]:
    """An object with exactly one known key among ``entries`` (key -> (definition, summary)); that key picks
    the definition that checks the whole object. An unknown key gets one message listing the known ones."""
    known = [*entries, *optional_keys]
    return {
        "type": "object",
        **_described(description),
        "properties": {key: _described(summary) for key, (_, summary) in entries.items()}
        | {key: {} for key in optional_keys},
        # The key is checked by propertyNames (one message, on the key); the value of an unknown key still
        # counts as a matched property, so an editor prefers this branch over a bare word for a mapping.
        "propertyNames": {
            "enum": known,
            "errorMessage": f"unknown {what} key: expected one of {_one_of_list(known)}",
        },
        "additionalProperties": {},
        "allOf": [
            {"if": {"required": [key]}, "then": _ref(definition)} for key, (definition, _) in entries.items()
        ],
    }


def _value_dispatch(
    field: str, what: str, entries: dict[str, tuple[str, str]], description: str
) -> dict[str, Any]:
    """An object whose ``field`` names one of ``entries`` (value -> (definition, summary)), which checks
    the whole object."""
    return {
        "type": "object",
        **_described(description),
        "required": [field],
        "properties": {field: _word_enum(what, entries)},
        "allOf": [
            {"if": {"properties": {field: {"const": value}}, "required": [field]}, "then": _ref(definition)}
            for value, (definition, _) in entries.items()
        ],
    }


def _word_enum(what: str, entries: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """A string from ``entries`` (word -> (definition, summary)); completion shows each word's summary."""
    return {
        "type": "string",
        "enum": list(entries),
        "markdownEnumDescriptions": [summary for _, summary in entries.values()],
        "errorMessage": f"unknown {what}: expected one of {_one_of_list(entries)}",
    }


def _registry_dispatch(definitions: dict[str, Any]) -> dict[frozenset[str], dict[str, Any]]:
    """Add the dispatching definitions; return which generated union (its set of references) each replaces."""
    steps = {
        name: (model.__name__, f"{REGISTRY[name].summary} (returns {REGISTRY[name].returns})")
        for name, model in STEP_CLASSES.items()
    }
    scripts = {cls.key(): (cls.__name__, cls.summary) for cls in SCRIPT_STEPS}
    peers = {cls.kind_name(): (cls.__name__, cls.summary) for cls in PEER_KIND_CLASSES}
    toxics = {name: (model.__name__, TOXICS[name].summary) for name, model in TOXIC_MODELS.items()}
    definitions["Step"] = _key_dispatch(
        "step", steps, EXPECTATION_KEYS, "One step: exactly one action key, plus optional expectations."
    )
    definitions["ScriptStep"] = _key_dispatch(
        "script step", scripts, (), "One step of a peer's script as a one-key mapping (`recv: 5`)."
    )
    definitions["Peer"] = _value_dispatch(
        "kind", "peer kind", peers, "A peer: its `kind` and that kind's keys."
    )
    definitions["Toxic"] = _value_dispatch(
        "type", "toxic type", toxics, "A Toxiproxy toxic: its `type`, and `attributes` in Toxiproxy's units."
    )
    for name, (definition, summary) in steps.items():
        action_property = definitions[definition]["properties"][name]
        definitions[definition]["properties"][name] = {
            **action_property,
            "title": name,
            **_described(summary),
        }
    bare_scripts = {cls.key(): scripts[cls.key()] for cls in SCRIPT_STEPS if cls.bare_word}
    bare_peers = {cls.kind_name(): peers[cls.kind_name()] for cls in PEER_KIND_CLASSES if cls.bare_word}
    definitions["ScriptWord"] = _word_enum("script step word", bare_scripts)
    definitions["PeerWord"] = _word_enum("peer shorthand", bare_peers)
    return {
        frozenset(definition for definition, _ in entries.values()): _ref(target)
        for entries, target in ((steps, "Step"), (scripts, "ScriptStep"), (peers, "Peer"), (toxics, "Toxic"))
    }


def _union_refs(node: dict[str, Any]) -> frozenset[str] | None:
    members = node.get("oneOf") or node.get("anyOf")
    if not isinstance(members, list) or not all(set(member) == {"$ref"} for member in members):
        return None
    return frozenset(member["$ref"].removeprefix(_DEFINITIONS) for member in members)


def _is_bare_words(node: Any, words: Iterable[str]) -> bool:
    return isinstance(node, dict) and set(node.get("enum", ())) == set(words) and node.get("type") == "string"


def _unit_string(node: dict[str, Any]) -> dict[str, Any]:
    if "patternErrorMessage" in node:
        return node  # explained already, as a member of a nested union
    noun, examples = _UNIT_STRINGS[node["pattern"]]
    said = node.get("description")  # what a plain number means here (seconds, milliseconds, bytes)
    return {
        **node,
        **_described(f"{said} ({examples})" if said else f"{noun} as a string with a unit: {examples}"),
        # errorMessage too: an editor reports a wrong number (-1) against the first branch, this one.
        "patternErrorMessage": f"not {noun}: write a number (0 or more) or a string with a unit: {examples}",
        "errorMessage": f"not {noun}: write a number (0 or more) or a string with a unit: {examples}",
    }


def _flattened(members: list[Any]) -> list[Any]:
    """A union's members with nested unions lifted into it (their description goes to each member)."""
    flat: list[Any] = []
    for member in members:
        nested = member.get("anyOf") if isinstance(member, dict) else None
        if nested is not None and set(member) <= {"anyOf", "description", "markdownDescription"}:
            said = {key: value for key, value in member.items() if key != "anyOf"}
            flat.extend({**said, **item} for item in nested)
        else:
            flat.append(member)
    return flat


def _patterned_first(members: list[Any]) -> list[Any]:
    """A flat union with its patterned strings (durations, sizes, errno names) first, units explained.

    An editor keeps the first of equally failing branches, so a wrong string is then reported against the
    strings the value may be, not as a wrong type ("Expected number | null")."""
    units = [member for member in members if _patterned(member) and member["pattern"] in _UNIT_STRINGS]
    patterned = [member for member in members if _patterned(member) and member not in units]
    strings = [member for member in members if _is_string(member) and not _patterned(member)]
    rest = [member for member in members if not _is_string(member)]
    return [*(_unit_string(member) for member in units), *patterned, *strings, *rest]


def _is_string(member: Any) -> bool:
    return isinstance(member, dict) and (member.get("type") == "string" or "enum" in member)


def _pattern_said(node: dict[str, Any], description: str | None) -> dict[str, Any]:
    """A patterned string's failure in words, from its description or its union's, not as a regex."""
    said = node.get("description", description)
    if not _patterned(node) or "patternErrorMessage" in node or node["pattern"] in _UNIT_STRINGS or not said:
        return node  # durations and sizes get their own words (_unit_string)
    return {**node, "patternErrorMessage": f"expected {said}"}


def _patterned(member: Any) -> bool:
    return isinstance(member, dict) and member.get("type") == "string" and "pattern" in member


def _errno_names(node: dict[str, Any]) -> dict[str, Any]:
    """The errno pattern with the known names beside it: completion offers them, and any other name that
    looks like an errno is still accepted (names differ per platform; ``validate`` checks them)."""
    message = "an errno name in capitals, such as ECONNREFUSED"
    pattern = {key: value for key, value in node.items() if key != "description"}
    said = _described(node["description"]) if "description" in node else {}
    return {
        **said,
        "anyOf": [
            {**pattern, "patternErrorMessage": message},
            {"type": "string", "enum": known_errno_names(), "errorMessage": message},
        ],
    }


def _absent(message: str) -> dict[str, Any]:
    """The key may only be null (which the loader reads as not given), said in words: an editor shows
    ``errorMessage`` for a wrong type, where ``not`` would give "Matches a schema that is not allowed"."""
    return {"type": "null", "errorMessage": message}


def _exclusive_keys(members: Any) -> list[str]:
    """The keys of a ``oneOf`` that only says "exactly one of these keys" (``steps`` or ``phases``)."""
    if not isinstance(members, list) or not all(
        isinstance(member, dict) and set(member) == {"required"} and len(member["required"]) == 1
        for member in members
    ):
        return []
    return [member["required"][0] for member in members]


def _one_key_of(keys: list[str]) -> list[dict[str, Any]]:
    """Exactly one of ``keys``, said without ``oneOf`` (whose "matches multiple schemas" names no key):
    a missing key is a missing property, and a second one is flagged on that key, in words."""
    message = f"only one of {', '.join(keys)} may be given"
    return [
        {"anyOf": [{"required": [key]} for key in keys]},
        *(
            {
                "if": {"required": [key]},
                "then": {"properties": {later: _absent(message) for later in keys[index + 1 :]}},
            }
            for index, key in enumerate(keys)
            if index < len(keys) - 1
        ),
    ]


def _excluded_pairs(node: Any) -> list[tuple[str, str]]:
    """The key pairs of ``not: {anyOf: [{required: [a, b]}, ...]}`` ("never a and b together")."""
    members = node.get("anyOf") if isinstance(node, dict) and set(node) == {"anyOf"} else None
    if not isinstance(members, list) or not all(
        isinstance(member, dict) and set(member) == {"required"} and len(member["required"]) == 2
        for member in members
    ):
        return []
    return [(member["required"][0], member["required"][1]) for member in members]


def _not_together(pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [
        {
            "if": {"required": [first]},
            "then": {"properties": {second: _absent(f"{second} cannot be given together with {first}")}},
        }
        for first, second in pairs
    ]


def _for_editors(node: Any, unions: dict[frozenset[str], dict[str, Any]]) -> Any:
    """Rewrite one schema node (recursively) as described above."""
    if isinstance(node, list):
        return [_for_editors(item, unions) for item in node]
    if not isinstance(node, dict):
        return node
    refs = _union_refs(node)
    if refs is not None and refs in unions:
        rest = {key: value for key, value in node.items() if key not in ("oneOf", "anyOf")}
        return {**unions[refs], **_for_editors(rest, unions)} if rest else unions[refs]
    if node.get("pattern") == ERRNO_NAME_PATTERN and node.get("type") == "string":
        return _errno_names(node)
    node = _pattern_said(node, None)
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key == "oneOf" and _exclusive_keys(value):
            result["allOf"] = [*result.get("allOf", []), *_one_key_of(_exclusive_keys(value))]
            continue
        if key == "not" and _excluded_pairs(value):
            result["allOf"] = [*result.get("allOf", []), *_not_together(_excluded_pairs(value))]
            continue
        if key == "oneOf":
            key = "anyOf"
        if key == "allOf" and isinstance(value, list):
            result[key] = [*_for_editors(value, unions), *result.get(key, [])]
        elif key in ("properties", "definitions", "patternProperties") and isinstance(value, dict):
            result[key] = {name: _for_editors(item, unions) for name, item in value.items()}
        elif key == "anyOf" and isinstance(value, list):
            members = _flattened(_for_editors(_flattened(value), unions))
            described = node.get("description")
            result[key] = _patterned_first([_pattern_said(member, described) for member in members])
        elif key == "description" and isinstance(value, str):
            result.update(_described(value))
        else:
            result[key] = _for_editors(value, unions)
    return result


def _bare_words_by_reference(node: Any) -> Any:
    """Bare-word enums (``close``, ``echo``) as references, so their completion carries the summaries."""
    if isinstance(node, list):
        return [_bare_words_by_reference(item) for item in node]
    if not isinstance(node, dict):
        return node
    if _is_bare_words(node, (cls.key() for cls in SCRIPT_STEPS if cls.bare_word)):
        return _ref("ScriptWord")
    if _is_bare_words(node, (cls.kind_name() for cls in PEER_KIND_CLASSES if cls.bare_word)):
        return _ref("PeerWord")
    return {key: _bare_words_by_reference(value) for key, value in node.items()}


def _peers_as_additional_properties(scenario: dict[str, Any]) -> None:
    """Peer values under ``additionalProperties`` (editors complete values only there, not under patterns)."""
    peers = scenario["properties"]["peers"]
    ((pattern, value),) = peers.pop("patternProperties").items()
    peers["additionalProperties"] = value
    peers["propertyNames"] = {
        **peers.get("propertyNames", {}),
        "pattern": pattern,
        "patternErrorMessage": "a peer name: a letter or _, then letters, digits, _ or -",
    }


def build_schema() -> dict[str, Any]:
    """The draft-07 schema as a dict (generated from the models on every call)."""
    generated = ScenarioFile.model_json_schema(mode="validation", ref_template="#/definitions/{model}")
    schema = _to_draft_07(generated)
    definitions = schema.pop("definitions", {})
    definitions = _bare_words_by_reference(definitions)
    unions = _registry_dispatch(definitions)
    definitions = _for_editors(definitions, unions)
    _peers_as_additional_properties(definitions["Scenario"])
    schema = _for_editors(schema, unions)
    return {
        "$schema": _DRAFT_07,
        "$id": SCHEMA_ID,
        "title": "sockharness scenario file",
        "description": (
            "Socket scenarios for sockharness: peers, steps and expectations. Structure only; run "
            "`sockharness validate FILE` for reference, errno and socket-constant checks."
        ),
        **schema,
        "definitions": dict(sorted(definitions.items())),
    }


def schema_text() -> str:
    """The schema as it is published: sorted-key-stable JSON with a trailing newline."""
    return json.dumps(build_schema(), indent=2, ensure_ascii=False) + "\n"


def validate_paths(paths: Iterable[str | Path]) -> list[ScenarioError]:
    """Load every file (directories are searched for ``*.yaml``/``*.yml``); return the errors found."""
    errors: list[ScenarioError] = []
    for path in paths:
        target = Path(path)
        if target.is_dir():
            files = sorted(
                file for pattern in ("*.yaml", "*.yml") for file in target.rglob(pattern) if file.is_file()
            )
            if not files:
                errors.append(
                    ScenarioError([Problem(str(target), 0, 0, (), "no .yaml files in this directory")])
                )
        else:
            files = [target]
        for file in files:
            try:
                load_file(file)
            except ScenarioError as error:
                errors.append(error)
    return errors


def main(argv: Sequence[str] | None = None) -> int:
    """Print the schema, or ``--write`` it to the shipped schema.json, or ``--check`` it is current."""
    parser = argparse.ArgumentParser(
        prog="python -m sockharness.scenario._language.schema", description=main.__doc__
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help=f"write {SCHEMA_PATH.name} next to this module")
    group.add_argument("--check", action="store_true", help="exit 1 if the shipped schema.json is stale")
    args = parser.parse_args(argv)
    text = schema_text()
    if args.write:
        SCHEMA_PATH.write_text(text, encoding="utf-8")
        return 0
    if args.check:
        current = SCHEMA_PATH.read_text(encoding="utf-8") if SCHEMA_PATH.exists() else ""
        if current != text:
            print(f"{SCHEMA_PATH} is stale: run python -m sockharness.scenario._language.schema --write")
            return 1
        return 0
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
