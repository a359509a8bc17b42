"""Outputs: preview renders cached by what shapes the picture, made off the event loop.

A render is keyed on the model and the inputs that shape the output (ratio, duration, audio,
mode, storyboard, input files), not on the prompt, so thousands of predictions cost a handful of
renders. A video model's output is an animatic (a storyboard's cut between its shots); a
lip-sync is its input video re-voiced with a tone; an image model's is a PNG.
"""

from __future__ import annotations

import asyncio
import json
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

PICTURE_INPUTS = ("aspect_ratio", "duration", "generate_audio", "mode", "multi_prompt")
SPOKEN_INPUTS = ("text", "voice_id", "voice_speed")
"""What a lip-sync render shows on screen, beside its input files."""


class Renderer(Protocol):
    """The renderer's signature (`kling_pipe.media.preview.render_model_preview`)."""

    def __call__(
        self,
        spec: ModelSpec,
        inputs: Mapping[str, Any],
        key: str,
        out_path: Path,
        *,
        height: int = ...,
        files: Mapping[str, Path] | None = ...,
    ) -> Path: ...


@dataclass(frozen=True)
class RenderJob:
    """One render: its cache key, the model, the inputs and files handed to the renderer."""

    key: str
    spec: ModelSpec
    inputs: Mapping[str, Any]
    files: Mapping[str, Path]

    @property
    def suffix(self) -> str:
        """The output file's extension: `.png` for an image model, else `.mp4`."""
        return ".png" if self.spec.output_kind == "image" else ".mp4"


@dataclass(frozen=True)
class Render:
    """A finished render and the monotonic time it became available."""

    path: Path
    ready_at: float


def render_job(spec: ModelSpec, inputs: Mapping[str, Any], files: Mapping[str, Path]) -> RenderJob:
    """The render a prediction of `spec` with `inputs` needs (defaults applied); `files` are
    the local copies of its uploaded input files (start image, video to lip-sync, audio)."""
    effective = {**spec.defaults(), **inputs}
    picture = {k: effective[k] for k in PICTURE_INPUTS if k in effective}
    if "multi_prompt" in picture:
        picture["multi_prompt"] = _board_shape(picture["multi_prompt"])
    if spec.input_video is not None:
        picture.update({k: effective[k] for k in SPOKEN_INPUTS if k in effective})
    start_image = files.get("start_image")
    if spec.ignores_aspect_ratio_with_start_image and start_image is not None:
        picture.pop("aspect_ratio", None)
    hashes = {name: file_sha256(path) for name, path in sorted(files.items())}
    key = canonical_hash({"model": spec.ref, "picture": picture, "files": hashes})
    label = f"{spec.ref} · {picture.get('aspect_ratio', 'image')} · {picture.get('duration', 5)}s"
    # The preview renderer voices quoted dialogue; a clip asked to have audio gets a line.
    prompt = (
        f'{label}. The narrator says "emulated take"' if picture.get("generate_audio") else label
    )
    return RenderJob(key=key, spec=spec, inputs={**picture, "prompt": prompt}, files=dict(files))


def _board_shape(value: Any) -> Any:
    """A storyboard reduced to what shapes the clip, its shots' durations, so that storyboards
    differing only in their prompts share one render (as plain prompts do)."""
    try:
        board = json.loads(value) if isinstance(value, str) else None
    except json.JSONDecodeError:
        return value
    if not isinstance(board, list) or not all(isinstance(s, dict) for s in board):
        return value
    shots = [
        {"prompt": f"shot {i + 1}", "duration": s.get("duration")} for i, s in enumerate(board)
    ]
    return json.dumps(shots, separators=(",", ":"))


def _preview_renderer() -> Renderer:
    from kling_pipe.media.preview import render_model_preview

    return render_model_preview


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
        path = self._directory / f"{job.key}-{self._height}p{job.suffix}"
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
        partial = path.with_name(f"{path.stem}.{os.getpid()}.{id(job)}.partial{job.suffix}")
        renderer(job.spec, job.inputs, job.key, partial, height=height, files=job.files)
        os.replace(partial, path)
        self._stats.count("renders")
        return Render(path, self._clock())

    def close(self) -> None:
        """Stop the render workers (renders in progress finish first)."""
        self._executor.shutdown(wait=True, cancel_futures=True)
