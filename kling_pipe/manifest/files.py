"""The files a manifest refers to, read from disk: templates and local input files.

A manifest may come from anyone's pull request, and what it names ends up in prompts, locks and
reports. So a name is followed to its real path (symbolic links resolved) and must stay where it
belongs: a template inside one of the `templates/` folders, an input file inside the campaign (the
repository holding the manifest, else the manifest's own folder); and it must be a regular file,
not a device, a pipe or `/proc/self/environ` behind a link.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from kling_pipe.canonical import file_sha256
from kling_pipe.errors import InputError, ManifestError, Problem, SourceLocation
from kling_pipe.manifest.encoding import decode_source
from kling_pipe.manifest.loader import LoadedManifest

MAX_TEMPLATE_BYTES = 1 << 20
"""The largest template read; a prompt template is a few hundred bytes."""


def campaign_root(manifest_path: Path) -> Path:
    """The folder a manifest's input files must be in: the repository holding the manifest
    (the nearest folder above with `.git` or `pyproject.toml`), else the manifest's folder."""
    here = manifest_path.resolve().parent
    for parent in [here, *here.parents]:
        if (parent / ".git").exists() or (parent / "pyproject.toml").exists():
            return parent
    return here


class DiskSources:
    """Templates from the manifest's `templates/` folders and input files beside the manifest.

    Implements the planner's `PlanSources` protocol; file hashes are computed once per path.
    """

    def __init__(self, loaded: LoadedManifest) -> None:
        self._base = loaded.base_dir
        self._root = campaign_root(loaded.path)
        # A templates folder that is itself a link out of its parent is not a templates folder.
        self._template_dirs = tuple(
            folder
            for folder in loaded.template_dirs
            if _inside(folder.resolve(), folder.parent.resolve())
        )
        self._allowed_template_dirs = tuple(folder.resolve() for folder in self._template_dirs)
        self._hashes: dict[str, str | None] = {}
        self._templates: dict[str, tuple[str, str] | None] = {}
        self._refused: dict[str, InputError] = {}
        self._refused_files: dict[str, InputError] = {}

    def template(self, name: str) -> tuple[str, str] | None:
        """(source, path to show) of the first template called `name`, or None.

        Raises InputError when a file of that name is refused (a link out of its templates/
        folder, not a regular file, too large, not UTF-8).
        """
        if name in self._refused:
            raise self._refused[name]
        if name not in self._templates:
            try:
                self._templates[name] = self._read_template(name)
            except InputError as refused:
                self._refused[name] = refused
                raise
        return self._templates[name]

    def _read_template(self, name: str) -> tuple[str, str] | None:
        for folder in self._template_dirs:
            candidate = folder / name
            real = _existing_real_path(candidate, f"template {name!r}")
            if real is None:
                continue
            if not any(_inside(real, allowed) for allowed in self._allowed_template_dirs):
                raise InputError(
                    f"template {name!r} is a link to a file outside the templates/ folders; "
                    "templates must be files inside one"
                )
            _require_regular(real, f"template {name!r}", MAX_TEMPLATE_BYTES)
            shown = _shown(candidate)
            try:
                raw = real.read_bytes()
            except OSError as exc:
                problem = Problem(f"cannot read: {exc.strerror}", SourceLocation(shown))
                raise ManifestError([problem]) from None
            return decode_source(raw, shown), shown
        return None

    def file_sha256(self, relative_path: str) -> str | None:
        """sha256 of a local input file, or None when it does not exist.

        Raises InputError when the path is refused: outside the campaign, not a regular file,
        or unreadable.
        """
        if relative_path in self._refused_files:
            raise self._refused_files[relative_path]
        if relative_path not in self._hashes:
            try:
                self._hashes[relative_path] = self._hash(relative_path)
            except InputError as refused:
                self._refused_files[relative_path] = refused
                raise
        return self._hashes[relative_path]

    def _hash(self, relative_path: str) -> str | None:
        path = self.resolve(relative_path)
        if _existing_real_path(path, f"file {relative_path!r}") is None:
            return None
        try:
            return file_sha256(path)
        except OSError as exc:
            raise InputError(f"file {relative_path!r}: cannot read: {exc.strerror}") from None

    def resolve(self, relative_path: str) -> Path:
        """The real path of a file named relative to the manifest's folder.

        Raises InputError when it lies outside the campaign's folder, or is there but is not a
        regular file.
        """
        try:
            path = (self._base / relative_path).resolve()
        except (OSError, ValueError, RuntimeError) as exc:
            raise InputError(f"file {relative_path!r}: cannot resolve: {exc}") from None
        if not _inside(path, self._root):
            raise InputError(
                f"file {relative_path!r} is outside the campaign folder {_shown(self._root)}; "
                "input files must live inside it"
            )
        if _existing_real_path(path, f"file {relative_path!r}") is not None:
            _require_regular(path, f"file {relative_path!r}")  # a pipe would stall its reader
        return path


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)


def _existing_real_path(path: Path, what: str) -> Path | None:
    """The real path of `path`, or None when nothing is there; InputError when it cannot be
    looked at (a name too long, a NUL byte, a loop of links)."""
    try:
        os.stat(path)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(f"{what}: cannot read: {reason}") from None
    return path.resolve()


def _require_regular(path: Path, what: str, max_bytes: int | None = None) -> None:
    try:
        info = os.stat(path)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(f"{what}: cannot read: {reason}") from None
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{what} is not a regular file")
    if max_bytes is not None and info.st_size > max_bytes:
        raise InputError(f"{what} is {info.st_size:,} bytes; at most {max_bytes:,}")


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except (ValueError, OSError):
        return str(path)
