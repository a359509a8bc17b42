"""A prediction as the API serialises it: Replicate's response shape, RFC 3339 timestamps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kling_pipe.emulator.lifecycle import PredictionState


@dataclass(frozen=True)
class WallClock:
    """Turns the server's monotonic times into wall-clock instants, fixed at one origin."""

    mono_origin: float
    wall_origin: float  # seconds since the epoch at mono_origin

    def instant(self, mono: float) -> datetime:
        """The UTC wall-clock instant of monotonic time `mono`."""
        return datetime.fromtimestamp(self.wall_origin + (mono - self.mono_origin), tz=UTC)

    def rfc3339(self, mono: float) -> str:
        """`mono` as Replicate writes times: `2025-05-01T12:00:00.123456Z`."""
        return self.instant(mono).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class PredictionRequest:
    """What a create asked for, once accepted."""

    id: str
    model: str
    version: str
    input: Mapping[str, Any]
    webhook: str | None = None
    webhook_events_filter: Sequence[str] | None = None


def _logs(state: PredictionState) -> str:
    lines = []
    if state.started_at is not None:
        lines.append("Generating video...")
    if state.status == "succeeded":
        lines.append("Video generated.")
    elif state.status == "failed" and state.error:
        lines.append(state.error)
    return "".join(f"{line}\n" for line in lines)


def prediction_payload(
    request: PredictionRequest,
    state: PredictionState,
    clock: WallClock,
    base_url: str,
    output_url: str | list[str] | None,
) -> dict[str, Any]:
    """The prediction object of `GET /v1/predictions/{id}` and every create and cancel."""
    api = f"{base_url}/v1/predictions/{request.id}"
    payload: dict[str, Any] = {
        "id": request.id,
        "model": request.model,
        "version": request.version,
        "input": dict(request.input),
        "output": output_url if state.has_output else None,
        "logs": _logs(state),
        "error": state.error,
        "status": state.status,
        "source": "api",
        "data_removed": state.data_removed,
        "created_at": clock.rfc3339(state.schedule.created),
        "urls": {"get": api, "cancel": f"{api}/cancel", "web": f"{base_url}/p/{request.id}"},
        "metrics": {},
    }
    # The OpenAPI description types these as non-nullable strings: absent until they happen.
    if state.started_at is not None:
        payload["started_at"] = clock.rfc3339(state.started_at)
    if state.completed_at is not None:
        payload["completed_at"] = clock.rfc3339(state.completed_at)
        total = state.completed_at - state.schedule.created
        payload["metrics"] = {"total_time": round(total, 6)}
        if state.started_at is not None:
            payload["metrics"]["predict_time"] = round(state.completed_at - state.started_at, 6)
    if state.schedule.deadline is not None:
        payload["deadline"] = clock.rfc3339(state.schedule.deadline)
    return payload
