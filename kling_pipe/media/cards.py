"""Title and end cards: a colour or an image, with centred text in the shipped font."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ffmpeg

from kling_pipe.canonical import file_sha256
from kling_pipe.errors import InputError
from kling_pipe.media.house import HouseFormat
from kling_pipe.media.preview import font_for, wrap_text


@dataclass(frozen=True)
class Card:
    """A title or end card: text (already rendered from its template), how long, how it looks."""

    text: str
    seconds: float
    background: str = "black"
    """An ffmpeg colour name or `#RRGGBB`; ignored when `image` is given."""
    color: str = "white"
    image: Path | None = None

    def __post_init__(self) -> None:
        if self.seconds <= 0:
            raise InputError(f"card {self.text!r}: seconds must be positive, not {self.seconds}")
        if self.image is not None and not self.image.is_file():
            raise InputError(f"card {self.text!r}: image {self.image} does not exist")

    def key(self) -> dict[str, object]:
        """Plain data identifying the card's look, for cache keys (the image by content)."""
        return {
            "text": self.text,
            "seconds": self.seconds,
            "background": self.background,
            "color": self.color,
            "image": file_sha256(self.image) if self.image else None,
        }


def card_video(card: Card, house: HouseFormat) -> Any:
    """The card's picture as an ffmpeg-python stream (endless: the caller trims it)."""
    size = f"{house.width}x{house.height}"
    if card.image is None:
        video = ffmpeg.input(f"color=c={card.background}:s={size}:r={house.fps}", f="lavfi").video
    else:
        video = (
            ffmpeg.input(str(card.image), loop=1, framerate=str(house.fps))
            .video.filter(
                "scale", house.width, house.height, force_original_aspect_ratio="decrease"
            )
            .filter(
                "pad", house.width, house.height, "(ow-iw)/2", "(oh-ih)/2", color=card.background
            )
            .filter("setsar", 1)
        )
    return draw_centred_text(video, card.text, house, color=card.color)


def draw_centred_text(video: Any, text: str, house: HouseFormat, *, color: str) -> Any:
    """`video` with `text` wrapped and centred, about 1/10 of the shorter side tall."""
    if not text.strip():
        return video
    font_size = max(12, round(min(house.width, house.height) / 10))
    columns = max(6, int(house.width * 0.85 / (font_size * 0.58)))
    rows = wrap_text(text, columns, 4)
    line_height = round(font_size * 1.25)
    top = (house.height - line_height * len(rows)) // 2
    for index, row in enumerate(rows):
        video = video.filter(
            "drawtext",
            fontfile=str(font_for(row)),
            text=row,
            expansion="none",
            fontsize=font_size,
            fontcolor=color,
            x="(w-text_w)/2",
            y=top + index * line_height,
        )
    return video
