"""A page made again with the same lines reuses the font subset kept in the store."""

from __future__ import annotations

from pathlib import Path

from kling_pipe.reporting.typeface import font_face_css, font_subset, kept_font_subset


def test_a_kept_subset_is_the_subset_and_is_read_back_instead_of_made(tmp_path: Path) -> None:
    characters = "すぐ沸く。"
    made = kept_font_subset(characters, tmp_path)
    assert made == font_subset(characters)
    (kept,) = tmp_path.glob("*.ttf")
    assert kept.read_bytes() == made
    # What is kept is what pages embed: a marker written into it shows it was read back.
    kept.write_bytes(b"kept bytes")
    assert kept_font_subset(characters, tmp_path) == b"kept bytes"
    assert "a2VwdCBieXRlcw==" in font_face_css(characters, kept_in=tmp_path)  # base64 of it
    assert kept_font_subset("湯気", tmp_path) == font_subset("湯気")  # other text, other file
    assert len(list(tmp_path.glob("*.ttf"))) == 2


def test_a_folder_that_cannot_be_written_only_costs_the_subset(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    assert kept_font_subset("沸く", blocked) == font_subset("沸く")
