"""The sharded GitHub Actions example: shards on a bucket, a merge that commits the lock, a
sharded stitch; only commands and options that exist."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, kling

WORKFLOW = REPO / "examples/github-actions/kling-pipe-sharded.yml"
GROUPS = {"store", "lock", "models"}
INVOCATION = re.compile(r"kling-pipe (?P<command>[a-z]+(?: [a-z]+)?)(?P<rest>[^\n]*)")


def workflow() -> dict[str, Any]:
    data: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text("utf-8"))
    data["on"] = data.pop(True)  # YAML 1.1 reads the key `on` as True
    return data


def scripts(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) for step in job["steps"])


def invocations() -> set[tuple[str, tuple[str, ...]]]:
    found = set()
    for job in workflow()["jobs"].values():
        text = scripts(job).replace("\\\n", " ")
        for match in INVOCATION.finditer(text):
            words = match["command"].split()
            command = " ".join(words) if words[0] in GROUPS else words[0]
            options = re.findall(r"(?<![\w-])--[a-z][a-z-]*", match["rest"])
            found.add((command, tuple(sorted(set(options)))))
    return found


def test_n_shards_generate_then_one_merge_commits_the_lock_then_the_cuts_are_sharded() -> None:
    data = workflow()
    jobs = data["jobs"]
    shards = int(data["env"]["SHARDS"])
    assert jobs["generate"]["strategy"]["matrix"]["shard"] == list(range(1, shards + 1))
    assert jobs["stitch"]["strategy"]["matrix"]["shard"] == list(range(1, shards + 1))
    assert jobs["generate"]["strategy"]["fail-fast"] is False
    assert "--shard" in scripts(jobs["generate"]) and "--shard" in scripts(jobs["stitch"])
    assert jobs["lock"]["needs"] == "generate" and jobs["stitch"]["needs"] == "lock"
    assert "kling-pipe lock merge" in scripts(jobs["lock"])
    assert "git push" in scripts(jobs["lock"])
    assert data["env"]["KLING_PIPE_STORE"].startswith("s3://")


def test_only_the_shards_see_the_api_token_and_nothing_writes_a_credential() -> None:
    jobs = workflow()["jobs"]
    assert "REPLICATE_API_TOKEN" in yaml.safe_dump(jobs["generate"])
    for name in ("lock", "stitch"):
        assert "REPLICATE_API_TOKEN" not in yaml.safe_dump(jobs[name])
    assert "AWS_SECRET_ACCESS_KEY" not in yaml.safe_dump(jobs["lock"])
    assert jobs["lock"]["permissions"] == {"contents": "write"}


@pytest.mark.parametrize(("command", "options"), sorted(invocations()))
def test_every_kling_pipe_command_and_option_in_the_workflow_exists(
    command: str, options: tuple[str, ...]
) -> None:
    result = kling(*command.split(), "--help")
    assert result.returncode == 0, result.stderr
    for option in options:
        assert option in result.stdout, f"kling-pipe {command} has no {option}"
