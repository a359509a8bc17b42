"""Pure rules: rate limit, fault dice, header directives, error bodies, webhook signatures."""

from __future__ import annotations

import base64
from collections import Counter

import pytest
import replicate
from replicate.webhook import InvalidSignatureError, WebhookSigningSecret

from kling_pipe.emulator import Faults, LatencyRange, parse_route_shares
from kling_pipe.emulator.catalog import Catalog, version_id
from kling_pipe.emulator.directives import parse_cancel_after, parse_prefer_wait
from kling_pipe.emulator.faults import FaultDice
from kling_pipe.emulator.problems import input_fields, throttled, validation_failed
from kling_pipe.emulator.signing import secret_from_bytes, signed_headers, wanted
from kling_pipe.emulator.throttle import CreateBucket
from kling_pipe.errors import InputError
from kling_pipe.models import bundled_registry, check_inputs


def test_bucket_allows_its_burst_then_says_how_long_to_wait() -> None:
    bucket = CreateBucket.full(per_minute=6, burst=2, now=0.0)
    bucket, first = bucket.take(0.0)
    bucket, second = bucket.take(0.0)
    bucket, third = bucket.take(0.0)
    assert (first, second) == (0.0, 0.0)
    assert third == pytest.approx(10.0)
    bucket, later = bucket.take(4.0)
    assert later == pytest.approx(6.0)
    bucket, refilled = bucket.take(10.0)
    assert refilled == 0.0


def test_same_seed_draws_the_same_faults_and_latencies() -> None:
    faults = Faults(server_errors={"*": 0.3}, dropped_connections={"predictions.get": 0.2})

    def draws(seed: int) -> list[object]:
        dice = FaultDice(seed)
        return [
            (dice.route_fault(faults, "predictions.get"), dice.latency(LatencyRange(1, 2), 1.0))
            for _ in range(50)
        ]

    assert draws(7) == draws(7)
    assert draws(7) != draws(8)


def test_fault_shares_are_honoured_per_route() -> None:
    faults = Faults(server_errors={"predictions.get": 0.25})
    dice = FaultDice(1)
    kinds = Counter(str(dice.route_fault(faults, "predictions.get")) for _ in range(4000))
    untouched = [dice.route_fault(faults, "predictions.cancel") for _ in range(500)]
    assert 0.21 < 1 - kinds["None"] / 4000 < 0.29
    assert untouched == [None] * 500


def test_outcome_shares_split_failures_content_policy_and_aborts() -> None:
    faults = Faults(model_errors=0.2, content_policy_errors=0.1, aborted=0.1)
    dice = FaultDice(3)
    counts = Counter(dice.outcome(faults) for _ in range(5000))
    assert counts["model_error"] / 5000 == pytest.approx(0.2, abs=0.03)
    assert counts["content_policy"] / 5000 == pytest.approx(0.1, abs=0.03)
    assert counts["aborted"] / 5000 == pytest.approx(0.1, abs=0.03)


def test_faults_reject_unknown_routes_and_impossible_shares() -> None:
    with pytest.raises(InputError, match="unknown route"):
        Faults(server_errors={"trainings.list": 0.1})
    with pytest.raises(InputError, match="share"):
        Faults(aborted=1.5)
    assert parse_route_shares(["*=0.1", "predictions.get=0.5"]) == {
        "*": 0.1,
        "predictions.get": 0.5,
    }
    with pytest.raises(InputError, match="ROUTE=SHARE"):
        parse_route_shares(["predictions.get"])


def test_latency_parses_a_range_or_one_number() -> None:
    assert LatencyRange.parse("30-90") == LatencyRange(30.0, 90.0)
    assert LatencyRange.parse("0.5") == LatencyRange(0.5, 0.5)
    with pytest.raises(InputError):
        LatencyRange.parse("90-30")
    with pytest.raises(InputError):
        LatencyRange.parse("soon")


def test_prefer_wait_and_cancel_after_parse_like_replicate() -> None:
    assert parse_prefer_wait(None) is None
    assert parse_prefer_wait("wait") == 60
    assert parse_prefer_wait("wait=5") == 5
    for bad in ("wait=0", "wait=61", "block"):
        with pytest.raises(ValueError):
            parse_prefer_wait(bad)
    assert parse_cancel_after("30") == 30.0
    assert parse_cancel_after("5m") == 300.0
    assert parse_cancel_after("1h30m45s") == 5445.0
    for bad in ("4s", "soon", "5 minutes"):
        with pytest.raises(ValueError):
            parse_cancel_after(bad)


def test_422_body_lists_each_invalid_field_with_a_validator_type() -> None:
    spec = bundled_registry().get("kwaivgi/kling-v3-video")
    assert spec is not None
    inputs = {"aspect_ratio": "4:3", "duration": 20, "generate_audio": "yes"}
    body = validation_failed(input_fields(spec, check_inputs(spec, inputs), inputs))
    assert body["title"] == "Input validation failed"
    assert body["status"] == 422
    types = {f["field"]: f["type"] for f in body["invalid_fields"]}
    assert types == {
        "input.aspect_ratio": "enum",
        "input.duration": "number_lte",
        "input.generate_audio": "invalid_type",
        "input.prompt": "required",
    }
    assert body["detail"].splitlines()[0].startswith("- input.aspect_ratio: '4:3' is not allowed")


def test_429_body_carries_retry_after_and_the_resets_in_text() -> None:
    body = throttled(6, 1, 4.2)
    assert body["status"] == 429
    assert body["retry_after"] == 5
    assert "Your rate limit resets in ~5s." in body["detail"]
    assert throttled(600, 60, 0.01)["retry_after"] == 1


def test_signature_is_accepted_by_the_replicate_client_and_rejects_tampering() -> None:
    secret = secret_from_bytes(b"0123456789abcdef0123")
    body = '{"id":"abc","status":"succeeded"}'
    headers = signed_headers(secret, "msg_1", 1_700_000_000, body)
    key = WebhookSigningSecret(key=secret)
    assert replicate.webhooks.validate(headers=headers, body=body, secret=key) is None
    with pytest.raises(InvalidSignatureError):
        replicate.webhooks.validate(headers=headers, body=body + " ", secret=key)
    assert base64.b64decode(secret.removeprefix("whsec_")) == b"0123456789abcdef0123"


def test_events_filter_defaults_to_everything() -> None:
    assert wanted("start", None) and wanted("completed", None)
    assert not wanted("start", ["completed"])
    assert not wanted("removed", None)


def test_catalog_resolves_every_form_of_a_version_string() -> None:
    registry = bundled_registry()
    catalog = Catalog(registry)
    spec = registry.get("kwaivgi/kling-v2.6")
    assert spec is not None
    vid = version_id(spec)
    assert len(vid) == 64
    official = catalog.by_version("kwaivgi/kling-v2.6")
    pinned = catalog.by_version(f"kwaivgi/kling-v2.6:{vid}")
    bare = catalog.by_version(vid)
    assert official is not None and official.version == "hidden"
    assert pinned is not None and pinned.version == vid
    assert bare is not None and bare.spec.ref == "kwaivgi/kling-v2.6"
    assert catalog.by_version("kwaivgi/kling-v2.6:" + "0" * 64) is None
    assert catalog.by_version("someone/else") is None
