"""End-to-end: creates held open with `Prefer: wait` against the emulator, through the CLI.

A first run teaches the journal how long this provider's predictions take; once they are seen
to end within a hold, the next run's creates are held and answer with the finished prediction.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from pathlib import Path

from kling_pipe.emulator import Emulator, Faults, LatencyRange
from tests.emulated import wait_until
from tests.running.test_run_emulator import run, run_json, start_run


def learnt(project: Path, emulator: Emulator) -> dict[str, int]:
    """A first run, so the journal knows how long predictions take; the counters after it."""
    first = run(project, emulator)
    assert first.returncode == 0, first.stderr
    counts: dict[str, int] = emulator.stats()["requests"]
    return counts


def test_a_finished_prediction_is_noticed_by_its_held_create_without_a_poll(
    project: Path, emulator: Emulator
) -> None:
    before = learnt(project, emulator)
    again = run(project, emulator, "--force", "*")
    assert again.returncode == 0, again.stderr
    after = emulator.stats()["requests"]
    served = {route: after[route] - before.get(route, 0) for route in after}
    assert served.get("predictions.get", 0) == 0
    assert served["models.predictions.create"] == 4 and served["output"] == 4
    assert run_json(project)["summary"]["done"] == 4


def test_sigint_during_held_creates_cancels_their_predictions_found_by_listing(
    project: Path, emulator: Emulator
) -> None:
    learnt(project, emulator)
    emulator.configure(latency=LatencyRange(20.0, 30.0))
    process = start_run(project, emulator, "--force", "*", output=subprocess.PIPE)
    wait_until(lambda: emulator.stats()["creates"] >= 8)
    process.send_signal(signal.SIGINT)
    # Well before the held creates would answer (20 s): Ctrl-C does not wait for them.
    _, stderr = process.communicate(timeout=15)
    assert process.returncode == 130, stderr
    stats = emulator.stats()
    assert stats["canceled"] == 4 and stats["requests"]["predictions.list"] >= 1
    assert "4 prediction(s) canceled on the provider" in stderr
    with sqlite3.connect(project / ".kling-pipe/journal.sqlite") as journal:
        statuses = sorted(row[0] for row in journal.execute("SELECT status FROM predictions"))
        intents = journal.execute("SELECT COUNT(*) FROM intents").fetchone()[0]
    assert statuses == ["canceled"] * 4 + ["succeeded"] * 4
    assert intents == 0
    assert run_json(project)["status"] == "interrupted"


def test_a_held_create_whose_answer_is_lost_is_found_by_listing_not_sent_again(
    project: Path, emulator: Emulator
) -> None:
    learnt(project, emulator)
    emulator.configure(faults=Faults(lost_create_responses=0.5))
    again = run(project, emulator, "--force", "*")
    assert again.returncode == 0, again.stderr
    stats = emulator.stats()
    assert stats["faults"], "the emulator cut no create answer: the test proves nothing"
    assert stats["creates"] == 8 and stats["duplicate_creates"] == 4  # the forced new takes
    notes = [n for j in run_json(project)["jobs"] for n in j["notes"]]
    assert any("create answer lost; found prediction" in n for n in notes)
