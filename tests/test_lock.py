from __future__ import annotations

import json
from pathlib import Path

import pytest

from kling_pipe.errors import InputError
from kling_pipe.lock import LockEntry, LockFile, lock_bytes, read_lock, update_lock, write_lock


def entry(key: str) -> LockEntry:
    return LockEntry(key=key, material={"model": "m", "inputs": {"b": 1, "a": "ü"}}, bytes=10)


def test_lock_bytes_are_sorted_and_independent_of_insertion_order() -> None:
    one = LockFile(manifest="m", jobs={"b/1": entry("k2"), "a/1": entry("k1")})
    two = LockFile(manifest="m", jobs={"a/1": entry("k1"), "b/1": entry("k2")})
    data = lock_bytes(one)
    assert data == lock_bytes(two)
    assert data.endswith(b"}\n")
    assert "ü".encode() in data
    assert list(json.loads(data)["jobs"]) == ["a/1", "b/1"]


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    lock = LockFile(manifest="m", jobs={"a/1": entry("k1")})
    path = tmp_path / "m.lock.json"
    write_lock(path, lock)
    assert read_lock(path, "m") == lock
    assert [p.name for p in tmp_path.iterdir()] == ["m.lock.json"]  # no temp file left


def test_a_missing_lock_reads_as_empty(tmp_path: Path) -> None:
    assert read_lock(tmp_path / "nope.lock.json", "m").jobs == {}


def test_a_corrupt_lock_is_an_input_error_that_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "m.lock.json"
    path.write_text('{"manifest": "m", "jobs": {"a": {"key": 1}}}')
    with pytest.raises(InputError, match="restore it from git or delete it"):
        read_lock(path, "m")


def test_two_runs_writing_one_lock_keep_each_others_entries(tmp_path: Path) -> None:
    path = tmp_path / "c.lock.json"
    write_lock(path, LockFile(manifest="c"))
    update_lock(path, "c", {"a/us": entry("k1")})  # one run (its own store)
    update_lock(path, "c", {"b/jp": entry("k2")})  # another, which read the lock before
    assert sorted(read_lock(path, "c").jobs) == ["a/us", "b/jp"]


def test_a_lock_of_another_manifest_or_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.lock.json"
    path.write_text(json.dumps({"version": 1, "manifest": "other", "jobs": {}}))
    with pytest.raises(InputError, match="lock of manifest 'other'"):
        read_lock(path, "c")
    path.write_text(json.dumps({"version": 99, "manifest": "c", "jobs": {}}))
    with pytest.raises(InputError, match="newer kling-pipe"):
        read_lock(path, "c")


def test_non_ascii_text_is_written_as_readable_utf8_not_escapes() -> None:
    material = {"model": "m", "inputs": {"prompt": "アクメ電気ケトル, Théière, «60秒»"}}
    lock = LockFile(manifest="m", jobs={"hero/jp": LockEntry(key="k", material=material)})
    data = lock_bytes(lock)
    assert '"prompt": "アクメ電気ケトル, Théière, «60秒»"' in data.decode("utf-8")
    assert b"\\u" not in data
