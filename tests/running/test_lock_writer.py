"""The lock is written in batches as clips land, never once per clip, and nothing is lost."""

from __future__ import annotations

import json
from pathlib import Path

from kling_pipe.lock import LockEntry, read_lock, update_lock
from kling_pipe.running.lock_writer import LockWriter


def entry(i: int) -> LockEntry:
    return LockEntry(key=f"key-{i}", material={"prompt": f"take {i}"}, output_sha256=f"{i:064x}")


def test_a_thousand_landed_clips_are_written_in_a_few_batches_and_all_kept(tmp_path: Path) -> None:
    path = tmp_path / "campaign.lock.json"
    writer = LockWriter(path, "demo", every=3600.0)
    writer.start()
    for i in range(1000):
        writer.add({f"shot/{i:04d}": entry(i)})
    writer.close()
    assert writer.writes == 1
    assert sorted(read_lock(path, "demo").jobs) == [f"shot/{i:04d}" for i in range(1000)]


def test_entries_another_run_wrote_meanwhile_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "campaign.lock.json"
    writer = LockWriter(path, "demo", every=3600.0)
    writer.start()
    writer.add({"shot/mine": entry(1)})
    update_lock(path, "demo", {"shot/theirs": entry(2)})
    writer.close()
    assert sorted(json.loads(path.read_text())["jobs"]) == ["shot/mine", "shot/theirs"]


def test_a_write_that_fails_is_raised_when_closing_and_its_entries_are_not_dropped(
    tmp_path: Path,
) -> None:
    path = tmp_path / "campaign.lock.json"
    path.mkdir()  # something in the way: the lock cannot be read or replaced
    writer = LockWriter(path, "demo", every=3600.0)
    writer.start()
    writer.add({"shot/a": entry(1)})
    try:
        writer.close()
    except OSError:
        pass
    else:
        raise AssertionError("a lock that cannot be written must not pass silently")
    path.rmdir()
    writer.flush()
    assert list(read_lock(path, "demo").jobs) == ["shot/a"]
