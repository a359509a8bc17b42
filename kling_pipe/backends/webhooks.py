"""Replicate's webhooks: a receiver on a local port that verifies each delivery's signature
(Standard Webhooks: HMAC-SHA256 with the account's `whsec_` secret) and wakes the task waiting
on that prediction. Deliveries are retried by Replicate, so receiving one twice is harmless.
"""

from __future__ import annotations

import json
from typing import Any

import anyio

from kling_pipe.backends.answers import prediction_from_json
from kling_pipe.backends.protocol import Prediction

SIGNATURE_TOLERANCE_S = 300
"""How old a delivery's `webhook-timestamp` may be: older ones are refused as replays."""


def verify(headers: dict[str, str], body: str, secret: Any) -> Prediction:
    """The prediction a delivery carries, once its signature is checked against `secret` (the
    client's `WebhookSigningSecret`); any malformed or forged delivery raises."""
    from replicate.webhook import Webhooks

    Webhooks.validate(headers=headers, body=body, secret=secret, tolerance=SIGNATURE_TOLERANCE_S)
    return prediction_from_json(json.loads(body))


class WebhookReceiver:
    """Receives Replicate's webhooks on a local port, verifies their signatures, and wakes the
    task waiting on that prediction. Unsigned or wrongly signed deliveries get a 401."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self._host, self._port, self._path = host, port, path
        self._secret: Any = None
        self._latest: dict[str, Prediction] = {}
        self._events: dict[str, anyio.Event] = {}
        self._runner: Any = None
        self.accepted = 0
        self.refused = 0

    async def start(self, secret: Any) -> None:
        """Listen; `secret` is the account's webhook signing secret."""
        from aiohttp import web

        self._secret = secret
        app = web.Application()
        app.router.add_post(self._path, self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: Any) -> Any:
        from aiohttp import web

        body = await request.text()
        try:
            prediction = verify(dict(request.headers), body, self._secret)
        except Exception:  # any malformed or forged delivery is refused the same way
            self.refused += 1
            return web.Response(status=401, text="invalid webhook")
        self.accepted += 1
        self._latest[prediction.id] = prediction
        event = self._events.pop(prediction.id, None)
        if event is not None:
            event.set()
        return web.Response(text="ok")

    async def wait(self, prediction_id: str, timeout: float) -> Prediction | None:
        """The newest delivered state of the prediction once done, waiting up to `timeout`."""
        latest = self._latest.get(prediction_id)
        if latest is not None and latest.done:
            return latest
        event = self._events.setdefault(prediction_id, anyio.Event())
        with anyio.move_on_after(timeout):
            await event.wait()
        latest = self._latest.get(prediction_id)
        return latest if latest is not None and latest.done else None
