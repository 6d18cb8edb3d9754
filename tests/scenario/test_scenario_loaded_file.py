"""A scenario file is loaded once: the model and the source positions come from the same parse, and
collection, the Python API and the runner's failure messages all use that one load."""

from __future__ import annotations

import textwrap
from pathlib import Path
from unittest import mock

import pytest

from sockharness.scenario import _api as api
from sockharness.scenario._language import loader
from sockharness.scenario._language.errors import ScenarioError
from sockharness.scenario._language.loader import LoadedFile, load_file, load_path, load_source, load_text
from sockharness.scenario._language.locations import line_index
from sockharness.scenario._run.failure import ScenarioFailure

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "scenarios").rglob("*.yaml"))

FAILING = textwrap.dedent(
    """\
    scenarios:
      - name: passes
        description: a socket starts blocking
        steps:
          - socket: {as: s}
          - getblocking: s
            returns: true
      - name: fails
        description: wrong on purpose
        steps:
          - socket: {as: s}
          - getblocking: s
            returns: false
    """
)


@pytest.mark.parametrize("path", SHIPPED, ids=[path.stem for path in SHIPPED])
def test_positions_agree_with_a_separate_compose(path: Path) -> None:
    loaded = load_path(path)
    reference = line_index(path.read_text(encoding="utf-8-sig"))
    assert reference
    assert {key: loaded.locate(key) for key in reference} == reference
    assert loaded.lines == path.read_text(encoding="utf-8-sig").splitlines()
    assert loaded.model == load_file(path)


def test_locate_falls_back_to_the_nearest_written_ancestor() -> None:
    loaded = load_source(FAILING, "f.yaml")
    assert loaded.locate(("scenarios", 1, "steps", 1)) == 12
    assert loaded.locate(("scenarios", 1, "steps", 1, "getblocking", "socket")) == 12  # a shorthand
    assert loaded.locate(()) == 1
    assert loaded.path == "f.yaml"
    assert [scenario.name for scenario in loaded.scenarios] == ["passes", "fails"]
    assert loaded.scenario("fails")[0] == 1
    with pytest.raises(KeyError, match=r"no scenario named 'nope' \(scenarios: passes, fails\)"):
        loaded.scenario("nope")


def test_load_text_and_load_file_still_return_the_model(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text(FAILING, encoding="utf-8")
    assert load_file(path) == load_text(FAILING) == load_path(path).model
    assert isinstance(load_path(path), LoadedFile)
    with pytest.raises(ScenarioError) as caught:
        load_path(path, name="shown/f.yaml", max_bytes=10)
    assert caught.value.file == "shown/f.yaml"


def test_the_python_api_runs_from_one_load(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text(FAILING, encoding="utf-8")
    with mock.patch.object(loader, "_compose", wraps=loader._compose) as compose:
        assert api.run_scenario(path, "passes", seed=1).status == "passed"
        with pytest.raises(ScenarioFailure) as caught:
            api.run_scenario(path, "fails", seed=1)
    assert compose.call_count == 2  # one parse per call, positions included
    assert f"@ {path}:12" in str(caught.value)
    loaded = load_path(path)
    with mock.patch.object(loader, "_compose", side_effect=AssertionError("parsed again")):
        assert api.run_scenario(loaded, "passes", seed=1).status == "passed"
        with api.scenario_peers(loaded, "passes", seed=1) as peers:
            assert list(peers) == []


def test_collection_parses_each_file_once(pytester: pytest.Pytester) -> None:
    (pytester.path / "test_f.sock.yaml").write_text(FAILING, encoding="utf-8")
    with (
        mock.patch.object(loader, "_compose", wraps=loader._compose) as compose,
        mock.patch(
            "sockharness.scenario._language.locations.line_index", side_effect=AssertionError("parsed again")
        ),
    ):
        result = pytester.runpytest_inprocess("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    assert compose.call_count == 1
    assert "step 2 (getblocking) @ test_f.sock.yaml:12" in result.stdout.str()
