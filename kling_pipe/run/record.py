"""`run.json`: what a run did, per job, for people and for CI."""

from __future__ import annotations

from typing import Any, Literal

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


class CutRun(BaseModel):
    """One rough cut's part in a run (or a `kling-pipe stitch`)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    """The cut and its combination, as in its path: `spot/us/16x9`."""
    cut: str
    values: dict[str, Any] = {}
    status: Literal["done", "missing", "failed"]
    output: str | None = None
    srt: str | None = None
    frames: int = 0
    seconds: float = 0.0
    clips: list[str] = []
    """The job ids stitched, in order."""
    slates: list[str] = []
    """Job ids whose clip was missing and replaced by a slate (`--allow-missing`)."""
    missing: list[str] = []
    """Job ids without a clip, which kept the cut from being made."""
    reused_segments: int = 0
    """Segments taken from the cache of normalised clips rather than encoded again."""
    error: str | None = None


class RunSummary(BaseModel):
    """Counts and money."""

    model_config = ConfigDict(extra="forbid")

    jobs: int = 0
    done: int = 0
    cached: int = 0
    failed: int = 0
    refused: int = 0
    canceled: int = 0
    generations: int = 0
    spent_usd: float = 0.0
    seconds: float = 0.0


class RunRecord(BaseModel):
    """The whole `run.json`."""

    model_config = ConfigDict(extra="forbid")

    manifest: str
    backend: str
    status: Literal["ok", "failed", "refused", "interrupted"]
    exit_code: int
    jobs: list[JobRun]
    summary: RunSummary
    cuts: list[CutRun] = []
    warnings: list[str] = []
