"""The scheduler: generate every unit of work concurrently, inside the provider's limits,
surviving its faults, and never paying twice for one key.

One task per distinct job key (jobs sharing a key are one generation). For each:

    output already stored (and not forced)? ─ yes ─▶ cached
        │ no
    journal has an open prediction? ─ yes ─▶ re-attach (poll it; force does not skip it)
        │ no
    journal has an unanswered create? ─ yes ─▶ find it on the provider and adopt it
        │ no
    inputs from other jobs: wait until each is stored (its cost held against the budget
    meanwhile), or fail as the upstream did
        │
    other runners share the store? ─ yes ─▶ claim the key there (`running.claims`): take
        │                                    their output, wait for their live claim, adopt
        │                                    a dead runner's prediction
    budget reserve ─▶ in-flight slot ─▶ create token ─▶ create (429: wait and retry; the
    server's wait slows every create) ─▶ journal the id ─▶ poll on schedule ─▶ fetch, hash,
    verify ─▶ store ─▶ done

The money rules:

- A key never has two live predictions. A create whose answer was lost may have reached the
  provider (Replicate has no idempotency key), so it is looked for there (`recover`) before
  anything is created again; only a complete listing with nothing in it allows a new create.
  If it cannot be resolved, the job fails saying so: it is never created blindly.
- Spending counts a create from the moment it is sent, against the budget and in `spent_usd`.
  It is given back when the create made nothing (429, refused, a lost answer that the listing
  shows never arrived) and when the provider reports the prediction ended without an output
  (failed, aborted, canceled): Replicate bills Kling by output second and bills no failed
  prediction. A prediction this run canceled itself (deadline, cancellation) stays counted,
  since it may have finished first; so does a succeeded one whose output expired or was not a
  valid clip (it was billed). A prediction an earlier run journaled (re-attached) and a
  download of an existing output are not this run's spending: the journal already holds their
  cost. One a dead run sent but never journaled (adopted from its intent) is, since nothing
  recorded its payment.
- A create whose answer was lost and that no listing could resolve is not counted as spent
  (the run that adopts it from the journaled intent records it), but stays held against the
  budget.
- Nothing is sent that would take spent + reserved (budgeted but not yet sent) + its own cost
  over the budget.

Failures: a 429 is a wait, never a failure; transient errors retry with jittered backoff up to a
limit; a failed prediction is decided by its `failure` kind (content policy and invalid input
fail the job at once, account failures stop every new create, anything else is created again up
to `max_generation_attempts`); a prediction past its deadline is canceled.

No signals, no printing, no exits: the caller cancels the run by cancelling the scope around
`await scheduler.run(units)`, and learns what happens through `on_event`.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Literal

import anyio

from kling_pipe.backends.protocol import Backend, Prediction
from kling_pipe.errors import (
    AccountError,
    BackendError,
    JobRejectedError,
    MediaError,
    OutputGoneError,
    RateLimitedError,
    TransientError,
)
from kling_pipe.media.probe import verify_image, verify_video
from kling_pipe.running.claims import KeyCoordinator
from kling_pipe.running.events import (
    Notice,
    PredictionCreated,
    ProgressChanged,
    RunEvent,
    RunProgress,
    Throttled,
    UnitFinished,
)
from kling_pipe.running.graph import UpstreamGate
from kling_pipe.running.journal import Journal, OutputRecord
from kling_pipe.running.run_plan import Unit
from kling_pipe.running.store import Store
from kling_pipe.running.throttle import CreateBucket, PollSchedule

Outcome = Literal["done", "cached", "failed", "refused", "canceled"]


@dataclass
class UnitResult:
    """How a unit ended (or, until `finished`, how far it got)."""

    unit: Unit
    status: Outcome = "failed"
    output: OutputRecord | None = None
    prediction_id: str | None = None
    attempts: int = 0  # creates sent for it by this run
    seconds: float = 0.0
    cost_usd: float = 0.0  # what this run spent on it (see the module's money rules)
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    reserved: bool = False  # its cost is held against the budget, not yet sent
    finished: bool = False
    submitted: bool = False  # a create was sent for it (its answer may have been lost)
    started: bool = False  # its task was started
    sent_at: float = 0.0  # when its last create was sent (the event loop's clock)
    abandoned_since: float | None = None
    """A held create was abandoned when the run was cancelled: when it was sent (epoch
    seconds, its journaled intent), for the wind-down to find its prediction by listing."""


@dataclass(frozen=True)
class SchedulerOptions:
    """Limits and patience."""

    concurrency: int = 8
    creates_per_minute: float = 60.0
    budget_usd: float | None = None
    deadline_seconds: float = 15 * 60
    max_transient_retries: int = 6
    max_generation_attempts: int = 3
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    cancel_timeout: float = 30.0  # how long cancelling the live predictions may take
    manifest: str = ""


Verify = Callable[["Unit", Path], float]
"""Checks a fetched file is the unit's clip and returns its duration; MediaError if not."""


