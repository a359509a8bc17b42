"""The lock file beside a manifest: what each job produced, and what its reviewers decided,
committed to git.

Deterministic bytes (sorted keys, two-space indent, a final newline), so that a regeneration
or a pick shows up in a pull request as a small, readable diff. Written atomically; every
change is a read-merge-write under a lock of the lock's folder (`edit_lock`), so that runs,
the CLI and the review app editing one lock at once never lose each other's writes.

Per job (`LockEntry`):

- `key`, `material` and the output fields: take 1, the job's own generation (as before takes);
- `takes`: takes 2, 3, … (`TakeEntry`, the same output fields and the take number);
- `rerolls`: takes asked for beyond the manifest's `takes` (`kling-pipe reroll`);
- `picked`, `rejected`, `note`: the review's decisions. A decision names the take and the key
  the take had when it was made: after the job's inputs change the key is gone, and the
  decision stays only as history (the job needs review again).

A lock with none of these takes-era fields is written as version 1, byte for byte what
kling-pipe wrote before takes; one with them is version 2, which older versions refuse with
"upgrade" rather than misread.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from kling_pipe.durable import write_atomically
from kling_pipe.errors import InputError
from kling_pipe.takes import take_id

LOCK_VERSION = 2
"""The newest lock version this kling-pipe reads and writes (1: before takes)."""


class LockedOutput(BaseModel):
    """What one generation (a take) produced: its key and output."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    output_sha256: str | None = None
    bytes: int | None = None
    duration: float | None = None
    prediction_id: str | None = None
    model_version: str | None = None
    cost_usd: float | None = None
    created_at: str | None = None
    completed_at: str | None = None

    def output_fields(self) -> dict[str, Any]:
        """The output fields (everything but the key), for copying onto another record."""
        return {name: getattr(self, name) for name in _OUTPUT_FIELDS}


_OUTPUT_FIELDS = tuple(n for n in LockedOutput.model_fields if n != "key")


class TakeEntry(LockedOutput):
    """Take 2 or later of a job: the same output fields, and the take number."""

    take: int = Field(ge=2)


class Decision(BaseModel):
    """A reviewer's decision about one take: which take, and the key it had then."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    take: int = Field(ge=1)
    key: str


class LockEntry(LockedOutput):
    """What one job produced (take 1 in the top-level fields, later takes in `takes`),
    everything that determined it, and the review's decisions."""

    material: dict[str, Any] = Field(
        description="The job's key material: model, inputs (files by content hash), salt."
    )
    takes: tuple[TakeEntry, ...] = ()
    rerolls: int = Field(0, ge=0, description="Takes asked for beyond the manifest's `takes`.")
    picked: Decision | None = None
    rejected: tuple[Decision, ...] = ()
    note: str | None = None

    @property
    def has_take_one(self) -> bool:
        """Whether the top-level fields record take 1's output.

        An entry written before takes is a record of take 1 by construction, output hash or
        not; an entry that carries takes or decisions records take 1 only with its hash."""
        return self.output_sha256 is not None or not (
            self.takes or self.rerolls or self.picked or self.rejected or self.note
        )

    def outputs(self) -> dict[int, LockedOutput]:
        """Every take the entry records an output for, by take number."""
        found: dict[int, LockedOutput] = {1: self} if self.has_take_one else {}
        for take in self.takes:
            found[take.take] = take
        return found

    @property
    def takes_era(self) -> bool:
        """Whether the entry uses anything version 1 could not read."""
        return bool(self.takes or self.rerolls or self.picked or self.rejected or self.note)


class LockFile(BaseModel):
    """Every job of one manifest that has an output or a decision, by job id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = LOCK_VERSION
    manifest: str
    jobs: dict[str, LockEntry] = Field(default_factory=dict)

    def keys(self) -> set[str]:
        """Every key the lock holds an output for (every take's)."""
        return {out.key for entry in self.jobs.values() for out in entry.outputs().values()}

    def outputs(self) -> dict[str, LockedOutput]:
        """Every recorded take by take id (`hero/jp/9x16`, `hero/jp/9x16#2`)."""
        return {
            take_id(job_id, take): out
            for job_id, entry in self.jobs.items()
            for take, out in entry.outputs().items()
        }


def lock_bytes(lock: LockFile) -> bytes:
    """The canonical bytes of a lock file: version 1 unless a job uses takes or decisions."""
    jobs = {
        job_id: entry.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
        for job_id, entry in lock.jobs.items()
    }
    era = any(entry.takes_era for entry in lock.jobs.values())
    data = {"version": LOCK_VERSION if era else 1, "manifest": lock.manifest, "jobs": jobs}
    text = json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False)
    return (text + "\n").encode("utf-8")


