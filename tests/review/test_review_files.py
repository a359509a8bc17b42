"""The Content-Type a take is served with, read from its bytes (store objects have no suffix)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kling_pipe.review.files import media_type


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"\x00\x00\x00\x20ftypisom", "video/mp4"),
        (b"", "video/mp4"),
    ],
)
def test_a_take_is_served_as_what_its_bytes_are(tmp_path: Path, head: bytes, expected: str) -> None:
    take = tmp_path / "0123abcd"
    take.write_bytes(head)
    assert media_type(take) == expected
