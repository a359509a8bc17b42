"""Output videos: preview renders cached by what shapes the picture, made off the event loop.

A render is keyed on the model and the inputs that shape the clip (ratio, duration, audio, mode,
start image), not on the prompt, so thousands of predictions cost a handful of renders.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from kling_pipe.canonical import canonical_hash, file_sha256
from kling_pipe.emulator.stats import Stats
from kling_pipe.models.spec import ModelSpec

PICTURE_INPUTS = ("aspect_ratio", "duration", "generate_audio", "mode")


class Renderer(Protocol):
    """The preview renderer's signature (`kling_pipe.media.preview.render_preview`)."""

    def __call__(
        self,
        inputs: Mapping[str, Any],
        key: str,
        out_path: Path,
        *,
        height: int = ...,
        start_image: Path | None = ...,
    ) -> Path: ...


@dataclass(frozen=True)
class RenderJob:
    """One render: its cache key and the inputs handed to the renderer."""

    key: str
    inputs: Mapping[str, Any]
    start_image: Path | None


@dataclass(frozen=True)
class Render:
    """A finished render and the monotonic time it became available."""

    path: Path
    ready_at: float


def render_job(spec: ModelSpec, inputs: Mapping[str, Any], start_image: Path | None) -> RenderJob:
    """The render a prediction of `spec` with `inputs` needs (defaults applied)."""
    effective = {**spec.defaults(), **inputs}
    picture = {k: effective[k] for k in PICTURE_INPUTS if k in effective}
    if spec.ignores_aspect_ratio_with_start_image and start_image is not None:
        picture.pop("aspect_ratio", None)
    image_hash = file_sha256(start_image) if start_image is not None else None
    key = canonical_hash({"model": spec.ref, "picture": picture, "start_image": image_hash})
    label = f"{spec.ref} · {picture.get('aspect_ratio', 'image')} · {picture.get('duration', 5)}s"
    # The preview renderer voices quoted dialogue; a clip asked to have audio gets a line.
    prompt = (
        f'{label}. The narrator says "emulated take"' if picture.get("generate_audio") else label
    )
    return RenderJob(key=key, inputs={**picture, "prompt": prompt}, start_image=start_image)


def _preview_renderer() -> Renderer:
    from kling_pipe.media.preview import render_preview

    return render_preview


class RenderCache:
    """Renders each key once (concurrent requests share it) into `directory/<key>.mp4`."""

    def __init__(
        self,
        directory: Path,
        stats: Stats,
        *,
        height: int,
        workers: int,
        renderer: Renderer | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._directory = directory
        self._stats = stats
        self._height = height
        self._renderer = renderer
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="render")
        self._pending: dict[tuple[str, int], asyncio.Future[Render]] = {}
        directory.mkdir(parents=True, exist_ok=True)

    def set_height(self, height: int) -> None:
        """Render new keys at `height` from now on."""
        self._height = height

    def get(self, job: RenderJob) -> asyncio.Future[Render]:
        """The render of `job`, started if needed; call on the event loop."""
        slot = (job.key, self._height)
        existing = self._pending.get(slot)
        if existing is not None and not (existing.done() and existing.exception()):
            return existing
        loop = asyncio.get_running_loop()
        path = self._directory / f"{job.key}-{self._height}p.mp4"
        future: asyncio.Future[Render]
        if path.exists():
            future = loop.create_future()
            future.set_result(Render(path, self._clock()))
        else:
            future = loop.run_in_executor(self._executor, self._render, job, path, self._height)
        self._pending[slot] = future
        return future

    def _render(self, job: RenderJob, path: Path, height: int) -> Render:
        renderer = self._renderer or _preview_renderer()
        partial = path.with_name(f"{path.stem}.{os.getpid()}.{id(job)}.partial.mp4")
        renderer(job.inputs, job.key, partial, height=height, start_image=job.start_image)
        os.replace(partial, path)
        self._stats.count("renders")
        return Render(path, self._clock())

    def close(self) -> None:
        """Stop the render workers (renders in progress finish first)."""
        self._executor.shutdown(wait=True, cancel_futures=True)
