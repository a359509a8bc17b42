"""The scheduler: generate every unit of work concurrently, inside the provider's limits,
surviving its faults, and never creating a prediction that the journal says exists.

One task per distinct job key (jobs sharing a key are one generation). For each:

    output already stored? ─ yes ─▶ cached
        │ no
    journal has an open prediction? ─ yes ─▶ re-attach (poll it)
        │ no
    budget reserve ─▶ in-flight slot ─▶ create token ─▶ create (429: wait and retry; the
    server's wait slows every create) ─▶ journal the id ─▶ poll on schedule ─▶ fetch, hash,
    verify ─▶ store ─▶ done

Transient faults retry with backoff and jitter up to a limit; rejected jobs fail at once;
account errors (401/402) stop all new creates. Ctrl-C cancels the remote predictions in flight,
records them, and ends the run as interrupted.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import anyio

from kling_pipe.backends.protocol import Backend, Prediction
from kling_pipe.errors import (
    AccountError,
    JobRejectedError,
    MediaError,
    OutputGoneError,
    RateLimitedError,
    TransientError,
)
from kling_pipe.media.probe import verify_video
from kling_pipe.running.events import RunEvent, UnitFinished
from kling_pipe.running.journal import Journal, OutputRecord
from kling_pipe.running.run_plan import Unit
from kling_pipe.running.store import ObjectStore
from kling_pipe.running.throttle import CreateBucket, PollSchedule

Outcome = Literal["done", "cached", "failed", "refused", "canceled"]

_POLICY = re.compile(r"content|policy|moderat|safety|nsfw|flagged|sensitive", re.IGNORECASE)


@dataclass
class UnitResult:
    """How a unit ended."""

    unit: Unit
    status: Outcome = "failed"
    output: OutputRecord | None = None
    prediction_id: str | None = None
    attempts: int = 0
    seconds: float = 0.0
    cost_usd: float = 0.0
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    reserved: bool = False  # its cost is held against the budget while in flight


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
    manifest: str = ""


@dataclass
class _Counters:
    total: int
    done: int = 0
    cached: int = 0
    failed: int = 0
    refused: int = 0
    running: int = 0
    spent_usd: float = 0.0
    throttled: int = 0


class _StopCreating(Exception):
    """No new creates: the account cannot run anything, or the run was interrupted."""


class Scheduler:
    """Runs units against one backend, journaling as it goes."""

    def __init__(
        self,
        backend: Backend,
        store: ObjectStore,
        journal: Journal,
        options: SchedulerOptions,
        on_event: Callable[[RunEvent], None] | None = None,
    ) -> None:
        self.backend = backend
        self.store = store
        self.journal = journal
        self.options = options
        self.on_event = on_event
        self.results: list[UnitResult] = []
        self.bucket = CreateBucket(options.creates_per_minute)
        self.in_flight = anyio.CapacityLimiter(options.concurrency)
        self.polls: PollSchedule | None = None
        self.reserved_usd = 0.0
        self.spent_usd = 0.0
        self.account_error: str | None = None
        self.interrupted = False
        self.live: dict[str, Unit] = {}
        self.progress = _Counters(total=0)
        self._rng = random.Random()

    # ------------------------------------------------------------------ the run

    async def run(self, units: Sequence[Unit]) -> list[UnitResult]:
        """Run every unit; return their results in the order given (also in `results`)."""
        self.progress.total = len(units)
        results = self.results = [UnitResult(unit) for unit in units]
        if units:
            self.polls = PollSchedule(
                self.backend.expected_seconds(units[0].request),
                pushed=self.backend.pushes_updates,
            )
        try:
            async with anyio.create_task_group() as work:
                for result in results:
                    work.start_soon(self._run_unit, result)
        except anyio.get_cancelled_exc_class():
            self.interrupted = True
            with anyio.CancelScope(shield=True):
                await self._cancel_live()
            for result in results:
                if result.status == "failed" and result.error is None:
                    result.status = "canceled"
                    result.error = "interrupted" if result.prediction_id else "not submitted"
            raise
        return results

    @property
    def cancelled(self) -> bool:
        """Whether the caller cancelled the run."""
        return self.interrupted

    async def _cancel_live(self) -> None:
        for prediction_id in list(self.live):
            await self.backend.cancel(prediction_id)
            self.journal.update_prediction(prediction_id, "canceled", "interrupted")
        self.live.clear()

    # ------------------------------------------------------------------ one unit

    def _finish(self, result: UnitResult, status: Outcome, error: str | None = None) -> None:
        result.status = status
        result.error = error
        counter = {"done": "done", "cached": "cached", "failed": "failed", "refused": "refused"}
        if status in counter:
            name = counter[status]
            setattr(self.progress, name, getattr(self.progress, name) + 1)
        for job_id in result.unit.job_ids:
            self.journal.record_job(
                self.options.manifest,
                job_id,
                result.unit.key,
                status,
                error=error,
                attempts=result.attempts,
            )
        if self.on_event is not None:
            self.on_event(UnitFinished(result))

    async def _run_unit(self, result: UnitResult) -> None:
        started = anyio.current_time()
        try:
            await self._generate(result)
        except _StopCreating as stop:
            self._finish(result, "refused", str(stop))
        finally:
            result.seconds = anyio.current_time() - started

    async def _generate(self, result: UnitResult) -> None:
        unit = result.unit
        backend = self.backend.name
        stored = self.journal.output(unit.key, backend)
        if stored is not None and not self.store.holds(stored.sha256):
            self.journal.forget_output(unit.key, backend)
            result.notes.append("stored output was missing from the store; generating again")
            stored = None
        if stored is not None and not unit.force:
            result.output = stored
            result.prediction_id = stored.prediction_id
            self._finish(result, "cached")
            return

        prediction_id = unit.attach_to or self.journal.open_prediction(unit.key, backend)
        if prediction_id is not None:
            result.notes.append(f"re-attached to prediction {prediction_id}")
        elif (since := self.journal.intent_since(unit.key, backend)) is not None:
            prediction_id = await self._adopt(result, since)
        while True:
            async with self.in_flight:
                self.progress.running += 1
                try:
                    if prediction_id is None:
                        if result.attempts >= self.options.max_generation_attempts:
                            self._finish(result, "failed", result.error or "too many attempts")
                            return
                        created = await self._create(result)
                        if created is None:
                            return
                        prediction_id = result.prediction_id = created.id
                        prediction = await self._wait(result, created)
                    else:
                        result.prediction_id = prediction_id
                        prediction = await self._wait(result, Prediction(prediction_id, "starting"))
                finally:
                    self.progress.running -= 1
            result.prediction_id = prediction.id
            if prediction.status == "succeeded":
                outcome = await self._collect(result, prediction)
                if outcome is None:
                    return
                result.notes.append(outcome)
                prediction_id = None
                continue
            self._release(result)
            if prediction.status == "aborted":
                result.notes.append(f"prediction {prediction.id} was aborted; creating again")
                prediction_id = None
                continue
            if prediction.status == "canceled":
                why = prediction.error or "canceled"
                if self.interrupted:
                    self._finish(result, "canceled", "interrupted")
                    return
                result.error = why
                result.notes.append(f"prediction {prediction.id}: {why}")
                prediction_id = None
                continue
            reason = prediction.error or "the model failed without a reason"
            if _POLICY.search(reason):
                self._finish(result, "failed", f"rejected by the provider: {reason}")
                return
            result.error = f"model error: {reason}"
            result.notes.append(f"prediction {prediction.id} failed: {reason}")
            prediction_id = None

    # ------------------------------------------------------------------ create

    async def _adopt(self, result: UnitResult, since: float) -> str | None:
        """A run died after sending this create but before journaling its answer: look for
        that prediction on the provider's side rather than paying for it again."""
        unit = result.unit
        found = await self._find_orphan(unit, since)
        if found is None:
            self.journal.clear_intent(unit.key, self.backend.name)
            return None
        self._journal_prediction(unit, found)
        result.notes.append(
            f"adopted prediction {found.id}, created by a run that died before recording it"
        )
        return found.id

    def _release(self, result: UnitResult) -> None:
        if result.reserved:
            self.reserved_usd = max(0.0, self.reserved_usd - result.unit.cost_usd)
            result.reserved = False

    async def _create(self, result: UnitResult) -> Prediction | None:
        unit = result.unit
        if self.account_error:
            raise _StopCreating(self.account_error)
        if self.interrupted:
            raise _StopCreating("interrupted")
        if not unit.may_create:
            self._finish(
                result,
                "refused",
                result.error
                or "lost output no longer served; pass --regenerate-lost to pay for it again",
            )
            return None
        budget = self.options.budget_usd
        if (
            budget is not None
            and self.spent_usd + self.reserved_usd + unit.cost_usd > budget + 1e-9
        ):
            self._finish(
                result,
                "refused",
                f"budget: ${unit.cost_usd:.2f} more would exceed ${budget:.2f} "
                f"(spent ${self.spent_usd:.2f}, in flight ${self.reserved_usd:.2f})",
            )
            return None
        self.reserved_usd += unit.cost_usd
        result.reserved = True
        result.attempts += 1
        transient = 0
        while True:
            if self.account_error:
                self._release(result)
                raise _StopCreating(self.account_error)
            wait = self.bucket.reserve(anyio.current_time())
            if wait > 0:
                await anyio.sleep(wait)
            self.journal.record_intent(unit.key, self.backend.name, unit.job_ids[0])
            try:
                # Shielded: once a create is on the wire its answer is awaited and journaled,
                # so Ctrl-C cancels that prediction instead of leaving it unrecorded.
                with anyio.CancelScope(shield=True):
                    prediction = await self.backend.submit(unit.request)
            except RateLimitedError as exc:
                self.journal.clear_intent(unit.key, self.backend.name)
                self.bucket.throttled_by_server(anyio.current_time(), exc.retry_after)
                continue  # a 429 is a wait, never a failure
            except TransientError as exc:
                # The create may have reached the provider before its answer was lost: look
                # for it there before sending another (Replicate has no idempotency key).
                since = self.journal.intent_since(unit.key, self.backend.name)
                found = await self._find_orphan(unit, since)
                if found is not None:
                    self._journal_prediction(unit, found)
                    result.notes.append(f"create answer lost; found prediction {found.id}")
                    self.bucket.accepted()
                    return found
                self.journal.clear_intent(unit.key, self.backend.name)
                transient += 1
                if transient > self.options.max_transient_retries:
                    self._release(result)
                    self._finish(result, "failed", f"create kept failing: {exc}")
                    return None
                await anyio.sleep(self._backoff(transient))
                continue
            except JobRejectedError as exc:
                self.journal.clear_intent(unit.key, self.backend.name)
                self._release(result)
                self._finish(result, "failed", str(exc))
                return None
            except AccountError as exc:
                self.journal.clear_intent(unit.key, self.backend.name)
                self._release(result)
                self.account_error = f"stopped submitting: {exc}"
                raise _StopCreating(self.account_error) from None
            # Committed before anything waits on the prediction: a crash from here on resumes
            # by re-attaching to it rather than paying for it again.
            self._journal_prediction(unit, prediction)
            self.bucket.accepted()
            return prediction

    async def _find_orphan(self, unit: Unit, since: float | None) -> Prediction | None:
        if since is None:
            return None
        try:
            with anyio.CancelScope(shield=True):
                found = await self.backend.recover(unit.request, since)
        except (TransientError, JobRejectedError, AccountError):
            return None
        return found

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

    async def _wait(self, result: UnitResult, prediction: Prediction) -> Prediction:
        """Poll on schedule until the prediction ends or its deadline passes (then cancel it)."""
        assert self.polls is not None
        self.live[prediction.id] = result.unit
        created = anyio.current_time()
        polls = 0
        transient = 0
        cancelled = False
        try:
            while not prediction.done:
                elapsed = anyio.current_time() - created
                if elapsed > self.options.deadline_seconds:
                    await self.backend.cancel(prediction.id)
                    self.journal.update_prediction(prediction.id, "canceled", "deadline passed")
                    return Prediction(
                        prediction.id,
                        "canceled",
                        error=f"stuck: canceled after {self.options.deadline_seconds:g}s",
                    )
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
                except TransientError as exc:
                    transient += 1
                    if transient > self.options.max_transient_retries:
                        return Prediction(prediction.id, "failed", error=f"polling failed: {exc}")
                    await anyio.sleep(self._backoff(transient))
                except (JobRejectedError, AccountError) as exc:
                    return Prediction(prediction.id, "failed", error=str(exc))
            self.journal.update_prediction(prediction.id, prediction.status, prediction.error)
            if prediction.status == "succeeded":
                latency = prediction.latency
                if latency is None:
                    latency = anyio.current_time() - created
                self.polls.observe(latency)
            return prediction
        except anyio.get_cancelled_exc_class():
            cancelled = not prediction.done  # still live: run() cancels it on the provider
            raise
        finally:
            if not cancelled:
                self.live.pop(prediction.id, None)

    # ------------------------------------------------------------------ collect

    async def _collect(self, result: UnitResult, prediction: Prediction) -> str | None:
        """Fetch, hash, verify and store the output. None when the unit is finished; else a note
        on why it must be generated again (the output expired, or was not a valid video)."""
        unit = result.unit
        transient = 0
        while True:
            temp = self.store.temp_path(".mp4")
            try:
                fetched = await self.backend.fetch(prediction, temp)
                info = await anyio.to_thread.run_sync(self._verify, unit, fetched.path)
            except TransientError as exc:
                temp.unlink(missing_ok=True)
                transient += 1
                if transient > self.options.max_transient_retries:
                    self._release(result)
                    self._finish(result, "failed", f"download kept failing: {exc}")
                    return None
                await anyio.sleep(self._backoff(transient))
                continue
            except OutputGoneError as exc:
                temp.unlink(missing_ok=True)
                self._release(result)
                self.journal.update_prediction(prediction.id, "expired", str(exc))
                return f"output of {prediction.id} expired on the server; generated again"
            except MediaError as exc:
                temp.unlink(missing_ok=True)
                transient += 1
                if transient <= 2:  # a damaged download: fetch again before blaming the model
                    continue
                self._release(result)
                self.journal.update_prediction(prediction.id, "invalid", str(exc))
                result.error = f"output was not a valid clip: {exc}"
                return f"output of {prediction.id} was not a valid clip; generated again"
            break
        self.store.put(fetched.path, fetched.sha256)
        record = OutputRecord(
            key=unit.key,
            sha256=fetched.sha256,
            bytes=fetched.bytes,
            duration=info,
            prediction_id=prediction.id,
            model_version=prediction.model_version,
            cost_usd=unit.cost_usd,
            backend=self.backend.name,
            created_at=prediction.created_at,
            completed_at=prediction.completed_at,
        )
        self.journal.record_output(record)
        self._release(result)
        self.spent_usd += unit.cost_usd
        result.cost_usd = unit.cost_usd
        result.output = record
        result.error = None
        self._finish(result, "done")
        return None

    @staticmethod
    def _verify(unit: Unit, path: Path) -> float:
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
