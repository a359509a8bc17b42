"""The lock is written in batches as clips land, never once per clip, and nothing is lost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kling_pipe.lock import LockedOutput, lock_bytes, read_lock, record_take
from kling_pipe.running.lock_writer import LockWriter


def landed(job_id: str, i: int) -> dict[tuple[str, int], tuple[str, dict[str, Any], LockedOutput]]:
    output = LockedOutput(key=f"key-{i}", output_sha256=f"{i:064x}")
    return {(job_id, 1): (f"key-{i}", {"prompt": f"take {i}"}, output)}


def test_a_thousand_landed_clips_are_written_in_a_few_batches_and_all_kept(tmp_path: Path) -> None:
    path = tmp_path / "campaign.lock.json"
    writer = LockWriter(path, "demo", every=3600.0)
    writer.start()
    for i in range(1000):
        writer.add(landed(f"shot/{i:04d}", i))
    writer.close()
    assert writer.writes == 1
    assert sorted(read_lock(path, "demo").jobs) == [f"shot/{i:04d}" for i in range(1000)]


def test_entries_another_run_wrote_meanwhile_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "campaign.lock.json"
    writer = LockWriter(path, "demo", every=3600.0)
    writer.start()
    writer.add(landed("shot/mine", 1))
    record_take(path, "demo", landed("shot/theirs", 2))
    writer.close()
    assert sorted(json.loads(path.read_text())["jobs"]) == ["shot/mine", "shot/theirs"]


def test_a_write_that_fails_is_raised_when_closing_and_its_entries_are_not_dropped(
    tmp_path: Path,
) -> None:
    path = tmp_path / "campaign.lock.json"
    path.mkdir()  # something in the way: the lock cannot be read or replaced
    writer = LockWriter(path, "demo", every=3600.0)
    writer.start()
    writer.add(landed("shot/a", 1))
    try:
        writer.close()
    except OSError:
        pass
    else:
        raise AssertionError("a lock that cannot be written must not pass silently")
    path.rmdir()
    writer.flush()
    assert list(read_lock(path, "demo").jobs) == ["shot/a"]


def test_an_edit_between_two_batches_is_kept_and_the_bytes_are_the_locks_own(
    tmp_path: Path,
) -> None:
    path = tmp_path / "campaign.lock.json"
    writer = LockWriter(path, "demo", every=3600.0)
    writer.start()
    writer.add(landed("shot/a", 1))
    writer.flush()
    record_take(path, "demo", landed("shot/theirs", 2))  # another writer's turn
    writer.add(landed("shot/b", 3))
    writer.add({("shot/a", 2): ("key-1", {"prompt": "take 1"}, LockedOutput(key="key-1#2"))})
    writer.close()
    lock = read_lock(path, "demo")
    assert sorted(lock.jobs) == ["shot/a", "shot/b", "shot/theirs"]
    assert [t.take for t in lock.jobs["shot/a"].takes] == [2]
    assert path.read_bytes() == lock_bytes(lock)
    assert writer.writes == 2
