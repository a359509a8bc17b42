"""Claims across runners, one money rule per test, on trio's fake clock.

The rules are pure (`ClaimRules`); the coordinator runs with the real scheduler, a real
journal, a `file://` bucket store (fsspec on tmp_path: O_EXCL claims) and the in-memory
provider. A "dead runner" is a claim written in the bucket that nobody beats.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from random import Random

import anyio
import pytest
from trio.testing import MockClock

from kling_pipe.backends.protocol import Request
from kling_pipe.errors import MediaError
from kling_pipe.running.claims import Claim, ClaimBoard, ClaimCoordinator, ClaimRules, ClaimTimes
from kling_pipe.running.journal import Journal, OutputRecord
from kling_pipe.running.remote_store import BucketStore
from kling_pipe.running.scheduler import Scheduler, SchedulerOptions, Unit, UnitResult
from kling_pipe.workspace import Workspace
from tests.running.memory_backend import MemoryBackend

EXPIRY = 20.0
COST = 0.70


def unit(name: str = "a") -> Unit:
    return Unit(
        key=f"key-{name}",
        request=Request(key=f"key-{name}", model="kwaivgi/kling-v2.6", inputs={"prompt": name}),
        job_ids=(f"shot/{name}",),
        cost_usd=COST,
        aspect_ratio="16:9",
        has_audio=True,
    )


def verify(unit: Unit, path: Path) -> float:
    if path.read_bytes() == b"damaged":
        raise MediaError(f"{path}: not a video")
    return unit.request.duration


# ---------------------------------------------------------------------- the rules, pure


def test_no_claim_is_claimed_and_a_recorded_output_is_taken() -> None:
    rules = ClaimRules(ClaimTimes(expiry=EXPIRY))
    assert rules.judge("k", None, stored=False, now=0.0) == "claim"
    assert rules.judge("k", Claim("other", 0), stored=True, now=0.0) == "stored"


def test_a_claim_whose_heartbeat_moves_is_waited_for_however_long() -> None:
    rules = ClaimRules(ClaimTimes(expiry=EXPIRY))
    for beat in range(10):
        assert rules.judge("k", Claim("other", 0, beat=beat), False, now=beat * 15.0) == "wait"


def test_a_claim_silent_for_the_expiry_on_this_runners_clock_is_taken_over() -> None:
    rules = ClaimRules(ClaimTimes(expiry=EXPIRY))
    silent = Claim("other", 0, beat=3)
    assert rules.judge("k", silent, False, now=100.0) == "wait"  # first seen: its age unknown
    assert rules.judge("k", silent, False, now=100.0 + EXPIRY - 0.1) == "wait"
    assert rules.judge("k", silent, False, now=100.0 + EXPIRY) == "take_over"


def test_a_new_generation_is_a_new_claim_to_watch() -> None:
    rules = ClaimRules(ClaimTimes(expiry=EXPIRY))
    rules.judge("k", Claim("a", 0), False, now=0.0)
    assert rules.judge("k", Claim("b", 1), False, now=EXPIRY + 1) == "wait"


# ---------------------------------------------------------------------- with the scheduler


@dataclass
class Runner:
    """One runner on a shared `file://` bucket, run on the fake clock."""

    root: Path
    backend: MemoryBackend
    name: str = "b"
    results: list[UnitResult] = field(default_factory=list)
    spent: float = 0.0

    @property
    def workspace(self) -> Workspace:
        (self.root / self.name / ".git").mkdir(parents=True, exist_ok=True)
        return Workspace.locate(
            self.root / self.name / "campaign.yaml",
            "demo",
            store=f"file://{self.root}/bucket",
            environ={},
        )

    def store(self) -> BucketStore:
        return BucketStore(self.workspace)

    def __call__(self, *units: Unit, alongside: object = None) -> list[UnitResult]:
        store = self.store()
        journal = Journal(self.workspace.journal)
        options = SchedulerOptions(creates_per_minute=600.0, manifest="demo")

        async def main() -> None:
            coordinator = ClaimCoordinator(
                store, self.backend.name, times=ClaimTimes(EXPIRY), clock=anyio.current_time
            )
            scheduler = Scheduler(
                self.backend,
                store,
                journal,
                options,
                verify=verify,
                rng=Random(0),
                coordinator=coordinator,
            )
            async with anyio.create_task_group() as tasks:
                if alongside is not None:
                    tasks.start_soon(alongside)  # type: ignore[arg-type]
                async with coordinator:
                    self.results = await scheduler.run(list(units))
            self.spent = round(scheduler.spent_usd, 6)

        try:
            anyio.run(
                main, backend="trio", backend_options={"clock": MockClock(autojump_threshold=0)}
            )
        finally:
            journal.close()
        return self.results

    def dead_claim(self, u: Unit, prediction_id: str | None, claimed_at: float = 0.0) -> None:
        """What a runner killed while holding `u` left in the bucket."""
        assert ClaimBoard(self.store()).create(
            u.key, Claim("dead:1:x", 0, beat=7, prediction_id=prediction_id, claimed_at=claimed_at)
        )


@pytest.fixture
def runner(tmp_path: Path) -> Runner:
    return Runner(tmp_path, MemoryBackend(duration=60.0))


def test_an_expired_claim_naming_a_prediction_is_adopted_not_paid_again(runner: Runner) -> None:
    made = runner.backend.make(unit().request, at=0.0)
    runner.dead_claim(unit(), made.id)
    (result,) = runner(unit())
    assert (result.status, result.prediction_id) == ("done", made.id)
    assert runner.backend.submits == 0
    assert runner.spent == 0.0  # the dead runner paid for it; its lock entry says so
    assert any("expired claim" in note for note in result.notes)
    assert ClaimBoard(runner.store()).current(unit().key) is None  # released when done


def test_an_expired_claim_without_a_prediction_is_looked_for_before_creating(
    runner: Runner,
) -> None:
    import time

    made = runner.backend.make(unit().request, at=0.0)  # its create's answer died with it
    runner.dead_claim(unit(), None, claimed_at=time.time())
    (result,) = runner(unit())
    assert (result.status, result.prediction_id, runner.backend.submits) == ("done", made.id, 0)


def test_an_expired_claim_that_created_nothing_is_created_once(runner: Runner) -> None:
    import time

    runner.dead_claim(unit(), None, claimed_at=time.time())
    (result,) = runner(unit())
    assert result.status == "done" and runner.backend.submits == 1
    assert runner.spent == pytest.approx(COST)


def test_a_live_claim_is_waited_for_and_its_output_taken_without_paying(
    runner: Runner, tmp_path: Path
) -> None:
    holder = Runner(tmp_path, runner.backend, name="a")
    board = ClaimBoard(holder.store())
    claim = Claim("live:1:y", 0, claimed_at=0.0)
    assert board.create(unit().key, claim)
    clip = b"clip made elsewhere"
    sha = hashlib.sha256(clip).hexdigest()

    async def live_runner() -> None:
        # Beats for three expiries, then lands its output and lets go.
        for beat in range(1, 13):
            await anyio.sleep(EXPIRY / 4)
            board.rewrite(unit().key, Claim("live:1:y", 0, beat=beat))
        source = tmp_path / "made.mp4"
        source.write_bytes(clip)
        holder.store().put(source, sha)
        holder.store().record_output(
            OutputRecord(
                unit().key,
                sha,
                len(clip),
                5.0,
                "p-elsewhere",
                None,
                COST,
                runner.backend.name,
                None,
                None,
            )
        )
        board.release(unit().key, 0)

    (result,) = runner(unit(), alongside=live_runner)
    assert (result.status, result.prediction_id) == ("cached", "p-elsewhere")
    assert runner.backend.submits == 0 and runner.spent == 0.0


def test_a_claimed_unit_records_its_output_for_every_runner_and_lets_go(runner: Runner) -> None:
    (result,) = runner(unit())
    assert result.status == "done" and result.output is not None
    store = runner.store()
    assert store.output_record(unit().key, runner.backend.name) == result.output
    assert ClaimBoard(store).current(unit().key) is None
    other = Runner(runner.root, runner.backend, name="c")
    (again,) = other(unit())
    assert again.status == "cached" and runner.backend.submits == 1


def test_of_two_runners_racing_for_a_key_one_claims_it(runner: Runner) -> None:
    board = ClaimBoard(runner.store())
    first = Claim("one", 0)
    assert board.create(unit().key, first)
    assert not board.create(unit().key, Claim("two", 0))
    assert board.current(unit().key) == first
