"""The object store: outputs by content hash, and the lock that keeps two runs apart.

<store>/objects/ab/abcdef….mp4   verified outputs, named by their sha256
<store>/tmp/                      downloads in progress (same filesystem: renames are atomic)
<store>/journal.sqlite            see kling_pipe.run.journal
<store>/run.lock                  held by the run using the store
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from kling_pipe.errors import StoreLockedError


class ObjectStore:
    """Files by sha256 under `root/objects`, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = root / "objects"
        self.tmp = root / "tmp"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)

    @property
    def journal_path(self) -> Path:
        """Where the journal database lives."""
        return self.root / "journal.sqlite"

    def path_for(self, sha256: str) -> Path:
        """Where the object with this hash is (or would be) stored."""
        return self.objects / sha256[:2] / f"{sha256}.mp4"

    def has(self, sha256: str) -> bool:
        """Whether the object is in the store."""
        return self.path_for(sha256).is_file()

    def temp_path(self, suffix: str = ".part") -> Path:
        """A fresh path in the store's temporary folder."""
        return self.tmp / f"{uuid.uuid4().hex}{suffix}"

    def put(self, source: Path, sha256: str) -> Path:
        """Move a verified file into the store under its hash (`source` is consumed)."""
        target = self.path_for(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_file():
            source.unlink(missing_ok=True)
        else:
            os.replace(source, target)
        return target

    def materialise(self, sha256: str, destination: Path) -> Path:
        """Place the object at `destination` (a hard link where possible, else a copy)."""
        source = self.path_for(sha256)
        destination.parent.mkdir(parents=True, exist_ok=True)
        staging = destination.with_name(f".{destination.name}.{uuid.uuid4().hex[:8]}")
        try:
            os.link(source, staging)
        except OSError:
            import shutil

            shutil.copyfile(source, staging)
        os.replace(staging, destination)
        return destination


class RunLock:
    """An exclusive lock on a store for one run; the second run is told who holds it.

    `flock` is released by the kernel when the holder dies, even by SIGKILL, so a crashed run
    never leaves a stale lock behind.
    """

    def __init__(self, root: Path, description: str) -> None:
        self._path = root / "run.lock"
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