def verify_clip(unit: Unit, path: Path) -> float:
    """The real check: a whole, decodable video of the unit's duration, streams and shape;
    for an image model, a still that decodes, of the unit's shape (its duration is 0)."""
    if unit.output_kind == "image":
        verify_image(path, aspect_ratio=unit.aspect_ratio)
        return 0.0
    info = verify_video(path, duration=unit.request.duration, audio=unit.has_audio)
    video = info.video
    assert video is not None
    if unit.aspect_ratio is not None:
        w, h = (int(x) for x in unit.aspect_ratio.split(":"))
        actual = video.display_width / video.display_height
        if abs(actual - w / h) > 0.02 * (w / h):
            raise MediaError(
                f"{path}: frame is {video.display_width}x{video.display_height}, "
                f"not {unit.aspect_ratio}"
            )
    return info.duration


class _Refused(Exception):
    """The unit is not created: budget, or the account cannot run anything."""


class _Failed(Exception):
    """The unit failed; the message says why."""


class _Stuck(Exception):
    """A prediction passed its deadline and was canceled."""


class Scheduler:
    """Runs units against one backend, journaling as it goes.

    `run(units)` returns one `UnitResult` per unit, in order (also kept as `results`). Events
    go to `on_event` synchronously, in the event loop's thread, as things happen:
    `PredictionCreated` once a prediction is journaled (`adopted` for one an earlier run
    created: re-attached or found), `Throttled` on a 429, `UnitFinished` as each unit ends,
    `ProgressChanged` whenever a counter changes, `Notice` for what is not a failure.
    `verify(unit, path)` checks each fetched clip (ffmpeg by default).

    Cancellation is the caller's scope: when it is cancelled, `run` (shielded) cancels every
    live prediction on the provider and journals it canceled (a create already on the wire is
    awaited and journaled first), ends every unfinished unit `canceled` ("interrupted" when a
    create was sent for it, keeping its prediction id; "not submitted" otherwise), sets
    `cancelled`, and lets the cancellation propagate. `spent_usd`, `account_error` and
    `progress` stay readable afterwards.
    """

    def __init__(
        self,
        backend: Backend,
        store: Store,
        journal: Journal,
        options: SchedulerOptions,
        on_event: Callable[[RunEvent], None] | None = None,
        *,
        verify: Verify = verify_clip,
        rng: random.Random | None = None,
        coordinator: KeyCoordinator | None = None,
    ) -> None:
        self.backend = backend
        self.coordinator = coordinator
        self.store = store
        self.journal = journal
        self.options = options
        self.on_event = on_event
        self.verify = verify
        self.bucket = CreateBucket(options.creates_per_minute)
        self.in_flight = anyio.CapacityLimiter(options.concurrency)
        self.polls: PollSchedule | None = None
        self.results: list[UnitResult] = []
        self.cancelled = False
        self.reserved_usd = 0.0
        self.spent_usd = 0.0
        self.account_error: str | None = None
        self.live: dict[str, UnitResult] = {}  # prediction id -> its unit, while it may run
        self.unresolved_usd = 0.0  # lost creates no listing could find (held, not spent)
        self._paid: set[str] = set()  # predictions this run created (and so pays for)
        self._counts = dict.fromkeys(
            ("done", "cached", "failed", "refused", "canceled", "running", "created"), 0
        )
        self._total = 0
        self._started: float | None = None
        self._last_seen = 0.0
        self._rng = rng or random.Random()
        self._gate = UpstreamGate(())

    # ------------------------------------------------------------------ events

    @property
    def progress(self) -> RunProgress:
        """The counters now."""
        return RunProgress(
            total=self._total,
            spent_usd=round(self.spent_usd, 6),
            throttled=self.bucket.throttled,
            elapsed=self._elapsed(),
            **self._counts,
        )

    def _elapsed(self) -> float:
        if self._started is None:
            return 0.0
        with contextlib.suppress(RuntimeError):  # read after the run, outside its event loop
            self._last_seen = anyio.current_time()
        return max(0.0, self._last_seen - self._started)

    def _emit(self, event: RunEvent) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def _changed(self) -> None:
        self._emit(ProgressChanged(self.progress))

    def _count(self, name: str, by: int = 1) -> None:
        self._counts[name] += by
        self._changed()

    # ------------------------------------------------------------------ the run

    async def run(self, units: Sequence[Unit]) -> list[UnitResult]:
        """Run every unit; return their results in the order given."""
        self.results = [UnitResult(unit) for unit in units]
        self._gate = UpstreamGate.of(units)
        self.cancelled = False
        self.spent_usd = self.reserved_usd = 0.0
        self._counts = dict.fromkeys(self._counts, 0)
        self._total = len(units)
        self._started = self._last_seen = anyio.current_time()
        if units:
            self.polls = PollSchedule(
                self.backend.expected_seconds(units[0].request),
                pushed=self.backend.pushes_updates,
            )
            for latency in self._recent_latencies():
                self.polls.observe(latency)
        self._changed()
        # Tasks are started as room frees up, not all at once: a run of 10,000 units holds
        # a few hundred tasks, and units wait their turn in order, each after the units
        # whose outputs it takes (so a unit waiting for its upstream never holds the room
        # that upstream needs to start).
        room = anyio.Semaphore(_TASKS_PER_SLOT * self.options.concurrency + _SPARE_TASKS)
        try:
            async with anyio.create_task_group() as work:
                for result in _upstream_first(self.results):
                    await room.acquire()
                    result.started = True
                    work.start_soon(self._run_unit_in_room, result, room)
        except BaseException as exc:
            # Cancelled by the caller (or a bug): stop paying for what is running, record it,
            # and let the exception go on.
            with anyio.CancelScope(shield=True):
                await self._wind_down(_is_cancellation(exc))
            raise
        return self.results

    async def _wind_down(self, cancelled: bool) -> None:
        self.cancelled = cancelled
        why = "interrupted" if cancelled else "the run stopped on an error"
        canceled: list[str] = []

        async def cancel(prediction_id: str) -> None:
            try:
                await self.backend.cancel(prediction_id)
            except BackendError:
                return  # left open in the journal: the next run re-attaches to it
            canceled.append(prediction_id)

        self._track_unstarted()
        with anyio.move_on_after(self.options.cancel_timeout):
            async with anyio.create_task_group() as tasks:
                for prediction_id in list(self.live):
                    tasks.start_soon(cancel, prediction_id)
                for result in self.results:
                    if result.abandoned_since is not None and not result.finished:
                        tasks.start_soon(self._find_abandoned, result, cancel)
        for prediction_id in canceled:
            self.journal.update_prediction(prediction_id, "canceled", why)
        self.live.clear()
        for result in self.results:
            if result.finished:
                continue
            if result.prediction_id is None and not result.submitted:
                self._finish(result, "canceled", "not submitted")
            else:
                self._finish(result, "canceled", why)

    def _track_unstarted(self) -> None:
        """Units whose task had not started yet may have a prediction an earlier run left
        running: it is canceled with the rest."""
        running = set(self.journal.in_flight(self.backend.name))
        if not running:
            return
        for result in self.results:
            if result.started or result.finished:
                continue
            prediction_id = self.journal.open_prediction(result.unit.key, self.backend.name)
            if prediction_id in running:
                self._track(result, prediction_id)

    async def _find_abandoned(
        self, result: UnitResult, cancel: Callable[[str], Awaitable[None]]
    ) -> None:
        """A held create abandoned by the cancellation: its prediction, found by listing, is
        journaled and canceled. Not found (or the listing unreadable), its intent stays
        journaled: it may still be on its way, and the next run looks for it before creating."""
        unit = result.unit
        assert result.abandoned_since is not None
        try:
            found = await self.backend.recover(unit.request, result.abandoned_since)
        except BackendError:
            found = None
        if found is None or found.id in self.journal.prediction_ids(unit.key, self.backend.name):
            self._hold_unresolved(result)
            result.notes.append(
                "interrupted while its create was held open; its prediction was not found yet, "
                "and the next run looks for it before creating anything"
            )
            return
        self._journal_prediction(unit, found)
        self._paid.add(found.id)
        result.prediction_id = found.id
        result.notes.append(f"interrupted while its create was held open; found {found.id}")
        if not found.done:
            await cancel(found.id)
        elif found.status != "succeeded":
            self.journal.update_prediction(found.id, found.status, found.error)

    # ------------------------------------------------------------------ one unit

    def _finish(self, result: UnitResult, status: Outcome, error: str | None = None) -> None:
        self._release(result)
        result.status = status
        result.error = error
        result.finished = True
        if self.coordinator is not None:
            # A prediction interrupted mid-flight keeps its claim: once the claim expires,
            # another runner adopts that prediction rather than paying for another.
            interrupted = status == "canceled" and result.prediction_id is not None
            self.coordinator.finished(
                result.unit, result.output if status == "done" else None, keep=interrupted
            )
        for job_id in result.unit.job_ids:
            self.journal.record_job(
                self.options.manifest,
                job_id,
                result.unit.key,
                status,
                error=error,
                attempts=result.attempts,
            )
        self._counts[status] += 1
        self._gate.settle(result.unit.key, status, result.output, error)
        self._emit(UnitFinished(result))
        self._changed()

    async def _run_unit_in_room(self, result: UnitResult, room: anyio.Semaphore) -> None:
        try:
            await self._run_unit(result)
        finally:
            room.release()

    async def _run_unit(self, result: UnitResult) -> None:
        started = anyio.current_time()
        try:
            await self._generate(result)
        except _Refused as refused:
            self._finish(result, "refused", str(refused))
        except _Failed as failed:
            self._finish(result, "failed", str(failed))
        finally:
            result.seconds = anyio.current_time() - started

    async def _generate(self, result: UnitResult) -> None:
        unit = result.unit
        backend = self.backend.name
        stored = self.journal.output(unit.key, backend)
        stored_from = stored.prediction_id if stored is not None else None
        if stored is not None and not self.store.holds(stored.sha256):
            self.journal.forget_output(unit.key, backend)
            result.notes.append("stored output was missing from the store; generating again")
            stored = None
        if stored is not None and not unit.force:
            result.output = stored
            result.prediction_id = stored.prediction_id
            self._finish(result, "cached")
            return
        if unit.upstream:
            await self._take_upstream(result)

        prediction = self._reattach(result, stored_from)
        if prediction is None and (since := self.journal.intent_since(unit.key, backend)):
            prediction = await self._adopt(result, since)
        while True:
            async with self.in_flight:
                self._count("running")
                try:
                    since = anyio.current_time()
                    if prediction is None and self.coordinator is not None:
                        prediction = await self._take_turn(result)
                        if result.finished:
                            return
                    if prediction is None:
                        prediction = await self._create(result)
                        since = result.sent_at
                    prediction = await self._wait(result, prediction, since)
                except _Stuck as stuck:
                    result.error = str(stuck)
                    result.notes.append(f"{stuck}; creating again")
                    prediction = None
                    continue
                finally:
                    self._count("running", -1)
            if prediction.status == "succeeded":
                if await self._collect(result, prediction):
                    return
            else:
                self._ended_without_output(result, prediction)
            prediction = None

    async def _take_turn(self, result: UnitResult) -> Prediction | None:
        """Other runners share the store: hold the key first (see `running.claims`). Their
        output ends the unit; their dead runner's prediction is adopted (its cost is theirs,
        recorded by the lock entry); a create they may have sent is looked for."""
        assert self.coordinator is not None
        unit = result.unit
        turn = await self.coordinator.turn(unit)
        if turn.output is not None:
            self.journal.record_output(turn.output)
            result.output = turn.output
            result.prediction_id = turn.output.prediction_id
            result.notes.append("generated by another runner sharing the store")
            self._finish(result, "cached")
            return None
        if turn.adopt is not None:
            self._journal_prediction(unit, Prediction(turn.adopt, "starting"))
            self._track(result, turn.adopt)
            message = (
                f"adopted prediction {turn.adopt} from the expired claim of runner "
                f"{turn.previous_runner}"
            )
            result.notes.append(message)
            self._emit(PredictionCreated(unit.key, unit.job_ids, turn.adopt, 0.0, adopted=True))
            self._emit(Notice(f"{unit.job_ids[0]}: {message}"))
            return Prediction(turn.adopt, "starting")
        if turn.recover_since is not None:
            return await self._adopt(result, turn.recover_since)
        return None

    async def _take_upstream(self, result: UnitResult) -> None:
        """Wait until every upstream output is stored and give the request those files. While
        it waits, the unit's cost is held against the budget (from when its upstream is sent,
        so an upstream always comes before the units that need it), so what other units spend
        cannot leave a master made without the money for its lip-syncs. An upstream that
        failed (or was refused) fails (refuses) this unit with its reason, before anything is
        paid."""
        unit = result.unit
        await self._gate.upstream_sent(unit)
        if self._gate.pending(unit):
            budget = self.options.budget_usd
            if budget is not None and (
                self.spent_usd + self.reserved_usd + unit.cost_usd > budget + 1e-9
            ):
                raise _Refused(
                    f"budget: ${unit.cost_usd:.2f} more would exceed ${budget:.2f} "
                    f"(spent ${self.spent_usd:.2f}, held for other jobs ${self.reserved_usd:.2f})"
                )
            self._reserve(result)
        try:
            files = await self._gate.files(unit, self._stored_output)
        except UpstreamGate.Refused as refused:
            raise _Refused(str(refused)) from None
        except UpstreamGate.Failed as failed:
            raise _Failed(str(failed)) from None
        finally:
            self._release(result)
        request = replace(unit.request, local_files={**unit.request.local_files, **files})
        result.unit = replace(unit, request=request)

    def _stored_output(self, key: str, sha256: str | None) -> Path | None:
        """The stored output of `key` (the journal's for this backend, else `sha256`)."""
        record = self.journal.output(key, self.backend.name)
        for digest in (record.sha256 if record else None, sha256):
            if digest is not None and (path := self.store.local_copy(digest)) is not None:
                return path
        return None

    def _reattach(self, result: UnitResult, stored_from: str | None) -> Prediction | None:
        """The journaled prediction for this key that may still give an output. `force` skips
        only the prediction whose output is the stored one: a prediction still running is the
        new take being paid for, and is waited for rather than created again."""
        unit = result.unit
        prediction_id = unit.attach_to or self.journal.open_prediction(unit.key, self.backend.name)
        if prediction_id is None or (unit.force and prediction_id == stored_from):
            return None
        result.notes.append(f"re-attached to prediction {prediction_id}")
        self._track(result, prediction_id)
        self._emit(PredictionCreated(unit.key, unit.job_ids, prediction_id, 0.0, adopted=True))
        return Prediction(prediction_id, "starting")

    async def _adopt(self, result: UnitResult, since: float) -> Prediction | None:
        """A run died after sending this create but before journaling its answer: look for
        that prediction on the provider's side rather than paying for it again."""
        unit = result.unit
        found = await self._resolve(
            result,
            since,
            "a previous run sent a create for it and died before recording the answer",
        )
        if found is None:
            self.journal.clear_intent(unit.key, self.backend.name)
            return None
        self._journal_prediction(unit, found)
        self._track(result, found.id)
        # The dead run recorded only its intent, never the payment: this run records it.
        self._paid.add(found.id)
        self._spend(result, unit.cost_usd)
        message = f"adopted prediction {found.id}, created by a run that died before recording it"
        result.notes.append(message)
        self._emit(PredictionCreated(unit.key, unit.job_ids, found.id, unit.cost_usd, adopted=True))
        self._emit(Notice(f"{unit.job_ids[0]}: {message}"))
        return found

    def _track(self, result: UnitResult, prediction_id: str) -> None:
        self._gate.sent(result.unit.key)
        result.prediction_id = prediction_id
        self.live[prediction_id] = result

    def _ended_without_output(self, result: UnitResult, prediction: Prediction) -> None:
        """A prediction failed, was aborted or canceled on the provider's side: nothing was
        billed. Decide whether the unit is tried again (the loop creates) or ends here."""
        if prediction.id in self._paid:
            self._paid.discard(prediction.id)
            self._spend(result, -result.unit.cost_usd)
        if prediction.status in ("aborted", "canceled"):
            why = prediction.error or prediction.status
            result.error = f"prediction {prediction.id} was {prediction.status}: {why}"
            result.notes.append(
                f"prediction {prediction.id} was {prediction.status}; creating again"
            )
            return
        reason = prediction.error or "the model failed without a reason"
        kind = prediction.failure
        if kind in ("content_policy", "invalid_input"):
            raise _Failed(f"rejected by the provider: {reason}")
        if kind == "account":
            self._stop_creating(reason)
            raise _Failed(f"the account cannot run predictions: {reason}")
        result.error = f"model error: {reason}"
        result.notes.append(f"prediction {prediction.id} failed: {reason}")

    def _stop_creating(self, reason: str) -> None:
        if self.account_error is None:
            self.account_error = f"stopped submitting: {reason}"
            self._emit(Notice(self.account_error))

    # ------------------------------------------------------------------ money

    def _reserve(self, result: UnitResult) -> None:
        self.reserved_usd += result.unit.cost_usd
        result.reserved = True

    def _release(self, result: UnitResult) -> None:
        if result.reserved:
            self.reserved_usd = max(0.0, self.reserved_usd - result.unit.cost_usd)
            result.reserved = False

    def _spend(self, result: UnitResult, amount: float) -> None:
        self.spent_usd = max(0.0, self.spent_usd + amount)
        result.cost_usd = max(0.0, result.cost_usd + amount)
        self._changed()

    def _send(self, result: UnitResult) -> None:
        """A create is going on the wire: from now on it counts as spent."""
        self._release(result)
        result.attempts += 1
        result.submitted = True
        self._spend(result, result.unit.cost_usd)

    def _hold_unresolved(self, result: UnitResult) -> None:
        """A create whose fate is unknown: not counted as spent (the run that finds it on the
        provider, adopting the journaled intent, records the payment), but held against this
        run's budget for good, since it may have been made."""
        self._spend(result, -result.unit.cost_usd)
        self.reserved_usd += result.unit.cost_usd
        self.unresolved_usd += result.unit.cost_usd

    def _unsend(self, result: UnitResult) -> None:
        """The create made nothing: back to reserved, for the next try."""
        result.attempts -= 1
        self._spend(result, -result.unit.cost_usd)
        self._reserve(result)

    # ------------------------------------------------------------------ create

    async def _create(self, result: UnitResult) -> Prediction:
        unit = result.unit
        if self.account_error:
            raise _Refused(self.account_error)
        if not unit.may_create:
            raise _Refused(
                "its output was paid for but is in no store and no longer served; pass "
                "--regenerate-lost to pay for it again"
            )
        if result.attempts >= self.options.max_generation_attempts:
            raise _Failed(result.error or f"{result.attempts} attempts failed")
        budget = self.options.budget_usd
        if budget is not None and (
            self.spent_usd + self.reserved_usd + unit.cost_usd > budget + 1e-9
        ):
            raise _Refused(
                f"budget: ${unit.cost_usd:.2f} more would exceed ${budget:.2f} "
                f"(spent ${self.spent_usd:.2f}, about to be sent ${self.reserved_usd:.2f})"
            )
        self._reserve(result)
        try:
            prediction = await self._send_create(result)
        finally:
            self._release(result)
        if self.coordinator is not None:
            with anyio.CancelScope(shield=True):
                await self.coordinator.created(unit, prediction.id)
        return prediction

    async def _send_create(self, result: UnitResult) -> Prediction:
        unit = result.unit
        backend = self.backend.name
        transient = 0
        while True:
            wait = self.bucket.reserve(anyio.current_time())
            if wait > 0:
                await anyio.sleep(wait)
            if self.account_error:
                raise _Refused(self.account_error)
            self.journal.record_intent(unit.key, backend, unit.job_ids[0])
            self._send(result)
            result.sent_at = anyio.current_time()
            try:
                prediction = await self._submit(result)
            except RateLimitedError as exc:
                self.journal.clear_intent(unit.key, backend)
                self._unsend(result)
                self.bucket.throttled_by_server(anyio.current_time(), exc.retry_after)
                self._emit(Throttled(exc.retry_after))
                self._changed()
                continue  # a 429 is a wait, never a failure
            except TransientError as exc:
                # The create may have reached the provider before its answer was lost: find
                # it there before sending another (Replicate has no idempotency key).
                since = self.journal.intent_since(unit.key, backend) or 0.0
                try:
                    found = await self._resolve(
                        result, since, f"a create's answer was lost ({exc})"
                    )
                except _Failed:
                    self._hold_unresolved(result)
                    raise
                if found is not None:
                    result.notes.append(f"create answer lost; found prediction {found.id}")
                    return self._created(result, found)
                self.journal.clear_intent(unit.key, backend)
                self._unsend(result)
                transient += 1
                if transient > self.options.max_transient_retries:
                    raise _Failed(f"create kept failing: {exc}") from None
                await anyio.sleep(self._backoff(transient))
                continue
            except JobRejectedError as exc:
                self.journal.clear_intent(unit.key, backend)
                self._unsend(result)
                raise _Failed(f"rejected by the provider: {exc}") from None
            except AccountError as exc:
                self.journal.clear_intent(unit.key, backend)
                self._unsend(result)
                self._stop_creating(str(exc))
                raise _Refused(self.account_error) from None
            return self._created(result, prediction)

    def _recent_latencies(self) -> list[float]:
        """How long this provider's last predictions took, by its own timestamps: what the
        poll schedule starts from."""
        latencies = []
        for output in self.journal.recent_outputs(self.backend.name, _HISTORY):
            latency = _seconds_between(output.created_at, output.completed_at)
            if latency is not None:
                latencies.append(latency)
        return latencies

    def _hold(self) -> float:
        """How long a create may be held open until its prediction ends: as long as the
        provider allows, when a typical prediction is seen to end within that and polling
        would be the only way to learn it. Not at all while nothing was seen (the id is
        journaled at once, as a create answered at once gives it), when one runs longer than
        a hold (the hold would only delay its id), or when updates are pushed."""
        assert self.polls is not None
        typical = self.polls.typical()
        limit = min(self.backend.hold_limit, self.options.deadline_seconds)
        if self.backend.pushes_updates or typical is None or typical > limit:
            return 0.0
        return limit

    async def _submit(self, result: UnitResult) -> Prediction:
        unit = result.unit
        hold = self._hold()
        if hold <= 0:
            # Shielded: once a create is on the wire its answer is awaited and journaled,
            # so a cancelled run cancels that prediction instead of leaving it unrecorded.
            with anyio.CancelScope(shield=True):
                return await self.backend.submit(unit.request)
        # A held answer may be a minute away: cancelled meanwhile, the create is abandoned
        # and its prediction found by listing as the run winds down (its intent is journaled).
        try:
            return await self.backend.submit(unit.request, hold=hold)
        except anyio.get_cancelled_exc_class():
            result.abandoned_since = self.journal.intent_since(unit.key, self.backend.name)
            raise

    def _created(self, result: UnitResult, prediction: Prediction) -> Prediction:
        """Committed before anything waits on the prediction: a crash from here on resumes by
        re-attaching to it rather than paying for it again."""
        unit = result.unit
        self._journal_prediction(unit, prediction)
        self._track(result, prediction.id)
        self._paid.add(prediction.id)
        self.bucket.accepted(anyio.current_time())
        self._emit(PredictionCreated(unit.key, unit.job_ids, prediction.id, unit.cost_usd))
        self._count("created")
        return prediction

    async def _resolve(self, result: UnitResult, since: float, what: str) -> Prediction | None:
        """Whether a create sent at `since` reached the provider: the prediction it made, or
        None when the provider's listing was read completely and holds none. A listing that
        cannot be read is asked again; if it never can be, the unit fails rather than risk a
        second prediction."""
        tries = 0
        while True:
            try:
                with anyio.CancelScope(shield=True):  # a found prediction is then canceled
                    found = await self.backend.recover(result.unit.request, since)
                known = self.journal.prediction_ids(result.unit.key, self.backend.name)
                # The listing is newest first: had the unanswered create arrived, it would be
                # newer than any prediction already journaled (such as the attempt before it,
                # which a listing reaching back a little before `since` may also hold).
                return None if found is None or found.id in known else found
            except (TransientError, RateLimitedError) as exc:  # a 429: its wait, if longer
                tries += 1
                if tries > self.options.max_transient_retries:
                    raise _Failed(self._unresolved(what, exc)) from None
                await anyio.sleep(max(self._backoff(tries), getattr(exc, "retry_after", 0.0)))
            except BackendError as exc:
                raise _Failed(self._unresolved(what, exc)) from None

    @staticmethod
    def _unresolved(what: str, exc: Exception) -> str:
        return (
            f"{what}, and the provider's predictions could not be listed to find it ({exc}); "
            "not creating another, which could pay twice. A later run looks for it again"
        )

    def _journal_prediction(self, unit: Unit, prediction: Prediction) -> None:
        self.journal.record_prediction(
            prediction.id,
            key=unit.key,
            backend=self.backend.name,
            job_id=unit.job_ids[0],
            manifest=self.options.manifest,
            status=prediction.status,
            cost_usd=unit.cost_usd,
        )

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.options.backoff_cap, self.options.backoff_base * 2 ** (attempt - 1))
        return self._rng.uniform(ceiling / 2, ceiling)  # "equal jitter"

    # ------------------------------------------------------------------ wait

    async def _wait(self, result: UnitResult, prediction: Prediction, created: float) -> Prediction:
        """Poll on schedule (counted from `created`, when its create was sent) until the
        prediction ends. Past its deadline it is canceled (`_Stuck`); if it cannot be read any
        more the unit fails, and the prediction stays open in the journal for a later run to
        re-attach to."""
        assert self.polls is not None
        self._track(result, prediction.id)
        polls = 0
        transient = 0
        while not prediction.done:
            elapsed = anyio.current_time() - created
            if elapsed > self.options.deadline_seconds:
                prediction = await self._cancel_stuck(prediction)
                if prediction.status == "succeeded":
                    break  # it finished as it was canceled: the output is there
            pushed = await self.backend.wait_for_update(
                prediction.id, self.polls.next_poll(elapsed, polls)
            )
            if pushed is not None:
                prediction = pushed
                continue
            polls += 1
            try:
                prediction = await self.backend.poll(prediction.id)
                transient = 0
            except RateLimitedError as exc:
                await anyio.sleep(exc.retry_after)
            except TransientError as exc:
                transient += 1
                if transient > self.options.max_transient_retries:
                    self.live.pop(prediction.id, None)
                    raise _Failed(self._lost_contact(prediction.id, exc)) from None
                await anyio.sleep(self._backoff(transient))
            except BackendError as exc:
                self.live.pop(prediction.id, None)
                raise _Failed(self._lost_contact(prediction.id, exc)) from None
        self.live.pop(prediction.id, None)
        self.journal.update_prediction(prediction.id, prediction.status, prediction.error)
        if prediction.status == "succeeded":
            latency = prediction.latency
            if latency is None:
                latency = anyio.current_time() - created
            self.polls.observe(latency)
        return prediction

    async def _cancel_stuck(self, prediction: Prediction) -> Prediction:
        """Cancel a prediction past its deadline and look again: a new one is created only
        once this one has stopped (it may also have just succeeded)."""
        deadline = self.options.deadline_seconds
        with anyio.CancelScope(shield=True):
            await self.backend.cancel(prediction.id)
            try:
                after = await self.backend.poll(prediction.id)
            except BackendError:
                after = prediction
        if after.status == "succeeded":
            return after
        self.live.pop(prediction.id, None)
        if not after.done:
            raise _Failed(
                f"prediction {prediction.id} was stuck past {deadline:g}s and did not stop when "
                "canceled; not creating another while it may still run: a later run re-attaches "
                "to it"
            )
        self.journal.update_prediction(prediction.id, after.status, "deadline passed")
        raise _Stuck(f"prediction {prediction.id} was stuck: canceled after {deadline:g}s")

    @staticmethod
    def _lost_contact(prediction_id: str, exc: Exception) -> str:
        return (
            f"prediction {prediction_id} could not be read ({exc}); it is not created again "
            "(it may still be running): a later run re-attaches to it"
        )

    # ------------------------------------------------------------------ collect

    async def _collect(self, result: UnitResult, prediction: Prediction) -> bool:
        """Fetch, hash, verify and store the output: True when the unit is done, False when it
        must be generated again (the output expired, or was not a valid clip)."""
        unit = result.unit
        transient = 0
        damaged = 0
        while True:
            temp = self.store.temp_path(".img" if unit.output_kind == "image" else ".mp4")
            try:
                fetched = await self.backend.fetch(prediction, temp)
                duration = await anyio.to_thread.run_sync(self.verify, unit, fetched.path)
            except TransientError as exc:
                temp.unlink(missing_ok=True)
                transient += 1
                if transient > self.options.max_transient_retries:
                    raise _Failed(
                        f"download kept failing: {exc}; prediction {prediction.id} stays "
                        "journaled and a later run fetches it while the provider keeps it"
                    ) from None
                await anyio.sleep(self._backoff(transient))
                continue
            except OutputGoneError as exc:
                temp.unlink(missing_ok=True)
                self.journal.update_prediction(prediction.id, "expired", str(exc))
                result.notes.append(
                    f"output of {prediction.id} expired on the server; generated again"
                )
                return False
            except MediaError as exc:
                temp.unlink(missing_ok=True)
                damaged += 1
                if damaged <= 2:  # a damaged download: fetch again before blaming the model
                    continue
                self.journal.update_prediction(prediction.id, "invalid", str(exc))
                result.error = f"output was not a valid clip: {exc}"
                result.notes.append(
                    f"output of {prediction.id} was not a valid clip; generated again"
                )
                return False
            break
        await anyio.to_thread.run_sync(self.store.put, fetched.path, fetched.sha256)
        record = OutputRecord(
            key=unit.key,
            sha256=fetched.sha256,
            bytes=fetched.bytes,
            duration=duration,
            prediction_id=prediction.id,
            model_version=prediction.model_version,
            cost_usd=unit.cost_usd,
            backend=self.backend.name,
            created_at=prediction.created_at,
            completed_at=prediction.completed_at,
        )
        self.journal.record_output(record)
        result.output = record
        result.prediction_id = prediction.id
        result.error = None
        self._finish(result, "done")
        return True


