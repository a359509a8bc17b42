"""Looking after a store: what it holds (`store ls`, `store du`), removing what no lock in the
repository references (`store gc`), pruning the local caches, and copying objects between a
local folder and a bucket (`store push`, `store pull`).

The same for a folder and a bucket: both are read through fsspec here.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kling_pipe.canonical import file_sha256
from kling_pipe.errors import InputError
from kling_pipe.lock import LockFile, read_lock
from kling_pipe.running.store import ObjectStore, Store, open_store
from kling_pipe.workspace import STORE_FOLDER, Workspace, project_root

_NOT_LOCKS = {".git", STORE_FOLDER, "node_modules", ".venv", "out"}


@dataclass(frozen=True)
class StoredObject:
    """An object in a store: its hash, size and when it was written (epoch seconds)."""

    sha256: str
    bytes: int
    modified: float


@dataclass(frozen=True)
class Usage:
    """What a store and its local caches take."""

    location: str
    objects: int
    object_bytes: int
    cache_bytes: int
    intermediates_bytes: int
    quarantine_bytes: int


@dataclass
class GarbageCollection:
    """What `gc` removed (or, with `dry_run`, would remove) and what it kept."""

    removed: list[StoredObject] = field(default_factory=list)
    kept_young: int = 0
    referenced: int = 0
    pruned_cache_bytes: int = 0
    dry_run: bool = False

    @property
    def removed_bytes(self) -> int:
        """Bytes of the objects removed."""
        return sum(o.bytes for o in self.removed)


def _objects_root(workspace: Workspace) -> tuple[Any, str]:
    if workspace.store_url is not None:
        from kling_pipe.running.remote_store import bucket_filesystem

        fs, _ = bucket_filesystem(workspace.store_url)
        return fs, str(fs._strip_protocol(workspace.remote_objects))
    from fsspec.implementations.local import LocalFileSystem

    return LocalFileSystem(), str(workspace.objects)


def list_objects(workspace: Workspace) -> list[StoredObject]:
    """Every object in the workspace's store, by hash."""
    fs, root = _objects_root(workspace)
    try:
        found = fs.find(root, detail=True)
    except FileNotFoundError:
        return []
    objects = []
    for name, info in found.items():
        stem = name.rsplit("/", 1)[-1]
        if not stem.endswith(".mp4") or len(stem) != 68:
            continue  # a staging file, not an object
        objects.append(StoredObject(stem[:-4], int(info.get("size") or 0), _modified(info)))
    return sorted(objects, key=lambda o: o.sha256)


def _modified(info: dict[str, Any]) -> float:
    stamp = info.get("LastModified") or info.get("mtime") or info.get("updated") or 0.0
    if hasattr(stamp, "timestamp"):
        return float(stamp.timestamp())
    if isinstance(stamp, str):
        from datetime import datetime

        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    return float(stamp)


def _folder_bytes(folder: Path) -> int:
    total = 0
    if folder.is_dir():
        for path in folder.rglob("*"):
            if path.is_file():
                total += path.stat().st_size
    return total


def store_usage(workspace: Workspace) -> Usage:
    """How many objects the store holds and how many bytes, with the local caches'."""
    objects = list_objects(workspace)
    return Usage(
        location=workspace.store_url or str(workspace.store),
        objects=len(objects),
        object_bytes=sum(o.bytes for o in objects),
        cache_bytes=_folder_bytes(workspace.object_cache),
        intermediates_bytes=_folder_bytes(workspace.intermediates),
        quarantine_bytes=_folder_bytes(workspace.quarantine),
    )


def repository_locks(workspace: Workspace) -> list[tuple[Path, LockFile]]:
    """Every kling-pipe lock in the repository (`*.lock.json`, outside .git, stores and out/),
    with the workspace's own lock wherever it is."""
    root = project_root(workspace.manifest_path.parent)
    paths = {workspace.lock_path} if workspace.lock_path.is_file() else set()
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _NOT_LOCKS]
        paths.update(Path(folder) / f for f in files if f.endswith(".lock.json"))
    locks = []
    for path in sorted(paths):
        try:
            manifest = _manifest_of(path)
            locks.append((path, read_lock(path, manifest)))
        except (InputError, ValueError, OSError):
            continue  # not a kling-pipe lock
    return locks


def _manifest_of(path: Path) -> str:
    import json

    data = json.loads(path.read_bytes())
    if not isinstance(data, dict) or not isinstance(data.get("manifest"), str):
        raise ValueError("not a lock")
    return str(data["manifest"])


