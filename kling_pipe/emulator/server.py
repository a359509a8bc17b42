"""The emulator's HTTP layer: Replicate's predictions API over aiohttp, on one event loop.

Every decision is delegated to the pure modules beside this one (lifecycle, throttle, faults,
problems, directives, signing, catalog, payloads); this module only moves bytes and owns tasks.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import mimetypes
import re
import secrets
import shutil
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from kling_pipe.canonical import sha256_hex
from kling_pipe.emulator import directives, problems
from kling_pipe.emulator.catalog import Catalog, ModelChoice, model_payload, version_payload
from kling_pipe.emulator.config import EmulatorConfig
from kling_pipe.emulator.faults import FaultDice
from kling_pipe.emulator.lifecycle import (
    Event,
    PredictionState,
    Schedule,
    advance,
    cancel,
    next_wakeup,
)
from kling_pipe.emulator.payloads import PredictionRequest, WallClock, prediction_payload
from kling_pipe.emulator.renders import Render, RenderCache, Renderer, render_job
from kling_pipe.emulator.signing import WEBHOOK_EVENTS, secret_from_bytes, wanted
from kling_pipe.emulator.stats import Stats
from kling_pipe.emulator.throttle import CreateBucket
from kling_pipe.emulator.webhooks import WebhookSender
from kling_pipe.errors import InputError, MediaError
from kling_pipe.media.probe import probe
from kling_pipe.models.catalogue import bundled_registry
from kling_pipe.models.checks import check_inputs, check_rules
from kling_pipe.models.spec import ModelRegistry, ModelSpec

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_CREATE_FIELDS = {"input", "webhook", "webhook_completed", "webhook_events_filter", "stream"}
_ROUTE_KEY = web.AppKey("emulator", object)
_CHUNK = 64 * 1024


def _new_id() -> str:
    # Replicate ids: 26 lowercase base32 characters.
    return base64.b32encode(secrets.token_bytes(16)).decode("ascii").lower().rstrip("=")[:26]


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    content_type = "application/problem+json" if status >= 400 else "application/json"
    return web.Response(
        text=json.dumps(body),
        status=status,
        content_type=content_type,
        headers=dict(headers or {}),
    )


@dataclass
class _Prediction:
    request: PredictionRequest
    state: PredictionState
    render: asyncio.Future[Render] | None = None
    ready_at: float | None = None
    output_path: Path | None = None
    terminal: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(frozen=True)
class _Upload:
    path: Path
    payload: dict[str, Any]


_PAGE = 100  # predictions a page, as Replicate serves them


class EmulatorServer:
    """Serves the API on the running event loop; `start` binds, `close` stops everything."""

    def __init__(
        self,
        config: EmulatorConfig,
        data_dir: Path,
        *,
        renderer: Renderer | None = None,
        registry: ModelRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._data_dir = data_dir
        self._clock = clock
        self._wall = WallClock(clock(), time.time())
        self._catalog = Catalog(registry or bundled_registry())
        self._dice = FaultDice(config.seed)
        self._hold_changed = asyncio.Event()
        self._bucket = self._new_bucket(config)
        self._secret = config.webhook_secret or secret_from_bytes(secrets.token_bytes(24))
        self.stats = Stats()
        self._renders = RenderCache(
            data_dir / "renders",
            self.stats,
            height=config.render_height,
            workers=config.render_workers,
            renderer=renderer,
            clock=clock,
        )
        self._webhooks = WebhookSender(
            self.stats,
            secret=lambda: self._secret,
            attempts=lambda: self._config.webhook_attempts,
            backoff_s=lambda: self._config.webhook_backoff_s * self._config.time_scale,
        )
        self._predictions: dict[str, _Prediction] = {}
        self._uploads: dict[str, _Upload] = {}
        self._drivers: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # ------------------------------------------------------------------ lifecycle of the server

    @property
    def config(self) -> EmulatorConfig:
        """The configuration in force."""
        return self._config

    def _new_bucket(self, config: EmulatorConfig) -> CreateBucket | None:
        if config.creates_per_minute is None:
            return None
        return CreateBucket.full(config.creates_per_minute, config.burst, self._clock())

    def reconfigure(self, config: EmulatorConfig) -> None:
        """Apply `config` from now on (call on the loop); host and port cannot change."""
        old = self._config
        self._hold_changed.set()  # held creates look again at what is held
        self._hold_changed = asyncio.Event()
        if (config.host, config.port) != (old.host, old.port) and self._runner is not None:
            bound = self.base_url
            if config.port != 0 or config.host != old.host:
                raise InputError(f"cannot move a running emulator ({bound}); start a new one")
        if (config.creates_per_minute, config.burst) != (old.creates_per_minute, old.burst):
            self._bucket = self._new_bucket(config)
        if config.seed != old.seed:
            self._dice = FaultDice(config.seed)
        if config.webhook_secret and config.webhook_secret != old.webhook_secret:
            self._secret = config.webhook_secret
        self._renders.set_height(config.render_height)
        self._config = config

    def webhook_secret(self) -> str:
        """The signing secret that `GET /v1/webhooks/default/secret` returns."""
        return self._secret

    async def start(self) -> str:
        """Bind and serve; returns the base URL (`http://host:port`)."""
        app = web.Application(middlewares=[self._middleware], client_max_size=200 * 1024 * 1024)
        app[_ROUTE_KEY] = self
        add = app.router.add_route
        add("POST", "/v1/models/{owner}/{name}/predictions", self._create_for_model,
            name="models.predictions.create")  # fmt: skip
        add("POST", "/v1/predictions", self._create_versioned, name="predictions.create")
        add("GET", "/v1/predictions", self._list, name="predictions.list")
        add("GET", "/v1/predictions/{id}", self._get, name="predictions.get")
        add("POST", "/v1/predictions/{id}/cancel", self._cancel, name="predictions.cancel")
        add("GET", "/v1/models/{owner}/{name}", self._model, name="models.get")
        add("GET", "/v1/models/{owner}/{name}/versions/{version}", self._version,
            name="models.versions.get")  # fmt: skip
        add("POST", "/v1/files", self._upload, name="files.create")
        add("GET", "/v1/files/{id}", self._file, name="files.get")
        add("GET", "/v1/webhooks/default/secret", self._secret_route,
            name="webhooks.default.secret.get")  # fmt: skip
        add("GET", "/files/{id}/{filename}", self._output, name="output")
        add("GET", "/_emulator/stats", self._stats_route, name="_emulator.stats")
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._config.host, self._config.port)
        await site.start()
        port = self._runner.addresses[0][1]
        host = self._config.host
        self.base_url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        return self.base_url

    async def close(self) -> None:
        """Stop serving, end every task the server owns and the render workers."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for task in list(self._drivers):
            task.cancel()
        if self._drivers:
            await asyncio.wait(list(self._drivers))
        await self._webhooks.close()
        await asyncio.get_running_loop().run_in_executor(None, self._renders.close)

    # ------------------------------------------------------------------ cross-cutting concerns

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.match_info.route.name
        if route is None or route.startswith("_emulator"):
            return await handler(request)
        self.stats.request(route)
        fault = self._dice.route_fault(self._config.faults, route)
        if fault is not None and fault.kind == "drop":
            self.stats.fault(route, "drop")
            if request.transport is not None:
                request.transport.close()
            raise web.HTTPInternalServerError()
        if fault is not None:
            self.stats.fault(route, str(fault.status))
            title = problems.SERVER_ERROR_TITLES[fault.status]
            return _json(problems.problem(fault.status, title, "Emulated fault."), fault.status)
        if route != "output" and not self._authorized(request.headers.get("Authorization")):
            return _json(problems.unauthenticated(), 401)
        response = await handler(request)
        if (
            route.endswith("predictions.create")
            and response.status == 201
            and self._dice.loses_create_response(self._config.faults)
        ):
            self.stats.fault(route, "lost_response")
            if request.transport is not None:
                request.transport.close()
            raise web.HTTPInternalServerError()
        return response

    def _authorized(self, header: str | None) -> bool:
        if not header:
            return False
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in ("bearer", "token") or not token.strip():
            return False
        return self._config.token is None or secrets.compare_digest(
            token.strip(), self._config.token
        )

    def _scaled(self, seconds: float) -> float:
        return seconds * self._config.time_scale

    # ------------------------------------------------------------------ creating predictions

    async def _create_for_model(self, request: web.Request) -> web.StreamResponse:
        owner, name = request.match_info["owner"], request.match_info["name"]
        spec = self._catalog.model(owner, name)
        if spec is None:
            return _json(problems.problem(404, "Model not found", f"{owner}/{name}"), 404)
        return await self._create(request, ModelChoice(spec, "hidden"), versioned=False)

    async def _create_versioned(self, request: web.Request) -> web.StreamResponse:
        body = await self._json_body(request)
        if isinstance(body, web.Response):
            return body
        version = body.get("version")
        choice = self._catalog.by_version(version) if isinstance(version, str) else None
        if choice is None:
            field_problem = problems.InvalidField(
                "invalid_version", "version", f"{version!r} is not a model or version it knows"
            )
            return _json(problems.validation_failed([field_problem]), 422)
        return await self._create(request, choice, versioned=True, body=body)

    async def _json_body(self, request: web.Request) -> dict[str, Any] | web.Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _json(problems.problem(400, "Bad request", "The body is not valid JSON."), 400)
        if not isinstance(body, dict):
            return _json(problems.problem(400, "Bad request", "The body must be an object."), 400)
        return body

    async def _create(
        self,
        request: web.Request,
        choice: ModelChoice,
        *,
        versioned: bool,
        body: dict[str, Any] | None = None,
    ) -> web.StreamResponse:
        held = await self._hold(request, choice.spec.ref)
        if held is not None:
            return held
        config = self._config
        if config.faults.out_of_credit:
            return _json(problems.insufficient_credit(), 402)
        if self._bucket is not None:
            self._bucket, refill_s = self._bucket.take(self._clock())
            if refill_s > 0:
                self.stats.count("throttled")
                answer = problems.throttled(self._bucket.per_minute, self._bucket.burst, refill_s)
                headers = {"Retry-After": str(answer["retry_after"])}
                return _json(answer, 429, headers if config.retry_after_header else None)
        if body is None:
            parsed = await self._json_body(request)
            if isinstance(parsed, web.Response):
                return parsed
            body = parsed
        invalid = self._check_create(body, choice, versioned)
        if invalid:
            return _json(problems.validation_failed(invalid), 422)
        try:
            wait_s = directives.parse_prefer_wait(request.headers.get("Prefer"))
            cancel_after = directives.parse_cancel_after(request.headers.get("Cancel-After"))
        except ValueError as exc:
            return _json(problems.problem(400, "Invalid header", str(exc)), 400)
        inputs: dict[str, Any] = body["input"]
        files: dict[str, Path] = {}
        unreadable: list[str] = []
        for name, ispec in choice.spec.inputs.items():
            if ispec.type != "uri" or not isinstance(inputs.get(name), str):
                continue
            found = self._input_file(name, inputs[name])
            if isinstance(found, problems.InvalidField):
                return _json(problems.validation_failed([found]), 422)
            if found is not None:
                files[name] = found
            elif name == (choice.spec.input_video.input if choice.spec.input_video else None):
                unreadable.append(f"could not download {name} {inputs[name]!r}")
        # The model's own checks, beyond the schema: Kling fails the prediction (it was created).
        refused = unreadable + await self._model_refusals(choice.spec, inputs, files)

        now = self._clock()
        outcome = "model_error" if refused else self._dice.outcome(config.faults)
        if choice.spec.ref in config.faults.failing_models:
            outcome = "model_error"
        schedule = replace(
            Schedule.plan(
                created=now,
                latency_s=self._dice.latency(config.latency, config.time_scale),
                queue_share=config.queue_share,
                outcome=outcome,
                deadline=None if cancel_after is None else now + self._scaled(cancel_after),
            ),
            error=f"Invalid input: {'; '.join(refused)}" if refused else None,
        )
        events_filter = body.get("webhook_events_filter")
        prediction = _Prediction(
            request=PredictionRequest(
                id=_new_id(),
                model=choice.spec.ref,
                version=choice.version,
                input=inputs,
                webhook=body.get("webhook") or body.get("webhook_completed"),
                webhook_events_filter=(
                    events_filter
                    if events_filter is not None or body.get("webhook")
                    else (["completed"] if body.get("webhook_completed") else None)
                ),
            ),
            state=PredictionState(schedule),
        )
        self._predictions[prediction.request.id] = prediction
        self.stats.create(choice.spec.ref, inputs)
        if outcome == "succeeded":
            job = render_job(choice.spec, inputs, files)
            prediction.render = self._renders.get(job)
            prediction.render.add_done_callback(lambda f: self._rendered(prediction, f))
        driver = asyncio.get_running_loop().create_task(self._drive(prediction))
        self._drivers.add(driver)
        driver.add_done_callback(self._drivers.discard)
        if wait_s is not None:
            # `Prefer: wait`: answer once the prediction ends, or after the wait (on the
            # emulator's clock) with the prediction as it stands.
            ended = asyncio.ensure_future(prediction.terminal.wait())
            await asyncio.wait([ended], timeout=self._scaled(wait_s))
            ended.cancel()
        self._refresh(prediction)
        return _json(self._payload(prediction), 201)

    async def _hold(self, request: web.Request, model: str) -> web.StreamResponse | None:
        """Hold a create for a held model until the hold is lifted; a create whose client went
        away meanwhile makes nothing (answered for the record, read by no one)."""
        if model not in self._config.faults.held_models:
            return None
        self.stats.count("held_creates")
        while model in self._config.faults.held_models:
            await self._hold_changed.wait()
        if request.transport is None or request.transport.is_closing():
            self.stats.count("abandoned_creates")
            return _json(problems.problem(499, "Client closed request", "Nothing created."), 499)
        return None

    def _check_create(
        self, body: Mapping[str, Any], choice: ModelChoice, versioned: bool
    ) -> list[problems.InvalidField]:
        allowed = _CREATE_FIELDS | ({"version"} if versioned else set())
        invalid = [
            problems.InvalidField(
                "additional_property_not_allowed",
                "(root)",
                f"Additional property {key} is not allowed",
            )
            for key in body
            if key not in allowed
        ]
        inputs = body.get("input")
        if not isinstance(inputs, dict):
            kind = "required" if inputs is None else "invalid_type"
            invalid.append(problems.InvalidField(kind, "input", "input must be an object"))
            return invalid
        issues = [
            issue
            for issue in check_inputs(choice.spec, inputs)
            if issue.kind not in ("deprecated", "rule")
            and (issue.kind != "unknown" or self._config.reject_unknown_inputs)
        ]
        invalid.extend(problems.input_fields(choice.spec, issues, inputs))
        events_filter = body.get("webhook_events_filter")
        if events_filter is not None and (
            not isinstance(events_filter, list)
            or any(e not in WEBHOOK_EVENTS for e in events_filter)
        ):
            invalid.append(
                problems.InvalidField(
                    "enum",
                    "webhook_events_filter",
                    f"must be a list of: {', '.join(WEBHOOK_EVENTS)}",
                )
            )
        for key in ("webhook", "webhook_completed"):
            url = body.get(key)
            if url is not None and not self._webhook_allowed(url):
                hosts = ", ".join(self._config.webhook_hosts)
                invalid.append(
                    problems.InvalidField(
                        "format", key, f"the emulator delivers webhooks to http(s)://{hosts} only"
                    )
                )
        return invalid

    def _webhook_allowed(self, url: Any) -> bool:
        if not isinstance(url, str):
            return False
        match = re.match(r"https?://(\[[^\]]+\]|[^:/]+)", url)
        return match is not None and match.group(1).strip("[]") in self._config.webhook_hosts

    def _input_file(self, name: str, value: str) -> Path | problems.InvalidField | None:
        """The local file an input URL names: an upload, a data URL, or an output this
        emulator served; None for a URL it cannot reach (it serves loopback only)."""
        field_name = f"input.{name}"
        prefix = f"{self.base_url}/v1/files/"
        if value.startswith(prefix):
            upload = self._uploads.get(value[len(prefix) :].split("/")[0])
            if upload is None:
                return problems.InvalidField(
                    "invalid_file", field_name, "no file with that URL was uploaded"
                )
            return upload.path
        outputs = f"{self.base_url}/files/"
        if value.startswith(outputs):
            prediction = self._predictions.get(value[len(outputs) :].split("/")[0])
            path = prediction.output_path if prediction else None
            return path if path is not None and path.exists() else None
        if value.startswith("data:"):
            header, _, data = value.partition(",")
            try:
                content = base64.b64decode(data) if header.endswith(";base64") else unquote(data)
            except binascii.Error:
                return problems.InvalidField(
                    "invalid_file", field_name, "the data URL is not valid base64"
                )
            raw = content if isinstance(content, bytes) else content.encode()
            mime = header[5:].split(";")[0] or "application/octet-stream"
            path = self._data_dir / "inline" / f"{sha256_hex(raw)}{_extension(mime)}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(raw)
            return path
        return None

    async def _model_refusals(
        self, spec: ModelSpec, inputs: Mapping[str, Any], files: Mapping[str, Path]
    ) -> list[str]:
        """What the model itself refuses in `inputs`: its rules, and an input video it cannot
        use. Only the video's length is checked: the emulator's own renders are smaller than
        the 720p a real lip-sync needs, and they stand in for real clips."""
        refused = [f"{issue.field} {issue.message}" for issue in check_rules(spec, inputs)]
        rule = spec.input_video
        video = files.get(rule.input) if rule is not None else None
        if rule is not None and video is not None:
            try:
                info = await asyncio.to_thread(probe, video)
            except MediaError as exc:
                return [*refused, f"{rule.input} is not a video ({exc})"]
            if info.video is None:
                refused.append(f"{rule.input} has no picture in it")
            elif not rule.min_seconds <= info.duration <= rule.max_seconds:
                refused.append(
                    f"{rule.input} lasts {info.duration:.2f} s; {spec.ref} takes "
                    f"{rule.min_seconds:g}–{rule.max_seconds:g} s"
                )
        return refused

    def _rendered(self, prediction: _Prediction, future: asyncio.Future[Render]) -> None:
        if future.cancelled():
            return
        if future.exception() is not None:
            self.stats.count("render_errors")
            # The clip could not be made: the prediction fails as a model error would.
            schedule = replace(prediction.state.schedule, outcome="model_error")
            prediction.state = replace(prediction.state, schedule=schedule)
            prediction.render = None
            return
        prediction.ready_at = future.result().ready_at

    # ------------------------------------------------------------------ moving predictions on

    async def _drive(self, prediction: _Prediction) -> None:
        """Wakes a prediction at each transition so webhooks and removals happen on time."""
        while True:
            self._refresh(prediction)
            wake = next_wakeup(
                prediction.state,
                output_ready_at=prediction.ready_at,
                retention_s=self._scaled(self._config.retention_s),
            )
            delay = None if wake is None else max(0.0, wake - self._clock())
            render = prediction.render
            if render is not None and not render.done() and not prediction.state.is_terminal:
                await asyncio.wait([render], timeout=delay)
            elif delay is None:
                return
            else:
                await asyncio.sleep(delay)

    def _refresh(self, prediction: _Prediction) -> None:
        state, events = advance(
            prediction.state,
            self._clock(),
            output_ready_at=prediction.ready_at,
            retention_s=self._scaled(self._config.retention_s),
        )
        self._commit(prediction, state, events)

    def _commit(
        self, prediction: _Prediction, state: PredictionState, events: tuple[Event, ...]
    ) -> None:
        prediction.state = state
        for event in events:
            if event == "output":
                prediction.output_path = self._publish(prediction)
            elif event == "completed":
                self.stats.finished(state.status)
                prediction.terminal.set()
            elif event == "removed":
                self._remove_output(prediction)
        request = prediction.request
        if request.webhook:
            for event in events:
                if wanted(event, request.webhook_events_filter):
                    body = json.dumps(self._payload(prediction))
                    self._webhooks.send(request.id, request.webhook, body)

    def _publish(self, prediction: _Prediction) -> Path | None:
        render = prediction.render
        if render is None or not render.done() or render.exception() is not None:
            return None
        name = f"output{render.result().path.suffix or '.mp4'}"
        target = self._data_dir / "outputs" / prediction.request.id / name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            target.hardlink_to(render.result().path)
        except OSError:
            shutil.copyfile(render.result().path, target)
        return target

    def _remove_output(self, prediction: _Prediction) -> None:
        if prediction.output_path is not None:
            shutil.rmtree(prediction.output_path.parent, ignore_errors=True)
            prediction.output_path = None
        self.stats.count("removed")

    def _payload(self, prediction: _Prediction) -> dict[str, Any]:
        output: str | list[str] | None = None
        if prediction.output_path is not None:
            path = prediction.output_path
            output = f"{self.base_url}/files/{prediction.request.id}/{path.name}"
            spec = self._catalog.model(*prediction.request.model.split("/", 1))
            if spec is not None and spec.output_kind == "image":
                output = [output]  # image models publish a list of URIs
        return prediction_payload(
            prediction.request, prediction.state, self._wall, self.base_url, output
        )

    def _known(self, request: web.Request) -> _Prediction | web.Response:
        prediction = self._predictions.get(request.match_info["id"])
        if prediction is None:
            return _json(problems.problem(404, "Not found", "No prediction with that id."), 404)
        return prediction

    async def _get(self, request: web.Request) -> web.StreamResponse:
        prediction = self._known(request)
        if isinstance(prediction, web.Response):
            return prediction
        self._refresh(prediction)
        return _json(self._payload(prediction))

    async def _list(self, request: web.Request) -> web.StreamResponse:
        """`GET /v1/predictions`: 100 a page, newest first, `cursor` to page on, optionally only
        those created at or after `created_after` and before `created_before`."""
        try:
            start = max(0, int(request.query.get("cursor", "0")))
        except ValueError:
            return _json(problems.problem(400, "Bad request", "cursor must be a number"), 400)
        bounds: dict[str, datetime] = {}
        for name in ("created_after", "created_before"):
            text = request.query.get(name)
            if text is None:
                continue
            try:
                bound = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                detail = f"{name} must be an ISO 8601 date-time"
                return _json(problems.problem(400, "Bad request", detail), 400)
            bounds[name] = bound if bound.tzinfo else bound.replace(tzinfo=UTC)
        newest_first = [
            p
            for p in reversed(self._predictions.values())
            if self._created_within(p, bounds.get("created_after"), bounds.get("created_before"))
        ]
        page = newest_first[start : start + _PAGE]
        for prediction in page:
            self._refresh(prediction)
        more = start + _PAGE < len(newest_first)
        kept = {k: v for k, v in request.query.items() if k in ("created_after", "created_before")}
        base = request.url.with_query(None)
        return _json(
            {
                "next": str(base.with_query({**kept, "cursor": start + _PAGE})) if more else None,
                "previous": (
                    str(base.with_query({**kept, "cursor": max(0, start - _PAGE)}))
                    if start
                    else None
                ),
                "results": [self._payload(p) for p in page],
            }
        )

    def _created_within(
        self, prediction: _Prediction, after: datetime | None, before: datetime | None
    ) -> bool:
        created = self._wall.instant(prediction.state.schedule.created)
        return (after is None or created >= after) and (before is None or created < before)

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        prediction = self._known(request)
        if isinstance(prediction, web.Response):
            return prediction
        self._refresh(prediction)
        state, events = cancel(prediction.state, self._clock())
        self._commit(prediction, state, events)
        return _json(self._payload(prediction))

    # ------------------------------------------------------------------ models, files, secrets

    async def _model(self, request: web.Request) -> web.StreamResponse:
        owner, name = request.match_info["owner"], request.match_info["name"]
        spec = self._catalog.model(owner, name)
        if spec is None:
            return _json(problems.problem(404, "Model not found", f"{owner}/{name}"), 404)
        runs = sum(1 for p in self._predictions.values() if p.request.model == spec.ref)
        return _json(model_payload(spec, self.base_url, runs))

    async def _version(self, request: web.Request) -> web.StreamResponse:
        owner, name = request.match_info["owner"], request.match_info["name"]
        spec = self._catalog.model(owner, name)
        payload = version_payload(spec) if spec else None
        if payload is None or payload["id"] != request.match_info["version"]:
            return _json(problems.problem(404, "Version not found", request.path), 404)
        return _json(payload)

    async def _secret_route(self, request: web.Request) -> web.StreamResponse:
        return _json({"key": self._secret})

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        content = form.get("content")
        if not isinstance(content, web.FileField):
            detail = "Send the file as multipart/form-data in a field named 'content'."
            return _json(problems.problem(400, "Bad request", detail), 400)
        raw = content.file.read()
        metadata_text = form.get("metadata")
        try:
            metadata = json.loads(metadata_text) if isinstance(metadata_text, str) else {}
        except json.JSONDecodeError:
            return _json(problems.problem(400, "Bad request", "metadata is not valid JSON"), 400)
        file_id = _new_id()
        filename = Path(content.filename or "file").name or "file"
        path = self._data_dir / "uploads" / file_id / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)
        now = self._wall.instant(self._clock())
        stamp = "%Y-%m-%dT%H:%M:%S.%fZ"
        digest = sha256_hex(raw)
        self.stats.uploaded(digest, content.content_type or "application/octet-stream")
        payload = {
            "id": file_id,
            "name": filename,
            "content_type": content.content_type or "application/octet-stream",
            "size": len(raw),
            "etag": f'"{digest[:32]}"',
            "checksums": {"sha256": digest},
            "metadata": metadata,
            "created_at": now.strftime(stamp),
            "expires_at": (now + timedelta(days=1)).strftime(stamp),
            "urls": {"get": f"{self.base_url}/v1/files/{file_id}"},
        }
        self._uploads[file_id] = _Upload(path, payload)
        return _json(payload, 201)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        upload = self._uploads.get(request.match_info["id"])
        if upload is None:
            return _json(problems.problem(404, "Not found", "No file with that id."), 404)
        return _json(upload.payload)

    async def _output(self, request: web.Request) -> web.StreamResponse:
        prediction = self._predictions.get(request.match_info["id"])
        path = prediction.output_path if prediction else None
        if path is None or request.match_info["filename"] != path.name or not path.exists():
            detail = "The output does not exist or was removed after its retention."
            return _json(problems.problem(404, "Not found", detail), 404)
        faults = self._config.faults
        plan = self._dice.download(faults)
        if _range_start(request.headers.get("Range"), path.stat().st_size):
            self.stats.count("resumed_downloads")
        if plan.truncate_at is None and faults.download_bytes_per_s is None:
            return web.FileResponse(path)
        data = path.read_bytes()
        start = _range_start(request.headers.get("Range"), len(data))
        size = len(data) - start
        cut = start + (size if plan.truncate_at is None else int(size * plan.truncate_at))
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        headers = {"Content-Type": kind, "Accept-Ranges": "bytes"}
        status = 200
        if start:
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = size
        await response.prepare(request)
        rate = faults.download_bytes_per_s
        # Paced in twentieths of a second so a slow download is slow from its first bytes.
        chunk = _CHUNK if rate is None else max(1024, min(_CHUNK, int(rate / 20)))
        for offset in range(start, cut, chunk):
            piece = data[offset : min(cut, offset + chunk)]
            if rate is not None:
                await asyncio.sleep(len(piece) / rate)
            await response.write(piece)
        if cut < len(data):
            self.stats.fault("output", "truncated")
            if request.transport is not None:
                request.transport.close()
            return response
        await response.write_eof()
        return response

    async def _stats_route(self, request: web.Request) -> web.StreamResponse:
        return _json(self.stats.snapshot())


def _range_start(header: str | None, size: int) -> int:
    """The first byte an open-ended `Range: bytes=N-` asks for; 0 (the whole file) otherwise."""
    match = re.fullmatch(r"bytes=(\d+)-", (header or "").strip())
    start = int(match.group(1)) if match else 0
    return start if start < size else 0


def _extension(mime: str) -> str:
    return mimetypes.guess_extension(mime) or ".bin"
