"""The store in a bucket, against a real S3 server (moto) on loopback."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import s3fs

from kling_pipe.running.remote_store import BucketStore
from kling_pipe.running.store import open_store
from kling_pipe.workspace import Workspace
from tests.bucket import Bucket
from tests.conftest import REPO


def workspace(tmp_path: Path, bucket: Bucket, machine: str = "a") -> Workspace:
    (tmp_path / machine / ".git").mkdir(parents=True, exist_ok=True)
    return Workspace.locate(tmp_path / machine / "demo.yaml", "demo", store=bucket.url, environ={})


def a_file(tmp_path: Path, data: bytes) -> tuple[Path, str]:
    path = tmp_path / f"{hashlib.sha256(data).hexdigest()[:8]}.mp4"
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def test_the_server_refuses_a_second_conditional_write(bucket: Bucket) -> None:
    """The claims rest on this: a PUT with If-None-Match: * fails when the key exists."""
    fs = s3fs.S3FileSystem()
    with fs.open(f"{bucket.name}/claim", "xb") as first:
        first.write(b"one")
    with pytest.raises(FileExistsError), fs.open(f"{bucket.name}/claim", "xb") as second:
        second.write(b"two")
    assert fs.cat_file(f"{bucket.name}/claim") == b"one"


def test_an_object_round_trips_and_is_read_once(tmp_path: Path, bucket: Bucket) -> None:
    ws = workspace(tmp_path, bucket)
    store = open_store(ws)
    assert isinstance(store, BucketStore)
    source, sha = a_file(tmp_path, os.urandom(200_000))
    data = source.read_bytes()
    store.put(source, sha)
    assert f"campaigns/objects/{sha[:2]}/{sha}.mp4" in bucket.names()

    other = BucketStore(workspace(tmp_path, bucket, "b"))  # another machine: empty cache
    assert other.holds(sha)
    placed = other.materialise(sha, tmp_path / "b/out/clip.mp4")
    assert placed.read_bytes() == data
    assert other.local_copy(sha) == ws.store.parent.parent / "b/.kling-pipe/cache" / f"{sha}.mp4"


def test_a_corrupted_object_is_detected_on_read_and_never_used(
    tmp_path: Path, bucket: Bucket
) -> None:
    store = BucketStore(workspace(tmp_path, bucket))
    source, sha = a_file(tmp_path, os.urandom(50_000))
    store.put(source, sha)
    key = f"campaigns/objects/{sha[:2]}/{sha}.mp4"
    bucket.client().put_object(Bucket=bucket.name, Key=key, Body=b"not the clip")

    reader = BucketStore(workspace(tmp_path, bucket, "b"))
    assert reader.local_copy(sha) is None
    with pytest.raises(FileNotFoundError):
        reader.materialise(sha, tmp_path / "b/out/clip.mp4")
    assert not (tmp_path / "b/out/clip.mp4").exists()
    assert key not in bucket.names()  # moved to quarantine/, kept for a look
    assert any(k.startswith("campaigns/quarantine/") for k in bucket.names())
    assert not reader.holds(sha)


UPLOAD_AND_STALL = """
import sys
from pathlib import Path
from fsspec.callbacks import Callback
from kling_pipe.running.remote_store import BucketStore
from kling_pipe.workspace import Workspace

class Stall(Callback):
    def relative_update(self, inc=1):
        print("part sent", flush=True)
        sys.stdin.readline()  # wait here until killed

ws = Workspace.locate(Path(sys.argv[1]), "demo", store=sys.argv[2], environ={})
store = BucketStore(ws)
store.part_bytes = 5 << 20
store.put(Path(sys.argv[3]), sys.argv[4], progress=Stall())
"""


def test_an_upload_killed_half_way_leaves_nothing_under_the_final_name(
    tmp_path: Path, bucket: Bucket
) -> None:
    source, sha = a_file(tmp_path, os.urandom(12 << 20))  # three parts of 5 MiB
    (tmp_path / "a/.git").mkdir(parents=True)
    uploader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(UPLOAD_AND_STALL),
            str(tmp_path / "a/demo.yaml"),
            bucket.url,
            str(source),
            sha,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert uploader.stdout is not None
        assert uploader.stdout.readline().strip() == "part sent"
        uploads = bucket.client().list_multipart_uploads(Bucket=bucket.name)
        assert uploads.get("Uploads"), "no multipart upload in progress: the test proves nothing"
    finally:
        uploader.send_signal(signal.SIGKILL)
        uploader.wait()
    assert f"campaigns/objects/{sha[:2]}/{sha}.mp4" not in bucket.names()
    assert not BucketStore(workspace(tmp_path, bucket, "b")).holds(sha)


def test_holds_all_asks_for_many_objects_at_once_and_remembers_them(
    tmp_path: Path, bucket: Bucket
) -> None:
    store = BucketStore(workspace(tmp_path, bucket))
    present = set()
    for n in range(20):
        source, sha = a_file(tmp_path, bytes([n]) * 100)
        store.put(source, sha)
        present.add(sha)
    absent = {hashlib.sha256(str(n).encode()).hexdigest() for n in range(5)}
    reader = BucketStore(workspace(tmp_path, bucket, "b"))
    assert reader.holds_all(present | absent) == present
    assert all(reader.holds(sha) for sha in present)
