"""The backend protocol: submit a request, poll it, cancel it, fetch its output.

A backend raises the `BackendError` family (`TransientError`, `RateLimitedError`,
`JobRejectedError` with `InvalidInputError` and `ContentPolicyError`, `AccountError`,
`OutputGoneError`) and nothing provider-specific, so the scheduler can decide retries without
knowing who it talks to. A failed prediction says why in `Prediction.failure`, an error class
in its `failure` attribute, both in the `FailureKind` vocabulary. Backends are made by name
with `kling_pipe.backends.make_backend`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol, Self

from kling_pipe.errors import FailureKind

__all__ = ["TERMINAL", "Backend", "FailureKind", "Fetched", "Prediction", "Request", "Status"]

Status = Literal["starting", "processing", "succeeded", "failed", "canceled", "aborted"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "canceled", "aborted"})


@dataclass(frozen=True)
class Request:
    """What to generate: a model, its inputs, and the local files to upload for input names."""

    key: str
    model: str
    inputs: Mapping[str, Any]
    local_files: Mapping[str, Path] = field(default_factory=dict)
    duration: float = 5.0


@dataclass(frozen=True)
class Prediction:
    """A prediction as the backend last saw it."""

    id: str
    status: Status
    output: str | None = None  # a URL or a local path
    error: str | None = None
    model_version: str | None = None
    created_at: str | None = None
    completed_at: str | None = None
    data_removed: bool = False
    latency: float | None = None  # seconds from creation to completion, when known
    failure: FailureKind | None = None
    """Why it failed, set by the backend when status is failed (and `transient` when aborted);
    None while it runs, when it succeeded and when it was canceled."""

    @property
    def done(self) -> bool:
        """Whether the prediction will not change any more."""
        return self.status in TERMINAL


@dataclass(frozen=True)
class Fetched:
    """An output streamed to a local file, hashed on the way."""

    path: Path
    sha256: str
    bytes: int


class Backend(Protocol):
    """Where predictions are made. Used as an async context manager around a whole run."""

    name: str
    free: bool
    """Generations cost nothing: no budget, no estimate shown as a cost."""
    records_to_lock: bool
    """Its outputs are real generations, recorded in the lock (a preview is not)."""
    hold_limit: float
    """The longest the provider holds a create's answer back until its prediction ends, in
    seconds (0: a create is answered at once)."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def submit(self, request: Request, *, hold: float = 0.0) -> Prediction:
        """Create a prediction. Without `hold`, return as soon as the provider gives it an id;
        with it, the answer may be held back until the prediction ends, for up to `hold`
        seconds (no more than `hold_limit`), and a prediction still running then is returned
        as it stands. A held create can be abandoned (its prediction is then found with
        `recover`)."""
        ...

    async def poll(self, prediction_id: str) -> Prediction:
        """The prediction's current state."""
        ...

    async def cancel(self, prediction_id: str) -> None:
        """Ask the provider to stop the prediction (best effort)."""
        ...

    async def fetch(self, prediction: Prediction, destination: Path) -> Fetched:
        """Stream a succeeded prediction's output to `destination`."""
        ...

    def expected_seconds(self, request: Request) -> float:
        """How long a prediction like this usually takes, before anything was observed."""
        ...

    async def recover(self, request: Request, since: float) -> Prediction | None:
        """A prediction for `request` created at or after `since` (epoch seconds) whose create
        answer was lost (the run died first), found on the provider's side.

        None only when the provider's records were read completely and nothing matches (then
        creating again pays once); `TransientError` when they could not be read, so a caller
        never pays twice because a listing failed.
        """
        ...

    @property
    def pushes_updates(self) -> bool:
        """Whether `wait_for_update` can return early (webhooks): polls become a safety net."""
        ...

    async def wait_for_update(self, prediction_id: str, timeout: float) -> Prediction | None:
        """Wait up to `timeout` for a pushed update of the prediction; None if none came."""
        ...