def collect_garbage(
    workspace: Workspace,
    locks: Sequence[LockFile],
    *,
    min_age_seconds: float,
    dry_run: bool = False,
    now: float | None = None,
) -> GarbageCollection:
    """Remove the objects that none of `locks` references and that are older than
    `min_age_seconds` (a run in progress writes its lock only after its objects; the floor
    keeps them), with their output records in a bucket; `dry_run` removes nothing."""
    now = time.time() if now is None else now
    referenced = {
        entry.output_sha256 for lock in locks for entry in lock.jobs.values() if entry.output_sha256
    }
    result = GarbageCollection(dry_run=dry_run)
    doomed: list[StoredObject] = []
    for stored in list_objects(workspace):
        if stored.sha256 in referenced:
            result.referenced += 1
        elif now - stored.modified < min_age_seconds:
            result.kept_young += 1
        else:
            doomed.append(stored)
    result.removed = doomed
    if dry_run or not doomed:
        return result
    fs, root = _objects_root(workspace)
    for stored in doomed:
        fs.rm_file(f"{root}/{stored.sha256[:2]}/{stored.sha256}.mp4")
        cached = workspace.object_cache / f"{stored.sha256}.mp4"
        cached.unlink(missing_ok=True)
    if workspace.store_url is not None:
        _forget_records(workspace, {o.sha256 for o in doomed})
    return result


def _forget_records(workspace: Workspace, removed: set[str]) -> None:
    """Output records in the bucket that point at removed objects go too."""
    import json

    from kling_pipe.running.remote_store import bucket_filesystem

    assert workspace.store_url is not None
    fs, _ = bucket_filesystem(workspace.store_url)
    root = str(fs._strip_protocol(workspace.remote_outputs))
    try:
        names = fs.find(root)
    except FileNotFoundError:
        return
    for name in names:
        try:
            if json.loads(fs.cat_file(name)).get("sha256") in removed:
                fs.rm_file(name)
        except (ValueError, FileNotFoundError, AttributeError):
            continue


def prune_caches(
    workspace: Workspace, *, max_age_seconds: float, max_bytes: int, now: float | None = None
) -> int:
    """Prune the intermediates cache, the objects cache and the quarantine: entries unused for
    `max_age_seconds` go, then the least recently used until each fits `max_bytes`; returns
    the bytes freed."""
    now = time.time() if now is None else now
    freed = 0
    for folder in (workspace.intermediates, workspace.object_cache, workspace.quarantine):
        entries = []
        for path in folder.rglob("*") if folder.is_dir() else ():
            if not path.is_file():
                continue
            stat = path.stat()
            used = max(stat.st_atime, stat.st_ctime)
            entries.append((used, stat.st_size, path))
        total = sum(size for _, size, _ in entries)
        for used, size, path in sorted(entries, key=lambda e: e[0]):
            if now - used < max_age_seconds and total <= max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size
            freed += size
    return freed


@dataclass(frozen=True)
class Transfer:
    """What `push` or `pull` copied, skipped (already there) and refused (damaged)."""

    copied: int
    copied_bytes: int
    skipped: int
    damaged: tuple[str, ...]


def push(workspace: Workspace, folder: Path) -> Transfer:
    """Copy the objects of the local store `folder` into the workspace's bucket (each hashed
    first: a damaged object is not spread)."""
    if workspace.store_url is None:
        raise InputError("store push: the store is a folder; give the bucket with --store URL")
    source = ObjectStore(dataclasses.replace(workspace, store_url=None, store=folder))
    target = open_store(workspace)
    return _copy(source, target, (o.sha256 for o in list_objects(source.workspace)))


def pull(workspace: Workspace, folder: Path) -> Transfer:
    """Copy the objects of the workspace's bucket into the local store `folder` (each
    verified by its hash on the way)."""
    if workspace.store_url is None:
        raise InputError("store pull: the store is a folder; give the bucket with --store URL")
    source = open_store(workspace)
    target = ObjectStore(dataclasses.replace(workspace, store_url=None, store=folder))
    return _copy(source, target, (o.sha256 for o in list_objects(workspace)))


def _copy(source: Store, target: Store, hashes: Iterable[str]) -> Transfer:
    copied = skipped = copied_bytes = 0
    damaged: list[str] = []
    for sha256 in hashes:
        if target.holds(sha256):
            skipped += 1
            continue
        path = source.local_copy(sha256)
        if path is None or file_sha256(path) != sha256:
            damaged.append(sha256)
            continue
        staging = target.temp_path(".mp4")
        shutil.copyfile(path, staging)
        copied_bytes += staging.stat().st_size
        target.put(staging, sha256)
        copied += 1
    return Transfer(copied, copied_bytes, skipped, tuple(damaged))
