"""The `replicate` backend: Replicate's predictions API through the official client (async).

The client is used for what it does well (auth, request shapes, response parsing) and not for
what it does badly for video: `run()` (no deadline, 0.5 s polling, `None` on a `processing`
answer). Creates are never retried by the client; the scheduler decides, with what this module
tells it: a `RateLimitedError` with the server's wait, a `TransientError`, a `JobRejectedError`
with the server's reason, or an `AccountError`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import anyio
import httpx
import pydantic
import pydantic.v1

from kling_pipe.backends.protocol import TERMINAL, Fetched, Prediction, Request
from kling_pipe.errors import (
    AccountError,
    JobRejectedError,
    OutputGoneError,
    RateLimitedError,
    TransientError,
)
from kling_pipe.models.spec import split_model_ref

_RESETS_IN = re.compile(r"resets in ~?\s*(\d+(?:\.\d+)?)\s*s", re.IGNORECASE)
_DEFAULT_RETRY_AFTER = 10.0
_MAX_RESUMES = 20
"""Range requests one download may make after its connection dropped."""

# The client drops response headers from its errors; this carries a 429's Retry-After header
# from the transport back to the create that caused it (same task, so the same context).
_retry_after_header: ContextVar[list[float] | None] = ContextVar("retry_after", default=None)


class _RetryAfterTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        box = _retry_after_header.get()
        if response.status_code == 429 and box is not None:
            header = response.headers.get("retry-after")
            if header:
                with contextlib.suppress(ValueError):
                    box.append(float(header))
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def retry_after_seconds(detail: str | None, header: float | None) -> float:
    """How long a 429 asks to wait: the header, else the body's "resets in ~Ns", else 10 s."""
    if header is not None and header >= 0:
        return header
    match = _RESETS_IN.search(detail or "")
    return float(match.group(1)) if match else _DEFAULT_RETRY_AFTER


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        a = datetime.fromisoformat(start.replace("Z", "+00:00"))
        b = datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        return None
    return max(0.0, (b - a).total_seconds())


def _epoch(stamp: str | None) -> float | None:
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _output_url(output: Any) -> str | None:
    if isinstance(output, list):
        output = output[0] if output else None
    url = getattr(output, "url", output)
    return url if isinstance(url, str) else None


