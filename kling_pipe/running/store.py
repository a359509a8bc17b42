"""The object store: outputs by content hash (where: `kling_pipe.workspace`), and the claim
that keeps two runs on one machine apart.

`Store` is what the rest of kling-pipe asks of a store; `ObjectStore` keeps the objects in a
local folder, `kling_pipe.running.remote_store.BucketStore` in a bucket (through fsspec).
`open_store(workspace)` gives the one the workspace names.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import Collection
from pathlib import Path
from types import TracebackType
from typing import IO, Protocol, Self

from kling_pipe.canonical import file_sha256
from kling_pipe.errors import InputError, StoreLockedError
from kling_pipe.running.journal import OutputRecord
from kling_pipe.workspace import Workspace


class Store(Protocol):
    """Outputs by sha256: what runs, plans and cuts need of a store, wherever it keeps them."""

    workspace: Workspace

    def holds(self, sha256: str) -> bool:
        """Whether the store holds the object (a folder: verified; a bucket: it exists there,
        and it is verified when read)."""
        ...

    def holds_all(self, hashes: Collection[str]) -> set[str]:
        """The hashes of `hashes` the store holds (`holds` for each; a bucket asks at once)."""
        ...

    def put(self, source: Path, sha256: str) -> object:
        """Store a verified file under its hash (`source` is consumed); readable under its
        final name only once complete."""
        ...

    def local_copy(self, sha256: str) -> Path | None:
        """A local file with the object's verified bytes (read-only: never write to it), or
        None when the store does not hold it intact."""
        ...

    def materialise(self, sha256: str, destination: Path) -> Path:
        """Place a copy of the object at `destination`; OSError if it cannot."""
        ...

    def temp_path(self, suffix: str = ".part") -> Path:
        """A fresh local path for a download in progress."""
        ...

    def link(self, sha256: str, expires_in: int) -> str:
        """A URL that reads the object for `expires_in` seconds with no credentials (a
        bucket's presigned URL); InputError for a store that cannot give one."""
        ...

    def clean_tmp(self) -> int:
        """Remove what a killed run left half-written (call while holding the run's claim)."""
        ...

    def recorded_outputs(self, keys: Collection[str], backend: str) -> dict[str, OutputRecord]:
        """Outputs other machines recorded in the store for `keys` on `backend` (a folder
        store has none: its journal, beside it, knows them all)."""
        ...


def open_store(workspace: Workspace) -> Store:
    """The store the workspace names: its bucket when it has one, else its folder."""
    if workspace.store_url is None:
        return ObjectStore(workspace)
    # Imported here: fsspec and its protocol's client are paid for only by bucket stores.
    from kling_pipe.running.remote_store import BucketStore

    return BucketStore(workspace)


class ObjectStore:
    """Files by sha256 in the workspace's store, written atomically, kept read-only, and
    trusted only as far as they are verified.

    An object's modification time is sealed to a value derived from its hash when it enters the
    store. Anything that writes to it changes that time, so `holds` costs one `stat` for an
    untouched object and a full hash only when in doubt; a damaged object is quarantined, and
    the job that needs it is planned again.
    """

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.root = workspace.store
        self.tmp = workspace.tmp

    def path_for(self, sha256: str) -> Path:
        """Where the object with this hash is (or would be) stored."""
        return self.workspace.object_path(sha256)

    def holds(self, sha256: str) -> bool:
        """Whether the store holds the object intact (see the class docstring)."""
        path = self.path_for(sha256)
        try:
            stat = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return False
        if stat.st_mtime_ns == sealed_mtime(sha256):
            return True
        if file_sha256(path) == sha256:
            os.utime(path, ns=(stat.st_atime_ns, sealed_mtime(sha256)))
            return True
        self.quarantine(sha256)
        return False

    def quarantine(self, sha256: str) -> Path:
        """Move a damaged object out of the way (kept for a look, never used again)."""
        target = self.workspace.quarantine / f"{sha256}.{uuid.uuid4().hex[:8]}.mp4"
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.path_for(sha256), target)
        return target

    def temp_path(self, suffix: str = ".part") -> Path:
        """A fresh path in the store's temporary folder."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        return self.tmp / f"{uuid.uuid4().hex}{suffix}"

    def clean_tmp(self) -> int:
        """Remove what a killed run left half-written in tmp/ (call while holding the claim)."""
        removed = 0
        if not self.tmp.is_dir():
            return 0
        for leftover in self.tmp.iterdir():
            if leftover.is_file():
                leftover.unlink(missing_ok=True)
                removed += 1
        return removed

    def recorded_outputs(self, keys: Collection[str], backend: str) -> dict[str, OutputRecord]:
        """None: the journal beside a folder store knows every output in it."""
        return {}

    def holds_all(self, hashes: Collection[str]) -> set[str]:
        """The hashes of `hashes` the store holds intact."""
        return {sha256 for sha256 in hashes if self.holds(sha256)}

    def local_copy(self, sha256: str) -> Path | None:
        """The object's file when the store holds it intact, else None."""
        return self.path_for(sha256) if self.holds(sha256) else None

    def put(self, source: Path, sha256: str) -> Path:
        """Move a verified file into the store under its hash (`source` is consumed)."""
        target = self.path_for(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        if self.holds(sha256):
            source.unlink(missing_ok=True)
        else:
            source.chmod(0o444)
            os.utime(source, ns=(time.time_ns(), sealed_mtime(sha256)))
            os.replace(source, target)
        return target

    def link(self, sha256: str, expires_in: int) -> str:
        """None to give: InputError. A page linking into a folder on this machine would break
        as soon as it leaves the machine or the folder is cleaned."""
        raise InputError(
            f"the store {self.root} is a folder: only a bucket store (s3://, gs://) gives "
            "links that work off this machine; report without linking to the store, which "
            "copies the clips into the output folder"
        )

    def materialise(self, sha256: str, destination: Path) -> Path:
        """Place a copy of the object at `destination` (a reflink where the filesystem offers
        one). Never a hard link: an editor writing through it would damage the store."""
        return place_copy(self.path_for(sha256), destination)


def place_copy(source: Path, destination: Path) -> Path:
    """Copy `source` to `destination` atomically (a reflink where the filesystem offers one),
    with its modification time, unless an identical-looking copy is already there."""
    stat = source.stat()
    try:
        there = destination.stat()
    except FileNotFoundError:
        pass
    else:
        if there.st_size == stat.st_size and there.st_mtime_ns == stat.st_mtime_ns:
            return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = destination.with_name(f".{destination.name}.{uuid.uuid4().hex[:8]}")
    try:
        _clone(source, staging)
        os.utime(staging, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        os.replace(staging, destination)
    finally:
        staging.unlink(missing_ok=True)
    return destination


def sealed_mtime(sha256: str) -> int:
    """The modification time an untouched object has: within 2001-2033, from its hash."""
    return (1_000_000_000 + int(sha256[:8], 16) % 1_000_000_000) * 1_000_000_000


_FICLONE = 0x40049409  # linux/fs.h: share the blocks copy-on-write (btrfs, xfs)


def _clone(source: Path, target: Path) -> None:
    with source.open("rb") as src, target.open("wb") as dst:
        try:
            fcntl.ioctl(dst.fileno(), _FICLONE, src.fileno())
        except OSError:
            shutil.copyfileobj(src, dst, 1 << 20)


class StoreClaim:
    """An exclusive lock on a store for one run; the second run is told who holds it.

    `flock` is released by the kernel when the holder dies, even by SIGKILL, so a crashed run
    never leaves a stale lock behind.
    """

    def __init__(self, path: Path, description: str) -> None:
        self._path = path
        self._description = description
        self._handle: IO[str] | None = None

    def __enter__(self) -> Self:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        handle = self._path.open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            raise StoreLockedError(
                f"the store {self._path.parent} is in use by another run ({_describe(holder)}); "
                "wait for it to finish, or use another --store"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "what": self._description,
                }
            )
        )
        handle.flush()
        self._handle = handle
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._handle is not None:
            self._handle.seek(0)
            self._handle.truncate()
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def _describe(holder: str) -> str:
    try:
        info = json.loads(holder)
    except ValueError:
        return "holder unknown"
    pid, host, what, since = (info.get(k) for k in ("pid", "host", "what", "since"))
    return f"pid {pid} on {host}, {what}, since {since}"
