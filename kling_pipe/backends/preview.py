"""The `preview` backend: a local animatic per job, rendered with ffmpeg. Free and offline.

A "prediction" is a render in a worker thread; it is done when `submit` returns. Renders are
deterministic per key, so a preview lost in a crash is simply rendered again. Each model gets
its kind of preview (`render_model_preview`): an animatic, a storyboard's cut, a lip-sync over
its input clip, or a still PNG for a model that makes images.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import TracebackType
from typing import Self

import anyio

from kling_pipe.backends.protocol import Fetched, Prediction, Request
from kling_pipe.canonical import file_sha256
from kling_pipe.errors import InputError, InvalidInputError, MediaError, TransientError
from kling_pipe.models.spec import ModelRegistry


class PreviewBackend:
    """Renders previews into `work_dir`, `workers` at a time (default: the number of cores)."""

    name = "preview"
    free = True
    records_to_lock = False
    hold_limit = 0.0

    def __init__(
        self,
        work_dir: Path,
        *,
        height: int = 360,
        workers: int | None = None,
        registry: ModelRegistry | None = None,
    ) -> None:
        self._dir = work_dir
        self._height = height
        if registry is None:
            from kling_pipe.models.catalogue import bundled_registry

            registry = bundled_registry()
        self._registry = registry
        self._limiter = anyio.CapacityLimiter(workers or os.cpu_count() or 2)

    async def __aenter__(self) -> Self:
        self._dir.mkdir(parents=True, exist_ok=True)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def expected_seconds(self, request: Request) -> float:
        """A preview renders in about a second."""
        return 1.0

    async def recover(self, request: Request, since: float) -> Prediction | None:
        """A preview lost in a crash costs nothing: render it again."""
        return None

    @property
    def pushes_updates(self) -> bool:
        """Previews are done when submitted: nothing to push."""
        return False

    async def wait_for_update(self, prediction_id: str, timeout: float) -> Prediction | None:
        """Nothing is pushed: just wait."""
        await anyio.sleep(timeout)
        return None

    def _path(self, prediction_id: str) -> Path:
        for suffix in (".mp4", ".png"):
            path = self._dir / f"{prediction_id}{suffix}"
            if path.is_file():
                return path
        return self._dir / f"{prediction_id}.mp4"

    async def submit(self, request: Request, *, hold: float = 0.0) -> Prediction:
        """Render the preview; the returned prediction has already succeeded."""
        from kling_pipe.media.preview import (
            preview_suffix,
            render_model_preview,
            render_preview,
        )

        prediction_id = f"preview-{request.key[:24]}"
        spec = self._registry.get(request.model)
        suffix = preview_suffix(spec) if spec is not None else ".mp4"
        out = self._dir / f"{prediction_id}{suffix}"
        start_image = request.local_files.get("start_image")
        if start_image is not None:
            await anyio.to_thread.run_sync(_check_start_image, start_image)

        def render() -> Path:
            if spec is None:
                return render_preview(
                    request.inputs, request.key, out, height=self._height, start_image=start_image
                )
            return render_model_preview(
                spec,
                request.inputs,
                request.key,
                out,
                height=self._height,
                files=request.local_files,
            )

        try:
            await anyio.to_thread.run_sync(render, limiter=self._limiter)
        except InputError as exc:
            raise InvalidInputError(str(exc)) from None
        except MediaError as exc:
            # Renders are deterministic, but ffmpeg can fail for passing reasons (a full disk,
            # too many processes): tried again like any transient failure.
            raise TransientError(f"preview render failed: {exc}") from exc
        return Prediction(id=prediction_id, status="succeeded", output=str(out))

    async def poll(self, prediction_id: str) -> Prediction:
        """Succeeded when the render is on disk; a render lost in a crash reads as aborted."""
        out = self._path(prediction_id)
        if out.is_file():
            return Prediction(id=prediction_id, status="succeeded", output=str(out))
        return Prediction(
            id=prediction_id,
            status="aborted",
            error="preview render was lost",
            failure="transient",
        )

    async def cancel(self, prediction_id: str) -> None:
        """Nothing to cancel: renders finish within submit."""

    async def fetch(self, prediction: Prediction, destination: Path) -> Fetched:
        """Copy the render to `destination`, hashing it."""
        source = Path(prediction.output or "")

        def copy() -> Fetched:
            shutil.copyfile(source, destination)
            return Fetched(destination, file_sha256(destination), destination.stat().st_size)

        return await anyio.to_thread.run_sync(copy)


def _check_start_image(path: Path) -> None:
    """A start image that is not a picture can never render: the job's input is wrong."""
    from kling_pipe.media.probe import probe

    try:
        picture = probe(path).video
    except MediaError as exc:
        raise InvalidInputError(f"start_image {path}: {exc}") from None
    if picture is None:
        raise InvalidInputError(f"start_image {path}: has no picture in it")
