"""Load scenario YAML into the model, reporting every problem as file:line:column with the source line.

YAML is composed with PyYAML's SafeLoader into nodes (which carry positions) and turned into plain data
here, so nothing but str/int/float/bool/null/list/dict is ever constructed, duplicate keys are refused,
and each key path remembers where it was written. Pydantic errors and the cross-reference checks are
then mapped back to those positions, and the positions stay with the model in a :class:`LoadedFile`, so
collection, the runner's failure messages and the Python API never parse the file a second time.

The work is bounded before it starts: the file's size is checked before a byte is parsed
(:data:`DEFAULT_MAX_BYTES`), and a cheap event scan refuses deep nesting and too many values before the
node tree is built.
"""

from __future__ import annotations

import copy
import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from sockharness.scenario._language.errors import (
    KeyPath,
    Problem,
    ScenarioError,
    describe_value,
    did_you_mean,
)
from sockharness.scenario._language.model import Scenario, ScenarioFile
from sockharness.scenario._language.model_refs import Reference, check_references, check_scenario_references

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_DEPTH",
    "MAX_VALUES",
    "LoadedFile",
    "load_file",
    "load_path",
    "load_source",
    "load_text",
    "value_limit",
]

#: Where the one limit a user can change is set (the value limit follows the size limit).
_HOW_TO_RAISE: Final = (
    "max_bytes=, the ini option sockharness_scenario_max_bytes, or the command's --max-bytes"
)

#: Scenario files are written by hand: the largest built-in one is 15 KB. 4 MiB leaves room for
#: generated files; what the largest accepted file costs is stated and tested in test_scenario_loader_bounds.
DEFAULT_MAX_BYTES: Final = 4 * 1024 * 1024

#: Deeper nesting than this is never a scenario; refusing it keeps recursion bounded.
MAX_DEPTH: Final = 64
#: Values (after expanding aliases: "billion laughs" protection) in a file under the default size limit.
#: The largest built-in file holds 1,307. Loading costs about 0.1 ms and 1 KiB of memory per value,
#: so this, not the byte count, bounds the work for a dense file.
MAX_VALUES: Final = 50_000
#: A raised size limit raises the value limit with it: one value per this many bytes.
_BYTES_PER_VALUE: Final = 80


