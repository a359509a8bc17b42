"""The library is the product: a Python caller gets what the CLI does, from a running event loop
or a worker thread, cancels with its own scope, and no signal handler is ever touched."""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

import kling_pipe
from kling_pipe.emulator import Emulator, LatencyRange
from kling_pipe.running.events import RunEvent, RunFinished, RunStarted
from tests.emulated import env_for, wait_until


def handlers() -> tuple[Any, Any]:
    return signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)


@pytest.fixture
def slow_emulator(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """Predictions that stay in flight long enough to be cancelled; the replicate backend
    pointed at them."""
    emulator.configure(latency=LatencyRange(20.0, 30.0))
    for name, value in env_for(emulator).items():
        monkeypatch.setenv(name, value)
    return emulator


def journal_statuses(project: Path) -> list[str]:
    with sqlite3.connect(project / ".kling-pipe/journal.sqlite") as db:
        return [row[0] for row in db.execute("SELECT status FROM predictions")]


def assert_cancelled_cleanly(project: Path, emulator: Emulator, events: list[RunEvent]) -> None:
    assert emulator.stats()["creates"] == 4
    wait_until(lambda: emulator.stats()["canceled"] == 4)
    assert journal_statuses(project) == ["canceled"] * 4
    record = json.loads((project / "out/demo/run.json").read_text())
    assert record["status"] == "interrupted" and record["exit_code"] == 130
    assert record["summary"]["canceled_remote"] == 4
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    assert events[-1].record.status == "interrupted"


async def run_until_four_created(
    project: Path, emulator: Emulator, events: list[RunEvent]
) -> anyio.CancelScope:
    """Start a run and cancel it, as its caller, once its four predictions are created."""
    seen_handlers: list[tuple[Any, Any]] = []
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as group:

            async def cancel_when_created() -> None:
                await anyio.to_thread.run_sync(
                    lambda: wait_until(lambda: emulator.stats()["creates"] >= 4)
                )
                seen_handlers.append(handlers())
                scope.cancel()

            group.start_soon(cancel_when_created)
            await kling_pipe.run(project / "campaign.yaml", on_event=events.append)
    assert seen_handlers == [handlers()]  # the same handlers while the run was live
    return scope


def test_a_run_inside_a_running_event_loop_is_cancelled_by_its_callers_scope(
    project: Path, slow_emulator: Emulator
) -> None:
    before = handlers()
    events: list[RunEvent] = []

    async def caller() -> None:
        scope = await run_until_four_created(project, slow_emulator, events)
        assert scope.cancelled_caught

    anyio.run(caller)
    assert handlers() == before
    assert_cancelled_cleanly(project, slow_emulator, events)


def test_a_run_in_a_worker_thread_is_cancelled_by_its_callers_scope(
    project: Path, slow_emulator: Emulator
) -> None:
    events: list[RunEvent] = []
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            anyio.run(run_until_four_created, project, slow_emulator, events)
        except BaseException as exc:  # reported to the test thread below
            failures.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive() and failures == []
    assert_cancelled_cleanly(project, slow_emulator, events)


def test_the_sync_wrappers_plan_run_and_report_like_the_cli(project: Path) -> None:
    results: dict[str, Any] = {}

    def worker(work: Callable[[], Any], name: str) -> None:
        results[name] = work()

    manifest = project / "campaign.yaml"
    thread = threading.Thread(
        target=worker,
        args=(lambda: kling_pipe.run_sync(manifest, backend="preview", preview_height=144), "run"),
    )
    thread.start()
    thread.join(timeout=120)
    result = results["run"]
    assert result.record.status == "ok" and result.record.summary.done == 4
    assert result.record.summary.spent_usd == 0
    for job in result.record.jobs:
        assert (result.output_dir / f"{job.id}.mp4").is_file()
    assert (result.output_dir / "report.html").is_file()
    plan = kling_pipe.plan_sync(manifest)
    assert plan.summary.generations == 4  # a preview is never a real generation
    with pytest.raises(kling_pipe.InputError, match="matches no job"):
        kling_pipe.plan_sync(manifest, only="nothing/*")
