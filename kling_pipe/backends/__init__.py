"""Generation backends: where predictions are made. The scheduler sees only the protocol.

`make_backend` builds one by name; nothing outside this package needs to know which names
exist or what sets them apart (`Backend.free`, `Backend.records_to_lock` say that).
"""

from __future__ import annotations

import difflib
from pathlib import Path

from kling_pipe.backends.protocol import Backend, FailureKind, Fetched, Prediction, Request
from kling_pipe.errors import InputError

BACKEND_NAMES = ("replicate", "preview")
"""The names `make_backend` knows, the default first."""


def make_backend(
    name: str,
    *,
    previews: Path,
    preview_height: int = 360,
    webhook_url: str | None = None,
    webhook_listen: tuple[str, int] | None = None,
) -> Backend:
    """The backend called `name`: `replicate` (token from REPLICATE_API_TOKEN, else
    `MissingTokenError`; webhooks when `webhook_url` is given) or `preview` (renders into
    `previews` at `preview_height` pixels). An unknown name raises `InputError`."""
    if name == "preview":
        from kling_pipe.backends.preview import PreviewBackend

        return PreviewBackend(previews, height=preview_height)
    if name == "replicate":
        from kling_pipe.backends.replicate import ReplicateBackend

        return ReplicateBackend(webhook_url=webhook_url, webhook_listen=webhook_listen)
    close = difflib.get_close_matches(name, BACKEND_NAMES, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise InputError(f"unknown backend {name!r}; {hint}choose one of: {', '.join(BACKEND_NAMES)}")


__all__ = [
    "BACKEND_NAMES",
    "Backend",
    "FailureKind",
    "Fetched",
    "Prediction",
    "Request",
    "make_backend",
]