def value_limit(max_bytes: int) -> int:
    """How many values a file may hold under the size limit ``max_bytes`` (never fewer than MAX_VALUES)."""
    return max(MAX_VALUES, max_bytes // _BYTES_PER_VALUE)


#: libyaml's loader when PyYAML was built with it (about 14x faster, same nodes and marks), else pure Python.
_Loader = yaml.SafeLoader | yaml.CSafeLoader
_LOADER: Final[type[yaml.SafeLoader] | type[yaml.CSafeLoader]] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_PLAIN_SCALAR_TAGS: Final = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
_MAP_TAG: Final = "tag:yaml.org,2002:map"
_SEQ_TAG: Final = "tag:yaml.org,2002:seq"
_MERGE_TAG: Final = "tag:yaml.org,2002:merge"


def _tag_message(tag: str) -> str:
    short = tag.replace("tag:yaml.org,2002:", "!!")
    if short in ("!!timestamp", "!!binary"):
        return f"unsupported YAML type {short}: quote the value to make it text"
    return f"unsupported YAML tag {short}: scenario files hold plain data only (no tags, no Python objects)"


class _Mark(Protocol):
    """What the loader needs from a YAML position (PyYAML's and libyaml's marks both fit)."""

    line: int  # 0-based
    column: int  # 0-based


class _Refused(Exception):
    """A problem found while building data; stops the build (positions inside are unreliable)."""

    def __init__(self, mark: _Mark | None, path: KeyPath, message: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.path = path
        self.message = message


@dataclass
class _Document:
    """Plain data plus where each key path (and each mapping key) was written."""

    values: dict[KeyPath, _Mark] = field(default_factory=dict)
    keys: dict[KeyPath, _Mark] = field(default_factory=dict)
    count: int = 0
    #: A misspelt key validated under the name it was surely meant as: that path -> the path written.
    renamed: dict[KeyPath, KeyPath] = field(default_factory=dict)

    def written(self, path: KeyPath) -> KeyPath:
        """``path`` as it appears in the file (undoing a rename of one of its keys)."""
        if self.renamed:
            for end in range(len(path), 0, -1):
                written = self.renamed.get(path[:end])
                if written is not None:
                    return (*written, *path[end:])
        return path


class _Builder:
    def __init__(self, loader: _Loader, limit: int) -> None:
        self.loader = loader
        self.limit = limit
        self.document = _Document()
        self.active: set[int] = set()

    def build(self, node: yaml.Node, path: KeyPath, depth: int = 0) -> Any:
        self.document.count += 1
        if self.document.count > self.limit:
            raise _Refused(node.start_mark, path, f"the document expands to more than {self.limit} values")
        if depth > MAX_DEPTH:
            raise _Refused(node.start_mark, path, f"nested more than {MAX_DEPTH} levels deep")
        self.document.values.setdefault(path, node.start_mark)
        if id(node) in self.active:
            raise _Refused(node.start_mark, path, "a recursive alias (an anchor used inside itself)")
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                if node.tag != _SEQ_TAG:
                    raise _Refused(node.start_mark, path, _tag_message(node.tag))
                return [self.build(item, (*path, index), depth + 1) for index, item in enumerate(node.value)]
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path, depth)
            raise _Refused(
                node.start_mark, path, f"unsupported YAML node {type(node).__name__}"
            )  # pragma: no cover
        finally:
            self.active.discard(id(node))

    def _scalar(self, node: yaml.ScalarNode, path: KeyPath) -> Any:
        if node.tag not in _PLAIN_SCALAR_TAGS:
            raise _Refused(node.start_mark, path, _tag_message(node.tag))
        try:
            return self.loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError) as error:
            raise _Refused(node.start_mark, path, f"cannot read this value: {error}") from None

    def _mapping(self, node: yaml.MappingNode, path: KeyPath, depth: int) -> dict[Any, Any]:
        if node.tag != _MAP_TAG:
            raise _Refused(node.start_mark, path, _tag_message(node.tag))
        result: dict[Any, Any] = {}
        first_seen: dict[Any, _Mark] = {}
        merged: list[tuple[yaml.Node, KeyPath]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.append((value_node, path))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise _Refused(key_node.start_mark, path, "mapping keys must be plain scalars")
            key = self._scalar(key_node, path)
            if key in first_seen:
                line = first_seen[key].line + 1
                raise _Refused(
                    key_node.start_mark, (*path, key), f"duplicate key {key!r} (first written on line {line})"
                )
            first_seen[key] = key_node.start_mark
            self.document.keys.setdefault((*path, key), key_node.start_mark)
            result[key] = self.build(value_node, (*path, key), depth + 1)
        for value_node, merge_path in merged:
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for source in sources:
                if not isinstance(source, yaml.MappingNode):
                    raise _Refused(
                        source.start_mark, merge_path, "a merge key (<<) takes a mapping or a list of them"
                    )
                extra = self._mapping(source, path, depth)
                for key, value in extra.items():
                    result.setdefault(key, value)
        return result


def _problem(file: str, lines: Sequence[str], mark: _Mark | None, path: KeyPath, message: str) -> Problem:
    if mark is None:
        return Problem(file, 0, 0, path, message)
    source = lines[mark.line] if 0 <= mark.line < len(lines) else None
    return Problem(file, mark.line + 1, mark.column + 1, path, message, source)


def _syntax_message(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError):
        problem = error.problem or "invalid YAML"
        if "'\\t'" in problem or "\t" in problem:
            return "a tab character: YAML indentation and separation must use spaces"
        context = f" ({error.context})" if error.context else ""
        started = error.context_mark
        if started is not None and error.problem_mark is not None and started.line != error.problem_mark.line:
            context += f", which started on line {started.line + 1}"
        return f"YAML syntax error: {problem}{context}"
    if isinstance(error, yaml.reader.ReaderError):
        return f"YAML syntax error: character {chr(error.character)!r} is not allowed in YAML text"
    return f"YAML syntax error: {error}"


def _syntax_mark(error: yaml.YAMLError, text: str) -> _Mark | None:
    if isinstance(error, yaml.MarkedYAMLError):
        return error.problem_mark or error.context_mark
    if isinstance(error, yaml.reader.ReaderError):
        before = text[: error.position]
        line = before.count("\n")
        column = len(before) - (before.rfind("\n") + 1)
        return yaml.Mark("<text>", error.position, line, column, "", 0)
    return None


def _prescan(text: str, file: str, lines: Sequence[str], limit: int) -> None:
    """Refuse deep nesting and too many values before composing: PyYAML's composer recurses and keeps
    every node with two marks in memory, while this event scan (libyaml's parser) keeps nothing."""
    scanner = _LOADER(text)
    depth = 0
    nodes = 0
    try:
        while scanner.check_event():
            event = scanner.get_event()
            if isinstance(event, yaml.NodeEvent):
                nodes += 1
                if nodes > limit:
                    message = (
                        f"the document holds more than {limit} values (checked before loading; the limit "
                        f"grows with the file-size limit: {_HOW_TO_RAISE})"
                    )
                    raise ScenarioError([_problem(file, lines, event.start_mark, (), message)])
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    message = f"nested more than {MAX_DEPTH} levels deep"
                    raise ScenarioError([_problem(file, lines, event.start_mark, (), message)])
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return  # composing reports it, with the same position
    finally:
        scanner.dispose()


def _compose(text: str, file: str, lines: Sequence[str], limit: int) -> tuple[Any, _Document]:
    try:
        loader = _LOADER(text)  # the reader checks every character up front
    except yaml.YAMLError as error:
        problem = _problem(file, lines, _syntax_mark(error, text), (), _syntax_message(error))
        raise ScenarioError([problem]) from None
    _prescan(text, file, lines, limit)
    try:
        try:
            node = loader.get_single_node()
        except yaml.YAMLError as error:
            message = _syntax_message(error)
            if isinstance(error, yaml.composer.ComposerError) and "single document" in str(error.context):
                message = "a scenario file holds one YAML document; remove the extra '---'"
            raise ScenarioError([_problem(file, lines, _syntax_mark(error, text), (), message)]) from None
        except RecursionError:
            raise ScenarioError(
                [Problem(file, 0, 0, (), f"nested more than {MAX_DEPTH} levels deep")]
            ) from None
        if node is None:
            raise ScenarioError(
                [
                    Problem(
                        file,
                        1,
                        1,
                        (),
                        "empty file: expected a mapping with scenarios: [...]",
                        lines[0] if lines else None,
                    )
                ]
            )
        builder = _Builder(loader, limit)
        try:
            data = builder.build(node, ())
        except _Refused as refused:
            raise ScenarioError(
                [_problem(file, lines, refused.mark, refused.path, refused.message)]
            ) from None
        return data, builder.document
    finally:
        loader.dispose()


_GENERIC: Final = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "none_required": "no value (null)",
}


