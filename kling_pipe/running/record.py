"""`run.json`: the campaign's record of runs, per job and per cut, for people and for CI.

Each run or stitch adds to it: a partial run (`--only`, `--force`) replaces the records of
the jobs it touched and keeps the rest; `summary`, `status` and `exit_code` are the last run's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict

from kling_pipe.durable import write_atomically

if TYPE_CHECKING:
    from kling_pipe.planning.jobs import Job


class JobRun(BaseModel):
    """One job's part in a run."""

    model_config = ConfigDict(extra="forbid")

    id: str
    take: int = 1
    """Which take of the job (`kling_pipe.takes`); `key` is the take's."""
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
    status: Literal["done", "missing", "unpicked", "failed"]
    """unpicked: `stitch --picked-only` refused it, a job in it has no pick (`unpicked`)."""
    output: str | None = None
    srt: str | None = None
    frames: int = 0
    seconds: float = 0.0
    clips: list[str] = []
    """The job ids stitched, in order."""
    takes: list[int] = []
    """The take of each clip stitched (`clips`' order; a slate's is 0); empty in records made
    before takes."""
    slates: list[str] = []
    """Job ids whose clip was missing and replaced by a slate (`--allow-missing`)."""
    missing: list[str] = []
    """Job ids without a clip, which kept the cut from being made."""
    unpicked: list[str] = []
    """Job ids without a pick, which kept `stitch --picked-only` from making the cut."""
    reused_segments: int = 0
    """Segments taken from the cache of normalised clips rather than encoded again."""
    reused: bool = False
    """The cut file already was this cut (same clips, options and recipe; file intact): kept."""
    loudness_mode: Literal["linear", "dynamic", "corrected"] | None = None
    """How a loudness target was reached: one `linear` gain, loudnorm's `dynamic` fallback, or
    `corrected` (a gain after loudnorm kept the encoded true peak under the ceiling)."""
    integrated_lufs: float | None = None
    """The encoded cut's integrated loudness, read back from the file (a loudness target)."""
    true_peak_dbtp: float | None = None
    """The encoded cut's true peak, read back from the file (a loudness target)."""
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
    canceled_remote: int = 0
    """Of the canceled jobs' units: predictions canceled on the provider (the rest were never
    submitted)."""
    generations: int = 0
    spent_usd: float = 0.0
    unresolved_usd: float = 0.0
    """Creates whose answer was lost and that no listing could find: maybe paid, not in
    `spent_usd`; the run that finds them (from the journal) records them."""
    estimate_usd: float = 0.0
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


def read_record(path: Path) -> RunRecord | None:
    """The record at `path`; None when there is none or it cannot be read (it is rewritten)."""
    try:
        raw: Any = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict):
        return None
    known = {k: v for k, v in raw.items() if k in RunRecord.model_fields}
    try:
        return RunRecord.model_validate(known)
    except pydantic.ValidationError:
        return None


def record_bytes(record: RunRecord) -> bytes:
    """The bytes of run.json."""
    return b"".join(record_pieces(record))


_NO_JOBS = '"jobs": []'


def record_pieces(record: RunRecord) -> Iterator[bytes]:
    """The bytes of run.json a job at a time: a record of 10,000 jobs is never whole in
    memory as one dump and one text (`json.dumps(record, indent=2)`, byte for byte)."""
    others = record.model_dump(mode="json", exclude={"jobs"})
    data = {name: [] if name == "jobs" else others[name] for name in RunRecord.model_fields}
    # Only the manifest's and backend's names and the status come before `jobs`: JSON strings,
    # whose quotes are escaped, so the first `"jobs": []` is the field.
    before, _, after = json.dumps(data, indent=2, ensure_ascii=False).partition(_NO_JOBS)
    if not record.jobs:
        yield f"{before}{_NO_JOBS}{after}\n".encode()
        return
    yield f'{before}"jobs": ['.encode()
    separator = "\n    "
    for job in record.jobs:
        text = json.dumps(job.model_dump(mode="json"), indent=2, ensure_ascii=False)
        yield (separator + text.replace("\n", "\n    ")).encode()
        separator = ",\n    "
    yield f"\n  ]{after}\n".encode()


def write_record(path: Path, record: RunRecord, current: Sequence[Job]) -> RunRecord:
    """Add `record` (a run) to the record at `path`: its jobs replace the earlier records of the
    same jobs, other jobs that are still in the manifest (`current`) and every cut are kept.
    Returns what was written."""
    previous = read_record(path)
    if previous is not None and previous.manifest == record.manifest:
        touched = {(j.id, j.take) for j in record.jobs}
        wanted = {j.id for j in current}
        kept = [j for j in previous.jobs if (j.id, j.take) not in touched and j.id in wanted]
        record = record.model_copy(
            update={
                "jobs": sorted([*kept, *record.jobs], key=lambda j: (j.id, j.take)),
                "cuts": record.cuts or previous.cuts,
            }
        )
    write_atomically(path, record_pieces(record))
    return record


def write_cuts(path: Path, manifest: str, cuts: Sequence[CutRun]) -> RunRecord:
    """Put `cuts` into the record at `path`, replacing earlier records of the same cuts; a
    record of its own when no run wrote one."""
    record = read_record(path)
    if record is None or record.manifest != manifest:
        record = RunRecord(
            manifest=manifest,
            backend="none",
            status="ok",
            exit_code=0,
            jobs=[],
            summary=RunSummary(),
        )
    fresh = {c.id for c in cuts}
    record.cuts = sorted(
        [c for c in record.cuts if c.id not in fresh] + list(cuts), key=lambda c: c.id
    )
    write_atomically(path, record_bytes(record))
    return record
