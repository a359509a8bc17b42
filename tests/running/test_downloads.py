"""Output downloads through the replicate backend survive dropped connections by resuming."""

from __future__ import annotations

import hashlib
from pathlib import Path

import anyio
import httpx

from kling_pipe.backends.protocol import Request
from kling_pipe.backends.replicate import ReplicateBackend
from kling_pipe.emulator import Emulator, Faults
from tests.emulated import TOKEN


def test_a_download_cut_short_again_and_again_resumes_to_the_exact_file(
    emulator: Emulator, tmp_path: Path
) -> None:
    destination = tmp_path / "clip.mp4"

    async def generate_then_fetch() -> tuple[str, int]:
        backend = ReplicateBackend(token=TOKEN, base_url=emulator.base_url)
        async with backend:
            request = Request(
                key="a-kettle",
                model="kwaivgi/kling-v2.6",
                inputs={"prompt": "a kettle", "duration": 5, "aspect_ratio": "1:1"},
            )
            prediction = await backend.submit(request)
            while not prediction.done:
                await anyio.sleep(0.05)
                prediction = await backend.poll(prediction.id)
            emulator.configure(faults=Faults(truncated_downloads=0.7))
            fetched = await backend.fetch(prediction, destination)
            assert prediction.output is not None
            return prediction.output, fetched.bytes

    url, size = anyio.run(generate_then_fetch)
    emulator.configure(faults=Faults())
    original = httpx.get(url).content
    assert size == len(original) == destination.stat().st_size
    assert hashlib.sha256(destination.read_bytes()).digest() == hashlib.sha256(original).digest()
    stats = emulator.stats()
    assert stats["faults"].get("output:truncated", 0) >= 1
    assert stats["resumed_downloads"] >= 1
    assert stats["requests"]["output"] == stats["resumed_downloads"] + 2