def _describe_error(error: ErrorDetails) -> tuple[str, list[str | int], bool]:
    """Return (message, extra path, point-at-key) for one pydantic error."""
    kind = error["type"]
    context: dict[str, Any] = dict(error.get("ctx") or {})
    value = error.get("input")
    if kind == "sockharness":
        return str(context["detail"]), list(context.get("subpath", [])), bool(context.get("at_key"))
    if kind == "missing":
        return "", [], False  # handled by the caller (needs the key name)
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str(context.get("expected", "")))
        hint = did_you_mean(value, choices)
        return f"expected one of {', '.join(choices)}, got {describe_value(value)}{hint}", [], False
    if kind in ("too_short", "too_long"):
        bound = "at least" if kind == "too_short" else "at most"
        limit = context.get("min_length", context.get("max_length"))
        return f"expected {bound} {limit} item(s), got {context.get('actual_length')}", [], False
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        operator = {
            "greater_than": ">",
            "greater_than_equal": ">=",
            "less_than": "<",
            "less_than_equal": "<=",
        }[kind]
        limit = next(iter(context.values()), "?")
        return f"expected a value {operator} {limit}, got {describe_value(value)}", [], False
    if kind == "string_too_short":
        return f"expected a non-empty string, got {describe_value(value)}", [], False
    expected = _GENERIC.get(kind)
    if expected is not None:
        return f"expected {expected}, got {describe_value(value)}", [], False
    return f"{error['msg']} (got {describe_value(value)})", [], False


