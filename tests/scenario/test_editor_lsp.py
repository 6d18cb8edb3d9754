"""The editor experience, tested through the real ``yaml-language-server`` over LSP.

One server process for the module, in a project laid out as docs/how-to/editor.md tells users to: the schema
written by ``sockharness schema --output .sockharness/schema.json`` and associated with ``*.sock.yaml``
through the ``yaml.schemas`` setting. Then: no diagnostic on any valid file (the built-in scenarios, the
user-scenario fixtures, tests/data/editor/valid), on each file of tests/data/editor/malformed the message
and line its ``# editor:`` header names (or none, for the mistakes only ``validate`` can see), completion
of step actions, toxic types, errno names and peer kinds, and hovers that carry the reference text.

The server is installed by ``.ci/run`` (``npm install --prefix .ci``); set SOCKHARNESS_YAML_LANGUAGE_SERVER
to another ``yaml-language-server`` script to use that one. Without it the module skips locally and fails
under CI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sockharness.scenario._language.errors import ScenarioError
from sockharness.scenario._language.loader import load_file
from tests.support.lsp import Diagnostic, LanguageServer

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "data" / "editor"
SERVER_ENV = "SOCKHARNESS_YAML_LANGUAGE_SERVER"
DEFAULT_SERVER = REPO / ".ci" / "node_modules" / "yaml-language-server" / "bin" / "yaml-language-server"
VALID = sorted(
    [
        *(REPO / "scenarios").rglob("*.yaml"),
        *(REPO / "tests" / "data" / "user_scenarios").glob("*.yaml"),
        *(CORPUS / "valid").glob("*.yaml"),
    ]
)
MALFORMED = sorted((CORPUS / "malformed").glob("*.yaml"))
#: The malformed corpus of the loader's own tests: the editor's count on it is the one the docs state.
LOADER_CORPUS = sorted((REPO / "tests" / "data" / "scenario_malformed").glob("*.yaml"))
_HEADER = re.compile(r"^# editor: (?:(?P<line>\d+) (?P<message>.+)|none \((?P<reason>validate only: .+)\))$")


#: The start of every small document the completion and hover tests open.
HEAD = "scenarios:\n  - name: a\n    description: d\n"


@dataclass(frozen=True)
class Expected:
    """What a malformed corpus file's first line promises: a message on a line, or nothing at all."""

    line: int | None
    messages: tuple[str, ...]
    reason: str


def expected_of(path: Path) -> Expected:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    match = _HEADER.match(first)
    assert match, (
        f"{path.name}: the first line must be '# editor: LINE MESSAGE [| MESSAGE...]' "
        "or '# editor: none (validate only: ...)'"
    )
    if match["reason"]:
        return Expected(None, (), match["reason"])
    return Expected(int(match["line"]), tuple(match["message"].split(" | ")), "")


def server_command() -> list[str] | None:
    script = Path(os.environ.get(SERVER_ENV) or DEFAULT_SERVER)
    node = shutil.which("node")
    if node is None or not script.is_file():
        return None
    return [node, str(script), "--stdio"]


@dataclass
class Editor:
    """The running server and the project it edits."""

    server: LanguageServer
    project: Path
    opened: int = 0

    def uri_of(self, relative: str) -> str:
        """A URI never used before in this session (a reopened URI could meet the old text's answers)."""
        self.opened += 1
        folder, _, name = relative.rpartition("/")
        return (self.project / folder / f"{self.opened}-{name}").as_uri()

    def diagnostics_of(self, relative: str, text: str) -> list[Diagnostic]:
        """Open ``text`` as the project file ``relative`` and return what the editor shows for it."""
        return self.diagnostics_of_all({relative: text})[relative]

    def diagnostics_of_all(self, texts: dict[str, str]) -> dict[str, list[Diagnostic]]:
        """Open every file at once (the server validates each after a fixed 200 ms pause, so one at a time
        would add that pause per file), then collect what it shows for each."""
        uris = {relative: self.uri_of(relative) for relative in texts}
        for relative, text in texts.items():
            self.server.open(uris[relative], text)
        try:
            return {relative: self.server.diagnostics(uri) for relative, uri in uris.items()}
        finally:
            for uri in uris.values():
                self.server.close_document(uri)

    def completions_at(self, text: str, marker: str = "‸") -> list[str]:
        """Completion labels at ``marker`` (removed from the text) in a ``*.sock.yaml`` file."""
        line_number, line = next((n, line) for n, line in enumerate(text.splitlines()) if marker in line)
        uri = self.uri_of("scenarios/completion.sock.yaml")
        self.server.open(uri, text.replace(marker, ""))
        try:
            self.server.diagnostics(uri)
            return self.server.completion_labels(uri, line_number, line.index(marker))
        finally:
            self.server.close_document(uri)

    def hover_at(self, text: str, word: str) -> str:
        line_number, line = next((n, line) for n, line in enumerate(text.splitlines()) if word in line)
        uri = self.uri_of("scenarios/hover.sock.yaml")
        self.server.open(uri, text)
        try:
            self.server.diagnostics(uri)
            return self.server.hover_text(uri, line_number, line.index(word) + 1)
        finally:
            self.server.close_document(uri)


