"""Properties that must hold for any input: determinism, key invariance, no crashes."""

from __future__ import annotations

import contextlib
import random
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kling_pipe.errors import KlingPipeError
from kling_pipe.manifest.loader import load_manifest_text
from kling_pipe.models.catalogue import bundled_registry
from kling_pipe.planning.jobs import Job, plan_jobs


class NoFiles:
    def template(self, name: str) -> tuple[str, str] | None:
        return None

    def file_sha256(self, relative_path: str) -> str | None:
        return None


names = st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True)
words = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20
).filter(lambda s: "{" not in s and "}" not in s and "%" not in s and "#" not in s)


@st.composite
def manifests(draw: st.DrawFn) -> dict[str, Any]:
    market_names = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    markets = {m: {"line": draw(words)} for m in market_names}
    ratios = draw(st.lists(st.sampled_from(["16:9", "9:16", "1:1"]), min_size=1, unique=True))
    shots = [
        {"id": f"s{i}", "prompt": "{{ line }} " + draw(words)}
        for i in range(draw(st.integers(1, 3)))
    ]
    return {
        "version": 1,
        "name": "prop",
        "model": "kwaivgi/kling-v2.6",
        "defaults": {"duration": draw(st.sampled_from([5, 10])), "generate_audio": False},
        "markets": markets,
        "matrix": {"market": market_names, "aspect_ratio": ratios},
        "shots": shots,
    }


def plan_of(data: dict[str, Any]) -> list[Job]:
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    loaded = load_manifest_text(text, Path("/nowhere/prop.yaml"))
    return list(plan_jobs(loaded, bundled_registry(), NoFiles()).jobs)


def shuffled(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: shuffled(v, rng) for k, v in items}
    return value


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(manifests())
def test_planning_is_deterministic(data: dict[str, Any]) -> None:
    assert plan_of(data) == plan_of(data)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(manifests(), st.randoms(use_true_random=False))
def test_keys_ignore_mapping_order_and_market_names(
    data: dict[str, Any], rng: random.Random
) -> None:
    original = {(j.values["market"], j.shot, j.aspect_ratio): j.key for j in plan_of(data)}
    renamed = {name: f"x{name}" for name in data["markets"]}
    other = shuffled(data, rng)
    other["markets"] = {renamed[k]: v for k, v in other["markets"].items()}
    other["matrix"]["market"] = [renamed[m] for m in data["matrix"]["market"]]
    again = {(j.values["market"][1:], j.shot, j.aspect_ratio): j.key for j in plan_of(other)}
    assert again == original


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_the_products_error_never_a_crash(raw: bytes) -> None:
    with contextlib.suppress(KlingPipeError):
        load_manifest_text(raw, Path("/nowhere/x.yaml"))


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | words,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "version",
                    "name",
                    "model",
                    "shots",
                    "matrix",
                    "id",
                    "prompt",
                    "inputs",
                    "cuts",
                    "markets",
                    "x",
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(yaml_values)
def test_arbitrary_yaml_gives_the_products_error_never_a_crash(value: Any) -> None:
    text = yaml.safe_dump(value, allow_unicode=True)
    try:
        loaded = load_manifest_text(text, Path("/nowhere/x.yaml"))
        plan_jobs(loaded, bundled_registry(), NoFiles())
    except KlingPipeError:
        pass


@st.composite
def near_manifests(draw: st.DrawFn) -> dict[str, Any]:
    """A valid skeleton with arbitrary values in the sections planning reads."""
    data: dict[str, Any] = {
        "version": 1,
        "name": "n",
        "model": "kwaivgi/kling-v2.6",
        "shots": [{"id": "a", "prompt": "p"}],
    }
    sections = ["defaults", "vars", "markets", "matrix", "shots", "cuts", "limits", "prices"]
    for key in draw(st.lists(st.sampled_from(sections), max_size=4)):
        data[key] = draw(yaml_values)
    return data


@settings(max_examples=150, deadline=None)
@given(near_manifests())
def test_nearly_valid_manifests_give_the_products_error_never_a_crash(data: dict[str, Any]) -> None:
    text = yaml.safe_dump(data, allow_unicode=True)
    try:
        loaded = load_manifest_text(text, Path("/nowhere/x.yaml"))
        plan_jobs(loaded, bundled_registry(), NoFiles())
    except KlingPipeError:
        pass
