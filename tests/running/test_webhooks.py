"""The webhook receiver accepts only deliveries signed with the account's secret."""

from __future__ import annotations

import json

import anyio
import httpx

from kling_pipe.backends.replicate import ReplicateBackend
from kling_pipe.emulator import Emulator
from tests.emulated import TOKEN
from tests.running.test_run_emulator import free_port


def test_forged_or_unsigned_webhooks_are_refused_and_do_not_wake_anyone(emulator: Emulator) -> None:
    port = free_port()
    backend = ReplicateBackend(
        TOKEN, emulator.base_url, webhook_url=f"http://127.0.0.1:{port}/hook"
    )
    body = json.dumps(
        {
            "id": "p1",
            "model": "m",
            "version": "hidden",
            "status": "succeeded",
            "output": "http://x/y.mp4",
            "input": {},
            "urls": {},
        }
    )

    async def scenario() -> tuple[int, int, object]:
        async with backend:
            async with httpx.AsyncClient() as client:
                unsigned = await client.post(f"http://127.0.0.1:{port}/hook", content=body)
                forged = await client.post(
                    f"http://127.0.0.1:{port}/hook",
                    content=body,
                    headers={
                        "webhook-id": "msg_1",
                        "webhook-timestamp": "1700000000",
                        "webhook-signature": "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                    },
                )
            woken = await backend.wait_for_update("p1", 0.2)
            return unsigned.status_code, forged.status_code, woken

    unsigned, forged, woken = anyio.run(scenario)
    assert (unsigned, forged) == (401, 401)
    assert woken is None
