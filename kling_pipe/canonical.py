"""The one canonical-JSON encoding and hash: job keys, lock bytes and cache keys all use it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

# One encoder for every call: `json.dumps` with options builds a new one each time, a fifth of
# the cost of hashing a job's key.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys, no whitespace and unescaped unicode: equal data, equal text."""
    return _CANONICAL.encode(value)


def sha256_hex(data: bytes | str) -> str:
    """Hex sha256 of bytes, or of a string's UTF-8 encoding."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def canonical_hash(value: Any) -> str:
    """Hex sha256 of the canonical JSON of `value`."""
    return sha256_hex(canonical_json(value))


def file_sha256(path: Path, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file's content, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()
