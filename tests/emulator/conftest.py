"""Fixtures for the emulator: a running emulator, the real `replicate` client checking every
response against Replicate's OpenAPI schemas, and a webhook receiver on 127.0.0.1."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import jsonschema
import pytest
import replicate

from kling_pipe.emulator import Emulator, EmulatorConfig, LatencyRange

SCHEMAS_FILE = Path(__file__).with_name("replicate_schemas.json")
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")

# Which schema each route's success body must match (method, path pattern).
RESPONSE_SCHEMAS = [
    ("POST", re.compile(r"^/v1/models/[^/]+/[^/]+/predictions$"), "schemas_prediction_response"),
    ("POST", re.compile(r"^/v1/predictions$"), "schemas_prediction_response"),
    ("GET", re.compile(r"^/v1/predictions/[^/]+$"), "schemas_prediction_response"),
    ("POST", re.compile(r"^/v1/predictions/[^/]+/cancel$"), "schemas_prediction_response"),
    ("GET", re.compile(r"^/v1/models/[^/]+/[^/]+$"), "schemas_model_response"),
    ("GET", re.compile(r"^/v1/models/[^/]+/[^/]+/versions/[^/]+$"), "schemas_version_response"),
    ("POST", re.compile(r"^/v1/files$"), "schemas_file_response"),
    ("GET", re.compile(r"^/v1/files/[^/]+$"), "schemas_file_response"),
    ("GET", re.compile(r"^/v1/webhooks/default/secret$"), "webhooks_default_secret_response"),
]


def _json_schema(openapi: Any) -> Any:
    """OpenAPI 3.0 `nullable: true` → JSON Schema's `type: [T, "null"]`, recursively.

    `oneOf` is read as `anyOf`: the prediction's `version` is `oneOf` "any string" and the
    string "hidden", which overlap, so a strict `oneOf` rejects Replicate's own responses for
    official models.
    """
    if isinstance(openapi, list):
        return [_json_schema(item) for item in openapi]
    if not isinstance(openapi, dict):
        return openapi
    renamed = {"oneOf": "anyOf"}
    converted = {renamed.get(k, k): _json_schema(v) for k, v in openapi.items() if k != "nullable"}
    if openapi.get("nullable") and "type" in converted:
        converted["type"] = [converted["type"], "null"]
    return converted


_formats = jsonschema.FormatChecker()


@_formats.checks("date-time", raises=ValueError)
def _is_rfc3339(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not RFC3339.match(value):
        raise ValueError(f"{value!r} is not an RFC 3339 date-time")
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@_formats.checks("uri", raises=ValueError)
def _is_uri(value: object) -> bool:
    if isinstance(value, str):
        parts = urlparse(value)
        if not (parts.scheme and parts.netloc):
            raise ValueError(f"{value!r} is not an absolute URI")
    return True


@pytest.fixture(scope="session")
def schemas() -> dict[str, Any]:
    """Replicate's response schemas, as JSON Schema."""
    raw = json.loads(SCHEMAS_FILE.read_text("utf-8"))["schemas"]
    return {name: _json_schema(schema) for name, schema in raw.items()}


@pytest.fixture(scope="session")
def conforms(schemas: dict[str, Any]) -> Callable[[str, Any], None]:
    """Assert that `body` validates against the named schema (formats checked)."""

    def check(name: str, body: Any) -> None:
        jsonschema.validate(body, schemas[name], format_checker=_formats)

    return check


@pytest.fixture(scope="session")
def render_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data folder for the session so each kind of clip is rendered once."""
    return tmp_path_factory.mktemp("emulator-data")


@pytest.fixture
def fast_config(render_dir: Path) -> EmulatorConfig:
    """Real-looking latency (2-4 s) compressed 20x, small renders, a shared render cache."""
    return EmulatorConfig(
        latency=LatencyRange(2.0, 4.0),
        time_scale=0.05,
        data_dir=render_dir,
        render_height=96,
        webhook_backoff_s=1.0,
    )


@pytest.fixture
def emulator(fast_config: EmulatorConfig) -> Iterator[Emulator]:
    """A running emulator with `fast_config`."""
    with Emulator(fast_config) as emu:
        yield emu


@dataclass
class SchemaRecorder:
    """Checks every response a client receives against its route's schema."""

    conforms: Callable[[str, Any], None]
    checked: int = 0
    failures: list[str] = field(default_factory=list)

    def __call__(self, response: httpx.Response) -> None:
        response.read()
        if not 200 <= response.status_code < 300:
            return
        request = response.request
        for method, pattern, name in RESPONSE_SCHEMAS:
            if request.method == method and pattern.match(request.url.path):
                try:
                    self.conforms(name, response.json())
                except jsonschema.ValidationError as exc:
                    self.failures.append(f"{request.method} {request.url.path}: {exc.message}")
                self.checked += 1
                return


@pytest.fixture
def schema_recorder(conforms: Callable[[str, Any], None]) -> Iterator[SchemaRecorder]:
    """Fails the test at teardown if any response did not conform."""
    recorder = SchemaRecorder(conforms)
    yield recorder
    assert not recorder.failures, "\n".join(recorder.failures)


@pytest.fixture
def client(emulator: Emulator, schema_recorder: SchemaRecorder) -> replicate.Client:
    """The real `replicate` client pointed at the emulator, every response schema-checked."""
    return replicate.Client(
        api_token="r8_test",
        base_url=emulator.base_url,
        event_hooks={"response": [schema_recorder]},
    )


@dataclass(frozen=True)
class Delivery:
    """One webhook request as received."""

    headers: dict[str, str]
    body: str


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that records deliveries and fails the first `failures`."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.deliveries: list[Delivery] = []
        self.refused = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length).decode("utf-8")
                with receiver._lock:
                    refuse = receiver.refused < receiver.failures
                    if refuse:
                        receiver.refused += 1
                    else:
                        receiver.deliveries.append(
                            Delivery({k.lower(): v for k, v in self.headers.items()}, body)
                        )
                self.send_response(500 if refuse else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(self, condition: Callable[[list[Delivery]], bool], timeout: float = 10.0) -> None:
        """Poll until `condition(deliveries)` holds, or fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if condition(list(self.deliveries)):
                    return
            time.sleep(0.02)
        raise AssertionError(f"webhook condition not met; got {len(self.deliveries)} deliveries")

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def receivers() -> Iterator[Callable[[int], WebhookReceiver]]:
    """Start webhook receivers that refuse their first N deliveries; all stopped at teardown."""
    started: list[WebhookReceiver] = []

    def start(failures: int = 0) -> WebhookReceiver:
        started.append(WebhookReceiver(failures))
        return started[-1]

    yield start
    for hook in started:
        hook.close()


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met before the deadline")


@pytest.fixture
def poll() -> Callable[..., None]:
    """`poll(condition, timeout=10)`: wait until `condition()` holds or fail at the deadline."""
    return _wait_until
