"""The example GitHub Actions workflow: triggers, secrets, and only commands that exist."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, kling

WORKFLOW = REPO / "examples/github-actions/kling-pipe.yml"
INVOCATION = re.compile(r"kling-pipe (?P<command>[a-z]+)(?P<rest>[^\n]*)")


def workflow() -> dict[str, Any]:
    data: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text("utf-8"))
    # YAML 1.1 reads the key `on` as True.
    data["on"] = data.pop(True)
    return data


def scripts(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) for step in job["steps"])


def invocations() -> list[tuple[str, list[str]]]:
    found = []
    for job in workflow()["jobs"].values():
        for match in INVOCATION.finditer(scripts(job)):
            found.append((match["command"], re.findall(r"(?<![\w-])--[a-z][a-z-]*", match["rest"])))
    return found


def test_pull_requests_touching_manifests_or_templates_plan_and_merges_to_main_generate() -> None:
    triggers = workflow()["on"]
    for event in ("pull_request", "push"):
        assert {"pipelines/**", "templates/**"} <= set(triggers[event]["paths"])
        assert "!pipelines/**/*.lock.json" in triggers[event]["paths"]
    assert triggers["push"]["branches"] == ["main"]
    jobs = workflow()["jobs"]
    assert "--format markdown" in scripts(jobs["plan"])
    assert "gh pr comment" in scripts(jobs["plan"])
    generate = scripts(jobs["generate"])
    assert "kling-pipe run" in generate and "--stitch" in generate
    assert "git push" in generate


def test_only_the_generate_job_sees_the_api_token() -> None:
    jobs = workflow()["jobs"]
    assert "REPLICATE_API_TOKEN" not in yaml.safe_dump(jobs["plan"])
    assert "secrets.REPLICATE_API_TOKEN" in yaml.safe_dump(jobs["generate"])
    assert jobs["plan"]["permissions"] == {"contents": "read", "pull-requests": "write"}


def test_paid_runs_never_overlap_and_the_store_is_saved_even_after_a_failure() -> None:
    generate = workflow()["jobs"]["generate"]
    assert generate["concurrency"]["cancel-in-progress"] is False
    steps = {step["name"]: step for step in generate["steps"] if "name" in step}
    saves = [s for name, s in steps.items() if name.startswith("Save the store")]
    assert len(saves) == 2
    assert all(str(s["if"]).startswith("always()") for s in saves)
    names = list(steps)
    assert names.index("Generate and stitch") < names.index("Save the store to the Actions cache")
    assert names.index("Save the store to the Actions cache") < names.index(
        "Commit the updated locks"
    )
    assert steps["Commit the updated locks"]["if"] == "always()"


@pytest.mark.parametrize(
    ("command", "options"),
    sorted({(c, tuple(sorted(set(o)))) for c, o in invocations()}),
)
def test_every_kling_pipe_command_and_option_in_the_workflow_exists(
    command: str, options: tuple[str, ...]
) -> None:
    result = kling(command, "--help")
    assert result.returncode == 0, result.stderr
    for option in options:
        assert option in result.stdout, f"kling-pipe {command} has no {option}"
