"""Output downloads: streamed to a file, hashed on the way, resumed with Range requests.

Outputs are fetched with a client of their own that never carries the API token: file hosts
must not see it (the `replicate` client's own `FileOutput` sends it to them).
"""

from __future__ import annotations

import hashlib
import ssl
from pathlib import Path

import httpx

from kling_pipe.backends.protocol import Fetched
from kling_pipe.errors import OutputGoneError, TransientError

MAX_RESUMES = 20
"""Range requests one download may make after its connection dropped."""


def output_client(verify: ssl.SSLContext | bool = True) -> httpx.AsyncClient:
    """An HTTP client for output files: no credentials, redirects followed. `verify` may be a
    TLS context shared with the backend's other clients (each new one costs tens of ms)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(10.0, read=60.0), follow_redirects=True, verify=verify
    )


async def download(
    client: httpx.AsyncClient, url: str, destination: Path, *, label: str = "output"
) -> Fetched:
    """Stream `url` to `destination`, hashing on the way. A connection that drops after some
    bytes resumes with a Range request where it stopped, as long as each try brings more bytes;
    a host that ignores Range is read again from the start. A 404 or 410 raises
    `OutputGoneError` (`label` names what was lost), anything else that fails `TransientError`.
    """
    progress = _Download(destination)
    stalled = 0
    while True:
        before = progress.size
        try:
            await _download_once(client, url, progress, label)
        except TransientError:
            stalled = 0 if progress.size > before else stalled + 1
            if stalled >= 2 or progress.resumes >= MAX_RESUMES:
                raise
            progress.resumes += 1
            continue
        return Fetched(destination, progress.digest.hexdigest(), progress.size)


async def _download_once(
    client: httpx.AsyncClient, url: str, progress: _Download, label: str
) -> None:
    headers = {"Range": f"bytes={progress.size}-"} if progress.size else {}
    try:
        async with client.stream("GET", url, headers=headers) as response:
            if response.status_code in (404, 410):
                raise OutputGoneError(f"{label} is gone ({response.status_code})")
            if response.status_code >= 400:
                raise TransientError(f"download failed with HTTP {response.status_code}")
            if progress.size and response.status_code != 206:
                progress.restart()
            total = _total_size(response, progress.size)
            with progress.path.open("ab") as handle:
                async for chunk in response.aiter_bytes():  # as received: none lost in a buffer
                    handle.write(chunk)
                    progress.digest.update(chunk)
                    progress.size += len(chunk)
    except httpx.HTTPError as exc:
        raise TransientError(f"download failed: {type(exc).__name__}: {exc}") from None
    if total is not None and total != progress.size:
        raise TransientError(f"download truncated: {progress.size} of {total} bytes")


class _Download:
    """A download in progress: the file, its bytes so far and their running hash."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.write_bytes(b"")
        self.digest = hashlib.sha256()
        self.size = 0
        self.resumes = 0

    def restart(self) -> None:
        self.path.write_bytes(b"")
        self.digest = hashlib.sha256()
        self.size = 0


def _total_size(response: httpx.Response, offset: int) -> int | None:
    """The whole file's size: from Content-Range on a 206, else offset + Content-Length."""
    content_range = response.headers.get("content-range", "")
    if response.status_code == 206 and "/" in content_range:
        total = content_range.rsplit("/", 1)[1]
        return int(total) if total.isdigit() else None
    length = response.headers.get("content-length")
    return offset + int(length) if length is not None and length.isdigit() else None