def _locate(document: _Document, path: KeyPath, at_key: bool) -> tuple[_Mark | None, KeyPath]:
    """The mark for ``path`` and the path as written: a shorthand (``close: c``) has no ``close.socket``,
    so the nearest written ancestor stands in for it."""
    path = document.written(path)
    if at_key and path in document.keys:
        return document.keys[path], path
    probe = path
    while True:
        if probe in document.values:
            return document.values[probe], probe
        if not probe:
            return None, path
        probe = probe[:-1]


def _located(
    file: str, lines: Sequence[str], document: _Document, path: KeyPath, at_key: bool, message: str
) -> Problem:
    mark, written = _locate(document, path, at_key)
    return _problem(file, lines, mark, written, message)


def _translate(
    errors: Iterable[ErrorDetails], document: _Document, file: str, lines: Sequence[str]
) -> list[Problem]:
    problems: list[Problem] = []
    for error in errors:
        path: list[str | int] = [
            part for part in error["loc"] if not (isinstance(part, str) and part.startswith("§"))
        ]
        at_key = False
        if path and path[-1] == "[key]":
            path.pop()
            at_key = True
        if error["type"] == "missing":
            missing = path.pop() if path else "?"
            message = f"missing required key {missing!r}"
        else:
            message, extra, extra_at_key = _describe_error(error)
            path.extend(extra)
            at_key = at_key or extra_at_key
        key_path = tuple(path)
        problems.append(_located(file, lines, document, key_path, at_key, message))
    return problems


def _finish(problems: list[Problem]) -> ScenarioError:
    unique = list(dict.fromkeys(problems))
    unique.sort(key=lambda problem: (problem.line, problem.column))
    return ScenarioError(unique)


@dataclass(frozen=True)
class _UnknownKey:
    path: KeyPath
    #: The key the did-you-mean hint names, if any.
    meant: str | None


def _unknown_key(error: ErrorDetails) -> _UnknownKey | None:
    """The key an "unknown key" error names (and the key it was probably meant as), else None."""
    context: dict[str, Any] = dict(error.get("ctx") or {})
    if error["type"] != "sockharness" or not context.get("unknown_key"):
        return None
    subpath = list(context.get("subpath", []))
    if len(subpath) != 1:
        return None
    parts = [part for part in error["loc"] if not (isinstance(part, str) and part.startswith("§"))]
    return _UnknownKey((*parts, *subpath), context.get("meant"))


def _set_aside(data: Any, unknown: _UnknownKey) -> KeyPath | None:
    """Take the unknown key out of ``data``: renamed to the key it was meant as when that one is not
    written too (so its value is still checked), else deleted. Returns the path the value moved to
    (``()`` when deleted), or None when the path does not lead to the key."""
    container = data
    path = unknown.path
    for part in path[:-1]:
        in_mapping = isinstance(container, dict) and part in container
        in_list = isinstance(container, list) and isinstance(part, int) and 0 <= part < len(container)
        if not (in_mapping or in_list):
            return None
        container = container[part]
    if not isinstance(container, dict) or path[-1] not in container:
        return None
    value = container.pop(path[-1])
    if unknown.meant is not None and unknown.meant not in container:
        container[unknown.meant] = value
        return (*path[:-1], unknown.meant)
    return ()


def _error_path(error: ErrorDetails) -> KeyPath:
    """The key path an error is about (its location plus the sub-keys a model validator named)."""
    parts: list[str | int] = [
        part for part in error["loc"] if not (isinstance(part, str) and part.startswith("§"))
    ]
    if parts and parts[-1] == "[key]":
        parts.pop()
    if error["type"] == "sockharness":
        parts.extend(dict(error.get("ctx") or {}).get("subpath", []))
    return tuple(parts)


