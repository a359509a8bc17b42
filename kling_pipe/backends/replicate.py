"""The `replicate` backend: Replicate's predictions API through the official client (async).

The client is used for what it does well (auth, request shapes, response parsing) and not for
what it does badly for video: `run()` (no deadline, 0.5 s polling, `None` on a `processing`
answer). Creates are never retried by the client; the scheduler decides, with what this module
tells it: a `RateLimitedError` with the server's wait, a `TransientError`, a `JobRejectedError`
(`InvalidInputError`, `ContentPolicyError`) with the server's reason, or an `AccountError`.

The client's models refuse the `aborted` status, so what may hold one (a poll's answer, the
account's listing) is read as plain JSON with the same token and base URL when needed.
Webhooks live in `backends.webhooks`, output downloads in `backends.downloads`, the reading of
Replicate's answers in `backends.answers` and the recovery rule in `backends.recovery`.
"""

from __future__ import annotations

import contextlib
import mimetypes
import os
import random
from contextvars import ContextVar
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import anyio
import httpx
import pydantic
import pydantic.v1

from kling_pipe.backends import journal_name, recovery
from kling_pipe.backends.answers import api_error, prediction_from_json, retry_after_seconds
from kling_pipe.backends.downloads import download, output_client
from kling_pipe.backends.protocol import Fetched, Prediction, Request
from kling_pipe.backends.webhooks import WebhookReceiver
from kling_pipe.canonical import file_sha256
from kling_pipe.errors import (
    BackendError,
    JobRejectedError,
    MissingTokenError,
    OutputGoneError,
    TransientError,
)
from kling_pipe.media.probe import STILL_SUFFIXES, content_type
from kling_pipe.models.spec import split_model_ref

__all__ = ["ReplicateBackend", "WebhookReceiver", "prediction_from_json", "retry_after_seconds"]

DEFAULT_BASE_URL = "https://api.replicate.com"
TOKEN_VARIABLE = "REPLICATE_API_TOKEN"

_READ_ATTEMPTS = 4
"""Tries of one plain read (a listing page, an aborted poll) before it counts as failed."""
_READ_BACKOFF_S = 0.25
_HOLD_LIMIT_S = 60.0
"""`Prefer: wait=N` holds a create's answer until its prediction ends, for N from 1 to 60 s."""
_MAX_HELD_CREATES = 128
"""Creates held open at once (each holds a connection); more are answered at once and polled."""
_MAX_LISTING_PAGES = 50
"""Pages (of 100) `recover` reads back towards `since` before it gives up as unreadable."""

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


class _Missing(TransientError):
    """A plain read answered 404 (unexpected where a listing or a prediction was read)."""


