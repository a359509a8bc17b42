"""The journal: a SQLite record of every prediction, written before anything waits on it.

A prediction id is committed in the same step as the create returns, so a run that crashes,
is killed or loses its network resumes by re-attaching to its predictions instead of creating
them again. An *intent* is committed just before a create is sent: if one is found with no
prediction after a crash, a create may have reached the provider unrecorded, and the run says so.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    backend TEXT NOT NULL,
    job_id TEXT NOT NULL,
    manifest TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    cost_usd REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS predictions_by_key ON predictions (key, backend);
CREATE TABLE IF NOT EXISTS intents (
    key TEXT NOT NULL,
    backend TEXT NOT NULL,
    job_id TEXT NOT NULL,
    since REAL NOT NULL,
    PRIMARY KEY (key, backend)
);
CREATE TABLE IF NOT EXISTS outputs (
    key TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    duration REAL NOT NULL,
    prediction_id TEXT,
    model_version TEXT,
    cost_usd REAL,
    backend TEXT NOT NULL,
    created_at TEXT,
    completed_at TEXT,
    PRIMARY KEY (key, backend)
);
CREATE TABLE IF NOT EXISTS jobs (
    manifest TEXT NOT NULL,
    job_id TEXT NOT NULL,
    key TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL,
    PRIMARY KEY (manifest, job_id)
);
"""

OPEN_STATUSES = ("starting", "processing", "succeeded")
_OUTPUT_COLUMNS = (
    "key, sha256, bytes, duration, prediction_id, model_version, cost_usd, backend, "
    "created_at, completed_at"
)
_OUTPUT_SLOTS = ", ".join("?" * len(_OUTPUT_COLUMNS.split(",")))
# Columns added since the first schema, so an older store opens without losing anything.
_ADDED_COLUMNS = {"outputs": {"created_at": "TEXT"}}


@dataclass(frozen=True)
class OutputRecord:
    """A verified output in the store, by job key."""

    key: str
    sha256: str
    bytes: int
    duration: float
    prediction_id: str | None
    model_version: str | None
    cost_usd: float | None
    backend: str
    created_at: str | None
    completed_at: str | None


@dataclass(frozen=True)
class JobRecord:
    """The last known state of a job of a manifest."""

    job_id: str
    key: str
    status: str
    error: str | None
    attempts: int
    updated_at: float
    prediction_id: str | None
    prediction_status: str | None
    backend: str | None = None
    """Who made its newest prediction (a `BackendFacts.name`)."""