def _upstream_first(results: Sequence[UnitResult]) -> list[UnitResult]:
    """`results` in their order, but each after the units of this run it takes outputs from."""
    in_run = {r.unit.key for r in results}
    placed: set[str] = set()
    ordered: list[UnitResult] = []
    waiting = list(results)
    while waiting:
        later = []
        for result in waiting:
            needs = {u.key for u in result.unit.upstream} & in_run
            if needs <= placed:
                ordered.append(result)
                placed.add(result.unit.key)
            else:
                later.append(result)
        if len(later) == len(waiting):  # not a graph (planning refuses cycles): keep order
            ordered.extend(later)
            break
        waiting = later
    return ordered


_TASKS_PER_SLOT = 2
_SPARE_TASKS = 16
"""Units run at once: twice the in-flight slots (one waiting or generating, one fetching)
and a few more, so that cached units do not hold up the rest."""

_HISTORY = 64
"""Outputs read back from the journal to start the poll schedule from what was seen."""


def _seconds_between(start: str | None, end: str | None) -> float | None:
    """Seconds from one RFC 3339 stamp to another; None when either is missing or unreadable."""
    if start is None or end is None:
        return None
    try:
        seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except (TypeError, ValueError):
        return None
    return seconds if seconds >= 0 else None


def _is_cancellation(exc: BaseException) -> bool:
    cancelled = anyio.get_cancelled_exc_class()
    if isinstance(exc, BaseExceptionGroup):
        return all(_is_cancellation(e) for e in exc.exceptions)
    return isinstance(exc, cancelled)