class ReplicateBackend:
    """Predictions on Replicate (or anything speaking its API, such as the emulator).

    The token comes from `token` or `REPLICATE_API_TOKEN` (without one, `MissingTokenError`:
    exit status 2), the API root from `base_url` or `REPLICATE_BASE_URL`.
    """

    name = "replicate"
    free = False
    records_to_lock = True
    hold_limit = _HOLD_LIMIT_S

    def __init__(
        self,
        token: str | None = None,
        base_url: str | None = None,
        *,
        request_timeout: float = 60.0,
        webhook_url: str | None = None,
        webhook_listen: tuple[str, int] | None = None,
    ) -> None:
        token = token if token is not None else os.environ.get(TOKEN_VARIABLE)
        if not token:
            raise MissingTokenError(
                f"the replicate backend needs an API token: set {TOKEN_VARIABLE} "
                "(or use --backend preview to run offline for free)"
            )
        self._token = token
        self._base_url = base_url or os.environ.get("REPLICATE_BASE_URL") or None
        self.name = journal_name(self._base_url)
        self._api_root = (self._base_url or DEFAULT_BASE_URL).rstrip("/")
        self._request_timeout = request_timeout
        self._webhook_url = webhook_url
        self._webhooks: WebhookReceiver | None = None
        if webhook_url:
            url = httpx.URL(webhook_url)
            host, port = webhook_listen or ("127.0.0.1", url.port or 8765)
            self._webhooks = WebhookReceiver(host, port, url.path or "/")
        self._transport: _RetryAfterTransport | None = None
        self._downloads: httpx.AsyncClient | None = None
        self._plain: httpx.AsyncClient | None = None
        self._client: Any = None
        self._uploads: dict[Path, str] = {}
        self._upload_locks: dict[Path, anyio.Lock] = {}
        self._file_hashes: dict[Path, str] = {}
        self._rng = random.Random()
        self._held = 0

    async def __aenter__(self) -> Self:
        import replicate  # the one place kling-pipe imports the provider's client

        timeout = httpx.Timeout(10.0, read=self._request_timeout, write=60.0, pool=30.0)
        # Held creates each keep a connection: room for them beside polls and reads. Few are
        # kept idle: the pool checks every idle connection's socket on each request.
        limits = httpx.Limits(max_connections=_MAX_HELD_CREATES + 100, max_keepalive_connections=20)
        # One TLS context for the three clients: loading the CA bundle costs tens of ms each,
        # before the first create can go out.
        tls = httpx.create_ssl_context()
        self._transport = _RetryAfterTransport(httpx.AsyncHTTPTransport(verify=tls, limits=limits))
        self._client = replicate.client.Client(
            api_token=self._token,
            base_url=self._base_url,
            timeout=timeout,
            transport=self._transport,
        )
        self._plain = httpx.AsyncClient(
            base_url=self._api_root,
            headers={"Authorization": f"Bearer {self._token}", "User-Agent": "kling-pipe"},
            timeout=timeout,
            verify=tls,
        )
        self._downloads = output_client(tls)
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
            for client in (self._downloads, self._plain):
                if client is not None:
                    await client.aclose()
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
        version, input_schema, _ = await self.model_schemas(ref)
        return version, input_schema

    async def model_schemas(
        self, ref: str
    ) -> tuple[str | None, dict[str, Any], dict[str, Any] | None]:
        """(version id, `Input` schema, `Output` schema or None) of a model's latest version,
        or of the pinned one."""
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
        output = schemas.get("Output")
        return found.id, dict(schemas["Input"]), dict(output) if isinstance(output, dict) else None

    async def _upload(self, path: Path) -> str:
        # One upload per file even when several jobs take it at once (a master feeding every
        # market's lip-sync).
        async with self._upload_locks.setdefault(path, anyio.Lock()):
            if path not in self._uploads:
                filename, content_type = _upload_name(path)
                with path.open("rb") as file:
                    uploaded = await self._call(
                        self._client.files.async_create(
                            file, filename=filename, content_type=content_type
                        )
                    )
                self._uploads[path] = str(uploaded.urls["get"])
        return self._uploads[path]

    async def submit(self, request: Request, *, hold: float = 0.0) -> Prediction:
        """Upload local files, then create the prediction (never retried here). With `hold`,
        the create asks Replicate to answer once the prediction ends (`Prefer: wait`, whole
        seconds up to 60) unless `_MAX_HELD_CREATES` are held already."""
        inputs = dict(request.inputs)
        for name, path in request.local_files.items():
            inputs[name] = await self._upload(path)
        model, version = split_model_ref(request.model)
        params: dict[str, Any] = {}
        if self._webhook_url:
            params["webhook"] = self._webhook_url
            params["webhook_events_filter"] = ["completed"]
        wait = max(1, min(int(_HOLD_LIMIT_S), round(hold))) if hold > 0 else 0
        if wait and self._held >= _MAX_HELD_CREATES:
            wait = 0
        if wait:
            params["wait"] = wait
        box: list[float] = []
        token = _retry_after_header.set(box)
        self._held += bool(wait)
        try:
            if version:
                created = self._client.predictions.async_create(
                    version=version, input=inputs, **params
                )
            else:
                created = self._client.models.predictions.async_create(
                    model=model, input=inputs, **params
                )
            with anyio.fail_after(self._request_timeout + wait):
                prediction = await self._call(created, retry_after_box=box)
        except TimeoutError:
            raise TransientError(
                f"create timed out after {self._request_timeout + wait:g}s"
            ) from None
        finally:
            self._held -= bool(wait)
            _retry_after_header.reset(token)
        return self._to_prediction(prediction)

    async def poll(self, prediction_id: str) -> Prediction:
        """GET the prediction. An answer the client cannot parse (`aborted`, which its models
        predate) is read again as plain JSON, so every status comes back with its fields."""
        try:
            with anyio.fail_after(self._request_timeout):
                prediction = await self._call(self._client.predictions.async_get(prediction_id))
        except TimeoutError:
            raise TransientError("poll timed out") from None
        except (pydantic.ValidationError, pydantic.v1.ValidationError):
            data = await self._read(f"/v1/predictions/{prediction_id}")
            if not isinstance(data, dict) or not isinstance(data.get("id"), str):
                raise TransientError(f"unreadable prediction {prediction_id}") from None
            return prediction_from_json(data)
        return self._to_prediction(prediction)

    async def recover(self, request: Request, since: float) -> Prediction | None:
        """The prediction a lost create made for `request` at or after `since` (epoch seconds),
        found in the account's listing (`GET /v1/predictions?created_after=…`, newest first,
        paged) by the rule in `backends.recovery`: same model or version, same inputs, same
        file contents, created at or after `since` less 30 s of clock skew.

        Returns None only when the listing was read back past `since` (or to its end) and
        nothing matched. Raises `TransientError` when it could not be read: a connection
        error, a 5xx or a timeout that persists over a few tries with backoff, a page that is
        not a listing, any other refusal, or more than 5,000 predictions to read;
        `AccountError` on 401/402/403.
        Every status is accepted, `aborted` included.
        """
        try:
            return await self._recover(request, since)
        except JobRejectedError as exc:  # a listing or file lookup refused: still not read
            raise TransientError(f"the prediction listing could not be read: {exc}") from None

    async def _recover(self, request: Request, since: float) -> Prediction | None:
        matches: list[Prediction] = []
        cursor: str | None = recovery.listing_path(since)
        for _ in range(_MAX_LISTING_PAGES):
            if cursor is None:
                return recovery.choose(matches)
            page = await self._read(cursor)
            results, cursor = self._listing_page(page, cursor)
            for data in results:
                recent = recovery.created_since(data, since)
                if recent is False:
                    cursor = None  # newest first: everything after this is older still
                    continue
                if recent is None:
                    continue  # no readable creation time: cannot be placed after `since`
                references = recovery.same_request(request, data)
                if references is None or not await self._same_files(request, references):
                    continue
                matches.append(prediction_from_json(data))
        if cursor is None:
            return recovery.choose(matches)
        raise TransientError(
            f"the prediction listing goes back more than {_MAX_LISTING_PAGES} pages to the "
            "lost create's time; not read completely"
        )

    def _listing_page(self, page: Any, url: str) -> tuple[list[dict[str, Any]], str | None]:
        """A listing page's results and next cursor; a page of another shape is unreadable."""
        results = page.get("results") if isinstance(page, dict) else None
        following = page.get("next") if isinstance(page, dict) else None
        if not isinstance(results, list) or not all(
            isinstance(r, dict) and isinstance(r.get("id"), str) for r in results
        ):
            raise TransientError(f"the prediction listing at {url} is not a listing page")
        if following is not None and not isinstance(following, str):
            raise TransientError(f"the prediction listing at {url} has an unreadable cursor")
        return results, following or None

    async def _same_files(self, request: Request, references: dict[str, str]) -> bool:
        """Whether each file input shown in a listing holds the local file's bytes."""
        for name, shown in references.items():
            path = request.local_files[name]
            if self._uploads.get(path) == shown:
                continue
            local = self._file_hashes.get(path)
            if local is None:
                local = await anyio.to_thread.run_sync(file_sha256, path)
                self._file_hashes[path] = local
            remote = recovery.data_url_sha256(shown)
            file_id = recovery.files_api_id(shown, self._api_root)
            if remote is None and file_id is not None:
                try:
                    metadata = await self._read(f"/v1/files/{file_id}")
                except _Missing:
                    return False
                checksums = metadata.get("checksums") if isinstance(metadata, dict) else None
                remote = checksums.get("sha256") if isinstance(checksums, dict) else None
            if remote != local:
                return False
        return True

    async def _read(self, url: str) -> Any:
        """GET `url` (a path or a URL on the API's host) as plain JSON with the API token,
        trying a few times with backoff over connection errors, timeouts, 429 and 5xx answers
        and bodies that are not JSON. A 404 raises `_Missing`, other 4xx their `BackendError`.
        """
        assert self._plain is not None
        if url.startswith(("http://", "https://")) and not url.startswith(self._api_root + "/"):
            # A cursor pointing elsewhere must not receive the token.
            raise TransientError(f"refusing to send the API token to {httpx.URL(url).host}")
        problem: BackendError = TransientError(f"could not read {url}")
        for attempt in range(_READ_ATTEMPTS):
            if attempt:
                ceiling = _READ_BACKOFF_S * 2 ** (attempt - 1)
                await anyio.sleep(self._rng.uniform(ceiling / 2, ceiling))
            try:
                with anyio.fail_after(self._request_timeout):
                    response = await self._plain.get(url)
            except (TimeoutError, httpx.TransportError) as exc:
                problem = TransientError(f"reading {url} failed: {type(exc).__name__}: {exc}")
                continue
            if response.status_code == 404:
                raise _Missing(url)
            if response.status_code >= 400:
                problem = _plain_error(response)
                if isinstance(problem, TransientError) or response.status_code == 429:
                    continue
                raise problem
            try:
                return response.json()
            except ValueError:
                problem = TransientError(f"reading {url} gave a body that is not JSON")
        if not isinstance(problem, TransientError):
            problem = TransientError(str(problem))
        raise problem

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
        """Stream the output to `destination`, hashing on the way, resuming a dropped
        connection with Range requests (see `backends.downloads`)."""
        if not prediction.output:
            raise OutputGoneError(f"prediction {prediction.id} has no output any more")
        assert self._downloads is not None
        return await download(
            self._downloads, prediction.output, destination, label=f"output of {prediction.id}"
        )

    # ------------------------------------------------------------------ translation

    async def _call(self, awaitable: Any, retry_after_box: list[float] | None = None) -> Any:
        from replicate.exceptions import ReplicateError

        try:
            return await awaitable
        except ReplicateError as exc:
            header = retry_after_box[-1] if retry_after_box else None
            raise api_error(exc.status or 0, exc.title, exc.detail, header) from None
        except httpx.TransportError as exc:
            raise TransientError(f"{type(exc).__name__}: {exc}") from None

    @staticmethod
    def _to_prediction(p: Any) -> Prediction:
        return prediction_from_json(p.dict())


def _plain_error(response: httpx.Response) -> BackendError:
    """The `BackendError` of an error answer read as plain JSON (RFC 7807 body if any)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    header = response.headers.get("retry-after")
    retry_after = float(header) if header and header.replace(".", "", 1).isdigit() else None
    title, detail = body.get("title"), body.get("detail")
    return api_error(
        response.status_code,
        title if isinstance(title, str) else response.reason_phrase,
        detail if isinstance(detail, str) else None,
        retry_after,
    )


def _upload_name(path: Path) -> tuple[str, str]:
    """The name and content type a file is uploaded under. A stored output is named by its
    hash whatever it holds, so a still (a key frame for `start_image`) is told by its bytes:
    the model reads the type, and an image sent as `video/mp4` is refused."""
    kind = content_type(path)
    suffix = STILL_SUFFIXES.get(kind)
    if suffix is not None:
        return path.with_suffix(suffix).name, kind
    return path.name, mimetypes.guess_type(path.name)[0] or "application/octet-stream"
