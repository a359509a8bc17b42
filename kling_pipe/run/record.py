"""`run.json`: what a run did, per job, for people and for CI."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class JobRun(BaseModel):
    """One job's part in a run."""

    model_config = ConfigDict(extra="forbid")

    id: str
    key: str
    status: Literal["done", "cached", "failed", "refused", "canceled"]
    prediction_id: str | None = None
    attempts: int = 0
    seconds: float = 0.0
    cost_usd: float = 0.0
    output: str | None = None
    error: str | None = None
    notes: list[str] = []


class RunSummary(BaseModel):
    """Counts and money."""

    model_config = ConfigDict(extra="forbid")

    jobs: int
    done: int
    cached: int
    failed: int
    refused: int
    canceled: int
    generations: int
    spent_usd: float
    seconds: float


class RunRecord(BaseModel):
    """The whole `run.json`."""

    model_config = ConfigDict(extra="forbid")

    manifest: str
    backend: str
    status: Literal["ok", "failed", "refused", "interrupted"]
    exit_code: int
    jobs: list[JobRun]
    summary: RunSummary
    warnings: list[str] = []