class ReplicateBackend:
    """Predictions on Replicate (or anything speaking its API, such as the emulator)."""

    name = "replicate"
    free = False
    records_to_lock = True

    def __init__(
        self,
        token: str | None = None,
        base_url: str | None = None,
        *,
        request_timeout: float = 60.0,
        webhook_url: str | None = None,
        webhook_listen: tuple[str, int] | None = None,
    ) -> None:
        token = token if token is not None else os.environ.get("REPLICATE_API_TOKEN")
        if not token:
            raise AccountError(
                "the replicate backend needs an API token: set REPLICATE_API_TOKEN "
                "(or use --backend preview to run offline for free)"
            )
        self._token = token
        self._base_url = base_url or os.environ.get("REPLICATE_BASE_URL") or None
        if self._base_url and "api.replicate.com" not in self._base_url:
            # Outputs of an emulator or proxy must never pass for real generations.
            self.name = f"replicate@{httpx.URL(self._base_url).netloc.decode()}"
        self._request_timeout = request_timeout
        self._webhook_url = webhook_url
        self._webhooks: WebhookReceiver | None = None
        if webhook_url:
            url = httpx.URL(webhook_url)
            host, port = webhook_listen or ("127.0.0.1", url.port or 8765)
            self._webhooks = WebhookReceiver(host, port, url.path or "/")
        self._transport: _RetryAfterTransport | None = None
        self._downloads: httpx.AsyncClient | None = None
        self._client: Any = None
        self._uploads: dict[Path, str] = {}

    async def __aenter__(self) -> Self:
        import replicate  # the one place kling-pipe imports the provider's client

        self._transport = _RetryAfterTransport(httpx.AsyncHTTPTransport())
        self._client = replicate.client.Client(
            api_token=self._token,
            base_url=self._base_url,
            timeout=httpx.Timeout(10.0, read=self._request_timeout, write=60.0, pool=30.0),
            transport=self._transport,
        )
        # Outputs are fetched without the API token: file hosts must not see it.
        self._downloads = httpx.AsyncClient(
            timeout=httpx.Timeout(10.0, read=60.0), follow_redirects=True
        )
        if self._webhooks is not None:
            secret = await self._call(self._client.webhooks.default.async_secret())
            await self._webhooks.start(secret)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with anyio.CancelScope(shield=True):
            if self._webhooks is not None:
                await self._webhooks.stop()
            if self._downloads is not None:
                await self._downloads.aclose()
            if self._transport is not None:
                await self._transport.aclose()

    def expected_seconds(self, request: Request) -> float:
        """Third-party timings for Kling on Replicate: ~60 s for 5 s of video, ~90 s for 10 s."""
        return 40.0 + 5.0 * request.duration

    @property
    def pushes_updates(self) -> bool:
        """True when Replicate's webhooks come to this run."""
        return self._webhooks is not None

    async def wait_for_update(self, prediction_id: str, timeout: float) -> Prediction | None:
        """A verified webhook's prediction, if one arrives within `timeout`."""
        if self._webhooks is None:
            await anyio.sleep(timeout)
            return None
        return await self._webhooks.wait(prediction_id, timeout)

    # ------------------------------------------------------------------ API calls

    async def model_input_schema(self, ref: str) -> tuple[str | None, dict[str, Any]]:
        """(version id, `Input` schema) of a model's latest version, or of the pinned one."""
        model_ref, version = split_model_ref(ref)
        model = await self._call(self._client.models.async_get(model_ref))
        if version:
            found = await self._call(model.versions.async_get(version))
        else:
            found = model.latest_version
        if found is None or not found.openapi_schema:
            raise JobRejectedError(f"{ref} publishes no input schema")
        schemas = found.openapi_schema.get("components", {}).get("schemas", {})
        if "Input" not in schemas:
            raise JobRejectedError(f"{ref}'s schema has no Input")
        return found.id, dict(schemas["Input"])

    async def _upload(self, path: Path) -> str:
        if path not in self._uploads:
            uploaded = await self._call(self._client.files.async_create(path))
            self._uploads[path] = str(uploaded.urls["get"])
        return self._uploads[path]

    async def submit(self, request: Request) -> Prediction:
        """Upload local files, then create the prediction (never retried here)."""
        inputs = dict(request.inputs)
        for name, path in request.local_files.items():
            inputs[name] = await self._upload(path)
        model, version = split_model_ref(request.model)
        params: dict[str, Any] = {}
        if self._webhook_url:
            params["webhook"] = self._webhook_url
            params["webhook_events_filter"] = ["completed"]
        box: list[float] = []
        token = _retry_after_header.set(box)
        try:
            if version:
                created = self._client.predictions.async_create(
                    version=version, input=inputs, **params
                )
            else:
                created = self._client.models.predictions.async_create(
                    model=model, input=inputs, **params
                )
            with anyio.fail_after(self._request_timeout):
                prediction = await self._call(created, retry_after_box=box)
        except TimeoutError:
            raise TransientError(f"create timed out after {self._request_timeout:g}s") from None
        finally:
            _retry_after_header.reset(token)
        return self._to_prediction(prediction)

    async def poll(self, prediction_id: str) -> Prediction:
        """GET the prediction; an `aborted` one (the client cannot parse it) is reported as such."""
        try:
            with anyio.fail_after(self._request_timeout):
                prediction = await self._call(self._client.predictions.async_get(prediction_id))
        except TimeoutError:
            raise TransientError("poll timed out") from None
        except (pydantic.ValidationError, pydantic.v1.ValidationError) as exc:
            # The client's models predate the `aborted` status and refuse to parse it.
            if "aborted" in str(exc):
                return Prediction(id=prediction_id, status="aborted", error="aborted")
            raise TransientError(f"unreadable prediction: {exc}") from None
        return self._to_prediction(prediction)

    async def recover(self, request: Request, since: float) -> Prediction | None:
        """Search the account's predictions (newest first, back to `since`) for one with this
        request's model and inputs. Uploaded files get new URLs, so file inputs are not compared.
        """
        model, version = split_model_ref(request.model)
        wanted = {k: v for k, v in request.inputs.items() if k not in request.local_files}
        cursor: str | None = None
        for _ in range(20):  # 2,000 predictions back at most
            try:
                listing = self._client.predictions.async_list
                page = await self._call(listing() if cursor is None else listing(cursor=cursor))
            except (pydantic.ValidationError, pydantic.v1.ValidationError):
                return None  # a page the client cannot parse (e.g. an aborted prediction)
            for p in page.results:
                created = _epoch(p.created_at)
                if created is not None and created < since - 5.0:
                    return None
                same_model = p.version == version if version else p.model == model
                inputs = {k: v for k, v in (p.input or {}).items() if k not in request.local_files}
                if same_model and inputs == wanted:
                    return self._to_prediction(p)
            cursor = page.next
            if not cursor:
                return None
        return None

    async def cancel(self, prediction_id: str) -> None:
        """POST …/cancel; failures are ignored (the prediction may have just finished)."""
        try:
            with anyio.fail_after(10):
                await self._call(self._client.predictions.async_cancel(prediction_id))
        except (
            TimeoutError,
            TransientError,
            JobRejectedError,
            pydantic.ValidationError,
            pydantic.v1.ValidationError,
        ):
            pass

    async def fetch(self, prediction: Prediction, destination: Path) -> Fetched:
        """Stream the output to `destination`, hashing on the way. A connection that drops
        after some bytes resumes with a Range request where it stopped, as long as each try
        brings more bytes; a host that ignores Range is read again from the start."""
        if not prediction.output:
            raise OutputGoneError(f"prediction {prediction.id} has no output any more")
        assert self._downloads is not None
        download = _Download(destination)
        stalled = 0
        while True:
            before = download.size
            try:
                await self._download_once(prediction, download)
            except TransientError:
                stalled = 0 if download.size > before else stalled + 1
                if stalled >= 2 or download.resumes >= _MAX_RESUMES:
                    raise
                download.resumes += 1
                continue
            return Fetched(destination, download.digest.hexdigest(), download.size)

    async def _download_once(self, prediction: Prediction, download: _Download) -> None:
        assert self._downloads is not None and prediction.output
        headers = {"Range": f"bytes={download.size}-"} if download.size else {}
        try:
            async with self._downloads.stream(
                "GET", prediction.output, headers=headers
            ) as response:
                if response.status_code in (404, 410):
                    raise OutputGoneError(
                        f"output of {prediction.id} is gone ({response.status_code})"
                    )
                if response.status_code >= 400:
                    raise TransientError(f"download failed with HTTP {response.status_code}")
                if download.size and response.status_code != 206:
                    download.restart()
                total = _total_size(response, download.size)
                with download.path.open("ab") as handle:
                    async for chunk in response.aiter_bytes():  # as received: none lost in a buffer
                        handle.write(chunk)
                        download.digest.update(chunk)
                        download.size += len(chunk)
        except httpx.HTTPError as exc:
            raise TransientError(f"download failed: {type(exc).__name__}: {exc}") from None
        if total is not None and total != download.size:
            raise TransientError(f"download truncated: {download.size} of {total} bytes")

    # ------------------------------------------------------------------ translation

    async def _call(self, awaitable: Any, retry_after_box: list[float] | None = None) -> Any:
        from replicate.exceptions import ReplicateError

        try:
            return await awaitable
        except ReplicateError as exc:
            raise _classify(exc, retry_after_box) from None
        except httpx.TransportError as exc:
            raise TransientError(f"{type(exc).__name__}: {exc}") from None

    @staticmethod
    def _to_prediction(p: Any) -> Prediction:
        return prediction_from_json(p.dict())


