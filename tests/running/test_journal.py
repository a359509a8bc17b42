from __future__ import annotations

import sqlite3
from pathlib import Path

from kling_pipe.running.journal import Journal, OutputRecord


def record(key: str) -> OutputRecord:
    return OutputRecord(key, "ab" * 32, 10, 5.0, "p1", None, 0.7, "replicate", "t0", "t1")


def test_a_prediction_is_open_until_it_fails_and_its_intent_is_cleared(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    journal.record_intent("k", "replicate", "job/a")
    assert journal.dangling_intents("replicate") == ["job/a"]
    journal.record_prediction(
        "p1",
        key="k",
        backend="replicate",
        job_id="job/a",
        manifest="m",
        status="starting",
        cost_usd=0.7,
    )
    assert journal.dangling_intents("replicate") == []
    assert journal.open_prediction("k", "replicate") == "p1"
    assert journal.open_prediction("k", "preview") is None
    journal.update_prediction("p1", "failed", "boom")
    assert journal.open_prediction("k", "replicate") is None


def test_outputs_are_kept_per_backend(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    journal.record_output(record("k"))
    assert journal.output("k", "replicate") == record("k")
    assert journal.output("k", "preview") is None


def test_a_store_from_an_earlier_version_opens_and_keeps_its_outputs(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE outputs (key TEXT NOT NULL, sha256 TEXT NOT NULL, bytes INTEGER NOT NULL,"
            " duration REAL NOT NULL, prediction_id TEXT, model_version TEXT, cost_usd REAL,"
            " backend TEXT NOT NULL, completed_at TEXT, PRIMARY KEY (key, backend))"
        )
        db.execute(
            "INSERT INTO outputs VALUES ('old', ?, 1, 5.0, 'p0', NULL, 0.7, 'replicate', 't')",
            ("cd" * 32,),
        )
    journal = Journal(path)
    old = journal.output("old", "replicate")
    assert old is not None and old.sha256 == "cd" * 32 and old.created_at is None
    journal.record_output(record("new"))
    assert journal.output("new", "replicate") == record("new")
