"""The replicate backend against the emulator through the real client: failure kinds, the
account's refusals, and recovering a create whose answer was lost."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import httpx
import pytest

from kling_pipe.backends.protocol import Prediction, Request
from kling_pipe.backends.recovery import CLOCK_SKEW_S
from kling_pipe.backends.replicate import ReplicateBackend
from kling_pipe.emulator import Emulator, Faults
from kling_pipe.errors import AccountError, InvalidInputError, TransientError
from tests.backends.conftest import TOKEN, finish, with_backend

MODEL = "kwaivgi/kling-v2.6"


def _request(prompt: str, **inputs: object) -> Request:
    return Request(key=prompt, model=MODEL, inputs={"prompt": prompt, "duration": 5, **inputs})


def _submit_and_finish(emulator: Emulator, request: Request) -> Prediction:
    async def scenario(backend: ReplicateBackend) -> Prediction:
        created = await backend.submit(request)
        return await finish(backend, created.id)

    return with_backend(emulator, scenario)


def _lose_create(emulator: Emulator, request: Request, aborted: float = 0.0) -> None:
    """Send a create whose answer is cut after the prediction was made."""
    emulator.configure(faults=Faults(lost_create_responses=1.0, aborted=aborted))

    async def scenario(backend: ReplicateBackend) -> None:
        with pytest.raises(TransientError):
            await backend.submit(request)

    with_backend(emulator, scenario)
    emulator.configure(faults=Faults())


def _recover(emulator: Emulator, request: Request, since: float) -> Prediction | None:
    async def scenario(backend: ReplicateBackend) -> Prediction | None:
        return await backend.recover(request, since)

    return with_backend(emulator, scenario)


def _input_of(emulator: Emulator, prediction_id: str) -> dict[str, object]:
    url = f"{emulator.base_url}/v1/predictions/{prediction_id}"
    body = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).json()
    return dict(body["input"])


@pytest.mark.parametrize(
    ("faults", "status", "kind"),
    [
        (Faults(content_policy_errors=1.0), "failed", "content_policy"),
        (Faults(model_errors=1.0), "failed", "model_error"),
        (Faults(interrupted=1.0), "failed", "transient"),
        (Faults(aborted=1.0), "aborted", "transient"),
        (Faults(), "succeeded", None),
    ],
)
def test_each_way_a_prediction_ends_is_read_as_its_failure_kind(
    emulator: Emulator, faults: Faults, status: str, kind: str | None
) -> None:
    emulator.configure(faults=faults)
    ended = _submit_and_finish(emulator, _request("a kettle pours"))
    assert (ended.status, ended.failure) == (status, kind)
    assert ended.created_at is not None  # an aborted poll is read with all its fields


def test_inputs_the_api_refuses_are_invalid_input(emulator: Emulator) -> None:
    with pytest.raises(InvalidInputError, match=r"422.*aspect_ratio"):
        _submit_and_finish(emulator, _request("a kettle", aspect_ratio="4:3"))
    assert emulator.stats()["creates"] == 0


def test_an_account_out_of_credit_or_with_a_wrong_token_stops_without_showing_the_token(
    emulator: Emulator,
) -> None:
    emulator.configure(faults=Faults(out_of_credit=True))
    with pytest.raises(AccountError, match="402 Insufficient credit") as caught:
        _submit_and_finish(emulator, _request("a kettle"))
    assert caught.value.failure == "account"
    emulator.configure(faults=Faults())

    async def wrong_token() -> None:
        secret = "r8_do_not_print_me"
        async with ReplicateBackend(token=secret, base_url=emulator.base_url) as backend:
            with pytest.raises(AccountError) as refused:
                await backend.submit(_request("a kettle"))
            assert "401" in str(refused.value) and secret not in str(refused.value)

    anyio.run(wrong_token)


def test_a_lost_create_is_found_among_pages_of_aborted_predictions(emulator: Emulator) -> None:
    wanted = _request("the kettle we paid for")
    emulator.configure(faults=Faults(aborted=1.0))
    older = _submit_and_finish(emulator, wanted)  # the same request, before the run began
    since = time.time() + CLOCK_SKEW_S  # `older` falls before it, skew allowance included
    _lose_create(emulator, wanted)
    emulator.configure(faults=Faults(aborted=1.0))

    async def newer(backend: ReplicateBackend) -> Prediction:
        for i in range(104):
            await backend.submit(_request(f"another shot {i}"))
        last = await backend.submit(wanted)  # the same request again, newer, aborted
        return await finish(backend, last.id)

    assert with_backend(emulator, newer).status == "aborted"
    found = _recover(emulator, wanted, since)
    assert found is not None
    assert found.id != older.id and found.status != "aborted" and found.failure is None
    assert _input_of(emulator, found.id)["prompt"] == "the kettle we paid for"
    assert emulator.stats()["requests"]["predictions.list"] == 2  # read across both pages


def test_a_match_created_before_since_is_not_returned(emulator: Emulator) -> None:
    wanted = _request("a kettle on a stove")
    before = time.time()
    _lose_create(emulator, wanted)
    assert _recover(emulator, wanted, before) is not None
    assert _recover(emulator, wanted, time.time() + CLOCK_SKEW_S) is None
    assert _recover(emulator, _request("a teapot"), before) is None


@pytest.mark.parametrize(
    "faults",
    [
        Faults(server_errors={"predictions.list": 1.0}),
        Faults(dropped_connections={"predictions.list": 1.0}),
    ],
    ids=["5xx", "dropped"],
)
def test_a_listing_that_cannot_be_read_raises_transient_never_none(
    emulator: Emulator, faults: Faults
) -> None:
    wanted = _request("a kettle in the rain")
    before = time.time()
    _lose_create(emulator, wanted)
    emulator.configure(faults=faults)
    with pytest.raises(TransientError):
        _recover(emulator, wanted, before)
    assert emulator.stats()["requests"]["predictions.list"] == 4  # tried again with backoff
    emulator.configure(faults=Faults())
    assert _recover(emulator, wanted, before) is not None


def test_a_lost_create_with_an_uploaded_file_is_matched_by_the_files_content(
    emulator: Emulator, tmp_path: Path
) -> None:
    ours, theirs = tmp_path / "ours.png", tmp_path / "theirs.png"
    ours.write_bytes(b"our start image")
    theirs.write_bytes(b"another market's start image")

    def request(image: Path) -> Request:
        return Request(
            key=image.stem,
            model=MODEL,
            inputs={"prompt": "the kettle", "start_image": str(image)},
            local_files={"start_image": image},
        )

    before = time.time()
    _lose_create(emulator, request(ours), aborted=1.0)  # nothing to render from fake images
    found = _recover(emulator, request(ours), before)  # a fresh backend: no uploads in memory
    assert found is not None
    assert _recover(emulator, request(theirs), before) is None
    assert emulator.stats()["requests"]["files.get"] >= 2


@pytest.mark.parametrize(
    "page",
    [[], {"next": None}, {"results": [{"status": "aborted"}]}, {"results": [], "next": 3}],
    ids=["not-an-object", "no-results", "result-without-id", "bad-cursor"],
)
def test_a_page_that_is_not_a_listing_is_unreadable_not_empty(page: object) -> None:
    backend = ReplicateBackend(token=TOKEN, base_url="http://127.0.0.1:9")
    with pytest.raises(TransientError, match="listing"):
        backend._listing_page(page, "/v1/predictions")
