"""The workspace: every place a campaign reads or writes, owned by one object.

Built from the manifest's path and the user's options, it answers the same from any working
directory. Nothing else in kling-pipe derives a path or names a file.

    <project>/                      the repository root (the folder holding .git), else the
                                    manifest's folder
    <project>/.kling-pipe/          the store (or the nearest .kling-pipe/ between the
        objects/ab/abcdef….mp4      manifest's folder and the project root)
        tmp/  journal.sqlite  run.lock  previews/  intermediates/  models/  quarantine/
    <project>/out/<name>/           clips <job id>.mp4, cuts/, run.json, report.html, posters/
    <manifest stem>.lock.json       the lock, beside the manifest

Precedence for the store and the output folder: an option (`--store`, `--out`, relative to the
working directory), then the environment (`KLING_PIPE_STORE`, `KLING_PIPE_OUT`), then the
manifest (`store:`, `output:`, relative to the manifest's folder), then the defaults above.

A store given as a URL (`s3://bucket/prefix`, `gs://…`, `file:///…`) is a bucket: it holds the
objects, their output records and the claims, laid out as

    <url>/objects/ab/abcdef….mp4    <url>/outputs/<key>/<backend>.json
    <url>/claims/<key>/<generation>.json    <url>/quarantine/…

and the local folder (the default one above) keeps what stays on one machine: the journal, tmp,
run.lock, the read-through cache of objects and the other caches.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from kling_pipe.errors import InputError
from kling_pipe.takes import split_take_id

STORE_ENV = "KLING_PIPE_STORE"
OUT_ENV = "KLING_PIPE_OUT"
STORE_FOLDER = ".kling-pipe"
OUT_FOLDER = "out"


def project_root(start: Path) -> Path:
    """The repository root above `start` (the nearest folder holding `.git`), else `start`."""
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


def _default_store(manifest_dir: Path, root: Path) -> Path:
    folder = manifest_dir
    while True:
        candidate = folder / STORE_FOLDER
        if candidate.is_dir():
            return candidate
        if folder == root or folder.parent == folder:
            return root / STORE_FOLDER
        folder = folder.parent


def store_for_folder(folder: Path, store: Path | None = None) -> Path:
    """The store a command without a manifest uses from `folder` (`models`): the option, else
    `KLING_PIPE_STORE` (a folder; a bucket's local part is the default folder), else the
    nearest .kling-pipe/ up to the repository root."""
    if store is not None:
        return store.resolve()
    if os.environ.get(STORE_ENV) and not is_store_url(os.environ[STORE_ENV]):
        return Path(os.environ[STORE_ENV]).expanduser().resolve()
    folder = folder.resolve()
    return _default_store(folder, project_root(folder))


def is_store_url(place: str | Path) -> bool:
    """Whether a store is given as a URL (a bucket through fsspec) rather than a folder."""
    return isinstance(place, str) and "://" in place


def models_folder(store: Path) -> Path:
    """Where a store keeps the model schemas pulled from the API."""
    return store / "models"


PLACED_SUFFIXES = (".mp4", ".png", ".jpg", ".webp")
"""The suffixes of a placed output: a clip, or a still in the formats image models give."""


@dataclass(frozen=True)
class Workspace:
    """Where a campaign's store, outputs, lock, records and caches are."""

    manifest_path: Path
    name: str
    store: Path
    output_root: Path
    lock_path: Path
    store_url: str | None = None
    """The bucket holding the objects (None: the local folder `store` holds them)."""

    @classmethod
    def locate(
        cls,
        manifest_path: Path,
        name: str,
        *,
        manifest_store: str | None = None,
        manifest_output: str | None = None,
        store: Path | str | None = None,
        output: Path | None = None,
        lock: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Workspace:
        """The workspace of the manifest at `manifest_path` named `name`, options applied."""
        env = os.environ if environ is None else environ
        manifest_path = manifest_path.resolve()
        here = manifest_path.parent
        root = project_root(here)
        # The first store given decides: a folder given before a URL hides it.
        first = next((p for p in (store, env.get(STORE_ENV), manifest_store) if p), None)
        store_url = first.rstrip("/") if isinstance(first, str) and is_store_url(first) else None
        if store_url is not None:
            store = None
            manifest_store = None
            env = {k: v for k, v in env.items() if k != STORE_ENV}

        def chosen(option: Path | None, variable: str, declared: str | None) -> Path | None:
            if option is not None:
                return option.resolve()
            if env.get(variable):
                return Path(env[variable]).expanduser().resolve()
            if declared:
                place = (here / Path(declared)).resolve()
                if not place.is_relative_to(root):
                    # A manifest may come from a pull request: it never points writes outside
                    # its repository (the user's own flags and environment may).
                    raise InputError(
                        f"{manifest_path}: {declared!r} is outside the repository {root}; "
                        f"use --store/--out or {STORE_ENV}/{OUT_ENV} for a place outside it"
                    )
                return place
            return None

        return cls(
            manifest_path=manifest_path,
            name=name,
            store_url=store_url,
            store=chosen(None if store is None else Path(store), STORE_ENV, manifest_store)
            or _default_store(here, root),
            output_root=chosen(output, OUT_ENV, manifest_output) or root / OUT_FOLDER,
            lock_path=(
                lock.resolve()
                if lock is not None
                else manifest_path.with_name(f"{manifest_path.stem}.lock.json")
            ),
        )

    # ------------------------------------------------------------------ the store

    @property
    def objects(self) -> Path:
        """Verified outputs by sha256."""
        return self.store / "objects"

    def object_path(self, sha256: str) -> Path:
        """Where the store keeps (or would keep) the object with this hash."""
        return self.objects / sha256[:2] / f"{sha256}.mp4"

    @property
    def object_cache(self) -> Path:
        """A bucket store's local read-through cache of objects (bounded, least recently used
        first out)."""
        return self.store / "cache"

    def remote_object(self, sha256: str) -> str:
        """Where a bucket store keeps the object with this hash."""
        return f"{self._bucket()}/objects/{sha256[:2]}/{sha256}.mp4"

    @property
    def remote_objects(self) -> str:
        """The bucket's folder of objects."""
        return f"{self._bucket()}/objects"

    def remote_output(self, key: str, backend: str) -> str:
        """Where a bucket store records the output a job key gave on a backend."""
        return f"{self._bucket()}/outputs/{key}/{backend}.json"

    @property
    def remote_outputs(self) -> str:
        """The bucket's folder of output records."""
        return f"{self._bucket()}/outputs"

    def remote_claims(self, key: str) -> str:
        """The bucket's folder of claims on a job key (one file per generation)."""
        return f"{self._bucket()}/claims/{key}"

    @property
    def remote_quarantine(self) -> str:
        """Where a bucket store moves objects found damaged."""
        return f"{self._bucket()}/quarantine"

    def _bucket(self) -> str:
        if self.store_url is None:
            raise ValueError("this workspace's store is a local folder, not a bucket")
        return self.store_url

    @property
    def tmp(self) -> Path:
        """Downloads in progress (in the store: renames into `objects/` are atomic)."""
        return self.store / "tmp"

    @property
    def quarantine(self) -> Path:
        """Objects found damaged, moved out of the way."""
        return self.store / "quarantine"

    @property
    def journal(self) -> Path:
        """The SQLite journal of intents, predictions and outputs."""
        return self.store / "journal.sqlite"

    @property
    def run_lock(self) -> Path:
        """The file a run holds locked so that two runs never share the store."""
        return self.store / "run.lock"

    @property
    def previews(self) -> Path:
        """Where the preview backend renders."""
        return self.store / "previews"

    @property
    def fonts(self) -> Path:
        """Subsets of the bundled CJK face that pages embed, kept by the characters they hold."""
        return self.store / "fonts"

    @property
    def intermediates(self) -> Path:
        """Clips normalised to a house format, reused by every cut."""
        return self.store / "intermediates"

    @property
    def models(self) -> Path:
        """Model schemas pulled from the API."""
        return models_folder(self.store)

    # ------------------------------------------------------------------ outputs

    @property
    def output_dir(self) -> Path:
        """The campaign's output folder: `<out>/<name>/`."""
        return self.output_root / self.name

    @property
    def run_json(self) -> Path:
        """The campaign's record of runs and cuts."""
        return self.output_dir / "run.json"

    @property
    def report(self) -> Path:
        """The gallery page."""
        return self.output_dir / "report.html"

    @property
    def posters(self) -> Path:
        """Poster frames of the gallery, cached by clip hash."""
        return self.output_dir / "posters"

    def clip_path(self, job_id: str, suffix: str = ".mp4") -> Path:
        """Where a job's clip is placed: `<output>/<job id>.mp4`; for a take id
        (`hero/jp/9x16#2`, see `kling_pipe.takes`) `<output>/<job id>.take2.mp4`. An image
        model's still takes its format's suffix instead (`.png`)."""
        job, take = split_take_id(job_id)
        ending = suffix if take == 1 else f".take{take}{suffix}"
        return self.inside_output(PurePosixPath(f"{job}{ending}"))

    def placed_output(self, job_id: str) -> Path | None:
        """The job's placed output, a clip or an image model's still, or None if none is."""
        for suffix in PLACED_SUFFIXES:
            path = self.clip_path(job_id, suffix)
            if path.is_file():
                return path
        return None

    def cut_path(self, relative: PurePosixPath) -> Path:
        """Where a planned cut is written (`cuts/<cut>/<values…>.mp4` relative to the output)."""
        return self.inside_output(relative)

    def inside_output(self, relative: PurePosixPath) -> Path:
        """`relative` under the output folder; InputError if it would land anywhere else."""
        if relative.is_absolute() or any(part in ("", ".", "..") for part in relative.parts):
            raise InputError(f"{relative}: not a path inside the output folder")
        return self.output_dir.joinpath(*relative.parts)

    def writable_places(self) -> tuple[Path, ...]:
        """The folders a run writes to, checked before anything is paid for."""
        return (self.store, self.output_dir, self.lock_path.parent)
