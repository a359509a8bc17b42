"""A real `Backend` that keeps its predictions in memory, on anyio's clock.

Predictions finish `duration` seconds (of the event loop's clock: a `MockClock` in tests)
after they are created. Faults are scripted per call, in order, so each test states exactly
what the provider does:

    backend.script_creates("lost", RateLimitedError("slow down", 5), "ok")
    backend.script_outcomes(Outcome("failed", failure="model_error", error="boom"))
    backend.script_recovers("transient", "transient")
    backend.script_polls("transient")

It records what a provider's bill would show: every prediction ever created, by key.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

import anyio

from kling_pipe.backends.protocol import FailureKind, Fetched, Prediction, Request, Status
from kling_pipe.errors import BackendError, OutputGoneError, TransientError

CreateFault = Literal["ok", "lost", "unsent"] | BackendError
"""What a create does: "ok"; "lost": the prediction is made but the answer never arrives;
"unsent": the connection fails before the request reaches the provider; an error: raised
(nothing is made)."""


@dataclass(frozen=True)
class Outcome:
    """How a prediction ends, `after` seconds from its create (None: the backend's default)."""

    status: Literal["succeeded", "failed", "aborted", "canceled"] = "succeeded"
    failure: FailureKind | None = None
    error: str | None = None
    after: float | None = None
    expired: bool = False  # succeeded, but the output is gone before it is fetched
    never: bool = False  # stays processing until canceled


@dataclass
class Stored:
    """A prediction as the provider holds it."""

    id: str
    request: Request
    created: float  # the event loop's clock
    created_epoch: float  # wall clock, what `recover(since=...)` compares against
    outcome: Outcome
    done_at: float
    canceled: bool = False

    def status(self, now: float) -> Status:
        if self.canceled:
            return "canceled"
        if self.outcome.never or now < self.done_at:
            return "processing"
        return self.outcome.status

    @property
    def live_or_succeeded(self) -> bool:
        return not self.canceled and self.outcome.status == "succeeded"


@dataclass
class MemoryBackend:
    """Predictions in a dict; clips are a few bytes naming their prediction."""

    duration: float = 60.0
    name: str = "memory"
    free: bool = False
    records_to_lock: bool = True
    hold_limit: float = 0.0  # holds creates open up to this long (Replicate's `Prefer: wait`)
    predictions: dict[str, Stored] = field(default_factory=dict)
    submits: int = 0  # create requests received, including refused and unsent ones
    held: list[float] = field(default_factory=list)  # the hold asked by each create
    polls: int = 0
    fetches: int = 0
    canceled: list[str] = field(default_factory=list)
    ignores_cancels: bool = False  # a cancel is answered but the prediction runs on
    pushed: bool = False  # updates are pushed (webhooks): `wait_for_update` returns at the end
    loses_pushes: bool = False  # pushed updates never arrive (a webhook lost on the way)
    _creates: deque[CreateFault] = field(default_factory=deque)
    _outcomes: deque[Outcome] = field(default_factory=deque)
    _recovers: deque[Literal["ok", "transient"]] = field(default_factory=deque)
    _polls: deque[Literal["ok", "transient"]] = field(default_factory=deque)
    _fetches: deque[Literal["ok", "transient", "damaged"]] = field(default_factory=deque)

    # -- scripting -----------------------------------------------------------------

    def script_creates(self, *faults: CreateFault) -> None:
        """What the next creates do, in order (then "ok")."""
        self._creates.extend(faults)

    def script_outcomes(self, *outcomes: Outcome) -> None:
        """How the next predictions made end, in order (then succeeded)."""
        self._outcomes.extend(outcomes)

    def script_recovers(self, *answers: Literal["ok", "transient"]) -> None:
        """Whether the next listings can be read ("transient": TransientError)."""
        self._recovers.extend(answers)

    def script_polls(self, *answers: Literal["ok", "transient"]) -> None:
        """Whether the next polls can be read."""
        self._polls.extend(answers)

    def script_fetches(self, *answers: Literal["ok", "transient", "damaged"]) -> None:
        """What the next downloads do ("damaged": the bytes are not a clip)."""
        self._fetches.extend(answers)

    def make(
        self, request: Request, outcome: Outcome | None = None, *, at: float | None = None
    ) -> Stored:
        """A prediction made on the provider's side: by the run, or (`at` a clock time, 0: the
        start of the next run) by an earlier one."""
        outcome = outcome or (self._outcomes.popleft() if self._outcomes else Outcome())
        now = anyio.current_time() if at is None else at
        stored = Stored(
            id=f"p{len(self.predictions) + 1}",
            request=request,
            created=now,
            created_epoch=time.time(),
            outcome=outcome,
            done_at=now + (self.duration if outcome.after is None else outcome.after),
        )
        self.predictions[stored.id] = stored
        return stored

    def made_for(self, key: str) -> list[Stored]:
        """Every prediction made for `key`: what the bill shows."""
        return [p for p in self.predictions.values() if p.request.key == key]

    def paid_twice(self) -> list[str]:
        """Keys with two predictions that were not canceled and did not fail: paid twice."""
        keys = [p.request.key for p in self.predictions.values() if p.live_or_succeeded]
        return sorted({k for k in keys if keys.count(k) > 1})

    # -- the protocol --------------------------------------------------------------

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def expected_seconds(self, request: Request) -> float:
        return self.duration

    @property
    def pushes_updates(self) -> bool:
        return self.pushed

    async def wait_for_update(self, prediction_id: str, timeout: float) -> Prediction | None:
        if not self.pushed or self.loses_pushes:
            await anyio.sleep(timeout)
            return None
        stored = self.predictions[prediction_id]
        with anyio.move_on_after(timeout):
            await anyio.sleep(max(0.0, stored.done_at - anyio.current_time()))
        view = self._view(stored)
        return view if view.done else None

    async def submit(self, request: Request, *, hold: float = 0.0) -> Prediction:
        self.submits += 1
        self.held.append(hold)
        await anyio.sleep(0.1)  # a round trip
        fault = self._creates.popleft() if self._creates else "ok"
        if isinstance(fault, BaseException):
            raise fault
        if fault == "unsent":
            raise TransientError("connection refused")
        stored = self.make(request)
        hold = min(hold, self.hold_limit)
        if hold > 0:
            # Held until the prediction ends (or is canceled), for up to `hold` seconds.
            with anyio.move_on_after(hold):
                while stored.status(anyio.current_time()) == "processing":
                    await anyio.sleep(max(0.01, min(0.05, stored.done_at - anyio.current_time())))
        if fault == "lost":
            raise TransientError("connection reset before the answer arrived")
        return self._view(stored)

    async def recover(self, request: Request, since: float) -> Prediction | None:
        await anyio.sleep(0.1)
        if (self._recovers.popleft() if self._recovers else "ok") == "transient":
            raise TransientError("listing predictions timed out")
        for stored in reversed(self.predictions.values()):
            if stored.request.key == request.key and stored.created_epoch >= since - 5.0:
                return self._view(stored)
        return None

    async def poll(self, prediction_id: str) -> Prediction:
        self.polls += 1
        await anyio.sleep(0.05)
        if (self._polls.popleft() if self._polls else "ok") == "transient":
            raise TransientError("503 from the provider")
        return self._view(self.predictions[prediction_id])

    async def cancel(self, prediction_id: str) -> None:
        await anyio.sleep(0.05)
        stored = self.predictions[prediction_id]
        if stored.status(anyio.current_time()) == "processing" and not self.ignores_cancels:
            stored.canceled = True
            self.canceled.append(prediction_id)

    async def fetch(self, prediction: Prediction, destination: Path) -> Fetched:
        self.fetches += 1
        await anyio.sleep(0.1)
        stored = self.predictions[prediction.id]
        if stored.outcome.expired:
            raise OutputGoneError(f"output of {prediction.id} is gone")
        answer = self._fetches.popleft() if self._fetches else "ok"
        if answer == "transient":
            raise TransientError("download dropped")
        data = b"damaged" if answer == "damaged" else f"clip of {prediction.id}".encode()
        destination.write_bytes(data)
        return Fetched(destination, hashlib.sha256(data).hexdigest(), len(data))

    def _view(self, stored: Stored) -> Prediction:
        status = stored.status(anyio.current_time())
        return Prediction(
            id=stored.id,
            status=status,
            output=f"memory://{stored.id}.mp4" if status == "succeeded" else None,
            error=stored.outcome.error if status == stored.outcome.status else None,
            failure=stored.outcome.failure if status == "failed" else None,
            latency=stored.outcome.after if status == "succeeded" else None,
        )
