"""Delivering signed webhooks: retried with backoff, in order per prediction."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable

import aiohttp

from kling_pipe.emulator.signing import signed_headers
from kling_pipe.emulator.stats import Stats


class WebhookSender:
    """Sends deliveries from the event loop; every task is owned and ended by `close`."""

    def __init__(
        self,
        stats: Stats,
        *,
        secret: Callable[[], str],
        attempts: Callable[[], int],
        backoff_s: Callable[[], float],
    ) -> None:
        self._stats = stats
        self._secret = secret
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._session: aiohttp.ClientSession | None = None
        self._last: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, prediction_id: str, url: str, body: str) -> None:
        """Deliver `body` to `url` after this prediction's earlier deliveries."""
        previous = self._last.get(prediction_id)
        task = asyncio.get_running_loop().create_task(self._deliver(previous, url, body))
        self._last[prediction_id] = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda done: self._forget(prediction_id, done))

    def _forget(self, prediction_id: str, task: asyncio.Task[None]) -> None:
        if self._last.get(prediction_id) is task:
            del self._last[prediction_id]

    async def _deliver(self, previous: asyncio.Task[None] | None, url: str, body: str) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        message_id = "msg_" + secrets.token_hex(12)
        attempts = self._attempts()
        for attempt in range(attempts):
            self._stats.count("webhook_attempts")
            headers = signed_headers(self._secret(), message_id, int(time.time()), body)
            try:
                async with self._session.post(
                    url, data=body.encode(), headers=headers, allow_redirects=False
                ) as response:
                    if 200 <= response.status < 300:
                        self._stats.count("webhooks")
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            self._stats.count("webhook_failures")
            if attempt + 1 < attempts:
                await asyncio.sleep(self._backoff_s() * 2**attempt)

    async def close(self) -> None:
        """Cancel deliveries still pending and close the HTTP session."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks))
        if self._session is not None:
            await self._session.close()