def read_lock(path: Path, manifest_name: str) -> LockFile:
    """The lock at `path` (version 1 or 2, read as the newest), or an empty one when there is
    none yet."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return LockFile(manifest=manifest_name)
    try:
        lock = LockFile.model_validate_json(raw)
    except pydantic.ValidationError as exc:
        _refuse_newer(path, raw)
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(
            f"{path}: not a valid kling-pipe lock file ({where}: {first['msg']}); "
            "restore it from git or delete it to plan everything as new"
        ) from None
    if lock.version > LOCK_VERSION:
        _refuse_newer(path, raw)  # parsed again only then: a big lock is parsed once
    if lock.manifest != manifest_name:
        raise InputError(
            f"{path}: the lock of manifest {lock.manifest!r}, not {manifest_name!r}; "
            "give this manifest its own --lock"
        )
    # Version 1 is version 2 without takes or decisions: nothing to convert.
    return (
        lock if lock.version == LOCK_VERSION else lock.model_copy(update={"version": LOCK_VERSION})
    )


def _refuse_newer(path: Path, raw: bytes) -> None:
    """InputError when the lock's own `version` (an integer) is newer than this kling-pipe's."""
    try:
        version = json.loads(raw).get("version")
    except (ValueError, AttributeError):
        version = None
    if isinstance(version, int) and version > LOCK_VERSION:
        raise InputError(
            f"{path}: written by a newer kling-pipe (lock version {version}; this one reads "
            f"{LOCK_VERSION}); upgrade kling-pipe rather than overwrite it"
        )


def write_lock(path: Path, lock: LockFile) -> None:
    """Write `lock` atomically: readers see the old file or the new one, never a part."""
    write_atomically(path, lock_bytes(lock))


@contextmanager
def lock_turn(path: Path) -> Iterator[None]:
    """Hold the turn of the lock's writers: read, change and write the lock at `path` inside
    it (`edit_lock` does), and no other run, CLI or review app writes it meanwhile."""
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        yield
    finally:
        os.close(folder)  # releases the flock


def edit_lock(path: Path, manifest: str, change: Callable[[LockFile], LockFile]) -> LockFile:
    """Apply `change` to the lock as it is on disk now and write the result, atomically.

    Writers (runs, `kling-pipe pick`, the review app) take turns on a lock of the lock's
    folder (`lock_turn`), so nothing is left beside the file in the repository, and each
    one's change is made to what the others wrote: no decision or output is ever lost to a
    stale read. `change` may raise (InputError) to refuse; the lock is then left as it was.
    Returns the lock as written.
    """
    with lock_turn(path):
        current = read_lock(path, manifest)
        lock = change(current)
        if lock_bytes(lock) != lock_bytes(current) or not path.exists():
            write_lock(path, lock)
        return lock


class LockText:
    """A lock held as the canonical text of each job's entry, for a writer that records
    takes batch after batch (a run of 10,000 clips): recording re-renders only the entries
    it changes, and `pieces` joins the texts into exactly the bytes `lock_bytes` gives, so
    the whole lock is never parsed, validated or dumped again, and never whole in memory
    but as its text."""

    def __init__(self, lock: LockFile) -> None:
        self.manifest = lock.manifest
        self._texts = {job_id: _entry_text(entry) for job_id, entry in lock.jobs.items()}
        self._era = {job_id for job_id, entry in lock.jobs.items() if entry.takes_era}

    def record(
        self, outputs: Mapping[tuple[str, int], tuple[str, Mapping[str, Any], LockedOutput]]
    ) -> bool:
        """Record takes that landed, as `record_take` does; whether the text changed."""
        changed = False
        for (job_id, take), (job_key, material, output) in sorted(outputs.items()):
            text = self._texts.get(job_id)
            entry = LockEntry.model_validate_json(text) if text is not None else None
            merged = merge_output(entry, job_key, material, take, output)
            fresh = _entry_text(merged)
            if fresh != text:
                self._texts[job_id] = fresh
                changed = True
            if merged.takes_era:
                self._era.add(job_id)
            else:
                self._era.discard(job_id)
        return changed

    def pieces(self) -> Iterator[bytes]:
        """The lock's bytes (`lock_bytes`), a job at a time."""
        head = '{\n  "jobs": {'
        if self._texts:
            yield head.encode()
            separator = "\n    "
            for job_id in sorted(self._texts):
                name = json.dumps(job_id, ensure_ascii=False)
                yield f"{separator}{name}: {self._texts[job_id]}".encode()
                separator = ",\n    "
            yield b"\n  }"
        else:
            yield f"{head}}}".encode()
        manifest = json.dumps(self.manifest, ensure_ascii=False)
        version = LOCK_VERSION if self._era else 1
        yield f',\n  "manifest": {manifest},\n  "version": {version}\n}}\n'.encode()


