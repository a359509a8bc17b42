"""A store in a bucket (S3, GCS, an S3-compatible service such as R2 or MinIO, or a shared
folder as `file://`), through fsspec.

What another machine must see lives in the bucket (layout: `kling_pipe.workspace`): the
objects by sha256, the record of the output each job key gave, and the claims
(`kling_pipe.running.claims`). What one machine needs stays local: the journal, tmp, run.lock
and a bounded read-through cache of objects, so nothing is downloaded twice.

- Uploads are atomic. On S3 and GCS a single PUT (and a multipart upload, which becomes visible
  only when completed) is never readable in part under its name, so objects are uploaded
  straight to their final name; elsewhere (`file://`) they are uploaded beside it and renamed.
- Every object read is hashed: one whose bytes are not its name is moved to `quarantine/` in
  the bucket and never used; the job that needs it is planned again.
- `holds` reads an object's existence (a HEAD), never its bytes.
- Credentials and endpoints come from the provider's usual environment (`AWS_ACCESS_KEY_ID`,
  `AWS_PROFILE`, `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_S3` for R2 or MinIO,
  `GOOGLE_APPLICATION_CREDENTIALS`, …); kling-pipe never reads, prints or records them. A
  manifest cannot name an endpoint: one from a pull request could otherwise send the runner's
  signed requests elsewhere.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import fsspec
from fsspec.callbacks import DEFAULT_CALLBACK, Callback

from kling_pipe.canonical import file_sha256
from kling_pipe.errors import InputError, StoreUnreachableError
from kling_pipe.media.probe import content_type
from kling_pipe.running.journal import OutputRecord
from kling_pipe.running.store import place_copy, sealed_mtime
from kling_pipe.workspace import Workspace

CACHE_BYTES_ENV = "KLING_PIPE_CACHE_BYTES"
DEFAULT_CACHE_BYTES = 4 << 30

# Protocols whose PUT is atomic under the object's final name (no partial object is ever
# readable): S3 and GCS, whatever the fsspec implementation calls them.
_ATOMIC_PUT = {"s3", "s3a", "gs", "gcs"}
# How each one's fsspec `put_file` is told the object's Content-Type (a presigned link is
# played by a browser only when the object is served as a video).
_CONTENT_TYPE_ARGUMENT = {
    "s3": "ContentType",
    "s3a": "ContentType",
    "gs": "content_type",
    "gcs": "content_type",
}
LINK_EXPIRY_LIMIT_SECONDS = 7 * 24 * 3600
"""The longest a signed link lasts: S3's limit for SigV4 presigned URLs (GCS V4: the same)."""


