"""The files a manifest refers to, read from disk: templates and local input files."""

from __future__ import annotations

from pathlib import Path

from kling_pipe.canonical import file_sha256
from kling_pipe.manifest.loader import LoadedManifest


class DiskSources:
    """Templates from the manifest's `templates/` folders and input files beside the manifest.

    Implements the planner's `PlanSources` protocol; file hashes are computed once per path.
    """

    def __init__(self, loaded: LoadedManifest) -> None:
        self._base = loaded.base_dir
        self._template_dirs = loaded.template_dirs
        self._hashes: dict[str, str | None] = {}
        self._templates: dict[str, tuple[str, str] | None] = {}

    def template(self, name: str) -> tuple[str, str] | None:
        """(source, path to show) of the first template called `name`, or None."""
        if name not in self._templates:
            self._templates[name] = None
            for folder in self._template_dirs:
                candidate = folder / name
                if candidate.is_file():
                    self._templates[name] = (candidate.read_text("utf-8"), _shown(candidate))
                    break
        return self._templates[name]

    def file_sha256(self, relative_path: str) -> str | None:
        """sha256 of a local input file, or None when it does not exist."""
        if relative_path not in self._hashes:
            path = self.resolve(relative_path)
            self._hashes[relative_path] = file_sha256(path) if path.is_file() else None
        return self._hashes[relative_path]

    def resolve(self, relative_path: str) -> Path:
        """The absolute path of a file named relative to the manifest's folder."""
        return (self._base / relative_path).resolve()


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
