"""The lock file beside a manifest: what each job produced, committed to git.

Deterministic bytes (sorted keys, two-space indent, a final newline), so that a regeneration
shows up in a pull request as a small, readable diff. Written atomically.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from kling_pipe.durable import write_atomically
from kling_pipe.errors import InputError

LOCK_VERSION = 1


class LockEntry(BaseModel):
    """What one job produced, and everything that determined it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    material: dict[str, Any] = Field(
        description="The job's key material: model, inputs (files by content hash), salt."
    )
    output_sha256: str | None = None
    bytes: int | None = None
    duration: float | None = None
    prediction_id: str | None = None
    model_version: str | None = None
    cost_usd: float | None = None
    created_at: str | None = None
    completed_at: str | None = None


class LockFile(BaseModel):
    """Every job of one manifest that has an output, by job id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = LOCK_VERSION
    manifest: str
    jobs: dict[str, LockEntry] = Field(default_factory=dict)

    def keys(self) -> set[str]:
        """Every key the lock holds an output for."""
        return {entry.key for entry in self.jobs.values()}


def lock_bytes(lock: LockFile) -> bytes:
    """The canonical bytes of a lock file."""
    data = lock.model_dump(mode="json", exclude_none=True)
    text = json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False)
    return (text + "\n").encode("utf-8")


def read_lock(path: Path, manifest_name: str) -> LockFile:
    """The lock at `path`, or an empty one when there is none yet."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return LockFile(manifest=manifest_name)
    try:
        version = json.loads(raw).get("version")
    except (ValueError, AttributeError):
        version = None
    if isinstance(version, int) and version > LOCK_VERSION:
        raise InputError(
            f"{path}: written by a newer kling-pipe (lock version {version}; this one reads "
            f"{LOCK_VERSION}); upgrade kling-pipe rather than overwrite it"
        )
    try:
        lock = LockFile.model_validate_json(raw)
    except pydantic.ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(
            f"{path}: not a valid kling-pipe lock file ({where}: {first['msg']}); "
            "restore it from git or delete it to plan everything as new"
        ) from None
    if lock.manifest != manifest_name:
        raise InputError(
            f"{path}: the lock of manifest {lock.manifest!r}, not {manifest_name!r}; "
            "give this manifest its own --lock"
        )
    return lock


def write_lock(path: Path, lock: LockFile) -> None:
    """Write `lock` atomically: readers see the old file or the new one, never a part."""
    write_atomically(path, lock_bytes(lock))


def update_lock(path: Path, manifest: str, entries: Mapping[str, LockEntry]) -> LockFile:
    """Add `entries` to the lock as it is on disk now, atomically.

    Another run (with another store, or another shard) may have added entries since this one
    read the lock: they are kept, not overwritten. Writers take turns on a lock of the lock's
    folder, so nothing is left beside the file in the repository.
    """
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        current = read_lock(path, manifest)
        lock = LockFile(manifest=manifest, jobs={**current.jobs, **entries})
        write_lock(path, lock)
        return lock
    finally:
        os.close(folder)  # releases the flock


def merge_locks(fragments: Sequence[tuple[str, LockFile]]) -> LockFile:
    """One lock from the fragments of sharded runs (`(where, lock)` pairs): every entry of
    every fragment; InputError naming both fragments when two disagree about a job."""
    if not fragments:
        raise InputError("lock merge: no lock fragments given")
    manifest = fragments[0][1].manifest
    jobs: dict[str, LockEntry] = {}
    origin: dict[str, str] = {}
    conflicts: list[str] = []
    for where, fragment in fragments:
        if fragment.manifest != manifest:
            raise InputError(
                f"{where}: the lock of manifest {fragment.manifest!r}, not {manifest!r} "
                f"(as {fragments[0][0]}); merge the fragments of one manifest at a time"
            )
        for job_id, entry in fragment.jobs.items():
            known = jobs.get(job_id)
            if known is not None and known != entry:
                differs = sorted(
                    field
                    for field in LockEntry.model_fields
                    if getattr(known, field) != getattr(entry, field)
                )
                conflicts.append(
                    f"  {job_id}: {origin[job_id]} and {where} differ in {', '.join(differs)}"
                )
                continue
            jobs[job_id] = entry
            origin.setdefault(job_id, where)
    if conflicts:
        raise InputError(
            f"lock merge: {len(conflicts)} job(s) recorded differently by two fragments:\n"
            + "\n".join(conflicts)
            + "\nnothing was written: the fragments come from runs of different manifests or "
            "stores; run the shards again from one commit and one store"
        )
    return LockFile(manifest=manifest, jobs=jobs)


def keep_only(path: Path, manifest: str, job_ids: Collection[str]) -> LockFile:
    """Drop every entry but those of `job_ids` from the lock at `path` (a shard's fragment
    names only its share of the jobs), atomically."""
    current = read_lock(path, manifest)
    wanted = set(job_ids)
    lock = LockFile(manifest=manifest, jobs={k: v for k, v in current.jobs.items() if k in wanted})
    write_lock(path, lock)
    return lock