@contextlib.contextmanager
def bucket_errors(url: str) -> Iterator[None]:
    """The provider's errors as one `StoreUnreachableError` naming the store and what to check
    (a missing object stays FileNotFoundError: the callers expect it). The provider's message
    names no secret; it is kept."""
    try:
        yield
    except FileNotFoundError:
        raise
    except PermissionError as exc:
        raise StoreUnreachableError(
            f"store {url}: access denied ({exc}); the credentials in the environment need to "
            "read, write, list and delete under this prefix"
        ) from None
    except Exception as exc:
        if type(exc).__module__.split(".")[0] not in ("botocore", "aiobotocore", "google"):
            raise
        raise StoreUnreachableError(
            f"store {url}: cannot reach it ({type(exc).__name__}: {exc}); check the "
            "provider's environment (AWS_ACCESS_KEY_ID/AWS_PROFILE, AWS_ENDPOINT_URL, "
            "GOOGLE_APPLICATION_CREDENTIALS) and the network"
        ) from None


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _translated(
    method: Callable[Concatenate[BucketStore, _P], _R],
) -> Callable[Concatenate[BucketStore, _P], _R]:
    def wrapper(store: BucketStore, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with bucket_errors(store.url):
            return method(store, *args, **kwargs)

    return functools.update_wrapper(wrapper, method)


def bucket_filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem of a bucket URL and the URL's path inside it; InputError when no
    fsspec implementation is installed for it."""
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise InputError(
            f"store {url}: cannot open it ({exc}); install the filesystem for it "
            "(s3fs for s3://, gcsfs for gs://)"
        ) from None
    return fs, path


class BucketStore:
    """Objects by sha256 in a bucket, read through a local cache (see the module docstring)."""

    def __init__(self, workspace: Workspace, *, cache_bytes: int | None = None) -> None:
        assert workspace.store_url is not None
        self.workspace = workspace
        self.url = workspace.store_url
        self.fs, _ = bucket_filesystem(self.url)
        self.tmp = workspace.tmp
        self.cache = ObjectCache(
            workspace.object_cache,
            cache_bytes
            if cache_bytes is not None
            else int(os.environ.get(CACHE_BYTES_ENV) or DEFAULT_CACHE_BYTES),
        )
        self._held: set[str] = set()
        self._signer: Any = None
        self.part_bytes = 50 << 20
        """Uploads larger than two parts go in parts of this size (S3: at least 5 MiB)."""

    def _path(self, url: str) -> str:
        return str(self.fs._strip_protocol(url))

    # ------------------------------------------------------------------ objects

    @_translated
    def holds(self, sha256: str) -> bool:
        """Whether the bucket has the object (one HEAD; its bytes are verified when read)."""
        if sha256 in self._held:
            return True
        if self._exists(self._path(self.workspace.remote_object(sha256))):
            self._held.add(sha256)
            return True
        return False

    def holds_all(self, hashes: Collection[str]) -> set[str]:
        """The hashes the bucket has: HEADs sent 16 at a time (a plan of thousands of jobs
        waits for the slowest of each batch, not for the sum)."""
        asked = list(hashes)
        with ThreadPoolExecutor(max_workers=16) as pool:
            held = list(pool.map(self.holds, asked))
        return {sha256 for sha256, there in zip(asked, held, strict=True) if there}

    def _exists(self, path: str) -> bool:
        """One HEAD: fsspec's `exists` also lists, to find a folder of that name."""
        split = getattr(self.fs, "split_path", None)
        call = getattr(self.fs, "call_s3", None)
        if split is None or call is None:
            return bool(self.fs.exists(path))
        bucket, key, _ = split(path)
        try:
            call("head_object", Bucket=bucket, Key=key)
        except FileNotFoundError:
            return False
        return True

    @_translated
    def put(self, source: Path, sha256: str, *, progress: Callback | None = None) -> None:
        """Upload a verified file under its hash, atomically, and keep it in the local cache.
        `progress` hears of the bytes sent."""
        if not self.holds(sha256):
            self._upload(source, self._path(self.workspace.remote_object(sha256)), progress)
            self._held.add(sha256)
        self.cache.add(source, sha256)

    def _upload(self, source: Path, target: str, progress: Callback | None) -> None:
        callback = progress or DEFAULT_CALLBACK
        if set(_protocols(self.fs)) & _ATOMIC_PUT:
            # Conditional (If-None-Match): an object is never replaced, even by the same
            # bytes another runner uploaded meanwhile.
            argument = next(
                (
                    _CONTENT_TYPE_ARGUMENT[p]
                    for p in _protocols(self.fs)
                    if p in _CONTENT_TYPE_ARGUMENT
                ),
                None,
            )
            typed = {argument: content_type(source)} if argument is not None else {}
            with contextlib.suppress(FileExistsError):
                self.fs.put_file(
                    str(source),
                    target,
                    callback=callback,
                    chunksize=self.part_bytes,
                    mode="create",
                    **typed,
                )
            return
        staging = f"{target}.{uuid.uuid4().hex[:8]}.part"
        self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        try:
            self.fs.put_file(str(source), staging, callback=callback)
            self.fs.mv(staging, target)
        finally:
            if self.fs.exists(staging):
                self.fs.rm_file(staging)

    @_translated
    def local_copy(self, sha256: str) -> Path | None:
        """The object from the cache, else downloaded and verified into it; None when the
        bucket does not have it or has it damaged (then it is quarantined there)."""
        cached = self.cache.get(sha256)
        if cached is not None:
            return cached
        remote = self._path(self.workspace.remote_object(sha256))
        self.tmp.mkdir(parents=True, exist_ok=True)
        download = self.tmp / f"{uuid.uuid4().hex}.part"
        try:
            try:
                self.fs.get_file(remote, str(download))
            except FileNotFoundError:
                self._held.discard(sha256)
                return None
            if file_sha256(download) != sha256:
                self.quarantine(sha256)
                return None
            self._held.add(sha256)
            return self.cache.add(download, sha256)
        finally:
            download.unlink(missing_ok=True)

    @_translated
    def link(self, sha256: str, expires_in: int) -> str:
        """A presigned HTTPS URL that reads the object for `expires_in` seconds without
        credentials (it carries the access key id and a signature, never the secret);
        InputError when the bucket's filesystem cannot sign (a `file://` store)."""
        if not 0 < expires_in <= LINK_EXPIRY_LIMIT_SECONDS:
            raise InputError(
                f"link expiry {expires_in / 3600:g} h: a signed link lasts more than 0 and at "
                f"most {LINK_EXPIRY_LIMIT_SECONDS // 3600} hours (7 days, the providers' limit)"
            )
        if self._signer is None:
            self._signer = self.fs
            if set(_protocols(self.fs)) & {"s3", "s3a"}:
                # botocore presigns with SigV2 in us-east-1 unless told otherwise; SigV4 is what
                # every region, R2 and MinIO accept (and what the 7-day limit is about).
                self._signer, _ = fsspec.core.url_to_fs(
                    self.url, config_kwargs={"signature_version": "s3v4"}
                )
        try:
            return str(
                self._signer.sign(
                    self._path(self.workspace.remote_object(sha256)), expiration=expires_in
                )
            )
        except NotImplementedError:
            raise InputError(
                f"store {self.url}: its filesystem cannot sign links (only s3:// and gs:// "
                "can); report without linking to the store, which copies the clips into the "
                "output folder"
            ) from None
        except ImportError as exc:  # gcsfs signs with google-cloud-storage, not a dependency
            raise InputError(
                f"store {self.url}: cannot sign links ({exc}); install google-cloud-storage"
            ) from None

    @_translated
    def quarantine(self, sha256: str) -> str:
        """Move a damaged object out of the way in the bucket (kept for a look, never used)."""
        target = self._path(
            f"{self.workspace.remote_quarantine}/{sha256}.{uuid.uuid4().hex[:8]}.mp4"
        )
        self.fs.mv(self._path(self.workspace.remote_object(sha256)), target)
        self._held.discard(sha256)
        return target

    def materialise(self, sha256: str, destination: Path) -> Path:
        """Place a copy of the object at `destination` (from the cache: downloaded once)."""
        source = self.local_copy(sha256)
        if source is None:
            raise FileNotFoundError(2, f"not in the store {self.url}", sha256)
        return place_copy(source, destination)

    def temp_path(self, suffix: str = ".part") -> Path:
        """A fresh local path for a download in progress."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        return self.tmp / f"{uuid.uuid4().hex}{suffix}"

    def clean_tmp(self) -> int:
        """Remove what a killed run left half-written in the local tmp/."""
        removed = 0
        if self.tmp.is_dir():
            for leftover in self.tmp.iterdir():
                if leftover.is_file():
                    leftover.unlink(missing_ok=True)
                    removed += 1
        return removed

    # ------------------------------------------------------------------ output records

    @_translated
    def record_output(self, record: OutputRecord) -> None:
        """Tell every machine which output a job key gave (after its object is uploaded)."""
        body = json.dumps(asdict(record), sort_keys=True).encode()
        self.write_small(self._path(self.workspace.remote_output(record.key, record.backend)), body)

    @_translated
    def write_small(self, path: str, body: bytes) -> None:
        """Write a small file in the bucket so that readers see all of it or the old one."""
        if set(_protocols(self.fs)) & _ATOMIC_PUT:
            self.fs.pipe_file(path, body)
            return
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        staging = f"{path}.{uuid.uuid4().hex[:8]}.part"
        self.fs.pipe_file(staging, body)
        self.fs.mv(staging, path)

    @_translated
    def recorded_outputs(self, keys: Collection[str], backend: str) -> dict[str, OutputRecord]:
        """The output records the bucket has for `keys` on `backend` (one listing, then one
        small read per key found)."""
        wanted = set(keys)
        found: dict[str, OutputRecord] = {}
        if not wanted:
            return found
        for key in self._recorded_keys(backend):
            if key not in wanted:
                continue
            record = self.output_record(key, backend)
            if record is not None:
                found[key] = record
        return found

    def _recorded_keys(self, backend: str) -> Iterable[str]:
        root = self._path(self.workspace.remote_outputs)
        self.fs.invalidate_cache(root)  # other machines write here
        try:
            names = self.fs.find(root)
        except FileNotFoundError:
            return []
        suffix = f"/{backend}.json"
        return [n[len(root) + 1 : -len(suffix)] for n in names if n.endswith(suffix)]

    @_translated
    def output_record(self, key: str, backend: str) -> OutputRecord | None:
        """The output the bucket records for a key on a backend, if any."""
        try:
            raw = self.fs.cat_file(self._path(self.workspace.remote_output(key, backend)))
        except FileNotFoundError:
            return None
        try:
            return OutputRecord(**json.loads(raw))
        except (ValueError, TypeError):
            return None


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


class ObjectCache:
    """Verified objects on local disk, at most `cap_bytes` of them, least recently used first
    out. An entry's modification time is sealed from its hash (as in `ObjectStore`), so a file
    written to since is seen at the cost of a `stat` and dropped; its access time, set on each
    use, orders the evictions."""

    def __init__(self, folder: Path, cap_bytes: int) -> None:
        self.folder = folder
        self.cap_bytes = cap_bytes

    def _path(self, sha256: str) -> Path:
        return self.folder / f"{sha256}.mp4"

    def get(self, sha256: str) -> Path | None:
        """The cached object, marked used; None when absent or touched since it was cached."""
        path = self._path(sha256)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        if stat.st_mtime_ns != sealed_mtime(sha256):
            path.unlink(missing_ok=True)
            return None
        os.utime(path, ns=(_now_ns(), stat.st_mtime_ns))
        return path

    def add(self, source: Path, sha256: str) -> Path:
        """Cache a verified file (moved when it can be, else copied), then keep to the cap."""
        path = self._path(sha256)
        self.folder.mkdir(parents=True, exist_ok=True)
        staging = self.folder / f".{uuid.uuid4().hex}.part"
        try:
            os.replace(source, staging)
        except OSError:
            place_copy(source, staging)
        staging.chmod(0o444)
        os.utime(staging, ns=(_now_ns(), sealed_mtime(sha256)))
        os.replace(staging, path)
        self.prune(keep=sha256)
        return path

    def prune(self, keep: str | None = None, cap_bytes: int | None = None) -> int:
        """Drop the least recently used entries until the cache fits its cap; bytes freed."""
        cap = self.cap_bytes if cap_bytes is None else cap_bytes
        entries = []
        for path in self.folder.glob("*.mp4"):
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            entries.append((stat.st_atime_ns, stat.st_size, path))
        total = sum(size for _, size, _ in entries)
        freed = 0
        for _, size, path in sorted(entries):
            if total <= cap:
                break
            if keep is not None and path.name == f"{keep}.mp4":
                continue
            path.unlink(missing_ok=True)
            total -= size
            freed += size
        return freed


def _now_ns() -> int:
    import time

    return time.time_ns()
