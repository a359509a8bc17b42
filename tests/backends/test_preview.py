"""The preview backend says why it fails in the same terms as the replicate backend."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from kling_pipe.backends.preview import PreviewBackend
from kling_pipe.backends.protocol import Prediction, Request
from kling_pipe.errors import InvalidInputError


def test_a_start_image_that_is_no_picture_is_invalid_input(tmp_path: Path) -> None:
    not_a_picture = tmp_path / "kettle.png"
    not_a_picture.write_text("not an image")
    request = Request(
        key="k" * 64,
        model="kwaivgi/kling-v2.6",
        inputs={"prompt": "a kettle", "start_image": "kettle.png"},
        local_files={"start_image": not_a_picture},
    )

    async def submit() -> None:
        async with PreviewBackend(tmp_path / "previews", height=96) as backend:
            await backend.submit(request)

    with pytest.raises(InvalidInputError, match=r"start_image .*kettle\.png") as caught:
        anyio.run(submit)
    assert caught.value.failure == "invalid_input"
    assert not list((tmp_path / "previews").glob("*.mp4"))


def test_a_render_lost_in_a_crash_reads_as_aborted_and_transient(tmp_path: Path) -> None:
    async def poll() -> Prediction:
        async with PreviewBackend(tmp_path / "previews") as backend:
            return await backend.poll("preview-lost")

    lost = anyio.run(poll)
    assert (lost.status, lost.failure) == ("aborted", "transient")
