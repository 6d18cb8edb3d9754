"""The published JSON Schema (draft-07) of scenario files, and linting without running.

The schema is generated from the pydantic models, converted to draft-07 (``definitions`` instead of
``$defs``, array ``items`` instead of ``prefixItems``) because that is what YAML editors
(yaml-language-server, PyCharm) understand. It checks structure; names that must refer to something
declared elsewhere (sockets, peers, variables), errno/constant names, and duplicates are checked only by
the loader (:func:`validate_paths`). ``sockharness/scenario/schema.json`` is the generated file, shipped.

Regenerate after changing the model: ``python -m sockharness.scenario._language.schema --write``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

from sockharness.scenario._language.errors import Problem, ScenarioError
from sockharness.scenario._language.loader import load_file
from sockharness.scenario._language.model import ScenarioFile

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


def build_schema() -> dict[str, Any]:
    """The draft-07 schema as a dict (generated from the models on every call)."""
    generated = ScenarioFile.model_json_schema(mode="validation", ref_template="#/definitions/{model}")
    schema = _to_draft_07(generated)
    definitions = schema.pop("definitions", {})
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