def _caused_by_removal(error: ErrorDetails, removed: Mapping[KeyPath, list[str | int]]) -> bool:
    """Whether an error found after setting unknown keys aside may only be an echo of that removal.

    ``removed`` maps each mapping path to the keys set aside there. A missing key that a set-aside key
    resembles (``descripton`` for ``description``) repeats the unknown-key problem in other words, and so
    may a complaint about the emptied mapping as a whole ("a matcher needs at least one operator"); both
    are left out. Errors inside the mapping's other values are kept.
    """
    path = _error_path(error)
    if error["type"] == "missing" and path:
        keys = removed.get(path[:-1], ())
        return any(did_you_mean(key, [str(path[-1])]) for key in keys)
    return path in removed


def _references_of_sound_scenarios(data: dict[Any, Any]) -> list[Reference]:
    """When some scenarios of a file are malformed, still check the names used in the sound ones, so one
    run reports everything that can be known."""
    scenarios = data.get("scenarios")
    if not isinstance(scenarios, list):
        return []
    references: list[Reference] = []
    for index, raw in enumerate(scenarios):
        try:
            scenario = Scenario.model_validate(raw)
        except ValidationError:
            continue
        references.extend(check_scenario_references(scenario, index))
    return references


@dataclass
class _Validated:
    model: ScenarioFile | None
    problems: list[Problem]


def _validate(data: dict[Any, Any], document: _Document, file: str, lines: Sequence[str]) -> _Validated:
    """Validate the whole file, reporting every problem at every level in one pass.

    A strict model stops at its first unknown key, so a misspelt ``descripton:`` would hide every error in
    that scenario's peers and steps. Each round therefore sets the unknown keys aside (in a copy: renamed
    to the key the did-you-mean hint names when that one is absent, so the value is still checked and the
    model can still be built for the reference checks; deleted otherwise) and validates again, until no
    new unknown key turns up; the problems of every round are kept. The rounds are bounded by the
    nesting depth of the models (about six), and a valid file takes exactly one.
    """
    problems: list[Problem] = []
    removed: set[KeyPath] = set()
    removed_by_mapping: dict[KeyPath, list[str | int]] = {}
    current = data
    for _ in range(MAX_DEPTH + 1):
        try:
            model = ScenarioFile.model_validate(current)
        except ValidationError as error:
            details = [
                detail
                for detail in error.errors(include_url=False)
                if not _caused_by_removal(detail, removed_by_mapping)
            ]
            problems += _translate(details, document, file, lines)
            unknown = [found for detail in details if (found := _unknown_key(detail)) is not None]
            fresh = [found for found in unknown if found.path not in removed]
            if current is data and fresh:
                current = copy.deepcopy(data)
            progressed = False
            for found in fresh:
                removed.add(found.path)
                removed_by_mapping.setdefault(found.path[:-1], []).append(found.path[-1])
                moved = _set_aside(current, found)
                if moved:
                    document.renamed[moved] = found.path
                progressed = progressed or moved is not None
            if progressed:
                continue
            references = _references_of_sound_scenarios(current)
            problems += [
                _located(file, lines, document, reference.path, reference.at_key, reference.message)
                for reference in references
            ]
            return _Validated(None, problems)
        problems += [
            _located(file, lines, document, reference.path, reference.at_key, reference.message)
            for reference in check_references(model)
        ]
        return _Validated(None if problems else model, problems)
    return _Validated(None, problems)  # pragma: no cover - each round removes a level of unknown keys


