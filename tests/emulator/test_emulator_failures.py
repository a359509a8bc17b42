"""Every kind of failure a backend must tell apart, served the way Replicate serves it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import httpx
import pytest
import replicate
from replicate.exceptions import ReplicateError

from kling_pipe.emulator import Emulator, Faults
from kling_pipe.emulator.faults import FaultDice
from kling_pipe.emulator.lifecycle import INTERRUPTED_ERROR
from kling_pipe.errors import InputError

MODEL = "kwaivgi/kling-v2.6"
AUTH = {"Authorization": "Bearer r8_test"}


def test_an_interrupted_prediction_fails_asking_to_be_retried(
    client: replicate.Client, emulator: Emulator, poll: Callable[..., None]
) -> None:
    emulator.configure(faults=Faults(interrupted=1.0))
    prediction = client.models.predictions.create(MODEL, input={"prompt": "x"})

    def ended() -> bool:
        prediction.reload()
        return prediction.status in ("succeeded", "failed", "canceled")

    poll(ended)
    assert (prediction.status, prediction.error) == ("failed", INTERRUPTED_ERROR)
    assert "(code: PA)" in (prediction.logs or "")


def test_an_account_out_of_credit_gets_402_on_every_create(
    client: replicate.Client, emulator: Emulator
) -> None:
    emulator.configure(faults=Faults(out_of_credit=True))
    with pytest.raises(ReplicateError) as caught:
        client.models.predictions.create(MODEL, input={"prompt": "x"})
    assert (caught.value.status, caught.value.title) == (402, "Insufficient credit")
    raw = httpx.post(
        f"{emulator.base_url}/v1/models/{MODEL}/predictions",
        headers=AUTH,
        json={"input": {"prompt": "x"}},
    )
    assert raw.headers["content-type"].startswith("application/problem+json")
    assert raw.json()["status"] == 402 and "purchase credit" in raw.json()["detail"]
    assert emulator.stats()["creates"] == 0


def test_listing_pages_fail_on_their_own_route(emulator: Emulator) -> None:
    emulator.configure(faults=Faults(server_errors={"predictions.list": 1.0}))
    listing = httpx.get(f"{emulator.base_url}/v1/predictions", headers=AUTH)
    assert listing.status_code in (500, 502, 503)
    assert httpx.get(f"{emulator.base_url}/v1/files/none", headers=AUTH).status_code == 404


def test_interruptions_take_their_share_and_all_ends_together_stay_within_one() -> None:
    dice = FaultDice(5)
    counts = Counter(dice.outcome(Faults(interrupted=0.3)) for _ in range(4000))
    assert counts["interrupted"] / 4000 == pytest.approx(0.3, abs=0.03)
    with pytest.raises(InputError, match="interrupted must not exceed 1"):
        Faults(model_errors=0.5, interrupted=0.6)


def test_the_listing_filters_by_creation_time_across_pages(
    client: replicate.Client, emulator: Emulator
) -> None:
    first = client.models.predictions.create(MODEL, input={"prompt": "before"})
    later = [
        client.models.predictions.create(MODEL, input={"prompt": f"after {i}"}) for i in range(101)
    ]
    listing = f"{emulator.base_url}/v1/predictions"
    page = httpx.get(listing, headers=AUTH, params={"created_after": later[0].created_at}).json()
    assert [p["id"] for p in page["results"]] == [p.id for p in reversed(later)][:100]
    assert "created_after=" in page["next"]
    rest = httpx.get(page["next"], headers=AUTH).json()
    assert [p["id"] for p in rest["results"]] == [later[0].id] and rest["next"] is None
    older = httpx.get(listing, headers=AUTH, params={"created_before": later[0].created_at})
    assert [p["id"] for p in older.json()["results"]] == [first.id]
    bad = httpx.get(listing, headers=AUTH, params={"created_after": "yesterday"})
    assert bad.status_code == 400
