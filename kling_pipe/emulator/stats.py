"""Exact, thread-safe counters of everything the emulator served: the evidence tests rely on."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from kling_pipe.canonical import canonical_hash


def create_key(model: str, inputs: Any) -> str:
    """The identity of a create: sha256 of the canonical JSON of its model and input."""
    return canonical_hash({"model": model, "input": inputs})


class Stats:
    """Counters written by the server's event loop and read from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()
        self._statuses: Counter[str] = Counter()
        self._create_counts: Counter[str] = Counter()
        self._counters: Counter[str] = Counter()
        self._uploads: list[str] = []
        self._upload_types: dict[str, str] = {}

    def request(self, route: str) -> None:
        """Count one request to `route`, whatever its answer."""
        with self._lock:
            self._requests[route] += 1

    def fault(self, route: str, kind: str) -> None:
        """Count one fault served on `route` (`drop`, `500`, `502`, ...)."""
        with self._lock:
            self._faults[f"{route}:{kind}"] += 1

    def create(self, model: str, inputs: Any) -> None:
        """Count one accepted create and whether its model and input were created before."""
        key = create_key(model, inputs)
        with self._lock:
            if self._create_counts[key]:
                self._counters["duplicate_creates"] += 1
            self._create_counts[key] += 1
            self._counters["creates"] += 1

    def uploaded(self, sha256: str, content_type: str = "application/octet-stream") -> None:
        """Record the sha256 of the bytes one file upload delivered, and the type it was
        sent as."""
        with self._lock:
            self._uploads.append(sha256)
            self._upload_types[sha256] = content_type

    def count(self, name: str, by: int = 1) -> None:
        """Add to a named counter (`throttled`, `canceled`, `webhooks`, `renders`, ...)."""
        with self._lock:
            self._counters[name] += by

    def finished(self, status: str) -> None:
        """Count one prediction reaching the terminal `status`."""
        with self._lock:
            self._statuses[status] += 1
            if status == "canceled":
                self._counters["canceled"] += 1

    def creates_of(self, model: str, inputs: Any) -> int:
        """How many accepted creates had this model and input."""
        key = create_key(model, inputs)
        with self._lock:
            return self._create_counts[key]

    def snapshot(self) -> dict[str, Any]:
        """Every counter, copied under the lock (the body of `GET /_emulator/stats`)."""
        with self._lock:
            counters = self._counters
            return {
                "requests": dict(sorted(self._requests.items())),
                "requests_total": sum(self._requests.values()),
                "creates": counters["creates"],
                "duplicate_creates": counters["duplicate_creates"],
                "throttled": counters["throttled"],
                "canceled": counters["canceled"],
                "webhooks": counters["webhooks"],
                "webhook_attempts": counters["webhook_attempts"],
                "webhook_failures": counters["webhook_failures"],
                "renders": counters["renders"],
                "removed": counters["removed"],
                "resumed_downloads": counters["resumed_downloads"],
                "finished": dict(sorted(self._statuses.items())),
                "faults": dict(sorted(self._faults.items())),
                "create_counts": dict(sorted(self._create_counts.items())),
                "held_creates": counters["held_creates"],
                "abandoned_creates": counters["abandoned_creates"],
                "uploads": list(self._uploads),
                "upload_types": dict(sorted(self._upload_types.items())),
            }