def _entry_text(entry: LockEntry) -> str:
    """An entry as `lock_bytes` writes it, at its depth in the file (two levels in)."""
    data = entry.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    # Strings in JSON hold no raw newline: each newline starts a line of the entry.
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False).replace("\n", "\n    ")


def update_lock(path: Path, manifest: str, entries: Mapping[str, LockEntry]) -> LockFile:
    """Add `entries` (take 1 of each job) to the lock as it is on disk now, atomically.

    Another run (with another store, or another shard) may have added entries since this one
    read the lock: they are kept, not overwritten. A job's later takes and decisions are kept
    too, as `record_take` keeps them.
    """

    def add(current: LockFile) -> LockFile:
        jobs = dict(current.jobs)
        for job_id, entry in entries.items():
            jobs[job_id] = merge_output(jobs.get(job_id), entry.key, entry.material, 1, entry)
        return current.model_copy(update={"jobs": jobs})

    return edit_lock(path, manifest, add)


def record_take(
    path: Path,
    manifest: str,
    outputs: Mapping[tuple[str, int], tuple[str, Mapping[str, Any], LockedOutput]],
) -> LockFile:
    """Record takes that landed: (job id, take) → (job key, job key material, the take's
    output, whose `key` is the take's). Atomic, like `update_lock`."""

    def add(current: LockFile) -> LockFile:
        jobs = dict(current.jobs)
        for (job_id, take), (job_key, material, output) in sorted(outputs.items()):
            jobs[job_id] = merge_output(jobs.get(job_id), job_key, material, take, output)
        return current.model_copy(update={"jobs": jobs})

    return edit_lock(path, manifest, add)


def merge_output(
    entry: LockEntry | None,
    job_key: str,
    material: Mapping[str, Any],
    take: int,
    output: LockedOutput,
) -> LockEntry:
    """`entry` with take `take` of the job (whose key is now `job_key`) set to `output`.

    When the job's key changed, the takes recorded for the old inputs are dropped (they are of
    other inputs); rerolls and decisions are kept (a decision names its take's key, so one made
    for the old inputs reads as history).
    """
    if entry is None or entry.key != job_key:
        kept: dict[str, Any] = {}
        if entry is not None:
            kept = {
                "rerolls": entry.rerolls,
                "picked": entry.picked,
                "rejected": entry.rejected,
                "note": entry.note,
            }
        entry = LockEntry(key=job_key, material=dict(material), **kept)
    fields = output.output_fields()
    if take == 1:
        return entry.model_copy(update={"material": dict(material), **fields})
    others = tuple(t for t in entry.takes if t.take != take)
    mine = TakeEntry(take=take, key=output.key, **fields)
    return entry.model_copy(update={"takes": tuple(sorted((*others, mine), key=lambda t: t.take))})


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
    names only its share of the jobs), atomically, taking turns with other writers."""
    wanted = set(job_ids)

    def trim(current: LockFile) -> LockFile:
        jobs = {k: v for k, v in current.jobs.items() if k in wanted}
        return current.model_copy(update={"jobs": jobs})

    return edit_lock(path, manifest, trim)
