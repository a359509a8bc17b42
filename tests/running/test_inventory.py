"""Looking after a store: ls, du, gc (dry run, age floor), cache pruning, push and pull, in a
folder and in a bucket (moto's S3 server)."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from kling_pipe.lock import LockEntry, LockFile
from kling_pipe.running.inventory import (
    collect_garbage,
    list_objects,
    prune_caches,
    pull,
    push,
    repository_locks,
    store_usage,
)
from kling_pipe.running.remote_store import BucketStore, ObjectCache
from kling_pipe.running.store import ObjectStore
from kling_pipe.workspace import Workspace
from tests.bucket import Bucket
from tests.conftest import kling


def project(tmp_path: Path, store: str | None = None) -> Workspace:
    (tmp_path / ".git").mkdir(parents=True, exist_ok=True)
    return Workspace.locate(tmp_path / "demo.yaml", "demo", store=store, environ={})


def put(store: ObjectStore | BucketStore, tmp_path: Path, data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    source = tmp_path / f"{sha[:8]}.part"
    source.write_bytes(data)
    store.put(source, sha)
    return sha


def lock_naming(*hashes: str) -> LockFile:
    return LockFile(
        manifest="demo",
        jobs={
            f"job/{i}": LockEntry(key=f"{i:064d}", material={}, output_sha256=sha)
            for i, sha in enumerate(hashes)
        },
    )


def test_gc_removes_only_old_objects_no_lock_references_and_a_dry_run_nothing(
    tmp_path: Path, bucket: Bucket
) -> None:
    ws = project(tmp_path, bucket.url)
    store = BucketStore(ws)
    kept, young, doomed = (put(store, tmp_path, bytes([n]) * 1000) for n in (1, 2, 3))
    written = max(o.modified for o in list_objects(ws))
    referenced = [lock_naming(kept)]

    dry = collect_garbage(ws, referenced, min_age_seconds=60, dry_run=True, now=written + 3600)
    assert {o.sha256 for o in dry.removed} == {young, doomed}
    assert len(list_objects(ws)) == 3  # nothing removed

    early = collect_garbage(ws, referenced, min_age_seconds=60, now=written + 30)
    assert (early.removed, early.kept_young, early.referenced) == ([], 2, 1)

    done = collect_garbage(ws, referenced, min_age_seconds=60, now=written + 3600)
    assert {o.sha256 for o in done.removed} == {young, doomed}
    assert {o.sha256 for o in list_objects(ws)} == {kept}


def test_gc_keeps_what_any_lock_in_the_repository_references(tmp_path: Path) -> None:
    ws = project(tmp_path)
    store = ObjectStore(ws)
    mine, theirs, orphan = (put(store, tmp_path, bytes([n]) * 100) for n in (4, 5, 6))
    (tmp_path / "demo.lock.json").write_text(lock_naming(mine).model_dump_json())
    other = tmp_path / "pipelines/other.lock.json"
    other.parent.mkdir()
    data = json.loads(lock_naming(theirs).model_dump_json())
    other.write_text(json.dumps({**data, "manifest": "other"}))
    locks = [lock for _, lock in repository_locks(ws)]
    assert len(locks) == 2
    result = collect_garbage(ws, locks, min_age_seconds=0, now=time.time() + 10)
    assert [o.sha256 for o in result.removed] == [orphan]
    assert {o.sha256 for o in list_objects(ws)} == {mine, theirs}


def test_store_gc_through_the_cli_says_what_it_would_remove(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "demo.yaml").write_text(
        "version: 1\nname: demo\nmodel: kwaivgi/kling-v2.6\nshots: [{id: a, prompt: 'A kettle.'}]\n"
    )
    store = ObjectStore(project(tmp_path))
    orphan = put(store, tmp_path, b"orphan" * 100)
    result = kling("store", "gc", "demo.yaml", "--dry-run", "--min-age-days", "0", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"would remove {orphan}" in result.stdout
    assert store.holds(orphan)
    usage = kling("store", "du", "demo.yaml", cwd=tmp_path)
    assert "1 objects" in usage.stdout


def test_push_then_pull_round_trips_every_object_verified(tmp_path: Path, bucket: Bucket) -> None:
    local = project(tmp_path / "a")
    hashes = {put(ObjectStore(local), tmp_path, os.urandom(5000)) for _ in range(3)}
    moved = push(project(tmp_path / "a", bucket.url), local.store)
    assert (moved.copied, moved.skipped, moved.damaged) == (3, 0, ())
    assert push(project(tmp_path / "a", bucket.url), local.store).skipped == 3

    fresh = project(tmp_path / "b")
    pulled = pull(project(tmp_path / "b", bucket.url), fresh.store)
    assert pulled.copied == 3
    assert all(ObjectStore(fresh).holds(sha) for sha in hashes)
    assert store_usage(project(tmp_path / "b", bucket.url)).objects == 3


def test_the_object_cache_keeps_to_its_cap_least_recently_used_out(tmp_path: Path) -> None:
    cache = ObjectCache(tmp_path / "cache", cap_bytes=2500)
    hashes = []
    for n in range(3):
        data = bytes([n]) * 1000
        source = tmp_path / f"{n}.part"
        source.write_bytes(data)
        hashes.append(hashlib.sha256(data).hexdigest())
        cache.add(source, hashes[-1])
        if n == 1:
            time.sleep(0.01)  # distinct access times, not synchronisation
            assert cache.get(hashes[0]) is not None  # used: the second is now the oldest
            time.sleep(0.01)
    assert cache.get(hashes[1]) is None
    assert cache.get(hashes[0]) is not None and cache.get(hashes[2]) is not None


def test_a_cached_object_written_to_is_dropped_not_used(tmp_path: Path) -> None:
    cache = ObjectCache(tmp_path / "cache", cap_bytes=10_000)
    source = tmp_path / "x.part"
    source.write_bytes(b"clip")
    sha = hashlib.sha256(b"clip").hexdigest()
    path = cache.add(source, sha)
    path.chmod(0o644)
    path.write_bytes(b"edited")
    assert cache.get(sha) is None and not path.exists()


def test_the_local_caches_are_pruned_by_age_then_size(tmp_path: Path) -> None:
    ws = project(tmp_path)
    for folder, size in ((ws.intermediates, 3000), (ws.quarantine, 10)):
        folder.mkdir(parents=True)
        (folder / "entry.bin").write_bytes(b"x" * size)
    freed = prune_caches(ws, max_age_seconds=3600, max_bytes=1000)
    assert freed == 3000  # over the size cap
    assert (ws.quarantine / "entry.bin").exists()
    freed = prune_caches(ws, max_age_seconds=60, max_bytes=1000, now=time.time() + 120)
    assert freed == 10 and not (ws.quarantine / "entry.bin").exists()
