from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from kling_pipe.errors import InputError
from kling_pipe.lock import (
    Decision,
    LockedOutput,
    LockEntry,
    LockFile,
    LockText,
    TakeEntry,
    edit_lock,
    lock_bytes,
    merge_output,
    read_lock,
    record_take,
    update_lock,
    write_lock,
)


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


def output(key: str, sha: str) -> LockedOutput:
    return LockedOutput(key=key, output_sha256=sha, bytes=3, prediction_id=f"p-{sha}")


MATERIAL = {"model": "m", "inputs": {"prompt": "x"}}


def test_a_lock_without_takes_or_decisions_is_written_as_version_1_byte_for_byte(
    tmp_path: Path,
) -> None:
    main_wrote = (
        '{\n  "jobs": {\n    "a/1": {\n      "bytes": 10,\n      "key": "k1",\n'
        '      "material": {\n        "inputs": {\n          "a": "ü",\n          "b": 1\n'
        '        },\n        "model": "m"\n      }\n    }\n  },\n  "manifest": "m",\n'
        '  "version": 1\n}\n'
    )
    path = tmp_path / "m.lock.json"
    path.write_text(main_wrote, "utf-8")
    lock = read_lock(path, "m")
    assert lock.jobs["a/1"].outputs().keys() == {1}
    assert lock_bytes(lock).decode("utf-8") == main_wrote


def test_a_second_take_lands_beside_the_first_and_the_lock_becomes_version_2(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.lock.json"
    record_take(path, "c", {("a/us", 1): ("k", MATERIAL, output("k", "s1"))})
    record_take(path, "c", {("a/us", 2): ("k", MATERIAL, output("k2", "s2"))})
    lock = read_lock(path, "c")
    entry = lock.jobs["a/us"]
    assert entry.output_sha256 == "s1"
    assert [(t.take, t.key, t.output_sha256) for t in entry.takes] == [(2, "k2", "s2")]
    assert lock.outputs().keys() == {"a/us", "a/us#2"}
    assert json.loads(path.read_bytes())["version"] == 2


def test_take_one_landing_keeps_later_takes_and_decisions() -> None:
    entry = LockEntry(
        key="k",
        material=MATERIAL,
        takes=(TakeEntry(take=2, key="k2", output_sha256="s2"),),
        picked=Decision(take=2, key="k2"),
        note="the steam reads well",
        rerolls=1,
    )
    merged = merge_output(entry, "k", MATERIAL, 1, output("k", "s1"))
    assert merged.output_sha256 == "s1"
    assert merged.takes == entry.takes
    assert merged.picked == entry.picked and merged.note == entry.note and merged.rerolls == 1


def test_new_inputs_drop_the_old_takes_but_keep_decisions_as_history() -> None:
    entry = LockEntry(
        key="old",
        material=MATERIAL,
        output_sha256="s1",
        takes=(TakeEntry(take=2, key="old2", output_sha256="s2"),),
        picked=Decision(take=2, key="old2"),
    )
    merged = merge_output(entry, "new", {"model": "m2"}, 2, output("new2", "t2"))
    assert merged.key == "new" and merged.material == {"model": "m2"}
    assert merged.outputs().keys() == {2}  # take 1 of the new inputs is not made yet
    assert merged.picked == Decision(take=2, key="old2")  # names a key that is gone


def test_a_take_written_twice_is_replaced_not_duplicated() -> None:
    entry = merge_output(None, "k", MATERIAL, 3, output("k3", "a"))
    entry = merge_output(entry, "k", MATERIAL, 2, output("k2", "b"))
    entry = merge_output(entry, "k", MATERIAL, 3, output("k3", "c"))
    assert [(t.take, t.output_sha256) for t in entry.takes] == [(2, "b"), (3, "c")]


def test_edit_lock_applies_each_change_to_what_the_others_wrote(tmp_path: Path) -> None:
    path = tmp_path / "c.lock.json"
    record_take(path, "c", {("a/us", 1): ("k", MATERIAL, output("k", "s1"))})

    def note(text: str) -> Callable[[LockFile], LockFile]:
        def change(lock: LockFile) -> LockFile:
            entry = lock.jobs["a/us"]
            jobs = {**lock.jobs, "a/us": entry.model_copy(update={"note": text})}
            return lock.model_copy(update={"jobs": jobs})

        return change

    edit_lock(path, "c", note("first"))
    update_lock(path, "c", {"a/us": entry("k")})  # a run landing take 1 again
    assert read_lock(path, "c").jobs["a/us"].note == "first"


def test_a_refused_edit_leaves_the_lock_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "c.lock.json"
    record_take(path, "c", {("a/us", 1): ("k", MATERIAL, output("k", "s1"))})
    before = path.read_bytes()

    def refuse(lock: LockFile) -> LockFile:
        raise InputError("no")

    with pytest.raises(InputError):
        edit_lock(path, "c", refuse)
    assert path.read_bytes() == before


def test_lock_text_gives_the_bytes_of_the_lock_before_and_after_recording_takes() -> None:
    decided = entry("k1").model_copy(
        update={
            "takes": (TakeEntry(key="k1#2", take=2, output_sha256="a" * 64),),
            "picked": Decision(take=2, key="k1#2"),
            "note": 'line one\nline "two" ü',
        }
    )
    landed = LockedOutput(key="k9", output_sha256="b" * 64, duration=5.0)
    outputs = {
        ("b/1", 2): ("k2", {"model": "m", "inputs": {}}, landed),
        ("z/ü", 1): ("k9", {"model": "m", "inputs": {"l": []}}, landed),
    }
    for lock in (
        LockFile(manifest="m"),
        LockFile(manifest="mü", jobs={"b/1": entry("k2"), "a/1": entry("k1")}),
        LockFile(manifest="m", jobs={"a/1": decided}),
    ):
        text = LockText(lock)
        assert b"".join(text.pieces()) == lock_bytes(lock)
        assert text.record(outputs)
        assert not text.record(outputs)  # the same takes again change nothing
        jobs = dict(lock.jobs)
        for (job_id, take), (job_key, material, output) in sorted(outputs.items()):
            jobs[job_id] = merge_output(jobs.get(job_id), job_key, material, take, output)
        assert b"".join(text.pieces()) == lock_bytes(lock.model_copy(update={"jobs": jobs}))
