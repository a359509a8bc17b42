"""`GET /v1/predictions`: newest first, paged by 100, each result a prediction object."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import replicate

from kling_pipe.emulator import Emulator


def test_list_is_newest_first_paged_and_schema_conformant(
    emulator: Emulator, client: replicate.Client, conforms: Callable[[str, Any], None]
) -> None:
    created = [
        client.models.predictions.create(
            model="kwaivgi/kling-v2.6", input={"prompt": f"take {i}", "duration": 5}
        )
        for i in range(105)
    ]
    first = client.predictions.list()
    assert [p.id for p in first.results] == [p.id for p in reversed(created)][:100]
    assert first.next is not None
    second = client.predictions.list(cursor=first.next)
    assert [p.id for p in second.results] == [p.id for p in reversed(created)][100:]
    assert second.next is None

    raw = httpx.get(
        f"{emulator.base_url}/v1/predictions",
        headers={"Authorization": "Bearer anything"},
    ).json()
    for body in raw["results"]:
        conforms("schemas_prediction_response", body)
    assert emulator.stats()["requests"]["predictions.list"] == 3