class Journal:
    """The SQLite journal in a store. Every write commits at once."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL survives a killed process (not a power cut), at a fraction of FULL's cost.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        for table, columns in _ADDED_COLUMNS.items():
            present = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            for name, kind in columns.items():
                if name not in present:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- predictions ---------------------------------------------------------------

    def record_intent(self, key: str, backend: str, job_id: str) -> None:
        """A create for `key` is about to be sent."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO intents VALUES (?, ?, ?, ?)",
                (key, backend, job_id, time.time()),
            )

    def intent_since(self, key: str, backend: str) -> float | None:
        """When a create for `key` was sent without its answer being recorded, if one was."""
        row = self._db.execute(
            "SELECT since FROM intents WHERE key = ? AND backend = ?", (key, backend)
        ).fetchone()
        return float(row[0]) if row else None

    def dangling_intents(self, backend: str) -> list[str]:
        """Job ids whose create was sent by a run that died before recording its answer."""
        rows = self._db.execute(
            "SELECT job_id FROM intents WHERE backend = ? ORDER BY job_id", (backend,)
        )
        return [r[0] for r in rows]

    def record_prediction(
        self,
        prediction_id: str,
        *,
        key: str,
        backend: str,
        job_id: str,
        manifest: str,
        status: str,
        cost_usd: float,
    ) -> None:
        """Commit a created prediction and clear its intent, in one transaction."""
        now = time.time()
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO predictions VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)",
                (prediction_id, key, backend, job_id, manifest, status, cost_usd, now, now),
            )
            db.execute("DELETE FROM intents WHERE key = ? AND backend = ?", (key, backend))

    def clear_intent(self, key: str, backend: str) -> None:
        """The create was answered with an error: nothing was created."""
        with self._tx() as db:
            db.execute("DELETE FROM intents WHERE key = ? AND backend = ?", (key, backend))

    def update_prediction(self, prediction_id: str, status: str, error: str | None = None) -> None:
        """Record a prediction's new status."""
        with self._tx() as db:
            db.execute(
                "UPDATE predictions SET status = ?, error = ?, updated_at = ? WHERE id = ?",
                (status, error, time.time(), prediction_id),
            )

    def open_prediction(self, key: str, backend: str) -> str | None:
        """The newest prediction for `key` that may still give an output, to re-attach to."""
        row = self._db.execute(
            "SELECT id FROM predictions WHERE key = ? AND backend = ? AND status IN (?, ?, ?) "
            "ORDER BY created_at DESC LIMIT 1",
            (key, backend, *OPEN_STATUSES),
        ).fetchone()
        return row[0] if row else None

    def in_flight(self, backend: str) -> list[str]:
        """Predictions not yet finished, oldest first."""
        rows = self._db.execute(
            "SELECT id FROM predictions WHERE backend = ? AND status IN ('starting', 'processing') "
            "ORDER BY created_at",
            (backend,),
        )
        return [r[0] for r in rows]

    def prediction_ids(self, key: str, backend: str) -> set[str]:
        """Every prediction ever journaled for `key`."""
        rows = self._db.execute(
            "SELECT id FROM predictions WHERE key = ? AND backend = ?", (key, backend)
        )
        return {r[0] for r in rows}

    def created_count(self, key: str, backend: str) -> int:
        """How many predictions were ever created for `key`."""
        row = self._db.execute(
            "SELECT COUNT(*) FROM predictions WHERE key = ? AND backend = ?", (key, backend)
        ).fetchone()
        return int(row[0])

    # -- outputs -------------------------------------------------------------------

    def record_output(self, record: OutputRecord) -> None:
        """A verified output entered the store."""
        with self._tx() as db:
            db.execute(
                f"INSERT OR REPLACE INTO outputs ({_OUTPUT_COLUMNS}) VALUES ({_OUTPUT_SLOTS})",
                (
                    record.key,
                    record.sha256,
                    record.bytes,
                    record.duration,
                    record.prediction_id,
                    record.model_version,
                    record.cost_usd,
                    record.backend,
                    record.created_at,
                    record.completed_at,
                ),
            )

    def output(self, key: str, backend: str) -> OutputRecord | None:
        """The stored output of `backend` for `key`, if any (a preview never stands in for a
        real generation)."""
        row = self._db.execute(
            f"SELECT {_OUTPUT_COLUMNS} FROM outputs WHERE key = ? AND backend = ?", (key, backend)
        ).fetchone()
        return OutputRecord(*row) if row else None

    def outputs_for(self, key: str) -> list[OutputRecord]:
        """Every backend's stored output for `key`, most recently recorded first."""
        rows = self._db.execute(
            f"SELECT {_OUTPUT_COLUMNS} FROM outputs WHERE key = ? ORDER BY rowid DESC", (key,)
        ).fetchall()
        return [OutputRecord(*row) for row in rows]

    def recent_outputs(self, backend: str, limit: int) -> list[OutputRecord]:
        """The `limit` outputs of `backend` recorded last, newest first: what this provider
        has lately been seen to take."""
        rows = self._db.execute(
            f"SELECT {_OUTPUT_COLUMNS} FROM outputs WHERE backend = ? ORDER BY rowid DESC LIMIT ?",
            (backend, limit),
        ).fetchall()
        return [OutputRecord(*row) for row in rows]

    def forget_output(self, key: str, backend: str) -> None:
        """Drop an output record whose object is missing from the store."""
        with self._tx() as db:
            db.execute("DELETE FROM outputs WHERE key = ? AND backend = ?", (key, backend))

    # -- jobs ----------------------------------------------------------------------

    def record_job(
        self,
        manifest: str,
        job_id: str,
        key: str,
        status: str,
        *,
        error: str | None = None,
        attempts: int = 0,
    ) -> None:
        """A job's latest state, for `kling-pipe status`."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?)",
                (manifest, job_id, key, status, error, attempts, time.time()),
            )

    def jobs(self, manifest: str) -> list[JobRecord]:
        """Every job of a manifest the journal knows, with its newest prediction."""
        rows = self._db.execute(
            """
            SELECT j.job_id, j.key, j.status, j.error, j.attempts, j.updated_at, p.id, p.status,
                   p.backend
            FROM jobs j
            LEFT JOIN predictions p ON p.id = (
                SELECT id FROM predictions WHERE key = j.key ORDER BY created_at DESC LIMIT 1
            )
            WHERE j.manifest = ?
            ORDER BY j.job_id
            """,
            (manifest,),
        )
        return [JobRecord(*row) for row in rows]