@dataclass(frozen=True, eq=False)
class LoadedFile:
    """One scenario file, loaded once: the validated model plus the line each part was written on.

    ``locate`` and ``lines`` are what the runner needs to quote a failed step (``file:line`` and the
    source line), so nothing downstream reads or parses the file again.
    """

    #: The file's name as messages show it (as given, or rootdir-relative under pytest).
    path: str
    model: ScenarioFile
    #: The source text split into lines (without line ends).
    lines: list[str]
    #: 1-based line of every value written in the file, by key path.
    positions: Mapping[KeyPath, int] = field(repr=False)

    @property
    def scenarios(self) -> list[Scenario]:
        return list(self.model.scenarios)

    def locate(self, path: KeyPath) -> int | None:
        """The line of ``path``, or of its nearest written ancestor (a shorthand has no sub-keys)."""
        probe = path
        while True:
            line = self.positions.get(probe)
            if line is not None:
                return line
            if not probe:
                return None
            probe = probe[:-1]

    def scenario(self, name: str) -> tuple[int, Scenario]:
        """The position and model of the scenario called ``name``; KeyError lists the known names."""
        for index, scenario in enumerate(self.model.scenarios):
            if scenario.name == name:
                return index, scenario
        known = ", ".join(scenario.name for scenario in self.model.scenarios)
        raise KeyError(f"{self.path}: no scenario named {name!r} (scenarios: {known})")


def _too_big(file: str, size: int, max_bytes: int) -> ScenarioError:
    message = (
        f"the file is {size} bytes, more than the {max_bytes}-byte limit for scenario files "
        f"(checked before parsing; raise it with {_HOW_TO_RAISE})"
    )
    return ScenarioError([Problem(file, 0, 0, (), message)])


def load_source(text: str, filename: str = "<text>", *, max_bytes: int = DEFAULT_MAX_BYTES) -> LoadedFile:
    """Parse and validate scenario YAML once; raise :class:`ScenarioError` listing every problem found."""
    if len(text) > max_bytes:  # each character is at least one byte: no need to encode a huge text
        raise _too_big(filename, len(text), max_bytes)
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise _too_big(filename, size, max_bytes)
    lines = text.splitlines()
    data, document = _compose(text, filename, lines, value_limit(max_bytes))
    if not isinstance(data, dict):
        raise ScenarioError(
            [
                _problem(
                    filename,
                    lines,
                    document.values.get(()),
                    (),
                    f"expected a mapping with scenarios: [...], got {describe_value(data)}",
                )
            ]
        )
    try:
        validated = _validate(data, document, filename, lines)
    except RecursionError:
        raise ScenarioError(
            [Problem(filename, 0, 0, (), f"nested more than {MAX_DEPTH} levels deep")]
        ) from None
    if validated.model is None:
        raise _finish(validated.problems)
    positions = {path: mark.line + 1 for path, mark in document.values.items()}
    return LoadedFile(filename, validated.model, lines, positions)


def _read(path: Path, file: str, max_bytes: int) -> bytes:
    """The file's bytes, refusing a file over ``max_bytes`` before reading it (and never reading more
    than ``max_bytes + 1`` bytes, should it be a pipe or still growing)."""
    try:
        with path.open("rb") as stream:
            status = os.fstat(stream.fileno())
            if stat.S_ISREG(status.st_mode) and status.st_size > max_bytes:
                raise _too_big(file, status.st_size, max_bytes)
            raw = stream.read(max_bytes + 1)
    except OSError as error:
        raise ScenarioError(
            [Problem(file, 0, 0, (), f"cannot read the file: {error.strerror or error}")]
        ) from None
    if len(raw) > max_bytes:
        raise _too_big(file, len(raw), max_bytes)
    return raw


def load_path(path: str | Path, *, name: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> LoadedFile:
    """Read and load one scenario file (UTF-8; a BOM is tolerated). ``name`` is how messages name the
    file (default: ``path`` as given)."""
    file = str(path) if name is None else name
    raw = _read(Path(path), file, max_bytes)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        message = f"not UTF-8 text: byte 0x{raw[error.start]:02x} cannot be decoded"
        raise ScenarioError([Problem(file, line, column, (), message)]) from None
    return load_source(text, file, max_bytes=max_bytes)


def load_text(text: str, filename: str = "<text>", *, max_bytes: int = DEFAULT_MAX_BYTES) -> ScenarioFile:
    """Parse and validate scenario YAML; raise :class:`ScenarioError` listing every problem found."""
    return load_source(text, filename, max_bytes=max_bytes).model


def load_file(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> ScenarioFile:
    """Read and load one scenario file (UTF-8; a BOM is tolerated)."""
    return load_path(path, max_bytes=max_bytes).model
