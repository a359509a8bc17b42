"""The planning commands, run as a user runs them: a real subprocess of `kling-pipe`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.conftest import REPO, kling

Write = Callable[..., Path]


def test_validate_accepts_the_shipped_pipelines() -> None:
    result = kling("validate", *sorted((REPO / "pipelines").glob("*.yaml")))
    assert result.returncode == 0, result.stderr
    assert "spring-launch.yaml: ok, 24 jobs" in result.stdout
    assert "previs.yaml: ok, 10 jobs" in result.stdout
    assert "storyboard-v3.yaml: ok, 8 jobs" in result.stdout


def test_invalid_manifest_exits_2_with_located_errors_and_no_traceback(
    write_manifest: Write,
) -> None:
    path = write_manifest(
        """
        version: 1
        name: demo
        model: kwaivgi/kling-v2.6
        shots:
          - id: hero
            prompt: x
            inputs: {audio: true, duration: 7}
        """
    )
    result = kling("validate", path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{path}:7:14: shots[0].inputs.audio: unknown input" in result.stderr
    assert f"{path}:7:37: shots[0].inputs.duration: 7 is not allowed" in result.stderr


def test_strict_turns_warnings_into_exit_2(write_manifest: Write) -> None:
    path = write_manifest(
        """
        version: 1
        name: demo
        model: kwaivgi/kling-v2.6
        defaults: {generate_audio: false}
        shots:
          - id: hero
            prompt: 'She says "hello"'
        """
    )
    assert kling("validate", path).returncode == 0
    strict = kling("validate", "--strict", path)
    assert strict.returncode == 2
    assert "nobody will speak it" in strict.stderr


def test_plan_json_has_the_documented_shape() -> None:
    result = kling("plan", REPO / "pipelines/spring-launch.yaml", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["manifest"] == "spring-launch"
    assert set(data["summary"]) == {
        "jobs",
        "new",
        "changed",
        "unchanged",
        "removed",
        "generations",
        "cost_usd",
        "lost",
        "lost_cost_usd",
        "prices_as_of",
        "takes",
        "picks",
    }
    assert data["summary"]["prices_as_of"] == "2026-11-25"
    assert data["picks"] == []
    job = data["jobs"][0]
    assert {
        "id",
        "take",
        "key",
        "shot",
        "values",
        "model",
        "inputs",
        "status",
        "reason",
        "cost_usd",
    } <= set(job)
    assert job["values"] == {"market": "us", "aspect_ratio": "16:9"}
    assert len(job["key"]) == 64
    assert data["summary"]["jobs"] == data["summary"]["takes"] == len(data["jobs"]) == 24


def test_plan_only_filters_by_glob() -> None:
    result = kling("plan", REPO / "pipelines/spring-launch.yaml", "--json", "--only", "pour/jp/*")
    ids = [j["id"] for j in json.loads(result.stdout)["jobs"]]
    assert ids == ["pour/jp/16x9", "pour/jp/9x16"]


def test_plan_markdown_lists_new_jobs_with_reason_and_total(write_manifest: Write) -> None:
    path = write_manifest(
        """
        version: 1
        name: demo
        model: kwaivgi/kling-v2.6
        defaults: {generate_audio: false}
        shots: [{id: hero, prompt: "a kettle"}]
        """
    )
    result = kling("plan", path, "--format", "markdown")
    assert result.returncode == 0, result.stderr
    assert "| `hero` | new | not in the lock | $0.35 |" in result.stdout
    assert "1 generations, estimated $0.35" in result.stdout


def test_schema_is_a_json_schema_that_accepts_the_shipped_manifests() -> None:
    result = kling("schema")
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    for manifest in (REPO / "pipelines").glob("*.yaml"):
        jsonschema.validate(yaml.safe_load(manifest.read_text()), schema)
    checked_in = json.loads((REPO / "manifest.schema.json").read_text())
    assert checked_in == schema, "manifest.schema.json is stale: run kling-pipe schema -o ..."


def test_init_creates_a_starter_that_plans(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    assert kling("init", tmp_path).returncode == 0
    result = kling("plan", tmp_path / "pipelines/starter.yaml", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["jobs"] == 4
    again = kling("init", tmp_path)
    assert again.returncode == 2
    assert "refusing to overwrite" in again.stderr


def test_usage_error_exits_2() -> None:
    assert kling("plan").returncode == 2


@pytest.mark.parametrize("command", ["validate", "plan", "schema", "init"])
def test_every_command_has_help(command: str) -> None:
    result = kling(command, "--help")
    assert result.returncode == 0
    assert "Usage" in result.stdout