def settings(yaml_version: str = "1.2") -> dict[str, object]:
    """VS Code's YAML settings as the how-to page gives them (a workspace-relative schema path)."""
    return {
        "yaml": {
            "schemas": {".sockharness/schema.json": "*.sock.yaml"},
            "validate": True,
            "completion": True,
            "hover": True,
            "yamlVersion": yaml_version,
            "schemaStore": {"enable": False},
        }
    }


@pytest.fixture(scope="module")
def editor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Editor]:
    command = server_command()
    if command is None:
        reason = (
            f"yaml-language-server not installed (run .ci/run, or set {SERVER_ENV}); "
            f"node: {shutil.which('node')}"
        )
        if os.environ.get("CI"):
            pytest.fail(f"the editor tests are required under CI: {reason}")
        pytest.skip(reason)
    project = tmp_path_factory.mktemp("editor-project")
    written = subprocess.run(
        [sys.executable, "-m", "sockharness", "schema", "--output", ".sockharness/schema.json"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert written.returncode == 0, written.stderr
    with LanguageServer(command, project, settings()) as server:
        yield Editor(server, project)


@pytest.fixture(scope="module")
def shown(editor: Editor) -> dict[Path, list[Diagnostic]]:
    """What the editor shows for every corpus file, valid and malformed, opened together."""
    files = [*VALID, *MALFORMED, *LOADER_CORPUS]
    texts = {f"corpus/{index}/{path.stem}.sock.yaml": path for index, path in enumerate(files)}
    found = editor.diagnostics_of_all(
        {relative: path.read_text(encoding="utf-8") for relative, path in texts.items()}
    )
    return {texts[relative]: diagnostics for relative, diagnostics in found.items()}


def describe(diagnostics: list[Diagnostic]) -> str:
    return "\n".join(f"  line {item.line + 1}: {item.message}" for item in diagnostics) or "  (none)"


@pytest.mark.parametrize("path", VALID, ids=[str(path.relative_to(REPO)) for path in VALID])
def test_no_diagnostic_on_a_valid_file(shown: dict[Path, list[Diagnostic]], path: Path) -> None:
    found = shown[path]
    assert found == [], f"false diagnostics on {path.name}:\n{describe(found)}"


@pytest.mark.parametrize("path", MALFORMED, ids=[path.stem for path in MALFORMED])
def test_malformed_file_shows_its_message_on_its_line(
    shown: dict[Path, list[Diagnostic]], path: Path
) -> None:
    expected = expected_of(path)
    found = shown[path]
    if expected.line is None:
        assert found == [], f"{path.name} ({expected.reason}) now shows:\n{describe(found)}"
        return
    wanted = "\n".join(f"  line {expected.line}: {message}" for message in expected.messages)
    assert len(found) == len(expected.messages), f"{path.name}: expected\n{wanted}\ngot:\n{describe(found)}"
    for message in expected.messages:
        assert any(item.line + 1 == expected.line and message in item.message for item in found), (
            f"{path.name}: expected\n{wanted}\ngot:\n{describe(found)}"
        )


#: What an editor says when a schema leaves it nothing better: never shown on the corpora.
CONFUSING = (
    "Matches multiple schemas when only one must validate",
    "Matches a schema that is not allowed",
    "String does not match the pattern of",
)


def test_no_confusing_message_on_either_corpus(shown: dict[Path, list[Diagnostic]]) -> None:
    confusing = [
        f"{path.name}:{item.line + 1}: {item.message}"
        for path, found in shown.items()
        for item in found
        if item.message.startswith(CONFUSING)
    ]
    assert confusing == []


@pytest.mark.parametrize("path", MALFORMED, ids=[path.stem for path in MALFORMED])
def test_validate_flags_every_malformed_file(path: Path) -> None:
    with pytest.raises(ScenarioError):
        load_file(path)


#: Loader-corpus files the editor shows nothing for, and why: what docs/how-to/editor.md lists as the checks
#: only ``validate`` makes. (``duplicate_key`` is not here: the editor's YAML parser reports it.)
VALIDATE_ONLY = {
    "duplicate_scenario_name": "a name unique across scenarios",
    "elapsed_min_above_max": "two values compared",
    "empty_file": "an empty file (the editor does not check an empty document)",
    "errno_in_returns_typo": "errno names (the platform's)",
    "unknown_errno": "errno names (the platform's)",
    "unknown_socket_constant": "socket constants (the platform's)",
    "missing_peer": "a reference to a declared peer",
    "phase_down_unknown_proxy": "a reference to a declared proxy",
    "proxy_step_on_plain_peer": "a reference to a peer of kind proxy",
    "remove_unknown_packet_fault": "a reference to a named packet fault",
    "undeclared_socket": "a reference to a socket created earlier",
    "unknown_variable": "a reference to a variable saved earlier",
    "observe_unknown_placeholder": "a reference to a variable saved earlier",
}


def test_editor_count_on_the_loader_corpus(shown: dict[Path, list[Diagnostic]]) -> None:
    """The count docs/how-to/editor.md states: of the loader's malformed corpus (every file of which
    ``validate`` rejects) the editor flags all but the checks listed in VALIDATE_ONLY."""
    missed = {path.stem for path in LOADER_CORPUS if not shown[path]}
    assert missed == set(VALIDATE_ONLY)
    flagged = len(LOADER_CORPUS) - len(missed)
    page = (REPO / "docs" / "how-to" / "editor.md").read_text(encoding="utf-8")
    total = len(LOADER_CORPUS)
    claim = f"Of the {total} malformed files of its test corpus, `validate` flags {total}"
    assert claim in page and f"the editor {flagged}" in page, (
        f"update the count in the page: {claim}, the editor {flagged}"
    )


def test_completes_step_actions(editor: Editor) -> None:
    labels = set(editor.completions_at(HEAD + "    steps:\n      - rec‸\n"))
    assert {"recv", "recv_until", "recvfrom", "connect", "add_toxic", "repeat", "returns", "raises"} <= labels


def test_completes_toxic_types(editor: Editor) -> None:
    text = (
        HEAD + "    peers:\n      p: {kind: proxy, upstream: s}\n"
        "    steps:\n      - add_toxic:\n          proxy: p\n          type: ‸\n"
    )
    assert {"latency", "bandwidth", "reset_peer", "limit_data", "slicer"} <= set(editor.completions_at(text))


def test_completes_errno_names(editor: Editor) -> None:
    text = (
        HEAD + "    steps:\n      - connect: {socket: c, address: s}\n"
        "        raises:\n          type: OSError\n          errno: ECONN‸\n"
    )
    assert {"ECONNREFUSED", "ECONNRESET", "ECONNABORTED"} <= set(editor.completions_at(text))


def test_completes_peer_kinds_and_shorthands(editor: Editor) -> None:
    shorthand = HEAD + "    peers:\n      srv: ec‸\n    steps: []\n"
    assert {"echo", "discard", "udp_echo", "closed_port"} <= set(editor.completions_at(shorthand))
    kind = HEAD + "    peers:\n      srv:\n        kind: ‸\n    steps: []\n"
    assert {"tcp_server", "tcp_client", "proxy", "reply", "echo"} <= set(editor.completions_at(kind))


def test_completes_script_steps(editor: Editor) -> None:
    text = (
        HEAD + "    peers:\n      srv:\n        kind: tcp_server\n"
        "        script:\n          - recv_‸\n    steps: []\n"
    )
    assert {"recv_until", "recv_eof", "close", "sendall"} <= set(editor.completions_at(text))


def test_hover_carries_the_reference_text(editor: Editor) -> None:
    text = HEAD + "    steps:\n      - shutdown: {socket: c, how: SHUT_WR}\n"
    hover = editor.hover_at(text, "shutdown")
    assert "shutdown" in hover and "returns" in hover, hover
    assert "\\`" not in hover, f"escaped backticks in the hover: {hover!r}"


def test_modeline_with_a_path_relative_to_the_file(editor: Editor) -> None:
    """A file that matches no glob takes the schema from its modeline, relative to the file's folder."""
    text = (
        "# yaml-language-server: $schema=../../.sockharness/schema.json\n"
        + HEAD
        + "    steps:\n      - recieve: {socket: c, bufsize: 1}\n"
    )
    found = editor.diagnostics_of("team/checks/modeline.yaml", text)
    assert [(item.line + 1, item.message.split(":")[0]) for item in found] == [(6, "unknown step key")]


def test_yaml_1_1_booleans_need_the_yaml_version_setting(editor: Editor) -> None:
    """The loader reads ``no`` as false (YAML 1.1); the editor only with ``yaml.yamlVersion: "1.1"``."""
    text = (
        HEAD + "    peers:\n"
        "      srv: {kind: tcp_server, tolerate_disconnects: no}\n    steps:\n      - sleep: 1ms\n"
    )
    found = editor.diagnostics_of("scenarios/yaml11.sock.yaml", text)
    assert [(item.line + 1, item.message) for item in found] == [(5, 'Incorrect type. Expected "boolean".')]
    editor.server.configure(settings("1.1"))
    try:
        assert editor.diagnostics_of("scenarios/yaml11.sock.yaml", text) == []
    finally:
        editor.server.configure(settings())
