"""The store is trusted only as far as it is verified: objects are sealed when they enter it,
checked when used, quarantined when damaged, and never shared with a file an editor could write
through."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from kling_pipe.errors import StoreLockedError
from kling_pipe.running.store import ObjectStore, StoreClaim
from kling_pipe.workspace import Workspace


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    (tmp_path / ".git").mkdir()
    manifest = tmp_path / "campaign.yaml"
    return ObjectStore(Workspace.locate(manifest, "demo"))


def put(store: ObjectStore, content: bytes) -> str:
    sha = hashlib.sha256(content).hexdigest()
    source = store.temp_path()
    source.write_bytes(content)
    store.put(source, sha)
    return sha


def test_an_object_put_in_the_store_is_held_read_only_and_sealed(store: ObjectStore) -> None:
    sha = put(store, b"a clip" * 1000)
    path = store.path_for(sha)
    assert store.holds(sha)
    assert not os.access(path, os.W_OK) or os.geteuid() == 0
    assert path.stat().st_mode & 0o222 == 0


@pytest.mark.parametrize("damage", ["flipped", "truncated"])
def test_a_damaged_object_is_quarantined_and_no_longer_held(
    store: ObjectStore, damage: str
) -> None:
    sha = put(store, bytes(range(256)) * 64)
    path = store.path_for(sha)
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    if damage == "flipped":
        data[100] ^= 0xFF
    else:
        del data[-10:]
    path.write_bytes(bytes(data))
    assert not store.holds(sha)
    assert not path.exists()
    assert [p.name.split(".")[0] for p in store.workspace.quarantine.iterdir()] == [sha]


def test_an_untouched_object_is_held_without_reading_it(store: ObjectStore) -> None:
    sha = put(store, b"x" * 4096)
    path = store.path_for(sha)
    path.chmod(0o644)
    stat = path.stat()
    path.write_bytes(b"y" * 4096)  # same size, other bytes...
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # ...and the seal forged back
    assert store.holds(sha)  # one stat: the seal is trusted, the bytes are not read
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert not store.holds(sha)  # in doubt: hashed, found damaged


def test_an_old_unsealed_but_intact_object_is_hashed_once_and_sealed(
    store: ObjectStore,
) -> None:
    sha = put(store, b"z" * 4096)
    path = store.path_for(sha)
    os.utime(path, ns=(0, 1_700_000_000_000_000_000))
    assert store.holds(sha)
    assert path.stat().st_mtime_ns != 1_700_000_000_000_000_000


def test_a_placed_clip_is_a_copy_an_editor_cannot_write_through(
    store: ObjectStore, tmp_path: Path
) -> None:
    sha = put(store, b"clip" * 2048)
    placed = store.materialise(sha, tmp_path / "out/demo/hero.mp4")
    assert placed.read_bytes() == store.path_for(sha).read_bytes()
    assert placed.stat().st_ino != store.path_for(sha).stat().st_ino
    placed.chmod(0o644)
    placed.write_bytes(b"edited")
    assert store.holds(sha)


def test_leftovers_of_a_killed_download_are_cleaned(store: ObjectStore) -> None:
    for _ in range(3):
        store.temp_path().write_bytes(b"half a clip")
    assert store.clean_tmp() == 3
    assert list(store.tmp.iterdir()) == []


def test_a_second_claim_on_a_store_names_the_holder(store: ObjectStore) -> None:
    path = store.workspace.run_lock
    path.parent.mkdir(parents=True, exist_ok=True)
    with (
        StoreClaim(path, "kling-pipe run a.yaml"),
        pytest.raises(StoreLockedError, match=r"kling-pipe run a\.yaml"),
    ):
        StoreClaim(path, "kling-pipe run b.yaml").__enter__()
    with StoreClaim(path, "kling-pipe run b.yaml"):
        pass
