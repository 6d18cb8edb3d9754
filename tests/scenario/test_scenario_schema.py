"""The published draft-07 schema: current, valid, accepts shipped scenarios, rejects structural mistakes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from sockharness._errnos import known_errno_names
from sockharness._units import DURATION_PATTERN, SIZE_PATTERN
from sockharness.faults._engine.toxic_types import TOXICS
from sockharness.scenario._actions import REGISTRY
from sockharness.scenario._language.model_peers import PEER_KIND_CLASSES
from sockharness.scenario._language.schema import SCHEMA_PATH, build_schema, main, schema_text, validate_paths
from sockharness.scenario._language.script_steps import SCRIPT_STEPS

REPO = Path(__file__).resolve().parents[2]
#: Every correct scenario file in the repository: the schema must accept each (no false positives).
SHIPPED = sorted(
    [
        *(REPO / "scenarios").rglob("*.yaml"),
        *(REPO / "tests" / "data" / "user_scenarios").glob("*.yaml"),
        *(REPO / "tests" / "data" / "editor" / "valid").glob("*.yaml"),
    ]
)
EDITOR_MALFORMED = sorted((REPO / "tests" / "data" / "editor" / "malformed").glob("*.yaml"))
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


@pytest.mark.parametrize("path", EDITOR_MALFORMED, ids=[path.stem for path in EDITOR_MALFORMED])
def test_schema_judges_the_editor_corpus(path: Path, validator: Draft7Validator) -> None:
    """The editor corpus says per file whether the schema can see the mistake (``# editor: none`` when
    only the loader can); the schema agrees, for any validator, not only the editor's."""
    text = path.read_text(encoding="utf-8")
    errors = list(validator.iter_errors(yaml.safe_load(text)))
    if text.startswith("# editor: none"):
        assert errors == []
    else:
        assert errors


def _dispatch(schema: dict[str, Any], definition: str) -> dict[str, str]:
    """What a dispatching definition picks: the key or value in each ``if``, to the ``then`` definition."""
    picked: dict[str, str] = {}
    for branch in schema["definitions"][definition]["allOf"]:
        condition = branch["if"]
        word = condition["required"][0]
        if "properties" in condition:
            word = condition["properties"][word]["const"]
        picked[word] = branch["then"]["$ref"].split("/")[-1]
    return picked


def test_dispatch_follows_the_registries() -> None:
    """One if/then per registry entry, so a new action, peer kind, script step or toxic type needs no
    schema edit, and a mistake in one key is reported against that entry only."""
    schema = build_schema()
    assert set(_dispatch(schema, "Step")) == set(REGISTRY)
    assert set(_dispatch(schema, "ScriptStep")) == {cls.key() for cls in SCRIPT_STEPS}
    assert set(_dispatch(schema, "Peer")) == {cls.kind_name() for cls in PEER_KIND_CLASSES}
    assert set(_dispatch(schema, "Toxic")) == set(TOXICS)
    for definition in ("Step", "ScriptStep", "Peer", "Toxic"):
        assert all(target in schema["definitions"] for target in _dispatch(schema, definition).values())
    words = schema["definitions"]
    assert words["PeerWord"]["enum"] == [cls.kind_name() for cls in PEER_KIND_CLASSES if cls.bare_word]
    assert words["ScriptWord"]["enum"] == [cls.key() for cls in SCRIPT_STEPS if cls.bare_word]


def test_schema_speaks_to_editors() -> None:
    """No ``oneOf`` (its "matches multiple schemas" names nothing), every description also as Markdown
    without RST double backticks, durations and sizes explained, errno names complete."""
    text = schema_text()
    assert '"oneOf"' not in text
    schema = build_schema()
    found: dict[str, list[Any]] = {"description": [], "markdownDescription": [], "errno_enums": []}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("description"), str):
                found["description"].append(node["description"])
                assert node.get("markdownDescription") == node["description"].replace("``", "`")
            if node.get("pattern") in (DURATION_PATTERN, SIZE_PATTERN):
                assert '"64KiB"' in node["patternErrorMessage"] or '"100ms"' in node["patternErrorMessage"]
            if node.get("enum") and "ECONNREFUSED" in node["enum"]:
                found["errno_enums"].append(node["enum"])
            for key, value in node.items():
                if key in ("properties", "definitions"):
                    value = list(value.values())  # names of properties are not schema keywords
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    assert found["description"]
    assert found["errno_enums"] and all(enum == known_errno_names() for enum in found["errno_enums"])


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