def prediction_from_json(data: dict[str, Any]) -> Prediction:
    """A prediction object of Replicate's API (from the client or a webhook) as a `Prediction`."""
    metrics = data.get("metrics") or {}
    latency = metrics.get("total_time") if isinstance(metrics, dict) else None
    if not isinstance(latency, int | float):
        latency = _seconds_between(data.get("created_at"), data.get("completed_at"))
    status = data.get("status")
    version = data.get("version")
    output = data.get("output")
    return Prediction(
        id=str(data["id"]),
        status=status if status in TERMINAL | {"starting", "processing"} else "failed",
        output=_output_url(output),
        error=str(data["error"]) if data.get("error") else None,
        model_version=version if isinstance(version, str) and version != "hidden" else None,
        created_at=data.get("created_at"),
        completed_at=data.get("completed_at"),
        data_removed=bool(data.get("data_removed")) or (status == "succeeded" and output is None),
        latency=float(latency) if latency is not None else None,
    )


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
        from replicate.webhook import Webhooks

        body = await request.text()
        try:
            Webhooks.validate(
                headers=dict(request.headers), body=body, secret=self._secret, tolerance=300
            )
            prediction = prediction_from_json(json.loads(body))
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


def _classify(exc: Any, retry_after_box: list[float] | None) -> Exception:
    status = exc.status or 0
    title = exc.title or "error"
    detail = exc.detail or ""
    text = f"{title}: {detail}".strip(": ")
    if status == 429:
        header = retry_after_box[-1] if retry_after_box else None
        return RateLimitedError(text, retry_after_seconds(detail, header))
    if status in (401, 402, 403):
        return AccountError(f"Replicate answered {status} {text}")
    if status >= 500 or status in (408, 409, 425):
        return TransientError(f"Replicate answered {status} {text}")
    return JobRejectedError(f"Replicate answered {status} {text}")


class _Download:
    """A download in progress: the file, its bytes so far and their running hash."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.write_bytes(b"")
        self.digest = hashlib.sha256()
        self.size = 0
        self.resumes = 0

    def restart(self) -> None:
        self.path.write_bytes(b"")
        self.digest = hashlib.sha256()
        self.size = 0


def _total_size(response: httpx.Response, offset: int) -> int | None:
    """The whole file's size: from Content-Range on a 206, else offset + Content-Length."""
    content_range = response.headers.get("content-range", "")
    if response.status_code == 206 and "/" in content_range:
        total = content_range.rsplit("/", 1)[1]
        return int(total) if total.isdigit() else None
    length = response.headers.get("content-length")
    return offset + int(length) if length is not None and length.isdigit() else None
