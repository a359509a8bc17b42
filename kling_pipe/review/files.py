"""Which files the review app may serve: the campaign's own clips, cuts and posters, by name.

A request names a take (`job id`, `n`) or a cut (its index), never a path; the name is looked
up in what the campaign knows, and the file found must be a regular file whose real path (all
symlinks followed) lies inside the campaign's store or output folder. Anything else is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from kling_pipe.media.probe import STILL_SUFFIXES, content_type


class ServedFiles:
    """The files the app may serve, confined to a few folders."""

    def __init__(self, roots: Iterable[Path]) -> None:
        self._roots = tuple(root.resolve() for root in roots)

    def confined(self, path: Path | None) -> Path | None:
        """`path` resolved, if it is a regular file inside one of the roots; else None."""
        if path is None:
            return None
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not real.is_file() or not any(real.is_relative_to(root) for root in self._roots):
            return None
        return real


def media_type(path: Path) -> str:
    """The Content-Type of a stored take, from its first bytes (store objects have no
    suffix): a key frame from an image model is a PNG, JPEG or WebP, anything else a video."""
    kind = content_type(path)
    return kind if kind in STILL_SUFFIXES else "video/mp4"
