"""The emulator driven by the real `replicate` client over real HTTP on 127.0.0.1.

Every response the client receives is checked against Replicate's OpenAPI schemas by the
`client` fixture; raw `httpx` calls check the bodies the client hides (422 fields, 429s).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pydantic.v1
import pytest
import replicate
from replicate.exceptions import ReplicateError
from replicate.prediction import Prediction
from replicate.webhook import WebhookSigningSecret

from kling_pipe.emulator import Emulator, Faults, LatencyRange, create_key
from kling_pipe.emulator.catalog import version_id
from kling_pipe.media.ffmpeg import run_ffmpeg
from kling_pipe.media.probe import probe, scan_packets
from kling_pipe.models import bundled_registry

MODEL = "kwaivgi/kling-v2.6"
TERMINAL = ("succeeded", "failed", "canceled")
AUTH = {"Authorization": "Bearer r8_test"}

Poll = Callable[..., None]
SchemaRecorder = Any
Conforms = Callable[[str, Any], None]


def _finish(prediction: Prediction, poll: Poll, seen: list[str] | None = None) -> Prediction:
    def done() -> bool:
        prediction.reload()
        if seen is not None and (not seen or seen[-1] != prediction.status):
            seen.append(prediction.status)
        return prediction.status in TERMINAL

    poll(done)
    return prediction


def _download(url: str, path: Path) -> Path:
    response = httpx.get(url)
    assert response.status_code == 200
    path.write_bytes(response.content)
    return path


def _instant(text: str | None) -> datetime:
    assert text is not None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_prediction_goes_starting_processing_succeeded_with_a_video_as_asked(
    client: replicate.Client, poll: Poll, tmp_path: Path, schema_recorder: SchemaRecorder
) -> None:
    prompt = 'A barista says "Boils in sixty seconds."'
    inputs = {"prompt": prompt, "aspect_ratio": "9:16", "duration": 5, "generate_audio": True}
    prediction = client.models.predictions.create(MODEL, input=inputs)
    assert (prediction.status, prediction.version, prediction.model) == (
        "starting",
        "hidden",
        MODEL,
    )
    seen = [prediction.status]
    _finish(prediction, poll, seen)
    assert seen == ["starting", "processing", "succeeded"]
    assert prediction.input == inputs
    assert _instant(prediction.created_at) <= _instant(prediction.started_at)
    assert _instant(prediction.started_at) <= _instant(prediction.completed_at)
    assert prediction.metrics is not None and prediction.metrics["predict_time"] > 0

    video = _download(prediction.output, tmp_path / "clip.mp4")
    info = probe(video)
    assert info.video is not None and info.audio is not None
    assert info.video.display_height > info.video.display_width  # portrait 9:16
    assert info.video.display_width / info.video.display_height == pytest.approx(9 / 16, abs=0.02)
    assert scan_packets(video)["video"].packets == 5 * 24
    assert schema_recorder.checked >= 4  # the create and every poll were schema-checked


def test_ten_second_clip_without_audio_has_no_audio_stream(
    client: replicate.Client, poll: Poll, tmp_path: Path
) -> None:
    inputs = {"prompt": "steam", "duration": 10, "generate_audio": False}
    prediction = _finish(client.models.predictions.create(MODEL, input=inputs), poll)
    video = _download(prediction.output, tmp_path / "clip.mp4")
    info = probe(video)
    assert info.audio is None and info.video is not None
    assert info.video.display_width / info.video.display_height == pytest.approx(16 / 9, abs=0.02)
    assert scan_packets(video)["video"].packets == 10 * 24


def test_versioned_create_reports_the_pinned_version(client: replicate.Client, poll: Poll) -> None:
    spec = bundled_registry().get(MODEL)
    assert spec is not None
    model = client.models.get(MODEL)
    assert model.latest_version is not None and model.latest_version.id == version_id(spec)
    schema = client.models.get(MODEL).versions.get(version_id(spec)).openapi_schema
    assert schema["components"]["schemas"]["Input"] == spec.to_openapi()
    prediction = client.predictions.create(version=version_id(spec), input={"prompt": "x"})
    assert (prediction.version, prediction.model) == (version_id(spec), MODEL)
    assert _finish(prediction, poll).status == "succeeded"


def test_invalid_input_is_rejected_with_replicates_422_shape(
    client: replicate.Client, emulator: Emulator
) -> None:
    with pytest.raises(ReplicateError) as raised:
        client.models.predictions.create(MODEL, input={"prompt": "x", "aspect_ratio": "4:3"})
    assert raised.value.status == 422
    assert raised.value.title == "Input validation failed"
    assert raised.value.detail is not None and "input.aspect_ratio" in raised.value.detail

    response = httpx.post(
        f"{emulator.base_url}/v1/models/{MODEL}/predictions",
        headers=AUTH,
        json={"input": {"duration": 7}, "webhook_events": ["completed"]},
    )
    body = response.json()
    assert response.status_code == 422
    assert set(body) == {"title", "detail", "status", "invalid_fields"}
    assert {(f["field"], f["type"]) for f in body["invalid_fields"]} == {
        ("(root)", "additional_property_not_allowed"),
        ("input.duration", "enum"),
        ("input.prompt", "required"),
    }
    assert emulator.stats()["creates"] == 0


def test_requests_without_a_valid_token_get_401(emulator: Emulator) -> None:
    anonymous = httpx.get(f"{emulator.base_url}/v1/models/{MODEL}")
    assert anonymous.status_code == 401
    assert anonymous.json()["title"] == "Unauthenticated"
    emulator.configure(token="r8_right")
    wrong = replicate.Client(api_token="r8_wrong", base_url=emulator.base_url)
    with pytest.raises(ReplicateError) as raised:
        wrong.models.predictions.create(MODEL, input={"prompt": "x"})
    assert raised.value.status == 401
    right = replicate.Client(api_token="r8_right", base_url=emulator.base_url)
    assert right.models.get(MODEL).name == "kling-v2.6"


def test_cancel_stops_a_running_prediction(
    client: replicate.Client, emulator: Emulator, tmp_path: Path
) -> None:
    emulator.configure(latency=LatencyRange(600, 600))
    prediction = client.models.predictions.create(MODEL, input={"prompt": "slow"})
    prediction.cancel()
    prediction.reload()
    assert prediction.status == "canceled"
    assert prediction.output is None and prediction.completed_at is not None
    assert emulator.stats()["canceled"] == 1


def test_create_rate_limit_answers_429_with_and_without_retry_after_header(
    client: replicate.Client, emulator: Emulator
) -> None:
    emulator.configure(creates_per_minute=6, create_burst=1)
    client.models.predictions.create(MODEL, input={"prompt": "first"})
    with pytest.raises(ReplicateError) as raised:
        client.models.predictions.create(MODEL, input={"prompt": "second"})
    assert raised.value.status == 429
    assert raised.value.detail is not None and "resets in ~10s" in raised.value.detail

    url = f"{emulator.base_url}/v1/models/{MODEL}/predictions"
    with_header = httpx.post(url, headers=AUTH, json={"input": {"prompt": "third"}})
    emulator.configure(retry_after_header=False)
    without = httpx.post(url, headers=AUTH, json={"input": {"prompt": "fourth"}})
    assert (with_header.status_code, without.status_code) == (429, 429)
    assert with_header.headers["Retry-After"] == str(with_header.json()["retry_after"])
    assert "Retry-After" not in without.headers
    assert 1 <= without.json()["retry_after"] <= 10
    stats = emulator.stats()
    assert (stats["throttled"], stats["creates"]) == (3, 1)


def test_outputs_are_removed_after_retention(
    client: replicate.Client, emulator: Emulator, poll: Poll
) -> None:
    emulator.configure(retention_s=6.0)  # 0.3 s at the fixture's time scale
    prediction = _finish(client.models.predictions.create(MODEL, input={"prompt": "x"}), poll)
    assert prediction.status == "succeeded"
    url = prediction.output
    assert httpx.get(url).status_code == 200

    def removed() -> bool:
        prediction.reload()
        return prediction.output is None

    poll(removed)
    raw = httpx.get(f"{emulator.base_url}/v1/predictions/{prediction.id}", headers=AUTH).json()
    assert raw["data_removed"] is True and raw["status"] == "succeeded"
    assert httpx.get(url).status_code == 404
    poll(lambda: emulator.stats()["removed"] == 1)


def test_webhook_deliveries_are_signed_filtered_and_retried(
    client: replicate.Client, emulator: Emulator, receivers: Callable[[int], Any], poll: Poll
) -> None:
    secret = client.webhooks.default.secret()
    assert secret.key == emulator.webhook_secret and secret.key.startswith("whsec_")
    only_completed = receivers(0)
    everything = receivers(2)  # refuses its first two deliveries
    client.models.predictions.create(
        MODEL,
        input={"prompt": "x"},
        webhook=only_completed.url,
        webhook_events_filter=["completed"],
    )
    client.models.predictions.create(MODEL, input={"prompt": "y"}, webhook=everything.url)
    only_completed.wait_for(lambda got: len(got) == 1)
    everything.wait_for(lambda got: len(got) == 3)

    delivery = only_completed.deliveries[0]
    replicate.webhooks.validate(headers=delivery.headers, body=delivery.body, secret=secret)
    assert json.loads(delivery.body)["status"] == "succeeded"
    statuses = [json.loads(d.body)["status"] for d in everything.deliveries]
    assert statuses[0] == "processing" and statuses[-1] == "succeeded"
    for got in everything.deliveries:
        replicate.webhooks.validate(headers=got.headers, body=got.body, secret=secret)
    forged = WebhookSigningSecret(key="whsec_" + "QUJD" * 8)
    with pytest.raises(replicate.webhook.InvalidSignatureError):
        replicate.webhooks.validate(headers=delivery.headers, body=delivery.body, secret=forged)
    poll(lambda: emulator.stats()["webhooks"] == 4)
    assert emulator.stats()["webhook_failures"] == 2
    assert len(only_completed.deliveries) == 1


def test_webhooks_to_other_hosts_are_refused(emulator: Emulator) -> None:
    response = httpx.post(
        f"{emulator.base_url}/v1/models/{MODEL}/predictions",
        headers=AUTH,
        json={"input": {"prompt": "x"}, "webhook": "https://example.com/hook"},
    )
    assert response.status_code == 422
    assert response.json()["invalid_fields"][0]["field"] == "webhook"


def test_route_faults_answer_5xx_or_drop_the_connection(
    client: replicate.Client, emulator: Emulator
) -> None:
    emulator.configure(
        faults=Faults(
            server_errors={"models.get": 1.0},
            dropped_connections={"models.predictions.create": 1.0},
        )
    )
    answer = httpx.get(f"{emulator.base_url}/v1/models/{MODEL}", headers=AUTH)
    assert answer.status_code in (500, 502, 503)
    assert answer.json()["status"] == answer.status_code
    with pytest.raises(httpx.RemoteProtocolError):
        client.models.predictions.create(MODEL, input={"prompt": "x"})
    stats = emulator.stats()
    assert stats["creates"] == 0
    assert stats["faults"] == {
        f"models.get:{answer.status_code}": 1,
        "models.predictions.create:drop": 1,
    }
    emulator.configure(faults=Faults())
    assert client.models.get(MODEL).owner == "kwaivgi"


def test_model_and_content_policy_failures_are_failed_predictions(
    client: replicate.Client, emulator: Emulator, poll: Poll
) -> None:
    emulator.configure(faults=Faults(model_errors=1.0))
    broken = _finish(client.models.predictions.create(MODEL, input={"prompt": "a"}), poll)
    emulator.configure(faults=Faults(content_policy_errors=1.0))
    flagged = _finish(client.models.predictions.create(MODEL, input={"prompt": "b"}), poll)
    assert (broken.status, flagged.status) == ("failed", "failed")
    assert broken.error is not None and "model" in broken.error
    assert flagged.error is not None and "(E005)" in flagged.error
    assert broken.output is None and flagged.output is None
    assert emulator.stats()["finished"] == {"failed": 2}


def test_aborted_predictions_conform_to_the_schema_but_break_the_strict_client(
    client: replicate.Client, emulator: Emulator, poll: Poll, conforms: Conforms
) -> None:
    emulator.configure(faults=Faults(aborted=1.0))
    prediction = client.models.predictions.create(MODEL, input={"prompt": "x"})
    url = f"{emulator.base_url}/v1/predictions/{prediction.id}"

    def aborted() -> bool:
        return bool(httpx.get(url, headers=AUTH).json()["status"] == "aborted")

    poll(aborted)
    body = httpx.get(url, headers=AUTH).json()
    conforms("schemas_prediction_response", body)
    assert "started_at" not in body and body["output"] is None
    with pytest.raises(pydantic.v1.ValidationError):
        prediction.reload()


def test_prefer_wait_holds_the_create_until_the_prediction_is_done(
    client: replicate.Client,
) -> None:
    prediction = client.models.predictions.create(MODEL, input={"prompt": "x"}, wait=10)
    assert prediction.status == "succeeded"
    assert prediction.output is not None


def test_prefer_wait_answers_after_the_wait_with_the_prediction_as_it_stands(
    emulator: Emulator, client: replicate.Client
) -> None:
    emulator.configure(latency=LatencyRange(600, 600))
    # The wait is emulated time too, like the latency it is waiting for.
    prediction = client.models.predictions.create(MODEL, input={"prompt": "slow"}, wait=10)
    assert prediction.status in ("starting", "processing") and prediction.output is None


def test_a_held_create_answers_as_soon_as_its_prediction_is_canceled(
    emulator: Emulator, client: replicate.Client
) -> None:
    import threading

    from tests.emulated import wait_until

    emulator.configure(latency=LatencyRange(600, 600))
    answers: list[str] = []

    def create() -> None:
        held = client.models.predictions.create(MODEL, input={"prompt": "held"}, wait=60)
        answers.append(held.status)

    thread = threading.Thread(target=create)
    thread.start()
    listing: list[dict[str, Any]] = []

    def listed() -> bool:  # found by listing, as a run does whose create is still held
        listing[:] = httpx.get(f"{emulator.base_url}/v1/predictions", headers=AUTH).json()[
            "results"
        ]
        return bool(listing)

    wait_until(listed)
    httpx.post(listing[0]["urls"]["cancel"], headers=AUTH)
    thread.join(timeout=30)
    assert answers == ["canceled"]


def test_cancel_after_deadline_cancels_or_aborts(
    emulator: Emulator, poll: Poll, conforms: Conforms
) -> None:
    emulator.configure(latency=LatencyRange(600, 600), queue_share=0.01)
    url = f"{emulator.base_url}/v1/models/{MODEL}/predictions"
    # Deadlines are emulated time too: 10 s at the fixture's scale is 0.5 s.
    running = httpx.post(
        url, headers={**AUTH, "Cancel-After": "10s"}, json={"input": {"prompt": "a"}}
    )
    emulator.configure(queue_share=1.0)
    queued = httpx.post(
        url, headers={**AUTH, "Cancel-After": "10s"}, json={"input": {"prompt": "b"}}
    )
    assert "deadline" in running.json()
    conforms("schemas_prediction_response", running.json())

    def status(created: httpx.Response) -> str:
        got = httpx.get(created.json()["urls"]["get"], headers=AUTH).json()
        return str(got["status"])

    poll(lambda: status(running) == "canceled" and status(queued) == "aborted")
    too_short = httpx.post(
        url, headers={**AUTH, "Cancel-After": "2s"}, json={"input": {"prompt": "c"}}
    )
    assert too_short.status_code == 400


def test_an_uploaded_start_image_shapes_the_output(
    client: replicate.Client, emulator: Emulator, poll: Poll, tmp_path: Path
) -> None:
    image = tmp_path / "tall.png"
    run_ffmpeg(["-f", "lavfi", "-i", "color=c=red:s=100x300", "-frames:v", "1", image])
    inputs = {"prompt": "x", "start_image": image, "aspect_ratio": "16:9"}
    prediction = _finish(client.models.predictions.create(MODEL, input=inputs), poll)
    assert prediction.input is not None
    assert prediction.input["start_image"].startswith(f"{emulator.base_url}/v1/files/")
    video = _download(prediction.output, tmp_path / "clip.mp4")
    info = probe(video)
    assert info.video is not None
    assert info.video.display_width / info.video.display_height == pytest.approx(1 / 3, abs=0.02)
    assert emulator.stats()["requests"]["files.create"] == 1


def test_stats_prove_how_many_times_each_input_was_created(
    client: replicate.Client, emulator: Emulator
) -> None:
    same = {"prompt": "same", "duration": 5}
    client.models.predictions.create(MODEL, input=same)
    client.models.predictions.create(MODEL, input=dict(reversed(list(same.items()))))
    client.models.predictions.create(MODEL, input={"prompt": "other"})
    # Predictions keep finishing in the background: compare the page with the in-process
    # stats read on both sides of it, and read again when a prediction finished in between.
    for _ in range(20):
        before = emulator.stats()
        over_http = httpx.get(f"{emulator.base_url}/_emulator/stats").json()
        if emulator.stats() == before:
            break
    assert over_http == before
    assert (over_http["creates"], over_http["duplicate_creates"]) == (3, 1)
    assert over_http["requests"]["models.predictions.create"] == 3
    assert over_http["create_counts"][create_key(MODEL, same)] == 2
    assert emulator.creates_of(MODEL, same) == 2
    assert emulator.creates_of(MODEL, {"prompt": "other"}) == 1
    assert emulator.creates_of(MODEL, {"prompt": "never"}) == 0


def test_downloads_can_be_truncated_or_slow(
    client: replicate.Client, emulator: Emulator, poll: Poll
) -> None:
    prediction = _finish(client.models.predictions.create(MODEL, input={"prompt": "x"}), poll)
    whole = httpx.get(prediction.output).content
    size = len(whole)
    emulator.configure(faults=Faults(truncated_downloads=1.0))
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(prediction.output)
    received = bytearray()
    with httpx.stream("GET", prediction.output, headers={"Range": "bytes=1000-"}) as rest:
        assert rest.status_code == 206
        assert rest.headers["content-range"] == f"bytes 1000-{size - 1}/{size}"
        assert int(rest.headers["content-length"]) == size - 1000
        with pytest.raises(httpx.RemoteProtocolError):
            for chunk in rest.iter_bytes():
                received += chunk
    assert 0 < len(received) < size - 1000
    assert bytes(received) == whole[1000 : 1000 + len(received)]
    assert emulator.stats()["resumed_downloads"] == 1
    rate = size / 0.3
    emulator.configure(faults=Faults(download_bytes_per_s=rate))
    started = time.monotonic()
    slow = httpx.get(prediction.output)
    assert len(slow.content) == size
    assert time.monotonic() - started >= 0.25
