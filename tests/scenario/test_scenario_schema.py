"""The published draft-07 schema: current, valid, accepts shipped scenarios, rejects structural mistakes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from sockharness.scenario._language.schema import SCHEMA_PATH, build_schema, main, schema_text, validate_paths

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "scenarios").rglob("*.yaml"))
CORPUS = Path(__file__).parents[1] / "data" / "scenario_malformed"
MALFORMED = sorted(CORPUS.glob("*.yaml"))

#: Not YAML a JSON Schema validator can even be given (the loader reports these with locations).
UNPARSEABLE = {"multiple_documents", "python_tag", "syntax_tab_indent", "syntax_unclosed_flow"}
#: Structurally valid documents whose mistake only the loader's semantic checks can see, and why.
SEMANTIC_ONLY = {
    # YAML keeps the last of two equal keys, so the parsed data is well formed.
    "duplicate_key": "duplicate keys vanish in parsed data",
    # JSON Schema cannot require one property to be unique across array items.
    "duplicate_scenario_name": "uniqueness of a property across items",
    # JSON Schema cannot compare two values of one instance.
    "elapsed_min_above_max": "comparing min with max",
    # Errno and socket-constant names differ per platform; the schema publishes their shape only.
    "errno_in_returns_typo": "errno names are platform-specific",
    "unknown_errno": "errno names are platform-specific",
    "unknown_socket_constant": "socket constant names are platform-specific",
    # References to names declared elsewhere in the scenario, in run order.
    "missing_peer": "reference to a declared peer",
    "undeclared_socket": "reference to a socket created earlier",
    "unknown_variable": "reference to a variable saved earlier",
    "observe_unknown_placeholder": "reference to a saved variable",
    "phase_down_unknown_proxy": "reference to a declared proxy",
    "proxy_step_on_plain_peer": "reference to a peer of kind proxy",
    "remove_unknown_packet_fault": "reference to a named packet fault",
}


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    return Draft7Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def test_shipped_schema_is_the_generated_one() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), (
        "schema.json is stale: run python -m sockharness.scenario._language.schema --write"
    )
    assert main(["--check"]) == 0


def test_schema_is_valid_draft_07() -> None:
    schema = build_schema()
    Draft7Validator.check_schema(schema)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["title"] and schema["description"]
    text = json.dumps(schema)
    for newer_keyword in ('"$defs"', '"prefixItems"', '"unevaluatedProperties"', '"dependentRequired"'):
        assert newer_keyword not in text
    assert "#/definitions/" in text and "#/$defs/" not in text


def test_every_reference_resolves() -> None:
    schema = build_schema()
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            reference = node.get("$ref")
            if isinstance(reference, str):
                found.append(reference)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    assert found
    for reference in found:
        assert reference.startswith("#/definitions/") and reference.split("/")[-1] in schema["definitions"]


@pytest.mark.parametrize("path", SHIPPED, ids=[str(path.relative_to(REPO)) for path in SHIPPED])
def test_schema_accepts_shipped_scenarios(path: Path, validator: Draft7Validator) -> None:
    errors = [
        error.message for error in validator.iter_errors(yaml.safe_load(path.read_text(encoding="utf-8")))
    ]
    assert errors == []


def test_there_are_shipped_scenarios_to_check() -> None:
    assert SHIPPED, "the scenarios/ directory should hold the built-in scenario files"


def test_exclusion_lists_name_real_corpus_files() -> None:
    names = {path.stem for path in MALFORMED}
    assert names >= UNPARSEABLE | set(SEMANTIC_ONLY)


@pytest.mark.parametrize("path", MALFORMED, ids=[path.stem for path in MALFORMED])
def test_schema_judges_malformed_files(path: Path, validator: Draft7Validator) -> None:
    if path.stem in UNPARSEABLE:
        with pytest.raises(yaml.YAMLError):
            yaml.safe_load(path.read_text(encoding="utf-8"))
        return
    errors = list(validator.iter_errors(yaml.safe_load(path.read_text(encoding="utf-8"))))
    if path.stem in SEMANTIC_ONLY:
        assert errors == [], "the schema now catches this: move it out of SEMANTIC_ONLY"
    else:
        assert errors, f"{path.name} is a structural mistake the schema must reject"


def test_validate_paths_lints_files_and_directories(tmp_path: Path) -> None:
    errors = validate_paths([CORPUS])
    assert len(errors) == len(MALFORMED)
    assert all(len(error.problems) == 1 for error in errors)
    assert validate_paths([*SHIPPED]) == []
    assert validate_paths([REPO / "scenarios"]) == []
    empty = validate_paths([tmp_path])
    assert len(empty) == 1 and "no .yaml files" in str(empty[0])
