"""Fuzzing the loader and planner with hostile manifests: a product error with a location or a
plan, never another exception, each case in bounded time."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kling_pipe.campaign import Campaign
from kling_pipe.errors import KlingPipeError, ManifestError
from kling_pipe.planning.formats import plan_json
from tests.fuzzing import make_campaign, mutate, write_case


@pytest.fixture(scope="module")
def manifest_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_campaign(tmp_path_factory.mktemp("fuzz") / "campaign")


def plan_everything(path: Path) -> None:
    """What `validate` and `plan --json` do: load, plan, diff, serialise; and plan the cuts."""
    campaign = Campaign.open(path, store=path.parent / ".kling-pipe")
    for warning in campaign.job_plan.warnings:
        str(warning).encode("utf-8")
    json.dumps(plan_json(campaign.plan()), ensure_ascii=False).encode("utf-8")
    campaign.cut_plan()


@settings(
    max_examples=300,
    derandomize=True,
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.randoms(use_true_random=False))
def test_a_mutated_manifest_plans_or_fails_with_located_problems(
    manifest_path: Path, rng: random.Random
) -> None:
    write_case(manifest_path, mutate(rng))
    try:
        plan_everything(manifest_path)
    except ManifestError as error:
        assert error.problems
        for problem in error.problems:
            assert problem.location is not None
            # in the manifest, or in a template of the campaign that is itself at fault
            assert Path(problem.location.file).is_relative_to(manifest_path.parent)
            str(problem).encode("utf-8")
    except KlingPipeError as error:
        assert str(manifest_path) in str(error) or "campaign" in str(error)


@pytest.mark.parametrize("seed", range(3))
def test_the_seeds_themselves_plan(manifest_path: Path, seed: int) -> None:
    from tests.fuzzing import SEEDS

    write_case(manifest_path, SEEDS[seed])
    plan_everything(manifest_path)
